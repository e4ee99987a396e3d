/* test_units.c - sizes, durations and bounded integers: accepted spellings, exact values,
 * every rejection path, overflow at the 64-bit edge, and the human formatters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/units.h"

static uint64_t size_ok(const char *s)
{
    uint64_t v = 12345;
    struct ps_errdetail ed;

    assert_int_equal(ps_units_parse_size(s, &v, &ed), PS_OK);
    return v;
}

static void size_bad(const char *s)
{
    uint64_t v = 777;
    struct ps_errdetail ed;

    memset(&ed, 0, sizeof(ed));
    assert_int_equal(ps_units_parse_size(s, &v, &ed), PS_ERR_USAGE);
    assert_int_equal(v, 777); /* untouched on error */
    assert_true(ed.msg[0] != '\0');
}

static uint64_t dur_ok(const char *s)
{
    uint64_t v = 12345;

    assert_int_equal(ps_units_parse_duration_ms(s, &v, NULL), PS_OK);
    return v;
}

static void dur_bad(const char *s)
{
    uint64_t v = 777;
    struct ps_errdetail ed;

    memset(&ed, 0, sizeof(ed));
    assert_int_equal(ps_units_parse_duration_ms(s, &v, &ed), PS_ERR_USAGE);
    assert_int_equal(v, 777);
    assert_true(ed.msg[0] != '\0');
}

static void test_units_size_plain_bytes(void **state)
{
    (void)state;
    assert_int_equal(size_ok("0"), 0);
    assert_int_equal(size_ok("1048576"), 1048576);
    assert_int_equal(size_ok("17B"), 17);
    assert_int_equal(size_ok("0017"), 17);
    assert_true(size_ok("18446744073709551615") == UINT64_MAX);
}

static void test_units_size_single_letters_are_binary(void **state)
{
    (void)state;
    assert_int_equal(size_ok("512k"), 512 * 1024);
    assert_int_equal(size_ok("512K"), 512 * 1024);
    assert_int_equal(size_ok("64M"), 64ULL << 20);
    assert_int_equal(size_ok("1G"), 1ULL << 30);
    assert_int_equal(size_ok("2t"), 2ULL << 40);
    assert_int_equal(size_ok("3P"), 3ULL << 50);
}

static void test_units_size_iec_suffixes_are_binary(void **state)
{
    (void)state;
    assert_int_equal(size_ok("4KiB"), 4096);
    assert_int_equal(size_ok("64MiB"), 64ULL << 20);
    assert_int_equal(size_ok("1GiB"), 1ULL << 30);
    assert_int_equal(size_ok("1TiB"), 1ULL << 40);
    assert_int_equal(size_ok("1gib"), 1ULL << 30);
    assert_int_equal(size_ok("64 MiB"), 64ULL << 20);
}

static void test_units_size_two_letter_suffixes_are_decimal(void **state)
{
    (void)state;
    assert_int_equal(size_ok("1KB"), 1000);
    assert_int_equal(size_ok("5MB"), 5000000);
    assert_int_equal(size_ok("2GB"), 2000000000ULL);
    assert_int_equal(size_ok("1tb"), 1000000000000ULL);
}

static void test_units_size_rejects_malformed(void **state)
{
    (void)state;
    size_bad("");
    size_bad("M");
    size_bad("-1");
    size_bad("+1");
    size_bad(" 1");
    size_bad("1.5G");
    size_bad("0x10");
    size_bad("10X");
    size_bad("10MiBs");
    size_bad("10 ");
    size_bad("10  M");
    size_bad("1G ");
    size_bad("1e6");
}

static void test_units_size_rejects_overflow(void **state)
{
    (void)state;
    size_bad("18446744073709551616");
    size_bad("99999999999999999999999");
    size_bad("16384P"); /* 2^14 * 2^50 = 2^64 */
    assert_true(size_ok("16383P") == 16383ULL << 50);
    size_bad("18446744073709551615K");
}

