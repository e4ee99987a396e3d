/* test_reader_integrity.c - the reader's integrity contract (reader.h): a document carries the
 * frame that holds its last byte, and events say which frames verified and which failed, so a
 * caller commits nothing from a damaged frame. Shown on multi-frame zstd files with a corrupt
 * checksum, corrupt data and a cut-off end, on gzip members with a bad CRC or length, on frames
 * without checksums (read as they are), on records spanning hundreds of tiny frames, and on the
 * other layouts. Every read also runs the contract checker of reader_fixture.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <unistd.h>

#include "tests/unit/reader_fixture.h"

#define N_LINES 30

/* N_LINES JSONL documents "doc 00".."doc 29", 33 bytes a line; *line_starts gets offsets. */
static size_t make_lines(char *dst, size_t dst_cap, size_t *line_starts)
{
    size_t n = 0, i;

    for (i = 0; i < N_LINES; i++) {
        line_starts[i] = n;
        n += (size_t)snprintf(dst + n, dst_cap - n,
                              "{\"id\":\"d%02zu\",\"text\":\"doc %02zu ok\"}\n", i, i);
    }
    return n;
}

/* Frames cut at lines 10 and 20 (0-based frames 0, 1, 2 of ten documents each). */
static size_t three_frames(char *z, size_t z_cap, size_t *ends, bool checksum)
{
    char data[4096];
    size_t starts[N_LINES], n = make_lines(data, sizeof(data), starts);
    size_t cuts[2] = {starts[10], starts[20]};

    return zstd_frames(data, n, cuts, 2, checksum, z, z_cap, ends);
}

static void test_reader_corrupt_checksum_voids_only_its_frame(void **state)
{
    char path[256], z[8192];
    size_t ends[3], zn = three_frames(z, sizeof(z), ends, true), i;

    (void)state;
    z[ends[1] - 1] ^= 0x5A; /* the last byte of frame 1's checksum */
    tmp_path(path, sizeof(path), "badsum.jsonl.zst");
    write_file(path, z, zn);
    for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
        struct result res = read_all(path, io_sizes[i]);
        char want[256];

        /* frame 1's documents may or may not have been returned before its checksum was read
         * (that depends on the buffer sizes); either way they are dropped, never verified */
        snprintf(want, sizeof(want), "OK 0-0 d10 e0 u0\nFAILED 1 d%llu e0\n",
                 (unsigned long long)res.dropped_docs);
        assert_string_equal(res.events.data, want);
        assert_int_equal(res.verified_docs, 10);
        assert_int_equal(res.final, PS_ERR_ZSTD);
        /* the error names the frame and where it starts in the file (where frame 0 ends) */
        snprintf(want, sizeof(want),
                 "corrupt zstd frame 1 (file offset %zu): Restored data doesn't match checksum",
                 ends[0]);
        assert_non_null(strstr(res.log.data, want));
        assert_null(strstr(res.log.data, "d20")); /* nothing of frame 2 */
        if (io_sizes[i] == 1) {
            /* with small reads all of frame 1 came out before its checksum: the case of the bug
             * report, where such documents were counted */
            assert_int_equal(res.dropped_docs, 10);
            assert_non_null(strstr(res.log.data, "d19 #1 "));
            assert_non_null(strstr(res.log.data, "its 10 documents are dropped"));
        }
        result_release(&res);
    }
}

/* 64 bytes overwritten inside frame 1's compressed data, as in the bug report: whether the
 * decoder fails on the data or on the checksum, only frame 0 stands. */
static void test_reader_corrupt_data_mid_frame_voids_only_its_frame(void **state)
{
    char path[256], z[8192];
    size_t ends[3], zn = three_frames(z, sizeof(z), ends, true), i, at;

    (void)state;
    for (at = ends[0] + 6; at + 8 < ends[1]; at += 7) {
        char bad[8192];

        memcpy(bad, z, zn);
        memset(bad + at, 'A', ends[1] - at < 64 ? ends[1] - at - 4 : 64);
        tmp_path(path, sizeof(path), "corrupt.jsonl.zst");
        write_file(path, bad, zn);
        for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i += 3) {
            struct result res = read_all(path, io_sizes[i]);

            assert_int_equal(res.verified_docs, 10);
            assert_int_equal(res.final, PS_ERR_ZSTD);
            assert_non_null(strstr(res.events.data, "OK 0-0 d10 e0 u0\nFAILED 1 "));
            assert_null(strstr(res.log.data, " #2 "));
            result_release(&res);
        }
    }
}

