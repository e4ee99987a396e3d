/* fuzz_jsontree.c - any bytes as a whole JSON text (report.json read back): the parser either
 * refuses with PS_ERR_PARSE or PS_ERR_LIMIT and an offset inside the input, or gives a tree whose
 * every string is valid UTF-8 (keys too) and whose counts agree with its bounds, which come from
 * the first byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsontree.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const struct ps_jt *v, unsigned depth, unsigned max_depth)
{
    size_t n = 1;

    if (depth > max_depth)
        abort();
    switch (v->type) {
    case PS_JT_STRING:
        if (v->s[v->len] != '\0' || !ps_utf8_is_valid(v->s, v->len))
            abort();
        break;
    case PS_JT_NUMBER:
        if (v->len == 0 || v->s[v->len] != '\0')
            abort();
        break;
    case PS_JT_ARRAY:
    case PS_JT_OBJECT:
        for (size_t i = 0; i < v->n; i++) {
            if (v->type == PS_JT_OBJECT && (v->keys[i].type != PS_JT_STRING ||
                                            !ps_utf8_is_valid(v->keys[i].s, v->keys[i].len)))
                abort();
            n += walk(&v->items[i], depth + 1, max_depth);
        }
        break;
    default:
        break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_jsontree *t = NULL;
    struct ps_errdetail ed;
    struct ps_jsontree_opts o;
    enum ps_err err;

    if (size < 1)
        return 0;
    o.max_depth = 1 + data[0] % 16;
    o.max_values = 1 + (size_t)data[0] * 4;
    err = ps_jsontree_parse(&t, (const char *)data + 1, size - 1, &o, &ed);
    if (err == PS_OK) {
        if (walk(ps_jsontree_root(t), 0, o.max_depth) > o.max_values)
            abort();
    } else if ((err != PS_ERR_PARSE && err != PS_ERR_LIMIT) || t != NULL || ed.offset > size) {
        abort();
    }
    ps_jsontree_free(t);
    return 0;
}
