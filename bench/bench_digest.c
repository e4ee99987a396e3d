/* bench_digest.c - one XXH3 digest per detector pass over shard files, so that a speed-up or a
 * refactoring can prove it changed no result. Three walks over the same documents, as a job's
 * passes run:
 *   pass 1   ps_detect_scan (every field, every candidate) and ps_detect_sentences (every
 *            sentence's shingles), plus the reader's record errors;
 *   confirm  ps_detect_confirm without `heavy` (every field of every hit), against the pass-1
 *            candidates seen in at least 2 documents;
 *   leads    ps_detect_leads right after that confirm (every lead and candidate);
 *   pass 3   ps_detect_confirm with `heavy`, against those patterns and the lead candidates seen
 *            in at least 2 documents.
 * `heavy` is exact and deterministic: a sentence (its shingles as a multiset) is repeated when
 * pass 1 saw it in at least 2 documents. Pattern sets keep the first MAX_PATTERNS by hash. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/reader.h"
#include "worker/detect.h"
#include "worker/patset.h"

#define MAX_PATTERNS 8192 /* per pattern set, the smallest hashes */
#define MAX_SHINGLES 256  /* per sentence; the detector's sentences hold at most 48 tokens */

enum { P_SCAN, P_CONFIRM, P_LEADS, P_HEAVY, N_PASSES };
static const char *const pass_name[N_PASSES] = {"pass1", "confirm", "leads", "pass3"};

/* (key, document) pairs: a sentence or a candidate seen in a document. */
struct seen {
    uint64_t key;
    uint64_t doc;
    size_t text_off, text_len; /* candidates: the text in struct digest's arena */
};

struct digest {
    XXH3_state_t *st[N_PASSES];
    uint64_t n[N_PASSES];       /* items folded per pass (documents, hits, leads) for the summary */
    uint64_t docs, errors, doc; /* doc: index of the current document in the walk */
    struct seen *sent, *cand;
    size_t n_sent, sent_cap, n_cand, cand_cap;
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *heavy; /* sorted fingerprints of the sentences seen in >= 2 documents */
    size_t n_heavy;
    struct ps_patset *set; /* the patterns of the confirm passes */
    uint64_t n_sentences, n_candidates, n_lead_candidates, in_role[N_PASSES];
};

static void fold(XXH3_state_t *st, const void *p, size_t n)
{
    if (XXH3_64bits_update(st, p, n) != XXH_OK)
        ps_bug("xxh3 update");
}

static void fold_u64(XXH3_state_t *st, uint64_t v)
{
    fold(st, &v, sizeof(v));
}

static void fold_double(XXH3_state_t *st, double v)
{
    fold(st, &v, sizeof(v));
}

/* A sentence's fingerprint: its shingles as a multiset (the detector passes them in token order
 * when counting and in reverse, suffix by suffix, when asking). */
static uint64_t sentence_key(const uint64_t *shingles, size_t n)
{
    uint64_t s[MAX_SHINGLES];

    if (n > MAX_SHINGLES)
        ps_bug("sentence of %zu shingles", n);
    for (size_t i = 0; i < n; i++) {
        size_t j = i;

        while (j > 0 && s[j - 1] > shingles[i]) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = shingles[i];
    }
    return XXH3_64bits(s, n * sizeof(*s));
}

static void add_seen(struct seen **a, size_t *n, size_t *cap, struct seen v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *a = ps_xrealloc(*a, *cap * sizeof(**a));
    }
    (*a)[(*n)++] = v;
}

static void add_candidate(struct digest *g, const struct ps_candidate *c)
{
    struct seen v = {c->hash, g->doc, g->arena_len, c->text_len};

    if (g->arena_cap - g->arena_len < c->text_len) {
        while (g->arena_cap - g->arena_len < c->text_len)
            g->arena_cap = g->arena_cap ? g->arena_cap * 2 : 1 << 20;
        g->arena = ps_xrealloc(g->arena, g->arena_cap);
    }
    memcpy(g->arena + g->arena_len, c->text, c->text_len);
    g->arena_len += c->text_len;
    add_seen(&g->cand, &g->n_cand, &g->cand_cap, v);
}

static int cmp_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;

    if (x->key != y->key)
        return (x->key > y->key) - (x->key < y->key);
    return (x->doc > y->doc) - (x->doc < y->doc);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Sort a[0..n) by key then document; call fn for each key seen in >= 2 documents, in key order,
 * with its first entry, up to `max` keys. */
static void each_repeated(struct seen *a, size_t n, size_t max,
                          void (*fn)(struct digest *, const struct seen *), struct digest *g)
{
    size_t kept = 0;

    qsort(a, n, sizeof(*a), cmp_seen);
    for (size_t i = 0; i < n && kept < max;) {
        size_t j = i + 1, docs = 1;

        for (; j < n && a[j].key == a[i].key; j++)
            docs += a[j].doc != a[j - 1].doc;
        if (docs >= 2) {
            fn(g, &a[i]);
            kept++;
        }
        i = j;
    }
}

static void add_pattern(struct digest *g, const struct seen *s)
{
    if (ps_patset_add(g->set, g->arena + s->text_off, s->text_len) != PS_OK)
        ps_bug("pattern set add");
}

