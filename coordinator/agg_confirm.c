/* agg_confirm.c - the confirm and leads passes' aggregate: per pattern of the pass's list, the
 * documents and shards that hold it (and hold it in role), the shards themselves (for the list
 * pass, which reads only those), the leads of repeated segments, and the heavy cluster keys with
 * a sample of their member paragraphs. A shard set past PS_AGG_SHARDS_MAX shards is not kept:
 * the list pass then reads every shard for that pattern (rare: listed patterns are few and, when
 * planted, spread over about as many shards as they have documents). */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/u64map.h"
#include "coordinator/aggregate_internal.h"

#define PS_AGG_SHARDS_MAX 4096

struct shard_set {
    uint32_t *ids;
    uint32_t n, cap;
    bool overflow; /* more than PS_AGG_SHARDS_MAX: every shard */
};

struct member {
    uint64_t rank; /* hash of (shard, offset): the sample keeps the smallest */
    uint32_t shard;
    uint64_t offset;
    char *id, *snippet; /* owned */
    size_t id_len, snippet_len;
};

struct ckey {
    uint64_t key;
    uint64_t docs;
    struct member *sample; /* ascending rank, at most max_members */
    size_t n_sample;
};

/* A pattern's sample: the documents in role of smallest rank, at most max_sample. */
struct sample {
    uint64_t *ranks;
    struct ps_results_entry *entries;
    size_t n;
};

struct agg_confirm {
    size_t n_patterns, n_shards;
    struct ps_agg_count *counts;
    struct sample *samples;
    size_t max_sample;
    struct shard_set *role_set, *total_set;
    struct agg_table leads;
    uint64_t keep_text_docs;
    struct ckey *keys;
    size_t n_keys, cap_keys;
    struct ps_u64map key_index;
    size_t max_members;
    struct ps_agg_member *view; /* scratch for ps_agg_each_cluster_key */
};

struct agg_confirm *agg_confirm_new(const struct ps_agg_opts *o, size_t n_shards)
{
    struct agg_confirm *c = ps_xcalloc(1, sizeof(*c));

    c->n_patterns = o->n_patterns;
    c->n_shards = n_shards;
    c->counts = ps_xcalloc(c->n_patterns + 1, sizeof(*c->counts));
    c->samples = ps_xcalloc(c->n_patterns + 1, sizeof(*c->samples));
    c->max_sample = o->max_sample;
    c->role_set = ps_xcalloc(c->n_patterns + 1, sizeof(*c->role_set));
    c->total_set = ps_xcalloc(c->n_patterns + 1, sizeof(*c->total_set));
    agg_table_init(&c->leads, o->lead_gate_log2);
    c->keep_text_docs = o->lead_gate_log2 != 0 ? o->lead_keep_docs : o->keep_text_docs;
    ps_u64map_init(&c->key_index, SIZE_MAX / 4);
    c->max_members = o->max_members;
    c->view = ps_xcalloc(c->max_members + 1, sizeof(*c->view));
    return c;
}

static void drop_keys(struct agg_confirm *c)
{
    for (size_t i = 0; i < c->n_keys; i++) {
        for (size_t j = 0; j < c->keys[i].n_sample; j++) {
            free(c->keys[i].sample[j].id);
            free(c->keys[i].sample[j].snippet);
        }
        free(c->keys[i].sample);
    }
    c->n_keys = 0;
    ps_u64map_release(&c->key_index);
    ps_u64map_init(&c->key_index, SIZE_MAX / 4);
}

static void drop_sets(struct agg_confirm *c)
{
    for (size_t i = 0; i < c->n_patterns; i++) {
        free(c->samples[i].ranks);
        free(c->samples[i].entries);
        memset(&c->samples[i], 0, sizeof(c->samples[i]));
        free(c->role_set[i].ids);
        free(c->total_set[i].ids);
        memset(&c->role_set[i], 0, sizeof(c->role_set[i]));
        memset(&c->total_set[i], 0, sizeof(c->total_set[i]));
    }
}

void agg_confirm_free(struct agg_confirm *c)
{
    if (c == NULL)
        return;
    drop_keys(c);
    drop_sets(c);
    ps_u64map_release(&c->key_index);
    agg_table_release(&c->leads);
    free(c->counts);
    free(c->samples);
    free(c->role_set);
    free(c->total_set);
    free(c->keys);
    free(c->view);
    free(c);
}

