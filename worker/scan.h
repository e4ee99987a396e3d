/* scan.h - one shard end to end in the worker: read documents, run the detector, aggregate the
 * results in memory, and turn them into atomic Redis commits, one per part of the shard (a part
 * is every 64 MiB of input, so a 4 GB shard costs no more memory than a 64 MB one). Everything
 * the hot loop touches is allocated once per worker and reused for every shard and document. */
#ifndef PS_WORKER_SCAN_H
#define PS_WORKER_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/reader.h"
#include "common/store.h"
#include "worker/detect.h"

#define PS_SCAN_ERRORS_KEPT_MAX 1000000 /* --max-errors-kept */

struct ps_scan_opts {
    struct ps_reader_opts reader;
    struct ps_detect_opts detect;
    uint32_t max_errors_kept;   /* per part: error records kept with file and offset */
    const char *signatures_dir; /* pass 1: write DIR/shard-NNNNNN.sig per shard; NULL = off */
    unsigned signature_k;       /* slots per signature (one-permutation MinHash, 5-word shingles) */
    unsigned cluster_log2;      /* near-duplicate paragraphs: sketch of 2^w cells a row; 0 = off */
    uint64_t part_bytes;        /* a shard's results are committed every this many decompressed
                                   bytes (a part), so that a worker's memory does not grow with
                                   its shard: 64 MiB. A part of a compressed file also waits
                                   for its frames to verify, so it is at least one frame */
    unsigned partitions;        /* the job's aggregation partitions (common/partition.h): 1 */
};
struct ps_scan_opts ps_scan_opts_default(void);
/* The whole scanner's options, its own and those of the reader and the detector
 * (ps_reader_opts_check, ps_detect_opts_check): PS_OK or PS_ERR_USAGE naming the first one out
 * of range by its command-line flag. A worker checks a lease's settings with it; the CLI checks
 * the same settings with it before any work starts (cli/cli.c ps_cli_coord_check). */
enum ps_err ps_scan_opts_check(const struct ps_scan_opts *o, struct ps_errdetail *ed);

struct ps_scan_pattern {
    const char *text; /* borrowed */
    size_t len;
};

struct ps_scan_spec {
    uint32_t pass; /* enum ps_pass */
    uint32_t shard_id;
    const char *path;               /* borrowed */
    uint64_t begin, end;            /* on-disk range */
    const struct ps_format *format; /* borrowed, NULL = detected from the name and first bytes:
                                       the file's format as the plan resolved it (a lease's
                                       layout and record shape, --format included), read as
                                       given (the container still comes from the file) */
    const struct ps_scan_pattern *candidates; /* passes 2-4: borrowed, n_candidates texts */
    size_t n_candidates;
    size_t leads_from;            /* candidates from this index on are leads: in role when repeated
                                     sentences follow (the leads pass: 0; the confirm pass: n_candidates) */
    const uint64_t *sample_below; /* passes 2-3, NULL or one per candidate: a document in role
                                     whose id hashes below this goes to its sample; pass 4:
                                     nonzero lists every document holding the candidate, in
                                     role or not (its carriers) */
    uint64_t patterns_id;         /* passes 2-4: names the candidates; a shard with the same id,
                                     pass and leads_from as the last one keeps the compiled
                                     pattern sets (0: compile them again) */
    const char *attributes_path; /* pass 5: the attribute file of the whole file (worker/attrs.h) */
    const uint64_t *flagged;     /* pass 5: n_flagged codes of its flagged documents, offset << 1
                                    | payload seen, strictly ascending (borrowed) */
    size_t n_flagged;
};

/* Called every MiB of input or so: return false to abandon the shard (shutdown). */
typedef bool (*ps_scan_progress_fn)(void *ctx, uint64_t bytes_done, uint64_t docs_done);
/* A part of the shard is complete (`last`: the shard is): build its commit with
 * ps_scan_build_commit and apply it now; return false to abandon the shard. */
typedef bool (*ps_scan_part_fn)(void *ctx, uint32_t part, bool last);

struct ps_scan_callbacks {
    ps_scan_progress_fn progress; /* may be NULL */
    ps_scan_part_fn part;         /* may be NULL: the results are dropped (benchmarks) */
    void *ctx;
};

struct ps_scan; /* opaque; one per worker, not thread-safe */

/* `opts` is copied; the reader's field names are copied too. */
enum ps_err ps_scan_new(struct ps_scan **out, const struct ps_scan_opts *opts,
                        struct ps_errdetail *ed);
void ps_scan_free(struct ps_scan *s);

/* Scan one shard, calling cb->part at the end of each part (every opts.part_bytes of input, once
 * the part's compressed frames verified) and of the shard. Record errors and a stream error
 * inside the shard are results (counted, kept with file and offset), not failures: PS_OK.
 * Nothing of a frame that fails its check (zstd checksum, gzip CRC, corrupt or cut short) is
 * counted or committed: its documents and record errors are dropped, the stream error is kept,
 * and to do so the shard is read a second time up to that frame (docs/input-format.md,
 * "Integrity"). A shard that cannot be opened returns the reader's error (PS_ERR_IO ...) with
 * `ed`, as does a signature file that cannot be written, or a file that reads differently the
 * second time (PS_ERR_IO); an abandoned shard returns PS_ERR_TIMEOUT. `cb` may be NULL. */
enum ps_err ps_scan_shard(struct ps_scan *s, const struct ps_scan_spec *spec,
                          const struct ps_scan_callbacks *cb, struct ps_errdetail *ed);

/* Pass 2 of a job with clusters: the coordinator's heavy-cell bitmap (borrowed, copied).
 * PS_OK, PS_ERR_PROTO (wrong size for the sketch), PS_ERR_USAGE (clusters are off). */
enum ps_err ps_scan_set_cluster_heavy(struct ps_scan *s, const uint8_t *bitmap, size_t len,
                                      struct ps_errdetail *ed);

/* The shard's counters so far (view until the next ps_scan_shard). */
const struct ps_reader_stats *ps_scan_stats(const struct ps_scan *s);

/* From inside the part callback: complete the part's results blobs, one per partition
 * (common/results.h). */
void ps_scan_finish_part(struct ps_scan *s);

/* The sample floors (worker/scan.c, above_floor) hold for one job: forget them before a lease of
 * another (a new pattern list forgets them too). */
void ps_scan_forget_samples(struct ps_scan *s);
unsigned ps_scan_partitions(const struct ps_scan *s);

/* Then, for each partition (the last committed must be 0: its marker says the shard is
 * complete), the commit of its blob into `c` (reset here): its marker field ("17" for the
 * shard's last part, "17.3" for part 3 before it) in the partition's commits hash, the blob under
 * the partition's blob key of the pass, and with partition 0 the progress increments (docs, and
 * with the last part the shard and its on-disk `disk_bytes`). */
void ps_scan_build_commit(struct ps_scan *s, const char *job, unsigned partition,
                          struct ps_commit *c, uint64_t disk_bytes);

/* The part's results blob of `partition`, once finished (ps_scan_finish_part): a view until the
 * next part. */
const void *ps_scan_blob(struct ps_scan *s, unsigned partition, size_t *len);

#endif
