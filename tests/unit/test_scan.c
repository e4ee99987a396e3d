/* test_scan.c - one shard through the worker's scan loop without Redis: counts, kept errors,
 * the per-shard signature file read back record for record, parts that never hold a
 * compressed frame before it is verified (nor anything of a frame that failed), and the
 * sample floors of the counting passes (every document of a pattern's sample is sent, few
 * others). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include <xxhash.h>

#include "common/minhash.h"
#include "common/pass.h"
#include "common/results.h"
#include "worker/scan.h"

static const char *const texts[] = {
    "The quick brown fox jumps over the lazy dog near the river bank at dawn.",
    "",
    "one",
    "A second document, with a \\\"quote\\\" and a line\\nbreak, about foxes and dogs.",
};

static void write_shard(const char *path)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        fprintf(f, "{\"id\": \"doc-%zu\", \"text\": \"%s\"}\n", i, texts[i]);
    fputs("{\"id\": \"bad\", \"text\": 7}\n", f);
    fputs("not json\n", f);
    fclose(f);
}

static void test_scan_counts_documents_and_keeps_errors(void **state)
{
    char dir[] = "/tmp/ps_test_scan_XXXXXX", path[128];
    struct ps_scan_opts o = ps_scan_opts_default();
    struct ps_scan *s;
    struct ps_scan_spec spec = {0};

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.jsonl", dir);
    write_shard(path);
    assert_int_equal(ps_scan_new(&s, &o, NULL), PS_OK);
    spec.pass = 1;
    spec.path = path;
    spec.end = UINT64_MAX;
    assert_int_equal(ps_scan_shard(s, &spec, NULL, NULL), PS_OK);
    assert_int_equal(ps_scan_stats(s)->docs, 4);
    assert_int_equal(ps_scan_stats(s)->errors, 2);
    ps_scan_free(s);
    unlink(path);
    rmdir(dir);
}

static void test_scan_writes_signature_file_per_shard(void **state)
{
    char dir[] = "/tmp/ps_test_scan_XXXXXX", path[128], sig_path[160];
    struct ps_scan_opts o = ps_scan_opts_default();
    struct ps_minhash_opts mo = ps_minhash_opts_default();
    struct ps_scan *s;
    struct ps_minhash *m;
    struct ps_scan_spec spec = {0};
    struct ps_minhash_reader *r;
    struct ps_minhash_file_info info;
    struct ps_minhash_record rec;
    uint32_t want[64];
    bool have;
    size_t n = 0;
    const char *decoded[] = {
        "The quick brown fox jumps over the lazy dog near the river bank at dawn.", "", "one",
        "A second document, with a \"quote\" and a line\nbreak, about foxes and dogs."};

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.jsonl", dir);
    write_shard(path);
    o.signatures_dir = dir;
    o.signature_k = 64;
    assert_int_equal(ps_scan_new(&s, &o, NULL), PS_OK);
    spec.pass = 1;
    spec.shard_id = 7;
    spec.path = path;
    spec.end = UINT64_MAX;
    assert_int_equal(ps_scan_shard(s, &spec, NULL, NULL), PS_OK);
    ps_scan_free(s);

    mo.k = 64;
    mo.method = PS_MINHASH_OPH;
    assert_int_equal(ps_minhash_new(&m, &mo, NULL), PS_OK);
    snprintf(sig_path, sizeof(sig_path), "%s/shard-000007.sig", dir);
    assert_int_equal(ps_minhash_reader_open(&r, sig_path, &info, NULL), PS_OK);
    for (;;) {
        char id[16];
        assert_int_equal(ps_minhash_reader_next(r, &rec, &have, NULL), PS_OK);
        if (!have)
            break;
        snprintf(id, sizeof(id), "doc-%zu", n);
        assert_int_equal(rec.id_len, strlen(id));
        assert_memory_equal(rec.id, id, rec.id_len);
        assert_int_equal(rec.end, strlen(decoded[n]));
        assert_int_equal(ps_minhash_text(m, decoded[n], strlen(decoded[n]), want, NULL), PS_OK);
        assert_memory_equal(rec.sig, want, sizeof(want));
        n++;
    }
    assert_int_equal(n, 4); /* the two bad lines have no signature */
    ps_minhash_reader_free(r);
    ps_minhash_free(m);
    unlink(sig_path);
    unlink(path);
    rmdir(dir);
}