static void set_add(struct shard_set *s, uint32_t shard)
{
    if (s->overflow)
        return;
    if (s->n == PS_AGG_SHARDS_MAX) {
        free(s->ids);
        memset(s, 0, sizeof(*s));
        s->overflow = true;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->ids = ps_xrealloc(s->ids, s->cap * sizeof(*s->ids));
    }
    s->ids[s->n++] = shard;
}

static enum ps_err on_count(void *ctx, const struct ps_results_count *k)
{
    struct ps_agg *a = ctx;
    struct agg_confirm *c = a->confirm;
    struct ps_agg_count *n;

    if (k->pattern >= c->n_patterns)
        return PS_ERR_PROTO;
    n = &c->counts[k->pattern];
    n->total += k->total;
    n->role += k->role;
    if (k->total > 0) {
        n->total_shards++;
        set_add(&c->total_set[k->pattern], a->cur_shard);
    }
    if (k->role > 0) {
        n->role_shards++;
        set_add(&c->role_set[k->pattern], a->cur_shard);
    }
    return PS_OK;
}

/* Keep the entry if its rank is among the max_sample smallest of its pattern (a rank seen before
 * is the same document from another attempt: it is kept once). */
static void sample_keep(struct agg_confirm *c, struct sample *s, uint64_t rank,
                        const struct ps_results_entry *e)
{
    size_t at = s->n;

    while (at > 0 && s->ranks[at - 1] > rank)
        at--;
    if (at >= c->max_sample || (at > 0 && s->ranks[at - 1] == rank))
        return;
    if (s->ranks == NULL) {
        s->ranks = ps_xmalloc((c->max_sample + 1) * sizeof(*s->ranks));
        s->entries = ps_xmalloc((c->max_sample + 1) * sizeof(*s->entries));
    }
    if (s->n == c->max_sample)
        s->n--;
    memmove(&s->ranks[at + 1], &s->ranks[at], (s->n - at) * sizeof(*s->ranks));
    memmove(&s->entries[at + 1], &s->entries[at], (s->n - at) * sizeof(*s->entries));
    s->ranks[at] = rank;
    s->entries[at] = *e;
    s->n++;
}

static enum ps_err on_sample(void *ctx, const struct ps_results_sample *p)
{
    struct ps_agg *a = ctx;
    struct agg_confirm *c = a->confirm;

    struct ps_results_entry e = p->e;

    if (e.pattern >= c->n_patterns)
        return PS_ERR_PROTO;
    /* the evidence only compares them: 32 bits tell a sample's documents apart */
    e.context &= 0xffffffffu;
    e.right &= 0xffffffffu;
    for (size_t k = PS_AGG_SAMPLE_SKETCH; k < PS_RESULTS_SKETCH; k++)
        e.sketch[k] = 0;
    sample_keep(c, &c->samples[e.pattern], p->rank, &e);
    return PS_OK;
}

static enum ps_err on_lead(void *ctx, const struct ps_results_cand *l)
{
    struct ps_agg *a = ctx;

    agg_table_add(&a->confirm->leads, l->hash, l->docs, l->text, l->text_len,
                  a->confirm->keep_text_docs);
    return PS_OK;
}

static struct ckey *key_get(struct agg_confirm *c, uint64_t key)
{
    uint64_t at;

    if (ps_u64map_get(&c->key_index, key, &at))
        return &c->keys[at];
    if (c->n_keys == c->cap_keys) {
        c->cap_keys = c->cap_keys ? c->cap_keys * 2 : 64;
        c->keys = ps_xrealloc(c->keys, c->cap_keys * sizeof(*c->keys));
    }
    memset(&c->keys[c->n_keys], 0, sizeof(c->keys[0]));
    c->keys[c->n_keys].key = key;
    if (ps_u64map_put(&c->key_index, key, c->n_keys) != PS_OK)
        ps_bug("cluster key index full");
    return &c->keys[c->n_keys++];
}

/* Keep the member if it ranks among the max_members smallest of its key. Only the first keeps
 * its snippet (a cluster shows one): the others are ids. */
