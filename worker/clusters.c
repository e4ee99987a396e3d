/* clusters.c - paragraph signatures (classic MinHash, 16 bands of 6 rows of a 128-slot family:
 * ps_minhash_lsh_choose(128, 0.8, 0.99), so a pair at Jaccard 0.8 meets in a band 99 % of the
 * time; a cluster wants all its members, and pairs at 0.5 that meet (22 %) only join when they
 * share a key with enough documents), their band keys in a per-shard sketch (pass 1), and exact
 * membership of the heavy keys (pass 2). A text without blank lines is crawl format (WET, C4,
 * FineWeb: one text block per line), and there each line is a paragraph. */
#include "worker/clusters.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <emmintrin.h>

#include "common/minhash.h"

#define SIG_K     128
#define MAX_BANDS 32

struct ps_clusters {
    struct ps_clusters_opts o;
    struct ps_minhash *m;
    struct ps_minhash_lsh lsh;
    uint32_t *sig;   /* a line's signature (crawl text), SIG_K slots */
    size_t cells;    /* per row */
    uint8_t *sketch; /* ROWS * cells counters */
    /* the cells the shard counted in (row * cells + cell), so that a shard costs what it
     * counts, not what the sketch holds: sorted at the first part asked for (unless the shard
     * is dense, ps_clusters_sketch_part) */
    uint32_t *touched, *sort_tmp;
    size_t n_touched, touched_cap;
    bool sorted;
    uint32_t *part_cells; /* a part's cells, within its runs */
    uint8_t *part_counts;
    uint8_t *heavy; /* ROWS * cells bits, pass 2 */
    /* pass 2 output, reused */
    struct ps_clusters_member *members;
    size_t *first_key; /* per member: index of its first key, until keys stops moving */
    size_t n_members, members_cap;
    uint64_t *keys;
    size_t n_keys, keys_cap;
};

struct ps_clusters_opts ps_clusters_opts_default(void)
{
    struct ps_clusters_opts o;

    o.sketch_log2 = 20;
    o.min_words = 16;
    return o;
}

enum ps_err ps_clusters_new(struct ps_clusters **out, const struct ps_clusters_opts *opts,
                            struct ps_errdetail *ed)
{
    struct ps_clusters *c;
    struct ps_minhash_opts mo = ps_minhash_opts_default();
    enum ps_err err;

    *out = NULL;
    if (opts->sketch_log2 < PS_CLSKETCH_LOG2_MIN || opts->sketch_log2 > PS_CLSKETCH_LOG2_MAX ||
        opts->min_words < 1) {
        ps_errdetail_set(ed, NULL, 0, "clusters: sketch_log2 %u outside %u..%u", opts->sketch_log2,
                         PS_CLSKETCH_LOG2_MIN, PS_CLSKETCH_LOG2_MAX);
        return PS_ERR_USAGE;
    }
    c = ps_xcalloc(1, sizeof(*c));
    c->o = *opts;
    err = ps_minhash_lsh_choose(SIG_K, 0.8, 0.99, &c->lsh);
    if (err != PS_OK || c->lsh.bands > MAX_BANDS || c->lsh.bands * c->lsh.rows % 16 != 0)
        ps_bug("clusters: %u bands of %u rows", c->lsh.bands, c->lsh.rows);
    /* the bands read the first 96 slots; a signature of k slots is the prefix of a longer one
     * (common/minhash.c), so the other 32 would be computed for nothing */
    mo.k = c->lsh.bands * c->lsh.rows;
    /* classic, not one-permutation: a paragraph has 10-60 shingles, so most of OPH's 128 bins
     * are empty and its densification probes cost more than the SIMD kernel's K per shingle
     * (measured in bench_scan: 2.7 s against 2.0 s on 128 MB, the detector alone 1.45 s) */
    mo.method = PS_MINHASH_CLASSIC;
    err = ps_minhash_new(&c->m, &mo, ed);
    if (err != PS_OK) {
        ps_clusters_free(c);
        return err;
    }
    c->sig = ps_xmalloc(SIG_K * sizeof(*c->sig));
    c->cells = (size_t)1 << opts->sketch_log2;
    c->sketch = ps_xcalloc(PS_CLSKETCH_ROWS * c->cells, 1);
    *out = c;
    return PS_OK;
}