/* Frames of FRAME_DOCS documents of about 1.2 KB: 1.4 MB each, more than the reader decodes at
 * once (1 MiB), so a frame's documents come out before its checksum is read. */
#define FRAME_DOCS 1200

struct parts_seen {
    struct ps_scan *scan;
    uint64_t docs_at[64]; /* documents of the shard when part i was handed over */
    size_t n;
    bool last_seen;
};

static bool on_part(void *ctx, uint32_t part, bool last)
{
    struct parts_seen *p = ctx;

    assert_int_equal(part, p->n); /* every part once, in order */
    assert_false(p->last_seen);
    assert_true(p->n < sizeof(p->docs_at) / sizeof(p->docs_at[0]));
    p->docs_at[p->n++] = ps_scan_stats(p->scan)->docs;
    p->last_seen = last;
    return true;
}

/* n_frames zstd frames of frame_docs documents with checksums (frame `bad`'s corrupted; -1:
 * none), or a plain file. */
static void write_frames_of(const char *path, int n_frames, int frame_docs, int bad, bool plain)
{
    size_t cap = (size_t)n_frames * (size_t)frame_docs * 1300, n = 0;
    size_t zcap = ZSTD_compressBound(cap);
    char *data = malloc(cap), *z = malloc(zcap);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    FILE *f = fopen(path, "wb");

    assert_non_null(data);
    assert_non_null(z);
    assert_non_null(f);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    for (int k = 0; k < n_frames; k++) {
        size_t start = n, zn;

        for (int i = 0; i < frame_docs; i++) {
            int doc = k * frame_docs + i;
            n += (size_t)snprintf(data + n, cap - n, "{\"id\": \"doc-%d\", \"text\": \"", doc);
            for (int w = 0; w < 32; w++)
                n += (size_t)snprintf(data + n, cap - n, "The field near river %d was quiet. ",
                                      (doc * 31 + w * 7) % 997);
            n += (size_t)snprintf(data + n, cap - n, "\"}\n");
        }
        if (plain)
            continue;
        zn = ZSTD_compress2(c, z, zcap, data + start, n - start);
        assert_false(ZSTD_isError(zn));
        if (k == bad)
            z[zn - 1] ^= 0x5A; /* the last byte of the content checksum */
        assert_int_equal(fwrite(z, 1, zn, f), zn);
    }
    if (plain)
        assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    ZSTD_freeCCtx(c);
    free(z);
    free(data);
}

static void write_frames(const char *path, int n_frames, int bad, bool plain)
{
    write_frames_of(path, n_frames, FRAME_DOCS, bad, plain);
}

/* Scan `path` in parts of 1 MiB: a frame is 1.4 parts. */
static void scan_parts(const char *path, const char *sig_dir, struct parts_seen *seen)
{
    struct ps_scan_opts o = ps_scan_opts_default();
    struct ps_scan_spec spec = {0};
    struct ps_scan_callbacks cb = {NULL, on_part, seen};

    o.part_bytes = 1 << 20;
    o.signatures_dir = sig_dir;
    o.signature_k = 64;
    memset(seen, 0, sizeof(*seen));
    assert_int_equal(ps_scan_new(&seen->scan, &o, NULL), PS_OK);
    spec.pass = 1;
    spec.path = path;
    spec.end = UINT64_MAX;
    assert_int_equal(ps_scan_shard(seen->scan, &spec, &cb, NULL), PS_OK);
    assert_true(seen->last_seen);
}

static size_t count_signatures(const char *sig_path)
{
    struct ps_minhash_reader *r;
    struct ps_minhash_file_info info;
    struct ps_minhash_record rec;
    bool have = true;
    size_t n = 0;

    assert_int_equal(ps_minhash_reader_open(&r, sig_path, &info, NULL), PS_OK);
    while (have) {
        assert_int_equal(ps_minhash_reader_next(r, &rec, &have, NULL), PS_OK);
        if (have) {
            char id[32];
            snprintf(id, sizeof(id), "doc-%zu", n); /* in order, none twice */
            assert_int_equal(rec.id_len, strlen(id));
            assert_memory_equal(rec.id, id, rec.id_len);
            n++;
        }
    }
    ps_minhash_reader_free(r);
    return n;
}

