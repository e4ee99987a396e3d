/* test_json.c - the strict line parser (RFC 8259 grammar, escapes, UTF-8, depth), top-level field
 * extraction (last wins, views vs scratch), and the unescape/escape helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

struct fixture {
    struct ps_json *j;
    struct ps_json_field f[2]; /* "text", "id" */
    struct ps_errdetail ed;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    fx->j = ps_json_new(NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    ps_json_free(fx->j);
    free(fx);
    return 0;
}

static enum ps_err parse(struct fixture *fx, const char *line)
{
    fx->f[0].key = "text";
    fx->f[0].key_len = 4;
    fx->f[1].key = "id";
    fx->f[1].key_len = 2;
    memset(&fx->ed, 0, sizeof(fx->ed));
    return ps_json_parse_line(fx->j, line, strlen(line), fx->f, 2, &fx->ed);
}

static void assert_text(const struct fixture *fx, const char *want, size_t want_len)
{
    assert_true(fx->f[0].found);
    assert_true(fx->f[0].is_string);
    assert_int_equal(fx->f[0].val_len, want_len);
    assert_memory_equal(fx->f[0].val, want, want_len);
}

static void test_json_accepts_valid_objects(void **state)
{
    static const char *ok[] = {
        "{}",
        " \t{ }\t \r",
        "{\"a\":1}",
        "{\"a\":-0.5e+10,\"b\":0,\"c\":-0,\"d\":1E5,\"e\":12.25e-3,\"f\":0.0}",
        "{\"a\":true,\"b\":false,\"c\":null}",
        "{\"a\":[],\"b\":{},\"c\":[1,[2,[3]],{\"d\":[]}]}",
        "{ \"a\" : [ 1 , 2 ] , \"b\" : { \"c\" : \"d\" } }",
        "{\"\":\"\"}",
        "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\ud83d\\ude00\"}",
        "{\"k\\u00e9y\":\"caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80\"}",
        "{\"a\":\"\x7F\"}", /* DEL is not a control character for JSON */
    };
    struct fixture *fx = *state;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        enum ps_err err = parse(fx, ok[i]);

        if (err != PS_OK)
            fail_msg("rejected %s: %s at %llu", ok[i], fx->ed.msg,
                     (unsigned long long)fx->ed.offset);
    }
}

