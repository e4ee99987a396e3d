/* reconcile.c - a Redis restart in the middle of a job. With AOF everysec, redis-server killed
 * and started again may come back without its last second of writes: a consistent but older
 * state of the job, in which some shards the coordinator saw committed have no commit marker.
 * The coordinator keeps its own record of those (journal.h), finds the difference, and
 * dispatches those shards again; their first-commit-wins commit then counts them once. What the
 * coordinator itself wrote and the job needs (the lock, meta, the plan, attempt numbers) it
 * writes again, idempotently. docs/reliability.md has the whole argument. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/journal.h"

#define LOST_LOGGED_MAX 100 /* shards named one by one; the rest are counted */
#define RESYNC_TRIES    5   /* restarts in a row while reconciling before the job gives up */
#define ATTEMPTS_BATCH  512 /* attempt numbers a HSET */

int ps_coord_open_record(struct coord *c, struct ps_errdetail *ed)
{
    bool replaced;

    if (ps_journal_open(&c->journal, c->o->state_dir, c->o->job, c->fingerprint, c->n_shards,
                        &replaced, ed) != PS_OK)
        return 3;
    if (replaced)
        ps_log(PS_LOG_WARN, "coordinator",
               "journal '%s' was of job '%s' with other settings or another corpus; started anew",
               ps_journal_path(c->journal), c->o->job);
    if (c->o->state_dir != NULL)
        ps_log(PS_LOG_INFO, "coordinator", "journal '%s': %zu committed shards on record",
               ps_journal_path(c->journal),
               ps_journal_count(c->journal, PS_PASS_SCAN) +
                   ps_journal_count(c->journal, PS_PASS_CONFIRM) +
                   ps_journal_count(c->journal, PS_PASS_LEADS) +
                   ps_journal_count(c->journal, PS_PASS_LIST));
    return 0;
}

enum ps_err ps_coord_note_lost(struct coord *c, struct ps_errdetail *ed)
{
    size_t lost = 0;

    for (uint32_t id = 0; id < c->n_shards; id++) {
        enum ps_lease_state st = ps_lease_state(c->leases, id);
        if (!ps_journal_has(c->journal, c->pass, id) || st == PS_LEASE_DONE ||
            st == PS_LEASE_FAILED)
            continue;
        if (lost < LOST_LOGGED_MAX)
            ps_log(PS_LOG_WARN, "coordinator",
                   "shard %u: its commit in pass %u is not in redis (lost in a restart); "
                   "dispatching it again",
                   id, c->pass);
        lost++;
        ps_journal_forget(c->journal, c->pass, id);
    }
    if (lost > LOST_LOGGED_MAX)
        ps_log(PS_LOG_WARN, "coordinator", "... and %zu more shards", lost - LOST_LOGGED_MAX);
    if (lost > 0)
        ps_log(PS_LOG_WARN, "coordinator",
               "pass %u: %zu committed shards lost by redis; dispatching them again", c->pass,
               lost);
    /* later passes: redis lost the switch to them, and with it all they had committed */
    for (unsigned p = c->pass + 1; p <= PS_PASS__LAST; p++) {
        size_t n = ps_journal_count(c->journal, p);
        if (n == 0)
            continue;
        ps_log(PS_LOG_WARN, "coordinator",
               "pass %u: redis lost the switch to it and its %zu committed shards; it runs again",
               p, n);
        ps_journal_forget(c->journal, p, UINT32_MAX);
    }
    return ps_journal_rewrite(c->journal, ed);
}

/* What the coordinator wrote when the job was opened, again: HSET and SET of the same values,
 * so that a server that lost them (or all of the job) has them, and one that kept them is
 * unchanged. The fingerprint last: its presence says the job is set up (job.c). */
static enum ps_err republish(struct coord *c, struct ps_errdetail *ed)
{
    char host[256] = "unknown", who[600], fp[24], now[24], total[24], bytes[24], k_plan[256];
    struct ps_store_reply *r = NULL;
    enum ps_err err;
    bool have_plan;

