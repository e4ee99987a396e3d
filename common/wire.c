/* wire.c - ZeroMQ sockets and framing for the coordinator-worker protocol: set-up, security,
 * routing ids, receiving and sending. Every message received goes through wire_check.c
 * (decoding and validation) before the caller sees a single field (docs/protocol.md). */
#include "common/wire.h"
#include "common/wire_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/utf8.h"

/* `e` is passed in because formatting the prefix could clobber errno. */
static enum ps_err zmq_fail(struct ps_errdetail *ed, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum ps_err zmq_fail(struct ps_errdetail *ed, int e, const char *fmt, ...)
{
    char what[120];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    ps_errdetail_set(ed, NULL, 0, "%s: %s", what, zmq_strerror(e));
    return PS_ERR_ZMQ;
}

/* ------------------------------------------------------------------------------------------ */
/* socket set-up                                                                               */

static enum ps_err set_int(void *sock, int opt, int val, const char *name, struct ps_errdetail *ed)
{
    if (zmq_setsockopt(sock, opt, &val, sizeof(val)) != 0)
        return zmq_fail(ed, zmq_errno(), "zmq_setsockopt(%s)", name);
    return PS_OK;
}

static enum ps_err set_common(void *sock, const struct ps_wire_limits *lim, struct ps_errdetail *ed)
{
    static const struct {
        int opt;
        int val;
        const char *name;
    } opts[] = {
        {ZMQ_LINGER, PS_WIRE_LINGER_MS, "ZMQ_LINGER"},
        {ZMQ_TCP_KEEPALIVE, 1, "ZMQ_TCP_KEEPALIVE"},
        {ZMQ_TCP_KEEPALIVE_IDLE, PS_WIRE_TCP_KEEPALIVE_IDLE_S, "ZMQ_TCP_KEEPALIVE_IDLE"},
        {ZMQ_TCP_KEEPALIVE_INTVL, PS_WIRE_TCP_KEEPALIVE_INTVL, "ZMQ_TCP_KEEPALIVE_INTVL"},
        {ZMQ_TCP_KEEPALIVE_CNT, PS_WIRE_TCP_KEEPALIVE_CNT, "ZMQ_TCP_KEEPALIVE_CNT"},
        {ZMQ_HEARTBEAT_IVL, PS_WIRE_ZMTP_HEARTBEAT_MS, "ZMQ_HEARTBEAT_IVL"},
        {ZMQ_HEARTBEAT_TIMEOUT, PS_WIRE_ZMTP_TIMEOUT_MS, "ZMQ_HEARTBEAT_TIMEOUT"},
    };
    int64_t max_msg = lim->max_msg > (size_t)INT64_MAX ? INT64_MAX : (int64_t)lim->max_msg;
    enum ps_err err;

    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        err = set_int(sock, opts[i].opt, opts[i].val, opts[i].name, ed);
        if (err != PS_OK)
            return err;
    }
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg)) != 0)
        return zmq_fail(ed, zmq_errno(), "zmq_setsockopt(ZMQ_MAXMSGSIZE)");
    return PS_OK;
}

struct ps_wire_security ps_wire_security_plain(void)
{
    struct ps_wire_security sec;

    memset(&sec, 0, sizeof(sec));
    return sec;
}

static enum ps_err set_key(void *sock, int opt, const char *z85, const char *name,
                           struct ps_errdetail *ed)
{
    if (!ps_curve_z85_valid(z85, strnlen(z85, PS_CURVE_Z85_CAP))) {
        ps_errdetail_set(ed, NULL, 0, "%s is not a Z85 key", name);
        return PS_ERR_USAGE;
    }
    /* 41 bytes: libzmq reads a Z85 key with its NUL; 32 would be taken as binary */
    if (zmq_setsockopt(sock, opt, z85, PS_CURVE_Z85_CAP) != 0)
        return zmq_fail(ed, zmq_errno(), "zmq_setsockopt(%s)", name);
    return PS_OK;
}

/* CURVE options apply to the bind or connect that follows, so this runs before either. */
static enum ps_err set_security(void *sock, const struct ps_wire_security *sec, bool server,
                                struct ps_errdetail *ed)
{
    enum ps_err err;

