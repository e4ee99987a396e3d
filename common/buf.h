/* buf.h - a growable byte buffer with a ceiling, for lines, decoded strings and report text.
 * Invariant: data is NULL (cap 0) or holds cap bytes, len < cap, and data[len] == '\0', so the
 * content can always be read as a C string (it may hold NULs of its own). */
#ifndef PS_COMMON_BUF_H
#define PS_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct ps_buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* content bytes */
    size_t cap; /* allocated bytes */
    size_t max; /* ceiling on len; appending past it is PS_ERR_LIMIT and changes nothing */
};

/* The ceiling of a buffer that only the program's own output grows (report text, records,
 * keys): none. Such a buffer takes the appends that cannot fail (ps_buf_add*). */
#define PS_BUF_NO_LIMIT SIZE_MAX

/* Prepare an empty buffer that may grow to `max` content bytes (an input size sets it), or
 * without a ceiling (PS_BUF_NO_LIMIT). */
void ps_buf_init(struct ps_buf *b, size_t max);
/* Free the content; the struct may be initialised again. */
void ps_buf_release(struct ps_buf *b);
/* Drop the content, keep the memory for reuse. */
void ps_buf_reset(struct ps_buf *b);

/* Checked appends, for a buffer with a ceiling: PS_ERR_LIMIT past it (nothing appended), which
 * the caller must handle (input too big). */
/* Make room for `n` more bytes; PS_ERR_LIMIT past the ceiling. */
enum ps_err ps_buf_reserve(struct ps_buf *b, size_t n) __attribute__((warn_unused_result));
/* Append `src_len` bytes of `src` (borrowed); PS_OK or PS_ERR_LIMIT. */
enum ps_err ps_buf_append(struct ps_buf *b, const void *src, size_t src_len)
    __attribute__((warn_unused_result));
enum ps_err ps_buf_appends(struct ps_buf *b, const char *s) __attribute__((warn_unused_result));
enum ps_err ps_buf_appendf(struct ps_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));

/* Appends that cannot fail, after git's strbuf: running out of memory aborts (a worker that
 * dies is re-leased by the protocol). For buffers without a ceiling, or bytes known to fit
 * under it; passing a ceiling here is a bug (ps_bug), never a silent truncation. */
void ps_buf_add(struct ps_buf *b, const void *src, size_t src_len);
void ps_buf_adds(struct ps_buf *b, const char *s);
void ps_buf_addf(struct ps_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the content to the caller (free with free()); the buffer is left empty. */
char *ps_buf_detach(struct ps_buf *b, size_t *len);

#endif
