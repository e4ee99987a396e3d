/* results.c - the results blob's one encoder and one decoder. The decoder trusts nothing: a blob
 * comes back from Redis, which any client of the job's keys could have written. */
#include "common/results.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "common/partition.h"
#include "common/pass.h"
#include "common/varint.h"

static const char magic[4] = {'P', 'S', 'R', 'B'};

enum tag {
    TAG_TOTALS = 1,
    TAG_ERROR = 2,
    TAG_CAND = 3,
    TAG_LEAD = 4,
    TAG_COUNT = 5,
    TAG_SKETCH = 6,
    TAG_MEMBER = 7,
    TAG_HIT = 8,
    TAG_SAMPLE = 9,
    TAG_CAND_TEXT = 10, /* a candidate whose hash is XXH3_64bits of its text: not written */
    TAG__LAST = TAG_CAND_TEXT
};

/* The flags after the header: the sections follow, or a zstd frame of them. */
#define FLAG_ZSTD 1u
/* A body this big or bigger is compressed (zstd level 1: a shard's candidates of fine-tuning
 * records shrink about 5 times; a few kilobytes of totals and counts are not worth it). */
#define ZSTD_MIN_BODY 16384
/* The most a zstd frame can expand: a 4-byte RLE block makes 128 KiB. */
#define ZSTD_MAX_RATIO 32768

/* Which pass commits which section: a blob with anything else is malformed. */
static bool tag_allowed(unsigned pass, unsigned tag)
{
    switch (tag) {
    case TAG_TOTALS:
        return true;
    case TAG_ERROR:
    case TAG_CAND:
    case TAG_CAND_TEXT:
    case TAG_SKETCH:
        return pass == PS_PASS_SCAN;
    case TAG_LEAD:
    case TAG_MEMBER:
        return pass == PS_PASS_CONFIRM;
    case TAG_COUNT:
    case TAG_SAMPLE:
        return pass == PS_PASS_CONFIRM || pass == PS_PASS_LEADS;
    case TAG_HIT:
        return pass == PS_PASS_LIST;
    default:
        return false;
    }
}

struct ps_results_limits ps_results_limits_default(void)
{
    struct ps_results_limits l;

    l.max_entries = 4096;
    return l;
}

void ps_results_begin(struct ps_results_writer *w, unsigned pass, uint32_t shard, uint32_t part,
                      unsigned partition)
{
    if (w->out.max == 0)
        ps_buf_init(&w->out, PS_BUF_NO_LIMIT);
    ps_buf_reset(&w->out);
    ps_buf_add(&w->out, magic, sizeof(magic));
    ps_buf_add(&w->out, (const char[]){PS_RESULTS_VERSION, (char)pass}, 2);
    ps_varint_put(&w->out, shard);
    ps_varint_put(&w->out, part);
    ps_varint_put(&w->out, partition);
    w->body = w->out.len + 1;
    ps_buf_add(&w->out, (const char[]){0}, 1); /* flags: the sections follow */
}

void ps_results_release(struct ps_results_writer *w)
{
    ps_buf_release(&w->out);
    ps_buf_release(&w->z);
}

const void *ps_results_data(struct ps_results_writer *w, size_t *len)
{
    size_t body = w->out.len - w->body, bound = ZSTD_compressBound(body), n;
    char head[1 + PS_VARINT_MAX];
    size_t head_len = 0;
    ZSTD_CCtx *cctx;

    if (body < ZSTD_MIN_BODY) {
        *len = w->out.len;
        return w->out.data;
    }
    if (w->z.max == 0)
        ps_buf_init(&w->z, PS_BUF_NO_LIMIT);
    ps_buf_reset(&w->z);
    ps_buf_add(&w->z, w->out.data, w->body - 1);
    head[head_len++] = FLAG_ZSTD;
    head_len += ps_varint_encode(head + head_len, body);
    ps_buf_add(&w->z, head, head_len);
    if (ps_buf_reserve(&w->z, bound) != PS_OK)
        ps_bug("results blob of %zu bytes", body);
    /* with a checksum: a blob damaged in Redis or on the wire is refused, not misread */
    cctx = ZSTD_createCCtx();
    if (cctx == NULL)
        ps_bug("zstd: no memory for a context");
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    n = ZSTD_compress2(cctx, w->z.data + w->z.len, bound, w->out.data + w->body, body);
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(n))
        ps_bug("zstd: %s", ZSTD_getErrorName(n));
    w->z.len += n;
    w->z.data[w->z.len] = '\0';
    *len = w->z.len;
    return w->z.data;
}

