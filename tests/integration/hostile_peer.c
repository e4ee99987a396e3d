/* hostile_peer.c - a test helper for test_hostile_peers.sh: it plays an admitted but hostile
 * peer against a running coordinator (client mode) or a fake coordinator against a real worker
 * (server mode), sends garbage, malformed, oversized, misdirected, replayed and stale messages,
 * and then checks that the other side still does its work. It prints one line per step and exits
 * 0 when every check held, 1 when one failed, 2 on bad usage.
 *
 *   hostile_peer client ENDPOINT SECRET_KEY_FILE SERVER_KEY DONE_SHARD DONE_ATTEMPT
 *   hostile_peer server ENDPOINT_FILE SECRET_KEY_FILE JOB SHARD_PATH DOCS
 *
 * Deadlines are multiplied by POISONSCAN_TEST_SLOWDOWN, as in lib.sh. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/curve.h"
#include "common/store.h"
#include "common/wire.h"

#define WAIT_MS 30000
/* longer than a worker's heartbeat interval, even under a sanitizer */
#define QUIET_MS 5000
#define HB_MS    500

static uint64_t g_slow = 1;

static char *str(const char *s)
{
    return (char *)(uintptr_t)s;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static _Noreturn void die(const char *what)
{
    say("FAIL: %s", what);
    exit(1);
}

/* Pack without validation: the point is to send what a correct peer never would. */
static size_t pack_raw(const Poisonscan__Envelope *env, uint8_t **out)
{
    size_t n = poisonscan__envelope__get_packed_size(env);

    *out = malloc(n ? n : 1);
    if (*out == NULL)
        die("out of memory");
    poisonscan__envelope__pack(env, *out);
    return n;
}

/* Send frames (a NULL-terminated list of (data, len) pairs after `to`, which may be NULL for a
 * DEALER) without blocking; a peer whose queue is full drops nothing here: we wait for POLLOUT. */
static void send_frames(void *sock, const char *to, size_t to_len, size_t n, const void *const *d,
                        const size_t *len)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLOUT, 0};

    if (zmq_poll(&it, 1, (long)(WAIT_MS * g_slow)) != 1)
        die("socket never became writable");
    if (to != NULL && zmq_send(sock, to, to_len, ZMQ_SNDMORE) < 0)
        die("cannot send the routing id");
    for (size_t i = 0; i < n; i++)
        if (zmq_send(sock, d[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            die("cannot send a frame");
}

static void send_one(void *sock, const char *to, size_t to_len, const void *d, size_t len)
{
    send_frames(sock, to, to_len, 1, &d, &len);
}

static void send_env_raw(void *sock, const char *to, size_t to_len, const Poisonscan__Envelope *e,
                         const char *what)
{
    uint8_t *buf;
    size_t n = pack_raw(e, &buf);

    send_one(sock, to, to_len, buf, n);
    free(buf);
    say("sent %s", what);
}

/* Garbage, two frames where one belongs, an empty frame, two bodies in one envelope: what
 * every receiver must drop before decoding anything. */
static void send_framing_garbage(void *sock, const char *to, size_t to_len)
{
    uint8_t junk[200], *a, *b;
    Poisonscan__Envelope e1 = POISONSCAN__ENVELOPE__INIT, e2 = POISONSCAN__ENVELOPE__INIT;
    Poisonscan__Heartbeat hb = POISONSCAN__HEARTBEAT__INIT;
    Poisonscan__Shutdown sd;
    const void *two[2] = {"x", "y"};
    const size_t two_len[2] = {1, 1};
    size_t na, nb;

    poisonscan__shutdown__init(&sd);
    memset(junk, 0xff, sizeof(junk)); /* field 31, wire type 7: no such type */
    send_one(sock, to, to_len, junk, sizeof(junk));
    say("sent 200 bytes of garbage");
    send_frames(sock, to, to_len, 2, two, two_len);
    say("sent two frames where one belongs");
    send_one(sock, to, to_len, "", 0);
    say("sent an empty frame");
    e1.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    e1.heartbeat = &hb;
    e2.body_case = POISONSCAN__ENVELOPE__BODY_SHUTDOWN;
    e2.shutdown = &sd;
    na = pack_raw(&e1, &a);
    nb = pack_raw(&e2, &b);
    a = realloc(a, na + nb);
    if (a == NULL)
        die("out of memory");
    memcpy(a + na, b, nb); /* concatenated messages merge: one envelope, two bodies */
    send_one(sock, to, to_len, a, na + nb);
    say("sent an envelope with two bodies");
    free(a);
    free(b);
}

/* A frame larger than the receiver's ZMQ_MAXMSGSIZE: libzmq drops the connection before the
 * application sees a byte; the peer then reconnects. */
static void send_oversized(void *sock, const char *to, size_t to_len, size_t n)
{
    zmq_msg_t m;
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLOUT, 0};

    if (zmq_poll(&it, 1, (long)(WAIT_MS * g_slow)) != 1)
        die("socket never became writable");
    if (zmq_msg_init_size(&m, n) != 0)
        die("out of memory");
    memset(zmq_msg_data(&m), 'A', n);
    if (to != NULL && zmq_send(sock, to, to_len, ZMQ_SNDMORE) < 0)
        die("cannot send the routing id");
    if (zmq_msg_send(&m, sock, 0) < 0)
        die("cannot send the oversized frame");
    say("sent a frame of %zu bytes", n);
}

static void fill_settings(Poisonscan__ScanSettings *s)
{
    poisonscan__scan_settings__init(s);
    s->text_field = str("text");
    s->id_field = str("id");
    s->max_line = 1u << 20;
    s->max_errors_kept = 100;
    s->ngram_max = 3;
    s->window = 32;
    s->max_candidates = 48;
}

/* ------------------------------------------------------------------------------------------ */
/* client mode: an admitted worker that misbehaves against a running coordinator               */

static Poisonscan__Envelope *await_dealer(void *sock, Poisonscan__Envelope__BodyCase want)
{
    struct ps_wire_limits lim = ps_wire_limits_worker();
    uint64_t end = ps_clock_now_ms() + WAIT_MS * g_slow;

    while (ps_clock_now_ms() < end) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        Poisonscan__Envelope *env = NULL;
        struct ps_errdetail ed = {0};
        bool got = false;

        zmq_poll(&it, 1, 100);
        if (ps_wire_recv_dealer(sock, &lim, &env, &got, &ed) == PS_OK && got) {
            if (env->body_case == want)
                return env;
            ps_wire_envelope_free(env);
        }
    }
    die("the coordinator never sent what was expected");
}

