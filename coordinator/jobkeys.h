/* jobkeys.h - every Redis key of one job, on every endpoint: poisonscan:{JOB}:* on endpoint 0
 * and the partition keys poisonscan:{JOB:q*}:* on each (docs/redis-keys.md, "Partitions").
 * A finished job's keys get a TTL (--keep); `poisonscan gc` deletes them. Neither ever touches a
 * running job: gc takes the job's lock first (and fails when a coordinator holds it), and the
 * coordinator sets the TTL of its own job while it holds the lock, leaving the lock key alone.
 *
 * Order: the job's `meta` hash (whose fingerprint says the job exists) goes last and lives a
 * minute longer, so a job interrupted half-deleted, or half-expired, is never taken for a fresh
 * one while its commit markers remain: run gc again. */
#ifndef PS_COORDINATOR_JOBKEYS_H
#define PS_COORDINATOR_JOBKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/store.h"

/* meta outlives the other keys by this much under a TTL */
#define PS_JOBKEYS_META_GRACE_MS 60000

enum ps_jobkeys_action {
    PS_JOBKEYS_COUNT,  /* change nothing */
    PS_JOBKEYS_EXPIRE, /* PEXPIRE ttl_ms (meta: ttl_ms + grace) */
    PS_JOBKEYS_DELETE  /* UNLINK */
};

/* Apply `action` to every key of job `job` (borrowed) on stores[0..n_stores) (borrowed; [0] is
 * endpoint 0) but its lock key; *n_keys gets how many keys that was. `idle` (may be NULL) is
 * called between batches (a caller renewing a lock). PS_ERR_REDIS with `ed` on failure: some keys
 * may have been changed then, meta not. */
enum ps_err ps_jobkeys_apply(struct ps_store *const *stores, size_t n_stores, const char *job,
                             enum ps_jobkeys_action action, uint64_t ttl_ms, void (*idle)(void *),
                             void *idle_ctx, uint64_t *n_keys, struct ps_errdetail *ed);

/* gc's hold on a job: SET its lock key NX with a TTL, value `token` (borrowed). *taken false
 * when another holder (a coordinator) has it; `holder` then says who (meta "locked_by", or
 * "unknown"). */
enum ps_err ps_jobkeys_lock(struct ps_store *s, const char *job, const char *token, uint64_t ttl_ms,
                            bool *taken, char *holder, size_t holder_cap, struct ps_errdetail *ed);
/* Extend our lock (false: it is no longer ours), and release it. */
bool ps_jobkeys_renew(struct ps_store *s, const char *job, const char *token, uint64_t ttl_ms);
void ps_jobkeys_unlock(struct ps_store *s, const char *job, const char *token);

#endif
