/* worker.c - the worker loop (Paranoid Pirate worker, zguide ch. 4): heartbeats on the data
 * socket, any message from the coordinator counts as a sign of life, and at liveness zero the
 * socket is closed and recreated under a new routing id. */
#include "worker/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/cpu.h"
#include "common/log.h"
#include "common/wire.h"
#include "worker/scan.h"

struct worker {
    const struct ps_worker_opts *o;
    void *zctx, *sock;
    char routing_id[PS_WIRE_ROUTING_ID_CAP];
    struct ps_wire_limits lim;
    struct ps_store *store;
    struct ps_scan *scan;
    uint64_t scan_settings_digest;
    char heavy_job[PS_STORE_JOB_MAX + 1]; /* the job whose cluster bitmap the scanner holds */
    struct ps_commit *commit;
    uint64_t last_heard, last_sent;
    uint64_t n_commits;
    bool hello_pending; /* not yet handed to ZeroMQ: the connection was not up */
    bool shutdown;
    int fatal; /* exit code of a failure that ends the worker (Redis gone), 0 if none */
    /* the lease in progress, for heartbeats */
    uint32_t cur_pass, cur_shard, cur_attempt;
    uint64_t cur_bytes, cur_docs;
    struct ps_scan_pattern *patterns; /* the lease's candidates as the scanner takes them */
    size_t patterns_cap;
};

static enum ps_err send_env(struct worker *w, const Poisonscan__Envelope *env)
{
    struct ps_errdetail ed = {0};
    enum ps_err err = ps_wire_send_dealer(w->sock, env, &ed);

    if (err != PS_OK)
        ps_log(PS_LOG_WARN, "worker", "cannot send to the coordinator: %s", ed.msg);
    else
        w->last_sent = ps_clock_now_ms();
    return err;
}

static void send_hello(struct worker *w)
{
    Poisonscan__Envelope env;
    Poisonscan__Hello hello;
    char host[256] = "unknown", simd[32];
    static char cap_jsonl[] = "jsonl", cap_zst[] = "jsonl.zst", cap_gz[] = "jsonl.gz",
                cap_confirm[] = "confirm";
    static char *caps[] = {cap_jsonl, cap_zst, cap_gz, cap_confirm};

    poisonscan__envelope__init(&env);
    poisonscan__hello__init(&hello);
    gethostname(host, sizeof(host) - 1);
    hello.protocol_version = PS_WIRE_PROTOCOL_VERSION;
    hello.routing_id = w->routing_id;
    hello.hostname = host;
    hello.pid = (uint32_t)getpid();
    snprintf(simd, sizeof(simd), "%s", ps_simd_name(ps_cpu_best_simd()));
    hello.simd_level = simd;
    hello.n_capabilities = sizeof(caps) / sizeof(caps[0]);
    hello.capabilities = caps;
    hello.credit = 1;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    w->hello_pending = ps_wire_send_dealer(w->sock, &env, NULL) != PS_OK;
    if (!w->hello_pending)
        w->last_sent = ps_clock_now_ms();
}

static void send_heartbeat(struct worker *w)
{
    Poisonscan__Envelope env;
    Poisonscan__Heartbeat hb;

    if (w->hello_pending) {
        send_hello(w);
        return;
    }
    poisonscan__envelope__init(&env);
    poisonscan__heartbeat__init(&hb);
    hb.pass = w->cur_pass;
    hb.shard_id = w->cur_shard;
    hb.attempt = w->cur_attempt;
    hb.bytes_done = w->cur_bytes;
    hb.docs_done = w->cur_docs;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    send_env(w, &env);
}

static enum ps_err open_socket(struct worker *w)
{
    struct ps_errdetail ed = {0};
    enum ps_err err;

    if (w->sock != NULL)
        zmq_close(w->sock);
    w->sock = NULL;
    /* a new incarnation: never reuse a routing id the coordinator may still hold */
    ps_wire_make_routing_id(w->routing_id, sizeof(w->routing_id));
    err = ps_wire_dealer_connect(w->zctx, w->o->connect, w->routing_id, &w->lim, &w->sock, &ed);
    if (err != PS_OK) {
        ps_log(PS_LOG_ERROR, "worker", "cannot connect to '%s': %s", w->o->connect, ed.msg);
        return err;
    }
    ps_log(PS_LOG_INFO, "worker", "connecting to '%s' as '%s'", w->o->connect, w->routing_id);
    w->last_heard = ps_clock_now_ms();
    send_hello(w);
    return PS_OK;
}

static void handle_lease(struct worker *w, const Poisonscan__Lease *lease);

