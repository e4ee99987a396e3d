/* test_buf.c - the growable buffer: formatted appends that fit the room there is, that need
 * more, and that would pass the ceiling (content and terminator unchanged). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"

static void test_buf_appendf_fits_then_grows(void **state)
{
    struct ps_buf b;
    char want[2048];
    size_t n = 0;

    (void)state;
    ps_buf_init(&b, SIZE_MAX / 2);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_appendf_fits_then_grows),
        cmocka_unit_test(test_buf_appendf_past_the_ceiling_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
