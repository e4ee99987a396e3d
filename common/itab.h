/* itab.h - an index table: open addressing from a 64-bit hash to the index of a record that the
 * caller keeps in its own array, appended in order (the i-th record added is index i). It is the
 * one hash table of records keyed by something longer or richer than their hash (a file's path, a
 * hit's counters, a pattern chain's prefix): a slot holds 32 bits of the hash, so a probe touches
 * a record only when those bits match, and the caller then confirms on the record itself.
 *
 * Emptying is O(1), for tables that are filled and emptied once per document: a slot is live
 * only when its id lies in (base, base + n], so moving base past every id handed out empties the
 * table without touching it. Linear probing at most half full. Not thread-safe.
 *
 *     struct ps_itab_probe p = ps_itab_probe(&t, hash);
 *     for (uint32_t i; (i = ps_itab_next(&t, &p)) != PS_ITAB_NONE;)
 *         if (same(&records[i], key)) return &records[i];
 *     ps_itab_add(&t, hash, &i); records[i] = ...;  (i == the number of records before)
 *     (or records = ps_itab_push(&t, hash, records, &cap, sizeof(*records)), which grows them)
 */
#ifndef PS_COMMON_ITAB_H
#define PS_COMMON_ITAB_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define PS_ITAB_NONE UINT32_MAX
#define PS_ITAB_MAX  (UINT32_MAX / 2) /* records a table indexes at most */

struct ps_itab_slot {
    uint32_t tag; /* the hash folded to 32 bits */
    uint32_t id;  /* base + 1 + the record's index when live */
};

struct ps_itab {
    struct ps_itab_slot *slots; /* owned; NULL until the first add */
    size_t cap;                 /* 0 or a power of two, at least 2 * n */
    unsigned shift;             /* 64 - log2(cap): a tag's home slot is its top bits' product */
    uint32_t n;                 /* records indexed: 0 .. n - 1 */
    uint32_t base;              /* ids up to base are stale: their slots count as empty */
};

/* Where a probe for one hash stands. */
struct ps_itab_probe {
    size_t slot;
    uint32_t tag;
};

/* An empty table. Allocates nothing. */
void ps_itab_init(struct ps_itab *t);
void ps_itab_release(struct ps_itab *t);
/* Forget every record, keep the memory: O(1) but for one pass over the slots every 2^31 ids. */
void ps_itab_clear(struct ps_itab *t);
/* Index the next record (index t->n, written to *index) under `hash`. The caller has found no
 * record of its own under this hash that matches. PS_OK, or PS_ERR_LIMIT past PS_ITAB_MAX. */
enum ps_err ps_itab_add(struct ps_itab *t, uint64_t hash, uint32_t *index);
/* ps_itab_add for a table whose records the caller keeps in `records`, an array of *cap elements
 * of `size` bytes that this grows (doubling) when full: returns the array, maybe moved, with the
 * new record zeroed at index t->n - 1. For tables bounded far below PS_ITAB_MAX (a bug past it). */
void *ps_itab_push(struct ps_itab *t, uint64_t hash, void *records, size_t *cap, size_t size);

static inline uint32_t ps_itab_tag(uint64_t hash)
{
    return (uint32_t)(hash ^ (hash >> 32)); /* a key under 2^32 is its own tag */
}

static inline size_t ps_itab_home(uint32_t tag, unsigned shift)
{
    return (size_t)(((uint64_t)tag * UINT64_C(0x9E3779B97F4A7C15)) >> shift);
}

static inline struct ps_itab_probe ps_itab_probe(const struct ps_itab *t, uint64_t hash)
{
    struct ps_itab_probe p;

    p.tag = ps_itab_tag(hash);
    p.slot = t->cap != 0 ? ps_itab_home(p.tag, t->shift) : 0;
    return p;
}

/* The next record on the probe whose tag is the hash's, or PS_ITAB_NONE once the probe reaches
 * an empty slot: no further record can be under this hash. */
static inline uint32_t ps_itab_next(const struct ps_itab *t, struct ps_itab_probe *p)
{
    if (t->cap == 0)
        return PS_ITAB_NONE;
    for (;;) {
        const struct ps_itab_slot *s = &t->slots[p->slot];
        uint32_t index = s->id - t->base - 1; /* wraps past n for an empty or stale slot */

        if (index >= t->n)
            return PS_ITAB_NONE;
        p->slot = (p->slot + 1) & (t->cap - 1);
        if (s->tag == p->tag)
            return index;
    }
}

#endif