/* Drain what the coordinator sent; `busy` means a lease is being worked on. */
static void drain(struct worker *w, bool busy)
{
    for (;;) {
        Poisonscan__Envelope *env = NULL;
        struct ps_errdetail ed = {0};
        bool got = false;
        enum ps_err err = ps_wire_recv_dealer(w->sock, &w->lim, &env, &got, &ed);

        if (err == PS_ERR_PROTO) {
            ps_log(PS_LOG_WARN, "worker", "dropped a bad message: %s", ed.msg);
            continue;
        }
        if (err != PS_OK || !got)
            return;
        w->last_heard = ps_clock_now_ms();
        switch (env->body_case) {
        case POISONSCAN__ENVELOPE__BODY_LEASE:
            if (busy)
                ps_log(PS_LOG_WARN, "worker", "lease for shard %u arrived while busy; ignored",
                       env->lease->shard_id);
            else
                handle_lease(w, env->lease);
            break;
        case POISONSCAN__ENVELOPE__BODY_SHUTDOWN:
            ps_log(PS_LOG_INFO, "worker", "shutdown: %s", env->shutdown->reason);
            w->shutdown = true;
            break;
        default:
            break;
        }
        ps_wire_envelope_free(env);
    }
}

static bool on_progress(void *ctx, uint64_t bytes, uint64_t docs)
{
    struct worker *w = ctx;
    uint64_t now = ps_clock_now_ms();

    w->cur_bytes = bytes;
    w->cur_docs = docs;
    drain(w, true);
    if (now - w->last_sent >= w->o->heartbeat_ms)
        send_heartbeat(w);
    return !(w->o->stop != NULL && *w->o->stop);
}

static void wait_heartbeating(struct worker *w, uint64_t ms)
{
    uint64_t end = ps_clock_now_ms() + ms;

    while (ps_clock_now_ms() < end) {
        zmq_pollitem_t it = {w->sock, 0, ZMQ_POLLIN, 0};
        uint64_t left = end - ps_clock_now_ms();
        zmq_poll(&it, 1, (long)(left < 100 ? left : 100));
        on_progress(w, w->cur_bytes, w->cur_docs);
    }
}

/* Leases of one job carry the same settings; a new digest means a new job's settings. */
static uint64_t settings_digest(const Poisonscan__ScanSettings *st)
{
    size_t n = poisonscan__scan_settings__get_packed_size(st);
    uint8_t *buf = ps_xmalloc(n ? n : 1);
    uint64_t h;

    poisonscan__scan_settings__pack(st, buf);
    h = XXH3_64bits(buf, n);
    free(buf);
    return h;
}

static enum ps_err ensure_scan(struct worker *w, const Poisonscan__ScanSettings *st)
{
    struct ps_scan_opts so = ps_scan_opts_default();
    struct ps_errdetail ed = {0};
    uint64_t d = settings_digest(st);
    enum ps_err err;

    if (w->scan != NULL && w->scan_settings_digest == d)
        return PS_OK;
    ps_scan_free(w->scan);
    w->scan = NULL;
    if (st->text_field[0])
        so.reader.text_field = st->text_field;
    if (st->id_field[0])
        so.reader.id_field = st->id_field;
    if (st->max_line)
        so.reader.max_line = (size_t)st->max_line;
    if (st->max_errors_kept)
        so.max_errors_kept = st->max_errors_kept;
    if (st->ngram_max)
        so.detect.ngram_max = st->ngram_max;
    if (st->window)
        so.detect.window = st->window;
    if (st->max_candidates)
        so.detect.max_candidates = st->max_candidates;
    if (st->signatures_dir[0] != '\0') {
        so.signatures_dir = st->signatures_dir;
        so.signature_k = st->signature_k;
    }
    so.cluster_log2 = st->cluster_log2;
    err = ps_scan_new(&w->scan, &so, &ed);
    if (err != PS_OK) {
        ps_log(PS_LOG_ERROR, "worker", "cannot set up the scanner: %s", ed.msg);
        return err;
    }
    w->scan_settings_digest = d;
    w->heavy_job[0] = '\0';
    return PS_OK;
}

/* Pass 2 with clusters: the coordinator's heavy-cell bitmap, read once per job. */
static enum ps_err ensure_heavy(struct worker *w, const Poisonscan__Lease *lease,
                                struct ps_errdetail *ed)
{
    struct ps_buf bitmap;
    char key[256];
    bool found;
    enum ps_err err;

    if (lease->pass < 2 || lease->settings->cluster_log2 == 0 ||
        strcmp(w->heavy_job, lease->job_id) == 0)
        return PS_OK;
    ps_buf_init(&bitmap, SIZE_MAX / 2);
    ps_store_key(key, sizeof(key), lease->job_id, PS_KEY_CLUSTER_HEAVY);
    err = ps_store_get(w->store, key, &bitmap, &found, ed);
    if (err == PS_OK && !found) {
        ps_errdetail_set(ed, NULL, 0, "no cluster bitmap for job '%s' in redis", lease->job_id);
        err = PS_ERR_PROTO;
    }
    if (err == PS_OK)
        err = ps_scan_set_cluster_heavy(w->scan, (const uint8_t *)bitmap.data, bitmap.len, ed);
    if (err == PS_OK)
        snprintf(w->heavy_job, sizeof(w->heavy_job), "%s", lease->job_id);
    ps_buf_release(&bitmap);
    return err;
}

