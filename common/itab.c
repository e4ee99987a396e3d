/* itab.c - growth and emptying of the index table (the probe is inline in itab.h). A slot's tag
 * decides its home slot, so growing re-places the live slots without asking the caller for its
 * records' hashes. */
#include "common/itab.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP 16

void ps_itab_init(struct ps_itab *t)
{
    memset(t, 0, sizeof(*t));
}

void ps_itab_release(struct ps_itab *t)
{
    free(t->slots);
    ps_itab_init(t);
}

void ps_itab_clear(struct ps_itab *t)
{
    if (t->base + (uint64_t)t->n > PS_ITAB_MAX) {
        if (t->slots != NULL)
            memset(t->slots, 0, t->cap * sizeof(*t->slots));
        t->base = 0;
    } else {
        t->base += t->n;
    }
    t->n = 0;
}

static unsigned log2_of(size_t cap)
{
    unsigned b = 0;

    while (((size_t)1 << b) < cap)
        b++;
    return b;
}

static void place(struct ps_itab *t, uint32_t tag, uint32_t id)
{
    size_t i = ps_itab_home(tag, t->shift);

    /* empty or stale, as ps_itab_next sees them */
    while ((uint32_t)(t->slots[i].id - t->base - 1) < t->n)
        i = (i + 1) & (t->cap - 1);
    t->slots[i].tag = tag;
    t->slots[i].id = id;
}

/* Room for n + 1 records at most half full; the live slots move, renumbered from base 0. */
static void grow(struct ps_itab *t)
{
    struct ps_itab_slot *old = t->slots;
    size_t old_cap = t->cap, cap = t->cap ? t->cap * 2 : MIN_CAP;
    uint32_t old_base = t->base;

    t->slots = ps_xcalloc(cap, sizeof(*t->slots));
    t->cap = cap;
    t->shift = 64 - log2_of(cap);
    t->base = 0;
    for (size_t i = 0; i < old_cap; i++) {
        uint32_t index = old[i].id - old_base - 1;

        if (index < t->n)
            place(t, old[i].tag, index + 1);
    }
    free(old);
}

enum ps_err ps_itab_add(struct ps_itab *t, uint64_t hash, uint32_t *index)
{
    if (t->n >= PS_ITAB_MAX)
        return PS_ERR_LIMIT;
    if (((size_t)t->n + 1) * 2 > t->cap)
        grow(t);
    place(t, ps_itab_tag(hash), t->base + t->n + 1);
    *index = t->n++;
    return PS_OK;
}

void *ps_itab_push(struct ps_itab *t, uint64_t hash, void *records, size_t *cap, size_t size)
{
    uint32_t i;

    if (t->n == *cap) {
        *cap = *cap != 0 ? *cap * 2 : 64;
        records = ps_xrealloc(records, *cap * size);
    }
    if (ps_itab_add(t, hash, &i) != PS_OK)
        ps_bug("itab: more than %u records", (unsigned)PS_ITAB_MAX);
    memset((char *)records + (size_t)i * size, 0, size);
    return records;
}
