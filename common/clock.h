/* clock.h - the two clocks the coordinator and worker loops use: a monotonic one for deadlines
 * (leases, heartbeats, poll timeouts) that never jumps with NTP, and the wall clock for reports. */
#ifndef PS_COMMON_CLOCK_H
#define PS_COMMON_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC since an arbitrary start; only differences mean anything.
 * Thread-safe; never fails on Linux (a failure would be a kernel bug and calls ps_bug()). */
uint64_t ps_clock_now_ms(void);

/* Seconds since the Unix epoch on CLOCK_REALTIME (may jump); for reports and metrics only,
 * never for deadlines. Thread-safe. */
uint64_t ps_clock_unix_s(void);

/* Sleep `ms` milliseconds, resuming after signals. */
void ps_clock_sleep_ms(uint64_t ms);

#endif
