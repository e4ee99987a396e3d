/* cmd_gc.c - `poisonscan gc`: remove every Redis key of a finished (or abandoned) job, on every
 * endpoint, at once rather than when --keep runs out. A running job is never touched: gc takes the
 * job's lock first, and a coordinator holding it makes gc stop before it changes anything. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/partition.h"
#include "common/wire.h"
#include "coordinator/jobkeys.h"

#define GC_LOCK_TTL_MS 30000

static const char usage_line[] = "poisonscan gc --redis URL[,URL...] --job ID [--dry-run]";

struct gc_lock {
    struct ps_store *s;
    const char *job, *token;
    uint64_t renewed;
    bool lost;
};

/* Between SCAN batches: keep the lock while a big keyspace is walked. */
static void keep_lock(void *ctx)
{
    struct gc_lock *l = ctx;
    uint64_t now = ps_clock_now_ms();

    if (now - l->renewed < GC_LOCK_TTL_MS / 3)
        return;
    l->renewed = now;
    if (!ps_jobkeys_renew(l->s, l->job, l->token, GC_LOCK_TTL_MS))
        l->lost = true;
}

static int collect(const char *job, struct ps_store *const *stores, size_t n_stores, bool dry_run)
{
    struct ps_errdetail ed = {0};
    char token[PS_WIRE_ROUTING_ID_CAP + 3] = "gc-", holder[512];
    struct gc_lock l = {stores[0], job, token, ps_clock_now_ms(), false};
    uint64_t n = 0;
    bool taken;
    enum ps_err err;

    ps_wire_make_routing_id(token + 3, sizeof(token) - 3);
    if (ps_jobkeys_lock(stores[0], job, token, GC_LOCK_TTL_MS, &taken, holder, sizeof(holder),
                        &ed) != PS_OK) {
        fprintf(stderr, "poisonscan gc: %s\n", ed.msg);
        return PS_EXIT_INFRA;
    }
    if (!taken) {
        fprintf(stderr,
                "poisonscan gc: job '%s' is running (its lock is held by '%s'); nothing was "
                "removed: stop its coordinator first (a killed one's lock expires within "
                "seconds)\n",
                job, holder);
        return PS_EXIT_USAGE;
    }
    err = ps_jobkeys_apply(stores, n_stores, job, dry_run ? PS_JOBKEYS_COUNT : PS_JOBKEYS_DELETE, 0,
                           keep_lock, &l, &n, &ed);
    ps_jobkeys_unlock(stores[0], job, token);
    if (err != PS_OK) {
        fprintf(stderr, "poisonscan gc: job '%s': %s (%" PRIu64 " keys %s; run gc again)\n", job,
                ed.msg, n, dry_run ? "counted" : "removed");
        return PS_EXIT_INFRA;
    }
    if (l.lost)
        fprintf(stderr, "poisonscan gc: warning: the lock of job '%s' expired during the walk\n",
                job);
    if (n == 0)
        printf("job '%s': no keys on %zu Redis endpoint%s\n", job, n_stores,
               n_stores == 1 ? "" : "s");
    else
        printf("job '%s': %" PRIu64 " keys %s on %zu Redis endpoint%s\n", job, n,
               dry_run ? "would be removed" : "removed", n_stores, n_stores == 1 ? "" : "s");
    return PS_EXIT_CLEAN;
}

int ps_cmd_gc(int argc, char **argv)
{
    struct ps_cli_redis redis = {0};
    const char *job = NULL;
    bool dry_run = false;
    const struct ps_opt own[] = {
        {.flag = "job",
         .env = "POISONSCAN_JOB",
         .type = PS_OPT_STRING,
         .target = &job,
         .help = "the job whose keys go",
         .metavar = "ID"},
        {.flag = "dry-run",
         .type = PS_OPT_BOOL,
         .target = &dry_run,
         .help = "count the keys, remove nothing"},
    };
    struct ps_opt table[PS_CLI_REDIS_OPTS + sizeof(own) / sizeof(own[0])];
    size_t n = ps_cli_redis_table(table, &redis);
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    static struct ps_store_url urls[PS_PARTITION_MAX]; /* big: off the stack */
    struct ps_store *stores[PS_PARTITION_MAX] = {0};
    size_t n_urls = 0, n_stores = 0;
    int rc = PS_EXIT_USAGE;

    memcpy(table + n, own, sizeof(own));
    n += sizeof(own) / sizeof(own[0]);
    table[0].help = "Redis: redis://host:port or unix:///path; every endpoint the job used, "
                    "comma-separated, in the job's order";
    if (ps_opts_parse(table, n, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan gc: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    if (job == NULL || !ps_store_job_valid(job) || res.n_positional != 0) {
        fprintf(stderr,
                "poisonscan gc: --job ID is required ([A-Za-z0-9._-]{1,64}), no "
                "PATHs\nusage: %s\n",
                usage_line);
        goto done;
    }
    n_urls = ps_cli_redis_urls("gc", &redis, urls, PS_PARTITION_MAX);
    if (n_urls == 0)
        goto done;
    for (; n_stores < n_urls; n_stores++) {
        if (ps_store_connect(&stores[n_stores], &urls[n_stores], 5000, &ed) != PS_OK) {
            fprintf(stderr, "poisonscan gc: %s\n", ed.msg);
            rc = PS_EXIT_INFRA;
            goto done;
        }
    }
    rc = collect(job, stores, n_stores, dry_run);
done:
    for (size_t i = 0; i < n_stores; i++)
        ps_store_free(stores[i]);
    for (size_t i = 0; i < n_urls; i++)
        memset(urls[i].password, 0, sizeof(urls[i].password));
    ps_opts_release(table, n, &res);
    return rc;
}
