/* utf8.c - strict UTF-8 (RFC 3629, Unicode Table 3-7 "well-formed byte sequences").
 * ASCII dominates real corpora, so runs of it are checked a 64-bit word at a time; the rare
 * multi-byte sequence goes through the exact table-driven scalar check. */
#include "common/utf8.h"

#include <string.h>

#include "common/error.h"

#define HIGH_BITS 0x8080808080808080ULL

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;

    /* memcpy is the portable unaligned load; compilers turn it into one mov */
    memcpy(&v, p, sizeof(v));
    return v;
}

size_t ps_utf8_valid_prefix(const char *src, size_t src_len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0;

    while (i < src_len) {
        uint32_t cp;
        size_t n;

        /* two words per step keep the loop overhead low on long ASCII runs */
        while (src_len - i >= 16 && ((load64(s + i) | load64(s + i + 8)) & HIGH_BITS) == 0)
            i += 16;
        while (src_len - i >= 8 && (load64(s + i) & HIGH_BITS) == 0)
            i += 8;
        while (i < src_len && s[i] < 0x80)
            i++;
        if (i == src_len)
            break;
        n = ps_utf8_decode(src + i, src_len - i, &cp);
        if (n == 0)
            return i;
        i += n;
    }
    return i;
}

bool ps_utf8_is_valid(const char *src, size_t src_len)
{
    return ps_utf8_valid_prefix(src, src_len) == src_len;
}

size_t ps_utf8_encode(uint32_t cp, char *dst)
{
    unsigned char *d = (unsigned char *)dst;

    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        ps_bug("ps_utf8_encode: surrogate U+%04X is not a scalar value", (unsigned)cp);
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF)
        ps_bug("ps_utf8_encode: U+%X is above U+10FFFF", (unsigned)cp);
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

void ps_utf8_snippet(const char *src, size_t src_len, size_t offset, size_t max, size_t *begin,
                     size_t *end)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t b, e;

    if (offset > src_len)
        offset = src_len;
    /* a third before the offset, two thirds after: what follows a trigger is the evidence */
    b = offset > max / 3 ? offset - max / 3 : 0;
    e = src_len - b > max ? b + max : src_len;
    if (e - b < max && b > 0) /* short tail: give the room to the left side */
        b = e > max ? e - max : 0;
    /* b moves right and e left, each to a character start; b is one, so e stops at b at worst */
    while (b < src_len && (p[b] & 0xC0) == 0x80)
        b++;
    if (e < b)
        e = b;
    while (e > b && e < src_len && (p[e] & 0xC0) == 0x80)
        e--;
    *begin = b;
    *end = e;
}
