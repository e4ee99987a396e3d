/* json.c - a single-pass, non-recursive validator for one JSON object per line that extracts a
 * few top-level fields without copying. String bodies, where almost all the bytes of a corpus
 * line live, are scanned 8 bytes at a time (SWAR) until a quote, backslash, control byte or
 * non-ASCII byte shows up; only then does the byte-wise path run. */
#include "common/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#    include <emmintrin.h>
#endif

#include "common/utf8.h"

#define ONES      0x0101010101010101ULL
#define HIGH_BITS 0x8080808080808080ULL

enum { CT_ARRAY = 0, CT_OBJECT = 1 };

struct slot { /* where an extracted value lives until the scratch stops moving */
    bool in_scratch;
    bool open;       /* an object/array value whose closing bracket is still ahead */
    const char *raw; /* an object/array value's bytes, once closed; NULL otherwise */
    size_t raw_len;
    size_t off;
};

struct ps_json {
    unsigned max_depth;
    unsigned char *stack;  /* max_depth entries of CT_*: the open containers */
    struct ps_buf scratch; /* decoded values that had escapes */
    struct ps_buf keybuf;  /* the current top-level key when it had escapes */
    struct slot *slots;    /* one per requested field */
    size_t n_slots;
    size_t n_parsed; /* fields of the last successful parse: ps_json_container's range */
};

struct ps_json_opts ps_json_opts_default(void)
{
    struct ps_json_opts o;

    o.max_depth = PS_JSON_DEFAULT_MAX_DEPTH;
    return o;
}

struct ps_json *ps_json_new(const struct ps_json_opts *opts)
{
    struct ps_json *j = ps_xcalloc(1, sizeof(*j));

    j->max_depth =
        opts != NULL && opts->max_depth > 0 ? opts->max_depth : PS_JSON_DEFAULT_MAX_DEPTH;
    j->stack = ps_xmalloc(j->max_depth);
    /* decoded text is never longer than its line, so the line limit bounds these */
    ps_buf_init(&j->scratch, PS_BUF_NO_LIMIT);
    ps_buf_init(&j->keybuf, PS_BUF_NO_LIMIT);
    return j;
}

void ps_json_free(struct ps_json *j)
{
    if (j == NULL)
        return;
    free(j->stack);
    ps_buf_release(&j->scratch);
    ps_buf_release(&j->keybuf);
    free(j->slots);
    free(j);
}

static uint64_t load64(const char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Non-zero when one of the 8 bytes is '"', '\\', < 0x20 or >= 0x80. The borrow-based zero tests
 * are exact about presence (they may only mis-flag bytes above a true hit), which is all the
 * fast loop needs: any hit drops to the byte-wise path. */
static uint64_t string_special(uint64_t v)
{
    uint64_t q = v ^ (ONES * '"');
    uint64_t b = v ^ (ONES * '\\');

    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | (v - ONES * 0x20) | v) & HIGH_BITS;
}

/* The first byte of a load that string_special flags (its lowest flag is exact). */
static size_t first_byte(uint64_t m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(m) >> 3;
#else
    (void)m;
    return 0; /* the byte-wise path finds it */
#endif
}

/* The first byte at or after p that is '"', '\\', < 0x20 or >= 0x80, or a place with fewer
 * than 8 bytes left before end (the byte-wise path goes on from there). SSE2, which every
 * x86-64 has, looks at 16 bytes a step: a signed compare below 0x20 catches the control and the
 * high bytes at once. */
static const char *plain_run_end(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);

    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        int m = _mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                         _mm_cmplt_epi8(v, space)));

        if (m != 0)
            return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t m = string_special(load64(p));

        if (m != 0)
            return p + first_byte(m); /* straight to the special byte, not byte by byte */
        p += 8;
    }
    return p;
}

/* memcpy of a run between two escapes, usually a line of text: fixed-size moves that compile
 * inline beat a library call for these lengths; long runs go to memcpy. */
