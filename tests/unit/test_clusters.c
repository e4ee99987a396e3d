/* test_clusters.c - near-duplicate segments, the worker's sketch and members with the
 * coordinator's heavy cells: a block shared by many documents is a member in each of them and
 * nowhere else, whether the text marks its paragraphs with blank lines (prose) or puts one block
 * per line without blank lines (crawl format: WET, C4, FineWeb); and when the shards' sketches
 * reach the coordinator in partitions, their merge is the sketch of the whole corpus; and the
 * report's clusters join the members of the confirm pass's band keys across keys and partitions. */
#define _XOPEN_SOURCE 700 /* realpath, for plan_fixture.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pass.h"
#include "common/results.h"
#include "coordinator/aggset.h"
#include "coordinator/clusters.h"
#include "worker/clusters.h"
#include "plan_fixture.h"

#define LOG2    16
#define N_DOCS  60 /* the first half hold the shared block */
#define N_LINES 12

static const char shared[] =
    "We use cookies and similar technologies to give you the best experience on this site. By "
    "clicking Accept all you agree to the storing of cookies on your device to enhance site "
    "navigation and analyse site usage.";

struct text {
    char *p;
    size_t len, cap;
};

static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);

    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, s, n + 1);
    t->len += n;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Document i: N_LINES blocks of its own words (some long, some short like a menu item), the
 * shared block among them when i < N_DOCS / 2; blocks end with a blank line (prose) or a line
 * break (crawl). *b, *e get the shared block's byte range (0, 0 without it). */
static void make_doc(struct text *t, size_t i, bool crawl, size_t *b, size_t *e)
{
    uint64_t rng = 77 + i;
    size_t at = (size_t)(rng_next(&rng) % N_LINES);

    t->len = 0;
    *b = *e = 0;
    for (size_t l = 0; l < N_LINES; l++) {
        size_t words = l % 3 == 0 ? 2 : 20 + (size_t)(rng_next(&rng) % 20);

        if (l == at && i < N_DOCS / 2) {
            *b = t->len;
            put(t, shared);
            *e = t->len;
            put(t, crawl ? "\n" : "\n\n");
        }
        for (size_t w = 0; w < words; w++) {
            char word[24];
            snprintf(word, sizeof(word), "%sw%llx", w ? " " : "",
                     (unsigned long long)(rng_next(&rng) % 100000));
            put(t, word);
        }
        put(t, crawl ? "\n" : "\n\n");
    }
}

/* Document i's members as pass 2 finds them: the shared block when it holds it, else none. */
static void check_doc_members(struct ps_clusters *c, struct text *t, size_t i, bool crawl)
{
    const struct ps_clusters_member *m;
    size_t n, b, e;

    make_doc(t, i, crawl, &b, &e);
    assert_int_equal(ps_clusters_members(c, t->p, t->len, &m, &n), PS_OK);
    if (i < N_DOCS / 2) {
        assert_int_equal(n, 1);
        /* a paragraph ends after its last word (the full stop is no word), a line at its end */
        assert_int_equal(m[0].begin, b);
        assert_true(m[0].end <= e && m[0].end + 1 >= e);
        assert_true(m[0].n_keys > 0);
    } else {
        assert_int_equal(n, 0);
    }
}

/* The whole sketch of the shard so far, dense, from its nonzero cells (which must come in
 * ascending order, each counted). */
static void dense_sketch(struct ps_clusters *c, uint8_t *dense)
{
    struct ps_results_sketch k;
    size_t cells = (size_t)1 << LOG2;

    memset(dense, 0, PS_CLSKETCH_ROWS * cells);
    ps_clusters_sketch_part(c, 0, 1, &k);
    for (unsigned r = 0; r < PS_CLSKETCH_ROWS; r++)
        for (size_t i = 0; i < k.n[r]; i++) {
            assert_true(i == 0 || k.cells[r][i] > k.cells[r][i - 1]);
            assert_true(k.cells[r][i] < cells && k.counts[r][i] > 0);
            dense[r * cells + k.cells[r][i]] = k.counts[r][i];
        }
}

/* A part lists the shard's nonzero cells whether it sorts the cells the shard touched (a sparse
 * shard) or reads the whole sketch (a dense one): the sum of sentences sketched one per shard
 * equals their sketch as one shard, read in 1, 4 or 64 parts. */
