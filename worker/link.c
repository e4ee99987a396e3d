/* link.c - the worker's link thread: owns the DEALER socket and heartbeats on a clock, so that a
 * slow scan (a long document, a sanitizer build, a slow Redis call) never silences the worker.
 * The pipe between the scan thread and the link is an inproc PAIR; each message is one frame,
 * its first byte saying what it is: PIPE_LEASE (a pointer to a decoded envelope, link -> scan),
 * PIPE_SHUTDOWN and PIPE_LOST (link -> scan), PIPE_RESULT (a packed envelope, scan -> link),
 * PIPE_QUIT (scan -> link). */
#include "worker/link.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/cpu.h"
#include "common/log.h"
#include "common/wire.h"

enum { PIPE_LEASE = 'L', PIPE_SHUTDOWN = 'S', PIPE_LOST = 'X', PIPE_RESULT = 'R', PIPE_QUIT = 'Q' };

#define MAX_PENDING 8 /* results waiting for the connection: one lease at a time, so few */

struct pending {
    uint8_t *data;
    size_t len;
};

struct ps_link {
    struct ps_link_opts o;
    void *zctx;
    void *pipe_scan; /* the scan thread's end */
    void *pipe_link; /* the link thread's end */
    pthread_t thread;
    bool started;
    /* shared with the scan thread, under mu */
    pthread_mutex_t mu;
    uint32_t pass, shard_id, attempt;
    uint64_t bytes_done, docs_done, progress_at;
    char routing_id[PS_WIRE_ROUTING_ID_CAP]; /* written by the link thread under mu */
    /* link thread only */
    void *sock;
    struct ps_wire_limits lim;
    uint64_t last_heard, last_sent, silent_since, backoff_until, backoff;
    bool hello_pending;
    struct pending pending[MAX_PENDING];
    size_t n_pending;
};

static void send_hello(struct ps_link *l)
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
    hello.routing_id = l->routing_id;
    hello.hostname = host;
    hello.pid = (uint32_t)getpid();
    snprintf(simd, sizeof(simd), "%s", ps_simd_name(ps_cpu_best_simd()));
    hello.simd_level = simd;
    hello.n_capabilities = sizeof(caps) / sizeof(caps[0]);
    hello.capabilities = caps;
    hello.credit = 1;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    /* EAGAIN until the connection is up (ZMQ_IMMEDIATE): try again at the next tick */
    l->hello_pending = ps_wire_send_dealer(l->sock, &env, NULL) != PS_OK;
    if (!l->hello_pending)
        l->last_sent = ps_clock_now_ms();
}

static void drop_pending(struct ps_link *l)
{
    for (size_t i = 0; i < l->n_pending; i++)
        free(l->pending[i].data);
    l->n_pending = 0;
}

static enum ps_err open_socket(struct ps_link *l, struct ps_errdetail *ed)
{
    enum ps_err err;

    if (l->sock != NULL)
        zmq_close(l->sock);
    l->sock = NULL;
    /* results of the old incarnation would give the new one credit it never granted */
    drop_pending(l);
    /* a new incarnation: never reuse a routing id the coordinator may still hold */
    pthread_mutex_lock(&l->mu);
    ps_wire_make_routing_id(l->routing_id, sizeof(l->routing_id));
    pthread_mutex_unlock(&l->mu);
    err = ps_wire_dealer_connect(l->zctx, l->o.connect, l->routing_id, l->o.security, &l->lim,
                                 &l->sock, ed);
    if (err != PS_OK)
        return err;
    ps_log(PS_LOG_INFO, "worker", "connecting to '%s' as '%s'", l->o.connect, l->routing_id);
    l->last_heard = ps_clock_now_ms();
    send_hello(l);
    return PS_OK;
}

static void to_scan(struct ps_link *l, char what, const void *payload, size_t len)
{
    uint8_t buf[1 + sizeof(void *)];

    buf[0] = (uint8_t)what;
    if (len > sizeof(void *))
        ps_bug("pipe payload of %zu bytes", len);
    if (len > 0) /* shutdown and lost carry no payload: NULL, which memcpy may not take */
        memcpy(buf + 1, payload, len);
    /* inproc PAIR with the default HWM: the scan thread takes one lease at a time and the
     * coordinator grants one credit, so the pipe never fills */
    if (zmq_send(l->pipe_link, buf, 1 + len, 0) < 0)
        ps_log(PS_LOG_ERROR, "worker", "link pipe: %s", zmq_strerror(zmq_errno()));
}

