/* reader.c - the reader's stream layer: open a shard, detect its format, feed read(2) or a
 * streaming zstd/zlib decoder into one window buffer that the layouts parse in place (so a
 * document costs no copy and no allocation), and keep the books on frames: which frame each
 * returned item came from, and which frames verified. The window stops growing at max_line + 1
 * bytes, which bounds memory by max_line whatever the input. */
#include "common/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd_errors.h>

#include "common/reader_internal.h"
#include "common/utf8.h"

#define DEFAULT_MAX_LINE ((size_t)64 << 20)
/* The smallest window a WET reader gets, whatever max_line says: "WARC/" must fit. */
#define WET_MIN_WINDOW 16
/* Compressed bytes read to find a decompressed head: one zstd block is at most 128 KiB. */
#define DETECT_RAW_MAX ((size_t)256 << 10)

struct ps_reader_opts ps_reader_opts_default(void)
{
    struct ps_reader_opts o;

    o.text_field = "text";
    o.id_field = "id";
    o.max_line = DEFAULT_MAX_LINE;
    o.zstd_window_log_max = 27;
    o.max_depth = PS_JSON_DEFAULT_MAX_DEPTH;
    o.format = ps_format_auto();
    o.max_parts = 1024;
    o.split_templates = true;
    o.max_header = (size_t)64 << 10;
    return o;
}

enum ps_reader_format ps_reader_format_from_path(const char *path)
{
    return (enum ps_reader_format)ps_format_container_of(path, NULL, 0);
}

/* ---- detection ---- */

static enum ps_err pread_full(int fd, char *dst, size_t dst_cap, size_t *got, const char *name,
                              struct ps_errdetail *ed)
{
    size_t n = 0;

    while (n < dst_cap) {
        ssize_t k = pread(fd, dst + n, dst_cap - n, (off_t)n);

        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            ps_errdetail_set(ed, name, n, "cannot read: %s", strerror(errno));
            return PS_ERR_IO;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    *got = n;
    return PS_OK;
}

/* The first decompressed bytes of raw[0, raw_len), best effort: a decoding error just ends them
 * (the reader reports it with its offset when the shard is read). */
static size_t inflate_head(enum ps_format_container c, const char *raw, size_t raw_len, char *dst,
                           size_t dst_cap)
{
    size_t n = 0;

    if (c == PS_FORMAT_ZST) {
        ZSTD_DCtx *zd = ZSTD_createDCtx();
        ZSTD_inBuffer ib = {raw, raw_len, 0};
        ZSTD_outBuffer ob = {dst, dst_cap, 0};

        if (zd == NULL)
            return 0;
        ZSTD_DCtx_setParameter(zd, ZSTD_d_windowLogMax, 27);
        while (ob.pos < ob.size && ib.pos < ib.size) {
            size_t before = ib.pos + ob.pos;

            if (ZSTD_isError(ZSTD_decompressStream(zd, &ob, &ib)) || ib.pos + ob.pos == before)
                break;
        }
        n = ob.pos;
        ZSTD_freeDCtx(zd);
    } else if (c == PS_FORMAT_GZ) {
        z_stream zs;

        memset(&zs, 0, sizeof(zs));
        if (inflateInit2(&zs, 15 + 32) != Z_OK)
            return 0;
        zs.next_in = (Bytef *)(uintptr_t)raw;
        zs.avail_in = (uInt)raw_len;
        zs.next_out = (Bytef *)dst;
        zs.avail_out = (uInt)dst_cap;
        inflate(&zs, Z_SYNC_FLUSH);
        n = dst_cap - zs.avail_out;
        inflateEnd(&zs);
    }
    return n;
}

enum ps_err ps_reader_detect(int fd, const char *name, struct ps_format want, struct ps_format *out,
                             struct ps_errdetail *ed)
{
    char head[PS_FORMAT_HEAD_MAX], *raw = NULL;
    size_t got = 0, raw_len = 0;
    struct ps_format f = want;
    enum ps_format_layout by_name = ps_format_layout_of_name(name);
    enum ps_err err = pread_full(fd, head, sizeof(head), &got, name, ed);

