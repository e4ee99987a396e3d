/* fuzz_detect.c - the detector on arbitrary bytes: options from the first 6 bytes, the rest is
 * the document. Checks the invariants that tie the passes together: every candidate hashes to its
 * own text, confirm finds every candidate of a document in that same document (with either pattern
 * matcher, the same hits, and the prefilter lets the document through), and a stage gives the
 * same result whatever ran before it on the prepared document. Also the report snippet. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/u64set.h"
#include "common/utf8.h"
#include "worker/patset.h"
#include "worker/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort with the line of the failed check, so a crash file tells which invariant broke */
static void check_at(int ok, int line)
{
    if (!ok) {
        fprintf(stderr, "line %d\n", line);
        abort();
    }
}
#define check(x) check_at(x, __LINE__)

/* A stand-in for the corpus-wide sentence test: sentences with an odd number of shingles are
 * "repeated", so both answers occur. */
static bool heavy_odd(void *ctx, const uint64_t *shingles, size_t n)
{
    (void)ctx;
    (void)shingles;
    return n % 2 == 1;
}

static void count_sentence(void *ctx, const uint64_t *shingles, size_t n)
{
    (void)shingles;
    check(n >= PS_DETECT_MIN_SHINGLES);
    ++*(size_t *)ctx;
}

static bool same_hit(const struct ps_detect_hit *a, const struct ps_detect_hit *b)
{
    return a->hash == b->hash && a->in_role == b->in_role && a->kind == b->kind &&
           a->tests == b->tests && a->right == b->right && a->context == b->context &&
           a->offset == b->offset &&
           memcmp(a->continuation, b->continuation, sizeof(a->continuation)) == 0;
}

/* The n-grams of a record's prompt (ps_detect_ngrams): each hashes to its text, which neither
 * starts nor ends with the joining space and is at most max_candidate_len bytes. */
struct ngram_check {
    const struct ps_detect_opts *o;
    size_t n;
};

static void check_ngram(void *ctx, uint64_t hash, const char *text, size_t len)
{
    struct ngram_check *c = ctx;

    check(len > 0 && len <= c->o->max_candidate_len && hash == XXH3_64bits(text, len));
    check(text[0] != ' ' && text[len - 1] != ' ');
    c->n++;
}

