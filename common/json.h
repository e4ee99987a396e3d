/* json.h - strict validation of one JSON object per line (RFC 8259) and zero-copy extraction of
 * a few top-level fields; plus JSON string unescaping and escaping for the report writers.
 *
 * Rules enforced by ps_json_parse_line (each violation is PS_ERR_PARSE with a short reason and the
 * byte offset of the problem within the line):
 *  - the whole line is one JSON object; whitespace (space, \t, \r, \n) may surround it and any
 *    token; anything after the object is "trailing characters"; a non-object is "not an object";
 *  - RFC 8259 grammar exactly: no trailing commas, no leading zeros, no NaN/Infinity, no single
 *    quotes, no comments, lower-case literals true/false/null only;
 *  - strings are valid UTF-8 (no overlongs, surrogates or values above U+10FFFF) without raw
 *    control characters (< 0x20); escapes are \" \\ \/ \b \f \n \r \t \uXXXX; a high surrogate
 *    escape must be followed by a low one ("\ud83d\ude00"), anything else is "lone surrogate";
 *    \u0000 is allowed and decodes to a NUL byte (values carry their length);
 *  - nesting: the top-level object counts as depth 1; a container deeper than max_depth is
 *    "nesting too deep";
 *  - duplicate keys are allowed; for an extracted field the LAST occurrence wins (as Python's
 *    json module does); keys are compared after unescaping ("\u0074ext" is "text").
 * A parser is not thread-safe; use one per thread. It allocates only when a line needs more
 * scratch than any line before (so no allocation per document in the steady state). */
#ifndef PS_COMMON_JSON_H
#define PS_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

#define PS_JSON_DEFAULT_MAX_DEPTH 64

struct ps_json_opts {
    unsigned max_depth; /* deepest allowed nesting, top-level object = 1; 0 means the default */
};
struct ps_json_opts ps_json_opts_default(void); /* max_depth 64 */

struct ps_json_field { /* in: the top-level key to extract; out: its value */
    const char *key;   /* borrowed: the key to look for (top level only) */
    size_t key_len;
    bool found;      /* out: key present (the LAST occurrence wins, as in Python's json) */
    bool is_string;  /* out: the value was a JSON string */
    const char *val; /* out, view: decoded string (zero-copy into the line when the string has
                        no escapes, else into the parser's scratch), or for a non-string scalar
                        (number, true, false, null) the raw literal text; NULL for
                        object/array */
    size_t val_len;
};

struct ps_json; /* opaque: defined in json.c */

/* Allocate a parser; `opts` (borrowed, NULL = defaults) is copied. Owned by the caller: free it
 * with ps_json_free(). Never fails (allocation failure aborts). */
struct ps_json *ps_json_new(const struct ps_json_opts *opts);
void ps_json_free(struct ps_json *j); /* NULL is fine */

/* Validate `line` (borrowed, line_len bytes, no NUL needed, normally without its '\n') and fill
 * the n_fields requested `fields` (borrowed; their key/key_len are read, the rest written). The
 * values are views valid until the next ps_json_parse_line on the same parser (or until the line
 * buffer changes).
 * Returns PS_OK, or PS_ERR_PARSE with a short reason in ed->msg ("invalid escape", "lone
 * surrogate", "invalid utf-8", "control character in string", "unterminated string", "invalid
 * number", "invalid literal", "trailing comma", "trailing characters", "not an object", "empty
 * line", "nesting too deep", "expected ...") and ed->offset = byte offset of the problem within
 * the line (the caller adds the line's own offset); ed->file is set to NULL. `ed` may be NULL. On
 * error every field reads found = false. */
enum ps_err ps_json_parse_line(struct ps_json *j, const char *line, size_t line_len,
                               struct ps_json_field *fields, size_t n_fields,
                               struct ps_errdetail *ed);

/* After ps_json_parse_line returned PS_OK: when requested field `i` (index into the fields it
 * was given) is an object or array, view its bytes from the '{' or '[' through the matching
 * bracket in *raw, *raw_len (inside the line; walk an array with ps_json_array_next) and return
 * true; false for any other value, an absent field, or after a failed parse. */
bool ps_json_container(const struct ps_json *j, size_t i, const char **raw, size_t *raw_len);

/* Step through the elements of a JSON array that ps_json_parse_line accepted (a container's
 * bytes: `arr`, arr_len bytes, borrowed). *pos starts at 0 and is the cursor between calls.
 * Each call views the next element's bytes in *elem, *elem_len (inside arr) and returns true,
 * or returns false after the last element (and for bytes that are not such an array). Pure. */
bool ps_json_array_next(const char *arr, size_t arr_len, size_t *pos, const char **elem,
                        size_t *elem_len);

/* Decode a JSON string body (`src`, borrowed: the bytes between the quotes, escapes included)
 * and append the decoded UTF-8 to `dst` (borrowed, grown). Same rules as strings in a line; a raw
 * '"' in the body is "unescaped quote". Returns PS_OK, PS_ERR_PARSE (ed->offset within src) or
 * PS_ERR_LIMIT when dst would pass its ceiling. On error dst holds an unspecified prefix. */
enum ps_err ps_json_unescape(const char *src, size_t src_len, struct ps_buf *dst,
                             struct ps_errdetail *ed);

/* Append `s` (borrowed, n bytes, any bytes) to `dst` as a quoted JSON string: '"' and '\\'
 * escaped, control characters as \b \f \n \r \t or \u00XX, each byte that is not part of valid
 * UTF-8 as \ufffd, U+2028/U+2029 as \u2028/\u2029 (safe for JavaScript); other UTF-8 is copied.
 * Returns PS_OK or PS_ERR_LIMIT (then dst is unchanged). */
enum ps_err ps_json_append_string(struct ps_buf *dst, const char *s, size_t n);

#endif
