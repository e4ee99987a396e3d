/* patset_hs.c - the pattern set matched by Hyperscan (Intel's multi-pattern engine, Debian's
 * libhyperscan-dev): the long patterns as one literal database, which finds every occurrence in
 * the single-spaced text as the reference matcher does, and, for sets of up to
 * PS_PATSET_PREFILTER_MAX patterns, a prefilter that looks at a document before it is tokenized.
 *
 * The prefilter holds the longest space-free piece of each pattern, short ones too: a space-free
 * part of the joined text lies inside one token, and a token is a copy of the document's bytes,
 * so a pattern that occurs in the joined text has that piece in the document. Pieces rather than
 * the whole pattern with any whitespace run between its words: as regular expressions, 400
 * patterns cost 1.8 G instructions to compile (callgrind), as literals 0.1 G for 1,000. */
#include "worker/patset_internal.h"

#include <hs/hs.h>
#include <stdlib.h>
#include <string.h>

struct ps_patset_hs {
    hs_database_t *lit;    /* the long patterns, id = index in s->pats */
    hs_database_t *pre;    /* NULL: no prefilter (too many patterns, or one of spaces only) */
    hs_scratch_t *scratch; /* for both */
};

bool ps_patset_hs_supported(void)
{
    return hs_valid_platform() == HS_SUCCESS;
}

void ps_patset_hs_free(struct ps_patset_hs *h)
{
    if (h == NULL)
        return;
    hs_free_scratch(h->scratch);
    hs_free_database(h->lit);
    hs_free_database(h->pre);
    free(h);
}

static enum ps_err refused(hs_compile_error_t *ce, const char *what, struct ps_errdetail *ed)
{
    ps_errdetail_set(ed, NULL, 0, "hyperscan cannot compile the %s: %s", what,
                     ce != NULL ? ce->message : "out of memory");
    hs_free_compile_error(ce);
    return PS_ERR_LIMIT;
}

/* The longest run of bytes other than ' ' in p, as [*at, *at + *n); false when p is spaces only
 * (it matches the joined text's separators: every document may hold it). */
static bool longest_piece(const char *p, size_t len, size_t *at, size_t *n)
{
    size_t i = 0;

    *at = 0;
    *n = 0;
    while (i < len) {
        size_t b;

        while (i < len && p[i] == ' ')
            i++;
        b = i;
        while (i < len && p[i] != ' ')
            i++;
        if (i - b > *n) {
            *at = b;
            *n = i - b;
        }
    }
    return *n > 0;
}

static enum ps_err build_prefilter(const struct ps_patset *s, hs_database_t **out,
                                   struct ps_errdetail *ed)
{
    const char **ex = ps_xmalloc(s->n_pats * sizeof(*ex));
    size_t *lens = ps_xmalloc(s->n_pats * sizeof(*lens));
    unsigned *flags = ps_xmalloc(s->n_pats * sizeof(*flags));
    unsigned *ids = ps_xmalloc(s->n_pats * sizeof(*ids));
    hs_compile_error_t *ce = NULL;
    enum ps_err err = PS_OK;
    size_t i;

    *out = NULL;
    for (i = 0; i < s->n_pats; i++) {
        size_t at;

        if (!longest_piece(s->arena + s->pats[i].off, s->pats[i].len, &at, &lens[i]))
            break; /* every document may hold it: no prefilter */
        ex[i] = s->arena + s->pats[i].off + at;
        flags[i] = HS_FLAG_SINGLEMATCH;
        ids[i] = (unsigned)i;
    }
    if (i == s->n_pats && hs_compile_lit_multi(ex, flags, ids, lens, (unsigned)i, HS_MODE_BLOCK,
                                               NULL, out, &ce) != HS_SUCCESS)
        err = refused(ce, "prefilter", ed);
    free(ex);
    free(lens);
    free(flags);
    free(ids);
    return err;
}

