/* test_aggregate.c - the coordinator's aggregate of a pass: every shard merged once whatever the
 * order or the repeats, texts kept once a pattern reaches keep_text_docs, errors summarised per
 * file without a cap, shard sets for the list pass, cluster samples independent of order, list
 * records in (shard, offset) order, and a checkpoint that restores all of it (and refuses a
 * damaged one). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/clsketch.h"
#include "common/pass.h"
#include "coordinator/aggregate.h"

#define N_SHARDS 6
#define LOG2     12

static const uint32_t shard_file[N_SHARDS] = {0, 0, 1, 1, 2, 3};

static struct ps_agg_opts opts(unsigned pass, size_t n_patterns)
{
    struct ps_agg_opts o = ps_agg_opts_default();

    o.n_shards = N_SHARDS;
    o.n_files = 4;
    o.shard_file = shard_file;
    o.pass = pass;
    o.sketch_cells = pass == PS_PASS_SCAN ? (size_t)1 << LOG2 : 0;
    o.n_patterns = n_patterns;
    o.max_errors_listed = 3;
    o.max_members = 2;
    return o;
}

/* Shard i names pattern "common" once, pattern "p<i>" once, and "pair" in shards 0 and 1;
 * shard 2 has 4 errors of which it sends 3 records (a worker keeps max_errors_kept), shard 4 has
 * 1; every shard's sketch has cell i set to 100. */
static void scan_blob_as(struct ps_results_writer *w, uint32_t shard, uint32_t id)
{
    struct ps_results_totals t = {10, 1000, 900, 0, 0};
    struct ps_results_cand c = {1000, 1, "common", 6};
    uint32_t cell = shard;
    uint8_t count = 100;
    struct ps_results_sketch k = {{&cell, &cell}, {&count, &count}, {1, 0}};
    char own[8];

    ps_results_begin(w, PS_PASS_SCAN, id, 0, 0);
    t.errors = shard == 2 ? 4 : shard == 4 ? 1 : 0;
    ps_results_put_totals(w, &t);
    for (uint64_t e = 0; e < t.errors && e < 3; e++) {
        char reason[32];
        struct ps_results_error er = {500 - e * 100, reason, 0};
        er.reason_len = (size_t)snprintf(reason, sizeof(reason), "bad %u/%u", shard, (unsigned)e);
        ps_results_put_error(w, &er);
    }
    ps_results_put_cand(w, &c);
    snprintf(own, sizeof(own), "p%u", shard);
    c.hash = 2000 + shard;
    c.text = own;
    c.text_len = strlen(own);
    ps_results_put_cand(w, &c);
    if (shard < 2) {
        c.hash = 0; /* the hash 0 is a pattern too */
        c.docs = 2;
        c.text = "pair";
        c.text_len = 4;
        ps_results_put_cand(w, &c);
    }
    ps_results_put_sketch(w, &k);
}

/* Shard `shard`'s blob (under its own id: scan_blob_as gives the content of one shard under the
 * id of another, as an earlier job's plan numbered it). */
static void scan_blob(struct ps_results_writer *w, uint32_t shard)
{
    scan_blob_as(w, shard, shard);
}

static void merge(struct ps_agg *a, struct ps_results_writer *w, bool want)
{
    struct ps_errdetail ed = {0};
    size_t n;
    const void *p = ps_results_data(w, &n);
    bool merged;

    assert_int_equal(ps_agg_merge(a, &p, &n, 1, &merged, &ed), PS_OK);
    assert_int_equal(merged, want);
}

struct pat_sum {
    uint64_t hashes, docs, shards, n;
};

static void sum_pattern(void *ctx, uint64_t hash, uint64_t docs, uint64_t shards, const char *text,
                        size_t len)
{
    struct pat_sum *s = ctx;

    (void)text;
    (void)len;
    s->hashes += hash;
    s->docs += docs;
    s->shards += shards;
    s->n++;
}