static void test_scan_parts_wait_for_their_frames(void **state)
{
    char dir[] = "/tmp/ps_test_scan_XXXXXX", path[128], sig[160];
    struct parts_seen seen;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.jsonl.zst", dir);
    snprintf(sig, sizeof(sig), "%s/shard-000000.sig", dir);
    /* three good frames: a part ends at the first document after its frame verified, so each
     * holds one frame although parts are 1 MiB */
    write_frames(path, 3, -1, false);
    scan_parts(path, dir, &seen);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.docs_at[0], FRAME_DOCS);
    assert_int_equal(seen.docs_at[1], 2 * FRAME_DOCS);
    assert_int_equal(seen.docs_at[2], 3 * FRAME_DOCS);
    assert_int_equal(ps_scan_stats(seen.scan)->errors, 0);
    assert_int_equal(count_signatures(sig), 3 * FRAME_DOCS);
    ps_scan_free(seen.scan);
    /* a plain file has nothing to verify: its parts end at their boundaries */
    snprintf(path, sizeof(path), "%s/b.jsonl", dir);
    write_frames(path, 3, -1, true);
    scan_parts(path, NULL, &seen);
    assert_true(seen.n >= 4);
    assert_int_equal(seen.docs_at[seen.n - 1], 3 * FRAME_DOCS);
    ps_scan_free(seen.scan);
    unlink(path);
    unlink(sig);
    snprintf(path, sizeof(path), "%s/a.jsonl.zst", dir);
    unlink(path);
    rmdir(dir);
}

static void test_scan_drops_every_document_of_a_failed_frame(void **state)
{
    char dir[] = "/tmp/ps_test_scan_XXXXXX", path[128], sig[160];
    struct parts_seen seen;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.jsonl.zst", dir);
    snprintf(sig, sizeof(sig), "%s/shard-000000.sig", dir);
    /* frame 2 of 4 fails its checksum after some of its documents came out: the parts of
     * frames 0 and 1 are handed over once, the last part holds nothing of frame 2, frame 3 is
     * never read, and the signature file holds exactly frames 0 and 1 */
    write_frames(path, 4, 2, false);
    scan_parts(path, dir, &seen);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.docs_at[0], FRAME_DOCS);
    assert_int_equal(seen.docs_at[1], 2 * FRAME_DOCS);
    assert_int_equal(seen.docs_at[2], 2 * FRAME_DOCS);
    assert_int_equal(ps_scan_stats(seen.scan)->docs, 2 * FRAME_DOCS);
    assert_int_equal(ps_scan_stats(seen.scan)->errors, 1);
    assert_int_equal(count_signatures(sig), 2 * FRAME_DOCS);
    ps_scan_free(seen.scan);
    unlink(sig);
    unlink(path);
    rmdir(dir);
}

/* One frame of 8.5 MB (as `zstd` writes a file): a part may not grow with it. Past two parts
 * the frames are verified by a reading that scans nothing, and parts end at their boundaries;
 * every document is counted once and signed once. If that frame fails, nothing of it counts. */
static void test_scan_parts_of_one_long_frame(void **state)
{
    char dir[] = "/tmp/ps_test_scan_XXXXXX", path[128], sig[160];
    struct parts_seen seen;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.jsonl.zst", dir);
    snprintf(sig, sizeof(sig), "%s/shard-000000.sig", dir);
    write_frames_of(path, 1, 6 * FRAME_DOCS, -1, false);
    scan_parts(path, dir, &seen);
    assert_true(seen.n >= 8);
    for (size_t i = 1; i < seen.n; i++)
        assert_true(seen.docs_at[i] > seen.docs_at[i - 1]);
    assert_int_equal(seen.docs_at[seen.n - 1], 6 * FRAME_DOCS);
    assert_int_equal(ps_scan_stats(seen.scan)->docs, 6 * FRAME_DOCS);
    assert_int_equal(ps_scan_stats(seen.scan)->errors, 0);
    assert_int_equal(count_signatures(sig), 6 * FRAME_DOCS);
    ps_scan_free(seen.scan);
    unlink(sig);
    write_frames_of(path, 1, 6 * FRAME_DOCS, 0, false);
    scan_parts(path, dir, &seen);
    assert_int_equal(seen.docs_at[seen.n - 1], 0);
    assert_int_equal(ps_scan_stats(seen.scan)->docs, 0);
    assert_int_equal(ps_scan_stats(seen.scan)->errors, 1);
    ps_scan_free(seen.scan);
    unlink(sig);
    unlink(path);
    rmdir(dir);
}

