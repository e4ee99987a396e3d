/* dispatch.c - handing out leases: the queue of workers with credit, the batch of grants a tick,
 * and the one Redis round trip that puts their attempt numbers and lease records on record
 * before any lease leaves (docs/protocol.md §5.2). Part of the coordinator's loop. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/units.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/journal.h"

#define DISPATCH_BATCH 1024 /* leases a tick at most */

struct grant {
    size_t w;
    uint32_t id, attempt;
};

static struct ps_worker_rec *wk(struct coord *c, size_t w)
{
    return ps_registry_at(c->workers, w);
}

/* A worker that has credit waits in the ready queue (once), so that dispatch never walks every
 * worker: with ten thousand workers most have none. */
void ps_coord_make_ready(struct coord *c, size_t w)
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
    bool with_list = ps_pass_has_candidates(c->pass) && wk(c, w)->patterns_held != c->cands_id;
    struct ps_format fmt;
    char attr_path[8192];

    poisonscan__envelope__init(&env);
    poisonscan__lease__init(&lease);
    /* protobuf-c's strings are not const; packing only reads them */
    lease.job_id = (char *)(uintptr_t)c->o->job;
    lease.pass = c->pass;
    lease.shard_id = id;
    lease.attempt = attempt;
    lease.path = (char *)(uintptr_t)s->path;
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
    if (c->pass == PS_PASS_ATTRS)
        ps_coord_attrs_lease(c, s, &lease, attr_path, sizeof(attr_path));
    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &lease;
    ps_log(PS_LOG_DEBUG, "coordinator", "lease shard %u attempt %u to '%s'", id, attempt,
           wk(c, w)->name);
    switch (ps_coord_send_to(c, w, &env)) {
    case PS_OK:
        break;
    case PS_ERR_PROTO:
        wk(c, w)->credit++;
        ps_coord_fail_shard(c, id, "lease cannot be encoded (is the path valid UTF-8?)");
        break;
    default:
        ps_coord_lease_lost(c, id, "lease could not be sent");
        break;
    }
}

/* ---- the dispatch round trip ---- */

static void cmd_reset(struct coord_cmd *m)
{
    ps_buf_reset(&m->text);
    m->n = 0;
}

static void cmd_arg(struct coord_cmd *m, const char *s, size_t len)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->ends = ps_xrealloc(m->ends, m->cap * sizeof(*m->ends));
        m->argv = ps_xrealloc(m->argv, m->cap * sizeof(*m->argv));
        m->lens = ps_xrealloc(m->lens, m->cap * sizeof(*m->lens));
    }
    ps_buf_add(&m->text, s, len);
    ps_buf_add(&m->text, "", 1);
    m->ends[m->n++] = m->text.len;
}

static void cmd_u32(struct coord_cmd *m, uint32_t v)
{
    char t[20];

    cmd_arg(m, t, ps_units_put_u64(t, v));
}

/* Point argv and lens at the complete command's arguments (views until cmd_reset). */
static void cmd_finish(struct coord_cmd *m)
{
    size_t start = 0;

    for (size_t i = 0; i < m->n; i++) {
        m->argv[i] = m->text.data + start;
        m->lens[i] = m->ends[i] - start - 1;
        start = m->ends[i];
    }
}

static void cmd_release(struct coord_cmd *m)
{
    ps_buf_release(&m->text);
    free(m->ends);
    free(m->argv);
    free(m->lens);
}

/* Lease queued shards to ready workers: up to DISPATCH_BATCH grants into c->grants (the lease
 * table and the credit change now, the leases leave after the round trip). Returns how many. */
static size_t grant_batch(struct coord *c)
{
    struct grant *g = c->grants;
    uint64_t now = ps_clock_now_ms();
    size_t n = 0, w;
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
        ps_coord_make_ready(c, w);
    }
    return n;
}

/* One Redis round trip, one transaction: the lease records of the shards finished since the
 * last one go; the given-back counts of the shards given back since then, and the attempt
 * numbers and lease records of the n grants, are set. false: Redis failed (the job stops). */
