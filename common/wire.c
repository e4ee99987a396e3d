/* wire.c - ZeroMQ sockets, framing and protobuf-c decoding for the coordinator-worker protocol.
 * Every byte that arrives here is untrusted: it is bounded, scanned and validated before the
 * caller sees a single field (docs/protocol.md). */
#include "common/wire.h"

#include "common/clsketch.h"
#include "common/partition.h"
#include "common/pass.h"

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

/* Envelope -> Lease -> ScanSettings is the deepest nesting of the schema; anything deeper is
 * an unknown field we skip without looking inside. */
#define SCAN_DEPTH_MAX 8

struct ps_wire_limits ps_wire_limits_coordinator(void)
{
    struct ps_wire_limits lim = {
        .max_msg = (size_t)1 << 20, .max_string = 4096, .max_candidates = 1000000};
    return lim;
}

struct ps_wire_limits ps_wire_limits_worker(void)
{
    struct ps_wire_limits lim = {
        .max_msg = (size_t)64 << 20, .max_string = 4096, .max_candidates = 1000000};
    return lim;
}

static enum ps_err proto_fail(struct ps_errdetail *ed, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static enum ps_err proto_fail(struct ps_errdetail *ed, const char *fmt, ...)
{
    va_list ap;

    if (ed != NULL) {
        ed->file = NULL;
        ed->offset = 0;
        va_start(ap, fmt);
        vsnprintf(ed->msg, sizeof(ed->msg), fmt, ap);
        va_end(ap);
    }
    return PS_ERR_PROTO;
}

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

/* Printable ASCII without space: what a routing id, a job id or a capability may hold, so that
 * they can go into log lines and Redis keys as they are. */
static bool is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
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
    if (id_len == 0 || id_len > PS_WIRE_ROUTING_ID_MAX || !is_token(routing_id, id_len)) {
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

/* ------------------------------------------------------------------------------------------ */
/* decoding and validation                                                                     */

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*p == end)
            return false;
        b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* protobuf-c hands strings out NUL-terminated, so a NUL inside one would silently cut it short
 * (a path "a.jsonl\0../../etc" would read as "a.jsonl"). Only the raw bytes show it: walk the
 * wire format with the generated descriptors and look inside every known string field. Counts the
 * known fields at the top level (the envelope's bodies) in *n_known. */
static enum ps_err scan_raw(const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *desc,
                            int depth, size_t *n_known, struct ps_errdetail *ed)
{
    const uint8_t *end = p + len;

    while (p < end) {
        const ProtobufCFieldDescriptor *f;
        uint64_t tag, v;

        if (!read_varint(&p, end, &tag))
            return proto_fail(ed, "%s: truncated field tag", desc->name);
        if ((tag >> 3) == 0 || (tag >> 3) > 536870911u)
            return proto_fail(ed, "%s: field number %" PRIu64 " out of range", desc->name,
                              tag >> 3);
        f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
        if (f != NULL && n_known != NULL)
            ++*n_known;
        switch (tag & 7) {
        case 0:
            if (!read_varint(&p, end, &v))
                return proto_fail(ed, "%s: truncated varint", desc->name);
            break;
        case 1:
            if ((size_t)(end - p) < 8)
                return proto_fail(ed, "%s: truncated fixed64", desc->name);
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4)
                return proto_fail(ed, "%s: truncated fixed32", desc->name);
            p += 4;
            break;
        case 2:
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return proto_fail(ed, "%s: length-delimited field runs past the end", desc->name);
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)v))
                return proto_fail(ed, "%s.%s holds a NUL byte", desc->name, f->name);
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                enum ps_err err;
                if (depth >= SCAN_DEPTH_MAX)
                    return proto_fail(ed, "%s: nested too deeply", desc->name);
                err = scan_raw(p, (size_t)v, f->descriptor, depth + 1, NULL, ed);
                if (err != PS_OK)
                    return err;
            }
            p += v;
            break;
        default:
            return proto_fail(ed, "%s: unsupported wire type %u", desc->name, (unsigned)(tag & 7));
        }
    }
    return PS_OK;
}

enum str_kind {
    STR_TEXT,  /* any valid UTF-8 without NUL */
    STR_TOKEN, /* printable ASCII without space */
};

