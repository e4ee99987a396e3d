/* cmd_coordinator.c - `poisonscan coordinator`: lead one job over many machines. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/partition.h"
#include "common/log.h"

static const char usage_line[] =
    "poisonscan coordinator --redis URL --bind ENDPOINT --job ID [--out DIR] [options] PATH...";

int ps_cmd_coordinator(int argc, char **argv)
{
    struct ps_cli_coord v;
    struct ps_opt table[PS_CLI_COORD_OPTS];
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    struct ps_coordinator_opts o = {0};
    static struct ps_store_url redis_urls[PS_PARTITION_MAX]; /* big: off the stack */
    struct ps_allowlist *allow = NULL;
    struct ps_curve_allow *keys = NULL;
    size_t n = ps_cli_coord_table(table, &v, false);
    int rc = PS_EXIT_USAGE;

    if (ps_opts_parse(table, n, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan coordinator: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    ps_cli_setup_log("coordinator", v.log_level);
    if (v.bind == NULL || v.job == NULL || res.n_positional == 0) {
        fprintf(stderr,
                "poisonscan coordinator: --bind, --job and at least one PATH are "
                "required\nusage: %s\n",
                usage_line);
        goto done;
    }
    if (!ps_store_job_valid(v.job)) {
        fprintf(stderr, "poisonscan coordinator: --job '%s' must match [A-Za-z0-9._-]{1,64}\n",
                v.job);
        goto done;
    }
    if (!ps_cli_load_allowlist("coordinator", v.allowlist, &allow))
        goto done;
    ps_cli_coord_opts(&v, (const char *const *)res.positional, res.n_positional, &o);
    o.allowlist = allow;
    if (!ps_cli_coord_security("coordinator", v.bind, v.insecure, v.curve_secret_key, v.curve_allow,
                               &o.security, &keys))
        goto done;
    o.n_redis = ps_cli_redis_urls("coordinator", &v.redis, redis_urls, PS_PARTITION_MAX);
    o.redis = redis_urls;
    if (o.n_redis == 0)
        goto done;
    if (!ps_cli_coord_check(&o, &ed)) {
        fprintf(stderr, "poisonscan coordinator: %s\n", ed.msg);
        goto done;
    }
    o.zap.allow = keys;
    o.zap.allow_file = v.curve_allow;
    o.zap.reload = &ps_cli_reload;
    ps_cli_catch_signals();
    if (o.security.curve)
        ps_cli_catch_reload();
    rc = ps_coordinator_run(&o, NULL);
done:
    for (size_t i = 0; i < o.n_redis; i++)
        memset(redis_urls[i].password, 0, sizeof(redis_urls[i].password));
    ps_curve_keypair_wipe(&o.security.own);
    ps_curve_allow_free(keys);
    ps_allowlist_free(allow);
    ps_opts_release(table, n, &res);
    return rc;
}
