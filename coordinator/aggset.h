/* aggset.h - one pass's aggregate over all the job's partitions (common/partition.h): each
 * partition's aggregate is merged and checkpointed on its own, and this view answers the
 * questions of the selection and the report as if there were one (a pattern's counts from its
 * partition, the candidates of all, the sketch put back together, the records in one order). */
#ifndef PS_COORDINATOR_AGGSET_H
#define PS_COORDINATOR_AGGSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/partition.h"
#include "coordinator/aggregate.h"

struct ps_aggset {
    unsigned pass;
    unsigned n; /* partitions */
    struct ps_agg *part[PS_PARTITION_MAX];
    size_t n_patterns; /* of the pass's list (all partitions) */
    struct ps_results_totals totals;
    uint8_t *sketch;                /* scan: put back together by ps_aggset_finish */
    const struct ps_agg_hit **hits; /* list: every record, in (shard, offset) order */
    size_t n_hits;
};

/* The aggregate of partition q of a list of n_patterns patterns: how many are its own. The list
 * pass keeps the whole list in every partition (its records are split by shard). */
size_t ps_aggset_part_patterns(unsigned pass, size_t n_patterns, unsigned q, unsigned n);

/* Empty: the caller fills part[0..n) (ps_agg_new with ps_aggset_part_patterns). */
void ps_aggset_init(struct ps_aggset *s, unsigned pass, unsigned n, size_t n_patterns);
void ps_aggset_release(struct ps_aggset *s); /* frees the partitions too */

/* The pass is over: finish every partition, add up the totals, put the sketch back together
 * (scan: cells_per_row of the whole sketch, 0 without one) and order the records (list). */
void ps_aggset_finish(struct ps_aggset *s, size_t cells_per_row);

void ps_aggset_each_pattern(const struct ps_aggset *s, ps_agg_pattern_fn fn, void *ctx);
void ps_aggset_pattern_counts(const struct ps_aggset *s, uint64_t hash, uint64_t *docs,
                              uint64_t *shards);
const struct ps_agg_count *ps_aggset_count(const struct ps_aggset *s, size_t pattern);
void ps_aggset_samples(const struct ps_aggset *s, size_t pattern,
                       const struct ps_results_entry **entries, size_t *n);
bool ps_aggset_pattern_shards(const struct ps_aggset *s, size_t pattern, bool role,
                              const uint32_t **ids, size_t *n);
void ps_aggset_each_cluster_key(const struct ps_aggset *s, ps_agg_key_fn fn, void *ctx);
/* Errors live in partition 0. */
const struct ps_agg *ps_aggset_errors(const struct ps_aggset *s);

/* keep[i] for every pattern of the list (global index). */
void ps_aggset_drop_samples(struct ps_aggset *s, const bool *keep);
/* Keep only these pattern hashes (each in its partition), and no sketch. */
void ps_aggset_reduce(struct ps_aggset *s, const uint64_t *keep, size_t n_keep);

#endif
