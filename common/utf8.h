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
 * complete UTF-8 sequence (or src_len == 0), leaving *cp untouched. */
size_t ps_utf8_decode(const char *src, size_t src_len, uint32_t *cp);

#endif