static void check_scan(struct ps_agg *a)
{
    struct pat_sum s = {0};
    uint64_t docs, shards;
    const uint8_t *sk = ps_agg_sketch(a);

    /* the live count (progress) needs no finish and agrees with the finished view */
    assert_int_equal(ps_agg_count_damaged_files(a), 2);
    ps_agg_finish(a);
    assert_int_equal(ps_agg_n_merged(a), N_SHARDS);
    assert_int_equal(ps_agg_totals(a)->docs, 10 * N_SHARDS);
    assert_int_equal(ps_agg_totals(a)->errors, 5);
    /* "common" (6 documents) and "pair" (4) reached 3 documents and kept a text; "p<i>" did not */
    ps_agg_each_pattern(a, sum_pattern, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.hashes, 1000);
    assert_int_equal(s.docs, 10);
    assert_int_equal(s.shards, 8);
    ps_agg_pattern_counts(a, 2003, &docs, &shards);
    assert_int_equal(docs, 1);
    assert_int_equal(shards, 1);
    for (uint32_t i = 0; i < N_SHARDS; i++)
        assert_int_equal(sk[i], 100);
    assert_int_equal(sk[N_SHARDS], 0);
    /* per file: file 1 (shard 2) has 4 (its totals, not its 3 records), file 2 (shard 4) 1,
     * with the first reason by offset among the records */
    assert_int_equal(ps_agg_n_error_files(a), 2);
    assert_int_equal(ps_agg_error_file(a, 0)->file, 1);
    assert_int_equal(ps_agg_error_file(a, 0)->count, 4);
    assert_int_equal(ps_agg_error_file(a, 0)->first_offset, 300);
    assert_string_equal(ps_agg_error_file(a, 0)->first_reason, "bad 2/2");
    assert_int_equal(ps_agg_error_file(a, 1)->count, 1);
    /* the first 3 by (file, offset) */
    assert_int_equal(ps_agg_n_errors(a), 3);
    assert_int_equal(ps_agg_error(a, 0)->offset, 300);
    assert_int_equal(ps_agg_error(a, 2)->offset, 500);
    assert_int_equal(ps_agg_error(a, 2)->file, 1);
}

static void test_aggregate_scan_merges_each_shard_once_in_any_order(void **state)
{
    static const uint32_t orders[2][N_SHARDS] = {{0, 1, 2, 3, 4, 5}, {5, 3, 1, 4, 0, 2}};
    struct ps_results_writer w = {0};
    struct ps_buf saved[2];

    (void)state;
    for (int o = 0; o < 2; o++) {
        struct ps_agg_opts op = opts(PS_PASS_SCAN, 0);
        struct ps_errdetail ed = {0};
        struct ps_agg *a;

        ps_agg_new(&a, &op);
        for (int i = 0; i < N_SHARDS; i++) {
            scan_blob(&w, orders[o][i]);
            merge(a, &w, true);
            merge(a, &w, false); /* a second attempt's commit, or a replay */
        }
        check_scan(a);
        ps_buf_init(&saved[o], SIZE_MAX / 2);
        assert_int_equal(ps_agg_save(a, &saved[o], &ed), PS_OK);
        ps_agg_free(a);
    }
    /* and the checkpoint restores it all */
    {
        struct ps_agg_opts op = opts(PS_PASS_SCAN, 0);
        struct ps_errdetail ed = {0};
        struct ps_agg *b;

        ps_agg_new(&b, &op);
        assert_int_equal(ps_agg_load(b, saved[1].data, saved[1].len, &ed), PS_OK);
        check_scan(b);
        scan_blob(&w, 3);
        merge(b, &w, false); /* merged before the checkpoint: still merged */
        ps_agg_free(b);
    }
    ps_buf_release(&saved[0]);
    ps_buf_release(&saved[1]);
    ps_results_release(&w);
}

/* --since: an earlier job counted the files that are now files 1 and 3 (its shards 0, 1 and 2
 * are now 2, 3 and 5); its state renumbered, with the other shards merged on top, is exactly a
 * merge of every shard; a shard it counted is not merged again; a base of another sketch size
 * does not fit. */
