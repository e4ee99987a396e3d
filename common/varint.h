/* varint.h - LEB128 unsigned varints and little-endian fixed-width integers, the byte-level
 * vocabulary of the binary records that go through Redis (common/results.h and the
 * coordinator's checkpoints). Readers never run past `end` and say so by returning NULL. */
#ifndef PS_COMMON_VARINT_H
#define PS_COMMON_VARINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

#define PS_VARINT_MAX 10 /* bytes of the longest u64 */

/* Write v as a varint at dst (room for PS_VARINT_MAX bytes); returns its length. */
static inline size_t ps_varint_encode(void *dst, uint64_t v)
{
    unsigned char *d = dst;
    size_t n = 0;

    do {
        d[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        d[n] |= v ? 0x80 : 0;
        n++;
    } while (v);
    return n;
}

/* Whether n more bytes (and the NUL) fit b as it is: no call to grow it, nor past its ceiling
 * (false for an unallocated buffer: cap 0). */
static inline bool ps_varint_room(const struct ps_buf *b, size_t n)
{
    return b->cap - b->len > n && b->max - b->len >= n;
}

/* Append v as a varint. Checkpoints and blobs are millions of them: written in place when
 * there is room, a call to grow the buffer only when there is not. */
static inline void ps_varint_put(struct ps_buf *b, uint64_t v)
{
    unsigned char tmp[PS_VARINT_MAX];

    if (ps_varint_room(b, PS_VARINT_MAX)) {
        b->len += ps_varint_encode(b->data + b->len, v);
        b->data[b->len] = '\0';
        return;
    }
    ps_buf_add(b, tmp, ps_varint_encode(tmp, v));
}

/* Append v as 8 little-endian bytes. */
static inline void ps_varint_put_u64le(struct ps_buf *b, uint64_t v)
{
    unsigned char tmp[8];

    for (int i = 0; i < 8; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    if (ps_varint_room(b, sizeof(tmp))) {
        memcpy(b->data + b->len, tmp, sizeof(tmp));
        b->len += sizeof(tmp);
        b->data[b->len] = '\0';
        return;
    }
    ps_buf_add(b, tmp, sizeof(tmp));
}

/* Read a varint at p (p < end); the next byte, or NULL when truncated or longer than 64 bits. */
static inline const unsigned char *ps_varint_get(const unsigned char *p, const unsigned char *end,
                                                 uint64_t *v)
{
    uint64_t x = 0;

    for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
        unsigned char c = *p++;
        if (shift == 63 && (c & 0x7e) != 0)
            return NULL; /* more than 64 bits */
        x |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0) {
            *v = x;
            return p;
        }
    }
    return NULL;
}

static inline const unsigned char *ps_varint_get_u64le(const unsigned char *p,
                                                       const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;

    if (end - p < 8)
        return NULL;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)p[i] << (8 * i);
    *v = x;
    return p + 8;
}

#endif
