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
#include "coordinator/score.h"

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
    /* an eventfd, readable while an answer waits: the loop polls it beside its socket, so that
     * the next pass starts when the last one is collected, not at its next timeout */
    int wake_fd;
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

/* select.c: the rank bound of the sample a counting pass keeps of a pattern that the pass before
 * named in `docs` documents (coordinated sampling, common/results.h): UINT64_MAX (every
 * document) for up to 16 documents, else a bound that about 16 of `docs` ranks fall below. */
uint64_t ps_collect_sample_bound(uint64_t docs);
/* select.c: the patterns of `a` that the selection rule lets through (ps_score_select with `o`,
 * `n_shards` and `part`) and that `exclude` (may be NULL) does not hold, most documents first,
 * then by hash, at most o->max_confirm, into `out` (replaced; texts copied, origin = rank,
 * sample bound from the documents); their hashes in the same order into *keep (owned by the
 * caller, free()), followed, when association pairs are among them, by the totals they are
 * weighed against in the report and the bigram entries (common/assoc.h) their rejoined words
 * are looked up in (*n_keep in all). */
void ps_collect_select_patterns(const struct ps_aggset *a, const struct ps_score_opts *o,
                                size_t n_shards, unsigned part, const struct ps_patlist *exclude,
                                struct ps_patlist *out, uint64_t **keep, size_t *n_keep);
/* select.c: the patterns of list `l` (the confirm pass's, borrowed) that its counts in `a` may
 * flag (ps_score_may_flag), into `out` (replaced, sealed; origin = index in `l`): the leads of
 * pass 3 exclude these only, so that a pattern pass 2 counted without the role that fits it
 * (templated, promotional) is counted again where that role is asked. */
void ps_collect_judged(const struct ps_patlist *l, const struct ps_aggset *a,
                       const struct ps_score_opts *o, size_t n_shards, struct ps_patlist *out);
/* select.c: the patterns of list `l` (a counting pass's, borrowed) that may be flagged, appended
 * to `out` (origin = index in `l`): the count rules on their counts in `a` (its aggregate), and
 * the evidence rules on their sample with a slack, unless the sample is too small to say. A
 * specific one is marked PS_PATLIST_CARRIERS: its carriers are listed too. */
void ps_collect_may_flag(const struct ps_patlist *l, const struct ps_aggset *a,
                         const struct ps_score_opts *o, size_t n_shards, struct ps_patlist *out);
/* select.c: the shards the list pass reads for list `l`, as a bitmap of n_shards bits (owned by
 * the caller, free(); *len bytes): where a pattern is in role (patterns [0, leads_from) counted
 * in `confirm`, the rest in `leads`), or holds it at all when its carriers are listed; every
 * shard when a set was too big to keep. */
uint8_t *ps_collect_list_shards(const struct ps_patlist *l, const struct ps_aggset *confirm,
                                const struct ps_aggset *leads, size_t n_shards, size_t *len);
/* select.c: the pass that follows pass `done`, from what its end selected; PS_PASS_NONE: the
 * report is due (the order: the top of coordinator/pass.c). After the scan: `n_selected`
 * candidates to confirm and whether the cluster sketch has `heavy` cells; after the confirm pass:
 * `n_selected` leads of repeated segments, counted by a pass of their own before anything is
 * listed; after the counting passes (confirm without leads, or leads): `n_to_list` patterns that
 * may be flagged, whose documents the list pass lists. Inputs a pass does not consult are
 * ignored. */
enum ps_pass ps_collect_pass_after(enum ps_pass done, size_t n_selected, bool heavy,
                                   size_t n_to_list);
/* select.c: the current pass is over and reconciled. Record what the next pass counts or lists
 * and switch to it (*next), or PS_PASS_NONE: the report is due. */
enum ps_err ps_collect_next_pass(struct collector *k, enum ps_pass *next, struct ps_errdetail *ed);
/* The report from the aggregates (the pass is over): 0 or the exit code of the failure (`ed`).
 * With --attributes, the first report of a job records the switch to the attributes pass and
 * says so in *next (else PS_PASS_NONE: the job is done); the pass is then opened by the caller. */
int ps_collect_report(struct collector *k, struct ps_report_summary *sum, enum ps_pass *next,
                      struct ps_errdetail *ed);

#endif
