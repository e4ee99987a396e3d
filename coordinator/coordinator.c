/* coordinator.c - the coordinator loop (Paranoid Pirate queue side, zguide ch. 4): workers ask
 * with credit, every lease has a deadline that heartbeats extend, an expired lease goes out
 * again under a new attempt number, and a result counts only from the lease's current holder.
 * Exactly-once counting does not rest on this bookkeeping: the workers' commit script does. */
/* realpath() is XSI */
#define _XOPEN_SOURCE 700
#include "coordinator/coordinator.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/u64set.h"
#include "common/wire.h"
#include "common/clsketch.h"
#include "coordinator/clusters.h"
#include "coordinator/plan.h"

#define PROGRESS_EVERY_MS 1000
#define LOG_EVERY_MS      10000

enum shard_status { SH_PENDING, SH_LEASED, SH_DONE, SH_FAILED };

struct shard {
    uint8_t status;
    uint32_t attempts;      /* dispatched so far in this pass, across coordinator restarts */
    uint32_t lease_attempt; /* the attempt the current lease carries */
    size_t worker;          /* index of the holder while leased */
    uint64_t deadline;
};

struct wk {
    char id[PS_WIRE_ROUTING_ID_MAX + 1];
    size_t id_len;
    char name[2 * PS_WIRE_ROUTING_ID_MAX + 8]; /* printable */
    uint64_t last_seen;
    uint32_t credit;
    bool alive;
};

struct coord {
    const struct ps_coordinator_opts *o;
    struct ps_store *store;
    struct ps_plan *plan;
    size_t n_shards;
    struct shard *sh;
    uint32_t *queue; /* ring of pending shard ids */
    size_t q_head, q_len;
    struct wk *workers;
    size_t n_workers, cap_workers;
    void *zctx, *sock;
    struct ps_wire_limits lim;
    unsigned pass;
    uint64_t *cands;
    size_t n_cands;
    ProtobufCBinaryData *cand_texts; /* pass 2: the candidates' texts, for the leases */
    size_t n_cand_texts;
    struct ps_buf cand_arena; /* ... which point into this */
    size_t n_finished;        /* done or failed in this pass */
    char k_meta[256], k_progress[256], k_leases[256], k_lock[256];
    char lock_token[PS_WIRE_ROUTING_ID_CAP];
    bool locked;
    char scan_json[1024], settings_json[2048];
    uint64_t fingerprint;
    Poisonscan__ScanSettings settings;
    uint64_t last_progress, last_log, last_ping, last_lock;
    bool redis_failed;
    bool lock_lost;
    char *signatures_dir;  /* absolute, created at start; NULL when off */
    unsigned cluster_log2; /* sketch size of the job, 0 = no clusters */
    bool clusters_pending; /* pass 1 found heavy cells: pass 2 must run for them */
};

static void redis_fail(struct coord *c, const struct ps_errdetail *ed)
{
    ps_log(PS_LOG_ERROR, "coordinator", "%s", ed->msg);
    c->redis_failed = true;
}

static void pkey(struct coord *c, char *dst, size_t cap, const char *base, unsigned pass)
{
    ps_store_pass_key(dst, cap, c->o->job, base, pass);
}

/* One coordinator per job. The lock is a key with a TTL of a few heartbeats that the holder
 * renews every second; a coordinator killed outright frees it within the TTL, and a successor
 * (a restarted pod, a second operator by mistake) waits that long for it rather than running a
 * second dispatcher on the same shards. */
static uint64_t lock_ttl_ms(const struct coord *c)
{
    return c->o->heartbeat_ms * c->o->liveness * 2;
}

static enum ps_err lock_job(struct coord *c, struct ps_errdetail *ed)
{
    char ttl[24];
    uint64_t give_up = ps_clock_now_ms() + lock_ttl_ms(c) + c->o->heartbeat_ms;
    bool waited = false;

    snprintf(ttl, sizeof(ttl), "%" PRIu64, lock_ttl_ms(c));
    ps_wire_make_routing_id(c->lock_token, sizeof(c->lock_token));
    for (;;) {
        struct ps_store_reply *r;
        struct ps_buf holder;
        bool found;
        enum ps_err err =
            ps_store_cmd(c->store, &r, ed, "SET", c->k_lock, c->lock_token, "NX", "PX", ttl, NULL);
        if (err != PS_OK)
            return err;
        c->locked = ps_store_reply_type(r) == PS_STORE_STR;
        ps_store_reply_free(r);
        if (c->locked)
            return PS_OK;
        ps_buf_init(&holder, 512);
        err = ps_store_hget(c->store, c->k_meta, "locked_by", &holder, &found, ed);
        if (err != PS_OK || ps_clock_now_ms() > give_up) {
            if (err == PS_OK)
                ps_errdetail_set(ed, NULL, 0,
                                 "job '%s' is being run by another coordinator ('%s'); stop it "
                                 "or use another --job",
                                 c->o->job, holder.data ? holder.data : "unknown");
            ps_buf_release(&holder);
            return err != PS_OK ? err : PS_ERR_USAGE;
        }
        ps_buf_release(&holder);
        if (!waited)
            ps_log(PS_LOG_INFO, "coordinator",
                   "job '%s' is locked by another coordinator; waiting up to %" PRIu64
                   " ms for its lock to expire",
                   c->o->job, lock_ttl_ms(c) + c->o->heartbeat_ms);
        waited = true;
        ps_clock_sleep_ms(200);
    }
}