    if (!sec->curve)
        return PS_OK;
    if (!ps_curve_available()) {
        ps_errdetail_set(ed, NULL, 0, "this libzmq was built without CURVE");
        return PS_ERR_UNSUPPORTED;
    }
    if (server) {
        err = set_int(sock, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER", ed);
        if (err == PS_OK)
            err =
                set_key(sock, ZMQ_CURVE_SECRETKEY, sec->own.secret_key, "ZMQ_CURVE_SECRETKEY", ed);
        /* an empty domain would skip the ZAP handler, and CURVE alone admits any client key */
        if (err == PS_OK && zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, PS_WIRE_ZAP_DOMAIN,
                                           strlen(PS_WIRE_ZAP_DOMAIN)) != 0)
            err = zmq_fail(ed, zmq_errno(), "zmq_setsockopt(ZMQ_ZAP_DOMAIN)");
        return err;
    }
    err = set_key(sock, ZMQ_CURVE_SERVERKEY, sec->server_key, "ZMQ_CURVE_SERVERKEY", ed);
    if (err == PS_OK)
        err = set_key(sock, ZMQ_CURVE_PUBLICKEY, sec->own.public_key, "ZMQ_CURVE_PUBLICKEY", ed);
    if (err == PS_OK)
        err = set_key(sock, ZMQ_CURVE_SECRETKEY, sec->own.secret_key, "ZMQ_CURVE_SECRETKEY", ed);
    return err;
}

enum ps_err ps_wire_router_bind(void *zctx, const char *endpoint,
                                const struct ps_wire_security *sec,
                                const struct ps_wire_limits *lim, void **sock_out,
                                char *bound_endpoint, size_t bound_cap, struct ps_errdetail *ed)
{
    char last[1024];
    size_t last_len = sizeof(last);
    enum ps_err err;
    void *sock;

    *sock_out = NULL;
    sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (sock == NULL)
        return zmq_fail(ed, zmq_errno(), "zmq_socket(ROUTER)");
    err = set_common(sock, lim, ed);
    if (err != PS_OK)
        goto fail;
    /* Without it a lease to a vanished worker is dropped silently and the coordinator would
     * believe it left. */
    err = set_int(sock, ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY", ed);
    if (err == PS_OK)
        err = set_security(sock, sec, true, ed);
    if (err != PS_OK)
        goto fail;
    if (zmq_bind(sock, endpoint) != 0) {
        err = zmq_fail(ed, zmq_errno(), "cannot bind '%s'", endpoint);
        goto fail;
    }
    if (bound_endpoint != NULL) {
        if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, last, &last_len) != 0) {
            err = zmq_fail(ed, zmq_errno(), "zmq_getsockopt(ZMQ_LAST_ENDPOINT)");
            goto fail;
        }
        last[sizeof(last) - 1] = '\0';
        if (strlen(last) >= bound_cap) {
            ps_errdetail_set(ed, NULL, 0, "bound endpoint '%s' does not fit in %zu bytes", last,
                             bound_cap);
            err = PS_ERR_LIMIT;
            goto fail;
        }
        memcpy(bound_endpoint, last, strlen(last) + 1);
    }
    *sock_out = sock;
    return PS_OK;

fail:
    zmq_close(sock);
    return err;
}

enum ps_err ps_wire_dealer_connect(void *zctx, const char *endpoint, const char *routing_id,
                                   const struct ps_wire_security *sec,
                                   const struct ps_wire_limits *lim, void **sock_out,
                                   struct ps_errdetail *ed)
{
    size_t id_len = routing_id != NULL ? strlen(routing_id) : 0;
    enum ps_err err;
    void *sock;