    err = ps_coord_relock(c, ed);
    if (err == PS_ERR_USAGE)
        c->lock_lost = true;
    if (err != PS_OK)
        return err;
    c->locked = true;
    gethostname(host, sizeof(host) - 1);
    snprintf(who, sizeof(who), "%s pid %d", host, (int)getpid());
    snprintf(fp, sizeof(fp), "%016" PRIx64, c->fingerprint);
    snprintf(now, sizeof(now), "%" PRIu64, ps_clock_unix_s());
    snprintf(total, sizeof(total), "%zu", c->n_shards);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, ps_plan_bytes_total(c->plan));
    ps_store_key(k_plan, sizeof(k_plan), c->o->job, PS_KEY_PLAN);
    err = ps_store_cmd(c->store, &r, ed, "EXISTS", k_plan, NULL);
    have_plan = err == PS_OK && ps_store_reply_int(r) == 1;
    ps_store_reply_free(r);
    if (err == PS_OK && !have_plan) {
        struct ps_buf text;
        ps_buf_init(&text, PS_BUF_NO_LIMIT);
        err = ps_plan_serialize(c->plan, &text);
        if (err == PS_OK) {
            const char *argv[3] = {"SET", k_plan, text.data ? text.data : ""};
            size_t lens[3] = {3, strlen(k_plan), text.len};
            err = ps_store_argv(c->store, 3, argv, lens, NULL, ed);
        }
        ps_buf_release(&text);
    }
    if (err == PS_OK)
        err = ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "shards_total", total,
                           "bytes_total", bytes, NULL);
    if (err == PS_OK)
        err = ps_store_cmd(c->store, NULL, ed, "HSETNX", c->k_meta, "created_at", now, NULL);
    if (err == PS_OK)
        err = ps_store_cmd(c->store, NULL, ed, "HSET", c->k_meta, "locked_by", who, "settings",
                           c->settings_json, "version", "1", "fingerprint", fp, NULL);
    return err;
}

/* Attempt numbers are never reused: those this coordinator gave in the pass (att, by shard)
 * and Redis lost are put back, in the table and in Redis. */
static enum ps_err keep_attempts(struct coord *c, const uint32_t *att, struct ps_errdetail *ed)
{
    char key[256], nums[ATTEMPTS_BATCH][2][12];
    const char *argv[2 + 2 * ATTEMPTS_BATCH];
    size_t lens[2 + 2 * ATTEMPTS_BATCH], n = 0;
    enum ps_err err = PS_OK;

    ps_coord_pass_key(c, key, sizeof(key), PS_KEY_ATTEMPTS, c->pass);
    argv[0] = "HSET";
    argv[1] = key;
    for (uint32_t id = 0; id <= c->n_shards && err == PS_OK; id++) {
        bool flush = id == c->n_shards || n == ATTEMPTS_BATCH;
        if (flush && n > 0) {
            for (size_t i = 0; i < 2 + 2 * n; i++)
                lens[i] = strlen(argv[i]);
            err = ps_store_argv(c->store, (int)(2 + 2 * n), argv, lens, NULL, ed);
            n = 0;
        }
        if (id == c->n_shards || att[id] <= ps_lease_attempts(c->leases, id))
            continue;
        ps_lease_set_attempts(c->leases, id, att[id]);
        snprintf(nums[n][0], sizeof(nums[n][0]), "%u", id);
        snprintf(nums[n][1], sizeof(nums[n][1]), "%u", att[id]);
        argv[2 + 2 * n] = nums[n][0];
        argv[3 + 2 * n] = nums[n][1];
        n++;
    }
    return err;
}

/* Attempts given back are never lost either: gb (by shard) holds the given-back counts this
 * coordinator had, one more for each shard out at the restart (its worker did not fail on it;
 * Redis may have lost its lease record with the last second of writes, and then loading the
 * pass did not forgive it) and for each it saw done (pending again only when Redis lost the
 * commit). A pending shard that Redis knows fewer of gets them back, in the table and, with the
 * next dispatch round trip, in Redis. */
