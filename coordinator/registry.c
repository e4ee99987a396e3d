/* registry.c - records in a growing array, indexed by XXH3 of the routing id under a seed drawn
 * at start (routing ids come from the network). A 64-bit collision between two live ids is
 * handled by a linear search, so it costs time, never correctness. */
#include "coordinator/registry.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "common/u64map.h"

struct ps_registry {
    struct ps_worker_rec *recs;
    size_t n, cap;
    struct ps_u64map index; /* hash of id -> record index */
    uint64_t seed;
};

void ps_registry_new(struct ps_registry **out)
{
    struct ps_registry *r = ps_xcalloc(1, sizeof(*r));

    ps_u64map_init(&r->index, SIZE_MAX / 4);
    if (getrandom(&r->seed, sizeof(r->seed), 0) != (ssize_t)sizeof(r->seed))
        r->seed = (uint64_t)(uintptr_t)r ^ UINT64_C(0x9E3779B97F4A7C15);
    *out = r;
}

void ps_registry_free(struct ps_registry *r)
{
    if (r == NULL)
        return;
    ps_u64map_release(&r->index);
    free(r->recs);
    free(r);
}

static bool same(const struct ps_worker_rec *w, const char *id, size_t id_len)
{
    return w->id_len == id_len && memcmp(w->id, id, id_len) == 0;
}

size_t ps_registry_find_or_add(struct ps_registry *r, const char *id, size_t id_len, bool *known)
{
    uint64_t h = XXH3_64bits_withSeed(id, id_len, r->seed), at;
    struct ps_worker_rec *w;

    if (id_len == 0 || id_len > PS_WIRE_ROUTING_ID_MAX)
        ps_bug("routing id of %zu bytes", id_len);
    *known = true;
    if (ps_u64map_get(&r->index, h, &at)) {
        if (same(&r->recs[at], id, id_len))
            return (size_t)at;
        for (size_t i = 0; i < r->n; i++)
            if (same(&r->recs[i], id, id_len))
                return i;
    }
    *known = false;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->recs = ps_xrealloc(r->recs, r->cap * sizeof(*r->recs));
    }
    w = &r->recs[r->n];
    memset(w, 0, sizeof(*w));
    memcpy(w->id, id, id_len);
    w->id_len = id_len;
    ps_wire_format_peer(w->name, sizeof(w->name), id, id_len);
    /* a colliding id keeps the first one's slot; it is found by the search above */
    if (!ps_u64map_get(&r->index, h, &at) && ps_u64map_put(&r->index, h, r->n) != PS_OK)
        ps_bug("worker index full");
    return r->n++;
}

struct ps_worker_rec *ps_registry_at(struct ps_registry *r, size_t i)
{
    if (i >= r->n)
        ps_bug("worker %zu of %zu", i, r->n);
    return &r->recs[i];
}

size_t ps_registry_len(const struct ps_registry *r)
{
    return r->n;
}

size_t ps_registry_n_alive(const struct ps_registry *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++)
        n += r->recs[i].alive;
    return n;
}
