/* fuzz_json_string.c - JSON string bodies through the unescaper: accepted bodies decode to valid
 * UTF-8, re-escaping and decoding again is the identity, and a small output ceiling (from the
 * first byte) only ever yields PS_ERR_LIMIT, never an overflow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_buf out, esc, back, small;
    struct ps_errdetail ed;
    const char *src;
    size_t cap;
    enum ps_err err;

    if (size < 1)
        return 0;
    cap = data[0];
    src = (const char *)data + 1;
    size--;
    ps_buf_init(&out, SIZE_MAX / 2);
    ps_buf_init(&esc, SIZE_MAX / 2);
    ps_buf_init(&back, SIZE_MAX / 2);
    ps_buf_init(&small, cap);
    err = ps_json_unescape(src, size, &out, &ed);
    if (err == PS_OK) {
        if (out.len > size || !ps_utf8_is_valid(out.data != NULL ? out.data : "", out.len))
            abort();
        if (ps_json_append_string(&esc, out.data != NULL ? out.data : "", out.len) != PS_OK)
            abort();
        if (ps_json_unescape(esc.data + 1, esc.len - 2, &back, &ed) != PS_OK ||
            back.len != out.len || (out.len > 0 && memcmp(back.data, out.data, out.len) != 0))
            abort();
        err = ps_json_unescape(src, size, &small, &ed);
        if (err != (out.len <= cap ? PS_OK : PS_ERR_LIMIT))
            abort();
    } else if (err != PS_ERR_PARSE || ed.offset > size) {
        abort();
    }
    ps_buf_release(&out);
    ps_buf_release(&esc);
    ps_buf_release(&back);
    ps_buf_release(&small);
    return 0;
}
