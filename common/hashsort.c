/* hashsort.c - see hashsort.h. */
#include "common/hashsort.h"

#include <string.h>

/* Insertion sort in runs of 16, then merged bottom-up. */
void ps_hash_keys_sort(struct ps_hash_key *keys, struct ps_hash_key *tmp, size_t n)
{
    enum { RUN = 16 };
    struct ps_hash_key *src = keys, *dst = tmp, *t;

    for (size_t r = 0; r < n; r += RUN)
        for (size_t i = r + 1; i < n && i < r + RUN; i++) {
            struct ps_hash_key k = keys[i];
            size_t j = i;

            for (; j > r && keys[j - 1].hash > k.hash; j--)
                keys[j] = keys[j - 1];
            keys[j] = k;
        }
    for (size_t w = RUN; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, o = lo;

            while (a < mid && b < hi)
                dst[o++] = src[a].hash < src[b].hash ? src[a++] : src[b++];
            while (a < mid)
                dst[o++] = src[a++];
            while (b < hi)
                dst[o++] = src[b++];
        }
        t = src;
        src = dst;
        dst = t;
    }
    if (src != keys)
        memcpy(keys, src, n * sizeof(*keys));
}