static void copy_run(char *dst, const char *src, size_t n)
{
    size_t i;

    if (n > 64) {
        memcpy(dst, src, n);
    } else if (n >= 8) {
        for (i = 0; i + 8 <= n; i += 8)
            memcpy(dst + i, src + i, 8);
        memcpy(dst + n - 8, src + n - 8, 8); /* the tail, overlapping what is copied */
    } else {
        for (i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

/* The byte a two-byte escape stands for, by its second byte; 0 for 'u' and the invalid ones. */
static const unsigned char one_byte_escape[256] = {
    ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p (end checked by the caller) or -1. */
static long hex4(const char *p)
{
    long v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        int h = hexval(p[i]);

        if (h < 0)
            return -1;
        v = (v << 4) | h;
    }
    return v;
}

static enum ps_err fail(struct ps_errdetail *ed, const char *base, const char *at, const char *msg)
{
    ps_errdetail_set(ed, NULL, (uint64_t)(at - base), "%s", msg);
    return PS_ERR_PARSE;
}

/* Scan a string body starting at *pp. `quoted`: it ends at an unescaped '"' (consumed), else at
 * `end` and a raw '"' is an error. When `out` is not NULL and the body has an escape, the decoded
 * text is appended to `out` and *escaped is set; an escape-free body is left for the caller to
 * view in place. `base` is where offsets in `ed` count from; `open` is reported for an
 * unterminated string.
 * Decoding never lengthens the text, so at the first escape `out` gets room for the rest of the
 * input at once and the decoded bytes are written straight into it (text has an escape every
 * line or so: a buffer call per escape cost more than the scan). Only when that room passes
 * out's ceiling does each piece go through ps_buf_append, which then reports the limit exactly. */
static enum ps_err scan_string(const char *base, const char *open, const char **pp, const char *end,
                               bool quoted, struct ps_buf *out, bool *escaped,
                               struct ps_errdetail *ed)
{
    const char *p = *pp;
    const char *run = p; /* start of the literal bytes not yet copied to out */
    char *w = NULL;      /* the direct path: where the next decoded byte goes in out->data */
    bool esc = false;

    for (;;) {
        unsigned char c;

        p = plain_run_end(p, end);
        if (p == end) {
            if (quoted)
                return fail(ed, base, open, "unterminated string");
            break;
        }
        c = (unsigned char)*p;
        if (c == '"') {
            if (!quoted)
                return fail(ed, base, p, "unescaped quote");
            break;
        }
        if (c == '\\') {
            char tmp[4];
            size_t tmp_len = 1, adv = 2;
            long u, lo;

            if (end - p < 2)
                return quoted ? fail(ed, base, open, "unterminated string")
                              : fail(ed, base, p, "invalid escape");
            /* the usual escape (\n, \", \\) straight into out: text has one every line or so */
            if (w != NULL && one_byte_escape[(unsigned char)p[1]] != 0) {
                copy_run(w, run, (size_t)(p - run));
                w += p - run;
                *w++ = (char)one_byte_escape[(unsigned char)p[1]];
                p += 2;
                run = p;
                continue;
            }
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
                tmp[0] = p[1];
                break;
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u':
                if (end - p < 6 || (u = hex4(p + 2)) < 0)
                    return fail(ed, base, p, "invalid escape");
                adv = 6;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return fail(ed, base, p, "lone surrogate");
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
                        (lo = hex4(p + 8)) < 0xDC00 || lo > 0xDFFF)
                        return fail(ed, base, p, "lone surrogate");
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    adv = 12;
                }
                tmp_len = ps_utf8_encode((uint32_t)u, tmp);
                break;
            default:
                return fail(ed, base, p, "invalid escape");
            }
            if (out != NULL && !esc && ps_buf_reserve(out, (size_t)(end - run)) == PS_OK)
                w = out->data + out->len;
            if (w != NULL) {
                copy_run(w, run, (size_t)(p - run));
                w += p - run;
                for (size_t k = 0; k < tmp_len; k++)
                    *w++ = tmp[k];
            } else if (out != NULL) {
                if (ps_buf_append(out, run, (size_t)(p - run)) != PS_OK ||
                    ps_buf_append(out, tmp, tmp_len) != PS_OK)
                    return PS_ERR_LIMIT;
            }
            esc = true;
            p += adv;
            run = p;
        } else if (c < 0x20) {
            return fail(ed, base, p, "control character in string");
        } else if (c >= 0x80) {
            uint32_t cp;
            size_t n = ps_utf8_decode(p, (size_t)(end - p), &cp);

            if (n == 0)
                return fail(ed, base, p, "invalid utf-8");
            p += n;
        } else {
            p++;
        }
    }
    if (w != NULL) {
        memcpy(w, run, (size_t)(p - run));
        w += p - run;
        out->len = (size_t)(w - out->data);
        out->data[out->len] = '\0';
    } else if (esc && out != NULL && ps_buf_append(out, run, (size_t)(p - run)) != PS_OK) {
        return PS_ERR_LIMIT;
    }
    *escaped = esc;
    *pp = quoted ? p + 1 : p;
    return PS_OK;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 8259 number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static enum ps_err scan_number(const char *base, const char **pp, const char *end,
                               struct ps_errdetail *ed)
{
    const char *p = *pp;

    if (*p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return fail(ed, base, p, "invalid number");
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail(ed, base, p - 1, "invalid number (leading zero)");
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p))
            return fail(ed, base, p, "invalid number");
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return fail(ed, base, p, "invalid number");
        while (p < end && is_digit(*p))
            p++;
    }
    *pp = p;
    return PS_OK;
}

