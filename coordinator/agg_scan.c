/* agg_scan.c - the scan pass's aggregate: candidate patterns (agg_table.c), the cluster sketch
 * (saturating 8-bit counters, summed as the shards arrive, common/clsketch.h), and the input
 * errors: a summary for every file with any (never capped, so one file's thousands of errors
 * cannot hide another damaged file) and the first errors by file and offset. */
#include <stdlib.h>
#include <string.h>

#include "common/assoc.h"
#include "common/clsketch.h"
#include "coordinator/aggregate_internal.h"

struct err_rec {
    size_t file;
    uint64_t offset;
    char *reason; /* owned */
};

struct file_sum {
    uint64_t count;
    uint64_t first_offset;
    char *first_reason; /* owned; NULL until an error record of the file arrives */
};

struct agg_scan {
    struct agg_table cands;
    uint8_t *sketch; /* ROWS * cells, NULL without clusters */
    size_t cells;
    size_t n_files;
    struct file_sum *files;
    struct err_rec *errs; /* kept errors, trimmed to the smallest max_errors_listed */
    size_t n_errs, cap_errs, max_errs;
    struct ps_agg_file_errors *file_view; /* for ps_agg_error_file */
    size_t n_file_view;
    struct ps_agg_error *err_view;
    uint64_t keep_text_docs;
    uint64_t assoc_admit_docs;
};

struct agg_scan *agg_scan_new(const struct ps_agg_opts *o)
{
    struct agg_scan *s = ps_xcalloc(1, sizeof(*s));

    if (o->assoc_gate_log2 != 0)
        agg_table_init_admit(&s->cands, o->assoc_gate_log2);
    else
        agg_table_init(&s->cands, 0);
    if (o->sketch_cells != 0) {
        s->cells = o->sketch_cells;
        s->sketch = ps_xcalloc(PS_CLSKETCH_ROWS * s->cells, 1);
    }
    s->n_files = o->n_files;
    s->files = ps_xcalloc(s->n_files + 1, sizeof(*s->files));
    s->max_errs = o->max_errors_listed;
    s->keep_text_docs = o->keep_text_docs;
    s->assoc_admit_docs = o->assoc_admit_docs;
    return s;
}

static void drop_errors(struct agg_scan *s)
{
    for (size_t i = 0; i < s->n_errs; i++)
        free(s->errs[i].reason);
    s->n_errs = 0;
    for (size_t i = 0; i < s->n_files; i++) {
        free(s->files[i].first_reason);
        memset(&s->files[i], 0, sizeof(s->files[i]));
    }
}

void agg_scan_free(struct agg_scan *s)
{
    if (s == NULL)
        return;
    drop_errors(s);
    agg_table_release(&s->cands);
    free(s->sketch);
    free(s->files);
    free(s->errs);
    free(s->file_view);
    free(s->err_view);
    free(s);
}

