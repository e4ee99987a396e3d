/* test_attrset.c - the flagged documents of a job by file: a set built from documents in any
 * order with duplicates holds each once (seen when any copy is), sorted by offset; its record
 * has the documented bytes, decodes to the same set and encodes back to the same bytes; and
 * decoding refuses each defect the header lists, each for its own reason, while the same record
 * without the defect decodes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/varint.h"
#include "coordinator/attrset.h"

#define OFFSET_MAX ((UINT64_C(1) << 63) - 1)

/* "PSAT", the version byte, then `v` as varints: a record written by hand */
static void put_record(struct ps_buf *b, const uint64_t *v, size_t n)
{
    unsigned char version = PS_ATTRSET_VERSION;

    ps_buf_init(b, PS_BUF_NO_LIMIT);
    ps_buf_add(b, "PSAT", 4);
    ps_buf_add(b, &version, 1);
    for (size_t i = 0; i < n; i++)
        ps_varint_put(b, v[i]);
}

static void expect_rejected(const void *src, size_t len, size_t n_files, const char *why)
{
    struct ps_attrset *s = (struct ps_attrset *)&s; /* anything but NULL */
    struct ps_errdetail ed = {0};

    assert_int_equal(ps_attrset_decode(&s, src, len, n_files, &ed), PS_ERR_PROTO);
    assert_null(s);
    if (strstr(ed.msg, why) == NULL)
        fail_msg("expected '%s' in '%s'", why, ed.msg);
}

/* decodes, and encodes back to the same bytes */
static struct ps_attrset *expect_decoded(const void *src, size_t len, size_t n_files)
{
    struct ps_attrset *s = NULL;
    struct ps_errdetail ed = {0};
    struct ps_buf again;

    if (ps_attrset_decode(&s, src, len, n_files, &ed) != PS_OK)
        fail_msg("refused: %s", ed.msg);
    assert_non_null(s);
    ps_buf_init(&again, PS_BUF_NO_LIMIT);
    ps_attrset_encode(s, &again);
    assert_int_equal(again.len, len);
    assert_memory_equal(again.data, src, len);
    ps_buf_release(&again);
    return s;
}

static void expect_file(const struct ps_attrset *s, uint32_t file, const uint64_t *codes, size_t n)
{
    size_t got = 99;
    const uint64_t *c = ps_attrset_file(s, file, &got);

    assert_int_equal(got, n);
    if (n == 0) {
        assert_null(c);
        return;
    }
    assert_non_null(c);
    assert_memory_equal(c, codes, n * sizeof(*codes));
}

static void test_attrset_build_sorts_and_merges_duplicates(void **state)
{
    const struct ps_attrset_doc docs[] = {
        {2, 10, false}, {0, 5, false}, {2, 3, true},  {2, 10, true},
        {0, 5, false},  {3, 0, false}, {2, 3, false}, {2, OFFSET_MAX, false},
    };
    const uint64_t f0[] = {PS_ATTRSET_CODE(5, false)};
    const uint64_t f2[] = {PS_ATTRSET_CODE(3, true), PS_ATTRSET_CODE(10, true),
                           PS_ATTRSET_CODE(OFFSET_MAX, false)};
    const uint64_t f3[] = {PS_ATTRSET_CODE(0, false)};
    struct ps_attrset *s = ps_attrset_build(docs, sizeof(docs) / sizeof(docs[0]), 5);

    (void)state;
    assert_int_equal(ps_attrset_n_files(s), 5);
    assert_int_equal(ps_attrset_n_docs(s), 5);
    expect_file(s, 0, f0, 1);
    expect_file(s, 1, NULL, 0);
    expect_file(s, 2, f2, 3);
    expect_file(s, 3, f3, 1);
    expect_file(s, 4, NULL, 0);
    assert_true(PS_ATTRSET_SEEN(f2[0]));
    assert_int_equal(PS_ATTRSET_OFFSET(f2[2]), OFFSET_MAX);
    ps_attrset_free(s);
}