static void keep_given_back(struct coord *c, const uint32_t *gb)
{
    for (uint32_t id = 0; id < c->n_shards; id++) {
        if (ps_lease_state(c->leases, id) != PS_LEASE_PENDING ||
            gb[id] <= ps_lease_given_back(c->leases, id))
            continue;
        ps_lease_set_given_back(c->leases, id, gb[id]);
        ps_coord_note_given_back(c, id);
    }
}

/* One try: everything from Redis as it is now. */
static enum ps_err reload(struct coord *c, enum ps_pass was, const uint32_t *att,
                          const uint32_t *gb, struct ps_errdetail *ed)
{
    enum ps_err err = republish(c, ed);

    if (err == PS_OK)
        err = ps_coord_load_job_pass(c, ed);
    if (err == PS_OK)
        err = ps_coord_load_pass(c, ed);
    if (err == PS_OK && c->pass == was)
        err = keep_attempts(c, att, ed);
    if (err == PS_OK && c->pass == was)
        keep_given_back(c, gb);
    if (err == PS_OK && c->pass != was)
        ps_log(PS_LOG_WARN, "coordinator",
               "redis is back in pass %u (%s); the job goes on from there", c->pass,
               ps_pass_name(c->pass));
    if (err == PS_OK)
        err = ps_coord_note_lost(c, ed);
    if (err == PS_OK)
        err = ps_collect_start(&c->collector, c, c->pass, ed);
    return err;
}

int ps_coord_resync(struct coord *c)
{
    struct ps_errdetail ed = {0};
    enum ps_pass was = c->pass;
    uint32_t *att = ps_xmalloc((c->n_shards + 1) * sizeof(*att));
    uint32_t *gb = ps_xmalloc((c->n_shards + 1) * sizeof(*gb));
    enum ps_err err = PS_OK;
    int rc = -1;

    ps_log(PS_LOG_WARN, "coordinator",
           "redis restarted; reconciling job '%s' with the coordinator's record of committed "
           "shards (journal %s)",
           c->o->job, ps_journal_path(c->journal));
    ps_collect_stop(c->collector);
    c->collector = NULL;
    c->asked = PS_COLLECT_NONE;
    /* results taken since the last round trip: on record too, their commits may be lost */
    if (ps_journal_add(c->journal, c->pass, c->done, c->n_done, &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
        free(att);
        free(gb);
        return 4;
    }
    c->n_done = 0;
    for (uint32_t id = 0; id < c->n_shards; id++) {
        enum ps_lease_state st = ps_lease_state(c->leases, id);

        att[id] = ps_lease_attempts(c->leases, id);
        gb[id] =
            ps_lease_given_back(c->leases, id) + (st == PS_LEASE_LEASED || st == PS_LEASE_DONE);
    }
    /* the leases out are forgotten with the table: their shards go out again under new attempt
     * numbers, and a late result of an old one is not the current lease's (first commit wins) */
    for (int t = 0; t < RESYNC_TRIES; t++) {
        c->generation = ps_store_generation(c->store);
        c->resync = false;
        ps_collect_stop(c->collector);
        c->collector = NULL;
        err = reload(c, was, att, gb, &ed);
        if (err == PS_OK && !c->resync && ps_store_generation(c->store) == c->generation)
            break;
        if (c->lock_lost || ps_store_generation(c->store) == c->generation)
            break; /* not another restart: a failure */
        ps_log(PS_LOG_WARN, "coordinator", "redis restarted again while reconciling: %s", ed.msg);
        err = PS_ERR_REDIS;
    }
    free(att);
    free(gb);
    if (err != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "cannot reconcile job '%s' after a redis restart: %s",
               c->o->job, ed.msg);
        rc = 4;
    } else {
        ps_log(PS_LOG_INFO, "coordinator", "pass %u (%s) reconciled: %zu of %zu shards to read",
               c->pass, ps_pass_name(c->pass), c->n_shards - ps_lease_n_finished(c->leases),
               c->n_shards);
    }
    return rc;
}
