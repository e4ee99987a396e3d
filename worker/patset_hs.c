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

#include "common/log.h"

/* Scans of one set inside a match callback of another scan of it: a scratch is in use for the
 * whole of a scan, so each level of nesting takes its own (cloned when first needed); deeper than
 * this, the reference matcher answers. */
#define HS_NEST_MAX 4

/* A match held until its scan succeeds (see struct scan_ctx). */
struct match {
    unsigned id;
    size_t to;
};

/* Matches of the scan at one nesting level, kept from document to document. */
struct matches {
    struct match *m;
    size_t n, cap;
};

struct ps_patset_hs {
    hs_database_t *lit; /* the long patterns, id = index in s->pats */
    hs_database_t *pre; /* NULL: no prefilter (too many patterns, or one of spaces only) */
    hs_scratch_t *scratch[HS_NEST_MAX]; /* for both; [0] made with the databases */
    unsigned depth;                     /* scans of this set in progress */
    struct matches held[HS_NEST_MAX];   /* per level, reused (no allocation per document) */
    bool failed; /* a scan failed: the reference matcher answers for this set from then on */
};

bool ps_patset_hs_supported(void)
{
    return hs_valid_platform() == HS_SUCCESS;
}

void ps_patset_hs_free(struct ps_patset_hs *h)
{
    if (h == NULL)
        return;
    for (unsigned i = 0; i < HS_NEST_MAX; i++) {
        hs_free_scratch(h->scratch[i]);
        free(h->held[i].m);
    }
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
    if (err == PS_OK && h->lit != NULL && hs_alloc_scratch(h->lit, &h->scratch[0]) != HS_SUCCESS)
        err = refused(NULL, "scratch", ed);
    if (err == PS_OK && h->pre != NULL && hs_alloc_scratch(h->pre, &h->scratch[0]) != HS_SUCCESS)
        err = refused(NULL, "scratch", ed);
    if (err != PS_OK) {
        ps_patset_hs_free(h);
        return err;
    }
    *out = h;
    return PS_OK;
}

/* The matches of one scan, handed over only once the scan succeeded: a scan that fails part of
 * the way (libhyperscan 5.4 returned HS_UNKNOWN_ERROR on a pass-3 lead set of a 4 GB shard) is
 * then done again by the reference matcher without reporting anything twice. */
struct scan_ctx {
    struct matches *held;
};

/* A literal's match ends at `to`; its start is fixed by its length. Hyperscan reports the
 * matches in order of their end, so one pattern's occurrences come in order of their start. */
static int on_literal(unsigned int id, unsigned long long from, unsigned long long to,
                      unsigned int flags, void *ctx)
{
    struct matches *h = ((struct scan_ctx *)ctx)->held;

    (void)from;
    (void)flags;
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->m = ps_xrealloc(h->m, h->cap * sizeof(*h->m));
    }
    h->m[h->n].id = id;
    h->m[h->n++].to = (size_t)to;
    return 0;
}

/* A scan that failed for a reason of Hyperscan's own: say so once, and let the reference
 * matcher answer for this set from now on. */
static void give_up(struct ps_patset_hs *h, hs_error_t r)
{
    if (r == HS_SCRATCH_IN_USE)
        ps_bug("hyperscan scratch in use");
    if (!h->failed)
        ps_log(PS_LOG_WARN, "patset",
               "hyperscan scan failed (error %d); the reference matcher takes over for this set",
               (int)r);
    h->failed = true;
}

bool ps_patset_hs_scans(const struct ps_patset *s, size_t text_len)
{
    /* Hyperscan takes 32-bit lengths */
    return s->hs != NULL && s->hs->lit != NULL && !s->hs->failed && text_len <= UINT32_MAX;
}

/* A scratch for one more scan in progress, or NULL (too deep, or no memory for a clone). */
static hs_scratch_t *take_scratch(struct ps_patset_hs *h)
{
    if (h->depth >= HS_NEST_MAX ||
        (h->scratch[h->depth] == NULL &&
         hs_clone_scratch(h->scratch[0], &h->scratch[h->depth]) != HS_SUCCESS))
        return NULL;
    return h->scratch[h->depth++];
}

bool ps_patset_hs_scan(const struct ps_patset *s, const char *text, size_t text_len,
                       ps_patset_fn fn, void *ctx)
{
    hs_scratch_t *scratch = take_scratch(s->hs);
    struct scan_ctx c;
    struct matches *h;
    hs_error_t r;

    if (scratch == NULL)
        return false;
    h = &s->hs->held[s->hs->depth - 1];
    h->n = 0;
    c.held = h;
    r = hs_scan(s->hs->lit, text, (unsigned)text_len, 0, scratch, on_literal, &c);
    /* the level stays taken while fn runs: fn may scan this set again, one level deeper */
    if (r == HS_SUCCESS)
        for (size_t i = 0; i < h->n; i++) {
            const struct ps_patset_pattern *p = &s->pats[h->m[i].id];
            fn(ctx, h->m[i].id, p->hash, h->m[i].to - p->len, h->m[i].to);
        }
    else
        give_up(s->hs, r);
    s->hs->depth--;
    return r == HS_SUCCESS;
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
    hs_scratch_t *scratch;
    hs_error_t r;

    if (s->hs->pre == NULL || s->hs->failed || text_len > UINT32_MAX ||
        (scratch = take_scratch(s->hs)) == NULL)
        return true; /* it may: the caller looks */
    r = hs_scan(s->hs->pre, text, (unsigned)text_len, 0, scratch, on_first, &found);
    s->hs->depth--;
    if (r != HS_SUCCESS && r != HS_SCAN_TERMINATED) {
        give_up(s->hs, r);
        return true;
    }
    return found;
}
