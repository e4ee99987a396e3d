/* aggregate.h - a job's global counts for one pass, built in the coordinator's memory from the
 * shards' results blobs (common/results.h) as they are committed, and saved to and restored from
 * a checkpoint record, so that Redis never holds one blob per shard and a restarted coordinator
 * goes on where it was (docs/redis-keys.md, "Memory model").
 *
 * Exactly once: a shard's blob is merged at most once (a bitmap of merged shards, saved with the
 * counts); a blob stays in Redis until a checkpoint that includes it is saved, and the checkpoint
 * and the deletion of its blobs happen in one atomic step (coordinator/pass.c).
 *
 * What each pass keeps:
 *  - scan: totals; per file, its record errors (count, first reason) and the first errors by file
 *    and offset; every candidate pattern's documents and shards (exact; 8-byte hash, two
 *    counters), its text only once it is named in `keep_text_docs` documents (a pattern that can
 *    be selected has been; the blob that brings it there carries the text); the cluster sketch;
 *  - confirm, leads: per pattern of the pass's list, documents containing it and in role, and the
 *    shards with either (a bitmap per pattern, for the list pass); confirm also the leads of
 *    repeated segments (as scan keeps candidates) and the members of heavy clusters (a bounded
 *    sample per band key, with exact counts);
 *  - list: every listed document's record (bounded by the patterns that reach the list pass).
 * Not thread-safe: one thread owns an aggregate. */
#ifndef PS_COORDINATOR_AGGREGATE_H
#define PS_COORDINATOR_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/results.h"

/* The largest gate (lead_gate_log2, assoc_gate_log2): 2^24 cells a row, 96 MB. */
#define PS_AGG_GATE_MAX_LOG2 24

struct ps_agg_opts {
    size_t n_shards;            /* shards of the job */
    size_t n_files;             /* files of the job */
    const uint32_t *shard_file; /* borrowed: file index of each shard (n_shards entries) */
    unsigned pass;              /* enum ps_pass */
    unsigned partition;         /* which partition of the job's results (common/partition.h) */
    size_t sketch_cells;        /* scan: cluster sketch cells per row in this partition; 0 none */
    size_t n_patterns;          /* confirm, leads, list: this partition's patterns of the list */
    uint64_t keep_text_docs;    /* scan, confirm (leads): keep a text from this many docs: 3 */
    unsigned assoc_gate_log2;   /* scan: association pairs (common/assoc.h) pass a count-min
                                   gate of 3 rows of 2^n cells, made at the first pair (0: all
                                   counted exactly) ... */
    uint64_t assoc_admit_docs;  /* ... that lets them in at this many docs, to be counted
                                   exactly from then on: 5 */
    unsigned lead_gate_log2;    /* confirm: leads pass a count-min gate of 3 rows of 2^n cells
                                   (0: all counted exactly) ... */
    uint64_t lead_keep_docs;    /* ... that lets them in, with their texts, at this many docs: 5 */
    size_t max_errors_listed;   /* scan: detailed errors kept: 1000 */
    size_t max_members;         /* confirm: members kept per band key: 32 */
    size_t max_sample;          /* confirm, leads: documents in each pattern's sample:
                                   PS_RESULTS_SAMPLE_KEEP, at most (workers rely on it) */
};
struct ps_agg_opts ps_agg_opts_default(void);

struct ps_agg; /* opaque */

/* An empty aggregate for o->pass. `o` is copied; *out owns the aggregate. */
void ps_agg_new(struct ps_agg **out, const struct ps_agg_opts *o);
void ps_agg_free(struct ps_agg *a); /* NULL is fine */

/* Merge the results of one shard: its parts' blobs (borrowed; parts[i] is part i, n_parts of
 * them). A shard merged before is skipped (*merged false). PS_ERR_PROTO for a blob that does not
 * decode, or belongs to another pass, shard or part, with `ed`; nothing is merged then. */
enum ps_err ps_agg_merge(struct ps_agg *a, const void *const *parts, const size_t *lens,
                         size_t n_parts, bool *merged, struct ps_errdetail *ed);
bool ps_agg_merged(const struct ps_agg *a, uint32_t shard);
size_t ps_agg_n_merged(const struct ps_agg *a);

/* The checkpoint record (format owned here: a header, the pass, the merged bitmap and the
 * pass's state; zstd-compressed). Save appends to `out`; load replaces the aggregate's content
 * (PS_ERR_PROTO for a record of another pass or size, or malformed, with `ed`). */
enum ps_err ps_agg_save(const struct ps_agg *a, struct ps_buf *out, struct ps_errdetail *ed);
enum ps_err ps_agg_load(struct ps_agg *a, const void *src, size_t src_len, struct ps_errdetail *ed);
/* Scan: the state of `src` (an earlier job's scan over a plan whose files are all in this one,
 * plan.h ps_plan_map) renumbered into `dst` (fresh, of this job's plan, the same partition and
 * sketch): shard s of `src` becomes shard_map[s] (merged), file f becomes file_map[f]; totals,
 * candidates, the sketch and the errors carry over. PS_ERR_USAGE when the two do not fit (another
 * pass, partition or sketch size, a map out of range), with `ed`; `dst` is unchanged then. */