static void test_reader_truncated_zstd_fails_its_last_frame(void **state)
{
    char path[256], z[8192];
    size_t ends[3], zn = three_frames(z, sizeof(z), ends, true), i, cut;

    (void)state;
    (void)zn;
    tmp_path(path, sizeof(path), "cut.jsonl.zst");
    for (cut = ends[2] - 1; cut > ends[1]; cut -= 5) {
        write_file(path, z, cut);
        for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
            struct result res = read_all(path, io_sizes[i]);

            assert_int_equal(res.verified_docs, 20);
            assert_non_null(strstr(res.events.data, "OK 0-1 d20 e0 u0\nFAILED 2 d"));
            char want[64];

            snprintf(want, sizeof(want), "truncated zstd frame 2 (file offset %zu)", ends[1]);
            assert_non_null(strstr(res.log.data, want));
            result_release(&res);
        }
    }
    /* cut exactly between frames: a clean, shorter file */
    write_file(path, z, ends[1]);
    for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
        struct result res = read_all(path, io_sizes[i]);

        assert_int_equal(res.final, PS_OK);
        assert_string_equal(res.events.data, "OK 0-1 d20 e0 u0\n");
        result_release(&res);
    }
    /* garbage after the last frame is a frame that fails at once */
    memcpy(z + ends[2], "garbage!", 8);
    write_file(path, z, ends[2] + 8);
    expect(path, NULL, "OK 0-2 d30 e0 u0\nFAILED 3 d0 e0\n");
}

static void test_reader_gzip_bad_crc_or_length_voids_its_member(void **state)
{
    char path[256], data[4096], *gz;
    size_t starts[N_LINES], n = make_lines(data, sizeof(data), starts), ends[3], size, i, k;
    size_t cuts[2];
    static const char *const why[] = {"incorrect data check", "incorrect length check"};

    (void)state;
    cuts[0] = starts[10];
    cuts[1] = starts[20];
    tmp_path(path, sizeof(path), "badcrc.jsonl.gz");
    for (k = 0; k < 2; k++) {
        size = write_gzip(path, data, n, cuts, 2, ends);
        gz = read_whole(path, &size);
        /* a member ends with CRC32 and ISIZE, 4 bytes each */
        gz[ends[1] - (k == 0 ? 8 : 4)] ^= 0x01;
        write_file(path, gz, size);
        free(gz);
        for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
            struct result res = read_all(path, io_sizes[i]);
            char want[128];

            snprintf(want, sizeof(want), "OK 0-0 d10 e0 u0\nFAILED 1 d%llu e0\n",
                     (unsigned long long)res.dropped_docs);
            assert_string_equal(res.events.data, want);
            assert_int_equal(res.final, PS_ERR_GZIP);
            snprintf(want, sizeof(want), "corrupt gzip stream in member 1 (file offset %zu)",
                     ends[0]);
            assert_non_null(strstr(res.log.data, want));
            assert_non_null(strstr(res.log.data, why[k]));
            if (io_sizes[i] == 1)
                assert_int_equal(res.dropped_docs, 10);
            result_release(&res);
        }
    }
}

/* A zstd frame written by hand with one raw (stored) block and no checksum. */
static size_t raw_frame(const char *src, size_t n, char *dst)
{
    uint32_t bh = 1u | (uint32_t)n << 3; /* last block, raw, size n */

    assert_true(n < 256);
    memcpy(dst, "\x28\xB5\x2F\xFD", 4);
    dst[4] = 0x20; /* single segment, 1-byte content size, no checksum */
    dst[5] = (char)n;
    dst[6] = (char)(bh & 0xFF);
    dst[7] = (char)(bh >> 8 & 0xFF);
    dst[8] = (char)(bh >> 16 & 0xFF);
    memcpy(dst + 9, src, n);
    return 9 + n;
}

