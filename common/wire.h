/* wire.h - the ZeroMQ + protobuf-c message layer between the coordinator (ROUTER) and workers
 * (DEALER): socket set-up, framing, size limits and validation of every poisonscan.Envelope.
 * The only module that turns zmq_errno() into PS_ERR_ZMQ and bad bytes into PS_ERR_PROTO.
 *
 * Framing (docs/protocol.md): a worker's DEALER sends ONE frame, the packed Envelope; the ROUTER
 * sees [routing id, envelope] and replies [routing id, envelope]. No empty delimiter frame. Every
 * received message is checked in this order: frame count, size, string bytes (no NUL), protobuf
 * decode, exactly one body, field values (ps_wire_validate), direction (a coordinator receives
 * Hello, Ready, Heartbeat and ShardResult; a worker receives Lease, Heartbeat and Shutdown). A
 * message that
 * fails any check is consumed and reported as PS_ERR_PROTO with the reason; the caller logs it and
 * carries on.
 *
 * Sockets are not thread-safe (ZeroMQ rule): use each socket from one thread. The functions here
 * keep no state of their own and are safe to call from several threads on different sockets. */
#ifndef PS_COMMON_WIRE_H
#define PS_COMMON_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/curve.h"
#include "common/error.h"
#include "proto/poisonscan.pb-c.h"

/* The protocol's version, bumped for any change an old peer would misread; every version and
 * its reason: docs/protocol.md, section 7 (10: a sentence counts 4 keys in the cluster sketch,
 * and the worker's role tests changed: one worker of each version would disagree). */
#define PS_WIRE_PROTOCOL_VERSION 14u
#define PS_WIRE_ROUTING_ID_MAX   255u      /* ZeroMQ's limit on a routing id, in bytes */
#define PS_WIRE_ROUTING_ID_CAP   128u      /* room ps_wire_make_routing_id() needs, with the NUL */
#define PS_WIRE_ENDPOINT_CAP     256u      /* room for a bound endpoint (ZMQ_LAST_ENDPOINT) */
#define PS_WIRE_MAX_CREDIT       1024u     /* Hello.credit and Ready.credit are 1..this */
#define PS_WIRE_MAX_CAPABILITIES 64u       /* Hello.capabilities entries at most */
#define PS_WIRE_TOKEN_MAX        64u       /* simd_level and each capability, bytes */
#define PS_WIRE_NGRAM_MAX        32u       /* ScanSettings.ngram_max is 1..this */
#define PS_WIRE_LEASE_MS_MIN     10u       /* Lease.lease_ms range: the notes' 10 ms .. */
#define PS_WIRE_LEASE_MS_MAX     86400000u /* .. one day */

/* Socket options applied by ps_wire_router_bind() / ps_wire_dealer_connect(). */
#define PS_WIRE_LINGER_MS                                                                          \
    1000 /* bounded, so zmq_ctx_term() cannot hang forever, yet a                                  \
          * final ShardResult or Shutdown gets a chance to leave */
#define PS_WIRE_RECONNECT_IVL_MS     100
#define PS_WIRE_RECONNECT_IVL_MAX_MS 30000
#define PS_WIRE_ZMTP_HEARTBEAT_MS    10000 /* ZMTP PING: finds dead TCP links, not hung workers */
#define PS_WIRE_ZMTP_TIMEOUT_MS      30000
#define PS_WIRE_TCP_KEEPALIVE_IDLE_S 60
#define PS_WIRE_TCP_KEEPALIVE_INTVL  10
#define PS_WIRE_TCP_KEEPALIVE_CNT    6

/* ZMQ_ZAP_DOMAIN of a CURVE coordinator socket. libzmq asks a ZAP handler only for sockets with
 * a non-empty domain; the handler (coordinator/zap.h) checks that the request names this one. */
#define PS_WIRE_ZAP_DOMAIN "poisonscan"

/* How a socket protects its link (docs/security.md). Plain data: holds a secret key, so wipe it
 * with ps_curve_keypair_wipe(&sec.own) when done.
 * - curve false: plain text (ipc://, or tcp:// under an explicit --insecure).
 * - curve true, ROUTER: CURVE server with own.secret_key and ZMQ_ZAP_DOMAIN
 *   PS_WIRE_ZAP_DOMAIN. Without a ZAP handler running in the same context, libzmq admits every
 *   client key: start one (ps_zap_start()) BEFORE ps_wire_router_bind().
 * - curve true, DEALER: CURVE client with own (both keys) and server_key, the coordinator's
 *   public key; the handshake fails unless the server holds the matching secret key. */
struct ps_wire_security {
    bool curve;
    struct ps_curve_keypair own;       /* Z85: this side's key pair */
    char server_key[PS_CURVE_Z85_CAP]; /* Z85: DEALER only, the coordinator's public key */
};
/* No CURVE: plain text. */
struct ps_wire_security ps_wire_security_plain(void);

