/* reader_internal.h - what the files of the reader share: the reader itself, the stream layer
 * (reader.c: file, decoders, window, frames) that the layouts (reader_jsonl.c,
 * reader_json_array.c, reader_wet.c, reader_txt.c) pull bytes from, and the record layer
 * (reader_record.c) that turns one JSON object into a document. Also the knobs that only tests
 * and fuzz targets turn: tiny I/O buffers make every record cross a buffer boundary, which is
 * where streaming bugs live. */
#ifndef PS_COMMON_READER_INTERNAL_H
#define PS_COMMON_READER_INTERNAL_H

#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/reader.h"

#define PS_READER_DEFAULT_IO_SIZE ((size_t)1 << 20) /* 1 MiB reads */

/* Ended frames whose documents are not all returned yet; more are merged into the last run, so
 * a record spanning hundreds of tiny frames costs no memory (no record ends inside them). */
#define PS_READER_RUNS 8

/* Fields the record layer asks the JSON parser for, in this order. */
enum {
    PS_READER_F_TEXT,
    PS_READER_F_ID,
    PS_READER_F_INSTRUCTION,
    PS_READER_F_INPUT,
    PS_READER_F_OUTPUT,
    PS_READER_F_PROMPT,
    PS_READER_F_COMPLETION,
    PS_READER_F_CONVERSATIONS,
    PS_READER_F_MESSAGES,
    PS_READER_F_COUNT
};

/* Ended frames [first, last], all their bytes before stream offset `end`. */
struct ps_reader_run {
    uint64_t first, last, end;
    uint64_t docs, errors, unchecked;
};

/* One layout's cursor over the stream: next item, as ps_reader_next promises it. */
typedef enum ps_err (*ps_reader_next_fn)(struct ps_reader *r, struct ps_doc *doc, bool *has_doc);

struct ps_reader {
    const char *path; /* view: the caller's */
    struct ps_format fmt;
    int fd;
    /* JSONL: lines starting at or after this stream offset belong to the next shard */
    uint64_t end;
    size_t max_line, io_size;

    /* compressed input: in[in_pos, in_len) not yet fed to the decoder; in[0] is at file offset
     * in_base */
    char *in;
    size_t in_pos, in_len;
    uint64_t in_base;
    bool in_eof;
    ZSTD_DCtx *zd;
    size_t zret; /* last ZSTD_decompressStream result: 0 between frames */
    unsigned char zhead[5];
    size_t zhead_len; /* first bytes of the current zstd frame, for its checksum flag */
    z_stream zs;
    bool zs_ready; /* inflateInit2 succeeded, inflateEnd due */

    /* the decompressed stream: win[win_pos, win_len) is unread, win[0] is at stream offset base */
    char *win;
    size_t win_cap, win_max, win_pos, win_len, win_high;
    size_t scan; /* JSONL: the '\n' search resumes here: win[win_pos, scan) holds none */
    uint64_t base;
    bool eof; /* the stream has no more bytes */

    /* frames (zstd frames, gzip members; a plain file is one frame): see ps_reader_next_event */
    uint64_t frame_cur; /* the frame being decoded, or the next one to start */
    bool in_frame;
    uint64_t frame_at; /* file offset of frame_cur's first byte, for the error that fails it */
    uint64_t open_docs, open_errors; /* items of frame_cur so far */
    struct ps_reader_run runs[PS_READER_RUNS];
    size_t n_runs;
    struct ps_reader_event events[2]; /* at most a run of good frames and one failed frame */
    size_t n_events, ev_pos;
    uint64_t item_end;   /* set by the layout: stream offset just past the item it returns */
    uint64_t item_frame; /* frame of the last item returned */
    bool finished;       /* the final events are queued */

    /* the layout */
    ps_reader_next_fn next;
    bool skip_first; /* JSONL: a range that starts mid-file: the partial first line is not ours */
    bool stop;       /* the layout has nothing more to return (the rest is drained) */
    int state;       /* JSON array and WET: where between records the cursor is */
    uint64_t nest;   /* JSON array: brackets open in the element being scanned */
    bool in_string, escaped;
    uint64_t elem_start; /* JSON array: stream offset of the element being scanned */
    bool elem_long;      /* JSON array: the element passed max_line and is being dropped */

