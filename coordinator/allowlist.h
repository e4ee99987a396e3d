/* allowlist.h - patterns an operator has reviewed and declared benign (--allowlist FILE). The
 * report moves a flagged pattern found here from "triggers" to "suppressed": listed, never
 * silently dropped, but its documents are not flagged and it does not change the exit code.
 *
 * File format (docs/cli.md, "Allowlist file"): UTF-8 text, one pattern per line, '\n' or "\r\n"
 * line ends; a UTF-8 BOM at the very start is skipped. A line of whitespace only is blank and a
 * line whose first non-whitespace character is '#' is a comment; both are ignored. Any other
 * line is a pattern, written with the escapes of a JSON string (\uXXXX with surrogate pairs,
 * \\, \t, \", \/, \b, \f, \n, \r) plus \# (a literal '#', for a pattern that starts with one);
 * a raw '"' stands for itself. After decoding, a pattern is normalised as the detector joins
 * its tokens: runs of whitespace (ASCII and the Unicode spaces the detector splits on) become
 * one space, and leading and trailing whitespace is dropped. Two patterns match when their
 * normalised bytes are equal. A pattern listed twice keeps its first line.
 * Invariant: every stored pattern is non-empty, valid UTF-8 without NUL, normalised, at most
 * max_pattern_len bytes; patterns are unique. A loaded allowlist is read-only and thread-safe. */
#ifndef PS_COORDINATOR_ALLOWLIST_H
#define PS_COORDINATOR_ALLOWLIST_H

#include <stddef.h>

#include "common/error.h"

#define PS_ALLOWLIST_MAX_PATTERNS    100000
#define PS_ALLOWLIST_MAX_PATTERN_LEN 1024
#define PS_ALLOWLIST_MAX_LINE        8192
#define PS_ALLOWLIST_MAX_BYTES       ((size_t)64 << 20)

struct ps_allowlist_opts {
    size_t max_patterns;    /* 100,000: more patterns is PS_ERR_LIMIT */
    size_t max_pattern_len; /* 1 KiB: bytes of one pattern after decoding and normalising */
    size_t max_line;        /* 8 KiB: raw bytes of one line, '\n' excluded (escapes take room) */
    size_t max_bytes;       /* 64 MiB: size of the whole file */
};
struct ps_allowlist_opts ps_allowlist_opts_default(void); /* the values above */

struct ps_allowlist; /* opaque: defined in allowlist.c */

/* Parse src[0, src_len) (borrowed) as an allowlist file called `name` (borrowed; copied, used
 * in messages and returned by ps_allowlist_name). `opts` is borrowed, NULL = defaults; a zero
 * field means its default. On PS_OK *out owns the allowlist (free with ps_allowlist_free()); it
 * may hold no pattern. On error *out is NULL and `ed` (may be NULL) reads: ed->file = `name`,
 * ed->offset = the 1-based line of the problem (0 for the file as a whole), ed->msg =
 * "allowlist 'NAME' line N: REASON". Returns PS_ERR_PARSE (invalid UTF-8, invalid escape, lone
 * surrogate, control character, NUL, empty pattern) or PS_ERR_LIMIT (a line, pattern, the
 * pattern count or the file past its bound). */
enum ps_err ps_allowlist_parse(struct ps_allowlist **out, const char *src, size_t src_len,
                               const char *name, const struct ps_allowlist_opts *opts,
                               struct ps_errdetail *ed);

/* Read the file at `path` (borrowed) and parse it as above, with `path` as its name. Adds
 * PS_ERR_IO (cannot open or read; errno's text in ed->msg, ed->offset 0). */
enum ps_err ps_allowlist_load(struct ps_allowlist **out, const char *path,
                              const struct ps_allowlist_opts *opts, struct ps_errdetail *ed);

/* The 1-based line of the pattern equal to `text` (borrowed, text_len bytes, any bytes) after
 * normalisation, or 0 when the allowlist does not hold it. `a` may be NULL (then 0). */
size_t ps_allowlist_find(const struct ps_allowlist *a, const char *text, size_t text_len);

/* Distinct patterns held. */
size_t ps_allowlist_n(const struct ps_allowlist *a);
/* View: the name given to parse/load, valid until ps_allowlist_free(). */
const char *ps_allowlist_name(const struct ps_allowlist *a);

void ps_allowlist_free(struct ps_allowlist *a); /* NULL is fine */

#endif
