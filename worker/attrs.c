/* attrs.c - the Dolma attribute file of one input file, streamed through plain stdio, zstd or
 * zlib's gzip into "<path>.tmp.<pid>" and renamed into place on close, so that a half-written
 * file never carries the final name and a retried shard overwrites it whole. */
#include "worker/attrs.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "common/json.h"

/* Lines are gathered and handed to the compressor in slices of this size: one compressor call
 * per ~64 KiB instead of one per document (short lines cost zstd and zlib mostly call overhead),
 * and little enough memory per open file. */
#define TEXT_SLICE (64u * 1024u)
#define ZSTD_LEVEL 3
#define GZIP_LEVEL 6
#define OUT_CAP    (128u * 1024u)

struct ps_attrs_writer {
    enum ps_format_container container;
    FILE *f;        /* NULL once closed */
    char *path;     /* owned: final name */
    char *tmp_path; /* owned: "<path>.tmp.<pid>"; the pid keeps two attempts at the same shard
                       (a slow worker and its replacement) apart */
    ZSTD_CCtx *cctx;
    z_stream zs;
    bool zs_live;       /* deflateInit2 succeeded: deflateEnd is owed */
    struct ps_buf text; /* lines not yet compressed */
    unsigned char *out; /* owned: OUT_CAP bytes of compressed output (zstd, gzip) */
    enum ps_err err;    /* sticky */
};

static enum ps_err io_fail(struct ps_attrs_writer *w, const char *what, struct ps_errdetail *ed)
{
    int e = errno;

    /* ed->file stays NULL: the writer's own copy of the path dies with it in close */
    ps_errdetail_set(ed, NULL, 0, "cannot %s '%s': %s", what, w->tmp_path, strerror(e));
    w->err = PS_ERR_IO;
    return w->err;
}

static enum ps_err zstd_fail(struct ps_attrs_writer *w, size_t code, struct ps_errdetail *ed)
{
    ps_errdetail_set(ed, NULL, 0, "cannot compress '%s': zstd: %s", w->tmp_path,
                     ZSTD_getErrorName(code));
    w->err = PS_ERR_ZSTD;
    return w->err;
}

/* deflate fails only on misuse or a mismatched zlib; PS_ERR_GZIP is the code that carries
 * zlib's own words, as PS_ERR_ZSTD does for zstd */
static enum ps_err gzip_fail(struct ps_attrs_writer *w, int code, struct ps_errdetail *ed)
{
    ps_errdetail_set(ed, NULL, 0, "cannot compress '%s': zlib: %s (%d)", w->tmp_path,
                     w->zs.msg != NULL ? w->zs.msg : "error", code);
    w->err = PS_ERR_GZIP;
    return w->err;
}

static enum ps_err write_out(struct ps_attrs_writer *w, const void *src, size_t src_len,
                             struct ps_errdetail *ed)
{
    if (src_len > 0 && fwrite(src, 1, src_len, w->f) != src_len)
        return io_fail(w, "write", ed);
    return PS_OK;
}

static enum ps_err push_zstd(struct ps_attrs_writer *w, bool end, struct ps_errdetail *ed)
{
    ZSTD_inBuffer in = {w->text.data, w->text.len, 0};
    ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;

    for (;;) {
        ZSTD_outBuffer o = {w->out, OUT_CAP, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &o, &in, mode);

        if (ZSTD_isError(left))
            return zstd_fail(w, left, ed);
        if (write_out(w, w->out, o.pos, ed) != PS_OK)
            return w->err;
        if (end ? left == 0 : in.pos == in.size)
            return PS_OK;
    }
}

static enum ps_err push_gzip(struct ps_attrs_writer *w, bool end, struct ps_errdetail *ed)
{
    unsigned char *src = (unsigned char *)w->text.data;
    size_t left = w->text.len;

    w->zs.avail_in = 0;
    for (;;) {
        int rc;

        /* avail_in is a uInt: a line of a huge id could pass it */
        if (w->zs.avail_in == 0 && left > 0) {
            uInt take = left > UINT_MAX ? UINT_MAX : (uInt)left;

            w->zs.next_in = src;
            w->zs.avail_in = take;
            src += take;
            left -= take;
        }
        w->zs.next_out = w->out;
        w->zs.avail_out = OUT_CAP;
        rc = deflate(&w->zs, end && left == 0 ? Z_FINISH : Z_NO_FLUSH);
        /* Z_BUF_ERROR only says "no progress this call", which the exit rules below cover */
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return gzip_fail(w, rc, ed);
        if (write_out(w, w->out, OUT_CAP - w->zs.avail_out, ed) != PS_OK)
            return w->err;
        if (end ? rc == Z_STREAM_END : left == 0 && w->zs.avail_in == 0 && w->zs.avail_out != 0)
            return PS_OK;
    }
}

/* Hand the gathered lines on; `end` also finishes the zstd frame or gzip member. */
static enum ps_err push(struct ps_attrs_writer *w, bool end, struct ps_errdetail *ed)
{
    enum ps_err err;

    switch (w->container) {
    case PS_FORMAT_ZST:
        err = push_zstd(w, end, ed);
        break;
    case PS_FORMAT_GZ:
        err = push_gzip(w, end, ed);
        break;
    default:
        err = write_out(w, w->text.data, w->text.len, ed);
        break;
    }
    ps_buf_reset(&w->text);
    return err;
}

