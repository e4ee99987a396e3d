/* jsontree.c - recursive descent over a whole JSON text into a tree. A container's members are
 * gathered in a scratch stack shared by all levels, then copied into one block of exactly their
 * size, so the tree holds no slack; every block is kept in a list the tree frees at once. Depth
 * is bounded before recursing, the count of values before any is stored. */
#include "common/jsontree.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"

#define DEFAULT_DEPTH  64
#define DEFAULT_VALUES (16u << 20)
#define NUMBER_MAX     64 /* longer literals are refused: report numbers are short */

struct ps_jsontree {
    struct ps_jt root;
    void **blocks;
    size_t n_blocks, cap_blocks;
};

struct parser {
    struct ps_jsontree *t;
    const char *src;
    size_t len, pos;
    unsigned max_depth;
    size_t max_values, n_values;
    /* the members of the containers being parsed, innermost last */
    struct ps_jt *stack;
    size_t n_stack, cap_stack;
    struct ps_buf str; /* one decoded string */
    struct ps_errdetail *ed;
};

static void *keep(struct ps_jsontree *t, size_t size)
{
    void *p = ps_xmalloc(size);

    if (t->n_blocks == t->cap_blocks) {
        t->cap_blocks = t->cap_blocks ? t->cap_blocks * 2 : 64;
        t->blocks = ps_xrealloc(t->blocks, t->cap_blocks * sizeof(*t->blocks));
    }
    t->blocks[t->n_blocks++] = p;
    return p;
}

static enum ps_err fail(struct parser *p, enum ps_err err, const char *why)
{
    ps_errdetail_set(p->ed, NULL, p->pos, "json: %s at byte %zu", why, p->pos);
    return err;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->src[p->pos] == ' ' || p->src[p->pos] == '\t' ||
                               p->src[p->pos] == '\n' || p->src[p->pos] == '\r'))
        p->pos++;
}

static enum ps_err count_value(struct parser *p)
{
    if (++p->n_values > p->max_values)
        return fail(p, PS_ERR_LIMIT, "too many values");
    return PS_OK;
}

static void push(struct parser *p, const struct ps_jt *v)
{
    if (p->n_stack == p->cap_stack) {
        p->cap_stack = p->cap_stack ? p->cap_stack * 2 : 256;
        p->stack = ps_xrealloc(p->stack, p->cap_stack * sizeof(*p->stack));
    }
    p->stack[p->n_stack++] = *v;
}

static enum ps_err parse_value(struct parser *p, unsigned depth, struct ps_jt *out);

static enum ps_err parse_string(struct parser *p, struct ps_jt *out)
{
    size_t start = ++p->pos; /* past the opening quote */
    struct ps_errdetail sub;
    char *s;

    while (p->pos < p->len && p->src[p->pos] != '"') {
        if ((unsigned char)p->src[p->pos] < 0x20)
            return fail(p, PS_ERR_PARSE, "control character in string");
        p->pos += p->src[p->pos] == '\\' ? 2 : 1;
    }
    if (p->pos >= p->len)
        return fail(p, PS_ERR_PARSE, "unterminated string");
    ps_buf_reset(&p->str);
    if (ps_json_unescape(p->src + start, p->pos - start, &p->str, &sub) != PS_OK) {
        p->pos = start + sub.offset;
        return fail(p, PS_ERR_PARSE, sub.msg);
    }
    p->pos++; /* the closing quote */
    s = keep(p->t, p->str.len + 1);
    if (p->str.len > 0)
        memcpy(s, p->str.data, p->str.len);
    s[p->str.len] = '\0';
    memset(out, 0, sizeof(*out));
    out->type = PS_JT_STRING;
    out->s = s;
    out->len = p->str.len;
    return PS_OK;
}

static size_t digits(const struct parser *p, size_t i)
{
    size_t n = 0;

    while (i + n < p->len && p->src[i + n] >= '0' && p->src[i + n] <= '9')
        n++;
    return n;
}

