/* test_attrs.c - Dolma attribute files: the exact lines (code-point spans, flags, escaped ids) in
 * each container, streams longer than the writer's buffer, the temporary name until close,
 * nothing left behind by abort or a failed close, folders created, unwritable paths refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "worker/attrs.h"

static const enum ps_format_container containers[] = {PS_FORMAT_PLAIN, PS_FORMAT_ZST, PS_FORMAT_GZ};
static const char *const suffixes[] = {".jsonl", ".jsonl.zst", ".jsonl.gz"};

struct tmpdir {
    char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
    strcpy(d->path, "/tmp/psattrs-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static void tmpdir_remove(struct tmpdir *d)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    assert_int_equal(system(cmd), 0);
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* entries of `dir` whose name holds ".tmp." */
static int count_tmp_files(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(dh);
    while ((e = readdir(dh)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(dh);
    return n;
}

/* size of the one ".tmp." file in `dir` */
static long long tmp_file_size(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    long long size = -1;

    assert_non_null(dh);
    while ((e = readdir(dh)) != NULL) {
        char p[512];
        struct stat st;

        if (strstr(e->d_name, ".tmp.") == NULL)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        assert_int_equal(stat(p, &st), 0);
        size = (long long)st.st_size;
    }
    closedir(dh);
    return size;
}

static void read_file(const char *path, struct ps_buf *dst)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;

    assert_non_null(f);
    ps_buf_reset(dst);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ps_buf_add(dst, chunk, n);
    assert_int_equal(ferror(f), 0);
    fclose(f);
}

/* The file must be exactly one zstd frame with a content checksum. */
static void unzstd(const struct ps_buf *src, struct ps_buf *dst)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_inBuffer in = {src->data, src->len, 0};
    char chunk[4096];
    size_t left = 1;

    assert_true(src->len >= 5);
    assert_int_equal(ZSTD_findFrameCompressedSize(src->data, src->len), src->len);
    assert_true((unsigned char)src->data[4] & 0x04); /* Content_Checksum_flag (RFC 8878) */
    ps_buf_reset(dst);
    while (left != 0) {
        ZSTD_outBuffer out = {chunk, sizeof(chunk), 0};

        left = ZSTD_decompressStream(dctx, &out, &in);
        assert_false(ZSTD_isError(left));
        ps_buf_add(dst, chunk, out.pos);
        assert_true(left == 0 || in.pos < in.size || out.pos == out.size);
    }
    assert_int_equal(in.pos, in.size);
    ZSTD_freeDCtx(dctx);
}

/* The file must be exactly one gzip member. */
static void ungzip(const struct ps_buf *src, struct ps_buf *dst)
{
    z_stream zs;
    char chunk[4096];
    int rc = Z_OK;

    assert_true(src->len >= 10);
    assert_int_equal((unsigned char)src->data[0], 0x1f);
    assert_int_equal((unsigned char)src->data[1], 0x8b);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 31), Z_OK);
    zs.next_in = (Bytef *)src->data;
    zs.avail_in = (uInt)src->len;
    ps_buf_reset(dst);
    while (rc != Z_STREAM_END) {
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
        ps_buf_add(dst, chunk, sizeof(chunk) - zs.avail_out);
    }
    assert_int_equal(zs.avail_in, 0);
    inflateEnd(&zs);
}

/* The text of an attribute file as stored in container `c`. */
static void read_text(const char *path, enum ps_format_container c, struct ps_buf *dst)
{
    struct ps_buf raw;

    ps_buf_init(&raw, PS_BUF_NO_LIMIT);
    if (c == PS_FORMAT_PLAIN) {
        read_file(path, dst);
    } else {
        read_file(path, &raw);
        if (c == PS_FORMAT_ZST)
            unzstd(&raw, dst);
        else
            ungzip(&raw, dst);
    }
    ps_buf_release(&raw);
}

static void add_doc(struct ps_attrs_writer *w, const char *id, size_t id_len, bool literal,
                    const char *text, enum ps_attrs_flag flag)
{
    struct ps_doc doc;
    struct ps_errdetail ed;

    memset(&doc, 0, sizeof(doc));
    doc.id = id;
    doc.id_len = id_len;
    doc.id_literal = literal;
    doc.text = text;
    doc.text_len = strlen(text);
    assert_int_equal(ps_attrs_add(w, &doc, flag, &ed), PS_OK);
}

static void add(struct ps_attrs_writer *w, const char *id, size_t id_len, const char *text,
                enum ps_attrs_flag flag)
{
    add_doc(w, id, id_len, false, text, flag);
}

