/* attrset.c - the flagged documents of a job, file by file, and their record in Redis.
 *
 * The record (version 1): "PSAT", one version byte, then varints: the number of files with
 * documents, the number of documents; then for each such file in ascending order its index
 * (the first absolute, then the difference from the one before, > 0), its number of documents
 * (> 0) and one varint per document, (offset - previous offset) << 1 | payload_seen, where the
 * first document's previous offset is 0 and every later difference is > 0. Deltas keep a
 * file's offsets (ascending, often close) at one to three bytes a document. Every varint is in
 * its shortest form, so a set has exactly one record and decode(x) encodes back to x. */
#include "coordinator/attrset.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/varint.h"

#define OFFSET_MAX ((UINT64_C(1) << 63) - 1)
/* a file index is a uint32_t, so no plan has more files than this */
#define FILES_MAX ((uint64_t)UINT32_MAX + 1)

static const char magic[4] = {'P', 'S', 'A', 'T'};

/* File f's codes are codes[start[f], start[f + 1]); start has n_files + 1 entries so that a set
 * of millions of files answers ps_attrset_file() without a search. */
struct ps_attrset {
    size_t n_files;
    size_t n_listed; /* files with at least one document */
    size_t n_docs;
    size_t *start;
    uint64_t *codes;
};

static struct ps_attrset *alloc_set(size_t n_files, size_t n_docs)
{
    struct ps_attrset *s;

    if ((uint64_t)n_files > FILES_MAX)
        ps_bug("attribute set of %zu files: a file index is 32 bits", n_files);
    s = ps_xcalloc(1, sizeof(*s));
    s->n_files = n_files;
    s->start = ps_xcalloc(n_files + 1, sizeof(*s->start));
    /* + 1: an empty set still gets a pointer, and ps_xmalloc(0) may return NULL */
    s->codes = ps_xmalloc((n_docs + 1) * sizeof(*s->codes));
    return s;
}

static int cmp_code(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Sort each file's codes and merge the ones of one offset (adjacent once sorted: o<<1 and
 * o<<1|1), compacting codes[] and start[] in place. */
static void sort_and_merge(struct ps_attrset *s)
{
    size_t w = 0;

    for (size_t f = 0; f < s->n_files; f++) {
        size_t b = s->start[f], e = s->start[f + 1], first = w;
        if (e - b > 1)
            qsort(s->codes + b, e - b, sizeof(*s->codes), cmp_code);
        s->start[f] = w;
        for (size_t i = b; i < e; i++) {
            uint64_t c = s->codes[i];
            if (w > first && PS_ATTRSET_OFFSET(s->codes[w - 1]) == PS_ATTRSET_OFFSET(c))
                s->codes[w - 1] |= c;
            else
                s->codes[w++] = c;
        }
        if (w > first)
            s->n_listed++;
    }
    s->start[s->n_files] = w;
    s->n_docs = w;
}

struct ps_attrset *ps_attrset_build(const struct ps_attrset_doc *docs, size_t n, size_t n_files)
{
    struct ps_attrset *s = alloc_set(n_files, n);

    /* a counting sort by file: start[f + 1] counts file f, then becomes where file f begins */
    for (size_t i = 0; i < n; i++) {
        if (docs[i].file >= n_files || docs[i].offset > OFFSET_MAX)
            ps_bug("attribute set: document %zu (file %" PRIu32 ", offset %" PRIu64
                   ") outside %zu files and 2^63 bytes",
                   i, docs[i].file, docs[i].offset, n_files);
        s->start[docs[i].file + 1]++;
    }
    for (size_t f = 0; f < n_files; f++)
        s->start[f + 1] += s->start[f];
    /* placing moves each start[f] to the end of file f, the start of f + 1: shift them back */
    for (size_t i = 0; i < n; i++)
        s->codes[s->start[docs[i].file]++] = PS_ATTRSET_CODE(docs[i].offset, docs[i].payload_seen);
    for (size_t f = n_files; f > 0; f--)
        s->start[f] = s->start[f - 1];
    s->start[0] = 0;
    sort_and_merge(s);
    return s;
}

