/* test_reader_big.c - a 1 GiB JSON array file (Alpaca records, as fine-tuning sets ship them) is
 * read element by element in bounded memory: every record comes out, the reader's window never
 * grows past its first megabyte, and the process's peak memory stays far below the file's size.
 * The file is generated in a temp dir (in memory when /dev/shm has room) and removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/reader.h"
#include "common/reader_internal.h"

#define FILE_BYTES ((uint64_t)1 << 30)

static char dir[64], path[128];

/* /dev/shm when it has room: writing a gigabyte to a shared virtual disk takes most of a minute,
 * to memory a second or two; the reader's memory is measured either way. */
static int setup(void **state)
{
    struct statvfs vfs;

    (void)state;
    if (statvfs("/dev/shm", &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize > 3 * FILE_BYTES)
        strcpy(dir, "/dev/shm/ps_test_reader_big_XXXXXX");
    else
        strcpy(dir, "/tmp/ps_test_reader_big_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/train.json", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return rmdir(dir);
}

/* Write records until the file holds FILE_BYTES; returns how many. Each record is about 1 KiB,
 * with an escape or two so the parser leaves its fast path now and then. */
static uint64_t write_array(void)
{
    char filler[800], rec[1200];
    FILE *f = fopen(path, "wb");
    uint64_t n = 0, bytes = 1;
    size_t i;

    assert_non_null(f);
    for (i = 0; i < sizeof(filler) - 1; i++)
        filler[i] = "abcdefghij klmnopqrstuvwxyz "[i % 28];
    filler[sizeof(filler) - 1] = '\0';
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    assert_int_equal(fputc('[', f), '[');
    while (bytes < FILE_BYTES) {
        int len = snprintf(rec, sizeof(rec),
                           "%s\n{\"instruction\":\"Classify record %llu.\",\"input\":\"%s "
                           "\\\"quoted\\\"\",\"output\":\"Positive\"}",
                           n > 0 ? "," : "", (unsigned long long)n, filler);

        assert_int_equal(fwrite(rec, 1, (size_t)len, f), (size_t)len);
        bytes += (uint64_t)len;
        n++;
    }
    assert_int_equal(fputs("\n]\n", f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return n;
}

static void test_reader_1gib_json_array_in_bounded_memory(void **state)
{
    uint64_t n = write_array(), docs = 0;
    struct ps_reader *r;
    struct ps_errdetail ed;
    struct ps_doc doc;
    struct rusage ru;
    bool has;

    (void)state;
    assert_int_equal(ps_reader_open(&r, path, 0, UINT64_MAX, NULL, &ed), PS_OK);
    while (ps_reader_next(r, &doc, &has) == PS_OK && has) {
        if (docs == n / 2) {
            assert_int_equal(doc.n_parts, 3);
            assert_int_equal(doc.parts[2].role, PS_CHAT_RESPONSE);
            assert_memory_equal(doc.text + doc.parts[2].off, "Positive", 8);
        }
        docs++;
    }
    assert_int_equal(docs, n);
    assert_int_equal(ps_reader_stats(r)->errors, 0);
    assert_true(ps_reader_stats(r)->bytes > FILE_BYTES);
    /* the window started at 1 MiB and never had to grow: memory is one element, not the file */
    assert_true(ps_reader_window_high(r) <= PS_READER_DEFAULT_IO_SIZE);
    ps_reader_free(r);
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    printf("records %llu, peak RSS %ld KiB\n", (unsigned long long)n, ru.ru_maxrss);
    assert_true((uint64_t)ru.ru_maxrss * 1024 < FILE_BYTES / 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_1gib_json_array_in_bounded_memory),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
