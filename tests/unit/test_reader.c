/* test_reader.c - the shard reader on real files written into a temp dir: plain, multi-frame zstd
 * (with a skippable frame) and multi-member gzip, exact counters, byte-range splits that must
 * partition a file exactly, over-long lines, truncated streams and missing files. Every format is
 * also read with tiny I/O buffers so that lines cross buffer boundaries. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/reader.h"
#include "common/reader_internal.h"

static char tmpdir[64];

static int group_setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/ps_test_reader_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *dst, size_t dst_cap, const char *name)
{
    snprintf(dst, dst_cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Everything a pass over a shard produced, for comparisons. */
struct result {
    struct ps_buf log; /* "offset id text_len\n" per doc, "E<err>@offset\n" per record error */
    uint64_t docs, bytes, text_bytes, errors, blank;
    enum ps_err final; /* PS_OK or the sticky stream error */
};

static void result_release(struct result *res)
{
    ps_buf_release(&res->log);
}

static struct result read_all(const char *path, uint64_t begin, uint64_t end,
                              const struct ps_reader_opts *opts, size_t io_size)
{
    struct result res;
    struct ps_reader *r = NULL;
    struct ps_errdetail ed;
    int guard = 0;

    memset(&res, 0, sizeof(res));
    ps_buf_init(&res.log, SIZE_MAX / 2);
    assert_int_equal(ps_reader_open_io(&r, path, begin, end, opts, io_size, &ed), PS_OK);
    for (;;) {
        struct ps_doc doc;
        bool has = true;
        enum ps_err err = ps_reader_next(r, &doc, &has);

        assert_true(++guard < 100000);
        if (err == PS_ERR_PARSE || err == PS_ERR_LIMIT) {
            const struct ps_errdetail *e = ps_reader_last_error(r);

            assert_false(has);
            assert_ptr_equal(e->file, path);
            ps_buf_addf(&res.log, "E%d@%llu\n", (int)err, (unsigned long long)e->offset);
            continue;
        }
        if (err != PS_OK) {
            bool again = true;
            struct ps_doc d2;

            res.final = err;
            /* sticky: the same error again */
            assert_int_equal(ps_reader_next(r, &d2, &again), err);
            assert_false(again);
            break;
        }
        if (!has)
            break;
        ps_buf_addf(&res.log, "%llu %.*s %zu %.*s\n", (unsigned long long)doc.offset,
                    (int)doc.id_len, doc.id, doc.text_len, (int)doc.text_len, doc.text);
    }
    res.docs = ps_reader_stats(r)->docs;
    res.bytes = ps_reader_stats(r)->bytes;
    res.text_bytes = ps_reader_stats(r)->text_bytes;
    res.errors = ps_reader_stats(r)->errors;
    res.blank = ps_reader_stats(r)->lines_blank;
    ps_reader_free(r);
    return res;
}

static const char sample[] =
    "{\"id\":\"a\",\"text\":\"hello\"}\n"                     /* 0 */
    "\n"                                                      /* 26: blank */
    "{\"text\":\"line \\u00e9\\n2\",\"id\":7}\r\n"            /* 27: CRLF, numeric id */
    "   \t \n"                                                /* 61: blank */
    "{\"text\":\"no id\"}\n"                                  /* 67 */
    "{\"text\":1,\"id\":\"bad\"}\n"                           /* 84: text not a string */
    "{\"text\":\"x\",}\n"                                     /* 106: trailing comma */
    "{\"id\":null,\"text\":\"null id\"}\n"                    /* 120 */
    "{\"id\":\"dup\",\"text\":\"first\",\"text\":\"last\"}\n" /* 149 */
    "{\"text\":\"\xC3\xA9t\xC3\xA9\"}\n"                      /* 191 */
    "{\"id\":\"no newline\",\"text\":\"end\"}";               /* 208 */

static void expect_sample(const struct result *res, const char *path)
{
    char want[1024];

    snprintf(want, sizeof(want),
             "0 a 5 hello\n"
             "27 7 9 line \xC3\xA9\n2\n"
             "67 %s:67 5 no id\n"
             "E2@84\n"
             "E2@118\n"
             "120 %s:120 7 null id\n"
             "149 dup 4 last\n"
             "191 %s:191 5 \xC3\xA9t\xC3\xA9\n"
             "208 no newline 3 end\n",
             path, path, path);
    assert_string_equal(res->log.data, want);
    assert_int_equal(res->docs, 7);
    assert_int_equal(res->bytes, sizeof(sample) - 1);
    assert_int_equal(res->text_bytes, 5 + 9 + 5 + 7 + 4 + 5 + 3);
    assert_int_equal(res->errors, 2);
    assert_int_equal(res->blank, 2);
    assert_int_equal(res->final, PS_OK);
}

