/* test_clock.c - the monotonic clock never goes backwards and advances with real time; the
 * wall clock is in a plausible epoch range. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "common/clock.h"

static void test_clock_monotonic_never_goes_backwards(void **state)
{
    uint64_t prev = ps_clock_now_ms();

    (void)state;
    for (int i = 0; i < 100000; i++) {
        uint64_t now = ps_clock_now_ms();
        assert_true(now >= prev);
        prev = now;
    }
}

static void test_clock_monotonic_advances_with_real_time(void **state)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 30 * 1000 * 1000};
    uint64_t t0 = ps_clock_now_ms(), t1;

    (void)state;
    while (nanosleep(&ts, &ts) != 0)
        ;
    t1 = ps_clock_now_ms();
    assert_true(t1 - t0 >= 30);
    assert_true(t1 - t0 < 30000);
}

static void test_clock_sleep_waits_at_least_the_time_asked(void **state)
{
    uint64_t t0 = ps_clock_now_ms(), t1;

    (void)state;
    ps_clock_sleep_ms(25);
    t1 = ps_clock_now_ms();
    assert_true(t1 - t0 >= 24); /* ms truncation of the two readings */
    assert_true(t1 - t0 < 20000);
    ps_clock_sleep_ms(0);
}

static void test_clock_unix_seconds_match_time(void **state)
{
    uint64_t s = ps_clock_unix_s();
    time_t t = time(NULL);

    (void)state;
    assert_true(s > 1577836800u); /* after 2020-01-01 */
    assert_true(s + 2 >= (uint64_t)t && s <= (uint64_t)t + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_monotonic_never_goes_backwards),
        cmocka_unit_test(test_clock_monotonic_advances_with_real_time),
        cmocka_unit_test(test_clock_sleep_waits_at_least_the_time_asked),
        cmocka_unit_test(test_clock_unix_seconds_match_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