static void send_result(void *sock, const char *job, uint32_t pass, uint32_t shard,
                        uint32_t attempt, const char *what)
{
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT;
    Poisonscan__ShardResult r;

    poisonscan__shard_result__init(&r);
    r.job_id = str(job);
    r.pass = pass;
    r.shard_id = shard;
    r.attempt = attempt;
    r.outcome = POISONSCAN__OUTCOME__OUTCOME_COMMITTED;
    r.error = str("");
    r.docs = 1000000;
    env.body_case = POISONSCAN__ENVELOPE__BODY_RESULT;
    env.result = &r;
    send_env_raw(sock, NULL, 0, &env, what);
}

static void send_hello(void *sock, const char *id, uint32_t version, const char *what)
{
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT;
    Poisonscan__Hello h;

    poisonscan__hello__init(&h);
    h.protocol_version = version;
    h.routing_id = str(id);
    h.hostname = str("hostile");
    h.pid = 1;
    h.simd_level = str("scalar");
    h.credit = 1;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    send_env_raw(sock, NULL, 0, &env, what);
}

/* done_shard, done_attempt: a pass-1 shard another worker committed, and its attempt */
static int run_client(const char *endpoint, const char *secret_file, const char *server_key,
                      uint32_t done_shard, uint32_t done_attempt)
{
    struct ps_wire_security sec = ps_wire_security_plain();
    struct ps_wire_limits lim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    char id[PS_WIRE_ROUTING_ID_CAP], other_job[PS_STORE_JOB_MAX + 8];
    void *ctx = zmq_ctx_new(), *sock = NULL;
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got;
    Poisonscan__Lease lease;
    Poisonscan__ScanSettings st;
    const Poisonscan__Lease *l;

    sec.curve = true;
    if (ps_curve_read_secret(secret_file, &sec.own, NULL, &ed) != PS_OK ||
        ps_curve_read_public(server_key, sec.server_key, &ed) != PS_OK) {
        say("FAIL: %s", ed.msg);
        return 1;
    }
    ps_wire_make_routing_id(id, sizeof(id));
    if (ps_wire_dealer_connect(ctx, endpoint, id, &sec, &lim, &sock, &ed) != PS_OK) {
        say("FAIL: %s", ed.msg);
        return 1;
    }
    say("connected as %s", id);
    send_framing_garbage(sock, NULL, 0);
    send_hello(sock, id, PS_WIRE_PROTOCOL_VERSION - 1, "a hello of the previous protocol");
    send_hello(sock, "someone-else-1-0000000000000000", PS_WIRE_PROTOCOL_VERSION,
               "a hello naming another routing id");
    fill_settings(&st);
    poisonscan__lease__init(&lease);
    lease.job_id = str("j");
    lease.pass = 1;
    lease.attempt = 1;
    lease.path = str("/etc/passwd");
    lease.settings = &st;
    lease.lease_ms = 1000;
    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &lease;
    send_env_raw(sock, NULL, 0, &env, "a lease (the coordinator's own message)");
    send_result(sock, "j", 1, 0, 0, "a result of attempt 0");
    /* admitted now; the coordinator leases it a shard */
    send_hello(sock, id, PS_WIRE_PROTOCOL_VERSION, "a good hello");
    got = await_dealer(sock, POISONSCAN__ENVELOPE__BODY_LEASE);
    l = got->lease;
    say("got lease: job %s pass %u shard %u attempt %u", l->job_id, l->pass, l->shard_id,
        l->attempt);
    snprintf(other_job, sizeof(other_job), "x%s", l->job_id);
    send_result(sock, other_job, l->pass, l->shard_id, l->attempt, "a result for another job");
    send_result(sock, l->job_id, l->pass, l->shard_id + 1000000, l->attempt,
                "a result for a shard out of range");
    send_result(sock, l->job_id, l->pass % 3 + 1, l->shard_id, l->attempt,
                "a result for another pass");
    send_result(sock, l->job_id, l->pass, l->shard_id, l->attempt + 7,
                "a result for a later attempt");
    send_result(sock, l->job_id, 1, done_shard, done_attempt,
                "a replay of another worker's result");
    ps_wire_envelope_free(got);
    /* the last word: a frame over the coordinator's 1 MiB limit, then silence; the shards it
     * was leased expire and go to a worker that does its job */
    send_oversized(sock, NULL, 0, ((size_t)2 << 20) + 1);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    ps_curve_keypair_wipe(&sec.own);
    say("done");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* server mode: a fake coordinator that misbehaves against a real worker                       */

struct fake {
    void *sock;
    char peer[PS_WIRE_ROUTING_ID_MAX];
    size_t peer_len;
    uint64_t last_hb;
};

/* Serve the worker until a message of kind `want` arrives, or a Hello (a new incarnation, whose
 * routing id replaces the old one), or `ms` pass: NULL then. Heartbeats keep the worker from
 * taking us for dead. */
static Poisonscan__Envelope *serve(struct fake *f, Poisonscan__Envelope__BodyCase want, uint64_t ms)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    uint64_t end = ps_clock_now_ms() + ms;

    while (ps_clock_now_ms() < end) {
        zmq_pollitem_t it = {f->sock, 0, ZMQ_POLLIN, 0};
        Poisonscan__Envelope *env = NULL;
        struct ps_errdetail ed = {0};
        char peer[PS_WIRE_ROUTING_ID_MAX];
        size_t peer_len = 0;
        bool got = false;

        if (f->peer_len > 0 && ps_clock_now_ms() - f->last_hb >= HB_MS) {
            Poisonscan__Envelope hb_env = POISONSCAN__ENVELOPE__INIT;
            Poisonscan__Heartbeat hb = POISONSCAN__HEARTBEAT__INIT;
            hb_env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
            hb_env.heartbeat = &hb;
            (void)ps_wire_send_router(f->sock, f->peer, f->peer_len, &hb_env, NULL);
            f->last_hb = ps_clock_now_ms();
        }
        zmq_poll(&it, 1, 100);
        if (ps_wire_recv_router(f->sock, &lim, peer, sizeof(peer), &peer_len, &env, &got, &ed) !=
                PS_OK ||
            !got)
            continue;
        if (env->body_case == POISONSCAN__ENVELOPE__BODY_HELLO || f->peer_len == 0) {
            memcpy(f->peer, peer, peer_len);
            f->peer_len = peer_len;
        }
        if (env->body_case == want || env->body_case == POISONSCAN__ENVELOPE__BODY_HELLO)
            return env;
        ps_wire_envelope_free(env);
    }
    return NULL;
}

