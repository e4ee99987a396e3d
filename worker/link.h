/* link.h - the worker's line to the coordinator: a thread of its own owns the DEALER socket,
 * says Hello, heartbeats on a clock whatever the scanner is doing, and reconnects as a new
 * incarnation when the coordinator falls silent (Paranoid Pirate worker, zguide ch. 4). The scan
 * thread talks to it through an inproc pipe: leases and shutdowns come out of ps_link_next(),
 * results go in through ps_link_send(), progress through ps_link_progress().
 *
 * Why a thread and not time checks in the scan loop: no single document, decompression block,
 * Redis call or sanitizer slowdown may starve the heartbeats (docs/protocol.md §5.2). A scanner
 * that stops making progress is not covered by a live thread for ever: after `stall_ms` without
 * progress the link stops renewing the lease, which then expires like a dead worker's. */
#ifndef PS_WORKER_LINK_H
#define PS_WORKER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/wire.h"
#include "proto/poisonscan.pb-c.h"

struct ps_link_opts {
    const char *connect;   /* borrowed: the coordinator's endpoint; must outlive the link */
    uint64_t heartbeat_ms; /* heartbeat interval */
    unsigned liveness;     /* silent intervals before reconnecting as a new incarnation */
    uint64_t give_up_ms;   /* report PS_LINK_LOST after this long without a coordinator; 0 never */
    uint64_t stall_ms;     /* stop renewing a lease after this long without scan progress */
    const struct ps_wire_security *security; /* borrowed: CURVE keys or plain text; must outlive
                                                the link */
};

struct ps_link; /* opaque; one per worker process */

enum ps_link_event {
    PS_LINK_NONE = 0, /* nothing within the timeout */
    PS_LINK_LEASE,    /* a lease to work on */
    PS_LINK_SHUTDOWN, /* the coordinator says stop */
    PS_LINK_LOST      /* no coordinator for give_up_ms, or the link failed: exit 4 */
};

/* Start the link thread: connect to o->connect and say Hello. `o` is copied (the endpoint string
 * is borrowed). On PS_OK *out owns the link; stop it with ps_link_stop(). PS_ERR_ZMQ or
 * PS_ERR_USAGE (bad endpoint) with `ed`. Call from the thread that will call the rest. */
enum ps_err ps_link_start(struct ps_link **out, const struct ps_link_opts *o,
                          struct ps_errdetail *ed);

/* Wait up to timeout_ms for the next event. With PS_LINK_LEASE, *lease owns an envelope whose
 * body is a validated Lease: free it with ps_wire_envelope_free(); otherwise *lease is NULL. */
enum ps_link_event ps_link_next(struct ps_link *l, long timeout_ms, Poisonscan__Envelope **lease);

/* The lease now being worked on (heartbeats name it), or none with attempt 0. Thread-safe. */
void ps_link_set_lease(struct ps_link *l, uint32_t pass, uint32_t shard_id, uint32_t attempt);
/* Progress in the current lease: bytes and documents so far. Cheap; thread-safe. */
void ps_link_progress(struct ps_link *l, uint64_t bytes_done, uint64_t docs_done);

/* Copy the routing id of the current incarnation into dst (dst_cap >= PS_WIRE_ROUTING_ID_CAP),
 * for the commit marker. Thread-safe. */
void ps_link_routing_id(struct ps_link *l, char *dst, size_t dst_cap);

/* Hand a ShardResult envelope (borrowed; packed here) to the link thread, which sends it as soon
 * as the connection is up. A result still waiting when the link reconnects as a new incarnation
 * is dropped: its commit is in Redis, and the re-dispatched lease will come back as DUPLICATE.
 * PS_ERR_PROTO if the envelope does not validate (nothing queued), PS_ERR_ZMQ if the pipe failed.
 */
enum ps_err ps_link_send(struct ps_link *l, const Poisonscan__Envelope *result,
                         struct ps_errdetail *ed);

/* Stop the thread (a result queued before still gets its chance to leave within the linger),
 * close the sockets and free everything. NULL is fine. */
void ps_link_stop(struct ps_link *l);

#endif