/* Renew the lock if it is still ours (a Lua check-and-extend); false if it was lost. */
static bool renew_lock(struct coord *c)
{
    static const char lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                              "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
    struct ps_store_reply *r;
    struct ps_errdetail ed = {0};
    char ttl[24];
    bool ok;

    snprintf(ttl, sizeof(ttl), "%" PRIu64, lock_ttl_ms(c));
    if (ps_store_cmd(c->store, &r, &ed, "EVAL", lua, "1", c->k_lock, c->lock_token, ttl, NULL) !=
        PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
        c->redis_failed = true;
        return false;
    }
    ok = ps_store_reply_int(r) == 1;
    ps_store_reply_free(r);
    return ok;
}

static void unlock_job(struct coord *c)
{
    static const char lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                              "return redis.call('DEL', KEYS[1]) else return 0 end";

    if (c->locked)
        ps_store_cmd(c->store, NULL, NULL, "EVAL", lua, "1", c->k_lock, c->lock_token, NULL);
    c->locked = false;
}

static void enqueue(struct coord *c, uint32_t id)
{
    c->queue[(c->q_head + c->q_len) % c->n_shards] = id;
    c->q_len++;
}

static bool dequeue(struct coord *c, uint32_t *id)
{
    if (c->q_len == 0)
        return false;
    *id = c->queue[c->q_head];
    c->q_head = (c->q_head + 1) % c->n_shards;
    c->q_len--;
    return true;
}

static void set_progress(struct coord *c, const char *state)
{
    struct ps_errdetail ed = {0};
    char now[24], workers[24], pass[8];
    size_t alive = 0;

    for (size_t i = 0; i < c->n_workers; i++)
        alive += c->workers[i].alive;
    snprintf(now, sizeof(now), "%" PRIu64, ps_clock_unix_s());
    snprintf(workers, sizeof(workers), "%zu", alive);
    snprintf(pass, sizeof(pass), "%u", c->pass);
    if (ps_store_cmd(c->store, NULL, &ed, "HSET", c->k_progress, "updated_at", now, "workers",
                     workers, "pass", pass, state ? "state" : NULL, state, NULL) != PS_OK)
        redis_fail(c, &ed);
}

static void fail_shard(struct coord *c, uint32_t id, const char *reason)
{
    struct ps_errdetail ed = {0};
    char key[256], f[16];
    const struct ps_shard *s = ps_plan_shard(c->plan, id);

    ps_log(PS_LOG_ERROR, "coordinator", "shard %u ('%s' [%" PRIu64 ", %" PRIu64 ")) failed: %s", id,
           s->path, s->begin, s->end, reason);
    c->sh[id].status = SH_FAILED;
    c->n_finished++;
    snprintf(f, sizeof(f), "%u", id);
    pkey(c, key, sizeof(key), PS_KEY_FAILED, c->pass);
    if (ps_store_cmd(c->store, NULL, &ed, "HSET", key, f, reason, NULL) != PS_OK ||
        ps_store_cmd(c->store, NULL, &ed, "HINCRBY", c->k_progress, "shards_failed", "1", NULL) !=
            PS_OK ||
        ps_store_cmd(c->store, NULL, &ed, "HDEL", c->k_leases, f, NULL) != PS_OK)
        redis_fail(c, &ed);
}

/* A lease ended without a result: try again elsewhere, or give up on the shard. */
static void lease_lost(struct coord *c, uint32_t id, const char *why)
{
    char reason[256];

    if (c->sh[id].status != SH_LEASED)
        return;
    if (c->sh[id].attempts >= c->o->max_attempts) {
        snprintf(reason, sizeof(reason), "%s after %u attempts", why, c->sh[id].attempts);
        fail_shard(c, id, reason);
        return;
    }
    ps_log(PS_LOG_WARN, "coordinator", "shard %u attempt %u: %s; dispatching again", id,
           c->sh[id].lease_attempt, why);
    c->sh[id].status = SH_PENDING;
    enqueue(c, id);
}

static void worker_dead(struct coord *c, size_t w, const char *why)
{
    if (!c->workers[w].alive)
        return;
    ps_log(PS_LOG_WARN, "coordinator", "worker '%s' %s", c->workers[w].name, why);
    c->workers[w].alive = false;
    for (size_t i = 0; i < c->n_shards; i++)
        if (c->sh[i].status == SH_LEASED && c->sh[i].worker == w)
            lease_lost(c, (uint32_t)i, "worker lost");
}

static size_t find_worker(struct coord *c, const char *id, size_t id_len, bool *known)
{
    struct wk *w;

    for (size_t i = 0; i < c->n_workers; i++)
        if (c->workers[i].id_len == id_len && memcmp(c->workers[i].id, id, id_len) == 0) {
            *known = true;
            return i;
        }
    *known = false;
    if (c->n_workers == c->cap_workers) {
        c->cap_workers = c->cap_workers ? c->cap_workers * 2 : 16;
        c->workers = ps_xrealloc(c->workers, c->cap_workers * sizeof(*c->workers));
    }
    w = &c->workers[c->n_workers];
    memset(w, 0, sizeof(*w));
    memcpy(w->id, id, id_len);
    w->id_len = id_len;
    ps_wire_format_peer(w->name, sizeof(w->name), id, id_len);
    return c->n_workers++;
}

static enum ps_err send_to(struct coord *c, size_t w, const Poisonscan__Envelope *env)
{
    struct ps_errdetail ed = {0};
    enum ps_err err =
        ps_wire_send_router(c->sock, c->workers[w].id, c->workers[w].id_len, env, &ed);

