/* cmd_worker.c - `poisonscan worker`: take leases from a coordinator until it says stop. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/partition.h"
#include "worker/worker.h"

static const char usage_line[] = "poisonscan worker --connect ENDPOINT --redis URL [options]";

int ps_cmd_worker(int argc, char **argv)
{
    const char *connect = NULL, *secret_key = NULL, *server_key = NULL;
    struct ps_cli_redis redis = {0};
    bool insecure = false;
    uint64_t heartbeat_ms, liveness, redis_retry_ms, give_up_ms, stall_ms, fault_delay_ms,
        fault_exit;
    int log_level = -1;
    const struct ps_opt own[] = {
        {.flag = "connect",
         .env = "POISONSCAN_CONNECT",
         .type = PS_OPT_STRING,
         .target = &connect,
         .help = "the coordinator's endpoint",
         .metavar = "ENDPOINT"},
        {.flag = "insecure",
         .env = "POISONSCAN_INSECURE",
         .type = PS_OPT_BOOL,
         .target = &insecure,
         .help = "allow plain-text ZeroMQ over TCP (no CURVE)"},
        {.flag = "curve-secret-key",
         .env = "POISONSCAN_CURVE_SECRET_KEY",
         .type = PS_OPT_STRING,
         .target = &secret_key,
         .help = "CURVE: this worker's secret key file (poisonscan keygen)",
         .metavar = "FILE"},
        {.flag = "curve-server-key",
         .env = "POISONSCAN_CURVE_SERVER_KEY",
         .type = PS_OPT_STRING,
         .target = &server_key,
         .help = "CURVE: the coordinator's public key, Z85 text or @FILE",
         .metavar = "KEY"},
        {.flag = "heartbeat",
         .env = "POISONSCAN_HEARTBEAT",
         .type = PS_OPT_DURATION,
         .target = &heartbeat_ms,
         .def = "1s",
         .min = 10,
         .max = 30000,
         .help = "heartbeat interval"},
        {.flag = "liveness",
         .type = PS_OPT_U64,
         .target = &liveness,
         .def = "3",
         .min = 1,
         .max = 100,
         .help = "silent heartbeats before reconnecting with a new identity"},
        {.flag = "redis-retry",
         .type = PS_OPT_DURATION,
         .target = &redis_retry_ms,
         .def = "30s",
         .max = 3600000,
         .help = "how long Redis may be unreachable before giving up (exit 4)"},
        {.flag = "give-up",
         .type = PS_OPT_DURATION,
         .target = &give_up_ms,
         .def = "0",
         .help = "exit after this long without a coordinator (0: never)"},
        {.flag = "stall-timeout",
         .env = "POISONSCAN_STALL_TIMEOUT",
         .type = PS_OPT_DURATION,
         .target = &stall_ms,
         .def = "10m",
         .min = 1000,
         .max = 86400000,
         .help = "stop renewing a lease after this long without scan progress"},
        {.flag = "fault-delay-ms",
         .type = PS_OPT_U64,
         .target = &fault_delay_ms,
         .def = "0",
         .max = 3600000,
         .help = "fault injection for tests: wait before each commit"},
        {.flag = "fault-exit-after-commit",
         .type = PS_OPT_U64,
         .target = &fault_exit,
         .def = "0",
         .help = "fault injection for tests: die (SIGKILL) after the Nth commit"},
        {.flag = "log-level",
         .env = "POISONSCAN_LOG",
         .type = PS_OPT_ENUM,
         .target = &log_level,
         .def = "info",
         .choices = ps_cli_log_levels,
         .help = "log level on stderr"},
    };
    struct ps_opt table[PS_CLI_REDIS_OPTS + sizeof(own) / sizeof(own[0])];
    size_t n = ps_cli_redis_table(table, &redis);
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    struct ps_worker_opts o = {0};
    static struct ps_store_url urls[PS_PARTITION_MAX]; /* big: off the stack */
    int rc = PS_EXIT_USAGE;

    memcpy(table + n, own, sizeof(own));
    n += sizeof(own) / sizeof(own[0]);
    if (ps_opts_parse(table, n, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan worker: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    ps_cli_setup_log("worker", log_level);
    if (connect == NULL || res.n_positional != 0) {
        fprintf(stderr, "poisonscan worker: --connect ENDPOINT is required, no PATHs\nusage: %s\n",
                usage_line);
        goto done;
    }
    if (!ps_cli_worker_security(connect, insecure, secret_key, server_key, &o.security))
        goto done;
    o.n_redis = ps_cli_redis_urls("worker", &redis, urls, PS_PARTITION_MAX);
    if (o.n_redis == 0)
        goto done;
    o.redis = urls;
    o.connect = connect;
    o.heartbeat_ms = heartbeat_ms;
    o.liveness = (unsigned)liveness;
    o.redis_retry_ms = redis_retry_ms;
    o.give_up_ms = give_up_ms;
    o.stall_ms = stall_ms;
    o.fault_delay_ms = fault_delay_ms;
    o.fault_exit_after_commit = fault_exit;
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