static enum ps_err build_literals(const struct ps_patset *s, hs_database_t **out,
                                  struct ps_errdetail *ed)
{
    const char **ex = ps_xmalloc(s->n_long * sizeof(*ex));
    size_t *lens = ps_xmalloc(s->n_long * sizeof(*lens));
    unsigned *flags = ps_xcalloc(s->n_long, sizeof(*flags));
    unsigned *ids = ps_xmalloc(s->n_long * sizeof(*ids));
    hs_compile_error_t *ce = NULL;
    enum ps_err err = PS_OK;
    size_t n = 0;

    for (size_t i = 0; i < s->n_pats; i++) {
        if (s->pats[i].is_short)
            continue;
        ex[n] = s->arena + s->pats[i].off;
        lens[n] = s->pats[i].len;
        ids[n] = (unsigned)i;
        n++;
    }
    if (hs_compile_lit_multi(ex, flags, ids, lens, (unsigned)n, HS_MODE_BLOCK, NULL, out, &ce) !=
        HS_SUCCESS)
        err = refused(ce, "patterns", ed);
    free(ex);
    free(lens);
    free(flags);
    free(ids);
    return err;
}

enum ps_err ps_patset_hs_build(const struct ps_patset *s, struct ps_patset_hs **out,
                               struct ps_errdetail *ed)
{
    struct ps_patset_hs *h = ps_xcalloc(1, sizeof(*h));
    enum ps_err err = PS_OK;

    *out = NULL;
    if (s->n_long > 0)
        err = build_literals(s, &h->lit, ed);
    if (err == PS_OK && s->n_pats <= PS_PATSET_PREFILTER_MAX)
        err = build_prefilter(s, &h->pre, ed);
    if (err == PS_OK && h->lit != NULL && hs_alloc_scratch(h->lit, &h->scratch) != HS_SUCCESS)
        err = refused(NULL, "scratch", ed);
    if (err == PS_OK && h->pre != NULL && hs_alloc_scratch(h->pre, &h->scratch) != HS_SUCCESS)
        err = refused(NULL, "scratch", ed);
    if (err != PS_OK) {
        ps_patset_hs_free(h);
        return err;
    }
    *out = h;
    return PS_OK;
}

struct scan_ctx {
    const struct ps_patset *s;
    ps_patset_fn fn;
    void *ctx;
};

/* A literal's match ends at `to`; its start is fixed by its length. Hyperscan reports the
 * matches in order of their end, so one pattern's occurrences come in order of their start. */
static int on_literal(unsigned int id, unsigned long long from, unsigned long long to,
                      unsigned int flags, void *ctx)
{
    const struct scan_ctx *c = ctx;
    const struct ps_patset_pattern *p = &c->s->pats[id];

    (void)from;
    (void)flags;
    c->fn(c->ctx, p->hash, (size_t)to - p->len, (size_t)to);
    return 0;
}

bool ps_patset_hs_scans(const struct ps_patset *s, size_t text_len)
{
    /* Hyperscan takes 32-bit lengths */
    return s->hs != NULL && s->hs->lit != NULL && text_len <= UINT32_MAX;
}

void ps_patset_hs_scan(const struct ps_patset *s, const char *text, size_t text_len,
                       ps_patset_fn fn, void *ctx)
{
    struct scan_ctx c = {s, fn, ctx};

    if (hs_scan(s->hs->lit, text, (unsigned)text_len, 0, s->hs->scratch, on_literal, &c) !=
        HS_SUCCESS)
        ps_bug("hyperscan scan failed");
}

static int on_first(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    *(bool *)ctx = true;
    return 1; /* one is enough: stop */
}

bool ps_patset_hs_may_occur(const struct ps_patset *s, const char *text, size_t text_len)
{
    bool found = false;
    hs_error_t r;

    if (s->hs->pre == NULL || text_len > UINT32_MAX)
        return true;
    r = hs_scan(s->hs->pre, text, (unsigned)text_len, 0, s->hs->scratch, on_first, &found);
    if (r != HS_SUCCESS && r != HS_SCAN_TERMINATED)
        ps_bug("hyperscan scan failed");
    return found;
}
