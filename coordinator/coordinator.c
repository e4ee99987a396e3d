/* coordinator.c - the coordinator loop (Paranoid Pirate queue side, zguide ch. 4): workers ask
 * with credit, every lease has a deadline that heartbeats extend, an expired lease goes out
 * again under a new attempt number, and a result counts only from the lease's current holder.
 * Exactly-once counting does not rest on this bookkeeping: the workers' commit script does.
 * The loop never blocks for long: merging results, the work between passes and the report run on
 * the collector's thread (pass.c). */
/* realpath() is XSI */
#define _XOPEN_SOURCE 700
#include "coordinator/coordinator.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/clsketch.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/units.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/journal.h"

#define PROGRESS_EVERY_MS 1000
#define LOG_EVERY_MS      10000
#define EXPIRE_BATCH      256
#define SWEEP_EVERY_MS    50

void ps_coord_redis_fail(struct coord *c, const struct ps_errdetail *ed)
{
    if (ps_store_generation(c->store) != c->generation) {
        if (!c->resync)
            ps_log(PS_LOG_WARN, "coordinator", "%s", ed->msg);
        c->resync = true;
        return;
    }
    ps_log(PS_LOG_ERROR, "coordinator", "%s", ed->msg);
    c->redis_failed = true;
}

void ps_coord_pass_key(const struct coord *c, char *dst, size_t cap, const char *base,
                       unsigned pass)
{
    ps_store_pass_key(dst, cap, c->o->job, base, pass);
}

static struct ps_worker_rec *wk(struct coord *c, size_t w)
{
    return ps_registry_at(c->workers, w);
}

static void set_progress(struct coord *c, const char *state)
{
    struct ps_errdetail ed = {0};
    char now[24], workers[24];

    snprintf(now, sizeof(now), "%" PRIu64, ps_clock_unix_s());
    snprintf(workers, sizeof(workers), "%zu", ps_registry_n_alive(c->workers));
    /* the pass number is written with each switch (select.c), never here: the collector may
     * have recorded the next pass already */
    if (ps_store_cmd(c->store, NULL, &ed, "HSET", c->k_progress, "updated_at", now, "workers",
                     workers, state ? "state" : NULL, state, NULL) != PS_OK)
        ps_coord_redis_fail(c, &ed);
}

void ps_coord_fail_shard(struct coord *c, uint32_t id, const char *reason)
{
    struct ps_errdetail ed = {0};
    char key[256], f[16];
    const struct ps_shard *s = ps_plan_shard(c->plan, id);

    ps_log(PS_LOG_ERROR, "coordinator", "shard %u ('%s' [%" PRIu64 ", %" PRIu64 ")) failed: %s", id,
           s->path, s->begin, s->end, reason);
    ps_lease_finish(c->leases, id, PS_LEASE_FAILED);
    snprintf(f, sizeof(f), "%u", id);
    ps_coord_pass_key(c, key, sizeof(key), PS_KEY_FAILED, c->pass);
    if (ps_store_cmd(c->store, NULL, &ed, "HSET", key, f, reason, NULL) != PS_OK ||
        ps_store_cmd(c->store, NULL, &ed, "HINCRBY", c->k_progress, "shards_failed", "1", NULL) !=
            PS_OK ||
        ps_store_cmd(c->store, NULL, &ed, "HDEL", c->k_leases, f, NULL) != PS_OK)
        ps_coord_redis_fail(c, &ed);
}

/* A lease ended without a result: try again elsewhere, or give up on the shard. */
void ps_coord_lease_lost(struct coord *c, uint32_t id, const char *why)
{
    char reason[256];
    uint32_t attempts = ps_lease_attempts(c->leases, id);

    if (ps_lease_state(c->leases, id) != PS_LEASE_LEASED)
        return;
    if (ps_lease_charged(c->leases, id) >= c->o->max_attempts) {
        snprintf(reason, sizeof(reason), "%s after %u attempts", why,
                 ps_lease_charged(c->leases, id));
        ps_coord_fail_shard(c, id, reason);
        return;
    }
    ps_log(PS_LOG_WARN, "coordinator", "shard %u attempt %u: %s; dispatching again", id, attempts,
           why);
    ps_lease_requeue(c->leases, id);
}