    if (err == PS_ERR_PROTO) {
        /* our own message does not validate (a path that is not UTF-8, say): not the worker's
         * fault, so the worker stays; the caller decides about the message */
        ps_log(PS_LOG_ERROR, "coordinator", "cannot send to '%s': %s", c->workers[w].name, ed.msg);
    } else if (err != PS_OK) {
        ps_log(PS_LOG_WARN, "coordinator", "cannot send to '%s': %s", c->workers[w].name, ed.msg);
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

static void dispatch(struct coord *c, size_t w, uint32_t id)
{
    Poisonscan__Envelope env;
    Poisonscan__Lease lease;
    const struct ps_shard *s = ps_plan_shard(c->plan, id);
    struct ps_errdetail ed = {0};
    struct ps_store_reply *r;
    char key[256], f[16], val[PS_WIRE_ROUTING_ID_MAX * 2 + 64], job[PS_STORE_JOB_MAX + 1];
    char path[4096];
    uint64_t now = ps_clock_now_ms();
    struct ps_format fmt;

    poisonscan__envelope__init(&env);
    poisonscan__lease__init(&lease);
    snprintf(f, sizeof(f), "%u", id);
    pkey(c, key, sizeof(key), PS_KEY_ATTEMPTS, c->pass);
    /* attempt numbers persist, so a resumed job never reuses one */
    if (ps_store_cmd(c->store, &r, &ed, "HINCRBY", key, f, "1", NULL) != PS_OK) {
        redis_fail(c, &ed);
        enqueue(c, id);
        return;
    }
    c->sh[id].attempts = (uint32_t)ps_store_reply_int(r);
    ps_store_reply_free(r);
    c->sh[id].lease_attempt = c->sh[id].attempts;
    c->sh[id].status = SH_LEASED;
    c->sh[id].worker = w;
    c->sh[id].deadline = now + c->o->lease_timeout_ms;
    c->workers[w].credit--;

    snprintf(job, sizeof(job), "%s", c->o->job);
    snprintf(path, sizeof(path), "%s", s->path);
    lease.job_id = job;
    lease.pass = c->pass;
    lease.shard_id = id;
    lease.attempt = c->sh[id].attempts;
    lease.path = path;
    lease.begin = s->begin;
    lease.end = s->end;
    if (!ps_format_from_code(s->format, &fmt))
        ps_bug("shard %u has format code %d", id, s->format);
    lease.format = (Poisonscan__ShardFormat)fmt.container;
    lease.layout = (Poisonscan__InputLayout)fmt.layout;
    lease.record = (Poisonscan__RecordShape)fmt.record;
    lease.settings = &c->settings;
    lease.n_candidates = c->pass >= 2 ? c->n_cand_texts : 0;
    lease.candidates = c->pass >= 2 ? c->cand_texts : NULL;
    lease.lease_ms = (uint32_t)c->o->lease_timeout_ms;
    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &lease;
    snprintf(val, sizeof(val), "%s %u %" PRIu64 " %u", c->workers[w].name, lease.attempt,
             ps_clock_unix_s() * 1000 + c->o->lease_timeout_ms, c->pass);
    if (ps_store_cmd(c->store, NULL, &ed, "HSET", c->k_leases, f, val, NULL) != PS_OK)
        redis_fail(c, &ed);
    ps_log(PS_LOG_DEBUG, "coordinator", "lease shard %u attempt %u to '%s'", id, lease.attempt,
           c->workers[w].name);
    switch (send_to(c, w, &env)) {
    case PS_OK:
        break;
    case PS_ERR_PROTO:
        c->workers[w].credit++;
        fail_shard(c, id, "lease cannot be encoded (is the path valid UTF-8?)");
        break;
    default:
        lease_lost(c, id, "lease could not be sent");
        break;
    }
}

static void on_result(struct coord *c, size_t w, const Poisonscan__ShardResult *res)
{
    struct shard *s;
    struct ps_errdetail ed = {0};
    char f[16];

    c->workers[w].credit++;
    if (res->pass != c->pass || res->shard_id >= c->n_shards || strcmp(res->job_id, c->o->job)) {
        ps_log(PS_LOG_DEBUG, "coordinator", "stale result from '%s' ignored", c->workers[w].name);
        return;
    }
    s = &c->sh[res->shard_id];
    if (s->status != SH_LEASED || s->worker != w || s->lease_attempt != res->attempt) {
        /* the lease went to someone else meanwhile; their commit will be a no-op or theirs */
        ps_log(PS_LOG_DEBUG, "coordinator", "result for shard %u attempt %u from '%s' ignored",
               res->shard_id, res->attempt, c->workers[w].name);
        return;
    }
    if (res->outcome == POISONSCAN__OUTCOME__OUTCOME_FAILED) {
        if (res->retryable)
            lease_lost(c, res->shard_id, res->error);
        else
            fail_shard(c, res->shard_id, res->error);
        return;
    }
    if (res->error[0] != '\0')
        ps_log(PS_LOG_ERROR, "coordinator", "shard %u: %s", res->shard_id, res->error);
    s->status = SH_DONE;
    c->n_finished++;
    snprintf(f, sizeof(f), "%u", res->shard_id);
    if (ps_store_cmd(c->store, NULL, &ed, "HDEL", c->k_leases, f, NULL) != PS_OK)
        redis_fail(c, &ed);
}

static void on_message(struct coord *c, const char *peer, size_t peer_len,
                       const Poisonscan__Envelope *env)
{
    bool known;
    size_t w = find_worker(c, peer, peer_len, &known);
    struct wk *wk = &c->workers[w];

    wk->last_seen = ps_clock_now_ms();
    if (!known || !wk->alive) {
        /* a worker we have not met (or had given up on): after a coordinator restart workers
         * reconnect on their own and go on heartbeating, so adopt them */
        wk->alive = true;
        wk->credit = 0;
        if (env->body_case == POISONSCAN__ENVELOPE__BODY_HEARTBEAT && env->heartbeat->attempt == 0)
            wk->credit = 1;
        if (env->body_case != POISONSCAN__ENVELOPE__BODY_HELLO)
            ps_log(PS_LOG_INFO, "coordinator", "worker '%s' joined", wk->name);
    }
    switch (env->body_case) {
    case POISONSCAN__ENVELOPE__BODY_HELLO:
        wk->credit = env->hello->credit;
        ps_log(PS_LOG_INFO, "coordinator", "worker '%s' joined (pid %u on %s, %s)", wk->name,
               env->hello->pid, env->hello->hostname, env->hello->simd_level);
        break;
    case POISONSCAN__ENVELOPE__BODY_READY:
        wk->credit += env->ready->credit;
        break;
    case POISONSCAN__ENVELOPE__BODY_HEARTBEAT: {
        const Poisonscan__Heartbeat *hb = env->heartbeat;
        if (hb->attempt != 0 && hb->shard_id < c->n_shards && hb->pass == c->pass) {
            struct shard *s = &c->sh[hb->shard_id];
            if (s->status == SH_LEASED && s->worker == w && s->lease_attempt == hb->attempt)
                s->deadline = wk->last_seen + c->o->lease_timeout_ms;
        }
        break;
    }
    case POISONSCAN__ENVELOPE__BODY_RESULT:
        on_result(c, w, env->result);
        break;
    default:
        ps_log(PS_LOG_WARN, "coordinator", "unexpected %s from '%s'",
               ps_wire_body_name(env->body_case), wk->name);
        break;
    }
}

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
            size_t w = find_worker(c, peer, peer_len, &known);
            c->workers[w].alive = true;
            send_shutdown(c, w, "job finished");
        } else {
            on_message(c, peer, peer_len, env);
        }
        ps_wire_envelope_free(env);
    }
}

