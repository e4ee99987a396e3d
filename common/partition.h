/* partition.h - how a job's results are split over its P aggregation partitions, the same way in
 * the workers that write them and the coordinator that reads them (docs/redis-keys.md,
 * "Partitions"). Each partition has its own results blobs, commit markers and checkpoint, on the
 * Redis endpoint q % n_endpoints, so that one partition's commit is one atomic step on one
 * server, a checkpoint is a P-th of the state, and a job can outgrow one Redis. Partition 0 also
 * holds what is not split (totals, errors, progress) and its commit marker says the shard is
 * complete (it is committed last). P is a power of two from 1 to PS_PARTITION_MAX. */
#ifndef PS_COMMON_PARTITION_H
#define PS_COMMON_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#define PS_PARTITION_MAX 64

/* A pattern (candidate, lead) or a cluster band key by its 64-bit hash: high bits, which no
 * table or sketch of ours indexes by. */
static inline unsigned ps_partition_of_hash(uint64_t hash, unsigned n)
{
    return (unsigned)((hash >> 40) & (n - 1));
}

/* Pattern i of a pass's list lives in partition i % n, as its local pattern i / n. */
static inline unsigned ps_partition_of_pattern(size_t i, unsigned n)
{
    return (unsigned)(i & (n - 1));
}

static inline size_t ps_partition_local(size_t i, unsigned n)
{
    return i / n;
}

/* Patterns of a list of `total` that live in partition q. */
static inline size_t ps_partition_n_patterns(size_t total, unsigned q, unsigned n)
{
    return total / n + (q < total % n);
}

/* A list pass's records (documents) by their shard. */
static inline unsigned ps_partition_of_shard(uint32_t shard, unsigned n)
{
    return shard & (n - 1);
}

/* The cluster sketch's cells: each row is cut in n equal runs, run q in partition q. */
static inline size_t ps_partition_cells(size_t cells_per_row, unsigned n)
{
    return cells_per_row / n;
}

#endif
