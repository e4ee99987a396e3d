/* clusters.h - near-duplicate segments across shards, the worker's half (docs/minhash.md,
 * "Clusters"). Pass 1: the LSH band keys of every paragraph's MinHash signature (of every line's
 * in a text without blank lines: crawl format) are counted in a fixed-size sketch of the shard
 * (two rows of 2^w saturating 8-bit counters), whose nonzero cells are committed; the coordinator
 * adds up the shards' cells and marks the heavy ones. Pass 2: a paragraph whose band keys fall in
 * heavy cells of both rows is reported with its document, so cluster membership is exact. Redis
 * traffic: one sparse sketch per shard, then only the paragraphs of candidate clusters; never one
 * operation per document. A shard costs what it counts: only its cells are cleared, listed and
 * sent, whatever the sketch's size. */
#ifndef PS_WORKER_CLUSTERS_H
#define PS_WORKER_CLUSTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clsketch.h"
#include "common/results.h"
#include "common/error.h"

struct ps_clusters_opts {
    unsigned sketch_log2; /* w: counters per sketch row = 2^w (PS_CLSKETCH_LOG2_MIN..MAX) */
    unsigned min_words;   /* paragraphs with fewer words are ignored: 16 */
};
struct ps_clusters_opts ps_clusters_opts_default(void);

struct ps_clusters; /* opaque; one per worker, reused for every shard; not thread-safe */

/* PS_OK, PS_ERR_USAGE (options out of range) with `ed`. *out owns the object (free below). */
enum ps_err ps_clusters_new(struct ps_clusters **out, const struct ps_clusters_opts *opts,
                            struct ps_errdetail *ed);
void ps_clusters_free(struct ps_clusters *c); /* NULL is fine */

/* Start a shard: an empty sketch. */
void ps_clusters_begin_shard(struct ps_clusters *c);

/* Pass 1: add the band keys of every long paragraph of `text` (borrowed) to the sketch. */
enum ps_err ps_clusters_sketch(struct ps_clusters *c, const char *text, size_t text_len);

/* Partition `part` of `n_parts` of the shard's sketch (each row's part-th run of cells / n_parts;
 * common/partition.h): its nonzero cells, indexed within the run, in *out (views until the next
 * call on `c`). */
void ps_clusters_sketch_part(struct ps_clusters *c, unsigned part, unsigned n_parts,
                             struct ps_results_sketch *out);

/* Pass 2: the heavy-cell bitmap from the coordinator (borrowed, copied): bit i of row r is
 * bitmap[(r * 2^w + i) / 8] >> (i % 8) & 1; bitmap_len must be ROWS * 2^w / 8.
 * PS_OK or PS_ERR_PROTO (wrong size). */
enum ps_err ps_clusters_set_heavy(struct ps_clusters *c, const uint8_t *bitmap, size_t bitmap_len,
                                  struct ps_errdetail *ed);

/* One paragraph of a document whose band keys are all-rows heavy somewhere. */
struct ps_clusters_member {
    size_t begin, end;    /* byte range of the paragraph in the text */
    const uint64_t *keys; /* view: the heavy band keys, ascending */
    size_t n_keys;
};

/* Pass 2: the member paragraphs of `text` (borrowed); *members is a view until the next call.
 * PS_OK or an error of the MinHash engine (PS_ERR_LIMIT for a text over 4 GiB). */
enum ps_err ps_clusters_members(struct ps_clusters *c, const char *text, size_t text_len,
                                const struct ps_clusters_member **members, size_t *n_members);

/* Sentences (worker/detect.h, ps_detect_sentences): pass 1 counts a sentence's band keys in the
 * same sketch, under keys of their own; pass 2 asks whether a sentence is repeated across the
 * corpus (some band key in heavy cells of both rows). The shingles are borrowed; the signatures
 * fit ps_detect_sentence_fn and ps_detect_heavy_fn, `clusters` being the struct ps_clusters. */
void ps_clusters_sentence_add(void *clusters, const uint64_t *shingles, size_t n);
bool ps_clusters_sentence_heavy(void *clusters, const uint64_t *shingles, size_t n);

#endif
