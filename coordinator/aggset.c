/* aggset.c - the partitions of one pass's aggregate, seen as one. */
#include "coordinator/aggset.h"

#include <stdlib.h>
#include <string.h>

#include "common/clsketch.h"
#include "common/pass.h"

size_t ps_aggset_part_patterns(unsigned pass, size_t n_patterns, unsigned q, unsigned n)
{
    if (pass == PS_PASS_LIST)
        return n_patterns;
    return ps_partition_n_patterns(n_patterns, q, n);
}

void ps_aggset_init(struct ps_aggset *s, unsigned pass, unsigned n, size_t n_patterns)
{
    memset(s, 0, sizeof(*s));
    s->pass = pass;
    s->n = n;
    s->n_patterns = n_patterns;
}

void ps_aggset_release(struct ps_aggset *s)
{
    for (unsigned q = 0; q < s->n; q++)
        ps_agg_free(s->part[q]);
    free(s->sketch);
    free(s->hits);
    memset(s, 0, sizeof(*s));
}

static int cmp_hit(const void *a, const void *b)
{
    const struct ps_agg_hit *x = *(const struct ps_agg_hit *const *)a;
    const struct ps_agg_hit *y = *(const struct ps_agg_hit *const *)b;

    if (x->shard != y->shard)
        return x->shard < y->shard ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

void ps_aggset_finish(struct ps_aggset *s, size_t cells_per_row)
{
    size_t k = 0;

    memset(&s->totals, 0, sizeof(s->totals));
    s->n_hits = 0;
    for (unsigned q = 0; q < s->n; q++) {
        const struct ps_results_totals *t;
        ps_agg_finish(s->part[q]);
        t = ps_agg_totals(s->part[q]);
        s->totals.docs += t->docs;
        s->totals.bytes += t->bytes;
        s->totals.text_bytes += t->text_bytes;
        s->totals.errors += t->errors;
        s->totals.lines_blank += t->lines_blank;
        s->n_hits += ps_agg_n_hits(s->part[q]);
    }
    free(s->hits);
    s->hits = ps_xmalloc((s->n_hits + 1) * sizeof(*s->hits));
    for (unsigned q = 0; q < s->n; q++)
        for (size_t i = 0; i < ps_agg_n_hits(s->part[q]); i++)
            s->hits[k++] = ps_agg_hit(s->part[q], i);
    if (s->n_hits > 1)
        qsort(s->hits, s->n_hits, sizeof(*s->hits), cmp_hit);
    free(s->sketch);
    s->sketch = NULL;
    if (cells_per_row == 0 || ps_agg_sketch(s->part[0]) == NULL)
        return;
    s->sketch = ps_xmalloc(PS_CLSKETCH_ROWS * cells_per_row);
    for (unsigned q = 0; q < s->n; q++) {
        size_t run = ps_partition_cells(cells_per_row, s->n);
        const uint8_t *part = ps_agg_sketch(s->part[q]);
        for (unsigned r = 0; r < PS_CLSKETCH_ROWS; r++)
            memcpy(s->sketch + r * cells_per_row + q * run, part + r * run, run);
    }
}

void ps_aggset_each_pattern(const struct ps_aggset *s, ps_agg_pattern_fn fn, void *ctx)
{
    for (unsigned q = 0; q < s->n; q++)
        ps_agg_each_pattern(s->part[q], fn, ctx);
}

void ps_aggset_pattern_counts(const struct ps_aggset *s, uint64_t hash, uint64_t *docs,
                              uint64_t *shards)
{
    ps_agg_pattern_counts(s->part[ps_partition_of_hash(hash, s->n)], hash, docs, shards);
}

const struct ps_agg_count *ps_aggset_count(const struct ps_aggset *s, size_t pattern)
{
    return ps_agg_count(s->part[ps_partition_of_pattern(pattern, s->n)],
                        ps_partition_local(pattern, s->n));
}

void ps_aggset_samples(const struct ps_aggset *s, size_t pattern,
                       const struct ps_results_entry **entries, size_t *n)
{
    ps_agg_samples(s->part[ps_partition_of_pattern(pattern, s->n)],
                   ps_partition_local(pattern, s->n), entries, n);
}

bool ps_aggset_pattern_shards(const struct ps_aggset *s, size_t pattern, bool role,
                              const uint32_t **ids, size_t *n)
{
    return ps_agg_pattern_shards(s->part[ps_partition_of_pattern(pattern, s->n)],
                                 ps_partition_local(pattern, s->n), role, ids, n);
}

void ps_aggset_each_cluster_key(const struct ps_aggset *s, ps_agg_key_fn fn, void *ctx)
{
    for (unsigned q = 0; q < s->n; q++)
        ps_agg_each_cluster_key(s->part[q], fn, ctx);
}

const struct ps_agg *ps_aggset_errors(const struct ps_aggset *s)
{
    return s->part[0];
}

void ps_aggset_drop_samples(struct ps_aggset *s, const bool *keep)
{
    bool *local = ps_xcalloc(s->n_patterns / s->n + 2, sizeof(*local));

    for (unsigned q = 0; q < s->n; q++) {
        size_t n = ps_partition_n_patterns(s->n_patterns, q, s->n);
        for (size_t j = 0; j < n; j++)
            local[j] = keep[j * s->n + q];
        ps_agg_drop_samples(s->part[q], local);
    }
    free(local);
}

void ps_aggset_reduce(struct ps_aggset *s, const uint64_t *keep, size_t n_keep)
{
    uint64_t *mine = ps_xmalloc((n_keep + 1) * sizeof(*mine));

    for (unsigned q = 0; q < s->n; q++) {
        size_t m = 0;
        for (size_t i = 0; i < n_keep; i++)
            if (ps_partition_of_hash(keep[i], s->n) == q)
                mine[m++] = keep[i];
        ps_agg_reduce(s->part[q], mine, m);
    }
    free(mine);
}