static void send_heartbeat(struct ps_link *l, uint64_t now)
{
    Poisonscan__Envelope env;
    Poisonscan__Heartbeat hb;

    poisonscan__envelope__init(&env);
    poisonscan__heartbeat__init(&hb);
    pthread_mutex_lock(&l->mu);
    /* a scanner that shows no progress for stall_ms is hung: let its lease expire */
    if (l->attempt != 0 && now - l->progress_at <= l->o.stall_ms) {
        hb.pass = l->pass;
        hb.shard_id = l->shard_id;
        hb.attempt = l->attempt;
        hb.bytes_done = l->bytes_done;
        hb.docs_done = l->docs_done;
    }
    pthread_mutex_unlock(&l->mu);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    if (ps_wire_send_dealer(l->sock, &env, NULL) == PS_OK)
        l->last_sent = now;
}

/* Results wait here until the connection takes them (EAGAIN while it is down). */
static void flush_pending(struct ps_link *l)
{
    while (l->n_pending > 0) {
        Poisonscan__Envelope *env = NULL;
        struct ps_errdetail ed = {0};
        struct ps_wire_limits lim = ps_wire_limits_coordinator();
        enum ps_err err = ps_wire_decode(l->pending[0].data, l->pending[0].len, &lim, &env, &ed);

        if (err == PS_OK)
            err = ps_wire_send_dealer(l->sock, env, &ed);
        ps_wire_envelope_free(env);
        if (err == PS_ERR_ZMQ)
            return; /* not up yet: the next tick tries again */
        if (err != PS_OK)
            ps_log(PS_LOG_ERROR, "worker", "result dropped: %s", ed.msg);
        else
            l->last_sent = ps_clock_now_ms();
        free(l->pending[0].data);
        memmove(l->pending, l->pending + 1, (l->n_pending - 1) * sizeof(*l->pending));
        l->n_pending--;
    }
}

static void from_coordinator(struct ps_link *l)
{
    for (;;) {
        Poisonscan__Envelope *env = NULL;
        struct ps_errdetail ed = {0};
        bool got = false;
        enum ps_err err = ps_wire_recv_dealer(l->sock, &l->lim, &env, &got, &ed);

        if (err == PS_ERR_PROTO) {
            ps_log(PS_LOG_WARN, "worker", "dropped a bad message: %s", ed.msg);
            continue;
        }
        if (err != PS_OK || !got)
            return;
        /* any message from the coordinator is a sign of life */
        l->last_heard = ps_clock_now_ms();
        switch (env->body_case) {
        case POISONSCAN__ENVELOPE__BODY_LEASE:
            to_scan(l, PIPE_LEASE, &env, sizeof(env));
            continue; /* the scan thread owns it now */
        case POISONSCAN__ENVELOPE__BODY_SHUTDOWN:
            ps_log(PS_LOG_INFO, "worker", "shutdown: %s", env->shutdown->reason);
            to_scan(l, PIPE_SHUTDOWN, NULL, 0);
            break;
        default:
            break;
        }
        ps_wire_envelope_free(env);
    }
}

/* Messages from the scan thread; false when told to quit. */
static bool from_scan(struct ps_link *l)
{
    for (;;) {
        zmq_msg_t m;
        bool quit = false;

        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, l->pipe_link, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return true;
        }
        if (zmq_msg_size(&m) >= 1) {
            const uint8_t *p = zmq_msg_data(&m);
            if (p[0] == PIPE_QUIT) {
                quit = true;
            } else if (p[0] == PIPE_RESULT && l->n_pending < MAX_PENDING) {
                struct pending *pd = &l->pending[l->n_pending++];
                pd->len = zmq_msg_size(&m) - 1;
                pd->data = ps_xmalloc(pd->len ? pd->len : 1);
                memcpy(pd->data, p + 1, pd->len);
            } else if (p[0] == PIPE_RESULT) {
                ps_log(PS_LOG_ERROR, "worker", "too many results waiting; one dropped");
            }
        }
        zmq_msg_close(&m);
        if (quit)
            return false;
    }
}

/* Silence from the coordinator: after liveness intervals, a new incarnation, with a backoff from
 * 1 s doubling to 32 s as in the zguide's ppworker. False when the link gave up. */
