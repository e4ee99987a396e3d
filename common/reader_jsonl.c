/* reader_jsonl.c - the JSON Lines layout: lines are found with memchr in the window and parsed
 * in place. A line longer than max_line is skipped as a stream, never held whole. */
#include "common/reader_internal.h"

#include <string.h>

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
        err = ps_reader_fill(r);
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
        err = ps_reader_fill(r);
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

enum ps_err ps_reader_next_jsonl(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    enum ps_err err;

    if (r->skip_first) {
        uint64_t dropped;
        bool had_nl;

        r->skip_first = false;
        err = skip_line(r, &dropped, &had_nl);
        if (err != PS_OK)
            return err;
    }
    for (;;) {
        uint64_t start = ps_reader_pos(r), n_bytes;
        enum line_kind kind;
        const char *line;
        size_t len;

        if (start >= r->end)
            return PS_OK;
        err = next_line(r, &kind, &line, &len, &n_bytes);
        if (err != PS_OK)
            return err;
        if (kind == LINE_EOF)
            return PS_OK;
        r->stats.bytes += n_bytes;
        if (kind == LINE_TOO_LONG)
            return ps_reader_record_error(r, PS_ERR_LIMIT, start,
                                          "line of %zu bytes is longer than max_line (%zu)", len,
                                          r->max_line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (is_blank(line, len)) {
            r->stats.lines_blank++;
            continue;
        }
        return ps_reader_record(r, line, len, start, doc, has_doc);
    }
}
