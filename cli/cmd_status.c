/* cmd_status.c - `poisonscan status`: a job's progress, rate and ETA from its Redis keys, once
 * or refreshed until the job ends. Reads only; safe with a read-only ACL user. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/units.h"

static const char usage_line[] = "poisonscan status --redis URL --job ID [--json] [--watch]";

static const char *const fields[] = {"state",         "pass",        "shards_total", "shards_done",
                                     "shards_failed", "bytes_total", "bytes_done",   "docs_done",
                                     "errors",        "workers",     "started_at",   "updated_at"};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

struct progress {
    char state[32];
    uint64_t v[N_FIELDS]; /* numeric fields by index (0 for state) */
};

static uint64_t field(const struct progress *p, const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i], name) == 0)
            return p->v[i];
    return 0;
}

/* PS_OK with *found false when the job has no progress hash. */
static enum ps_err read_progress(struct ps_store *s, const char *job, struct progress *p,
                                 bool *found, struct ps_errdetail *ed)
{
    char key[256];
    const char *argv[2 + N_FIELDS];
    size_t lens[2 + N_FIELDS];
    struct ps_store_reply *r;
    enum ps_err err;

    memset(p, 0, sizeof(*p));
    ps_store_key(key, sizeof(key), job, PS_KEY_PROGRESS);
    argv[0] = "HMGET";
    argv[1] = key;
    for (size_t i = 0; i < N_FIELDS; i++)
        argv[2 + i] = fields[i];
    for (size_t i = 0; i < 2 + N_FIELDS; i++)
        lens[i] = strlen(argv[i]);
    err = ps_store_argv(s, (int)(2 + N_FIELDS), argv, lens, &r, ed);
    if (err != PS_OK)
        return err;
    *found = false;
    for (size_t i = 0; i < N_FIELDS && i < ps_store_reply_n(r); i++) {
        size_t n;
        const char *v = ps_store_reply_str(ps_store_reply_at(r, i), &n);
        if (v == NULL)
            continue;
        *found = true;
        if (i == 0)
            snprintf(p->state, sizeof(p->state), "%.*s", (int)n, v);
        else
            p->v[i] = strtoull(v, NULL, 10);
    }
    ps_store_reply_free(r);
    return PS_OK;
}

static void format_duration(uint64_t s, char *dst, size_t cap)
{
    if (s >= 3600)
        snprintf(dst, cap, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(dst, cap, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else
        snprintf(dst, cap, "%" PRIu64 "s", s);
}

static void print_progress(const char *job, const struct progress *p, bool json)
{
    uint64_t now = ps_clock_unix_s(), started = field(p, "started_at");
    uint64_t elapsed = now > started && started ? now - started : 0;
    uint64_t done = field(p, "bytes_done"), total = field(p, "bytes_total");
    double rate = elapsed ? (double)done / (double)elapsed : 0.0;
    bool finished = strcmp(p->state, "done") == 0 || strcmp(p->state, "failed") == 0;
    double eta = rate > 0 && total > done && !finished ? (double)(total - done) / rate : 0.0;

    if (json) {
        struct ps_buf b;
        ps_buf_init(&b, 1 << 16);
        ps_buf_appends(&b, "{\"job\":");
        ps_json_append_string(&b, job, strlen(job));
        ps_buf_appends(&b, ",\"state\":");
        ps_json_append_string(&b, p->state, strlen(p->state));
        for (size_t i = 1; i < N_FIELDS; i++)
            ps_buf_appendf(&b, ",\"%s\":%" PRIu64, fields[i], p->v[i]);
        ps_buf_appendf(&b, ",\"elapsed_s\":%" PRIu64 ",\"rate_bytes_per_s\":%.0f,\"eta_s\":%.0f}",
                       elapsed, rate, eta);
        printf("%s\n", b.data);
        ps_buf_release(&b);
    } else {
        char a[32], t[32], r[32], el[32], et[32];
        ps_units_format_size(done, a, sizeof(a));
        ps_units_format_size(total, t, sizeof(t));
        ps_units_format_size((uint64_t)rate, r, sizeof(r));
        format_duration(elapsed, el, sizeof(el));
        format_duration((uint64_t)eta, et, sizeof(et));
        printf("job %s: %s, pass %" PRIu64 " (%s)\n", job, p->state, field(p, "pass"),
               field(p, "pass") == 3   ? "leads"
               : field(p, "pass") == 2 ? "confirm"
                                       : "scan");
        printf("  shards  %" PRIu64 "/%" PRIu64 " done, %" PRIu64 " failed\n",
               field(p, "shards_done"), field(p, "shards_total"), field(p, "shards_failed"));
        printf("  input   %s of %s (%.1f%%)\n", a, t,
               total ? 100.0 * (double)done / (double)total : 0.0);
        printf("  docs    %" PRIu64 ", errors %" PRIu64 ", workers %" PRIu64 "\n",
               field(p, "docs_done"), field(p, "errors"), field(p, "workers"));
        printf("  rate    %s/s, elapsed %s%s%s\n", r, el, finished ? "" : ", eta ",
               finished ? "" : et);
    }
    fflush(stdout);
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
    for (;;) {
        struct progress p;
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
        print_progress(job, &p, json);
        rc = strcmp(p.state, "failed") == 0 ? PS_EXIT_INFRA : 0;
        if (!watch || strcmp(p.state, "done") == 0 || strcmp(p.state, "failed") == 0 || ps_cli_stop)
            break;
        if (!json)
            printf("\n");
        ps_clock_sleep_ms(interval_ms);
    }
done:
    ps_store_free(s);
    memset(url.password, 0, sizeof(url.password));
    ps_opts_release(table, n, &res);
    return rc;
}
