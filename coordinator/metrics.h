/* metrics.h - the coordinator's Prometheus endpoint: GET /metrics in the text exposition format
 * (version 0.0.4), served by libmicrohttpd from its own thread. The coordinator's loop never waits
 * on it: the loop publishes a snapshot (plain data, copied under a mutex) about once a second, and
 * a scrape renders the latest snapshot. Metric names follow the Prometheus conventions (base
 * units, `_total` for counters); docs/operations.md lists them. */
#ifndef PS_COORDINATOR_METRICS_H
#define PS_COORDINATOR_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/pass.h"

struct ps_metrics_snapshot {
    char job[65];   /* the job id */
    char state[16]; /* progress state: planning, running, confirming, finalizing, done, failed */
    unsigned pass;  /* the current pass, 1..4 (0 before the job is open) */
    uint64_t plan_shards, plan_bytes; /* plan_bytes: on disk */
    /* counters by pass (index enum ps_pass), of the shards counted (merged by the collector):
     * never decrease while the coordinator runs; bytes are decompressed input */
    uint64_t shards_done[PS_PASS__LAST + 1];
    uint64_t bytes_read[PS_PASS__LAST + 1];
    uint64_t docs_read[PS_PASS__LAST + 1];
    uint64_t shards_failed, input_errors; /* counters */
    uint64_t damaged_files;               /* gauge: files with input errors so far */
    uint64_t workers, shards_in_flight, shards_queued;
    double bytes_per_s, docs_per_s; /* counted over the last ten seconds, all passes */
    bool report_written;            /* the three below are known */
    uint64_t triggers_flagged, triggers_suppressed, documents_flagged;
    uint64_t started_at, finished_at; /* unix seconds, 0 = not yet */
};

/* Append the exposition text of `s` (borrowed) to `out`. Pure: no server needed. */
void ps_metrics_render(const struct ps_metrics_snapshot *s, struct ps_buf *out);

/* Split "ADDR:PORT", "[IPV6]:PORT" or ":PORT" (every interface) into host (empty for every
 * interface) and port (0 = any free one). PS_ERR_USAGE with the reason in `ed`. */
enum ps_err ps_metrics_parse_listen(const char *listen, char *host, size_t host_cap, unsigned *port,
                                    struct ps_errdetail *ed);

struct ps_metrics; /* opaque: the server and the latest snapshot */

/* Serve /metrics on `listen` (borrowed; as ps_metrics_parse_listen). On PS_OK *out owns the
 * server (ps_metrics_stop) and `bound` holds "http://HOST:PORT/metrics" with the port bound.
 * PS_ERR_USAGE for a bad address, PS_ERR_IO when it cannot listen. Until the first
 * ps_metrics_publish a scrape shows the job id only. */
enum ps_err ps_metrics_start(struct ps_metrics **out, const char *listen, const char *job,
                             char *bound, size_t bound_cap, struct ps_errdetail *ed);
/* Replace the snapshot scrapes see by a copy of `s` (borrowed). Thread-safe, never blocks on a
 * scrape for longer than a copy. */
void ps_metrics_publish(struct ps_metrics *m, const struct ps_metrics_snapshot *s);
/* Stop serving and free. NULL is fine. */
void ps_metrics_stop(struct ps_metrics *m);

#endif