enum ps_err ps_agg_rebase(struct ps_agg *dst, const struct ps_agg *src, const uint32_t *shard_map,
                          const uint32_t *file_map, struct ps_errdetail *ed);
/* Keep only the patterns `keep` (n_keep hashes) with their texts, and drop the cluster sketch:
 * what a finished pass leaves for the report, a small checkpoint. Scan and confirm. */
void ps_agg_reduce(struct ps_agg *a, const uint64_t *keep, size_t n_keep);
/* Confirm, leads: drop the samples of the patterns whose keep[i] is false (the count rules
 * rule them out: nobody asks for their evidence again). */
void ps_agg_drop_samples(struct ps_agg *a, const bool *keep);
/* The pass is over: sort what the report reads (errors, list records). Call once, after the
 * last merge or load; the accessors below that say so need it. */
void ps_agg_finish(struct ps_agg *a);
/* Bytes of memory the aggregate holds now (for logs and the memory model). */
size_t ps_agg_footprint(const struct ps_agg *a);

/* ---- what a finished pass gives ---- */

const struct ps_results_totals *ps_agg_totals(const struct ps_agg *a);

/* Scan: candidates; confirm: the leads of repeated segments. Walk the patterns whose text was
 * kept, in no order: fn(ctx, hash, docs, shards, text, text_len). */
typedef void (*ps_agg_pattern_fn)(void *ctx, uint64_t hash, uint64_t docs, uint64_t shards,
                                  const char *text, size_t text_len);
void ps_agg_each_pattern(const struct ps_agg *a, ps_agg_pattern_fn fn, void *ctx);
/* Documents and shards of one pattern (0 when never named). */
void ps_agg_pattern_counts(const struct ps_agg *a, uint64_t hash, uint64_t *docs, uint64_t *shards);

/* Scan: this partition's cluster sketch, ROWS x sketch_cells saturating counters (view; row r's
 * run at r * sketch_cells), or NULL. */
const uint8_t *ps_agg_sketch(const struct ps_agg *a);

/* Scan, after ps_agg_finish: errors. Per file (index into the plan's files) with any: count and
 * first reason; and the first max_errors_listed errors by (file, offset), in that order. */
struct ps_agg_file_errors {
    size_t file;
    uint64_t count;
    uint64_t first_offset;
    const char *first_reason; /* view */
};
size_t ps_agg_n_error_files(const struct ps_agg *a);
/* Scan, at any time: files with input errors merged so far (a walk over the files, for progress
 * reports a few times a minute, not per shard). */
size_t ps_agg_count_damaged_files(const struct ps_agg *a);
const struct ps_agg_file_errors *ps_agg_error_file(const struct ps_agg *a, size_t i);
struct ps_agg_error {
    size_t file;
    uint64_t offset;
    const char *reason; /* view */
};
size_t ps_agg_n_errors(const struct ps_agg *a);
const struct ps_agg_error *ps_agg_error(const struct ps_agg *a, size_t i);

/* Confirm, leads: counts of pattern i of the pass's list. */
struct ps_agg_count {
    uint64_t total, role; /* documents containing it, and with it in role */
    uint64_t total_shards, role_shards;
};
const struct ps_agg_count *ps_agg_count(const struct ps_agg *a, size_t pattern);
/* Confirm, leads: the sample of pattern i's documents in role (view; the smallest ranks). A
 * sample keeps the first PS_AGG_SAMPLE_SKETCH values of each continuation sketch, and 32-bit
 * contexts: enough to estimate the evidence, at a third of the size. */
#define PS_AGG_SAMPLE_SKETCH 4
void ps_agg_samples(const struct ps_agg *a, size_t pattern, const struct ps_results_entry **entries,
                    size_t *n);
/* The shards that hold pattern i (in role when `role`): *ids (view, in no order) and *n; false
 * when there were too many to keep (PS_AGG_SHARDS_MAX): every shard may hold it. */
bool ps_agg_pattern_shards(const struct ps_agg *a, size_t pattern, bool role, const uint32_t **ids,
                           size_t *n);

/* Confirm: heavy band keys with their documents and sampled members (the `max_members` with the
 * smallest hash of shard and offset, so the sample does not depend on commit order). */
struct ps_agg_member {
    uint32_t shard;
    uint64_t offset;
    const char *id, *snippet; /* views */
    size_t id_len, snippet_len;
};
typedef void (*ps_agg_key_fn)(void *ctx, uint64_t key, uint64_t docs,
                              const struct ps_agg_member *sample, size_t n_sample);
void ps_agg_each_cluster_key(const struct ps_agg *a, ps_agg_key_fn fn, void *ctx);

/* List, after ps_agg_finish: every record, in (shard, offset) order. */
struct ps_agg_hit {
    uint32_t shard;
    uint64_t offset;
    const char *id, *snippet; /* views */
    size_t id_len, snippet_len;
    const struct ps_results_entry *entries; /* view */
    size_t n_entries;
};
size_t ps_agg_n_hits(const struct ps_agg *a);
const struct ps_agg_hit *ps_agg_hit(const struct ps_agg *a, size_t i);

#endif
