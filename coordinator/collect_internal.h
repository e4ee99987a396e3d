/* collect_internal.h - the collector (coordinator/pass.c: the thread; coordinator/collect.c:
 * records and merging; coordinator/select.c: what each pass leaves for the next). The loop talks to
 * it through the ps_collect_* calls of coordinator_internal.h; everything below is the collector
 * thread's own. */
#ifndef PS_COORDINATOR_COLLECT_INTERNAL_H
#define PS_COORDINATOR_COLLECT_INTERNAL_H

#include "common/partition.h"
#include "coordinator/aggregate.h"
#include "coordinator/aggset.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/patlist.h"

struct pending_shard {
    uint32_t shard, parts; /* parts before the last: fields "<shard>.0" .. */
};

/* One partition's blobs merged since its last checkpoint (they go with the next one). */
struct partition_state {
    struct pending_shard *pending;
    size_t n_pending, pending_cap, pending_bytes, last_checkpoint;
};

struct collector {
    struct coord *c;                           /* read: options, plan, settings */
    struct ps_store *stores[PS_PARTITION_MAX]; /* the collector's own, one per endpoint */
    size_t n_stores;
    pthread_t thread;
    bool running;
    /* shared with the loop, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t *queue; /* shards to merge */
    size_t q_head, q_len, q_cap;
    enum ps_collect_request request; /* pass end or report, when asked */
    bool quit;
    bool done; /* the request is answered */
    struct ps_collect_result result;
    /* the thread's own */
    unsigned pass;
    bool ran[PS_PASS__LAST + 1];
    struct ps_aggset agg[PS_PASS__LAST + 1];
    struct ps_patlist lists[PS_PASS__LAST + 1];
    uint32_t *shard_file;
    struct ps_buf *parts; /* one shard's blobs in one partition */
    size_t parts_cap;
    struct partition_state partitions[PS_PARTITION_MAX];
    /* this pass so far, for the log */
    size_t n_merges, n_checkpoints;
    uint64_t blob_bytes, checkpoint_bytes, merge_ms, checkpoint_ms;
};

/* collect.c: the collector's records */
struct ps_store *ps_collect_store(const struct collector *k, unsigned partition);
/* Merge one committed shard of the current pass (again: a no-op). */
enum ps_err ps_collect_merge_shard(struct collector *k, uint32_t shard, struct ps_errdetail *ed);
/* Checkpoint every partition / those that merged enough blobs since their last one. */
enum ps_err ps_collect_checkpoint(struct collector *k, struct ps_errdetail *ed);
enum ps_err ps_collect_maybe_checkpoint(struct collector *k, struct ps_errdetail *ed);
/* Merge every complete shard of the pass that is not merged yet (a resumed job, a lost
 * notification): the commit markers of partition 0 are the truth. */
enum ps_err ps_collect_reconcile(struct collector *k, struct ps_errdetail *ed);
/* The aggregate of `pass` from its checkpoints (finished: reduced and finished), or fresh. */
enum ps_err ps_collect_open_pass(struct collector *k, unsigned pass, bool finished,
                                 struct ps_errdetail *ed);
/* A job picked up where it was: the lists and aggregates of the passes before the current one,
 * then the current pass's checkpoints and the shards committed since. */
enum ps_err ps_collect_resume(struct collector *k, struct ps_errdetail *ed);
/* Drop what is left of a finished pass's blobs (all merged, the checkpoints hold them) and the
 * commit markers of partitions 1.. (the checkpoints' bitmaps say what they merged). */
enum ps_err ps_collect_drop_blobs(struct collector *k, unsigned pass, struct ps_errdetail *ed);
/* A record of the job (pattern list, ...) in partition 0. */
enum ps_err ps_collect_put_record(struct collector *k, const char *base, unsigned pass,
                                  const void *src, size_t len, struct ps_errdetail *ed);

/* select.c: the current pass is over and reconciled. Record what the next pass counts or lists
 * and switch to it (*next), or PS_PASS_NONE: the report is due. */
enum ps_err ps_collect_next_pass(struct collector *k, enum ps_pass *next, struct ps_errdetail *ed);
/* The report from the aggregates (the pass is over). */
int ps_collect_report(struct collector *k, struct ps_report_summary *sum, struct ps_errdetail *ed);

#endif