/* Heartbeat every live worker once per interval; also called from inside long Redis walks
 * (ps_store_set_idle), so that idle workers do not take a busy coordinator for a dead one. */
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
    for (size_t w = 0; w < c->n_workers; w++)
        if (c->workers[w].alive)
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
    if (!renew_lock(c) && !c->redis_failed) {
        ps_log(PS_LOG_ERROR, "coordinator",
               "lost the lock of job '%s' (another coordinator took over); stopping", c->o->job);
        c->lock_lost = true;
    }
}

/* Inside long Redis walks (merging the shards' sketches of a big corpus takes seconds): the
 * workers must hear from the coordinator, and the lock must not expire under it. */
static void on_idle(void *ctx)
{
    ping_workers(ctx);
    keep_lock(ctx);
}

static void tick(struct coord *c)
{
    uint64_t now = ps_clock_now_ms();
    uint64_t silence = c->o->heartbeat_ms * c->o->liveness;

    for (size_t w = 0; w < c->n_workers; w++)
        if (c->workers[w].alive && now - c->workers[w].last_seen > silence)
            worker_dead(c, w, "went silent");
    for (size_t i = 0; i < c->n_shards; i++)
        if (c->sh[i].status == SH_LEASED && now > c->sh[i].deadline)
            lease_lost(c, (uint32_t)i, "lease expired");
    for (size_t w = 0; w < c->n_workers && c->q_len > 0; w++) {
        while (c->workers[w].alive && c->workers[w].credit > 0 && c->q_len > 0) {
            uint32_t id;
            dequeue(c, &id);
            dispatch(c, w, id);
        }
    }
    ping_workers(c);
    if (now - c->last_progress >= PROGRESS_EVERY_MS) {
        set_progress(c, NULL);
        c->last_progress = now;
    }
    keep_lock(c);
    if (now - c->last_log >= LOG_EVERY_MS) {
        ps_log(PS_LOG_INFO, "coordinator", "pass %u: %zu/%zu shards finished, %zu queued", c->pass,
               c->n_finished, c->n_shards, c->q_len);
        c->last_log = now;
    }
}

struct load_ctx {
    struct coord *c;
    int what; /* 0 commits, 1 failed, 2 attempts */
};

static enum ps_err load_field(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct load_ctx *lc = ctx;
    uint64_t id = strtoull(f, NULL, 10);

    (void)fl;
    (void)vl;
    if (id >= lc->c->n_shards)
        return PS_OK;
    if (lc->what == 2)
        lc->c->sh[id].attempts = (uint32_t)strtoul(v, NULL, 10);
    else if (lc->c->sh[id].status == SH_PENDING)
        lc->c->sh[id].status = lc->what == 0 ? SH_DONE : SH_FAILED;
    return PS_OK;
}

/* Set up the shard table of the current pass from what Redis knows: committed and failed
 * shards are finished, the rest are queued. */
static enum ps_err load_pass(struct coord *c, struct ps_errdetail *ed)
{
    const char *fmts[3] = {PS_KEY_COMMITS, PS_KEY_FAILED, PS_KEY_ATTEMPTS};
    char key[256];
    enum ps_err err;

    memset(c->sh, 0, c->n_shards * sizeof(*c->sh));
    c->q_head = c->q_len = 0;
    c->n_finished = 0;
    for (int k = 0; k < 3; k++) {
        struct load_ctx lc = {c, k};
        pkey(c, key, sizeof(key), fmts[k], c->pass);
        err = ps_store_hscan(c->store, key, load_field, &lc, ed);
        if (err != PS_OK)
            return err;
    }
    if (c->pass >= 2) {
        /* a shard that failed in the scan pass is not tried again in the confirm passes */
        struct load_ctx lc = {c, 1};
        pkey(c, key, sizeof(key), PS_KEY_FAILED, 1);
        err = ps_store_hscan(c->store, key, load_field, &lc, ed);
        if (err != PS_OK)
            return err;
    }
    for (size_t i = 0; i < c->n_shards; i++) {
        if (c->sh[i].status == SH_PENDING)
            enqueue(c, (uint32_t)i);
        else
            c->n_finished++;
    }
    return ps_store_cmd(c->store, NULL, ed, "DEL", c->k_leases, NULL);
}

