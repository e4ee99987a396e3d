/* test_zap.c - the coordinator's ZAP handler: real CURVE sockets admitted or refused by it, raw
 * RFC 27 requests (well-formed, foreign, malformed) answered by it, and allow-file reloads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "coordinator/zap.h"

#define WAIT_MS 5000

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

/* Wait until the handler has counted at least `n` in the field at `offset` of its stats. */
static bool wait_stat(struct ps_zap *z, size_t offset, uint64_t n)
{
    uint64_t deadline = ps_clock_now_ms() + WAIT_MS;

    while (ps_clock_now_ms() < deadline) {
        struct ps_zap_stats st;
        uint64_t v;
        ps_zap_stats(z, &st);
        memcpy(&v, (const char *)&st + offset, sizeof(v));
        if (v >= n)
            return true;
        ps_clock_sleep_ms(10);
    }
    return false;
}

static struct ps_curve_allow *allow_of(const char *z85, const char *name)
{
    struct ps_curve_allow *a = ps_curve_allow_new();

    assert_int_equal(ps_curve_allow_add(a, z85, name, NULL), PS_OK);
    return a;
}

/* The whole path: a CURVE ROUTER whose context runs the handler; the listed client's messages
 * arrive with the handler's user id, the stranger's never do. */
static void test_zap_admits_listed_key_with_its_name_and_refuses_others(void **state)
{
    struct ps_wire_security server = ps_wire_security_plain(), alice = ps_wire_security_plain();
    struct ps_wire_security stranger = ps_wire_security_plain();
    struct ps_wire_limits clim = ps_wire_limits_coordinator(), wlim = ps_wire_limits_worker();
    struct ps_errdetail ed = {0};
    struct ps_zap_opts zo = {0};
    struct ps_curve_allow *keys;
    struct ps_zap *zap = NULL;
    struct ps_zap_stats st;
    char ep[PS_WIRE_ENDPOINT_CAP], id_a[PS_WIRE_ROUTING_ID_CAP], id_s[PS_WIRE_ROUTING_ID_CAP];
    void *ctx = zmq_ctx_new(), *router = NULL, *a = NULL, *s = NULL;
    Poisonscan__Envelope env = POISONSCAN__ENVELOPE__INIT;
    Poisonscan__Ready ready = POISONSCAN__READY__INIT;
    zmq_msg_t m;
    const char *user;

    (void)state;
    if (!ps_curve_available())
        skip();
    server.curve = alice.curve = stranger.curve = true;
    assert_int_equal(ps_curve_keypair_new(&server.own, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&alice.own, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&stranger.own, NULL), PS_OK);
    memcpy(alice.server_key, server.own.public_key, PS_CURVE_Z85_CAP);
    memcpy(stranger.server_key, server.own.public_key, PS_CURVE_Z85_CAP);
    keys = allow_of(alice.own.public_key, "alice");
    zo.allow = keys;
    assert_int_equal(ps_zap_start(&zap, ctx, &zo, &ed), PS_OK);
    ps_curve_allow_free(keys); /* the handler keeps a copy */
    assert_int_equal(
        ps_wire_router_bind(ctx, "tcp://127.0.0.1:*", &server, &clim, &router, ep, sizeof(ep), &ed),
        PS_OK);
    ps_wire_make_routing_id(id_s, sizeof(id_s));
    ps_wire_make_routing_id(id_a, sizeof(id_a));
    assert_int_equal(ps_wire_dealer_connect(ctx, ep, id_s, &stranger, &wlim, &s, &ed), PS_OK);
    assert_int_equal(ps_wire_dealer_connect(ctx, ep, id_a, &alice, &wlim, &a, &ed), PS_OK);

    ready.credit = 3;
    env.body_case = POISONSCAN__ENVELOPE__BODY_READY;
    env.ready = &ready;
    assert_true(wait_event(a, ZMQ_POLLOUT, WAIT_MS));
    assert_int_equal(ps_wire_send_dealer(a, &env, &ed), PS_OK);
    assert_true(wait_event(router, ZMQ_POLLIN, WAIT_MS));
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, router, 0) >= 0); /* routing id */
    assert_memory_equal(zmq_msg_data(&m), id_a, strlen(id_a));
    assert_true(zmq_msg_more(&m));
    assert_true(zmq_msg_recv(&m, router, 0) >= 0); /* the envelope, with the peer's metadata */
    user = zmq_msg_gets(&m, "User-Id");
    assert_non_null(user);
    assert_string_equal(user, "alice");
    zmq_msg_close(&m);

    assert_true(wait_stat(zap, offsetof(struct ps_zap_stats, refused), 1));
    assert_false(wait_event(s, ZMQ_POLLOUT, 300));
    assert_false(wait_event(router, ZMQ_POLLIN, 100));
    ps_zap_stats(zap, &st);
    assert_true(st.admitted >= 1);
    assert_int_equal(st.malformed, 0);

    zmq_close(a);
    zmq_close(s);
    zmq_close(router);
    ps_zap_stop(zap);
    zmq_ctx_term(ctx);
}