static void sample_add(struct agg_confirm *c, struct ckey *k, const struct member *m)
{
    size_t at = k->n_sample;

    while (at > 0 && k->sample[at - 1].rank > m->rank)
        at--;
    if (at >= c->max_members)
        return;
    if (k->n_sample == c->max_members) {
        struct member *last = &k->sample[k->n_sample - 1];
        free(last->id);
        free(last->snippet);
        k->n_sample--;
    }
    if (k->sample == NULL)
        k->sample = ps_xcalloc(c->max_members + 1, sizeof(*k->sample));
    memmove(&k->sample[at + 1], &k->sample[at], (k->n_sample - at) * sizeof(*k->sample));
    k->sample[at] = *m;
    k->sample[at].id = ps_xstrndup(m->id, m->id_len);
    k->sample[at].snippet = NULL;
    k->sample[at].snippet_len = 0;
    if (at == 0) {
        k->sample[0].snippet = ps_xstrndup(m->snippet, m->snippet_len);
        k->sample[0].snippet_len = m->snippet_len;
        if (k->n_sample > 0) {
            free(k->sample[1].snippet);
            k->sample[1].snippet = NULL;
            k->sample[1].snippet_len = 0;
        }
    }
    k->n_sample++;
}

static uint64_t member_rank(uint32_t shard, uint64_t offset)
{
    uint64_t v[2] = {shard, offset};

    return XXH3_64bits(v, sizeof(v));
}

static enum ps_err on_member(void *ctx, const struct ps_results_member *m)
{
    struct ps_agg *a = ctx;
    struct agg_confirm *c = a->confirm;
    struct member mm = {0};

    mm.rank = member_rank(a->cur_shard, m->offset);
    mm.shard = a->cur_shard;
    mm.offset = m->offset;
    mm.id = (char *)(uintptr_t)m->id;
    mm.id_len = m->id_len;
    mm.snippet = (char *)(uintptr_t)m->snippet;
    mm.snippet_len = m->snippet_len;
    for (size_t i = 0; i < m->n_keys; i++) {
        struct ckey *k = key_get(c, m->keys[i]);
        k->docs++;
        sample_add(c, k, &mm);
    }
    return PS_OK;
}

const struct ps_results_visitor agg_confirm_visitor = {.totals = agg_add_totals,
                                                       .count = on_count,
                                                       .lead = on_lead,
                                                       .member = on_member,
                                                       .sample = on_sample};

/* Sample entries are random 32-bit values: fixed 4 bytes each beat varints. */
static void put_u32s(struct ps_buf *out, const uint32_t *w, size_t n)
{
    unsigned char *d;

    if (ps_buf_reserve(out, 4 * n) != PS_OK)
        ps_bug("put_u32s: %zu words past a checkpoint's ceiling", n);
    d = (unsigned char *)out->data + out->len;
    for (size_t i = 0; i < n; i++, d += 4) {
        d[0] = (unsigned char)w[i];
        d[1] = (unsigned char)(w[i] >> 8);
        d[2] = (unsigned char)(w[i] >> 16);
        d[3] = (unsigned char)(w[i] >> 24);
    }
    out->len += 4 * n;
    out->data[out->len] = '\0';
}

static void get_u32s(struct agg_rd *r, uint32_t *w, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < 4 * n) {
        r->bad = true;
        memset(w, 0, n * sizeof(*w));
        return;
    }
    for (size_t i = 0; i < n; i++, r->p += 4)
        w[i] = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
               (uint32_t)r->p[3] << 24;
}

static void save_set(const struct shard_set *s, struct ps_buf *out)
{
    unsigned char *d;

    ps_varint_put(out, s->overflow ? UINT64_MAX : s->n);
    if (s->overflow)
        return;
    /* the ids in place, with room for the longest: a checkpoint holds millions */
    if (ps_buf_reserve(out, (size_t)s->n * PS_VARINT_MAX) != PS_OK)
        ps_bug("save_set: %u shards past a checkpoint's ceiling", s->n);
    d = (unsigned char *)out->data + out->len;
    for (uint32_t i = 0; i < s->n; i++)
        d += ps_varint_encode(d, s->ids[i]);
    out->len = (size_t)((char *)d - out->data);
    out->data[out->len] = '\0';
}

static bool load_set(struct shard_set *s, struct agg_rd *r, size_t n_shards)
{
    uint64_t n = agg_get(r);

    if (n == UINT64_MAX) {
        s->overflow = true;
        return !r->bad;
    }
    if (r->bad || n > PS_AGG_SHARDS_MAX || n > (uint64_t)(r->end - r->p))
        return false;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = agg_get(r);
        if (r->bad || id >= n_shards)
            return false;
        set_add(s, (uint32_t)id);
    }
    return true;
}

