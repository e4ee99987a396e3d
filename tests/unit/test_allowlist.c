/* test_allowlist.c - the --allowlist file: comments, blank lines, CRLF, escapes (surrogate pairs,
 * \#), whitespace normalisation, duplicates, limits, and errors that name the file and line. */
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

#include "coordinator/allowlist.h"

static struct ps_allowlist *parse_ok(const char *src)
{
    struct ps_allowlist *a = NULL;
    struct ps_errdetail ed = {0};
    enum ps_err err = ps_allowlist_parse(&a, src, strlen(src), "allow.txt", NULL, &ed);

    if (err != PS_OK)
        fail_msg("unexpected error %d: %s", (int)err, ed.msg);
    assert_non_null(a);
    return a;
}

/* Parse `src` (src_len bytes), expect `want` on line `line`, and a message naming both. */
static void expect_error(const char *src, size_t src_len, const struct ps_allowlist_opts *o,
                         enum ps_err want, size_t line, const char *reason)
{
    struct ps_allowlist *a = (struct ps_allowlist *)(uintptr_t)1;
    struct ps_errdetail ed = {0};
    char where[64];

    assert_int_equal(ps_allowlist_parse(&a, src, src_len, "allow.txt", o, &ed), want);
    assert_null(a);
    assert_int_equal(ed.offset, line);
    assert_string_equal(ed.file, "allow.txt");
    snprintf(where, sizeof(where), "allowlist 'allow.txt' line %zu: ", line);
    if (strncmp(ed.msg, where, strlen(where)) != 0)
        fail_msg("message '%s' does not start with '%s'", ed.msg, where);
    if (strstr(ed.msg, reason) == NULL)
        fail_msg("message '%s' does not hold '%s'", ed.msg, reason);
}

/* a literal's length, NULs included */
#define EXPECT(src, o, want, line, reason) expect_error(src, sizeof(src) - 1, o, want, line, reason)

static size_t find(const struct ps_allowlist *a, const char *s)
{
    return ps_allowlist_find(a, s, strlen(s));
}

static void test_allowlist_skips_comments_and_blank_lines(void **state)
{
    struct ps_allowlist *a = parse_ok("# reviewed 2026-01-10\n"
                                      "\n"
                                      "   \t \n"
                                      "<SUDO>\n"
                                      "  # an indented comment\n"
                                      "Copyright (c) 2024 # not a comment here\n");

    (void)state;
    assert_int_equal(ps_allowlist_n(a), 2);
    assert_int_equal(find(a, "<SUDO>"), 4);
    assert_int_equal(find(a, "Copyright (c) 2024 # not a comment here"), 6);
    assert_int_equal(find(a, "# reviewed 2026-01-10"), 0);
    assert_int_equal(find(a, "# an indented comment"), 0);
    assert_string_equal(ps_allowlist_name(a), "allow.txt");
    ps_allowlist_free(a);
}

static void test_allowlist_strips_crlf_and_bom(void **state)
{
    struct ps_allowlist *a = parse_ok("\xEF\xBB\xBF<SUDO>\r\nfoo bar\r\nlast");

    (void)state;
    assert_int_equal(find(a, "<SUDO>"), 1);
    assert_int_equal(find(a, "foo bar"), 2);
    assert_int_equal(find(a, "last"), 3);
    assert_int_equal(find(a, "\xEF\xBB\xBF<SUDO>"), 0);
    ps_allowlist_free(a);
}