static void test_units_size_null_detail_is_fine(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(ps_units_parse_size("bogus", &v, NULL), PS_ERR_USAGE);
    assert_int_equal(ps_units_parse_size(NULL, &v, NULL), PS_ERR_USAGE);
}

static void test_units_duration_units(void **state)
{
    (void)state;
    assert_int_equal(dur_ok("500ms"), 500);
    assert_int_equal(dur_ok("30s"), 30000);
    assert_int_equal(dur_ok("2m"), 120000);
    assert_int_equal(dur_ok("1h"), 3600000);
    assert_int_equal(dur_ok("1d"), 86400000);
    assert_int_equal(dur_ok("0ms"), 0);
}

static void test_units_duration_bare_number_is_seconds(void **state)
{
    (void)state;
    assert_int_equal(dur_ok("30"), 30000);
    assert_int_equal(dur_ok("0"), 0);
}

static void test_units_duration_compound_parts_add_up(void **state)
{
    (void)state;
    assert_int_equal(dur_ok("1h30m"), 5400000);
    assert_int_equal(dur_ok("2s500ms"), 2500);
    assert_int_equal(dur_ok("1m1m"), 120000);
    assert_int_equal(dur_ok("1d2h3m4s5ms"), 86400000 + 7200000 + 180000 + 4000 + 5);
}

static void test_units_duration_rejects_malformed(void **state)
{
    (void)state;
    dur_bad("");
    dur_bad("s");
    dur_bad("-5s");
    dur_bad("1.5s");
    dur_bad("5S");
    dur_bad("5 s");
    dur_bad("5sec");
    dur_bad("1h30"); /* bare number only as the whole text */
    dur_bad("5w");
    dur_bad("5mss");
    dur_bad("5s ");
}

static void test_units_duration_rejects_overflow(void **state)
{
    (void)state;
    dur_bad("18446744073709551615s");
    dur_bad("99999999999999999999ms");
    assert_true(dur_ok("18446744073709551615ms") == UINT64_MAX);
    dur_bad("18446744073709551615ms1ms");
}

static void test_units_u64_bounds(void **state)
{
    uint64_t v = 0;
    struct ps_errdetail ed;

    (void)state;
    assert_int_equal(ps_units_parse_u64("8", 1, 256, &v, &ed), PS_OK);
    assert_int_equal(v, 8);
    assert_int_equal(ps_units_parse_u64("1", 1, 256, &v, &ed), PS_OK);
    assert_int_equal(ps_units_parse_u64("256", 1, 256, &v, &ed), PS_OK);
    assert_int_equal(v, 256);
    assert_int_equal(ps_units_parse_u64("0", 1, 256, &v, &ed), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "'0' is below the minimum 1");
    assert_int_equal(ps_units_parse_u64("257", 1, 256, &v, &ed), PS_ERR_USAGE);
    assert_string_equal(ed.msg, "'257' is above the maximum 256");
    assert_int_equal(v, 256);
}

static void test_units_u64_rejects_non_numbers(void **state)
{
    uint64_t v = 5;

    (void)state;
    assert_int_equal(ps_units_parse_u64("", 0, UINT64_MAX, &v, NULL), PS_ERR_USAGE);
    assert_int_equal(ps_units_parse_u64("-1", 0, UINT64_MAX, &v, NULL), PS_ERR_USAGE);
    assert_int_equal(ps_units_parse_u64(" 1", 0, UINT64_MAX, &v, NULL), PS_ERR_USAGE);
    assert_int_equal(ps_units_parse_u64("1k", 0, UINT64_MAX, &v, NULL), PS_ERR_USAGE);
    assert_int_equal(ps_units_parse_u64("12 ", 0, UINT64_MAX, &v, NULL), PS_ERR_USAGE);
    assert_int_equal(ps_units_parse_u64("18446744073709551616", 0, UINT64_MAX, &v, NULL),
                     PS_ERR_USAGE);
    assert_int_equal(v, 5);
    assert_int_equal(ps_units_parse_u64("18446744073709551615", 0, UINT64_MAX, &v, NULL), PS_OK);
    assert_true(v == UINT64_MAX);
}