static void test_json_rejects_grammar_errors_with_reason_and_offset(void **state)
{
    static const struct {
        const char *line;
        const char *msg; /* prefix of ed.msg */
        unsigned offset;
    } bad[] = {
        {"", "empty line", 0},
        {"   ", "empty line", 3},
        {"[1,2]", "not an object", 0},
        {"\"text\"", "not an object", 0},
        {"42", "not an object", 0},
        {"{\"a\":1,}", "trailing comma", 7},
        {"{\"a\":[1,2,]}", "trailing comma", 10},
        {"{\"a\":[,]}", "expected value", 6},
        {"{,}", "expected string key", 1},
        {"{\"a\":01}", "invalid number (leading zero)", 5},
        {"{\"a\":-01}", "invalid number (leading zero)", 6},
        {"{\"a\":1.}", "invalid number", 7},
        {"{\"a\":.5}", "expected value", 5},
        {"{\"a\":1e}", "invalid number", 7},
        {"{\"a\":1e+}", "invalid number", 8},
        {"{\"a\":-}", "invalid number", 6},
        {"{\"a\":+1}", "expected value", 5},
        {"{\"a\":0x10}", "expected ',' or '}'", 6},
        {"{\"a\":NaN}", "expected value", 5},
        {"{\"a\":Infinity}", "expected value", 5},
        {"{\"a\":tru}", "invalid literal", 5},
        {"{\"a\":True}", "expected value", 5},
        {"{\"a\":nul}", "invalid literal", 5},
        {"{\"a\":falsey}", "expected ',' or '}'", 10},
        {"{\"a\":'x'}", "expected value", 5},
        {"{'a':1}", "expected string key", 1},
        {"{a:1}", "expected string key", 1},
        {"{\"a\" 1}", "expected ':'", 5},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}'", 7},
        {"{\"a\":[1 2]}", "expected ',' or ']'", 8},
        {"{\"a\":1", "unexpected end of line", 6},
        {"{\"a\":", "unexpected end of line", 5},
        {"{\"a\"", "expected ':'", 4},
        {"{", "unexpected end of line", 1},
        {"{\"a\":[1}", "expected ',' or ']'", 7},
        {"{\"a\":{]}", "expected string key", 6},
        {"{\"a", "unterminated string", 1},
        {"{\"a\":\"abc", "unterminated string", 5},
        {"{\"a\":\"abc\\", "unterminated string", 5},
        {"{}x", "trailing characters", 2},
        {"{} {}", "trailing characters", 3},
        {"{},", "trailing characters", 2},
        {"{\"a\":1}}", "trailing characters", 7},
        {"{\"a\":1} // c", "trailing characters", 8},
        {"{\"a\":\"x\ty\"}", "control character in string", 7},
        {"{\"a\":\"x\ny\"}", "control character in string", 7},
        {"{\"a\":\"\x01\"}", "control character in string", 6},
        {"{\"a\":\"\\x41\"}", "invalid escape", 6},
        {"{\"a\":\"\\'\"}", "invalid escape", 6},
        {"{\"a\":\"\\U0041\"}", "invalid escape", 6},
        {"{\"a\":\"\\u00G1\"}", "invalid escape", 6},
        {"{\"a\":\"\\u12\"}", "invalid escape", 6},
        {"{\"a\":\"\\ud800\"}", "lone surrogate", 6},
        {"{\"a\":\"\\udc00\"}", "lone surrogate", 6},
        {"{\"a\":\"\\ude00\\ud83d\"}", "lone surrogate", 6},
        {"{\"a\":\"\\ud83d\\u0041\"}", "lone surrogate", 6},
        {"{\"a\":\"\\ud83d\\ud83d\"}", "lone surrogate", 6},
        {"{\"a\":\"\\ud83dx\"}", "lone surrogate", 6},
        {"{\"a\":\"x\\ud83d\\n\"}", "lone surrogate", 7},
        {"{\"\\ud800\":1}", "lone surrogate", 2},
        {"{\"a\":\"\xC0\x80\"}", "invalid utf-8", 6},
        {"{\"a\":\"ok\xED\xA0\x80\"}", "invalid utf-8", 8},
        {"{\"a\":\"\xF4\x90\x80\x80\"}", "invalid utf-8", 6},
        {"{\"a\":\"\xE2\x82\"}", "invalid utf-8", 6},
        {"{\"\xFF\":1}", "invalid utf-8", 2},
        {"{\"a\":1,\xC3\xA9:2}", "expected string key", 7},
    };
    struct fixture *fx = *state;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum ps_err err = parse(fx, bad[i].line);

        if (err != PS_ERR_PARSE || strncmp(fx->ed.msg, bad[i].msg, strlen(bad[i].msg)) != 0 ||
            fx->ed.offset != bad[i].offset)
            fail_msg("line %zu '%s': got err %d '%s' at %llu, want '%s' at %u", i, bad[i].line,
                     (int)err, fx->ed.msg, (unsigned long long)fx->ed.offset, bad[i].msg,
                     bad[i].offset);
        assert_false(fx->f[0].found);
    }
}

static void test_json_enforces_nesting_depth(void **state)
{
    struct fixture *fx = *state;
    char line[400];
    size_t n, d;
    struct ps_json_opts o = ps_json_opts_default();
    struct ps_json *shallow;
    struct ps_json_field f = {"a", 1, false, false, NULL, 0};
    struct ps_errdetail ed;

    assert_int_equal(o.max_depth, 64);
    /* {"a":[[...]]}: the object is depth 1, so 63 arrays fit and 64 do not */
    for (d = 63; d <= 64; d++) {
        n = (size_t)snprintf(line, sizeof(line), "{\"a\":");
        memset(line + n, '[', d);
        n += d;
        memset(line + n, ']', d);
        n += d;
        line[n++] = '}';
        line[n] = '\0';
        if (d == 63) {
            assert_int_equal(parse(fx, line), PS_OK);
        } else {
            assert_int_equal(parse(fx, line), PS_ERR_PARSE);
            assert_string_equal(fx->ed.msg, "nesting too deep");
            assert_int_equal(fx->ed.offset, 5 + 63);
        }
    }
    o.max_depth = 2;
    shallow = ps_json_new(&o);
    assert_int_equal(ps_json_parse_line(shallow, "{\"a\":{\"b\":[]}}", 14, &f, 1, &ed),
                     PS_ERR_PARSE);
    assert_string_equal(ed.msg, "nesting too deep");
    assert_int_equal(ps_json_parse_line(shallow, "{\"a\":{\"b\":1},\"c\":[2]}", 21, &f, 1, &ed),
                     PS_OK);
    assert_true(f.found);
    assert_null(f.val);
    ps_json_free(shallow);
}