void agg_confirm_save(const struct agg_confirm *c, struct ps_buf *out)
{
    ps_varint_put(out, c->n_patterns);
    for (size_t i = 0; i < c->n_patterns; i++) {
        const struct ps_agg_count *n = &c->counts[i];
        ps_varint_put(out, n->total);
        ps_varint_put(out, n->role);
        ps_varint_put(out, n->total_shards);
        ps_varint_put(out, n->role_shards);
        save_set(&c->total_set[i], out);
        save_set(&c->role_set[i], out);
        ps_varint_put(out, c->samples[i].n);
        for (size_t j = 0; j < c->samples[i].n; j++) {
            const struct ps_results_entry *e = &c->samples[i].entries[j];
            uint32_t w[2 + PS_AGG_SAMPLE_SKETCH];
            ps_varint_put_u64le(out, c->samples[i].ranks[j]);
            w[0] = (uint32_t)e->context;
            w[1] = (uint32_t)e->right;
            memcpy(w + 2, e->sketch, PS_AGG_SAMPLE_SKETCH * sizeof(uint32_t));
            put_u32s(out, w, 2 + PS_AGG_SAMPLE_SKETCH);
            ps_varint_put(out, e->kind);
        }
    }
    agg_table_save(&c->leads, out);
    ps_varint_put(out, c->n_keys);
    for (size_t i = 0; i < c->n_keys; i++) {
        const struct ckey *k = &c->keys[i];
        ps_varint_put_u64le(out, k->key);
        ps_varint_put(out, k->docs);
        ps_varint_put(out, k->n_sample);
        for (size_t j = 0; j < k->n_sample; j++) {
            ps_varint_put(out, k->sample[j].shard);
            ps_varint_put(out, k->sample[j].offset);
            agg_put_bytes(out, k->sample[j].id, k->sample[j].id_len);
            agg_put_bytes(out, k->sample[j].snippet ? k->sample[j].snippet : "",
                          k->sample[j].snippet_len);
        }
    }
}

static bool load_keys(struct agg_confirm *c, struct agg_rd *r, size_t n_shards)
{
    uint64_t n = agg_get(r);

    if (r->bad || n > (uint64_t)(r->end - r->p) / 10)
        return false;
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        uint64_t key = agg_get_u64le(r), docs = agg_get(r), ns = agg_get(r);
        struct ckey *k;

        if (r->bad || ns > c->max_members || ps_u64map_get(&c->key_index, key, &(uint64_t){0}))
            return false;
        k = key_get(c, key);
        k->docs = docs;
        for (uint64_t j = 0; j < ns && !r->bad; j++) {
            struct member m = {0};
            m.shard = (uint32_t)agg_get(r);
            m.offset = agg_get(r);
            m.id = (char *)(uintptr_t)agg_get_bytes(r, &m.id_len, PS_RESULTS_TEXT);
            m.snippet = (char *)(uintptr_t)agg_get_bytes(r, &m.snippet_len, PS_RESULTS_TEXT);
            if (r->bad || m.shard >= n_shards)
                return false;
            m.rank = member_rank(m.shard, m.offset);
            sample_add(c, k, &m);
        }
    }
    return !r->bad;
}

static bool load_sample(struct agg_confirm *c, size_t pattern, struct agg_rd *r)
{
    uint64_t n = agg_get(r);

    if (r->bad || n > c->max_sample)
        return false;
    for (uint64_t j = 0; j < n && !r->bad; j++) {
        struct ps_results_entry e = {0};
        uint64_t rank = agg_get_u64le(r);
        uint32_t w[2 + PS_AGG_SAMPLE_SKETCH];
        get_u32s(r, w, 2 + PS_AGG_SAMPLE_SKETCH);
        e.pattern = pattern;
        e.context = w[0];
        e.right = w[1];
        memcpy(e.sketch, w + 2, PS_AGG_SAMPLE_SKETCH * sizeof(uint32_t));
        e.kind = (uint8_t)agg_get(r);
        e.in_role = true;
        if (!r->bad)
            sample_keep(c, &c->samples[pattern], rank, &e);
    }
    return !r->bad && c->samples[pattern].n == n;
}

