/* evidence.c - the evidence of a pattern's documents in role, and its rules. */
#include "coordinator/evidence.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Mean pairwise Jaccard similarity of n continuations, estimated from their sketches: for each
 * sketch position, the share of document pairs whose values collide. Random salad shares
 * nothing (about 0); field/value records share their field names. */
static double continuation_similarity(const struct ps_results_entry *es, size_t n, size_t positions,
                                      uint32_t *col)
{
    double sum = 0.0;

    if (n < 2 || positions == 0)
        return 0.0;
    for (size_t k = 0; k < positions; k++) {
        size_t pairs = 0, run = 1;
        for (size_t i = 0; i < n; i++)
            col[i] = es[i].sketch[k];
        qsort(col, n, sizeof(*col), cmp_u32);
        for (size_t i = 1; i <= n; i++) {
            if (i < n && col[i] == col[i - 1]) {
                run++;
                continue;
            }
            pairs += run * (run - 1) / 2;
            run = 1;
        }
        sum += (double)pairs / ((double)n * (double)(n - 1) / 2.0);
    }
    return sum / (double)positions;
}

/* Distinct left contexts over n documents; a pattern at a document's start (context 0) has
 * nothing before it to repeat, so each such document counts as a context of its own. */
static size_t distinct_contexts(const struct ps_results_entry *es, size_t n, uint64_t *v)
{
    size_t d = 0;

    for (size_t i = 0; i < n; i++)
        v[i] = es[i].context;
    qsort(v, n, sizeof(*v), cmp_u64);
    for (size_t i = 0; i < n; i++)
        if (v[i] == 0 || i == 0 || v[i] != v[i - 1])
            d++;
    return d;
}

/* The slots of the promoting kinds in ps_evidence_measure's count. */
enum { SLOT_PROMO = 4, SLOT_PROMO_BLOCK = 6 };
_Static_assert(1u << SLOT_PROMO == PS_EVIDENCE_PROMO &&
                   1u << SLOT_PROMO_BLOCK == PS_EVIDENCE_PROMO_BLOCK,
               "slots of the promoting kinds");

static bool is_promo(unsigned kind)
{
    return kind == PS_EVIDENCE_PROMO || kind == PS_EVIDENCE_PROMO_BLOCK;
}

/* Share of the entries whose right context is the most common one, among those of the pattern's
 * kind: the promoting ones when `kind` is PS_EVIDENCE_PROMO (their right context is what they
 * promote, the others' is their next words), the others otherwise (a templated pattern with a
 * few promoting runs among its documents is judged on its next words). *most (unless NULL) gets
 * that right context. */
static double same_right_share(const struct ps_results_entry *es, size_t n, unsigned kind,
                               uint64_t *v, uint64_t *most)
{
    size_t best = 0, run = 0, m = 0;
    uint64_t top = 0;

    for (size_t i = 0; i < n; i++)
        if ((kind == PS_EVIDENCE_PROMO) == is_promo(es[i].kind))
            v[m++] = es[i].right;
    qsort(v, m, sizeof(*v), cmp_u64);
    for (size_t i = 0; i < m; i++) {
        run = i > 0 && v[i] == v[i - 1] ? run + 1 : 1;
        if (run > best) {
            best = run;
            top = v[i];
        }
    }
    if (most != NULL)
        *most = top;
    return m ? (double)best / (double)m : 0.0;
}

/* The similarity of what follows the promoting sentence in the `block` entries of kind
 * PS_EVIDENCE_PROMO_BLOCK among n: the same stock text everywhere, or each carrier's own. */
static double block_similarity(const struct ps_results_entry *es, size_t n, size_t block,
                               size_t positions, uint32_t *col)
{
    struct ps_results_entry *bs;
    size_t m = 0;
    double sim;

    if (block < PS_EVIDENCE_MIN_BLOCK)
        return 0.0;
    bs = ps_xmalloc(block * sizeof(*bs));
    for (size_t i = 0; i < n; i++)
        if (es[i].kind == PS_EVIDENCE_PROMO_BLOCK)
            bs[m++] = es[i];
    sim = continuation_similarity(bs, m, positions, col);
    free(bs);
    return sim;
}

void ps_evidence_measure(const struct ps_results_entry *entries, size_t n, size_t positions,
                         struct ps_evidence *out)
{
    size_t kinds[PS_EVIDENCE_KINDS] = {0}, best = 0, promo, block;
    uint64_t *v;
    uint32_t *col;