void ps_clusters_free(struct ps_clusters *c)
{
    if (c == NULL)
        return;
    ps_minhash_free(c->m);
    free(c->sig);
    free(c->sketch);
    free(c->touched);
    free(c->sort_tmp);
    free(c->part_cells);
    free(c->part_counts);
    free(c->heavy);
    free(c->members);
    free(c->first_key);
    free(c->keys);
    free(c);
}

void ps_clusters_begin_shard(struct ps_clusters *c)
{
    for (size_t i = 0; i < c->n_touched; i++)
        c->sketch[c->touched[i]] = 0;
    c->n_touched = 0;
    c->sorted = true;
}

/* The touched cells, the sort's scratch and a part's cells have one capacity. */
static void grow_touched(struct ps_clusters *c)
{
    c->touched_cap = c->touched_cap ? c->touched_cap * 2 : 4096;
    c->touched = ps_xrealloc(c->touched, c->touched_cap * sizeof(*c->touched));
    c->sort_tmp = ps_xrealloc(c->sort_tmp, c->touched_cap * sizeof(*c->sort_tmp));
    c->part_cells = ps_xrealloc(c->part_cells, c->touched_cap * sizeof(*c->part_cells));
    c->part_counts = ps_xrealloc(c->part_counts, c->touched_cap);
}

/* Count keys[0, n) in both rows of the sketch. The state in locals: every counter stored may
 * alias c, and reloading it per cell cost half the function. */
static void count_keys(struct ps_clusters *c, const uint64_t *keys, size_t n)
{
    uint8_t *sketch = c->sketch;
    uint32_t *touched = c->touched;
    size_t n_touched = c->n_touched, cap = c->touched_cap, row_cells = c->cells;
    unsigned log2 = c->o.sketch_log2;

    for (size_t i = 0; i < n; i++) {
        size_t cells[PS_CLSKETCH_ROWS];

        ps_clsketch_cells(keys[i], log2, cells);
        for (int r = 0; r < PS_CLSKETCH_ROWS; r++) {
            size_t at = (size_t)r * row_cells + cells[r];
            uint8_t v = sketch[at];

            if (v == 0) {
                if (n_touched == cap) {
                    c->n_touched = n_touched;
                    grow_touched(c);
                    touched = c->touched;
                    cap = c->touched_cap;
                }
                touched[n_touched++] = (uint32_t)at;
            }
            sketch[at] = (uint8_t)(v + (v != UINT8_MAX));
        }
    }
    if (n_touched != c->n_touched) {
        c->n_touched = n_touched;
        c->sorted = false;
    }
}

/* LSD radix sort of the touched cells, at most 11 bits a round: as many rounds as the sketch's
 * indices need (two up to 2^22 cells in all, three up to 2^27). */
static void sort_touched(struct ps_clusters *c)
{
    uint32_t *a = c->touched, *b = c->sort_tmp;
    unsigned bits = 1, rounds, width;

    while (((size_t)1 << bits) < (size_t)PS_CLSKETCH_ROWS * c->cells)
        bits++;
    rounds = (bits + 10) / 11;
    width = (bits + rounds - 1) / rounds;
    for (unsigned shift = 0; shift < bits; shift += width) {
        size_t count[2048] = {0}, sum = 0, mask = ((size_t)1 << width) - 1;
        uint32_t *t;

        for (size_t i = 0; i < c->n_touched; i++)
            count[a[i] >> shift & mask]++;
        for (size_t d = 0; d <= mask; d++) {
            size_t n = count[d];
            count[d] = sum;
            sum += n;
        }
        for (size_t i = 0; i < c->n_touched; i++)
            b[count[a[i] >> shift & mask]++] = a[i];
        t = a, a = b, b = t;
    }
    c->sort_tmp = b;
    c->touched = a;
    c->sorted = true;
}

/* The first touched cell at or after `at` (touched sorted). */
static size_t touched_from(const struct ps_clusters *c, size_t at)
{
    size_t lo = 0, hi = c->n_touched;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->touched[mid] < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct ps_minhash_seg_opts seg_opts(const struct ps_clusters *c)
{
    struct ps_minhash_seg_opts so = ps_minhash_seg_opts_default();

    /* paragraphs only: an appended block or a spliced payload is a paragraph of its own;
     * word windows would multiply the keys for little gain on such blocks */
    so.paragraphs = true;
    so.window_words = 0;
    so.min_words = c->o.min_words;
    return so;
}

/* Does the text hold a blank line (only ASCII spaces between two line breaks)? Prose marks its
 * paragraphs so; crawl text has none, a block per line. */
static bool has_blank_line(const char *text, size_t len)
{
    const char *p = text, *end = text + len;

    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' || *p == '\f'))
            p++;
        if (p < end && *p == '\n')
            return true;
    }
    return false;
}

