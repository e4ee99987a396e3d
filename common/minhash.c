/* minhash.c - the MinHash engine: options, the seeded hash family, kernel selection (once, kept in
 * the context), one-permutation hashing with optimal densification, segments and LSH bands.
 * Built with baseline flags only: it runs before we know the CPU has AVX. */
#ifdef __AVX__
#    error "minhash.c must be built without AVX flags: it selects the SIMD kernels at run time"
#endif

#include "common/minhash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/minhash_internal.h"

struct ps_minhash {
    struct ps_minhash_opts opts; /* simd resolved */
    const struct ps_minhash_kernels *kern;
    uint64_t *a, *b; /* owned, k each */
    void *vcoef;     /* owned, aligned_alloc'ed kernel layout, or NULL */
    struct ps_minhash_coef coef;
    uint64_t dseed;    /* OPH densification */
    uint8_t *filled;   /* owned, k: OPH bins hit */
    uint32_t *seg_sig; /* owned, k: segment signature handed to callbacks */
    struct ps_minhash_words words;
};

struct ps_minhash_opts ps_minhash_opts_default(void)
{
    struct ps_minhash_opts o;

    memset(&o, 0, sizeof(o));
    o.k = 128;
    o.ngram = 5;
    o.method = PS_MINHASH_CLASSIC;
    o.seed = PS_MINHASH_DEFAULT_SEED;
    o.simd = PS_SIMD_AUTO;
    return o;
}

struct ps_minhash_seg_opts ps_minhash_seg_opts_default(void)
{
    struct ps_minhash_seg_opts o;

    memset(&o, 0, sizeof(o));
    o.paragraphs = true;
    o.window_words = 64;
    o.window_stride = 32;
    o.min_words = 8;
    return o;
}

uint64_t ps_minhash_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t ps_minhash_splitmix64(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ull;
    return ps_minhash_mix64(*state);
}

uint64_t ps_minhash_oph_dseed(uint64_t seed)
{
    return ps_minhash_mix64(seed ^ 0x4f50482d44454e53ull); /* "OPH-DENS" */
}

void ps_minhash_oph_bins(unsigned k, const uint64_t *hashes, size_t n, uint32_t *sig,
                         uint8_t *filled)
{
    for (size_t j = 0; j < n; j++) {
        uint64_t x = hashes[j];
        /* Lemire's multiply-shift range reduction: k need not be a power of two */
        uint32_t bin = (uint32_t)(((x >> 32) * k) >> 32);
        uint32_t v = (uint32_t)x;

        if (v < sig[bin])
            sig[bin] = v;
        filled[bin] = 1;
    }
}

void ps_minhash_oph_densify(unsigned k, uint64_t dseed, uint32_t *sig, const uint8_t *filled)
{
    unsigned n_filled = 0, only = 0;

    for (unsigned j = 0; j < k; j++) {
        if (filled[j]) {
            n_filled++;
            only = j;
        }
    }
    if (n_filled == 0 || n_filled == k)
        return;
    for (unsigned j = 0; j < k; j++) {
        if (filled[j])
            continue;
        if (n_filled == 1) {
            /* every probe sequence ends at the one filled bin: skip the k expected probes */
            sig[j] = sig[only];
            continue;
        }
        /* Shrivastava 2017: probe with a hash of (bin, attempt) until a bin that was filled
         * before densification; both documents of a pair follow the same sequence */
        for (uint32_t t = 1;; t++) {
            uint64_t u = ps_minhash_mix64(dseed ^ (((uint64_t)j << 32) | t));
            uint32_t next = (uint32_t)(((u >> 32) * k) >> 32);

            if (filled[next]) {
                sig[j] = sig[next];
                break;
            }
        }
    }
}

void ps_minhash_free(struct ps_minhash *m)
{
    if (m == NULL)
        return;
    free(m->a);
    free(m->b);
    free(m->vcoef);
    free(m->filled);
    free(m->seg_sig);
    ps_minhash_words_release(&m->words);
    free(m);
}