static void add_heavy(struct digest *g, const struct seen *s)
{
    g->heavy[g->n_heavy++] = s->key;
}

static void on_sentence(void *ctx, const uint64_t *shingles, size_t n)
{
    struct digest *g = ctx;
    struct seen v = {sentence_key(shingles, n), g->doc, 0, 0};

    fold_u64(g->st[P_SCAN], n);
    fold(g->st[P_SCAN], shingles, n * sizeof(*shingles));
    g->n_sentences++;
    add_seen(&g->sent, &g->n_sent, &g->sent_cap, v);
}

static bool is_heavy(void *ctx, const uint64_t *shingles, size_t n)
{
    const struct digest *g = ctx;
    uint64_t k = sentence_key(shingles, n);

    return bsearch(&k, g->heavy, g->n_heavy, sizeof(k), cmp_u64) != NULL;
}

static void fold_candidate(XXH3_state_t *st, const struct ps_candidate *c)
{
    fold_u64(st, c->hash);
    fold_u64(st, c->n);
    fold_u64(st, c->offset);
    fold_u64(st, c->text_len);
    fold(st, c->text, c->text_len);
}

static void fold_hits(struct digest *g, int pass, const struct ps_detect_hit *hits, size_t n)
{
    XXH3_state_t *st = g->st[pass];

    fold_u64(st, g->doc);
    fold_u64(st, n);
    for (size_t k = 0; k < n; k++) {
        const struct ps_detect_hit *h = &hits[k];

        fold_u64(st, h->hash);
        fold_u64(st, h->in_role);
        fold_u64(st, h->kind);
        fold_u64(st, h->tests);
        fold_u64(st, h->right);
        fold_u64(st, h->context);
        fold_u64(st, h->offset);
        fold(st, h->continuation, sizeof(h->continuation));
        g->n[pass]++;
        g->in_role[pass] += h->in_role;
    }
}

static void pass1(struct digest *g, struct ps_detect *d, struct ps_detect_doc *prep,
                  const struct ps_doc *doc)
{
    XXH3_state_t *st = g->st[P_SCAN];
    struct ps_detect_result res;

    fold_u64(st, doc->offset);
    fold_u64(st, doc->text_len);
    fold(st, doc->id, doc->id_len);
    ps_detect_scan(d, prep, &res);
    fold_u64(st, res.anomalous);
    fold_u64(st, res.kind);
    fold_u64(st, res.n_tokens);
    fold_u64(st, res.turn_offset);
    fold_u64(st, res.turn_token);
    fold_double(st, res.before_stop);
    fold_double(st, res.after_stop);
    fold_double(st, res.after_alpha);
    fold_double(st, res.after_meanlen);
    fold_u64(st, res.n_candidates);
    g->n[P_SCAN] += res.anomalous;
    for (size_t k = 0; k < res.n_candidates; k++) {
        fold_candidate(st, &res.candidates[k]);
        add_candidate(g, &res.candidates[k]);
        g->n_candidates++;
    }
    ps_detect_sentences(d, prep, on_sentence, g);
}

/* Pass 2 as worker/scan.c runs it: confirm, then the leads of the same document. */
static void pass2(struct digest *g, struct ps_detect *d, struct ps_detect_doc *prep,
                  const struct ps_patset *set)
{
    XXH3_state_t *st = g->st[P_LEADS];
    const struct ps_detect_hit *hits;
    struct ps_detect_leads leads;
    size_t n_hits;

    ps_detect_confirm(d, prep, set, NULL, NULL, &hits, &n_hits);
    fold_hits(g, P_CONFIRM, hits, n_hits);
    ps_detect_leads(d, prep, is_heavy, g, &leads);
    fold_u64(st, g->doc);
    fold_u64(st, leads.n_leads);
    for (size_t k = 0; k < leads.n_leads; k++) {
        fold_u64(st, leads.leads[k].offset);
        fold_u64(st, leads.leads[k].first);
        fold_u64(st, leads.leads[k].n);
    }
    g->n[P_LEADS] += leads.n_leads;
    fold_u64(st, leads.n_candidates);
    for (size_t k = 0; k < leads.n_candidates; k++) {
        fold_candidate(st, &leads.candidates[k]);
        add_candidate(g, &leads.candidates[k]);
        g->n_lead_candidates++;
    }
}

static void pass3(struct digest *g, struct ps_detect *d, struct ps_detect_doc *prep,
                  const struct ps_patset *set)
{
    const struct ps_detect_hit *hits;
    size_t n_hits;

    ps_detect_confirm(d, prep, set, is_heavy, g, &hits, &n_hits);
    fold_hits(g, P_HEAVY, hits, n_hits);
}

