/* zap.h - the coordinator's ZAP handler (ZeroMQ RFC 27): a thread that answers libzmq's
 * authentication requests for the CURVE socket and admits only the public keys of an allow set;
 * it rereads the allow file when asked (SIGHUP). CURVE without it encrypts but admits any key.
 *
 * Fail closed: a key not in the set, a mechanism other than CURVE, another ZAP domain or a
 * malformed request is refused. The thread keeps its socket bound until ps_zap_stop(), even
 * after errors, because libzmq skips authentication when no handler is bound. */
#ifndef PS_COORDINATOR_ZAP_H
#define PS_COORDINATOR_ZAP_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/curve.h"
#include "common/error.h"

#define PS_ZAP_ENDPOINT "inproc://zeromq.zap.01" /* fixed by RFC 27 and libzmq */

struct ps_zap_opts {
    const struct ps_curve_allow *allow; /* borrowed: the keys admitted at start (copied) */
    const char *allow_file;             /* borrowed, may be NULL: reread when *reload is set;
                                           must outlive the handler */
    atomic_int *reload; /* may be NULL; the handler resets it to 0 and rereads. An atomic, not a
                           sig_atomic_t: a signal handler sets it and this thread reads it */
};

/* Counts since the start; read with ps_zap_stats(). */
struct ps_zap_stats {
    uint64_t admitted;      /* requests answered 200 */
    uint64_t refused;       /* requests answered 400: unknown key, other mechanism or domain */
    uint64_t malformed;     /* requests answered 500: not RFC 27 */
    uint64_t reloads;       /* allow file reread */
    uint64_t reload_errors; /* reread failed; the previous keys stay */
};

struct ps_zap; /* opaque */

/* Bind a REP socket to PS_ZAP_ENDPOINT in `zctx` (borrowed ZeroMQ context) and start the
 * handler thread (signals blocked in it; the process's handlers run elsewhere). Call it before
 * any CURVE server socket of that context binds. Decisions are logged (module "zap"): admitted
 * keys at info, refused ones at warn (at most 20 lines per 10 s, then a count).
 * On PS_OK *out owns the handler: stop it with ps_zap_stop() after closing the CURVE sockets.
 * Errors: PS_ERR_ZMQ (e.g. another handler is bound in this context), PS_ERR_IO (no thread). */
enum ps_err ps_zap_start(struct ps_zap **out, void *zctx, const struct ps_zap_opts *opts,
                         struct ps_errdetail *ed);

/* Counters so far; thread-safe. */
void ps_zap_stats(const struct ps_zap *z, struct ps_zap_stats *out);

/* Stop and join the thread, close its socket, free everything (NULL is fine). Within 100 ms. */
void ps_zap_stop(struct ps_zap *z);

#endif