    if (err != PS_OK)
        return err;
    f.container = ps_format_container_of(name, head, got);
    if (f.layout == PS_FORMAT_LAYOUT_AUTO && by_name != PS_FORMAT_LAYOUT_AUTO) {
        f.layout = by_name;
    } else if (f.layout == PS_FORMAT_LAYOUT_AUTO && f.container == PS_FORMAT_PLAIN) {
        f.layout = ps_format_layout_of_content(head, got);
    } else if (f.layout == PS_FORMAT_LAYOUT_AUTO) {
        char plain[PS_FORMAT_HEAD_MAX];

        raw = ps_xmalloc(DETECT_RAW_MAX);
        err = pread_full(fd, raw, DETECT_RAW_MAX, &raw_len, name, ed);
        if (err == PS_OK)
            f.layout = ps_format_layout_of_content(
                plain, inflate_head(f.container, raw, raw_len, plain, sizeof(plain)));
        free(raw);
        if (err != PS_OK)
            return err;
    }
    if (f.layout == PS_FORMAT_WET || f.layout == PS_FORMAT_TXT)
        f.record = PS_FORMAT_RECORD_AUTO;
    *out = f;
    return PS_OK;
}

/* ---- open, free ---- */

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
    ps_json_free(r->nested);
    ps_buf_release(&r->text);
    ps_buf_release(&r->idbuf);
    free(r->parts);
    free(r);
}

enum ps_err ps_reader_open(struct ps_reader **out, const char *path, uint64_t begin, uint64_t end,
                           const struct ps_reader_opts *opts, struct ps_errdetail *ed)
{
    return ps_reader_open_io(out, path, begin, end, opts, PS_READER_DEFAULT_IO_SIZE, ed);
}

/* Open the file: only a regular file is a shard (a FIFO would block, a directory fails late). */
static enum ps_err open_file(struct ps_reader *r, struct ps_errdetail *ed)
{
    struct stat st;

    r->fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (r->fd < 0) {
        ps_errdetail_set(ed, r->path, 0, "cannot open: %s", strerror(errno));
        return PS_ERR_IO;
    }
    if (fstat(r->fd, &st) != 0) {
        ps_errdetail_set(ed, r->path, 0, "cannot stat: %s", strerror(errno));
        return PS_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        ps_errdetail_set(ed, r->path, 0, "not a regular file (%s)",
                         S_ISDIR(st.st_mode)    ? "a directory"
                         : S_ISFIFO(st.st_mode) ? "a FIFO"
                                                : "a device or socket");
        return PS_ERR_IO;
    }
    if (fcntl(r->fd, F_SETFL, 0) != 0) {
        ps_errdetail_set(ed, r->path, 0, "cannot clear O_NONBLOCK: %s", strerror(errno));
        return PS_ERR_IO;
    }
    return PS_OK;
}

static enum ps_err open_decoder(struct ps_reader *r, unsigned window_log_max,
                                struct ps_errdetail *ed)
{
    if (r->fmt.container == PS_FORMAT_ZST) {
        size_t zr;

        r->zd = ZSTD_createDCtx();
        if (r->zd == NULL) {
            ps_errdetail_set(ed, r->path, 0, "cannot create a zstd context");
            return PS_ERR_ZSTD;
        }
        zr = ZSTD_DCtx_setParameter(r->zd, ZSTD_d_windowLogMax, (int)window_log_max);
        if (ZSTD_isError(zr)) {
            ps_errdetail_set(ed, r->path, 0, "zstd window log %u: %s", window_log_max,
                             ZSTD_getErrorName(zr));
            return PS_ERR_USAGE;
        }
    } else if (r->fmt.container == PS_FORMAT_GZ) {
        /* 15 + 32: largest window, and accept gzip or zlib headers */
        if (inflateInit2(&r->zs, 15 + 32) != Z_OK) {
            ps_errdetail_set(ed, r->path, 0, "cannot init zlib: %s",
                             r->zs.msg != NULL ? r->zs.msg : "no memory");
            return PS_ERR_GZIP;
        }
        r->zs_ready = true;
    }
    if (r->fmt.container != PS_FORMAT_PLAIN)
        r->in = ps_xmalloc(r->io_size);
    else
        r->in_frame = true; /* a plain file is one frame from its first byte */
    return PS_OK;
}