static const struct ps_minhash_kernels *kernels_for(enum ps_simd level)
{
    switch (level) {
    case PS_SIMD_AVX2:
        return &ps_minhash_kernels_avx2;
#ifdef PS_HAVE_AVX512_BUILD
    case PS_SIMD_AVX512:
        return &ps_minhash_kernels_avx512;
#endif
    default:
        return &ps_minhash_kernels_scalar;
    }
}

enum ps_err ps_minhash_new(struct ps_minhash **out, const struct ps_minhash_opts *opts,
                           struct ps_errdetail *ed)
{
    struct ps_minhash_opts o = opts != NULL ? *opts : ps_minhash_opts_default();
    struct ps_minhash *m = NULL;
    enum ps_err err;
    uint64_t state;
    size_t vsize;

    *out = NULL;
    if (o.k < 16 || o.k > PS_MINHASH_K_MAX || o.k % 16 != 0) {
        ps_errdetail_set(ed, NULL, 0, "minhash k %u: want a multiple of 16 in [16, %u]", o.k,
                         PS_MINHASH_K_MAX);
        return PS_ERR_USAGE;
    }
    if (o.ngram < 1 || o.ngram > PS_MINHASH_NGRAM_MAX) {
        ps_errdetail_set(ed, NULL, 0, "minhash ngram %u: want [1, %u]", o.ngram,
                         PS_MINHASH_NGRAM_MAX);
        return PS_ERR_USAGE;
    }
    if (o.method != PS_MINHASH_CLASSIC && o.method != PS_MINHASH_OPH) {
        ps_errdetail_set(ed, NULL, 0, "minhash method %d unknown", (int)o.method);
        return PS_ERR_USAGE;
    }
    err = ps_cpu_resolve_simd(o.simd, &o.simd, ed);
    if (err != PS_OK)
        return err;

    m = ps_xcalloc(1, sizeof(*m));
    m->opts = o;
    m->kern = kernels_for(o.simd);
    m->a = ps_xmalloc(o.k * sizeof(*m->a));
    m->b = ps_xmalloc(o.k * sizeof(*m->b));
    /* the family: splitmix64 from the seed, a_i (odd) then b_i for i = 0, 1, ...; a signature of
     * k slots is the prefix of one of more slots under the same seed */
    state = o.seed;
    for (unsigned i = 0; i < o.k; i++) {
        m->a[i] = ps_minhash_splitmix64(&state) | 1;
        m->b[i] = ps_minhash_splitmix64(&state);
    }
    vsize = m->kern->coef_size(o.k);
    if (vsize > 0) {
        m->vcoef = aligned_alloc(64, (vsize + 63) / 64 * 64);
        if (m->vcoef == NULL)
            ps_bug("out of memory for %zu bytes of MinHash coefficients", vsize);
        m->kern->prepare(m->a, m->b, o.k, m->vcoef);
    }
    m->coef.k = o.k;
    m->coef.a = m->a;
    m->coef.b = m->b;
    m->coef.vcoef = m->vcoef;
    m->dseed = ps_minhash_oph_dseed(o.seed);
    m->filled = ps_xmalloc(o.k);
    m->seg_sig = ps_xmalloc(o.k * sizeof(*m->seg_sig));
    *out = m;
    return PS_OK;
}

struct ps_minhash_opts ps_minhash_get_opts(const struct ps_minhash *m)
{
    return m->opts;
}

enum ps_simd ps_minhash_simd(const struct ps_minhash *m)
{
    return m->opts.simd;
}

unsigned ps_minhash_k(const struct ps_minhash *m)
{
    return m->opts.k;
}

void ps_minhash_from_hashes(struct ps_minhash *m, const uint64_t *hashes, size_t n_hashes,
                            uint32_t *sig)
{
    unsigned k = m->opts.k;

    for (unsigned i = 0; i < k; i++)
        sig[i] = PS_MINHASH_EMPTY_SLOT;
    if (n_hashes == 0)
        return;
    if (m->opts.method == PS_MINHASH_CLASSIC) {
        m->kern->classic(&m->coef, hashes, n_hashes, sig);
        return;
    }
    memset(m->filled, 0, k);
    ps_minhash_oph_bins(k, hashes, n_hashes, sig, m->filled);
    ps_minhash_oph_densify(k, m->dseed, sig, m->filled);
}