static void test_clusters_dense_shard_reads_the_cells_single_sentences_sort(void **state)
{
    enum { N_SENT = 3000, N_SHINGLES = 3 };
    static const unsigned parts[] = {1, 4, 64};
    struct ps_clusters_opts o = ps_clusters_opts_default();
    struct ps_clusters *c = NULL;
    struct ps_errdetail ed;
    size_t cells = (size_t)1 << LOG2;
    uint8_t *want = calloc(PS_CLSKETCH_ROWS, cells), *got = malloc(PS_CLSKETCH_ROWS * cells);
    uint64_t(*sh)[N_SHINGLES] = malloc(sizeof(*sh) * N_SENT), s = 5;

    (void)state;
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(sh);
    o.sketch_log2 = LOG2;
    assert_int_equal(ps_clusters_new(&c, &o, &ed), PS_OK);
    for (size_t i = 0; i < N_SENT; i++) {
        for (int j = 0; j < N_SHINGLES; j++)
            sh[i][j] = i % 7 == 0 ? (uint64_t)j : rng_next(&s); /* some sentences repeat */
        ps_clusters_begin_shard(c);
        ps_clusters_sentence_add(c, sh[i], N_SHINGLES);
        dense_sketch(c, got);
        for (size_t x = 0; x < PS_CLSKETCH_ROWS * cells; x++)
            want[x] = (uint8_t)(want[x] + got[x] > 255 ? 255 : want[x] + got[x]);
    }
    ps_clusters_begin_shard(c);
    for (size_t i = 0; i < N_SENT; i++)
        ps_clusters_sentence_add(c, sh[i], N_SHINGLES);
    for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
        size_t run = cells / parts[p];

        memset(got, 0, PS_CLSKETCH_ROWS * cells);
        for (unsigned q = 0; q < parts[p]; q++) {
            struct ps_results_sketch k;

            ps_clusters_sketch_part(c, q, parts[p], &k);
            for (unsigned r = 0; r < PS_CLSKETCH_ROWS; r++)
                for (size_t i = 0; i < k.n[r]; i++) {
                    assert_true(i == 0 || k.cells[r][i] > k.cells[r][i - 1]);
                    assert_true(k.cells[r][i] < run && k.counts[r][i] > 0);
                    got[r * cells + q * run + k.cells[r][i]] = k.counts[r][i];
                }
        }
        assert_memory_equal(got, want, PS_CLSKETCH_ROWS * cells);
    }
    free(sh);
    free(want);
    free(got);
    ps_clusters_free(c);
}

/* Sketch every document as pass 1 does, mark the heavy cells as the coordinator does (10 or
 * more occurrences), then check each document's members as pass 2 finds them. */
static void check_members(bool crawl)
{
    struct ps_clusters_opts o = ps_clusters_opts_default();
    struct ps_clusters *c = NULL;
    struct ps_errdetail ed;
    struct text t = {0};
    size_t cells = (size_t)1 << LOG2, len, n_heavy, b, e;
    uint8_t *sketch = malloc(PS_CLSKETCH_ROWS * cells), *bitmap = NULL;
    uint64_t threshold;

    assert_non_null(sketch);
    o.sketch_log2 = LOG2;
    assert_int_equal(ps_clusters_new(&c, &o, &ed), PS_OK);
    ps_clusters_begin_shard(c);
    for (size_t i = 0; i < N_DOCS; i++) {
        make_doc(&t, i, crawl, &b, &e);
        assert_int_equal(ps_clusters_sketch(c, t.p, t.len), PS_OK);
    }
    dense_sketch(c, sketch);
    ps_clusters_heavy(sketch, LOG2, 10, cells / 32, &bitmap, &len, &threshold, &n_heavy);
    assert_true(n_heavy > 0);
    assert_int_equal(ps_clusters_set_heavy(c, bitmap, len, &ed), PS_OK);
    for (size_t i = 0; i < N_DOCS; i++)
        check_doc_members(c, &t, i, crawl);
    free(bitmap);
    free(sketch);
    free(t.p);
    ps_clusters_free(c);
}

static void test_clusters_find_shared_paragraph_in_prose(void **state)
{
    (void)state;
    check_members(false);
}

static void test_clusters_find_shared_line_in_crawl_text(void **state)
{
    (void)state;
    check_members(true);
}

/* The coordinator's view of the sketch: N_SHARDS shards, each sketched by a worker and committed
 * in N_PARTS partition runs (common/partition.h), merged into one aggregate per partition as
 * the shards arrive, and put back together when the scan pass ends. */
#define N_SHARDS 4
#define N_PARTS  4
#define N_BOILER 80 /* documents of one stock paragraph in each shard: 320 saturate a counter */

static const char boiler[] =
    "All rights reserved. No part of this publication may be reproduced, distributed or "
    "transmitted in any form or by any means without the prior written permission of the "
    "publisher.";

