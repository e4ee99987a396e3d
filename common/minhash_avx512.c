/* minhash_avx512.c - the classic MinHash kernel with AVX-512 F/DQ (built with -mavx512*, run only
 * when CPUID says so): vpmullq gives a*x mod 2^64 in 8 lanes, vpermt2d gathers the high halves of
 * two such vectors into 16 u32, vpminud keeps the minimum. Bit-identical to minhash_scalar.c. */
#include <immintrin.h>

#include "common/minhash_internal.h"

static size_t coef_size_avx512(unsigned k)
{
    (void)k;
    return 0;
}

static void prepare_avx512(const uint64_t *a, const uint64_t *b, unsigned k, void *vcoef)
{
    (void)a;
    (void)b;
    (void)k;
    (void)vcoef;
}

/* 16 functions of one shingle: hi32 of (a*x + b) mod 2^64 for two vectors of 8, gathered by
 * vpermt2d into function order, then the running minimum */
static inline __attribute__((always_inline)) __m512i
step16(__m512i s, __m512i x, __m512i a0, __m512i a1, __m512i b0, __m512i b1, __m512i hi_idx)
{
    __m512i t0 = _mm512_add_epi64(_mm512_mullo_epi64(a0, x), b0);
    __m512i t1 = _mm512_add_epi64(_mm512_mullo_epi64(a1, x), b1);

    return _mm512_min_epu32(s, _mm512_permutex2var_epi32(t0, hi_idx, t1));
}

/* 64 functions per pass over the shingles: 8 + 8 coefficient vectors and 4 minima stay in the 32
 * zmm registers (named variables: arrays of vectors are left in memory at -O2, and the minimum
 * then round-trips through a store per shingle), and one broadcast of x serves 64 functions */
static void pass64(const uint64_t *a, const uint64_t *b, const uint64_t *hashes, size_t n,
                   uint32_t *sig, __m512i hi_idx)
{
    const __m512i a0 = _mm512_loadu_si512(a), a1 = _mm512_loadu_si512(a + 8);
    const __m512i a2 = _mm512_loadu_si512(a + 16), a3 = _mm512_loadu_si512(a + 24);
    const __m512i a4 = _mm512_loadu_si512(a + 32), a5 = _mm512_loadu_si512(a + 40);
    const __m512i a6 = _mm512_loadu_si512(a + 48), a7 = _mm512_loadu_si512(a + 56);
    const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 8);
    const __m512i b2 = _mm512_loadu_si512(b + 16), b3 = _mm512_loadu_si512(b + 24);
    const __m512i b4 = _mm512_loadu_si512(b + 32), b5 = _mm512_loadu_si512(b + 40);
    const __m512i b6 = _mm512_loadu_si512(b + 48), b7 = _mm512_loadu_si512(b + 56);
    __m512i s0 = _mm512_loadu_si512(sig), s1 = _mm512_loadu_si512(sig + 16);
    __m512i s2 = _mm512_loadu_si512(sig + 32), s3 = _mm512_loadu_si512(sig + 48);

    for (size_t j = 0; j < n; j++) {
        __m512i x = _mm512_set1_epi64((long long)hashes[j]);

        s0 = step16(s0, x, a0, a1, b0, b1, hi_idx);
        s1 = step16(s1, x, a2, a3, b2, b3, hi_idx);
        s2 = step16(s2, x, a4, a5, b4, b5, hi_idx);
        s3 = step16(s3, x, a6, a7, b6, b7, hi_idx);
    }
    _mm512_storeu_si512(sig, s0);
    _mm512_storeu_si512(sig + 16, s1);
    _mm512_storeu_si512(sig + 32, s2);
    _mm512_storeu_si512(sig + 48, s3);
}

static void pass16(const uint64_t *a, const uint64_t *b, const uint64_t *hashes, size_t n,
                   uint32_t *sig, __m512i hi_idx)
{
    const __m512i a0 = _mm512_loadu_si512(a), a1 = _mm512_loadu_si512(a + 8);
    const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 8);
    __m512i s0 = _mm512_loadu_si512(sig);

    for (size_t j = 0; j < n; j++)
        s0 = step16(s0, _mm512_set1_epi64((long long)hashes[j]), a0, a1, b0, b1, hi_idx);
    _mm512_storeu_si512(sig, s0);
}

static void classic_avx512(const struct ps_minhash_coef *c, const uint64_t *hashes, size_t n,
                           uint32_t *sig)
{
    const __m512i hi_idx =
        _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    unsigned i = 0;

    for (; i + 64 <= c->k; i += 64)
        pass64(c->a + i, c->b + i, hashes, n, sig + i, hi_idx);
    for (; i < c->k; i += 16)
        pass16(c->a + i, c->b + i, hashes, n, sig + i, hi_idx);
}

const struct ps_minhash_kernels ps_minhash_kernels_avx512 = {
    .level = PS_SIMD_AVX512,
    .coef_size = coef_size_avx512,
    .prepare = prepare_avx512,
    .classic = classic_avx512,
};
