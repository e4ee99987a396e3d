/* results.h - the results of one shard in one pass, as a worker commits them to Redis and the
 * coordinator reads them back: one binary record per shard and pass (the "results blob"). This
 * module is its only encoder and decoder (docs/redis-keys.md, "Results blobs").
 *
 * Layout: "PSRB", a version byte (PS_RESULTS_VERSION), the pass (enum ps_pass), the shard id,
 * the part (a big shard commits its results in parts, worker/scan.h) and the partition
 * (common/partition.h) as varints, then sections, each
 * a tag byte, a varint length and a payload; a blob ends with its last section. Integers are
 * varints, hashes 8 little-endian bytes, texts length-prefixed bytes. A decoder of another version
 * refuses the blob (a job's coordinator and workers run one build).
 *
 * What each pass commits (docs/redis-keys.md has the memory model):
 *  - scan: totals, the kept record errors, the candidates (hash, documents, text), the
 *    partition's part of the sketch of sentence and paragraph band keys (its nonzero cells only,
 *    so that what the collector adds up grows with the shard, not with the sketch);
 *  - confirm and leads: totals, per pattern (index into the lease's list) documents containing
 *    it and documents with it in role, and a sample of the latter with their evidence; confirm
 *    also the leads of repeated segments (as candidates) and the members of heavy clusters;
 *  - list: one record per document that holds a listed pattern, with the evidence of each. */
#ifndef PS_COMMON_RESULTS_H
#define PS_COMMON_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/clsketch.h"
#include "common/error.h"

#define PS_RESULTS_VERSION 7
#define PS_RESULTS_SKETCH  8    /* values in a continuation sketch (PS_DETECT_SKETCH) */
#define PS_RESULTS_TEXT    4096 /* bytes of a pattern text, id, snippet or reason at most */
/* Confirm and leads passes: the coordinator keeps the documents of this many smallest ranks
 * in each pattern's sample, at most; a worker need not send a document in role whose rank is
 * above this many of its own committed ranks of the pattern (worker/scan.h) */
#define PS_RESULTS_SAMPLE_KEEP 8

struct ps_results_totals {
    uint64_t docs, bytes, text_bytes, errors, lines_blank;
};

/* A pattern a document named: pass-1 candidates, pass-2 leads of repeated segments. */
struct ps_results_cand {
    uint64_t hash;
    uint64_t docs;    /* documents of the shard that name it */
    const char *text; /* view */
    size_t text_len;
};

/* Confirm and leads passes: pattern `pattern` of the lease's list. */
struct ps_results_count {
    uint64_t pattern;
    uint64_t total; /* documents containing it */
    uint64_t role;  /* documents with it in role */
};

struct ps_results_error {
    uint64_t offset;    /* in the decompressed stream */
    const char *reason; /* view */
    size_t reason_len;
};

/* A paragraph of a heavy cluster (confirm pass). */
struct ps_results_member {
    const uint64_t *keys; /* view: heavy band keys, n_keys of them (unaligned copy: see below) */
    size_t n_keys;
    uint64_t offset; /* of the document */
    const char *id, *snippet;
    size_t id_len, snippet_len;
};

/* One listed pattern in one document (list pass). */
struct ps_results_entry {
    uint64_t pattern; /* index into the lease's list */
    uint64_t context; /* hash of the bytes right before the first occurrence in role (or 0) */
    uint64_t right;   /* hash of the two plain words after it (or 0) */
    uint32_t sketch[PS_RESULTS_SKETCH]; /* continuation sketch after it */
    uint64_t at;                        /* byte offset of that occurrence in the document (list
                                           pass: of the first occurrence, for a carrier) */
    uint8_t kind;                       /* enum ps_detect_kind, 0 when not in role */
    bool in_role;
    bool glued; /* list pass, a carrier: a letter or digit ends right before its first occurrence */
    uint64_t next; /* list pass: hash of the two plain words after it (or 0), whatever the kind */
    bool restates; /* list pass, in role: its last word and the next stand together earlier in the
                      document (a heading before its page's own subject) */
};

/* Confirm and leads passes: one document in role for a pattern, drawn into the pattern's sample
 * (the lease says which ranks: coordinated sampling, so that the sample does not depend on
 * which shard or attempt holds the document). */
struct ps_results_sample {
    uint64_t rank; /* XXH3 of the document's id */
    struct ps_results_entry e;
};

struct ps_results_hit {
    uint64_t offset; /* of the document */
    const char *id, *snippet;
    size_t id_len, snippet_len;
    const struct ps_results_entry *entries; /* n_entries */
    size_t n_entries;
};