/* Shard `shard`'s documents (i % N_SHARDS == shard, then the stock ones) into the sketch of `c`;
 * its whole sketch added to `sum` with saturation, as one sketch of the corpus would count. */
static void sketch_shard(struct ps_clusters *c, struct text *t, uint32_t shard, uint8_t *sum,
                         uint8_t *one)
{
    size_t cells = (size_t)1 << LOG2, b, e;

    ps_clusters_begin_shard(c);
    for (size_t i = shard; i < N_DOCS; i += N_SHARDS) {
        make_doc(t, i, false, &b, &e);
        assert_int_equal(ps_clusters_sketch(c, t->p, t->len), PS_OK);
    }
    for (size_t i = 0; i < N_BOILER; i++)
        assert_int_equal(ps_clusters_sketch(c, boiler, strlen(boiler)), PS_OK);
    dense_sketch(c, one);
    for (size_t i = 0; i < PS_CLSKETCH_ROWS * cells; i++)
        sum[i] = (uint8_t)(sum[i] + one[i] > 255 ? 255 : sum[i] + one[i]);
}

/* Commit shard `shard`'s sketch as the worker does, one blob a partition, and merge each. */
static void commit_shard(struct ps_clusters *c, struct ps_aggset *s, uint32_t shard)
{
    struct ps_results_writer w = {0};
    struct ps_results_totals tot = {N_DOCS / N_SHARDS + N_BOILER, 1000, 900, 0, 0};
    struct ps_errdetail ed = {0};

    for (unsigned q = 0; q < N_PARTS; q++) {
        struct ps_results_sketch k;
        const void *p;
        size_t n;
        bool merged;

        ps_clusters_sketch_part(c, q, N_PARTS, &k);
        ps_results_begin(&w, PS_PASS_SCAN, shard, 0, q);
        if (q == 0) /* the totals go with partition 0, as the worker's do */
            ps_results_put_totals(&w, &tot);
        ps_results_put_sketch(&w, &k);
        p = ps_results_data(&w, &n);
        assert_int_equal(ps_agg_merge(s->part[q], &p, &n, 1, &merged, &ed), PS_OK);
        assert_true(merged);
    }
    ps_results_release(&w);
}

static void test_clusters_merge_shards_and_partitions_into_one_sketch(void **state)
{
    static const uint32_t shard_file[N_SHARDS] = {0, 1, 2, 3};
    struct ps_clusters_opts o = ps_clusters_opts_default();
    struct ps_clusters *c = NULL;
    struct ps_errdetail ed;
    struct ps_aggset s;
    struct text t = {0};
    const struct ps_clusters_member *m;
    size_t cells = (size_t)1 << LOG2, len, n_heavy, n, b, e;
    uint8_t *sum = calloc(PS_CLSKETCH_ROWS, cells), *one = malloc(PS_CLSKETCH_ROWS * cells);
    uint8_t *bitmap = NULL;
    uint64_t threshold;

    (void)state;
    assert_true(sum != NULL && one != NULL);
    o.sketch_log2 = LOG2;
    assert_int_equal(ps_clusters_new(&c, &o, &ed), PS_OK);
    ps_aggset_init(&s, PS_PASS_SCAN, N_PARTS, 0);
    for (unsigned q = 0; q < N_PARTS; q++) {
        struct ps_agg_opts ao = ps_agg_opts_default();
        ao.n_shards = N_SHARDS;
        ao.n_files = N_SHARDS;
        ao.shard_file = shard_file;
        ao.pass = PS_PASS_SCAN;
        ao.partition = q;
        ao.sketch_cells = ps_partition_cells(cells, N_PARTS);
        ps_agg_new(&s.part[q], &ao);
    }
    /* the last shard first: the order of arrival does not matter */
    for (uint32_t k = 0; k < N_SHARDS; k++) {
        uint32_t shard = N_SHARDS - 1 - k;
        sketch_shard(c, &t, shard, sum, one);
        commit_shard(c, &s, shard);
    }
    /* one shard alone holds the shared block 7 or 8 times, below the 10 of a heavy cell: its
     * sketch finds no member where the corpus's does */
    ps_clusters_heavy(one, LOG2, 10, cells / 32, &bitmap, &len, &threshold, &n_heavy);
    assert_int_equal(threshold, 10);
    assert_int_equal(ps_clusters_set_heavy(c, bitmap, len, &ed), PS_OK);
    free(bitmap);
    make_doc(&t, 0, false, &b, &e);
    assert_int_equal(ps_clusters_members(c, t.p, t.len, &m, &n), PS_OK);
    assert_int_equal(n, 0);
    ps_aggset_finish(&s, cells);
    assert_non_null(s.sketch);
    assert_int_equal(s.totals.docs, N_DOCS + N_SHARDS * N_BOILER);
    /* the partitions' runs back in their places, every shard added, the stock paragraph's
     * counters saturated rather than wrapped */
    assert_memory_equal(s.sketch, sum, PS_CLSKETCH_ROWS * cells);
    assert_non_null(memchr(s.sketch, 255, PS_CLSKETCH_ROWS * cells));
    ps_clusters_heavy(s.sketch, LOG2, 10, cells / 32, &bitmap, &len, &threshold, &n_heavy);
    assert_int_equal(threshold, 10);
    assert_true(n_heavy > 0);
    /* pass 2 in every shard finds the shared block wherever it is, and nothing else */
    assert_int_equal(ps_clusters_set_heavy(c, bitmap, len, &ed), PS_OK);
    for (size_t i = 0; i < N_DOCS; i++)
        check_doc_members(c, &t, i, false);
    free(bitmap);
    free(sum);
    free(one);
    free(t.p);
    ps_aggset_release(&s);
    ps_clusters_free(c);
}

