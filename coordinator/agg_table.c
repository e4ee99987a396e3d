/* agg_table.c - the pattern table of the aggregate: open addressing on the 64-bit pattern hash
 * with the counters in the slot (24 bytes a pattern), texts in an arena. Most patterns are named
 * in one document only, so a text is kept only once a pattern reaches keep_docs documents: the
 * shard whose blob brings it there carries it, whatever order the shards come in. A gate in
 * front (aggregate_internal.h) keeps those named too rarely out of the table altogether. */
#include <stdlib.h>
#include <string.h>

#include "common/u64set.h"
#include "coordinator/aggregate_internal.h"

#define MIN_CAP 1024

void agg_table_init(struct agg_table *t, unsigned gate_log2)
{
    memset(t, 0, sizeof(*t));
    ps_buf_init(&t->text, PS_BUF_NO_LIMIT);
    t->gate_log2 = gate_log2;
    if (gate_log2 != 0)
        t->gate = ps_xcalloc(AGG_GATE_BYTES(gate_log2), 1);
}

void agg_table_init_admit(struct agg_table *t, unsigned gate_log2)
{
    if (gate_log2 == 0 || gate_log2 > PS_AGG_GATE_MAX_LOG2)
        ps_bug("an admitting gate of 2^%u cells", gate_log2);
    agg_table_init(t, 0);
    t->gate_log2 = gate_log2;
    t->admits = true;
}

/* Are the counts the gate's estimates (a gated table, not an admitting one)? */
static bool counts_from_gate(const struct agg_table *t)
{
    return t->gate != NULL && !t->admits;
}

void agg_table_release(struct agg_table *t)
{
    free(t->slots);
    free(t->gate);
    ps_buf_release(&t->text);
    memset(t, 0, sizeof(*t));
}

static size_t gate_cell(const struct agg_table *t, uint64_t hash, unsigned row)
{
    /* rows take different bits of a remix of the (XXH3) hash */
    uint64_t h = (hash ^ (0x9E3779B97F4A7C15u * (row + 1))) * 0xBF58476D1CE4E5B9u;

    return row * ((size_t)1 << t->gate_log2) + (size_t)(h >> (64 - t->gate_log2));
}

static size_t gate_bytes(bool admits, unsigned gate_log2)
{
    return admits ? AGG_ADMIT_GATE_BYTES(gate_log2) : AGG_GATE_BYTES(gate_log2);
}

/* The pattern's estimates (the smallest of its cells) of its documents and its commits (an
 * admitting gate has no rows of commits: as many as the documents, never fewer than the truth). */
static void gate_query(const struct agg_table *t, uint64_t hash, unsigned *docs, unsigned *shards)
{
    const uint8_t *shard_rows = t->gate + ((size_t)AGG_GATE_ROWS << t->gate_log2);

    *docs = *shards = 255;
    for (unsigned r = 0; r < AGG_GATE_ROWS; r++) {
        size_t at = gate_cell(t, hash, r);
        *docs = t->gate[at] < *docs ? t->gate[at] : *docs;
        if (!t->admits)
            *shards = shard_rows[at] < *shards ? shard_rows[at] : *shards;
    }
    if (t->admits)
        *shards = *docs;
}

/* Add `docs` documents of one commit to the pattern's gate cells. */
static void gate_add(struct agg_table *t, uint64_t hash, uint64_t docs)
{
    uint8_t *shard_rows = t->gate + ((size_t)AGG_GATE_ROWS << t->gate_log2);

    for (unsigned r = 0; r < AGG_GATE_ROWS; r++) {
        size_t at = gate_cell(t, hash, r);
        unsigned v = t->gate[at] + (docs > 255 ? 255 : (unsigned)docs);
        t->gate[at] = (uint8_t)(v > 255 ? 255 : v);
        if (!t->admits)
            shard_rows[at] = (uint8_t)(shard_rows[at] < 255 ? shard_rows[at] + 1 : 255);
    }
}

static struct agg_entry *slot_of(struct agg_entry *slots, size_t cap, uint64_t hash)
{
    size_t i = ps_u64set_slot(hash, cap);

    while (slots[i].hash != 0 && slots[i].hash != hash)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static void grow(struct agg_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : MIN_CAP;
    struct agg_entry *slots = ps_xcalloc(cap, sizeof(*slots));

    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].hash != 0)
            *slot_of(slots, cap, t->slots[i].hash) = t->slots[i];
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
}

static struct agg_entry *get(struct agg_table *t, uint64_t hash)
{
    struct agg_entry *e;

    if (hash == 0) {
        if (!t->has_zero) {
            t->has_zero = true;
            memset(&t->zero, 0, sizeof(t->zero));
            t->zero.text_off = PS_AGG_NO_TEXT;
        }
        return &t->zero;
    }
    if ((t->n + 1) * 2 > t->cap)
        grow(t);
    e = slot_of(t->slots, t->cap, hash);
    if (e->hash == 0) {
        e->hash = hash;
        e->text_off = PS_AGG_NO_TEXT;
        t->n++;
    }
    return e;
}

