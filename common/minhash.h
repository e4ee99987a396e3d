/* minhash.h - MinHash signatures of documents and of their segments (paragraphs, word windows,
 * any byte range), LSH band keys, and the per-shard signature file. The exact definition
 * (normalization, shingles, hash family, seeds, empty text, file format) is docs/minhash.md:
 * signatures written by one build compare with those of any other, on any SIMD level.
 * Invariant: every SIMD level gives bit-identical signatures (tests/unit/test_minhash_variants.c).
 */
#ifndef PS_COMMON_MINHASH_H
#define PS_COMMON_MINHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cpu.h"
#include "common/error.h"

#define PS_MINHASH_K_MIN        16u /* k is a multiple of 16 in [16, 1024] */
#define PS_MINHASH_K_MAX        1024u
#define PS_MINHASH_NGRAM_MAX    32u                   /* words per shingle, [1, 32] */
#define PS_MINHASH_DEFAULT_SEED 0x7073636e6d696e68ull /* "pscnminh" */
#define PS_MINHASH_TEXT_MAX     0xfffffffeu           /* longest text, bytes (offsets are u32) */
#define PS_MINHASH_EMPTY_SLOT   0xffffffffu           /* every slot of the empty signature */

enum ps_minhash_method {
    PS_MINHASH_CLASSIC = 0, /* K multiply-shift hash functions, min of each: O(n*K) */
    PS_MINHASH_OPH = 1      /* one-permutation hashing + optimal densification: O(n + K) */
};

struct ps_minhash; /* opaque: defined in minhash.c; one per thread */

struct ps_minhash_opts {
    unsigned k;                    /* signature slots; multiple of 16 in [16, 1024] */
    unsigned ngram;                /* words per shingle, [1, 32] */
    enum ps_minhash_method method; /* CLASSIC or OPH */
    uint64_t seed;                 /* seeds XXH3 and the hash family */
    enum ps_simd simd;             /* AUTO (POISONSCAN_SIMD, else best) or a fixed level */
};
/* k 128, ngram 5, CLASSIC, PS_MINHASH_DEFAULT_SEED, PS_SIMD_AUTO. */
struct ps_minhash_opts ps_minhash_opts_default(void);

/* Build an engine: derive the hash family from the seed and pick the kernels once.
 * On PS_OK, *out owns the engine; free it with ps_minhash_free(). On error *out is NULL and `ed`
 * (may be NULL) says why: PS_ERR_USAGE (k, ngram or method out of range, bad POISONSCAN_SIMD),
 * PS_ERR_UNSUPPORTED (a SIMD level this CPU or build lacks; never a silent fallback).
 * `opts` is borrowed (NULL means defaults). Thread-safe; the engine itself is not: one per thread.
 */
enum ps_err ps_minhash_new(struct ps_minhash **out, const struct ps_minhash_opts *opts,
                           struct ps_errdetail *ed);
void ps_minhash_free(struct ps_minhash *m); /* NULL is fine */

/* The options the engine runs with (simd resolved, never AUTO). */
struct ps_minhash_opts ps_minhash_get_opts(const struct ps_minhash *m);
enum ps_simd ps_minhash_simd(const struct ps_minhash *m);
unsigned ps_minhash_k(const struct ps_minhash *m);

/* Signature of text[0, text_len) (UTF-8; invalid bytes are kept as word bytes) into sig[k]
 * (borrowed, caller's). *n_shingles (may be NULL) gets the number of shingles, 0 for a text
 * without words (its signature is all PS_MINHASH_EMPTY_SLOT: skip such texts before comparing).
 * `text` is borrowed. No allocation per call, except that scratch grows to the largest text seen.
 * PS_OK or PS_ERR_LIMIT (text_len > PS_MINHASH_TEXT_MAX; sig untouched). */
enum ps_err ps_minhash_text(struct ps_minhash *m, const char *text, size_t text_len, uint32_t *sig,
                            size_t *n_shingles);

/* Signature of the byte range text[begin, end): by definition identical to
 * ps_minhash_text(m, text + begin, end - begin, ...). For detectors that found a suspicious span.
 * PS_OK, PS_ERR_USAGE (begin > end or end > text_len), PS_ERR_LIMIT. */
enum ps_err ps_minhash_range(struct ps_minhash *m, const char *text, size_t text_len, size_t begin,
                             size_t end, uint32_t *sig, size_t *n_shingles);

