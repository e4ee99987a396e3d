/* minhash_internal.h - private declarations shared by minhash.c, minhash_text.c, minhash_file.c
 * and the ISA kernels (minhash_scalar.c, minhash_avx2.c, minhash_avx512.c). Not installed, not
 * for other modules; tests may include it to call a kernel directly. */
#ifndef PS_COMMON_MINHASH_INTERNAL_H
#define PS_COMMON_MINHASH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/cpu.h"
#include "common/minhash.h"

/* Version of the definition (normalization, shingles, family, densification); written into
 * signature files so that a change here can never be compared with old signatures. */
#define PS_MINHASH_DEFINITION_VERSION 1u

/* Coefficients of the classic family h_i(x) = (uint32_t)((a_i * x + b_i) mod 2^64 >> 32):
 * a[k], b[k] canonical (a_i odd), plus `vcoef`, the same numbers in the layout of the selected
 * kernel (prepared once by its `prepare`). */
struct ps_minhash_coef {
    unsigned k;
    const uint64_t *a; /* k entries */
    const uint64_t *b; /* k entries */
    const void *vcoef; /* kernel layout, 64-byte aligned; may equal a for kernels that use a, b */
};

/* Size in bytes of the kernel layout for k functions, and its builder. */
typedef size_t (*ps_minhash_coef_size_fn)(unsigned k);
typedef void (*ps_minhash_prepare_fn)(const uint64_t *a, const uint64_t *b, unsigned k,
                                      void *vcoef);
/* sig[i] = min(sig[i], h_i(hashes[j])) for every i < k and j < n. */
typedef void (*ps_minhash_classic_fn)(const struct ps_minhash_coef *c, const uint64_t *hashes,
                                      size_t n, uint32_t *sig);

struct ps_minhash_kernels {
    enum ps_simd level;
    ps_minhash_coef_size_fn coef_size;
    ps_minhash_prepare_fn prepare;
    ps_minhash_classic_fn classic;
};

/* One table per ISA file; NULL-free. The AVX tables exist only in builds that compile them. */
extern const struct ps_minhash_kernels ps_minhash_kernels_scalar;
extern const struct ps_minhash_kernels ps_minhash_kernels_avx2;
#ifdef PS_HAVE_AVX512_BUILD
extern const struct ps_minhash_kernels ps_minhash_kernels_avx512;
/* XXH3-64 of src[0, src_len) with `seed` (LSH band keys). */
uint64_t ps_minhash_hash_bytes(const void *src, size_t src_len, uint64_t seed);

#endif

/* The scalar reference of the classic kernel, callable from tests whatever the engine uses. */
void ps_minhash_classic_scalar(const struct ps_minhash_coef *c, const uint64_t *hashes, size_t n,
                               uint32_t *sig);

/* OPH: bin of hash x is ((x >> 32) * k) >> 32, its value the low 32 bits; sig[bin] = min.
 * filled[k] gets 1 for every bin that received a hash. Same code for every SIMD level. */
void ps_minhash_oph_bins(unsigned k, const uint64_t *hashes, size_t n, uint32_t *sig,
                         uint8_t *filled);
/* Optimal densification (Shrivastava 2017): each empty bin j takes the value of the first
 * filled bin in its probe sequence. `dseed` from ps_minhash_oph_dseed(). */
void ps_minhash_oph_densify(unsigned k, uint64_t dseed, uint32_t *sig, const uint8_t *filled);
uint64_t ps_minhash_oph_dseed(uint64_t seed);

/* splitmix64 (Steele, Lea, Flood 2014): the seed expander of the family, documented. */
uint64_t ps_minhash_splitmix64(uint64_t *state);
uint64_t ps_minhash_mix64(uint64_t z);

/* ---- text side (minhash_text.c, the one file that includes xxhash.h) */

/* Normalized words of one text. All arrays are owned by the struct and grow on demand. */
struct ps_minhash_words {
    char *norm;       /* normalized words joined by single spaces */
    size_t norm_cap;  /* bytes allocated for norm */
    uint32_t *nstart; /* [n_words + 1]: start of word i in norm; nstart[n] = norm_len + 1 */
    uint32_t *obegin; /* [n_words]: first byte of word i in the original text */
    uint32_t *oend;   /* [n_words]: one past its last byte in the original text */
    size_t words_cap; /* entries allocated in nstart (obegin, oend: words_cap - 1) */
    size_t n_words;
    uint32_t *para; /* [n_paras]: index of the first word of each paragraph */
    size_t para_cap;
    size_t n_paras;
    uint64_t *hashes; /* [n_words]: shingle hashes, hashes[j] for the shingle at word j */
    size_t hashes_cap;
};

void ps_minhash_words_release(struct ps_minhash_words *w);

/* Normalize text[0, len) (len <= PS_MINHASH_TEXT_MAX) into w (docs/minhash.md "Normalization"). */
void ps_minhash_normalize(struct ps_minhash_words *w, const char *text, size_t len);
/* The same, one byte at a time: the reference the 64-byte block path is tested against. */
void ps_minhash_normalize_bytes(struct ps_minhash_words *w, const char *text, size_t len);

/* Hash the shingles of w into w->hashes and return their count: hashes[j] is the shingle of
 * words [j, j + ngram) for j in [0, n_words - ngram] when n_words >= ngram; a text of 1 to
 * ngram - 1 words has one shingle, all its words; no words, no shingles. */
size_t ps_minhash_hash_shingles(struct ps_minhash_words *w, unsigned ngram, uint64_t seed);

/* Hash the shingles inside words [first, first + count), count >= ngram, into hashes[first,
 * first + count - ngram]; the other entries of hashes are undefined afterwards. */
void ps_minhash_hash_span(struct ps_minhash_words *w, size_t first, size_t count, unsigned ngram,
                          uint64_t seed);

/* Hash of the join of words [first, first + count), count >= 1: the one shingle of a text or
 * segment shorter than ngram words. */
uint64_t ps_minhash_hash_words(const struct ps_minhash_words *w, size_t first, size_t count,
                               uint64_t seed);

/* XXH3-64 of src[0, src_len) with `seed` (LSH band keys). */
uint64_t ps_minhash_hash_bytes(const void *src, size_t src_len, uint64_t seed);

#endif
