/* reader.c - one shard's lines as documents: read(2) or a streaming zstd/zlib decoder fills one
 * window buffer, lines are found with memchr and parsed in place, so a document costs no copy and
 * no allocation. A line longer than the window may hold is skipped as a stream (the window stops
 * growing at max_line + 1 bytes), which bounds memory by max_line whatever the input. */
#include "common/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/reader_internal.h"

#define DEFAULT_MAX_LINE ((size_t)64 << 20)

struct ps_reader {
    const char *path; /* view: the caller's */
    enum ps_reader_format fmt;
    int fd;
    uint64_t end; /* lines starting at or after this stream offset belong to the next shard */
    size_t max_line, io_size;
    char *text_field, *id_field; /* owned copies of the option strings */

    /* compressed input: in[in_pos, in_len) not yet fed to the decoder */
    char *in;
    size_t in_pos, in_len;
    bool in_eof;
    ZSTD_DCtx *zd;
    size_t zret; /* last ZSTD_decompressStream result: 0 between frames */
    z_stream zs;
    bool zs_ready;  /* inflateInit2 succeeded, inflateEnd due */
    bool gz_member; /* inside a gzip member: input ending here means truncation */

    /* the decompressed stream: win[win_pos, win_len) is unread, win[0] is at stream offset base */
    char *win;
    size_t win_cap, win_pos, win_len;
    size_t scan; /* the '\n' search resumes here: win[win_pos, scan) holds none */
    uint64_t base;
    bool eof;        /* the stream has no more bytes */
    bool skip_first; /* a range that starts mid-file: the partial first line is not ours */

    struct ps_json *json;
    struct ps_json_field fields[2]; /* text, id */
    struct ps_buf idbuf;            /* "<path>:<offset>" ids */

    enum ps_err sticky; /* a stream error, returned by every later call */
    struct ps_errdetail err;
    struct ps_reader_stats stats;
};

struct ps_reader_opts ps_reader_opts_default(void)
{
    struct ps_reader_opts o;

    o.text_field = "text";
    o.id_field = "id";
    o.max_line = DEFAULT_MAX_LINE;
    o.zstd_window_log_max = 27;
    o.max_depth = PS_JSON_DEFAULT_MAX_DEPTH;
    return o;
}

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

enum ps_reader_format ps_reader_format_from_path(const char *path)
{
    size_t n = strlen(path);

    if (has_suffix(path, n, ".zst") || has_suffix(path, n, ".zstd"))
        return PS_READER_ZST;
    if (has_suffix(path, n, ".gz"))
        return PS_READER_GZ;
    return PS_READER_JSONL;
}

void ps_reader_free(struct ps_reader *r)
{
    if (r == NULL)
        return;
    if (r->fd >= 0)
        close(r->fd);
    ZSTD_freeDCtx(r->zd);
    if (r->zs_ready)
        inflateEnd(&r->zs);
    free(r->in);
    free(r->win);
    free(r->text_field);
    free(r->id_field);
    ps_json_free(r->json);
    ps_buf_release(&r->idbuf);
    free(r);
}

enum ps_err ps_reader_open(struct ps_reader **out, const char *path, uint64_t begin, uint64_t end,
                           const struct ps_reader_opts *opts, struct ps_errdetail *ed)
{
    return ps_reader_open_io(out, path, begin, end, opts, PS_READER_DEFAULT_IO_SIZE, ed);
}

enum ps_err ps_reader_open_io(struct ps_reader **out, const char *path, uint64_t begin,
                              uint64_t end, const struct ps_reader_opts *opts, size_t io_size,
                              struct ps_errdetail *ed)
{
    struct ps_reader_opts o = opts != NULL ? *opts : ps_reader_opts_default();
    struct ps_json_opts jo = ps_json_opts_default();
    struct ps_reader *r;
    enum ps_err err;

    *out = NULL;
    if (o.text_field == NULL || o.id_field == NULL || o.max_line == 0 || io_size == 0) {
        ps_errdetail_set(ed, path, 0, "bad reader options");
        return PS_ERR_USAGE;
    }
    if (begin > end) {
        ps_errdetail_set(ed, path, begin, "range begins after its end (%" PRIu64 ")", end);
        return PS_ERR_USAGE;
    }
    r = ps_xcalloc(1, sizeof(*r));
    r->fd = -1;
    r->path = path;
    r->fmt = ps_reader_format_from_path(path);
    r->max_line = o.max_line;
    r->io_size = io_size;
    r->end = r->fmt == PS_READER_JSONL ? end : UINT64_MAX;
    r->text_field = ps_xstrdup(o.text_field);
    r->id_field = ps_xstrdup(o.id_field);
    ps_buf_init(&r->idbuf, SIZE_MAX / 2);
    r->err.file = path;

