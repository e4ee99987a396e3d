/* collect_internal.h - the collector (coordinator/pass.c: records, merging, the thread;
 * coordinator/select.c: what each pass leaves for the next). The loop talks to it through the
 * ps_collect_* calls of coordinator_internal.h; everything below is the collector thread's own. */
#ifndef PS_COORDINATOR_COLLECT_INTERNAL_H
#define PS_COORDINATOR_COLLECT_INTERNAL_H

#include "coordinator/aggregate.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/patlist.h"

struct pending_shard {
    uint32_t shard, parts; /* parts before the last: fields "<shard>.0" .. */
};

struct collector {
    struct coord *c;    /* read: options, plan, settings (constant once the loop runs) */
    struct ps_store *s; /* the collector's own connection */
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
    struct ps_agg *agg[PS_PASS__LAST + 1];
    struct ps_patlist lists[PS_PASS__LAST + 1];
    uint32_t *shard_file;
    struct ps_buf *parts; /* one shard's blobs */
    size_t parts_cap;
    struct pending_shard *pending; /* merged since the last checkpoint */
    size_t n_pending, pending_cap, pending_bytes, last_checkpoint;
    /* this pass so far, for the log */
    size_t n_merges, n_checkpoints;
    uint64_t blob_bytes, checkpoint_bytes, merge_ms, checkpoint_ms;
};

/* pass.c */
struct ps_agg_opts ps_collect_agg_opts(const struct collector *k, unsigned pass, bool finished);
enum ps_err ps_collect_checkpoint(struct collector *k, struct ps_errdetail *ed);
/* Drop what is left of a finished pass's blobs (all merged, the checkpoint holds them). */
enum ps_err ps_collect_drop_blobs(struct collector *k, unsigned pass, struct ps_errdetail *ed);
enum ps_err ps_collect_put_record(struct collector *k, const char *base, unsigned pass,
                                  const void *src, size_t len, struct ps_errdetail *ed);

/* select.c: the current pass is over and reconciled. Record what the next pass counts or lists
 * and switch to it (*next), or PS_PASS_NONE: the report is due. */
enum ps_err ps_collect_next_pass(struct collector *k, enum ps_pass *next, struct ps_errdetail *ed);
/* The report from the aggregates (the pass is over). */
int ps_collect_report(struct collector *k, struct ps_report_summary *sum, struct ps_errdetail *ed);

#endif
