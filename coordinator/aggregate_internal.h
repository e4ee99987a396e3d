/* aggregate_internal.h - what the aggregate's files share: the pattern table (agg_table.c), the
 * per-pass states (agg_scan.c, agg_confirm.c, agg_list.c) and the framing around them
 * (aggregate.c). Each state has a merge visitor, a saver and a loader; the loaders trust nothing
 * (a checkpoint comes back from Redis). */
#ifndef PS_COORDINATOR_AGGREGATE_INTERNAL_H
#define PS_COORDINATOR_AGGREGATE_INTERNAL_H

#include "common/varint.h"
#include "coordinator/aggregate.h"

#define PS_AGG_NO_TEXT UINT32_MAX

/* Patterns named in documents: exact counts, a text once keep_text_docs is reached. */
struct agg_entry {
    uint64_t hash;
    uint32_t docs, shards;
    uint32_t text_off, text_len; /* into the table's arena; text_off PS_AGG_NO_TEXT: none */
};

/* A table either keeps every pattern (exact), or has a gate in front: a count-min sketch of
 * AGG_GATE_ROWS rows of 2^gate_log2 saturating 8-bit counters, and a pattern gets an entry only
 * once its estimate reaches keep_docs, to keep its text. Its counts are the gate's estimates,
 * read once the pass is over: sums of saturating counters, they are the same in any order of
 * the shards (a job reports the same whatever its workers did), and never below the truth (up
 * to 255). The gate is for patterns named by the million that matter from tens of documents on
 * (the leads of repeated segments, which the next pass counts exactly).
 *
 * An admitting table (agg_table_init_admit) is exact, but patterns added with agg_table_admit
 * go through a gate first, allocated at the first of them: once admitted, a pattern is counted
 * exactly from the gate's estimate before that commit (at most the chance collisions of its
 * cells above the truth) plus the commit's documents, and its commits from the same estimate
 * plus one (an admitting gate counts documents only; a pattern's commits are never more than
 * its documents). Association pairs (common/assoc.h) come by the million, one per prompt n-gram of
 * each record, and only those of min_docs / PS_SCORE_PART_TURN records can be selected. */
#define AGG_GATE_ROWS 3
/* counters of a gate: its rows of documents, then as many rows of commits (shards) */
#define AGG_GATE_BYTES(log2) ((size_t)2 * AGG_GATE_ROWS << (log2))
/* an admitting gate has the rows of documents only */
#define AGG_ADMIT_GATE_BYTES(log2) ((size_t)AGG_GATE_ROWS << (log2))

struct agg_table {
    struct agg_entry *slots; /* open addressing, power of two, at most half full */
    size_t cap, n;
    struct ps_buf text; /* arena */
    bool has_zero;      /* the hash 0 is kept in zero */
    struct agg_entry zero;
    unsigned gate_log2; /* 0: no gate */
    uint8_t *gate;      /* AGG_GATE_BYTES(gate_log2) counters; admitting: NULL until used */
    bool admits;        /* an admitting table: the counts are exact, the gate only admits */
};

void agg_table_init(struct agg_table *t, unsigned gate_log2);
/* An admitting table whose gate, once used, has 2^gate_log2 cells a row (1 to
 * PS_AGG_GATE_MAX_LOG2). */
void agg_table_init_admit(struct agg_table *t, unsigned gate_log2);
void agg_table_release(struct agg_table *t);
/* Add one shard's count for `hash`; keep the text once the documents reach keep_docs. */
void agg_table_add(struct agg_table *t, uint64_t hash, uint64_t docs, const char *text,
                   size_t text_len, uint64_t keep_docs);
/* The same through an admitting table's gate: a pattern not in the table yet gets its entry,
 * with its text, once the gate's estimate reaches admit_docs. */
void agg_table_admit(struct agg_table *t, uint64_t hash, uint64_t docs, const char *text,
                     size_t text_len, uint64_t admit_docs);
