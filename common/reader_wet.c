/* reader_wet.c - Common Crawl WET files: WARC records (a "WARC/1.x" line, header fields, a blank
 * line, Content-Length bytes of content). Each "conversion" record is one document, its
 * WARC-Target-URI the id; warcinfo and every other record type are skipped without being held.
 * The header block is bounded by max_header and Content-Length decides where the content ends
 * (never a search for the next record, which the text itself may imitate); a malformed record is
 * a record error and reading resumes at the next line that starts a record. */
#include "common/reader_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { W_BETWEEN, W_RESYNC };

/* What a header block says; views into the window, valid until the next fill. */
struct warc_head {
    size_t len; /* bytes of the block, its blank line included */
    const char *type, *uri;
    size_t type_len, uri_len;
    uint64_t content_length;
    bool has_length;
};

static bool name_is(const char *s, size_t n, const char *name)
{
    size_t i;

    if (strlen(name) != n)
        return false;
    for (i = 0; i < n; i++) {
        char a = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        char b = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];

        if (a != b)
            return false;
    }
    return true;
}

static bool parse_length(const char *s, size_t n, uint64_t *out)
{
    char tmp[24];
    char *end;
    size_t i;

    if (n == 0 || n >= sizeof(tmp))
        return false;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtoull(tmp, &end, 10);
    return errno == 0 && *end == '\0';
}

/* Parse the header block h[0, h->len) (found complete in the window). On a malformed block,
 * *why says what is wrong and *at_off where, relative to the block. */
static bool parse_head(const char *blk, struct warc_head *h, const char **why, size_t *at_off)
{
    size_t pos = 0;
    bool first = true;

    while (pos < h->len) {
        const char *line = blk + pos, *nl = memchr(line, '\n', h->len - pos), *colon, *v;
        size_t n = (size_t)(nl - line), k, vn;

        *at_off = pos;
        pos += n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (first) {
            first = false;
            continue; /* the version line, checked by the caller */
        }
        if (n == 0)
            break; /* the blank line that ends the block */
        if (line[0] == ' ' || line[0] == '\t')
            continue; /* a folded continuation of the field before */
        colon = memchr(line, ':', n);
        if (colon == NULL) {
            *why = "WARC header line without ':'";
            return false;
        }
        k = (size_t)(colon - line);
        while (k > 0 && (line[k - 1] == ' ' || line[k - 1] == '\t'))
            k--;
        v = colon + 1;
        vn = (size_t)(line + n - v);
        while (vn > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vn--;
        }
        while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
            vn--;
        if (name_is(line, k, "WARC-Type")) {
            h->type = v;
            h->type_len = vn;
        } else if (name_is(line, k, "WARC-Target-URI")) {
            h->uri = v;
            h->uri_len = vn;
        } else if (name_is(line, k, "Content-Length")) {
            if (h->has_length) {
                *why = "two Content-Length fields";
                return false;
            }
            if (!parse_length(v, vn, &h->content_length)) {
                *why = "Content-Length is not a decimal number";
                return false;
            }
            h->has_length = true;
        }
    }
    if (!h->has_length) {
        *at_off = 0;
        *why = "WARC record without Content-Length";
        return false;
    }
    return true;
}

/* Find the header block at win_pos: its end is the first empty line. *found is false when the
 * stream ends first or max_header bytes hold none (*too_long). */
static enum ps_err find_head(struct ps_reader *r, size_t *len, bool *found, bool *too_long)
{
    size_t from = r->win_pos;

    *found = *too_long = false;
    for (;;) {
        size_t have = r->win_len - r->win_pos, off;
        const char *p = r->win + from, *end = r->win + r->win_len;
        enum ps_err err;

        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            const char *q = p + 1;

            if (q < end && *q == '\r')
                q++;
            if (q < end && *q == '\n') {
                *len = (size_t)(q + 1 - (r->win + r->win_pos));
                *found = *len <= r->max_header;
                *too_long = !*found;
                return PS_OK;
            }
            if (q >= end)
                break; /* the next bytes decide: look again after a fill */
            p++;
        }
        if (have >= r->max_header) {
            *too_long = true;
            return PS_OK;
        }
        if (r->eof)
            return PS_OK;
        off = (p != NULL ? (size_t)(p - r->win) : r->win_len) - r->win_pos;
        err = ps_reader_fill(r);
        if (err != PS_OK)
            return err;
        from = r->win_pos + off;
    }
}