static bool record_batch(struct coord *c, const struct grant *g, size_t n)
{
    struct coord_cmd *del = &c->cmds[0], *att = &c->cmds[1], *rec = &c->cmds[2];
    struct coord_cmd *gb = &c->cmds[3];
    const char *const *argv[4];
    const size_t *lens[4];
    int argc[4];
    size_t k = 0;
    uint64_t until = ps_clock_unix_s() * 1000 + c->o->lease_timeout_ms;
    char key[256], val[sizeof(((struct ps_worker_rec *)0)->name) + 3 * 21];
    struct ps_errdetail ed = {0};

    for (size_t i = 0; i < 4; i++)
        cmd_reset(&c->cmds[i]);
    if (c->n_gave_back > 0) {
        ps_coord_pass_key(c, key, sizeof(key), PS_KEY_GIVEN_BACK, c->pass);
        cmd_arg(gb, "HSET", 4);
        cmd_arg(gb, key, strlen(key));
        for (size_t i = 0; i < c->n_gave_back; i++) {
            cmd_u32(gb, c->gave_back[i]);
            cmd_u32(gb, ps_lease_given_back(c->leases, c->gave_back[i]));
        }
    }
    if (c->n_done > 0) {
        cmd_arg(del, "HDEL", 4);
        cmd_arg(del, c->k_leases, strlen(c->k_leases));
        for (size_t i = 0; i < c->n_done; i++)
            cmd_u32(del, c->done[i]);
    }
    if (n > 0) {
        ps_coord_pass_key(c, key, sizeof(key), PS_KEY_ATTEMPTS, c->pass);
        cmd_arg(att, "HSET", 4);
        cmd_arg(att, key, strlen(key));
        cmd_arg(rec, "HSET", 4);
        cmd_arg(rec, c->k_leases, strlen(c->k_leases));
    }
    for (size_t i = 0; i < n; i++) {
        /* "<routing id> <attempt> <deadline> <pass>" (docs/redis-keys.md) */
        const char *name = wk(c, g[i].w)->name;
        size_t len = strlen(name);
        memcpy(val, name, len);
        val[len++] = ' ';
        len += ps_units_put_u64(val + len, g[i].attempt);
        val[len++] = ' ';
        len += ps_units_put_u64(val + len, until);
        val[len++] = ' ';
        len += ps_units_put_u64(val + len, (unsigned)c->pass);
        cmd_u32(att, g[i].id);
        cmd_u32(att, g[i].attempt);
        cmd_u32(rec, g[i].id);
        cmd_arg(rec, val, len);
    }
    for (size_t i = 0; i < 4; i++)
        if (c->cmds[i].n > 0) {
            cmd_finish(&c->cmds[i]);
            argv[k] = c->cmds[i].argv;
            lens[k] = c->cmds[i].lens;
            argc[k++] = (int)c->cmds[i].n;
        }
    c->n_done = 0;
    c->n_gave_back = 0;
    if (ps_store_transaction(c->store, k, argc, argv, lens, &ed) != PS_OK) {
        ps_coord_redis_fail(c, &ed);
        return false;
    }
    return true;
}

/* Lease queued shards to ready workers, DISPATCH_BATCH at most a tick: the attempt numbers and
 * the lease records go to Redis in one round trip before any lease leaves (an attempt number is
 * never reused, even by a restarted coordinator), then the leases go out. The shards finished
 * since the last tick go to the collector, and their lease records in the same round trip: no
 * result costs a round trip of its own. Returns true when the batch was full (more may wait). */
bool ps_coord_dispatch(struct coord *c)
{
    const struct grant *g = c->grants;
    size_t n = grant_batch(c);

    struct ps_errdetail ed = {0};

    if (n == 0 && c->n_done == 0 && c->n_gave_back == 0)
        return false;
    /* on record before their lease records go: a Redis that restarts and loses their commits
     * is then found out (reconcile.c) */
    if (ps_journal_add(c->journal, c->pass, c->done, c->n_done, &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "coordinator", "%s", ed.msg);
        c->redis_failed = true;
        return false;
    }
    /* before the pass's end is asked for (run_loop), every finished shard is with the collector */
    if (c->n_done > 0)
        ps_collect_merge(c->collector, c->done, c->n_done);
    /* nothing may leave without its attempt number on record */
    if (!record_batch(c, g, n)) {
        /* none of them leaves: the credit goes back (after a Redis restart the job goes on,
         * and the lease table is loaded again) */
        for (size_t i = 0; i < n; i++) {
            wk(c, g[i].w)->credit++;
            ps_coord_make_ready(c, g[i].w);
        }
        return false;
    }
    for (size_t i = 0; i < n; i++)
        send_lease(c, g[i].w, g[i].id, g[i].attempt);
    return n == DISPATCH_BATCH;
}

void ps_coord_note_given_back(struct coord *c, uint32_t id)
{
    if (c->n_gave_back == c->cap_gave_back) {
        c->cap_gave_back = c->cap_gave_back ? c->cap_gave_back * 2 : 64;
        c->gave_back = ps_xrealloc(c->gave_back, c->cap_gave_back * sizeof(*c->gave_back));
    }
    c->gave_back[c->n_gave_back++] = id;
}

bool ps_coord_lease_record_pass(const char *v, size_t len, unsigned *pass)
{
    size_t b = len;
    unsigned long p = 0;

    /* "<routing id> <attempt> <deadline> <pass>": the pass is the last word */
    while (b > 0 && v[b - 1] != ' ')
        b--;
    if (b == 0 || b == len || len - b > 2)
        return false;
    for (size_t i = b; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        p = p * 10 + (unsigned long)(v[i] - '0');
    }
    *pass = (unsigned)p;
    return true;
}

void ps_coord_dispatch_init(struct coord *c)
{
    c->grants = ps_xcalloc(DISPATCH_BATCH, sizeof(struct grant));
    for (size_t i = 0; i < 4; i++)
        ps_buf_init(&c->cmds[i].text, PS_BUF_NO_LIMIT);
}

void ps_coord_dispatch_free(struct coord *c)
{
    free(c->grants);
    for (size_t i = 0; i < 4; i++)
        cmd_release(&c->cmds[i]);
    free(c->ready);
}
