/* plan.h - turn the corpus named on the command line (files, directories, @manifests) into a
 * deterministic list of shards: byte ranges of plain JSONL files cut at line starts, whole
 * compressed files. The plan is what the coordinator leases out and stores in Redis.
 *
 * Invariants of a built or deserialised plan:
 *  - files are absolute, canonical (realpath) paths, each listed once, in input order; inside a
 *    directory entries come in bytewise (strcmp) order, so the same tree gives the same plan;
 *  - shard ids are 0..n_shards-1 in order; shards of one file are adjacent, contiguous and cover
 *    [0, file size) exactly; every plain-file shard begins at offset 0 or just after a '\n';
 *  - an empty file is listed as a file but has no shard (there is nothing to scan in it);
 *  - no path holds a control character (bytes < 0x20 or 0x7f), so the text form needs no escapes.
 *
 * What is taken:
 *  - a file named explicitly (or in a manifest) is always taken, whatever its name; symlinks are
 *    followed; it must be a regular file;
 *  - a directory is walked recursively; it contributes regular files whose names end in a
 *    corpus suffix: .jsonl, .ndjson, .json, .wet (.warc.wet) or .txt, alone or followed by .zst,
 *    .zstd or .gz (case-sensitive; ps_format_name_is_corpus()). Names starting with '.' are
 *    skipped (editor and rsync temporaries). A symlink inside a walked directory is followed
 *    when it points at a file, never when it points at a directory, so walks cannot loop;
 *  - an entry of a walk with a corpus name that cannot be taken is listed as unreadable (path
 *    and reason, ps_plan_unreadable()) and the walk goes on: a file that cannot be opened, a
 *    link that does not resolve (a loop, a dangling link), a FIFO, socket or device. One
 *    damaged entry of a big tree must not stop the scan of the rest; the report lists it. A
 *    path named explicitly that cannot be taken stays an error of the build;
 *  - "@path" reads a manifest: one path per line, see ps_plan_parse_manifest_buf(); each line is
 *    taken like a path on the command line (a directory is walked), and relative lines are
 *    relative to the manifest's folder. A line starting with '@' is a path, not a nested manifest.
 * Each file's format is resolved once, here, by ps_reader_detect() from its name and first bytes
 * and the request in opts.format (--format), and recorded as a code (common/format.h) in the
 * file and its shards. Only plain JSON Lines is split into byte ranges; every other format (any
 * compressed file, JSON arrays, WET, .txt) is one shard per file.
 * A plan may be empty (e.g. a directory without matching files): the caller decides whether
 * that is an error. Thread-safety: a plan is immutable once built; concurrent readers are fine. */
#ifndef PS_COORDINATOR_PLAN_H
#define PS_COORDINATOR_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/format.h"

/* ps_format_code() of JSON Lines with records detected, plain, zstd and gzip: the values
 * ps_shard.format had before other layouts existed (plan.c checks they still agree). */
#define PS_PLAN_FORMAT_JSONL 0
#define PS_PLAN_FORMAT_ZST   1
#define PS_PLAN_FORMAT_GZ    2

struct ps_shard {
    uint32_t id;         /* index in the plan */
    const char *path;    /* view: owned by the plan, absolute */
    uint64_t begin, end; /* on-disk byte range [begin, end), end > begin */
    uint32_t file_index; /* index for ps_plan_file() */
    int format;          /* ps_format_code() of the file's resolved format (PS_PLAN_FORMAT_*
                            for JSON Lines); ps_format_from_code() decodes it */
};

/* Called every PS_PLAN_IDLE_EVERY files or cuts of a build, so that a caller busy planning a
 * big corpus keeps its other duties going (the coordinator renews its job's lock). */
typedef void (*ps_plan_idle_fn)(void *ctx);
#define PS_PLAN_IDLE_EVERY 1024