    if (r->fmt != PS_READER_JSONL && begin != 0) {
        ps_errdetail_set(ed, path, begin, "a compressed shard cannot start at byte %" PRIu64,
                         begin);
        err = PS_ERR_USAGE;
        goto fail;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        ps_errdetail_set(ed, path, 0, "cannot open: %s", strerror(errno));
        err = PS_ERR_IO;
        goto fail;
    }
    if (begin > 0) {
        /* start one byte early: the line that byte ends (or the partial line around begin)
         * belongs to the previous range, and skipping through the first '\n' drops it */
        if (lseek(r->fd, (off_t)(begin - 1), SEEK_SET) < 0) {
            ps_errdetail_set(ed, path, begin, "cannot seek: %s", strerror(errno));
            err = PS_ERR_IO;
            goto fail;
        }
        r->base = begin - 1;
        r->skip_first = true;
    }
    if (r->fmt == PS_READER_ZST) {
        size_t zr;

        r->zd = ZSTD_createDCtx();
        if (r->zd == NULL) {
            ps_errdetail_set(ed, path, 0, "cannot create a zstd context");
            err = PS_ERR_ZSTD;
            goto fail;
        }
        zr = ZSTD_DCtx_setParameter(r->zd, ZSTD_d_windowLogMax, (int)o.zstd_window_log_max);
        if (ZSTD_isError(zr)) {
            ps_errdetail_set(ed, path, 0, "zstd window log %u: %s", o.zstd_window_log_max,
                             ZSTD_getErrorName(zr));
            err = PS_ERR_USAGE;
            goto fail;
        }
    } else if (r->fmt == PS_READER_GZ) {
        /* 15 + 32: largest window, and accept gzip or zlib headers */
        if (inflateInit2(&r->zs, 15 + 32) != Z_OK) {
            ps_errdetail_set(ed, path, 0, "cannot init zlib: %s",
                             r->zs.msg != NULL ? r->zs.msg : "no memory");
            err = PS_ERR_GZIP;
            goto fail;
        }
        r->zs_ready = true;
    }
    if (r->fmt != PS_READER_JSONL)
        r->in = ps_xmalloc(io_size);
    r->win_cap = io_size;
    r->win = ps_xmalloc(r->win_cap);
    if (o.max_depth > 0)
        jo.max_depth = o.max_depth;
    r->json = ps_json_new(&jo);
    r->fields[0].key = r->text_field;
    r->fields[0].key_len = strlen(r->text_field);
    r->fields[1].key = r->id_field;
    r->fields[1].key_len = strlen(r->id_field);
    *out = r;
    return PS_OK;

fail:
    ps_reader_free(r);
    return err;
}

const struct ps_errdetail *ps_reader_last_error(const struct ps_reader *r)
{
    return &r->err;
}

const struct ps_reader_stats *ps_reader_stats(const struct ps_reader *r)
{
    return &r->stats;
}

static uint64_t stream_pos(const struct ps_reader *r)
{
    return r->base + r->win_len;
}

static enum ps_err read_some(struct ps_reader *r, char *dst, size_t dst_cap, size_t *got)
{
    ssize_t n;

    do {
        n = read(r->fd, dst, dst_cap);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        ps_errdetail_set(&r->err, r->path, stream_pos(r), "cannot read: %s", strerror(errno));
        return PS_ERR_IO;
    }
    *got = (size_t)n;
    return PS_OK;
}

static enum ps_err read_input(struct ps_reader *r)
{
    enum ps_err err = read_some(r, r->in, r->io_size, &r->in_len);

    r->in_pos = 0;
    if (err == PS_OK && r->in_len == 0)
        r->in_eof = true;
    return err;
}

static enum ps_err fill_plain(struct ps_reader *r, size_t room)
{
    size_t got;
    enum ps_err err = read_some(r, r->win + r->win_len, room, &got);

    if (err != PS_OK)
        return err;
    if (got == 0)
        r->eof = true;
    r->win_len += got;
    return PS_OK;
}

static enum ps_err fill_zstd(struct ps_reader *r, size_t room)
{
    ZSTD_outBuffer ob = {r->win + r->win_len, room, 0};
    enum ps_err err = PS_OK;

