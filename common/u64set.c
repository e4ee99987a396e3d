/* u64set.c - open addressing with linear probing at a load factor of at most 1/4 (the probe,
 * ps_u64set_has, is inline in the header). Keys are usually XXH3 hashes already, but the slot
 * function spreads any key, so the set does not trust its input to be uniform. */
#include "common/u64set.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP 16

void ps_u64set_init(struct ps_u64set *s, size_t max)
{
    memset(s, 0, sizeof(*s));
    s->max = max;
}

void ps_u64set_release(struct ps_u64set *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = 0;
    s->len = 0;
    s->has_zero = false;
}

void ps_u64set_clear(struct ps_u64set *s)
{
    if (s->slots != NULL)
        memset(s->slots, 0, s->cap * sizeof(*s->slots));
    s->len = 0;
    s->has_zero = false;
}

static void insert_nonzero(uint64_t *slots, size_t cap, uint64_t key)
{
    size_t i = ps_u64set_slot(key, cap);

    while (slots[i] != 0)
        i = (i + 1) & (cap - 1);
    slots[i] = key;
}

static void rehash(struct ps_u64set *s, size_t new_cap)
{
    uint64_t *slots = ps_xcalloc(new_cap, sizeof(*slots));
    size_t i;

    for (i = 0; i < s->cap; i++)
        if (s->slots[i] != 0)
            insert_nonzero(slots, new_cap, s->slots[i]);
    free(s->slots);
    s->slots = slots;
    s->cap = new_cap;
}

enum ps_err ps_u64set_reserve(struct ps_u64set *s, size_t n)
{
    size_t cap = s->cap != 0 ? s->cap : MIN_CAP;

    if (n > s->max)
        return PS_ERR_LIMIT;
    /* at most a quarter full: nearly every probe of the confirm pass is a miss, and a miss
     * walks ~1.4 slots at load 1/4 against ~2.5 at 1/2 (Knuth's linear-probing bound) */
    while (cap / 4 < n) {
        if (cap > SIZE_MAX / 2 / sizeof(uint64_t))
            return PS_ERR_LIMIT;
        cap *= 2;
    }
    if (cap != s->cap)
        rehash(s, cap);
    return PS_OK;
}

enum ps_err ps_u64set_add(struct ps_u64set *s, uint64_t key, bool *added)
{
    size_t i;
    enum ps_err err;

    if (added != NULL)
        *added = false;
    if (ps_u64set_has(s, key))
        return PS_OK;
    if (s->len >= s->max)
        return PS_ERR_LIMIT;
    if (key == 0) {
        s->has_zero = true;
    } else {
        err = ps_u64set_reserve(s, s->len + 1);
        if (err != PS_OK)
            return err;
        i = ps_u64set_slot(key, s->cap);
        while (s->slots[i] != 0)
            i = (i + 1) & (s->cap - 1);
        s->slots[i] = key;
    }
    s->len++;
    if (added != NULL)
        *added = true;
    return PS_OK;
}

bool ps_u64set_next(const struct ps_u64set *s, size_t *pos, uint64_t *key)
{
    /* position 0 stands for the key 0, positions 1..cap for the slots */
    if (*pos == 0) {
        *pos = 1;
        if (s->has_zero) {
            *key = 0;
            return true;
        }
    }
    while (*pos <= s->cap) {
        uint64_t k = s->slots[*pos - 1];

        (*pos)++;
        if (k != 0) {
            *key = k;
            return true;
        }
    }
    return false;
}
