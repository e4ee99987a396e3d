/* hashsort.h - (hash, index) keys in order of hash, for the outputs that must not depend on the
 * order things were seen in (a document's hits, a part's tables): sorting 16-byte keys and moving
 * each item once beats qsort moving the items through a callback. */
#ifndef PS_COMMON_HASHSORT_H
#define PS_COMMON_HASHSORT_H

#include <stddef.h>
#include <stdint.h>

struct ps_hash_key {
    uint64_t hash;
    size_t i; /* the item's index where the caller keeps it */
};

/* Sort keys[0, n) by hash, `tmp` (room for n keys) as scratch. Hashes must be distinct (equal
 * ones come out in no particular order). */
void ps_hash_keys_sort(struct ps_hash_key *keys, struct ps_hash_key *tmp, size_t n);

#endif