static void worker_dead(struct coord *c, size_t w, const char *why)
{
    uint32_t ids[EXPIRE_BATCH];
    size_t n;

    if (!wk(c, w)->alive)
        return;
    ps_log(PS_LOG_WARN, "coordinator", "worker '%s' %s", wk(c, w)->name, why);
    wk(c, w)->alive = false;
    /* each lease_lost takes the lease out (requeued or failed), so this ends */
    while ((n = ps_lease_held_by(c->leases, w, ids, EXPIRE_BATCH)) > 0)
        for (size_t i = 0; i < n; i++)
            ps_coord_lease_lost(c, ids[i], "worker lost");
}

/* Worker w said goodbye: each lease it was given and has not answered (its scan stopped, they
 * waited, or they are still on their way) goes out again at once, not charged, and it gets no
 * more. Its given-back count reaches Redis with the next dispatch round trip. */
static void worker_left(struct coord *c, size_t w, const char *reason)
{
    uint32_t ids[EXPIRE_BATCH];
    size_t n;

    ps_log(PS_LOG_INFO, "coordinator", "worker '%s' left: %s", wk(c, w)->name, reason);
    wk(c, w)->alive = false;
    wk(c, w)->left = true;
    while ((n = ps_lease_held_by(c->leases, w, ids, EXPIRE_BATCH)) > 0)
        for (size_t i = 0; i < n; i++) {
            ps_log(PS_LOG_INFO, "coordinator",
                   "shard %u attempt %u given back (%s); dispatching again, not counted against "
                   "--max-attempts",
                   ids[i], ps_lease_attempts(c->leases, ids[i]), reason);
            ps_lease_give_back(c->leases, ids[i]);
            ps_coord_note_given_back(c, ids[i]);
        }
}

enum ps_err ps_coord_send_to(struct coord *c, size_t w, const Poisonscan__Envelope *env)
{
    struct ps_errdetail ed = {0};
    enum ps_err err = ps_wire_send_router(c->sock, wk(c, w)->id, wk(c, w)->id_len, env, &ed);

    if (err == PS_OK) {
        wk(c, w)->last_sent = ps_clock_now_ms();
    } else if (err == PS_ERR_PROTO) {
        /* our own message does not validate (a path that is not UTF-8, say): not the worker's
         * fault, so the worker stays; the caller decides about the message */
        ps_log(PS_LOG_ERROR, "coordinator", "cannot send to '%s': %s", wk(c, w)->name, ed.msg);
    } else if (err != PS_OK) {
        ps_log(PS_LOG_WARN, "coordinator", "cannot send to '%s': %s", wk(c, w)->name, ed.msg);
        worker_dead(c, w, "unreachable");
    }
    return err;
}

static void send_shutdown(struct coord *c, size_t w, const char *reason)
{
    Poisonscan__Envelope env;
    Poisonscan__Shutdown sd;
    char text[128];

    poisonscan__envelope__init(&env);
    poisonscan__shutdown__init(&sd);
    snprintf(text, sizeof(text), "%s", reason);
    sd.reason = text;
    env.body_case = POISONSCAN__ENVELOPE__BODY_SHUTDOWN;
    env.shutdown = &sd;
    ps_coord_send_to(c, w, &env);
}

/* Shard `id` is finished: it goes to the collector and its lease record goes, with the next
 * round trip. */
static void note_done(struct coord *c, uint32_t id)
{
    if (c->n_done == c->cap_done) {
        c->cap_done = c->cap_done ? c->cap_done * 2 : 256;
        c->done = ps_xrealloc(c->done, c->cap_done * sizeof(*c->done));
    }
    c->done[c->n_done++] = id;
}