static Poisonscan__Envelope *await_router(struct fake *f, Poisonscan__Envelope__BodyCase want)
{
    Poisonscan__Envelope *env = serve(f, want, WAIT_MS * g_slow);

    if (env == NULL)
        die("the worker never sent what was expected");
    return env;
}

/* Send `env` to the worker's current incarnation, waiting while it is away (after the oversized
 * frame its libzmq reconnects, or its link starts a new incarnation). */
static void send_to_worker(struct fake *f, const Poisonscan__Envelope *env)
{
    struct ps_errdetail ed = {0};
    uint64_t end = ps_clock_now_ms() + WAIT_MS * g_slow;

    while (ps_wire_send_router(f->sock, f->peer, f->peer_len, env, &ed) != PS_OK) {
        if (ps_clock_now_ms() > end)
            die(ed.msg);
        ps_wire_envelope_free(serve(f, POISONSCAN__ENVELOPE__BODY__NOT_SET, 200));
    }
}

static void fill_lease(Poisonscan__Lease *l, Poisonscan__ScanSettings *st, const char *job,
                       const char *path, uint64_t size)
{
    fill_settings(st);
    poisonscan__lease__init(l);
    l->job_id = str(job);
    l->pass = 1;
    l->shard_id = 0;
    l->attempt = 1;
    l->path = str(path);
    l->begin = 0;
    l->end = size;
    l->format = POISONSCAN__SHARD_FORMAT__SHARD_FORMAT_JSONL;
    l->settings = st;
    l->lease_ms = (uint32_t)(WAIT_MS * g_slow);
}

