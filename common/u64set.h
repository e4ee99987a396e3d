/* u64set.h - an open-addressing set of 64-bit keys (n-gram hashes), for the confirm pass: the
 * worker fills it once per shard with the coordinator's candidate hashes and probes it for every
 * n-gram of every document, so a probe is one multiply, one load and (rarely) a short walk.
 * Invariant: slots is NULL (cap 0) or holds cap slots, cap a power of two, at most a quarter
 * of them used (see u64set.c); slot value 0 means empty, so the key 0 is kept aside in has_zero;
 * len counts both. */
#ifndef PS_COMMON_U64SET_H
#define PS_COMMON_U64SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct ps_u64set {
    uint64_t *slots; /* owned; NULL until the first add */
    size_t cap;      /* number of slots, 0 or a power of two */
    size_t len;      /* distinct keys held, the key 0 included */
    size_t max;      /* ceiling on len; adding past it is PS_ERR_LIMIT and changes nothing */
    bool has_zero;   /* the key 0 is a member */
};

/* Prepare an empty set that may hold up to `max` keys. Allocates nothing. */
void ps_u64set_init(struct ps_u64set *s, size_t max);
/* Free the slots; the struct may be initialised again. */
void ps_u64set_release(struct ps_u64set *s);
/* Drop every key, keep the memory for reuse. */
void ps_u64set_clear(struct ps_u64set *s);
/* Make room for `n` keys in all without growing again; PS_ERR_LIMIT if n > max. */
enum ps_err ps_u64set_reserve(struct ps_u64set *s, size_t n);
/* Add `key`; PS_OK (also when it was already there) or PS_ERR_LIMIT past the ceiling.
 * *added (may be NULL) says whether the key is new. */
enum ps_err ps_u64set_add(struct ps_u64set *s, uint64_t key, bool *added);
/* Slot of a key in a table of `cap` slots: the high half of a Fibonacci product (Knuth's
 * multiplicative hashing), so keys that are not hashes (counters, test values) spread too. */
static inline size_t ps_u64set_slot(uint64_t key, size_t cap)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (cap - 1);
}

/* Membership; s is only read, so concurrent probes of a set nobody modifies are safe.
 * Inline: the confirm pass probes once per n-gram of every document. */
static inline bool ps_u64set_has(const struct ps_u64set *s, uint64_t key)
{
    size_t i;

    if (key == 0)
        return s->has_zero;
    if (s->cap == 0)
        return false;
    for (i = ps_u64set_slot(key, s->cap); s->slots[i] != 0; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == key)
            return true;
    return false;
}
/* Walk the keys in no particular order: start with *pos = 0; each call that returns true writes
 * one key and advances *pos. The set must not change during the walk. */
bool ps_u64set_next(const struct ps_u64set *s, size_t *pos, uint64_t *key);

#endif
