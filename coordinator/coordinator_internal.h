/* coordinator_internal.h - what the coordinator's files share: the loop and the messages
 * (coordinator.c), the job's lock, set-up and resume (job.c), and the pass transitions that run
 * on a thread of their own while the loop goes on answering workers (pass.c). */
#ifndef PS_COORDINATOR_COORDINATOR_INTERNAL_H
#define PS_COORDINATOR_COORDINATOR_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/pass.h"
#include "common/store.h"
#include "common/wire.h"
#include "coordinator/aggregate.h"
#include "coordinator/attrset.h"
#include "coordinator/coordinator.h"
#include "coordinator/lease.h"
#include "coordinator/patlist.h"
#include "coordinator/plan.h"
#include "coordinator/registry.h"

/* The collector (coordinator/pass.c): a thread with its own Redis connection that merges the
 * shards' results as they are committed, moves the job between passes and writes the report. */
enum ps_collect_request { PS_COLLECT_NONE, PS_COLLECT_PASS_END, PS_COLLECT_REPORT };

struct ps_collect_result {
    enum ps_err err; /* not PS_OK: the collector failed (Redis), the job stops */
    struct ps_errdetail ed;
    enum ps_pass next_pass; /* PASS_END: the pass now recorded in Redis; NONE: report due (or,
                               after the attributes pass, the job is done). REPORT: the
                               attributes pass, now recorded, or NONE: the job is done */
    int report_rc;          /* REPORT: 0, or the exit code of the failure */
    struct ps_report_summary sum;
    bool restarted; /* with err: a Redis of the collector restarted (reconcile, do not fail) */
};

struct collector;
struct coord;
struct ps_journal;
struct observe;

/* One Redis command of a dispatch round trip: its arguments one after the other in one buffer,
 * each NUL-terminated, pointed at once the command is complete (the buffer moves as it grows). */
struct coord_cmd {
    struct ps_buf text;
    size_t *ends; /* end of each argument in text, past its NUL */
    const char **argv;
    size_t *lens;
    size_t n, cap;
};
/* Start the collector on the job's current pass; it first picks up what Redis holds (resume). */
enum ps_err ps_collect_start(struct collector **out, struct coord *c, enum ps_pass pass,
                             struct ps_errdetail *ed);
/* Shards `shards` (n of them, borrowed) of the current pass are committed: merge them. One call
 * a batch, so that the collector wakes once for many. */
void ps_collect_merge(struct collector *k, const uint32_t *shards, size_t n);
void ps_collect_ask(struct collector *k, enum ps_collect_request what);
/* The answer to the last request, once it is ready (true). */
bool ps_collect_poll(struct collector *k, struct ps_collect_result *out);
/* Readable while an answer waits for ps_collect_poll (poll it beside the socket). */
int ps_collect_wake_fd(const struct collector *k);
void ps_collect_stop(struct collector *k); /* NULL is fine */

struct coord {
    const struct ps_coordinator_opts *o;
    struct ps_store *store; /* the loop's connection to endpoint 0; the collector opens its own */
    struct ps_plan *plan;
    size_t n_shards;
    struct ps_lease_table *leases;
    struct ps_registry *workers;
    void *zctx, *sock;
    struct ps_zap *zap; /* CURVE only */
    struct ps_wire_limits lim;
    enum ps_pass pass;
    struct ps_patlist cands; /* the current pass's patterns, for the leases */
    char k_meta[256], k_progress[256], k_leases[256], k_lock[256];
    char lock_token[PS_WIRE_ROUTING_ID_CAP];
    bool locked;
    char *scan_json, *settings_json; /* owned: the settings as JSON (fingerprint, meta, report) */
    uint64_t fingerprint;
    Poisonscan__ScanSettings settings;
    uint64_t last_progress, last_log, last_ping, last_lock;
    bool redis_failed;
    bool lock_lost;
    char *signatures_dir; /* absolute, created at start; NULL when off */
    char *attributes_dir; /* absolute, created at start; NULL when off (--attributes) */
    /* the attributes pass: the folder it writes under (meta "attributes", set at its switch),
     * the flagged documents by file, and the report's summary when this run wrote it */
    char *attrs_dir;
    size_t attrs_common; /* ps_plan_common_dir_len() */
    struct ps_attrset *attrs;
    struct ps_report_summary sum;
    bool have_sum;
    unsigned cluster_log2;  /* sketch size of the job, 0 = no clusters */
    unsigned partitions;    /* aggregation partitions (common/partition.h) */
    uint64_t text_estimate; /* decompressed bytes of the corpus, from its files' headers */
    char since[PS_STORE_JOB_MAX + 1]; /* the job this one built on (--since), or "" */
    uint64_t since_shards;            /* the shards whose scan counts it took from that job */
    struct collector *collector;
    uint64_t cands_id; /* digest of the pattern list: workers hold it under this id */
    /* dispatch: the workers with credit, the scratch of one batch of leases, and the shards
     * finished or given back since the last round trip (their lease records, and given-back
     * counts, go with the next one) */
    size_t *ready;
    size_t ready_head, n_ready, cap_ready;
    void *grants;
    struct coord_cmd cmds[4];
    uint32_t *done;
    size_t n_done, cap_done;
    uint32_t *gave_back;
    size_t n_gave_back, cap_gave_back;
    uint64_t last_sweep;
    enum ps_collect_request asked; /* the request to the collector outstanding */
    struct observe *observe;       /* observe.c; NULL without --metrics */
    /* the record of the shards committed in each pass (journal.h), and the generation of
     * `store` (ps_store_generation) the job was last reconciled with: when Redis restarts,
     * `resync` is set and the loop reconciles (reconcile.c) before anything else */
    struct ps_journal *journal;
    uint64_t generation;
    bool resync;
};