/* Leases carry the texts, not the hashes: the worker finds a trigger as a substring, glued or
 * not. A candidate whose text is missing (it cannot be: pass 1 writes both) is dropped. */
static enum ps_err load_candidate_texts(struct coord *c, struct ps_errdetail *ed)
{
    size_t *lens = ps_xmalloc((c->n_cands + 1) * sizeof(*lens)), off = 0, k = 0;
    enum ps_err err;

    ps_buf_reset(&c->cand_arena);
    err = ps_report_candidate_texts(c->store, c->o->job, c->cands, c->n_cands, &c->cand_arena, lens,
                                    ed);
    free(c->cand_texts);
    c->cand_texts = ps_xmalloc((c->n_cands + 1) * sizeof(*c->cand_texts));
    for (size_t i = 0; i < c->n_cands && err == PS_OK; i++) {
        if (lens[i] != 0) {
            c->cand_texts[k].data = (uint8_t *)c->cand_arena.data + off;
            c->cand_texts[k].len = lens[i];
            k++;
        }
        off += lens[i];
    }
    c->n_cand_texts = err == PS_OK ? k : 0;
    free(lens);
    return err;
}

static enum ps_err load_confirm_list(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf list;
    bool found;
    enum ps_err err;

    ps_buf_init(&list, SIZE_MAX / 2);
    err = ps_store_hget(c->store, c->k_meta, c->pass == 3 ? PS_KEY_LEAD_LIST : PS_KEY_CONFIRM_LIST,
                        &list, &found, ed);
    free(c->cands);
    c->cands = ps_xmalloc((list.len / 17 + 2) * sizeof(*c->cands));
    c->n_cands = 0;
    for (const char *p = list.data ? list.data : ""; *p;) {
        char *end;
        uint64_t h = strtoull(p, &end, 16);
        if (end == p)
            break;
        c->cands[c->n_cands++] = h;
        p = end;
    }
    ps_buf_release(&list);
    if (err == PS_OK)
        err = load_candidate_texts(c, ed);
    return err;
}

/* Start confirm pass `pass` over the patterns `cands`, whose list goes to the meta field
 * `list_field`. Progress first, then the pass switch: a crash between them redoes the switch. */
static enum ps_err switch_pass(struct coord *c, unsigned pass, const char *list_field,
                               const uint64_t *cands, size_t n, struct ps_errdetail *ed)
{
    struct ps_buf list;
    char text[4];
    enum ps_err err;

    ps_buf_init(&list, SIZE_MAX / 2);
    for (size_t i = 0; i < n; i++)
        ps_buf_appendf(&list, "%s%016" PRIx64, i ? " " : "", cands[i]);
    if (n == 0)
        ps_buf_appends(&list, "");
    snprintf(text, sizeof(text), "%u", pass);
    err = ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "shards_done", "0", "docs_done",
                       "0", "bytes_done", "0", "state", "confirming", "pass", text, NULL);
    if (err == PS_OK)
        err = ps_store_cmd(c->store, NULL, ed, "HSET", c->k_meta, list_field,
                           list.data != NULL ? list.data : "", "pass", text, NULL);
    ps_buf_release(&list);
    if (err != PS_OK)
        return err;
    c->pass = pass;
    err = load_confirm_list(c, ed);
    if (err == PS_OK)
        err = load_pass(c, ed);
    return err;
}

/* Pass 1 finished: pick the confirm candidates; none means straight to the report. */
static enum ps_err start_confirm(struct coord *c, bool *started, struct ps_errdetail *ed)
{
    uint64_t *cands;
    size_t n;
    enum ps_err err;

    *started = false;
    err = ps_report_select_confirm(c->store, c->o->job, PS_KEY_CAND_DOCS, PS_KEY_CAND_SHARDS,
                                   PS_SCORE_PART_TURN, &c->o->score, c->n_shards, &cands, &n, ed);
    if (err != PS_OK)
        return err;
    ps_log(PS_LOG_INFO, "coordinator", "scan pass done: %zu candidate patterns to confirm", n);
    if (c->cluster_log2 != 0) {
        uint64_t threshold;
        size_t heavy;
        char text[24];
        /* a saturated sketch would send every paragraph to pass 2: cap the heavy cells */
        size_t max_heavy = ((size_t)1 << c->cluster_log2) / 32;

        err = ps_clusters_merge(c->store, c->o->job, c->cluster_log2, c->o->cluster_min_docs,
                                max_heavy, &threshold, &heavy, ed);
        if (err == PS_OK) {
            snprintf(text, sizeof(text), "%" PRIu64, threshold);
            err = ps_store_cmd(c->store, NULL, ed, "HSET", c->k_meta, "cluster_threshold", text,
                               NULL);
        }
        if (err != PS_OK) {
            free(cands);
            return err;
        }
        ps_log(PS_LOG_INFO, "coordinator",
               "cluster sketch: %zu heavy cells at %" PRIu64 " or more occurrences", heavy,
               threshold);
        c->clusters_pending = heavy > 0;
    }
    if (n == 0 && !c->clusters_pending) {
        free(cands);
        return PS_OK;
    }
    err = switch_pass(c, 2, PS_KEY_CONFIRM_LIST, cands, n, ed);
    free(cands);
    *started = err == PS_OK;
    return err;
}

/* Pass 2 finished: the patterns that lead repeated segments in enough documents get a pass of
 * their own, which counts all their occurrences (the true rate) and finds all their documents.
 * None means straight to the report. */
static enum ps_err start_leads(struct coord *c, bool *started, struct ps_errdetail *ed)
{
    uint64_t *cands;
    size_t n;
    enum ps_err err;

