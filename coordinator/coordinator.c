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
#include "coordinator/coordinator_internal.h"

#define PROGRESS_EVERY_MS 1000
#define LOG_EVERY_MS      10000
#define EXPIRE_BATCH      256
#define SWEEP_EVERY_MS    50
#define DISPATCH_BATCH    1024 /* leases a tick at most */

void ps_coord_redis_fail(struct coord *c, const struct ps_errdetail *ed)
{
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

static void fail_shard(struct coord *c, uint32_t id, const char *reason)
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
static void lease_lost(struct coord *c, uint32_t id, const char *why)
{
    char reason[256];
    uint32_t attempts = ps_lease_attempts(c->leases, id);

    if (ps_lease_state(c->leases, id) != PS_LEASE_LEASED)
        return;
    if (attempts >= c->o->max_attempts) {
        snprintf(reason, sizeof(reason), "%s after %u attempts", why, attempts);
        fail_shard(c, id, reason);
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
            lease_lost(c, ids[i], "worker lost");
}

static enum ps_err send_to(struct coord *c, size_t w, const Poisonscan__Envelope *env)
{
    struct ps_errdetail ed = {0};
    enum ps_err err = ps_wire_send_router(c->sock, wk(c, w)->id, wk(c, w)->id_len, env, &ed);

    if (err == PS_ERR_PROTO) {
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
    send_to(c, w, &env);
}

/* A worker that has credit waits in the ready queue (once), so that dispatch never walks every
 * worker: with ten thousand workers most have none. */
static void make_ready(struct coord *c, size_t w)
{
    struct ps_worker_rec *r = wk(c, w);

    if (r->ready || !r->alive || r->credit == 0)
        return;
    if (c->n_ready == c->cap_ready) {
        size_t cap = c->cap_ready ? c->cap_ready * 2 : 64;
        size_t *q = ps_xmalloc(cap * sizeof(*q));
        for (size_t i = 0; i < c->n_ready; i++)
            q[i] = c->ready[(c->ready_head + i) % c->cap_ready];
        free(c->ready);
        c->ready = q;
        c->cap_ready = cap;
        c->ready_head = 0;
    }
    c->ready[(c->ready_head + c->n_ready++) % c->cap_ready] = w;
    r->ready = true;
}

static bool next_ready(struct coord *c, size_t *w)
{
    while (c->n_ready > 0) {
        *w = c->ready[c->ready_head];
        c->ready_head = (c->ready_head + 1) % c->cap_ready;
        c->n_ready--;
        wk(c, *w)->ready = false;
        if (wk(c, *w)->alive && wk(c, *w)->credit > 0)
            return true;
    }
    return false;
}

/* One lease to worker w, whose grant (attempt, deadline) is recorded already. The pattern list
 * goes along until the worker has confirmed holding it (a result for a lease that carried it):
 * with a thousand patterns and thousands of shards, sending it once a worker saves gigabytes. */
static void send_lease(struct coord *c, size_t w, uint32_t id, uint32_t attempt)
{
    Poisonscan__Envelope env;
    Poisonscan__Lease lease;
    const struct ps_shard *s = ps_plan_shard(c->plan, id);
    char job[PS_STORE_JOB_MAX + 1], path[4096];
    bool with_list = ps_pass_has_candidates(c->pass) && wk(c, w)->patterns_held != c->cands_id;
    struct ps_format fmt;

    poisonscan__envelope__init(&env);
    poisonscan__lease__init(&lease);
    snprintf(job, sizeof(job), "%s", c->o->job);
    snprintf(path, sizeof(path), "%s", s->path);
    lease.job_id = job;
    lease.pass = c->pass;
    lease.shard_id = id;
    lease.attempt = attempt;
    lease.path = path;
    lease.begin = s->begin;
    lease.end = s->end;
    if (!ps_format_from_code(s->format, &fmt))
        ps_bug("shard %u has format code %d", id, s->format);
    lease.format = (Poisonscan__ShardFormat)fmt.container;
    lease.layout = (Poisonscan__InputLayout)fmt.layout;
    lease.record = (Poisonscan__RecordShape)fmt.record;
    lease.settings = &c->settings;
    lease.patterns_id = ps_pass_has_candidates(c->pass) ? c->cands_id : 0;
    if (with_list) {
        lease.n_candidates = c->cands.n;
        lease.candidates = c->cands.texts;
        lease.leads_from = (uint32_t)(c->pass == PS_PASS_LIST ? c->cands.leads_from : 0);
        if (c->pass == PS_PASS_CONFIRM || c->pass == PS_PASS_LEADS || c->pass == PS_PASS_LIST) {
            lease.n_sample_below = c->cands.n;
            lease.sample_below = c->cands.sample_below;
        }
        wk(c, w)->patterns_sent = c->cands_id;
    }
    lease.lease_ms = (uint32_t)c->o->lease_timeout_ms;
    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &lease;
    ps_log(PS_LOG_DEBUG, "coordinator", "lease shard %u attempt %u to '%s'", id, attempt,
           wk(c, w)->name);
    switch (send_to(c, w, &env)) {
    case PS_OK:
        break;
    case PS_ERR_PROTO:
        wk(c, w)->credit++;
        fail_shard(c, id, "lease cannot be encoded (is the path valid UTF-8?)");
        break;
    default:
        lease_lost(c, id, "lease could not be sent");
        break;
    }
}

/* Lease queued shards to ready workers, DISPATCH_BATCH at most a tick: the attempt numbers and
 * the lease records go to Redis in one round trip before any lease leaves (an attempt number is
 * never reused, even by a restarted coordinator), then the leases go out. */
static void dispatch(struct coord *c)
{
    struct grant {
        size_t w;
        uint32_t id, attempt;
    } *g = c->grants; /* DISPATCH_BATCH of them: ps_coordinator_run sizes the scratch */
    size_t n = 0, a = 2, b = 2;
    uint64_t now = ps_clock_now_ms(), until = ps_clock_unix_s() * 1000 + c->o->lease_timeout_ms;
    char key[256];
    struct ps_errdetail ed = {0};
    size_t w;
    uint32_t id;

    while (n < DISPATCH_BATCH && ps_lease_n_queued(c->leases) > 0 && next_ready(c, &w)) {
        while (wk(c, w)->credit > 0 && n < DISPATCH_BATCH && ps_lease_dequeue(c->leases, &id)) {
            g[n].w = w;
            g[n].id = id;
            g[n].attempt = ps_lease_attempts(c->leases, id) + 1;
            ps_lease_grant(c->leases, id, w, g[n].attempt, now + c->o->lease_timeout_ms);
            wk(c, w)->credit--;
            n++;
        }
        make_ready(c, w);
    }
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char *f = c->fields[i], *av = c->fields[i] + 16, *lv = c->fields[i] + 32;
        snprintf(f, 16, "%u", g[i].id);
        snprintf(av, 16, "%u", g[i].attempt);
        snprintf(lv, sizeof(c->fields[0]) - 32, "%s %u %" PRIu64 " %u", wk(c, g[i].w)->name,
                 g[i].attempt, until, (unsigned)c->pass);
        c->attempts_argv[a] = f;
        c->attempts_lens[a++] = strlen(f);
        c->attempts_argv[a] = av;
        c->attempts_lens[a++] = strlen(av);
        c->leases_argv[b] = f;
        c->leases_lens[b++] = strlen(f);
        c->leases_argv[b] = lv;
        c->leases_lens[b++] = strlen(lv);
    }
    ps_coord_pass_key(c, key, sizeof(key), PS_KEY_ATTEMPTS, c->pass);
    c->attempts_argv[0] = c->leases_argv[0] = "HSET";
    c->attempts_lens[0] = c->leases_lens[0] = 4;
    c->attempts_argv[1] = key;
    c->attempts_lens[1] = strlen(key);
    c->leases_argv[1] = c->k_leases;
    c->leases_lens[1] = strlen(c->k_leases);
    {
        const char *const *argv[2] = {c->attempts_argv, c->leases_argv};
        const size_t *lens[2] = {c->attempts_lens, c->leases_lens};
        int argc[2] = {(int)a, (int)b};
        if (ps_store_transaction(c->store, 2, argc, argv, lens, &ed) != PS_OK) {
            /* nothing may leave without its attempt number on record */
            ps_coord_redis_fail(c, &ed);
            return;
        }
    }
    for (size_t i = 0; i < n; i++)
        send_lease(c, g[i].w, g[i].id, g[i].attempt);
}

static void on_result(struct coord *c, size_t w, const Poisonscan__ShardResult *res)
{
    struct ps_errdetail ed = {0};
    char f[16];

    wk(c, w)->credit++;
    if (wk(c, w)->patterns_sent != 0) {
        /* it answered a lease that carried the list: it holds it now */
        wk(c, w)->patterns_held = wk(c, w)->patterns_sent;
        wk(c, w)->patterns_sent = 0;
    }
    make_ready(c, w);
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
            lease_lost(c, res->shard_id, res->error);
        else
            fail_shard(c, res->shard_id, res->error);
        return;
    }
    if (res->error[0] != '\0')
        ps_log(PS_LOG_ERROR, "coordinator", "shard %u: %s", res->shard_id, res->error);
    ps_lease_finish(c->leases, res->shard_id, PS_LEASE_DONE);
    ps_collect_merge(c->collector, res->shard_id);
    snprintf(f, sizeof(f), "%u", res->shard_id);
    if (ps_store_cmd(c->store, NULL, &ed, "HDEL", c->k_leases, f, NULL) != PS_OK)
        ps_coord_redis_fail(c, &ed);
}

static void on_message(struct coord *c, const char *peer, size_t peer_len,
                       const Poisonscan__Envelope *env)
{
    bool known;
    size_t w = ps_registry_find_or_add(c->workers, peer, peer_len, &known);
    struct ps_worker_rec *r = wk(c, w);

    r->last_seen = ps_clock_now_ms();
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
    make_ready(c, w);
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

/* Heartbeat every live worker once per interval; also called from inside long Redis walks of
 * the loop (ps_store_set_idle), so that idle workers do not take a busy coordinator for a dead
 * one. */
static void ping_workers(struct coord *c)
{
    Poisonscan__Envelope env;
    Poisonscan__Heartbeat hb;
    uint64_t now = ps_clock_now_ms();

    if (now - c->last_ping < c->o->heartbeat_ms)
        return;
    poisonscan__envelope__init(&env);
    poisonscan__heartbeat__init(&hb);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    for (size_t w = 0; w < ps_registry_len(c->workers); w++)
        if (wk(c, w)->alive)
            send_to(c, w, &env);
    c->last_ping = now;
}

/* Renew the lock at most once per heartbeat interval; a lost lock stops the coordinator. */
static void keep_lock(struct coord *c)
{
    uint64_t now = ps_clock_now_ms();

    if (now - c->last_lock < c->o->heartbeat_ms || c->lock_lost)
        return;
    c->last_lock = now;
    if (!ps_coord_renew_lock(c) && !c->redis_failed) {
        ps_log(PS_LOG_ERROR, "coordinator",
               "lost the lock of job '%s' (another coordinator took over); stopping", c->o->job);
        c->lock_lost = true;
    }
}

static void on_idle(void *ctx)
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
            lease_lost(c, ids[i], "lease expired");
}

static void tick(struct coord *c)
{
    uint64_t now = ps_clock_now_ms();
    uint64_t silence = c->o->heartbeat_ms * c->o->liveness;

    /* a walk over every worker and lease is for deadlines, which are seconds apart: a few times
     * a second is enough, however many messages wake the loop */
    if (now - c->last_sweep >= SWEEP_EVERY_MS) {
        for (size_t w = 0; w < ps_registry_len(c->workers); w++)
            if (wk(c, w)->alive && now - wk(c, w)->last_seen > silence)
                worker_dead(c, w, "went silent");
        expire_leases(c, now);
        c->last_sweep = now;
    }
    dispatch(c);
    ping_workers(c);
    if (now - c->last_progress >= PROGRESS_EVERY_MS) {
        set_progress(c, NULL);
        c->last_progress = now;
    }
    keep_lock(c);
    if (now - c->last_log >= LOG_EVERY_MS) {
        ps_log(PS_LOG_INFO, "coordinator", "pass %u: %zu/%zu shards finished, %zu queued", c->pass,
               ps_lease_n_finished(c->leases), c->n_shards, ps_lease_n_queued(c->leases));
        c->last_log = now;
    }
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

/* The collector answered. Returns -1 to go on, else the exit code of the job. */
static int collected(struct coord *c, const struct ps_collect_result *res,
                     struct ps_report_summary *sum)
{
    struct ps_errdetail ed = {0};
    bool report = c->asked == PS_COLLECT_REPORT;

    c->asked = PS_COLLECT_NONE;
    if (res->err != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", res->ed.msg);
        set_progress(c, "failed");
        return 4;
    }
    if (report) {
        if (res->report_rc != 0) {
            ps_log(PS_LOG_ERROR, "coordinator", "cannot write the report: %s", res->ed.msg);
            set_progress(c, "failed");
            return res->report_rc;
        }
        final_progress(c, &res->sum);
        set_progress(c, "done");
        log_summary(c, &res->sum);
        if (sum != NULL)
            *sum = res->sum;
        say_goodbye(c);
        return 0;
    }
    if (res->next_pass == PS_PASS_NONE) {
        set_progress(c, "finalizing");
        c->asked = PS_COLLECT_REPORT;
        ps_collect_ask(c->collector, PS_COLLECT_REPORT);
        return -1;
    }
    if (ps_coord_load_job_pass(c, &ed) != PS_OK || ps_coord_load_pass(c, &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
        return 4;
    }
    ps_log(PS_LOG_INFO, "coordinator", "pass %u (%s): %zu patterns, %zu shards to read", c->pass,
           ps_pass_name(c->pass), c->cands.n, c->n_shards - ps_lease_n_finished(c->leases));
    return -1;
}

/* The loop: poll, receive, expire, dispatch, and move between passes. */
static int run_loop(struct coord *c, struct ps_report_summary *sum)
{
    for (;;) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        struct ps_collect_result res;
        int rc;

        if (c->o->stop != NULL && *c->o->stop) {
            ps_log(PS_LOG_WARN, "coordinator", "interrupted; run again with --job '%s' to resume",
                   c->o->job);
            return 4;
        }
        if (c->redis_failed || c->lock_lost)
            return 4;
        if (ps_collect_poll(c->collector, &res) && (rc = collected(c, &res, sum)) >= 0)
            return rc;
        if (c->asked == PS_COLLECT_NONE && ps_lease_n_finished(c->leases) == c->n_shards) {
            c->asked = PS_COLLECT_PASS_END;
            ps_collect_ask(c->collector, PS_COLLECT_PASS_END);
        }
        if (zmq_poll(&it, 1, (long)(c->o->heartbeat_ms / 4 + 1)) < 0 && zmq_errno() != EINTR) {
            ps_log(PS_LOG_ERROR, "coordinator", "zmq_poll: %s", zmq_strerror(zmq_errno()));
            return 4;
        }
        drain(c, false);
        tick(c);
    }
}

/* Options that only the coordinator checks (the rest are checked by the CLI). 0 or 3. */
static int check_opts(struct coord *c, struct ps_errdetail *ed)
{
    const struct ps_coordinator_opts *o = c->o;

    if (o->n_redis == 0 || o->n_redis > PS_PARTITION_MAX) {
        ps_errdetail_set(ed, NULL, 0, "from 1 to %u Redis endpoints, not %zu", PS_PARTITION_MAX,
                         o->n_redis);
        return 3;
    }
    if (o->partitions == 0 || o->partitions > PS_PARTITION_MAX ||
        (o->partitions & (o->partitions - 1)) != 0 || o->partitions < o->n_redis) {
        ps_errdetail_set(ed, NULL, 0,
                         "--partitions %u: a power of two from 1 to %u, and at least the %zu "
                         "Redis endpoints",
                         o->partitions, PS_PARTITION_MAX, o->n_redis);
        return 3;
    }
    c->partitions = o->partitions;
    if (o->cluster_sketch_log2 != 0 && (o->cluster_sketch_log2 < PS_CLSKETCH_LOG2_MIN ||
                                        o->cluster_sketch_log2 > PS_CLSKETCH_LOG2_MAX)) {
        ps_errdetail_set(ed, NULL, 0, "--cluster-sketch-log2 %u: 0 or %u..%u",
                         o->cluster_sketch_log2, PS_CLSKETCH_LOG2_MIN, PS_CLSKETCH_LOG2_MAX);
        return 3;
    }
    if (o->signatures_dir != NULL && o->signatures_dir[0] != '\0') {
        char abs[4096];
        if (o->signature_k < 16 || o->signature_k > 1024 || o->signature_k % 16 != 0) {
            ps_errdetail_set(ed, NULL, 0,
                             "--signature-k %u: must be a multiple of 16 from 16 to 1024",
                             o->signature_k);
            return 3;
        }
        /* workers on other machines write there: the path must mean the same everywhere */
        if (ps_file_mkdirs(o->signatures_dir, ed) != PS_OK ||
            realpath(o->signatures_dir, abs) == NULL) {
            char why[sizeof(ed->msg)];
            snprintf(why, sizeof(why), "%s", ed->msg[0] ? ed->msg : strerror(errno));
            ps_errdetail_set(ed, NULL, 0, "--signatures '%s': %.150s", o->signatures_dir, why);
            return 3;
        }
        c->signatures_dir = ps_xstrdup(abs);
    }
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
    ps_store_set_idle(c->store, on_idle, c);
    rc = ps_coord_open_job(c, ed);
    if (rc != 0)
        return rc;
    ps_lease_table_new(&c->leases, c->n_shards);
    if (ps_coord_load_job_pass(c, ed) != PS_OK || ps_coord_load_pass(c, ed) != PS_OK ||
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
    int rc;

    c.o = o;
    c.lim = ps_wire_limits_coordinator();
    ps_patlist_init(&c.cands);
    c.grants = ps_xcalloc(DISPATCH_BATCH, 2 * sizeof(uint64_t) + sizeof(size_t));
    c.fields = ps_xcalloc(DISPATCH_BATCH, sizeof(*c.fields));
    c.attempts_argv = ps_xcalloc(2 + 2 * DISPATCH_BATCH, sizeof(*c.attempts_argv));
    c.leases_argv = ps_xcalloc(2 + 2 * DISPATCH_BATCH, sizeof(*c.leases_argv));
    c.attempts_lens = ps_xcalloc(2 + 2 * DISPATCH_BATCH, sizeof(*c.attempts_lens));
    c.leases_lens = ps_xcalloc(2 + 2 * DISPATCH_BATCH, sizeof(*c.leases_lens));
    ps_registry_new(&c.workers);
    ps_store_key(c.k_meta, sizeof(c.k_meta), o->job, PS_KEY_META);
    ps_store_key(c.k_progress, sizeof(c.k_progress), o->job, PS_KEY_PROGRESS);
    ps_store_key(c.k_leases, sizeof(c.k_leases), o->job, PS_KEY_LEASES);
    ps_store_key(c.k_lock, sizeof(c.k_lock), o->job, PS_KEY_LOCK);
    poisonscan__scan_settings__init(&c.settings);
    rc = check_opts(&c, &ed);
    if (rc == 0 && ps_store_connect(&c.store, &o->redis[0], o->redis_retry_ms, &ed) != PS_OK)
        rc = 4;
    if (rc == 0)
        rc = start_job(&c, &ed);
    if (rc == 0)
        rc = bind_socket(&c, &ed);
    if (rc != 0) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
    } else {
        set_progress(&c, c.pass != PS_PASS_SCAN ? "confirming" : "running");
        rc = run_loop(&c, sum);
    }
    ps_collect_stop(c.collector);
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
    ps_registry_free(c.workers);
    ps_patlist_release(&c.cands);
    free(c.grants);
    free(c.fields);
    free(c.attempts_argv);
    free(c.leases_argv);
    free(c.attempts_lens);
    free(c.leases_lens);
    free(c.ready);
    free(c.signatures_dir);
    return rc;
}
