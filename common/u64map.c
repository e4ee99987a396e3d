/* u64map.c - u64set's slots hold the keys; a parallel array holds the values and moves with
 * them when the set grows (so the map re-inserts itself rather than calling the set's rehash). */
#include "common/u64map.h"

#include <stdlib.h>
#include <string.h>

void ps_u64map_init(struct ps_u64map *m, size_t max)
{
    ps_u64set_init(&m->keys, max);
    m->values = NULL;
    m->zero_value = 0;
}

void ps_u64map_release(struct ps_u64map *m)
{
    ps_u64set_release(&m->keys);
    free(m->values);
    m->values = NULL;
}

/* Room for one more key: grow both arrays together, at most a quarter full. */
static enum ps_err grow(struct ps_u64map *m)
{
    struct ps_u64set *s = &m->keys;
    size_t cap = s->cap ? s->cap : 16;
    uint64_t *keys, *values;

    while (cap / 4 < s->len + 1) {
        if (cap > SIZE_MAX / 4 / sizeof(uint64_t))
            return PS_ERR_LIMIT;
        cap *= 2;
    }
    if (cap == s->cap)
        return PS_OK;
    keys = ps_xcalloc(cap, sizeof(*keys));
    values = ps_xcalloc(cap, sizeof(*values));
    for (size_t i = 0; i < s->cap; i++) {
        size_t j;
        if (s->slots[i] == 0)
            continue;
        for (j = ps_u64set_slot(s->slots[i], cap); keys[j] != 0; j = (j + 1) & (cap - 1))
            ;
        keys[j] = s->slots[i];
        values[j] = m->values[i];
    }
    free(s->slots);
    free(m->values);
    s->slots = keys;
    m->values = values;
    s->cap = cap;
    return PS_OK;
}

enum ps_err ps_u64map_put(struct ps_u64map *m, uint64_t key, uint64_t value)
{
    struct ps_u64set *s = &m->keys;
    size_t i;
    enum ps_err err;

    if (key == 0) {
        if (!s->has_zero) {
            if (s->len >= s->max)
                return PS_ERR_LIMIT;
            s->has_zero = true;
            s->len++;
        }
        m->zero_value = value;
        return PS_OK;
    }
    if (s->cap != 0) {
        i = ps_u64map_find_slot(s, key);
        if (s->slots[i] == key) {
            m->values[i] = value;
            return PS_OK;
        }
    }
    if (s->len >= s->max)
        return PS_ERR_LIMIT;
    err = grow(m);
    if (err != PS_OK)
        return err;
    i = ps_u64map_find_slot(s, key);
    s->slots[i] = key;
    m->values[i] = value;
    s->len++;
    return PS_OK;
}

size_t ps_u64map_len(const struct ps_u64map *m)
{
    return m->keys.len;
}