    *sock_out = NULL;
    if (id_len == 0 || id_len > PS_WIRE_ROUTING_ID_MAX || !ps_wire_is_token(routing_id, id_len)) {
        ps_errdetail_set(ed, NULL, 0,
                         "routing id must be 1..%u printable ASCII bytes without spaces",
                         PS_WIRE_ROUTING_ID_MAX);
        return PS_ERR_USAGE;
    }
    sock = zmq_socket(zctx, ZMQ_DEALER);
    if (sock == NULL)
        return zmq_fail(ed, zmq_errno(), "zmq_socket(DEALER)");
    err = set_common(sock, lim, ed);
    if (err != PS_OK)
        goto fail;
    /* The id must be set before connect: afterwards it no longer applies to this connection. */
    if (zmq_setsockopt(sock, ZMQ_ROUTING_ID, routing_id, id_len) != 0) {
        err = zmq_fail(ed, zmq_errno(), "zmq_setsockopt(ZMQ_ROUTING_ID)");
        goto fail;
    }
    err = set_int(sock, ZMQ_RECONNECT_IVL, PS_WIRE_RECONNECT_IVL_MS, "ZMQ_RECONNECT_IVL", ed);
    if (err != PS_OK)
        goto fail;
    /* The default maximum of 0 means no backoff at all: a dead coordinator would be hammered
     * every 100 ms by every worker. */
    err = set_int(sock, ZMQ_RECONNECT_IVL_MAX, PS_WIRE_RECONNECT_IVL_MAX_MS,
                  "ZMQ_RECONNECT_IVL_MAX", ed);
    if (err != PS_OK)
        goto fail;
    err = set_int(sock, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE", ed);
    if (err == PS_OK)
        err = set_security(sock, sec, false, ed);
    if (err != PS_OK)
        goto fail;
    if (zmq_connect(sock, endpoint) != 0) {
        err = zmq_fail(ed, zmq_errno(), "cannot connect to '%s'", endpoint);
        goto fail;
    }
    *sock_out = sock;
    return PS_OK;

fail:
    zmq_close(sock);
    return err;
}

static uint64_t random_nonce(void)
{
    uint64_t r = 0;
    ssize_t n;
    int fd;

    do {
        n = getrandom(&r, sizeof(r), 0);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(r))
        return r;
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, &r, sizeof(r));
        close(fd);
        if (n == (ssize_t)sizeof(r))
            return r;
    }
    {
        /* No entropy source at all: mix time and pid so that two incarnations still differ. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)ts.tv_sec ^
            ((uint64_t)getpid() << 32);
        r ^= r >> 31;
        r *= 0xBF58476D1CE4E5B9u;
        r ^= r >> 29;
        return r;
    }
}

void ps_wire_make_routing_id(char *dst, size_t dst_cap)
{
    char host[256];
    char suffix[48];
    size_t suffix_len, host_room, host_len;

    if (dst_cap < 32)
        ps_bug("routing id buffer of %zu bytes is below 32", dst_cap);
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    host_len = strlen(host);
    if (host_len == 0) {
        memcpy(host, "host", 5);
        host_len = 4;
    }
    for (size_t i = 0; i < host_len; i++) {
        char c = host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            host[i] = '_';
    }
    snprintf(suffix, sizeof(suffix), "-%ld-%016" PRIx64, (long)getpid(), random_nonce());
    suffix_len = strlen(suffix);
    host_room = dst_cap - 1 - suffix_len; /* >= 1: dst_cap >= 32 > suffix_len + 1 */
    if (host_len > host_room)
        host_len = host_room;
    memcpy(dst, host, host_len);
    memcpy(dst + host_len, suffix, suffix_len + 1);
}

const char *ps_wire_body_name(Poisonscan__Envelope__BodyCase body_case)
{
    switch (body_case) {
    case POISONSCAN__ENVELOPE__BODY__NOT_SET:
        return "none";
    case POISONSCAN__ENVELOPE__BODY_HELLO:
        return "hello";
    case POISONSCAN__ENVELOPE__BODY_READY:
        return "ready";
    case POISONSCAN__ENVELOPE__BODY_LEASE:
        return "lease";
    case POISONSCAN__ENVELOPE__BODY_HEARTBEAT:
        return "heartbeat";
    case POISONSCAN__ENVELOPE__BODY_RESULT:
        return "result";
    case POISONSCAN__ENVELOPE__BODY_SHUTDOWN:
        return "shutdown";
    case POISONSCAN__ENVELOPE__BODY_GOODBYE:
        return "goodbye";
    default:
        return "unknown";
    }
}

static bool coordinator_receives(Poisonscan__Envelope__BodyCase c)
{
    return c == POISONSCAN__ENVELOPE__BODY_HELLO || c == POISONSCAN__ENVELOPE__BODY_READY ||
           c == POISONSCAN__ENVELOPE__BODY_HEARTBEAT || c == POISONSCAN__ENVELOPE__BODY_RESULT ||
           c == POISONSCAN__ENVELOPE__BODY_GOODBYE;
}

/* Heartbeats go both ways (Paranoid Pirate): an idle worker, or one busy on a long shard, gets
 * no lease for minutes, and only the coordinator's heartbeats tell it the coordinator is there. */
static bool worker_receives(Poisonscan__Envelope__BodyCase c)
{
    return c == POISONSCAN__ENVELOPE__BODY_LEASE || c == POISONSCAN__ENVELOPE__BODY_SHUTDOWN ||
           c == POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
}