/* A section's payload is built in place: the tag, room for the length, then the payload; the
 * length is patched in once known, and the payload moved up to the shortest varint of it. */
static size_t open_section(struct ps_results_writer *w, enum tag tag)
{
    static const unsigned char room[5] = {0x80, 0x80, 0x80, 0x80, 0x00};

    ps_buf_add(&w->out, (const char[]){(char)tag}, 1);
    ps_buf_add(&w->out, room, sizeof(room));
    return w->out.len;
}

static void close_section(struct ps_results_writer *w, size_t start)
{
    size_t n = w->out.len - start, k;
    unsigned char *p = (unsigned char *)w->out.data + start - 5;

    if (n > 0x7FFFFFFFu)
        ps_bug("results section of %zu bytes", n);
    k = ps_varint_encode((char *)p, n);
    memmove(p + k, p + 5, n);
    w->out.len -= 5 - k;
    w->out.data[w->out.len] = '\0';
}

static void put_bytes(struct ps_buf *b, const void *src, size_t len)
{
    if (len > PS_RESULTS_TEXT)
        len = PS_RESULTS_TEXT; /* the decoder's bound: longer texts were cut by the caller */
    ps_varint_put(b, len);
    ps_buf_add(b, src, len);
}

void ps_results_put_totals(struct ps_results_writer *w, const struct ps_results_totals *t)
{
    size_t s = open_section(w, TAG_TOTALS);

    ps_varint_put(&w->out, t->docs);
    ps_varint_put(&w->out, t->bytes);
    ps_varint_put(&w->out, t->text_bytes);
    ps_varint_put(&w->out, t->errors);
    ps_varint_put(&w->out, t->lines_blank);
    close_section(w, s);
}

void ps_results_put_error(struct ps_results_writer *w, const struct ps_results_error *e)
{
    size_t s = open_section(w, TAG_ERROR);

    ps_varint_put(&w->out, e->offset);
    put_bytes(&w->out, e->reason, e->reason_len);
    close_section(w, s);
}

static void put_cand(struct ps_results_writer *w, enum tag tag, const struct ps_results_cand *c)
{
    bool implied = tag == TAG_CAND && c->text_len <= PS_RESULTS_TEXT &&
                   c->hash == XXH3_64bits(c->text, c->text_len);
    size_t s = open_section(w, implied ? TAG_CAND_TEXT : tag);

    if (!implied)
        ps_varint_put_u64le(&w->out, c->hash);
    ps_varint_put(&w->out, c->docs);
    put_bytes(&w->out, c->text, c->text_len);
    close_section(w, s);
}

void ps_results_put_cand(struct ps_results_writer *w, const struct ps_results_cand *c)
{
    put_cand(w, TAG_CAND, c);
}

void ps_results_put_lead(struct ps_results_writer *w, const struct ps_results_cand *c)
{
    put_cand(w, TAG_LEAD, c);
}

void ps_results_put_count(struct ps_results_writer *w, const struct ps_results_count *c)
{
    size_t s = open_section(w, TAG_COUNT);

    ps_varint_put(&w->out, c->pattern);
    ps_varint_put(&w->out, c->total);
    ps_varint_put(&w->out, c->role);
    close_section(w, s);
}

/* Per row: the number of cells, then each cell as the gap from the one before (a varint: the
 * index minus the previous index plus one, the first from 0) and its count (a byte). */
void ps_results_put_sketch(struct ps_results_writer *w, const struct ps_results_sketch *k)
{
    size_t s = open_section(w, TAG_SKETCH);

    for (int r = 0; r < PS_CLSKETCH_ROWS; r++) {
        uint64_t next = 0;
        unsigned char *d;

        ps_varint_put(&w->out, k->n[r]);
        /* a shard's sketch has millions of cells: written in place, not appended one by one */
        if (ps_buf_reserve(&w->out, k->n[r] * (PS_VARINT_MAX + 1)) != PS_OK)
            ps_bug("ps_results_put_sketch: %zu cells do not fit a blob", k->n[r]);
        d = (unsigned char *)w->out.data + w->out.len;
        for (size_t i = 0; i < k->n[r]; i++) {
            d += ps_varint_encode(d, k->cells[r][i] - next);
            *d++ = k->counts[r][i];
            next = (uint64_t)k->cells[r][i] + 1;
        }
        w->out.len = (size_t)((char *)d - w->out.data);
        w->out.data[w->out.len] = '\0';
    }
    close_section(w, s);
}

