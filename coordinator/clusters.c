/* clusters.c - merge of the cluster sketches and grouping of members (docs/minhash.md,
 * "Clusters"). Counts saturate instead of wrapping; members are joined with a union-find over
 * the paragraphs that share a band key held by enough documents. */
#include "coordinator/clusters.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/clsketch.h"
#include "common/json.h"

struct merge_ctx {
    size_t cells; /* per row */
    uint32_t *sum;
    uint8_t *raw;
    enum ps_err err;
    struct ps_errdetail *ed;
};

static enum ps_err add_sketch(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct merge_ctx *m = ctx;
    size_t want = PS_CLSKETCH_ROWS * m->cells;
    size_t n = ZSTD_decompress(m->raw, want, v, vl);

    if (ZSTD_isError(n)) {
        ps_errdetail_set(m->ed, NULL, 0, "cluster sketch of shard %.*s: %s", (int)fl, f,
                         ZSTD_getErrorName(n));
        return PS_ERR_ZSTD;
    }
    if (n != want) {
        ps_errdetail_set(m->ed, NULL, 0, "cluster sketch of shard %.*s has %zu cells, not %zu",
                         (int)fl, f, n, want);
        return PS_ERR_PROTO;
    }
    for (size_t i = 0; i < want; i++)
        m->sum[i] += m->raw[i];
    return PS_OK;
}

enum ps_err ps_clusters_merge(struct ps_store *s, const char *job, unsigned log2, uint64_t min_docs,
                              size_t max_heavy, uint64_t *threshold, size_t *n_heavy,
                              struct ps_errdetail *ed)
{
    struct merge_ctx m = {0};
    size_t cells = (size_t)1 << log2, total = PS_CLSKETCH_ROWS * cells, hist[257] = {0};
    uint64_t t = min_docs;
    uint8_t *bitmap;
    char key[256];
    enum ps_err err;

    m.cells = cells;
    m.sum = ps_xcalloc(total, sizeof(*m.sum));
    m.raw = ps_xmalloc(total);
    m.ed = ed;
    ps_store_key(key, sizeof(key), job, PS_KEY_CLUSTER_SKETCH);
    err = ps_store_hscan(s, key, add_sketch, &m, ed);
    free(m.raw);
    if (err != PS_OK) {
        free(m.sum);
        return err;
    }
    /* raise the bar until row 0 holds at most max_heavy heavy cells; counts above 255 are
     * lumped together, past which the sketch says little anyway */
    for (size_t i = 0; i < cells; i++)
        hist[m.sum[i] > 256 ? 256 : m.sum[i]]++;
    for (;;) {
        size_t above = 0;
        for (uint64_t v = t < 256 ? t : 256; v <= 256; v++)
            above += hist[v];
        if (above <= max_heavy || t >= 256)
            break;
        t++;
    }
    bitmap = ps_xcalloc(total / 8, 1);
    *n_heavy = 0;
    for (size_t i = 0; i < total; i++) {
        if (m.sum[i] < t)
            continue;
        bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
        *n_heavy += i < cells;
    }
    free(m.sum);
    *threshold = t;
    ps_store_key(key, sizeof(key), job, PS_KEY_CLUSTER_HEAVY);
    {
        const char *argv[3] = {"SET", key, (const char *)bitmap};
        size_t lens[3] = {3, strlen(key), total / 8};
        err = ps_store_argv(s, 3, argv, lens, NULL, ed);
    }
    free(bitmap);
    return err;
}

/* ---- report ---- */

struct member {
    char *line;       /* owned */
    const char *keys; /* views into line */
    uint32_t shard;
    uint64_t offset;
    const char *file_json, *id_json, *snippet_json;
    size_t parent; /* union-find */
};

struct pair {
    uint64_t key;
    size_t member;
};

struct report_ctx {
    struct member *v;
    size_t n, cap;
};

static enum ps_err collect_member(void *ctx, const char *v, size_t vl)
{
    struct report_ctx *r = ctx;
    struct member m = {0};
    char *f[6];

