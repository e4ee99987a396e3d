/* registry.h - the workers a coordinator knows: one record per incarnation (routing id), found
 * by a seeded hash of the id so that a lookup costs the same for ten workers or ten thousand,
 * and no peer can aim collisions at it. Records are never removed (a lease names its holder by
 * index); a worker that went silent is marked dead and comes back by any message, one that
 * said goodbye does not. */
#ifndef PS_COORDINATOR_REGISTRY_H
#define PS_COORDINATOR_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

struct ps_worker_rec {
    char id[PS_WIRE_ROUTING_ID_MAX + 1]; /* binary routing id, id_len bytes */
    size_t id_len;
    char name[2 * PS_WIRE_ROUTING_ID_MAX + 8]; /* printable form for logs */
    uint64_t last_seen;                        /* ms, ps_clock_now_ms(): its last message */
    uint64_t last_sent;                        /* ms: our last message to it */
    uint32_t credit;                           /* leases it can take now */
    bool alive;
    bool left;              /* it said goodbye: never adopted again (a late heartbeat) */
    bool ready;             /* in the coordinator's queue of workers with credit */
    uint64_t patterns_held; /* id of the pattern list it has confirmed holding (0: none) */
    uint64_t patterns_sent; /* id of the list its lease in flight carried (0: none) */
};

struct ps_registry; /* opaque; single-threaded */

void ps_registry_new(struct ps_registry **out);
void ps_registry_free(struct ps_registry *r); /* NULL is fine */

/* The record of routing id `id` (borrowed, id_len bytes, 1..PS_WIRE_ROUTING_ID_MAX), added
 * (dead, no credit) when unknown; *known says which. Returns its index. */
size_t ps_registry_find_or_add(struct ps_registry *r, const char *id, size_t id_len, bool *known);
/* View of record `i` (valid until the next find_or_add). */
struct ps_worker_rec *ps_registry_at(struct ps_registry *r, size_t i);
size_t ps_registry_len(const struct ps_registry *r);
size_t ps_registry_n_alive(const struct ps_registry *r);

#endif