/* Crawl text: each line of at least min_words words as a paragraph segment (a line of w >= 5
 * words has w - 4 shingles), through fn as ps_minhash_segments would call it. */
static enum ps_err line_segments(struct ps_clusters *c, const char *text, size_t len,
                                 ps_minhash_segment_fn fn)
{
    size_t min_shingles = c->o.min_words > 4 ? c->o.min_words - 4 : 1;
    size_t min_words = min_shingles > 1 ? min_shingles + 4 : 1; /* that many shingles need */

    for (size_t b = 0, e; b < len; b = e + 1) {
        const char *nl = memchr(text + b, '\n', len - b);
        struct ps_minhash_segment seg = {0};
        const uint64_t *hashes;
        enum ps_err err;

        e = nl != NULL ? (size_t)(nl - text) : len;
        if (e - b < 2 * c->o.min_words) /* fewer bytes than min_words words need */
            continue;
        if (ps_minhash_words_bound(text + b, e - b, min_words) < min_words)
            continue; /* most lines: cheaper than normalizing them */
        /* ps_minhash_text() in two steps: most lines are too short, and need no signature */
        err = ps_minhash_shingle_hashes(c->m, text + b, e - b, &hashes, &seg.n_shingles);
        if (err != PS_OK)
            return err;
        if (seg.n_shingles < min_shingles)
            continue;
        ps_minhash_from_hashes(c->m, hashes, seg.n_shingles, c->sig);
        seg.kind = PS_MINHASH_SEG_PARAGRAPH;
        seg.begin = b;
        seg.end = e;
        seg.n_words = seg.n_shingles + 4;
        seg.sig = c->sig;
        if (!fn(c, &seg))
            break;
    }
    return PS_OK;
}

/* The paragraphs of a text, or its lines when it has no blank line. */
static enum ps_err segments(struct ps_clusters *c, const char *text, size_t len,
                            ps_minhash_segment_fn fn)
{
    struct ps_minhash_seg_opts so = seg_opts(c);

    if (!has_blank_line(text, len))
        return line_segments(c, text, len, fn);
    return ps_minhash_segments(c->m, text, len, &so, NULL, fn, c, NULL);
}

static bool sketch_segment(void *arg, const struct ps_minhash_segment *seg)
{
    struct ps_clusters *c = arg;
    uint64_t keys[MAX_BANDS];

    ps_minhash_lsh_keys(&c->lsh, seg->sig, keys);
    count_keys(c, keys, c->lsh.bands);
    return true;
}

enum ps_err ps_clusters_sketch(struct ps_clusters *c, const char *text, size_t text_len)
{
    return segments(c, text, text_len, sketch_segment);
}

/* Bit i set when p[i] is zero, i < 16 (SSE2 is baseline x86-64). */
static uint64_t zero16(const uint8_t *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);

    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
}

/* The nonzero cells of sketch[from, from + run) into the part's arrays from index k, read from
 * the sketch itself, 64 cells a step; returns the new k. */
static size_t scan_run(struct ps_clusters *c, size_t from, size_t run, size_t k)
{
    const uint8_t *p = c->sketch + from;
    uint32_t *cells = c->part_cells; /* in locals: the byte stores may alias c */
    uint8_t *counts = c->part_counts;

    assert(run % 64 == 0); /* 2^12 cells or more a row, at most 64 parts, powers of two */
    for (size_t j = 0; j < run; j += 64) {
        uint64_t nz = ~(zero16(p + j) | zero16(p + j + 16) << 16 | zero16(p + j + 32) << 32 |
                        zero16(p + j + 48) << 48);

        for (; nz != 0; nz &= nz - 1) {
            size_t at = j + (size_t)__builtin_ctzll(nz);

            cells[k] = (uint32_t)at;
            counts[k++] = p[at];
        }
    }
    return k;
}

