/* reader_fixture.h - what the reader's test programs share: a temp dir, writers for plain, zstd
 * (frame by frame, with or without checksums) and gzip (member by member) files, and a reader
 * loop that logs documents, parts, record errors and integrity events as text, so a test states
 * what a file must give in one string. Included once per test program (static functions). */
#ifndef PS_TESTS_READER_FIXTURE_H
#define PS_TESTS_READER_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/reader.h"
#include "common/reader_internal.h"

/* Each test program uses some of these. */
#define FIXTURE static __attribute__((unused))

static char tmpdir[64];
/* Leave the "#<frame>" out of document and error lines (for files written in several
 * containers, whose frames differ). */
static bool hide_frames;

FIXTURE int fixture_setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/ps_test_reader_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

FIXTURE int fixture_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

FIXTURE void tmp_path(char *dst, size_t dst_cap, const char *name)
{
    snprintf(dst, dst_cap, "%s/%s", tmpdir, name);
}

FIXTURE void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

FIXTURE void write_str(const char *path, const char *s)
{
    write_file(path, s, strlen(s));
}

/* Compress src[0, n) as one zstd frame per piece, cut at cuts[0..n_cuts); `checksum` adds the
 * 4-byte content checksum to every frame. Returns the compressed size; the end of each frame in
 * dst goes to frame_ends (n_cuts + 1 entries) when not NULL. */
FIXTURE size_t zstd_frames(const char *src, size_t n, const size_t *cuts, size_t n_cuts,
                           bool checksum, char *dst, size_t dst_cap, size_t *frame_ends)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    size_t i, prev = 0, out = 0;

    assert_non_null(c);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum ? 1 : 0);
    for (i = 0; i <= n_cuts; i++) {
        size_t stop = i < n_cuts ? cuts[i] : n;
        size_t z = ZSTD_compress2(c, dst + out, dst_cap - out, src + prev, stop - prev);

        assert_false(ZSTD_isError(z));
        out += z;
        prev = stop;
        if (frame_ends != NULL)
            frame_ends[i] = out;
    }
    ZSTD_freeCCtx(c);
    return out;
}

FIXTURE void write_zstd(const char *path, const char *src, size_t n, const size_t *cuts,
                        size_t n_cuts, bool checksum)
{
    size_t cap = ZSTD_compressBound(n) + 64 * (n_cuts + 1);
    char *z = malloc(cap);

    write_file(path, z, zstd_frames(src, n, cuts, n_cuts, checksum, z, cap, NULL));
    free(z);
}

/* One gzip member per piece of src cut at cuts[]; returns the file size. The end of each member
 * in the file goes to member_ends (n_cuts + 1 entries) when not NULL. */
FIXTURE size_t write_gzip(const char *path, const char *src, size_t n, const size_t *cuts,
                          size_t n_cuts, size_t *member_ends)
{
    size_t i, prev = 0;
    long size = 0;
    FILE *f;

    for (i = 0; i <= n_cuts; i++) {
        size_t stop = i < n_cuts ? cuts[i] : n;
        gzFile g = gzopen(path, i == 0 ? "wb" : "ab"); /* appending starts a new member */

        assert_non_null(g);
        if (stop > prev)
            assert_int_equal(gzwrite(g, src + prev, (unsigned)(stop - prev)), (int)(stop - prev));
        assert_int_equal(gzclose(g), Z_OK);
        prev = stop;
        f = fopen(path, "rb");
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fclose(f);
        if (member_ends != NULL)
            member_ends[i] = (size_t)size;
    }
    return (size_t)size;
}

FIXTURE char *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long size;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)size + 1);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return data;
}

/* What a pass over a shard gave. `log` has one line per item:
 *   "<offset> <id> #<frame> <role>:<part text>|<role>:<part text>..." for a document (part
 *   texts with '\n', '\r' and NUL shown as "\\n", "\\r", "\\0"), "E<err>@<offset> #<frame>
 * <message>" for a record error, "S<err> <message>" for the stream error. `events` lists the
 * integrity events with consecutive FRAMES_OK runs merged (when they are polled depends on the I/O
 * size): "OK <first>-<last> d<docs> e<errors> u<unchecked>" and "FAILED <frame> d<docs> e<errors>".
 * Every pass also checks the integrity contract of reader.h as it goes. */
struct result {
    struct ps_buf log, events;
    struct ps_reader_stats stats;
    enum ps_err final;
    uint64_t verified_docs, dropped_docs;
};

/* The contract checker's books: items of frames no event has covered yet. */
struct pending {
    uint64_t frame, docs, errors;
};

