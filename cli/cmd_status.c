/* cmd_status.c - `poisonscan status`: a job's progress, rate and ETA from its Redis keys, once
 * or refreshed until the job ends. Reads only; safe with a read-only ACL user. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/status_view.h"
#include "common/clock.h"

static const char usage_line[] =
    "poisonscan status --redis URL --job ID [--json] [--watch [--interval DUR]]";

/* PS_OK with *found false when the job has no progress hash. */
static enum ps_err read_progress(struct ps_store *s, const char *job, struct ps_status *p,
                                 bool *found, struct ps_errdetail *ed)
{
    char key[256];
    const char *argv[3 + PS_STATUS__COUNT];
    size_t lens[3 + PS_STATUS__COUNT];
    struct ps_store_reply *r;
    enum ps_err err;

    memset(p, 0, sizeof(*p));
    ps_store_key(key, sizeof(key), job, PS_KEY_PROGRESS);
    argv[0] = "HMGET";
    argv[1] = key;
    argv[2] = "state";
    for (size_t i = 0; i < PS_STATUS__COUNT; i++)
        argv[3 + i] = ps_status_field_names[i];
    for (size_t i = 0; i < 3 + PS_STATUS__COUNT; i++)
        lens[i] = strlen(argv[i]);
    err = ps_store_argv(s, (int)(3 + PS_STATUS__COUNT), argv, lens, &r, ed);
    if (err != PS_OK)
        return err;
    *found = false;
    for (size_t i = 0; i < 1 + PS_STATUS__COUNT && i < ps_store_reply_n(r); i++) {
        size_t n;
        const char *v = ps_store_reply_str(ps_store_reply_at(r, i), &n);
        if (v == NULL)
            continue;
        *found = true;
        if (i == 0)
            snprintf(p->state, sizeof(p->state), "%.*s", (int)n, v);
        else
            p->v[i - 1] = strtoull(v, NULL, 10);
    }
    ps_store_reply_free(r);
    return PS_OK;
}

/* On a terminal, --watch redraws the view in place (cursor up over the last one, clear to the
 * end of the screen); elsewhere each refresh is a new block after a blank line. */
static void show(const char *job, const struct ps_status *p, bool json, bool redraw,
                 size_t *last_lines)
{
    struct ps_buf b;
    size_t lines = 0;

    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    if (json)
        ps_status_render_json(job, p, ps_clock_unix_s(), &b);
    else
        ps_status_render_text(job, p, ps_clock_unix_s(), &b);
    for (size_t i = 0; i < b.len; i++)
        lines += b.data[i] == '\n';
    if (redraw && *last_lines > 0)
        printf("\033[%zuA\033[J", *last_lines);
    else if (!json && *last_lines > 0)
        printf("\n");
    fwrite(b.data, 1, b.len, stdout);
    fflush(stdout);
    *last_lines = lines;
    ps_buf_release(&b);
}

int ps_cmd_status(int argc, char **argv)
{
    const char *job = NULL;
    struct ps_cli_redis redis = {0};
    bool json = false, watch = false;
    uint64_t interval_ms;
    const struct ps_opt own[] = {
        {.flag = "job",
         .env = "POISONSCAN_JOB",
         .type = PS_OPT_STRING,
         .target = &job,
         .help = "job id",
         .metavar = "ID"},
        {.flag = "json", .type = PS_OPT_BOOL, .target = &json, .help = "one JSON object per line"},
        {.flag = "watch",
         .type = PS_OPT_BOOL,
         .target = &watch,
         .help = "refresh until the job is done or failed"},
        {.flag = "interval",
         .type = PS_OPT_DURATION,
         .target = &interval_ms,
         .def = "2s",
         .min = 100,
         .max = 3600000,
         .help = "refresh interval with --watch"},
    };
    struct ps_opt table[PS_CLI_REDIS_OPTS + sizeof(own) / sizeof(own[0])];
    size_t n = ps_cli_redis_table(table, &redis);
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    struct ps_store_url url = {0};
    struct ps_store *s = NULL;
    size_t last_lines = 0;
    bool redraw;
    int rc = PS_EXIT_USAGE;

    memcpy(table + n, own, sizeof(own));
    n += sizeof(own) / sizeof(own[0]);
    if (ps_opts_parse(table, n, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan status: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    if (job == NULL || !ps_store_job_valid(job)) {
        fprintf(stderr, "poisonscan status: --job ID is required ([A-Za-z0-9._-]{1,64})\n");
        goto done;
    }
    if (!ps_cli_redis_url("status", &redis, &url))
        goto done;
    ps_cli_catch_signals();
    if (ps_store_connect(&s, &url, 5000, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan status: %s\n", ed.msg);
        rc = PS_EXIT_INFRA;
        goto done;
    }
    redraw = watch && !json && isatty(STDOUT_FILENO);
    for (;;) {
        struct ps_status p;
        bool found;

        if (read_progress(s, job, &p, &found, &ed) != PS_OK) {
            fprintf(stderr, "poisonscan status: %s\n", ed.msg);
            rc = PS_EXIT_INFRA;
            break;
        }
        if (!found) {
            fprintf(stderr, "poisonscan status: no job '%s' in this Redis\n", job);
            rc = PS_EXIT_USAGE;
            break;
        }
        show(job, &p, json, redraw, &last_lines);
        rc = strcmp(p.state, "failed") == 0 ? PS_EXIT_INFRA : 0;
        if (!watch || strcmp(p.state, "done") == 0 || strcmp(p.state, "failed") == 0)
            break;
        /* sleep in short steps, so that ^C ends the watch at once */
        for (uint64_t slept = 0; slept < interval_ms && !ps_cli_stop; slept += 100)
            ps_clock_sleep_ms(interval_ms - slept < 100 ? interval_ms - slept : 100);
        if (ps_cli_stop)
            break;
    }
done:
    ps_store_free(s);
    memset(url.password, 0, sizeof(url.password));
    ps_opts_release(table, n, &res);
    return rc;
}