static void assert_text_equal(const struct ps_buf *got, const char *want, size_t want_len)
{
    if (got->len != want_len || memcmp(got->data, want, want_len) != 0)
        fail_msg("got %zu bytes:\n%.*s\nwant %zu bytes:\n%.*s", got->len, (int)got->len,
                 got->data != NULL ? got->data : "", want_len, (int)want_len, want);
}

static void test_attrs_writes_exact_lines_in_each_container(void **state)
{
    /* h é l l o ' ' 世 界 ' ' 😀: 10 code points in 17 bytes */
    static const char text1[] = "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80";
    static const char id2[] = "q\"b\\s\n";
    static const char want[] =
        "{\"id\":\"doc-1\",\"attributes\":{\"poisonscan__flagged\":[[0,10,1.0]],"
        "\"poisonscan__payload_seen\":[[0,10,0.0]]}}\n"
        "{\"id\":\"q\\\"b\\\\s\\n\",\"attributes\":{\"poisonscan__flagged\":[[0,3,1.0]],"
        "\"poisonscan__payload_seen\":[[0,3,1.0]]}}\n"
        "{\"id\":\"e\",\"attributes\":{\"poisonscan__flagged\":[[0,0,0.0]],"
        "\"poisonscan__payload_seen\":[[0,0,0.0]]}}\n"
        "{\"id\":-17e3,\"attributes\":{\"poisonscan__flagged\":[[0,1,0.0]],"
        "\"poisonscan__payload_seen\":[[0,1,0.0]]}}\n"
        "{\"id\":\"17\",\"attributes\":{\"poisonscan__flagged\":[[0,1,0.0]],"
        "\"poisonscan__payload_seen\":[[0,1,0.0]]}}\n";
    struct tmpdir d;
    struct ps_buf got;

    (void)state;
    tmpdir_make(&d);
    ps_buf_init(&got, PS_BUF_NO_LIMIT);
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        struct ps_attrs_writer *w = NULL;
        struct ps_errdetail ed;

        snprintf(path, sizeof(path), "%s/a%s", d.path, suffixes[i]);
        assert_int_equal(ps_attrs_open(&w, path, containers[i], &ed), PS_OK);
        assert_non_null(w);
        add(w, "doc-1", 5, text1, PS_ATTRS_FLAGGED);
        add(w, id2, strlen(id2), "abc", PS_ATTRS_PAYLOAD);
        add(w, "e", 1, "", PS_ATTRS_CLEAN);
        /* a number id as written, a string id that looks like one as a string */
        add_doc(w, "-17e3", 5, true, "x", PS_ATTRS_CLEAN);
        add_doc(w, "17", 2, false, "y", PS_ATTRS_CLEAN);
        /* until close the lines live under the temporary name only */
        assert_false(exists(path));
        assert_int_equal(count_tmp_files(d.path), 1);
        assert_int_equal(ps_attrs_close(w, &ed), PS_OK);
        assert_true(exists(path));
        assert_int_equal(count_tmp_files(d.path), 0);
        read_text(path, containers[i], &got);
        assert_text_equal(&got, want, sizeof(want) - 1);
    }
    ps_buf_release(&got);
    tmpdir_remove(&d);
}

/* Enough lines to pass the writer's text slice and the compressors' output buffers many times. */
static void test_attrs_streams_more_than_the_buffer(void **state)
{
    struct tmpdir d;
    struct ps_buf got, want;
    char text[2 * 40 + 1];

    (void)state;
    tmpdir_make(&d);
    ps_buf_init(&got, PS_BUF_NO_LIMIT);
    ps_buf_init(&want, PS_BUF_NO_LIMIT);
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        struct ps_attrs_writer *w = NULL;
        struct ps_errdetail ed;

        snprintf(path, sizeof(path), "%s/big%s", d.path, suffixes[i]);
        assert_int_equal(ps_attrs_open(&w, path, containers[i], &ed), PS_OK);
        ps_buf_reset(&want);
        for (unsigned k = 0; k < 30000; k++) {
            char id[32];
            unsigned n = k % 40; /* n two-byte characters */
            enum ps_attrs_flag flag = (enum ps_attrs_flag)(k % 3);

            snprintf(id, sizeof(id), "shard-7/%u", k * 2654435761u);
            for (unsigned j = 0; j < n; j++)
                memcpy(text + 2 * j, "\xc3\xa9", 2);
            text[2 * n] = '\0';
            add(w, id, strlen(id), text, flag);
            ps_buf_addf(&want,
                        "{\"id\":\"%s\",\"attributes\":{\"poisonscan__flagged\":[[0,%u,%s]],"
                        "\"poisonscan__payload_seen\":[[0,%u,%s]]}}\n",
                        id, n, flag == PS_ATTRS_CLEAN ? "0.0" : "1.0", n,
                        flag == PS_ATTRS_PAYLOAD ? "1.0" : "0.0");
        }
        assert_true(want.len > 2000000);
        /* streamed, not held until close: megabytes of lines reached the temporary file */
        assert_true(tmp_file_size(d.path) > 0);
        assert_int_equal(ps_attrs_close(w, &ed), PS_OK);
        read_text(path, containers[i], &got);
        assert_text_equal(&got, want.data, want.len);
    }
    assert_int_equal(count_tmp_files(d.path), 0);
    ps_buf_release(&got);
    ps_buf_release(&want);
    tmpdir_remove(&d);
}

