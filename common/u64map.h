/* u64map.h - an open-addressing map from 64-bit keys to 64-bit values, the shape of u64set with
 * a value beside each key: for lookups by hash (a worker's routing id, say) where the caller
 * keeps the records. Invariant: as in u64set (the key 0 is kept aside; at most a quarter of the
 * slots used). Not thread-safe. */
#ifndef PS_COMMON_U64MAP_H
#define PS_COMMON_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/u64set.h"

struct ps_u64map {
    struct ps_u64set keys; /* where each key sits; values[slot] beside it */
    uint64_t *values;      /* owned; values.cap == keys.cap */
    uint64_t zero_value;   /* value of the key 0 */
};

/* An empty map that may hold up to `max` keys. Allocates nothing. */
void ps_u64map_init(struct ps_u64map *m, size_t max);
void ps_u64map_release(struct ps_u64map *m);
/* Set key -> value (insert or overwrite); PS_OK or PS_ERR_LIMIT past the ceiling. */
enum ps_err ps_u64map_put(struct ps_u64map *m, uint64_t key, uint64_t value);
/* The slot that holds `key`, or the empty one where it would go (s->cap != 0). */
static inline size_t ps_u64map_find_slot(const struct ps_u64set *s, uint64_t key)
{
    size_t i = ps_u64set_slot(key, s->cap);

    while (s->slots[i] != 0 && s->slots[i] != key)
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* The value of `key` into *value; false when absent. Inline, as ps_u64set_has: the confirm
 * pass looks up every n-gram of every document. */
static inline bool ps_u64map_get(const struct ps_u64map *m, uint64_t key, uint64_t *value)
{
    const struct ps_u64set *s = &m->keys;
    size_t i;

    if (key == 0) {
        if (s->has_zero)
            *value = m->zero_value;
        return s->has_zero;
    }
    if (s->cap == 0)
        return false;
    i = ps_u64map_find_slot(s, key);
    if (s->slots[i] != key)
        return false;
    *value = m->values[i];
    return true;
}
size_t ps_u64map_len(const struct ps_u64map *m);

#endif