struct checker {
    struct pending items[64];
    size_t n;
    uint64_t covered;    /* frames [0, covered) have had their event */
    uint64_t last_frame; /* frame of the last item */
    bool any, failed;
    struct ps_reader_event ok; /* OK events merged until something else comes */
    bool have_ok;
};

FIXTURE void check_item(struct checker *c, uint64_t frame, bool is_doc)
{
    assert_false(c->failed);
    assert_true(frame >= c->covered);
    assert_true(!c->any || frame >= c->last_frame);
    c->any = true;
    c->last_frame = frame;
    if (c->n == 0 || c->items[c->n - 1].frame != frame) {
        assert_true(c->n < 64);
        memset(&c->items[c->n], 0, sizeof(c->items[0]));
        c->items[c->n++].frame = frame;
    }
    *(is_doc ? &c->items[c->n - 1].docs : &c->items[c->n - 1].errors) += 1;
}

FIXTURE void flush_ok(struct checker *c, struct ps_buf *b)
{
    if (!c->have_ok)
        return;
    ps_buf_addf(b, "OK %llu-%llu d%llu e%llu u%llu\n", (unsigned long long)c->ok.first,
                (unsigned long long)c->ok.last, (unsigned long long)c->ok.docs,
                (unsigned long long)c->ok.errors, (unsigned long long)c->ok.unchecked);
    c->have_ok = false;
}

FIXTURE void check_events(struct ps_reader *r, struct checker *c, struct result *res)
{
    struct ps_reader_event ev;

    while (ps_reader_next_event(r, &ev)) {
        uint64_t docs = 0, errors = 0;
        size_t k = 0;

        assert_false(c->failed);
        assert_int_equal(ev.first, c->covered);
        assert_true(ev.last >= ev.first);
        while (k < c->n && c->items[k].frame <= ev.last) {
            docs += c->items[k].docs;
            errors += c->items[k].errors;
            k++;
        }
        memmove(c->items, c->items + k, (c->n - k) * sizeof(c->items[0]));
        c->n -= k;
        assert_int_equal(ev.docs, docs);
        assert_int_equal(ev.errors, errors);
        c->covered = ev.last + 1;
        if (ev.kind == PS_READER_FRAMES_OK) {
            res->verified_docs += ev.docs;
            if (c->have_ok) {
                c->ok.last = ev.last;
                c->ok.docs += ev.docs;
                c->ok.errors += ev.errors;
                c->ok.unchecked += ev.unchecked;
            } else {
                c->ok = ev;
                c->have_ok = true;
            }
            continue;
        }
        assert_int_equal(ev.kind, PS_READER_FRAME_FAILED);
        assert_int_equal(ev.first, ev.last);
        res->dropped_docs += ev.docs;
        flush_ok(c, &res->events);
        ps_buf_addf(&res->events, "FAILED %llu d%llu e%llu\n", (unsigned long long)ev.first,
                    (unsigned long long)ev.docs, (unsigned long long)ev.errors);
        c->failed = true;
    }
}

FIXTURE void log_text(struct ps_buf *b, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\n')
            ps_buf_adds(b, "\\n");
        else if (s[i] == '\r')
            ps_buf_adds(b, "\\r");
        else if (s[i] == '\0')
            ps_buf_adds(b, "\\0");
        else
            ps_buf_add(b, s + i, 1);
    }
}

