/* aggregate.c - merging blobs into a pass's state, exactly once per shard, and the checkpoint
 * record around the state: "PSAG", a version, the pass, the shard and pattern counts, the
 * merged-shard bitmap, the totals, then the pass's state (agg_*.c); zstd-compressed whole,
 * since sketches and bitmaps are mostly small numbers. */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/pass.h"
#include "coordinator/aggregate_internal.h"

#define CHECKPOINT_VERSION 5
#define CHECKPOINT_LEVEL   1 /* zstd: fast; the state is written every few MB of blobs */

static const char magic[4] = {'P', 'S', 'A', 'G'};

struct ps_agg_opts ps_agg_opts_default(void)
{
    struct ps_agg_opts o;

    memset(&o, 0, sizeof(o));
    o.keep_text_docs = 3;
    o.lead_keep_docs = 5;
    o.assoc_admit_docs = 5;
    o.max_errors_listed = 1000;
    o.max_members = 32;
    o.max_sample = PS_RESULTS_SAMPLE_KEEP;
    return o;
}

void ps_agg_new(struct ps_agg **out, const struct ps_agg_opts *o)
{
    struct ps_agg *a = ps_xcalloc(1, sizeof(*a));

    a->o = *o;
    a->n_shards = o->n_shards;
    a->merged = ps_xcalloc(a->n_shards / 8 + 1, 1);
    switch (o->pass) {
    case PS_PASS_SCAN:
        a->scan = agg_scan_new(o);
        break;
    case PS_PASS_CONFIRM:
    case PS_PASS_LEADS:
        a->confirm = agg_confirm_new(o, a->n_shards);
        break;
    case PS_PASS_LIST:
    case PS_PASS_ATTRS: /* totals only: a list without patterns */
        a->list = agg_list_new(o->n_patterns);
        break;
    default:
        ps_bug("aggregate for pass %u", o->pass);
    }
    *out = a;
}

void ps_agg_free(struct ps_agg *a)
{
    if (a == NULL)
        return;
    agg_scan_free(a->scan);
    agg_confirm_free(a->confirm);
    agg_list_free(a->list);
    free(a->merged);
    free(a);
}

static const struct ps_results_visitor *visitor_of(const struct ps_agg *a)
{
    if (a->scan != NULL)
        return &agg_scan_visitor;
    if (a->confirm != NULL)
        return &agg_confirm_visitor;
    return &agg_list_visitor;
}

bool ps_agg_merged(const struct ps_agg *a, uint32_t shard)
{
    return shard < a->n_shards && (a->merged[shard / 8] >> (shard % 8) & 1);
}

size_t ps_agg_n_merged(const struct ps_agg *a)
{
    return a->n_merged;
}

/* Decompress each part into plain[i] and check it whole (pass, shard, part, partition): the
 * shard's id into *shard. */
static enum ps_err check_parts(const struct ps_agg *a, const void *const *parts, const size_t *lens,
                               size_t n_parts, struct ps_buf *plain, uint32_t *shard,
                               struct ps_errdetail *ed)
{
    struct ps_results_limits lim = ps_results_limits_default();
    static const struct ps_results_visitor check;
    struct ps_results_header h;

    for (size_t i = 0; i < n_parts; i++) {
        enum ps_err err = ps_results_inflate(parts[i], lens[i], &plain[i], ed);
        if (err == PS_OK)
            err = ps_results_decode(plain[i].data, plain[i].len, &lim, &check, NULL, &h, ed);
        if (err != PS_OK)
            return err;
        if (i == 0)
            *shard = h.shard;
        if (h.pass != a->o.pass || h.shard >= a->n_shards || h.shard != *shard || h.part != i ||
            h.partition != a->o.partition) {
            ps_errdetail_set(ed, NULL, 0,
                             "results blob of pass %u shard %u part %u partition %u, where pass %u "
                             "of %zu shards, shard %u part %zu partition %u was due",
                             h.pass, h.shard, h.part, h.partition, a->o.pass, a->n_shards, *shard,
                             i, a->o.partition);
            return PS_ERR_PROTO;
        }
    }
    return PS_OK;
}

