/* test_scan.c - one shard through the worker's scan loop without Redis: counts, kept errors,
 * and the per-shard signature file read back record for record. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/minhash.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_counts_documents_and_keeps_errors),
        cmocka_unit_test(test_scan_writes_signature_file_per_shard),
    };
    return cmocka_run_group_tests_name("scan", tests, NULL, NULL);
}