/* coordinator.c */
/* A Redis call of the loop failed: the job stops, unless Redis restarted meanwhile (the store's
 * generation moved), which sets c->resync instead. */
void ps_coord_redis_fail(struct coord *c, const struct ps_errdetail *ed);
/* The loop's duties that must go on during a long walk (the plan, Redis): heartbeats to the
 * workers, the job's lock. `ctx` is the struct coord. */
void ps_coord_idle(void *ctx);
void ps_coord_pass_key(const struct coord *c, char *dst, size_t cap, const char *base,
                       unsigned pass);
/* Send one message to worker w (its last_sent moves); PS_ERR_PROTO: ours did not validate. */
enum ps_err ps_coord_send_to(struct coord *c, size_t w, const Poisonscan__Envelope *env);
/* Shard `id` is given up in this pass, with `reason` (failed:pN, the report's error files). */
void ps_coord_fail_shard(struct coord *c, uint32_t id, const char *reason);
/* The lease of shard `id` ended without a result: dispatched again, or given up after
 * --max-attempts. */
void ps_coord_lease_lost(struct coord *c, uint32_t id, const char *why);

/* dispatch.c: handing out leases */
void ps_coord_dispatch_init(struct coord *c);
void ps_coord_dispatch_free(struct coord *c);
/* Worker w, if alive with credit, joins the queue of workers that can take leases (once). */
void ps_coord_make_ready(struct coord *c, size_t w);
/* One batch of leases out (and the finished shards to the collector); true when the batch was
 * full, so that more may wait. */
bool ps_coord_dispatch(struct coord *c);
/* Shard `id`'s given-back count changed: it goes to Redis with the next round trip. */
void ps_coord_note_given_back(struct coord *c, uint32_t id);
/* The pass a lease record (`leases` hash value, written by the round trip) names; false when the
 * value is not one. */
bool ps_coord_lease_record_pass(const char *v, size_t len, unsigned *pass);

/* job.c: one coordinator per job (a lock with a TTL, renewed every interval) */
enum ps_err ps_coord_lock(struct coord *c, struct ps_errdetail *ed); /* PS_ERR_USAGE: held */
bool ps_coord_renew_lock(struct coord *c);                           /* false once lost */
/* After a Redis restart: the lock again, if no one else took it (the restarted server may have
 * lost it, or let it expire while it was down). PS_ERR_USAGE: another coordinator holds it. */
enum ps_err ps_coord_relock(struct coord *c, struct ps_errdetail *ed);
void ps_coord_unlock(struct coord *c);
/* Plan the corpus and open the job: a fresh one is recorded, a known one must match its
 * fingerprint. Returns 0, or the exit code (3 configuration, 4 Redis) with `ed`. */
int ps_coord_open_job(struct coord *c, struct ps_errdetail *ed);
/* The job is finished: its keys on every endpoint expire after --keep (not the lock, which the
 * coordinator deletes when it stops). Failures are logged: the report is written already. */
void ps_coord_keep_job(struct coord *c);

/* collect.c: the options of partition q's aggregate of `pass` over `plan` (shard_file: its
 * ps_plan_shard_files(), borrowed), before the pass is finished: one shape for the collector and
 * for a --since job seeding its scan pass from an earlier job's. */