static const size_t io_sizes[] = {PS_READER_DEFAULT_IO_SIZE, 1, 2, 3, 7, 16, 64};

static void test_reader_format_from_path_uses_suffix(void **state)
{
    (void)state;
    assert_int_equal(ps_reader_format_from_path("a.jsonl.zst"), PS_READER_ZST);
    assert_int_equal(ps_reader_format_from_path("a.zstd"), PS_READER_ZST);
    assert_int_equal(ps_reader_format_from_path("dir.gz/a.jsonl.gz"), PS_READER_GZ);
    assert_int_equal(ps_reader_format_from_path("a.jsonl"), PS_READER_JSONL);
    assert_int_equal(ps_reader_format_from_path("a.zst.txt"), PS_READER_JSONL);
    assert_int_equal(ps_reader_format_from_path("gz"), PS_READER_JSONL);
}

static void test_reader_reads_plain_jsonl_with_exact_counts(void **state)
{
    char path[256];
    size_t i;

    (void)state;
    tmp_path(path, sizeof(path), "sample.jsonl");
    write_file(path, sample, sizeof(sample) - 1);
    for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
        struct result res = read_all(path, 0, UINT64_MAX, NULL, io_sizes[i]);

        expect_sample(&res, path);
        result_release(&res);
    }
}

static void test_reader_reports_record_error_detail(void **state)
{
    char path[256];
    struct ps_reader *r;
    struct ps_errdetail ed;
    struct ps_doc doc;
    bool has;
    int n = 0;

    (void)state;
    tmp_path(path, sizeof(path), "errors.jsonl");
    write_file(path, sample, sizeof(sample) - 1);
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_OK);
    while (ps_reader_next(r, &doc, &has) == PS_OK && has)
        n++;
    assert_int_equal(n, 3);
    assert_string_equal(ps_reader_last_error(r)->msg, "text field \"text\" is not a string");
    assert_int_equal(ps_reader_last_error(r)->offset, 84);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_ERR_PARSE);
    assert_string_equal(ps_reader_last_error(r)->msg, "trailing comma");
    assert_int_equal(ps_reader_last_error(r)->offset, 106 + 12);
    ps_reader_free(r);
}

static void test_reader_missing_text_field_is_a_record_error(void **state)
{
    char path[256];
    const char data[] = "{\"id\":1}\n{\"content\":\"x\"}\n{\"text\":\"ok\"}\n";
    struct ps_reader *r;
    struct ps_reader_opts o = ps_reader_opts_default();
    struct ps_errdetail ed;
    struct ps_doc doc;
    bool has;

    (void)state;
    tmp_path(path, sizeof(path), "missing.jsonl");
    write_file(path, data, sizeof(data) - 1);
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_OK);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_ERR_PARSE);
    assert_string_equal(ps_reader_last_error(r)->msg, "missing text field \"text\"");
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_ERR_PARSE);
    assert_int_equal(ps_reader_last_error(r)->offset, 9);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK);
    assert_true(has);
    assert_int_equal(ps_reader_stats(r)->errors, 2);
    ps_reader_free(r);
    /* other field names */
    o.text_field = "content";
    o.id_field = "text";
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, &o, &ed), PS_OK);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_ERR_PARSE);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK);
    assert_true(has);
    assert_int_equal(doc.text_len, 1);
    assert_memory_equal(doc.id, path, strlen(path));
    ps_reader_free(r);
}

/* Frame by frame: frame boundaries fall inside lines and between them. */
static size_t zstd_frames(const char *src, size_t n, const size_t *cuts, size_t n_cuts, char *dst,
                          size_t dst_cap, bool skippable)
{
    size_t i, prev = 0, out = 0;

    for (i = 0; i <= n_cuts; i++) {
        size_t stop = i < n_cuts ? cuts[i] : n;
        size_t z = ZSTD_compress(dst + out, dst_cap - out, src + prev, stop - prev, 3);

        assert_false(ZSTD_isError(z));
        out += z;
        prev = stop;
        if (skippable && i == 0) {
            /* a skippable frame: magic 0x184D2A50, little-endian size, payload */
            static const unsigned char skip[] = {0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 'a', 'b', 'c'};

            memcpy(dst + out, skip, sizeof(skip));
            out += sizeof(skip);
        }
    }
    return out;
}