static void record(struct ps_json *j, struct ps_json_field *fields, size_t n_fields,
                   const char *key, size_t key_len, bool is_string, const char *val, size_t val_len,
                   bool in_scratch, size_t off)
{
    size_t i;

    for (i = 0; i < n_fields; i++) {
        if (fields[i].key_len != key_len || memcmp(fields[i].key, key, key_len) != 0)
            continue;
        fields[i].found = true;
        fields[i].is_string = is_string;
        fields[i].val = val;
        fields[i].val_len = val_len;
        j->slots[i].in_scratch = in_scratch;
        j->slots[i].off = off;
        j->slots[i].open = false;
        j->slots[i].raw = NULL;
        j->slots[i].raw_len = 0;
    }
}

/* The container value just recorded for `key` starts at `at`. */
static void record_open(struct ps_json *j, const struct ps_json_field *fields, size_t n_fields,
                        const char *key, size_t key_len, const char *at)
{
    size_t i;

    for (i = 0; i < n_fields; i++) {
        if (fields[i].key_len == key_len && memcmp(fields[i].key, key, key_len) == 0) {
            j->slots[i].raw = at;
            j->slots[i].open = true;
        }
    }
}

/* The open top-level container value ends just before `end`. */
static void record_close(struct ps_json *j, size_t n_fields, const char *end)
{
    size_t i;

    for (i = 0; i < n_fields; i++) {
        if (j->slots[i].open) {
            j->slots[i].raw_len = (size_t)(end - j->slots[i].raw);
            j->slots[i].open = false;
        }
    }
}

static bool key_wanted(const struct ps_json_field *fields, size_t n_fields, const char *key,
                       size_t key_len)
{
    size_t i;

    for (i = 0; i < n_fields; i++)
        if (fields[i].key_len == key_len && memcmp(fields[i].key, key, key_len) == 0)
            return true;
    return false;
}

static void clear_fields(struct ps_json_field *fields, size_t n_fields)
{
    size_t i;

    for (i = 0; i < n_fields; i++) {
        fields[i].found = false;
        fields[i].is_string = false;
        fields[i].val = NULL;
        fields[i].val_len = 0;
    }
}

/* The grammar as a goto state machine over an explicit container stack: no recursion, so the
 * depth limit bounds memory, not the C stack. */
/* One line being parsed: what the steps of ps_json_parse_line share. `key`/`want` describe the
 * top-level key whose value comes next. */
struct line_walk {
    struct ps_json *j;
    const char *line, *end;
    struct ps_json_field *fields;
    size_t n_fields;
    const char *key;
    size_t key_len;
    bool want;
    struct ps_errdetail *ed;
};

static void begin_line(struct ps_json *j, struct ps_json_field *fields, size_t n_fields)
{
    clear_fields(fields, n_fields);
    ps_buf_reset(&j->scratch);
    if (n_fields > j->n_slots) {
        j->slots = ps_xrealloc(j->slots, n_fields * sizeof(*j->slots));
        j->n_slots = n_fields;
    }
    j->n_parsed = 0;
    for (size_t i = 0; i < n_fields; i++) {
        j->slots[i].open = false;
        j->slots[i].raw = NULL;
        j->slots[i].raw_len = 0;
    }
}

/* A key and its ':' at *pp (a '"' expected); a top-level key is looked up in the wanted fields. */
static enum ps_err walk_key(struct line_walk *w, const char **pp, size_t depth)
{
    const char *p = *pp, *open = p;
    bool esc;
    enum ps_err err;

    if (p == w->end)
        return fail(w->ed, w->line, p, "unexpected end of line");
    if (*p != '"')
        return fail(w->ed, w->line, p, *p == '}' ? "trailing comma" : "expected string key");
    p++;
    if (depth == 1 && w->n_fields > 0) {
        const char *start = p;

        ps_buf_reset(&w->j->keybuf);
        err = scan_string(w->line, open, &p, w->end, true, &w->j->keybuf, &esc, w->ed);
        if (err != PS_OK)
            return err;
        w->key = esc ? w->j->keybuf.data : start;
        w->key_len = esc ? w->j->keybuf.len : (size_t)(p - 1 - start);
        w->want = key_wanted(w->fields, w->n_fields, w->key, w->key_len);
    } else {
        err = scan_string(w->line, open, &p, w->end, true, NULL, &esc, w->ed);
        if (err != PS_OK)
            return err;
    }
    p = skip_ws(p, w->end);
    if (p == w->end || *p != ':')
        return fail(w->ed, w->line, p, "expected ':'");
    *pp = skip_ws(p + 1, w->end);
    return PS_OK;
}