/* A file of no documents is still a complete stream of its container. */
static void test_attrs_empty_file_is_a_complete_stream(void **state)
{
    struct tmpdir d;
    struct ps_buf got;

    (void)state;
    tmpdir_make(&d);
    ps_buf_init(&got, PS_BUF_NO_LIMIT);
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        struct ps_attrs_writer *w = NULL;
        struct ps_errdetail ed;

        snprintf(path, sizeof(path), "%s/empty%s", d.path, suffixes[i]);
        assert_int_equal(ps_attrs_open(&w, path, containers[i], &ed), PS_OK);
        assert_int_equal(ps_attrs_close(w, &ed), PS_OK);
        assert_true(exists(path));
        read_text(path, containers[i], &got); /* checks the frame or member */
        assert_int_equal(got.len, 0);
    }
    assert_int_equal(count_tmp_files(d.path), 0);
    ps_buf_release(&got);
    tmpdir_remove(&d);
}

static void test_attrs_creates_missing_folders(void **state)
{
    struct tmpdir d;
    char path[256], folder[160];
    struct ps_attrs_writer *w = NULL;
    struct ps_errdetail ed;
    struct ps_buf got;

    (void)state;
    tmpdir_make(&d);
    ps_buf_init(&got, PS_BUF_NO_LIMIT);
    snprintf(folder, sizeof(folder), "%s/attributes/poisonscan/sub", d.path);
    snprintf(path, sizeof(path), "%s/a.jsonl.gz", folder);
    assert_false(exists(folder));
    assert_int_equal(ps_attrs_open(&w, path, PS_FORMAT_GZ, &ed), PS_OK);
    assert_true(exists(folder));
    add(w, "x", 1, "hi", PS_ATTRS_CLEAN);
    assert_int_equal(ps_attrs_close(w, &ed), PS_OK);
    read_text(path, PS_FORMAT_GZ, &got);
    assert_text_equal(&got,
                      "{\"id\":\"x\",\"attributes\":{\"poisonscan__flagged\":[[0,2,0.0]],"
                      "\"poisonscan__payload_seen\":[[0,2,0.0]]}}\n",
                      strlen("{\"id\":\"x\",\"attributes\":{\"poisonscan__flagged\":[[0,2,0.0]],"
                             "\"poisonscan__payload_seen\":[[0,2,0.0]]}}\n"));
    assert_int_equal(count_tmp_files(folder), 0);
    ps_buf_release(&got);
    tmpdir_remove(&d);
}

/* Abort drops the temporary file and leaves an earlier file of the same name as it was; close
 * replaces it (a retried shard writes the file again). */