void ps_results_put_member(struct ps_results_writer *w, const struct ps_results_member *m)
{
    size_t s = open_section(w, TAG_MEMBER);

    ps_varint_put(&w->out, m->n_keys);
    for (size_t i = 0; i < m->n_keys; i++)
        ps_varint_put_u64le(&w->out, m->keys[i]);
    ps_varint_put(&w->out, m->offset);
    put_bytes(&w->out, m->id, m->id_len);
    put_bytes(&w->out, m->snippet, m->snippet_len);
    close_section(w, s);
}

static void put_entry(struct ps_buf *b, const struct ps_results_entry *e)
{
    unsigned flags = (unsigned)e->in_role | (unsigned)e->glued << 1 | (unsigned)e->restates << 2;

    ps_varint_put(b, e->pattern);
    ps_varint_put_u64le(b, e->context);
    ps_varint_put_u64le(b, e->right);
    for (size_t k = 0; k < PS_RESULTS_SKETCH; k++)
        ps_varint_put(b, e->sketch[k]);
    ps_varint_put(b, e->at);
    ps_buf_add(b, (const char[]){(char)e->kind, (char)flags}, 2);
    ps_varint_put_u64le(b, e->next);
}

void ps_results_put_hit(struct ps_results_writer *w, const struct ps_results_hit *h)
{
    size_t s = open_section(w, TAG_HIT);

    ps_varint_put(&w->out, h->offset);
    put_bytes(&w->out, h->id, h->id_len);
    put_bytes(&w->out, h->snippet, h->snippet_len);
    ps_varint_put(&w->out, h->n_entries);
    for (size_t i = 0; i < h->n_entries; i++)
        put_entry(&w->out, &h->entries[i]);
    close_section(w, s);
}

void ps_results_put_sample(struct ps_results_writer *w, const struct ps_results_sample *p)
{
    size_t s = open_section(w, TAG_SAMPLE);

    ps_varint_put_u64le(&w->out, p->rank);
    put_entry(&w->out, &p->e);
    close_section(w, s);
}

/* ---- decoding ---- */

struct rd {
    const unsigned char *p, *end, *base;
    bool bad;
    const char *why;
};

static void fail(struct rd *r, const char *why)
{
    if (!r->bad) {
        r->bad = true;
        r->why = why;
    }
}

static uint64_t get(struct rd *r)
{
    uint64_t v = 0;
    const unsigned char *q = r->bad ? NULL : ps_varint_get(r->p, r->end, &v);

    if (q == NULL) {
        fail(r, "truncated or overlong varint");
        return 0;
    }
    r->p = q;
    return v;
}

static uint64_t get_u64le(struct rd *r)
{
    uint64_t v = 0;
    const unsigned char *q = r->bad ? NULL : ps_varint_get_u64le(r->p, r->end, &v);

    if (q == NULL) {
        fail(r, "truncated hash");
        return 0;
    }
    r->p = q;
    return v;
}

static const char *get_bytes(struct rd *r, size_t *len)
{
    uint64_t n = get(r);
    const char *s;

    if (r->bad)
        return NULL;
    if (n > PS_RESULTS_TEXT || n > (uint64_t)(r->end - r->p)) {
        fail(r, "text too long or truncated");
        return NULL;
    }
    s = (const char *)r->p;
    r->p += n;
    *len = (size_t)n;
    return s;
}

static uint8_t get_byte(struct rd *r)
{
    if (r->bad || r->p >= r->end) {
        fail(r, "truncated");
        return 0;
    }
    return *r->p++;
}

struct scratch {
    uint64_t *keys;
    struct ps_results_entry *entries;
    size_t cap;
};

static void grow(struct scratch *s, size_t n)
{
    if (n <= s->cap)
        return;
    s->keys = ps_xrealloc(s->keys, n * sizeof(*s->keys));
    s->entries = ps_xrealloc(s->entries, n * sizeof(*s->entries));
    s->cap = n;
}

static enum ps_err read_member(struct rd *r, const struct ps_results_limits *lim,
                               struct scratch *sc, const struct ps_results_visitor *v, void *ctx)
{
    struct ps_results_member m = {0};
    uint64_t n = get(r);