static ps_reader_next_fn layout_next(enum ps_format_layout layout)
{
    switch (layout) {
    case PS_FORMAT_JSON:
        return ps_reader_next_array;
    case PS_FORMAT_WET:
        return ps_reader_next_wet;
    case PS_FORMAT_TXT:
        return ps_reader_next_txt;
    default:
        return ps_reader_next_jsonl;
    }
}

static bool field_ok(const char *f)
{
    size_t n = f != NULL ? strlen(f) : 0;

    return n >= 1 && n <= PS_READER_FIELD_MAX;
}

enum ps_err ps_reader_opts_check(const struct ps_reader_opts *o, struct ps_errdetail *ed)
{
    if (!field_ok(o->text_field) || !field_ok(o->id_field)) {
        bool text = !field_ok(o->text_field);
        const char *f = text ? o->text_field : o->id_field;
        ps_errdetail_set(ed, NULL, 0, "--%s: 1 to %u bytes, not %zu",
                         text ? "text-field" : "id-field", PS_READER_FIELD_MAX,
                         f != NULL ? strlen(f) : 0);
        return PS_ERR_USAGE;
    }
    if (o->max_line < 1 || o->max_line > PS_READER_MAX_LINE_MAX) {
        ps_errdetail_set(ed, NULL, 0, "--max-line %zu: from 1 to %" PRIu64, o->max_line,
                         PS_READER_MAX_LINE_MAX);
        return PS_ERR_USAGE;
    }
    if (o->max_parts == 0 || o->max_header == 0) {
        ps_errdetail_set(ed, NULL, 0, "reader: no room for a document's parts or a header");
        return PS_ERR_USAGE;
    }
    return PS_OK;
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
    if (io_size == 0) {
        ps_errdetail_set(ed, path, 0, "reader: no room for input");
        return PS_ERR_USAGE;
    }
    if (ps_reader_opts_check(&o, ed) != PS_OK)
        return PS_ERR_USAGE;
    if (begin > end) {
        ps_errdetail_set(ed, path, begin, "range begins after its end (%" PRIu64 ")", end);
        return PS_ERR_USAGE;
    }
    r = ps_xcalloc(1, sizeof(*r));
    r->fd = -1;
    r->path = path;
    r->max_line = o.max_line;
    r->io_size = io_size;
    r->text_field = ps_xstrdup(o.text_field);
    r->id_field = ps_xstrdup(o.id_field);
    ps_buf_init(&r->text, o.max_line);
    ps_buf_init(&r->idbuf, PS_BUF_NO_LIMIT);
    r->max_parts = o.max_parts;
    r->parts = ps_xmalloc(o.max_parts * sizeof(*r->parts));
    r->split_templates = o.split_templates;
    r->max_header = o.max_header;
    r->err.file = path;

    err = open_file(r, ed);
    if (err == PS_OK)
        err = ps_reader_detect(r->fd, path, o.format, &r->fmt, ed);
    if (err != PS_OK)
        goto fail;
    if (!ps_format_splittable(r->fmt) && begin != 0) {
        ps_errdetail_set(ed, path, begin, "a %s shard cannot start at byte %" PRIu64,
                         r->fmt.container != PS_FORMAT_PLAIN ? "compressed" : "whole-file", begin);
        err = PS_ERR_USAGE;
        goto fail;
    }
    r->end = ps_format_splittable(r->fmt) ? end : UINT64_MAX;
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
    err = open_decoder(r, o.zstd_window_log_max, ed);
    if (err != PS_OK)
        goto fail;
    /* a record and its '\n' fit, nothing longer is ever held; WET also needs room for a
     * header block and for the "WARC/" it looks for at a line start */
    r->win_max = o.max_line;
    if (r->fmt.layout == PS_FORMAT_WET && r->win_max < o.max_header)
        r->win_max = o.max_header;
    if (r->fmt.layout == PS_FORMAT_WET && r->win_max < WET_MIN_WINDOW)
        r->win_max = WET_MIN_WINDOW;
    r->win_max = r->win_max < SIZE_MAX - 1 ? r->win_max + 1 : SIZE_MAX;
    r->win_cap = io_size < r->win_max ? io_size : r->win_max;
    r->win = ps_xmalloc(r->win_cap);
    if (o.max_depth > 0)
        jo.max_depth = o.max_depth;
    r->json = ps_json_new(&jo);
    r->nested = ps_json_new(&jo);
    ps_reader_record_init(r);
    r->next = layout_next(r->fmt.layout);
    *out = r;
    return PS_OK;

fail:
    ps_reader_free(r);
    return err;
}