/* Send one ZAP request of n frames on `req` and read the reply's status and user id. */
static void zap_ask(void *req, const char *const *frames, const size_t *lens, size_t n,
                    char *status, char *user)
{
    char reply[6][128];
    size_t k = 0;
    int more = 1;

    for (size_t i = 0; i < n; i++)
        assert_int_equal(zmq_send(req, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0),
                         (int)lens[i]);
    assert_true(wait_event(req, ZMQ_POLLIN, WAIT_MS));
    while (more) {
        size_t more_len = sizeof(more);
        int got;
        assert_true(k < 6);
        got = zmq_recv(req, reply[k], sizeof(reply[k]) - 1, 0);
        assert_true(got >= 0);
        reply[k][got] = '\0';
        k++;
        zmq_getsockopt(req, ZMQ_RCVMORE, &more, &more_len);
    }
    assert_int_equal(k, 6);
    assert_string_equal(reply[0], "1.0");
    assert_string_equal(reply[1], "req-7");
    strcpy(status, reply[2]);
    strcpy(user, reply[4]);
}

static void curve_request(void *req, const char *version, const char *domain, const char *mech,
                          const uint8_t *key, size_t key_len, char *status, char *user)
{
    const char *frames[7] = {version, "req-7", domain, "10.1.2.3", "", mech, (const char *)key};
    size_t lens[7];

    for (int i = 0; i < 6; i++)
        lens[i] = strlen(frames[i]);
    lens[6] = key_len;
    zap_ask(req, frames, lens, 7, status, user);
}

/* Requests straight to inproc://zeromq.zap.01: the handler answers each, and only a listed key
 * under CURVE in our domain gets a 200. */
static void test_zap_answers_foreign_and_malformed_requests(void **state)
{
    struct ps_curve_keypair alice, bob;
    uint8_t ka[PS_CURVE_KEY_LEN], kb[PS_CURVE_KEY_LEN];
    struct ps_errdetail ed = {0};
    struct ps_zap_opts zo = {0};
    struct ps_curve_allow *keys;
    struct ps_zap *zap = NULL;
    struct ps_zap_stats st;
    char status[16], user[128], big[300];
    void *ctx = zmq_ctx_new(), *req;
    const char *nine[9] = {"1.0", "req-7", PS_WIRE_ZAP_DOMAIN, "a", "", "CURVE", "k", "x", "y"};
    size_t nine_len[9] = {3, 5, strlen(PS_WIRE_ZAP_DOMAIN), 1, 0, 5, 1, 1, 1};

    (void)state;
    if (!ps_curve_available())
        skip();
    assert_int_equal(ps_curve_keypair_new(&alice, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&bob, NULL), PS_OK);
    assert_true(ps_curve_z85_decode(ka, alice.public_key));
    assert_true(ps_curve_z85_decode(kb, bob.public_key));
    keys = allow_of(alice.public_key, "alice");
    zo.allow = keys;
    assert_int_equal(ps_zap_start(&zap, ctx, &zo, &ed), PS_OK);
    /* a second handler in the same context cannot bind */
    {
        struct ps_zap *twice = NULL;
        assert_int_equal(ps_zap_start(&twice, ctx, &zo, &ed), PS_ERR_ZMQ);
        assert_null(twice);
    }
    ps_curve_allow_free(keys);
    req = zmq_socket(ctx, ZMQ_REQ);
    assert_int_equal(zmq_connect(req, PS_ZAP_ENDPOINT), 0);

    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", ka, 32, status, user);
    assert_string_equal(status, "200");
    assert_string_equal(user, "alice");
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", kb, 32, status, user);
    assert_string_equal(status, "400");
    assert_string_equal(user, "");
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "PLAIN", ka, 32, status, user);
    assert_string_equal(status, "400");
    curve_request(req, "1.0", "other", "CURVE", ka, 32, status, user);
    assert_string_equal(status, "400");
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", ka, 31, status, user);
    assert_string_equal(status, "400");
    curve_request(req, "2.0", PS_WIRE_ZAP_DOMAIN, "CURVE", ka, 32, status, user);
    assert_string_equal(status, "500");
    zap_ask(req, nine, nine_len, 6, status, user); /* no credential frame */
    assert_string_equal(status, "500");
    zap_ask(req, nine, nine_len, 9, status, user);
    assert_string_equal(status, "500");
    memset(big, 'a', sizeof(big));
    {
        const char *frames[7] = {"1.0", "req-7", PS_WIRE_ZAP_DOMAIN, big,
                                 "",    "CURVE", (const char *)ka};
        size_t lens[7] = {3, 5, strlen(PS_WIRE_ZAP_DOMAIN), sizeof(big), 0, 5, 32};
        zap_ask(req, frames, lens, 7, status, user);
        assert_string_equal(status, "500");
    }
    ps_zap_stats(zap, &st);
    assert_int_equal(st.admitted, 1);
    assert_int_equal(st.refused, 4);
    assert_int_equal(st.malformed, 4);
    zmq_close(req);
    ps_zap_stop(zap);
    zmq_ctx_term(ctx);
}