static const char absent[] = "\x01 no such n-gram \x02";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_detect_opts o = ps_detect_opts_default();
    struct ps_detect *d;
    struct ps_detect_doc *doc;
    struct ps_detect_result r;
    struct ps_u64set set;
    struct ps_patset *pats, *ref;
    struct ps_detect_hit *ref_hits;
    size_t n_ref_hits;
    const struct ps_detect_hit *hits;
    const char *text;
    size_t len, n_hits, i, j, b, e, n_leads, n_lead_cands;
    uint64_t first[16], lead_hash[16]; /* max_candidates <= 16 below */

    if (size < 6)
        return 0;
    o.min_after = 1 + data[0] % 24;
    o.window = o.min_after + data[0] / 24 % 40;
    o.ngram_max = 1 + data[1] % 4;
    o.max_candidates = 1 + data[2] % 16;
    o.snap_max = data[3] % 16;
    o.max_tokens = data[4] & 1 ? 1 + (size_t)(data[4] >> 1) : o.max_tokens;
    o.max_candidate_len = 1 + (size_t)data[5] * 2;
    text = (const char *)data + 6;
    len = size - 6;
    if (ps_detect_new(&d, &o, NULL) != PS_OK)
        abort();
    ps_detect_doc_new(&doc);
    ps_detect_prepare(doc, text, len);

    ps_detect_scan(d, doc, &r);
    check(r.turn_offset <= len && r.n_candidates <= o.max_candidates);
    check(r.anomalous || r.n_candidates == 0);
    check(r.n_tokens <= o.max_tokens);
    for (i = 0; i < r.n_candidates; i++)
        first[i] = r.candidates[i].hash;
    {
        size_t n_sent = 0;
        struct ps_detect_leads leads;

        ps_detect_sentences(d, doc, count_sentence, &n_sent);
        check(n_sent <= r.n_tokens);
        ps_detect_leads(d, doc, heavy_odd, NULL, &leads);
        check(leads.n_leads <= PS_DETECT_MAX_LEADS);
        check(leads.n_candidates <= o.max_candidates);
        for (i = 0; i < leads.n_leads; i++) {
            check(leads.leads[i].offset < len);
            check(leads.leads[i].first + leads.leads[i].n <= leads.n_candidates);
        }
        for (i = 0; i < leads.n_candidates; i++) {
            check(leads.candidates[i].hash ==
                  XXH3_64bits(leads.candidates[i].text, leads.candidates[i].text_len));
            lead_hash[i] = leads.candidates[i].hash;
        }
        n_leads = leads.n_leads;
        n_lead_cands = leads.n_candidates;
        /* the checks below use pass 1's candidates: the same again after the leads */
        j = r.n_candidates;
        ps_detect_scan(d, doc, &r);
        check(r.n_candidates == j);
        for (i = 0; i < r.n_candidates; i++)
            check(r.candidates[i].hash == first[i]);
    }
    ps_u64set_init(&set, 1024);
    ps_patset_new(&pats, 1024);
    check(ps_patset_new_with(&ref, 1024, PS_PATSET_SCALAR, NULL) == PS_OK);
    for (i = 0; i < r.n_candidates; i++) {
        const struct ps_candidate *c = &r.candidates[i];

        check(c->text_len >= 1 && c->text_len <= o.max_candidate_len);
        check(c->n >= 1 && c->n <= o.ngram_max);
        check(c->hash == XXH3_64bits(c->text, c->text_len));
        for (j = 0; j < i; j++)
            check(r.candidates[j].hash != c->hash);
        check(ps_u64set_add(&set, c->hash, NULL) == PS_OK);
        check(ps_patset_add(pats, c->text, c->text_len) == PS_OK);
        check(ps_patset_add(ref, c->text, c->text_len) == PS_OK);
    }
    /* a pattern that is surely absent must not disturb anything */
    check(ps_u64set_add(&set, XXH3_64bits(absent, sizeof(absent) - 1), NULL) == PS_OK);
    check(ps_patset_add(pats, absent, sizeof(absent) - 1) == PS_OK);
    check(ps_patset_add(ref, absent, sizeof(absent) - 1) == PS_OK);
    check(ps_patset_seal(pats, NULL) == PS_OK && ps_patset_seal(ref, NULL) == PS_OK);

    /* the reference matcher first: the same hits, field by field */
    ps_detect_confirm(d, doc, ref, heavy_odd, NULL, &hits, &n_hits);
    n_ref_hits = n_hits;
    ref_hits = malloc((n_hits + 1) * sizeof(*ref_hits));
    check(ref_hits != NULL);
    if (n_hits > 0)
        memcpy(ref_hits, hits, n_hits * sizeof(*hits));
    ps_detect_confirm(d, doc, pats, heavy_odd, NULL, &hits, &n_hits);
    check(n_hits == n_ref_hits);
    for (i = 0; i < n_hits; i++)
        check(same_hit(&hits[i], &ref_hits[i]));
    free(ref_hits);
    check(n_hits == 0 || ps_patset_may_occur(pats, text, len));
    for (i = 1; i < n_hits; i++)
        check(hits[i - 1].hash < hits[i].hash);
    for (i = 0; i < n_hits; i++)
        check(ps_u64set_has(&set, hits[i].hash));
    /* every pass-1 candidate occurs in the document, so confirm finds each one; the
     * candidates were computed before confirm reused the scratch: compare by the set */
    {
        size_t pos = 0, found = 0;
        uint64_t k;

        while (ps_u64set_next(&set, &pos, &k))
            for (i = 0; i < n_hits; i++) /* the "absent" pattern may be in the input after all */
                if (hits[i].hash == k && k != XXH3_64bits(absent, sizeof(absent) - 1))
                    found++;
        check(found == r.n_candidates);
        for (i = 0; i < n_hits; i++)
            check(
                hits[i].in_role
                    ? hits[i].offset < len &&
                          (hits[i].kind == PS_DETECT_GIBBERISH || hits[i].kind == PS_DETECT_BYTES ||
                           hits[i].kind == PS_DETECT_FIXED || hits[i].kind == PS_DETECT_TEMPLATED ||
                           hits[i].kind == PS_DETECT_PROMO || hits[i].kind == PS_DETECT_PROMO_BLOCK)
                    : hits[i].context == 0 && hits[i].kind == 0);
    }

    /* the leads again, now on the tokens confirm joined */
    {
        struct ps_detect_leads leads;

        ps_detect_leads(d, doc, heavy_odd, NULL, &leads);
        check(leads.n_leads == n_leads && leads.n_candidates == n_lead_cands);
        for (i = 0; i < leads.n_candidates; i++)
            check(leads.candidates[i].hash == lead_hash[i]);
    }

    ps_patset_clear(pats);
    ps_detect_confirm(d, doc, pats, heavy_odd, NULL, &hits, &n_hits);
    check(n_hits == 0 && hits == NULL);

    {
        struct ngram_check nc = {&o, 0};

        ps_detect_ngrams(d, doc, (size_t)data[2], check_ngram, &nc);
        check(nc.n <= (size_t)data[2] * o.ngram_max);
        (void)ps_detect_refuses(d, doc);
    }

    ps_utf8_snippet(text, len, (size_t)data[0] * 7, data[1], &b, &e);
    check(b <= e && e <= len && e - b <= data[1]);
    check(b == len || ((unsigned char)text[b] & 0xC0) != 0x80);
    check(e == len || ((unsigned char)text[e] & 0xC0) != 0x80);

    ps_u64set_release(&set);
    ps_patset_free(pats);
    ps_patset_free(ref);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
    return 0;
}