/* `s` may be NULL in a hand-built message: protobuf-c packs that as the empty string. */
static enum ps_err check_str(const char *s, const char *what, bool required, enum str_kind kind,
                             size_t max, struct ps_errdetail *ed)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (required && n == 0)
        return proto_fail(ed, "%s is empty", what);
    if (n > max)
        return proto_fail(ed, "%s is %zu bytes, limit %zu", what, n, max);
    if (kind == STR_TOKEN && !is_token(s, n))
        return proto_fail(ed, "%s holds bytes outside printable ASCII", what);
    if (kind == STR_TEXT && !ps_utf8_is_valid(s, n))
        return proto_fail(ed, "%s is not valid UTF-8", what);
    return PS_OK;
}

static enum ps_err check_hello(const Poisonscan__Hello *m, const struct ps_wire_limits *lim,
                               struct ps_errdetail *ed)
{
    enum ps_err err;

    /* First, so that a worker of another version gets this reason and not a field complaint. */
    if (m->protocol_version != PS_WIRE_PROTOCOL_VERSION)
        return proto_fail(ed, "hello: protocol version %" PRIu32 ", this side speaks %u",
                          m->protocol_version, PS_WIRE_PROTOCOL_VERSION);
    err = check_str(m->routing_id, "hello.routing_id", true, STR_TOKEN, PS_WIRE_ROUTING_ID_MAX, ed);
    if (err == PS_OK)
        err = check_str(m->hostname, "hello.hostname", true, STR_TOKEN, PS_WIRE_ROUTING_ID_MAX, ed);
    if (err == PS_OK)
        err = check_str(m->simd_level, "hello.simd_level", true, STR_TOKEN, PS_WIRE_TOKEN_MAX, ed);
    if (err != PS_OK)
        return err;
    if (m->pid == 0)
        return proto_fail(ed, "hello.pid is 0");
    if (m->credit < 1 || m->credit > PS_WIRE_MAX_CREDIT)
        return proto_fail(ed, "hello.credit %" PRIu32 " outside 1..%u", m->credit,
                          PS_WIRE_MAX_CREDIT);
    if (m->n_capabilities > PS_WIRE_MAX_CAPABILITIES)
        return proto_fail(ed, "hello has %zu capabilities, limit %u", m->n_capabilities,
                          PS_WIRE_MAX_CAPABILITIES);
    if (m->n_capabilities > 0 && m->capabilities == NULL)
        return proto_fail(ed, "hello.capabilities is missing");
    for (size_t i = 0; i < m->n_capabilities; i++) {
        err = check_str(m->capabilities[i], "hello.capabilities[]", true, STR_TOKEN,
                        PS_WIRE_TOKEN_MAX, ed);
        if (err != PS_OK)
            return err;
    }
    (void)lim;
    return PS_OK;
}

static enum ps_err check_pass(uint32_t pass, const char *what, struct ps_errdetail *ed)
{
    if (pass < PS_PASS_SCAN || pass > PS_PASS__LAST)
        return proto_fail(ed,
                          "%s.pass %" PRIu32 " is not 1 (scan), 2 (confirm), 3 (leads) or 4 (list)",
                          what, pass);
    return PS_OK;
}

