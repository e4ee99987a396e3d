/* patset_internal.h - the pattern set's private layout, shared by the reference matcher
 * (patset.c) and the Hyperscan one (patset_hs.c); not for other modules (tests may include it). */
#ifndef PS_WORKER_PATSET_INTERNAL_H
#define PS_WORKER_PATSET_INTERNAL_H

#include "common/itab.h"
#include "common/u64map.h"
#include "worker/patset.h"

#define PS_PATSET_FILTER_LOG2 18

struct ps_patset_pattern {
    uint64_t hash;
    size_t off, len; /* in the text arena */
    uint32_t next;   /* long patterns: 1 + index of the next one with the same prefix, 0 = none */
    bool is_short;   /* under PS_PATSET_MIN_SUBSTRING bytes: probed by hash, never scanned for */
};

struct ps_patset_hs; /* patset_hs.c: the compiled databases and their scratch */

struct ps_patset {
    size_t max;
    enum ps_patset_matcher matcher; /* resolved: SCALAR or HYPERSCAN */
    struct ps_patset_pattern *pats; /* every pattern, short ones too (the prefilter needs them) */
    size_t n_pats, pats_cap, n_long;
    char *arena;
    size_t arena_len, arena_cap;
    struct ps_u64set all;
    struct ps_u64map shorts; /* hash -> id of the short patterns */
    uint64_t filter[(1u << PS_PATSET_FILTER_LOG2) / 64];
    /* prefix table of the long patterns: one chain per 4-byte prefix, its head 1 + the index of
     * the last pattern added with it, indexed by the prefix (its own tag in bidx) */
    uint32_t *heads;
    size_t n_heads, heads_cap; /* n_heads == bidx.n */
    struct ps_itab bidx;
    struct ps_patset_hs *hs; /* HYPERSCAN once sealed, else NULL */
    uint32_t *rank;          /* per id, the pattern's place in the order of hash; n_pats of them */
    bool ranked;             /* rank holds the patterns (sealed since the last add) */
};

/* patset_hs.c. Can Hyperscan run on this CPU? */
bool ps_patset_hs_supported(void);
/* Compile the databases of s's patterns: the long ones as literals, and (at most
 * PS_PATSET_PREFILTER_MAX patterns) the longest space-free piece of every one for the
 * prefilter. *out owns them (ps_patset_hs_free). PS_ERR_LIMIT with `ed` when Hyperscan refuses. */
enum ps_err ps_patset_hs_build(const struct ps_patset *s, struct ps_patset_hs **out,
                               struct ps_errdetail *ed);
void ps_patset_hs_free(struct ps_patset_hs *h); /* NULL is fine */
/* Does the compiled set scan a text of this length (else the reference does)? */
bool ps_patset_hs_scans(const struct ps_patset *s, size_t text_len);
/* Every occurrence, as ps_patset_scan; false (nothing reported) when scans of this set are nested
 * too deep for its scratch space: the reference matcher then looks. */
bool ps_patset_hs_scan(const struct ps_patset *s, const char *text, size_t text_len,
                       ps_patset_fn fn, void *ctx);
/* The prefilter; true when it cannot answer (no prefilter, too long, nested too deep). */
bool ps_patset_hs_may_occur(const struct ps_patset *s, const char *text, size_t text_len);

#endif