static bool check_coordinator(struct ps_link *l, uint64_t now)
{
    struct ps_errdetail ed = {0};

    if (now - l->last_heard <= l->o.heartbeat_ms * l->o.liveness) {
        /* heard again within a backoff (libzmq's own reconnect got through): no new socket;
         * a later silence waits out a backoff of its own */
        l->backoff_until = 0;
        if (now - l->last_heard <= l->o.heartbeat_ms) {
            l->silent_since = 0;
            l->backoff = 0;
        }
        return true;
    }
    if (l->silent_since == 0)
        l->silent_since = l->last_heard;
    if (l->o.give_up_ms != 0 && now - l->silent_since > l->o.give_up_ms) {
        ps_log(PS_LOG_ERROR, "worker", "no coordinator for %" PRIu64 " ms; giving up",
               now - l->silent_since);
        return false;
    }
    if (l->backoff_until == 0) {
        l->backoff = l->backoff == 0 ? 1000 : (l->backoff * 2 > 32000 ? 32000 : l->backoff * 2);
        l->backoff_until = now + l->backoff;
        ps_log(PS_LOG_WARN, "worker", "coordinator silent; reconnecting in %" PRIu64 " ms",
               l->backoff);
        return true;
    }
    if (now < l->backoff_until)
        return true;
    l->backoff_until = 0;
    if (open_socket(l, &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "worker", "cannot connect to '%s': %s", l->o.connect, ed.msg);
        return false;
    }
    return true;
}

static void *link_main(void *arg)
{
    struct ps_link *l = arg;

    for (;;) {
        zmq_pollitem_t it[2] = {{l->sock, 0, ZMQ_POLLIN, 0}, {l->pipe_link, 0, ZMQ_POLLIN, 0}};
        /* until the Hello is out, retry it often: the connection comes up in milliseconds */
        long timeout = l->hello_pending || l->n_pending > 0 ? 20 : (long)l->o.heartbeat_ms / 2 + 1;
        uint64_t now;

        if (zmq_poll(it, 2, timeout) < 0 && zmq_errno() != EINTR) {
            ps_log(PS_LOG_ERROR, "worker", "zmq_poll: %s", zmq_strerror(zmq_errno()));
            to_scan(l, PIPE_LOST, NULL, 0);
            break;
        }
        if (!from_scan(l))
            break;
        from_coordinator(l);
        now = ps_clock_now_ms();
        if (l->hello_pending)
            send_hello(l);
        else if (now - l->last_sent >= l->o.heartbeat_ms)
            send_heartbeat(l, now);
        if (!l->hello_pending)
            flush_pending(l);
        if (!check_coordinator(l, now)) {
            to_scan(l, PIPE_LOST, NULL, 0);
            /* wait for the scan thread's quit, so that the pipe outlives every message */
            while (from_scan(l)) {
                zmq_pollitem_t p = {l->pipe_link, 0, ZMQ_POLLIN, 0};
                zmq_poll(&p, 1, 100);
            }
            break;
        }
    }
    if (l->n_pending > 0 && l->sock != NULL)
        flush_pending(l); /* the last result gets its chance (ZMQ_LINGER bounds it) */
    return NULL;
}

static enum ps_err pipe_pair(struct ps_link *l, struct ps_errdetail *ed)
{
    char ep[64];
    int hwm = 0; /* unbounded: the pipe carries a handful of small messages */