static void test_json_extracts_string_without_escapes_as_view_into_line(void **state)
{
    struct fixture *fx = *state;
    const char *line =
        "{\"id\":\"doc-1\",\"text\":\"hello world\",\"other\":[1,{\"text\":\"no\"}]}";

    assert_int_equal(parse(fx, line), PS_OK);
    assert_text(fx, "hello world", 11);
    /* zero-copy: the view points into the line itself */
    assert_ptr_equal(fx->f[0].val, strstr(line, "hello world"));
    assert_true(fx->f[1].found);
    assert_true(fx->f[1].is_string);
    assert_int_equal(fx->f[1].val_len, 5);
    assert_memory_equal(fx->f[1].val, "doc-1", 5);
}

static void test_json_decodes_escapes_and_surrogate_pairs(void **state)
{
    struct fixture *fx = *state;
    const char *want = "a\"b\\c/d\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F end";

    assert_int_equal(parse(fx, "{\"text\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20AC"
                               "\\ud83d\\ude00\\u007f end\"}"),
                     PS_OK);
    assert_text(fx, want, strlen(want));
}

static void test_json_decodes_escaped_nul(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(parse(fx, "{\"text\":\"a\\u0000b\"}"), PS_OK);
    assert_text(fx, "a\0b", 3);
}

static void test_json_last_occurrence_wins(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(parse(fx, "{\"text\":\"first\",\"id\":1,\"text\":\"second\",\"id\":\"x\"}"),
                     PS_OK);
    assert_text(fx, "second", 6);
    assert_memory_equal(fx->f[1].val, "x", 1);
    assert_true(fx->f[1].is_string);
    /* an escaped value first and a plain one last, and the reverse */
    assert_int_equal(parse(fx, "{\"text\":\"a\\nb\",\"text\":\"plain\"}"), PS_OK);
    assert_text(fx, "plain", 5);
    assert_int_equal(parse(fx, "{\"text\":\"plain\",\"text\":\"a\\tb\"}"), PS_OK);
    assert_text(fx, "a\tb", 3);
    /* a later non-string replaces an earlier string */
    assert_int_equal(parse(fx, "{\"text\":\"s\",\"text\":[1]}"), PS_OK);
    assert_true(fx->f[0].found);
    assert_false(fx->f[0].is_string);
    assert_null(fx->f[0].val);
}

static void test_json_extracts_non_string_scalars_as_raw_literals(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(parse(fx, "{\"id\": -12.5e3 ,\"text\":true}"), PS_OK);
    assert_true(fx->f[1].found);
    assert_false(fx->f[1].is_string);
    assert_int_equal(fx->f[1].val_len, 7);
    assert_memory_equal(fx->f[1].val, "-12.5e3", 7);
    assert_false(fx->f[0].is_string);
    assert_int_equal(fx->f[0].val_len, 4);
    assert_memory_equal(fx->f[0].val, "true", 4);
    assert_int_equal(parse(fx, "{\"id\":null,\"text\":{\"a\":1}}"), PS_OK);
    assert_int_equal(fx->f[1].val_len, 4);
    assert_memory_equal(fx->f[1].val, "null", 4);
    assert_true(fx->f[0].found);
    assert_null(fx->f[0].val);
}

static void test_json_ignores_nested_keys_and_matches_escaped_keys(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(
        parse(fx, "{\"meta\":{\"text\":\"inner\",\"id\":2},\"list\":[{\"text\":\"x\"}]}"), PS_OK);
    assert_false(fx->f[0].found);
    assert_false(fx->f[1].found);
    assert_int_equal(parse(fx, "{\"\\u0074ext\":\"escaped key\"}"), PS_OK);
    assert_text(fx, "escaped key", 11);
    /* keys are compared whole: prefixes and longer keys do not match */
    assert_int_equal(parse(fx, "{\"tex\":\"a\",\"texts\":\"b\",\"Text\":\"c\"}"), PS_OK);
    assert_false(fx->f[0].found);
}

static void test_json_scratch_views_survive_growth(void **state)
{
    struct fixture *fx = *state;
    size_t n = 100000, i, k = 0;
    char *line = malloc(2 * n + 64), *want = malloc(n + 1);

    /* a short escaped id first, then a long escaped text that forces the scratch to move */
    k += (size_t)sprintf(line, "{\"id\":\"i\\td\",\"text\":\"");
    for (i = 0; i < n / 2; i++) {
        memcpy(line + k, "\\n", 2);
        k += 2;
        want[i] = '\n';
    }
    memcpy(line + k, "\"}", 3);
    assert_int_equal(parse(fx, line), PS_OK);
    assert_text(fx, want, n / 2);
    assert_int_equal(fx->f[1].val_len, 3);
    assert_memory_equal(fx->f[1].val, "i\td", 3);
    free(line);
    free(want);
}

