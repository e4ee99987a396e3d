/* fuzz_reader_layout.h - the body of the fuzz targets for the reader's layouts: arbitrary bytes
 * as a file named with SUFFIX, read with limits from the first three bytes (max_line 1..256,
 * I/O size 1..256, record shape, max_parts 1..8, max_header 1..256). No crash, no hang, and what
 * comes out keeps every promise of reader.h: documents are valid UTF-8 whose parts lie inside
 * the text in order, offsets only grow, counters agree, record errors name the file, and the
 * integrity contract holds (frames never decrease, each event comes after its frames' items with
 * their exact counts, and at the end every item is covered). Included by fuzz_reader_*.c, which
 * define SUFFIX. */
#ifndef SUFFIX
#    error "define SUFFIX before including fuzz_reader_layout.h"
#endif

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/reader.h"
#include "common/reader_internal.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The contract's books: frames [0, covered) had their event; items come in frame order. */
struct books {
    uint64_t covered, last_frame;
    bool any, failed;
};

static void item(struct books *b, uint64_t frame)
{
    if (b->failed || frame < b->covered || (b->any && frame < b->last_frame))
        abort();
    b->any = true;
    b->last_frame = frame;
}

/* An event covers the items not yet covered whose frames are up to ev.last: count them from
 * the list of item frames and compare. */
static void events(struct ps_reader *r, struct books *b, const uint64_t *frames, size_t n_items,
                   size_t *first_open)
{
    struct ps_reader_event ev;

    while (ps_reader_next_event(r, &ev)) {
        uint64_t docs = 0, errors = 0;

        if (b->failed || ev.first != b->covered || ev.last < ev.first)
            abort();
        while (*first_open < n_items && (frames[*first_open] >> 1) <= ev.last) {
            *((frames[*first_open] & 1) ? &docs : &errors) += 1;
            (*first_open)++;
        }
        if (docs != ev.docs || errors != ev.errors)
            abort();
        if (ev.kind == PS_READER_FRAME_FAILED && ev.first != ev.last)
            abort();
        b->failed = ev.kind == PS_READER_FRAME_FAILED;
        b->covered = ev.last + 1;
    }
}

/* Append item `n`'s frame word, after checking that items stay within two per decompressed
 * byte read so far (plus the end's). */
static uint64_t *push_item(uint64_t *frames, size_t *cap, size_t n, uint64_t word,
                           struct ps_reader *r)
{
    if (n > 2 * (ps_reader_pos(r) + 1))
        abort();
    if (n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        frames = realloc(frames, *cap * sizeof(*frames));
        if (frames == NULL)
            abort();
    }
    frames[n] = word;
    return frames;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/ps_fuzz_layout_XXXXXX", path[64];
    struct ps_reader_opts o = ps_reader_opts_default();
    struct ps_reader *r;
    struct ps_errdetail ed;
    const struct ps_reader_stats *st;
    struct books b;
    uint64_t docs = 0, errors = 0, text_bytes = 0, last_offset = 0, *frames;
    size_t io_size, n_items = 0, cap = 0, first_open = 0;
    int fd, calls;

    if (size < 3)
        return 0;
    memset(&b, 0, sizeof(b));
    o.max_line = 1 + (size_t)data[0];
    o.zstd_window_log_max = 10;
    o.max_depth = 8;
    io_size = 1 + (size_t)data[1];
    o.format.record = (enum ps_format_record)(data[2] % 6);
    o.max_parts = 1 + (size_t)(data[2] >> 3 & 7);
    o.max_header = 1 + (size_t)data[0] * 2;
    o.split_templates = (data[2] & 0x80) != 0;
    if (mkdtemp(dir) == NULL)
        return 0;
    snprintf(path, sizeof(path), "%s/shard" SUFFIX, dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data + 3, size - 3) != (ssize_t)(size - 3))
        abort();
    close(fd);
    if (ps_reader_open_io(&r, path, 0, UINT64_MAX, &o, io_size, &ed) != PS_OK)
        abort();
    /* each item's frame << 1 | is_doc; every item but a missing comma's error consumes a byte
     * of the decompressed stream (which may be far longer than the input), and that error is
     * followed by an element that does */
    frames = NULL;
    for (calls = 0; calls < 1000000; calls++) {
        struct ps_doc doc;
        bool has = false;
        enum ps_err err = ps_reader_next(r, &doc, &has);

        if (err == PS_ERR_PARSE || err == PS_ERR_LIMIT) {
            if (has || ps_reader_last_error(r)->file != path)
                abort();
            item(&b, ps_reader_item_frame(r));
            frames = push_item(frames, &cap, n_items++, ps_reader_item_frame(r) << 1, r);
            errors++;
            events(r, &b, frames, n_items, &first_open);
            continue;
        }
        if (err != PS_OK) {
            bool again = true;

            if (err != PS_ERR_ZSTD && err != PS_ERR_GZIP && err != PS_ERR_IO)
                abort();
            if (ps_reader_next(r, &doc, &again) != err || again)
                abort();
            errors++;
            events(r, &b, frames, n_items, &first_open);
            break;
        }
        if (!has) {
            events(r, &b, frames, n_items, &first_open);
            break;
        }
        if (!ps_utf8_is_valid(doc.text, doc.text_len) || doc.line_len > o.max_line ||
            (docs > 0 && doc.offset <= last_offset) || doc.id == NULL || doc.n_parts == 0 ||
            doc.n_parts > o.max_parts)
            abort();
        for (size_t i = 0; i < doc.n_parts; i++) {
            const struct ps_chat_part *p = &doc.parts[i];

            if (p->off + p->len > doc.text_len ||
                (i > 0 && p->off < doc.parts[i - 1].off + doc.parts[i - 1].len))
                abort();
        }
        item(&b, doc.frame);
        frames = push_item(frames, &cap, n_items++, doc.frame << 1 | 1, r);
        last_offset = doc.offset;
        docs++;
        text_bytes += doc.text_len;
        events(r, &b, frames, n_items, &first_open);
    }
    if (first_open != n_items) /* every item covered by an event */
        abort();
    st = ps_reader_stats(r);
    if (st->docs != docs || st->errors != errors || st->text_bytes != text_bytes)
        abort();
    free(frames);
    ps_reader_free(r);
    unlink(path);
    rmdir(dir);
    return 0;
}
