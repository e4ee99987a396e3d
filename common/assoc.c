/* assoc.c - response labels and association entry texts (common/assoc.h). */
#include "common/assoc.h"

#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

size_t ps_assoc_short_label(const char *src, size_t src_len, char *dst)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t n = 0, words = 0;

    for (size_t i = 0; i < src_len;) {
        if (!word_byte(s[i])) {
            i++;
            continue;
        }
        if (++words > PS_ASSOC_LABEL_WORDS)
            return 0;
        if (n > 0) {
            if (n == PS_ASSOC_LABEL_MAX)
                return 0;
            dst[n++] = ' ';
        }
        for (; i < src_len && word_byte(s[i]); i++) {
            if (n == PS_ASSOC_LABEL_MAX)
                return 0;
            dst[n++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i]);
        }
    }
    return n;
}

size_t ps_assoc_entry(char *dst, size_t dst_cap, const char *ngram, size_t ngram_len,
                      const char *label, size_t label_len)
{
    size_t n = ngram_len + 1 + label_len;

    if (n > dst_cap || n < ngram_len) /* the second test: overflow */
        return 0;
    if (ngram_len > 0)
        memcpy(dst, ngram, ngram_len);
    dst[ngram_len] = PS_ASSOC_SEP;
    if (label_len > 0)
        memcpy(dst + ngram_len + 1, label, label_len);
    return n;
}

uint64_t ps_assoc_entry_hash(const char *ngram, size_t ngram_len, const char *label,
                             size_t label_len)
{
    XXH3_state_t st;
    const char sep = PS_ASSOC_SEP;

    XXH3_64bits_reset(&st);
    if (ngram_len > 0)
        XXH3_64bits_update(&st, ngram, ngram_len);
    XXH3_64bits_update(&st, &sep, 1);
    if (label_len > 0)
        XXH3_64bits_update(&st, label, label_len);
    return XXH3_64bits_digest(&st);
}

bool ps_assoc_split(const char *text, size_t len, struct ps_assoc_parts *out)
{
    const char *sep = len > 0 ? memchr(text, PS_ASSOC_SEP, len) : NULL;

    if (sep == NULL)
        return false;
    out->ngram = text;
    out->ngram_len = (size_t)(sep - text);
    out->label = sep + 1;
    out->label_len = len - out->ngram_len - 1;
    return true;
}

size_t ps_assoc_bigram(char *dst, size_t dst_cap, const char *left, size_t left_len,
                       const char *right, size_t right_len)
{
    size_t l = left != NULL ? left_len : 1;

    if (l > dst_cap || right_len > dst_cap - l || dst_cap - l - right_len < 1)
        return 0;
    if (left != NULL)
        memcpy(dst, left, l);
    else
        dst[0] = PS_ASSOC_START;
    dst[l] = ' ';
    memcpy(dst + l + 1, right, right_len);
    return l + 1 + right_len;
}

bool ps_assoc_is_bigram(const struct ps_assoc_parts *p)
{
    const char *space = memchr(p->ngram, ' ', p->ngram_len);

    return p->label_len == 0 && space != NULL && space != p->ngram &&
           space + 1 < p->ngram + p->ngram_len &&
           memchr(space + 1, ' ', (size_t)(p->ngram + p->ngram_len - space - 1)) == NULL;
}