static void on_result(struct coord *c, size_t w, const Poisonscan__ShardResult *res)
{
    wk(c, w)->credit++;
    if (wk(c, w)->patterns_sent != 0) {
        /* it answered a lease that carried the list: it holds it now */
        wk(c, w)->patterns_held = wk(c, w)->patterns_sent;
        wk(c, w)->patterns_sent = 0;
    }
    ps_coord_make_ready(c, w);
    if (res->pass != c->pass || res->shard_id >= c->n_shards || strcmp(res->job_id, c->o->job) ||
        !ps_lease_is_current(c->leases, res->shard_id, w, res->attempt)) {
        /* the lease went to someone else meanwhile (or the pass moved on); their commit will be
         * a no-op or theirs */
        ps_log(PS_LOG_DEBUG, "coordinator",
               "result for pass %u shard %u attempt %u from '%s' ignored", res->pass, res->shard_id,
               res->attempt, wk(c, w)->name);
        return;
    }
    if (res->outcome == POISONSCAN__OUTCOME__OUTCOME_FAILED) {
        /* whatever went wrong, the next lease to it carries the pattern list again */
        wk(c, w)->patterns_held = 0;
        if (res->retryable)
            ps_coord_lease_lost(c, res->shard_id, res->error);
        else
            ps_coord_fail_shard(c, res->shard_id, res->error);
        return;
    }
    if (res->error[0] != '\0')
        ps_log(PS_LOG_ERROR, "coordinator", "shard %u: %s", res->shard_id, res->error);
    ps_lease_finish(c->leases, res->shard_id, PS_LEASE_DONE);
    note_done(c, res->shard_id);
}

static void on_message(struct coord *c, const char *peer, size_t peer_len,
                       const Poisonscan__Envelope *env)
{
    bool known;
    size_t w = ps_registry_find_or_add(c->workers, peer, peer_len, &known);
    struct ps_worker_rec *r = wk(c, w);

    r->last_seen = ps_clock_now_ms();
    if (env->body_case == POISONSCAN__ENVELOPE__BODY_GOODBYE) {
        /* a worker found dead already had its leases charged and requeued */
        if (known && r->alive)
            worker_left(c, w, env->goodbye->reason[0] ? env->goodbye->reason : "goodbye");
        return;
    }
    if (r->left)
        return; /* its last heartbeat, sent before the goodbye left */
    if (!known || !r->alive) {
        /* a worker we have not met (or had given up on): after a coordinator restart workers
         * reconnect on their own and go on heartbeating, so adopt them */
        r->alive = true;
        r->credit = 0;
        if (env->body_case == POISONSCAN__ENVELOPE__BODY_HEARTBEAT && env->heartbeat->attempt == 0)
            r->credit = 1;
        if (env->body_case != POISONSCAN__ENVELOPE__BODY_HELLO)
            ps_log(PS_LOG_INFO, "coordinator", "worker '%s' joined", r->name);
    }
    switch (env->body_case) {
    case POISONSCAN__ENVELOPE__BODY_HELLO:
        r->credit = env->hello->credit;
        r->patterns_held = r->patterns_sent = 0;
        ps_log(PS_LOG_INFO, "coordinator", "worker '%s' joined (pid %u on %s, %s)", r->name,
               env->hello->pid, env->hello->hostname, env->hello->simd_level);
        break;
    case POISONSCAN__ENVELOPE__BODY_READY:
        r->credit += env->ready->credit;
        break;
    case POISONSCAN__ENVELOPE__BODY_HEARTBEAT: {
        const Poisonscan__Heartbeat *hb = env->heartbeat;
        if (hb->attempt != 0 && hb->pass == c->pass)
            ps_lease_renew(c->leases, hb->shard_id, w, hb->attempt,
                           r->last_seen + c->o->lease_timeout_ms);
        break;
    }
    case POISONSCAN__ENVELOPE__BODY_RESULT:
        on_result(c, w, env->result);
        break;
    default:
        ps_log(PS_LOG_WARN, "coordinator", "unexpected %s from '%s'",
               ps_wire_body_name(env->body_case), r->name);
        break;
    }
    ps_coord_make_ready(c, w);
}