    /* the record layer */
    char *text_field, *id_field; /* owned copies of the option strings */
    struct ps_json *json;        /* the record object */
    struct ps_json *nested;      /* one turn of a conversation, one part of a message */
    struct ps_json_field fields[PS_READER_F_COUNT];
    size_t n_fields;
    struct ps_buf text;  /* a record's fields joined by '\n' */
    struct ps_buf idbuf; /* "<path>:<offset>" ids, WET target URIs */
    struct ps_chat_part *parts;
    size_t max_parts;
    bool split_templates;
    size_t max_header;

    enum ps_err sticky; /* a stream error, returned by every later call */
    struct ps_errdetail err;
    struct ps_reader_stats stats;
};

/* ps_reader_open with the size of each read(2) and of each decompression step set to `io_size`
 * bytes (>= 1) instead of PS_READER_DEFAULT_IO_SIZE. */
enum ps_err ps_reader_open_io(struct ps_reader **out, const char *path, uint64_t begin,
                              uint64_t end, const struct ps_reader_opts *opts, size_t io_size,
                              struct ps_errdetail *ed);

/* The most bytes the window ever held: a reader's memory is this plus fixed buffers. */
size_t ps_reader_window_high(const struct ps_reader *r);

/* ---- stream layer (reader.c) ---- */

/* Append decompressed bytes to the window, moving the unread part to the front and growing the
 * window (up to win_max bytes) first when it is full; a decoder stops at each frame's end, so
 * a call may add nothing. Sets r->eof at the end. A stream error fills r->err. */
enum ps_err ps_reader_fill(struct ps_reader *r);
/* Make win[win_pos, win_pos + n) available (n <= win_max); *got is false when the stream ends
 * first (then everything left is in the window). */
enum ps_err ps_reader_need(struct ps_reader *r, size_t n, bool *got);
/* Move win_pos past the bytes `skip` accepts, filling the window as needed; *got is true when a
 * byte it does not accept is at win[win_pos], false when the stream ended first. */
enum ps_err ps_reader_skip_while(struct ps_reader *r, bool (*skip)(char c), bool *got);
/* Drop the next n stream bytes (or up to the end) without holding them; *dropped counts them. */
enum ps_err ps_reader_drop(struct ps_reader *r, uint64_t n, uint64_t *dropped);
/* Stream offset of win[win_pos]: the first byte not consumed. */
uint64_t ps_reader_pos(const struct ps_reader *r);
/* A record error at stream offset `at` (msg printf-style): counted, detail set, item_end moved
 * past `at` if it is not already; returns err. */
enum ps_err ps_reader_record_error(struct ps_reader *r, enum ps_err err, uint64_t at,
                                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Plain text taken from the stream must be valid UTF-8 without NUL bytes (a binary file named
 * .txt): PS_OK, or a counted PS_ERR_PARSE naming the first bad byte (text starts at `start`). */
enum ps_err ps_reader_check_text(struct ps_reader *r, const char *text, size_t len, uint64_t start);
/* Fill doc's id with "<path>:<offset>". */
void ps_reader_default_id(struct ps_reader *r, struct ps_doc *doc, uint64_t offset);
/* Set doc's parts for plain text: the template splitter, or one PS_CHAT_TEXT part. */
void ps_reader_text_parts(struct ps_reader *r, struct ps_doc *doc);
/* A document is ready: count it. */
void ps_reader_count_doc(struct ps_reader *r, const struct ps_doc *doc);

/* ---- layouts ---- */
enum ps_err ps_reader_next_jsonl(struct ps_reader *r, struct ps_doc *doc, bool *has_doc);
enum ps_err ps_reader_next_array(struct ps_reader *r, struct ps_doc *doc, bool *has_doc);
enum ps_err ps_reader_next_wet(struct ps_reader *r, struct ps_doc *doc, bool *has_doc);
enum ps_err ps_reader_next_txt(struct ps_reader *r, struct ps_doc *doc, bool *has_doc);

/* ---- record layer (reader_record.c) ---- */

/* Ask the JSON parser for the fields the record shape needs. */
void ps_reader_record_init(struct ps_reader *r);
/* Turn the JSON object obj[0, obj_len) (a JSONL line or an array element, borrowed) starting at
 * stream offset `start` into *doc. PS_OK with *has_doc; or a record error (PS_ERR_PARSE,
 * PS_ERR_LIMIT) already counted with its detail. */
enum ps_err ps_reader_record(struct ps_reader *r, const char *obj, size_t obj_len, uint64_t start,
                             struct ps_doc *doc, bool *has_doc);

#endif