enum ps_err ps_agg_merge(struct ps_agg *a, const void *const *parts, const size_t *lens,
                         size_t n_parts, bool *merged, struct ps_errdetail *ed)
{
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_buf *plain;
    uint32_t shard = 0;
    enum ps_err err;

    *merged = false;
    if (n_parts == 0) {
        ps_errdetail_set(ed, NULL, 0, "a shard without results");
        return PS_ERR_PROTO;
    }
    /* every part checked whole before anything is merged: a bad blob changes nothing; the
     * check and the merge read the parts decompressed once */
    plain = ps_xmalloc(n_parts * sizeof(*plain));
    for (size_t i = 0; i < n_parts; i++)
        ps_buf_init(&plain[i], PS_BUF_NO_LIMIT);
    err = check_parts(a, parts, lens, n_parts, plain, &shard, ed);
    if (err == PS_OK && !ps_agg_merged(a, shard)) {
        a->cur_shard = shard;
        for (size_t i = 0; i < n_parts && err == PS_OK; i++)
            err = ps_results_decode(plain[i].data, plain[i].len, &lim, visitor_of(a), a, NULL, ed);
        if (err != PS_OK) {
            /* only a pattern index past the list or a sketch of the wrong shape get here; a
             * worker of this build never sends them, so the shard is lost rather than undone */
            ps_errdetail_set(ed, NULL, 0, "results blob of shard %u does not fit this job (%s)",
                             shard, ps_strerror(err));
            err = PS_ERR_PROTO;
        } else {
            a->merged[shard / 8] |= (uint8_t)(1u << (shard % 8));
            a->n_merged++;
            *merged = true;
        }
    }
    for (size_t i = 0; i < n_parts; i++)
        ps_buf_release(&plain[i]);
    free(plain);
    return err;
}

enum ps_err ps_agg_rebase(struct ps_agg *dst, const struct ps_agg *src, const uint32_t *shard_map,
                          const uint32_t *file_map, struct ps_errdetail *ed)
{
    if (src->scan == NULL || dst->scan == NULL || src->o.partition != dst->o.partition ||
        dst->n_merged != 0 || !agg_scan_fits(dst->scan, src->scan, file_map)) {
        ps_errdetail_set(ed, NULL, 0,
                         "the base's scan counts do not fit this job (partition, sketch size)");
        return PS_ERR_USAGE;
    }
    for (size_t s = 0; s < src->n_shards; s++)
        if (ps_agg_merged(src, (uint32_t)s) && shard_map[s] >= dst->n_shards) {
            ps_errdetail_set(ed, NULL, 0, "the base's shard %zu is not in this plan", s);
            return PS_ERR_USAGE;
        }
    for (size_t s = 0; s < src->n_shards; s++) {
        uint32_t t = shard_map[s];
        if (!ps_agg_merged(src, (uint32_t)s) || ps_agg_merged(dst, t))
            continue;
        dst->merged[t / 8] |= (uint8_t)(1u << (t % 8));
        dst->n_merged++;
    }
    dst->totals = src->totals;
    agg_scan_rebase(dst->scan, src->scan, file_map);
    return PS_OK;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return (a > b) - (a < b);
}

void ps_agg_reduce(struct ps_agg *a, const uint64_t *keep, size_t n_keep)
{
    uint64_t *sorted = ps_xmalloc((n_keep + 1) * sizeof(*sorted));

    if (n_keep > 0)
        memcpy(sorted, keep, n_keep * sizeof(*sorted));
    if (n_keep > 1)
        qsort(sorted, n_keep, sizeof(*sorted), cmp_u64);
    if (a->scan != NULL) {
        agg_scan_reduce(a->scan, sorted, n_keep);
        a->o.sketch_cells = 0;
    }
    if (a->confirm != NULL)
        agg_confirm_reduce(a->confirm, sorted, n_keep);
    free(sorted);
}

void ps_agg_finish(struct ps_agg *a)
{
    if (a->scan != NULL)
        agg_scan_finish(a->scan);
    if (a->list != NULL)
        agg_list_finish(a->list);
}

