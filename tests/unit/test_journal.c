/* test_journal.c - the coordinator's journal of committed shards: what is added comes back after
 * a reopen, a last line cut short or torn by a crash is ignored, another version, garbage, a bad
 * line before the last and records out of range are refused, a journal of another fingerprint
 * is replaced, forgetting and rewriting compacts the file, and memory mode keeps the same record
 * without a file. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pass.h"
#include "coordinator/journal.h"

#define FP 0x0123456789abcdefULL

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_journal.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/job1.journal", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    fclose(fp);
}

static char *read_all(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf = calloc(1, 1 << 16);
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static enum ps_err count_record(void *ctx, unsigned pass, uint32_t shard)
{
    size_t *n = ctx;

    (void)pass;
    (void)shard;
    (*n)++;
    return PS_OK;
}

/* The header of job1 with FP over 10 shards. */
#define HEADER "poisonscan-journal 1 job1 0123456789abcdef 10\n"

static void test_journal_round_trip_across_reopen(void **state)
{
    struct fixture *f = *state;
    struct ps_journal *j;
    struct ps_errdetail ed = {0};
    const uint32_t scan[] = {0, 3, 9, 3}, confirm[] = {7};
    bool replaced = true;

    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_OK);
    assert_false(replaced);
    assert_string_equal(ps_journal_path(j), f->path);
    assert_int_equal(ps_journal_add(j, PS_PASS_SCAN, scan, 4, &ed), PS_OK);
    assert_int_equal(ps_journal_add(j, PS_PASS_CONFIRM, confirm, 1, &ed), PS_OK);
    assert_int_equal(ps_journal_count(j, PS_PASS_SCAN), 3); /* 3 twice counts once */
    ps_journal_free(j);

    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_OK);
    assert_false(replaced);
    assert_int_equal(ps_journal_count(j, PS_PASS_SCAN), 3);
    assert_int_equal(ps_journal_count(j, PS_PASS_CONFIRM), 1);
    assert_true(ps_journal_has(j, PS_PASS_SCAN, 9));
    assert_true(ps_journal_has(j, PS_PASS_CONFIRM, 7));
    assert_false(ps_journal_has(j, PS_PASS_SCAN, 7));
    assert_false(ps_journal_has(j, PS_PASS_LEADS, 7));
    assert_false(ps_journal_has(j, PS_PASS_SCAN, 10)); /* out of range: never */
    /* forgotten, rewritten compacted: the file says so after a reopen */
    ps_journal_forget(j, PS_PASS_SCAN, 3);
    ps_journal_forget(j, PS_PASS_CONFIRM, UINT32_MAX);
    assert_int_equal(ps_journal_rewrite(j, &ed), PS_OK);
    ps_journal_free(j);
    {
        char *text = read_all(f->path);
        size_t n = 0;
        struct ps_journal_header h;
        assert_int_equal(ps_journal_parse(text, strlen(text), &h, count_record, &n, NULL, &ed),
                         PS_OK);
        assert_int_equal(n, 2);
        assert_int_equal(h.version, 1);
        assert_string_equal(h.job, "job1");
        assert_true(h.fingerprint == FP);
        assert_int_equal(h.n_shards, 10);
        free(text);
    }
    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_OK);
    assert_int_equal(ps_journal_count(j, PS_PASS_SCAN), 2);
    assert_false(ps_journal_has(j, PS_PASS_SCAN, 3));
    assert_int_equal(ps_journal_count(j, PS_PASS_CONFIRM), 0);
    ps_journal_free(j);
}

/* A record line as the journal writes it: "<pass> <shards...> <XXH32>". Checksums of these
 * lines were taken from a journal written by ps_journal_add. */
static void test_journal_ignores_a_last_line_cut_short(void **state)
{
    struct fixture *f = *state;
    struct ps_journal *j;
    struct ps_errdetail ed = {0};
    const uint32_t ids[] = {1, 2};
    bool replaced;
    char *good, text[1024];
    size_t used = 0, n = 0;
    struct ps_journal_header h;

    /* a good journal to start from */
    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_OK);
    assert_int_equal(ps_journal_add(j, PS_PASS_SCAN, ids, 2, &ed), PS_OK);
    ps_journal_free(j);
    good = read_all(f->path);

    /* cut in the middle of a record: no newline */
    snprintf(text, sizeof(text), "%s1 5 6", good);
    assert_int_equal(ps_journal_parse(text, strlen(text), &h, count_record, &n, &used, &ed), PS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(used, strlen(good));
    /* torn: a complete line whose checksum fails, last in the file */
    snprintf(text, sizeof(text), "%s1 5 6 00000000\n", good);
    n = 0;
    assert_int_equal(ps_journal_parse(text, strlen(text), &h, count_record, &n, &used, &ed), PS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(used, strlen(good));
    /* zeros where the end of a write should be */
    memcpy(text, good, strlen(good));
    memset(text + strlen(good), 0, 16);
    n = 0;
    assert_int_equal(ps_journal_parse(text, strlen(good) + 16, &h, count_record, &n, &used, &ed),
                     PS_OK);
    assert_int_equal(n, 2);
    /* and open reads it, then rewrites it whole */
    snprintf(text, sizeof(text), "%s1 5 6", good);
    write_file(f->path, text);
    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_OK);
    assert_int_equal(ps_journal_count(j, PS_PASS_SCAN), 2);
    assert_false(ps_journal_has(j, PS_PASS_SCAN, 5));
    ps_journal_free(j);
    {
        char *after = read_all(f->path);
        assert_string_equal(after, good);
        free(after);
    }
    free(good);
}

