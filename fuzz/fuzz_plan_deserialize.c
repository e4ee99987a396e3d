/* fuzz_plan_deserialize.c - arbitrary bytes as a stored plan (the text a restarted coordinator
 * reads back from Redis). An accepted plan must keep its invariants and serialise back to
 * exactly the input, since the text form is canonical. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "coordinator/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_plan *p = NULL;
    struct ps_errdetail ed;
    struct ps_buf b;
    uint64_t total = 0;
    size_t i;

    if (ps_plan_deserialize(&p, (const char *)data, size, &ed) != PS_OK) {
        if (p != NULL)
            abort();
        return 0;
    }
    for (i = 0; i < ps_plan_n_shards(p); i++) {
        const struct ps_shard *s = ps_plan_shard(p, i);
        if (s->id != i || s->begin >= s->end || s->file_index >= ps_plan_n_files(p) ||
            s->end > ps_plan_file_size(p, s->file_index))
            abort();
        total += s->end - s->begin;
    }
    if (total != ps_plan_bytes_total(p))
        abort();
    (void)ps_plan_fingerprint(p);
    ps_buf_init(&b, size + 64);
    if (ps_plan_serialize(p, &b) != PS_OK)
        abort();
    /* canonical: the input with its final newline, if it had none */
    if (!(b.len == size || (b.len == size + 1 && b.data[size] == '\n')) ||
        memcmp(b.data, data, size) != 0)
        abort();
    ps_buf_release(&b);
    ps_plan_free(p);
    return 0;
}
