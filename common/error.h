/* error.h - the one error enum of poisonscan, its string table, the detail that says where,
 * and the allocation wrappers that turn out-of-memory into a clean abort. */
#ifndef PS_COMMON_ERROR_H
#define PS_COMMON_ERROR_H

#include <stddef.h>
#include <stdint.h>

enum ps_err {
    PS_OK = 0,
    PS_ERR_IO,          /* open/read/write failed; errno text in the detail */
    PS_ERR_PARSE,       /* malformed record: bad JSON, bad UTF-8, missing field */
    PS_ERR_LIMIT,       /* input exceeds a configured bound */
    PS_ERR_ZSTD,        /* corrupt or unsupported zstd frame; zstd's name in the detail */
    PS_ERR_GZIP,        /* corrupt gzip stream; zlib's message in the detail */
    PS_ERR_UNSUPPORTED, /* a forced SIMD level this CPU lacks, an unknown format */
    PS_ERR_PROTO,       /* a protocol message that does not decode or validate */
    PS_ERR_ZMQ,         /* a ZeroMQ call failed; zmq_strerror in the detail */
    PS_ERR_REDIS,       /* Redis unreachable or a command failed; hiredis errstr in the detail */
    PS_ERR_TIMEOUT,     /* a deadline passed */
    PS_ERR_USAGE,       /* bad option, bad configuration, bad argument */
    PS_ERR__COUNT       /* keep last: the string table is checked against it */
};

/* Never NULL, static storage; "unknown error" for values outside the enum. */
const char *ps_strerror(enum ps_err err);

struct ps_errdetail {
    const char *file; /* view: the shard's path, or NULL */
    uint64_t offset;  /* byte offset in the decompressed stream */
    char msg[200];    /* includes the foreign library's own text */
};

/* Fill `ed` (may be NULL: then nothing happens) with file, offset and a printf-style message. */
void ps_errdetail_set(struct ps_errdetail *ed, const char *file, uint64_t offset, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/* An impossible state: log file:line and abort. Use for our own invariants, never for input. */
#define ps_bug(...) ps_bug_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void ps_bug_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allocation failure is fatal: these log and abort instead of returning NULL.
 * Sizes that come from input must be bounded before they get here. */
void *ps_xmalloc(size_t n);
void *ps_xcalloc(size_t nmemb, size_t size);
void *ps_xrealloc(void *p, size_t n);
char *ps_xstrdup(const char *s);
char *ps_xstrndup(const char *s, size_t n);

#endif