static void send_result(struct worker *w, const Poisonscan__Lease *lease, Poisonscan__Outcome oc,
                        const char *error, bool retryable)
{
    Poisonscan__Envelope env;
    Poisonscan__ShardResult res;
    const struct ps_reader_stats *st = w->scan ? ps_scan_stats(w->scan) : NULL;
    char msg[512];

    poisonscan__envelope__init(&env);
    poisonscan__shard_result__init(&res);
    snprintf(msg, sizeof(msg), "%s", error ? error : "");

    res.job_id = lease->job_id;
    res.pass = lease->pass;
    res.shard_id = lease->shard_id;
    res.attempt = lease->attempt;
    res.outcome = oc;
    res.error = msg;
    res.retryable = retryable;
    if (st != NULL && oc != POISONSCAN__OUTCOME__OUTCOME_FAILED) {
        res.docs = st->docs;
        res.bytes = st->bytes;
        res.errors = st->errors;
    }
    env.body_case = POISONSCAN__ENVELOPE__BODY_RESULT;
    env.result = &res;
    send_env(w, &env);
}

static void handle_lease(struct worker *w, const Poisonscan__Lease *lease)
{
    struct ps_scan_spec spec = {0};
    struct ps_errdetail ed = {0};
    enum ps_commit_outcome outcome;
    char key[256], marker[PS_WIRE_ROUTING_ID_CAP + 32];
    uint64_t t0 = ps_clock_now_ms();
    enum ps_err err;

    if (!ps_store_job_valid(lease->job_id)) {
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, "invalid job id", false);
        return;
    }
    if (lease->settings == NULL || ensure_scan(w, lease->settings) != PS_OK) {
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, "bad scan settings", false);
        return;
    }
    if (ensure_heavy(w, lease, &ed) != PS_OK) {
        ps_log(PS_LOG_WARN, "worker", "shard %u: %s", lease->shard_id, ed.msg);
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, ed.msg, true);
        return;
    }
    w->cur_pass = lease->pass;
    w->cur_shard = lease->shard_id;
    w->cur_attempt = lease->attempt;
    w->cur_bytes = w->cur_docs = 0;
    ps_log(PS_LOG_DEBUG, "worker",
           "lease: pass %u shard %u attempt %u '%s' [%" PRIu64 ", %" PRIu64 ")", lease->pass,
           lease->shard_id, lease->attempt, lease->path, lease->begin, lease->end);
    spec.pass = lease->pass;
    spec.shard_id = lease->shard_id;
    spec.path = lease->path;
    spec.begin = lease->begin;
    spec.end = lease->end;
    if (lease->n_candidates > w->patterns_cap) {
        w->patterns_cap = lease->n_candidates;
        w->patterns = ps_xrealloc(w->patterns, w->patterns_cap * sizeof(*w->patterns));
    }
    for (size_t i = 0; i < lease->n_candidates; i++) {
        w->patterns[i].text = (const char *)lease->candidates[i].data;
        w->patterns[i].len = lease->candidates[i].len;
    }
    spec.candidates = w->patterns;
    spec.n_candidates = lease->n_candidates;
    err = ps_scan_shard(w->scan, &spec, on_progress, w, &ed);
    if (err == PS_ERR_TIMEOUT)
        goto idle; /* abandoned for shutdown: the lease expires and goes elsewhere */
    if (err != PS_OK) {
        ps_log(PS_LOG_WARN, "worker", "cannot scan shard %u of '%s': %s", lease->shard_id,
               lease->path, ed.msg);
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, ed.msg, true);
        goto idle;
    }
    if (w->o->fault_delay_ms > 0)
        wait_heartbeating(w, w->o->fault_delay_ms);
    if (w->o->stop != NULL && *w->o->stop)
        goto idle;

    ps_store_pass_key(key, sizeof(key), lease->job_id, PS_KEY_COMMITS, lease->pass);
    ps_commit_reset(w->commit, key, lease->shard_id);
    err = ps_scan_build_commit(w->scan, lease->job_id, lease->pass, lease->shard_id,
                               lease->end - lease->begin, w->commit, &ed);
    if (err != PS_OK) {
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, ed.msg, true);
        goto idle;
    }
    snprintf(marker, sizeof(marker), "%u %s", lease->attempt, w->routing_id);
    err = ps_commit_apply(w->store, w->commit, marker, &outcome, &ed);
    if (err != PS_OK) {
        ps_log(PS_LOG_ERROR, "worker", "cannot commit shard %u: %s", lease->shard_id, ed.msg);
        /* the lease expires and the shard goes to a worker that can reach Redis */
        w->shutdown = true;
        w->fatal = 4;
        goto idle;
    }
    w->n_commits++;
    if (w->o->fault_exit_after_commit != 0 && w->n_commits == w->o->fault_exit_after_commit) {
        ps_log(PS_LOG_WARN, "worker", "fault injection: dying after commit %" PRIu64, w->n_commits);
        raise(SIGKILL);
    }
    if (outcome == PS_COMMIT_CONFLICT)
        ps_log(PS_LOG_ERROR, "worker",
               "shard %u: results differ from the attempt committed first (nondeterminism)",
               lease->shard_id);
    ps_log(PS_LOG_DEBUG, "worker", "shard %u pass %u: %" PRIu64 " docs in %" PRIu64 " ms (%s)",
           lease->shard_id, lease->pass, ps_scan_stats(w->scan)->docs, ps_clock_now_ms() - t0,
           outcome == PS_COMMIT_APPLIED ? "committed" : "duplicate");
    send_result(w, lease,
                outcome == PS_COMMIT_APPLIED ? POISONSCAN__OUTCOME__OUTCOME_COMMITTED
                                             : POISONSCAN__OUTCOME__OUTCOME_DUPLICATE,
                outcome == PS_COMMIT_CONFLICT ? "results differ from the first commit" : NULL,
                false);
