/* fuzz_results.c - arbitrary bytes as a results blob through ps_results_decode(), as the
 * coordinator reads what Redis hands back. Whatever decodes is encoded again section by section
 * and must decode to the same bytes (the encoder and decoder agree on every field). The sketch
 * comes cell by cell: its cells are gathered and written as one section before the next section
 * of another kind, or when a row goes back. The blob inflated once (ps_results_inflate) must
 * read the same: refused alike, or with the same header and sections. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CELLS 65536

struct re {
    struct ps_results_writer w;
    uint32_t cells[PS_CLSKETCH_ROWS][MAX_CELLS];
    uint8_t counts[PS_CLSKETCH_ROWS][MAX_CELLS];
    size_t n[PS_CLSKETCH_ROWS];
    unsigned last_row;
    bool pending;
};

static struct ps_results_writer *flush(void *ctx)
{
    struct re *e = ctx;

    if (e->pending) {
        struct ps_results_sketch k;
        for (unsigned r = 0; r < PS_CLSKETCH_ROWS; r++) {
            k.cells[r] = e->cells[r];
            k.counts[r] = e->counts[r];
            k.n[r] = e->n[r];
            e->n[r] = 0;
        }
        ps_results_put_sketch(&e->w, &k);
        e->pending = false;
    }
    return &e->w;
}

static enum ps_err re_totals(void *ctx, const struct ps_results_totals *t)
{
    ps_results_put_totals(flush(ctx), t);
    return PS_OK;
}

static enum ps_err re_error(void *ctx, const struct ps_results_error *e)
{
    ps_results_put_error(flush(ctx), e);
    return PS_OK;
}

static enum ps_err re_cand(void *ctx, const struct ps_results_cand *c)
{
    ps_results_put_cand(flush(ctx), c);
    return PS_OK;
}

static enum ps_err re_lead(void *ctx, const struct ps_results_cand *c)
{
    ps_results_put_lead(flush(ctx), c);
    return PS_OK;
}

static enum ps_err re_count(void *ctx, const struct ps_results_count *c)
{
    ps_results_put_count(flush(ctx), c);
    return PS_OK;
}

static enum ps_err re_sketch(void *ctx, unsigned row, uint64_t cell, unsigned count)
{
    struct re *e = ctx;

    if (e->pending && (row < e->last_row || e->n[row] == MAX_CELLS ||
                       (e->n[row] > 0 && e->cells[row][e->n[row] - 1] >= cell)))
        flush(e);
    e->cells[row][e->n[row]] = (uint32_t)cell;
    e->counts[row][e->n[row]++] = (uint8_t)count;
    e->last_row = row;
    e->pending = true;
    return PS_OK;
}

static enum ps_err re_member(void *ctx, const struct ps_results_member *m)
{
    ps_results_put_member(flush(ctx), m);
    return PS_OK;
}

static enum ps_err re_hit(void *ctx, const struct ps_results_hit *h)
{
    ps_results_put_hit(flush(ctx), h);
    return PS_OK;
}

static enum ps_err re_sample(void *ctx, const struct ps_results_sample *s)
{
    ps_results_put_sample(flush(ctx), s);
    return PS_OK;
}

static const struct ps_results_visitor reencode = {.totals = re_totals,
                                                   .error = re_error,
                                                   .cand = re_cand,
                                                   .lead = re_lead,
                                                   .count = re_count,
                                                   .sketch = re_sketch,
                                                   .member = re_member,
                                                   .hit = re_hit,
                                                   .sample = re_sample};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct re e1, e2;
    static struct ps_buf plain = {NULL, 0, 0, PS_BUF_NO_LIMIT};
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_errdetail ed;
    struct ps_results_header h = {0}, h2 = {0};
    const void *out, *out2;
    size_t n, n2;
    bool ok, ok2;

    lim.max_entries = 64;
    /* the blob inflated once (the collector's check, then merge) reads as the blob does */
    ps_buf_reset(&plain);
    ok = ps_results_decode(data, size, &lim, &(struct ps_results_visitor){0}, NULL, &h, &ed) ==
         PS_OK;
    ok2 = ps_results_inflate(data, size, &plain, &ed) == PS_OK &&
          ps_results_decode(plain.data, plain.len, &lim, &(struct ps_results_visitor){0}, NULL, &h2,
                            &ed) == PS_OK;
    if (ok != ok2 || (ok && memcmp(&h, &h2, sizeof(h)) != 0))
        abort();
    if (!ok)
        return 0;
    ps_results_begin(&e1.w, h.pass, h.shard, h.part, h.partition);
    if (ps_results_decode(data, size, &lim, &reencode, &e1, NULL, &ed) != PS_OK)
        abort(); /* decoded once, must decode again */
    out = ps_results_data(flush(&e1), &n);
    ps_results_begin(&e2.w, h.pass, h.shard, h.part, h.partition);
    if (ps_results_decode(out, n, &lim, &reencode, &e2, &h2, &ed) != PS_OK)
        abort(); /* what we encode must decode */
    out2 = ps_results_data(flush(&e2), &n2);
    if (h2.pass != h.pass || h2.shard != h.shard || h2.part != h.part ||
        h2.partition != h.partition || n2 != n || memcmp(out, out2, n) != 0)
        abort(); /* encode(decode(x)) is a fixed point */
    ps_results_begin(&e2.w, h.pass, h.shard, h.part, h.partition);
    if (ps_results_decode(plain.data, plain.len, &lim, &reencode, &e2, NULL, &ed) != PS_OK)
        abort();
    out2 = ps_results_data(flush(&e2), &n2);
    if (n2 != n || memcmp(out, out2, n) != 0)
        abort(); /* the inflated blob has the same sections */
    return 0;
}