    *started = false;
    err = ps_report_select_confirm(c->store, c->o->job, PS_KEY_LEAD_DOCS, PS_KEY_LEAD_SHARDS,
                                   PS_SCORE_PART_LEAD, &c->o->score, c->n_shards, &cands, &n, ed);
    if (err != PS_OK)
        return err;
    /* a pattern pass 2 has counted already keeps those counts */
    {
        struct ps_u64set known;
        size_t kept = 0;

        ps_u64set_init(&known, SIZE_MAX / 2);
        for (size_t j = 0; j < c->n_cands; j++)
            (void)ps_u64set_add(&known, c->cands[j], NULL);
        for (size_t i = 0; i < n; i++)
            if (!ps_u64set_has(&known, cands[i]))
                cands[kept++] = cands[i];
        n = kept;
        ps_u64set_release(&known);
    }
    ps_log(PS_LOG_INFO, "coordinator", "confirm pass done: %zu leads of repeated segments", n);
    if (n != 0)
        err = switch_pass(c, 3, PS_KEY_LEAD_LIST, cands, n, ed);
    free(cands);
    *started = err == PS_OK && n != 0;
    return err;
}

static void make_settings(struct coord *c)
{
    const struct ps_coordinator_opts *o = c->o;
    struct ps_buf b;

    ps_buf_init(&b, sizeof(c->scan_json) - 1);
    ps_buf_appends(&b, "{\"text_field\":");
    ps_json_append_string(&b, o->text_field, strlen(o->text_field));
    ps_buf_appends(&b, ",\"id_field\":");
    ps_json_append_string(&b, o->id_field, strlen(o->id_field));
    ps_buf_appendf(&b,
                   ",\"max_line\":%" PRIu64 ",\"shard_size\":%" PRIu64
                   ",\"max_errors_kept\":%u,\"ngram_max\":%u,\"window\":%u,\"max_candidates\":%u",
                   o->max_line, o->shard_size, o->max_errors_kept, o->ngram_max, o->window,
                   o->max_candidates);
    if (c->cluster_log2 != 0)
        ps_buf_appendf(&b, ",\"clusters\":{\"sketch_log2\":%u,\"min_docs\":%" PRIu64 "}",
                       c->cluster_log2, o->cluster_min_docs);
    if (c->signatures_dir != NULL) {
        ps_buf_appends(&b, ",\"signatures\":{\"dir\":");
        ps_json_append_string(&b, c->signatures_dir, strlen(c->signatures_dir));
        ps_buf_appendf(&b, ",\"k\":%u,\"ngram\":5,\"method\":\"oph\"}", o->signature_k);
    }
    ps_buf_appends(&b, "}");
    snprintf(c->scan_json, sizeof(c->scan_json), "%s", b.data ? b.data : "{}");
    ps_buf_release(&b);
    snprintf(c->settings_json, sizeof(c->settings_json),
             "{\"scan\":%s,\"detect\":{\"min_docs\":%" PRIu64
             ",\"min_rate\":%.3f,\"min_spread\":%.3f,\"min_diversity\":%.3f,"
             "\"max_similarity\":%.3f,\"max_confirm\":%u}}",
             c->scan_json, o->score.min_docs, o->score.min_rate, o->score.min_spread,
             o->score.min_diversity, o->score.max_similarity, o->score.max_confirm);
    c->settings.text_field = (char *)(uintptr_t)o->text_field;
    c->settings.id_field = (char *)(uintptr_t)o->id_field;
    c->settings.max_line = o->max_line;
    c->settings.max_errors_kept = o->max_errors_kept;
    c->settings.ngram_max = o->ngram_max;
    c->settings.window = o->window;
    c->settings.max_candidates = o->max_candidates;
    if (c->signatures_dir != NULL) {
        c->settings.signatures_dir = c->signatures_dir;
        c->settings.signature_k = o->signature_k;
    }
    c->settings.cluster_log2 = c->cluster_log2;
}

/* Sketch rows sized to the corpus: about one cell per band key, so that a cell of a key held by
 * many documents stands out from the background. Band keys: 16 per paragraph of 16+ words,
 * about one such paragraph per 600 bytes of text; compressed shards hold ~4x their size. */
static unsigned auto_sketch_log2(const struct ps_plan *p)
{
    uint64_t text = 0, keys;
    unsigned log2 = PS_CLSKETCH_LOG2_MIN;

    for (size_t i = 0; i < ps_plan_n_files(p); i++)
        text +=
            ps_plan_file_size(p, i) * (ps_plan_file_format(p, i) == PS_PLAN_FORMAT_JSONL ? 1 : 4);
    keys = text / 600 * 16;
    while (log2 < 24 && ((uint64_t)1 << log2) < keys)
        log2++;
    return log2;
}

