/* test_jsontree.c - whole JSON texts as trees: values of every type, lookups that never fail,
 * decoded strings, and every rejection of the strict grammar and of the bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsontree.h"

static struct ps_jsontree *ok(const char *text)
{
    struct ps_jsontree *t = NULL;
    struct ps_errdetail ed = {0};

    if (ps_jsontree_parse(&t, text, strlen(text), NULL, &ed) != PS_OK)
        fail_msg("'%s' did not parse: %s", text, ed.msg);
    return t;
}

static void bad(const char *text, enum ps_err want, const char *why)
{
    struct ps_jsontree *t = (struct ps_jsontree *)1;
    struct ps_errdetail ed = {0};
    struct ps_jsontree_opts o = {.max_depth = 8, .max_values = 100};

    assert_int_equal(ps_jsontree_parse(&t, text, strlen(text), &o, &ed), want);
    assert_null(t);
    if (strstr(ed.msg, why) == NULL)
        fail_msg("'%s': '%s' does not say '%s'", text, ed.msg, why);
}

static void test_jsontree_values_and_lookups(void **state)
{
    struct ps_jsontree *t =
        ok(" {\"a\": [1, -2.5e3, \"x\", true, false, null, {}, []], \"b\": {\"c\": \"d\"},"
           " \"a2\": 0, \"b\": {\"c\": \"last\"}} \n");
    const struct ps_jt *r = ps_jsontree_root(t), *a = ps_jt_get(r, "a");

    (void)state;
    assert_int_equal(r->type, PS_JT_OBJECT);
    assert_int_equal(ps_jt_len(r), 4);
    assert_int_equal(ps_jt_len(a), 8);
    assert_true(ps_jt_num(ps_jt_at(a, 0), 0) == 1.0);
    assert_true(ps_jt_num(ps_jt_at(a, 1), 0) == -2500.0);
    assert_string_equal(ps_jt_at(a, 1)->s, "-2.5e3");
    assert_string_equal(ps_jt_str(ps_jt_at(a, 2), "?", NULL), "x");
    assert_true(ps_jt_bool(ps_jt_at(a, 3), false));
    assert_false(ps_jt_bool(ps_jt_at(a, 4), true));
    assert_int_equal(ps_jt_at(a, 5)->type, PS_JT_NULL);
    assert_int_equal(ps_jt_at(a, 6)->type, PS_JT_OBJECT);
    assert_int_equal(ps_jt_len(ps_jt_at(a, 7)), 0);
    /* a repeated key: the last one wins */
    assert_string_equal(ps_jt_str(ps_jt_get(ps_jt_get(r, "b"), "c"), "?", NULL), "last");
    /* lookups that miss, or meet another type, give the default */
    assert_null(ps_jt_get(r, "missing"));
    assert_null(ps_jt_get(a, "a"));
    assert_null(ps_jt_at(a, 8));
    assert_null(ps_jt_at(r, 0));
    assert_int_equal(ps_jt_len(NULL), 0);
    assert_true(ps_jt_num(ps_jt_at(a, 2), 7.0) == 7.0);
    assert_string_equal(ps_jt_str(NULL, "dflt", NULL), "dflt");
    assert_true(ps_jt_bool(ps_jt_at(a, 0), true));
    ps_jsontree_free(t);
}

static void test_jsontree_strings_are_decoded(void **state)
{
    struct ps_jsontree *t = ok("[\"tab\\tquote\\\" \\u00e9 \\ud83d\\ude00\", \"nul\\u0000in\"]");
    const struct ps_jt *r = ps_jsontree_root(t);
    size_t len;

    (void)state;
    assert_string_equal(ps_jt_str(ps_jt_at(r, 0), "?", NULL),
                        "tab\tquote\" \xc3\xa9 \xf0\x9f\x98\x80");
    assert_memory_equal(ps_jt_str(ps_jt_at(r, 1), "?", &len), "nul\0in", 6);
    assert_int_equal(len, 6);
    ps_jsontree_free(t);
}

static void test_jsontree_scalar_roots(void **state)
{
    struct ps_jsontree *t = ok("\"just a string\"");

    (void)state;
    assert_int_equal(ps_jsontree_root(t)->type, PS_JT_STRING);
    ps_jsontree_free(t);
    t = ok("0");
    assert_true(ps_jt_num(ps_jsontree_root(t), 1) == 0.0);
    ps_jsontree_free(t);
}

static void test_jsontree_rejects_what_is_not_json(void **state)
{
    (void)state;
    bad("", PS_ERR_PARSE, "expected a value");
    bad("  ", PS_ERR_PARSE, "expected a value");
    bad("[1,]", PS_ERR_PARSE, "trailing comma");
    bad("{\"a\":1,}", PS_ERR_PARSE, "trailing comma");
    bad("[01]", PS_ERR_PARSE, "invalid number");
    bad("[1.]", PS_ERR_PARSE, "invalid number");
    bad("[1e]", PS_ERR_PARSE, "invalid number");
    bad("[-]", PS_ERR_PARSE, "invalid number");
    bad("[NaN]", PS_ERR_PARSE, "invalid number");
    bad("[1e999]", PS_ERR_PARSE, "out of range");
    bad("['a']", PS_ERR_PARSE, "invalid number");
    bad("[tru]", PS_ERR_PARSE, "invalid literal");
    bad("[\"abc]", PS_ERR_PARSE, "unterminated string");
    bad("[\"a\nb\"]", PS_ERR_PARSE, "control character");
    bad("[\"\\ud83d\"]", PS_ERR_PARSE, "surrogate");
    bad("[\"\\x\"]", PS_ERR_PARSE, "escape");
    bad("[\"\xff\"]", PS_ERR_PARSE, "utf-8");
    bad("{1:2}", PS_ERR_PARSE, "expected a key");
    bad("{\"a\" 2}", PS_ERR_PARSE, "expected ':'");
    bad("[1 2]", PS_ERR_PARSE, "expected ',' or ']'");
    bad("{\"a\":1 \"b\":2}", PS_ERR_PARSE, "expected ',' or '}'");
    bad("[1] x", PS_ERR_PARSE, "trailing characters");
    bad("[[[[[[[[[1]]]]]]]]]", PS_ERR_LIMIT, "nesting too deep");
}

static void test_jsontree_bounds(void **state)
{
    char text[400];
    size_t n = 0;

    (void)state;
    /* 8 levels are allowed, the 9th is not (above) */
    bad("[[[[[[[[[]]]]]]]]]", PS_ERR_LIMIT, "nesting too deep");
    ps_jsontree_free(ok("[[[[[[[[[]]]]]]]]]"));
    /* the array and its 100 numbers are 101 values: refused at 100, taken at 101 */
    n += (size_t)snprintf(text + n, sizeof(text) - n, "[0");
    for (int i = 1; i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, ",%d", i % 10);
    snprintf(text + n, sizeof(text) - n, "]");
    bad(text, PS_ERR_LIMIT, "too many values");
    {
        struct ps_jsontree *t = NULL;
        struct ps_jsontree_opts o = {.max_depth = 8, .max_values = 101};
        assert_int_equal(ps_jsontree_parse(&t, text, strlen(text), &o, NULL), PS_OK);
        assert_int_equal(ps_jt_len(ps_jsontree_root(t)), 100);
        ps_jsontree_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsontree_values_and_lookups),
        cmocka_unit_test(test_jsontree_strings_are_decoded),
        cmocka_unit_test(test_jsontree_scalar_roots),
        cmocka_unit_test(test_jsontree_rejects_what_is_not_json),
        cmocka_unit_test(test_jsontree_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