void ps_wire_format_peer(char *dst, size_t dst_cap, const char *peer, size_t peer_len)
{
    size_t o = 0;

    if (dst_cap == 0)
        return;
    for (size_t i = 0; i < peer_len; i++) {
        unsigned char c = (unsigned char)peer[i];
        size_t need = (c >= 0x21 && c <= 0x7e) ? 1 : 4;
        if (o + need + 1 > dst_cap) {
            /* leave room for "..." when there is any */
            while (o > 0 && o + 4 > dst_cap)
                o--;
            if (o + 4 <= dst_cap) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (need == 1)
            dst[o++] = (char)c;
        else
            o += (size_t)snprintf(dst + o, dst_cap - o, "\\x%02x", c);
    }
    dst[o] = '\0';
}

void ps_wire_copy_text(char *dst, size_t dst_cap, const char *src)
{
    size_t o = 0, i = 0, n = strlen(src);

    if (dst_cap == 0)
        return;
    while (i < n) {
        uint32_t cp;
        size_t k = ps_utf8_decode(src + i, n - i, &cp);
        if (k == 0) {
            if (o + 1 >= dst_cap)
                break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (o + k >= dst_cap)
            break;
        memcpy(dst + o, src + i, k);
        o += k;
        i += k;
    }
    dst[o] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/* receiving                                                                                   */

/* Consume the rest of a multipart message so the next recv starts at a message boundary;
 * ZeroMQ delivers all parts at once, so none of these can block. */
static enum ps_err drain(void *sock, size_t *n_frames, struct ps_errdetail *ed)
{
    zmq_msg_t m;
    int more = 1;

    while (more) {
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&m);
            return zmq_fail(ed, e, "zmq_msg_recv(rest of message)");
        }
        ++*n_frames;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return PS_OK;
}

/* Receive the first frame of a message into `m`; *got false when nothing is waiting. */
static enum ps_err recv_first(void *sock, zmq_msg_t *m, bool *got, struct ps_errdetail *ed)
{
    zmq_msg_init(m);
    if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) >= 0) {
        *got = true;
        return PS_OK;
    }
    *got = false;
    {
        int e = zmq_errno();
        zmq_msg_close(m);
        if (e == EAGAIN || e == EINTR)
            return PS_OK;
        return zmq_fail(ed, e, "zmq_msg_recv");
    }
}

enum ps_err ps_wire_recv_router(void *sock, const struct ps_wire_limits *lim, char *peer,
                                size_t peer_cap, size_t *peer_len, Poisonscan__Envelope **env,
                                bool *got, struct ps_errdetail *ed)
{
    zmq_msg_t id, body;
    size_t n_frames = 1, id_len;
    bool have;
    enum ps_err err;
    Poisonscan__Envelope *e = NULL;

    *env = NULL;
    *got = false;
    *peer_len = 0;
    err = recv_first(sock, &id, &have, ed);
    if (err != PS_OK || !have)
        return err;
    id_len = zmq_msg_size(&id);
    if (peer != NULL && id_len <= peer_cap) {
        memcpy(peer, zmq_msg_data(&id), id_len);
        *peer_len = id_len;
    }
    if (!zmq_msg_more(&id)) {
        zmq_msg_close(&id);
        return ps_wire_proto_fail(ed, "message has only a routing id frame");
    }
    zmq_msg_close(&id);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&body, sock, ZMQ_DONTWAIT) < 0) {
        int en = zmq_errno();
        zmq_msg_close(&body);
        return zmq_fail(ed, en, "zmq_msg_recv(envelope frame)");
    }
    n_frames++;
    if (zmq_msg_more(&body)) {
        err = drain(sock, &n_frames, ed);
        zmq_msg_close(&body);
        if (err != PS_OK)
            return err;
        return ps_wire_proto_fail(ed, "message has %zu frames, expected 2 (routing id, envelope)",
                                  n_frames);
    }
    if (*peer_len != id_len) {
        zmq_msg_close(&body);
        return ps_wire_proto_fail(ed, "routing id of %zu bytes does not fit in %zu", id_len,
                                  peer_cap);
    }
    err = ps_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), lim, &e, ed);
    zmq_msg_close(&body);
    if (err != PS_OK)
        return err;
    if (!coordinator_receives(e->body_case)) {
        err = ps_wire_proto_fail(ed, "coordinator does not accept a %s message",
                                 ps_wire_body_name(e->body_case));
        goto fail;
    }
    /* The Hello names the id the worker set on its socket; a mismatch means a confused or
     * forged worker, and leases would be addressed to an id nobody holds. */
    if (e->body_case == POISONSCAN__ENVELOPE__BODY_HELLO &&
        (strlen(e->hello->routing_id) != id_len ||
         memcmp(e->hello->routing_id, peer, id_len) != 0)) {
        err =
            ps_wire_proto_fail(ed, "hello.routing_id '%s' differs from the connection's routing id",
                               e->hello->routing_id);
        goto fail;
    }
    *env = e;
    *got = true;
    return PS_OK;