/* Leases no worker may act on: each breaks one rule of docs/protocol.md §4. */
static void send_bad_leases(struct fake *f, const char *job, const char *path, uint64_t size)
{
    static uint8_t cand[] = "<SUDO>";
    static ProtobufCBinaryData cands[1] = {{6, cand}};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT;
    Poisonscan__Lease l;
    Poisonscan__ScanSettings st;
    Poisonscan__Hello h;
    Poisonscan__ShardResult r;

    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &l;
    fill_lease(&l, &st, job, path, size);
    l.pass = 7;
    send_env_raw(f->sock, f->peer, f->peer_len, &env, "a lease for pass 7");
    fill_lease(&l, &st, job, path, size);
    l.attempt = 0;
    send_env_raw(f->sock, f->peer, f->peer_len, &env, "a lease of attempt 0");
    fill_lease(&l, &st, job, "", size);
    send_env_raw(f->sock, f->peer, f->peer_len, &env, "a lease without a path");
    fill_lease(&l, &st, "job with spaces", path, size);
    send_env_raw(f->sock, f->peer, f->peer_len, &env, "a lease whose job id has spaces");
    fill_lease(&l, &st, job, path, size);
    l.n_candidates = 1;
    l.candidates = cands;
    send_env_raw(f->sock, f->peer, f->peer_len, &env, "a pass-1 lease with candidates");
    fill_lease(&l, &st, job, path, size);
    l.begin = size + 1;
    send_env_raw(f->sock, f->peer, f->peer_len, &env, "a lease whose range ends before it begins");
    poisonscan__hello__init(&h);
    h.protocol_version = PS_WIRE_PROTOCOL_VERSION;
    h.routing_id = str("x");
    h.hostname = str("x");
    h.pid = 1;
    h.simd_level = str("scalar");
    h.credit = 1;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    send_env_raw(f->sock, f->peer, f->peer_len, &env, "a hello (a worker's message)");
    poisonscan__shard_result__init(&r);
    r.job_id = str(job);
    r.pass = 1;
    r.attempt = 1;
    r.error = str("");
    env.body_case = POISONSCAN__ENVELOPE__BODY_RESULT;
    env.result = &r;
    send_env_raw(f->sock, f->peer, f->peer_len, &env, "a shard result (a worker's message)");
}

/* Send a valid lease and check the worker's answer. */
static void lease_and_check(struct fake *f, const char *job, const char *path, uint64_t size,
                            uint32_t attempt, Poisonscan__Outcome want, uint64_t docs)
{
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got;
    Poisonscan__Lease l;
    Poisonscan__ScanSettings st;
    const Poisonscan__ShardResult *r;

    fill_lease(&l, &st, job, path, size);
    l.attempt = attempt;
    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &l;
    for (;;) {
        send_to_worker(f, &env);
        say("sent a good lease, attempt %u", attempt);
        got = await_router(f, POISONSCAN__ENVELOPE__BODY_RESULT);
        if (got->body_case == POISONSCAN__ENVELOPE__BODY_RESULT)
            break;
        /* a new incarnation never saw the lease sent to the old one */
        ps_wire_envelope_free(got);
        say("the worker came back as a new incarnation");
    }
    r = got->result;
    say("result: attempt %u outcome %d docs %llu error '%s'", r->attempt, (int)r->outcome,
        (unsigned long long)r->docs, r->error);
    if (r->attempt != attempt || r->outcome != want || r->docs != docs || strcmp(r->job_id, job))
        die("the worker's result is not the one expected");
    ps_wire_envelope_free(got);
}