static enum ps_err parse_number(struct parser *p, struct ps_jt *out)
{
    size_t start = p->pos, i = p->pos, n;
    char lit[NUMBER_MAX + 1], *end, *s;

    if (i < p->len && p->src[i] == '-')
        i++;
    n = digits(p, i);
    if (n == 0 || (n > 1 && p->src[i] == '0'))
        return fail(p, PS_ERR_PARSE, "invalid number");
    i += n;
    if (i < p->len && p->src[i] == '.') {
        if ((n = digits(p, i + 1)) == 0)
            return fail(p, PS_ERR_PARSE, "invalid number");
        i += 1 + n;
    }
    if (i < p->len && (p->src[i] == 'e' || p->src[i] == 'E')) {
        i++;
        if (i < p->len && (p->src[i] == '+' || p->src[i] == '-'))
            i++;
        if ((n = digits(p, i)) == 0)
            return fail(p, PS_ERR_PARSE, "invalid number");
        i += n;
    }
    if (i - start > NUMBER_MAX)
        return fail(p, PS_ERR_LIMIT, "number too long");
    memcpy(lit, p->src + start, i - start);
    lit[i - start] = '\0';
    memset(out, 0, sizeof(*out));
    out->type = PS_JT_NUMBER;
    out->num = strtod(lit, &end); /* the grammar above is all strtod will see */
    if (!isfinite(out->num))
        return fail(p, PS_ERR_PARSE, "number out of range");
    s = keep(p->t, i - start + 1);
    memcpy(s, lit, i - start + 1);
    out->s = s;
    out->len = i - start;
    p->pos = i;
    return PS_OK;
}

static enum ps_err parse_literal(struct parser *p, const char *word, enum ps_jt_type type,
                                 struct ps_jt *out)
{
    size_t n = strlen(word);

    if (p->len - p->pos < n || memcmp(p->src + p->pos, word, n) != 0)
        return fail(p, PS_ERR_PARSE, "invalid literal");
    p->pos += n;
    memset(out, 0, sizeof(*out));
    out->type = type;
    return PS_OK;
}

/* Move the container's members (stack[base..]) into blocks of their own. */
static void close_container(struct parser *p, size_t base, bool object, struct ps_jt *out)
{
    size_t n = p->n_stack - base, members = object ? n / 2 : n;
    struct ps_jt *items = keep(p->t, (members + 1) * sizeof(*items));
    struct ps_jt *keys = object ? keep(p->t, (members + 1) * sizeof(*keys)) : NULL;

    for (size_t i = 0; i < members; i++) {
        if (object) {
            keys[i] = p->stack[base + 2 * i];
            items[i] = p->stack[base + 2 * i + 1];
        } else {
            items[i] = p->stack[base + i];
        }
    }
    p->n_stack = base;
    memset(out, 0, sizeof(*out));
    out->type = object ? PS_JT_OBJECT : PS_JT_ARRAY;
    out->n = members;
    out->items = items;
    out->keys = keys;
}

static enum ps_err parse_container(struct parser *p, unsigned depth, bool object, struct ps_jt *out)
{
    size_t base = p->n_stack;
    char close = object ? '}' : ']';
    struct ps_jt v;
    enum ps_err err;