void ps_clusters_sketch_part(struct ps_clusters *c, unsigned part, unsigned n_parts,
                             struct ps_results_sketch *out)
{
    size_t run = c->cells / n_parts, k = 0;
    /* sorting costs about 60 instructions a touched cell; reading the sketch a third of one a
     * cell and 13 a nonzero one (measured): read it when more than 1 cell in 128 was touched
     * (a shard of a corpus of few shards, or one with many sentences), else sort */
    bool scan = c->n_touched > PS_CLSKETCH_ROWS * c->cells / 128;

    if (c->touched_cap == 0)
        grow_touched(c); /* views into allocated arrays, even when empty */
    if (!scan && !c->sorted)
        sort_touched(c);
    for (unsigned r = 0; r < PS_CLSKETCH_ROWS; r++) {
        size_t from = (size_t)r * c->cells + (size_t)part * run;
        size_t first = k;

        if (scan) {
            k = scan_run(c, from, run, k);
        } else {
            for (size_t i = touched_from(c, from); i < c->n_touched && c->touched[i] < from + run;
                 i++, k++) {
                c->part_cells[k] = (uint32_t)(c->touched[i] - from);
                c->part_counts[k] = c->sketch[c->touched[i]];
            }
        }
        out->cells[r] = c->part_cells + first;
        out->counts[r] = c->part_counts + first;
        out->n[r] = k - first;
    }
}

enum ps_err ps_clusters_set_heavy(struct ps_clusters *c, const uint8_t *bitmap, size_t bitmap_len,
                                  struct ps_errdetail *ed)
{
    size_t want = PS_CLSKETCH_ROWS * c->cells / 8;

    if (bitmap_len != want) {
        ps_errdetail_set(ed, NULL, 0, "cluster bitmap has %zu bytes, expected %zu", bitmap_len,
                         want);
        return PS_ERR_PROTO;
    }
    if (c->heavy == NULL)
        c->heavy = ps_xmalloc(want);
    memcpy(c->heavy, bitmap, want);
    return PS_OK;
}

