/* fuzz_attrset.c - arbitrary bytes as the job's flagged documents record (coordinator/attrset.h),
 * as the loop reads "attrs" back from Redis. The first two bytes (little-endian) are the plan's
 * file count, the rest the record. What decodes encodes back to the same bytes, its files hold
 * strictly ascending offsets that add up to the set's count, and building a set from its
 * documents, in reverse and with unseen copies, gives the same record again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/attrset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_bytes(const struct ps_attrset *s, const uint8_t *rec, size_t rec_len)
{
    struct ps_buf b;

    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_attrset_encode(s, &b);
    if (b.len != rec_len || memcmp(b.data, rec, rec_len) != 0)
        abort(); /* encode(decode(x)) is x: the record has one form */
    ps_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_attrset *s = NULL, *r;
    struct ps_attrset_doc *docs;
    struct ps_errdetail ed;
    size_t n_files, n = 0, k = 0;

    if (size < 2)
        return 0;
    n_files = (size_t)data[0] | (size_t)data[1] << 8;
    if (ps_attrset_decode(&s, data + 2, size - 2, n_files, &ed) != PS_OK) {
        if (s != NULL)
            abort();
        return 0;
    }
    same_bytes(s, data + 2, size - 2);
    if (ps_attrset_n_files(s) != n_files)
        abort();
    for (uint32_t f = 0; f < n_files; f++) {
        size_t m;
        const uint64_t *c = ps_attrset_file(s, f, &m);
        if ((m == 0) != (c == NULL))
            abort();
        for (size_t i = 1; i < m; i++)
            if (PS_ATTRSET_OFFSET(c[i - 1]) >= PS_ATTRSET_OFFSET(c[i]))
                abort();
        n += m;
    }
    if (n != ps_attrset_n_docs(s))
        abort();
    /* each document twice, the copy unseen, last file first */
    docs = malloc((2 * n + 1) * sizeof(*docs));
    if (docs == NULL)
        abort();
    for (uint32_t f = (uint32_t)n_files; f-- > 0;) {
        size_t m;
        const uint64_t *c = ps_attrset_file(s, f, &m);
        for (size_t i = m; i-- > 0;) {
            docs[k++] = (struct ps_attrset_doc){f, PS_ATTRSET_OFFSET(c[i]), PS_ATTRSET_SEEN(c[i])};
            docs[k++] = (struct ps_attrset_doc){f, PS_ATTRSET_OFFSET(c[i]), false};
        }
    }
    r = ps_attrset_build(docs, k, n_files);
    same_bytes(r, data + 2, size - 2);
    ps_attrset_free(r);
    free(docs);
    ps_attrset_free(s);
    return 0;
}