static void test_reader_reads_multi_frame_zstd(void **state)
{
    char path[256], z[4096];
    const size_t cuts[] = {10, 27, 28, 150};
    size_t zn, i;

    (void)state;
    tmp_path(path, sizeof(path), "sample.jsonl.zst");
    zn = zstd_frames(sample, sizeof(sample) - 1, cuts, 4, z, sizeof(z), true);
    write_file(path, z, zn);
    for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
        struct result res = read_all(path, 0, UINT64_MAX, NULL, io_sizes[i]);

        expect_sample(&res, path);
        result_release(&res);
    }
}

static size_t gzip_members(const char *path, const char *src, size_t n, size_t cut)
{
    gzFile g = gzopen(path, "wb");
    FILE *f;
    long size;

    assert_non_null(g);
    assert_int_equal(gzwrite(g, src, (unsigned)cut), (int)cut);
    assert_int_equal(gzclose(g), Z_OK);
    g = gzopen(path, "ab"); /* appending opens a second gzip member */
    assert_non_null(g);
    assert_int_equal(gzwrite(g, src + cut, (unsigned)(n - cut)), (int)(n - cut));
    assert_int_equal(gzclose(g), Z_OK);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
    return (size_t)size;
}

static void test_reader_reads_multi_member_gzip(void **state)
{
    char path[256];
    size_t i;

    (void)state;
    tmp_path(path, sizeof(path), "sample.jsonl.gz");
    gzip_members(path, sample, sizeof(sample) - 1, 100);
    for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
        struct result res = read_all(path, 0, UINT64_MAX, NULL, io_sizes[i]);

        expect_sample(&res, path);
        result_release(&res);
    }
}

static void test_reader_truncated_zstd_is_sticky_after_earlier_docs(void **state)
{
    char path[256], z[4096];
    const size_t cuts[] = {120};
    size_t zn, cut;
    struct result res;

    (void)state;
    tmp_path(path, sizeof(path), "trunc.jsonl.zst");
    zn = zstd_frames(sample, sizeof(sample) - 1, cuts, 1, z, sizeof(z), false);
    /* the first frame holds lines 0..119 (3 docs, 2 errors); cut the second frame short */
    for (cut = zn - 1; cut > zn - 6; cut--) {
        write_file(path, z, cut);
        res = read_all(path, 0, UINT64_MAX, NULL, 16);
        assert_int_equal(res.final, PS_ERR_ZSTD);
        assert_true(res.docs >= 3);
        assert_int_equal(res.errors, 2 + 1);
        result_release(&res);
    }
    {
        struct ps_reader *r;
        struct ps_errdetail ed;
        struct ps_doc doc;
        bool has;

        write_file(path, z, zn - 3);
        assert_int_equal(ps_reader_open(&r, path, 0, 0, NULL, &ed), PS_OK);
        while (ps_reader_next(r, &doc, &has) != PS_ERR_ZSTD)
            ;
        assert_non_null(strstr(ps_reader_last_error(r)->msg, "truncated zstd frame"));
        assert_int_equal(ps_reader_next(r, &doc, &has), PS_ERR_ZSTD);
        assert_non_null(strstr(ps_reader_last_error(r)->msg, "truncated zstd frame"));
        ps_reader_free(r);
    }
    /* garbage is a corrupt frame */
    write_file(path, "this is not zstd", 16);
    res = read_all(path, 0, UINT64_MAX, NULL, PS_READER_DEFAULT_IO_SIZE);
    assert_int_equal(res.final, PS_ERR_ZSTD);
    assert_int_equal(res.docs, 0);
    result_release(&res);
}

static void test_reader_truncated_gzip_is_sticky_after_earlier_docs(void **state)
{
    char path[256];
    char *data;
    size_t n, cut;
    FILE *f;
    struct result res;

    (void)state;
    tmp_path(path, sizeof(path), "trunc.jsonl.gz");
    n = gzip_members(path, sample, sizeof(sample) - 1, 120);
    data = malloc(n);
    f = fopen(path, "rb");
    assert_int_equal(fread(data, 1, n, f), n);
    fclose(f);
    for (cut = n - 1; cut > n - 12; cut--) {
        write_file(path, data, cut);
        res = read_all(path, 0, UINT64_MAX, NULL, 5);
        assert_int_equal(res.final, PS_ERR_GZIP);
        assert_true(res.docs >= 3);
        assert_int_equal(res.errors, 2 + 1);
        result_release(&res);
    }
    /* trailing garbage after a member is a corrupt stream */
    memcpy(data + n - 2, "\x1f\x8bxx", 2);
    write_file(path, data, n);
    res = read_all(path, 0, UINT64_MAX, NULL, PS_READER_DEFAULT_IO_SIZE);
    assert_int_equal(res.final, PS_ERR_GZIP);
    result_release(&res);
    free(data);
}