static int run_server(const char *endpoint_file, const char *secret_file, const char *job,
                      const char *path, uint64_t docs)
{
    struct ps_wire_security sec = ps_wire_security_plain();
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    struct fake f = {0};
    char bound[PS_WIRE_ENDPOINT_CAP];
    void *ctx = zmq_ctx_new();
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got;
    Poisonscan__Shutdown sd;
    struct stat stt;
    FILE *out;

    if (stat(path, &stt) != 0)
        die("no shard file");
    sec.curve = true;
    if (ps_curve_read_secret(secret_file, &sec.own, NULL, &ed) != PS_OK ||
        ps_wire_router_bind(ctx, "tcp://127.0.0.1:*", &sec, &lim, &f.sock, bound, sizeof(bound),
                            &ed) != PS_OK) {
        say("FAIL: %s", ed.msg);
        return 1;
    }
    out = fopen(endpoint_file, "w");
    if (out == NULL)
        die("cannot write the endpoint file");
    fprintf(out, "%s\n", bound);
    fclose(out);
    say("listening on %s", bound);
    got = await_router(&f, POISONSCAN__ENVELOPE__BODY_HELLO);
    ps_wire_envelope_free(got);
    say("the worker said hello");
    send_framing_garbage(f.sock, f.peer, f.peer_len);
    send_bad_leases(&f, job, path, (uint64_t)stt.st_size);
    /* over the worker's 64 MiB: its libzmq drops the connection and reconnects */
    send_oversized(f.sock, f.peer, f.peer_len, ((size_t)64 << 20) + 1);
    lease_and_check(&f, job, path, (uint64_t)stt.st_size, 1, POISONSCAN__OUTCOME__OUTCOME_COMMITTED,
                    docs);
    /* replayed: the same lease again, and a re-dispatch of it; the first commit stays the only */
    lease_and_check(&f, job, path, (uint64_t)stt.st_size, 1, POISONSCAN__OUTCOME__OUTCOME_DUPLICATE,
                    docs);
    lease_and_check(&f, job, path, (uint64_t)stt.st_size, 2, POISONSCAN__OUTCOME__OUTCOME_DUPLICATE,
                    docs);
    poisonscan__shutdown__init(&sd);
    sd.reason = str("hostile test done");
    env.body_case = POISONSCAN__ENVELOPE__BODY_SHUTDOWN;
    env.shutdown = &sd;
    send_to_worker(&f, &env);
    /* until the worker has been quiet for a while: one that still heartbeats, or comes back as a
     * new incarnation, has not seen the Shutdown yet (a loaded machine can hold it back), so it
     * gets it again; a worker that stopped says nothing more */
    while ((got = serve(&f, POISONSCAN__ENVELOPE__BODY_HEARTBEAT, QUIET_MS * g_slow)) != NULL) {
        ps_wire_envelope_free(got);
        send_to_worker(&f, &env);
    }
    {
        /* the product's linger (1 s) is not enough for a loaded machine under ASan: the
         * Shutdown must leave before this process does, or the worker waits for a coordinator
         * that is gone. zmq_ctx_term returns as soon as it has left. */
        int linger = (int)(WAIT_MS * g_slow);
        zmq_setsockopt(f.sock, ZMQ_LINGER, &linger, sizeof(linger));
    }
    zmq_close(f.sock);
    zmq_ctx_term(ctx);
    ps_curve_keypair_wipe(&sec.own);
    say("done");
    return 0;
}

int main(int argc, char **argv)
{
    const char *slow = getenv("POISONSCAN_TEST_SLOWDOWN");
    char *end;

    if (slow != NULL && slow[0] != '\0') {
        g_slow = strtoull(slow, &end, 10);
        if (*end != '\0' || g_slow == 0)
            g_slow = 1;
    }
    if (argc == 7 && strcmp(argv[1], "client") == 0)
        return run_client(argv[2], argv[3], argv[4], (uint32_t)strtoul(argv[5], NULL, 10),
                          (uint32_t)strtoul(argv[6], NULL, 10));
    if (argc == 7 && strcmp(argv[1], "server") == 0)
        return run_server(argv[2], argv[3], argv[4], argv[5], strtoull(argv[6], NULL, 10));
    fprintf(
        stderr,
        "usage: hostile_peer client ENDPOINT SECRET_KEY_FILE SERVER_KEY DONE_SHARD DONE_ATTEMPT\n"
        "       hostile_peer server ENDPOINT_FILE SECRET_KEY_FILE JOB SHARD_PATH DOCS\n");
    return 2;
}
