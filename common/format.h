/* format.h - the vocabulary of input formats: a file's container (plain, zstd, gzip), its layout
 * (JSON Lines, JSON array, Common Crawl WET, plain text) and, inside the JSON layouts, the shape
 * of a record (a text field, Alpaca, prompt/completion, ShareGPT, chat messages). One place for
 * the --format names, the detection rules and the compact code plans and leases carry, so the
 * planner, the wire and the reader cannot disagree. Pure functions: no I/O, thread-safe.
 *
 * Detection (docs/input-format.md):
 *  - container: a name ending in .zst/.zstd is zstd, .gz is gzip; any other name is decided by
 *    the first bytes (zstd or gzip magic), else plain;
 *  - layout: the name without its container suffix: .jsonl/.ndjson JSON Lines, .json JSON (an
 *    array, or JSON Lines when its first non-blank byte is not '['), .wet (.warc.wet) WET, .txt
 *    plain text; any other name is decided by the first decompressed bytes: "WARC/" is WET, '['
 *    a JSON array, anything else JSON Lines (as before the format layer);
 *  - record shape: per record (ps_reader), unless --format names one. */
#ifndef PS_COMMON_FORMAT_H
#define PS_COMMON_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

enum ps_format_container { PS_FORMAT_PLAIN = 0, PS_FORMAT_ZST = 1, PS_FORMAT_GZ = 2 };

enum ps_format_layout {
    PS_FORMAT_JSONL = 0,      /* one JSON object per line; plain files split into byte ranges */
    PS_FORMAT_JSON = 1,       /* a JSON array of objects streamed element by element (or JSON Lines
                                 when the first non-blank byte is not '[') */
    PS_FORMAT_WET = 2,        /* WARC records; one document per "conversion" record */
    PS_FORMAT_TXT = 3,        /* the whole file is one document */
    PS_FORMAT_LAYOUT_AUTO = 4 /* requests only: detect */
};

enum ps_format_record {
    PS_FORMAT_RECORD_AUTO = 0,   /* per record: the text field, else the first shape that fits */
    PS_FORMAT_RECORD_TEXT = 1,   /* the text field only (--text-field) */
    PS_FORMAT_RECORD_ALPACA = 2, /* instruction, input, output */
    PS_FORMAT_RECORD_PROMPT_COMPLETION = 3, /* prompt, completion */
    PS_FORMAT_RECORD_SHAREGPT = 4,          /* conversations: [{from, value}] */
    PS_FORMAT_RECORD_CHAT = 5               /* messages: [{role, content}] (OpenAI style) */
};

/* A file's format, or a request (--format) with AUTO where detection decides. The container of
 * a request is ignored: it is always detected. `record` applies to the JSON layouts only and is
 * AUTO for WET and TXT. */
struct ps_format {
    enum ps_format_container container;
    enum ps_format_layout layout;
    enum ps_format_record record;
};

/* Plain container, auto layout, auto record: what a missing --format means. */
struct ps_format ps_format_auto(void);

/* The --format words, NULL-terminated, in the order ps_format_from_choice() takes: "auto",
 * the layouts "jsonl", "json", "wet", "txt", the record shapes "text", "alpaca",
 * "prompt-completion", "sharegpt", "chat". Static storage. */
extern const char *const ps_format_choices[];
/* The request for choice index `i` (< the number of choices; other values give auto). A layout
 * word forces the layout and detects records; a shape word forces the record shape and detects
 * the layout among JSON Lines and JSON. */
struct ps_format ps_format_from_choice(int i);

/* The container a name says (.zst/.zstd, .gz), else the one `head` (the first head_len bytes of
 * the file as stored, borrowed; may be short or empty) starts with, else plain. */
enum ps_format_container ps_format_container_of(const char *name, const void *head,
                                                size_t head_len);
/* The layout the name says once its container suffix is removed, or PS_FORMAT_LAYOUT_AUTO. */
enum ps_format_layout ps_format_layout_of_name(const char *name);
/* The layout of a file whose name does not say, from its first decompressed bytes (borrowed):
 * "WARC/" WET, first non-blank byte '[' JSON, anything else (also nothing) JSON Lines. */
enum ps_format_layout ps_format_layout_of_content(const void *head, size_t head_len);
/* Whether a file name is one the planner takes from a directory walk: a layout suffix
 * (.jsonl, .ndjson, .json, .wet, .txt) with nothing, .zst, .zstd or .gz after it, and a
 * non-empty stem. Case-sensitive. */
bool ps_format_name_is_corpus(const char *name);

/* Bytes of the decompressed head ps_format_layout_of_content() needs at most. */
#define PS_FORMAT_HEAD_MAX 64

/* The compact code of a resolved format (layout never AUTO): container | layout << 4 |
 * record << 8. JSON Lines with automatic records codes 0, 1, 2 for plain, zstd, gzip: the
 * values plans and leases carried before the format layer. */
int ps_format_code(struct ps_format f);
/* Decode a code; false when it is not the code of a valid resolved format. */
bool ps_format_from_code(int code, struct ps_format *out);
/* Whether the file can be split into byte ranges: plain JSON Lines. */
bool ps_format_splittable(struct ps_format f);

/* "jsonl", "json", "wet", "txt" (and "auto" for a request) plus ":<shape>" when a shape is
 * forced, plus ".zst"/".gz" for those containers: "json:alpaca.gz". Written into dst (dst_cap
 * bytes, always NUL-terminated when dst_cap > 0). */
void ps_format_name(struct ps_format f, char *dst, size_t dst_cap);

#endif