/* Fresh job: record plan and fingerprint. Known job: the same settings and corpus, or refuse. */
static int open_job(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf stored, plan_text;
    char fp[24], now[24], total[24], bytes[24];
    bool found;
    int rc = 0;
    enum ps_err err;
    struct ps_plan_opts po = ps_plan_opts_default();

    ps_buf_init(&stored, 64);
    ps_buf_init(&plan_text, SIZE_MAX / 2);
    if (ps_store_hget(c->store, c->k_meta, "fingerprint", &stored, &found, ed) != PS_OK) {
        rc = 4;
        goto done;
    }
    snprintf(now, sizeof(now), "%" PRIu64, ps_clock_unix_s());
    if (!found && ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "state", "planning",
                               "started_at", now, "updated_at", now, NULL) != PS_OK) {
        rc = 4;
        goto done;
    }
    po.shard_size = c->o->shard_size;
    po.format = c->o->format;
    err = ps_plan_build(&c->plan, c->o->inputs, c->o->n_inputs, &po, ed);
    if (err != PS_OK) {
        rc = 3;
        goto done;
    }
    c->n_shards = ps_plan_n_shards(c->plan);
    if (c->n_shards == 0) {
        ps_errdetail_set(ed, NULL, 0,
                         "no input files found (looked for .jsonl, .ndjson, .json, .wet, .txt "
                         "and their .zst/.gz forms)");
        rc = 3;
        goto done;
    }
    if (c->o->clusters)
        c->cluster_log2 =
            c->o->cluster_sketch_log2 != 0 ? c->o->cluster_sketch_log2 : auto_sketch_log2(c->plan);
    make_settings(c);
    {
        XXH3_state_t st;
        uint64_t pf = ps_plan_fingerprint(c->plan);
        XXH3_64bits_reset(&st);
        XXH3_64bits_update(&st, c->scan_json, strlen(c->scan_json));
        XXH3_64bits_update(&st, &pf, sizeof(pf));
        c->fingerprint = XXH3_64bits_digest(&st);
    }
    snprintf(fp, sizeof(fp), "%016" PRIx64, c->fingerprint);
    if (found) {
        if (strcmp(stored.data, fp) != 0) {
            ps_errdetail_set(ed, NULL, 0,
                             "job '%s' exists with other settings or another corpus (fingerprint "
                             "%s, now %s); use a new --job or the original settings",
                             c->o->job, stored.data, fp);
            rc = 3;
            goto done;
        }
        ps_log(PS_LOG_INFO, "coordinator", "resuming job '%s'", c->o->job);
        goto done;
    }
    if (ps_plan_serialize(c->plan, &plan_text) != PS_OK) {
        ps_errdetail_set(ed, NULL, 0, "cannot serialize the plan");
        rc = 3;
        goto done;
    }
    snprintf(total, sizeof(total), "%zu", c->n_shards);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, ps_plan_bytes_total(c->plan));
    {
        char k_plan[256];
        ps_store_key(k_plan, sizeof(k_plan), c->o->job, PS_KEY_PLAN);
        const char *argv[3] = {"SET", k_plan, plan_text.data ? plan_text.data : ""};
        size_t lens[3] = {3, strlen(k_plan), plan_text.len};
        if (ps_store_argv(c->store, 3, argv, lens, NULL, ed) != PS_OK ||
            ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "state", "running", "pass", "1",
                         "shards_total", total, "shards_done", "0", "shards_failed", "0",
                         "bytes_total", bytes, "bytes_done", "0", "docs_done", "0",
                         NULL) != PS_OK ||
            ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "errors", "0", "workers", "0",
                         NULL) != PS_OK ||
            /* the fingerprint last: its presence says the job is fully set up */
            ps_store_cmd(c->store, NULL, ed, "HSET", c->k_meta, "settings", c->settings_json,
                         "created_at", now, "pass", "1", "version", "1", "fingerprint", fp,
                         NULL) != PS_OK) {
            rc = 4;
            goto done;
        }
    }
done:
    ps_buf_release(&stored);
    ps_buf_release(&plan_text);
    return rc;
}

static int finish(struct coord *c, struct ps_report_summary *sum)
{
    struct ps_report_input in = {0};
    struct ps_report_summary local;
    struct ps_errdetail ed = {0};
    uint64_t until;

    set_progress(c, "finalizing");
    in.job = c->o->job;
    in.settings_json = c->settings_json;
    in.plan = c->plan;
    in.score = &c->o->score;
    in.out_dir = c->o->out_dir;
    in.confirmed = c->pass >= 2;
    in.cluster_min_docs = c->cluster_log2 != 0 && c->pass >= 2 ? c->o->cluster_min_docs : 0;
    in.allowlist = c->o->allowlist;
    if (sum == NULL)
        sum = &local;
    if (ps_report_write(c->store, &in, sum, &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "cannot write the report: %s", ed.msg);
        set_progress(c, "failed");
        return c->redis_failed ? 4 : 3;
    }
    set_progress(c, "done");
    ps_log(PS_LOG_INFO, "coordinator",
           "job '%s' done: %" PRIu64 " documents, %" PRIu64 " errors, %" PRIu64
           " failed shards, %" PRIu64 " triggers, %" PRIu64 " flagged documents, %" PRIu64
           " suppressed by the allowlist",
           c->o->job, sum->documents, sum->errors_total, sum->shards_failed, sum->n_triggers,
           sum->n_flagged_docs, sum->n_suppressed);
    /* tell every worker, and for a little while any that calls in, that the job is over */
    for (size_t w = 0; w < c->n_workers; w++)
        if (c->workers[w].alive)
            send_shutdown(c, w, "job finished");
    until = ps_clock_now_ms() + c->o->linger_ms;
    while (ps_clock_now_ms() < until && !(c->o->stop && *c->o->stop)) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 100);
        drain(c, true);
    }
    return 0;
}