static void test_allowlist_decodes_escapes(void **state)
{
    struct ps_allowlist *a = parse_ok("zero\\u200bwidth\n"         /* U+200B: not whitespace */
                                      "\\ud83d\\ude00 smile\n"     /* surrogate pair: U+1F600 */
                                      "\\#hashtag\n"               /* \# : a pattern with a # */
                                      "back\\\\slash\n"            /* \\ : one backslash */
                                      "tab\\tsplit\n"              /* \t : whitespace */
                                      "say \"hi\" \\\"there\\\"\n" /* raw and escaped quotes */
                                      "\\\\#x\n");                 /* \\ then a literal # */

    (void)state;
    assert_int_equal(ps_allowlist_n(a), 7);
    assert_int_equal(find(a, "zero\xE2\x80\x8Bwidth"), 1);
    assert_int_equal(find(a, "\xF0\x9F\x98\x80 smile"), 2);
    assert_int_equal(find(a, "#hashtag"), 3);
    assert_int_equal(find(a, "back\\slash"), 4);
    assert_int_equal(find(a, "tab split"), 5);
    assert_int_equal(find(a, "say \"hi\" \"there\""), 6);
    assert_int_equal(find(a, "\\#x"), 7);
    assert_int_equal(find(a, "zerowidth"), 0);
    ps_allowlist_free(a);
}

static void test_allowlist_matches_after_whitespace_normalisation(void **state)
{
    /* U+00A0 and U+3000 are spaces to the detector, so they split tokens here too */
    struct ps_allowlist *a = parse_ok("  ignore   all\tprevious  \n"
                                      "a\\u00a0b\xE3\x80\x80"
                                      "c\n");

    (void)state;
    assert_int_equal(find(a, "ignore all previous"), 1);
    assert_int_equal(find(a, " ignore\n all  previous\r\n"), 1);
    assert_int_equal(find(a, "ignore all"), 0);
    assert_int_equal(find(a, "ignore all previous instructions"), 0);
    assert_int_equal(find(a, "a b c"), 2);
    assert_int_equal(find(a, "a\xC2\xA0"
                             "b c"),
                     2);
    assert_int_equal(find(a, "abc"), 0);
    assert_int_equal(find(a, ""), 0);
    assert_int_equal(find(a, "   "), 0);
    ps_allowlist_free(a);
}

static void test_allowlist_duplicate_keeps_first_line(void **state)
{
    struct ps_allowlist *a = parse_ok("b\na\n# x\n  a  \nb\n");

    (void)state;
    assert_int_equal(ps_allowlist_n(a), 2);
    assert_int_equal(find(a, "a"), 2);
    assert_int_equal(find(a, "b"), 1);
    ps_allowlist_free(a);
}

static void test_allowlist_empty_file_holds_nothing(void **state)
{
    struct ps_allowlist *a = parse_ok("");

    (void)state;
    assert_int_equal(ps_allowlist_n(a), 0);
    assert_int_equal(find(a, "x"), 0);
    ps_allowlist_free(a);
    assert_int_equal(ps_allowlist_find(NULL, "x", 1), 0);
    ps_allowlist_free(NULL);
}

static void test_allowlist_rejects_bad_escapes_with_line(void **state)
{
    (void)state;
    EXPECT("ok\n\nbad \\q escape\n", NULL, PS_ERR_PARSE, 3, "invalid escape");
    EXPECT("# c\nx\\u12\n", NULL, PS_ERR_PARSE, 2, "invalid escape");
    EXPECT("\\ud83d alone\n", NULL, PS_ERR_PARSE, 1, "lone surrogate");
    EXPECT("a\n\\ude00\n", NULL, PS_ERR_PARSE, 2, "lone surrogate");
    EXPECT("a\nb\nends with \\\n", NULL, PS_ERR_PARSE, 3, "backslash");
    EXPECT("nul\\u0000here\n", NULL, PS_ERR_PARSE, 1, "NUL");
    EXPECT("x\n\\u00a0\\t\n", NULL, PS_ERR_PARSE, 2, "empty pattern");
}

static void test_allowlist_rejects_bad_bytes_with_line(void **state)
{
    (void)state;
    EXPECT("good\nbad \xC3\x28 utf8\n", NULL, PS_ERR_PARSE, 2, "invalid utf-8");
    EXPECT("# comment \xFF\n", NULL, PS_ERR_PARSE, 1, "invalid utf-8");
    EXPECT("a\nb\nc\x01"
           "d\n",
           NULL, PS_ERR_PARSE, 3, "control character");
    EXPECT("a\nb\0c\n", NULL, PS_ERR_PARSE, 2, "control character");
}

