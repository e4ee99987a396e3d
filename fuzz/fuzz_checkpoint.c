/* fuzz_checkpoint.c - arbitrary bytes as the coordinator's checkpoint of a pass, the way a
 * restarted coordinator reads it back from Redis. Byte 0 picks the pass; the rest is compressed
 * here, so the fuzzer reaches the record parser behind zstd. Whatever loads must save and load
 * again to the same bytes; a scan checkpoint that loads is a --since base too, and must renumber
 * into a grown plan with its totals and merged shards, and save and load from there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/pass.h"
#include "coordinator/aggregate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t shard_file[4] = {0, 0, 1, 2};
/* the grown plan: a new file 1 (shard 3) and a new last shard */
static const uint32_t grown_file[6] = {0, 0, 2, 1, 3, 3}, shard_map[4] = {0, 1, 2, 4},
                      file_map[3] = {0, 2, 3};

static void check_rebase(const struct ps_agg *a, const struct ps_agg_opts *o)
{
    struct ps_agg_opts g = *o;
    struct ps_errdetail ed;
    struct ps_agg *r, *back;
    struct ps_buf s;

    g.n_shards = 6;
    g.n_files = 4;
    g.shard_file = grown_file;
    ps_agg_new(&r, &g);
    if (ps_agg_rebase(r, a, shard_map, file_map, &ed) != PS_OK)
        abort();
    if (ps_agg_n_merged(r) != ps_agg_n_merged(a) ||
        memcmp(ps_agg_totals(r), ps_agg_totals(a), sizeof(*ps_agg_totals(a))) != 0)
        abort();
    ps_buf_init(&s, SIZE_MAX / 2);
    ps_agg_new(&back, &g);
    if (ps_agg_save(r, &s, &ed) != PS_OK || ps_agg_load(back, s.data, s.len, &ed) != PS_OK)
        abort();
    ps_agg_finish(back);
    ps_agg_free(back);
    ps_agg_free(r);
    ps_buf_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_agg_opts o = ps_agg_opts_default();
    struct ps_errdetail ed;
    struct ps_agg *a, *b;
    struct ps_buf s1, s2;
    size_t bound, n;
    void *z;

    if (size < 1)
        return 0;
    o.pass = PS_PASS_SCAN + data[0] % PS_PASS__LAST;
    o.n_shards = 4;
    o.n_files = 3;
    o.shard_file = shard_file;
    o.sketch_cells = o.pass == PS_PASS_SCAN && (data[0] & 0x80) ? 4096 : 0;
    o.assoc_gate_log2 = o.pass == PS_PASS_SCAN && (data[0] & 0x40) ? 12 : 0;
    o.n_patterns = o.pass == PS_PASS_SCAN ? 0 : 5;
    o.max_errors_listed = 8;
    o.max_members = 3;
    bound = ZSTD_compressBound(size - 1);
    z = malloc(bound);
    if (z == NULL)
        abort();
    n = ZSTD_compress(z, bound, data + 1, size - 1, 1);
    if (ZSTD_isError(n))
        abort();
    ps_agg_new(&a, &o);
    if (ps_agg_load(a, z, n, &ed) == PS_OK) {
        ps_buf_init(&s1, SIZE_MAX / 2);
        ps_buf_init(&s2, SIZE_MAX / 2);
        if (ps_agg_save(a, &s1, &ed) != PS_OK)
            abort();
        ps_agg_new(&b, &o);
        if (ps_agg_load(b, s1.data, s1.len, &ed) != PS_OK || ps_agg_save(b, &s2, &ed) != PS_OK)
            abort(); /* what we save must load */
        if (s1.len != s2.len || memcmp(s1.data, s2.data, s1.len) != 0)
            abort(); /* save(load(x)) is a fixed point */
        if (o.pass == PS_PASS_SCAN)
            check_rebase(a, &o);
        ps_agg_finish(b);
        ps_agg_free(b);
        ps_buf_release(&s1);
        ps_buf_release(&s2);
    }
    ps_agg_free(a);
    free(z);
    return 0;
}
