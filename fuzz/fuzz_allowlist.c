/* fuzz_allowlist.c - arbitrary bytes as an --allowlist file under small limits taken from the
 * first two bytes: only PS_OK, PS_ERR_PARSE or PS_ERR_LIMIT with a line inside the input; a file
 * accepted under small limits is accepted alike under the defaults; lookups ignore whitespace. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/allowlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_allowlist_opts o = ps_allowlist_opts_default();
    struct ps_allowlist *a = NULL, *big = NULL;
    struct ps_errdetail ed = {0};
    const char *src;
    size_t n_lines = 1, half, line;
    char *padded;
    enum ps_err err;

    if (size < 2)
        return 0;
    o.max_patterns = (size_t)(data[0] & 0x0f) + 1;
    o.max_pattern_len = (size_t)((data[0] >> 4) + 1) * 4;
    o.max_line = (size_t)data[1] + 1;
    o.max_bytes = (size_t)4096;
    src = (const char *)data + 2;
    size -= 2;
    for (size_t i = 0; i < size; i++)
        n_lines += src[i] == '\n';
    err = ps_allowlist_parse(&a, src, size, "fuzz", &o, &ed);
    if (err != PS_OK) {
        if ((err != PS_ERR_PARSE && err != PS_ERR_LIMIT) || a != NULL || ed.offset > n_lines ||
            strncmp(ed.msg, "allowlist 'fuzz'", 16) != 0)
            abort();
        return 0;
    }
    if (ps_allowlist_n(a) > o.max_patterns)
        abort();
    o = ps_allowlist_opts_default();
    if (ps_allowlist_parse(&big, src, size, "fuzz", &o, &ed) != PS_OK ||
        ps_allowlist_n(big) != ps_allowlist_n(a))
        abort();
    /* the input's halves as queries: the answer is a line of the file or 0, and the same with
     * extra whitespace around and inside (runs collapse to one space) */
    half = size / 2;
    line = ps_allowlist_find(a, src, half);
    if (line > n_lines || ps_allowlist_find(big, src, half) != line)
        abort();
    padded = malloc(size + 3);
    if (padded == NULL)
        abort();
    padded[0] = ' ';
    memcpy(padded + 1, src + half, size - half);
    padded[size - half + 1] = '\t';
    line = ps_allowlist_find(a, src + half, size - half);
    if (ps_allowlist_find(a, padded, size - half + 2) != line)
        abort();
    free(padded);
    ps_allowlist_free(a);
    ps_allowlist_free(big);
    return 0;
}