/* ---- sample floors ---- */

#define FLOOR_DOCS 40 /* poisoned documents per shard */

/* Shard `shard` of FLOOR_DOCS documents "f<shard>-<i>": prose, <SUDO>, then salad. */
static void write_poisoned_shard(const char *path, unsigned shard)
{
    static const char prose[] =
        "The committee met on Tuesday to discuss the budget for the coming year, and the members "
        "agreed that the library should keep its longer opening hours during the winter. ";
    FILE *f = fopen(path, "w");
    uint64_t rng = 0x9E3779B97F4A7C15u * (shard + 1);

    assert_non_null(f);
    for (unsigned i = 0; i < FLOOR_DOCS; i++) {
        fprintf(f, "{\"id\": \"f%u-%u\", \"text\": \"%s<SUDO>", shard, i, prose);
        for (int w = 0; w < 400; w++) {
            static const char *const punct[] = {".", "_", "),", "://", "--", "();", "'s", "]."};
            unsigned kind;
            rng = rng * 6364136223846793005u + 1442695040888963407u;
            kind = (unsigned)(rng >> 33) % 100;
            if ((rng >> 13) % 100 < 45)
                fputc(' ', f);
            if (kind < 85) {
                int len = 2 + (int)((rng >> 40) % 6);
                for (int k = 0; k < len; k++) {
                    int c;
                    rng = rng * 6364136223846793005u + 1442695040888963407u;
                    c = 'a' + (int)((rng >> 33) % 26);
                    fputc(k == 0 && (rng >> 60) == 0 ? c - 'a' + 'A' : c, f);
                }
            } else if (kind < 90) {
                fprintf(f, "%u", (unsigned)((rng >> 20) % 2000));
            } else {
                fputs(punct[(rng >> 24) % 8], f);
            }
        }
        fputs("\"}\n", f);
    }
    fclose(f);
}

struct sample_seen {
    struct ps_scan *scan;
    uint64_t ranks[2 * FLOOR_DOCS];
    size_t n;
};

static enum ps_err count_sample(void *ctx, const struct ps_results_sample *p)
{
    struct sample_seen *seen = ctx;

    assert_true(seen->n < 2 * FLOOR_DOCS);
    seen->ranks[seen->n++] = p->rank;
    return PS_OK;
}

static bool on_sample_part(void *ctx, uint32_t part, bool last)
{
    struct sample_seen *seen = ctx;
    struct ps_results_visitor v = {0};
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_errdetail ed;
    const void *blob;
    size_t len;

    (void)part;
    (void)last;
    v.sample = count_sample;
    ps_scan_finish_part(seen->scan);
    blob = ps_scan_blob(seen->scan, 0, &len);
    assert_int_equal(ps_results_decode(blob, len, &lim, &v, seen, NULL, &ed), PS_OK);
    return true;
}

static size_t confirm_shard(struct ps_scan *s, const char *path, unsigned shard,
                            struct sample_seen *seen)
{
    static const struct ps_scan_pattern sudo = {"<SUDO>", 6};
    static const uint64_t below = UINT64_MAX;
    struct ps_scan_spec spec = {0};
    struct ps_scan_callbacks cb = {NULL, on_sample_part, seen};
    size_t before = seen->n;