static void test_json_parses_without_nul_terminator(void **state)
{
    struct fixture *fx = *state;
    char line[] = "{\"text\":\"abc\"}XXXX";

    (void)fx;
    fx->f[0].key = "text";
    fx->f[0].key_len = 4;
    assert_int_equal(ps_json_parse_line(fx->j, line, 14, fx->f, 1, &fx->ed), PS_OK);
    assert_text(fx, "abc", 3);
    /* cut inside the string: must not read past line_len */
    assert_int_equal(ps_json_parse_line(fx->j, line, 12, fx->f, 1, &fx->ed), PS_ERR_PARSE);
    assert_string_equal(fx->ed.msg, "unterminated string");
}

static void test_json_long_ascii_strings_cross_the_word_path(void **state)
{
    struct fixture *fx = *state;
    char line[200];
    size_t len, pos;

    /* a control byte or quote at every position of a long string is still found */
    for (len = 1; len < 40; len++) {
        for (pos = 0; pos < len; pos++) {
            int n = snprintf(line, sizeof(line), "{\"text\":\"");

            memset(line + n, 'q', len);
            line[n + (int)pos] = '\x1f';
            memcpy(line + n + len, "\"}", 3);
            assert_int_equal(parse(fx, line), PS_ERR_PARSE);
            assert_int_equal(fx->ed.offset, (size_t)n + pos);
            line[n + (int)pos] = '"';
            assert_int_equal(parse(fx, line), PS_ERR_PARSE);
            line[n + (int)pos] = 'q';
            assert_int_equal(parse(fx, line), PS_OK);
            assert_int_equal(fx->f[0].val_len, len);
        }
    }
}

static void test_json_unescape_decodes_body(void **state)
{
    struct ps_buf b;
    struct ps_errdetail ed;

    (void)state;
    ps_buf_init(&b, 1 << 20);
    assert_int_equal(ps_json_unescape("plain", 5, &b, &ed), PS_OK);
    assert_string_equal(b.data, "plain");
    ps_buf_reset(&b);
    assert_int_equal(ps_json_unescape("a\\u00e9\\ud83d\\ude00\\\"", 21, &b, &ed), PS_OK);
    assert_string_equal(b.data, "a\xC3\xA9\xF0\x9F\x98\x80\"");
    ps_buf_reset(&b);
    assert_int_equal(ps_json_unescape("", 0, &b, &ed), PS_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(ps_json_unescape("ab\\", 3, &b, &ed), PS_ERR_PARSE);
    assert_string_equal(ed.msg, "invalid escape");
    assert_int_equal(ed.offset, 2);
    assert_int_equal(ps_json_unescape("a\"b", 3, &b, &ed), PS_ERR_PARSE);
    assert_string_equal(ed.msg, "unescaped quote");
    assert_int_equal(ps_json_unescape("\\udfff", 6, &b, &ed), PS_ERR_PARSE);
    assert_string_equal(ed.msg, "lone surrogate");
    assert_int_equal(ps_json_unescape("x\xC0\xAF", 3, &b, &ed), PS_ERR_PARSE);
    assert_string_equal(ed.msg, "invalid utf-8");
    assert_int_equal(ed.offset, 1);
    ps_buf_release(&b);
    ps_buf_init(&b, 4);
    assert_int_equal(ps_json_unescape("\\n23456", 7, &b, &ed), PS_ERR_LIMIT);
    ps_buf_release(&b);
}

static void test_json_append_string_escapes_for_reports(void **state)
{
    struct ps_buf b;
    const char in[] = "q\"b\\n\n\t\r\b\f\x01\x1f\x7F \xC3\xA9 \xE2\x80\xA8\xE2\x80\xA9 \xFF\xC0\xAF"
                      "\xED\xA0\x80 \xF0\x9F\x98\x80";
    const char *want = "\"q\\\"b\\\\n\\n\\t\\r\\b\\f\\u0001\\u001f\x7F \xC3\xA9 \\u2028\\u2029 "
                       "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd \xF0\x9F\x98\x80\"";
    struct ps_json *j = ps_json_new(NULL);
    struct ps_json_field f = {"k", 1, false, false, NULL, 0};
    struct ps_errdetail ed;
    struct ps_buf line;

    (void)state;
    ps_buf_init(&b, 1 << 20);
    assert_int_equal(ps_json_append_string(&b, in, sizeof(in) - 1), PS_OK);
    assert_string_equal(b.data, want);
    /* the output is itself a valid JSON string */
    ps_buf_init(&line, 1 << 20);
    ps_buf_adds(&line, "{\"k\":");
    ps_buf_add(&line, b.data, b.len);
    ps_buf_adds(&line, "}");
    assert_int_equal(ps_json_parse_line(j, line.data, line.len, &f, 1, &ed), PS_OK);
    assert_true(f.is_string);
    /* past the ceiling: PS_ERR_LIMIT and the buffer is unchanged */
    ps_buf_release(&b);
    ps_buf_init(&b, 8);
    ps_buf_adds(&b, "xy");
    assert_int_equal(ps_json_append_string(&b, "abcdefgh", 8), PS_ERR_LIMIT);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "xy");
    assert_int_equal(ps_json_append_string(&b, "", 0), PS_OK);
    assert_string_equal(b.data, "xy\"\"");
    ps_buf_release(&b);
    ps_buf_release(&line);
    ps_json_free(j);
}

