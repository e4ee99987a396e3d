/* fuzz_journal.c - arbitrary bytes as the coordinator's journal of committed shards
 * (coordinator/journal.h), the way a restarted coordinator reads its --state-dir back. Every
 * record handed out is in range; what parses parses again the same from its valid part alone. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pass.h"
#include "coordinator/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    uint64_t n_shards;
    size_t n;
    uint64_t sum;
};

static enum ps_err take(void *ctx, unsigned pass, uint32_t shard)
{
    struct seen *s = ctx;

    if (pass < PS_PASS_SCAN || pass > PS_PASS__LAST || shard >= s->n_shards)
        abort();
    s->n++;
    s->sum += (uint64_t)pass << 32 | shard;
    return PS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_journal_header h, h2;
    struct ps_errdetail ed;
    struct seen a = {UINT64_MAX, 0, 0}, b;
    size_t used = 0, used2 = 0;
    const char *src = (const char *)data;

    /* the header parse first: the records are checked against its shard count */
    if (ps_journal_parse(src, size, &h, NULL, NULL, NULL, &ed) != PS_OK)
        return 0;
    a.n_shards = h.n_shards;
    if (ps_journal_parse(src, size, &h, take, &a, &used, &ed) != PS_OK || used > size)
        abort();
    b = (struct seen){h.n_shards, 0, 0};
    if (ps_journal_parse(src, used, &h2, take, &b, &used2, &ed) != PS_OK || used2 != used ||
        b.n != a.n || b.sum != a.sum || h2.fingerprint != h.fingerprint ||
        strcmp(h2.job, h.job) != 0)
        abort();
    return 0;
}
