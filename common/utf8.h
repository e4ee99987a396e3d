/* utf8.h - strict UTF-8 validation, decoding and encoding (RFC 3629) for untrusted corpus text.
 * Strict means: no overlong forms, no encoded surrogates (U+D800..U+DFFF), nothing above U+10FFFF,
 * no stray continuation bytes and no truncated sequences. All functions are pure and thread-safe.
 */
#ifndef PS_COMMON_UTF8_H
#define PS_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Number of leading bytes of `src` (borrowed) that form valid UTF-8; == src_len when all of it is
 * valid. A truncated sequence at the end is not part of the valid prefix. ASCII runs are checked
 * 8 bytes at a time. */
size_t ps_utf8_valid_prefix(const char *src, size_t src_len);

/* true when all `src_len` bytes of `src` (borrowed) are valid UTF-8 (the empty string is). */
bool ps_utf8_is_valid(const char *src, size_t src_len);

/* Encode the scalar value `cp` into `dst` (borrowed, room for at least 4 bytes) and return the
 * number of bytes written (1..4). `cp` must be a Unicode scalar value (<= U+10FFFF, not a
 * surrogate): anything else is a caller bug and aborts via ps_bug(). */
size_t ps_utf8_encode(uint32_t cp, char *dst);

/* Decode and check one code point at the start of `src` (borrowed, src_len bytes available).
 * Returns the bytes consumed (1..4) and sets *cp; returns 0 when the bytes there are not a valid,
 * complete UTF-8 sequence (or src_len == 0), leaving *cp untouched. Inline: the normalizer of
 * every shingle calls it per non-ASCII code point. */
static inline size_t ps_utf8_decode(const char *src, size_t src_len, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)src;
    unsigned char c, lo = 0x80, hi = 0xBF;
    size_t n, i;
    uint32_t v;

    if (src_len == 0)
        return 0;
    c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    /* Table 3-7: the second byte's range depends on the lead byte, which is what rules out
     * overlongs (E0, F0), surrogates (ED) and values above U+10FFFF (F4) */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (src_len < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    v = (v << 6) | (s[1] & 0x3Fu);
    for (i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    *cp = v;
    return n;
}

/* A snippet for reports: [*begin, *end) holds up to `max` bytes of `src` (borrowed) around
 * `offset` (clamped to src_len), a third before it and the rest after (all before it when the
 * text ends sooner), cut so that it neither starts nor ends inside a UTF-8 sequence. */
void ps_utf8_snippet(const char *src, size_t src_len, size_t offset, size_t max, size_t *begin,
                     size_t *end);

/* Bytes of the Unicode White_Space character beyond ASCII that starts at p (avail >= 1 bytes
 * there): U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000; 0 for
 * anything else (zero-width U+200B is not a space). The detector's tokens and the allowlist's
 * patterns both split on these. Inline: the tokenizer asks at every lead byte C2, E1, E2, E3. */
static inline size_t ps_utf8_space_len(const unsigned char *p, size_t avail)
{
    if (p[0] == 0xC2)
        return avail >= 2 && (p[1] == 0x85 || p[1] == 0xA0) ? 2 : 0;
    if (avail < 3)
        return 0;
    if (p[0] == 0xE1)
        return p[1] == 0x9A && p[2] == 0x80 ? 3 : 0;
    if (p[0] == 0xE3)
        return p[1] == 0x80 && p[2] == 0x80 ? 3 : 0;
    if (p[0] != 0xE2)
        return 0;
    if (p[1] == 0x80) /* E2 80 xx: U+2000..U+200A, U+2028, U+2029, U+202F */
        return (p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF ? 3
                                                                                              : 0;
    return p[1] == 0x81 && p[2] == 0x9F ? 3 : 0; /* U+205F */
}

#endif