/* A partition's part of the cluster sketch (scan pass): per row, its nonzero cells in ascending
 * order, each an index within the part's run of the row and a count (1 to 255). */
struct ps_results_sketch {
    const uint32_t *cells[PS_CLSKETCH_ROWS];
    const uint8_t *counts[PS_CLSKETCH_ROWS];
    size_t n[PS_CLSKETCH_ROWS];
};

/* ---- encoding ---- */

struct ps_results_writer {
    struct ps_buf out; /* the blob so far, its body (the sections) uncompressed */
    size_t body;       /* where the sections start in out */
    struct ps_buf z;   /* the blob with its body compressed */
};

/* Start a blob for partition `partition` of part `part` of `shard` in `pass` (buffer reused). */
void ps_results_begin(struct ps_results_writer *w, unsigned pass, uint32_t shard, uint32_t part,
                      unsigned partition);
void ps_results_release(struct ps_results_writer *w);
void ps_results_put_totals(struct ps_results_writer *w, const struct ps_results_totals *t);
void ps_results_put_error(struct ps_results_writer *w, const struct ps_results_error *e);
void ps_results_put_cand(struct ps_results_writer *w, const struct ps_results_cand *c);
void ps_results_put_lead(struct ps_results_writer *w, const struct ps_results_cand *c);
void ps_results_put_count(struct ps_results_writer *w, const struct ps_results_count *c);
void ps_results_put_sketch(struct ps_results_writer *w, const struct ps_results_sketch *s);
void ps_results_put_member(struct ps_results_writer *w, const struct ps_results_member *m);
void ps_results_put_hit(struct ps_results_writer *w, const struct ps_results_hit *h);
void ps_results_put_sample(struct ps_results_writer *w, const struct ps_results_sample *s);
/* The blob, its body compressed when it is big: a view into w until the next begin or data. */
const void *ps_results_data(struct ps_results_writer *w, size_t *len);

/* ---- decoding ---- */

/* Callbacks for each section; any may be NULL (the section is checked and skipped). Views are
 * valid during the call. A callback that returns non-PS_OK stops the walk with that error. */
struct ps_results_visitor {
    enum ps_err (*totals)(void *ctx, const struct ps_results_totals *t);
    enum ps_err (*error)(void *ctx, const struct ps_results_error *e);
    enum ps_err (*cand)(void *ctx, const struct ps_results_cand *c);
    enum ps_err (*lead)(void *ctx, const struct ps_results_cand *c);
    enum ps_err (*count)(void *ctx, const struct ps_results_count *c);
    /* one nonzero sketch cell: its row, index within the part's run and count (1-255), cells
     * of a row in ascending order */
    enum ps_err (*sketch)(void *ctx, unsigned row, uint64_t cell, unsigned count);
    enum ps_err (*member)(void *ctx, const struct ps_results_member *m);
    enum ps_err (*hit)(void *ctx, const struct ps_results_hit *h);
    enum ps_err (*sample)(void *ctx, const struct ps_results_sample *s);
};

struct ps_results_limits {
    size_t max_entries; /* entries of one hit, keys of one member */
};
/* 4096 entries. */
struct ps_results_limits ps_results_limits_default(void);

struct ps_results_header {
    unsigned pass;
    uint32_t shard, part;
    unsigned partition;
};

/* Walk the blob `src` (borrowed, src_len bytes): check magic, version and framing, then call
 * `v` for each section in order. *hdr (may be NULL) gets the header.
 * PS_OK, PS_ERR_PROTO (malformed: truncated, unknown tag, a text over PS_RESULTS_TEXT, a section
 * the pass does not commit, ...) with the reason and the byte offset in `ed`, or a callback's
 * error. Never reads outside src; allocates only for hits with entries (freed before return). */
enum ps_err ps_results_decode(const void *src, size_t src_len, const struct ps_results_limits *lim,
                              const struct ps_results_visitor *v, void *ctx,
                              struct ps_results_header *hdr, struct ps_errdetail *ed);
/* Append to `out` the blob `src` with its body decompressed: a blob that ps_results_decode
 * walks as it walks src, for a caller that walks a blob more than once (checked whole, then
 * merged) and would decompress it each time. A blob without a compressed body is copied.
 * PS_OK, or PS_ERR_PROTO as ps_results_decode for a bad header or a body that does not
 * decompress to its length (the sections are not checked); out then holds part of it. */
enum ps_err ps_results_inflate(const void *src, size_t src_len, struct ps_buf *out,
                               struct ps_errdetail *ed);

#endif