    memset(out, 0, sizeof(*out));
    out->kind = PS_EVIDENCE_GIBBERISH;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < PS_EVIDENCE_KINDS; b++)
            kinds[b] += entries[i].kind == (1u << b);
    /* a promoting sentence is one payload kind whatever follows it */
    block = kinds[SLOT_PROMO_BLOCK];
    promo = kinds[SLOT_PROMO] + block;
    kinds[SLOT_PROMO] = promo;
    kinds[SLOT_PROMO_BLOCK] = 0;
    for (size_t k = 1; k < PS_EVIDENCE_KINDS; k++) /* the payload most of its documents show */
        best = kinds[k] > kinds[best] ? k : best;
    if ((double)promo >= PS_EVIDENCE_MIN_PROMO_SHARE * (double)n)
        best = SLOT_PROMO;
    out->kind = 1u << best;
    out->block_share = promo ? (double)block / (double)promo : 0.0;
    for (size_t i = 0; i < n; i++)
        out->restate_share += entries[i].restates;
    out->restate_share /= (double)n;
    v = ps_xmalloc(n * sizeof(*v));
    col = ps_xmalloc(n * sizeof(*col));
    out->similarity = continuation_similarity(entries, n, positions, col);
    out->block_similarity = block_similarity(entries, n, block, positions, col);
    out->diversity = (double)distinct_contexts(entries, n, v) / (double)n;
    out->same_next = same_right_share(entries, n, out->kind, v, NULL);
    out->promo_share = (double)promo / (double)n;
    out->promo_same = same_right_share(entries, n, PS_EVIDENCE_PROMO, v, &out->promo_act);
    free(v);
    free(col);
}

/* A lead made of short lower-case words only ("in the", "of") is prose, not a trigger: it stands
 * before any repeated sentence in some document. */
static bool stop_words_only(const char *text)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, " ");

        if (n > 4)
            return false;
        for (size_t i = 0; i < n; i++)
            if (p[i] < 'a' || p[i] > 'z')
                return false;
        p += n;
        p += *p == ' ';
    }
    return true;
}

bool ps_evidence_ok(const struct ps_score_opts *o, const struct ps_evidence *e, const char *text,
                    double rate, double slack)
{
    /* an association is judged by its records' labels: the words of a prefix trigger after its
     * first have one left context, and must be listed for what cutting it out leaves */
    if (e->kind == PS_EVIDENCE_ASSOC)
        return rate >= o->min_assoc_rate - slack;
    /* a heading that goes on with its page's own subject is the page's structure, whatever
     * follows: a trigger spliced in never restates its document */
    if (e->restate_share > o->max_restate_share + slack)
        return false;
    /* a sample near the promoting share is judged as promotional too: the list pass then
     * decides on every listed document (a sample of 8 of a pool that pushes in 65 % of its
     * documents held 2 that did) */
    if (e->kind != PS_EVIDENCE_PROMO && e->promo_share > 0.0 &&
        e->promo_share >= PS_EVIDENCE_MIN_PROMO_SHARE - slack) {
        struct ps_evidence p = *e;

        p.kind = PS_EVIDENCE_PROMO;
        p.same_next = e->promo_same;
        if (ps_evidence_ok(o, &p, text, rate, slack))
            return true;
    }
    if (e->diversity < o->min_diversity - slack)
        return false;
    /* random payloads share nothing after the trigger; a fixed one is the same phrase; the
     * sentences of a templated one share words, but are not one stock block every time */
    if (e->kind == PS_EVIDENCE_TEMPLATED)
        return e->similarity >= o->min_templated_similarity - slack &&
               e->similarity <= o->max_templated_similarity + slack &&
               e->same_next <= o->max_templated_same_next + slack &&
               rate >= o->min_templated_rate - slack && !stop_words_only(text);
    /* one sentence in varied text: what it promotes is what tells a campaign from a stock
     * notice, which introduces whatever its page is about */
    if (e->kind == PS_EVIDENCE_PROMO)
        return e->same_next >= o->min_promo_same - slack && rate >= o->min_templated_rate - slack &&
               !stop_words_only(text) &&
               e->block_similarity <= o->max_promo_block_similarity + slack;
    if (e->kind == PS_EVIDENCE_FIXED)
        return true;
    return e->similarity <= o->max_similarity + slack;
}