    m.line = ps_xstrndup(v, vl);
    if (ps_store_split_fields(m.line, f, 6) != 6) {
        free(m.line);
        return PS_OK;
    }
    m.keys = f[0];
    m.shard = (uint32_t)strtoul(f[1], NULL, 10);
    m.offset = strtoull(f[2], NULL, 10);
    m.file_json = f[3];
    m.id_json = f[4];
    m.snippet_json = f[5];
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = ps_xrealloc(r->v, r->cap * sizeof(*r->v));
    }
    m.parent = r->n;
    r->v[r->n++] = m;
    return PS_OK;
}

static size_t find(struct member *v, size_t i)
{
    while (v[i].parent != i) {
        v[i].parent = v[v[i].parent].parent;
        i = v[i].parent;
    }
    return i;
}

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->member > y->member) - (x->member < y->member);
}

static const struct member *g_members; /* for qsort comparators over indices */

static int cmp_doc(size_t a, size_t b)
{
    const struct member *x = &g_members[a], *y = &g_members[b];
    int c = strcmp(x->file_json, y->file_json);

    if (c != 0)
        return c;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* members ordered by component, then by document (file, offset) */
static int cmp_by_root_doc(const void *a, const void *b)
{
    const size_t *x = a, *y = b;

    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return cmp_doc(x[1], y[1]);
}

struct cluster {
    size_t first, end; /* range in the sorted (root, member) array */
    size_t docs, shards;
};

static size_t *g_order;

static int cmp_cluster(const void *a, const void *b)
{
    const struct cluster *x = a, *y = b;

    if (x->docs != y->docs)
        return x->docs > y->docs ? -1 : 1;
    return cmp_doc(g_order[2 * x->first + 1], g_order[2 * y->first + 1]);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

/* The trigger that flagged most of the documents of cluster c (members order[2k+1] for k in
 * [first, end), adjacent when equal), if it flagged at least half of them; *n_flagged its count. */
static const char *cluster_trigger(const struct report_ctx *r, const size_t *order, size_t first,
                                   size_t end, size_t docs, ps_clusters_trigger_fn trigger_of,
                                   void *ctx, size_t *n_flagged)
{
    const char *best = NULL, *seen[8];
    size_t counts[8] = {0}, n_seen = 0, best_n = 0;

    for (size_t k = first; k < end; k++) {
        const struct member *m = &r->v[order[2 * k + 1]];
        const char *t;
        size_t i;

        if (k > first && cmp_doc(order[2 * k + 1], order[2 * k - 1]) == 0)
            continue;
        t = trigger_of(ctx, m->file_json, m->offset);
        if (t == NULL)
            continue;
        for (i = 0; i < n_seen && seen[i] != t; i++)
            ;
        if (i == n_seen) {
            if (n_seen == 8)
                continue; /* more than 8 triggers in one cluster: none is its finding */
            seen[n_seen++] = t;
        }
        if (++counts[i] > best_n) {
            best_n = counts[i];
            best = t;
        }
    }
    *n_flagged = best_n;
    return best_n * 2 >= docs ? best : NULL;
}

enum ps_err ps_clusters_report(struct ps_store *s, const char *job, uint64_t min_docs,
                               size_t max_clusters, size_t max_members,
                               ps_clusters_trigger_fn trigger_of, void *trigger_ctx,
                               struct ps_buf *json, size_t *n_clusters, struct ps_errdetail *ed)
{
    struct report_ctx r = {0};
    struct pair *pairs = NULL;
    size_t n_pairs = 0, cap_pairs = 0, *order = NULL, n_cl = 0, listed = 0;
    struct cluster *cl = NULL;
    uint32_t *shards = NULL;
    char key[256];
    enum ps_err err;

    *n_clusters = 0;
    ps_store_key(key, sizeof(key), job, PS_KEY_CLUSTER_MEMBERS);
    err = ps_store_lscan(s, key, collect_member, &r, ed);
    if (err != PS_OK)
        goto done;
    for (size_t i = 0; i < r.n; i++) {
        for (const char *p = r.v[i].keys; *p;) {
            if (n_pairs == cap_pairs) {
                cap_pairs = cap_pairs ? cap_pairs * 2 : 1024;
                pairs = ps_xrealloc(pairs, cap_pairs * sizeof(*pairs));
            }
            pairs[n_pairs].key = strtoull(p, NULL, 16);
            pairs[n_pairs++].member = i;
            p += strcspn(p, ",");
            p += *p == ',';
        }
    }
    if (n_pairs > 1)
        qsort(pairs, n_pairs, sizeof(*pairs), cmp_pair);
    g_members = r.v;
    /* a band key joins its paragraphs when enough documents hold it: counted as distinct
     * documents, since a document may repeat a paragraph */
    for (size_t a = 0, b; a < n_pairs; a = b) {
        size_t docs = 1;
        for (b = a + 1; b < n_pairs && pairs[b].key == pairs[a].key; b++)
            docs += cmp_doc(pairs[b].member, pairs[b - 1].member) != 0;
        if (docs < min_docs)
            continue;
        for (size_t k = a + 1; k < b; k++) {
            size_t x = find(r.v, pairs[a].member), y = find(r.v, pairs[k].member);
            if (x != y)
                r.v[x].parent = y;
        }
    }
    order = ps_xmalloc((2 * r.n + 2) * sizeof(*order));
    for (size_t i = 0; i < r.n; i++) {
        order[2 * i] = find(r.v, i);
        order[2 * i + 1] = i;
    }
    if (r.n > 1)
        qsort(order, r.n, 2 * sizeof(*order), cmp_by_root_doc);
    cl = ps_xmalloc((r.n + 1) * sizeof(*cl));
    shards = ps_xmalloc((r.n + 1) * sizeof(*shards));
    for (size_t a = 0, b; a < r.n; a = b) {
        size_t docs = 1, ns = 0;
        for (b = a + 1; b < r.n && order[2 * b] == order[2 * a]; b++)
            docs += cmp_doc(order[2 * b + 1], order[2 * b - 1]) != 0;
        if (docs < min_docs)
            continue;
        for (size_t k = a; k < b; k++)
            shards[k - a] = r.v[order[2 * k + 1]].shard;
        qsort(shards, b - a, sizeof(*shards), cmp_u32);
        for (size_t k = 0; k < b - a; k++)
            ns += k == 0 || shards[k] != shards[k - 1];
        cl[n_cl++] = (struct cluster){a, b, docs, ns};
    }
    g_order = order;
    if (n_cl > 1)
        qsort(cl, n_cl, sizeof(*cl), cmp_cluster);
    ps_buf_appends(json, "\"clusters\":[");
    for (size_t c = 0; c < n_cl && listed < max_clusters; c++, listed++) {
        const struct member *rep = &r.v[order[2 * cl[c].first + 1]];
        size_t shown = 0;

        ps_buf_appendf(json,
                       "%s{\"size\":%zu,\"shards\":%zu,\"paragraphs\":%zu,\"representative\":"
                       "{\"id\":%s,\"file\":%s,\"offset\":%" PRIu64 ",\"snippet\":%s},"
                       "\"members_total\":%zu,\"members\":[",
                       c ? "," : "", cl[c].docs, cl[c].shards, cl[c].end - cl[c].first,
                       rep->id_json, rep->file_json, rep->offset, rep->snippet_json, cl[c].docs);
        for (size_t k = cl[c].first; k < cl[c].end && shown < max_members; k++) {
            if (k > cl[c].first && cmp_doc(order[2 * k + 1], order[2 * k - 1]) == 0)
                continue;
            ps_buf_appendf(json, "%s%s", shown ? "," : "", r.v[order[2 * k + 1]].id_json);
            shown++;
        }
        ps_buf_appends(json, "]");
        if (trigger_of != NULL) {
            size_t n_flagged;
            const char *t = cluster_trigger(&r, order, cl[c].first, cl[c].end, cl[c].docs,
                                            trigger_of, trigger_ctx, &n_flagged);

            if (t != NULL) {
                ps_buf_appends(json, ",\"trigger\":");
                ps_json_append_string(json, t, strlen(t));
                ps_buf_appendf(json, ",\"members_flagged\":%zu", n_flagged);
            }
        }
        ps_buf_appends(json, "}");
    }
    ps_buf_appendf(json, "],\"clusters_total\":%zu", n_cl);
    *n_clusters = n_cl;
done:
    for (size_t i = 0; i < r.n; i++)
        free(r.v[i].line);
    free(r.v);
    free(pairs);
    free(order);
    free(cl);
    free(shards);
    return err;
}
