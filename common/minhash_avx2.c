/* minhash_avx2.c - the classic MinHash kernel with AVX2 (built with -mavx2, run only when CPUID
 * says so). AVX2 has no 64x64-bit multiply, so the low 64 bits of a*x are split into 32-bit
 * products: (a*x + b) mod 2^64 >> 32 = hi32(al*xl + bl) + ah*xl + al*xh + bh (mod 2^32), exact
 * because al*xl + bl < 2^64. Bit-identical to minhash_scalar.c. */
#include <immintrin.h>

#include "common/minhash_internal.h"

/* Layout per block of 8 functions: al[8] and ah[8] (u32), bl of the even and of the odd functions
 * as u64 lanes (vpmuludq multiplies the even u32 lanes), bh[8]. */
struct block8 {
    uint32_t al[8];
    uint32_t ah[8];
    uint64_t bl_even[4];
    uint64_t bl_odd[4];
    uint32_t bh[8];
};

static size_t coef_size_avx2(unsigned k)
{
    return (size_t)(k / 8) * sizeof(struct block8);
}

static void prepare_avx2(const uint64_t *a, const uint64_t *b, unsigned k, void *vcoef)
{
    struct block8 *blk = vcoef;

    for (unsigned i = 0; i < k / 8; i++) {
        for (unsigned l = 0; l < 8; l++) {
            uint64_t av = a[8 * i + l], bv = b[8 * i + l];

            blk[i].al[l] = (uint32_t)av;
            blk[i].ah[l] = (uint32_t)(av >> 32);
            blk[i].bh[l] = (uint32_t)(bv >> 32);
            if (l % 2 == 0)
                blk[i].bl_even[l / 2] = (uint32_t)bv;
            else
                blk[i].bl_odd[l / 2] = (uint32_t)bv;
        }
    }
}

/* 8 functions of one shingle, x split into xl (every lane) and xh (every lane) */
static inline __attribute__((always_inline)) __m256i step8(__m256i s, __m256i xl, __m256i xh,
                                                           const struct block8 *blk)
{
    const __m256i al = _mm256_load_si256((const __m256i *)blk->al);
    const __m256i ah = _mm256_load_si256((const __m256i *)blk->ah);
    __m256i pe = _mm256_add_epi64(_mm256_mul_epu32(al, xl),
                                  _mm256_load_si256((const __m256i *)blk->bl_even));
    __m256i po = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(al, 32), xl),
                                  _mm256_load_si256((const __m256i *)blk->bl_odd));
    __m256i lo = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
    __m256i cross = _mm256_add_epi32(_mm256_mullo_epi32(ah, xl), _mm256_mullo_epi32(al, xh));

    cross = _mm256_add_epi32(cross, _mm256_load_si256((const __m256i *)blk->bh));
    return _mm256_min_epu32(s, _mm256_add_epi32(lo, cross));
}

static void classic_avx2(const struct ps_minhash_coef *c, const uint64_t *hashes, size_t n,
                         uint32_t *sig)
{
    const struct block8 *blk = c->vcoef;
    const uint32_t *x32 = (const uint32_t *)(const void *)hashes; /* little-endian halves */
    unsigned i = 0;

    /* 32 functions per pass over the shingles: the broadcasts of x serve four blocks, the four
     * minima stay in registers, the coefficients come from L1 as memory operands */
    for (; i + 4 <= c->k / 8; i += 4) {
        __m256i s0 = _mm256_loadu_si256((const __m256i *)(sig + 8 * i));
        __m256i s1 = _mm256_loadu_si256((const __m256i *)(sig + 8 * i + 8));
        __m256i s2 = _mm256_loadu_si256((const __m256i *)(sig + 8 * i + 16));
        __m256i s3 = _mm256_loadu_si256((const __m256i *)(sig + 8 * i + 24));

        for (size_t j = 0; j < n; j++) {
            __m256i xl = _mm256_set1_epi32((int)x32[2 * j]);
            __m256i xh = _mm256_set1_epi32((int)x32[2 * j + 1]);

            s0 = step8(s0, xl, xh, blk + i);
            s1 = step8(s1, xl, xh, blk + i + 1);
            s2 = step8(s2, xl, xh, blk + i + 2);
            s3 = step8(s3, xl, xh, blk + i + 3);
        }
        _mm256_storeu_si256((__m256i *)(sig + 8 * i), s0);
        _mm256_storeu_si256((__m256i *)(sig + 8 * i + 8), s1);
        _mm256_storeu_si256((__m256i *)(sig + 8 * i + 16), s2);
        _mm256_storeu_si256((__m256i *)(sig + 8 * i + 24), s3);
    }
    for (; i < c->k / 8; i++) {
        __m256i s0 = _mm256_loadu_si256((const __m256i *)(sig + 8 * i));

        for (size_t j = 0; j < n; j++)
            s0 = step8(s0, _mm256_set1_epi32((int)x32[2 * j]),
                       _mm256_set1_epi32((int)x32[2 * j + 1]), blk + i);
        _mm256_storeu_si256((__m256i *)(sig + 8 * i), s0);
    }
}

const struct ps_minhash_kernels ps_minhash_kernels_avx2 = {
    .level = PS_SIMD_AVX2,
    .coef_size = coef_size_avx2,
    .prepare = prepare_avx2,
    .classic = classic_avx2,
};