struct ps_format ps_reader_format(const struct ps_reader *r)
{
    return r->fmt;
}

const struct ps_errdetail *ps_reader_last_error(const struct ps_reader *r)
{
    return &r->err;
}

const struct ps_reader_stats *ps_reader_stats(const struct ps_reader *r)
{
    return &r->stats;
}

size_t ps_reader_window_high(const struct ps_reader *r)
{
    return r->win_high;
}

uint64_t ps_reader_item_frame(const struct ps_reader *r)
{
    return r->item_frame;
}

uint64_t ps_reader_pos(const struct ps_reader *r)
{
    return r->base + r->win_pos;
}

/* ---- frames ---- */

/* A zstd frame's checksum flag, from its first bytes; a skippable frame carries no data, so
 * there is nothing to check. */
static bool zstd_checked(const unsigned char *h, size_t n)
{
    if (n >= 4 && (h[0] & 0xF0) == 0x50 && h[1] == 0x2A && h[2] == 0x4D && h[3] == 0x18)
        return true;
    return n >= 5 && (h[4] & 0x04) != 0;
}

/* The frame in progress ended at stream offset `end`. */
static void frame_ended(struct ps_reader *r, uint64_t end, bool checked)
{
    struct ps_reader_run *run;

    if (r->n_runs == PS_READER_RUNS) {
        run = &r->runs[r->n_runs - 1];
    } else {
        run = &r->runs[r->n_runs++];
        memset(run, 0, sizeof(*run));
        run->first = r->frame_cur;
    }
    run->last = r->frame_cur;
    run->end = end;
    run->docs += r->open_docs;
    run->errors += r->open_errors;
    run->unchecked += !checked;
    r->open_docs = r->open_errors = 0;
    r->frame_cur++;
    r->in_frame = false;
}

/* Count an item (document or record error) that ends just before stream offset `end` in the
 * frame holding its last byte; returns that frame (the last of a merged run). */
static uint64_t count_item(struct ps_reader *r, uint64_t end, bool is_doc)
{
    uint64_t x = end > 0 ? end - 1 : 0, decoded = r->base + r->win_len;
    size_t i;

    /* an error about the end of the data ("unterminated ...") belongs to the frame that ended it */
    if (x >= decoded && decoded > 0)
        x = decoded - 1;

    for (i = 0; i < r->n_runs; i++) {
        if (x < r->runs[i].end) {
            *(is_doc ? &r->runs[i].docs : &r->runs[i].errors) += 1;
            return r->runs[i].last;
        }
    }
    *(is_doc ? &r->open_docs : &r->open_errors) += 1;
    return r->frame_cur;
}

static void queue_event(struct ps_reader *r, enum ps_reader_event_kind kind,
                        const struct ps_reader_run *run)
{
    struct ps_reader_event *ev;

    if (r->ev_pos == r->n_events)
        r->ev_pos = r->n_events = 0;
    ev = r->n_events > r->ev_pos ? &r->events[r->n_events - 1] : NULL;
    if (kind == PS_READER_FRAMES_OK && ev != NULL && ev->kind == PS_READER_FRAMES_OK) {
        ev->last = run->last; /* runs are consecutive: one event for all of them */
    } else {
        if (r->n_events == sizeof(r->events) / sizeof(r->events[0]))
            ps_bug("reader event queue full");
        ev = &r->events[r->n_events++];
        memset(ev, 0, sizeof(*ev));
        ev->kind = kind;
        ev->first = run->first;
        ev->last = run->last;
    }
    ev->docs += run->docs;
    ev->errors += run->errors;
    ev->unchecked += run->unchecked;
}

/* Runs that end at or before `pos` can hold no later item: report them. A run that ends where
 * the decoded data ends waits for more data (or the end): an error about the end of the data
 * ("unterminated ...") would still be counted in it. */
