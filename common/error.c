/* error.c - the only string table for enum ps_err, the detail formatter, ps_bug and the
 * aborting allocators. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const err_names[] = {
    [PS_OK] = "ok",
    [PS_ERR_IO] = "i/o error",
    [PS_ERR_PARSE] = "malformed record",
    [PS_ERR_LIMIT] = "limit exceeded",
    [PS_ERR_ZSTD] = "zstd error",
    [PS_ERR_GZIP] = "gzip error",
    [PS_ERR_UNSUPPORTED] = "unsupported",
    [PS_ERR_PROTO] = "protocol error",
    [PS_ERR_ZMQ] = "zeromq error",
    [PS_ERR_REDIS] = "redis error",
    [PS_ERR_TIMEOUT] = "timed out",
    [PS_ERR_USAGE] = "usage error",
};
_Static_assert(sizeof(err_names) / sizeof(err_names[0]) == PS_ERR__COUNT,
               "err_names must have one entry per enum ps_err");

const char *ps_strerror(enum ps_err err)
{
    if ((unsigned)err >= PS_ERR__COUNT || err_names[err] == NULL)
        return "unknown error";
    return err_names[err];
}

void ps_errdetail_set(struct ps_errdetail *ed, const char *file, uint64_t offset, const char *fmt,
                      ...)
{
    va_list ap;

    if (ed == NULL)
        return;
    ed->file = file;
    ed->offset = offset;
    va_start(ap, fmt);
    vsnprintf(ed->msg, sizeof(ed->msg), fmt, ap);
    va_end(ap);
}

void ps_bug_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "BUG %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void *oom(size_t n)
{
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ps_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *ps_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    return p ? p : oom(nmemb * size);
}

void *ps_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

char *ps_xstrndup(const char *s, size_t n)
{
    char *d = ps_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *ps_xstrdup(const char *s)
{
    return ps_xstrndup(s, strlen(s));
}
