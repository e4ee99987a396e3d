/* lease.h - the coordinator's table of shards in the current pass: which are pending, leased
 * (to whom, under which attempt, until when), done or failed; the queue of pending shards; and
 * the set of leases out, so that expiry and a lost worker cost O(leases out), not O(shards).
 * ZeroMQ never re-queues lost work (docs/protocol.md §5.2): this table is what does.
 * Attempt numbers are given by the caller (they persist in Redis across coordinator restarts). */
#ifndef PS_COORDINATOR_LEASE_H
#define PS_COORDINATOR_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ps_lease_state { PS_LEASE_PENDING, PS_LEASE_LEASED, PS_LEASE_DONE, PS_LEASE_FAILED };

struct ps_lease_table; /* opaque; single-threaded */

/* A table of n_shards shards, all pending and none queued. *out owns it. */
void ps_lease_table_new(struct ps_lease_table **out, size_t n_shards);
void ps_lease_table_free(struct ps_lease_table *t); /* NULL is fine */

/* Back to all pending, nothing queued or leased, attempts 0 (a new pass). */
void ps_lease_reset(struct ps_lease_table *t);

/* While loading a pass from Redis: a shard finished before (DONE or FAILED), or how many
 * attempts it had. A finished shard stays finished. */
void ps_lease_mark_finished(struct ps_lease_table *t, uint32_t id, enum ps_lease_state st);
void ps_lease_set_attempts(struct ps_lease_table *t, uint32_t id, uint32_t attempts);
void ps_lease_set_given_back(struct ps_lease_table *t, uint32_t id, uint32_t given_back);
/* Queue every pending shard, in id order. */
void ps_lease_queue_pending(struct ps_lease_table *t);

size_t ps_lease_n_shards(const struct ps_lease_table *t);
size_t ps_lease_n_queued(const struct ps_lease_table *t);
size_t ps_lease_n_out(const struct ps_lease_table *t);
size_t ps_lease_n_finished(const struct ps_lease_table *t); /* done + failed */
enum ps_lease_state ps_lease_state(const struct ps_lease_table *t, uint32_t id);
uint32_t ps_lease_attempts(const struct ps_lease_table *t, uint32_t id);
/* Of the attempts, those given back by a worker that stopped (ps_lease_give_back), and those
 * that count against --max-attempts: the others (saturating at 0). */
uint32_t ps_lease_given_back(const struct ps_lease_table *t, uint32_t id);
uint32_t ps_lease_charged(const struct ps_lease_table *t, uint32_t id);

/* Take the next queued shard; false when the queue is empty. */
bool ps_lease_dequeue(struct ps_lease_table *t, uint32_t *id);
/* Put a shard back at the end of the queue (pending again). */
void ps_lease_requeue(struct ps_lease_table *t, uint32_t id);
/* The worker holding shard `id`'s lease gave it back: queued again as ps_lease_requeue does, and
 * the attempt is not charged. */
void ps_lease_give_back(struct ps_lease_table *t, uint32_t id);
/* While loading a pass: the last attempt of pending shard `id` ended with its coordinator (a
 * restart) and is not charged either. */
void ps_lease_forgive(struct ps_lease_table *t, uint32_t id);

/* Lease shard `id` (taken from the queue) to `worker` as `attempt` until `deadline` (ms). */
void ps_lease_grant(struct ps_lease_table *t, uint32_t id, size_t worker, uint32_t attempt,
                    uint64_t deadline);
/* Is (id, worker, attempt) the lease out now? */
bool ps_lease_is_current(const struct ps_lease_table *t, uint32_t id, size_t worker,
                         uint32_t attempt);
/* A heartbeat for the current lease moves its deadline; false (nothing changed) otherwise. */
bool ps_lease_renew(struct ps_lease_table *t, uint32_t id, size_t worker, uint32_t attempt,
                    uint64_t deadline);
/* End a lease or mark a queued shard: done, or failed for good. Counts as finished once. */
void ps_lease_finish(struct ps_lease_table *t, uint32_t id, enum ps_lease_state st);

/* Leases out whose deadline is before `now`, or (worker != SIZE_MAX) held by `worker`: up to
 * cap shard ids into out[]; returns how many. The caller ends each (requeue or finish). */
size_t ps_lease_expired(const struct ps_lease_table *t, uint64_t now, uint32_t *out, size_t cap);
size_t ps_lease_held_by(const struct ps_lease_table *t, size_t worker, uint32_t *out, size_t cap);

#endif
