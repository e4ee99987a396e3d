/* agg_list.c - the list pass's aggregate: one record per document that holds a listed pattern,
 * kept whole (id, snippet, and each pattern's evidence), because the report decides on them and
 * writes them to flagged.jsonl. Their number is bounded by the patterns that reach the list pass,
 * not by the corpus. */
#include <stdlib.h>
#include <string.h>

#include "coordinator/aggregate_internal.h"

struct rec {
    uint32_t shard;
    uint64_t offset;
    char *id, *snippet; /* owned */
    size_t id_len, snippet_len;
    size_t first, n; /* entries[first .. first + n) */
};

struct agg_list {
    struct rec *recs;
    size_t n, cap;
    struct ps_results_entry *entries;
    size_t n_entries, cap_entries;
    size_t n_patterns;
    struct ps_agg_hit *view; /* sorted by (shard, offset), built by agg_list_finish */
};

struct agg_list *agg_list_new(size_t n_patterns)
{
    struct agg_list *l = ps_xcalloc(1, sizeof(*l));

    l->n_patterns = n_patterns;
    return l;
}

static void drop(struct agg_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->recs[i].id);
        free(l->recs[i].snippet);
    }
    l->n = 0;
    l->n_entries = 0;
    free(l->view);
    l->view = NULL;
}

void agg_list_free(struct agg_list *l)
{
    if (l == NULL)
        return;
    drop(l);
    free(l->recs);
    free(l->entries);
    free(l);
}

static void add(struct agg_list *l, uint32_t shard, uint64_t offset, const char *id, size_t id_len,
                const char *snippet, size_t snippet_len, const struct ps_results_entry *es,
                size_t n)
{
    struct rec *r;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->recs = ps_xrealloc(l->recs, l->cap * sizeof(*l->recs));
    }
    if (l->n_entries + n > l->cap_entries) {
        while (l->n_entries + n > l->cap_entries)
            l->cap_entries = l->cap_entries ? l->cap_entries * 2 : 64;
        l->entries = ps_xrealloc(l->entries, l->cap_entries * sizeof(*l->entries));
    }
    r = &l->recs[l->n++];
    r->shard = shard;
    r->offset = offset;
    r->id = ps_xstrndup(id, id_len);
    r->id_len = id_len;
    r->snippet = ps_xstrndup(snippet, snippet_len);
    r->snippet_len = snippet_len;
    r->first = l->n_entries;
    r->n = n;
    if (n > 0)
        memcpy(l->entries + l->n_entries, es, n * sizeof(*es));
    l->n_entries += n;
}

static enum ps_err on_totals(void *ctx, const struct ps_results_totals *t)
{
    (void)ctx;
    (void)t;
    return PS_OK;
}

static enum ps_err on_hit(void *ctx, const struct ps_results_hit *h)
{
    struct ps_agg *a = ctx;

    for (size_t i = 0; i < h->n_entries; i++)
        if (h->entries[i].pattern >= a->list->n_patterns)
            return PS_ERR_PROTO;
    add(a->list, a->cur_shard, h->offset, h->id, h->id_len, h->snippet, h->snippet_len, h->entries,
        h->n_entries);
    return PS_OK;
}

const struct ps_results_visitor agg_list_visitor = {.totals = on_totals, .hit = on_hit};

static void save_entry(const struct ps_results_entry *e, struct ps_buf *out)
{
    ps_varint_put(out, e->pattern);
    ps_varint_put_u64le(out, e->context);
    ps_varint_put_u64le(out, e->right);
    for (size_t k = 0; k < PS_RESULTS_SKETCH; k++)
        ps_varint_put(out, e->sketch[k]);
    ps_varint_put(out, e->at);
    ps_varint_put(out, e->kind);
    ps_varint_put(out, (unsigned)e->in_role | (unsigned)e->glued << 1 | (unsigned)e->restates << 2);
    ps_varint_put_u64le(out, e->next);
}

