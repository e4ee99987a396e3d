/* clock.c - monotonic milliseconds for deadlines and wall-clock seconds for reports, so that
 * no loop compares a deadline against a clock that NTP may step backwards. */
#include "common/clock.h"

#include <errno.h>
#include <time.h>

#include "common/error.h"

uint64_t ps_clock_now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        ps_bug("clock_gettime(CLOCK_MONOTONIC) failed");
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ps_clock_unix_s(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        ps_bug("clock_gettime(CLOCK_REALTIME) failed");
    return (uint64_t)ts.tv_sec;
}

void ps_clock_sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
