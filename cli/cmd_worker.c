/* cmd_worker.c - `poisonscan worker`: take leases from a coordinator until it says stop. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/partition.h"
#include "worker/worker.h"

static const char usage_line[] = "poisonscan worker --connect ENDPOINT --redis URL [options]";

/* What the options set. */
struct worker_vals {
    const char *connect, *secret_key, *server_key;
    bool insecure;
    uint64_t heartbeat_ms, liveness, redis_retry_ms, give_up_ms, stall_ms, fault_delay_ms,
        fault_exit;
    int log_level, log_format;
};

#define WORKER_OWN_OPTS 13

/* The worker's own options (the Redis ones come from ps_cli_redis_table) into t. */
static size_t worker_table(struct ps_opt *t, struct worker_vals *v)
{
    const struct ps_opt own[] = {
        {.flag = "connect",
         .env = "POISONSCAN_CONNECT",
         .type = PS_OPT_STRING,
         .target = &v->connect,
         .help = "the coordinator's endpoint",
         .metavar = "ENDPOINT"},
        {.flag = "insecure",
         .env = "POISONSCAN_INSECURE",
         .type = PS_OPT_BOOL,
         .target = &v->insecure,
         .help = "allow plain-text ZeroMQ over TCP (no CURVE)"},
        {.flag = "curve-secret-key",
         .env = "POISONSCAN_CURVE_SECRET_KEY",
         .type = PS_OPT_STRING,
         .target = &v->secret_key,
         .help = "CURVE: this worker's secret key file (poisonscan keygen)",
         .metavar = "FILE"},
        {.flag = "curve-server-key",
         .env = "POISONSCAN_CURVE_SERVER_KEY",
         .type = PS_OPT_STRING,
         .target = &v->server_key,
         .help = "CURVE: the coordinator's public key, Z85 text or @FILE",
         .metavar = "KEY"},
        {.flag = "heartbeat",
         .env = "POISONSCAN_HEARTBEAT",
         .type = PS_OPT_DURATION,
         .target = &v->heartbeat_ms,
         .def = "1s",
         .min = 10,
         .max = 30000,
         .help = "heartbeat interval"},
        {.flag = "liveness",
         .type = PS_OPT_U64,
         .target = &v->liveness,
         .def = "3",
         .min = 1,
         .max = 100,
         .help = "silent heartbeats before reconnecting with a new identity"},
        {.flag = "redis-retry",
         .type = PS_OPT_DURATION,
         .target = &v->redis_retry_ms,
         .def = "30s",
         .max = 3600000,
         .help = "how long Redis may be unreachable before giving up (exit 4)"},
        {.flag = "give-up",
         .type = PS_OPT_DURATION,
         .target = &v->give_up_ms,
         .def = "0",
         .help = "exit after this long without a coordinator (0: never)"},
        {.flag = "stall-timeout",
         .env = "POISONSCAN_STALL_TIMEOUT",
         .type = PS_OPT_DURATION,
         .target = &v->stall_ms,
         .def = "10m",
         .min = 1000,
         .max = 86400000,
         .help = "stop renewing a lease after this long without scan progress"},
        {.flag = "fault-delay-ms",
         .type = PS_OPT_U64,
         .target = &v->fault_delay_ms,
         .def = "0",
         .max = 3600000,
         .help = "fault injection for tests: wait before each commit"},
        {.flag = "fault-exit-after-commit",
         .type = PS_OPT_U64,
         .target = &v->fault_exit,
         .def = "0",
         .help = "fault injection for tests: die (SIGKILL) after the Nth commit"},
        {.flag = "log-level",
         .env = "POISONSCAN_LOG",
         .type = PS_OPT_ENUM,
         .target = &v->log_level,
         .def = "info",
         .choices = ps_cli_log_levels,
         .help = "log level on stderr"},
        ps_cli_log_format_opt(&v->log_format),
    };

    _Static_assert(sizeof(own) / sizeof(own[0]) == WORKER_OWN_OPTS, "WORKER_OWN_OPTS");
    memcpy(t, own, sizeof(own));
    return sizeof(own) / sizeof(own[0]);
}

int ps_cmd_worker(int argc, char **argv)
{
    struct worker_vals v = {.log_level = -1, .log_format = -1};
    struct ps_cli_redis redis = {0};
    struct ps_opt table[PS_CLI_REDIS_OPTS + WORKER_OWN_OPTS];
    size_t n = ps_cli_redis_table(table, &redis);
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    struct ps_worker_opts o = {0};
    static struct ps_store_url urls[PS_PARTITION_MAX]; /* big: off the stack */
    int rc = PS_EXIT_USAGE;

    n += worker_table(table + n, &v);
    if (ps_opts_parse(table, n, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan worker: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    ps_cli_setup_log("worker", v.log_level, v.log_format);
    if (v.connect == NULL || res.n_positional != 0) {
        fprintf(stderr, "poisonscan worker: --connect ENDPOINT is required, no PATHs\nusage: %s\n",
                usage_line);
        goto done;
    }
    if (!ps_cli_worker_security(v.connect, v.insecure, v.secret_key, v.server_key, &o.security))
        goto done;
    o.n_redis = ps_cli_redis_urls("worker", &redis, urls, PS_PARTITION_MAX);
    if (o.n_redis == 0)
        goto done;
    o.redis = urls;
    o.connect = v.connect;
    o.heartbeat_ms = v.heartbeat_ms;
    o.liveness = (unsigned)v.liveness;
    o.redis_retry_ms = v.redis_retry_ms;
    o.give_up_ms = v.give_up_ms;
    o.stall_ms = v.stall_ms;
    o.fault_delay_ms = v.fault_delay_ms;
    o.fault_exit_after_commit = v.fault_exit;
    o.stop = &ps_cli_stop;
    ps_cli_catch_signals();
    rc = ps_worker_run(&o);
done:
    for (size_t i = 0; i < o.n_redis; i++)
        memset(urls[i].password, 0, sizeof(urls[i].password));
    ps_curve_keypair_wipe(&o.security.own);
    ps_opts_release(table, n, &res);
    return rc;
}