void agg_list_save(const struct agg_list *l, struct ps_buf *out)
{
    ps_varint_put(out, l->n);
    for (size_t i = 0; i < l->n; i++) {
        const struct rec *r = &l->recs[i];
        ps_varint_put(out, r->shard);
        ps_varint_put(out, r->offset);
        agg_put_bytes(out, r->id, r->id_len);
        agg_put_bytes(out, r->snippet, r->snippet_len);
        ps_varint_put(out, r->n);
        for (size_t j = 0; j < r->n; j++)
            save_entry(&l->entries[r->first + j], out);
    }
}

bool agg_list_load(struct agg_list *l, struct agg_rd *r, size_t n_shards)
{
    uint64_t n = agg_get(r);
    struct ps_results_entry *es = NULL;
    size_t cap = 0;

    drop(l);
    if (r->bad || n > (uint64_t)(r->end - r->p) / 5)
        return false;
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        uint64_t shard = agg_get(r), offset = agg_get(r), ne;
        size_t id_len = 0, sn_len = 0;
        const char *id = agg_get_bytes(r, &id_len, PS_RESULTS_TEXT);
        const char *sn = agg_get_bytes(r, &sn_len, PS_RESULTS_TEXT);

        ne = agg_get(r);
        if (r->bad || shard >= n_shards || ne > (uint64_t)(r->end - r->p) / 20)
            break;
        if (ne > cap) {
            cap = (size_t)ne;
            es = ps_xrealloc(es, cap * sizeof(*es));
        }
        for (uint64_t j = 0; j < ne && !r->bad; j++) {
            struct ps_results_entry *e = &es[j];
            uint64_t flags;

            e->pattern = agg_get(r);
            e->context = agg_get_u64le(r);
            e->right = agg_get_u64le(r);
            for (size_t k = 0; k < PS_RESULTS_SKETCH; k++) {
                uint64_t v = agg_get(r);
                e->sketch[k] = (uint32_t)v;
                r->bad = r->bad || v > UINT32_MAX;
            }
            e->at = agg_get(r);
            e->kind = (uint8_t)agg_get(r);
            flags = agg_get(r);
            e->in_role = flags & 1;
            e->glued = (flags & 2) != 0;
            e->restates = (flags & 4) != 0;
            e->next = agg_get_u64le(r);
            r->bad = r->bad || flags > 7;
            r->bad = r->bad || e->pattern >= l->n_patterns;
        }
        if (!r->bad)
            add(l, (uint32_t)shard, offset, id, id_len, sn, sn_len, es, (size_t)ne);
    }
    free(es);
    return !r->bad && l->n == n;
}

size_t agg_list_footprint(const struct agg_list *l)
{
    size_t n = l->cap * sizeof(*l->recs) + l->cap_entries * sizeof(*l->entries);

    for (size_t i = 0; i < l->n; i++)
        n += l->recs[i].id_len + l->recs[i].snippet_len + 2;
    return n;
}

static int cmp_view(const void *a, const void *b)
{
    const struct ps_agg_hit *x = a, *y = b;

    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

void agg_list_finish(struct agg_list *l)
{
    free(l->view);
    l->view = ps_xcalloc(l->n + 1, sizeof(*l->view));
    for (size_t i = 0; i < l->n; i++) {
        const struct rec *r = &l->recs[i];
        struct ps_agg_hit *h = &l->view[i];
        h->shard = r->shard;
        h->offset = r->offset;
        h->id = r->id;
        h->id_len = r->id_len;
        h->snippet = r->snippet;
        h->snippet_len = r->snippet_len;
        /* a record of no entries may come with no entries array at all */
        h->entries = r->n > 0 ? l->entries + r->first : NULL;
        h->n_entries = r->n;
    }
    if (l->n > 1)
        qsort(l->view, l->n, sizeof(*l->view), cmp_view);
}

size_t agg_list_n(const struct agg_list *l)
{
    return l->n;
}

const struct ps_agg_hit *agg_list_at(const struct agg_list *l, size_t i)
{
    return &l->view[i];
}
