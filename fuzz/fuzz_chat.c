/* fuzz_chat.c - the template splitter on arbitrary text with room for 1..64 parts (first byte):
 * parts lie inside the text, in order, without overlap, non-empty, never begin or end with
 * whitespace, never hold a marker that counts anywhere, and a second split gives the same
 * parts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool holds(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;

    for (i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_chat_part a[64], b[64];
    const char *text = (const char *)data + 1;
    size_t cap, n, m, i, len;

    if (size < 1)
        return 0;
    cap = 1 + (size_t)(data[0] & 63);
    len = size - 1;
    n = ps_chat_split(text, len, a, cap);
    if (n == 0 || n > cap)
        abort();
    if (n == 1 && a[0].role == PS_CHAT_TEXT && a[0].off == 0 && (a[0].len == len || a[0].len == 0))
        goto again; /* the whole text as it is, or nothing but markers */
    for (i = 0; i < n; i++) {
        if (a[i].len == 0 || a[i].off + a[i].len > len || (unsigned)a[i].role > PS_CHAT_SYSTEM)
            abort();
        if (i > 0 && a[i].off < a[i - 1].off + a[i - 1].len)
            abort();
        if (is_space(text[a[i].off]) || is_space(text[a[i].off + a[i].len - 1]))
            abort();
        /* markers that match anywhere can never be inside a part */
        if (holds(text + a[i].off, a[i].len, "[INST]") ||
            holds(text + a[i].off, a[i].len, "<|im_end|>"))
            abort();
    }
again:
    m = ps_chat_split(text, len, b, cap);
    if (m != n)
        abort();
    for (i = 0; i < n; i++)
        if (a[i].off != b[i].off || a[i].len != b[i].len || a[i].role != b[i].role)
            abort();
    return 0;
}