static enum ps_err prepare_text(struct ps_minhash *m, const char *text, size_t text_len,
                                size_t *n_hashes)
{
    if (text_len > PS_MINHASH_TEXT_MAX)
        return PS_ERR_LIMIT;
    ps_minhash_normalize(&m->words, text, text_len);
    *n_hashes = ps_minhash_hash_shingles(&m->words, m->opts.ngram, m->opts.seed);
    return PS_OK;
}

enum ps_err ps_minhash_shingle_hashes(struct ps_minhash *m, const char *text, size_t text_len,
                                      const uint64_t **hashes, size_t *n_hashes)
{
    enum ps_err err = prepare_text(m, text, text_len, n_hashes);

    *hashes = m->words.hashes;
    return err;
}

enum ps_err ps_minhash_text(struct ps_minhash *m, const char *text, size_t text_len, uint32_t *sig,
                            size_t *n_shingles)
{
    size_t n = 0;
    enum ps_err err = prepare_text(m, text, text_len, &n);

    if (err != PS_OK)
        return err;
    ps_minhash_from_hashes(m, m->words.hashes, n, sig);
    if (n_shingles != NULL)
        *n_shingles = n;
    return PS_OK;
}

enum ps_err ps_minhash_range(struct ps_minhash *m, const char *text, size_t text_len, size_t begin,
                             size_t end, uint32_t *sig, size_t *n_shingles)
{
    if (begin > end || end > text_len)
        return PS_ERR_USAGE;
    return ps_minhash_text(m, text + begin, end - begin, sig, n_shingles);
}

double ps_minhash_jaccard(const uint32_t *a, const uint32_t *b, unsigned k)
{
    unsigned eq = 0;

    if (k == 0)
        return 0.0;
    for (unsigned i = 0; i < k; i++)
        eq += a[i] == b[i];
    return (double)eq / (double)k;
}

/* Signature of words [first, first + count) of the current text; count >= 1. Shingles that lie
 * inside the segment are the text's own (same words, same joins), so only a segment shorter than
 * ngram words needs a hash of its own. */
static size_t segment_sig(struct ps_minhash *m, size_t first, size_t count, uint32_t *sig)
{
    unsigned n = m->opts.ngram;

    if (count >= n) {
        ps_minhash_from_hashes(m, m->words.hashes + first, count - n + 1, sig);
        return count - n + 1;
    }
    {
        uint64_t x = ps_minhash_hash_words(&m->words, first, count, m->opts.seed);

        ps_minhash_from_hashes(m, &x, 1, sig);
    }
    return 1;
}

static bool emit_segment(struct ps_minhash *m, enum ps_minhash_seg_kind kind, size_t first,
                         size_t count, ps_minhash_segment_fn fn, void *arg, size_t *n_segments)
{
    struct ps_minhash_segment seg;

    seg.kind = kind;
    seg.first_word = first;
    seg.n_words = count;
    seg.begin = m->words.obegin[first];
    seg.end = m->words.oend[first + count - 1];
    seg.n_shingles = segment_sig(m, first, count, m->seg_sig);
    seg.sig = m->seg_sig;
    (*n_segments)++;
    return fn(arg, &seg);
}