struct ps_plan_opts {
    uint64_t shard_size;         /* nominal bytes per plain-file shard (>= 1) */
    size_t max_manifest_line;    /* longer manifest lines are PS_ERR_PARSE */
    uint64_t max_manifest_bytes; /* bigger manifest files are PS_ERR_LIMIT */
    uint32_t max_depth;          /* deeper directory nesting is PS_ERR_LIMIT */
    struct ps_format format;     /* --format: the layout or record shape named, the rest
                                    detected per file (ps_format_auto(): all detected) */
    ps_plan_idle_fn idle;        /* may be NULL */
    void *idle_ctx;              /* borrowed, passed to idle */
};
/* shard_size 256 MiB, max_manifest_line 4096, max_manifest_bytes 1 GiB, max_depth 64, format
 * auto, no idle function. */
struct ps_plan_opts ps_plan_opts_default(void);

struct ps_plan; /* opaque: defined in plan.c */

/* Build a plan from `inputs` (n_inputs strings, borrowed): paths of files or directories, or
 * "@manifest". Reads directories, stats every file, opens every file once to check it is
 * readable, and reads around each nominal cut of large plain files to find line starts.
 * `opts` borrowed; NULL means ps_plan_opts_default().
 * On PS_OK *out owns the plan (free with ps_plan_free()); on error *out is NULL and `ed`
 * (may be NULL) names the path, and for manifests the manifest and line number.
 * @return PS_OK; PS_ERR_IO (missing input, unreadable dir, an explicit path that is not a
 *         readable regular file; a walked one is listed as unreadable instead);
 *         PS_ERR_PARSE (bad manifest line); PS_ERR_LIMIT (manifest too big, too deep,
 *         more than UINT32_MAX shards); PS_ERR_UNSUPPORTED (path with a control character);
 *         PS_ERR_USAGE (no inputs, shard_size 0). Not thread-safe only in that it reads the
 *         file system, which may change under it. */
enum ps_err ps_plan_build(struct ps_plan **out, const char *const *inputs, size_t n_inputs,
                          const struct ps_plan_opts *opts, struct ps_errdetail *ed);

size_t ps_plan_n_shards(const struct ps_plan *p);
/* View into the plan, valid until ps_plan_free(); i must be < ps_plan_n_shards(). */
const struct ps_shard *ps_plan_shard(const struct ps_plan *p, size_t i);
/* Number of distinct files, empty ones included. */
size_t ps_plan_n_files(const struct ps_plan *p);
/* View into the plan, valid until ps_plan_free(); i must be < ps_plan_n_files(). */
const char *ps_plan_file(const struct ps_plan *p, size_t i);
uint64_t ps_plan_file_size(const struct ps_plan *p, size_t i); /* on-disk bytes when planned */
int ps_plan_file_format(const struct ps_plan *p, size_t i);    /* ps_format_code() */
/* A walked entry that could not be taken (see "What is taken"): listed, never scanned. */
struct ps_plan_unreadable {
    const char *path;   /* view, owned by the plan: the entry's path as the walk found it */
    const char *reason; /* view, owned by the plan: "cannot open: Permission denied", ... */
};
size_t ps_plan_n_unreadable(const struct ps_plan *p);
/* i must be < ps_plan_n_unreadable(); the views are valid until ps_plan_free(). */
struct ps_plan_unreadable ps_plan_unreadable(const struct ps_plan *p, size_t i);

/* Bytes of the longest folder, with its final '/', that holds every file ("/data/a/" for
 * "/data/a/x.jsonl" and "/data/a/b/y.jsonl"; "/" at least, 0 for a plan without files): the
 * attributes pass puts each file's attribute file at the same path under its folder. */
size_t ps_plan_common_dir_len(const struct ps_plan *p);
/* Each shard's file index (ps_plan_n_shards() entries, one more allocated), owned by the
 * caller (free()): what an aggregate needs to put a shard's errors on its file. */
