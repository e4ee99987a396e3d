/* reader.h - stream documents out of corpus files: JSON Lines, JSON arrays, Common Crawl WET and
 * plain text, each plain, zstd or gzip (the formats: common/format.h; the rules with examples:
 * docs/input-format.md). One reader walks one shard and never holds more than one record in
 * memory: a JSONL line, a JSON array element, a WET record's content or a .txt file, each at most
 * max_line bytes (longer ones are skipped as a stream and are PS_ERR_LIMIT).
 *
 * JSON Lines (the rules every JSON record follows):
 *  - one JSON object per line, lines end at '\n'; the last line may lack its '\n'; a "\r\n" ending
 *    is accepted: the '\r' is stripped before parsing (and is counted in stats.bytes, not in
 *    ps_doc.line_len);
 *  - a line of only whitespace (space, \t, \r) is skipped silently and counted in
 *    stats.lines_blank;
 *  - every other line must be a strict JSON object (see common/json.h); a bad line is a record
 *    error (PS_ERR_PARSE);
 *  - the record: a text field that is a string is the document (a text field of another type is
 *    an error); without one, the first shape whose field is present: "messages" (chat),
 *    "conversations" (ShareGPT), "instruction" (Alpaca), "prompt" (prompt/completion); neither
 *    is "missing text field". --format may name one shape (then only it is accepted);
 *  - when a key occurs more than once the LAST occurrence wins, as in Python's json;
 *  - the id is the id field's string value, or the raw literal of a number/true/false; when the
 *    field is absent, null, an object or an array the id is "<path>:<offset>" (offset = the
 *    record's byte offset in the decompressed stream);
 *  - plain files can be split in byte ranges [begin, end): a shard owns the lines that start
 *    inside its range (a line starts at 0 or right after '\n') and reads them to their end, even
 *    past `end`; the ranges of a partition own every line exactly once.
 * JSON files: a '[' array of such objects, streamed element by element (a .json file that does
 * not start with '[' is read as JSON Lines). WET: one document per "conversion" record, its
 * WARC-Target-URI as id; other records are skipped. Plain text: the file is one document, its
 * path as id.
 *
 * A reader is not thread-safe; use one per thread. Buffers are allocated at open and only grow
 * for a record longer than any before, so there is no allocation per document. */
#ifndef PS_COMMON_READER_H
#define PS_COMMON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chat.h"
#include "common/error.h"
#include "common/format.h"

/* The container (the name is older than the other layouts: PS_READER_JSONL is "plain"). */
enum ps_reader_format {
    PS_READER_JSONL = PS_FORMAT_PLAIN,
    PS_READER_ZST = PS_FORMAT_ZST,
    PS_READER_GZ = PS_FORMAT_GZ
};

/* By suffix: ".zst"/".zstd" -> ZST, ".gz" -> GZ, anything else -> JSONL. `path` is borrowed. */
enum ps_reader_format ps_reader_format_from_path(const char *path);

/* Bounds of the options a user sets (--text-field, --id-field, --max-line): the CLI's option
 * tables take them from here and ps_reader_opts_check() enforces them. A field name is a JSON
 * key of 1 to PS_READER_FIELD_MAX bytes (it is also written into settings and reports). */
#define PS_READER_FIELD_MAX    256
#define PS_READER_MAX_LINE_MAX ((uint64_t)1 << 32)