static enum ps_err check_settings(const Poisonscan__ScanSettings *s,
                                  const struct ps_wire_limits *lim, struct ps_errdetail *ed)
{
    enum ps_err err;

    if (s == NULL)
        return proto_fail(ed, "lease.settings is missing");
    err =
        check_str(s->text_field, "lease.settings.text_field", true, STR_TEXT, lim->max_string, ed);
    if (err == PS_OK)
        err =
            check_str(s->id_field, "lease.settings.id_field", true, STR_TEXT, lim->max_string, ed);
    if (err != PS_OK)
        return err;
    if (s->max_line == 0)
        return proto_fail(ed, "lease.settings.max_line is 0");
    if (s->ngram_max < 1 || s->ngram_max > PS_WIRE_NGRAM_MAX)
        return proto_fail(ed, "lease.settings.ngram_max %" PRIu32 " outside 1..%u", s->ngram_max,
                          PS_WIRE_NGRAM_MAX);
    if (s->cluster_log2 != 0 &&
        (s->cluster_log2 < PS_CLSKETCH_LOG2_MIN || s->cluster_log2 > PS_CLSKETCH_LOG2_MAX))
        return proto_fail(ed, "lease.settings.cluster_log2 %" PRIu32 " outside %u..%u",
                          s->cluster_log2, PS_CLSKETCH_LOG2_MIN, PS_CLSKETCH_LOG2_MAX);
    if (s->partitions > PS_PARTITION_MAX || (s->partitions & (s->partitions - 1)) != 0)
        return proto_fail(ed, "lease.settings.partitions %" PRIu32 " is not a power of two to %u",
                          s->partitions, PS_PARTITION_MAX);
    if (s->redis_endpoints > PS_PARTITION_MAX)
        return proto_fail(ed, "lease.settings.redis_endpoints %" PRIu32 " over %u",
                          s->redis_endpoints, PS_PARTITION_MAX);
    if (s->signatures_dir[0] != '\0') {
        err = check_str(s->signatures_dir, "lease.settings.signatures_dir", true, STR_TEXT,
                        lim->max_string, ed);
        if (err != PS_OK)
            return err;
        if (s->signature_k < 16 || s->signature_k > 1024 || s->signature_k % 16 != 0)
            return proto_fail(
                ed, "lease.settings.signature_k %" PRIu32 " not a multiple of 16 in 16..1024",
                s->signature_k);
    }
    return PS_OK;
}

static enum ps_err check_lease(const Poisonscan__Lease *m, const struct ps_wire_limits *lim,
                               struct ps_errdetail *ed)
{
    enum ps_err err;

    err = check_str(m->job_id, "lease.job_id", true, STR_TOKEN, lim->max_string, ed);
    if (err == PS_OK)
        err = check_pass(m->pass, "lease", ed);
    if (err == PS_OK)
        err = check_str(m->path, "lease.path", true, STR_TEXT, lim->max_string, ed);
    if (err == PS_OK)
        err = check_settings(m->settings, lim, ed);
    if (err != PS_OK)
        return err;
    if (m->attempt < 1)
        return proto_fail(ed, "lease.attempt is 0 (attempts count from 1)");
    if (m->begin > m->end)
        return proto_fail(ed, "lease range [%" PRIu64 ", %" PRIu64 ") is reversed", m->begin,
                          m->end);
    if ((int)m->format < 0 || (int)m->format > POISONSCAN__SHARD_FORMAT__SHARD_FORMAT_JSONL_GZ)
        return proto_fail(ed, "lease.format %d is unknown", (int)m->format);
    if ((int)m->layout < 0 || (int)m->layout > POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_TXT)
        return proto_fail(ed, "lease.layout %d is unknown", (int)m->layout);
    if ((int)m->record < 0 || (int)m->record > POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_CHAT)
        return proto_fail(ed, "lease.record %d is unknown", (int)m->record);
    if (m->record != POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_AUTO &&
        m->layout != POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_JSONL &&
        m->layout != POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_JSON)
        return proto_fail(ed, "lease.record %d with layout %d (shapes are for JSON)",
                          (int)m->record, (int)m->layout);
    if (m->n_candidates > lim->max_candidates)
        return proto_fail(ed, "lease has %zu candidates, limit %zu", m->n_candidates,
                          lim->max_candidates);
    if (m->n_candidates > 0 && m->candidates == NULL)
        return proto_fail(ed, "lease.candidates is missing");
    for (size_t i = 0; i < m->n_candidates; i++)
        if (m->candidates[i].len == 0 || m->candidates[i].len > lim->max_string)
            return proto_fail(ed, "lease.candidates[%zu] has %zu bytes, allowed 1..%zu", i,
                              m->candidates[i].len, lim->max_string);
    if (m->n_candidates > 0 && m->pass == PS_PASS_SCAN)
        return proto_fail(ed, "lease carries candidates in pass %" PRIu32, m->pass);
    if (m->n_sample_below != 0 && m->n_sample_below != m->n_candidates)
        return proto_fail(ed, "lease has %zu sample bounds for %zu candidates", m->n_sample_below,
                          m->n_candidates);
    if (m->leads_from > m->n_candidates)
        return proto_fail(ed, "lease.leads_from %" PRIu32 " past its %zu candidates", m->leads_from,
                          m->n_candidates);
    if (m->lease_ms < PS_WIRE_LEASE_MS_MIN || m->lease_ms > PS_WIRE_LEASE_MS_MAX)
        return proto_fail(ed, "lease.lease_ms %" PRIu32 " outside %u..%u", m->lease_ms,
                          PS_WIRE_LEASE_MS_MIN, PS_WIRE_LEASE_MS_MAX);
    return PS_OK;
}

