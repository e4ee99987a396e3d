/* allowlist.c - the --allowlist file: lines decoded with the JSON string unescaper (so \uXXXX and
 * surrogate pairs follow the same rules as corpus text), normalised as the detector joins tokens,
 * and kept sorted for binary search; the report asks about at most --max-confirm patterns. */
#include "coordinator/allowlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/utf8.h"

struct entry {
    char *text; /* owned, NUL-terminated, normalised */
    size_t len;
    size_t line;
};

struct ps_allowlist {
    char *name; /* owned */
    struct entry *e;
    size_t n, cap;
    size_t max_pattern_len;
};

struct ps_allowlist_opts ps_allowlist_opts_default(void)
{
    struct ps_allowlist_opts o;

    o.max_patterns = PS_ALLOWLIST_MAX_PATTERNS;
    o.max_pattern_len = PS_ALLOWLIST_MAX_PATTERN_LEN;
    o.max_line = PS_ALLOWLIST_MAX_LINE;
    o.max_bytes = PS_ALLOWLIST_MAX_BYTES;
    return o;
}

/* Bytes of the whitespace character at p, or 0: the detector's token separators (ASCII space,
 * \t \n \v \f \r, and ps_utf8_space_len). A pattern split anywhere else would never equal a
 * candidate. */
static size_t ws_len(const unsigned char *p, size_t avail)
{
    if (avail == 0)
        return 0;
    if (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))
        return 1;
    return ps_utf8_space_len(p, avail);
}

/* Append s[0, n) to dst with whitespace runs as one space, trimmed. PS_OK or PS_ERR_LIMIT. */
static enum ps_err normalize(const char *s, size_t n, struct ps_buf *dst)
{
    const unsigned char *p = (const unsigned char *)s;
    bool pending = false;
    size_t i = 0;

    while (i < n) {
        size_t w = ws_len(p + i, n - i), start;
        if (w != 0) {
            pending = dst->len > 0;
            i += w;
            continue;
        }
        start = i;
        while (i < n && ws_len(p + i, n - i) == 0)
            i++;
        if (pending && ps_buf_append(dst, " ", 1) != PS_OK)
            return PS_ERR_LIMIT;
        if (ps_buf_append(dst, s + start, i - start) != PS_OK)
            return PS_ERR_LIMIT;
        pending = false;
    }
    return PS_OK;
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

static int cmp_entry(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    int c = cmp_bytes(a->text, a->len, b->text, b->len);

    if (c != 0)
        return c;
    return (a->line > b->line) - (a->line < b->line);
}

void ps_allowlist_free(struct ps_allowlist *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->e[i].text);
    free(a->e);
    free(a->name);
    free(a);
}

/* Rewrite one raw line as a JSON string body, so that ps_json_unescape does the decoding: a raw
 * '"' becomes \", \# becomes '#', raw \t \v \f \r (whitespace to the detector) become a space.
 * Other raw control characters are refused: invisible bytes are to be written as escapes.
 * Returns NULL or the reason the line is refused. */
static const char *to_json_body(const char *s, size_t n, struct ps_buf *body)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        enum ps_err err;

        if (c == '\\') {
            if (i + 1 == n)
                return "backslash at the end of the line (write \\\\ for one)";
            err = s[i + 1] == '#' ? ps_buf_append(body, "#", 1) : ps_buf_append(body, s + i, 2);
            i++;
        } else if (c == '"') {
            err = ps_buf_append(body, "\\\"", 2);
        } else if (c == '\t' || c == '\v' || c == '\f' || c == '\r') {
            err = ps_buf_append(body, " ", 1);
        } else if (c < 0x20) {
            return "control character (write it as \\u00XX)";
        } else {
            err = ps_buf_append(body, s + i, 1);
        }
        if (err != PS_OK) /* the body's ceiling is twice the longest line: a bug, not input */
            ps_bug("allowlist line body past its ceiling");
    }
    return NULL;
}

static struct ps_allowlist_opts effective_opts(const struct ps_allowlist_opts *opts)
{
    struct ps_allowlist_opts o = ps_allowlist_opts_default();

    if (opts != NULL) {
        o.max_patterns = opts->max_patterns ? opts->max_patterns : o.max_patterns;
        o.max_pattern_len = opts->max_pattern_len ? opts->max_pattern_len : o.max_pattern_len;
        o.max_line = opts->max_line ? opts->max_line : o.max_line;
        o.max_bytes = opts->max_bytes ? opts->max_bytes : o.max_bytes;
    }
    /* keeps 2 * max_line + 1 (the body's ceiling) and max_bytes + 1 (load's) from wrapping */
    if (o.max_line > SIZE_MAX / 4)
        o.max_line = SIZE_MAX / 4;
    if (o.max_bytes > SIZE_MAX / 2)
        o.max_bytes = SIZE_MAX / 2;
    return o;
}

enum ps_err ps_allowlist_parse(struct ps_allowlist **out, const char *src, size_t src_len,
                               const char *name, const struct ps_allowlist_opts *opts,
                               struct ps_errdetail *ed)
{
    struct ps_allowlist_opts o = effective_opts(opts);
    struct ps_allowlist *a = ps_xcalloc(1, sizeof(*a));
    struct ps_buf body, dec, norm;
    struct ps_errdetail jed = {0};
    const char *p = src, *end = src + src_len, *why = NULL;
    char reason[96];
    size_t line = 0, kept = 0;
    enum ps_err err = PS_ERR_PARSE;