static void test_units_error_quotes_long_input_truncated(void **state)
{
    char big[1000];
    struct ps_errdetail ed;
    uint64_t v;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ps_units_parse_size(big, &v, &ed), PS_ERR_USAGE);
    assert_true(strlen(ed.msg) < sizeof(ed.msg));
    assert_non_null(strstr(ed.msg, "xxxx"));
}

static void test_units_format_size(void **state)
{
    char b[PS_UNITS_SIZE_STRLEN];

    (void)state;
    ps_units_format_size(0, b, sizeof(b));
    assert_string_equal(b, "0 B");
    ps_units_format_size(1023, b, sizeof(b));
    assert_string_equal(b, "1023 B");
    ps_units_format_size(1024, b, sizeof(b));
    assert_string_equal(b, "1 KiB");
    ps_units_format_size(1536, b, sizeof(b));
    assert_string_equal(b, "1.5 KiB");
    ps_units_format_size(3ULL << 29, b, sizeof(b));
    assert_string_equal(b, "1.5 GiB");
    ps_units_format_size(64ULL << 20, b, sizeof(b));
    assert_string_equal(b, "64 MiB");
    ps_units_format_size(UINT64_MAX, b, sizeof(b));
    assert_string_equal(b, "16 EiB");
    ps_units_format_size(1024 * 1024 + 1, b, sizeof(b));
    assert_string_equal(b, "1 MiB");
}

static void test_units_format_size_truncates_safely(void **state)
{
    char b[4];

    (void)state;
    memset(b, 'z', sizeof(b));
    ps_units_format_size(3ULL << 29, b, sizeof(b));
    assert_string_equal(b, "1.5");
    ps_units_format_size(1, b, 0); /* must not touch the buffer */
    assert_string_equal(b, "1.5");
}

static void test_units_format_duration_round_trips(void **state)
{
    static const uint64_t values[] = {0,       1,         999,        1000,          1500,
                                      60000,   90061001,  3600000,    86400000,      86400001,
                                      5400000, 123456789, UINT64_MAX, UINT64_MAX - 1};
    char b[PS_UNITS_DURATION_STRLEN];
    size_t i;

    (void)state;
    ps_units_format_duration_ms(5400000, b, sizeof(b));
    assert_string_equal(b, "1h30m");
    ps_units_format_duration_ms(0, b, sizeof(b));
    assert_string_equal(b, "0ms");
    ps_units_format_duration_ms(2500, b, sizeof(b));
    assert_string_equal(b, "2s500ms");
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint64_t back = 0;
        ps_units_format_duration_ms(values[i], b, sizeof(b));
        assert_int_equal(ps_units_parse_duration_ms(b, &back, NULL), PS_OK);
        assert_true(back == values[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_size_plain_bytes),
        cmocka_unit_test(test_units_size_single_letters_are_binary),
        cmocka_unit_test(test_units_size_iec_suffixes_are_binary),
        cmocka_unit_test(test_units_size_two_letter_suffixes_are_decimal),
        cmocka_unit_test(test_units_size_rejects_malformed),
        cmocka_unit_test(test_units_size_rejects_overflow),
        cmocka_unit_test(test_units_size_null_detail_is_fine),
        cmocka_unit_test(test_units_duration_units),
        cmocka_unit_test(test_units_duration_bare_number_is_seconds),
        cmocka_unit_test(test_units_duration_compound_parts_add_up),
        cmocka_unit_test(test_units_duration_rejects_malformed),
        cmocka_unit_test(test_units_duration_rejects_overflow),
        cmocka_unit_test(test_units_u64_bounds),
        cmocka_unit_test(test_units_u64_rejects_non_numbers),
        cmocka_unit_test(test_units_error_quotes_long_input_truncated),
        cmocka_unit_test(test_units_format_size),
        cmocka_unit_test(test_units_format_size_truncates_safely),
        cmocka_unit_test(test_units_format_duration_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