static void test_reader_frames_without_checksum_are_read_as_they_are(void **state)
{
    char path[256], z[8192];
    const char *l1 = "{\"text\":\"stored text\"}\n", *l2 = "{\"text\":\"second\"}";
    size_t ends[3], zn = three_frames(z, sizeof(z), ends, false), rn;

    (void)state;
    tmp_path(path, sizeof(path), "nosum.jsonl.zst");
    write_file(path, z, zn);
    expect(path, NULL, "OK 0-2 d30 e0 u3\n");
    /* damage in a frame without a checksum cannot be seen: the text comes out changed */
    rn = raw_frame(l1, strlen(l1), z);
    rn += raw_frame(l2, strlen(l2), z + rn);
    z[9 + 12] = 'X'; /* "stored text" -> "stoXed text" */
    tmp_path(path, sizeof(path), "stored.jsonl.zst");
    write_file(path, z, rn);
    expect(path, "0 {path}:0 #0 text:stoXed text\n23 {path}:23 #1 text:second\n",
           "OK 0-1 d2 e0 u2\n");
}

/* A record spread over a hundred tiny frames: the frames inside it are merged into a run (no
 * record ends there), so the books stay small; a failed frame inside it voids nothing else. */
static void test_reader_record_across_many_tiny_frames(void **state)
{
    char path[256], data[2048], z[65536];
    size_t cuts[256], n_cuts = 0, n = 0, i, zn, ends[257];

    (void)state;
    n += (size_t)snprintf(data, sizeof(data), "{\"text\":\"a\"}\n{\"text\":\"");
    memset(data + n, 'x', 1000);
    n += 1000;
    n += (size_t)snprintf(data + n, sizeof(data) - n, "\"}\n{\"text\":\"b\"}\n");
    for (i = 10; i < n; i += 10)
        cuts[n_cuts++] = i;
    zn = zstd_frames(data, n, cuts, n_cuts, true, z, sizeof(z), ends);
    tmp_path(path, sizeof(path), "tiny.jsonl.zst");
    write_file(path, z, zn);
    {
        char want[64];

        snprintf(want, sizeof(want), "OK 0-%zu d3 e0 u0\n", n_cuts);
        expect(path, NULL, want);
    }
    /* frame 50 lies inside the long record and fails: that record never comes out */
    z[ends[50] - 1] ^= 0x01;
    write_file(path, z, zn);
    for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
        struct result res = read_all(path, io_sizes[i]);

        assert_int_equal(res.verified_docs, 1);
        assert_int_equal(res.dropped_docs, 0);
        assert_non_null(strstr(res.events.data, "FAILED 50 d0 e0\n"));
        result_release(&res);
    }
}

static void test_reader_plain_files_are_one_unchecked_frame(void **state)
{
    char path[256], data[4096];
    size_t starts[N_LINES], n = make_lines(data, sizeof(data), starts);
    struct ps_reader *r;
    struct ps_errdetail ed;
    struct ps_reader_event ev;
    struct ps_doc doc;
    bool has;
    size_t docs = 0;

    (void)state;
    tmp_path(path, sizeof(path), "plain.jsonl");
    write_file(path, data, n);
    expect(path, NULL, "OK 0-0 d30 e0 u1\n");
    /* a range shard of a plain file too */
    assert_int_equal(ps_reader_open(&r, path, starts[5], starts[9], NULL, &ed), PS_OK);
    while (ps_reader_next(r, &doc, &has) == PS_OK && has) {
        assert_int_equal(doc.frame, 0);
        assert_false(ps_reader_next_event(r, &ev)); /* nothing is known before the end */
        docs++;
    }
    assert_int_equal(docs, 4);
    assert_true(ps_reader_next_event(r, &ev));
    assert_int_equal(ev.kind, PS_READER_FRAMES_OK);
    assert_int_equal(ev.docs, 4);
    assert_int_equal(ev.unchecked, 1);
    assert_false(ps_reader_next_event(r, &ev));
    ps_reader_free(r);
}