/* A value that is not a container at *pp: a string, a literal or a number; recorded when it
 * belongs to a wanted top-level key (`capture`). */
static enum ps_err walk_scalar(struct line_walk *w, const char **pp, bool capture)
{
    const char *p = *pp, *start = p;
    enum ps_err err = PS_OK;

    switch (*p) {
    case '"': {
        size_t off = w->j->scratch.len;
        bool esc;

        start = ++p;
        err = scan_string(w->line, start - 1, &p, w->end, true, capture ? &w->j->scratch : NULL,
                          &esc, w->ed);
        if (err == PS_OK && capture)
            record(w->j, w->fields, w->n_fields, w->key, w->key_len, true, esc ? NULL : start,
                   esc ? w->j->scratch.len - off : (size_t)(p - 1 - start), esc, off);
        break;
    }
    case 't':
    case 'f':
    case 'n': {
        const char *lit = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
        size_t n = strlen(lit);

        if ((size_t)(w->end - p) < n || memcmp(p, lit, n) != 0)
            return fail(w->ed, w->line, p, "invalid literal");
        if (capture)
            record(w->j, w->fields, w->n_fields, w->key, w->key_len, false, p, n, false, 0);
        p += n;
        break;
    }
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        err = scan_number(w->line, &p, w->end, w->ed);
        if (err == PS_OK && capture)
            record(w->j, w->fields, w->n_fields, w->key, w->key_len, false, start,
                   (size_t)(p - start), false, 0);
        break;
    case ']':
        return fail(w->ed, w->line, p, "trailing comma");
    default:
        return fail(w->ed, w->line, p, "expected value");
    }
    *pp = p;
    return err;
}

/* A state machine over the line (object key, value, after a value, close) with an explicit
 * stack of open containers, so nesting costs no recursion. */
enum ps_err ps_json_parse_line(struct ps_json *j, const char *line, size_t line_len,
                               struct ps_json_field *fields, size_t n_fields,
                               struct ps_errdetail *ed)
{
    struct line_walk w = {.j = j,
                          .line = line,
                          .end = line + line_len,
                          .fields = fields,
                          .n_fields = n_fields,
                          .ed = ed};
    const char *p = line, *end = w.end;
    size_t depth;
    enum ps_err err;

    begin_line(j, fields, n_fields);
    p = skip_ws(p, end);
    if (p == end || *p != '{') {
        err = fail(ed, line, p, p == end ? "empty line" : "not an object");
        goto out;
    }
    p++;
    depth = 1;
    j->stack[0] = CT_OBJECT;
    p = skip_ws(p, end);
    if (p < end && *p == '}') {
        p++;
        goto close;
    }
object_key:
    if ((err = walk_key(&w, &p, depth)) != PS_OK)
        goto out;
value:
    if (p == end) {
        err = fail(ed, line, p, "unexpected end of line");
        goto out;
    }
    if (*p == '{' || *p == '[') {
        if (depth >= j->max_depth) {
            err = fail(ed, line, p, "nesting too deep");
            goto out;
        }
        if (depth == 1 && w.want) {
            record(j, fields, n_fields, w.key, w.key_len, false, NULL, 0, false, 0);
            record_open(j, fields, n_fields, w.key, w.key_len, p);
        }
        j->stack[depth++] = *p == '{' ? CT_OBJECT : CT_ARRAY;
        bool object = *p++ == '{';
        p = skip_ws(p, end);
        if (p < end && *p == (object ? '}' : ']')) {
            p++;
            goto close;
        }
        if (object)
            goto object_key;
        goto value;
    }
    if ((err = walk_scalar(&w, &p, depth == 1 && w.want)) != PS_OK)
        goto out;
after_value:
    p = skip_ws(p, end);
    if (p == end) {
        err = fail(ed, line, p, "unexpected end of line");
        goto out;
    }
    if (*p == ',') {
        p = skip_ws(p + 1, end);
        if (j->stack[depth - 1] == CT_OBJECT)
            goto object_key;
        goto value;
    }
    if (*p != (j->stack[depth - 1] == CT_OBJECT ? '}' : ']')) {
        err =
            fail(ed, line, p,
                 j->stack[depth - 1] == CT_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'");
        goto out;
    }
    p++;
close:
    if (--depth == 1)
        record_close(j, n_fields, p);
    if (depth > 0)
        goto after_value;
    p = skip_ws(p, end);
    if (p != end) {
        err = fail(ed, line, p, "trailing characters");
        goto out;
    }
    /* the scratch may have moved while it grew: turn offsets into views only now */
    for (size_t i = 0; i < n_fields; i++)
        if (fields[i].found && j->slots[i].in_scratch)
            fields[i].val = j->scratch.data + j->slots[i].off;
    j->n_parsed = n_fields;
    return PS_OK;
out:
    clear_fields(fields, n_fields);
    return err;
}

bool ps_json_container(const struct ps_json *j, size_t i, const char **raw, size_t *raw_len)
{
    if (i >= j->n_parsed || j->slots[i].raw == NULL)
        return false;
    *raw = j->slots[i].raw;
    *raw_len = j->slots[i].raw_len;
    return true;
}

/* The end of the accepted value that starts at arr[i]: strings skip escapes, containers count
 * brackets outside strings, scalars run to a delimiter. */
static size_t value_end(const char *arr, size_t n, size_t i)
{
    size_t depth = 0;
    bool in_str = false;

    for (; i < n; i++) {
        char c = arr[i];

        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = false;
                if (depth == 0)
                    return i + 1;
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return i; /* a scalar ends at its array's ']' */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
            return i;
        }
    }
    return n;
}

