/* clusters.h - near-duplicate paragraphs across shards, the coordinator's half (the worker's
 * is worker/clusters.h): add up the shards' sketches after pass 1 and publish the heavy cells;
 * after pass 2, group the member paragraphs into clusters for the report. */
#ifndef PS_COORDINATOR_CLUSTERS_H
#define PS_COORDINATOR_CLUSTERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/store.h"

/* Sum every shard's sketch of job `job` (sketch rows of 2^log2 cells), mark the cells counted
 * at least `min_docs` times in both rows, raising that threshold while more than `max_heavy`
 * cells of a row would be heavy (a saturated sketch must not flood pass 2), and store the
 * bitmap under PS_KEY_CLUSTER_HEAVY. *threshold gets the count used, *n_heavy the heavy cells
 * of row 0. PS_OK, PS_ERR_REDIS, PS_ERR_ZSTD or PS_ERR_PROTO (a sketch of the wrong size). */
enum ps_err ps_clusters_merge(struct ps_store *s, const char *job, unsigned log2, uint64_t min_docs,
                              size_t max_heavy, uint64_t *threshold, size_t *n_heavy,
                              struct ps_errdetail *ed);

/* The flagged trigger of the document at `offset` of `file_json` (as in the hit lines), or NULL
 * when it is not flagged; the text stays valid while the report is written. */
typedef const char *(*ps_clusters_trigger_fn)(void *ctx, const char *file_json, uint64_t offset);

/* Append `"clusters":[...],"clusters_total":N` (no surrounding braces) to `json`: the member
 * paragraphs of pass 2 joined by shared band keys, clusters of at least `min_docs` documents,
 * largest first, each with its size, shards, paragraphs, a representative and every member id
 * (at most `max_members` listed; `members_total` is exact). With `trigger_of` (may be NULL), a
 * cluster most of whose documents a flagged trigger flagged names it: `"trigger"` and
 * `"members_flagged"`, so that a templated payload and its trigger are one finding. */
enum ps_err ps_clusters_report(struct ps_store *s, const char *job, uint64_t min_docs,
                               size_t max_clusters, size_t max_members,
                               ps_clusters_trigger_fn trigger_of, void *trigger_ctx,
                               struct ps_buf *json, size_t *n_clusters, struct ps_errdetail *ed);

#endif