static uint32_t sat_add(uint32_t a, uint64_t b)
{
    return b >= UINT32_MAX - a ? UINT32_MAX : a + (uint32_t)b;
}

void agg_table_add(struct agg_table *t, uint64_t hash, uint64_t docs, const char *text,
                   size_t text_len, uint64_t keep_docs)
{
    struct agg_entry *e;

    if (counts_from_gate(t)) {
        unsigned est_docs, est_shards;
        gate_add(t, hash, docs);
        gate_query(t, hash, &est_docs, &est_shards);
        if (agg_table_find(t, hash) == NULL) {
            if (est_docs < keep_docs)
                return;
            /* admitted: the text from now on; its counts are the gate's estimates, read at
             * the end of the pass (they are then the same in any order of the shards) */
            e = get(t, hash);
            e->docs = est_docs;
            e->shards = est_shards;
            e->text_off = (uint32_t)t->text.len;
            e->text_len = (uint32_t)(text_len < UINT32_MAX / 2 ? text_len : 0);
            ps_buf_add(&t->text, text, e->text_len);
            return;
        }
    }
    e = get(t, hash);
    e->docs = sat_add(e->docs, docs);
    e->shards = sat_add(e->shards, 1);
    if (e->text_off == PS_AGG_NO_TEXT && e->docs >= keep_docs && t->text.len < UINT32_MAX / 2 &&
        text_len < UINT32_MAX / 2) {
        e->text_off = (uint32_t)t->text.len;
        e->text_len = (uint32_t)text_len;
        ps_buf_add(&t->text, text, text_len);
    }
}

void agg_table_admit(struct agg_table *t, uint64_t hash, uint64_t docs, const char *text,
                     size_t text_len, uint64_t admit_docs)
{
    unsigned prev_docs, est_docs, est_shards;
    struct agg_entry *e;

    if (!t->admits)
        ps_bug("agg_table_admit on a table that does not admit");
    if (agg_table_find(t, hash) != NULL) {
        agg_table_add(t, hash, docs, text, text_len, 0);
        return;
    }
    if (t->gate == NULL)
        t->gate = ps_xcalloc(AGG_ADMIT_GATE_BYTES(t->gate_log2), 1);
    /* the estimate before this commit stands for the commits before it (below admit_docs, so
     * never saturated: never below the truth), then this commit's documents exactly, which a
     * saturated counter would cut to 255 */
    gate_query(t, hash, &prev_docs, &est_shards);
    gate_add(t, hash, docs);
    gate_query(t, hash, &est_docs, &est_shards);
    if (est_docs < admit_docs)
        return;
    e = get(t, hash);
    e->docs = sat_add(prev_docs, docs);
    e->shards = prev_docs + 1; /* each earlier document in a commit of its own, at most */
    if (t->text.len < UINT32_MAX / 2 && text_len < UINT32_MAX / 2) {
        e->text_off = (uint32_t)t->text.len;
        e->text_len = (uint32_t)text_len;
        ps_buf_add(&t->text, text, text_len);
    }
}

const struct agg_entry *agg_table_find(const struct agg_table *t, uint64_t hash)
{
    const struct agg_entry *e;

    if (hash == 0)
        return t->has_zero ? &t->zero : NULL;
    if (t->cap == 0)
        return NULL;
    e = slot_of(t->slots, t->cap, hash);
    return e->hash == hash ? e : NULL;
}

static void each(const struct agg_table *t, const struct agg_entry *e, ps_agg_pattern_fn fn,
                 void *ctx)
{
    unsigned docs = e->docs, shards = e->shards;

    if (e->text_off == PS_AGG_NO_TEXT)
        return;
    if (counts_from_gate(t))
        gate_query(t, e->hash, &docs, &shards);
    fn(ctx, e->hash, docs, shards, t->text.data + e->text_off, e->text_len);
}

void agg_table_each(const struct agg_table *t, ps_agg_pattern_fn fn, void *ctx)
{
    if (t->has_zero)
        each(t, &t->zero, fn, ctx);
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].hash != 0)
            each(t, &t->slots[i], fn, ctx);
}

static void save_entry(const struct agg_table *t, const struct agg_entry *e, struct ps_buf *out)
{
    ps_varint_put_u64le(out, e->hash);
    ps_varint_put(out, e->docs);
    ps_varint_put(out, e->shards);
    if (e->text_off == PS_AGG_NO_TEXT) {
        ps_varint_put(out, 0);
    } else {
        ps_varint_put(out, (uint64_t)e->text_len + 1);
        ps_buf_add(out, t->text.data + e->text_off, e->text_len);
    }
}