/* Receive everything waiting; once the job is finished, answer every caller with Shutdown. */
static void drain(struct coord *c, bool finished)
{
    for (;;) {
        Poisonscan__Envelope *env = NULL;
        struct ps_errdetail ed = {0};
        char peer[PS_WIRE_ROUTING_ID_MAX + 1];
        size_t peer_len = 0;
        bool got = false;
        enum ps_err err =
            ps_wire_recv_router(c->sock, &c->lim, peer, sizeof(peer), &peer_len, &env, &got, &ed);

        if (err == PS_ERR_PROTO) {
            char name[2 * PS_WIRE_ROUTING_ID_MAX + 8];
            ps_wire_format_peer(name, sizeof(name), peer, peer_len);
            ps_log(PS_LOG_WARN, "coordinator", "dropped a bad message from '%s': %s", name, ed.msg);
            continue;
        }
        if (err != PS_OK || !got)
            return;
        if (finished) {
            bool known;
            size_t w = ps_registry_find_or_add(c->workers, peer, peer_len, &known);
            wk(c, w)->alive = true;
            send_shutdown(c, w, "job finished");
        } else {
            on_message(c, peer, peer_len, env);
        }
        ps_wire_envelope_free(env);
    }
}

/* Heartbeat every live worker we have sent nothing for most of an interval: any message is as
 * good a sign of life to a worker (worker/link.c), so a busy worker that gets a lease every
 * few milliseconds needs no heartbeat besides. Checked four times an interval, so that no worker
 * waits much longer than an interval for a message. Also called from inside long Redis walks of
 * the loop (ps_store_set_idle), so that idle workers do not take a busy coordinator for a dead
 * one. */
static void ping_workers(struct coord *c)
{
    Poisonscan__Envelope env;
    Poisonscan__Heartbeat hb;
    uint64_t now = ps_clock_now_ms(), quiet = c->o->heartbeat_ms - c->o->heartbeat_ms / 4;

    if (now - c->last_ping < c->o->heartbeat_ms / 4)
        return;
    poisonscan__envelope__init(&env);
    poisonscan__heartbeat__init(&hb);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    for (size_t w = 0; w < ps_registry_len(c->workers); w++)
        if (wk(c, w)->alive && now - wk(c, w)->last_sent > quiet)
            ps_coord_send_to(c, w, &env);
    c->last_ping = now;
}

/* Renew the lock at most once per heartbeat interval; a lost lock stops the coordinator. */
static void keep_lock(struct coord *c)
{
    uint64_t now = ps_clock_now_ms();

    if (now - c->last_lock < c->o->heartbeat_ms || c->lock_lost)
        return;
    c->last_lock = now;
    if (!ps_coord_renew_lock(c) && !c->redis_failed && !c->resync) {
        ps_log(PS_LOG_ERROR, "coordinator",
               "lost the lock of job '%s' (another coordinator took over); stopping", c->o->job);
        c->lock_lost = true;
    }
}

void ps_coord_idle(void *ctx)
{
    ping_workers(ctx);
    keep_lock(ctx);
}

static void expire_leases(struct coord *c, uint64_t now)
{
    uint32_t ids[EXPIRE_BATCH];
    size_t n;

    while ((n = ps_lease_expired(c->leases, now, ids, EXPIRE_BATCH)) > 0)
        for (size_t i = 0; i < n; i++)
            ps_coord_lease_lost(c, ids[i], "lease expired");
}

/* Deadlines, dispatch, heartbeats, progress, the lock. Returns true when dispatch may have more
 * to send at once (a full batch went out). */
static bool tick(struct coord *c)
{
    uint64_t now = ps_clock_now_ms();
    uint64_t silence = c->o->heartbeat_ms * c->o->liveness;
    bool more;

    /* a walk over every worker and lease is for deadlines, which are seconds apart: a few times
     * a second is enough, however many messages wake the loop */
    if (now - c->last_sweep >= SWEEP_EVERY_MS) {
        for (size_t w = 0; w < ps_registry_len(c->workers); w++)
            if (wk(c, w)->alive && now - wk(c, w)->last_seen > silence)
                worker_dead(c, w, "went silent");
        expire_leases(c, now);
        c->last_sweep = now;
    }
    more = ps_coord_dispatch(c);
    ping_workers(c);
    if (now - c->last_progress >= PROGRESS_EVERY_MS) {
        set_progress(c, NULL);
        ps_coord_observe_tick(c);
        c->last_progress = now;
    }
    keep_lock(c);
    if (now - c->last_log >= LOG_EVERY_MS) {
        ps_log(PS_LOG_INFO, "coordinator", "pass %u: %zu/%zu shards finished, %zu queued", c->pass,
               ps_lease_n_finished(c->leases), c->n_shards, ps_lease_n_queued(c->leases));
        c->last_log = now;
    }
    return more;
}