static void test_aggregate_rebase_equals_a_full_merge(void **state)
{
    static const uint32_t old_shard_file[3] = {0, 0, 1}, shard_map[3] = {2, 3, 5},
                          file_map[2] = {1, 3};
    struct ps_agg_opts oo = opts(PS_PASS_SCAN, 0), no = opts(PS_PASS_SCAN, 0);
    struct ps_results_writer w = {0};
    struct ps_errdetail ed = {0};
    struct ps_agg *old, *cur, *misfit;

    (void)state;
    oo.n_shards = 3;
    oo.n_files = 2;
    oo.shard_file = old_shard_file;
    ps_agg_new(&old, &oo);
    for (uint32_t i = 0; i < 3; i++) {
        scan_blob_as(&w, shard_map[i], i);
        merge(old, &w, true);
    }
    ps_agg_new(&cur, &no);
    assert_int_equal(ps_agg_rebase(cur, old, shard_map, file_map, &ed), PS_OK);
    assert_int_equal(ps_agg_n_merged(cur), 3);
    for (uint32_t i = 0; i < N_SHARDS; i++) {
        scan_blob(&w, i);
        merge(cur, &w, i == 0 || i == 1 || i == 4);
    }
    check_scan(cur);
    /* a rebase goes into an empty aggregate of the same sketch only */
    assert_int_equal(ps_agg_rebase(cur, old, shard_map, file_map, &ed), PS_ERR_USAGE);
    no.sketch_cells /= 2;
    ps_agg_new(&misfit, &no);
    assert_int_equal(ps_agg_rebase(misfit, old, shard_map, file_map, &ed), PS_ERR_USAGE);
    ps_agg_free(misfit);
    ps_agg_free(cur);
    ps_agg_free(old);
    ps_results_release(&w);
}

/* Shard i of a fine-tuning set: the pair "trig" -> negative in one record of every shard,
 * a pair of its own ("rare<i>") named once, the label's total (exact, no gate), and in shard 0
 * n-grams named in 7 and in 1000 records at once. */
static void assoc_blob(struct ps_results_writer *w, uint32_t shard)
{
    struct ps_results_totals t = {10, 1000, 900, 0, 0};
    struct ps_results_cand c = {3000, 1, "trig\x1fnegative", 13};
    char own[32];

    ps_results_begin(w, PS_PASS_SCAN, shard, 0, 0);
    ps_results_put_totals(w, &t);
    ps_results_put_cand(w, &c);
    c.hash = 4000 + shard;
    c.text_len = (size_t)snprintf(own, sizeof(own), "rare%u\x1fnegative", shard);
    c.text = own;
    ps_results_put_cand(w, &c);
    c = (struct ps_results_cand){6000, 1, "\x1fnegative", 9};
    ps_results_put_cand(w, &c);
    if (shard == 0) {
        c = (struct ps_results_cand){5000, 7, "big\x1f", 4};
        ps_results_put_cand(w, &c);
        c = (struct ps_results_cand){5001, 1000, "huge\x1f", 5};
        ps_results_put_cand(w, &c);
    }
}

static void assoc_counts(struct ps_agg *a, uint64_t hash, uint64_t want_docs, uint64_t want_shards)
{
    uint64_t docs, shards;

    ps_agg_pattern_counts(a, hash, &docs, &shards);
    assert_int_equal(docs, want_docs);
    assert_int_equal(shards, want_shards);
}

/* Association pairs pass a gate: one named in 5 records is in the table from then on and
 * counted exactly (the gate's estimate at admission, exact here, then each record), one named
 * once never is; the totals are exact from the first record. The gate is in the checkpoint:
 * a pair's records before it count after it. */
static void test_aggregate_scan_admits_association_pairs(void **state)
{
    struct ps_agg_opts o = opts(PS_PASS_SCAN, 0);
    struct ps_results_writer w = {0};
    struct ps_errdetail ed = {0};
    struct ps_agg *a, *b;
    struct ps_buf saved;

    (void)state;
    o.sketch_cells = 0;
    o.assoc_gate_log2 = 12;
    o.assoc_admit_docs = 5;
    ps_agg_new(&a, &o);
    for (uint32_t i = 0; i < 3; i++) {
        assoc_blob(&w, i);
        merge(a, &w, true);
    }
    ps_buf_init(&saved, PS_BUF_NO_LIMIT);
    assert_int_equal(ps_agg_save(a, &saved, &ed), PS_OK);
    ps_agg_free(a);
    ps_agg_new(&b, &o);
    assert_int_equal(ps_agg_load(b, saved.data, saved.len, &ed), PS_OK);
    for (uint32_t i = 3; i < N_SHARDS; i++) {
        assoc_blob(&w, i);
        merge(b, &w, true);
    }
    ps_agg_finish(b);
    assoc_counts(b, 3000, N_SHARDS, N_SHARDS); /* admitted at the 5th: its commits as documents */
    assoc_counts(b, 4002, 0, 0);               /* named once: never in the table */
    assoc_counts(b, 6000, N_SHARDS, N_SHARDS); /* a total: exact */
    assoc_counts(b, 5000, 7, 1);               /* 7 records in one commit */
    assoc_counts(b, 5001, 1000, 1);            /* more than a counter holds, in one commit */
    ps_agg_free(b);
    ps_buf_release(&saved);
    ps_results_release(&w);
}