int ps_coordinator_run(const struct ps_coordinator_opts *o, struct ps_report_summary *sum)
{
    struct coord c = {0};
    struct ps_errdetail ed = {0};
    char bound[PS_WIRE_ENDPOINT_CAP], line[PS_WIRE_ENDPOINT_CAP + 2];
    struct ps_buf pass_text;
    bool found;
    int rc = 0;

    c.o = o;
    ps_buf_init(&c.cand_arena, SIZE_MAX / 2);
    c.lim = ps_wire_limits_coordinator();
    ps_store_key(c.k_meta, sizeof(c.k_meta), o->job, PS_KEY_META);
    ps_store_key(c.k_progress, sizeof(c.k_progress), o->job, PS_KEY_PROGRESS);
    ps_store_key(c.k_leases, sizeof(c.k_leases), o->job, PS_KEY_LEASES);
    ps_store_key(c.k_lock, sizeof(c.k_lock), o->job, PS_KEY_LOCK);
    poisonscan__scan_settings__init(&c.settings);
    if (ps_store_connect(&c.store, &o->redis, o->redis_retry_ms, &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
        return 4;
    }
    if (o->cluster_sketch_log2 != 0 && (o->cluster_sketch_log2 < PS_CLSKETCH_LOG2_MIN ||
                                        o->cluster_sketch_log2 > PS_CLSKETCH_LOG2_MAX)) {
        ps_log(PS_LOG_ERROR, "coordinator", "--cluster-sketch-log2 %u: 0 or %u..%u",
               o->cluster_sketch_log2, PS_CLSKETCH_LOG2_MIN, PS_CLSKETCH_LOG2_MAX);
        return 3;
    }
    if (o->signatures_dir != NULL && o->signatures_dir[0] != '\0') {
        char abs[4096];
        if (o->signature_k < 16 || o->signature_k > 1024 || o->signature_k % 16 != 0) {
            ps_log(PS_LOG_ERROR, "coordinator",
                   "--signature-k %u: must be a multiple of 16 from 16 to 1024", o->signature_k);
            rc = 3;
            goto done;
        }
        /* workers on other machines write there: the path must mean the same everywhere */
        if (ps_file_mkdirs(o->signatures_dir, &ed) != PS_OK ||
            realpath(o->signatures_dir, abs) == NULL) {
            ps_log(PS_LOG_ERROR, "coordinator", "--signatures '%s': %s", o->signatures_dir,
                   ed.msg[0] ? ed.msg : strerror(errno));
            rc = 3;
            goto done;
        }
        c.signatures_dir = ps_xstrdup(abs);
    }
    switch (lock_job(&c, &ed)) {
    case PS_OK:
        break;
    case PS_ERR_USAGE:
        rc = 3;
        goto redis_error;
    default:
        rc = 4;
        goto redis_error;
    }
    {
        char host[256] = "unknown", who[600];
        gethostname(host, sizeof(host) - 1);
        snprintf(who, sizeof(who), "%s pid %d", host, (int)getpid());
        if (ps_store_cmd(c.store, NULL, &ed, "HSET", c.k_meta, "locked_by", who, NULL) != PS_OK) {
            rc = 4;
            goto redis_error;
        }
    }
    ps_store_set_idle(c.store, on_idle, &c);
    rc = open_job(&c, &ed);
    if (rc != 0) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
        goto done;
    }
    c.sh = ps_xcalloc(c.n_shards, sizeof(*c.sh));
    c.queue = ps_xcalloc(c.n_shards, sizeof(*c.queue));
    ps_buf_init(&pass_text, 16);
    if (ps_store_hget(c.store, c.k_meta, "pass", &pass_text, &found, &ed) != PS_OK) {
        ps_buf_release(&pass_text);
        rc = 4;
        goto redis_error;
    }
    c.pass = 1;
    if (found && (strcmp(pass_text.data, "2") == 0 || strcmp(pass_text.data, "3") == 0))
        c.pass = (unsigned)(pass_text.data[0] - '0');
    ps_buf_release(&pass_text);
    if ((c.pass >= 2 && load_confirm_list(&c, &ed) != PS_OK) || load_pass(&c, &ed) != PS_OK) {
        rc = 4;
        goto redis_error;
    }

    c.zctx = zmq_ctx_new();
    if (c.zctx == NULL ||
        ps_wire_router_bind(c.zctx, o->bind, &c.lim, &c.sock, bound, sizeof(bound), &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "cannot bind '%s': %s", o->bind, ed.msg);
        rc = 4;
        goto done;
    }
    snprintf(line, sizeof(line), "%s\n", bound);
    if (o->endpoint_file != NULL &&
        ps_file_write_atomic(o->endpoint_file, line, strlen(line), &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
        rc = 3;
        goto done;
    }
    ps_log(PS_LOG_INFO, "coordinator", "job '%s': %zu shards, %zu files, listening on '%s'", o->job,
           c.n_shards, ps_plan_n_files(c.plan), bound);
    set_progress(&c, c.pass >= 2 ? "confirming" : "running");

    for (;;) {
        zmq_pollitem_t it = {c.sock, 0, ZMQ_POLLIN, 0};

        if (o->stop != NULL && *o->stop) {
            ps_log(PS_LOG_WARN, "coordinator", "interrupted; run again with --job '%s' to resume",
                   o->job);
            rc = 4;
            break;
        }
        if (c.redis_failed || c.lock_lost) {
            rc = 4;
            break;
        }
        if (c.n_finished == c.n_shards) {
            bool started = false;
            enum ps_err err = PS_OK;

            if (c.pass == 1)
                err = start_confirm(&c, &started, &ed);
            else if (c.pass == 2 && c.cluster_log2 != 0)
                err = start_leads(&c, &started, &ed);
            if (err != PS_OK) {
                rc = 4;
                goto redis_error;
            }
            if (!started) {
                rc = finish(&c, sum);
                break;
            }
            continue;
        }
        if (zmq_poll(&it, 1, (long)(o->heartbeat_ms / 4 + 1)) < 0 && zmq_errno() != EINTR) {
            ps_log(PS_LOG_ERROR, "coordinator", "zmq_poll: %s", zmq_strerror(zmq_errno()));
            rc = 4;
            break;
        }
        drain(&c, false);
        tick(&c);
    }
    goto done;
redis_error:
    ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
done:
    if (c.store != NULL)
        unlock_job(&c);
    if (c.sock != NULL)
        zmq_close(c.sock);
    if (c.zctx != NULL)
        zmq_ctx_term(c.zctx);
    ps_plan_free(c.plan);
    ps_store_free(c.store);
    free(c.sh);
    free(c.queue);
    free(c.workers);
    free(c.cands);
    free(c.cand_texts);
    ps_buf_release(&c.cand_arena);
    free(c.signatures_dir);
    return rc;
}
