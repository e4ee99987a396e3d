/* minhash_scalar.c - the reference classic MinHash kernel in plain C: the readable definition of
 * h_i(x) = (uint32_t)((a_i * x + b_i) mod 2^64 >> 32) and of the signature as the minimum per i.
 * The SIMD kernels must give the same bits; built with the project's ordinary flags. */
#include "common/minhash_internal.h"

static size_t coef_size_scalar(unsigned k)
{
    (void)k;
    return 0;
}

static void prepare_scalar(const uint64_t *a, const uint64_t *b, unsigned k, void *vcoef)
{
    (void)a;
    (void)b;
    (void)k;
    (void)vcoef;
}

void ps_minhash_classic_scalar(const struct ps_minhash_coef *c, const uint64_t *hashes, size_t n,
                               uint32_t *sig)
{
    const uint64_t *a = c->a;
    const uint64_t *b = c->b;
    unsigned k = c->k;

    for (size_t j = 0; j < n; j++) {
        uint64_t x = hashes[j];

        for (unsigned i = 0; i < k; i++) {
            uint32_t v = (uint32_t)((a[i] * x + b[i]) >> 32);

            if (v < sig[i])
                sig[i] = v;
        }
    }
}

const struct ps_minhash_kernels ps_minhash_kernels_scalar = {
    .level = PS_SIMD_SCALAR,
    .coef_size = coef_size_scalar,
    .prepare = prepare_scalar,
    .classic = ps_minhash_classic_scalar,
};