uint32_t *ps_plan_shard_files(const struct ps_plan *p);
/* On-disk bytes of all shards (== sum of file sizes). */
uint64_t ps_plan_bytes_total(const struct ps_plan *p);
/* How the files of `old`, an earlier job's plan, sit in `cur`, a plan of the same corpus grown
 * since (--since): file_map[f] (ps_plan_n_files(old) entries) gets the index in `cur` of old
 * file f, shard_map[s] (ps_plan_n_shards(old) entries) that of old shard s; *n_reused the
 * shards of `cur` so covered. Every file of `old` must be in `cur` with the same size, mtime and
 * format, cut into the same shards: counts cannot be taken back out of a base, so a file that is
 * gone or changed is PS_ERR_USAGE naming it (`ed`). */
enum ps_err ps_plan_map(const struct ps_plan *old, const struct ps_plan *cur, uint32_t *file_map,
                        uint32_t *shard_map, size_t *n_reused, struct ps_errdetail *ed);

/* XXH3-64 over every file's path, size, mtime and format, every shard's range and (when there
 * are any) every unreadable entry, in a fixed byte order: equal plans give equal values on any
 * machine; a file that changed size or mtime changes it. Part of the job settings fingerprint. */
uint64_t ps_plan_fingerprint(const struct ps_plan *p);

/* Append the plan as text to `dst` (borrowed; its ceiling applies). Format, one record a line:
 *   "poisonscan-plan 1"
 *   "U\t<reason>\t<path>"                       one per unreadable entry, in order, first
 *   "F\t<index>\t<format>\t<size>\t<mtime_sec>\t<mtime_nsec>\t<path>"   one per file, in order
 *   "S\t<id>\t<file_index>\t<begin>\t<end>"                             one per shard, in order
 * Paths never hold tabs or newlines (see the invariants), so no escaping is needed.
 * @return PS_OK or PS_ERR_LIMIT (dst's ceiling; dst then holds a partial text). */
enum ps_err ps_plan_serialize(const struct ps_plan *p, struct ps_buf *dst);

/* Rebuild a plan from the text of ps_plan_serialize() (`src`, src_len bytes, borrowed, need not
 * be NUL-terminated). Every invariant above is checked, nothing is read from the file system.
 * On PS_OK *out owns the plan; on error *out is NULL.
 * @return PS_OK or PS_ERR_PARSE with the line number in `ed`. */
enum ps_err ps_plan_deserialize(struct ps_plan **out, const char *src, size_t src_len,
                                struct ps_errdetail *ed);

/* Check that every planned file is still there as planned: same size and modification time.
 * A resumed job scans the shards it planned; a file that vanished or changed since would mix
 * counts of two versions of it. PS_OK, or PS_ERR_USAGE naming the first file that differs (and
 * how) in `ed`. */
enum ps_err ps_plan_check_files(const struct ps_plan *p, struct ps_errdetail *ed);

void ps_plan_free(struct ps_plan *p); /* NULL is fine */

/* Called once per path line of a manifest. `path` is a view valid during the call: the line
 * trimmed, joined as "<base_dir>/<line>" when relative and base_dir is not NULL. `line_no`
 * counts from 1. Returning anything but PS_OK stops the parse with that value (fill `ed`). */
typedef enum ps_err (*ps_plan_manifest_fn)(void *ctx, const char *path, size_t line_no,
                                           struct ps_errdetail *ed);

/* Parse manifest text without touching the file system (the fuzz target's entry point).
 * Lines end in "\n" or "\r\n" (the last may lack it); blanks and tabs around a line are
 * trimmed; empty lines and lines whose first non-blank byte is '#' are skipped. A line is bad
 * (PS_ERR_PARSE naming `name` and the line number) if it is longer than max_line bytes or holds
 * a NUL or another control character. `src` (src_len bytes), `name` (for messages, may be NULL),
 * `base_dir` (may be NULL) and `ctx` are borrowed.
 * @return PS_OK, PS_ERR_PARSE, or whatever `fn` returned. Thread-safe if `fn` is. */
enum ps_err ps_plan_parse_manifest_buf(const char *src, size_t src_len, const char *name,
                                       const char *base_dir, size_t max_line,
                                       ps_plan_manifest_fn fn, void *ctx, struct ps_errdetail *ed);

#endif