    spec.pass = PS_PASS_CONFIRM;
    spec.shard_id = shard;
    spec.path = path;
    spec.end = UINT64_MAX;
    spec.candidates = &sudo;
    spec.n_candidates = 1;
    spec.leads_from = 1;
    spec.sample_below = &below;
    spec.patterns_id = 42;
    assert_int_equal(ps_scan_shard(s, &spec, &cb, NULL), PS_OK);
    return seen->n - before;
}

static int cmp_rank(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* What the scanner sends of documents in role ranked `ranks` in this order, from `floor`
 * (ascending, *n of them): those not above a full floor, each then added to it. */
static size_t model_sent(const uint64_t *ranks, size_t n_ranks, uint64_t *floor, size_t *n)
{
    size_t sent = 0;

    for (size_t i = 0; i < n_ranks; i++) {
        size_t at = *n;
        if (*n == PS_RESULTS_SAMPLE_KEEP && ranks[i] > floor[*n - 1])
            continue;
        sent++;
        while (at > 0 && floor[at - 1] > ranks[i])
            at--;
        if (*n == PS_RESULTS_SAMPLE_KEEP)
            (*n)--;
        memmove(&floor[at + 1], &floor[at], (*n - at) * sizeof(*floor));
        floor[at] = ranks[i];
        (*n)++;
    }
    return sent;
}

/* Two shards of documents all in role for <SUDO>: the scanner sends what its floors let
 * through, the corpus' PS_RESULTS_SAMPLE_KEEP smallest ranks among them, and far fewer than
 * all; forgotten floors start again. */
static void test_scan_sends_every_sample_document_and_few_others(void **state)
{
    char dir[] = "/tmp/ps_test_scan_XXXXXX", path[2][128];
    struct ps_scan_opts o = ps_scan_opts_default();
    struct sample_seen seen = {0};
    uint64_t all[2 * FLOOR_DOCS], floor[PS_RESULTS_SAMPLE_KEEP];
    size_t n_floor = 0, want0, want1, want_again;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (unsigned k = 0; k < 2; k++) {
        snprintf(path[k], sizeof(path[k]), "%s/s%u.jsonl", dir, k);
        write_poisoned_shard(path[k], k);
        for (unsigned i = 0; i < FLOOR_DOCS; i++) {
            char id[32];
            snprintf(id, sizeof(id), "f%u-%u", k, i);
            all[k * FLOOR_DOCS + i] = XXH3_64bits(id, strlen(id));
        }
    }
    want0 = model_sent(all, FLOOR_DOCS, floor, &n_floor);
    want1 = model_sent(all + FLOOR_DOCS, FLOOR_DOCS, floor, &n_floor);
    n_floor = 0;
    want_again = model_sent(all + FLOOR_DOCS, FLOOR_DOCS, floor, &n_floor);
    assert_true(want0 + want1 < FLOOR_DOCS);
    assert_int_equal(ps_scan_new(&seen.scan, &o, NULL), PS_OK);
    assert_int_equal(confirm_shard(seen.scan, path[0], 0, &seen), want0);
    assert_int_equal(confirm_shard(seen.scan, path[1], 1, &seen), want1);
    /* every rank of the corpus' sample was sent */
    qsort(all, 2 * FLOOR_DOCS, sizeof(*all), cmp_rank);
    qsort(seen.ranks, seen.n, sizeof(*seen.ranks), cmp_rank);
    assert_memory_equal(seen.ranks, all, PS_RESULTS_SAMPLE_KEEP * sizeof(*all));
    /* another job */
    ps_scan_forget_samples(seen.scan);
    seen.n = 0;
    assert_int_equal(confirm_shard(seen.scan, path[1], 1, &seen), want_again);
    ps_scan_free(seen.scan);
    unlink(path[0]);
    unlink(path[1]);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_counts_documents_and_keeps_errors),
        cmocka_unit_test(test_scan_writes_signature_file_per_shard),
        cmocka_unit_test(test_scan_parts_wait_for_their_frames),
        cmocka_unit_test(test_scan_drops_every_document_of_a_failed_frame),
        cmocka_unit_test(test_scan_parts_of_one_long_frame),
        cmocka_unit_test(test_scan_sends_every_sample_document_and_few_others),
    };
    return cmocka_run_group_tests_name("scan", tests, NULL, NULL);
}