    while (ob.pos == 0) {
        ZSTD_inBuffer ib;
        size_t ret;
        bool drained;

        if (r->in_pos == r->in_len && !r->in_eof) {
            err = read_input(r);
            if (err != PS_OK)
                break;
        }
        drained = r->in_pos == r->in_len && r->in_eof;
        if (drained && r->zret == 0) {
            r->eof = true; /* between frames: a clean end */
            break;
        }
        /* with no input left this only flushes what the decoder still holds */
        ib.src = r->in;
        ib.size = r->in_len;
        ib.pos = r->in_pos;
        ret = ZSTD_decompressStream(r->zd, &ob, &ib);
        r->in_pos = ib.pos;
        if (ZSTD_isError(ret)) {
            ps_errdetail_set(&r->err, r->path, stream_pos(r) + ob.pos, "corrupt zstd frame: %s",
                             ZSTD_getErrorName(ret));
            err = PS_ERR_ZSTD;
            break;
        }
        r->zret = ret;
        if (drained && ob.pos == 0 && ret != 0) {
            ps_errdetail_set(&r->err, r->path, stream_pos(r),
                             "truncated zstd frame: %s (%zu more input bytes expected)",
                             ZSTD_getErrorString(ZSTD_error_srcSize_wrong), ret);
            err = PS_ERR_ZSTD;
            break;
        }
    }
    r->win_len += ob.pos;
    return err;
}

static enum ps_err fill_gz(struct ps_reader *r, size_t room)
{
    z_stream *zs = &r->zs;
    enum ps_err err = PS_OK;

    /* avail_out is a uInt: never ask for more than it holds */
    if (room > (size_t)1 << 30)
        room = (size_t)1 << 30;
    zs->next_out = (Bytef *)(r->win + r->win_len);
    zs->avail_out = (uInt)room;
    while (zs->avail_out == room) {
        bool drained;
        int ret;

        if (r->in_pos == r->in_len && !r->in_eof) {
            err = read_input(r);
            if (err != PS_OK)
                break;
        }
        drained = r->in_pos == r->in_len && r->in_eof;
        if (drained && !r->gz_member) {
            r->eof = true;
            break;
        }
        zs->next_in = (Bytef *)(r->in + r->in_pos);
        zs->avail_in = (uInt)(r->in_len - r->in_pos);
        if (!drained)
            r->gz_member = true;
        ret = inflate(zs, Z_NO_FLUSH);
        r->in_pos = r->in_len - zs->avail_in;
        if (ret == Z_STREAM_END) {
            /* a multi-member file (pigz, cat a.gz b.gz) goes on with a fresh member */
            inflateReset(zs);
            r->gz_member = false;
        } else if (ret == Z_BUF_ERROR && drained && zs->avail_out == room) {
            ps_errdetail_set(&r->err, r->path, stream_pos(r), "truncated gzip stream");
            err = PS_ERR_GZIP;
            break;
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            ps_errdetail_set(&r->err, r->path, stream_pos(r) + (room - zs->avail_out),
                             "corrupt gzip stream: %s", zs->msg != NULL ? zs->msg : zError(ret));
            err = PS_ERR_GZIP;
            break;
        }
    }
    r->win_len += room - zs->avail_out;
    return err;
}

/* Append more stream bytes to the window, moving the unread part to the front and growing the
 * window (up to max_line + 1 bytes) first when it is full. Sets r->eof at the end. */
static enum ps_err fill(struct ps_reader *r)
{
    size_t room;

    if (r->win_pos > 0) {
        /* only the partial line moves, once per read */
        memmove(r->win, r->win + r->win_pos, r->win_len - r->win_pos);
        r->base += r->win_pos;
        r->win_len -= r->win_pos;
        r->scan -= r->win_pos;
        r->win_pos = 0;
    }
    if (r->win_len == r->win_cap) {
        size_t cap = r->win_cap * 2;
        size_t limit = r->max_line < SIZE_MAX - 1 ? r->max_line + 1 : SIZE_MAX;

        if (cap > limit || cap < r->win_cap)
            cap = limit;
        if (cap <= r->win_cap)
            ps_bug("reader window full below max_line");
        r->win = ps_xrealloc(r->win, cap);
        r->win_cap = cap;
    }
    room = r->win_cap - r->win_len;
    if (room > r->io_size)
        room = r->io_size;
    switch (r->fmt) {
    case PS_READER_ZST:
        return fill_zstd(r, room);
    case PS_READER_GZ:
        return fill_gz(r, room);
    default:
        return fill_plain(r, room);
    }
}

/* Drop the stream through the next '\n' without holding it: *n_bytes gets the bytes dropped
 * (the newline included, when there is one, which *had_nl tells). */
static enum ps_err skip_line(struct ps_reader *r, uint64_t *n_bytes, bool *had_nl)
{
    uint64_t n = 0;
    enum ps_err err;

    *had_nl = false;
    for (;;) {
        const char *nl = memchr(r->win + r->scan, '\n', r->win_len - r->scan);

        if (nl != NULL) {
            size_t stop = (size_t)(nl - r->win) + 1;

            n += stop - r->win_pos;
            r->win_pos = r->scan = stop;
            *had_nl = true;
            break;
        }
        n += r->win_len - r->win_pos;
        r->base += r->win_len;
        r->win_pos = r->win_len = r->scan = 0;
        if (r->eof)
            break;
        err = fill(r);
        if (err != PS_OK)
            return err;
    }
    *n_bytes = n;
    return PS_OK;
}