bool agg_confirm_load(struct agg_confirm *c, struct agg_rd *r)
{
    size_t n_shards = c->n_shards;
    uint64_t n = agg_get(r);

    drop_sets(c);
    drop_keys(c);
    if (r->bad || n != c->n_patterns)
        return false;
    for (size_t i = 0; i < c->n_patterns && !r->bad; i++) {
        struct ps_agg_count *k = &c->counts[i];
        k->total = agg_get(r);
        k->role = agg_get(r);
        k->total_shards = agg_get(r);
        k->role_shards = agg_get(r);
        if (!load_set(&c->total_set[i], r, n_shards) || !load_set(&c->role_set[i], r, n_shards) ||
            !load_sample(c, i, r))
            return false;
    }
    if (r->bad || !agg_table_load(&c->leads, &r->p, r->end))
        return false;
    return load_keys(c, r, n_shards);
}

size_t agg_confirm_footprint(const struct agg_confirm *c)
{
    size_t n = c->n_patterns * (sizeof(*c->counts) + 2 * sizeof(struct shard_set));

    for (size_t i = 0; i < c->n_patterns; i++)
        n +=
            (c->role_set[i].cap + c->total_set[i].cap) * sizeof(uint32_t) +
            (c->samples[i].ranks ? (c->max_sample + 1) * (8 + sizeof(struct ps_results_entry)) : 0);
    return n + agg_table_footprint(&c->leads) + c->cap_keys * sizeof(*c->keys);
}

/* ---- what the finished pass gives (aggregate.h) ---- */

const struct ps_agg_count *ps_agg_count(const struct ps_agg *a, size_t pattern)
{
    static const struct ps_agg_count none;

    if (a->confirm == NULL || pattern >= a->confirm->n_patterns)
        return &none;
    return &a->confirm->counts[pattern];
}

void ps_agg_samples(const struct ps_agg *a, size_t pattern, const struct ps_results_entry **entries,
                    size_t *n)
{
    *entries = NULL;
    *n = 0;
    if (a == NULL || a->confirm == NULL || pattern >= a->confirm->n_patterns)
        return;
    *entries = a->confirm->samples[pattern].entries;
    *n = a->confirm->samples[pattern].n;
}

bool ps_agg_pattern_shards(const struct ps_agg *a, size_t pattern, bool role, const uint32_t **ids,
                           size_t *n)
{
    const struct shard_set *s;

    *ids = NULL;
    *n = 0;
    if (a->confirm == NULL || pattern >= a->confirm->n_patterns)
        return true;
    s = role ? &a->confirm->role_set[pattern] : &a->confirm->total_set[pattern];
    if (s->overflow)
        return false;
    *ids = s->ids;
    *n = s->n;
    return true;
}

void ps_agg_each_cluster_key(const struct ps_agg *a, ps_agg_key_fn fn, void *ctx)
{
    struct agg_confirm *c = a->confirm;

    for (size_t i = 0; c != NULL && i < c->n_keys; i++) {
        const struct ckey *k = &c->keys[i];
        for (size_t j = 0; j < k->n_sample; j++) {
            c->view[j].shard = k->sample[j].shard;
            c->view[j].offset = k->sample[j].offset;
            c->view[j].id = k->sample[j].id;
            c->view[j].id_len = k->sample[j].id_len;
            c->view[j].snippet = k->sample[j].snippet ? k->sample[j].snippet : "";
            c->view[j].snippet_len = k->sample[j].snippet_len;
        }
        fn(ctx, k->key, k->docs, c->view, k->n_sample);
    }
}

const struct agg_table *agg_confirm_leads(const struct agg_confirm *c)
{
    return &c->leads;
}

void agg_confirm_reduce(struct agg_confirm *c, const uint64_t *keep, size_t n_keep)
{
    agg_table_keep(&c->leads, keep, n_keep);
}

void ps_agg_drop_samples(struct ps_agg *a, const bool *keep)
{
    struct agg_confirm *c = a->confirm;

    for (size_t i = 0; c != NULL && i < c->n_patterns; i++) {
        if (keep[i])
            continue;
        free(c->samples[i].ranks);
        free(c->samples[i].entries);
        memset(&c->samples[i], 0, sizeof(c->samples[i]));
    }
}