/* no documents, with and without files: the smallest record, and it decodes */
static void test_attrset_empty_set_round_trips(void **state)
{
    static const char rec[] = "PSAT\x01\x00\x00";
    struct ps_buf b;

    (void)state;
    for (size_t n_files = 0; n_files < 3; n_files++) {
        struct ps_attrset *s = ps_attrset_build(NULL, 0, n_files), *d;
        assert_int_equal(ps_attrset_n_files(s), n_files);
        assert_int_equal(ps_attrset_n_docs(s), 0);
        ps_buf_init(&b, PS_BUF_NO_LIMIT);
        ps_attrset_encode(s, &b);
        assert_int_equal(b.len, sizeof(rec) - 1);
        assert_memory_equal(b.data, rec, sizeof(rec) - 1);
        d = expect_decoded(b.data, b.len, n_files);
        assert_int_equal(ps_attrset_n_files(d), n_files);
        assert_int_equal(ps_attrset_n_docs(d), 0);
        for (uint32_t f = 0; f < n_files; f++)
            expect_file(d, f, NULL, 0);
        ps_attrset_free(d);
        ps_attrset_free(s);
        ps_buf_release(&b);
    }
    ps_attrset_free(NULL);
}

/* the bytes the header and attrset.c describe, worked out by hand */
static void test_attrset_record_has_the_documented_bytes(void **state)
{
    const struct ps_attrset_doc docs[] = {{2, 10, true}, {2, 3, false}, {0, 0, false}};
    static const char want[] = "PSAT\x01"     /* magic, version */
                               "\x02\x03"     /* files with documents, documents */
                               "\x00\x01\x00" /* file 0: 1 document, offset 0 */
                               "\x02\x02\x06" /* file 2 (delta 2): 2 documents, 3 << 1 */
                               "\x0f";        /* (10 - 3) << 1 | seen */
    struct ps_attrset *s = ps_attrset_build(docs, 3, 4), *d;
    struct ps_buf b;

    (void)state;
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_attrset_encode(s, &b);
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.data, want, sizeof(want) - 1);
    d = expect_decoded(want, sizeof(want) - 1, 4);
    assert_int_equal(ps_attrset_n_docs(d), 3);
    for (uint32_t f = 0; f < 4; f++) {
        size_t n1, n2;
        const uint64_t *c1 = ps_attrset_file(s, f, &n1), *c2 = ps_attrset_file(d, f, &n2);
        assert_int_equal(n1, n2);
        if (n1 > 0)
            assert_memory_equal(c1, c2, n1 * sizeof(*c1));
    }
    ps_attrset_free(d);
    ps_attrset_free(s);
    ps_buf_release(&b);
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void expect_same_bytes(const struct ps_attrset_doc *docs, size_t n, size_t n_files,
                              const struct ps_buf *want)
{
    struct ps_attrset *s = ps_attrset_build(docs, n, n_files);
    struct ps_buf b;

    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_attrset_encode(s, &b);
    assert_int_equal(b.len, want->len);
    assert_memory_equal(b.data, want->data, b.len);
    ps_buf_release(&b);
    ps_attrset_free(s);
}

/* many files, most of them empty, offsets of every size: decode(encode(s)) is s; the same
 * documents in another order, or with unseen copies added, give the same bytes */
static void test_attrset_round_trip_gives_equal_bytes(void **state)
{
    enum { N = 20000, FILES = 3000 };
    struct ps_attrset_doc *docs = calloc(2 * N, sizeof(*docs)), *rev = calloc(N, sizeof(*rev));
    struct ps_attrset *s, *d;
    struct ps_buf b;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    size_t sum = 0;

    (void)state;
    assert_non_null(docs);
    assert_non_null(rev);
    for (size_t i = 0; i < N; i++) {
        uint64_t v = next_rand(&x);
        docs[i].file = (uint32_t)(v % 97 * 31 % FILES);
        docs[i].offset = (v >> 20) >> (v % 44); /* from 0 to 2^44, dense and sparse */
        docs[i].payload_seen = (v >> 7) & 1;
    }
    s = ps_attrset_build(docs, N, FILES);
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_attrset_encode(s, &b);
    d = expect_decoded(b.data, b.len, FILES);
    assert_int_equal(ps_attrset_n_docs(d), ps_attrset_n_docs(s));
    assert_true(ps_attrset_n_docs(s) > N / 2); /* few collisions: the test has many offsets */
    for (uint32_t f = 0; f < FILES; f++) {
        size_t n1, n2;
        const uint64_t *c1 = ps_attrset_file(s, f, &n1), *c2 = ps_attrset_file(d, f, &n2);
        assert_int_equal(n1, n2);
        for (size_t i = 0; i < n1; i++) {
            assert_true(c1[i] == c2[i]);
            if (i > 0)
                assert_true(PS_ATTRSET_OFFSET(c1[i - 1]) < PS_ATTRSET_OFFSET(c1[i]));
        }
        sum += n1;
    }
    assert_int_equal(sum, ps_attrset_n_docs(s));
    for (size_t i = 0; i < N; i++)
        rev[i] = docs[N - 1 - i];
    expect_same_bytes(rev, N, FILES, &b);
    for (size_t i = 0; i < N; i++) {
        docs[N + i] = rev[i];
        docs[N + i].payload_seen = false; /* the seen copy in docs[0, N) wins */
    }
    expect_same_bytes(docs, 2 * N, FILES, &b);
    ps_attrset_free(d);
    ps_attrset_free(s);
    ps_buf_release(&b);
    free(docs);
    free(rev);
}