static enum ps_err check_heartbeat(const Poisonscan__Heartbeat *m, struct ps_errdetail *ed)
{
    if (m->attempt == 0) {
        if (m->pass != 0 || m->shard_id != 0)
            return proto_fail(ed,
                              "idle heartbeat (attempt 0) names pass %" PRIu32 " shard %" PRIu32,
                              m->pass, m->shard_id);
        return PS_OK;
    }
    return check_pass(m->pass, "heartbeat", ed);
}

static enum ps_err check_result(const Poisonscan__ShardResult *m, const struct ps_wire_limits *lim,
                                struct ps_errdetail *ed)
{
    enum ps_err err;

    err = check_str(m->job_id, "result.job_id", true, STR_TOKEN, lim->max_string, ed);
    if (err == PS_OK)
        err = check_pass(m->pass, "result", ed);
    if (err == PS_OK)
        err = check_str(m->error, "result.error", false, STR_TEXT, lim->max_string, ed);
    if (err != PS_OK)
        return err;
    if (m->attempt < 1)
        return proto_fail(ed, "result.attempt is 0 (attempts count from 1)");
    switch (m->outcome) {
    case POISONSCAN__OUTCOME__OUTCOME_COMMITTED:
    case POISONSCAN__OUTCOME__OUTCOME_DUPLICATE:
        if (m->retryable)
            return proto_fail(ed, "result is retryable but did not fail");
        break;
    case POISONSCAN__OUTCOME__OUTCOME_FAILED:
        if (m->error == NULL || m->error[0] == '\0')
            return proto_fail(ed, "failed result without an error text");
        break;
    default:
        return proto_fail(ed, "result.outcome %d is unknown", (int)m->outcome);
    }
    return PS_OK;
}

enum ps_err ps_wire_validate(const Poisonscan__Envelope *env, const struct ps_wire_limits *lim,
                             struct ps_errdetail *ed)
{
    switch (env->body_case) {
    case POISONSCAN__ENVELOPE__BODY__NOT_SET:
        break;
    case POISONSCAN__ENVELOPE__BODY_HELLO:
        return env->hello != NULL ? check_hello(env->hello, lim, ed)
                                  : proto_fail(ed, "hello body is missing");
    case POISONSCAN__ENVELOPE__BODY_READY:
        if (env->ready == NULL)
            return proto_fail(ed, "ready body is missing");
        if (env->ready->credit < 1 || env->ready->credit > PS_WIRE_MAX_CREDIT)
            return proto_fail(ed, "ready.credit %" PRIu32 " outside 1..%u", env->ready->credit,
                              PS_WIRE_MAX_CREDIT);
        return PS_OK;
    case POISONSCAN__ENVELOPE__BODY_LEASE:
        return env->lease != NULL ? check_lease(env->lease, lim, ed)
                                  : proto_fail(ed, "lease body is missing");
    case POISONSCAN__ENVELOPE__BODY_HEARTBEAT:
        return env->heartbeat != NULL ? check_heartbeat(env->heartbeat, ed)
                                      : proto_fail(ed, "heartbeat body is missing");
    case POISONSCAN__ENVELOPE__BODY_RESULT:
        return env->result != NULL ? check_result(env->result, lim, ed)
                                   : proto_fail(ed, "result body is missing");
    case POISONSCAN__ENVELOPE__BODY_SHUTDOWN:
        if (env->shutdown == NULL)
            return proto_fail(ed, "shutdown body is missing");
        return check_str(env->shutdown->reason, "shutdown.reason", false, STR_TEXT, lim->max_string,
                         ed);
    default:
        return proto_fail(ed, "envelope body %d is unknown", (int)env->body_case);
    }
    return proto_fail(ed, "envelope has no body");
}