struct ps_reader_opts {
    const char *text_field;       /* borrowed, copied at open: JSON key of the text, "text" */
    const char *id_field;         /* borrowed, copied at open: JSON key of the id, "id" */
    size_t max_line;              /* 64 MiB: longer records are skipped as a stream (LIMIT) */
    unsigned zstd_window_log_max; /* 27 (ZSTD_d_windowLogMax); raise for --long files */
    unsigned max_depth;           /* JSON nesting, 64 */
    struct ps_format format;      /* auto: detected per file (ps_reader_detect); a plan's or a
                                     lease's resolved format is taken as it is */
    size_t max_parts;             /* 1024: parts of one document (turns of a conversation);
                                     a record with more is PS_ERR_LIMIT */
    bool split_templates;         /* true: plain text is split by ps_chat_split() */
    size_t max_header;            /* WET: bytes of one record's header block, 64 KiB */
};
/* "text", "id", 64 MiB, 27, 64, auto, 1024, true, 64 KiB */
struct ps_reader_opts ps_reader_opts_default(void);
/* PS_OK, or PS_ERR_USAGE naming the first option out of range by its command-line flag where it
 * has one ("--text-field: 1 to 256 bytes, not 1100"). */
enum ps_err ps_reader_opts_check(const struct ps_reader_opts *o, struct ps_errdetail *ed);

struct ps_doc {
    const char *text; /* view: decoded UTF-8 text, until the next ps_reader_next. For a record
                         with several fields (Alpaca, chat, ...) their values joined by '\n' */
    size_t text_len;
    const char *id; /* view: the id (string value, or raw number literal), or "<path>:<offset>"
                       when the id field is absent or null; until the next ps_reader_next */
    size_t id_len;
    bool id_literal; /* the id is a JSON value as written (a number), not a string's value */
    uint64_t offset; /* byte offset of the record's start in the decompressed stream */
    size_t line_len; /* bytes of the record: the line without its "\n" or "\r\n", the array
                        element, the WET record's content, the file */
    const struct ps_chat_part *parts; /* view: n_parts >= 1 spans of text in order with their
                                         roles (prompt, response, ...); never separators,
                                         template markers or role names */
    size_t n_parts;
    uint64_t frame; /* the frame (zstd frame, gzip member; 0 for a plain file) holding the
                       record's last byte: see ps_reader_next_event */
};

struct ps_reader_stats {
    uint64_t docs;        /* documents returned */
    uint64_t bytes;       /* decompressed bytes this shard read: the lines it owns, newlines
                             included (for plain files split in ranges, the shards' sums equal
                             the file size), or the whole stream of other layouts */
    uint64_t text_bytes;  /* sum of text_len of returned docs */
    uint64_t errors;      /* record errors returned (PS_ERR_PARSE / PS_ERR_LIMIT) + 1 if a stream
                             error */
    uint64_t lines_blank; /* whitespace-only lines, skipped silently */
    uint64_t skipped;     /* WET records that are not "conversion" records, skipped silently */
};

struct ps_reader; /* opaque: defined in reader_internal.h */

/* Resolve the format of the file open at `fd` (borrowed; read with pread, its offset is left
 * alone) named `name` (borrowed: the path or its last component) for the request `want`
 * (ps_format_auto() detects all; layout and record named in it are kept): the container from
 * the name or the magic bytes, the layout from the name or the first decompressed bytes (when a
 * compressed head does not decode, JSON Lines: the reader will report the damage). Reads at
 * most 256 KiB. PS_OK with *out resolved (layout never AUTO), or PS_ERR_IO (read failed; `ed`
 * says why). Thread-safe. */
enum ps_err ps_reader_detect(int fd, const char *name, struct ps_format want, struct ps_format *out,
                             struct ps_errdetail *ed);

/* Open `path` (borrowed; kept as a view: must outlive the reader) and position at the first record
 * of the shard: for plain JSON Lines the first line that starts inside [begin, end) (a line
 * starts at 0 or right after '\n'; lines that start before `end` are read to their end, even past
 * `end`); every other format needs begin == 0 (else PS_ERR_USAGE) and reads the whole file
 * (end ignored; offsets are in the decompressed stream). The format is opts->format with its
 * AUTO parts detected (ps_reader_detect). `opts` is borrowed (NULL = defaults).
 * On PS_OK *out owns a reader: free it with ps_reader_free(). On failure (PS_ERR_IO: cannot
 * open/read, or not a regular file; PS_ERR_ZSTD / PS_ERR_GZIP: decoder set-up; PS_ERR_USAGE:
 * bad range or options) *out is NULL and `ed` (may be NULL) says why. */