FIXTURE struct result read_all_opts(const char *path, const struct ps_reader_opts *opts,
                                    size_t io_size)
{
    struct result res;
    struct checker c;
    struct ps_reader *r = NULL;
    struct ps_errdetail ed;
    int guard = 0;

    memset(&res, 0, sizeof(res));
    memset(&c, 0, sizeof(c));
    ps_buf_init(&res.log, SIZE_MAX / 2);
    ps_buf_init(&res.events, SIZE_MAX / 2);
    assert_int_equal(ps_reader_open_io(&r, path, 0, UINT64_MAX, opts, io_size, &ed), PS_OK);
    for (;;) {
        struct ps_doc doc;
        bool has = true;
        enum ps_err err = ps_reader_next(r, &doc, &has);

        assert_true(++guard < 1000000);
        if (err == PS_ERR_PARSE || err == PS_ERR_LIMIT) {
            const struct ps_errdetail *e = ps_reader_last_error(r);

            assert_false(has);
            assert_ptr_equal(e->file, path);
            check_item(&c, ps_reader_item_frame(r), false);
            ps_buf_addf(&res.log, "E%d@%llu ", (int)err, (unsigned long long)e->offset);
            if (!hide_frames)
                ps_buf_addf(&res.log, "#%llu ", (unsigned long long)ps_reader_item_frame(r));
            ps_buf_addf(&res.log, "%s\n", e->msg);
            check_events(r, &c, &res);
            continue;
        }
        if (err != PS_OK) {
            bool again = true;
            struct ps_doc d2;

            res.final = err;
            ps_buf_addf(&res.log, "S%d %s\n", (int)err, ps_reader_last_error(r)->msg);
            check_events(r, &c, &res);
            assert_int_equal(ps_reader_next(r, &d2, &again), err); /* sticky */
            assert_false(again);
            break;
        }
        if (!has) {
            check_events(r, &c, &res);
            assert_int_equal(ps_reader_next(r, &doc, &has), PS_OK); /* the end stays the end */
            assert_false(has);
            break;
        }
        assert_true(doc.n_parts >= 1);
        assert_int_equal(doc.frame, ps_reader_item_frame(r));
        check_item(&c, doc.frame, true);
        ps_buf_addf(&res.log, "%llu %.*s ", (unsigned long long)doc.offset, (int)doc.id_len,
                    doc.id);
        if (!hide_frames)
            ps_buf_addf(&res.log, "#%llu ", (unsigned long long)doc.frame);
        for (size_t i = 0; i < doc.n_parts; i++) {
            assert_true(doc.parts[i].off + doc.parts[i].len <= doc.text_len);
            ps_buf_addf(&res.log, "%s%s:", i > 0 ? "|" : "", ps_chat_role_name(doc.parts[i].role));
            log_text(&res.log, doc.text + doc.parts[i].off, doc.parts[i].len);
        }
        ps_buf_adds(&res.log, "\n");
        check_events(r, &c, &res);
    }
    /* once the end or a stream error is reported, every item is covered by an event */
    assert_int_equal(c.n, 0);
    flush_ok(&c, &res.events);
    res.stats = *ps_reader_stats(r);
    assert_int_equal(res.verified_docs + res.dropped_docs, res.stats.docs);
    ps_reader_free(r);
    return res;
}

FIXTURE struct result read_all(const char *path, size_t io_size)
{
    return read_all_opts(path, NULL, io_size);
}

FIXTURE void result_release(struct result *res)
{
    ps_buf_release(&res->log);
    ps_buf_release(&res->events);
}

/* `want` with every "{path}" replaced by `path`. */
FIXTURE void expand(const char *want, const char *path, char *dst, size_t dst_cap)
{
    size_t w = 0;

    while (*want != '\0' && w + 1 < dst_cap) {
        if (strncmp(want, "{path}", 6) == 0) {
            w += (size_t)snprintf(dst + w, dst_cap - w, "%s", path);
            want += 6;
        } else {
            dst[w++] = *want++;
        }
    }
    dst[w < dst_cap ? w : dst_cap - 1] = '\0';
}

/* Read `path` with every I/O size (records crossing buffer boundaries everywhere) and check
 * the item log is `want` ("{path}" stands for the path) and the merged event list is `events`;
 * either may be NULL: not checked. */
static const size_t io_sizes[] = {PS_READER_DEFAULT_IO_SIZE, 1, 2, 3, 7, 16, 64};

FIXTURE void expect_opts(const char *path, const struct ps_reader_opts *opts, const char *want,
                         const char *events)
{
    char expanded[16384];
    size_t i;

    if (want != NULL)
        expand(want, path, expanded, sizeof(expanded));
    for (i = 0; i < sizeof(io_sizes) / sizeof(io_sizes[0]); i++) {
        struct result res = read_all_opts(path, opts, io_sizes[i]);
        const char *got = res.log.data != NULL ? res.log.data : "";
        const char *got_ev = res.events.data != NULL ? res.events.data : "";
        bool log_ok = want == NULL || strcmp(got, expanded) == 0;
        bool ev_ok = events == NULL || strcmp(got_ev, events) == 0;

        if (!log_ok || !ev_ok)
            fprintf(stderr, "%s, io_size %zu, got:\n%s%s\nwant:\n%s%s\n", path, io_sizes[i], got,
                    got_ev, want != NULL ? expanded : "(any)\n", events != NULL ? events : "");
        if (want != NULL)
            assert_string_equal(got, expanded);
        if (events != NULL)
            assert_string_equal(got_ev, events);
        result_release(&res);
    }
}

FIXTURE void expect(const char *path, const char *want, const char *events)
{
    expect_opts(path, NULL, want, events);
}

#endif