static inline bool is_heavy(const struct ps_clusters *c, uint64_t key)
{
    size_t cells[PS_CLSKETCH_ROWS];

    ps_clsketch_cells(key, c->o.sketch_log2, cells);
    for (int r = 0; r < PS_CLSKETCH_ROWS; r++) {
        size_t bit = (size_t)r * c->cells + cells[r];
        if (!((c->heavy[bit / 8] >> (bit % 8)) & 1))
            return false;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static bool member_segment(void *arg, const struct ps_minhash_segment *seg)
{
    struct ps_clusters *c = arg;
    uint64_t keys[MAX_BANDS];
    size_t first = c->n_keys, n;

    ps_minhash_lsh_keys(&c->lsh, seg->sig, keys);
    for (unsigned b = 0; b < c->lsh.bands; b++) {
        if (!is_heavy(c, keys[b]))
            continue;
        if (c->n_keys == c->keys_cap) {
            c->keys_cap = c->keys_cap ? c->keys_cap * 2 : 256;
            c->keys = ps_xrealloc(c->keys, c->keys_cap * sizeof(*c->keys));
        }
        c->keys[c->n_keys++] = keys[b];
    }
    n = c->n_keys - first;
    if (n == 0)
        return true;
    qsort(c->keys + first, n, sizeof(*c->keys), cmp_u64);
    if (c->n_members == c->members_cap) {
        c->members_cap = c->members_cap ? c->members_cap * 2 : 16;
        c->members = ps_xrealloc(c->members, c->members_cap * sizeof(*c->members));
        c->first_key = ps_xrealloc(c->first_key, c->members_cap * sizeof(*c->first_key));
    }
    c->members[c->n_members].begin = seg->begin;
    c->members[c->n_members].end = seg->end;
    c->members[c->n_members].n_keys = n;
    c->first_key[c->n_members] = first;
    c->n_members++;
    return true;
}

enum ps_err ps_clusters_members(struct ps_clusters *c, const char *text, size_t text_len,
                                const struct ps_clusters_member **members, size_t *n_members)
{
    enum ps_err err;

    c->n_members = 0;
    c->n_keys = 0;
    *members = NULL;
    *n_members = 0;
    if (c->heavy == NULL)
        return PS_OK;
    err = segments(c, text, text_len, member_segment);
    if (err != PS_OK)
        return err;
    for (size_t i = 0; i < c->n_members; i++)
        c->members[i].keys = c->keys + c->first_key[i];
    *members = c->members;
    *n_members = c->n_members;
    return PS_OK;
}

/* Sentences share the sketch with paragraphs under their own keys: a MinHash of SENT_K values
 * over the sentence's shingles (multiply-shift permutations), SENT_BANDS bands of two rows. A
 * template sentence whose slots change two words in six (Jaccard 0.5) meets its siblings in a
 * band with probability 1 - (1 - 0.5^2)^4 = 0.68, at Jaccard 0.67 0.91; two rows keep sentences
 * that merely share a common word apart. Four bands, not eight: a corpus has about 9 sentences
 * per paragraph, and in the sketch that the 2 % budget allows eight bands filled every cell
 * with 12 keys on average (documentation tuning half, 61 MB), so the heavy bar rose to 22 and
 * the sentences of a 50-document attack (a pool of 4 wordings, each in about 12 documents)
 * were never repeated; with four the bar is 16 there. */
#define SENT_BANDS 4
#define SENT_K     (2 * SENT_BANDS)
#define SENT_SALT  UINT64_C(0x5e47e9ce5e47e9ce)

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Band b's key from its two minima. */
static inline uint64_t band_key(uint64_t lo, uint64_t hi, uint64_t b)
{
    uint64_t x = (lo ^ SENT_SALT) * 0x9E3779B97F4A7C15u + b;

    x ^= hi + (x << 6) + (x >> 2);
    x ^= x >> 31;
    return x * 0xD6E8FEB86659FD93u ^ (x >> 29);
}

static void sentence_keys(const uint64_t *shingles, size_t n, uint64_t keys[SENT_BANDS])
{
    static const uint64_t mul[SENT_K] = {
        0x9E3779B97F4A7C15u, 0xC2B2AE3D27D4EB4Fu, 0x165667B19E3779F9u, 0xD6E8FEB86659FD93u,
        0xFF51AFD7ED558CCDu, 0xC4CEB9FE1A85EC53u, 0x94D049BB133111EBu, 0xBF58476D1CE4E5B9u};
    uint64_t m0 = UINT64_MAX, m1 = UINT64_MAX, m2 = UINT64_MAX, m3 = UINT64_MAX;
    uint64_t m4 = UINT64_MAX, m5 = UINT64_MAX, m6 = UINT64_MAX, m7 = UINT64_MAX;

    /* eight minima in registers, written out: as a loop over an array gcc kept them in memory
     * and took 10 instructions a value (every sentence of every pass asks) */
    _Static_assert(SENT_K == 8 && SENT_BANDS == 4, "sentence_keys keeps eight minima");
    for (size_t i = 0; i < n; i++) {
        uint64_t s = shingles[i] | 1;

        m0 = min_u64(m0, s * mul[0]);
        m1 = min_u64(m1, s * mul[1]);
        m2 = min_u64(m2, s * mul[2]);
        m3 = min_u64(m3, s * mul[3]);
        m4 = min_u64(m4, s * mul[4]);
        m5 = min_u64(m5, s * mul[5]);
        m6 = min_u64(m6, s * mul[6]);
        m7 = min_u64(m7, s * mul[7]);
    }
    /* the bands written out too: as a loop gcc spilled the minima to an array first */
    keys[0] = band_key(m0, m1, 0);
    keys[1] = band_key(m2, m3, 1);
    keys[2] = band_key(m4, m5, 2);
    keys[3] = band_key(m6, m7, 3);
}

void ps_clusters_sentence_add(void *clusters, const uint64_t *shingles, size_t n)
{
    struct ps_clusters *c = clusters;
    uint64_t keys[SENT_BANDS];

    sentence_keys(shingles, n, keys);
    count_keys(c, keys, SENT_BANDS);
}

bool ps_clusters_sentence_heavy(void *clusters, const uint64_t *shingles, size_t n)
{
    const struct ps_clusters *c = clusters;
    uint64_t keys[SENT_BANDS];

    if (c->heavy == NULL)
        return false;
    sentence_keys(shingles, n, keys);
    for (int b = 0; b < SENT_BANDS; b++)
        if (is_heavy(c, keys[b]))
            return true;
    return false;
}
