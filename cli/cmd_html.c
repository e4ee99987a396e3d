/* cmd_html.c - `poisonscan html`: the HTML page of a report.json (coordinator/report_html.h).
 * The coordinator writes OUT/report.html itself; this rebuilds it, from a report of an earlier
 * version or one copied elsewhere. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "coordinator/report_html.h"

#define REPORT_MAX ((size_t)1 << 30) /* report.json is bounded by the report's own caps */

static const char usage_line[] = "poisonscan html REPORT.json [OUT.html]";

/* The whole file into `dst` (at most REPORT_MAX bytes). */
static bool read_all(const char *path, struct ps_buf *dst)
{
    char chunk[65536];
    size_t n;
    FILE *f = fopen(path, "rb");
    bool ok = true;

    if (f == NULL) {
        fprintf(stderr, "poisonscan html: cannot open '%s': %s\n", path, strerror(errno));
        return false;
    }
    while (ok && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (ps_buf_append(dst, chunk, n) != PS_OK) {
            fprintf(stderr, "poisonscan html: '%s' is larger than 1 GiB\n", path);
            ok = false;
        }
    if (ok && ferror(f)) {
        fprintf(stderr, "poisonscan html: cannot read '%s': %s\n", path, strerror(errno));
        ok = false;
    }
    fclose(f);
    return ok;
}

int ps_cmd_html(int argc, char **argv)
{
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    struct ps_buf json, out_path;
    int rc = PS_EXIT_USAGE;

    ps_buf_init(&json, REPORT_MAX);
    ps_buf_init(&out_path, PS_BUF_NO_LIMIT);
    if (ps_opts_parse(NULL, 0, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan html: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    if (res.n_positional < 1 || res.n_positional > 2) {
        fprintf(stderr,
                "poisonscan html: give a report.json and, if you like, where the page "
                "goes\nusage: %s\n",
                usage_line);
        goto done;
    }
    if (res.n_positional == 2) {
        ps_buf_adds(&out_path, res.positional[1]);
    } else {
        /* next to the report: DIR/report.json -> DIR/report.html */
        const char *in = res.positional[0], *slash = strrchr(in, '/');
        if (slash != NULL)
            ps_buf_add(&out_path, in, (size_t)(slash - in + 1));
        ps_buf_adds(&out_path, "report.html");
    }
    if (!read_all(res.positional[0], &json)) {
        rc = PS_EXIT_INFRA;
        goto done;
    }
    switch (ps_report_html_write(out_path.data, json.data ? json.data : "", json.len, &ed)) {
    case PS_OK:
        printf("%s\n", out_path.data);
        rc = 0;
        break;
    case PS_ERR_PARSE:
        fprintf(stderr, "poisonscan html: '%s': %s\n", res.positional[0], ed.msg);
        break;
    default:
        fprintf(stderr, "poisonscan html: %s\n", ed.msg);
        rc = PS_EXIT_INFRA;
    }
done:
    ps_buf_release(&json);
    ps_buf_release(&out_path);
    ps_opts_release(NULL, 0, &res);
    return rc;
}