static void report_runs(struct ps_reader *r, uint64_t pos)
{
    uint64_t decoded = r->finished ? UINT64_MAX : r->base + r->win_len;
    size_t k = 0;

    while (k < r->n_runs && r->runs[k].end <= pos && r->runs[k].end < decoded)
        queue_event(r, PS_READER_FRAMES_OK, &r->runs[k++]);
    memmove(r->runs, r->runs + k, (r->n_runs - k) * sizeof(r->runs[0]));
    r->n_runs -= k;
}

/* The shard ended (`failed`: with a stream error): every frame gets its event. A plain file is
 * one frame that nothing can fail; a compressed frame in progress failed. */
static void finish(struct ps_reader *r, bool failed)
{
    struct ps_reader_run open;

    if (r->finished)
        return;
    r->finished = true;
    report_runs(r, UINT64_MAX);
    if (!r->in_frame)
        return;
    memset(&open, 0, sizeof(open));
    open.first = open.last = r->frame_cur;
    open.docs = r->open_docs;
    open.errors = r->open_errors;
    open.unchecked = 1;
    if (failed && r->fmt.container != PS_FORMAT_PLAIN)
        queue_event(r, PS_READER_FRAME_FAILED, &open);
    else
        queue_event(r, PS_READER_FRAMES_OK, &open);
}

bool ps_reader_next_event(struct ps_reader *r, struct ps_reader_event *ev)
{
    if (r->ev_pos == r->n_events)
        return false;
    *ev = r->events[r->ev_pos++];
    return true;
}

/* ---- the stream ---- */

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
    enum ps_err err;

    r->in_base += r->in_len;
    err = read_some(r, r->in, r->io_size, &r->in_len);

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

/* Keep the first bytes of the current zstd frame that in[from, to) adds. */
static void zstd_head(struct ps_reader *r, size_t from, size_t to)
{
    while (r->zhead_len < sizeof(r->zhead) && from < to)
        r->zhead[r->zhead_len++] = (unsigned char)r->in[from++];
}

/* Decode until some output, the end of a frame, or an error. */
static enum ps_err fill_zstd(struct ps_reader *r, size_t room)
{
    ZSTD_outBuffer ob = {r->win + r->win_len, room, 0};
    enum ps_err err = PS_OK;

    for (;;) {
        ZSTD_inBuffer ib;
        size_t ret, from = r->in_pos;
        bool drained;

        if (r->in_pos == r->in_len && !r->in_eof) {
            err = read_input(r);
            if (err != PS_OK)
                break;
            from = r->in_pos;
        }
        drained = r->in_pos == r->in_len && r->in_eof;
        if (drained && r->zret == 0) {
            r->eof = true; /* between frames: a clean end */
            break;
        }
        if (!r->in_frame) {
            /* the decoder stops at a frame's end, so the next input byte starts this one */
            r->in_frame = true;
            r->frame_at = r->in_base + r->in_pos;
            r->zhead_len = 0;
        }
        /* with no input left this only flushes what the decoder still holds */
        ib.src = r->in;
        ib.size = r->in_len;
        ib.pos = r->in_pos;
        ret = ZSTD_decompressStream(r->zd, &ob, &ib);
        r->in_pos = ib.pos;
        zstd_head(r, from, r->in_pos);
        if (ZSTD_isError(ret)) {
            ps_errdetail_set(&r->err, r->path, stream_pos(r) + ob.pos,
                             "corrupt zstd frame %" PRIu64 " (file offset %" PRIu64
                             "): %s; its %" PRIu64 " documents are dropped",
                             r->frame_cur, r->frame_at, ZSTD_getErrorName(ret), r->open_docs);
            err = PS_ERR_ZSTD;
            break;
        }
        r->zret = ret;
        if (ret == 0) {
            frame_ended(r, stream_pos(r) + ob.pos, zstd_checked(r->zhead, r->zhead_len));
            break;
        }
        if (drained && ob.pos == 0) {
            ps_errdetail_set(&r->err, r->path, stream_pos(r),
                             "truncated zstd frame %" PRIu64 " (file offset %" PRIu64
                             "): %s (%zu more input bytes "
                             "expected); its %" PRIu64 " documents are dropped",
                             r->frame_cur, r->frame_at,
                             ZSTD_getErrorString(ZSTD_error_srcSize_wrong), ret, r->open_docs);
            err = PS_ERR_ZSTD;
            break;
        }
        if (ob.pos > 0)
            break;
    }
    r->win_len += ob.pos;
    return err;
}

