/* buf.c - growable buffer with a ceiling (after curl's dynbuf: a `toobig` bound on every
 * buffer that input can grow), or without one and then with appends that cannot fail (after
 * git's strbuf). */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ps_buf_init(struct ps_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void ps_buf_release(struct ps_buf *b)
{
    free(b->data);
    ps_buf_init(b, b->max);
}

void ps_buf_reset(struct ps_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

enum ps_err ps_buf_reserve(struct ps_buf *b, size_t n)
{
    size_t need, cap;

    if (n > b->max - b->len || n > SIZE_MAX - 1 - b->len)
        return PS_ERR_LIMIT;
    need = b->len + n + 1;
    if (need <= b->cap)
        return PS_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = ps_xrealloc(b->data, cap);
    b->cap = cap;
    return PS_OK;
}

enum ps_err ps_buf_append(struct ps_buf *b, const void *src, size_t src_len)
{
    enum ps_err err = ps_buf_reserve(b, src_len);

    if (err != PS_OK)
        return err;
    if (src_len > 0)
        memcpy(b->data + b->len, src, src_len);
    b->len += src_len;
    b->data[b->len] = '\0';
    return PS_OK;
}

enum ps_err ps_buf_appends(struct ps_buf *b, const char *s)
{
    return ps_buf_append(b, s, strlen(s));
}

static enum ps_err vappendf(struct ps_buf *b, const char *fmt, va_list ap_in)
    __attribute__((format(printf, 2, 0)));
static enum ps_err vappendf(struct ps_buf *b, const char *fmt, va_list ap_in)
{
    va_list ap;
    int n;
    enum ps_err err;

    /* format once into the room there is; a second time only when it did not fit */
    va_copy(ap, ap_in);
    n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (b->data != NULL)
            b->data[b->len] = '\0';
        return PS_ERR_USAGE;
    }
    if (b->data != NULL && (size_t)n < b->cap - b->len && (size_t)n <= b->max - b->len) {
        b->len += (size_t)n;
        return PS_OK;
    }
    if (b->data != NULL)
        b->data[b->len] = '\0'; /* what did not fit (or passed the ceiling) is not content */
    err = ps_buf_reserve(b, (size_t)n);
    if (err != PS_OK)
        return err;
    va_copy(ap, ap_in);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PS_OK;
}

enum ps_err ps_buf_appendf(struct ps_buf *b, const char *fmt, ...)
{
    va_list ap;
    enum ps_err err;

    va_start(ap, fmt);
    err = vappendf(b, fmt, ap);
    va_end(ap);
    return err;
}

void ps_buf_add(struct ps_buf *b, const void *src, size_t src_len)
{
    if (ps_buf_append(b, src, src_len) != PS_OK)
        ps_bug("ps_buf_add: %zu bytes past a buffer's ceiling of %zu", src_len, b->max);
}

void ps_buf_adds(struct ps_buf *b, const char *s)
{
    ps_buf_add(b, s, strlen(s));
}

void ps_buf_addf(struct ps_buf *b, const char *fmt, ...)
{
    va_list ap;
    enum ps_err err;

    va_start(ap, fmt);
    err = vappendf(b, fmt, ap);
    va_end(ap);
    if (err != PS_OK)
        ps_bug("ps_buf_addf: \"%s\" past a buffer's ceiling of %zu, or not formattable", fmt,
               b->max);
}

char *ps_buf_detach(struct ps_buf *b, size_t *len)
{
    char *d = b->data;

    if (d == NULL)
        d = ps_xcalloc(1, 1);
    if (len != NULL)
        *len = b->len;
    ps_buf_init(b, b->max);
    return d;
}