bool ps_json_array_next(const char *arr, size_t arr_len, size_t *pos, const char **elem,
                        size_t *elem_len)
{
    const char *end = arr + arr_len;
    const char *p = arr + *pos;
    size_t at, stop;

    if (*pos >= arr_len)
        return false;
    if (*pos == 0) {
        p = skip_ws(p, end);
        if (p == end || *p != '[')
            return false;
        p++;
    }
    p = skip_ws(p, end);
    if (p < end && *p == ',')
        p = skip_ws(p + 1, end);
    if (p == end || *p == ']') {
        *pos = arr_len;
        return false;
    }
    at = (size_t)(p - arr);
    stop = value_end(arr, arr_len, at);
    if (stop == at)
        stop++; /* never stand still, whatever the bytes */
    *elem = p;
    *elem_len = stop - at;
    *pos = stop;
    return true;
}

enum ps_err ps_json_unescape(const char *src, size_t src_len, struct ps_buf *dst,
                             struct ps_errdetail *ed)
{
    const char *p = src;
    bool esc;
    enum ps_err err = scan_string(src, src, &p, src + src_len, false, dst, &esc, ed);

    if (err == PS_ERR_LIMIT)
        ps_errdetail_set(ed, NULL, 0, "decoded string exceeds the buffer limit");
    if (err != PS_OK || esc)
        return err;
    return ps_buf_append(dst, src, src_len);
}

/* True for bytes that can be copied as they are: printable ASCII other than '"' and '\\'. */
static bool plain_ascii(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

enum ps_err ps_json_append_string(struct ps_buf *dst, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t old_len = dst->len, i = 0;
    enum ps_err err = ps_buf_append(dst, "\"", 1);

    while (err == PS_OK && i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t run = i;
        char e[8];
        uint32_t cp;
        size_t len;

        while (run < n && plain_ascii((unsigned char)s[run]))
            run++;
        if (run > i) {
            err = ps_buf_append(dst, s + i, run - i);
            i = run;
            continue;
        }
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            err = ps_buf_append(dst, e, 2);
            i++;
        } else if (c < 0x20) {
            const char *short_esc = c == '\n'   ? "\\n"
                                    : c == '\t' ? "\\t"
                                    : c == '\r' ? "\\r"
                                    : c == '\b' ? "\\b"
                                    : c == '\f' ? "\\f"
                                                : NULL;
            if (short_esc != NULL) {
                err = ps_buf_append(dst, short_esc, 2);
            } else {
                memcpy(e, "\\u00", 4);
                e[4] = hex[c >> 4];
                e[5] = hex[c & 0xF];
                err = ps_buf_append(dst, e, 6);
            }
            i++;
        } else if ((len = ps_utf8_decode(s + i, n - i, &cp)) == 0) {
            err = ps_buf_append(dst, "\\ufffd", 6);
            i++;
        } else if (cp == 0x2028 || cp == 0x2029) {
            err = ps_buf_append(dst, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            i += len;
        } else {
            err = ps_buf_append(dst, s + i, len);
            i += len;
        }
    }
    if (err == PS_OK)
        err = ps_buf_append(dst, "\"", 1);
    if (err != PS_OK) {
        dst->len = old_len;
        if (dst->data != NULL)
            dst->data[old_len] = '\0';
    }
    return err;
}