enum ps_err ps_minhash_segments(struct ps_minhash *m, const char *text, size_t text_len,
                                const struct ps_minhash_seg_opts *so, uint32_t *doc_sig,
                                ps_minhash_segment_fn fn, void *arg, size_t *n_segments)
{
    struct ps_minhash_seg_opts o = so != NULL ? *so : ps_minhash_seg_opts_default();
    const struct ps_minhash_words *w = &m->words;
    size_t n_hashes = 0, count = 0, nw;
    bool windows, hashed;
    enum ps_err err;

    if (n_segments != NULL)
        *n_segments = 0;
    if (o.min_words < 1 ||
        (o.window_words > 0 && (o.window_stride < 1 || o.window_stride > o.window_words)))
        return PS_ERR_USAGE;
    windows = o.window_words > 0 && o.window_words >= o.min_words;
    hashed = doc_sig != NULL || windows;
    if (hashed) {
        err = prepare_text(m, text, text_len, &n_hashes);
        if (err != PS_OK)
            return err;
        if (doc_sig != NULL)
            ps_minhash_from_hashes(m, w->hashes, n_hashes, doc_sig);
    } else {
        /* paragraphs only: hash just the shingles inside the paragraphs that are emitted, not
         * those of short paragraphs or across paragraph breaks */
        if (text_len > PS_MINHASH_TEXT_MAX)
            return PS_ERR_LIMIT;
        ps_minhash_normalize(&m->words, text, text_len);
    }
    nw = w->n_words;
    if (o.paragraphs && w->n_paras >= 2) {
        for (size_t p = 0; p < w->n_paras; p++) {
            size_t first = w->para[p];
            size_t end = p + 1 < w->n_paras ? w->para[p + 1] : nw;

            if (end - first < o.min_words)
                continue;
            if (!hashed && end - first >= m->opts.ngram)
                ps_minhash_hash_span(&m->words, first, end - first, m->opts.ngram, m->opts.seed);
            if (!emit_segment(m, PS_MINHASH_SEG_PARAGRAPH, first, end - first, fn, arg, &count))
                goto done;
        }
    }
    if (windows && nw > o.window_words) {
        size_t W = o.window_words;

        /* full windows only (equal sizes compare well); the last one is aligned to the end so
         * that every word is covered */
        for (size_t start = 0;; start += o.window_stride) {
            bool last = start + W >= nw;

            if (last)
                start = nw - W;
            if (!emit_segment(m, PS_MINHASH_SEG_WINDOW, start, W, fn, arg, &count) || last)
                break;
        }
    }
done:
    if (n_segments != NULL)
        *n_segments = count;
    return PS_OK;
}

/* ---- LSH */

double ps_minhash_lsh_probability(const struct ps_minhash_lsh *lsh, double s)
{
    return 1.0 - pow(1.0 - pow(s, (double)lsh->rows), (double)lsh->bands);
}

static double fp_area(const struct ps_minhash_lsh *lsh, double threshold)
{
    const int steps = 256;
    double h = threshold / steps, sum = 0.0;

    for (int i = 0; i < steps; i++)
        sum += ps_minhash_lsh_probability(lsh, (i + 0.5) * h);
    return sum * h;
}

enum ps_err ps_minhash_lsh_choose(unsigned k, double threshold, double min_recall,
                                  struct ps_minhash_lsh *out)
{
    struct ps_minhash_lsh best = {k, 1};
    double best_fp = 2.0;

    if (k == 0 || !(threshold > 0.0 && threshold < 1.0) || !(min_recall > 0.0 && min_recall < 1.0))
        return PS_ERR_USAGE;
    /* for each r, more bands raise recall and false positives alike: take the fewest bands that
     * reach min_recall, then the r with the smallest false-positive area below the threshold */
    for (unsigned r = 1; r <= k; r++) {
        for (unsigned b = 1; b * r <= k; b++) {
            struct ps_minhash_lsh c = {b, r};

            if (ps_minhash_lsh_probability(&c, threshold) >= min_recall) {
                double fp = fp_area(&c, threshold);

                if (fp < best_fp) {
                    best_fp = fp;
                    best = c;
                }
                break;
            }
        }
    }
    *out = best;
    return PS_OK;
}

struct ps_minhash_lsh ps_minhash_lsh_default(unsigned k)
{
    struct ps_minhash_lsh lsh = {k, 1};

    if (k > 0)
        (void)ps_minhash_lsh_choose(k, 0.8, 0.9, &lsh);
    return lsh;
}

void ps_minhash_lsh_keys(const struct ps_minhash_lsh *lsh, const uint32_t *sig, uint64_t *keys)
{
    /* a band is hashed as its rows in little-endian u32, which is their layout in memory here */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#    error "ps_minhash_lsh_keys hashes the slots in place: little-endian targets only"
#endif
    for (unsigned band = 0; band < lsh->bands; band++)
        keys[band] =
            ps_minhash_hash_bytes(sig + (size_t)band * lsh->rows, sizeof(*sig) * lsh->rows, band);
}
