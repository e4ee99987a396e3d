/* test_reader_hostile.c - the corpus is untrusted: each hostile input becomes an error with the
 * file, the offset and a clear reason, and every other document is still read. Invalid UTF-8,
 * malformed JSON, a text that is not a string, NUL bytes, a 256 MB single line (memory stays
 * bounded by max_line), empty files, paths that are no regular file (a directory, a FIFO), and
 * random bytes under every name the reader takes. Damaged compressed streams are in
 * test_reader_integrity.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/reader_fixture.h"

static void test_reader_invalid_utf8_is_a_record_error(void **state)
{
    char path[256];

    (void)state;
    tmp_path(path, sizeof(path), "utf8.jsonl");
    write_str(path, "{\"text\":\"ok\"}\n"
                    "{\"text\":\"bad \xC3\x28\"}\n"           /* broken sequence */
                    "{\"text\":\"overlong \xC0\xAF\"}\n"      /* overlong '/' */
                    "{\"text\":\"surrogate \xED\xA0\x80\"}\n" /* encoded U+D800 */
                    "{\"text\":\"fine \xE2\x82\xAC\"}\n");
    expect(path,
           "0 {path}:0 #0 text:ok\n"
           "E2@27 #0 invalid utf-8\n"
           "E2@50 #0 invalid utf-8\n"
           "E2@74 #0 invalid utf-8\n"
           "80 {path}:80 #0 text:fine \xE2\x82\xAC\n",
           "OK 0-0 d2 e3 u1\n");
    tmp_path(path, sizeof(path), "utf8.txt");
    write_str(path, "caf\xC3\xA9 and \xFF");
    expect(path, "E2@10 #0 invalid utf-8\n", "OK 0-0 d0 e1 u1\n");
}

static void test_reader_malformed_json_and_non_string_text(void **state)
{
    char path[256];

    (void)state;
    tmp_path(path, sizeof(path), "json.jsonl");
    write_str(path, "{\"text\":\"a\"\n"     /* unterminated object */
                    "{'text':'b'}\n"        /* single quotes */
                    "{\"text\":[\"c\"]}\n"  /* an array */
                    "{\"text\":null}\n"     /* null */
                    "[{\"text\":\"d\"}]\n"  /* not an object */
                    "{\"text\":\"e\"} {}\n" /* two objects */
                    "{\"text\":\"f\",\"x\":1}\n");
    expect(path,
           "E2@11 #0 unexpected end of line\n"
           "E2@13 #0 expected string key\n"
           "E2@25 #0 text field \"text\" is not a string\n"
           "E2@40 #0 text field \"text\" is not a string\n"
           "E2@54 #0 not an object\n"
           "E2@82 #0 trailing characters\n"
           "85 {path}:85 #0 text:f\n",
           NULL);
}

static void test_reader_nul_bytes(void **state)
{
    static const char jsonl[] = "{\"text\":\"a\0b\"}\n"      /* raw NUL in a string */
                                "{\"text\":\"c\"}\0\n"       /* raw NUL after the object */
                                "{\"text\":\"d\\u0000e\"}\n" /* an escaped NUL is text */
                                "{\"text\":\"f\"}\n";
    static const char txt[] = "binary\0file";
    char path[256];

    (void)state;
    tmp_path(path, sizeof(path), "nul.jsonl");
    write_file(path, jsonl, sizeof(jsonl) - 1);
    expect(path,
           "E2@10 #0 control character in string\n"
           "E2@27 #0 trailing characters\n"
           "29 {path}:29 #0 text:d\\0e\n"
           "49 {path}:49 #0 text:f\n",
           NULL);
    tmp_path(path, sizeof(path), "nul.txt");
    write_file(path, txt, sizeof(txt) - 1);
    expect(path, "E2@6 #0 NUL byte in text (a binary file?)\n", NULL);
}

/* Peak resident memory of this process, bytes. */
static uint64_t peak_rss(void)
{
    struct rusage ru;

    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return (uint64_t)ru.ru_maxrss * 1024;
}

static void test_reader_256mb_line_is_skipped_in_bounded_memory(void **state)
{
    const size_t big = (size_t)256 << 20;
    char path[256], chunk[65536];
    struct ps_reader_opts o = ps_reader_opts_default();
    struct ps_reader *r;
    struct ps_errdetail ed;
    struct ps_doc doc;
    bool has;
    size_t done;
    FILE *f;

    (void)state;
    tmp_path(path, sizeof(path), "huge.jsonl");
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\"text\":\"before\"}\n{\"text\":\"", f);
    memset(chunk, 'x', sizeof(chunk));
    for (done = 0; done < big; done += sizeof(chunk))
        assert_int_equal(fwrite(chunk, 1, sizeof(chunk), f), sizeof(chunk));
    fputs("\"}\n{\"text\":\"after\"}\n", f);
    assert_int_equal(fclose(f), 0);

    o.max_line = (size_t)4 << 20; /* the default is 64 MiB; the bound is what is tested */
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, &o, &ed), PS_OK);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK);
    assert_true(has);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_ERR_LIMIT);
    assert_int_equal(ps_reader_last_error(r)->offset, 18);
    assert_string_equal(ps_reader_last_error(r)->msg,
                        "line of 268435467 bytes is longer than max_line (4194304)");
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK);
    assert_true(has);
    assert_int_equal(doc.text_len, 5);
    assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK);
    assert_false(has);
    /* the line was never held: the window stopped at max_line + 1 bytes */
    assert_true(ps_reader_window_high(r) <= o.max_line + 1);
    ps_reader_free(r);
    assert_true(peak_rss() < ((uint64_t)256 << 20) / 2);
}