/* Bounds on what a side accepts. Plain data; start from one of the two defaults. */
struct ps_wire_limits {
    size_t max_msg;        /* bytes of one envelope frame; also ZMQ_MAXMSGSIZE of the socket */
    size_t max_string;     /* bytes of any free-text string field (path, error, job_id, ...) */
    size_t max_candidates; /* Lease.candidates entries, and Lease.flagged entries */
};
/* Coordinator: reads untrusted input from every worker: 1 MiB, 4096, 1,000,000. */
struct ps_wire_limits ps_wire_limits_coordinator(void);
/* Worker: a pass-2 lease carries up to a million 8-byte hashes: 64 MiB, 4096, 1,000,000. */
struct ps_wire_limits ps_wire_limits_worker(void);

/* Create a ROUTER socket in `zctx` (borrowed ZeroMQ context) with ZMQ_LINGER, ZMQ_MAXMSGSIZE
 * (lim->max_msg), ZMQ_ROUTER_MANDATORY=1, TCP keepalive, ZMTP heartbeats and the security of
 * `sec` (borrowed; see struct ps_wire_security), and bind it to `endpoint` (borrowed;
 * "tcp://127.0.0.1:*" picks a free port, "ipc:///dir/sock" a socket file).
 * On PS_OK *sock_out owns the socket (close with zmq_close()) and, when `bound_endpoint` is not
 * NULL, it receives ZMQ_LAST_ENDPOINT (the real port) as a C string of at most bound_cap bytes
 * (PS_WIRE_ENDPOINT_CAP is enough). Errors: PS_ERR_ZMQ (bind failed: address in use, bad
 * endpoint; a key libzmq refuses), PS_ERR_LIMIT (bound_cap too small), PS_ERR_UNSUPPORTED
 * (CURVE asked of a libzmq without it); *sock_out is NULL then. */
enum ps_err ps_wire_router_bind(void *zctx, const char *endpoint,
                                const struct ps_wire_security *sec,
                                const struct ps_wire_limits *lim, void **sock_out,
                                char *bound_endpoint, size_t bound_cap, struct ps_errdetail *ed);

/* Create a DEALER socket in `zctx` (borrowed) with ZMQ_ROUTING_ID = `routing_id` (borrowed; set
 * before connecting; 1..255 printable ASCII bytes without spaces, unique per process incarnation,
 * see ps_wire_make_routing_id()), ZMQ_LINGER, ZMQ_MAXMSGSIZE (lim->max_msg), ZMQ_RECONNECT_IVL
 * 100 ms, ZMQ_RECONNECT_IVL_MAX 30 s, ZMQ_IMMEDIATE=1 (no queueing on a connection that is not up,
 * so heartbeats are not delivered as a stale backlog), TCP keepalive, ZMTP heartbeats and the
 * security of `sec` (borrowed), then connect to `endpoint` (borrowed). The connection, and with
 * CURVE its handshake, completes in the background: a refused handshake looks like a coordinator
 * that never answers. On PS_OK *sock_out owns the socket (zmq_close()). Errors: PS_ERR_USAGE
 * (bad routing id), PS_ERR_ZMQ, PS_ERR_UNSUPPORTED (CURVE asked of a libzmq without it). */
enum ps_err ps_wire_dealer_connect(void *zctx, const char *endpoint, const char *routing_id,
                                   const struct ps_wire_security *sec,
                                   const struct ps_wire_limits *lim, void **sock_out,
                                   struct ps_errdetail *ed);

/* Write "<hostname>-<pid>-<16 hex random>" into `dst` (dst_cap bytes, at least 32; use
 * PS_WIRE_ROUTING_ID_CAP). Hostname bytes other than [A-Za-z0-9._-] become '_'; a short buffer
 * shortens the hostname, never the nonce. The nonce comes from getrandom(), else /dev/urandom. */
void ps_wire_make_routing_id(char *dst, size_t dst_cap);

/* Receive one message on a ROUTER without blocking (ZMQ_DONTWAIT).
 * - PS_OK, *got = true: *env owns an envelope the caller frees with ps_wire_envelope_free(), and
 *   the sender's routing id (binary, not NUL-terminated) is in peer[0 .. *peer_len).
 * - PS_OK, *got = false: nothing was waiting (or a signal interrupted the call); *env is NULL.
 * - PS_ERR_PROTO: a bad message was consumed and dropped; *got = false, *env = NULL, `ed` says why
 *   and the routing id is still in `peer` when it fitted (*peer_len = 0 when not known). Call
 * again.
 * - PS_ERR_ZMQ: the socket failed (e.g. the context was terminated).
 * `peer` (borrowed) needs peer_cap >= PS_WIRE_ROUTING_ID_MAX for any id to fit; an id that does
 * not fit makes the message PS_ERR_PROTO. A Hello whose routing_id differs from the connection's
 * routing id is PS_ERR_PROTO too. */
enum ps_err ps_wire_recv_router(void *sock, const struct ps_wire_limits *lim, char *peer,
                                size_t peer_cap, size_t *peer_len, Poisonscan__Envelope **env,
                                bool *got, struct ps_errdetail *ed);

