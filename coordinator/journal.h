/* journal.h - the coordinator's own record of the shards it saw committed, pass by pass: in
 * memory always, and with --state-dir in an append-only file there, fsync'd before the shards'
 * lease records go from Redis. Redis with AOF everysec may lose its last second of writes in a
 * restart; the commit markers are then older than this record, and the difference is what must
 * be dispatched again (docs/reliability.md). This module alone knows the file's format.
 *
 * The file, text, one line each (version 1):
 *   poisonscan-journal 1 <job> <fingerprint, 16 hex digits> <shards>
 *   <pass> <shard> [<shard> ...] <XXH32 of the line before this field, 8 hex digits>
 * A record line names at most PS_JOURNAL_LINE_SHARDS shards. Only the last line may be cut short
 * or torn (a crash in the middle of a write): it is ignored. Anything else that does not parse is
 * PS_ERR_PROTO, and the coordinator stops rather than trust it. */
#ifndef PS_COORDINATOR_JOURNAL_H
#define PS_COORDINATOR_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/store.h"

#define PS_JOURNAL_VERSION     1
#define PS_JOURNAL_LINE_SHARDS 256
#define PS_JOURNAL_LINE_MAX    4096 /* bytes of a line, its newline included */

struct ps_journal_header {
    unsigned version;
    char job[PS_STORE_JOB_MAX + 1];
    uint64_t fingerprint;
    uint64_t n_shards;
};

/* One record: shard `shard` was committed in pass `pass`. A non-PS_OK return stops the parse. */
typedef enum ps_err (*ps_journal_record_fn)(void *ctx, unsigned pass, uint32_t shard);

/* Parse src[0, src_len): the header into *hdr, then `fn` for each record, in file order
 * (a pass from 1 to PS_PASS__LAST, a shard below the header's count). *used (may be NULL) is
 * where the valid part ends: src_len, or the start of an ignored last line. PS_ERR_PROTO with
 * `ed` for a missing or bad header, another version, or a bad line before the last. Pure: no
 * I/O, no state kept (the fuzz target's entry). */
enum ps_err ps_journal_parse(const char *src, size_t src_len, struct ps_journal_header *hdr,
                             ps_journal_record_fn fn, void *ctx, size_t *used,
                             struct ps_errdetail *ed);

struct ps_journal; /* opaque; single-threaded (the coordinator's loop) */

/* A record for job `job` (borrowed) with `fingerprint` over `n_shards` shards. `dir` NULL: in
 * memory only. Else the file "<dir>/<job>.journal" (dir made if missing): its records are read
 * when it belongs to this job and fingerprint (a journal of another fingerprint, a job made
 * again after gc, is replaced: *replaced true), and the file is rewritten compacted (temporary
 * name, fsync, rename) before appends go on. On PS_OK *out owns the journal
 * (ps_journal_free). PS_ERR_IO or PS_ERR_PROTO (a damaged file, named in `ed`) otherwise. */
enum ps_err ps_journal_open(struct ps_journal **out, const char *dir, const char *job,
                            uint64_t fingerprint, size_t n_shards, bool *replaced,
                            struct ps_errdetail *ed);
void ps_journal_free(struct ps_journal *j); /* NULL is fine */

/* Shards shards[0, n) (borrowed) were committed in `pass`: recorded in memory, then appended
 * and fsync'd. PS_ERR_IO with `ed` when the file cannot be written (the memory is updated). */
enum ps_err ps_journal_add(struct ps_journal *j, unsigned pass, const uint32_t *shards, size_t n,
                           struct ps_errdetail *ed);
bool ps_journal_has(const struct ps_journal *j, unsigned pass, uint32_t shard);
size_t ps_journal_count(const struct ps_journal *j, unsigned pass);
/* Forget shard `shard` of `pass` (its commit was lost), or (shard == UINT32_MAX) every shard of
 * `pass`: in memory; ps_journal_rewrite() makes the file say so. */
void ps_journal_forget(struct ps_journal *j, unsigned pass, uint32_t shard);
/* Replace the file with what the memory holds (temporary name, fsync, rename); nothing in
 * memory mode. PS_ERR_IO with `ed`. */
enum ps_err ps_journal_rewrite(struct ps_journal *j, struct ps_errdetail *ed);
/* The job is finished: remove the file (memory mode: nothing). */
void ps_journal_remove(struct ps_journal *j);
/* "<dir>/<job>.journal", or "(memory)"; view. */
const char *ps_journal_path(const struct ps_journal *j);

#endif