idle:
    w->cur_pass = w->cur_shard = w->cur_attempt = 0;
    w->cur_bytes = w->cur_docs = 0;
}

int ps_worker_run(const struct ps_worker_opts *o)
{
    struct worker w = {0};
    struct ps_errdetail ed = {0};
    uint64_t silent_since = 0, backoff = 0;
    int rc = 0;

    w.o = o;
    w.lim = ps_wire_limits_worker();
    if (ps_store_connect(&w.store, &o->redis, o->redis_retry_ms, &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "worker", "%s", ed.msg);
        return 4;
    }
    w.commit = ps_commit_new();
    w.zctx = zmq_ctx_new();
    if (w.zctx == NULL || open_socket(&w) != PS_OK) {
        rc = 4;
        goto done;
    }
    while (!w.shutdown && !(o->stop != NULL && *o->stop)) {
        zmq_pollitem_t it = {w.sock, 0, ZMQ_POLLIN, 0};
        uint64_t now;

        /* until the Hello is out, retry it often: the connection comes up in milliseconds */
        if (zmq_poll(&it, 1, w.hello_pending ? 20 : (long)o->heartbeat_ms) < 0 &&
            zmq_errno() != EINTR) {
            ps_log(PS_LOG_ERROR, "worker", "zmq_poll: %s", zmq_strerror(zmq_errno()));
            rc = 4;
            break;
        }
        drain(&w, false);
        now = ps_clock_now_ms();
        if (w.hello_pending)
            send_hello(&w);
        else if (now - w.last_sent >= o->heartbeat_ms)
            send_heartbeat(&w);
        if (now - w.last_heard > o->heartbeat_ms * o->liveness) {
            if (silent_since == 0)
                silent_since = w.last_heard;
            if (o->give_up_ms != 0 && now - silent_since > o->give_up_ms) {
                ps_log(PS_LOG_ERROR, "worker", "no coordinator for %" PRIu64 " ms; giving up",
                       now - silent_since);
                rc = 4;
                break;
            }
            /* reconnect delay from 1 s doubling to 32 s, as in the zguide's ppworker */
            backoff = backoff == 0 ? 1000 : (backoff * 2 > 32000 ? 32000 : backoff * 2);
            ps_log(PS_LOG_WARN, "worker", "coordinator silent; reconnecting in %" PRIu64 " ms",
                   backoff);
            {
                uint64_t until = ps_clock_now_ms() + backoff;
                while (ps_clock_now_ms() < until && !(o->stop != NULL && *o->stop))
                    ps_clock_sleep_ms(50);
            }
            if (open_socket(&w) != PS_OK) {
                rc = 4;
                break;
            }
        } else if (now - w.last_heard <= o->heartbeat_ms) {
            silent_since = 0;
            backoff = 0;
        }
    }
done:
    if (rc == 0)
        rc = w.fatal;
    ps_scan_free(w.scan);
    free(w.patterns);
    ps_commit_free(w.commit);
    if (w.sock != NULL)
        zmq_close(w.sock);
    if (w.zctx != NULL)
        zmq_ctx_term(w.zctx);
    ps_store_free(w.store);
    return rc;
}
