/* test_buf.c - the growable buffer: formatted appends that fit the room there is, that need
 * more, and that would pass the ceiling (content and terminator unchanged); appends that cannot
 * fail grow a buffer without a ceiling and stop the program, never truncate, past one; varints
 * written in place or appended alike. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/varint.h"

static void test_buf_appendf_fits_then_grows(void **state)
{
    struct ps_buf b;
    char want[2048];
    size_t n = 0;

    (void)state;
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    assert_int_equal(ps_buf_appendf(&b, "%s-%d", "a", 1), PS_OK);
    assert_string_equal(b.data, "a-1");
    n = (size_t)snprintf(want, sizeof(want), "a-1");
    /* past the first allocation: the second formatting path */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(ps_buf_appendf(&b, "[%03d]", i), PS_OK);
        n += (size_t)snprintf(want + n, sizeof(want) - n, "[%03d]", i);
    }
    assert_int_equal(b.len, n);
    assert_int_equal(strlen(b.data), n);
    assert_memory_equal(b.data, want, n);
    assert_true(b.len < b.cap);
    ps_buf_release(&b);
}

static void test_buf_appendf_past_the_ceiling_changes_nothing(void **state)
{
    struct ps_buf b;

    (void)state;
    ps_buf_init(&b, 10);
    assert_int_equal(ps_buf_appends(&b, "abcdef"), PS_OK);
    /* fits the allocation (64 bytes) but not the ceiling */
    assert_int_equal(ps_buf_appendf(&b, "%s", "ghijk"), PS_ERR_LIMIT);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(ps_buf_appendf(&b, "%d", 1234), PS_OK);
    assert_string_equal(b.data, "abcdef1234");
    assert_int_equal(ps_buf_appendf(&b, "x"), PS_ERR_LIMIT);
    assert_string_equal(b.data, "abcdef1234");
    ps_buf_release(&b);
}

static void test_buf_add_grows_without_a_ceiling(void **state)
{
    struct ps_buf b;
    size_t total = 0;

    (void)state;
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    for (int i = 0; i < 10000; i++) {
        ps_buf_adds(&b, "abc");
        ps_buf_add(&b, "\0", 1);
        ps_buf_addf(&b, "%05d", i);
        total += 3 + 1 + 5;
    }
    assert_int_equal(b.len, total);
    assert_memory_equal(b.data + total - 9,
                        "abc\0"
                        "09999",
                        9);
    assert_int_equal(b.data[b.len], '\0');
    ps_buf_release(&b);
}

/* body() run in a child, its stderr silenced, must stop it with SIGABRT (not exit) */
static void assert_aborts_in_child(void (*body)(void))
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        body();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void add_past_a_ceiling(void)
{
    struct ps_buf b;

    ps_buf_init(&b, 8);
    ps_buf_adds(&b, "12345678"); /* fits exactly */
    ps_buf_adds(&b, "9");
}

/* the append that cannot fail stops the program at the ceiling */
static void test_buf_add_past_a_ceiling_aborts(void **state)
{
    (void)state;
    assert_aborts_in_child(add_past_a_ceiling);
}

/* varints written in place when there is room and appended when not read back the same,
 * whatever the room left at each one, with the terminator after the last */
static void test_buf_varints_in_place_or_appended(void **state)
{
    static const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX};
    unsigned char want[64 * 1024];
    struct ps_buf b;
    size_t n = 0;

    (void)state;
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    for (int i = 0; n + 18 <= sizeof(want); i++) {
        uint64_t v = vals[i % 8] ^ (uint64_t)(i / 8);
        n += ps_varint_encode(want + n, v);
        ps_varint_put(&b, v);
        for (int k = 0; k < 8; k++)
            want[n + (size_t)k] = (unsigned char)(v >> (8 * k));
        n += 8;
        ps_varint_put_u64le(&b, v);
        assert_int_equal(b.len, n);
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_memory_equal(b.data, want, n);
    ps_buf_release(&b);
    /* with a ceiling: the last bytes under it still take a varint that fits */
    ps_buf_init(&b, 3);
    ps_varint_put(&b, 1);
    ps_varint_put(&b, 300);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "\x01\xac\x02", 3);
    ps_buf_release(&b);
}

static void varint_past_a_ceiling(void)
{
    struct ps_buf b;

    ps_buf_init(&b, 16);
    if (ps_buf_reserve(&b, 16) != PS_OK || b.cap < 32)
        _exit(1);
    ps_buf_adds(&b, "123456789012345");
    ps_varint_put(&b, UINT64_MAX);
}

/* room allocated past the ceiling does not let a varint through it */
static void test_buf_varint_past_a_ceiling_aborts(void **state)
{
    (void)state;
    assert_aborts_in_child(varint_past_a_ceiling);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_appendf_fits_then_grows),
        cmocka_unit_test(test_buf_appendf_past_the_ceiling_changes_nothing),
        cmocka_unit_test(test_buf_add_grows_without_a_ceiling),
        cmocka_unit_test(test_buf_add_past_a_ceiling_aborts),
        cmocka_unit_test(test_buf_varints_in_place_or_appended),
        cmocka_unit_test(test_buf_varint_past_a_ceiling_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