    if (depth > p->max_depth)
        return fail(p, PS_ERR_LIMIT, "nesting too deep");
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->src[p->pos] == close) {
        p->pos++;
        close_container(p, base, object, out);
        return PS_OK;
    }
    for (;;) {
        skip_ws(p);
        if (object) {
            if (p->pos >= p->len || p->src[p->pos] != '"')
                return fail(p, PS_ERR_PARSE, "expected a key");
            if ((err = parse_string(p, &v)) != PS_OK)
                return err;
            push(p, &v);
            skip_ws(p);
            if (p->pos >= p->len || p->src[p->pos] != ':')
                return fail(p, PS_ERR_PARSE, "expected ':'");
            p->pos++;
        }
        if ((err = parse_value(p, depth, &v)) != PS_OK)
            return err;
        push(p, &v);
        skip_ws(p);
        if (p->pos < p->len && p->src[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->src[p->pos] == close)
                return fail(p, PS_ERR_PARSE, "trailing comma");
            continue;
        }
        if (p->pos < p->len && p->src[p->pos] == close) {
            p->pos++;
            close_container(p, base, object, out);
            return PS_OK;
        }
        return fail(p, PS_ERR_PARSE, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static enum ps_err parse_value(struct parser *p, unsigned depth, struct ps_jt *out)
{
    enum ps_err err;

    skip_ws(p);
    if ((err = count_value(p)) != PS_OK)
        return err;
    if (p->pos >= p->len)
        return fail(p, PS_ERR_PARSE, "expected a value");
    switch (p->src[p->pos]) {
    case '{':
        return parse_container(p, depth + 1, true, out);
    case '[':
        return parse_container(p, depth + 1, false, out);
    case '"':
        return parse_string(p, out);
    case 't':
        return parse_literal(p, "true", PS_JT_TRUE, out);
    case 'f':
        return parse_literal(p, "false", PS_JT_FALSE, out);
    case 'n':
        return parse_literal(p, "null", PS_JT_NULL, out);
    default:
        return parse_number(p, out);
    }
}

enum ps_err ps_jsontree_parse(struct ps_jsontree **out, const char *src, size_t len,
                              const struct ps_jsontree_opts *opts, struct ps_errdetail *ed)
{
    struct parser p;
    enum ps_err err;

    memset(&p, 0, sizeof(p));
    p.t = ps_xcalloc(1, sizeof(*p.t));
    p.src = src;
    p.len = len;
    p.max_depth = opts != NULL && opts->max_depth ? opts->max_depth : DEFAULT_DEPTH;
    p.max_values = opts != NULL && opts->max_values ? opts->max_values : DEFAULT_VALUES;
    p.ed = ed;
    ps_buf_init(&p.str, len + 1);
    *out = NULL;
    err = parse_value(&p, 0, &p.t->root);
    if (err == PS_OK) {
        skip_ws(&p);
        if (p.pos != p.len)
            err = fail(&p, PS_ERR_PARSE, "trailing characters");
    }
    free(p.stack);
    ps_buf_release(&p.str);
    if (err != PS_OK) {
        ps_jsontree_free(p.t);
        return err;
    }
    *out = p.t;
    return PS_OK;
}

const struct ps_jt *ps_jsontree_root(const struct ps_jsontree *t)
{
    return &t->root;
}

void ps_jsontree_free(struct ps_jsontree *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_blocks; i++)
        free(t->blocks[i]);
    free(t->blocks);
    free(t);
}

const struct ps_jt *ps_jt_get(const struct ps_jt *obj, const char *key)
{
    size_t kl = strlen(key);

    if (obj == NULL || obj->type != PS_JT_OBJECT)
        return NULL;
    for (size_t i = obj->n; i-- > 0;)
        if (obj->keys[i].len == kl && memcmp(obj->keys[i].s, key, kl) == 0)
            return &obj->items[i];
    return NULL;
}

const struct ps_jt *ps_jt_at(const struct ps_jt *arr, size_t i)
{
    return arr != NULL && arr->type == PS_JT_ARRAY && i < arr->n ? &arr->items[i] : NULL;
}

size_t ps_jt_len(const struct ps_jt *v)
{
    return v != NULL && (v->type == PS_JT_ARRAY || v->type == PS_JT_OBJECT) ? v->n : 0;
}

double ps_jt_num(const struct ps_jt *v, double dflt)
{
    return v != NULL && v->type == PS_JT_NUMBER ? v->num : dflt;
}

const char *ps_jt_str(const struct ps_jt *v, const char *dflt, size_t *len)
{
    bool is = v != NULL && v->type == PS_JT_STRING;

    if (len != NULL)
        *len = is ? v->len : strlen(dflt);
    return is ? v->s : dflt;
}

bool ps_jt_bool(const struct ps_jt *v, bool dflt)
{
    return v == NULL ? dflt : v->type == PS_JT_TRUE ? true : v->type == PS_JT_FALSE ? false : dflt;
}