struct ps_agg_opts ps_coord_agg_opts(const struct coord *c, const struct ps_plan *plan,
                                     const uint32_t *shard_file, unsigned pass, unsigned q);

/* job.c: the settings JSON (meta `settings`, made by the job) read back: does an earlier job's
 * hold the same scan settings as this one's; its sketch size (0: no clusters). */
bool ps_coord_same_scan_settings(const struct coord *c, const char *settings_json);
unsigned ps_coord_settings_sketch_log2(const char *settings_json);

/* attrs_pass.c: the attributes pass (--attributes, docs/attributes.md). The folder given must
 * not hold the corpus's files (0, or 3 with `ed`); once in the pass, its folder and the flagged
 * documents by file, from Redis (PS_ERR_PROTO when the switch left no record); the lease of a
 * file (`s`, its first shard: its path is written to path[path_cap]); at its end, a log line on
 * the files it could not write. */
int ps_coord_check_attributes_dir(const struct coord *c, struct ps_errdetail *ed);
enum ps_err ps_coord_load_attrs(struct coord *c, struct ps_errdetail *ed);
void ps_coord_attrs_lease(const struct coord *c, const struct ps_shard *s, Poisonscan__Lease *lease,
                          char *path, size_t path_cap);
void ps_coord_note_attrs_failed(struct coord *c);

/* since.c: nightly rescans (--since JOB, --save-scan). 0, or the exit code (3 configuration: the
 * base job is gone, unfinished, of other settings or over files changed since; 4 Redis), `ed`. */
/* A fresh job: check that the base job is there and finished, and take its sketch size. */
int ps_coord_since_open(struct coord *c, struct ps_errdetail *ed);
/* A resumed job built on another: the sketch size it was started with. */
int ps_coord_since_resume(struct coord *c, struct ps_errdetail *ed);
/* A fresh job, its settings made: what a failed --since set-up of it left is removed; with
 * --since, the base's scan counts become its first scan checkpoint. */
int ps_coord_since_seed(struct coord *c, struct ps_errdetail *ed);

/* reconcile.c: the record of committed shards against Redis (docs/reliability.md) */
/* Open the record (with --state-dir, its journal) once the job is open. 0, or the exit code 3
 * (a state directory that cannot be used, a damaged journal) with `ed`. */
int ps_coord_open_record(struct coord *c, struct ps_errdetail *ed);
/* The pass is loaded from Redis (ps_coord_load_pass): a shard the record saw committed in it
 * that Redis holds no marker for was lost by a Redis restart and is queued already; name it,
 * and forget it (and every shard of a later pass, whose switch Redis lost) in the record. */
enum ps_err ps_coord_note_lost(struct coord *c, struct ps_errdetail *ed);
/* Redis restarted (c->resync): stop the collector, put back what the coordinator wrote that the
 * job needs (lock, meta, plan, attempt numbers), load the job's pass from what Redis now holds,
 * name what it lost, and start the collector again. -1 to go on, or the job's exit code. */
int ps_coord_resync(struct coord *c);

/* observe.c: what operators see besides the log (/metrics). Start before the collector (it
 * reports to it) and stop after it; 3/4-style failures come back as PS_ERR_USAGE/PS_ERR_IO. */
enum ps_err ps_coord_observe_start(struct coord *c, struct ps_errdetail *ed);
/* The loop, about once a second: publish a snapshot. */
void ps_coord_observe_tick(struct coord *c);
/* The collector thread, after merging into pass `pass`: its partition 0 aggregate (totals,
 * shards merged) and the damaged files counted so far (SIZE_MAX: not counted this time). */
void ps_coord_observe_merged(struct coord *c, unsigned pass, const struct ps_agg *part0,
                             size_t damaged_files);
/* The report is written. */
void ps_coord_observe_done(struct coord *c, const struct ps_report_summary *sum);
void ps_coord_observe_stop(struct coord *c);

/* the loop's view of the passes (coordinator.c) */
/* The pass the job is in (meta "pass") and its patterns. */
enum ps_err ps_coord_load_job_pass(struct coord *c, struct ps_errdetail *ed);
/* The lease table of c->pass from Redis: committed and failed shards are finished, the rest
 * queued (the list pass: only the shards of its shard set); attempts and given-back counts
 * persist. */
enum ps_err ps_coord_load_pass(struct coord *c, struct ps_errdetail *ed);

#endif
