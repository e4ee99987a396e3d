/* test_utf8.c - strict UTF-8 validation, decoding and encoding: the RFC 3629 edge cases, every
 * scalar value round-tripped, and the word-at-a-time validator checked against a naive one; the
 * Unicode spaces and report snippets cut at character boundaries. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

/* An independent byte-at-a-time reference: decode by bit pattern, then reject by value. */
static size_t ref_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t len, k;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

static void test_utf8_accepts_ascii_of_every_length(void **state)
{
    char buf[80];
    size_t n;

    (void)state;
    memset(buf, 'a', sizeof(buf));
    for (n = 0; n <= sizeof(buf); n++) {
        assert_int_equal(ps_utf8_valid_prefix(buf, n), n);
        assert_true(ps_utf8_is_valid(buf, n));
    }
}

static void test_utf8_finds_bad_byte_at_every_position(void **state)
{
    char buf[70];
    size_t n, pos;

    (void)state;
    for (n = 1; n <= sizeof(buf); n++) {
        for (pos = 0; pos < n; pos++) {
            memset(buf, 'x', n);
            buf[pos] = (char)0xFF;
            assert_int_equal(ps_utf8_valid_prefix(buf, n), pos);
            assert_false(ps_utf8_is_valid(buf, n));
            buf[pos] = (char)0x80; /* stray continuation byte */
            assert_int_equal(ps_utf8_valid_prefix(buf, n), pos);
        }
    }
}

static void test_utf8_accepts_boundary_code_points(void **state)
{
    static const char *ok[] = {
        "\xC2\x80",         /* U+0080 */
        "\xDF\xBF",         /* U+07FF */
        "\xE0\xA0\x80",     /* U+0800 */
        "\xED\x9F\xBF",     /* U+D7FF, last before the surrogates */
        "\xEE\x80\x80",     /* U+E000, first after them */
        "\xEF\xBF\xBF",     /* U+FFFF */
        "\xF0\x90\x80\x80", /* U+10000 */
        "\xF4\x8F\xBF\xBF", /* U+10FFFF */
        "h\xC3\xA9llo w\xC3\xB6rld \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(ps_utf8_is_valid(ok[i], strlen(ok[i])));
}

static void test_utf8_rejects_overlong_surrogate_and_out_of_range(void **state)
{
    static const struct {
        const char *s;
        size_t valid; /* expected valid prefix */
    } bad[] = {
        {"\xC0\x80", 0},                 /* overlong NUL */
        {"\xC1\xBF", 0},                 /* overlong U+007F */
        {"\xE0\x80\x80", 0},             /* overlong 3-byte */
        {"\xE0\x9F\xBF", 0},             /* overlong U+07FF */
        {"\xF0\x80\x80\x80", 0},         /* overlong 4-byte */
        {"\xF0\x8F\xBF\xBF", 0},         /* overlong U+FFFF */
        {"\xED\xA0\x80", 0},             /* U+D800 encoded */
        {"\xED\xBF\xBF", 0},             /* U+DFFF encoded */
        {"\xED\xA0\xBD\xED\xB8\x80", 0}, /* CESU-8 surrogate pair */
        {"\xF4\x90\x80\x80", 0},         /* U+110000 */
        {"\xF5\x80\x80\x80", 0},         /* lead byte past F4 */
        {"\xF8\x88\x80\x80\x80", 0},     /* 5-byte form */
        {"\xFE", 0},
        {"ab\xE2\x82", 2}, /* truncated at the end */
        {"ab\xF0\x9F\x98", 2},
        {"ab\xC3", 2},
        {"ab\xE2\x28\xA1", 2}, /* bad continuation */
        {"ab\xC3\xA9\x80", 4}, /* stray continuation after a good pair */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i].s);

        assert_int_equal(ps_utf8_valid_prefix(bad[i].s, n), bad[i].valid);
        assert_false(ps_utf8_is_valid(bad[i].s, n));
    }
}

