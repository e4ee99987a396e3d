/* fuzz_minhash_diff.c - every supported SIMD level gives the scalar reference's signatures on
 * arbitrary input: text signatures, segment signatures and the kernel on raw 64-bit hashes; and
 * the 64-byte block normalizer gives what the byte-at-a-time reference gives, and the word
 * bound is never below the word count.
 * Parameters from the first 4 bytes: k, ngram, method, seed; the rest is the text. Stateless. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpu.h"
#include "common/minhash.h"
#include "common/minhash_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seg_sink {
    uint32_t *sigs; /* owned: up to cap segments of k slots */
    size_t n, cap;
    unsigned k;
};

static bool keep_segment(void *arg, const struct ps_minhash_segment *seg)
{
    struct seg_sink *s = arg;

    if (s->n < s->cap)
        memcpy(s->sigs + s->n * s->k, seg->sig, s->k * sizeof(uint32_t));
    s->n++;
    return true;
}

static void run_level(const struct ps_minhash_opts *base, enum ps_simd level, const char *text,
                      size_t len, const uint64_t *hashes, size_t n_hashes, uint32_t *doc,
                      uint32_t *kern, struct seg_sink *segs)
{
    struct ps_minhash_opts o = *base;
    struct ps_minhash_seg_opts so = ps_minhash_seg_opts_default();
    struct ps_minhash *m = NULL;

    o.simd = level;
    if (ps_minhash_new(&m, &o, NULL) != PS_OK)
        abort();
    so.window_words = 16;
    so.window_stride = 5;
    so.min_words = 1;
    segs->n = 0;
    if (ps_minhash_segments(m, text, len, &so, doc, keep_segment, segs, NULL) != PS_OK)
        abort();
    ps_minhash_from_hashes(m, hashes, n_hashes, kern);
    ps_minhash_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_minhash_opts o = ps_minhash_opts_default();
    struct seg_sink want = {0}, got = {0};
    uint32_t *doc_w, *doc_g, *kern_w, *kern_g;
    uint64_t *hashes;
    size_t n_hashes, len;
    const char *text;

    if (size < 4)
        return 0;
    o.k = 16u * (1u + data[0] % 64u);
    o.ngram = 1u + data[1] % 8u;
    o.method = (data[2] & 1) ? PS_MINHASH_OPH : PS_MINHASH_CLASSIC;
    o.seed = data[3];
    text = (const char *)data + 4;
    len = size - 4;
    /* the same bytes as raw shingle hashes reach values normalization never produces */
    n_hashes = len / 8;
    hashes = malloc((n_hashes + 1) * sizeof(*hashes));
    if (n_hashes > 0)
        memcpy(hashes, text, n_hashes * 8);
    doc_w = malloc(o.k * 4);
    doc_g = malloc(o.k * 4);
    kern_w = malloc(o.k * 4);
    kern_g = malloc(o.k * 4);
    want.k = got.k = o.k;
    want.cap = got.cap = 64;
    want.sigs = malloc(want.cap * o.k * 4);
    got.sigs = malloc(got.cap * o.k * 4);
    run_level(&o, PS_SIMD_SCALAR, text, len, hashes, n_hashes, doc_w, kern_w, &want);
    for (int level = PS_SIMD_AVX2; level < PS_SIMD__COUNT; level++) {
        if (!ps_cpu_simd_supported((enum ps_simd)level))
            continue;
        run_level(&o, (enum ps_simd)level, text, len, hashes, n_hashes, doc_g, kern_g, &got);
        if (memcmp(doc_w, doc_g, o.k * 4) != 0 || memcmp(kern_w, kern_g, o.k * 4) != 0 ||
            want.n != got.n ||
            memcmp(want.sigs, got.sigs, (want.n < want.cap ? want.n : want.cap) * o.k * 4) != 0)
            abort();
    }
    {
        struct ps_minhash_words a, b;

        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        ps_minhash_normalize(&a, text, len);
        ps_minhash_normalize_bytes(&b, text, len);
        if (a.n_words != b.n_words || a.n_paras != b.n_paras ||
            memcmp(a.nstart, b.nstart, (a.n_words + 1) * 4) != 0 ||
            (a.n_words > 0 && (memcmp(a.norm, b.norm, a.nstart[a.n_words] - 1) != 0 ||
                               memcmp(a.obegin, b.obegin, a.n_words * 4) != 0 ||
                               memcmp(a.oend, b.oend, a.n_words * 4) != 0)) ||
            (a.n_paras > 0 && memcmp(a.para, b.para, a.n_paras * 4) != 0) ||
            ps_minhash_words_bound(text, len, SIZE_MAX) < a.n_words)
            abort();
        ps_minhash_words_release(&a);
        ps_minhash_words_release(&b);
    }
    free(hashes);
    free(doc_w);
    free(doc_g);
    free(kern_w);
    free(kern_g);
    free(want.sigs);
    free(got.sigs);
    return 0;
}