static int cmp_err(const void *a, const void *b)
{
    const struct err_rec *x = a, *y = b;

    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Keep the smallest max_errs by (file, offset): sort and cut when twice as many piled up. */
static void trim_errors(struct agg_scan *s)
{
    if (s->n_errs > 1)
        qsort(s->errs, s->n_errs, sizeof(*s->errs), cmp_err);
    while (s->n_errs > s->max_errs)
        free(s->errs[--s->n_errs].reason);
}

/* One error record kept in the list (trimmed to the first max_errs by file and offset). */
static void keep_error(struct agg_scan *s, size_t file, uint64_t offset, const char *reason,
                       size_t len)
{
    if (s->max_errs == 0)
        return;
    if (s->n_errs == s->cap_errs) {
        s->cap_errs = s->cap_errs ? s->cap_errs * 2 : 64;
        s->errs = ps_xrealloc(s->errs, s->cap_errs * sizeof(*s->errs));
    }
    s->errs[s->n_errs].file = file;
    s->errs[s->n_errs].offset = offset;
    s->errs[s->n_errs].reason = ps_xstrndup(reason, len);
    s->n_errs++;
    if (s->n_errs >= 2 * s->max_errs)
        trim_errors(s);
}

/* An error record from a worker: the file's first error so far, and the list. */
static void add_error(struct agg_scan *s, size_t file, uint64_t offset, const char *reason,
                      size_t len)
{
    struct file_sum *f = &s->files[file];

    if (f->first_reason == NULL || offset < f->first_offset) {
        free(f->first_reason);
        f->first_reason = ps_xstrndup(reason, len);
        f->first_offset = offset;
    }
    keep_error(s, file, offset, reason, len);
}

/* A file's error count comes from the parts' totals, not from the error records: a worker sends
 * at most max_errors_kept records a part, and a file of random bytes has thousands of errors. */
static enum ps_err on_totals(void *ctx, const struct ps_results_totals *t)
{
    struct ps_agg *a = ctx;
    uint32_t file = a->o.shard_file[a->cur_shard];

    if (file >= a->scan->n_files)
        ps_bug("shard %u in file %u of %zu", a->cur_shard, file, a->scan->n_files);
    a->scan->files[file].count += t->errors;
    return agg_add_totals(ctx, t);
}

static enum ps_err on_error(void *ctx, const struct ps_results_error *e)
{
    struct ps_agg *a = ctx;
    uint32_t file = a->o.shard_file[a->cur_shard];

    if (file >= a->scan->n_files)
        ps_bug("shard %u in file %u of %zu", a->cur_shard, file, a->scan->n_files);
    add_error(a->scan, file, e->offset, e->reason, e->reason_len);
    return PS_OK;
}

static enum ps_err on_cand(void *ctx, const struct ps_results_cand *c)
{
    struct ps_agg *a = ctx;
    struct agg_scan *s = a->scan;
    struct ps_assoc_parts e;

    if (s->cands.admits && ps_assoc_split(c->text, c->text_len, &e) && e.ngram_len > 0)
        agg_table_admit(&s->cands, c->hash, c->docs, c->text, c->text_len, s->assoc_admit_docs);
    else
        agg_table_add(&s->cands, c->hash, c->docs, c->text, c->text_len, s->keep_text_docs);
    return PS_OK;
}

static enum ps_err on_sketch(void *ctx, unsigned row, uint64_t cell, unsigned count)
{
    struct ps_agg *a = ctx;
    struct agg_scan *s = a->scan;
    uint8_t *v;
    unsigned sum;

    if (s->sketch == NULL)
        return PS_ERR_PROTO; /* a sketch in a job without clusters */
    if (cell >= s->cells)
        return PS_ERR_PROTO;
    v = &s->sketch[row * s->cells + cell];
    sum = *v + count;
    *v = (uint8_t)(sum > UINT8_MAX ? UINT8_MAX : sum);
    return PS_OK;
}

const struct ps_results_visitor agg_scan_visitor = {
    .totals = on_totals, .error = on_error, .cand = on_cand, .sketch = on_sketch};

void agg_scan_save(const struct agg_scan *s, struct ps_buf *out)
{
    agg_table_save(&s->cands, out);
    ps_varint_put(out, s->sketch ? PS_CLSKETCH_ROWS * s->cells : 0);
    if (s->sketch != NULL)
        ps_buf_add(out, s->sketch, PS_CLSKETCH_ROWS * s->cells);
    ps_varint_put(out, s->n_files);
    for (size_t i = 0; i < s->n_files; i++) {
        const struct file_sum *f = &s->files[i];
        ps_varint_put(out, f->count);
        if (f->count == 0)
            continue;
        ps_varint_put(out, f->first_offset);
        agg_put_bytes(out, f->first_reason ? f->first_reason : "",
                      f->first_reason ? strlen(f->first_reason) : 0);
    }
    ps_varint_put(out, s->n_errs);
    for (size_t i = 0; i < s->n_errs; i++) {
        ps_varint_put(out, s->errs[i].file);
        ps_varint_put(out, s->errs[i].offset);
        agg_put_bytes(out, s->errs[i].reason, strlen(s->errs[i].reason));
    }
}

bool agg_scan_load(struct agg_scan *s, struct agg_rd *r)
{
    uint64_t n;

    drop_errors(s);
    if (!agg_table_load(&s->cands, &r->p, r->end))
        return false;
    n = agg_get(r);
    if (r->bad || n != (s->sketch ? PS_CLSKETCH_ROWS * s->cells : 0) ||
        n > (uint64_t)(r->end - r->p))
        return false;
    if (n > 0)
        memcpy(s->sketch, r->p, (size_t)n);
    r->p += n;
    if (agg_get(r) != s->n_files || r->bad)
        return false;
    for (size_t i = 0; i < s->n_files && !r->bad; i++) {
        struct file_sum *f = &s->files[i];
        const char *reason;
        size_t len = 0;
        f->count = agg_get(r);
        if (f->count == 0)
            continue;
        f->first_offset = agg_get(r);
        reason = agg_get_bytes(r, &len, PS_RESULTS_TEXT);
        if (!r->bad && memchr(reason, '\0', len) != NULL)
            return false; /* a reason is a C string: saved, it would come back shorter */
        if (!r->bad && len > 0)
            f->first_reason = ps_xstrndup(reason, len);
    }
    n = agg_get(r);
    if (r->bad || n > s->max_errs || n > (uint64_t)(r->end - r->p) / 3)
        return false;
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        uint64_t file = agg_get(r), off = agg_get(r);
        size_t len = 0;
        const char *reason = agg_get_bytes(r, &len, PS_RESULTS_TEXT);
        if (r->bad || file >= s->n_files || memchr(reason, '\0', len) != NULL)
            return false;
        /* the file summaries came with the record: the list must not rewrite them */
        keep_error(s, (size_t)file, off, reason, len);
    }
    return !r->bad;
}