const struct agg_entry *agg_table_find(const struct agg_table *t, uint64_t hash);
/* Keep only the hashes in `keep` (sorted ascending, n_keep of them). */
void agg_table_keep(struct agg_table *t, const uint64_t *keep, size_t n_keep);
void agg_table_each(const struct agg_table *t, ps_agg_pattern_fn fn, void *ctx);
void agg_table_save(const struct agg_table *t, struct ps_buf *out);
bool agg_table_load(struct agg_table *t, const unsigned char **p, const unsigned char *end);
size_t agg_table_footprint(const struct agg_table *t);

/* A reader over a checkpoint's bytes: every get fails softly (bad = true) instead of reading past
 * the end. */
struct agg_rd {
    const unsigned char *p, *end;
    bool bad;
};
uint64_t agg_get(struct agg_rd *r);
uint64_t agg_get_u64le(struct agg_rd *r);
const char *agg_get_bytes(struct agg_rd *r, size_t *len, size_t max);
void agg_put_bytes(struct ps_buf *b, const void *src, size_t len);

struct agg_scan;
struct agg_confirm;
struct agg_list;

struct ps_agg {
    struct ps_agg_opts o;
    size_t n_shards;
    uint8_t *merged; /* bitmap */
    size_t n_merged;
    struct ps_results_totals totals;
    struct agg_scan *scan;       /* pass scan */
    struct agg_confirm *confirm; /* passes confirm and leads */
    struct agg_list *list;       /* pass list */
    uint32_t cur_shard;          /* the shard being merged */
};

/* The visitors below merge into the state of ctx (struct ps_agg) for shard a->cur_shard. Nothing
 * is undone: a blob is checked whole (decoded once without callbacks) before it is merged, and a
 * visitor refuses only what that check cannot see (a pattern index past the list). */

/* agg_scan.c */
struct agg_scan *agg_scan_new(const struct ps_agg_opts *o);
void agg_scan_free(struct agg_scan *s);
extern const struct ps_results_visitor agg_scan_visitor;
void agg_scan_save(const struct agg_scan *s, struct ps_buf *out);
bool agg_scan_load(struct agg_scan *s, struct agg_rd *r);
size_t agg_scan_footprint(const struct agg_scan *s);
void agg_scan_finish(struct agg_scan *s); /* the error views, sorted */
const struct agg_table *agg_scan_cands(const struct agg_scan *s);
void agg_scan_reduce(struct agg_scan *s, const uint64_t *keep, size_t n_keep);
/* Copy the state of `src` into the empty `dst` of as many sketch cells, file f of `src` as
 * file_map[f] (checked against dst's files by the caller). */
void agg_scan_rebase(struct agg_scan *dst, const struct agg_scan *src, const uint32_t *file_map);
bool agg_scan_fits(const struct agg_scan *dst, const struct agg_scan *src,
                   const uint32_t *file_map);

/* aggregate.c: the totals visitor of the scan and confirm passes (every shard once each) */
enum ps_err agg_add_totals(void *ctx, const struct ps_results_totals *t);

/* agg_confirm.c */
struct agg_confirm *agg_confirm_new(const struct ps_agg_opts *o, size_t n_shards);
void agg_confirm_free(struct agg_confirm *c);
extern const struct ps_results_visitor agg_confirm_visitor;
void agg_confirm_save(const struct agg_confirm *c, struct ps_buf *out);
bool agg_confirm_load(struct agg_confirm *c, struct agg_rd *r);
size_t agg_confirm_footprint(const struct agg_confirm *c);
const struct agg_table *agg_confirm_leads(const struct agg_confirm *c);
void agg_confirm_reduce(struct agg_confirm *c, const uint64_t *keep, size_t n_keep);

/* agg_list.c */
struct agg_list *agg_list_new(size_t n_patterns);
void agg_list_free(struct agg_list *l);
extern const struct ps_results_visitor agg_list_visitor;
void agg_list_save(const struct agg_list *l, struct ps_buf *out);
bool agg_list_load(struct agg_list *l, struct agg_rd *r, size_t n_shards);
size_t agg_list_footprint(const struct agg_list *l);
void agg_list_finish(struct agg_list *l); /* the view, in (shard, offset) order */
size_t agg_list_n(const struct agg_list *l);
const struct ps_agg_hit *agg_list_at(const struct agg_list *l, size_t i);

#endif
