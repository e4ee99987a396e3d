/* fuzz_results.c - arbitrary bytes as a results blob through ps_results_decode(), as the
 * coordinator reads what Redis hands back. Whatever decodes is encoded again section by section
 * and must decode to the same bytes (the encoder and decoder agree on every field). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum ps_err re_totals(void *ctx, const struct ps_results_totals *t)
{
    ps_results_put_totals(ctx, t);
    return PS_OK;
}

static enum ps_err re_error(void *ctx, const struct ps_results_error *e)
{
    ps_results_put_error(ctx, e);
    return PS_OK;
}

static enum ps_err re_cand(void *ctx, const struct ps_results_cand *c)
{
    ps_results_put_cand(ctx, c);
    return PS_OK;
}

static enum ps_err re_lead(void *ctx, const struct ps_results_cand *c)
{
    ps_results_put_lead(ctx, c);
    return PS_OK;
}

static enum ps_err re_count(void *ctx, const struct ps_results_count *c)
{
    ps_results_put_count(ctx, c);
    return PS_OK;
}

static enum ps_err re_sketch(void *ctx, const void *src, size_t len)
{
    ps_results_put_sketch(ctx, src, len);
    return PS_OK;
}

static enum ps_err re_member(void *ctx, const struct ps_results_member *m)
{
    ps_results_put_member(ctx, m);
    return PS_OK;
}

static enum ps_err re_hit(void *ctx, const struct ps_results_hit *h)
{
    ps_results_put_hit(ctx, h);
    return PS_OK;
}

static enum ps_err re_sample(void *ctx, const struct ps_results_sample *s)
{
    ps_results_put_sample(ctx, s);
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
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_results_writer w = {0}, w2 = {0};
    struct ps_errdetail ed;
    struct ps_results_header h = {0}, h2 = {0};
    const void *out, *out2;
    size_t n, n2;

    lim.max_entries = 64;
    /* the decoder alone first, with a callback-free visitor */
    if (ps_results_decode(data, size, &lim, &(struct ps_results_visitor){0}, NULL, &h, &ed) !=
        PS_OK)
        return 0;
    ps_results_begin(&w, h.pass, h.shard, h.part, h.partition);
    if (ps_results_decode(data, size, &lim, &reencode, &w, NULL, &ed) != PS_OK)
        abort(); /* decoded once, must decode again */
    out = ps_results_data(&w, &n);
    ps_results_begin(&w2, h.pass, h.shard, h.part, h.partition);
    if (ps_results_decode(out, n, &lim, &reencode, &w2, &h2, &ed) != PS_OK)
        abort(); /* what we encode must decode */
    out2 = ps_results_data(&w2, &n2);
    if (h2.pass != h.pass || h2.shard != h.shard || h2.part != h.part ||
        h2.partition != h.partition || n2 != n || memcmp(out, out2, n) != 0)
        abort(); /* encode(decode(x)) is a fixed point */
    ps_results_release(&w);
    ps_results_release(&w2);
    return 0;
}
