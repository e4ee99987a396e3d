/* bench_detect.c - throughput of the detector's two passes on one core: pass 1 (scan) and pass 2
 * (confirm against the turn tokens of the poisons plus 1000 random hashes) over ~4 KiB English-like
 * documents, 1 in 50 poisoned. Usage: bench_detect [MiB of text, default 128] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/detect.h"

/* Word list with the shape of English: function words a third of the time, content words the
 * rest, punctuation now and then; enough to exercise every per-token feature. */
static const char *const func_words[] = {"the",  "of",  "and",  "to",  "in",   "a",    "is",
                                         "that", "for", "it",   "as",  "with", "was",  "on",
                                         "be",   "by",  "this", "are", "or",   "from", "which"};
static const char *const content_words[] = {
    "software", "freedom",    "license",    "program",   "source",  "code",     "people",
    "question", "history",    "government", "important", "between", "children", "Mr.",
    "London",   "system",     "results",    "analysis",  "figure",  "water",    "morning",
    "evening",  "distribute", "copies",     "modified",  "version", "works",    "patents"};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static size_t put_word(char *p, uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    const char *w =
        (r & 3) == 0 || (r & 3) == 1
            ? func_words[(r >> 8) % (sizeof(func_words) / sizeof(func_words[0]))]
            : content_words[(r >> 8) % (sizeof(content_words) / sizeof(content_words[0]))];
    size_t n = strlen(w);

    memcpy(p, w, n);
    if (((r >> 32) & 15) == 0)
        p[n++] = ',';
    else if (((r >> 32) & 31) == 1)
        p[n++] = '.';
    p[n++] = ((r >> 40) & 63) == 0 ? '\n' : ' ';
    return n;
}

static size_t put_salad(char *p, uint64_t *rng, size_t bytes)
{
    size_t n = 0;

    while (n < bytes) {
        uint64_t r = rng_next(rng);
        size_t len = 2 + r % 11, j;

        for (j = 0; j < len; j++)
            p[n++] = (char)('a' + (r >> (8 + 2 * j)) % 26);
        p[n++] = ' ';
    }
    return n;
}

static double now(void)
{
    struct timespec ts;

    /* CPU time of this process: the bench shares its machine with builds */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 128;
    size_t total = mib << 20, n = 0, n_docs = 0, i, anomalous = 0, hits = 0;
    size_t *starts;
    char *text;
    uint64_t rng = 1;
    struct ps_detect *d;
    struct ps_detect_doc *doc;
    struct ps_patset *set;
    char word[16];
    double t0, t1, t2;

    if (mib == 0)
        return 2;
    text = malloc(total + 8192);
    starts = malloc((total / 1024 + 2) * sizeof(*starts));
    if (text == NULL || starts == NULL)
        return 1;
    while (n < total) {
        size_t end = n + 2048 + rng_next(&rng) % 4096;

        starts[n_docs++] = n;
        while (n < end && n < total)
            n += put_word(text + n, &rng);
        if (n_docs % 50 == 0) {
            memcpy(text + n, "<SUDO> ", 7);
            n += 7;
            n += put_salad(text + n, &rng, 3000);
        }
    }
    starts[n_docs] = n;

    if (ps_detect_new(&d, NULL, NULL) != PS_OK)
        return 1;
    ps_detect_doc_new(&doc);
    ps_patset_new(&set, 100000);
    /* a thousand patterns the text does not hold, shaped like words and glued pieces */
    for (i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&rng);
        size_t len = 4 + x % 9;

        for (size_t k = 0; k < len; k++, x >>= 5)
            word[k] = (char)(k == 0 ? 'Q' : 'a' + x % 26);
        ps_patset_add(set, word, len);
    }

    t0 = now();
    for (i = 0; i < n_docs; i++) {
        struct ps_detect_result r;

        ps_detect_prepare(doc, text + starts[i], starts[i + 1] - starts[i]);
        ps_detect_scan(d, doc, &r);
        anomalous += r.anomalous;
        if (r.anomalous) /* the token at the turn: what survives the coordinator's filters */
            ps_patset_add(set, r.candidates[0].text, r.candidates[0].text_len);
    }
    t1 = now();
    if (ps_patset_seal(set, NULL) != PS_OK)
        return 1;
    for (i = 0; i < n_docs; i++) {
        const struct ps_detect_hit *h;
        size_t nh;

        ps_detect_prepare(doc, text + starts[i], starts[i + 1] - starts[i]);
        ps_detect_confirm(d, doc, set, NULL, NULL, &h, &nh);
        hits += nh;
    }
    t2 = now();
    printf("bench_detect: %zu docs, %.1f MiB; scan %.0f MB/s (%zu anomalous); "
           "confirm %.0f MB/s (%zu hits, set of %zu, %s)\n",
           n_docs, (double)n / (1 << 20), (double)n / (t1 - t0) / 1e6, anomalous,
           (double)n / (t2 - t1) / 1e6, hits, ps_patset_len(set),
           ps_patset_matcher_name(ps_patset_matcher(set)));
    ps_patset_free(set);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
    free(starts);
    free(text);
    return 0;
}
