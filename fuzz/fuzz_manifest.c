/* fuzz_manifest.c - arbitrary bytes as manifest text, parsed in memory (no file system). The
 * first byte picks the line limit and whether a base folder is joined; every path handed to the
 * callback must be non-empty, free of control bytes and absolute when a base is given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "coordinator/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    size_t n;
    size_t last_line;
    int absolute;
};

static enum ps_err check_path(void *ctx, const char *path, size_t line_no, struct ps_errdetail *ed)
{
    struct seen *s = ctx;
    size_t i, n = strlen(path);

    (void)ed;
    if (n == 0 || line_no <= s->last_line)
        abort();
    if (s->absolute && path[0] != '/')
        abort();
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f)
            abort();
    }
    if (path[0] == ' ' || path[0] == '#' || path[n - 1] == ' ' || path[n - 1] == '\r')
        if (!s->absolute) /* with a base the line's own edges are inside the joined path */
            abort();
    s->last_line = line_no;
    s->n++;
    return PS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ps_errdetail ed;
    struct seen s;
    size_t max_line;

    if (size < 1)
        return 0;
    memset(&s, 0, sizeof(s));
    max_line = (size_t)(data[0] & 0x7f) * 8;
    s.absolute = (data[0] & 0x80) != 0;
    ps_plan_parse_manifest_buf((const char *)data + 1, size - 1, "fuzz.txt",
                               s.absolute ? "/base/dir" : NULL, max_line, check_path, &s, &ed);
    return 0;
}