    if (r->bad || n > lim->max_entries || n > (uint64_t)(r->end - r->p) / 8) {
        fail(r, "too many member keys");
        return PS_ERR_PROTO;
    }
    grow(sc, (size_t)n);
    for (size_t i = 0; i < n; i++)
        sc->keys[i] = get_u64le(r);
    m.keys = sc->keys;
    m.n_keys = (size_t)n;
    m.offset = get(r);
    m.id = get_bytes(r, &m.id_len);
    m.snippet = get_bytes(r, &m.snippet_len);
    if (r->bad)
        return PS_ERR_PROTO;
    return v->member ? v->member(ctx, &m) : PS_OK;
}

static void get_entry(struct rd *r, struct ps_results_entry *e)
{
    unsigned flags;

    e->pattern = get(r);
    e->context = get_u64le(r);
    e->right = get_u64le(r);
    for (size_t k = 0; k < PS_RESULTS_SKETCH; k++) {
        uint64_t x = get(r);
        if (x > UINT32_MAX)
            fail(r, "sketch value over 32 bits");
        e->sketch[k] = (uint32_t)x;
    }
    e->at = get(r);
    e->kind = get_byte(r);
    flags = get_byte(r);
    if (flags > 7)
        fail(r, "entry flags other than in role (1), glued (2) and restates (4)");
    e->in_role = flags & 1;
    e->glued = (flags & 2) != 0;
    e->restates = (flags & 4) != 0;
    e->next = get_u64le(r);
}

static enum ps_err read_hit(struct rd *r, const struct ps_results_limits *lim, struct scratch *sc,
                            const struct ps_results_visitor *v, void *ctx)
{
    struct ps_results_hit h = {0};
    uint64_t n;

    h.offset = get(r);
    h.id = get_bytes(r, &h.id_len);
    h.snippet = get_bytes(r, &h.snippet_len);
    n = get(r);
    /* an entry takes at least 8 + 8 + 8 + 2 + 1 bytes */
    if (r->bad || n > lim->max_entries || n > (uint64_t)(r->end - r->p) / 27) {
        fail(r, "too many hit entries");
        return PS_ERR_PROTO;
    }
    grow(sc, (size_t)n);
    for (size_t i = 0; i < n; i++)
        get_entry(r, &sc->entries[i]);
    if (r->bad)
        return PS_ERR_PROTO;
    h.entries = sc->entries;
    h.n_entries = (size_t)n;
    return v->hit ? v->hit(ctx, &h) : PS_OK;
}

/* One row's n cells. A blob holds millions: the common cell, a one-byte gap and its count, is
 * read at a local pointer (r->p is memory the callback might change, as far as the compiler
 * knows), the rest through get(). */
static enum ps_err read_sketch_row(struct rd *r, unsigned row, uint64_t n,
                                   const struct ps_results_visitor *v, void *ctx)
{
    enum ps_err (*fn)(void *, unsigned, uint64_t, unsigned) = v->sketch;
    const unsigned char *p = r->p, *end = r->end;
    uint64_t cell = 0;

    for (uint64_t i = 0; i < n; i++) {
        uint64_t gap;
        unsigned count;
        enum ps_err err;

        if (end - p >= 2 && p[0] < 0x80) {
            gap = p[0];
            count = p[1];
            p += 2;
        } else {
            r->p = p;
            gap = get(r);
            count = get_byte(r);
            if (r->bad)
                return PS_ERR_PROTO;
            p = r->p;
        }
        if (gap > UINT32_MAX || cell + gap > UINT32_MAX || count == 0) {
            r->p = p;
            fail(r, "sketch cell past 2^32 or with no count");
            return PS_ERR_PROTO;
        }
        cell += gap;
        err = fn ? fn(ctx, row, cell, count) : PS_OK;
        if (err != PS_OK) {
            r->p = p;
            return err;
        }
        cell++;
    }
    r->p = p;
    return PS_OK;
}

static enum ps_err read_sketch(struct rd *r, const struct ps_results_visitor *v, void *ctx)
{
    for (unsigned row = 0; row < PS_CLSKETCH_ROWS; row++) {
        uint64_t n = get(r);
        enum ps_err err;

        /* a cell takes at least two bytes */
        if (r->bad || n > (uint64_t)(r->end - r->p) / 2) {
            fail(r, "too many sketch cells");
            return PS_ERR_PROTO;
        }
        err = read_sketch_row(r, row, n, v, ctx);
        if (err != PS_OK)
            return err;
    }
    return PS_OK;
}

