/* fuzz_curve_keys.c - arbitrary bytes as a CURVE key file (secret, public or allow file): only
 * PS_OK, PS_ERR_PARSE or PS_ERR_LIMIT; every key handed out is a decodable Z85 key with a valid
 * name on a line of the input; errors name the file and a line of the input and quote nothing
 * else; an allow set parsed from the bytes finds every key the parser handed out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/curve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct walk {
    size_t n_lines, n_keys;
    const struct ps_curve_allow *allow; /* NULL on the first walk */
};

static enum ps_err check_key(void *ctx, const char *z85, const char *name, size_t line_no,
                             struct ps_errdetail *ed)
{
    struct walk *w = ctx;
    uint8_t key[PS_CURVE_KEY_LEN];
    size_t name_len = strlen(name);

    (void)ed;
    if (strlen(z85) != PS_CURVE_Z85_LEN || !ps_curve_z85_decode(key, z85) || line_no == 0 ||
        line_no > w->n_lines || name_len > PS_CURVE_NAME_MAX || strpbrk(name, " \t#/") != NULL)
        abort();
    if (w->allow != NULL && ps_curve_allow_find(w->allow, key) == NULL)
        abort();
    w->n_keys++;
    return PS_OK;
}

static bool message_ok(const struct ps_errdetail *ed, size_t n_lines)
{
    return (strncmp(ed->msg, "key file 'fuzz'", 15) == 0 ||
            strncmp(ed->msg, "allow file 'fuzz'", 17) == 0) &&
           ed->offset <= n_lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    struct walk w = {1, 0, NULL};
    struct ps_curve_allow *a = NULL;
    struct ps_errdetail ed = {0};
    enum ps_err err;

    for (size_t i = 0; i < size; i++)
        w.n_lines += src[i] == '\n';
    err = ps_curve_parse(src, size, "fuzz", check_key, &w, &ed);
    if (err != PS_OK &&
        ((err != PS_ERR_PARSE && err != PS_ERR_LIMIT) || !message_ok(&ed, w.n_lines)))
        abort();
    memset(&ed, 0, sizeof(ed));
    if (ps_curve_allow_parse(&a, src, size, "fuzz", &ed) != PS_OK) {
        if (a != NULL || !message_ok(&ed, w.n_lines) || (err == PS_OK && w.n_keys > 0))
            abort();
        return 0;
    }
    if (err != PS_OK || w.n_keys == 0 || ps_curve_allow_n(a) == 0 || ps_curve_allow_n(a) > w.n_keys)
        abort();
    w.allow = a;
    w.n_keys = 0;
    if (ps_curve_parse(src, size, "fuzz", check_key, &w, &ed) != PS_OK)
        abort();
    ps_curve_allow_free(a);
    return 0;
}