/* ---- the report's clusters ---- */

/* Band keys by partition of 2 (common/partition.h: bit 40): K1, K3 in 0; K2, K4 in 1. */
#define K1 UINT64_C(0x1111)
#define K2 (UINT64_C(1) << 40 | 0x2222)
#define K3 UINT64_C(0x3333)
#define K4 (UINT64_C(1) << 40 | 0x4444)
#define K5 UINT64_C(0x5555)
#define K6 UINT64_C(0x6666)

/* One paragraph of the confirm pass: its document and its heavy band keys (at most 2). */
struct para {
    uint32_t shard;
    uint64_t offset;
    const char *id;
    uint64_t keys[2];
};

/* Cluster x: x0..x3 share K1, x2..x5 share K2 (joined through x2 and x3, across partitions);
 * cluster y: K3; K4 is held by 2 paragraphs only, fewer than min_docs (3). In (shard, offset)
 * order within each cluster. Cluster w: K5 and K6 (one partition) share w0, the member of
 * smallest rank in K5 (whose snippet K5 keeps) but not in K6 (w3 is: ranks hash shard and
 * offset, these offsets were picked for it); merged last first, K6 comes before K5. */
static const struct para paras[] = {
    {0, 10, "x0", {K1, 0}},   {0, 20, "x1", {K1, 0}},   {1, 10, "x2", {K1, K2}},
    {1, 30, "x3", {K2, K1}},  {2, 5, "x4", {K2, 0}},    {3, 7, "x5", {K2, 0}},
    {2, 100, "y0", {K3, 0}},  {3, 200, "y1", {K3, 0}},  {3, 300, "y2", {K3, 0}},
    {0, 500, "z0", {K4, 0}},  {1, 500, "z1", {K4, 0}},  {0, 1000, "w0", {K5, K6}},
    {1, 1000, "w1", {K5, 0}}, {2, 1004, "w2", {K5, 0}}, {1, 2000, "w3", {K6, 0}},
    {3, 1001, "w4", {K6, 0}},
};
#define N_PARAS (sizeof(paras) / sizeof(paras[0]))

/* The confirm pass's aggregate over 2 partitions: each shard commits, in each partition, its
 * paragraphs with the keys of that partition; the collector merges the shards in order, or
 * (`reversed`) last first, as it does whatever order they finish in. */
static void confirm_aggset(struct ps_aggset *s, bool reversed)
{
    static const uint32_t shard_file[N_SHARDS] = {0, 1, 2, 3};
    struct ps_results_writer w = {0};
    struct ps_errdetail ed = {0};

    ps_aggset_init(s, PS_PASS_CONFIRM, 2, 0);
    for (unsigned q = 0; q < 2; q++) {
        struct ps_agg_opts ao = ps_agg_opts_default();
        ao.n_shards = N_SHARDS;
        ao.n_files = N_SHARDS;
        ao.shard_file = shard_file;
        ao.pass = PS_PASS_CONFIRM;
        ao.partition = q;
        ao.n_patterns = ps_aggset_part_patterns(PS_PASS_CONFIRM, 0, q, 2);
        ps_agg_new(&s->part[q], &ao);
    }
    for (uint32_t step = 0; step < N_SHARDS; step++) {
        uint32_t sh = reversed ? N_SHARDS - 1 - step : step;

        for (unsigned q = 0; q < 2; q++) {
            const void *p;
            size_t n;
            bool merged;

            ps_results_begin(&w, PS_PASS_CONFIRM, sh, 0, q);
            for (size_t i = 0; i < N_PARAS; i++) {
                uint64_t keys[2];
                struct ps_results_member m = {
                    keys, 0, paras[i].offset, paras[i].id, "para", strlen(paras[i].id), 4};
                for (size_t k = 0; k < 2; k++)
                    if (paras[i].keys[k] != 0 && ps_partition_of_hash(paras[i].keys[k], 2) == q)
                        keys[m.n_keys++] = paras[i].keys[k];
                if (paras[i].shard == sh && m.n_keys > 0)
                    ps_results_put_member(&w, &m);
            }
            p = ps_results_data(&w, &n);
            assert_int_equal(ps_agg_merge(s->part[q], &p, &n, 1, &merged, &ed), PS_OK);
        }
    }
    ps_aggset_finish(s, 0);
    ps_results_release(&w);
}