static void test_reader_skips_line_longer_than_max_line(void **state)
{
    char path[256], *data;
    size_t long_len = 5000, n = 0, i, k;
    struct ps_reader_opts o = ps_reader_opts_default();
    const char *names[] = {"long.jsonl", "long.jsonl.zst", "long.jsonl.gz"};

    (void)state;
    data = malloc(long_len + 200);
    n += (size_t)sprintf(data, "{\"text\":\"a\"}\n{\"text\":\"");
    memset(data + n, 'x', long_len);
    n += long_len;
    n += (size_t)sprintf(data + n, "\"}\n{\"text\":\"b\"}\n{\"text\":\"123456789\"}");
    o.max_line = 100;
    for (k = 0; k < 3; k++) {
        tmp_path(path, sizeof(path), names[k]);
        if (k == 0) {
            write_file(path, data, n);
        } else if (k == 1) {
            char *z = malloc(ZSTD_compressBound(n));
            size_t zn = ZSTD_compress(z, ZSTD_compressBound(n), data, n, 1);

            write_file(path, z, zn);
            free(z);
        } else {
            gzip_members(path, data, n, 13);
        }
        for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
            struct result res;
            char want[1024];

            snprintf(want, sizeof(want),
                     "0 %s:0 1 a\nE3@13\n%zu %s:%zu 1 b\n%zu %s:%zu 9 123456789\n", path,
                     long_len + 25, path, long_len + 25, long_len + 38, path, long_len + 38);
            res = read_all(path, 0, UINT64_MAX, &o, io_sizes[i]);
            assert_string_equal(res.log.data, want);
            assert_int_equal(res.bytes, n);
            assert_int_equal(res.errors, 1);
            assert_int_equal(res.docs, 3);
            result_release(&res);
        }
    }
    /* exactly max_line bytes is fine, one more is not; also as the last line without '\n' */
    o.max_line = 12;
    tmp_path(path, sizeof(path), "edge.jsonl");
    write_file(path, "{\"text\":\"a\"}\n{\"text\":\"ab\"}\n{\"text\":\"ab\"}", 41);
    for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
        struct result res = read_all(path, 0, UINT64_MAX, &o, io_sizes[i]);
        char want[1024];

        snprintf(want, sizeof(want), "0 %s:0 1 a\nE3@13\nE3@27\n", path);
        assert_string_equal(res.log.data, want);
        assert_int_equal(res.bytes, 41);
        result_release(&res);
    }
    free(data);
}

static void test_reader_limit_error_names_the_length(void **state)
{
    char path[256];
    struct ps_reader *r;
    struct ps_reader_opts o = ps_reader_opts_default();
    struct ps_errdetail ed;
    struct ps_doc doc;
    bool has;

    (void)state;
    o.max_line = 4;
    tmp_path(path, sizeof(path), "limit.jsonl");
    write_file(path, "0123456789\n", 11);
    assert_int_equal(ps_reader_open_io(&r, path, 0, UINT64_MAX, &o, 2, &ed), PS_OK);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_ERR_LIMIT);
    assert_string_equal(ps_reader_last_error(r)->msg,
                        "line of 10 bytes is longer than max_line (4)");
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK);
    assert_false(has);
    ps_reader_free(r);
}

/* The file's lines, split at every pair of points, must be owned exactly once. */
static void test_reader_byte_ranges_partition_the_file(void **state)
{
    char path[256];
    const size_t size = sizeof(sample) - 1;
    struct result whole;
    size_t a, b, i;
    const size_t ios[] = {PS_READER_DEFAULT_IO_SIZE, 3};

    (void)state;
    tmp_path(path, sizeof(path), "split.jsonl");
    write_file(path, sample, size);
    whole = read_all(path, 0, size, NULL, PS_READER_DEFAULT_IO_SIZE);
    expect_sample(&whole, path);
    for (i = 0; i < 2; i++) {
        for (a = 0; a <= size + 1; a++) {
            for (b = a; b <= size + 1; b++) {
                struct result r1 = read_all(path, 0, a, NULL, ios[i]);
                struct ps_buf all;

                struct result r2 = read_all(path, a, b, NULL, ios[i]);
                struct result r3 = read_all(path, b, UINT64_MAX, NULL, ios[i]);

                assert_int_equal(r1.docs + r2.docs + r3.docs, whole.docs);
                assert_int_equal(r1.bytes + r2.bytes + r3.bytes, size);
                assert_int_equal(r1.errors + r2.errors + r3.errors, whole.errors);
                assert_int_equal(r1.blank + r2.blank + r3.blank, whole.blank);
                assert_int_equal(r1.text_bytes + r2.text_bytes + r3.text_bytes, whole.text_bytes);
                ps_buf_init(&all, SIZE_MAX / 2);
                ps_buf_add(&all, r1.log.data, r1.log.len);
                ps_buf_add(&all, r2.log.data, r2.log.len);
                ps_buf_add(&all, r3.log.data, r3.log.len);
                assert_string_equal(all.data, whole.log.data);
                ps_buf_release(&all);
                result_release(&r1);
                result_release(&r2);
                result_release(&r3);
            }
        }
    }
    result_release(&whole);
}

