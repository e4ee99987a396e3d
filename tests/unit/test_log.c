/* test_log.c - the log line: plain and JSON layouts, one line per event whatever the message
 * holds, JSON that parses, cuts at character boundaries, and registered secrets never shown. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/utf8.h"

#define CAP 4096

static int reset(void **state)
{
    (void)state;
    ps_log_set_role("tester");
    ps_log_set_format(PS_LOG_FORMAT_PLAIN);
    ps_log_clear_secrets();
    return 0;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* Parse a JSON line and return its "msg" (decoded) in dst; also checks the other fields. */
static void json_fields(const char *line, char *msg, size_t msg_cap, const char *level)
{
    struct ps_json *j = ps_json_new(NULL);
    struct ps_json_field f[] = {{.key = "time", .key_len = 4},   {.key = "level", .key_len = 5},
                                {.key = "role", .key_len = 4},   {.key = "pid", .key_len = 3},
                                {.key = "module", .key_len = 6}, {.key = "msg", .key_len = 3}};
    size_t len = strlen(line);
    char pid[24];

    assert_true(len > 0 && line[len - 1] == '\n');
    assert_int_equal(ps_json_parse_line(j, line, len - 1, f, 6, NULL), PS_OK);
    for (size_t i = 0; i < 6; i++)
        assert_true(f[i].found);
    assert_int_equal(f[0].val_len, strlen("2026-08-22T10:15:03.412Z"));
    assert_true(f[0].val[f[0].val_len - 1] == 'Z');
    assert_int_equal(f[1].val_len, strlen(level));
    assert_memory_equal(f[1].val, level, strlen(level));
    assert_int_equal(f[2].val_len, 6);
    assert_memory_equal(f[2].val, "tester", 6);
    assert_false(f[3].is_string);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    assert_int_equal(f[3].val_len, strlen(pid));
    assert_memory_equal(f[3].val, pid, strlen(pid));
    assert_memory_equal(f[4].val, "mod", 3);
    assert_true(f[5].val_len < msg_cap);
    memcpy(msg, f[5].val, f[5].val_len);
    msg[f[5].val_len] = '\0';
    ps_json_free(j);
}

static void test_log_plain_layout(void **state)
{
    char line[CAP], want[128];
    size_t n;

    (void)state;
    n = ps_log_render(line, sizeof(line), PS_LOG_WARN, "reader", "cannot decode 'a.zst'");
    assert_int_equal(n, strlen(line));
    snprintf(want, sizeof(want), "Z tester[%d] warn reader: cannot decode 'a.zst'\n",
             (int)getpid());
    assert_non_null(strstr(line, want));
    assert_int_equal(line[4], '-');
    assert_int_equal(line[10], 'T');
}

static void test_log_plain_keeps_one_line_per_event(void **state)
{
    char line[CAP];

    (void)state;
    ps_log_render(line, sizeof(line), PS_LOG_ERROR, "m", "two\nlines\r and a \001 bell\tand tab");
    assert_int_equal(count_char(line, '\n'), 1);
    assert_non_null(strstr(line, "two\\nlines\\r and a \\x01 bell\tand tab\n"));
}

static void test_log_json_parses_and_round_trips(void **state)
{
    static const char msg[] = "quote \" backslash \\ newline \n tab \t ctl \001 "
                              "utf8 \xc3\xa9 sep \xe2\x80\xa8 end";
    char line[CAP], got[CAP];

    (void)state;
    ps_log_set_format(PS_LOG_FORMAT_JSON);
    ps_log_render(line, sizeof(line), PS_LOG_INFO, "mod", msg);
    assert_int_equal(count_char(line, '\n'), 1);
    assert_null(strstr(line, "\xe2\x80\xa8")); /* U+2028 escaped: safe for JavaScript */
    json_fields(line, got, sizeof(got), "info");
    assert_string_equal(got, msg);
}

static void test_log_json_replaces_invalid_utf8(void **state)
{
    char line[CAP], got[CAP];

    (void)state;
    ps_log_set_format(PS_LOG_FORMAT_JSON);
    ps_log_render(line, sizeof(line), PS_LOG_WARN, "mod", "file '\xff\xfe.jsonl'");
    json_fields(line, got, sizeof(got), "warn");
    assert_string_equal(got, "file '\xef\xbf\xbd\xef\xbf\xbd.jsonl'");
}