/* The report is written: tell every worker, and for a little while any that calls in, that the
 * job is over. */
static void say_goodbye(struct coord *c)
{
    uint64_t until;

    for (size_t w = 0; w < ps_registry_len(c->workers); w++)
        if (wk(c, w)->alive)
            send_shutdown(c, w, "job finished");
    until = ps_clock_now_ms() + c->o->linger_ms;
    while (ps_clock_now_ms() < until && !(c->o->stop && *c->o->stop)) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 100);
        drain(c, true);
    }
}

static void log_summary(const struct coord *c, const struct ps_report_summary *sum)
{
    ps_log(PS_LOG_INFO, "coordinator",
           "job '%s' done: %" PRIu64 " documents, %" PRIu64 " errors, %" PRIu64
           " failed shards, %" PRIu64 " triggers, %" PRIu64 " flagged documents, %" PRIu64
           " suppressed by the allowlist",
           c->o->job, sum->documents, sum->errors_total, sum->shards_failed, sum->n_triggers,
           sum->n_flagged_docs, sum->n_suppressed);
}

/* A finished job's progress shows the job's totals, not the last pass's (the list pass reads
 * a few shards only). */
static void final_progress(struct coord *c, const struct ps_report_summary *sum)
{
    struct ps_errdetail ed = {0};
    char shards[24], bytes[24], docs[24];

    snprintf(shards, sizeof(shards), "%zu", c->n_shards);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, ps_plan_bytes_total(c->plan));
    snprintf(docs, sizeof(docs), "%" PRIu64, sum->documents);
    if (ps_store_cmd(c->store, NULL, &ed, "HSET", c->k_progress, "shards_done", shards,
                     "bytes_done", bytes, "docs_done", docs, NULL) != PS_OK)
        ps_coord_redis_fail(c, &ed);
}

/* The report is written (and the attribute files, when asked for): the job is over. 0. */
static int job_done(struct coord *c, const struct ps_report_summary *res_sum,
                    struct ps_report_summary *sum)
{
    if (c->pass == PS_PASS_ATTRS)
        ps_coord_note_attrs_failed(c);
    final_progress(c, res_sum);
    set_progress(c, "done");
    ps_journal_remove(c->journal); /* nothing left to reconcile */
    ps_coord_observe_done(c, res_sum);
    log_summary(c, res_sum);
    if (sum != NULL)
        *sum = *res_sum;
    say_goodbye(c);
    ps_coord_keep_job(c);
    return 0;
}

/* The collector answered. Returns -1 to go on, else the exit code of the job. */
static int collected(struct coord *c, const struct ps_collect_result *res,
                     struct ps_report_summary *sum)
{
    struct ps_errdetail ed = {0};
    bool report = c->asked == PS_COLLECT_REPORT;

    c->asked = PS_COLLECT_NONE;
    if (res->err != PS_OK && res->restarted) {
        c->resync = true; /* logged by the collector */
        return -1;
    }
    if (res->err != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", res->ed.msg);
        set_progress(c, "failed");
        return 4;
    }
    if (report && res->report_rc != 0) {
        ps_log(PS_LOG_ERROR, "coordinator", "cannot write the report: %s", res->ed.msg);
        set_progress(c, "failed");
        return res->report_rc;
    }
    if (report && res->next_pass == PS_PASS_NONE)
        return job_done(c, &res->sum, sum);
    if (report) { /* the attributes pass is next: the job is done after it */
        c->sum = res->sum;
        c->have_sum = true;
    } else if (res->next_pass == PS_PASS_NONE && c->pass == PS_PASS_ATTRS && c->have_sum) {
        return job_done(c, &c->sum, sum);
    } else if (res->next_pass == PS_PASS_NONE) {
        set_progress(c, "finalizing");
        c->asked = PS_COLLECT_REPORT;
        ps_collect_ask(c->collector, PS_COLLECT_REPORT);
        return -1;
    }
    if (ps_coord_load_job_pass(c, &ed) != PS_OK || ps_coord_load_pass(c, &ed) != PS_OK) {
        ps_coord_redis_fail(c, &ed);
        return c->resync ? -1 : 4;
    }
    ps_log(PS_LOG_INFO, "coordinator", "pass %u (%s): %zu patterns, %zu shards to read", c->pass,
           ps_pass_name(c->pass), c->cands.n, c->n_shards - ps_lease_n_finished(c->leases));
    return -1;
}

