/* clusters.c - heavy cells of the cluster sketch, and grouping of sampled members
 * (docs/minhash.md, "Clusters"). A band key keeps the members of smallest rank (a hash of shard
 * and offset, coordinator/agg_confirm.c), so the keys of one cluster keep mostly the same
 * members, and a union-find over those joins the keys into clusters. */
#include "coordinator/clusters.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clsketch.h"
#include "common/json.h"

void ps_clusters_heavy(const uint8_t *sketch, unsigned log2, uint64_t min_docs, size_t max_heavy,
                       uint8_t **bitmap, size_t *len, uint64_t *threshold, size_t *n_heavy)
{
    size_t cells = (size_t)1 << log2, total = PS_CLSKETCH_ROWS * cells, hist[256] = {0};
    uint64_t t = min_docs;

    /* raise the bar until row 0 holds at most max_heavy heavy cells; counts saturate at 255,
     * past which the sketch says little anyway */
    for (size_t i = 0; i < cells; i++)
        hist[sketch[i]]++;
    for (;;) {
        size_t above = 0;
        for (uint64_t v = t < 255 ? t : 255; v <= 255; v++)
            above += hist[v];
        if (above <= max_heavy || t >= 255)
            break;
        t++;
    }
    *len = total / 8;
    *bitmap = ps_xcalloc(*len, 1);
    *n_heavy = 0;
    for (size_t i = 0; i < total; i++) {
        if (sketch[i] < t)
            continue;
        (*bitmap)[i / 8] |= (uint8_t)(1u << (i % 8));
        *n_heavy += i < cells;
    }
    *threshold = t;
}

struct member {
    uint32_t shard;
    uint64_t offset;
    const char *id, *snippet; /* views into the aggregate */
    size_t id_len, snippet_len;
    size_t parent; /* union-find */
    uint64_t size; /* at a root: paragraphs of the component's biggest key */
};

struct collect {
    uint64_t min_docs;
    struct member *v;
    size_t n, cap;
};

static int cmp_member(const void *a, const void *b)
{
    const struct member *x = a, *y = b;

    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static size_t find(struct member *v, size_t i)
{
    while (v[i].parent != i) {
        v[i].parent = v[v[i].parent].parent;
        i = v[i].parent;
    }
    return i;
}

/* Pass 1 over the keys: collect every sampled member of a heavy enough key. */
static void on_key_collect(void *ctx, uint64_t key, uint64_t docs, const struct ps_agg_member *s,
                           size_t n)
{
    struct collect *c = ctx;

    (void)key;
    if (docs < c->min_docs)
        return;
    for (size_t i = 0; i < n; i++) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 256;
            c->v = ps_xrealloc(c->v, c->cap * sizeof(*c->v));
        }
        c->v[c->n++] = (struct member){s[i].shard,  s[i].offset,      s[i].id, s[i].snippet,
                                       s[i].id_len, s[i].snippet_len, 0,       0};
    }
}

static size_t index_of(const struct collect *c, uint32_t shard, uint64_t offset)
{
    struct member probe = {0};
    const struct member *m;

    probe.shard = shard;
    probe.offset = offset;
    m = bsearch(&probe, c->v, c->n, sizeof(*c->v), cmp_member);
    return m != NULL ? (size_t)(m - c->v) : SIZE_MAX;
}

/* Pass 2: join each heavy key's members, and keep its size at the root. */
static void on_key_join(void *ctx, uint64_t key, uint64_t docs, const struct ps_agg_member *s,
                        size_t n)
{
    struct collect *c = ctx;
    size_t first = SIZE_MAX;

    (void)key;
    if (docs < c->min_docs)
        return;
    for (size_t i = 0; i < n; i++) {
        size_t m = index_of(c, s[i].shard, s[i].offset), root;
        if (m == SIZE_MAX)
            continue;
        if (first == SIZE_MAX)
            first = m;
        root = find(c->v, first);
        if (find(c->v, m) != root) {
            uint64_t size = c->v[find(c->v, m)].size;
            c->v[find(c->v, m)].parent = root;
            c->v[root].size = size > c->v[root].size ? size : c->v[root].size;
        }
    }
    if (first != SIZE_MAX && docs > c->v[find(c->v, first)].size)
        c->v[find(c->v, first)].size = docs;
}

struct cluster {
    size_t root, first, n; /* members order[first .. first + n) */
    size_t lead;           /* its first member in (shard, offset) order: order[first] */
    uint64_t size;
};

