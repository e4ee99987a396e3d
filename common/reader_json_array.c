/* reader_json_array.c - a JSON array file streamed element by element: a small state machine
 * finds where each element ends (brackets counted outside strings, strings skipped 8 bytes at
 * a time), and only that element is held and parsed, so a 1 GB array costs one element of
 * memory. An element longer than max_line is scanned while its bytes are dropped. Damage between
 * elements is a record error and reading resumes at the next element, so one stray byte costs
 * one error, not the file. */
#include "common/reader_internal.h"

#include <inttypes.h>
#include <string.h>

#define ONES      0x0101010101010101ULL
#define HIGH_BITS 0x8080808080808080ULL

enum {
    A_START, /* before the '[' */
    A_FIRST, /* after the '[': an element or ']' */
    A_NEXT,  /* after an element: ',' or ']' */
    A_ELEM,  /* after a ',': an element */
    A_DONE   /* after the ']': only whitespace may follow */
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Non-zero when one of the 8 bytes is '"' or '\\' (exact about presence, see json.c). */
static uint64_t quote_or_backslash(const char *p)
{
    uint64_t v, q, b;

    memcpy(&v, p, sizeof(v));
    q = v ^ (ONES * '"');
    b = v ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGH_BITS;
}

/* Advance r->scan over the element being scanned; true when its end is found (r->scan is just
 * past it). Strings skip escapes, containers end at their matching bracket, anything else at
 * a delimiter (',', ']', '}', whitespace) outside brackets. */
static bool scan_element(struct ps_reader *r)
{
    const char *w = r->win;
    size_t i = r->scan, n = r->win_len;

    while (i < n) {
        char c;

        if (r->in_string) {
            if (r->escaped) {
                r->escaped = false;
                i++;
                continue;
            }
            while (n - i >= 8 && quote_or_backslash(w + i) == 0)
                i += 8;
            if (i == n)
                break;
            c = w[i++];
            if (c == '\\') {
                r->escaped = true;
            } else if (c == '"') {
                r->in_string = false;
                if (r->nest == 0) {
                    r->scan = i;
                    return true;
                }
            }
            continue;
        }
        c = w[i];
        if (c == '"') {
            r->in_string = true;
        } else if (c == '{' || c == '[') {
            r->nest++;
        } else if (c == '}' || c == ']') {
            if (r->nest == 0) {
                r->scan = i;
                return true;
            }
            if (--r->nest == 0) {
                r->scan = i + 1;
                return true;
            }
        } else if (r->nest == 0 && (c == ',' || is_ws(c))) {
            r->scan = i;
            return true;
        }
        i++;
    }
    r->scan = i;
    return false;
}

/* Consume whitespace; *c is the next byte (not consumed), *got false at the end. */
static enum ps_err skip_ws(struct ps_reader *r, char *c, bool *got)
{
    enum ps_err err = ps_reader_skip_while(r, is_ws, got);