/* The loop: poll, receive, expire, dispatch, and move between passes. */
static int run_loop(struct coord *c, struct ps_report_summary *sum)
{
    bool more = false;

    for (;;) {
        zmq_pollitem_t it[2] = {{c->sock, 0, ZMQ_POLLIN, 0},
                                {NULL, ps_collect_wake_fd(c->collector), ZMQ_POLLIN, 0}};
        struct ps_collect_result res;
        int rc;

        if (c->o->stop != NULL && *c->o->stop) {
            ps_log(PS_LOG_WARN, "coordinator", "interrupted; run again with --job '%s' to resume",
                   c->o->job);
            return 4;
        }
        if (c->resync && !c->redis_failed && !c->lock_lost && (rc = ps_coord_resync(c)) >= 0)
            return rc;
        if (c->redis_failed || c->lock_lost)
            return 4;
        if (ps_collect_poll(c->collector, &res) && (rc = collected(c, &res, sum)) >= 0)
            return rc;
        if (c->asked == PS_COLLECT_NONE && ps_lease_n_finished(c->leases) == c->n_shards) {
            c->asked = PS_COLLECT_PASS_END;
            ps_collect_ask(c->collector, PS_COLLECT_PASS_END);
        }
        /* with ten thousand workers a tick may fill its batch: then do not wait for a message */
        if (zmq_poll(it, 2, more ? 0 : (long)(c->o->heartbeat_ms / 4 + 1)) < 0 &&
            zmq_errno() != EINTR) {
            ps_log(PS_LOG_ERROR, "coordinator", "zmq_poll: %s", zmq_strerror(zmq_errno()));
            return 4;
        }
        drain(c, false);
        more = tick(c);
    }
}

enum ps_err ps_coordinator_opts_check(const struct ps_coordinator_opts *o, struct ps_errdetail *ed)
{
    if (o->n_redis == 0 || o->n_redis > PS_PARTITION_MAX) {
        ps_errdetail_set(ed, NULL, 0, "--redis: from 1 to %u endpoints, not %zu", PS_PARTITION_MAX,
                         o->n_redis);
        return PS_ERR_USAGE;
    }
    if (o->partitions == 0 || o->partitions > PS_PARTITION_MAX ||
        (o->partitions & (o->partitions - 1)) != 0 || o->partitions < o->n_redis) {
        ps_errdetail_set(ed, NULL, 0,
                         "--partitions %u: a power of two from 1 to %u, and at least the %zu "
                         "Redis endpoints",
                         o->partitions, PS_PARTITION_MAX, o->n_redis);
        return PS_ERR_USAGE;
    }
    /* the journal's path, "<dir>/<job>.journal", must fit a path */
    if (o->state_dir != NULL &&
        (o->state_dir[0] == '\0' || strlen(o->state_dir) + PS_STORE_JOB_MAX + 16 > 4096)) {
        ps_errdetail_set(ed, NULL, 0, "--state-dir: a directory path of 1 to %d bytes",
                         4096 - PS_STORE_JOB_MAX - 16);
        return PS_ERR_USAGE;
    }
    if (o->since != NULL &&
        (!ps_store_job_valid(o->since) || (o->job != NULL && strcmp(o->since, o->job) == 0))) {
        ps_errdetail_set(ed, NULL, 0,
                         "--since '%s': the id of an earlier job, [A-Za-z0-9._-]{1,64}, not this "
                         "job's own",
                         o->since);
        return PS_ERR_USAGE;
    }
    /* signature files are written in pass 1 and named by shard id: a rescan would read the old
     * files' shards under new ids and leave the base's files where they were */
    if (o->since != NULL && o->signatures_dir != NULL && o->signatures_dir[0] != '\0') {
        ps_errdetail_set(ed, NULL, 0,
                         "--since and --signatures do not go together: pass 1 of a rescan does "
                         "not read the files whose signatures the base job wrote");
        return PS_ERR_USAGE;
    }
    if (o->attributes_dir != NULL &&
        (o->attributes_dir[0] == '\0' || strlen(o->attributes_dir) > PS_COORD_ATTRIBUTES_DIR_MAX)) {
        ps_errdetail_set(ed, NULL, 0, "--attributes: a directory path of 1 to %d bytes",
                         PS_COORD_ATTRIBUTES_DIR_MAX);
        return PS_ERR_USAGE;
    }
    if (o->cluster_sketch_log2 != 0 && (o->cluster_sketch_log2 < PS_CLSKETCH_LOG2_MIN ||
                                        o->cluster_sketch_log2 > PS_CLSKETCH_LOG2_MAX)) {
        ps_errdetail_set(ed, NULL, 0,
                         "--cluster-sketch-log2 %u: 0 (sized from the corpus) or %u to %u",
                         o->cluster_sketch_log2, PS_CLSKETCH_LOG2_MIN, PS_CLSKETCH_LOG2_MAX);
        return PS_ERR_USAGE;
    }
    return PS_OK;
}

