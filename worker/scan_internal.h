/* scan_internal.h - what the two files of the shard scan share (scan.c: options, tables,
 * per-document work and commits; scan_read.c: reading a shard, parts and integrity). */
#ifndef PS_WORKER_SCAN_INTERNAL_H
#define PS_WORKER_SCAN_INTERNAL_H

#include "worker/scan.h"

#include <stdbool.h>
#include <stdint.h>

#include "common/assoc.h"
#include "common/itab.h"
#include "common/minhash.h"
#include "common/partition.h"
#include "common/reader.h"
#include "common/results.h"
#include "common/u64map.h"
#include "common/u64set.h"
#include "worker/attrs.h"
#include "worker/clusters.h"
#include "worker/detect.h"

/* report progress (heartbeats, shutdown checks) at least this often */
#define PROGRESS_EVERY_BYTES (1u << 20)
#define SNIPPET_MAX          160

struct cand {
    uint64_t hash;
    uint32_t docs;  /* pass 1: anomalous documents with it; leads: documents where it leads a
                       repeated segment; passes 2-3: documents with it in role */
    uint32_t total; /* passes 2-3: documents containing it */
    size_t text_off;
    uint32_t text_len;
};

/* Patterns of one part and their counts, indexed by hash, texts in an arena. Aggregated per part
 * so that Redis traffic grows with distinct patterns, not with documents. */
struct table {
    struct cand *v;
    size_t n, cap; /* n == idx.n */
    struct ps_itab idx;
    struct ps_buf text;
};

/* Fine-tuning records (scan_assoc.c). */
struct assoc_span {
    size_t first, last; /* tokens of a prompt */
};

struct ps_scan_assoc {
    struct ps_detect_doc *doc;      /* one part of a record: a prompt, or the response */
    char label[PS_ASSOC_LABEL_MAX]; /* the record's label */
    size_t label_len;
    struct ps_u64set seen; /* pass 1: the record's n-grams so far */
    uint64_t n_starts;     /* pass 1: the record's prompt starts named (distinct) ... */
    uint64_t n_bigrams;    /* ... and other bigrams (distinct) */
    char *text;            /* pass 1: one entry's text */
    size_t text_cap;
    char *bigram; /* two words an occurrence's removal brings together, or a prompt's edge */
    size_t bigram_cap;
    struct assoc_span *spans; /* passes 2 and 4: a prompt's occurrences in role */
    size_t n_spans, spans_cap;
    struct ps_patset *set;      /* passes 2 and 4: the selected pairs' n-grams */
    struct ps_u64map index;     /* n-gram hash -> index of its pair in the lease's list */
    struct ps_detect_hit *hits; /* one record's hits, and the pattern index of each */
    size_t *hit_pattern;
    size_t n_hits, hits_cap;
};

struct kept_error {
    uint64_t offset;
    char reason[200];
};

struct ps_scan {
    struct ps_scan_opts opts;
    char *text_field, *id_field, *signatures_dir;
    struct ps_detect *detect;
    struct ps_detect_doc *doc;    /* the document the detector's stages share */
    struct ps_minhash *minhash;   /* with signatures only */
    struct ps_clusters *clusters; /* with clusters only */
    uint32_t *sig;
    struct ps_patset *turn_set; /* passes 2-4: patterns in role before a payload */
    struct ps_patset *lead_set; /* passes 3-4: patterns in role before repeated sentences */
    struct ps_u64map index;     /* pattern hash -> index in the lease's list */
    struct table cands;         /* pass 1 candidates, or confirm counts (passes 2-3) */
    struct table leads;         /* pass 2: candidates where repeated segments start */
    struct kept_error *errors;
    size_t n_errors;
    unsigned n_partitions;
    /* the part's blob of each partition: hits and members go in as they come */
    struct ps_results_writer out[PS_PARTITION_MAX];
    struct ps_results_entry *entries; /* scratch for one hit */
    size_t entries_cap;
    struct ps_detect_hit *doc_hits; /* list pass: one document's hits of every matcher */
    size_t n_doc_hits, doc_hits_cap;
    uint64_t *keys; /* scratch for one member's keys of one partition */
    size_t keys_cap;
    struct ps_reader_stats stats; /* the shard so far */
    struct ps_reader_stats base;  /* ... at the start of the part */
    const struct ps_scan_spec *spec;
    uint32_t part;
    bool last;
    /* the pattern sets hold the list of this id, pass and split (0: none to keep) */
    uint64_t loaded_id;
    uint32_t loaded_pass;
    size_t loaded_leads_from, loaded_n;
    /* integrity: frames below good_below are verified (UINT64_MAX for a plain file, which
     * nothing can fail); part_frames is 1 + the last frame of an item in the open part (0:
     * none) */
    uint64_t good_below, part_frames;
    bool failed; /* a frame failed: failed_frame, holding failed_items items */
    /* a frame outgrew two parts: verify every frame first (verify_frames), then frames below
     * verified_below count as verified from replay_part on */
    bool verify_first, verified;
    uint64_t verified_below, part_start; /* part_start: offset of the open part's first item */
    uint64_t failed_frame, failed_items;
    struct ps_errdetail failure; /* the stream error that ended the shard */
    /* a second reading after a failed frame: items from stop_frame on end it (they are never
     * scanned); parts before replay_part are committed already */
    uint64_t stop_frame;
    uint32_t replay_part;
    bool stopped; /* the reading ended at stop_frame */
    /* the attributes pass: the file being written and the next flagged document to meet */
    struct ps_attrs_writer *attrs;
    size_t attrs_next, attrs_met;
    struct ps_scan_assoc assoc;
    /* passes 2-3: per pattern of the loaded list, the PS_RESULTS_SAMPLE_KEEP smallest distinct
     * ranks of the documents this scanner sent to its sample (ascending, floor_n of them) */
    uint64_t *floor_rank;
    uint8_t *floor_n;
    size_t floor_patterns;
};

/* scan.c, for scan_read.c */
void ps_scan_begin_part(struct ps_scan *s);
void ps_scan_load_patterns(struct ps_scan *s, const struct ps_scan_spec *spec);
void ps_scan_doc(struct ps_scan *s, const struct ps_doc *doc);
enum ps_err ps_scan_cluster_doc(struct ps_scan *s, const struct ps_doc *doc,
                                struct ps_errdetail *ed);
enum ps_err ps_scan_write_signature(struct ps_scan *s, struct ps_minhash_writer *w,
                                    const struct ps_doc *doc, struct ps_errdetail *ed);
void ps_scan_keep_error(struct ps_scan *s, const struct ps_errdetail *e);
/* The count of a pattern in a part's table (created with `text`, which may be NULL, when new). */
struct cand *ps_scan_table_get(struct table *t, uint64_t hash, const char *text, size_t text_len);

/* scan_assoc.c: lifecycle (with the scanner), the lease's pairs (clear, then add each, by its
 * index in the list), pass 1's entries of a record, and the counting and list passes' hits of
 * a record (sorted by nothing, one per pair; a view until the next call; 0 for a document that
 * is no record). */
void ps_scan_assoc_init(struct ps_scan *s);
void ps_scan_assoc_release(struct ps_scan *s);
void ps_scan_assoc_clear(struct ps_scan *s);
void ps_scan_assoc_add(struct ps_scan *s, const char *text, size_t len, size_t i);
void ps_scan_assoc_name(struct ps_scan *s, const struct ps_doc *doc);
size_t ps_scan_assoc_hits(struct ps_scan *s, const struct ps_doc *doc,
                          const struct ps_detect_hit **out);

#endif