static int cmp_pair(const void *a, const void *b)
{
    const size_t *x = a, *y = b;

    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static int cmp_cluster(const void *a, const void *b)
{
    const struct cluster *x = a, *y = b;

    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    /* not `first`: the roots, by which the members are grouped, depend on the keys' order */
    return (x->lead > y->lead) - (x->lead < y->lead);
}

static void append_cluster(struct ps_buf *json, const struct collect *c, const size_t *order,
                           const struct cluster *cl, const struct ps_plan *plan,
                           ps_clusters_trigger_fn trigger_of, void *ctx, bool comma)
{
    const struct member *rep = &c->v[order[cl->first]];
    const char *path, *best = NULL, *seen[8];
    size_t shards = 0, counts[8] = {0}, n_seen = 0, best_n = 0;

    /* the first member with a snippet: each key keeps the snippet of its first member only */
    for (size_t k = 0; k < cl->n; k++)
        if (c->v[order[cl->first + k]].snippet_len > 0) {
            rep = &c->v[order[cl->first + k]];
            break;
        }
    path = ps_plan_shard(plan, rep->shard)->path;

    for (size_t k = 0; k < cl->n; k++)
        shards +=
            k == 0 || c->v[order[cl->first + k]].shard != c->v[order[cl->first + k - 1]].shard;
    ps_buf_addf(json,
                "%s{\"size\":%" PRIu64 ",\"shards\":%zu,\"paragraphs\":%" PRIu64
                ",\"representative\":{\"id\":",
                comma ? "," : "", cl->size, shards, cl->size);
    ps_json_append_string(json, rep->id, rep->id_len);
    ps_buf_adds(json, ",\"file\":");
    ps_json_append_string(json, path, strlen(path));
    ps_buf_addf(json, ",\"offset\":%" PRIu64 ",\"snippet\":", rep->offset);
    ps_json_append_string(json, rep->snippet, rep->snippet_len);
    ps_buf_addf(json, "},\"members_total\":%" PRIu64 ",\"members\":[", cl->size);
    for (size_t k = 0; k < cl->n; k++) {
        const struct member *m = &c->v[order[cl->first + k]];
        const char *t;
        size_t i;

        ps_buf_adds(json, k ? "," : "");
        ps_json_append_string(json, m->id, m->id_len);
        t = trigger_of != NULL ? trigger_of(ctx, m->shard, m->offset) : NULL;
        for (i = 0; t != NULL && i < n_seen && seen[i] != t; i++)
            ;
        if (t == NULL || (i == n_seen && n_seen == 8))
            continue; /* more than 8 triggers in one cluster: none is its finding */
        if (i == n_seen)
            seen[n_seen++] = t;
        if (++counts[i] > best_n) {
            best_n = counts[i];
            best = t;
        }
    }
    ps_buf_adds(json, "]");
    if (best != NULL && best_n * 2 >= cl->n) {
        ps_buf_adds(json, ",\"trigger\":");
        ps_json_append_string(json, best, strlen(best));
        ps_buf_addf(json, ",\"members_flagged\":%" PRIu64, (cl->size * best_n + cl->n / 2) / cl->n);
    }
    ps_buf_adds(json, "}");
}

void ps_clusters_report(const struct ps_aggset *a, const struct ps_plan *plan, uint64_t min_docs,
                        size_t max_clusters, ps_clusters_trigger_fn trigger_of, void *trigger_ctx,
                        struct ps_buf *json, size_t *n_clusters)
{
    struct collect c = {min_docs, NULL, 0, 0};
    size_t *order, n_cl = 0, kept = 0;
    struct cluster *cl;

    ps_aggset_each_cluster_key(a, on_key_collect, &c);
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), cmp_member);
    /* a member sampled by several keys is one member, with the snippet one of them kept (keys
     * come in the order of the aggregate's history, which the collector's merge order sets) */
    for (size_t i = 0; i < c.n; i++) {
        struct member *last = kept > 0 ? &c.v[kept - 1] : NULL;

        if (last == NULL || cmp_member(last, &c.v[i]) != 0) {
            c.v[kept++] = c.v[i];
        } else if (last->snippet_len == 0 && c.v[i].snippet_len > 0) {
            last->snippet = c.v[i].snippet;
            last->snippet_len = c.v[i].snippet_len;
        }
    }
    c.n = kept;
    for (size_t i = 0; i < c.n; i++)
        c.v[i].parent = i;
    ps_aggset_each_cluster_key(a, on_key_join, &c);
    /* members grouped by root, in (shard, offset) order inside a group: sort (root, index) */
    order = ps_xmalloc((2 * c.n + 2) * sizeof(*order));
    cl = ps_xmalloc((c.n + 1) * sizeof(*cl));
    for (size_t i = 0; i < c.n; i++) {
        order[2 * i] = find(c.v, i);
        order[2 * i + 1] = i;
    }
    if (c.n > 1)
        qsort(order, c.n, 2 * sizeof(*order), cmp_pair);
    for (size_t i = 0, prev = SIZE_MAX; i < c.n; i++) {
        size_t root = order[2 * i];
        if (root != prev)
            cl[n_cl++] = (struct cluster){root, i, 0, order[2 * i + 1], c.v[root].size};
        cl[n_cl - 1].n++;
        prev = root;
        order[i] = order[2 * i + 1]; /* compact in place: slot i was read at step i / 2 */
    }
    /* no key of a cluster of near duplicates need hold all of it: the sampled members say at
     * least as much */
    for (size_t j = 0; j < n_cl; j++)
        if (cl[j].n > cl[j].size)
            cl[j].size = cl[j].n;
    if (n_cl > 1)
        qsort(cl, n_cl, sizeof(*cl), cmp_cluster);
    ps_buf_adds(json, "\"clusters\":[");
    for (size_t j = 0; j < n_cl && j < max_clusters; j++)
        append_cluster(json, &c, order, &cl[j], plan, trigger_of, trigger_ctx, j > 0);
    ps_buf_addf(json, "],\"clusters_total\":%zu", n_cl);
    *n_clusters = n_cl;
    free(order);
    free(cl);
    free(c.v);
}