static void test_reader_empty_files_give_nothing(void **state)
{
    static const char *const names[] = {"e.jsonl",   "e.jsonl.zst", "e.jsonl.gz", "e.json",
                                        "e.json.gz", "e.warc.wet",  "e.wet.zst",  "e.txt",
                                        "e.txt.gz",  "e.unknown"};
    char path[256];
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        struct result res;

        tmp_path(path, sizeof(path), names[k]);
        write_str(path, "");
        res = read_all(path, PS_READER_DEFAULT_IO_SIZE);
        assert_int_equal(res.final, PS_OK);
        assert_int_equal(res.stats.docs, 0);
        assert_int_equal(res.stats.errors, 0);
        assert_string_equal(res.log.data != NULL ? res.log.data : "", "");
        result_release(&res);
    }
}

static void test_reader_refuses_what_is_not_a_regular_file(void **state)
{
    char path[256];
    struct ps_reader *r = (struct ps_reader *)&r;
    struct ps_errdetail ed;

    (void)state;
    /* tests run as root, where permissions do not stop a read; these do */
    tmp_path(path, sizeof(path), "adir.jsonl");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_ERR_IO);
    assert_null(r);
    assert_ptr_equal(ed.file, path);
    assert_string_equal(ed.msg, "not a regular file (a directory)");
    tmp_path(path, sizeof(path), "fifo.jsonl");
    assert_int_equal(mkfifo(path, 0600), 0);
    /* no writer: an open that blocked would hang the test */
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_ERR_IO);
    assert_null(r);
    assert_string_equal(ed.msg, "not a regular file (a FIFO)");
    tmp_path(path, sizeof(path), "missing.jsonl");
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_ERR_IO);
    assert_non_null(strstr(ed.msg, "cannot open: No such file"));
}

/* 2 MB of random bytes under each name: errors with offsets in order, never a crash, never a
 * document that is not valid UTF-8, and the stream error (if any) only where a decoder runs. */
static void test_reader_random_bytes_under_every_name(void **state)
{
    static const char *const names[] = {"r.jsonl",     "r.json",     "r.warc.wet", "r.txt",
                                        "r.jsonl.zst", "r.jsonl.gz", "r.bin"};
    const size_t n = (size_t)2 << 20;
    char *data = malloc(n), path[256];
    unsigned seed = 12345;
    size_t i, k;

    (void)state;
    printf("random bytes: seed %u\n", seed);
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        data[i] = (char)(seed >> 16);
    }
    for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        struct result res;
        const char *p;
        unsigned long long last = 0;

        tmp_path(path, sizeof(path), names[k]);
        write_file(path, data, n);
        res = read_all(path, k % 2 == 0 ? PS_READER_DEFAULT_IO_SIZE : 4096);
        assert_int_equal(res.stats.docs, 0);
        assert_true(res.stats.errors >= 1);
        if (strstr(names[k], ".zst") != NULL)
            assert_int_equal(res.final, PS_ERR_ZSTD);
        else if (strstr(names[k], ".gz") != NULL)
            assert_int_equal(res.final, PS_ERR_GZIP);
        else
            assert_int_equal(res.final, PS_OK);
        /* record errors come with offsets inside the file, in order */
        for (p = res.log.data; p != NULL && (p = strstr(p, "E")) != NULL; p++) {
            unsigned long long off;

            if (p != res.log.data && p[-1] != '\n')
                continue;
            assert_int_equal(sscanf(p, "E%*d@%llu", &off), 1);
            assert_true(off < n && off >= last);
            last = off;
        }
        result_release(&res);
    }
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_invalid_utf8_is_a_record_error),
        cmocka_unit_test(test_reader_malformed_json_and_non_string_text),
        cmocka_unit_test(test_reader_nul_bytes),
        cmocka_unit_test(test_reader_256mb_line_is_skipped_in_bounded_memory),
        cmocka_unit_test(test_reader_empty_files_give_nothing),
        cmocka_unit_test(test_reader_refuses_what_is_not_a_regular_file),
        cmocka_unit_test(test_reader_random_bytes_under_every_name),
    };

    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