void agg_table_save(const struct agg_table *t, struct ps_buf *out)
{
    ps_varint_put(out, t->gate != NULL ? t->gate_log2 : 0);
    if (t->gate != NULL)
        ps_buf_add(out, t->gate, gate_bytes(t->admits, t->gate_log2));
    ps_varint_put(out, t->n + t->has_zero);
    if (t->has_zero)
        save_entry(t, &t->zero, out);
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].hash != 0)
            save_entry(t, &t->slots[i], out);
}

bool agg_table_load(struct agg_table *t, const unsigned char **pp, const unsigned char *end)
{
    struct agg_rd r = {*pp, end, false};
    unsigned gate_log2 = t->gate_log2;
    bool admits = t->admits;
    uint64_t n, saved_log2;

    agg_table_release(t);
    if (admits)
        agg_table_init_admit(t, gate_log2);
    else
        agg_table_init(t, gate_log2);
    /* a gated table's gate is its own (set by its aggregate's options): the record agrees; an
     * admitting table's gate only admits, and one of any size (a base job's) goes on doing so */
    saved_log2 = agg_get(&r);
    if (r.bad || (admits ? saved_log2 > PS_AGG_GATE_MAX_LOG2 : saved_log2 != gate_log2))
        return false;
    if (saved_log2 != 0) {
        size_t len = gate_bytes(admits, (unsigned)saved_log2);
        if ((size_t)(end - r.p) < len)
            return false;
        t->gate_log2 = (unsigned)saved_log2;
        if (t->gate == NULL)
            t->gate = ps_xmalloc(len);
        memcpy(t->gate, r.p, len);
        r.p += len;
    }
    n = agg_get(&r);
    /* an entry takes 11 bytes at least: a bound before anything is allocated */
    if (r.bad || n > (uint64_t)(end - r.p) / 11)
        return false;
    for (uint64_t i = 0; i < n && !r.bad; i++) {
        uint64_t hash = agg_get_u64le(&r), docs = agg_get(&r), shards = agg_get(&r);
        uint64_t tl = agg_get(&r);
        struct agg_entry *e;
        size_t len = 0;
        const char *text = NULL;

        if (tl > 0) {
            if (tl - 1 > PS_RESULTS_TEXT || tl - 1 > (uint64_t)(r.end - r.p)) {
                r.bad = true;
                break;
            }
            text = (const char *)r.p;
            len = (size_t)(tl - 1);
            r.p += len;
        }
        if (r.bad || docs > UINT32_MAX || shards > UINT32_MAX || agg_table_find(t, hash) != NULL) {
            r.bad = true;
            break;
        }
        e = get(t, hash);
        e->docs = (uint32_t)docs;
        e->shards = (uint32_t)shards;
        if (text != NULL) {
            e->text_off = (uint32_t)t->text.len;
            e->text_len = (uint32_t)len;
            ps_buf_add(&t->text, text, len);
        }
    }
    *pp = r.p;
    return !r.bad;
}

size_t agg_table_footprint(const struct agg_table *t)
{
    return t->cap * sizeof(*t->slots) + t->text.cap +
           (t->gate != NULL ? gate_bytes(t->admits, t->gate_log2) : 0);
}

static bool kept(const uint64_t *keep, size_t n, uint64_t hash)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keep[mid] < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && keep[lo] == hash;
}

void agg_table_keep(struct agg_table *t, const uint64_t *keep, size_t n_keep)
{
    struct agg_table fresh;

    agg_table_init(&fresh, 0); /* the kept patterns are counted: the gate has done its work */
    if (t->has_zero && kept(keep, n_keep, 0)) {
        struct agg_entry *e = get(&fresh, 0);
        *e = t->zero;
        if (counts_from_gate(t)) {
            unsigned docs, shards;
            gate_query(t, 0, &docs, &shards);
            e->docs = docs;
            e->shards = shards;
        }
        if (t->zero.text_off != PS_AGG_NO_TEXT) {
            e->text_off = (uint32_t)fresh.text.len;
            ps_buf_add(&fresh.text, t->text.data + t->zero.text_off, t->zero.text_len);
        }
    }
    for (size_t i = 0; i < t->cap; i++) {
        const struct agg_entry *o = &t->slots[i];
        struct agg_entry *e;
        if (o->hash == 0 || !kept(keep, n_keep, o->hash))
            continue;
        e = get(&fresh, o->hash);
        *e = *o;
        if (counts_from_gate(t)) {
            unsigned docs, shards;
            gate_query(t, o->hash, &docs, &shards);
            e->docs = docs;
            e->shards = shards;
        }
        if (o->text_off != PS_AGG_NO_TEXT) {
            e->text_off = (uint32_t)fresh.text.len;
            ps_buf_add(&fresh.text, t->text.data + o->text_off, o->text_len);
        }
    }
    agg_table_release(t);
    *t = fresh;
}
