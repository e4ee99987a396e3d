/* clsketch.h - the shape of the cluster sketch that workers fill and the coordinator adds up:
 * PS_CLSKETCH_ROWS rows of 2^w 8-bit saturating counters, a band key counted once per row. Both
 * sides must map a key to the same cells, so the mapping lives here and nowhere else; so does
 * the heavy-cell bitmap as Redis holds it for passes 2-4 (key clusters:heavy), which one side
 * writes and the other reads. */
#ifndef PS_COMMON_CLSKETCH_H
#define PS_COMMON_CLSKETCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

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

/* The heavy-cell bitmap (bit i of row r is bitmap[(r * 2^w + i) / 8] >> (i % 8) & 1) as Redis
 * keeps it: one zstd frame with its size, a few kilobytes where the bitmap is a few hundred (at
 * most one cell in 16 is heavy, most bytes are zero). Appended to *out. PS_OK, PS_ERR_ZSTD, or
 * PS_ERR_LIMIT (out's ceiling). */
enum ps_err ps_clsketch_heavy_pack(const uint8_t *bitmap, size_t len, struct ps_buf *out,
                                   struct ps_errdetail *ed);

/* The bitmap back from `src` (src_len bytes, untrusted) into dst, which holds exactly `want`
 * bytes (PS_CLSKETCH_ROWS * 2^w / 8). PS_OK or PS_ERR_PROTO (not one frame of that size). */
enum ps_err ps_clsketch_heavy_unpack(const void *src, size_t src_len, uint8_t *dst, size_t want,
                                     struct ps_errdetail *ed);

#endif
