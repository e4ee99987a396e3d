/* fuzz_json_line.c - the strict line parser on arbitrary bytes. The first byte sets the depth
 * limit and which fields to extract; every accepted value must be a view inside the line or
 * valid UTF-8 from the scratch, and parsing twice must give the same answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {"text", "id", "a", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_json_opts o = ps_json_opts_default();
    struct ps_json_field f[4];
    struct ps_errdetail ed;
    struct ps_json *j;
    const char *line;
    size_t n_fields, i;
    enum ps_err err, again;

    if (size < 1)
        return 0;
    o.max_depth = 1u + (data[0] & 0x3F); /* 1..64 */
    n_fields = (size_t)(data[0] >> 6) + 1;
    line = (const char *)data + 1;
    size--;
    j = ps_json_new(&o);
    for (i = 0; i < n_fields; i++) {
        f[i].key = keys[i];
        f[i].key_len = strlen(keys[i]);
    }
    err = ps_json_parse_line(j, line, size, f, n_fields, &ed);
    if (err != PS_OK && err != PS_ERR_PARSE)
        abort();
    if (err == PS_ERR_PARSE && (ed.offset > size || ed.msg[0] == '\0'))
        abort();
    if (err == PS_OK) {
        /* an accepted line is valid UTF-8 as a whole */
        if (!ps_utf8_is_valid(line, size))
            abort();
        for (i = 0; i < n_fields; i++) {
            if (!f[i].found)
                continue;
            if (f[i].val == NULL) {
                if (f[i].is_string || f[i].val_len != 0)
                    abort();
                continue;
            }
            if (f[i].is_string && !ps_utf8_is_valid(f[i].val, f[i].val_len))
                abort();
            if (!f[i].is_string && (f[i].val < line || f[i].val + f[i].val_len > line + size))
                abort();
        }
    }
    again = ps_json_parse_line(j, line, size, f, n_fields, &ed);
    if (again != err)
        abort();
    ps_json_free(j);
    return 0;
}