enum ps_err ps_reader_open(struct ps_reader **out, const char *path, uint64_t begin, uint64_t end,
                           const struct ps_reader_opts *opts, struct ps_errdetail *ed);

/* The resolved format of the open file. */
struct ps_format ps_reader_format(const struct ps_reader *r);

/* Next document. Returns:
 *   PS_OK with *has_doc = true and *doc filled (views until the next call);
 *   PS_OK with *has_doc = false at the end of the shard;
 *   PS_ERR_PARSE (bad JSON, bad UTF-8, a NUL byte in text, a field missing or of the wrong type,
 *     a malformed WARC record) or PS_ERR_LIMIT (a record longer than max_line, more parts than
 *     max_parts) for a record error: counted in stats.errors, detail (file, offset in the
 *     decompressed stream, reason) readable via ps_reader_last_error; the caller just calls
 *     again to continue;
 *   PS_ERR_IO / PS_ERR_ZSTD / PS_ERR_GZIP for a stream error (corrupt/truncated frame, failed
 *     checksum, read failure): sticky, every later call returns the same error.
 * On any error *has_doc is false. */
enum ps_err ps_reader_next(struct ps_reader *r, struct ps_doc *doc, bool *has_doc);

/* The integrity contract. A compressed file is a sequence of frames (zstd frames, gzip members),
 * numbered from 0; a plain file is one frame. A decoder hands out a frame's bytes before it reads
 * the checksum at the frame's end, so documents from a damaged frame can be returned before the
 * damage shows. Therefore:
 *  - every document (ps_doc.frame) and record error (ps_reader_item_frame) carries the frame
 *    holding its last byte; frames never decrease from one item to the next;
 *  - after every ps_reader_next, ps_reader_next_event hands out what became known: FRAMES_OK for
 *    a run of frames that ended and passed their checksum (zstd frames written without one and
 *    plain files are read as they are, counted in `unchecked`), FRAME_FAILED for the frame whose
 *    checksum failed, whose data did not decode or that was cut short;
 *  - an event comes only after every item of its frames was returned, so its counts are final;
 *    FRAME_FAILED comes with the stream error and is the last event; the detail of that error
 *    names the frame and its offset in the file and says how many documents were dropped;
 *  - once ps_reader_next reported the end or a stream error, every frame that held an item is
 *    covered by exactly one event.
 * A caller that must not count damaged data keeps each frame's results apart until an event
 * covers it: FRAMES_OK commits them, FRAME_FAILED drops them. (A read error in a plain file ends
 * its frame as FRAMES_OK: what was read is what the file holds.) */
enum ps_reader_event_kind { PS_READER_FRAMES_OK = 1, PS_READER_FRAME_FAILED = 2 };

struct ps_reader_event {
    enum ps_reader_event_kind kind;
    uint64_t first, last; /* frames [first, last]; FRAME_FAILED: first == last */
    uint64_t docs;        /* documents ps_reader_next returned from these frames */
    uint64_t errors;      /* record errors it returned from them */
    uint64_t unchecked;   /* FRAMES_OK: frames among them without a checksum */
};

/* Take the oldest pending event: true with *ev filled, false when none is pending. */
bool ps_reader_next_event(struct ps_reader *r, struct ps_reader_event *ev);
/* The frame of the document or record error the last ps_reader_next returned. */
uint64_t ps_reader_item_frame(const struct ps_reader *r);

/* view: the last error's detail (file = the path, offset in the decompressed stream, reason) */
const struct ps_errdetail *ps_reader_last_error(const struct ps_reader *r);
/* view: counters so far, updated by every ps_reader_next */
const struct ps_reader_stats *ps_reader_stats(const struct ps_reader *r);
void ps_reader_free(struct ps_reader *r); /* NULL is fine */

#endif