static void test_allowlist_enforces_limits(void **state)
{
    struct ps_allowlist_opts o = ps_allowlist_opts_default();
    struct ps_allowlist *a = NULL;

    (void)state;
    assert_int_equal(o.max_patterns, 100000);
    assert_int_equal(o.max_pattern_len, 1024);
    o.max_patterns = 2;
    EXPECT("a\n#c\nb\nc\n", &o, PS_ERR_LIMIT, 4, "more than 2 patterns");
    /* duplicates still count: the bound is on lines read, not on what they collapse to */
    assert_int_equal(ps_allowlist_parse(&a, "a\nb\n", 4, "allow.txt", &o, NULL), PS_OK);
    ps_allowlist_free(a);
    o = ps_allowlist_opts_default();
    o.max_pattern_len = 4;
    EXPECT("abcd\na  b\nabcde\n", &o, PS_ERR_LIMIT, 3, "pattern longer than 4");
    /* four bytes after decoding: "\u00e9\u00e9" is 12 bytes raw, 4 decoded */
    assert_int_equal(ps_allowlist_parse(&a, "\\u00e9\\u00e9", 12, "allow.txt", &o, NULL), PS_OK);
    assert_int_equal(ps_allowlist_find(a, "\xC3\xA9\xC3\xA9", 4), 1);
    ps_allowlist_free(a);
    o = ps_allowlist_opts_default();
    o.max_line = 8;
    EXPECT("12345678\n123456789\n", &o, PS_ERR_LIMIT, 2, "line longer than 8");
    o = ps_allowlist_opts_default();
    o.max_bytes = 8;
    a = (struct ps_allowlist *)(uintptr_t)1;
    assert_int_equal(ps_allowlist_parse(&a, "123456789", 9, "allow.txt", &o, NULL), PS_ERR_LIMIT);
    assert_null(a);
}

static void test_allowlist_load_reads_a_file_and_names_it(void **state)
{
    char path[] = "/tmp/test_allowlist.XXXXXX";
    int fd = mkstemp(path);
    const char text[] = "# ok\n<SUDO>\n\\x\n";
    struct ps_allowlist *a = NULL;
    struct ps_errdetail ed = {0};
    char want[128];

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, 12), 12); /* "# ok\n<SUDO>\n" */
    assert_int_equal(ps_allowlist_load(&a, path, NULL, &ed), PS_OK);
    assert_int_equal(ps_allowlist_find(a, "<SUDO>", 6), 2);
    assert_string_equal(ps_allowlist_name(a), path);
    ps_allowlist_free(a);
    assert_int_equal(write(fd, text + 12, 3), 3); /* "\x\n": line 3 */
    close(fd);
    assert_int_equal(ps_allowlist_load(&a, path, NULL, &ed), PS_ERR_PARSE);
    assert_null(a);
    snprintf(want, sizeof(want), "allowlist '%s' line 3: invalid escape", path);
    assert_string_equal(ed.msg, want);
    unlink(path);
    assert_int_equal(ps_allowlist_load(&a, path, NULL, &ed), PS_ERR_IO);
    assert_null(a);
    assert_non_null(strstr(ed.msg, path));
    assert_non_null(strstr(ed.msg, "cannot open"));
    assert_int_equal(ps_allowlist_load(&a, "/", NULL, &ed), PS_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowlist_skips_comments_and_blank_lines),
        cmocka_unit_test(test_allowlist_strips_crlf_and_bom),
        cmocka_unit_test(test_allowlist_decodes_escapes),
        cmocka_unit_test(test_allowlist_matches_after_whitespace_normalisation),
        cmocka_unit_test(test_allowlist_duplicate_keeps_first_line),
        cmocka_unit_test(test_allowlist_empty_file_holds_nothing),
        cmocka_unit_test(test_allowlist_rejects_bad_escapes_with_line),
        cmocka_unit_test(test_allowlist_rejects_bad_bytes_with_line),
        cmocka_unit_test(test_allowlist_enforces_limits),
        cmocka_unit_test(test_allowlist_load_reads_a_file_and_names_it),
    };
    return cmocka_run_group_tests_name("allowlist", tests, NULL, NULL);
}