/* The kernel alone: the signature of a set of precomputed 64-bit shingle hashes
 * (hashes[0, n_hashes), borrowed; duplicates are harmless) into sig[k]. n_hashes 0 gives the
 * empty signature. ps_minhash_text() is exactly this over the hashes of its shingles. */
void ps_minhash_from_hashes(struct ps_minhash *m, const uint64_t *hashes, size_t n_hashes,
                            uint32_t *sig);

/* The 64-bit shingle hashes of a text, as ps_minhash_text() computes them: *hashes is a view
 * into the engine (valid until the next call on it), *n_hashes their count. PS_OK or PS_ERR_LIMIT.
 */
enum ps_err ps_minhash_shingle_hashes(struct ps_minhash *m, const char *text, size_t text_len,
                                      const uint64_t **hashes, size_t *n_hashes);

/* A cheap upper bound on the number of words of text[0, text_len) (borrowed), without
 * normalizing it: at least that number, exactly it for pure ASCII text, and at most `enough`
 * (it stops counting there). For skipping texts too short to sign. Thread-safe. */
size_t ps_minhash_words_bound(const char *text, size_t text_len, size_t enough);

/* Estimated Jaccard similarity: the fraction of equal slots of a[k] and b[k] (borrowed). */
double ps_minhash_jaccard(const uint32_t *a, const uint32_t *b, unsigned k);

/* ---- segments: a payload spliced into varied documents is near-duplicate only as a segment */

enum ps_minhash_seg_kind {
    PS_MINHASH_SEG_DOC = 0,       /* the whole text (used in signature files) */
    PS_MINHASH_SEG_PARAGRAPH = 1, /* words between blank lines */
    PS_MINHASH_SEG_WINDOW = 2,    /* a fixed window of words */
    PS_MINHASH_SEG_RANGE = 3      /* a byte range a detector asked for */
};

struct ps_minhash_seg_opts {
    bool paragraphs;        /* emit paragraphs when the text has at least two */
    unsigned window_words;  /* W: words per window; 0 = no windows; windows only if words > W */
    unsigned window_stride; /* step between window starts, in [1, W] */
    unsigned min_words;     /* skip segments with fewer words (paragraphs; >= 1) */
};
/* paragraphs on, W 64, stride 32, min_words 8. */
struct ps_minhash_seg_opts ps_minhash_seg_opts_default(void);

struct ps_minhash_segment {
    enum ps_minhash_seg_kind kind;
    size_t begin, end;   /* byte range of the text: first byte of the first word to one past the
                            last byte of the last word; ps_minhash_range() on it gives `sig` */
    size_t first_word;   /* index of the first word in the text */
    size_t n_words;      /* words in the segment */
    size_t n_shingles;   /* shingles in the segment (>= 1) */
    const uint32_t *sig; /* view: k slots, valid during the callback only */
};

/* Called once per segment, in text order per kind (paragraphs first, then windows).
 * Return true to go on, false to stop. */
typedef bool (*ps_minhash_segment_fn)(void *arg, const struct ps_minhash_segment *seg);

/* Normalize and hash `text` once, write the whole-text signature into doc_sig[k] (may be NULL),
 * then call `fn` for each segment chosen by `so` (borrowed; NULL means defaults).
 * `text` and `arg` are borrowed. *n_segments (may be NULL) gets the number of callbacks made.
 * PS_OK, PS_ERR_USAGE (bad `so`), PS_ERR_LIMIT (text too long). */
enum ps_err ps_minhash_segments(struct ps_minhash *m, const char *text, size_t text_len,
                                const struct ps_minhash_seg_opts *so, uint32_t *doc_sig,
                                ps_minhash_segment_fn fn, void *arg, size_t *n_segments);

/* ---- LSH banding: b bands of r rows; a pair becomes a candidate when one band matches whole */

struct ps_minhash_lsh {
    unsigned bands; /* b */
    unsigned rows;  /* r; b * r <= k, slots [b*r, k) are unused */
};

/* The default for k: ps_minhash_lsh_choose(k, 0.8, 0.9); for k 128 that is 13 bands x 8 rows
 * (docs/minhash.md "LSH bands" explains the S-curve). */
struct ps_minhash_lsh ps_minhash_lsh_default(unsigned k);