/* ---- checkpoint ---- */

uint64_t agg_get(struct agg_rd *r)
{
    uint64_t v = 0;
    const unsigned char *q = r->bad ? NULL : ps_varint_get(r->p, r->end, &v);

    if (q == NULL) {
        r->bad = true;
        return 0;
    }
    r->p = q;
    return v;
}

uint64_t agg_get_u64le(struct agg_rd *r)
{
    uint64_t v = 0;
    const unsigned char *q = r->bad ? NULL : ps_varint_get_u64le(r->p, r->end, &v);

    if (q == NULL) {
        r->bad = true;
        return 0;
    }
    r->p = q;
    return v;
}

const char *agg_get_bytes(struct agg_rd *r, size_t *len, size_t max)
{
    uint64_t n = agg_get(r);
    const char *s = (const char *)r->p;

    if (r->bad || n > max || n > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        *len = 0;
        return "";
    }
    r->p += n;
    *len = (size_t)n;
    return s;
}

enum ps_err agg_add_totals(void *ctx, const struct ps_results_totals *t)
{
    struct ps_agg *a = ctx;

    a->totals.docs += t->docs;
    a->totals.bytes += t->bytes;
    a->totals.text_bytes += t->text_bytes;
    a->totals.errors += t->errors;
    a->totals.lines_blank += t->lines_blank;
    return PS_OK;
}

void agg_put_bytes(struct ps_buf *b, const void *src, size_t len)
{
    ps_varint_put(b, len);
    ps_buf_add(b, src, len);
}

enum ps_err ps_agg_save(const struct ps_agg *a, struct ps_buf *out, struct ps_errdetail *ed)
{
    struct ps_buf raw;
    size_t bound, n;

    ps_buf_init(&raw, PS_BUF_NO_LIMIT);
    ps_buf_add(&raw, magic, sizeof(magic));
    ps_varint_put(&raw, CHECKPOINT_VERSION);
    ps_varint_put(&raw, a->o.pass);
    ps_varint_put(&raw, a->o.partition);
    ps_varint_put(&raw, a->n_shards);
    ps_varint_put(&raw, a->o.n_patterns);
    ps_buf_add(&raw, a->merged, a->n_shards / 8 + 1);
    ps_varint_put(&raw, a->totals.docs);
    ps_varint_put(&raw, a->totals.bytes);
    ps_varint_put(&raw, a->totals.text_bytes);
    ps_varint_put(&raw, a->totals.errors);
    ps_varint_put(&raw, a->totals.lines_blank);
    if (a->scan != NULL)
        agg_scan_save(a->scan, &raw);
    else if (a->confirm != NULL)
        agg_confirm_save(a->confirm, &raw);
    else
        agg_list_save(a->list, &raw);
    bound = ZSTD_compressBound(raw.len);
    if (ps_buf_reserve(out, bound + 1) != PS_OK) {
        ps_buf_release(&raw);
        ps_errdetail_set(ed, NULL, 0, "checkpoint of %zu bytes is too big", raw.len);
        return PS_ERR_LIMIT;
    }
    n = ZSTD_compress(out->data + out->len, bound, raw.data, raw.len, CHECKPOINT_LEVEL);
    ps_buf_release(&raw);
    if (ZSTD_isError(n)) {
        ps_errdetail_set(ed, NULL, 0, "checkpoint: %s", ZSTD_getErrorName(n));
        return PS_ERR_ZSTD;
    }
    out->len += n;
    out->data[out->len] = '\0';
    return PS_OK;
}

