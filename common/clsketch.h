/* clsketch.h - the shape of the cluster sketch that workers fill and the coordinator adds up:
 * PS_CLSKETCH_ROWS rows of 2^w 8-bit saturating counters, a band key counted once per row. Both
 * sides must map a key to the same cells, so the mapping lives here and nowhere else. */
#ifndef PS_COMMON_CLSKETCH_H
#define PS_COMMON_CLSKETCH_H

#include <stddef.h>
#include <stdint.h>

#define PS_CLSKETCH_ROWS     2
#define PS_CLSKETCH_LOG2_MIN 12u
#define PS_CLSKETCH_LOG2_MAX 26u

/* Row 0 takes the low bits of the key (an XXH3 output), row 1 a multiplicative remix of it, so
 * two keys that share a row-0 cell are unlikely to share the row-1 cell too. */
static inline void ps_clsketch_cells(uint64_t key, unsigned log2, size_t cells[PS_CLSKETCH_ROWS])
{
    uint64_t mask = ((uint64_t)1 << log2) - 1;

    cells[0] = (size_t)(key & mask);
    cells[1] = (size_t)(((key * 0x9E3779B97F4A7C15u) >> (64 - log2)) & mask);
}

#endif