/* An output folder of the workers made and resolved: workers on other machines write there, so
 * the path must mean the same everywhere. NULL (and `ed`) when it cannot be made. */
static char *worker_dir(const char *dir, const char *flag, struct ps_errdetail *ed)
{
    char abs[4096];

    if (ps_file_mkdirs(dir, ed) != PS_OK || realpath(dir, abs) == NULL) {
        char why[sizeof(ed->msg)];
        snprintf(why, sizeof(why), "%s", ed->msg[0] ? ed->msg : strerror(errno));
        ps_errdetail_set(ed, NULL, 0, "%s '%s': %.150s", flag, dir, why);
        return NULL;
    }
    return ps_xstrdup(abs);
}

/* ps_coordinator_opts_check, then the workers' output folders made and resolved. 0 or 3. */
static int check_opts(struct coord *c, struct ps_errdetail *ed)
{
    const struct ps_coordinator_opts *o = c->o;

    if (ps_coordinator_opts_check(o, ed) != PS_OK)
        return 3;
    c->partitions = o->partitions;
    if (o->signatures_dir != NULL && o->signatures_dir[0] != '\0' &&
        (c->signatures_dir = worker_dir(o->signatures_dir, "--signatures", ed)) == NULL)
        return 3;
    if (o->attributes_dir != NULL &&
        (c->attributes_dir = worker_dir(o->attributes_dir, "--attributes", ed)) == NULL)
        return 3;
    return 0;
}

/* Lock the job, say who holds it, open it and load the pass it is in. 0, 3 or 4. */
static int start_job(struct coord *c, struct ps_errdetail *ed)
{
    char host[256] = "unknown", who[600];
    int rc;

    switch (ps_coord_lock(c, ed)) {
    case PS_OK:
        break;
    case PS_ERR_USAGE:
        return 3;
    default:
        return 4;
    }
    gethostname(host, sizeof(host) - 1);
    snprintf(who, sizeof(who), "%s pid %d", host, (int)getpid());
    if (ps_store_cmd(c->store, NULL, ed, "HSET", c->k_meta, "locked_by", who, NULL) != PS_OK)
        return 4;
    ps_store_set_idle(c->store, ps_coord_idle, c);
    rc = ps_coord_open_job(c, ed);
    if (rc == 0)
        rc = ps_coord_check_attributes_dir(c, ed);
    if (rc == 0)
        rc = ps_coord_open_record(c, ed);
    if (rc != 0)
        return rc;
    ps_lease_table_new(&c->leases, c->n_shards);
    /* a journal that knows of commits Redis lost (both restarted): name them, they run again */
    if (ps_coord_load_job_pass(c, ed) != PS_OK || ps_coord_load_pass(c, ed) != PS_OK ||
        ps_coord_note_lost(c, ed) != PS_OK ||
        ps_collect_start(&c->collector, c, c->pass, ed) != PS_OK)
        return 4;
    return 0;
}

