/* fuzz_utf8.c - the word-at-a-time UTF-8 validator against a byte-wise decode loop, decode/encode
 * round trips, and the report escaper, which must turn any bytes into a valid JSON string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t prefix = ps_utf8_valid_prefix(s, size), i = 0;
    struct ps_buf b, back;
    struct ps_errdetail ed;

    if (prefix > size || ps_utf8_is_valid(s, size) != (prefix == size))
        abort();
    /* the byte-wise walk must stop exactly where the fast validator did */
    while (i < size) {
        uint32_t cp;
        char enc[4];
        size_t n = ps_utf8_decode(s + i, size - i, &cp);

        if (n == 0)
            break;
        if (ps_utf8_encode(cp, enc) != n || memcmp(enc, s + i, n) != 0)
            abort();
        i += n;
    }
    if (i != prefix)
        abort();

    /* escaping then unescaping gives back the valid input unchanged */
    ps_buf_init(&b, SIZE_MAX / 2);
    ps_buf_init(&back, SIZE_MAX / 2);
    if (ps_json_append_string(&b, s, size) != PS_OK || b.len < 2 ||
        !ps_utf8_is_valid(b.data, b.len))
        abort();
    if (ps_json_unescape(b.data + 1, b.len - 2, &back, &ed) != PS_OK)
        abort();
    if (prefix == size && (back.len != size || memcmp(back.data, s, size) != 0))
        abort();
    ps_buf_release(&b);
    ps_buf_release(&back);
    return 0;
}
