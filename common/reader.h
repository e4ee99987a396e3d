/* reader.h - stream documents out of .jsonl, .jsonl.zst and .jsonl.gz shards.
 * One reader walks one shard and never holds more than one line in memory.
 *
 * Input rules (docs/input-format.md has examples):
 *  - one JSON object per line, lines end at '\n'; the last line may lack its '\n'; a "\r\n" ending
 *    is accepted: the '\r' is stripped before parsing (and is counted in stats.bytes, not in
 *    ps_doc.line_len);
 *  - a line of only whitespace (space, \t, \r) is skipped silently and counted in
 *    stats.lines_blank;
 *  - every other line must be a strict JSON object (see common/json.h) whose text field is a
 *    string; a bad line is a record error (PS_ERR_PARSE); a line longer than max_line bytes
 *    (without its "\n") is skipped as a stream, never held whole, and is PS_ERR_LIMIT;
 *  - when a key occurs more than once the LAST occurrence wins, as in Python's json;
 *  - the id is the id field's string value, or the raw literal of a number/true/false; when the
 *    field is absent, null, an object or an array the id is "<path>:<offset>" (offset = the
 *    line's byte offset in the decompressed stream);
 *  - plain files can be split in byte ranges [begin, end): a shard owns the lines that start
 *    inside its range (a line starts at 0 or right after '\n') and reads them to their end, even
 *    past `end`; the ranges of a partition own every line exactly once.
 * A reader is not thread-safe; use one per thread. Buffers are allocated at open and only grow
 * for a line longer than any before, so there is no allocation per document. */
#ifndef PS_COMMON_READER_H
#define PS_COMMON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum ps_reader_format { PS_READER_JSONL = 0, PS_READER_ZST = 1, PS_READER_GZ = 2 };

/* By suffix: ".zst"/".zstd" -> ZST, ".gz" -> GZ, anything else -> JSONL. `path` is borrowed. */
enum ps_reader_format ps_reader_format_from_path(const char *path);

struct ps_reader_opts {
    const char *text_field;       /* borrowed, copied at open: JSON key of the text, "text" */
    const char *id_field;         /* borrowed, copied at open: JSON key of the id, "id" */
    size_t max_line;              /* 64 MiB: longer lines are skipped as a stream -> PS_ERR_LIMIT */
    unsigned zstd_window_log_max; /* 27 (ZSTD_d_windowLogMax); raise for --long files */
    unsigned max_depth;           /* JSON nesting, 64 */
};
/* "text", "id", 64 MiB, 27, 64 */
struct ps_reader_opts ps_reader_opts_default(void);

struct ps_doc {
    const char *text; /* view: decoded UTF-8 text, until the next ps_reader_next */
    size_t text_len;
    const char *id; /* view: the id (string value, or raw number literal), or "<path>:<offset>"
                       when the id field is absent or null; until the next ps_reader_next */
    size_t id_len;
    uint64_t offset; /* byte offset of the line start in the decompressed stream */
    size_t line_len; /* bytes of the line without its "\n" or "\r\n" */
};

struct ps_reader_stats {
    uint64_t docs;        /* documents returned */
    uint64_t bytes;       /* decompressed bytes of the lines this shard owns, newlines included (for
                             plain files split in ranges, the shards' sums equal the file size) */
    uint64_t text_bytes;  /* sum of text_len of returned docs */
    uint64_t errors;      /* record errors returned (PS_ERR_PARSE / PS_ERR_LIMIT) + 1 if a stream
                             error */
    uint64_t lines_blank; /* whitespace-only lines, skipped silently */
};

struct ps_reader; /* opaque: defined in reader.c */

/* Open `path` (borrowed; kept as a view: must outlive the reader) and position at the first line
 * that starts inside [begin, end) (a line starts at 0 or right after '\n'; lines that start
 * before `end` are read to their end, even past `end`). Compressed formats need begin == 0
 * (else PS_ERR_USAGE) and read the whole file (end ignored; offsets are in the decompressed
 * stream). Format from ps_reader_format_from_path. `opts` is borrowed (NULL = defaults).
 * On PS_OK *out owns a reader: free it with ps_reader_free(). On failure (PS_ERR_IO: cannot
 * open/read; PS_ERR_ZSTD / PS_ERR_GZIP: decoder set-up; PS_ERR_USAGE: bad range or options)
 * *out is NULL and `ed` (may be NULL) says why. */
enum ps_err ps_reader_open(struct ps_reader **out, const char *path, uint64_t begin, uint64_t end,
                           const struct ps_reader_opts *opts, struct ps_errdetail *ed);

/* Next document. Returns:
 *   PS_OK with *has_doc = true and *doc filled (views until the next call);
 *   PS_OK with *has_doc = false at the end of the shard;
 *   PS_ERR_PARSE (bad JSON, bad UTF-8, text field missing or not a string) or PS_ERR_LIMIT (line
 *     longer than max_line) for a record error: counted in stats.errors, detail (file, offset =
 *     line offset + position in the line, reason) readable via ps_reader_last_error; the caller
 *     just calls again to continue;
 *   PS_ERR_IO / PS_ERR_ZSTD / PS_ERR_GZIP for a stream error (corrupt/truncated frame, read
 *     failure): sticky, every later call returns the same error; the documents returned before
 *     it stand.
 * On any error *has_doc is false. */
enum ps_err ps_reader_next(struct ps_reader *r, struct ps_doc *doc, bool *has_doc);

/* view: the last error's detail (file = the path, offset in the decompressed stream, reason) */
const struct ps_errdetail *ps_reader_last_error(const struct ps_reader *r);
/* view: counters so far, updated by every ps_reader_next */
const struct ps_reader_stats *ps_reader_stats(const struct ps_reader *r);
void ps_reader_free(struct ps_reader *r); /* NULL is fine */

#endif