static bool load_header(struct ps_agg *a, struct agg_rd *r)
{
    size_t nb = a->n_shards / 8 + 1;

    if (r->end - r->p < 4 || memcmp(r->p, magic, 4) != 0)
        return false;
    r->p += 4;
    if (agg_get(r) != CHECKPOINT_VERSION || agg_get(r) != a->o.pass ||
        agg_get(r) != a->o.partition || agg_get(r) != a->n_shards ||
        agg_get(r) != a->o.n_patterns || r->bad || (size_t)(r->end - r->p) < nb)
        return false;
    memcpy(a->merged, r->p, nb);
    r->p += nb;
    a->n_merged = 0;
    for (size_t i = 0; i < a->n_shards; i++)
        a->n_merged += a->merged[i / 8] >> (i % 8) & 1;
    a->totals.docs = agg_get(r);
    a->totals.bytes = agg_get(r);
    a->totals.text_bytes = agg_get(r);
    a->totals.errors = agg_get(r);
    a->totals.lines_blank = agg_get(r);
    return !r->bad;
}

enum ps_err ps_agg_load(struct ps_agg *a, const void *src, size_t src_len, struct ps_errdetail *ed)
{
    unsigned long long size = ZSTD_getFrameContentSize(src, src_len);
    struct agg_rd r;
    unsigned char *raw;
    size_t n;
    bool ok;

    /* the content size is in the frame header (ZSTD_compress writes it); refuse anything else
     * rather than guess, and cap it so that a forged header cannot ask for the moon */
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR ||
        size > (unsigned long long)1 << 36) {
        ps_errdetail_set(ed, NULL, 0, "checkpoint: not a zstd frame with its size");
        return PS_ERR_PROTO;
    }
    raw = ps_xmalloc((size_t)size + 1);
    n = ZSTD_decompress(raw, (size_t)size, src, src_len);
    if (ZSTD_isError(n) || n != size) {
        free(raw);
        ps_errdetail_set(ed, NULL, 0, "checkpoint: %s",
                         ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
        return PS_ERR_PROTO;
    }
    r.p = raw;
    r.end = raw + n;
    r.bad = false;
    memset(&a->totals, 0, sizeof(a->totals));
    ok = load_header(a, &r);
    if (ok && a->scan != NULL)
        ok = agg_scan_load(a->scan, &r);
    else if (ok && a->confirm != NULL)
        ok = agg_confirm_load(a->confirm, &r);
    else if (ok)
        ok = agg_list_load(a->list, &r, a->n_shards);
    ok = ok && !r.bad && r.p == r.end;
    free(raw);
    if (!ok) {
        ps_errdetail_set(ed, NULL, 0, "checkpoint of pass %u is malformed or of another job",
                         a->o.pass);
        return PS_ERR_PROTO;
    }
    return PS_OK;
}

size_t ps_agg_footprint(const struct ps_agg *a)
{
    size_t n = sizeof(*a) + a->n_shards / 8;

    if (a->scan != NULL)
        n += agg_scan_footprint(a->scan);
    if (a->confirm != NULL)
        n += agg_confirm_footprint(a->confirm);
    if (a->list != NULL)
        n += agg_list_footprint(a->list);
    return n;
}

/* ---- what a finished pass gives ---- */

const struct ps_results_totals *ps_agg_totals(const struct ps_agg *a)
{
    return &a->totals;
}

static const struct agg_table *patterns_of(const struct ps_agg *a)
{
    if (a->scan != NULL)
        return agg_scan_cands(a->scan);
    if (a->confirm != NULL)
        return agg_confirm_leads(a->confirm);
    return NULL;
}

void ps_agg_each_pattern(const struct ps_agg *a, ps_agg_pattern_fn fn, void *ctx)
{
    const struct agg_table *t = patterns_of(a);

    if (t != NULL)
        agg_table_each(t, fn, ctx);
}

void ps_agg_pattern_counts(const struct ps_agg *a, uint64_t hash, uint64_t *docs, uint64_t *shards)
{
    const struct agg_table *t = patterns_of(a);
    const struct agg_entry *e = t != NULL ? agg_table_find(t, hash) : NULL;

    *docs = e != NULL ? e->docs : 0;
    *shards = e != NULL ? e->shards : 0;
}

size_t ps_agg_n_hits(const struct ps_agg *a)
{
    return a->list != NULL ? agg_list_n(a->list) : 0;
}

const struct ps_agg_hit *ps_agg_hit(const struct ps_agg *a, size_t i)
{
    return agg_list_at(a->list, i);
}
