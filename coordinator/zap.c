/* zap.c - ZAP handler thread (RFC 27), modelled on zap_handler_generic in libzmq's
 * tests/testutil_security.cpp: a REP socket on inproc://zeromq.zap.01 that reads one request
 * (version, request id, domain, address, routing id, mechanism, credentials) and answers
 * (version, request id, status, text, user id, metadata). Only this thread touches the allow
 * set, so a reload needs no lock. */
#include "coordinator/zap.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"

#define POLL_MS         100 /* how soon a stop or a reload is noticed */
#define MAX_FRAMES      8   /* a CURVE request has 7 */
#define LOG_WINDOW_MS   10000
#define LOG_PER_WINDOW  20
#define REQ_FRAME_BYTES 256 /* any one frame we look at; longer ones are malformed */

enum { F_VERSION, F_REQUEST_ID, F_DOMAIN, F_ADDRESS, F_ROUTING_ID, F_MECHANISM, F_CREDENTIAL };

struct ps_zap {
    void *sock;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    struct ps_curve_allow *allow; /* owned by the thread once it runs */
    const char *allow_file;
    atomic_int *reload;
    _Atomic uint64_t admitted, refused, malformed, reloads, reload_errors;
    uint64_t window_start; /* refusal log rate limit */
    unsigned logged;
    uint64_t suppressed;
};

/* A frame as text for a log line: printable ASCII, anything else escaped. */
static void frame_text(char *dst, size_t dst_cap, zmq_msg_t *m)
{
    ps_wire_format_peer(dst, dst_cap, zmq_msg_data(m), zmq_msg_size(m));
}

static bool frame_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);

    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

static void log_refusal(struct ps_zap *z, const char *msg)
{
    uint64_t now = ps_clock_now_ms();

    /* a client with a wrong key retries forever; its refusals must not drown the log */
    if (now - z->window_start >= LOG_WINDOW_MS) {
        if (z->suppressed > 0)
            ps_log(PS_LOG_WARN, "zap", "%" PRIu64 " more refusals in the last %d s not logged",
                   z->suppressed, LOG_WINDOW_MS / 1000);
        z->window_start = now;
        z->logged = 0;
        z->suppressed = 0;
    }
    if (z->logged >= LOG_PER_WINDOW) {
        z->suppressed++;
        return;
    }
    z->logged++;
    ps_log(PS_LOG_WARN, "zap", "%s", msg);
}

static void send_reply(void *sock, zmq_msg_t *request_id, const char *status, const char *text,
                       const char *user_id)
{
    const char *parts[] = {"1.0", NULL, status, text, user_id, ""};
    size_t n = sizeof(parts) / sizeof(parts[0]);

    for (size_t i = 0; i < n; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        if (i == 1) {
            const void *id = request_id != NULL ? zmq_msg_data(request_id) : "";
            size_t id_len = request_id != NULL ? zmq_msg_size(request_id) : 0;
            zmq_send(sock, id, id_len, flags);
        } else {
            zmq_send(sock, parts[i], strlen(parts[i]), flags);
        }
    }
}

/* Decide on a request of n frames (f holds them when well_formed); returns the status and fills
 * text and user id. */
static const char *decide(struct ps_zap *z, zmq_msg_t *f, size_t n, bool well_formed,
                          const char **text, const char **user_id)
{
    char key_z85[PS_CURVE_Z85_CAP], addr[80], msg[200];
    const char *name;

    *user_id = "";
    if (!well_formed || n != F_CREDENTIAL + 1 || !frame_is(&f[F_VERSION], "1.0")) {
        atomic_fetch_add(&z->malformed, 1);
        ps_log(PS_LOG_WARN, "zap", "malformed ZAP request of %zu frames refused", n);
        *text = "malformed request";
        return "500";
    }
    frame_text(addr, sizeof(addr), &f[F_ADDRESS]);
    if (!frame_is(&f[F_MECHANISM], "CURVE") || !frame_is(&f[F_DOMAIN], PS_WIRE_ZAP_DOMAIN) ||
        zmq_msg_size(&f[F_CREDENTIAL]) != PS_CURVE_KEY_LEN) {
        char mech[40];
        frame_text(mech, sizeof(mech), &f[F_MECHANISM]);
        atomic_fetch_add(&z->refused, 1);
        snprintf(msg, sizeof(msg),
                 "refused a %s handshake from '%s' (only CURVE in domain '" PS_WIRE_ZAP_DOMAIN "')",
                 mech, addr);
        log_refusal(z, msg);
        *text = "only CURVE with a listed key";
        return "400";
    }
    zmq_z85_encode(key_z85, zmq_msg_data(&f[F_CREDENTIAL]), PS_CURVE_KEY_LEN);
    name = ps_curve_allow_find(z->allow, zmq_msg_data(&f[F_CREDENTIAL]));
    if (name == NULL) {
        atomic_fetch_add(&z->refused, 1);
        snprintf(msg, sizeof(msg), "refused CURVE key %s from '%s': not in the allow file", key_z85,
                 addr);
        log_refusal(z, msg);
        *text = "key not allowed";
        return "400";
    }
    atomic_fetch_add(&z->admitted, 1);
    ps_log(PS_LOG_INFO, "zap", "admitted CURVE key '%s' from '%s'", name, addr);
    *text = "OK";
    *user_id = name;
    return "200";
}