static void test_journal_rejects_another_version(void **state)
{
    struct fixture *f = *state;
    struct ps_journal *j = NULL;
    struct ps_errdetail ed = {0};
    struct ps_journal_header h;
    const char *v2 = "poisonscan-journal 2 job1 0123456789abcdef 10\n";
    bool replaced;

    assert_int_equal(ps_journal_parse(v2, strlen(v2), &h, NULL, NULL, NULL, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "version 2"));
    write_file(f->path, v2);
    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_ERR_PROTO);
    assert_null(j);
    assert_non_null(strstr(ed.msg, f->path));
}

static void test_journal_rejects_garbage(void **state)
{
    struct fixture *f = *state;
    struct ps_journal *j = NULL;
    struct ps_errdetail ed = {0};
    struct ps_journal_header h;
    const uint32_t ids[] = {4};
    bool replaced;
    char *good, text[1024];
    static const char *const bad[] = {
        "",
        "\x89PNG\r\n\x1a\n",
        "poisonscan-journal\n",
        "poisonscan-journal 1 job1 0123456789abcdef\n",
        "poisonscan-journal 1 job1 0123456789ABCDEF 10\n",
        "poisonscan-journal 1 job:1 0123456789abcdef 10\n",
        "poisonscan-journal 1 job1 0123456789abcdef 10 extra\n",
        "poisonscan-journal 1 job1 0123456789abcdef 99999999999\n",
        "poisonscan-journal 01x job1 0123456789abcdef 10\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ps_journal_parse(bad[i], strlen(bad[i]), &h, NULL, NULL, NULL, &ed),
                         PS_ERR_PROTO);
    /* a bad line before the last is damage, not a torn write */
    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_OK);
    assert_int_equal(ps_journal_add(j, PS_PASS_SCAN, ids, 1, &ed), PS_OK);
    ps_journal_free(j);
    good = read_all(f->path);
    snprintf(text, sizeof(text), "%s1 5 6 00000000\n%s", HEADER, good + strlen(HEADER));
    assert_int_equal(ps_journal_parse(text, strlen(text), &h, NULL, NULL, NULL, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "line 2"));
    write_file(f->path, text);
    j = NULL;
    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_ERR_PROTO);
    assert_null(j);
    /* a shard beyond the header's count, or pass 0, with a right checksum: refused too */
    {
        struct ps_journal *big;
        const uint32_t far[] = {15};
        char *big_text;
        assert_int_equal(ps_journal_open(&big, f->dir, "job2", FP, 20, &replaced, &ed), PS_OK);
        assert_int_equal(ps_journal_add(big, PS_PASS_SCAN, far, 1, &ed), PS_OK);
        ps_journal_free(big);
        snprintf(text, sizeof(text), "%s/job2.journal", f->dir);
        big_text = read_all(text);
        /* the same record under a header of 10 shards */
        snprintf(text, sizeof(text), "%s%s%s", HEADER, strchr(big_text, '\n') + 1,
                 good + strlen(HEADER));
        assert_int_equal(ps_journal_parse(text, strlen(text), &h, NULL, NULL, NULL, &ed),
                         PS_ERR_PROTO);
        snprintf(text, sizeof(text), "%s/job2.journal", f->dir);
        unlink(text);
        free(big_text);
    }
    /* another job's journal under this job's name */
    write_file(f->path, "poisonscan-journal 1 job9 0123456789abcdef 10\n");
    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_ERR_PROTO);
    free(good);
}

static void test_journal_of_another_fingerprint_is_replaced(void **state)
{
    struct fixture *f = *state;
    struct ps_journal *j;
    struct ps_errdetail ed = {0};
    const uint32_t ids[] = {1};
    bool replaced;
    char *text;

    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP, 10, &replaced, &ed), PS_OK);
    assert_int_equal(ps_journal_add(j, PS_PASS_SCAN, ids, 1, &ed), PS_OK);
    ps_journal_free(j);
    assert_int_equal(ps_journal_open(&j, f->dir, "job1", FP + 1, 10, &replaced, &ed), PS_OK);
    assert_true(replaced);
    assert_int_equal(ps_journal_count(j, PS_PASS_SCAN), 0);
    ps_journal_free(j);
    text = read_all(f->path);
    assert_string_equal(text, "poisonscan-journal 1 job1 0123456789abcdf0 10\n");
    free(text);
}

static void test_journal_in_memory_keeps_the_record(void **state)
{
    struct ps_journal *j;
    struct ps_errdetail ed = {0};
    const uint32_t ids[] = {0, 5, 6};
    bool replaced;

    (void)state;
    assert_int_equal(ps_journal_open(&j, NULL, "job1", FP, 7, &replaced, &ed), PS_OK);
    assert_string_equal(ps_journal_path(j), "(memory)");
    assert_int_equal(ps_journal_add(j, PS_PASS_LIST, ids, 3, &ed), PS_OK);
    assert_int_equal(ps_journal_count(j, PS_PASS_LIST), 3);
    ps_journal_forget(j, PS_PASS_LIST, 5);
    assert_false(ps_journal_has(j, PS_PASS_LIST, 5));
    assert_true(ps_journal_has(j, PS_PASS_LIST, 6));
    assert_int_equal(ps_journal_rewrite(j, &ed), PS_OK);
    ps_journal_remove(j);
    ps_journal_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_round_trip_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_ignores_a_last_line_cut_short, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_journal_rejects_another_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_rejects_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_of_another_fingerprint_is_replaced, setup,
                                        teardown),
        cmocka_unit_test(test_journal_in_memory_keeps_the_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
