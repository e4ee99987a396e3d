/* fuzz_clsketch.c - arbitrary bytes as the heavy-cell bitmap a worker reads from Redis: PS_OK
 * only for one zstd frame of exactly the bitmap's size, never a write past it; what unpacks
 * packs and unpacks to the same bitmap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/clsketch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WANT (PS_CLSKETCH_ROWS * ((size_t)1 << PS_CLSKETCH_LOG2_MIN) / 8)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t bitmap[WANT + 1], again[WANT];
    struct ps_errdetail ed;
    struct ps_buf packed;

    bitmap[WANT] = 0x5A;
    if (ps_clsketch_heavy_unpack(data, size, bitmap, WANT, &ed) != PS_OK)
        return 0;
    if (bitmap[WANT] != 0x5A)
        abort();
    ps_buf_init(&packed, PS_BUF_NO_LIMIT);
    if (ps_clsketch_heavy_pack(bitmap, WANT, &packed, &ed) != PS_OK ||
        ps_clsketch_heavy_unpack(packed.data, packed.len, again, WANT, &ed) != PS_OK ||
        memcmp(again, bitmap, WANT) != 0)
        abort();
    ps_buf_release(&packed);
    return 0;
}