static void test_reader_other_layouts_keep_the_contract(void **state)
{
    char path[256], z[8192], *wet, log[256];
    const char *arr = "[{\"text\":\"a\"},{\"text\":\"b\"},{\"text\":\"c\"}]";
    size_t cuts[3], ends[4], zn, n, size;

    (void)state;
    /* a JSON array whose middle frame fails: the element before stands */
    cuts[0] = 14;
    cuts[1] = 27;
    zn = zstd_frames(arr, strlen(arr), cuts, 2, true, z, sizeof(z), ends);
    z[ends[1] - 1] ^= 0x01;
    tmp_path(path, sizeof(path), "arr.json.zst");
    write_file(path, z, zn);
    {
        struct result res = read_all(path, 1);

        assert_int_equal(res.verified_docs, 1);
        assert_non_null(strstr(res.events.data, "OK 0-0 d1 e0 u0\nFAILED 1 d1 e0\n"));
        result_release(&res);
    }
    /* an error about the end of the data is counted in the frame that ended it */
    cuts[0] = 5;
    zn = zstd_frames("[{\"text\":\"a\"},", 14, cuts, 1, true, z, sizeof(z), ends);
    write_file(path, z, zn);
    expect(path, "1 {path}:1 #1 text:a\nE2@14 #1 unterminated array (no ']')\n",
           "OK 0-1 d1 e1 u0\n");
    /* ... also when the last frame's run could already be reported after the document */
    zn = zstd_frames("[{\"text\":\"a\"}", 13, NULL, 0, true, z, sizeof(z), ends);
    write_file(path, z, zn);
    expect(path, "1 {path}:1 #0 text:a\nE2@13 #0 unterminated array (no ']')\n",
           "OK 0-0 d1 e1 u0\n");
    /* a layout that stops early still has every frame verified: the rest is decoded */
    cuts[0] = 20;
    zn = zstd_frames("[{\"text\":\"a\"}] tail more bytes", 30, cuts, 1, true, z, sizeof(z), ends);
    z[ends[1] - 1] ^= 0x01;
    write_file(path, z, zn);
    snprintf(log, sizeof(log),
             "1 {path}:1 #0 text:a\nE2@15 #0 trailing characters after the array\n"
             "S4 corrupt zstd frame 1 (file offset %zu): Restored data doesn't match checksum; its "
             "0 documents are dropped\n",
             ends[0]);
    expect(path, log, "OK 0-0 d1 e1 u0\nFAILED 1 d0 e0\n");
    /* a Common Crawl WET file, one gzip member per record, with a bad CRC in the third */
    wet = read_whole(PS_TEST_DATA_DIR "/cc-sample.warc.wet", &n);
    cuts[0] = 637;
    cuts[1] = 1101;
    cuts[2] = 1656;
    tmp_path(path, sizeof(path), "cc.warc.wet.gz");
    size = write_gzip(path, wet, n, cuts, 3, ends);
    free(wet);
    wet = read_whole(path, &size);
    wet[ends[2] - 8] ^= 0x01;
    write_file(path, wet, size);
    free(wet);
    {
        struct result res = read_all(path, 3);

        assert_int_equal(res.verified_docs, 1);
        assert_non_null(strstr(res.events.data, "OK 0-1 d1 e0 u0\nFAILED 2 d1 e0\n"));
        result_release(&res);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_corrupt_checksum_voids_only_its_frame),
        cmocka_unit_test(test_reader_corrupt_data_mid_frame_voids_only_its_frame),
        cmocka_unit_test(test_reader_truncated_zstd_fails_its_last_frame),
        cmocka_unit_test(test_reader_gzip_bad_crc_or_length_voids_its_member),
        cmocka_unit_test(test_reader_frames_without_checksum_are_read_as_they_are),
        cmocka_unit_test(test_reader_record_across_many_tiny_frames),
        cmocka_unit_test(test_reader_plain_files_are_one_unchecked_frame),
        cmocka_unit_test(test_reader_other_layouts_keep_the_contract),
    };

    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