/* Inflate until some output, the end of a member, or an error. */
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
        if (drained && !r->in_frame) {
            r->eof = true;
            break;
        }
        zs->next_in = (Bytef *)(r->in + r->in_pos);
        zs->avail_in = (uInt)(r->in_len - r->in_pos);
        if (!drained && !r->in_frame) {
            /* inflate stops at a member's end, so the next input byte starts this one */
            r->in_frame = true;
            r->frame_at = r->in_base + r->in_pos;
        }
        ret = inflate(zs, Z_NO_FLUSH);
        r->in_pos = r->in_len - zs->avail_in;
        if (ret == Z_STREAM_END) {
            /* a multi-member file (pigz, cat a.gz b.gz) goes on with a fresh member */
            inflateReset(zs);
            frame_ended(r, stream_pos(r) + (room - zs->avail_out), true);
            break;
        } else if (ret == Z_BUF_ERROR && drained && zs->avail_out == room) {
            ps_errdetail_set(&r->err, r->path, stream_pos(r),
                             "truncated gzip stream in member %" PRIu64 " (file offset %" PRIu64
                             "); its %" PRIu64 " documents are dropped",
                             r->frame_cur, r->frame_at, r->open_docs);
            err = PS_ERR_GZIP;
            break;
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            ps_errdetail_set(&r->err, r->path, stream_pos(r) + (room - zs->avail_out),
                             "corrupt gzip stream in member %" PRIu64 " (file offset %" PRIu64
                             "): %s; its %" PRIu64 " documents are dropped",
                             r->frame_cur, r->frame_at, zs->msg != NULL ? zs->msg : zError(ret),
                             r->open_docs);
            err = PS_ERR_GZIP;
            break;
        }
    }
    r->win_len += room - zs->avail_out;
    return err;
}

enum ps_err ps_reader_skip_while(struct ps_reader *r, bool (*skip)(char c), bool *got)
{
    for (;;) {
        enum ps_err err;

        while (r->win_pos < r->win_len && skip(r->win[r->win_pos]))
            r->win_pos++;
        *got = r->win_pos < r->win_len;
        if (*got || r->eof)
            return PS_OK;
        err = ps_reader_fill(r);
        if (err != PS_OK)
            return err;
    }
}

enum ps_err ps_reader_fill(struct ps_reader *r)
{
    size_t room;

    if (r->win_pos > 0) {
        /* only the partial record moves, once per read */
        memmove(r->win, r->win + r->win_pos, r->win_len - r->win_pos);
        r->base += r->win_pos;
        r->win_len -= r->win_pos;
        r->scan = r->scan > r->win_pos ? r->scan - r->win_pos : 0;
        r->win_pos = 0;
    }
    if (r->win_len == r->win_cap) {
        size_t cap = r->win_cap * 2;

        if (cap > r->win_max || cap < r->win_cap)
            cap = r->win_max;
        if (cap <= r->win_cap)
            ps_bug("reader window full at its limit");
        r->win = ps_xrealloc(r->win, cap);
        r->win_cap = cap;
    }
    if (r->win_cap > r->win_high)
        r->win_high = r->win_cap;
    room = r->win_cap - r->win_len;
    if (room > r->io_size)
        room = r->io_size;
    switch (r->fmt.container) {
    case PS_FORMAT_ZST:
        return fill_zstd(r, room);
    case PS_FORMAT_GZ:
        return fill_gz(r, room);
    default:
        return fill_plain(r, room);
    }
}

enum ps_err ps_reader_need(struct ps_reader *r, size_t n, bool *got)
{
    enum ps_err err = PS_OK;

    if (n > r->win_max)
        ps_bug("reader asked for %zu bytes, window limit %zu", n, r->win_max);
    while (r->win_len - r->win_pos < n && !r->eof && err == PS_OK)
        err = ps_reader_fill(r);
    *got = r->win_len - r->win_pos >= n;
    return err;
}