static enum ps_err read_section(struct rd *r, unsigned tag, const struct ps_results_limits *lim,
                                struct scratch *sc, const struct ps_results_visitor *v, void *ctx)
{
    switch (tag) {
    case TAG_TOTALS: {
        struct ps_results_totals t;
        t.docs = get(r);
        t.bytes = get(r);
        t.text_bytes = get(r);
        t.errors = get(r);
        t.lines_blank = get(r);
        return r->bad ? PS_ERR_PROTO : v->totals ? v->totals(ctx, &t) : PS_OK;
    }
    case TAG_ERROR: {
        struct ps_results_error e;
        e.offset = get(r);
        e.reason = get_bytes(r, &e.reason_len);
        return r->bad ? PS_ERR_PROTO : v->error ? v->error(ctx, &e) : PS_OK;
    }
    case TAG_CAND:
    case TAG_CAND_TEXT:
    case TAG_LEAD: {
        struct ps_results_cand c;
        c.hash = tag == TAG_CAND_TEXT ? 0 : get_u64le(r);
        c.docs = get(r);
        c.text = get_bytes(r, &c.text_len);
        if (r->bad)
            return PS_ERR_PROTO;
        if (tag == TAG_CAND_TEXT)
            c.hash = XXH3_64bits(c.text, c.text_len);
        if (tag != TAG_LEAD)
            return v->cand ? v->cand(ctx, &c) : PS_OK;
        return v->lead ? v->lead(ctx, &c) : PS_OK;
    }
    case TAG_COUNT: {
        struct ps_results_count c;
        c.pattern = get(r);
        c.total = get(r);
        c.role = get(r);
        if (!r->bad && c.role > c.total)
            fail(r, "more documents in role than containing the pattern");
        return r->bad ? PS_ERR_PROTO : v->count ? v->count(ctx, &c) : PS_OK;
    }
    case TAG_SKETCH:
        return read_sketch(r, v, ctx);
    case TAG_MEMBER:
        return read_member(r, lim, sc, v, ctx);
    case TAG_SAMPLE: {
        struct ps_results_sample s;
        s.rank = get_u64le(r);
        get_entry(r, &s.e);
        return r->bad ? PS_ERR_PROTO : v->sample ? v->sample(ctx, &s) : PS_OK;
    }
    default:
        return read_hit(r, lim, sc, v, ctx);
    }
}

/* The sections of a blob's body, r over them; the error with its offset in the body. */
static enum ps_err walk_sections(struct rd *r, unsigned pass, const struct ps_results_limits *lim,
                                 const struct ps_results_visitor *v, void *ctx)
{
    struct scratch sc = {0};
    enum ps_err err = PS_OK;

    while (r->p < r->end && err == PS_OK && !r->bad) {
        unsigned tag = *r->p++;
        uint64_t len = get(r);
        struct rd sub;

        if (r->bad)
            break;
        if (len > (uint64_t)(r->end - r->p)) {
            fail(r, "section runs past the end");
            break;
        }
        if (tag == 0 || tag > TAG__LAST || !tag_allowed(pass, tag)) {
            fail(r, "unknown section, or one this pass does not commit");
            break;
        }
        sub = *r;
        sub.end = r->p + len;
        err = read_section(&sub, tag, lim, &sc, v, ctx);
        if (err == PS_OK && !sub.bad && sub.p != sub.end)
            fail(&sub, "section longer than its content");
        if (sub.bad)
            fail(r, sub.why);
        r->p = sub.end;
    }
    free(sc.keys);
    free(sc.entries);
    return r->bad ? PS_ERR_PROTO : err;
}

/* A compressed body (r at its raw length), appended to `out`. */
static bool inflate_body(struct rd *r, struct ps_buf *out)
{
    uint64_t n = get(r);
    size_t z_len = (size_t)(r->end - r->p), got;
    unsigned long long declared;

    if (r->bad)
        return false;
    declared = ZSTD_getFrameContentSize(r->p, z_len);
    if (n == 0 || n / ZSTD_MAX_RATIO > z_len || declared != n || n > SIZE_MAX / 2) {
        fail(r, "compressed body: bad length");
        return false;
    }
    if (ps_buf_reserve(out, (size_t)n) != PS_OK)
        ps_bug("results blob body of %" PRIu64 " bytes", n);
    got = ZSTD_decompress(out->data + out->len, (size_t)n, r->p, z_len);
    if (ZSTD_isError(got) || got != n) {
        fail(r, "compressed body does not decompress to its length");
        return false;
    }
    out->len += (size_t)n;
    out->data[out->len] = '\0';
    return true;
}