void ps_attrset_encode(const struct ps_attrset *s, struct ps_buf *dst)
{
    unsigned char version = PS_ATTRSET_VERSION;
    size_t prev_file = 0;
    bool first_file = true;

    ps_buf_add(dst, magic, sizeof(magic));
    ps_buf_add(dst, &version, 1);
    ps_varint_put(dst, s->n_listed);
    ps_varint_put(dst, s->n_docs);
    for (size_t f = 0; f < s->n_files; f++) {
        size_t b = s->start[f], e = s->start[f + 1];
        uint64_t prev = 0;
        if (b == e)
            continue;
        ps_varint_put(dst, first_file ? f : f - prev_file);
        ps_varint_put(dst, e - b);
        for (size_t i = b; i < e; i++) {
            uint64_t off = PS_ATTRSET_OFFSET(s->codes[i]);
            ps_varint_put(dst, (off - prev) << 1 | (s->codes[i] & 1));
            prev = off;
        }
        prev_file = f;
        first_file = false;
    }
}

struct rd {
    const unsigned char *p, *begin, *end;
    struct ps_errdetail *ed;
};

static enum ps_err bad(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Every rejection names the byte where reading stopped (also in ed->offset). */
static enum ps_err bad(struct rd *r, const char *fmt, ...)
{
    char why[150];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    ps_errdetail_set(r->ed, NULL, (uint64_t)(r->p - r->begin), "attribute set record, byte %zu: %s",
                     (size_t)(r->p - r->begin), why);
    return PS_ERR_PROTO;
}

/* A varint in its shortest form: a longer one would encode back to other bytes. */
static enum ps_err get(struct rd *r, uint64_t *v)
{
    const unsigned char *q = ps_varint_get(r->p, r->end, v);
    size_t avail = (size_t)(r->end - r->p);

    if (q == NULL) {
        /* ps_varint_get fails alike on the end of input and on an 11th byte or bits past 64 */
        size_t i = 0;
        while (i < avail && (r->p[i] & 0x80) != 0)
            i++;
        if (i == avail && avail < PS_VARINT_MAX)
            return bad(r, "cut short");
        return bad(r, "varint over 64 bits");
    }
    if (q - r->p > 1 && q[-1] == 0)
        return bad(r, "varint not in its shortest form");
    r->p = q;
    return PS_OK;
}

static enum ps_err get_docs(struct rd *r, struct ps_attrset *s, uint64_t file, uint64_t count)
{
    uint64_t prev = 0;

    for (uint64_t i = 0; i < count; i++) {
        uint64_t v = 0, delta;
        enum ps_err err = get(r, &v);
        if (err != PS_OK)
            return err;
        delta = v >> 1;
        if (i > 0 && delta == 0)
            return bad(r, "file %" PRIu64 ": offsets not strictly ascending at document %" PRIu64,
                       file, i);
        if (delta > OFFSET_MAX - prev)
            return bad(r, "file %" PRIu64 ": offset past 2^63 - 1 at document %" PRIu64, file, i);
        prev += delta;
        s->codes[s->n_docs++] = PS_ATTRSET_CODE(prev, v & 1);
    }
    return PS_OK;
}

/* Listed file i (after *file when i > 0) and its document count, both checked. */
static enum ps_err get_file(struct rd *r, const struct ps_attrset *s, uint64_t i, uint64_t total,
                            uint64_t *file, uint64_t *count)
{
    uint64_t limit = (uint64_t)s->n_files, base = i > 0 ? *file : 0, delta = 0;
    enum ps_err err = get(r, &delta);

    if (err != PS_OK)
        return err;
    if (i > 0 && delta == 0)
        return bad(r, "files not in ascending order: file %" PRIu64 " twice", base);
    /* base < limit: the file before was checked (i > 0), or base is 0 < n_listed <= limit */
    if (delta >= limit - base)
        return bad(r, "a file index out of range (the plan has %zu files)", s->n_files);
    *file = base + delta;
    if ((err = get(r, count)) != PS_OK)
        return err;
    if (*count == 0)
        return bad(r, "file %" PRIu64 " lists no documents", *file);
    if (*count > total - s->n_docs)
        return bad(r,
                   "counts do not add up: file %" PRIu64 " has %" PRIu64
                   " documents, the header %" PRIu64 " in all",
                   *file, *count, total);
    return PS_OK;
}

/* Magic, version and the two counts; the counts are bounded by the bytes left before the
 * caller allocates anything from them (each document takes at least one byte). */
static enum ps_err get_header(struct rd *r, size_t n_files, uint64_t *n_listed, uint64_t *total)
{
    size_t len = (size_t)(r->end - r->p);
    enum ps_err err;

    if (len > 0 && memcmp(r->p, magic, len < sizeof(magic) ? len : sizeof(magic)) != 0)
        return bad(r, "not an attribute set (magic)");
    if (len < sizeof(magic) + 1)
        return bad(r, "cut short");
    r->p += sizeof(magic);
    if (*r->p != PS_ATTRSET_VERSION)
        return bad(r, "version %u, this build reads %d", (unsigned)*r->p, PS_ATTRSET_VERSION);
    r->p++;
    if ((err = get(r, n_listed)) != PS_OK || (err = get(r, total)) != PS_OK)
        return err;
    if (*n_listed > n_files)
        return bad(r, "%" PRIu64 " files with documents in a plan of %zu files", *n_listed,
                   n_files);
    if (*total > (uint64_t)(r->end - r->p))
        return bad(r, "%" PRIu64 " documents cannot fit in the %zu bytes left", *total,
                   (size_t)(r->end - r->p));
    return PS_OK;
}

enum ps_err ps_attrset_decode(struct ps_attrset **out, const void *src, size_t src_len,
                              size_t n_files, struct ps_errdetail *ed)
{
    /* an empty reply may come as NULL, and NULL + 0 is undefined (UBSan says so) */
    const unsigned char *p = src_len > 0 ? src : (const unsigned char *)"";
    struct rd r = {p, p, p + src_len, ed};
    struct ps_attrset *s = NULL;
    uint64_t n_listed = 0, total = 0, file = 0, count = 0;
    size_t next = 1; /* the first start[] entry not yet set; start[0] is 0 */
    enum ps_err err;

    *out = NULL;
    if ((uint64_t)n_files > FILES_MAX)
        ps_bug("attribute set of %zu files: a file index is 32 bits", n_files);
    if ((err = get_header(&r, n_files, &n_listed, &total)) != PS_OK)
        return err;
    s = alloc_set(n_files, (size_t)total);
    for (uint64_t i = 0; i < n_listed; i++) {
        if ((err = get_file(&r, s, i, total, &file, &count)) != PS_OK)
            goto fail;
        /* the files skipped since the last listed one are empty ranges */
        for (; next <= file; next++)
            s->start[next] = s->n_docs;
        if ((err = get_docs(&r, s, file, count)) != PS_OK)
            goto fail;
        s->start[file + 1] = s->n_docs;
        next = (size_t)file + 2;
        s->n_listed++;
    }
    if (s->n_docs != total) {
        err = bad(&r, "counts do not add up: the files have %zu documents, the header %" PRIu64,
                  s->n_docs, total);
        goto fail;
    }
    if (r.p != r.end) {
        err = bad(&r, "%zu bytes after the record", (size_t)(r.end - r.p));
        goto fail;
    }
    for (; next <= n_files; next++)
        s->start[next] = s->n_docs;
    *out = s;
    return PS_OK;
fail:
    ps_attrset_free(s);
    return err;
}

size_t ps_attrset_n_files(const struct ps_attrset *s)
{
    return s->n_files;
}

size_t ps_attrset_n_docs(const struct ps_attrset *s)
{
    return s->n_docs;
}

const uint64_t *ps_attrset_file(const struct ps_attrset *s, uint32_t file, size_t *n)
{
    if (file >= s->n_files)
        ps_bug("attribute set: file %" PRIu32 " of %zu", file, s->n_files);
    *n = s->start[file + 1] - s->start[file];
    return *n > 0 ? s->codes + s->start[file] : NULL;
}

void ps_attrset_free(struct ps_attrset *s)
{
    if (s == NULL)
        return;
    free(s->start);
    free(s->codes);
    free(s);
}
