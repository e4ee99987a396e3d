/* clusters.h - near-duplicate paragraphs across shards, the coordinator's half (the worker's
 * is worker/clusters.h): the heavy cells of the summed sketch after the scan pass, and the
 * clusters of the confirm pass's members for the report. */
#ifndef PS_COORDINATOR_CLUSTERS_H
#define PS_COORDINATOR_CLUSTERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "coordinator/aggregate.h"
#include "coordinator/aggset.h"
#include "coordinator/plan.h"

/* Mark the cells of `sketch` (PS_CLSKETCH_ROWS rows of 2^log2 saturating counters) counted at
 * least `min_docs` times, raising that threshold while more than `max_heavy` cells of a row
 * would be heavy (a saturated sketch must not flood the confirm pass). *bitmap (owned by the
 * caller, free()) gets bit i of row r at (r * 2^log2 + i), *len its bytes; *threshold the count
 * used, *n_heavy the heavy cells of row 0. */
void ps_clusters_heavy(const uint8_t *sketch, unsigned log2, uint64_t min_docs, size_t max_heavy,
                       uint8_t **bitmap, size_t *len, uint64_t *threshold, size_t *n_heavy);

/* The flagged trigger of the document at `offset` of shard `shard`, or NULL when it is not
 * flagged; the text stays valid while the report is written. */
typedef const char *(*ps_clusters_trigger_fn)(void *ctx, uint32_t shard, uint64_t offset);

/* Append `"clusters":[...],"clusters_total":N` (no surrounding braces) to `json`: the sampled
 * member paragraphs of the confirm pass's aggregate joined by the band keys they share, for keys
 * held by at least `min_docs` paragraphs; each cluster with its size (the paragraphs of its
 * biggest key), the shards and ids of its sampled members and a representative, largest first,
 * at most `max_clusters`. With `trigger_of` (may be NULL), a cluster most of whose sampled
 * documents a flagged trigger flagged names it: `"trigger"` and `"members_flagged"` (estimated
 * from the sample), so that a templated payload and its trigger are one finding. */
void ps_clusters_report(const struct ps_aggset *a, const struct ps_plan *plan, uint64_t min_docs,
                        size_t max_clusters, ps_clusters_trigger_fn trigger_of, void *trigger_ctx,
                        struct ps_buf *json, size_t *n_clusters);

#endif