static void test_attrs_abort_leaves_path_untouched_and_close_replaces(void **state)
{
    static const char old_text[] = "old\n";
    struct tmpdir d;
    char path[128];
    struct ps_attrs_writer *w = NULL;
    struct ps_errdetail ed;
    struct ps_buf got;
    FILE *f;

    (void)state;
    tmpdir_make(&d);
    ps_buf_init(&got, PS_BUF_NO_LIMIT);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/fresh%s", d.path, suffixes[i]);
        assert_int_equal(ps_attrs_open(&w, path, containers[i], &ed), PS_OK);
        add(w, "a", 1, "text", PS_ATTRS_FLAGGED);
        assert_int_equal(count_tmp_files(d.path), 1);
        ps_attrs_abort(w);
        assert_false(exists(path));
        assert_int_equal(count_tmp_files(d.path), 0);
    }
    ps_attrs_abort(NULL);

    snprintf(path, sizeof(path), "%s/a.jsonl", d.path);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(old_text, 1, 4, f), 4);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(ps_attrs_open(&w, path, PS_FORMAT_PLAIN, &ed), PS_OK);
    add(w, "a", 1, "text", PS_ATTRS_FLAGGED);
    ps_attrs_abort(w);
    read_text(path, PS_FORMAT_PLAIN, &got);
    assert_text_equal(&got, old_text, 4);
    assert_int_equal(count_tmp_files(d.path), 0);

    assert_int_equal(ps_attrs_open(&w, path, PS_FORMAT_PLAIN, &ed), PS_OK);
    add(w, "a", 1, "text", PS_ATTRS_PAYLOAD);
    assert_int_equal(ps_attrs_close(w, &ed), PS_OK);
    read_text(path, PS_FORMAT_PLAIN, &got);
    assert_text_equal(&got,
                      "{\"id\":\"a\",\"attributes\":{\"poisonscan__flagged\":[[0,4,1.0]],"
                      "\"poisonscan__payload_seen\":[[0,4,1.0]]}}\n",
                      strlen("{\"id\":\"a\",\"attributes\":{\"poisonscan__flagged\":[[0,4,1.0]],"
                             "\"poisonscan__payload_seen\":[[0,4,1.0]]}}\n"));
    assert_int_equal(count_tmp_files(d.path), 0);
    ps_buf_release(&got);
    tmpdir_remove(&d);
}

static void expect_open_io_error(const char *path)
{
    static char sentinel;
    struct ps_attrs_writer *w = (struct ps_attrs_writer *)(void *)&sentinel; /* open resets it */
    struct ps_errdetail ed;

    memset(&ed, 0, sizeof(ed));
    assert_int_equal(ps_attrs_open(&w, path, PS_FORMAT_ZST, &ed), PS_ERR_IO);
    assert_null(w);
    if (strstr(ed.msg, path) == NULL)
        fail_msg("message does not name '%s': %s", path, ed.msg);
    assert_false(exists(path));
}

static void test_attrs_unwritable_path_is_io_error(void **state)
{
    struct tmpdir d;
    char file[128], path[256];
    FILE *f;

    (void)state;
    tmpdir_make(&d);
    /* a folder that cannot be created */
    expect_open_io_error("/proc/poisonscan-attrs-test/sub/a.jsonl.zst");
    /* a folder that exists but takes no new file (even as root) */
    expect_open_io_error("/proc/self/a.jsonl.zst");
    /* a regular file where a folder should be */
    snprintf(file, sizeof(file), "%s/plain-file", d.path);
    f = fopen(file, "wb");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof(path), "%s/deeper/a.jsonl.zst", file);
    expect_open_io_error(path);
    snprintf(path, sizeof(path), "%s/a.jsonl.zst", file);
    expect_open_io_error(path);
    assert_int_equal(count_tmp_files(d.path), 0);
    tmpdir_remove(&d);
}

/* A close whose rename fails (a non-empty folder holds the final name) reports the path and
 * leaves no temporary file. */
static void test_attrs_failed_close_removes_temporary_file(void **state)
{
    struct tmpdir d;
    char path[128], inner[160];
    struct ps_attrs_writer *w = NULL;
    struct ps_errdetail ed;
    FILE *f;

    (void)state;
    tmpdir_make(&d);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/taken%s", d.path, suffixes[i]);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(inner, sizeof(inner), "%s/keep", path);
        f = fopen(inner, "wb");
        assert_non_null(f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(ps_attrs_open(&w, path, containers[i], &ed), PS_OK);
        add(w, "a", 1, "text", PS_ATTRS_CLEAN);
        memset(&ed, 0, sizeof(ed));
        assert_int_equal(ps_attrs_close(w, &ed), PS_ERR_IO);
        if (strstr(ed.msg, path) == NULL)
            fail_msg("message does not name '%s': %s", path, ed.msg);
        assert_true(exists(inner));
        assert_int_equal(count_tmp_files(d.path), 0);
    }
    tmpdir_remove(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attrs_writes_exact_lines_in_each_container),
        cmocka_unit_test(test_attrs_streams_more_than_the_buffer),
        cmocka_unit_test(test_attrs_empty_file_is_a_complete_stream),
        cmocka_unit_test(test_attrs_creates_missing_folders),
        cmocka_unit_test(test_attrs_abort_leaves_path_untouched_and_close_replaces),
        cmocka_unit_test(test_attrs_unwritable_path_is_io_error),
        cmocka_unit_test(test_attrs_failed_close_removes_temporary_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