    r->scan = r->win_pos;
    *c = err == PS_OK && *got ? r->win[r->win_pos] : '\0';
    return err;
}

/* The element starting at win_pos (its first byte is not whitespace, ',', ']' or '}'). */
static enum ps_err element(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    uint64_t len;
    const char *obj;

    r->elem_start = ps_reader_pos(r);
    r->nest = 0;
    r->in_string = r->escaped = r->elem_long = false;
    r->scan = r->win_pos;
    while (!scan_element(r)) {
        enum ps_err err;

        if (r->eof) {
            r->win_pos = r->scan;
            r->stop = true;
            return ps_reader_record_error(r, PS_ERR_PARSE, r->elem_start,
                                          "unterminated array element");
        }
        if (r->scan - r->win_pos > r->max_line)
            r->elem_long = true;
        if (r->elem_long) {
            /* too long to keep: go on scanning without holding what was scanned */
            r->base += r->win_len;
            r->win_pos = r->win_len = r->scan = 0;
        }
        err = ps_reader_fill(r);
        if (err != PS_OK)
            return err;
    }
    len = r->base + r->scan - r->elem_start;
    r->state = A_NEXT;
    if (r->elem_long || len > r->max_line) {
        r->win_pos = r->scan;
        return ps_reader_record_error(
            r, PS_ERR_LIMIT, r->elem_start,
            "array element of %" PRIu64 " bytes is longer than max_line (%zu)", len, r->max_line);
    }
    obj = r->win + r->win_pos;
    r->win_pos = r->scan;
    return ps_reader_record(r, obj, (size_t)len, r->elem_start, doc, has_doc);
}

/* One step of the array grammar: the next element, a record error, or the end. */
static enum ps_err step(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    for (;;) {
        uint64_t at;
        bool got;
        char c;
        enum ps_err err = skip_ws(r, &c, &got);

        if (err != PS_OK)
            return err;
        at = ps_reader_pos(r);
        if (!got) {
            if (r->state == A_DONE || r->state == A_START)
                return PS_OK;
            r->stop = true;
            return ps_reader_record_error(r, PS_ERR_PARSE, at, "unterminated array (no ']')");
        }
        switch (r->state) {
        case A_START:
            r->win_pos++; /* the '[' the layout was chosen for */
            r->state = A_FIRST;
            break;
        case A_DONE:
            r->stop = true;
            return ps_reader_record_error(r, PS_ERR_PARSE, at,
                                          "trailing characters after the array");
        case A_NEXT:
            if (c == ',' || c == ']') {
                r->win_pos++;
                r->state = c == ',' ? A_ELEM : A_DONE;
                break;
            }
            if (c == '}') {
                r->win_pos++; /* a stray close: dropped, the comma may still come */
            } else {
                r->state = A_ELEM; /* most likely a missing comma: read on from here */
            }
            return ps_reader_record_error(r, PS_ERR_PARSE, at,
                                          "expected ',' or ']' after an array element");
        default:
            if (c == ']') {
                bool trailing = r->state == A_ELEM;

                r->win_pos++;
                r->state = A_DONE;
                if (trailing)
                    return ps_reader_record_error(r, PS_ERR_PARSE, at, "trailing comma");
                break;
            }
            if (c == ',' || c == '}') {
                /* an empty slot waits for its element still; a stray '}' took its place */
                r->win_pos++;
                r->state = c == ',' ? A_ELEM : A_NEXT;
                return ps_reader_record_error(r, PS_ERR_PARSE, at, "expected an array element");
            }
            return element(r, doc, has_doc);
        }
    }
}

/* Whether the stream's first non-blank byte is '[' (looked at, not consumed). */
static enum ps_err starts_array(struct ps_reader *r, bool *array)
{
    size_t i = r->win_pos;

    for (;;) {
        size_t off;
        enum ps_err err;

        while (i < r->win_len && is_ws(r->win[i]))
            i++;
        if (i < r->win_len) {
            *array = r->win[i] == '[';
            return PS_OK;
        }
        if (r->eof || r->win_len - r->win_pos == r->win_max) {
            *array = false;
            return PS_OK;
        }
        off = i - r->win_pos;
        err = ps_reader_fill(r);
        if (err != PS_OK)
            return err;
        i = r->win_pos + off;
    }
}

enum ps_err ps_reader_next_array(struct ps_reader *r, struct ps_doc *doc, bool *has_doc)
{
    uint64_t before = ps_reader_pos(r);
    enum ps_err err;

    if (r->state == A_START) {
        bool array;

        err = starts_array(r, &array);
        if (err != PS_OK)
            return err;
        if (!array) {
            /* many .json files are JSON Lines */
            r->next = ps_reader_next_jsonl;
            return ps_reader_next_jsonl(r, doc, has_doc);
        }
    }
    err = step(r, doc, has_doc);
    r->stats.bytes += ps_reader_pos(r) - before;
    return err;
}