struct reject {
    const char *why; /* expected in ed.msg */
    size_t n_files;
    size_t n_bad, n_good;
    uint64_t bad[8], good[8]; /* after magic and version; good: the defect mended */
};

/* the varints after magic and version: n_listed, n_docs, then per file: file (delta), count,
 * codes (delta) */
static const struct reject rejects[] = {
    {"out of range", 2, 5, 5, {1, 1, 2, 1, 0}, {1, 1, 1, 1, 0}},
    {"out of range", 4, 8, 8, {2, 2, 1, 1, 0, UINT64_MAX, 1, 0}, {2, 2, 1, 1, 0, 2, 1, 0}},
    {"not in ascending order", 4, 8, 8, {2, 2, 1, 1, 0, 0, 1, 0}, {2, 2, 1, 1, 0, 1, 1, 0}},
    {"lists no documents", 4, 5, 5, {1, 1, 3, 0, 0}, {1, 1, 3, 1, 0}},
    {"not strictly ascending", 4, 6, 6, {1, 2, 0, 2, 6, 0}, {1, 2, 0, 2, 6, 2}},
    {"not strictly ascending", 4, 6, 6, {1, 2, 0, 2, 6, 1}, {1, 2, 0, 2, 6, 3}},
    {"past 2^63", 4, 6, 6, {1, 2, 0, 2, UINT64_MAX - 1, 2}, {1, 2, 0, 2, UINT64_MAX - 3, 2}},
    {"do not add up", 4, 6, 6, {1, 3, 0, 2, 0, 2}, {1, 2, 0, 2, 0, 2}},
    {"do not add up", 4, 6, 6, {1, 1, 0, 2, 0, 2}, {1, 2, 0, 2, 0, 2}},
    {"do not add up", 4, 8, 8, {2, 1, 0, 1, 0, 1, 1, 0}, {2, 2, 0, 1, 0, 1, 1, 0}},
    {"do not add up", 4, 3, 2, {0, 1, 0}, {0, 0}},
    {"do not add up", 4, 5, 5, {1, 1, 0, UINT64_MAX, 0}, {1, 1, 0, 1, 0}},
    {"cannot fit", 4, 5, 5, {1, UINT64_MAX, 0, 1, 0}, {1, 1, 0, 1, 0}},
    {"cannot fit", 4, 5, 5, {1, 4, 0, 1, 0}, {1, 1, 0, 1, 0}},
    {"in a plan of 1 files", 1, 8, 5, {2, 2, 0, 1, 0, 1, 1, 0}, {1, 1, 0, 1, 0}},
    {"1 bytes after the record", 4, 6, 5, {1, 1, 0, 1, 0, 0}, {1, 1, 0, 1, 0}},
};

static void test_attrset_decode_rejects_each_defect(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
        const struct reject *t = &rejects[i];
        struct ps_buf b;
        print_message("case %zu: %s\n", i, t->why);
        put_record(&b, t->bad, t->n_bad);
        expect_rejected(b.data, b.len, t->n_files, t->why);
        ps_buf_release(&b);
        put_record(&b, t->good, t->n_good);
        ps_attrset_free(expect_decoded(b.data, b.len, t->n_files));
        ps_buf_release(&b);
    }
}