static int bind_socket(struct coord *c, struct ps_errdetail *ed)
{
    char bound[PS_WIRE_ENDPOINT_CAP], line[PS_WIRE_ENDPOINT_CAP + 2];

    c->zctx = zmq_ctx_new();
    /* before the bind: a CURVE socket with no ZAP handler in its context admits every key */
    if (c->zctx != NULL && c->o->security.curve &&
        ps_zap_start(&c->zap, c->zctx, &c->o->zap, ed) != PS_OK)
        return 4;
    if (c->zctx == NULL || ps_wire_router_bind(c->zctx, c->o->bind, &c->o->security, &c->lim,
                                               &c->sock, bound, sizeof(bound), ed) != PS_OK) {
        char why[sizeof(ed->msg)];
        snprintf(why, sizeof(why), "%s", ed->msg);
        ps_errdetail_set(ed, NULL, 0, "cannot bind '%s': %.150s", c->o->bind, why);
        return 4;
    }
    snprintf(line, sizeof(line), "%s\n", bound);
    if (c->o->endpoint_file != NULL &&
        ps_file_write_atomic(c->o->endpoint_file, line, strlen(line), ed) != PS_OK)
        return 3;
    ps_log(PS_LOG_INFO, "coordinator", "job '%s': %zu shards, %zu files, listening on '%s'",
           c->o->job, c->n_shards, ps_plan_n_files(c->plan), bound);
    return 0;
}

int ps_coordinator_run(const struct ps_coordinator_opts *o, struct ps_report_summary *sum)
{
    struct coord c = {0};
    struct ps_errdetail ed = {0};
    enum ps_err err;
    int rc;

    c.o = o;
    c.lim = ps_wire_limits_coordinator();
    ps_patlist_init(&c.cands);
    ps_coord_dispatch_init(&c);
    ps_registry_new(&c.workers);
    ps_store_key(c.k_meta, sizeof(c.k_meta), o->job, PS_KEY_META);
    ps_store_key(c.k_progress, sizeof(c.k_progress), o->job, PS_KEY_PROGRESS);
    ps_store_key(c.k_leases, sizeof(c.k_leases), o->job, PS_KEY_LEASES);
    ps_store_key(c.k_lock, sizeof(c.k_lock), o->job, PS_KEY_LOCK);
    poisonscan__scan_settings__init(&c.settings);
    rc = check_opts(&c, &ed);
    if (rc == 0 && (err = ps_coord_observe_start(&c, &ed)) != PS_OK)
        rc = err == PS_ERR_USAGE ? 3 : 4;
    if (rc == 0 && ps_store_connect(&c.store, &o->redis[0], o->redis_retry_ms, &ed) != PS_OK)
        rc = 4;
    if (rc == 0)
        ps_store_set_restart_guard(c.store, true); /* see ps_coord_redis_fail */
    if (rc == 0)
        rc = start_job(&c, &ed);
    if (rc == 0)
        rc = bind_socket(&c, &ed);
    if (rc != 0) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
    } else {
        set_progress(&c, c.pass == PS_PASS_SCAN    ? "running"
                         : c.pass == PS_PASS_ATTRS ? "attributes"
                                                   : "confirming");
        rc = run_loop(&c, sum);
    }
    ps_collect_stop(c.collector);
    ps_coord_observe_stop(&c);
    if (c.store != NULL)
        ps_coord_unlock(&c);
    if (c.sock != NULL)
        zmq_close(c.sock);
    ps_zap_stop(c.zap); /* only now: while the socket was open, it had to be there */
    if (c.zctx != NULL)
        zmq_ctx_term(c.zctx);
    ps_plan_free(c.plan);
    ps_store_free(c.store);
    ps_lease_table_free(c.leases);
    ps_journal_free(c.journal);
    ps_registry_free(c.workers);
    ps_patlist_release(&c.cands);
    ps_coord_dispatch_free(&c);
    free(c.gave_back);
    free(c.done);
    free(c.signatures_dir);
    free(c.attributes_dir);
    free(c.attrs_dir);
    ps_attrset_free(c.attrs);
    free(c.scan_json);
    free(c.settings_json);
    return rc;
}