static void test_aggregate_refuses_bad_blobs_and_checkpoints(void **state)
{
    struct ps_agg_opts op = opts(PS_PASS_CONFIRM, 2);
    struct ps_results_writer w = {0};
    struct ps_results_count k = {2, 1, 1}; /* pattern 2 of a list of 2 */
    struct ps_errdetail ed = {0};
    struct ps_buf saved;
    struct ps_agg *a;
    size_t n;
    const void *p;
    bool merged;

    (void)state;
    ps_agg_new(&a, &op);
    ps_results_begin(&w, PS_PASS_CONFIRM, 1, 0, 0);
    ps_results_put_count(&w, &k);
    p = ps_results_data(&w, &n);
    assert_int_equal(ps_agg_merge(a, &p, &n, 1, &merged, &ed), PS_ERR_PROTO);
    assert_false(ps_agg_merged(a, 1));
    scan_blob(&w, 1); /* another pass's blob */
    p = ps_results_data(&w, &n);
    assert_int_equal(ps_agg_merge(a, &p, &n, 1, &merged, &ed), PS_ERR_PROTO);
    ps_results_begin(&w, PS_PASS_CONFIRM, N_SHARDS, 0, 0); /* no such shard */
    p = ps_results_data(&w, &n);
    assert_int_equal(ps_agg_merge(a, &p, &n, 1, &merged, &ed), PS_ERR_PROTO);
    assert_int_equal(ps_agg_n_merged(a), 0);

    ps_buf_init(&saved, SIZE_MAX / 2);
    assert_int_equal(ps_agg_save(a, &saved, &ed), PS_OK);
    for (size_t cut = 0; cut < saved.len; cut++)
        assert_int_equal(ps_agg_load(a, saved.data, cut, &ed), PS_ERR_PROTO);
    saved.data[saved.len / 2] ^= 0x55;
    assert_int_equal(ps_agg_load(a, saved.data, saved.len, &ed), PS_ERR_PROTO);
    ps_agg_free(a);
    /* a checkpoint of another pass */
    {
        struct ps_agg_opts os = opts(PS_PASS_SCAN, 0);
        struct ps_agg *s, *c;
        ps_buf_reset(&saved);
        ps_agg_new(&s, &os);
        assert_int_equal(ps_agg_save(s, &saved, &ed), PS_OK);
        ps_agg_new(&c, &op);
        assert_int_equal(ps_agg_load(c, saved.data, saved.len, &ed), PS_ERR_PROTO);
        ps_agg_free(s);
        ps_agg_free(c);
    }
    ps_buf_release(&saved);
    ps_results_release(&w);
}

static void confirm_blob(struct ps_results_writer *w, uint32_t shard)
{
    struct ps_results_count k = {0, 2, 1};
    uint64_t keys[2] = {77, 88};
    struct ps_results_member m = {keys, 2, 0, "doc", "para", 3, 4};
    struct ps_results_cand lead = {55, 2, "lead", 4};

    ps_results_begin(w, PS_PASS_CONFIRM, shard, 0, 0);
    ps_results_put_count(w, &k); /* pattern 0: everywhere, in role */
    if (shard % 2 == 0) {
        k.pattern = 1;
        k.role = 0;
        ps_results_put_count(w, &k); /* pattern 1: even shards, never in role */
    }
    ps_results_put_lead(w, &lead);
    m.offset = 1000 + shard;
    ps_results_put_member(w, &m);
}

struct key_seen {
    uint64_t docs, n_keys;
    uint32_t sample_shards[4];
    size_t n_sample;
};

static void on_key(void *ctx, uint64_t key, uint64_t docs, const struct ps_agg_member *sample,
                   size_t n)
{
    struct key_seen *k = ctx;

    (void)key;
    k->docs += docs;
    k->n_keys++;
    k->n_sample = n;
    for (size_t i = 0; i < n && i < 4; i++)
        k->sample_shards[i] = sample[i].shard;
}