enum ps_err ps_wire_decode(const void *src, size_t src_len, const struct ps_wire_limits *lim,
                           Poisonscan__Envelope **env, struct ps_errdetail *ed)
{
    Poisonscan__Envelope *e;
    size_t n_bodies = 0;
    enum ps_err err;

    *env = NULL;
    if (src_len > lim->max_msg)
        return proto_fail(ed, "message of %zu bytes exceeds the limit of %zu", src_len,
                          lim->max_msg);
    err = scan_raw(src, src_len, &poisonscan__envelope__descriptor, 0, &n_bodies, ed);
    if (err != PS_OK)
        return err;
    /* protobuf-c would keep the last of several oneof members; a sender that writes two bodies
     * is broken, and guessing which one it meant is worse than dropping the message. */
    if (n_bodies == 0)
        return proto_fail(ed, "envelope has no body");
    if (n_bodies > 1)
        return proto_fail(ed, "envelope has %zu bodies", n_bodies);
    e = poisonscan__envelope__unpack(NULL, src_len, src);
    if (e == NULL)
        return proto_fail(ed, "envelope of %zu bytes does not decode", src_len);
    err = ps_wire_validate(e, lim, ed);
    if (err != PS_OK) {
        ps_wire_envelope_free(e);
        return err;
    }
    *env = e;
    return PS_OK;
}

void ps_wire_envelope_free(Poisonscan__Envelope *env)
{
    if (env != NULL)
        poisonscan__envelope__free_unpacked(env, NULL);
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
    default:
        return "unknown";
    }
}

static bool coordinator_receives(Poisonscan__Envelope__BodyCase c)
{
    return c == POISONSCAN__ENVELOPE__BODY_HELLO || c == POISONSCAN__ENVELOPE__BODY_READY ||
           c == POISONSCAN__ENVELOPE__BODY_HEARTBEAT || c == POISONSCAN__ENVELOPE__BODY_RESULT;
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
        return proto_fail(ed, "message has only a routing id frame");
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
        return proto_fail(ed, "message has %zu frames, expected 2 (routing id, envelope)",
                          n_frames);
    }
    if (*peer_len != id_len) {
        zmq_msg_close(&body);
        return proto_fail(ed, "routing id of %zu bytes does not fit in %zu", id_len, peer_cap);
    }
    err = ps_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), lim, &e, ed);
    zmq_msg_close(&body);
    if (err != PS_OK)
        return err;
    if (!coordinator_receives(e->body_case)) {
        err = proto_fail(ed, "coordinator does not accept a %s message",
                         ps_wire_body_name(e->body_case));
        goto fail;
    }
    /* The Hello names the id the worker set on its socket; a mismatch means a confused or
     * forged worker, and leases would be addressed to an id nobody holds. */
    if (e->body_case == POISONSCAN__ENVELOPE__BODY_HELLO &&
        (strlen(e->hello->routing_id) != id_len ||
         memcmp(e->hello->routing_id, peer, id_len) != 0)) {
        err = proto_fail(ed, "hello.routing_id '%s' differs from the connection's routing id",
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
        return proto_fail(ed, "message has %zu frames, expected 1 (envelope)", n_frames);
    }
    err = ps_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body), lim, &e, ed);
    zmq_msg_close(&body);
    if (err != PS_OK)
        return err;
    if (!worker_receives(e->body_case)) {
        err =
            proto_fail(ed, "worker does not accept a %s message", ps_wire_body_name(e->body_case));
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
        return proto_fail(ed, "%s message of %zu bytes exceeds the receiver's limit of %zu",
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
        return proto_fail(ed, "refusing to send a %s message to a worker",
                          ps_wire_body_name(env->body_case));
    if (peer_len == 0 || peer_len > PS_WIRE_ROUTING_ID_MAX)
        return proto_fail(ed, "routing id of %zu bytes is not valid", peer_len);
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
        return proto_fail(ed, "refusing to send a %s message to the coordinator",
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