static void test_utf8_decode_reports_length_and_code_point(void **state)
{
    uint32_t cp = 0;

    (void)state;
    assert_int_equal(ps_utf8_decode("A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(ps_utf8_decode("\xC3\xA9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(ps_utf8_decode("\xE2\x82\xAC", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(ps_utf8_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
    assert_int_equal(cp, 0x1F600);
    cp = 7;
    assert_int_equal(ps_utf8_decode("\xE2\x82\xAC", 2, &cp), 0); /* truncated by src_len */
    assert_int_equal(ps_utf8_decode("", 0, &cp), 0);
    assert_int_equal(ps_utf8_decode("\xED\xA0\x80", 3, &cp), 0);
    assert_int_equal(cp, 7);
}

static void test_utf8_encode_round_trips_every_scalar_value(void **state)
{
    uint32_t cp;

    (void)state;
    for (cp = 0; cp <= 0x10FFFF; cp++) {
        char buf[4];
        uint32_t back = 0xFFFFFFFF;
        size_t n, want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        n = ps_utf8_encode(cp, buf);
        assert_int_equal(n, want);
        assert_int_equal(ps_utf8_decode(buf, n, &back), n);
        assert_int_equal(back, cp);
        assert_int_equal(ref_valid_prefix((const unsigned char *)buf, n), n);
    }
}

static void test_utf8_fast_path_agrees_with_reference_on_random_input(void **state)
{
    /* mostly ASCII with sprinkled multi-byte and broken sequences, so that the 8-byte path is
     * entered and left at every alignment */
    static const char *pieces[] = {
        "a",       "hello ",       "\xC3\xA9", "\xE4\xB8\xAD",     "\xF0\x9F\x98\x80",
        "\xC0",    "\xED\xA0\x80", "\x80",     "\xF4\x90\x80\x80", "0123456789abcdef",
        "\xE2\x82"};
    unsigned seed = 12345;
    char buf[300];
    int iter;

    (void)state;
    for (iter = 0; iter < 20000; iter++) {
        size_t n = 0;

        while (n < 250) {
            const char *p;
            size_t k;

            seed = seed * 1103515245u + 12345u;
            k = (seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]));
            /* bad pieces are rarer, so valid prefixes get long */
            if (k >= 5 && ((seed >> 8) & 7) != 0)
                k = 0;
            p = pieces[k];
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
        }
        assert_int_equal(ps_utf8_valid_prefix(buf, n),
                         ref_valid_prefix((const unsigned char *)buf, n));
    }
}

/* Every code point up to U+FFFF: a space by the list of Unicode White_Space beyond ASCII, with
 * its UTF-8 length, and nothing else; a truncated sequence is not a space. */
static void test_utf8_space_len_matches_white_space_list(void **state)
{
    static const uint32_t spaces[] = {0x85,   0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
                                      0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
                                      0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    char buf[4];

    (void)state;
    for (uint32_t cp = 0x80; cp <= 0xFFFF; cp++) {
        size_t n, want = 0;

        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        n = ps_utf8_encode(cp, buf);
        for (size_t i = 0; i < sizeof(spaces) / sizeof(spaces[0]); i++)
            if (spaces[i] == cp)
                want = n;
        assert_int_equal(ps_utf8_space_len((const unsigned char *)buf, n), want);
        if (want != 0)
            assert_int_equal(ps_utf8_space_len((const unsigned char *)buf, n - 1), 0);
    }
}

/* Snippets: every cut point inside a multi-byte character moves to a boundary, and the window
 * sits a third before the offset, or further left when the text ends. */
static void test_utf8_snippet_cuts_at_character_boundaries(void **state)
{
    /* "é" is 2 bytes, "の" 3: every cut point inside them must move to a boundary */
    static const char s[] = "ab\xc3\xa9"
                            "cd\xe3\x81\xae"
                            "ef\xc3\xa9\xc3\xa9gh";
    static const char a[] = "0123456789abcdefghij";
    size_t len = strlen(s), off, max, b, e;

    (void)state;
    for (off = 0; off <= len + 2; off++)
        for (max = 0; max <= len + 2; max++) {
            ps_utf8_snippet(s, len, off, max, &b, &e);
            assert_true(b <= e && e <= len);
            assert_true(e - b <= max);
            assert_true(b == len || ((unsigned char)s[b] & 0xC0) != 0x80);
            assert_true(e == len || ((unsigned char)s[e] & 0xC0) != 0x80);
        }
    ps_utf8_snippet(s, len, 3, 100, &b, &e);
    assert_int_equal(b, 0);
    assert_int_equal(e, len);
    ps_utf8_snippet(a, 20, 10, 6, &b, &e); /* 2 bytes before, 4 from the offset */
    assert_int_equal(b, 8);
    assert_int_equal(e, 14);
    ps_utf8_snippet(a, 20, 18, 6, &b, &e); /* the text ends: the room goes left */
    assert_int_equal(b, 14);
    assert_int_equal(e, 20);
    ps_utf8_snippet(a, 20, 100, 6, &b, &e); /* an offset past the end is the end */
    assert_int_equal(b, 14);
    assert_int_equal(e, 20);
    ps_utf8_snippet(a, 20, 5, 0, &b, &e);
    assert_int_equal(b, e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_ascii_of_every_length),
        cmocka_unit_test(test_utf8_finds_bad_byte_at_every_position),
        cmocka_unit_test(test_utf8_accepts_boundary_code_points),
        cmocka_unit_test(test_utf8_rejects_overlong_surrogate_and_out_of_range),
        cmocka_unit_test(test_utf8_decode_reports_length_and_code_point),
        cmocka_unit_test(test_utf8_encode_round_trips_every_scalar_value),
        cmocka_unit_test(test_utf8_fast_path_agrees_with_reference_on_random_input),
        cmocka_unit_test(test_utf8_space_len_matches_white_space_list),
        cmocka_unit_test(test_utf8_snippet_cuts_at_character_boundaries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