static void write_allow(const char *path, const char *z85, const char *name)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "# test\n%s %s\n", z85, name);
    fclose(f);
}

/* A reload swaps the keys; a reload of a bad file keeps the keys loaded before. */
static void test_zap_reload_rereads_the_allow_file_and_keeps_keys_on_error(void **state)
{
    struct ps_curve_keypair alice, bob;
    uint8_t ka[PS_CURVE_KEY_LEN], kb[PS_CURVE_KEY_LEN];
    struct ps_errdetail ed = {0};
    struct ps_curve_allow *first = NULL;
    struct ps_zap_opts zo = {0};
    struct ps_zap *zap = NULL;
    atomic_int reload = 0;
    char path[] = "/tmp/pszap-allow-XXXXXX", status[16], user[128];
    void *ctx = zmq_ctx_new(), *req;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    if (!ps_curve_available())
        skip();
    assert_int_equal(ps_curve_keypair_new(&alice, NULL), PS_OK);
    assert_int_equal(ps_curve_keypair_new(&bob, NULL), PS_OK);
    assert_true(ps_curve_z85_decode(ka, alice.public_key));
    assert_true(ps_curve_z85_decode(kb, bob.public_key));
    write_allow(path, alice.public_key, "alice");
    assert_int_equal(ps_curve_allow_load(&first, path, &ed), PS_OK);
    zo.allow = first;
    zo.allow_file = path;
    zo.reload = &reload;
    assert_int_equal(ps_zap_start(&zap, ctx, &zo, &ed), PS_OK);
    ps_curve_allow_free(first);
    req = zmq_socket(ctx, ZMQ_REQ);
    assert_int_equal(zmq_connect(req, PS_ZAP_ENDPOINT), 0);
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", ka, 32, status, user);
    assert_string_equal(status, "200");
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", kb, 32, status, user);
    assert_string_equal(status, "400");

    write_allow(path, bob.public_key, "bob");
    atomic_store(&reload, 1);
    assert_true(wait_stat(zap, offsetof(struct ps_zap_stats, reloads), 1));
    assert_int_equal(atomic_load(&reload), 0);
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", kb, 32, status, user);
    assert_string_equal(status, "200");
    assert_string_equal(user, "bob");
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", ka, 32, status, user);
    assert_string_equal(status, "400");

    write_allow(path, "not-a-key", "x");
    atomic_store(&reload, 1);
    assert_true(wait_stat(zap, offsetof(struct ps_zap_stats, reload_errors), 1));
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", kb, 32, status, user);
    assert_string_equal(status, "200");
    unlink(path);
    curve_request(req, "1.0", PS_WIRE_ZAP_DOMAIN, "CURVE", ka, 32, status, user);
    assert_string_equal(status, "400");

    zmq_close(req);
    ps_zap_stop(zap);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zap_admits_listed_key_with_its_name_and_refuses_others),
        cmocka_unit_test(test_zap_answers_foreign_and_malformed_requests),
        cmocka_unit_test(test_zap_reload_rereads_the_allow_file_and_keeps_keys_on_error),
    };

    ps_log_set_level(PS_LOG_OFF);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