/* One walk over every document of the files; pass 1 also folds the reader's record errors. */
static int walk(struct digest *g, struct ps_detect *d, struct ps_detect_doc *prep, int pass,
                const struct ps_patset *set, char **files, int n_files)
{
    struct ps_reader_opts ro = ps_reader_opts_default();
    struct ps_errdetail ed = {0};

    g->doc = 0;
    for (int i = 0; i < n_files; i++) {
        struct ps_reader *r;

        if (ps_reader_open(&r, files[i], 0, UINT64_MAX, &ro, &ed) != PS_OK) {
            fprintf(stderr, "bench_digest: '%s': %s\n", files[i], ed.msg);
            return 1;
        }
        for (;;) {
            struct ps_doc doc;
            bool has_doc;
            enum ps_err err = ps_reader_next(r, &doc, &has_doc);

            if (err == PS_OK && !has_doc)
                break;
            if (err != PS_OK) {
                if (pass == P_SCAN) {
                    const struct ps_errdetail *e = ps_reader_last_error(r);
                    fold_u64(g->st[P_SCAN], 0xE0E0E0E0u);
                    fold_u64(g->st[P_SCAN], e->offset);
                    fold(g->st[P_SCAN], e->msg, strlen(e->msg));
                    g->errors++;
                }
                if (err == PS_ERR_PARSE || err == PS_ERR_LIMIT)
                    continue;
                break;
            }
            ps_detect_prepare(prep, doc.text, doc.text_len);
            if (pass == P_SCAN) {
                pass1(g, d, prep, &doc);
                g->docs++;
            } else if (pass == P_CONFIRM) {
                pass2(g, d, prep, set);
            } else {
                pass3(g, d, prep, set);
            }
            g->doc++;
        }
        ps_reader_free(r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct digest g;
    struct ps_detect *d;
    struct ps_detect_doc *prep;
    struct ps_errdetail ed = {0};
    uint64_t all[N_PASSES];
    size_t n_set2, n_pass1_cand;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE...\n", argv[0]);
        return 2;
    }
    memset(&g, 0, sizeof(g));
    for (int p = 0; p < N_PASSES; p++) {
        g.st[p] = XXH3_createState();
        if (g.st[p] == NULL || XXH3_64bits_reset(g.st[p]) != XXH_OK)
            ps_bug("xxh3 state");
    }
    if (ps_detect_new(&d, NULL, &ed) != PS_OK) {
        fprintf(stderr, "bench_digest: %s\n", ed.msg);
        return 1;
    }
    ps_detect_doc_new(&prep);
    if (walk(&g, d, prep, P_SCAN, NULL, argv + 1, argc - 1) != 0)
        return 1;

    /* the repeated sentences, and the pass-2 patterns: pass-1 candidates of >= 2 documents */
    g.heavy = ps_xmalloc((g.n_sent + 1) * sizeof(*g.heavy));
    each_repeated(g.sent, g.n_sent, SIZE_MAX, add_heavy, &g);
    ps_patset_new(&g.set, 2 * MAX_PATTERNS);
    each_repeated(g.cand, g.n_cand, MAX_PATTERNS, add_pattern, &g);
    n_set2 = ps_patset_len(g.set);
    if (ps_patset_seal(g.set, &ed) != PS_OK) {
        fprintf(stderr, "bench_digest: %s\n", ed.msg);
        return 1;
    }
    n_pass1_cand = g.n_cand;
    if (walk(&g, d, prep, P_CONFIRM, g.set, argv + 1, argc - 1) != 0)
        return 1;

    /* pass 3: the same patterns and the lead candidates of >= 2 documents */
    each_repeated(g.cand + n_pass1_cand, g.n_cand - n_pass1_cand, MAX_PATTERNS, add_pattern, &g);
    if (ps_patset_seal(g.set, &ed) != PS_OK) {
        fprintf(stderr, "bench_digest: %s\n", ed.msg);
        return 1;
    }
    if (walk(&g, d, prep, P_HEAVY, g.set, argv + 1, argc - 1) != 0)
        return 1;

    printf("docs=%" PRIu64 " errors=%" PRIu64 " anomalous=%" PRIu64 " candidates=%" PRIu64
           " sentences=%" PRIu64 " repeated_sentences=%zu\n",
           g.docs, g.errors, g.n[P_SCAN], g.n_candidates, g.n_sentences, g.n_heavy);
    printf("confirm: patterns=%zu hits=%" PRIu64 " in_role=%" PRIu64 "; leads=%" PRIu64
           " lead_candidates=%" PRIu64 "; pass3: patterns=%zu hits=%" PRIu64 " in_role=%" PRIu64
           "\n",
           n_set2, g.n[P_CONFIRM], g.in_role[P_CONFIRM], g.n[P_LEADS], g.n_lead_candidates,
           ps_patset_len(g.set), g.n[P_HEAVY], g.in_role[P_HEAVY]);
    for (int p = 0; p < N_PASSES; p++) {
        all[p] = (uint64_t)XXH3_64bits_digest(g.st[p]);
        printf("%s=%016" PRIx64 " ", pass_name[p], all[p]);
        XXH3_freeState(g.st[p]);
    }
    printf("digest=%016" PRIx64 "\n", (uint64_t)XXH3_64bits(all, sizeof(all)));
    ps_patset_free(g.set);
    ps_detect_doc_free(prep);
    ps_detect_free(d);
    free(g.sent);
    free(g.cand);
    free(g.arena);
    free(g.heavy);
    return 0;
}