enum ps_err ps_reader_drop(struct ps_reader *r, uint64_t n, uint64_t *dropped)
{
    uint64_t left = n;
    enum ps_err err = PS_OK;

    while (left > 0) {
        size_t have = r->win_len - r->win_pos;

        if (have > 0) {
            size_t k = have < left ? have : (size_t)left;

            r->win_pos += k;
            left -= k;
            continue;
        }
        if (r->eof)
            break;
        /* nothing held: start the window over instead of growing it */
        r->base += r->win_len;
        r->win_pos = r->win_len = 0;
        err = ps_reader_fill(r);
        if (err != PS_OK)
            break;
    }
    if (r->scan < r->win_pos)
        r->scan = r->win_pos;
    *dropped = n - left;
    return err;
}

/* Decode the rest of a compressed stream after the layout stopped early, so that every frame is
 * verified before the shard ends. */
static enum ps_err drain(struct ps_reader *r)
{
    enum ps_err err = PS_OK;

    while (!r->eof && err == PS_OK) {
        r->base += r->win_len;
        r->win_pos = r->win_len = r->scan = 0;
        err = ps_reader_fill(r);
    }
    return err;
}

/* ---- items ---- */

enum ps_err ps_reader_record_error(struct ps_reader *r, enum ps_err err, uint64_t at,
                                   const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->err.msg, sizeof(r->err.msg), fmt, ap);
    va_end(ap);
    r->err.file = r->path;
    r->err.offset = at;
    if (r->item_end < at + 1)
        r->item_end = at + 1;
    r->stats.errors++;
    return err;
}

enum ps_err ps_reader_check_text(struct ps_reader *r, const char *text, size_t len, uint64_t start)
{
    size_t ok = ps_utf8_valid_prefix(text, len);
    const char *nul = memchr(text, '\0', ok);

    if (nul != NULL)
        return ps_reader_record_error(r, PS_ERR_PARSE, start + (uint64_t)(nul - text),
                                      "NUL byte in text (a binary file?)");
    if (ok < len)
        return ps_reader_record_error(r, PS_ERR_PARSE, start + ok, "invalid utf-8");
    return PS_OK;
}

void ps_reader_default_id(struct ps_reader *r, struct ps_doc *doc, uint64_t offset)
{
    ps_buf_reset(&r->idbuf);
    ps_buf_addf(&r->idbuf, "%s:%" PRIu64, r->path, offset);
    doc->id = r->idbuf.data;
    doc->id_len = r->idbuf.len;
    doc->id_literal = false;
}

void ps_reader_text_parts(struct ps_reader *r, struct ps_doc *doc)
{
    doc->parts = r->parts;
    if (r->split_templates) {
        doc->n_parts = ps_chat_split(doc->text, doc->text_len, r->parts, r->max_parts);
        return;
    }
    r->parts[0].off = 0;
    r->parts[0].len = doc->text_len;
    r->parts[0].role = PS_CHAT_TEXT;
    doc->n_parts = 1;
}

void ps_reader_count_doc(struct ps_reader *r, const struct ps_doc *doc)
{
    r->stats.docs++;
    r->stats.text_bytes += doc->text_len;
}

enum ps_err ps_reader_next(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    enum ps_err err;
    uint64_t pos;

    *has_doc = false;
    if (r->sticky != PS_OK)
        return r->sticky;
    if (r->finished)
        return PS_OK;
    r->item_end = 0;
    err = r->stop ? PS_OK : r->next(r, doc, has_doc);
    pos = ps_reader_pos(r);
    if (*has_doc || err == PS_ERR_PARSE || err == PS_ERR_LIMIT) {
        r->item_frame = count_item(r, r->item_end > pos ? r->item_end : pos, *has_doc);
        if (*has_doc)
            doc->frame = r->item_frame;
        report_runs(r, pos);
        return err;
    }
    if (err == PS_OK && r->fmt.container != PS_FORMAT_PLAIN)
        err = drain(r);
    if (err != PS_OK) {
        r->sticky = err;
        r->stats.errors++;
    }
    finish(r, err != PS_OK);
    return err;
}