/* Receive one message on a DEALER without blocking; same results as ps_wire_recv_router(). */
enum ps_err ps_wire_recv_dealer(void *sock, const struct ps_wire_limits *lim,
                                Poisonscan__Envelope **env, bool *got, struct ps_errdetail *ed);

/* Free an envelope from a recv or ps_wire_decode() call (takes ownership; NULL is fine). */
void ps_wire_envelope_free(Poisonscan__Envelope *env);

/* Send `env` (borrowed) to the worker `peer` (borrowed, peer_len bytes) without blocking.
 * The envelope must be a Lease, Heartbeat or Shutdown that passes ps_wire_validate() under
 * ps_wire_limits_worker(); otherwise PS_ERR_PROTO and nothing is sent (a bug in the caller shows
 * up here, not as a silent drop at the worker). PS_ERR_ZMQ when the message did not leave:
 * EHOSTUNREACH (no such peer, or it disconnected: ZMQ_ROUTER_MANDATORY) or EAGAIN (its queue is
 * full); the detail names the reason. */
enum ps_err ps_wire_send_router(void *sock, const char *peer, size_t peer_len,
                                const Poisonscan__Envelope *env, struct ps_errdetail *ed);

/* Send `env` (borrowed) to the coordinator without blocking. The envelope must be a Hello, Ready,
 * Heartbeat or ShardResult that passes ps_wire_validate() under ps_wire_limits_coordinator();
 * otherwise PS_ERR_PROTO. PS_ERR_ZMQ with EAGAIN in the detail means the connection is not up
 * (ZMQ_IMMEDIATE) or its queue is full: the message did not leave, and the caller decides whether
 * to drop it (a heartbeat) or retry it (a ShardResult). zmq_poll(ZMQ_POLLOUT) says when to retry.
 */
enum ps_err ps_wire_send_dealer(void *sock, const Poisonscan__Envelope *env,
                                struct ps_errdetail *ed);

/* Check the field values of an unpacked or hand-built envelope against `lim` (borrowed):
 * exactly one body; strings within lim->max_string (tokens within PS_WIRE_TOKEN_MAX) and valid
 * UTF-8 (identifiers: printable ASCII without spaces); Hello.protocol_version ==
 * PS_WIRE_PROTOCOL_VERSION, routing_id 1..255 bytes, pid >= 1, credit 1..PS_WIRE_MAX_CREDIT;
 * Ready.credit 1..PS_WIRE_MAX_CREDIT; Lease: job_id and path non-empty, pass in {1,2},
 * attempt >= 1, begin <= end, a known format, layout and record shape (a shape only with the
 * JSONL and JSON layouts), settings present and in range, candidates only in
 * pass 2 and at most lim->max_candidates, lease_ms in [PS_WIRE_LEASE_MS_MIN, _MAX]; an
 * attributes path in pass 5 and only there, absolute, and at most lim->max_candidates flagged
 * codes, strictly ascending, only in pass 5; Heartbeat:
 * attempt 0 (idle: pass 0, shard_id 0) or attempt >= 1 with pass in {1,2}; ShardResult: job_id
 * non-empty, pass in {1,2}, attempt >= 1, a known outcome, an error text with OUTCOME_FAILED and
 * retryable only with it. Direction is not checked here (the recv/send functions do that).
 * PS_OK or PS_ERR_PROTO with the reason. Pure; thread-safe. */
enum ps_err ps_wire_validate(const Poisonscan__Envelope *env, const struct ps_wire_limits *lim,
                             struct ps_errdetail *ed);

/* Decode one envelope frame `src` (borrowed, src_len bytes) as the recv functions do, without the
 * direction check: size <= lim->max_msg, no NUL inside any string field, protobuf decode, exactly
 * one body field, ps_wire_validate(). On PS_OK *env owns the envelope (ps_wire_envelope_free());
 * on PS_ERR_PROTO *env is NULL. Exposed for the fuzz target and for tools. */
enum ps_err ps_wire_decode(const void *src, size_t src_len, const struct ps_wire_limits *lim,
                           Poisonscan__Envelope **env, struct ps_errdetail *ed);

/* "hello", "ready", "lease", "heartbeat", "result", "shutdown", "none" or "unknown"; static. */
const char *ps_wire_body_name(Poisonscan__Envelope__BodyCase body_case);

/* Write a routing id (borrowed, binary) into `dst` (dst_cap bytes, always NUL-terminated) for a
 * log line: printable ASCII as is, other bytes as \xNN, cut short with "..." when it does not fit.
 */
void ps_wire_format_peer(char *dst, size_t dst_cap, const char *peer, size_t peer_len);

/* Copy the C string `src` (borrowed) into `dst` (dst_cap >= 1 bytes, always NUL-terminated) as
 * valid UTF-8 suitable for a string field: each byte that does not start a valid sequence becomes
 * '?', and the copy stops at a sequence boundary when dst is full. For ShardResult.error texts
 * that quote file names or decoder messages (proto3 strings must be UTF-8, and the coordinator
 * rejects anything else). */
void ps_wire_copy_text(char *dst, size_t dst_cap, const char *src);

#endif