/* One request: read every frame (REP demands a reply to each request), decide, answer. */
static void handle_one(struct ps_zap *z)
{
    zmq_msg_t f[MAX_FRAMES];
    size_t n = 0, total = 0;
    bool more = true, too_big = false;
    const char *status, *text, *user_id;

    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->sock, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        total++;
        too_big |= zmq_msg_size(&m) > REQ_FRAME_BYTES;
        if (n < MAX_FRAMES)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    if (more) { /* the receive failed mid-request (context ending): nothing to answer */
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        return;
    }
    status = decide(z, f, total, !too_big && total == n, &text, &user_id);
    send_reply(z->sock, n > F_REQUEST_ID ? &f[F_REQUEST_ID] : NULL, status, text, user_id);
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void reload(struct ps_zap *z)
{
    struct ps_curve_allow *fresh;
    struct ps_errdetail ed = {0};

    if (z->allow_file == NULL) {
        ps_log(PS_LOG_WARN, "zap", "reload asked, but the keys come from no file");
        return;
    }
    if (ps_curve_allow_load(&fresh, z->allow_file, &ed) != PS_OK) {
        atomic_fetch_add(&z->reload_errors, 1);
        ps_log(PS_LOG_ERROR, "zap", "cannot reload: %s; keeping the %zu keys loaded before", ed.msg,
               ps_curve_allow_n(z->allow));
        return;
    }
    ps_curve_allow_free(z->allow);
    z->allow = fresh;
    atomic_fetch_add(&z->reloads, 1);
    ps_log(PS_LOG_INFO, "zap", "reloaded '%s': %zu keys", z->allow_file, ps_curve_allow_n(fresh));
}

static void *run(void *arg)
{
    struct ps_zap *z = arg;

    while (!atomic_load(&z->stop)) {
        zmq_pollitem_t it = {z->sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, POLL_MS);

        /* reset before reading, so that a signal during the read asks again */
        if (z->reload != NULL && atomic_exchange(z->reload, 0) != 0)
            reload(z);
        if (rc < 0 && zmq_errno() == ETERM)
            break; /* the context is ending: its CURVE sockets are closed already */
        if (rc > 0)
            handle_one(z);
    }
    return NULL;
}

enum ps_err ps_zap_start(struct ps_zap **out, void *zctx, const struct ps_zap_opts *opts,
                         struct ps_errdetail *ed)
{
    struct ps_zap *z = ps_xcalloc(1, sizeof(*z));
    sigset_t all, old;
    int linger = 0, rc;

    *out = NULL;
    atomic_init(&z->stop, false);
    z->allow = opts->allow != NULL ? ps_curve_allow_dup(opts->allow) : ps_curve_allow_new();
    z->allow_file = opts->allow_file;
    z->reload = opts->reload;
    z->sock = zmq_socket(zctx, ZMQ_REP);
    if (z->sock == NULL || zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_bind(z->sock, PS_ZAP_ENDPOINT) != 0) {
        ps_errdetail_set(ed, NULL, 0, "cannot bind the ZAP handler to '%s': %s", PS_ZAP_ENDPOINT,
                         zmq_strerror(zmq_errno()));
        ps_zap_stop(z);
        return PS_ERR_ZMQ;
    }
    /* signal handlers only set flags; let the main thread take them, not this one */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&z->thread, NULL, run, z);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ps_errdetail_set(ed, NULL, 0, "cannot start the ZAP handler thread: %s", strerror(rc));
        ps_zap_stop(z);
        return PS_ERR_IO;
    }
    z->started = true;
    *out = z;
    return PS_OK;
}

void ps_zap_stats(const struct ps_zap *z, struct ps_zap_stats *out)
{
    struct ps_zap *m = (struct ps_zap *)(uintptr_t)z; /* atomic loads take non-const pointers */

    out->admitted = atomic_load(&m->admitted);
    out->refused = atomic_load(&m->refused);
    out->malformed = atomic_load(&m->malformed);
    out->reloads = atomic_load(&m->reloads);
    out->reload_errors = atomic_load(&m->reload_errors);
}

void ps_zap_stop(struct ps_zap *z)
{
    if (z == NULL)
        return;
    if (z->started) {
        atomic_store(&z->stop, true);
        pthread_join(z->thread, NULL);
    }
    if (z->sock != NULL)
        zmq_close(z->sock);
    ps_curve_allow_free(z->allow);
    free(z);
}
