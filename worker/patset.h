/* patset.h - the confirm pass's candidate patterns, matched as byte substrings of a document's
 * whitespace-normalised text, so that a trigger glued into a longer token without any join the
 * tokenizer can cut ("documenbadmagicfoo") is still found. Patterns shorter than
 * PS_PATSET_MIN_SUBSTRING bytes ("des", "NOM") would match inside too many words: they are only
 * kept by hash, for the detector's whole-token and glued-piece probes.
 *
 * Two matchers give the same occurrences: the reference (a filter on every 4-byte window, then
 * the patterns of that prefix compared in full; patset.c) and Hyperscan (patset_hs.c), which
 * also answers, before a document is tokenized, whether any pattern can occur in it at all. */
#ifndef PS_WORKER_PATSET_H
#define PS_WORKER_PATSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u64map.h"

#define PS_PATSET_MIN_SUBSTRING 4
/* ps_patset_may_occur looks at a document only for sets of at most this many patterns: a big
 * set (the confirm pass's thousands of candidates, with "the" and "in") occurs in every document
 * anyway, and its prefilter would only cost a scan. */
#define PS_PATSET_PREFILTER_MAX 512

enum ps_patset_matcher {
    PS_PATSET_AUTO = 0,  /* Hyperscan where the CPU runs it, unless POISONSCAN_SIMD=scalar */
    PS_PATSET_SCALAR,    /* the reference */
    PS_PATSET_HYPERSCAN, /* Hyperscan (libhs) */
    PS_PATSET__COUNT
};

struct ps_patset; /* opaque; filled, sealed, then scanned: not thread-safe (one scratch) */

/* An empty set holding at most `max` patterns, with the AUTO matcher. *out owns it. */
void ps_patset_new(struct ps_patset **out, size_t max);
/* The same with a chosen matcher: PS_ERR_UNSUPPORTED (with `ed`) when Hyperscan cannot run
 * here; *out is NULL then. */
enum ps_err ps_patset_new_with(struct ps_patset **out, size_t max, enum ps_patset_matcher m,
                               struct ps_errdetail *ed);
void ps_patset_free(struct ps_patset *s); /* NULL is fine */
/* Drop every pattern, keep the memory; the set is unsealed. */
void ps_patset_clear(struct ps_patset *s);
/* The matcher the set runs once sealed (never AUTO); "scalar" or "hyperscan". */
enum ps_patset_matcher ps_patset_matcher(const struct ps_patset *s);
const char *ps_patset_matcher_name(enum ps_patset_matcher m);

/* Add a pattern (text copied; hash = XXH3_64bits(text, len, 0), computed here). A pattern added
 * twice is kept once. PS_ERR_LIMIT past the ceiling, PS_ERR_USAGE for an empty text. Adding to
 * a sealed set unseals it. */
enum ps_err ps_patset_add(struct ps_patset *s, const char *text, size_t len);

/* Build the matcher's tables once the patterns are in (Hyperscan compiles its databases here)
 * and rank the patterns (ps_patset_ranks). PS_OK, or PS_ERR_LIMIT when Hyperscan refuses the
 * set (the detail says why): it is then matched by the reference, which gives the same
 * occurrences, and ranked all the same. */
enum ps_err ps_patset_seal(struct ps_patset *s, struct ps_errdetail *ed);
/* Per pattern id, its place among the set's patterns in the order of hash (0 for the smallest
 * hash): a caller that keeps state per id finds it in that order without sorting. NULL until
 * the set is sealed (and after any add). */
const uint32_t *ps_patset_ranks(const struct ps_patset *s);

/* Patterns held, and the short ones (hash -> id) for whole-token probes. A pattern's id is its
 * index in the set, in the order of adding, below ps_patset_len: callers keep per-pattern state
 * in an array. */
size_t ps_patset_len(const struct ps_patset *s);
const struct ps_u64map *ps_patset_short(const struct ps_patset *s);

/* Called for every occurrence of a long pattern: text[begin, end) equals pattern `id`, whose
 * hash is `hash`. */
typedef void (*ps_patset_fn)(void *ctx, uint32_t id, uint64_t hash, size_t begin, size_t end);

/* Every occurrence of every pattern of at least PS_PATSET_MIN_SUBSTRING bytes in text (borrowed),
 * overlapping ones included; the occurrences of one pattern in order of `begin` (those of
 * different patterns in an order that depends on the matcher). */
void ps_patset_scan(const struct ps_patset *s, const char *text, size_t text_len, ps_patset_fn fn,
                    void *ctx);

/* May some pattern, long or short, occur in the single-spaced copy of this document (its tokens
 * joined by one space), as a substring, an n-gram or a glued piece? `text` (borrowed) is the
 * document as given, any whitespace between its words. false means certainly not; true is the
 * answer for an unsealed set, a reference set and one of more than PS_PATSET_PREFILTER_MAX
 * patterns. */
bool ps_patset_may_occur(const struct ps_patset *s, const char *text, size_t text_len);

#endif