static void test_attrset_decode_rejects_magic_and_version(void **state)
{
    (void)state;
    expect_rejected("PSAX\x01\x00\x00", 7, 4, "magic");
    expect_rejected("PSAG", 4, 4, "magic");
    expect_rejected("X", 1, 4, "magic");
    expect_rejected("PSAT\x02\x00\x00", 7, 4, "version 2, this build reads 1");
    expect_rejected("PSAT\x00\x00\x00", 7, 4, "version 0");
    ps_attrset_free(expect_decoded("PSAT\x01\x00\x00", 7, 4));
}

/* every prefix of a valid record is refused; the ones that end inside a varint say so */
static void test_attrset_decode_rejects_every_truncation(void **state)
{
    const struct ps_attrset_doc docs[] = {{1, 300, true}, {1, 70000, false}, {3, 1, true}};
    struct ps_attrset *s = ps_attrset_build(docs, 3, 4);
    struct ps_buf b;

    (void)state;
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_attrset_encode(s, &b);
    for (size_t len = 0; len < b.len; len++) {
        struct ps_attrset *d = (struct ps_attrset *)&d;
        struct ps_errdetail ed = {0};
        assert_int_equal(ps_attrset_decode(&d, b.data, len, 4, &ed), PS_ERR_PROTO);
        assert_null(d);
        assert_true(ed.msg[0] != '\0');
    }
    expect_rejected(b.data, 0, 4, "cut short");
    expect_rejected(NULL, 0, 4, "cut short");
    expect_rejected(b.data, 4, 4, "cut short");
    expect_rejected(b.data, b.len - 1, 4, "cut short");
    /* 300 << 1 | 1 takes two bytes: end after the first of them */
    expect_rejected(b.data, 10, 4, "cut short");
    ps_attrset_free(expect_decoded(b.data, b.len, 4));
    ps_attrset_free(s);
    ps_buf_release(&b);
}

/* a varint past 64 bits, and one longer than it needs to be (it would encode back shorter) */
static void test_attrset_decode_rejects_bad_varints(void **state)
{
    (void)state;
    expect_rejected("PSAT\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 16, 4, "over 64 bits");
    expect_rejected("PSAT\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 15, 4, "over 64 bits");
    expect_rejected("PSAT\x01\x80\x00\x00", 8, 4, "shortest form");
    expect_rejected("PSAT\x01\x01\x01\x00\x01\x81\x00", 11, 4, "shortest form");
    ps_attrset_free(expect_decoded("PSAT\x01\x01\x01\x00\x01\x01", 10, 4));
}

static int aborts(void (*fn)(void))
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(2);
        fn();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void build_file_out_of_range(void)
{
    const struct ps_attrset_doc d = {3, 0, false};
    ps_attrset_free(ps_attrset_build(&d, 1, 3));
}

static void build_offset_too_big(void)
{
    const struct ps_attrset_doc d = {0, OFFSET_MAX + 1, false};
    ps_attrset_free(ps_attrset_build(&d, 1, 3));
}

static void view_file_out_of_range(void)
{
    struct ps_attrset *s = ps_attrset_build(NULL, 0, 3);
    size_t n;
    (void)ps_attrset_file(s, 3, &n);
    ps_attrset_free(s);
}

static void build_in_range(void)
{
    const struct ps_attrset_doc d = {2, OFFSET_MAX, true};
    struct ps_attrset *s = ps_attrset_build(&d, 1, 3);
    size_t n;
    (void)ps_attrset_file(s, 2, &n);
    ps_attrset_free(s);
}

/* the caller's bugs stop the program (ps_bug); the edge values just inside do not */
static void test_attrset_caller_bugs_abort(void **state)
{
    (void)state;
    assert_true(aborts(build_file_out_of_range));
    assert_true(aborts(build_offset_too_big));
    assert_true(aborts(view_file_out_of_range));
    assert_false(aborts(build_in_range));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attrset_build_sorts_and_merges_duplicates),
        cmocka_unit_test(test_attrset_empty_set_round_trips),
        cmocka_unit_test(test_attrset_record_has_the_documented_bytes),
        cmocka_unit_test(test_attrset_round_trip_gives_equal_bytes),
        cmocka_unit_test(test_attrset_decode_rejects_each_defect),
        cmocka_unit_test(test_attrset_decode_rejects_magic_and_version),
        cmocka_unit_test(test_attrset_decode_rejects_every_truncation),
        cmocka_unit_test(test_attrset_decode_rejects_bad_varints),
        cmocka_unit_test(test_attrset_caller_bugs_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