size_t agg_scan_footprint(const struct agg_scan *s)
{
    return agg_table_footprint(&s->cands) + (s->sketch ? 2 * PS_CLSKETCH_ROWS * s->cells : 0) +
           s->cap_errs * sizeof(*s->errs) + s->n_files * sizeof(*s->files);
}

/* ---- what the finished pass gives (aggregate.h) ---- */

const uint8_t *ps_agg_sketch(const struct ps_agg *a)
{
    return a->scan != NULL ? a->scan->sketch : NULL;
}

void agg_scan_finish(struct agg_scan *s)
{
    trim_errors(s);
    free(s->file_view);
    free(s->err_view);
    s->file_view = ps_xcalloc(s->n_files + 1, sizeof(*s->file_view));
    s->n_file_view = 0;
    for (size_t i = 0; i < s->n_files; i++) {
        if (s->files[i].count == 0)
            continue;
        s->file_view[s->n_file_view].file = i;
        s->file_view[s->n_file_view].count = s->files[i].count;
        s->file_view[s->n_file_view].first_offset = s->files[i].first_offset;
        /* totals can arrive without a record (a worker keeps few): the count stands */
        s->file_view[s->n_file_view].first_reason =
            s->files[i].first_reason ? s->files[i].first_reason : "(no error record kept)";
        s->n_file_view++;
    }
    s->err_view = ps_xcalloc(s->n_errs + 1, sizeof(*s->err_view));
    for (size_t i = 0; i < s->n_errs; i++) {
        s->err_view[i].file = s->errs[i].file;
        s->err_view[i].offset = s->errs[i].offset;
        s->err_view[i].reason = s->errs[i].reason;
    }
}

size_t ps_agg_n_error_files(const struct ps_agg *a)
{
    return a->scan != NULL && a->scan->file_view != NULL ? a->scan->n_file_view : 0;
}

size_t ps_agg_count_damaged_files(const struct ps_agg *a)
{
    size_t n = 0;

    for (size_t i = 0; a->scan != NULL && i < a->scan->n_files; i++)
        n += a->scan->files[i].count > 0;
    return n;
}

const struct ps_agg_file_errors *ps_agg_error_file(const struct ps_agg *a, size_t i)
{
    return &a->scan->file_view[i];
}

size_t ps_agg_n_errors(const struct ps_agg *a)
{
    return a->scan != NULL && a->scan->err_view != NULL ? a->scan->n_errs : 0;
}

const struct ps_agg_error *ps_agg_error(const struct ps_agg *a, size_t i)
{
    return &a->scan->err_view[i];
}

const struct agg_table *agg_scan_cands(const struct agg_scan *s)
{
    return &s->cands;
}

void agg_scan_reduce(struct agg_scan *s, const uint64_t *keep, size_t n_keep)
{
    agg_table_keep(&s->cands, keep, n_keep);
    free(s->sketch);
    s->sketch = NULL;
    s->cells = 0;
}

bool agg_scan_fits(const struct agg_scan *dst, const struct agg_scan *src, const uint32_t *file_map)
{
    if (dst->cells != src->cells || (dst->sketch == NULL) != (src->sketch == NULL) ||
        dst->cands.n != 0 || dst->n_errs != 0 || (src->cands.gate != NULL && !dst->cands.admits))
        return false;
    for (size_t i = 0; i < src->n_files; i++)
        if (file_map[i] >= dst->n_files)
            return false;
    return true;
}

void agg_scan_rebase(struct agg_scan *dst, const struct agg_scan *src, const uint32_t *file_map)
{
    struct ps_buf cands;
    const unsigned char *p;

    /* the table's own record: one owner of its layout, and the copy is a base's one-off */
    ps_buf_init(&cands, PS_BUF_NO_LIMIT);
    agg_table_save(&src->cands, &cands);
    p = (const unsigned char *)cands.data;
    if (!agg_table_load(&dst->cands, &p, p + cands.len))
        ps_bug("a candidate table does not read back its own record");
    ps_buf_release(&cands);
    if (src->sketch != NULL)
        memcpy(dst->sketch, src->sketch, PS_CLSKETCH_ROWS * src->cells);
    for (size_t i = 0; i < src->n_files; i++) {
        const struct file_sum *f = &src->files[i];
        struct file_sum *g = &dst->files[file_map[i]];
        g->count = f->count;
        g->first_offset = f->first_offset;
        g->first_reason = f->first_reason ? ps_xstrdup(f->first_reason) : NULL;
    }
    for (size_t i = 0; i < src->n_errs; i++)
        add_error(dst, file_map[src->errs[i].file], src->errs[i].offset, src->errs[i].reason,
                  strlen(src->errs[i].reason));
}