static void test_log_long_message_is_cut_at_a_character(void **state)
{
    char msg[2000], line[512], got[CAP];

    (void)state;
    /* 2-byte characters: a cut in the middle of one would be invalid UTF-8 */
    for (size_t i = 0; i + 2 < sizeof(msg); i += 2) {
        msg[i] = '\xc3';
        msg[i + 1] = '\xa9';
    }
    msg[sizeof(msg) - 2] = '\0';
    ps_log_set_format(PS_LOG_FORMAT_JSON);
    assert_true(ps_log_render(line, sizeof(line), PS_LOG_WARN, "mod", msg) < sizeof(line));
    json_fields(line, got, sizeof(got), "warn");
    assert_true(strlen(got) > 100 && strlen(got) % 2 == 0);
    ps_log_set_format(PS_LOG_FORMAT_PLAIN);
    assert_true(ps_log_render(line, sizeof(line), PS_LOG_WARN, "mod", msg) < sizeof(line));
    assert_true(ps_utf8_is_valid(line, strlen(line)));
    assert_int_equal(line[strlen(line) - 1], '\n');
}

/* ps_log_emit itself: what reaches stderr is the rendered line, and a message longer than the
 * formatting buffer is not cut inside a character either. */
static void test_log_emit_writes_one_whole_line(void **state)
{
    char msg[5001], got[8192];
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n;

    (void)state;
    assert_non_null(tmp);
    /* 2-byte characters from an even offset: vsnprintf's cut after 2047 bytes splits one */
    msg[0] = 'x';
    msg[1] = 'y';
    for (size_t i = 2; i + 2 <= sizeof(msg) - 1; i += 2) {
        msg[i] = '\xc3';
        msg[i + 1] = '\xa9';
    }
    msg[sizeof(msg) - 1] = '\0';
    fflush(stderr);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    ps_log_emit(PS_LOG_ERROR, "mod", "%s", msg);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    n = fread(got, 1, sizeof(got) - 1, tmp);
    fclose(tmp);
    got[n] = '\0';
    assert_true(n > 1000);
    assert_int_equal(count_char(got, '\n'), 1);
    assert_int_equal(got[n - 1], '\n');
    assert_true(ps_utf8_is_valid(got, n));
}

static void test_log_secrets_never_shown(void **state)
{
    static const char pw[] = "s3cr3t-Passw0rd";
    static const char key[] = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    char line[CAP], msg[256];

    (void)state;
    ps_log_add_secret(pw, strlen(pw));
    ps_log_add_secret(key, strlen(key));
    snprintf(msg, sizeof(msg), "auth failed for redis://u:%s@db:6379 (%s) key %s%s", pw, pw, key,
             pw);
    for (int f = 0; f < 2; f++) {
        ps_log_set_format(f ? PS_LOG_FORMAT_JSON : PS_LOG_FORMAT_PLAIN);
        ps_log_render(line, sizeof(line), PS_LOG_ERROR, "mod", msg);
        assert_null(strstr(line, pw));
        assert_null(strstr(line, key));
        assert_non_null(strstr(line, "redis://u:***@db:6379 (***) key ******"));
    }
    ps_log_clear_secrets();
    ps_log_render(line, sizeof(line), PS_LOG_ERROR, "mod", msg);
    assert_non_null(strstr(line, pw)); /* forgotten: the search really was what hid it */
}

static void test_log_short_secrets_are_not_searched(void **state)
{
    char line[CAP];

    (void)state;
    ps_log_add_secret("ab", 2);
    ps_log_render(line, sizeof(line), PS_LOG_INFO, "mod", "about abba");
    assert_non_null(strstr(line, "about abba"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_log_plain_layout, reset),
        cmocka_unit_test_setup(test_log_plain_keeps_one_line_per_event, reset),
        cmocka_unit_test_setup(test_log_json_parses_and_round_trips, reset),
        cmocka_unit_test_setup(test_log_json_replaces_invalid_utf8, reset),
        cmocka_unit_test_setup(test_log_long_message_is_cut_at_a_character, reset),
        cmocka_unit_test_setup(test_log_emit_writes_one_whole_line, reset),
        cmocka_unit_test_setup(test_log_secrets_never_shown, reset),
        cmocka_unit_test_setup(test_log_short_secrets_are_not_searched, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