struct head {
    unsigned pass;
    uint64_t id, part, partition, flags;
    size_t flags_at; /* where the flags start in the blob */
};

/* The header of the blob at r, r left at the body (or the compressed body's length). */
static enum ps_err read_header(struct rd *r, size_t src_len, struct head *h,
                               struct ps_errdetail *ed)
{
    unsigned version;

    if (src_len < sizeof(magic) + 2 || memcmp(r->p, magic, sizeof(magic)) != 0) {
        ps_errdetail_set(ed, NULL, 0, "results blob: bad magic");
        return PS_ERR_PROTO;
    }
    r->p += sizeof(magic);
    version = r->p[0];
    h->pass = r->p[1];
    r->p += 2;
    if (version != PS_RESULTS_VERSION) {
        ps_errdetail_set(ed, NULL, 0, "results blob: version %u, this build reads %u", version,
                         PS_RESULTS_VERSION);
        return PS_ERR_PROTO;
    }
    if (h->pass < PS_PASS_SCAN || h->pass > PS_PASS__LAST) {
        ps_errdetail_set(ed, NULL, 0, "results blob: pass %u", h->pass);
        return PS_ERR_PROTO;
    }
    h->id = get(r);
    h->part = get(r);
    h->partition = get(r);
    h->flags_at = (size_t)(r->p - r->base);
    h->flags = get(r);
    if (r->bad || h->id > UINT32_MAX || h->part > UINT32_MAX || h->partition >= PS_PARTITION_MAX ||
        (h->flags & ~(uint64_t)FLAG_ZSTD) != 0) {
        ps_errdetail_set(ed, NULL, 0, "results blob: bad shard id, part, partition or flags");
        return PS_ERR_PROTO;
    }
    return PS_OK;
}

static enum ps_err body_error(const struct rd *r, uint64_t id, bool inflated,
                              struct ps_errdetail *ed)
{
    ps_errdetail_set(ed, NULL, (uint64_t)(r->p - r->base),
                     "results blob of shard %" PRIu64 ": %s%s", id,
                     inflated ? "(offset in its decompressed body) " : "", r->why);
    return PS_ERR_PROTO;
}

enum ps_err ps_results_decode(const void *src, size_t src_len, const struct ps_results_limits *lim,
                              const struct ps_results_visitor *v, void *ctx,
                              struct ps_results_header *hdr, struct ps_errdetail *ed)
{
    struct rd r = {0};
    struct head h;
    struct ps_buf raw;
    bool inflated = false;
    enum ps_err err;

    r.base = r.p = src;
    r.end = r.p + src_len;
    err = read_header(&r, src_len, &h, ed);
    if (err != PS_OK)
        return err;
    ps_buf_init(&raw, PS_BUF_NO_LIMIT);
    if ((h.flags & FLAG_ZSTD) && inflate_body(&r, &raw)) {
        inflated = true;
        /* offsets are in the body from here on: the compressed bytes say nothing */
        r.base = r.p = (const unsigned char *)raw.data;
        r.end = r.p + raw.len;
    }
    err = r.bad ? PS_ERR_PROTO : walk_sections(&r, h.pass, lim, v, ctx);
    if (r.bad) {
        err = body_error(&r, h.id, inflated, ed);
    } else if (err == PS_OK && hdr != NULL) {
        hdr->pass = h.pass;
        hdr->shard = (uint32_t)h.id;
        hdr->part = (uint32_t)h.part;
        hdr->partition = (unsigned)h.partition;
    }
    ps_buf_release(&raw);
    return err;
}

enum ps_err ps_results_inflate(const void *src, size_t src_len, struct ps_buf *out,
                               struct ps_errdetail *ed)
{
    struct rd r = {0};
    struct head h;
    enum ps_err err;

    r.base = r.p = src;
    r.end = r.p + src_len;
    err = read_header(&r, src_len, &h, ed);
    if (err != PS_OK)
        return err;
    if (!(h.flags & FLAG_ZSTD)) {
        ps_buf_add(out, src, src_len);
        return PS_OK;
    }
    ps_buf_add(out, src, h.flags_at);
    ps_buf_add(out, "", 1); /* flags: the sections follow */
    if (!inflate_body(&r, out))
        return body_error(&r, h.id, false, ed);
    return PS_OK;
}
