/* scan.h - one shard end to end in the worker: read documents, run the detector, aggregate the
 * shard's results in memory, and turn them into one atomic Redis commit. Everything the hot
 * loop touches is allocated once per worker and reused for every shard and document. */
#ifndef PS_WORKER_SCAN_H
#define PS_WORKER_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/reader.h"
#include "common/store.h"
#include "worker/detect.h"

struct ps_scan_opts {
    struct ps_reader_opts reader;
    struct ps_detect_opts detect;
    uint32_t max_errors_kept;   /* per shard: error records kept with file and offset */
    const char *signatures_dir; /* pass 1: write DIR/shard-NNNNNN.sig per shard; NULL = off */
    unsigned signature_k;       /* slots per signature (one-permutation MinHash, 5-word shingles) */
    unsigned cluster_log2;      /* near-duplicate paragraphs: sketch of 2^w cells a row; 0 = off */
};
struct ps_scan_opts ps_scan_opts_default(void);

struct ps_scan_pattern {
    const char *text; /* borrowed */
    size_t len;
};

struct ps_scan_spec {
    uint32_t pass; /* 1 scan, 2 confirm */
    uint32_t shard_id;
    const char *path;                         /* borrowed */
    uint64_t begin, end;                      /* on-disk range */
    const struct ps_scan_pattern *candidates; /* pass 2: borrowed, n_candidates pattern texts */
    size_t n_candidates;
};

/* Called every few MB of input: return false to abandon the shard (shutdown). */
typedef bool (*ps_scan_progress_fn)(void *ctx, uint64_t bytes_done, uint64_t docs_done);

struct ps_scan; /* opaque; one per worker, not thread-safe */

/* `opts` is copied; the reader's field names are copied too. */
enum ps_err ps_scan_new(struct ps_scan **out, const struct ps_scan_opts *opts,
                        struct ps_errdetail *ed);
void ps_scan_free(struct ps_scan *s);

/* Scan one shard. Record errors and a stream error inside the shard are results (counted, kept
 * with file and offset), not failures: PS_OK. A shard that cannot be opened returns the
 * reader's error (PS_ERR_IO ...) with `ed`, as does a signature file that cannot be written;
 * an abandoned shard returns PS_ERR_TIMEOUT. */
enum ps_err ps_scan_shard(struct ps_scan *s, const struct ps_scan_spec *spec,
                          ps_scan_progress_fn fn, void *ctx, struct ps_errdetail *ed);

/* Pass 2 of a job with clusters: the coordinator's heavy-cell bitmap (borrowed, copied).
 * PS_OK, PS_ERR_PROTO (wrong size for the sketch), PS_ERR_USAGE (clusters are off). */
enum ps_err ps_scan_set_cluster_heavy(struct ps_scan *s, const uint8_t *bitmap, size_t len,
                                      struct ps_errdetail *ed);

/* The last shard's counters (view until the next ps_scan_shard). */
const struct ps_reader_stats *ps_scan_stats(const struct ps_scan *s);

/* Put the last shard's results into `c` (reset by the caller with the commits key and shard):
 * progress and totals increments, candidates (pass 1) or confirm counts and hits (pass 2),
 * the kept errors, and the cluster sketch (pass 1) or cluster members (pass 2). `disk_bytes` is
 * the shard's on-disk size for bytes_done. PS_OK, or PS_ERR_ZSTD compressing the sketch. */
enum ps_err ps_scan_build_commit(struct ps_scan *s, const char *job, uint32_t pass,
                                 uint32_t shard_id, uint64_t disk_bytes, struct ps_commit *c,
                                 struct ps_errdetail *ed);

#endif