static void test_json_container_views_object_and_array_values(void **state)
{
    const char *line =
        "{\"a\": [1, {\"b\":\"]\"}, \"x\\\"y\"] ,\"o\":{\"k\":[]},\"s\":\"[\",\"a\":[ ]}";
    struct ps_json_field f[3];
    struct ps_json *j = ps_json_new(NULL);
    const char *raw;
    size_t raw_len;

    (void)state;
    memset(f, 0, sizeof(f));
    f[0].key = "a";
    f[0].key_len = 1;
    f[1].key = "o";
    f[1].key_len = 1;
    f[2].key = "s";
    f[2].key_len = 1;
    assert_int_equal(ps_json_parse_line(j, line, strlen(line), f, 3, NULL), PS_OK);
    /* the last "a" wins, as for scalars */
    assert_true(ps_json_container(j, 0, &raw, &raw_len));
    assert_int_equal(raw_len, 3);
    assert_memory_equal(raw, "[ ]", 3);
    assert_true(ps_json_container(j, 1, &raw, &raw_len));
    assert_int_equal(raw_len, 8);
    assert_memory_equal(raw, "{\"k\":[]}", 8);
    assert_false(ps_json_container(j, 2, &raw, &raw_len)); /* a string is not a container */
    assert_false(ps_json_container(j, 3, &raw, &raw_len));
    /* a failed parse leaves nothing to view */
    assert_int_equal(ps_json_parse_line(j, "{\"o\":{}", 7, f, 3, NULL), PS_ERR_PARSE);
    assert_false(ps_json_container(j, 1, &raw, &raw_len));
    ps_json_free(j);
}

static void test_json_array_next_walks_elements(void **state)
{
    const char *arr = " [1, {\"b\":\"]\"}, \"x\\\"y\" ,[[]],true ]";
    static const char *const want[] = {"1", "{\"b\":\"]\"}", "\"x\\\"y\"", "[[]]", "true"};
    const char *e;
    size_t pos = 0, n, k = 0;

    (void)state;
    while (ps_json_array_next(arr, strlen(arr), &pos, &e, &n)) {
        assert_true(k < 5);
        assert_int_equal(n, strlen(want[k]));
        assert_memory_equal(e, want[k], n);
        k++;
    }
    assert_int_equal(k, 5);
    assert_false(ps_json_array_next(arr, strlen(arr), &pos, &e, &n));
    pos = 0;
    assert_false(ps_json_array_next("[]", 2, &pos, &e, &n));
    pos = 0;
    assert_false(ps_json_array_next("{}", 2, &pos, &e, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_accepts_valid_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_rejects_grammar_errors_with_reason_and_offset,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_enforces_nesting_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_extracts_string_without_escapes_as_view_into_line,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_decodes_escapes_and_surrogate_pairs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_json_decodes_escaped_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_last_occurrence_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_extracts_non_string_scalars_as_raw_literals,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_ignores_nested_keys_and_matches_escaped_keys,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_scratch_views_survive_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_parses_without_nul_terminator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_long_ascii_strings_cross_the_word_path, setup,
                                        teardown),
        cmocka_unit_test(test_json_unescape_decodes_body),
        cmocka_unit_test(test_json_append_string_escapes_for_reports),
        cmocka_unit_test(test_json_container_views_object_and_array_values),
        cmocka_unit_test(test_json_array_next_walks_elements),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