/* Pick b, r with b * r <= k: among the pairs whose candidate probability at `threshold` is at least
 * `min_recall`, the one with the smallest false-positive area (integral of the S-curve
 * P(s) = 1 - (1 - s^r)^b below the threshold). PS_OK, or PS_ERR_USAGE (k 0, threshold or
 * min_recall outside (0, 1)). */
enum ps_err ps_minhash_lsh_choose(unsigned k, double threshold, double min_recall,
                                  struct ps_minhash_lsh *out);

/* Probability that a pair of Jaccard similarity s becomes a candidate. */
double ps_minhash_lsh_probability(const struct ps_minhash_lsh *lsh, double s);

/* The 64-bit key of each band: keys[band] = XXH3-64 of the band's r slots as little-endian u32,
 * seeded with the band index (so equal rows in different bands give different keys).
 * `sig` (k slots) is borrowed, keys[bands] is the caller's. The caller checks b * r <= k. */
void ps_minhash_lsh_keys(const struct ps_minhash_lsh *lsh, const uint32_t *sig, uint64_t *keys);

/* ---- signature files: one per shard, see docs/minhash.md "Signature file" */

struct ps_minhash_file_info {
    enum ps_minhash_method method;
    unsigned k;
    unsigned ngram;
    uint64_t seed;
};

struct ps_minhash_record {
    const char *id;                /* document id bytes (not NUL-terminated), borrowed / view */
    size_t id_len;                 /* <= PS_MINHASH_ID_MAX */
    enum ps_minhash_seg_kind kind; /* DOC for a whole document */
    uint64_t begin, end;           /* byte range in the document's text (DOC: 0, text_len) */
    uint32_t n_shingles;           /* saturates at UINT32_MAX */
    const uint32_t *sig;           /* k slots, borrowed / view */
};
#define PS_MINHASH_ID_MAX 4096u

struct ps_minhash_writer; /* opaque: defined in minhash_file.c */

/* Create `path` (borrowed) for the signatures of engine `m` (its parameters are copied; the
 * engine is not kept). Writes go to "<path>.tmp.<pid>", renamed to `path` by a successful close, so
 * a crashed worker leaves no half file under the final name. zstd_level as in libzstd (3 is good).
 * On PS_OK *out owns the writer: close it with ps_minhash_writer_close() or drop it with
 * ps_minhash_writer_free(). PS_ERR_IO, PS_ERR_ZSTD. */
enum ps_err ps_minhash_writer_open(struct ps_minhash_writer **out, const char *path,
                                   const struct ps_minhash *m, int zstd_level,
                                   struct ps_errdetail *ed);
/* Append one record (borrowed). PS_OK, PS_ERR_LIMIT (id too long), PS_ERR_IO, PS_ERR_ZSTD;
 * after an error every call returns it (sticky). */
enum ps_err ps_minhash_writer_add(struct ps_minhash_writer *w, const struct ps_minhash_record *rec,
                                  struct ps_errdetail *ed);
/* Finish the stream, write the trailer, rename into place and free `w` (always freed).
 * PS_OK, PS_ERR_IO, PS_ERR_ZSTD (the temporary file is then removed). */
enum ps_err ps_minhash_writer_close(struct ps_minhash_writer *w, struct ps_errdetail *ed);
/* Abandon: remove the temporary file and free. NULL is fine. */
void ps_minhash_writer_free(struct ps_minhash_writer *w);

struct ps_minhash_reader; /* opaque: defined in minhash_file.c */

/* Open a signature file (path borrowed) and read its header into *info (caller's).
 * On PS_OK *out owns the reader: free with ps_minhash_reader_free().
 * PS_ERR_IO, PS_ERR_PARSE (bad magic, version or parameters). */
enum ps_err ps_minhash_reader_open(struct ps_minhash_reader **out, const char *path,
                                   struct ps_minhash_file_info *info, struct ps_errdetail *ed);
/* Next record into *rec: id and sig are views valid until the next call. *have is false at the
 * verified end of the file. PS_OK, PS_ERR_IO, PS_ERR_ZSTD, PS_ERR_PARSE (bad record, truncated
 * file, record count mismatch); errors are sticky. */
enum ps_err ps_minhash_reader_next(struct ps_minhash_reader *r, struct ps_minhash_record *rec,
                                   bool *have, struct ps_errdetail *ed);
void ps_minhash_reader_free(struct ps_minhash_reader *r); /* NULL is fine */

#endif