static void writer_free(struct ps_attrs_writer *w)
{
    if (w->f != NULL) {
        fclose(w->f);
        remove(w->tmp_path);
    }
    ZSTD_freeCCtx(w->cctx);
    if (w->zs_live)
        deflateEnd(&w->zs);
    ps_buf_release(&w->text);
    free(w->out);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

/* mkdir -p of the folder `path` names, with the full path in the message (the caller knows the
 * file it asked for, not which of its parents failed) */
static enum ps_err make_parent(const char *path, struct ps_errdetail *ed)
{
    const char *slash = strrchr(path, '/');
    struct ps_errdetail sub;
    enum ps_err err;
    char *dir;

    if (slash == NULL || slash == path)
        return PS_OK; /* the working directory or the root: nothing to create */
    dir = ps_xstrndup(path, (size_t)(slash - path));
    memset(&sub, 0, sizeof(sub));
    err = ps_file_mkdirs(dir, &sub);
    free(dir);
    if (err != PS_OK)
        ps_errdetail_set(ed, NULL, 0, "cannot create '%s': %s", path, sub.msg);
    return err;
}

static enum ps_err start_codec(struct ps_attrs_writer *w, struct ps_errdetail *ed)
{
    if (w->container == PS_FORMAT_ZST) {
        size_t r;

        w->cctx = ZSTD_createCCtx();
        if (w->cctx == NULL)
            ps_bug("ZSTD_createCCtx failed");
        r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL);
        if (!ZSTD_isError(r))
            r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
        if (ZSTD_isError(r))
            return zstd_fail(w, r, ed);
    } else if (w->container == PS_FORMAT_GZ) {
        /* windowBits 15 + 16: the largest window, wrapped as gzip (header and CRC-32) */
        int rc = deflateInit2(&w->zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);

        if (rc != Z_OK)
            return gzip_fail(w, rc, ed);
        w->zs_live = true;
    }
    if (w->container != PS_FORMAT_PLAIN)
        w->out = ps_xmalloc(OUT_CAP);
    return PS_OK;
}

enum ps_err ps_attrs_open(struct ps_attrs_writer **out, const char *path,
                          enum ps_format_container container, struct ps_errdetail *ed)
{
    struct ps_attrs_writer *w = ps_xcalloc(1, sizeof(*w));
    size_t cap = strlen(path) + 32;
    enum ps_err err;

    *out = NULL;
    w->container = container;
    w->path = ps_xstrdup(path);
    w->tmp_path = ps_xmalloc(cap);
    snprintf(w->tmp_path, cap, "%s.tmp.%ld", path, (long)getpid());
    ps_buf_init(&w->text, PS_BUF_NO_LIMIT);
    err = make_parent(path, ed);
    if (err == PS_OK)
        err = start_codec(w, ed);
    if (err == PS_OK) {
        w->f = fopen(w->tmp_path, "wb");
        if (w->f == NULL)
            err = io_fail(w, "create", ed);
    }
    if (err != PS_OK) {
        writer_free(w);
        return err;
    }
    *out = w;
    return PS_OK;
}

/* Code points of valid UTF-8: every byte that is not a continuation byte starts one. */
static size_t count_code_points(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t count = 0;

    for (size_t i = 0; i < n; i++)
        count += (p[i] & 0xC0u) != 0x80u;
    return count;
}

enum ps_err ps_attrs_add(struct ps_attrs_writer *w, const struct ps_doc *doc,
                         enum ps_attrs_flag flag, struct ps_errdetail *ed)
{
    size_t n_chars;

    if (w->err != PS_OK)
        return w->err;
    n_chars = count_code_points(doc->text, doc->text_len);
    ps_buf_adds(&w->text, "{\"id\":");
    /* a number id goes as written: a mixer matches the ids of the two files as JSON values */
    if (doc->id_literal)
        ps_buf_add(&w->text, doc->id, doc->id_len);
    /* the buffer has no ceiling, so the one failure ps_json_append_string knows cannot occur */
    else if (ps_json_append_string(&w->text, doc->id, doc->id_len) != PS_OK)
        ps_bug("ps_json_append_string failed on a buffer without a ceiling");
    ps_buf_addf(&w->text,
                ",\"attributes\":{\"poisonscan__flagged\":[[0,%zu,%s]],"
                "\"poisonscan__payload_seen\":[[0,%zu,%s]]}}\n",
                n_chars, flag == PS_ATTRS_CLEAN ? "0.0" : "1.0", n_chars,
                flag == PS_ATTRS_PAYLOAD ? "1.0" : "0.0");
    if (w->text.len >= TEXT_SLICE)
        return push(w, false, ed);
    return PS_OK;
}

enum ps_err ps_attrs_close(struct ps_attrs_writer *w, struct ps_errdetail *ed)
{
    enum ps_err err = w->err;

    if (err == PS_OK)
        err = push(w, true, ed);
    if (err == PS_OK && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
        err = io_fail(w, "write", ed);
    if (err == PS_OK) {
        FILE *f = w->f;

        w->f = NULL;
        if (fclose(f) != 0) {
            err = io_fail(w, "write", ed);
            remove(w->tmp_path);
        } else if (rename(w->tmp_path, w->path) != 0) {
            int e = errno;

            ps_errdetail_set(ed, NULL, 0, "cannot rename '%s' to '%s': %s", w->tmp_path, w->path,
                             strerror(e));
            err = PS_ERR_IO;
            remove(w->tmp_path);
        }
    }
    writer_free(w); /* removes the temporary file when it is still open */
    return err;
}

void ps_attrs_abort(struct ps_attrs_writer *w)
{
    if (w != NULL)
        writer_free(w);
}