enum line_kind { LINE_OK, LINE_TOO_LONG, LINE_EOF };

/* The next line: *line and *len view it in the window (no '\n'); *n_bytes counts the newline too.
 * A line longer than max_line is dropped as a stream and reported as LINE_TOO_LONG with
 * *line NULL and *len, *n_bytes counting it. */
static enum ps_err next_line(struct ps_reader *r, enum line_kind *kind, const char **line,
                             size_t *len, uint64_t *n_bytes)
{
    enum ps_err err;
    bool had_nl;

    for (;;) {
        const char *nl = memchr(r->win + r->scan, '\n', r->win_len - r->scan);
        size_t have;

        if (nl != NULL) {
            *line = r->win + r->win_pos;
            *len = (size_t)(nl - *line);
            *n_bytes = *len + 1;
            r->win_pos = r->scan = (size_t)(nl - r->win) + 1;
            *kind = *len > r->max_line ? LINE_TOO_LONG : LINE_OK;
            return PS_OK;
        }
        r->scan = r->win_len;
        have = r->win_len - r->win_pos;
        if (have > r->max_line) {
            *kind = LINE_TOO_LONG;
            *line = NULL;
            err = skip_line(r, n_bytes, &had_nl);
            *len = (size_t)(*n_bytes - had_nl);
            return err;
        }
        if (r->eof) {
            *line = r->win + r->win_pos;
            *len = have;
            *n_bytes = have;
            r->win_pos = r->win_len;
            *kind = have > 0 ? LINE_OK : LINE_EOF;
            return PS_OK;
        }
        err = fill(r);
        if (err != PS_OK)
            return err;
    }
}

static bool is_blank(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static enum ps_err stream_error(struct ps_reader *r, enum ps_err err)
{
    r->sticky = err;
    r->stats.errors++;
    return err;
}

static enum ps_err record_error(struct ps_reader *r, enum ps_err err)
{
    r->stats.errors++;
    return err;
}

enum ps_err ps_reader_next(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    enum ps_err err;

    *has_doc = false;
    if (r->sticky != PS_OK)
        return r->sticky;
    if (r->skip_first) {
        uint64_t dropped;
        bool had_nl;

        r->skip_first = false;
        err = skip_line(r, &dropped, &had_nl);
        if (err != PS_OK)
            return stream_error(r, err);
    }
    for (;;) {
        uint64_t start = r->base + r->win_pos, n_bytes;
        struct ps_json_field *text = &r->fields[0], *id = &r->fields[1];
        struct ps_errdetail jed;
        enum line_kind kind;
        const char *line;
        size_t len;

        if (start >= r->end)
            return PS_OK;
        err = next_line(r, &kind, &line, &len, &n_bytes);
        if (err != PS_OK)
            return stream_error(r, err);
        if (kind == LINE_EOF)
            return PS_OK;
        r->stats.bytes += n_bytes;
        if (kind == LINE_TOO_LONG) {
            ps_errdetail_set(&r->err, r->path, start,
                             "line of %zu bytes is longer than max_line (%zu)", len, r->max_line);
            return record_error(r, PS_ERR_LIMIT);
        }
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (is_blank(line, len)) {
            r->stats.lines_blank++;
            continue;
        }
        err = ps_json_parse_line(r->json, line, len, r->fields, 2, &jed);
        if (err != PS_OK) {
            ps_errdetail_set(&r->err, r->path, start + jed.offset, "%s", jed.msg);
            return record_error(r, PS_ERR_PARSE);
        }
        if (!text->found) {
            ps_errdetail_set(&r->err, r->path, start, "missing text field \"%s\"", r->text_field);
            return record_error(r, PS_ERR_PARSE);
        }
        if (!text->is_string) {
            ps_errdetail_set(&r->err, r->path, start, "text field \"%s\" is not a string",
                             r->text_field);
            return record_error(r, PS_ERR_PARSE);
        }
        doc->text = text->val;
        doc->text_len = text->val_len;
        if (id->found && id->val != NULL &&
            (id->is_string || id->val_len != 4 || memcmp(id->val, "null", 4) != 0)) {
            doc->id = id->val;
            doc->id_len = id->val_len;
        } else {
            ps_buf_reset(&r->idbuf);
            if (ps_buf_appendf(&r->idbuf, "%s:%" PRIu64, r->path, start) != PS_OK)
                ps_bug("id buffer limit");
            doc->id = r->idbuf.data;
            doc->id_len = r->idbuf.len;
        }
        doc->offset = start;
        doc->line_len = len;
        r->stats.docs++;
        r->stats.text_bytes += text->val_len;
        *has_doc = true;
        return PS_OK;
    }
}