static void test_reader_range_starting_at_line_start_owns_that_line(void **state)
{
    char path[256];
    struct result res;

    (void)state;
    tmp_path(path, sizeof(path), "starts.jsonl");
    write_file(path, "{\"text\":\"a\"}\n{\"text\":\"b\"}\n", 26);
    /* 13 is right after the first '\n': the second line is ours */
    res = read_all(path, 13, 14, NULL, PS_READER_DEFAULT_IO_SIZE);
    assert_int_equal(res.docs, 1);
    assert_int_equal(res.bytes, 13);
    result_release(&res);
    /* 12 is the '\n' itself: the line starting at 13 is ours only if 13 < end */
    res = read_all(path, 12, 13, NULL, PS_READER_DEFAULT_IO_SIZE);
    assert_int_equal(res.docs, 0);
    assert_int_equal(res.bytes, 0);
    result_release(&res);
    res = read_all(path, 1, 14, NULL, PS_READER_DEFAULT_IO_SIZE);
    assert_int_equal(res.docs, 1);
    result_release(&res);
    res = read_all(path, 26, 100, NULL, PS_READER_DEFAULT_IO_SIZE);
    assert_int_equal(res.docs, 0);
    result_release(&res);
}

static void test_reader_handles_empty_files(void **state)
{
    char path[256];
    const char *names[] = {"empty.jsonl", "empty.jsonl.zst", "empty.jsonl.gz"};
    size_t k;

    (void)state;
    for (k = 0; k < 3; k++) {
        struct result res;

        tmp_path(path, sizeof(path), names[k]);
        write_file(path, "", 0);
        res = read_all(path, 0, UINT64_MAX, NULL, PS_READER_DEFAULT_IO_SIZE);
        assert_int_equal(res.final, PS_OK);
        assert_int_equal(res.docs, 0);
        assert_int_equal(res.bytes, 0);
        result_release(&res);
    }
}

static void test_reader_open_fails_cleanly(void **state)
{
    char path[256];
    struct ps_reader *r = (struct ps_reader *)&r;
    struct ps_errdetail ed;

    (void)state;
    tmp_path(path, sizeof(path), "does-not-exist.jsonl");
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_ERR_IO);
    assert_null(r);
    assert_ptr_equal(ed.file, path);
    assert_non_null(strstr(ed.msg, "No such file"));
    tmp_path(path, sizeof(path), "sample.jsonl.zst");
    assert_int_equal(ps_reader_open(&r, path, 5, UINT64_MAX, NULL, &ed), PS_ERR_USAGE);
    assert_null(r);
    tmp_path(path, sizeof(path), "sample.jsonl");
    assert_int_equal(ps_reader_open(&r, path, 9, 8, NULL, &ed), PS_ERR_USAGE);
    assert_null(r);
    ps_reader_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_format_from_path_uses_suffix),
        cmocka_unit_test(test_reader_reads_plain_jsonl_with_exact_counts),
        cmocka_unit_test(test_reader_reports_record_error_detail),
        cmocka_unit_test(test_reader_missing_text_field_is_a_record_error),
        cmocka_unit_test(test_reader_reads_multi_frame_zstd),
        cmocka_unit_test(test_reader_reads_multi_member_gzip),
        cmocka_unit_test(test_reader_truncated_zstd_is_sticky_after_earlier_docs),
        cmocka_unit_test(test_reader_truncated_gzip_is_sticky_after_earlier_docs),
        cmocka_unit_test(test_reader_skips_line_longer_than_max_line),
        cmocka_unit_test(test_reader_limit_error_names_the_length),
        cmocka_unit_test(test_reader_byte_ranges_partition_the_file),
        cmocka_unit_test(test_reader_range_starting_at_line_start_owns_that_line),
        cmocka_unit_test(test_reader_handles_empty_files),
        cmocka_unit_test(test_reader_open_fails_cleanly),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