    snprintf(ep, sizeof(ep), "inproc://ps-link-%p", (void *)l);
    l->pipe_link = zmq_socket(l->zctx, ZMQ_PAIR);
    l->pipe_scan = zmq_socket(l->zctx, ZMQ_PAIR);
    if (l->pipe_link == NULL || l->pipe_scan == NULL ||
        zmq_setsockopt(l->pipe_link, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_setsockopt(l->pipe_scan, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0 ||
        zmq_bind(l->pipe_link, ep) != 0 || zmq_connect(l->pipe_scan, ep) != 0) {
        ps_errdetail_set(ed, NULL, 0, "link pipe: %s", zmq_strerror(zmq_errno()));
        return PS_ERR_ZMQ;
    }
    return PS_OK;
}

enum ps_err ps_link_start(struct ps_link **out, const struct ps_link_opts *o,
                          struct ps_errdetail *ed)
{
    struct ps_link *l = ps_xcalloc(1, sizeof(*l));
    sigset_t all, old;
    enum ps_err err;

    *out = NULL;
    l->o = *o;
    l->lim = ps_wire_limits_worker();
    pthread_mutex_init(&l->mu, NULL);
    l->zctx = zmq_ctx_new();
    if (l->zctx == NULL) {
        ps_errdetail_set(ed, NULL, 0, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        err = PS_ERR_ZMQ;
        goto fail;
    }
    err = pipe_pair(l, ed);
    if (err == PS_OK)
        err = open_socket(l, ed);
    if (err != PS_OK)
        goto fail;
    /* signals (the stop flag) are the scan thread's business */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    l->started = pthread_create(&l->thread, NULL, link_main, l) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!l->started) {
        ps_errdetail_set(ed, NULL, 0, "cannot start the link thread");
        err = PS_ERR_ZMQ;
        goto fail;
    }
    *out = l;
    return PS_OK;
fail:
    ps_link_stop(l);
    return err;
}

enum ps_link_event ps_link_next(struct ps_link *l, long timeout_ms, Poisonscan__Envelope **lease)
{
    zmq_pollitem_t it = {l->pipe_scan, 0, ZMQ_POLLIN, 0};
    enum ps_link_event ev = PS_LINK_NONE;
    zmq_msg_t m;

    *lease = NULL;
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return PS_LINK_NONE; /* timeout, or a signal: the caller checks its stop flag */
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, l->pipe_scan, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return PS_LINK_NONE;
    }
    if (zmq_msg_size(&m) >= 1) {
        const uint8_t *p = zmq_msg_data(&m);
        if (p[0] == PIPE_LEASE && zmq_msg_size(&m) == 1 + sizeof(*lease)) {
            memcpy(lease, p + 1, sizeof(*lease));
            ev = PS_LINK_LEASE;
        } else if (p[0] == PIPE_SHUTDOWN) {
            ev = PS_LINK_SHUTDOWN;
        } else if (p[0] == PIPE_LOST) {
            ev = PS_LINK_LOST;
        }
    }
    zmq_msg_close(&m);
    return ev;
}

void ps_link_set_lease(struct ps_link *l, uint32_t pass, uint32_t shard_id, uint32_t attempt)
{
    pthread_mutex_lock(&l->mu);
    l->pass = pass;
    l->shard_id = shard_id;
    l->attempt = attempt;
    l->bytes_done = l->docs_done = 0;
    l->progress_at = ps_clock_now_ms();
    pthread_mutex_unlock(&l->mu);
}

void ps_link_progress(struct ps_link *l, uint64_t bytes_done, uint64_t docs_done)
{
    pthread_mutex_lock(&l->mu);
    l->bytes_done = bytes_done;
    l->docs_done = docs_done;
    l->progress_at = ps_clock_now_ms();
    pthread_mutex_unlock(&l->mu);
}

void ps_link_routing_id(struct ps_link *l, char *dst, size_t dst_cap)
{
    pthread_mutex_lock(&l->mu);
    snprintf(dst, dst_cap, "%s", l->routing_id);
    pthread_mutex_unlock(&l->mu);
}

enum ps_err ps_link_send(struct ps_link *l, const Poisonscan__Envelope *result,
                         struct ps_errdetail *ed)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    size_t n;
    uint8_t *buf;
    enum ps_err err = ps_wire_validate(result, &lim, ed);

    if (err != PS_OK)
        return err;
    n = poisonscan__envelope__get_packed_size(result);
    buf = ps_xmalloc(n + 1);
    buf[0] = PIPE_RESULT;
    poisonscan__envelope__pack(result, buf + 1);
    if (zmq_send(l->pipe_scan, buf, n + 1, 0) < 0) {
        ps_errdetail_set(ed, NULL, 0, "link pipe: %s", zmq_strerror(zmq_errno()));
        err = PS_ERR_ZMQ;
    }
    free(buf);
    return err;
}

void ps_link_stop(struct ps_link *l)
{
    if (l == NULL)
        return;
    if (l->started) {
        const uint8_t quit = PIPE_QUIT;
        zmq_send(l->pipe_scan, &quit, 1, 0);
        pthread_join(l->thread, NULL);
    }
    /* leases the scan thread never took */
    if (l->pipe_scan != NULL) {
        Poisonscan__Envelope *env;
        while (ps_link_next(l, 0, &env) != PS_LINK_NONE)
            ps_wire_envelope_free(env);
    }
    drop_pending(l);
    if (l->sock != NULL)
        zmq_close(l->sock);
    if (l->pipe_link != NULL)
        zmq_close(l->pipe_link);
    if (l->pipe_scan != NULL)
        zmq_close(l->pipe_scan);
    if (l->zctx != NULL)
        zmq_ctx_term(l->zctx);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
