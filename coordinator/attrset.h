/* attrset.h - the flagged documents of a job, file by file, as the attributes pass needs them
 * (docs/attributes.md): the collector builds the set from the report's decisions and saves it in
 * Redis before the pass starts (record "attrs"); the loop loads it and sends each file's part of
 * it in that file's lease. This module owns the record's format (versioned; fuzz/fuzz_attrset.c).
 *
 * A document is named by its input file (an index into the job's plan) and the byte offset of
 * its record in the file's decompressed stream (struct ps_doc.offset, flagged.jsonl "offset").
 * Thread-safety: a set is immutable once built or decoded; concurrent readers are fine. */
#ifndef PS_COORDINATOR_ATTRSET_H
#define PS_COORDINATOR_ATTRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#define PS_ATTRSET_VERSION 1

/* One flagged document; payload_seen as in flagged.jsonl. */
struct ps_attrset_doc {
    uint32_t file;   /* index into the plan's files, < n_files */
    uint64_t offset; /* < 2^63 */
    bool payload_seen;
};

/* A file's flagged documents as one code each: offset << 1 | payload_seen, strictly ascending
 * (by offset), the form a lease carries them in (Lease.flagged). */
#define PS_ATTRSET_CODE(offset, seen) ((uint64_t)(offset) << 1 | (uint64_t)((seen) ? 1 : 0))
#define PS_ATTRSET_OFFSET(code)       ((code) >> 1)
#define PS_ATTRSET_SEEN(code)         (((code)&1) != 0)

struct ps_attrset; /* opaque */

/* A set of `n_files` files from `docs` (n entries, borrowed, any order). Two entries naming the
 * same document are one, seen when either is. A file index >= n_files or an offset >= 2^63 is
 * a bug of the caller (ps_bug). Never NULL; free with ps_attrset_free(). */
struct ps_attrset *ps_attrset_build(const struct ps_attrset_doc *docs, size_t n, size_t n_files);

/* Append the record to `dst`: deterministic (equal sets give equal bytes). */
void ps_attrset_encode(const struct ps_attrset *s, struct ps_buf *dst);

/* Read a record of ps_attrset_encode() (src_len bytes, borrowed) for a plan of `n_files` files.
 * On PS_OK *out owns the set; else *out is NULL and PS_ERR_PROTO says what is wrong in `ed`
 * (magic, version, truncation, trailing bytes, a file out of range or out of order, offsets not
 * strictly ascending or >= 2^63, counts that do not add up). Never reads past src_len. */
enum ps_err ps_attrset_decode(struct ps_attrset **out, const void *src, size_t src_len,
                              size_t n_files, struct ps_errdetail *ed);

size_t ps_attrset_n_files(const struct ps_attrset *s);
size_t ps_attrset_n_docs(const struct ps_attrset *s); /* over all files */

/* File `file`'s codes (view valid until ps_attrset_free(); NULL with *n = 0 when it has none).
 * `file` must be < ps_attrset_n_files(). */
const uint64_t *ps_attrset_file(const struct ps_attrset *s, uint32_t file, size_t *n);

void ps_attrset_free(struct ps_attrset *s); /* NULL is fine */

#endif
