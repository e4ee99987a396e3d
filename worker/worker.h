/* worker.h - the worker process: a link thread (worker/link.h) says Hello, heartbeats on a clock
 * and reconnects with a fresh identity when the coordinator falls silent; the calling thread
 * takes one lease at a time, scans the shard, commits its results to Redis (first commit wins)
 * and reports back. */
#ifndef PS_WORKER_WORKER_H
#define PS_WORKER_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "common/store.h"
#include "common/wire.h"

struct ps_worker_opts {
    const char *connect;              /* borrowed: the coordinator's endpoint */
    const struct ps_store_url *redis; /* borrowed: the job's Redis endpoints, n_redis of them */
    size_t n_redis;
    uint64_t heartbeat_ms;   /* 1000 */
    unsigned liveness;       /* heartbeats missed before the coordinator counts as gone: 3 */
    uint64_t redis_retry_ms; /* how long Redis may be unreachable before the worker gives up */
    uint64_t give_up_ms;     /* exit after this long without a coordinator; 0 = never */
    uint64_t stall_ms;       /* a scan without progress this long stops renewing its lease */
    uint64_t fault_delay_ms; /* fault injection: wait this long before each commit */
    uint64_t fault_exit_after_commit; /* fault injection: die hard after the Nth commit; 0 = off */
    volatile sig_atomic_t *stop;      /* set by a signal handler: finish up and exit */
    struct ps_wire_security security; /* the coordinator link: CURVE keys, or plain text */
};

struct ps_scan_opts;
/* The scanner's options a lease's settings ask for (defaults where a setting is absent). The
 * CLI builds the same settings and checks them with ps_scan_opts_check() before any work, so a
 * bad option is a usage error at once, never a shard that fails on every worker. The strings
 * in *so are views into *st. */
void ps_worker_scan_opts(const Poisonscan__ScanSettings *st, struct ps_scan_opts *so);

/* Run until Shutdown, a stop signal or a fatal error. Returns the process exit code:
 * 0 done, 3 configuration error, 4 Redis or ZeroMQ unusable. */
int ps_worker_run(const struct ps_worker_opts *opts);

#endif
