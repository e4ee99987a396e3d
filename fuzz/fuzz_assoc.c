/* fuzz_assoc.c - association entry texts and labels on arbitrary bytes. An entry's text comes
 * to the worker in a lease: it splits at its first separator into views inside the text, and
 * writing the parts back gives the text and its hash. A response's short label is at most
 * PS_ASSOC_LABEL_MAX bytes of words joined by one space, with no upper-case ASCII, and the
 * label of a label is itself. A bigram of two words without spaces is a bigram entry. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/assoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_label(const char *src, size_t len)
{
    char label[PS_ASSOC_LABEL_MAX], again[PS_ASSOC_LABEL_MAX];
    size_t n = ps_assoc_short_label(src, len, label), m;

    if (n > PS_ASSOC_LABEL_MAX)
        abort();
    if (n == 0)
        return;
    if (label[0] == ' ' || label[n - 1] == ' ')
        abort();
    for (size_t i = 0; i < n; i++)
        if ((label[i] >= 'A' && label[i] <= 'Z') ||
            (label[i] == ' ' && i + 1 < n && label[i + 1] == ' '))
            abort();
    m = ps_assoc_short_label(label, n, again);
    if (m != n || memcmp(label, again, n) != 0)
        abort();
}

/* The n-gram and the label as the two words of a bigram: its entry is a bigram when both are
 * words (non-empty, no space), and is the bigram's text with the separator. */
static void check_bigram(const struct ps_assoc_parts *p)
{
    char bigram[64], entry[80];
    struct ps_assoc_parts q;
    size_t n, e;
    bool words = p->ngram_len > 0 && p->label_len > 0 &&
                 memchr(p->ngram, ' ', p->ngram_len) == NULL &&
                 memchr(p->label, ' ', p->label_len) == NULL &&
                 memchr(p->label, PS_ASSOC_SEP, p->label_len) == NULL;

    (void)ps_assoc_is_bigram(p);
    n = ps_assoc_bigram(bigram, sizeof(bigram), p->ngram, p->ngram_len, p->label, p->label_len);
    if (n != 0 && (n != p->ngram_len + 1 + p->label_len || bigram[p->ngram_len] != ' '))
        abort();
    if (n == 0 || !words)
        return;
    e = ps_assoc_entry(entry, sizeof(entry), bigram, n, NULL, 0);
    if (e == 0 || !ps_assoc_split(entry, e, &q) || !ps_assoc_is_bigram(&q))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct ps_assoc_parts p;
    char *back;
    size_t n;

    check_label(text, size);
    if (!ps_assoc_split(text, size, &p)) {
        if (size > 0 && memchr(text, PS_ASSOC_SEP, size) != NULL)
            abort();
        return 0;
    }
    if (p.ngram != text || p.ngram_len + 1 + p.label_len != size ||
        memchr(p.ngram, PS_ASSOC_SEP, p.ngram_len) != NULL)
        abort();
    if (ps_assoc_is_pair(&p) != (p.ngram_len > 0 && p.label_len > 0))
        abort();
    check_bigram(&p);
    back = malloc(size);
    if (back == NULL)
        return 0;
    n = ps_assoc_entry(back, size, p.ngram, p.ngram_len, p.label, p.label_len);
    if (n != size || memcmp(back, text, size) != 0 ||
        ps_assoc_entry_hash(p.ngram, p.ngram_len, p.label, p.label_len) != XXH3_64bits(text, size))
        abort();
    free(back);
    return 0;
}