/* Skip to the next line that starts with "WARC/" after the current one. */
static enum ps_err resync(struct ps_reader *r)
{
    for (;;) {
        const char *nl = memchr(r->win + r->win_pos, '\n', r->win_len - r->win_pos);
        enum ps_err err;
        bool got;

        if (nl == NULL) {
            r->win_pos = r->win_len;
            if (r->eof)
                return PS_OK;
            err = ps_reader_fill(r);
            if (err != PS_OK)
                return err;
            continue;
        }
        r->win_pos = (size_t)(nl - r->win) + 1;
        err = ps_reader_need(r, 5, &got);
        if (err != PS_OK || (got && memcmp(r->win + r->win_pos, "WARC/", 5) == 0))
            return err;
        if (!got && r->eof) {
            r->win_pos = r->win_len;
            return PS_OK;
        }
    }
}

/* Blank lines between records are skipped. */
static bool is_line_end(char c)
{
    return c == '\r' || c == '\n';
}

/* The content of a conversion record (content_length bytes at win_pos, start = record offset). */
static enum ps_err conversion(struct ps_reader *r, uint64_t start, uint64_t length,
                              struct ps_doc *doc, bool *has_doc)
{
    uint64_t body = ps_reader_pos(r), dropped;
    enum ps_err err;
    bool got;

    if (length > r->max_line) {
        err = ps_reader_drop(r, length, &dropped);
        if (err != PS_OK)
            return err;
        if (dropped < length)
            r->stop = true;
        return ps_reader_record_error(r, PS_ERR_LIMIT, start,
                                      "WARC record content of %" PRIu64
                                      " bytes is longer than max_line (%zu)",
                                      length, r->max_line);
    }
    err = ps_reader_need(r, (size_t)length, &got);
    if (err != PS_OK)
        return err;
    if (!got) {
        size_t have = r->win_len - r->win_pos;

        r->win_pos = r->win_len;
        r->stop = true;
        return ps_reader_record_error(r, PS_ERR_PARSE, start,
                                      "truncated WARC record: %zu of %" PRIu64 " content bytes",
                                      have, length);
    }
    doc->text = r->win + r->win_pos;
    doc->text_len = (size_t)length;
    r->win_pos += (size_t)length;
    err = ps_reader_check_text(r, doc->text, doc->text_len, body);
    if (err != PS_OK)
        return err;
    if (r->idbuf.len == 0)
        ps_reader_default_id(r, doc, start);
    doc->id = r->idbuf.data;
    doc->id_len = r->idbuf.len;
    doc->id_literal = false;
    doc->offset = start;
    doc->line_len = (size_t)length;
    ps_reader_text_parts(r, doc);
    ps_reader_count_doc(r, doc);
    *has_doc = true;
    return PS_OK;
}

/* One record: a document, a record error, or (skipped records) on to the next. */
static enum ps_err step(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    for (;;) {
        struct warc_head h;
        uint64_t start, dropped;
        const char *why = NULL;
        size_t at_off = 0;
        bool got, too_long;
        enum ps_err err;

        if (r->state == W_RESYNC) {
            r->state = W_BETWEEN;
            err = resync(r);
            if (err != PS_OK)
                return err;
        }
        err = ps_reader_skip_while(r, is_line_end, &got);
        if (err != PS_OK || !got)
            return err;
        start = ps_reader_pos(r);
        memset(&h, 0, sizeof(h));
        err = find_head(r, &h.len, &got, &too_long);
        if (err != PS_OK)
            return err;
        if (too_long)
            why = "WARC header block longer than max_header";
        else if (!got)
            why = "truncated WARC header block";
        else if (h.len < 5 || memcmp(r->win + r->win_pos, "WARC/", 5) != 0)
            why = "expected a WARC record (a 'WARC/' version line)";
        else
            parse_head(r->win + r->win_pos, &h, &why, &at_off);
        if (why != NULL) {
            r->state = W_RESYNC;
            if (!got && !too_long)
                r->stop = true;
            return ps_reader_record_error(r, PS_ERR_PARSE, start + at_off, "%s", why);
        }
        ps_buf_reset(&r->idbuf);
        if (h.uri != NULL)
            ps_buf_add(&r->idbuf, h.uri, h.uri_len);
        if (h.type != NULL && name_is(h.type, h.type_len, "conversion")) {
            r->win_pos += h.len;
            return conversion(r, start, h.content_length, doc, has_doc);
        }
        r->win_pos += h.len;
        err = ps_reader_drop(r, h.content_length, &dropped);
        if (err != PS_OK)
            return err;
        if (dropped < h.content_length) {
            r->stop = true;
            return ps_reader_record_error(r, PS_ERR_PARSE, start,
                                          "truncated WARC record: %" PRIu64 " of %" PRIu64
                                          " content bytes",
                                          dropped, h.content_length);
        }
        r->stats.skipped++;
    }
}

enum ps_err ps_reader_next_wet(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    uint64_t before = ps_reader_pos(r);
    enum ps_err err = step(r, doc, has_doc);

    r->stats.bytes += ps_reader_pos(r) - before;
    return err;
}
