/* patset.h - the confirm pass's candidate patterns, matched as byte substrings of a document's
 * whitespace-normalised text, so that a trigger glued into a longer token without any join the
 * tokenizer can cut ("documenbadmagicfoo") is still found. Patterns shorter than
 * PS_PATSET_MIN_SUBSTRING bytes ("des", "NOM") would match inside too many words: they are only
 * kept by hash, for the detector's whole-token and glued-piece probes. */
#ifndef PS_WORKER_PATSET_H
#define PS_WORKER_PATSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u64set.h"

#define PS_PATSET_MIN_SUBSTRING 4

struct ps_patset; /* opaque; filled once per shard, then only read (thread-safe reads) */

/* An empty set holding at most `max` patterns. *out owns it (free below). */
void ps_patset_new(struct ps_patset **out, size_t max);
void ps_patset_free(struct ps_patset *s); /* NULL is fine */
/* Drop every pattern, keep the memory. */
void ps_patset_clear(struct ps_patset *s);

/* Add a pattern (text copied; hash = XXH3_64bits(text, len, 0), computed here). A pattern added
 * twice is kept once. PS_ERR_LIMIT past the ceiling, PS_ERR_USAGE for an empty text. */
enum ps_err ps_patset_add(struct ps_patset *s, const char *text, size_t len);

/* Patterns held, and the short ones (by hash) for whole-token probes. */
size_t ps_patset_len(const struct ps_patset *s);
const struct ps_u64set *ps_patset_short(const struct ps_patset *s);

/* Called for every occurrence of a long pattern: text[begin, end) equals it. */
typedef void (*ps_patset_fn)(void *ctx, uint64_t hash, size_t begin, size_t end);

/* Every occurrence of every pattern of at least PS_PATSET_MIN_SUBSTRING bytes in text (borrowed),
 * overlapping ones included, in order of `begin`. */
void ps_patset_scan(const struct ps_patset *s, const char *text, size_t text_len, ps_patset_fn fn,
                    void *ctx);

#endif
