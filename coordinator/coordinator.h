/* coordinator.h - the coordinator process: plans shards, keeps job state in Redis (so a
 * restarted coordinator resumes), leases shards to workers over a ROUTER socket with deadlines
 * and heartbeats, runs the scan pass and the confirm pass, and writes the report. */
#ifndef PS_COORDINATOR_COORDINATOR_H
#define PS_COORDINATOR_COORDINATOR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/format.h"
#include "common/store.h"
#include "common/wire.h"
#include "coordinator/report.h"
#include "coordinator/score.h"
#include "coordinator/zap.h"

struct ps_coordinator_opts {
    const char *bind;          /* borrowed: ZeroMQ endpoint (tcp or ipc) */
    const char *endpoint_file; /* borrowed, may be NULL: where to write the bound endpoint */
    const char *job;           /* borrowed: [A-Za-z0-9._-]{1,64} */
    const char *out_dir;       /* borrowed */
    const char *const *inputs; /* borrowed: files, directories, @manifest */
    size_t n_inputs;
    const struct ps_store_url *redis; /* borrowed: Redis endpoints, n_redis; 0 holds the job */
    size_t n_redis;
    unsigned partitions; /* aggregation partitions over them (common/partition.h) */
    uint64_t redis_retry_ms;
    uint64_t shard_size;
    uint32_t max_attempts;
    uint64_t heartbeat_ms;
    unsigned liveness;
    uint64_t lease_timeout_ms;
    uint64_t linger_ms;      /* after the report, answer late workers with Shutdown this long */
    struct ps_format format; /* --format; resolved per file into the plan (and its fingerprint) */
    /* scan settings, part of the job fingerprint */
    const char *text_field, *id_field;
    uint64_t max_line;
    uint32_t max_errors_kept, ngram_max, window, max_candidates;
    const char *signatures_dir; /* borrowed, may be NULL: per-shard signature files go here */
    uint32_t signature_k;
    bool clusters;                /* near-duplicate paragraph clusters in the report */
    unsigned cluster_sketch_log2; /* sketch rows of 2^n cells; 0 = sized from the corpus */
    uint64_t sketch_max_bytes;    /* sized from the corpus: at most this many bytes */
    uint64_t cluster_min_docs;    /* documents a cluster needs */
    struct ps_score_opts score;
    /* report-time only, not part of the fingerprint: a resumed job may use another allowlist */
    const struct ps_allowlist *allowlist; /* borrowed, may be NULL */
    /* operations, not part of the fingerprint */
    const char *metrics_listen; /* borrowed, may be NULL: serve /metrics on "ADDR:PORT" */
    const char *attributes_dir; /* borrowed, may be NULL: after the report, workers write a Dolma
                                   attribute file per input file under it (docs/attributes.md) */
    uint64_t keep_ms;           /* a finished job's keys expire after this long; 0: never */
    /* nightly rescans (coordinator/since.c): keep the scan pass's counts for a later job, and
     * build on those of finished job `since` (borrowed, may be NULL) */
    bool save_scan;
    const char *since;
    /* borrowed, may be NULL: the journal of committed shards goes to "<state_dir>/<job>.journal"
     * (coordinator/journal.h); without it the record is kept in memory only */
    const char *state_dir;
    volatile sig_atomic_t *stop;
    /* the workers' link (docs/security.md): with security.curve, a ZAP handler admits the keys
     * of `zap` and nothing else */
    struct ps_wire_security security;
    struct ps_zap_opts zap;
};

#define PS_COORD_ATTRIBUTES_DIR_MAX 1024 /* bytes of --attributes */

/* Run one job to its end (or resume it). Returns the exit code: 0 the scan completed (findings
 * are in the report), 3 usage or configuration error (bad input path, a resumed job whose
 * settings differ), 4 Redis or ZeroMQ failure, or interrupted. `sum` (may be NULL) gets the
 * report's summary on 0. */
/* The coordinator's own rules on `o` (Redis endpoints, partitions against them, the state
 * directory's path); no I/O.
 * PS_OK or PS_ERR_USAGE naming the option. ps_coordinator_run() checks them again; the CLI
 * checks them (and the scan settings, ps_coordinator_scan_settings) before any work starts. */
enum ps_err ps_coordinator_opts_check(const struct ps_coordinator_opts *o, struct ps_errdetail *ed);

/* The scan settings every lease of a job run with `o` carries: the cluster sketch of
 * 2^cluster_log2 cells a row (0: none), `partitions`, signatures written to `signatures_dir`
 * (NULL: none). *st is initialised here; its strings are views into `o` and `signatures_dir`. */
void ps_coordinator_scan_settings(const struct ps_coordinator_opts *o, unsigned cluster_log2,
                                  unsigned partitions, const char *signatures_dir,
                                  Poisonscan__ScanSettings *st);

int ps_coordinator_run(const struct ps_coordinator_opts *opts, struct ps_report_summary *sum);

#endif