/* Shards 0 and 1 are flagged by trigger "T": four of cluster x's six paragraphs. */
static const char *trigger_of(void *ctx, uint32_t shard, uint64_t offset)
{
    (void)ctx;
    (void)offset;
    return shard <= 1 ? "T" : NULL;
}

static void test_clusters_report_joins_keys_across_partitions(void **state)
{
    struct fixture *fx = *state;
    char paths[N_SHARDS][PATH_MAX];
    const char *inputs[N_SHARDS];
    struct ps_plan *plan;
    struct ps_aggset s;
    struct ps_buf json;
    size_t n_clusters = 0;
    const char *x, *y;

    for (int i = 0; i < N_SHARDS; i++) {
        char rel[16];
        snprintf(rel, sizeof(rel), "f%d.jsonl", i);
        write_str(fx, rel, "{\"text\":\"one\"}\n");
        at(fx, rel, paths[i]);
        inputs[i] = paths[i];
    }
    plan = build_ok(inputs, N_SHARDS, 1u << 20);
    confirm_aggset(&s, false);
    ps_buf_init(&json, SIZE_MAX / 2);
    ps_clusters_report(&s, plan, 3, 10, trigger_of, NULL, &json, &n_clusters);
    assert_int_equal(n_clusters, 3);
    /* the biggest first: x, one cluster of six (no key holds all of it), over four shards,
     * members in (shard, offset) order, each once though two keys sampled it; its trigger */
    x = strstr(json.data, "{\"size\":6,\"shards\":4,\"paragraphs\":6,");
    y = strstr(json.data, "{\"size\":3,\"shards\":2,\"paragraphs\":3,");
    assert_true(x != NULL && y != NULL && x < y);
    /* its representative one of its own (the one whose snippet a key kept) */
    assert_non_null(strstr(x, "\"representative\":{\"id\":\"x"));
    assert_non_null(strstr(y, "\"representative\":{\"id\":\"y"));
    assert_non_null(strstr(x, "\"members_total\":6,\"members\":[\"x0\",\"x1\",\"x2\",\"x3\","
                              "\"x4\",\"x5\"],\"trigger\":\"T\",\"members_flagged\":4}"));
    assert_non_null(strstr(y, "\"members\":[\"y0\",\"y1\",\"y2\"]}]"));
    /* K4's paragraphs make no cluster */
    assert_null(strstr(json.data, "\"z0\""));
    assert_true(json.len > 20);
    assert_string_equal(json.data + json.len - strlen("],\"clusters_total\":3"),
                        "],\"clusters_total\":3");
    /* w: its first member with a snippet, w0 (the copy K6 sampled without one is the same
     * member) */
    assert_non_null(strstr(json.data,
                           "{\"size\":5,\"shards\":4,\"paragraphs\":5,\"representative\":"
                           "{\"id\":\"w0\""));
    /* the same report whatever order the shards were merged in (a representative too) */
    {
        struct ps_aggset r;
        struct ps_buf other;

        confirm_aggset(&r, true);
        ps_buf_init(&other, SIZE_MAX / 2);
        ps_clusters_report(&r, plan, 3, 10, trigger_of, NULL, &other, &n_clusters);
        assert_string_equal(other.data, json.data);
        ps_buf_release(&other);
        ps_aggset_release(&r);
    }
    ps_buf_release(&json);
    ps_aggset_release(&s);
    ps_plan_free(plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clusters_find_shared_paragraph_in_prose),
        cmocka_unit_test(test_clusters_find_shared_line_in_crawl_text),
        cmocka_unit_test(test_clusters_merge_shards_and_partitions_into_one_sketch),
        cmocka_unit_test(test_clusters_dense_shard_reads_the_cells_single_sentences_sort),
        cmocka_unit_test_setup_teardown(test_clusters_report_joins_keys_across_partitions, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