    *out = NULL;
    a->name = ps_xstrdup(name != NULL ? name : "");
    a->max_pattern_len = o.max_pattern_len;
    /* a raw '"' doubles in the body; an escape never decodes to more bytes than it takes */
    ps_buf_init(&body, o.max_line * 2);
    ps_buf_init(&dec, o.max_line * 2);
    ps_buf_init(&norm, o.max_pattern_len);
    if (src_len > o.max_bytes) {
        snprintf(reason, sizeof(reason), "file larger than %zu bytes", o.max_bytes);
        err = PS_ERR_LIMIT;
        why = reason;
        goto fail;
    }
    if (src_len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *s = p;
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p), lead = 0, w;

        line++;
        p = nl ? nl + 1 : end;
        if (len > o.max_line) {
            snprintf(reason, sizeof(reason), "line longer than %zu bytes", o.max_line);
            err = PS_ERR_LIMIT;
            why = reason;
            goto fail;
        }
        if (len > 0 && s[len - 1] == '\r')
            len--;
        if (!ps_utf8_is_valid(s, len)) {
            why = "invalid utf-8";
            goto fail;
        }
        while ((w = ws_len((const unsigned char *)s + lead, len - lead)) != 0)
            lead += w;
        if (lead == len || s[lead] == '#')
            continue; /* blank or comment */
        ps_buf_reset(&body);
        ps_buf_reset(&dec);
        ps_buf_reset(&norm);
        if ((why = to_json_body(s, len, &body)) != NULL)
            goto fail;
        if (ps_json_unescape(body.data, body.len, &dec, &jed) != PS_OK) {
            why = jed.msg;
            goto fail;
        }
        if (dec.len > 0 && memchr(dec.data, '\0', dec.len) != NULL) {
            why = "NUL character (\\u0000) in a pattern";
            goto fail;
        }
        if (normalize(dec.data != NULL ? dec.data : "", dec.len, &norm) != PS_OK) {
            snprintf(reason, sizeof(reason), "pattern longer than %zu bytes", o.max_pattern_len);
            err = PS_ERR_LIMIT;
            why = reason;
            goto fail;
        }
        if (norm.len == 0) {
            why = "empty pattern (only whitespace after decoding)";
            goto fail;
        }
        if (a->n == o.max_patterns) {
            snprintf(reason, sizeof(reason), "more than %zu patterns", o.max_patterns);
            err = PS_ERR_LIMIT;
            why = reason;
            goto fail;
        }
        if (a->n == a->cap) {
            a->cap = a->cap ? a->cap * 2 : 64;
            a->e = ps_xrealloc(a->e, a->cap * sizeof(*a->e));
        }
        a->e[a->n].len = norm.len;
        a->e[a->n].line = line;
        a->e[a->n].text = ps_buf_detach(&norm, NULL);
        a->n++;
    }
    if (a->n > 1)
        qsort(a->e, a->n, sizeof(*a->e), cmp_entry);
    /* a pattern listed twice keeps its first line: that one sorts first among its equals */
    for (size_t i = 0; i < a->n; i++) {
        if (kept > 0 &&
            cmp_bytes(a->e[kept - 1].text, a->e[kept - 1].len, a->e[i].text, a->e[i].len) == 0) {
            free(a->e[i].text);
            continue;
        }
        a->e[kept++] = a->e[i];
    }
    a->n = kept;
    ps_buf_release(&body);
    ps_buf_release(&dec);
    ps_buf_release(&norm);
    *out = a;
    return PS_OK;
fail:
    if (line == 0)
        ps_errdetail_set(ed, name, 0, "allowlist '%.120s': %s", a->name, why);
    else
        ps_errdetail_set(ed, name, line, "allowlist '%.120s' line %zu: %s", a->name, line,
                         why[0] != '\0' ? why : "invalid pattern");
    ps_buf_release(&body);
    ps_buf_release(&dec);
    ps_buf_release(&norm);
    ps_allowlist_free(a);
    return err;
}

enum ps_err ps_allowlist_load(struct ps_allowlist **out, const char *path,
                              const struct ps_allowlist_opts *opts, struct ps_errdetail *ed)
{
    struct ps_allowlist_opts o = effective_opts(opts);
    struct ps_buf b;
    char chunk[65536];
    enum ps_err err;
    int fd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ps_errdetail_set(ed, path, 0, "allowlist '%.120s': cannot open: %s", path, strerror(errno));
        return PS_ERR_IO;
    }
    /* one byte past the bound, so that parse sees a too large file and says so */
    ps_buf_init(&b, o.max_bytes + 1);
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            ps_errdetail_set(ed, path, 0, "allowlist '%.120s': cannot read: %s", path,
                             strerror(errno));
            close(fd);
            ps_buf_release(&b);
            return PS_ERR_IO;
        }
        if (got == 0)
            break;
        if (ps_buf_append(&b, chunk, (size_t)got) != PS_OK) {
            ps_buf_add(&b, chunk, o.max_bytes + 1 - b.len);
            break;
        }
    }
    close(fd);
    err = ps_allowlist_parse(out, b.data != NULL ? b.data : "", b.len, path, opts, ed);
    ps_buf_release(&b);
    return err;
}

size_t ps_allowlist_find(const struct ps_allowlist *a, const char *text, size_t text_len)
{
    struct ps_buf norm;
    size_t lo = 0, hi, found = 0;

    if (a == NULL || a->n == 0)
        return 0;
    ps_buf_init(&norm, a->max_pattern_len);
    if (normalize(text, text_len, &norm) != PS_OK || norm.len == 0) {
        ps_buf_release(&norm);
        return 0;
    }
    hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_bytes(a->e[mid].text, a->e[mid].len, norm.data, norm.len);
        if (c == 0) {
            found = a->e[mid].line;
            break;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    ps_buf_release(&norm);
    return found;
}

size_t ps_allowlist_n(const struct ps_allowlist *a)
{
    return a != NULL ? a->n : 0;
}

const char *ps_allowlist_name(const struct ps_allowlist *a)
{
    return a != NULL ? a->name : "";
}
