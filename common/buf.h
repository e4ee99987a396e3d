/* buf.h - a growable byte buffer with a ceiling, for lines, decoded strings and report text.
 * Invariant: data is NULL (cap 0) or holds cap bytes, len < cap, and data[len] == '\0', so the
 * content can always be read as a C string (it may hold NULs of its own). */
#ifndef PS_COMMON_BUF_H
#define PS_COMMON_BUF_H

#include <stddef.h>

#include "common/error.h"

struct ps_buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* content bytes */
    size_t cap; /* allocated bytes */
    size_t max; /* ceiling on len; appending past it is PS_ERR_LIMIT and changes nothing */
};

/* Prepare an empty buffer that may grow to `max` content bytes. */
void ps_buf_init(struct ps_buf *b, size_t max);
/* Free the content; the struct may be initialised again. */
void ps_buf_release(struct ps_buf *b);
/* Drop the content, keep the memory for reuse. */
void ps_buf_reset(struct ps_buf *b);
/* Make room for `n` more bytes; PS_ERR_LIMIT past the ceiling. */
enum ps_err ps_buf_reserve(struct ps_buf *b, size_t n);
/* Append `src_len` bytes of `src` (borrowed); PS_OK or PS_ERR_LIMIT. */
enum ps_err ps_buf_append(struct ps_buf *b, const void *src, size_t src_len);
enum ps_err ps_buf_appends(struct ps_buf *b, const char *s);
enum ps_err ps_buf_appendf(struct ps_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hand the content to the caller (free with free()); the buffer is left empty. */
char *ps_buf_detach(struct ps_buf *b, size_t *len);

#endif
