/* jsontree.h - a whole JSON text (RFC 8259) as a read-only tree, for the tools that read a
 * report.json back (the HTML report). The grammar and the string rules are those of common/json.h
 * (strict: no trailing commas, no NaN, valid UTF-8, paired surrogates); strings are decoded by
 * ps_json_unescape. Bounded by its options: nesting depth and the number of values, checked
 * before anything grows. One tree owns all its memory; every pointer below is a view into it,
 * valid until ps_jsontree_free(). */
#ifndef PS_COMMON_JSONTREE_H
#define PS_COMMON_JSONTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

enum ps_jt_type {
    PS_JT_NULL,
    PS_JT_FALSE,
    PS_JT_TRUE,
    PS_JT_NUMBER,
    PS_JT_STRING,
    PS_JT_ARRAY,
    PS_JT_OBJECT
};

struct ps_jt {
    enum ps_jt_type type;
    const char *s; /* STRING: the decoded text (NUL-terminated; may hold NULs of its own, see len);
                      NUMBER: the literal as written */
    size_t len;
    double num;                /* NUMBER: its value (strtod) */
    size_t n;                  /* ARRAY, OBJECT: members */
    const struct ps_jt *items; /* ARRAY: the n values; OBJECT: the n values */
    const struct ps_jt *keys;  /* OBJECT: the n keys (STRING), in the text's order */
};

struct ps_jsontree_opts {
    unsigned max_depth; /* deepest container, the root = 1; 0 means 64 */
    size_t max_values;  /* values in the whole text; 0 means 16 Mi */
};

struct ps_jsontree; /* opaque: the values and their memory */

/* Parse `src` (borrowed, len bytes, no NUL needed): exactly one value, whitespace around it.
 * On PS_OK *out owns the tree (ps_jsontree_free). PS_ERR_PARSE with a reason and ed->offset (byte
 * in src) for text that is not JSON; PS_ERR_LIMIT past a bound; *out NULL then. `opts` may be
 * NULL (defaults). */
enum ps_err ps_jsontree_parse(struct ps_jsontree **out, const char *src, size_t len,
                              const struct ps_jsontree_opts *opts, struct ps_errdetail *ed);
const struct ps_jt *ps_jsontree_root(const struct ps_jsontree *t);
void ps_jsontree_free(struct ps_jsontree *t); /* NULL is fine */

/* Lookups that never fail: a missing member or a value of another type gives NULL or `dflt`.
 * The value of `key` in object `obj` (the last one when a key repeats, as Python's json). */
const struct ps_jt *ps_jt_get(const struct ps_jt *obj, const char *key);
/* Element i of array `arr`. */
const struct ps_jt *ps_jt_at(const struct ps_jt *arr, size_t i);
/* Members of an array or object, 0 for anything else (NULL too). */
size_t ps_jt_len(const struct ps_jt *v);
double ps_jt_num(const struct ps_jt *v, double dflt);
/* A string's text (and its length into *len when len is not NULL), or dflt (length strlen). */
const char *ps_jt_str(const struct ps_jt *v, const char *dflt, size_t *len);
bool ps_jt_bool(const struct ps_jt *v, bool dflt);

#endif
