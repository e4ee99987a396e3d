/* clsketch.c - the heavy-cell bitmap as Redis holds it (clsketch.h). */
#include "common/clsketch.h"

#include <zstd.h>

/* level 3: written once per job, read once per worker; a sparse bitmap shrinks about 100 times */
#define HEAVY_LEVEL 3

enum ps_err ps_clsketch_heavy_pack(const uint8_t *bitmap, size_t len, struct ps_buf *out,
                                   struct ps_errdetail *ed)
{
    size_t bound = ZSTD_compressBound(len), n;
    enum ps_err err = ps_buf_reserve(out, bound);

    if (err != PS_OK) {
        ps_errdetail_set(ed, NULL, 0, "cluster bitmap: %zu bytes over the buffer's limit", bound);
        return err;
    }
    n = ZSTD_compress(out->data + out->len, bound, bitmap, len, HEAVY_LEVEL);
    if (ZSTD_isError(n)) {
        ps_errdetail_set(ed, NULL, 0, "cannot compress the cluster bitmap: %s",
                         ZSTD_getErrorName(n));
        return PS_ERR_ZSTD;
    }
    out->len += n;
    return PS_OK;
}

enum ps_err ps_clsketch_heavy_unpack(const void *src, size_t src_len, uint8_t *dst, size_t want,
                                     struct ps_errdetail *ed)
{
    unsigned long long size = ZSTD_getFrameContentSize(src, src_len);
    size_t n;

    /* the frame must say its size, so that nothing is decompressed for a wrong one */
    if (size != want || ZSTD_findFrameCompressedSize(src, src_len) != src_len) {
        ps_errdetail_set(ed, NULL, 0, "cluster bitmap: not one zstd frame of %zu bytes", want);
        return PS_ERR_PROTO;
    }
    n = ZSTD_decompress(dst, want, src, src_len);
    if (ZSTD_isError(n) || n != want) {
        ps_errdetail_set(ed, NULL, 0, "cluster bitmap: %s",
                         ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame");
        return PS_ERR_PROTO;
    }
    return PS_OK;
}