fail:
    ps_wire_envelope_free(e);
    return err;
}

enum ps_err ps_wire_recv_dealer(void *sock, const struct ps_wire_limits *lim,
                                Poisonscan__Envelope **env, bool *got, struct ps_errdetail *ed)
{
    zmq_msg_t body;
    size_t n_frames = 1;
    bool have;
    enum ps_err err;
    Poisonscan__Envelope *e = NULL;

    *env = NULL;
    *got = false;
    err = recv_first(sock, &body, &have, ed);
    if (err != PS_OK || !have)
        return err;
    if (zmq_msg_more(&body)) {
        err = drain(sock, &n_frames, ed);
        zmq_msg_close(&body);
        if (err != PS_OK)
            return err;
        return ps_wire_proto_fail(ed, "message has %zu frames, expected 1 (envelope)", n_frames);
    }
    err = ps_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), lim, &e, ed);
    zmq_msg_close(&body);
    if (err != PS_OK)
        return err;
    if (!worker_receives(e->body_case)) {
        err = ps_wire_proto_fail(ed, "worker does not accept a %s message",
                                 ps_wire_body_name(e->body_case));
        ps_wire_envelope_free(e);
        return err;
    }
    *env = e;
    *got = true;
    return PS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* sending                                                                                     */

/* Validate as the receiving side will, then pack straight into a ZeroMQ message (no copy). */
static enum ps_err pack_checked(const Poisonscan__Envelope *env, const struct ps_wire_limits *lim,
                                zmq_msg_t *m, struct ps_errdetail *ed)
{
    enum ps_err err;
    size_t n;

    err = ps_wire_validate(env, lim, ed);
    if (err != PS_OK)
        return err;
    n = poisonscan__envelope__get_packed_size(env);
    if (n > lim->max_msg)
        return ps_wire_proto_fail(ed, "%s message of %zu bytes exceeds the receiver's limit of %zu",
                                  ps_wire_body_name(env->body_case), n, lim->max_msg);
    if (zmq_msg_init_size(m, n) != 0)
        return zmq_fail(ed, zmq_errno(), "zmq_msg_init_size(%zu)", n);
    if (poisonscan__envelope__pack(env, zmq_msg_data(m)) != n)
        ps_bug("protobuf-c packed a different size than it computed");
    return PS_OK;
}

static enum ps_err send_fail(struct ps_errdetail *ed, int e, const char *to)
{
    if (e == EHOSTUNREACH)
        return zmq_fail(ed, e, "message to %s not sent: peer unknown or disconnected", to);
    if (e == EAGAIN)
        return zmq_fail(ed, e, "message to %s not sent: not connected or queue full", to);
    return zmq_fail(ed, e, "message to %s not sent", to);
}

enum ps_err ps_wire_send_router(void *sock, const char *peer, size_t peer_len,
                                const Poisonscan__Envelope *env, struct ps_errdetail *ed)
{
    struct ps_wire_limits lim = ps_wire_limits_worker();
    char who[80];
    zmq_msg_t m;
    enum ps_err err;

    if (!worker_receives(env->body_case))
        return ps_wire_proto_fail(ed, "refusing to send a %s message to a worker",
                                  ps_wire_body_name(env->body_case));
    if (peer_len == 0 || peer_len > PS_WIRE_ROUTING_ID_MAX)
        return ps_wire_proto_fail(ed, "routing id of %zu bytes is not valid", peer_len);
    err = pack_checked(env, &lim, &m, ed);
    if (err != PS_OK)
        return err;
    if (zmq_send(sock, peer, peer_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&m);
        ps_wire_format_peer(who, sizeof(who), peer, peer_len);
        return send_fail(ed, e, who);
    }
    if (zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&m);
        ps_wire_format_peer(who, sizeof(who), peer, peer_len);
        return send_fail(ed, e, who);
    }
    return PS_OK;
}

enum ps_err ps_wire_send_dealer(void *sock, const Poisonscan__Envelope *env,
                                struct ps_errdetail *ed)
{
    struct ps_wire_limits lim = ps_wire_limits_coordinator();
    zmq_msg_t m;
    enum ps_err err;

    if (!coordinator_receives(env->body_case))
        return ps_wire_proto_fail(ed, "refusing to send a %s message to the coordinator",
                                  ps_wire_body_name(env->body_case));
    err = pack_checked(env, &lim, &m, ed);
    if (err != PS_OK)
        return err;
    if (zmq_msg_send(&m, sock, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&m);
        return send_fail(ed, e, "the coordinator");
    }
    return PS_OK;
}