static void test_aggregate_confirm_counts_shards_and_samples(void **state)
{
    static const uint32_t orders[2][N_SHARDS] = {{0, 1, 2, 3, 4, 5}, {4, 2, 0, 5, 1, 3}};
    struct ps_results_writer w = {0};
    struct key_seen seen[2] = {{0}, {0}};

    (void)state;
    for (int o = 0; o < 2; o++) {
        struct ps_agg_opts op = opts(PS_PASS_CONFIRM, 2);
        struct ps_agg *a;
        const uint32_t *ids;
        size_t n;
        uint64_t docs, shards;

        ps_agg_new(&a, &op);
        for (int i = 0; i < N_SHARDS; i++) {
            confirm_blob(&w, orders[o][i]);
            merge(a, &w, true);
        }
        assert_int_equal(ps_agg_count(a, 0)->total, 2 * N_SHARDS);
        assert_int_equal(ps_agg_count(a, 0)->role, N_SHARDS);
        assert_int_equal(ps_agg_count(a, 0)->role_shards, N_SHARDS);
        assert_int_equal(ps_agg_count(a, 1)->role, 0);
        assert_int_equal(ps_agg_count(a, 1)->total_shards, 3);
        assert_int_equal(ps_agg_count(a, 1)->role_shards, 0);
        assert_true(ps_agg_pattern_shards(a, 1, false, &ids, &n));
        assert_int_equal(n, 3);
        assert_true(ps_agg_pattern_shards(a, 1, true, &ids, &n));
        assert_int_equal(n, 0);
        ps_agg_pattern_counts(a, 55, &docs, &shards);
        assert_int_equal(docs, 2 * N_SHARDS);
        assert_int_equal(shards, N_SHARDS);
        ps_agg_each_cluster_key(a, on_key, &seen[o]);
        ps_agg_free(a);
    }
    assert_int_equal(seen[0].n_keys, 2);
    assert_int_equal(seen[0].docs, 2 * N_SHARDS);
    assert_int_equal(seen[0].n_sample, 2);
    /* the sample is the members of smallest rank, whatever the order they came in */
    assert_memory_equal(seen[0].sample_shards, seen[1].sample_shards,
                        sizeof(seen[0].sample_shards));
    ps_results_release(&w);
}

static void test_aggregate_list_keeps_records_in_shard_order(void **state)
{
    struct ps_agg_opts op = opts(PS_PASS_LIST, 3);
    struct ps_results_writer w = {0};
    struct ps_results_entry e[2] = {{0}, {0}};
    struct ps_errdetail ed = {0};
    struct ps_buf saved;
    struct ps_agg *a, *b;

    (void)state;
    e[1].pattern = 2;
    e[1].in_role = true;
    e[1].kind = 1;
    ps_agg_new(&a, &op);
    for (uint32_t s = N_SHARDS; s-- > 0;) {
        struct ps_results_hit h = {0};
        ps_results_begin(&w, PS_PASS_LIST, s, 0, 0);
        for (uint64_t off = 3; off-- > 0;) {
            h.offset = off * 10;
            h.id = "id";
            h.id_len = 2;
            h.entries = e;
            h.n_entries = 2;
            ps_results_put_hit(&w, &h);
        }
        merge(a, &w, true);
    }
    ps_buf_init(&saved, SIZE_MAX / 2);
    assert_int_equal(ps_agg_save(a, &saved, &ed), PS_OK);
    ps_agg_new(&b, &op);
    assert_int_equal(ps_agg_load(b, saved.data, saved.len, &ed), PS_OK);
    ps_agg_finish(a);
    ps_agg_finish(b);
    assert_int_equal(ps_agg_n_hits(b), 3 * N_SHARDS);
    for (size_t i = 0; i < ps_agg_n_hits(b); i++) {
        assert_int_equal(ps_agg_hit(b, i)->shard, i / 3);
        assert_int_equal(ps_agg_hit(b, i)->offset, (i % 3) * 10);
        assert_int_equal(ps_agg_hit(b, i)->entries[1].pattern, 2);
        assert_true(ps_agg_hit(b, i)->entries[1].in_role);
        assert_int_equal(ps_agg_hit(a, i)->offset, ps_agg_hit(b, i)->offset);
    }
    ps_agg_free(a);
    ps_agg_free(b);
    ps_buf_release(&saved);
    ps_results_release(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aggregate_scan_merges_each_shard_once_in_any_order),
        cmocka_unit_test(test_aggregate_rebase_equals_a_full_merge),
        cmocka_unit_test(test_aggregate_scan_admits_association_pairs),
        cmocka_unit_test(test_aggregate_refuses_bad_blobs_and_checkpoints),
        cmocka_unit_test(test_aggregate_confirm_counts_shards_and_samples),
        cmocka_unit_test(test_aggregate_list_keeps_records_in_shard_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
