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
#include "coordinator/coordinator.h"
#include "coordinator/lease.h"
#include "coordinator/plan.h"
#include "coordinator/registry.h"

/* The patterns a confirm pass counts: hashes in the order of the meta list, and the texts the
 * leases carry (pointing into `arena`). */
struct ps_coord_cands {
    uint64_t *hashes;
    size_t n;
    ProtobufCBinaryData *texts;
    size_t n_texts;
    struct ps_buf arena;
};

/* Work between passes, on its own thread and Redis connection (docs/protocol.md §5.4). */
enum ps_coord_phase_kind {
    PS_COORD_PHASE_NONE,
    PS_COORD_PHASE_AFTER_SCAN,    /* select the confirm candidates, merge the cluster sketch */
    PS_COORD_PHASE_AFTER_CONFIRM, /* select the leads of repeated segments */
    PS_COORD_PHASE_REPORT         /* write report.json and flagged.jsonl */
};

struct ps_coord_phase {
    enum ps_coord_phase_kind kind;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    bool done; /* under mu: the thread's results below are ready */
    /* results, read by the loop once done */
    enum ps_err err;
    struct ps_errdetail ed;
    enum ps_pass next_pass; /* PS_PASS_NONE: go to the report */
    struct ps_coord_cands next;
    bool clusters_pending;
    int report_rc; /* REPORT: 0, or the exit code of the failure */
    struct ps_report_summary sum;
};

struct coord {
    const struct ps_coordinator_opts *o;
    struct ps_store *store; /* the loop's connection; the phase thread opens its own */
    struct ps_plan *plan;
    size_t n_shards;
    struct ps_lease_table *leases;
    struct ps_registry *workers;
    void *zctx, *sock;
    struct ps_wire_limits lim;
    enum ps_pass pass;
    struct ps_coord_cands cands; /* the current confirm pass's patterns */
    char k_meta[256], k_progress[256], k_leases[256], k_lock[256];
    char lock_token[PS_WIRE_ROUTING_ID_CAP];
    bool locked;
    char scan_json[1024], settings_json[2048];
    uint64_t fingerprint;
    Poisonscan__ScanSettings settings;
    uint64_t last_progress, last_log, last_ping, last_lock;
    bool redis_failed;
    bool lock_lost;
    char *signatures_dir;  /* absolute, created at start; NULL when off */
    unsigned cluster_log2; /* sketch size of the job, 0 = no clusters */
    struct ps_coord_phase phase;
};

/* coordinator.c */
void ps_coord_redis_fail(struct coord *c, const struct ps_errdetail *ed);
void ps_coord_pass_key(const struct coord *c, char *dst, size_t cap, const char *base,
                       unsigned pass);

/* job.c: one coordinator per job (a lock with a TTL, renewed every interval) */
enum ps_err ps_coord_lock(struct coord *c, struct ps_errdetail *ed); /* PS_ERR_USAGE: held */
bool ps_coord_renew_lock(struct coord *c);                           /* false once lost */
void ps_coord_unlock(struct coord *c);
/* Plan the corpus and open the job: a fresh one is recorded, a known one must match its
 * fingerprint. Returns 0, or the exit code (3 configuration, 4 Redis) with `ed`. */
int ps_coord_open_job(struct coord *c, struct ps_errdetail *ed);

/* pass.c */
void ps_coord_cands_init(struct ps_coord_cands *k);
void ps_coord_cands_release(struct ps_coord_cands *k);
/* The pass the job is in (meta "pass"), with its candidates for a confirm pass. */
enum ps_err ps_coord_load_job_pass(struct coord *c, struct ps_errdetail *ed);
/* The lease table of c->pass from Redis: committed and failed shards are finished, the rest
 * queued; attempts persist. */
enum ps_err ps_coord_load_pass(struct coord *c, struct ps_errdetail *ed);
/* Start `kind` on the phase thread; ps_coord_phase_done says when its results are ready (and
 * joins it). */
void ps_coord_phase_start(struct coord *c, enum ps_coord_phase_kind kind);
bool ps_coord_phase_done(struct coord *c);
/* Make the phase's next pass the current one (its candidates, a fresh lease table). */
enum ps_err ps_coord_phase_apply(struct coord *c, struct ps_errdetail *ed);
/* Wait for a phase still running (on the way out) and free its results. */
void ps_coord_phase_release(struct coord *c);

#endif
