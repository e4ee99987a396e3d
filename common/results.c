/* results.c - the results blob's one encoder and one decoder. The decoder trusts nothing: a blob
 * comes back from Redis, which any client of the job's keys could have written. */
#include "common/results.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
    TAG__LAST = TAG_SAMPLE
};

/* Which pass commits which section: a blob with anything else is malformed. */
static bool tag_allowed(unsigned pass, unsigned tag)
{
    switch (tag) {
    case TAG_TOTALS:
        return true;
    case TAG_ERROR:
    case TAG_CAND:
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
}

void ps_results_release(struct ps_results_writer *w)
{
    ps_buf_release(&w->out);
}

const void *ps_results_data(const struct ps_results_writer *w, size_t *len)
{
    *len = w->out.len;
    return w->out.data;
}

/* A section's payload is built in place: the tag, room for the length, then the payload; the
 * length is patched in once known (a fixed 5-byte varint, so no move is needed). */
static size_t open_section(struct ps_results_writer *w, enum tag tag)
{
    static const unsigned char room[5] = {0x80, 0x80, 0x80, 0x80, 0x00};

    ps_buf_add(&w->out, (const char[]){(char)tag}, 1);
    ps_buf_add(&w->out, room, sizeof(room));
    return w->out.len;
}

static void close_section(struct ps_results_writer *w, size_t start)
{
    size_t n = w->out.len - start;
    unsigned char *p = (unsigned char *)w->out.data + start - 5;

    if (n > 0x7FFFFFFFu)
        ps_bug("results section of %zu bytes", n);
    for (int i = 0; i < 5; i++) {
        p[i] = (unsigned char)((n >> (7 * i)) & 0x7f);
        if (i < 4)
            p[i] |= 0x80;
    }
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
    size_t s = open_section(w, tag);

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

void ps_results_put_sketch(struct ps_results_writer *w, const void *src, size_t src_len)
{
    size_t s = open_section(w, TAG_SKETCH);

    ps_buf_add(&w->out, src, src_len);
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
    ps_varint_put(b, e->pattern);
    ps_varint_put_u64le(b, e->context);
    ps_varint_put_u64le(b, e->right);
    for (size_t k = 0; k < PS_RESULTS_SKETCH; k++)
        ps_varint_put(b, e->sketch[k]);
    ps_varint_put(b, e->at);
    ps_buf_add(b, (const char[]){(char)e->kind, (char)e->in_role}, 2);
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
    e->in_role = get_byte(r) != 0;
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
    case TAG_LEAD: {
        struct ps_results_cand c;
        c.hash = get_u64le(r);
        c.docs = get(r);
        c.text = get_bytes(r, &c.text_len);
        if (r->bad)
            return PS_ERR_PROTO;
        if (tag == TAG_CAND)
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
    case TAG_SKETCH: {
        const unsigned char *s = r->p;
        r->p = r->end;
        return v->sketch ? v->sketch(ctx, s, (size_t)(r->end - s)) : PS_OK;
    }
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

enum ps_err ps_results_decode(const void *src, size_t src_len, const struct ps_results_limits *lim,
                              const struct ps_results_visitor *v, void *ctx,
                              struct ps_results_header *hdr, struct ps_errdetail *ed)
{
    struct rd r = {0};
    struct scratch sc = {0};
    unsigned version, p;
    uint64_t id, part, partition;
    enum ps_err err = PS_OK;

    r.base = r.p = src;
    r.end = r.p + src_len;
    if (src_len < sizeof(magic) + 2 || memcmp(src, magic, sizeof(magic)) != 0) {
        ps_errdetail_set(ed, NULL, 0, "results blob: bad magic");
        return PS_ERR_PROTO;
    }
    r.p += sizeof(magic);
    version = r.p[0];
    p = r.p[1];
    r.p += 2;
    if (version != PS_RESULTS_VERSION) {
        ps_errdetail_set(ed, NULL, 0, "results blob: version %u, this build reads %u", version,
                         PS_RESULTS_VERSION);
        return PS_ERR_PROTO;
    }
    if (p < PS_PASS_SCAN || p > PS_PASS__LAST) {
        ps_errdetail_set(ed, NULL, 0, "results blob: pass %u", p);
        return PS_ERR_PROTO;
    }
    id = get(&r);
    part = get(&r);
    partition = get(&r);
    if (r.bad || id > UINT32_MAX || part > UINT32_MAX || partition >= PS_PARTITION_MAX) {
        ps_errdetail_set(ed, NULL, 0, "results blob: bad shard id, part or partition");
        return PS_ERR_PROTO;
    }
    while (r.p < r.end && err == PS_OK && !r.bad) {
        unsigned tag = *r.p++;
        uint64_t len = get(&r);
        struct rd sub;

        if (r.bad)
            break;
        if (len > (uint64_t)(r.end - r.p)) {
            fail(&r, "section runs past the end");
            break;
        }
        if (tag == 0 || tag > TAG__LAST || !tag_allowed(p, tag)) {
            fail(&r, "unknown section, or one this pass does not commit");
            break;
        }
        sub = r;
        sub.end = r.p + len;
        err = read_section(&sub, tag, lim, &sc, v, ctx);
        if (err == PS_OK && !sub.bad && sub.p != sub.end)
            fail(&sub, "section longer than its content");
        if (sub.bad)
            fail(&r, sub.why);
        r.p = sub.end;
    }
    free(sc.keys);
    free(sc.entries);
    if (r.bad) {
        ps_errdetail_set(ed, NULL, (uint64_t)(r.p - r.base),
                         "results blob of shard %" PRIu64 ": %s", id, r.why);
        return PS_ERR_PROTO;
    }
    if (err == PS_OK && hdr != NULL) {
        hdr->pass = p;
        hdr->shard = (uint32_t)id;
        hdr->part = (uint32_t)part;
        hdr->partition = (unsigned)partition;
    }
    return err;
}
