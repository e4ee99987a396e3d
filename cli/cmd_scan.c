/* cmd_scan.c - `poisonscan scan`: the embedded default on one machine. A private redis-server
 * on a unix socket in a temp dir (unless --redis), the coordinator in this process and N worker
 * processes of this same binary over ipc://; exit codes follow clamscan (docs/cli.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/partition.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/units.h"

static const char usage_line[] = "poisonscan scan [--workers N] [--out DIR] [options] PATH...";

struct embedded {
    char tmp[256];
    char sock[320];
    pid_t redis;
    pid_t *workers;
    size_t n_workers;
};

static bool find_in_path(const char *name, char *dst, size_t cap)
{
    const char *path = getenv("PATH");
    char buf[4096];

    snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(dst, cap, "%s/%s", dir, name);
        if (access(dst, X_OK) == 0)
            return true;
    }
    /* root's PATH may lack sbin-like dirs; Debian installs redis-server in /usr/bin */
    snprintf(dst, cap, "/usr/bin/%s", name);
    return access(dst, X_OK) == 0;
}

static pid_t spawn(const char *const argv[], const char *log_path)
{
    pid_t pid = fork();

    if (pid == 0) {
        /* die with the parent: no orphan workers or servers after a crash */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (log_path != NULL) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                close(fd);
            }
        }
        /* execv takes char *const[] for historical reasons; it does not write to them */
        execv(argv[0], (char *const *)(uintptr_t)argv);
        fprintf(stderr, "poisonscan: cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static bool start_redis(struct embedded *e, const char *server)
{
    char log_path[320];
    struct ps_store_url url = {0};
    struct ps_store *s = NULL;
    struct ps_errdetail ed = {0};
    const char *argv[] = {
        server, "--port",      "0",  "--unixsocket", e->sock,   "--unixsocketperm",
        "700",  "--save",      "",   "--appendonly", "no",      "--dir",
        e->tmp, "--daemonize", "no", "--loglevel",   "warning", NULL};

    snprintf(log_path, sizeof(log_path), "%s/redis.log", e->tmp);
    e->redis = spawn(argv, log_path);
    if (e->redis < 0)
        return false;
    url.is_unix = true;
    snprintf(url.path, sizeof(url.path), "%s", e->sock);
    if (ps_store_connect(&s, &url, 10000, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan scan: the private redis-server did not start (%s); see %s\n",
                ed.msg, log_path);
        return false;
    }
    ps_store_free(s);
    return true;
}

/* Wait up to wait_ms for *pid to exit, then SIGTERM, then SIGKILL; *pid becomes 0 once reaped. */
static void stop_child(pid_t *pid, int wait_ms)
{
    int status;

    if (*pid <= 0)
        return;
    for (int waited = 0; waited < wait_ms; waited += 20) {
        if (waitpid(*pid, &status, WNOHANG) != 0)
            goto reaped;
        ps_clock_sleep_ms(20);
    }
    kill(*pid, SIGTERM);
    for (int waited = 0; waited < 2000; waited += 20) {
        if (waitpid(*pid, &status, WNOHANG) != 0)
            goto reaped;
        ps_clock_sleep_ms(20);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, &status, 0);
reaped:
    *pid = 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[600];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void make_job_id(char *dst, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    unsigned r = (unsigned)getpid() ^ (unsigned)ps_clock_now_ms();
    char stamp[32];

    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(dst, cap, "scan-%s-%04x", stamp, r & 0xffff);
}

static void print_summary(const struct ps_report_summary *s, const char *out, uint64_t ms)
{
    char bytes[32];

    ps_units_format_size(s->bytes, bytes, sizeof(bytes));
    printf("poisonscan: %" PRIu64 " documents (%s) in %" PRIu64 " shards of %" PRIu64
           " files, %.1f s\n",
           s->documents, bytes, s->shards, s->files, (double)ms / 1000.0);
    if (s->errors_total > 0 || s->shards_failed > 0)
        printf("input errors: %" PRIu64 " (%" PRIu64 " shards failed), listed in %s/report.json\n",
               s->errors_total, s->shards_failed, out);
    if (s->n_triggers == 0) {
        printf("no poisoning trigger flagged\n");
    } else {
        printf("FLAGGED: %" PRIu64 " trigger%s in %" PRIu64 " documents\n", s->n_triggers,
               s->n_triggers == 1 ? "" : "s", s->n_flagged_docs);
        for (size_t i = 0; i < s->n_top; i++)
            printf("  \"%s\": %" PRIu64 " documents over %" PRIu64 " shards, score %.2f\n",
                   s->top[i].pattern, s->top[i].documents, s->top[i].shards, s->top[i].score);
    }
    if (s->n_suppressed > 0)
        printf("suppressed by the allowlist: %" PRIu64 " pattern%s (report.json \"suppressed\")\n",
               s->n_suppressed, s->n_suppressed == 1 ? "" : "s");
    if (s->n_clusters > 0)
        printf("near-duplicate clusters: %zu (report.json \"clusters\")\n", s->n_clusters);
    printf("report: %s/report.json, flagged documents: %s/flagged.jsonl\n", out, out);
}

int ps_cmd_scan(int argc, char **argv)
{
    struct ps_cli_coord v;
    struct ps_opt table[PS_CLI_COORD_OPTS + 1];
    uint64_t n_workers;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char cores_text[24], job[80], endpoint[400], self[4096], server[4096], redis_url[400];
    struct ps_opts_result res = {0};
    struct ps_errdetail ed = {0};
    struct ps_coordinator_opts o;
    static struct ps_store_url redis_urls[PS_PARTITION_MAX]; /* big: off the stack */
    struct ps_report_summary sum = {0};
    struct embedded e = {0};
    struct ps_allowlist *allow = NULL;
    size_t n;
    uint64_t t0 = ps_clock_now_ms();
    int rc = PS_EXIT_USAGE;
    ssize_t self_len;

    snprintf(cores_text, sizeof(cores_text), "%ld", cores > 0 ? cores : 1);
    n = ps_cli_coord_table(table, &v, true);
    table[n++] = (struct ps_opt){.flag = "workers",
                                 .env = "POISONSCAN_WORKERS",
                                 .type = PS_OPT_U64,
                                 .target = &n_workers,
                                 .def = cores_text,
                                 .min = 1,
                                 .max = 1024,
                                 .help = "worker processes"};
    if (ps_opts_parse(table, n, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan scan: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    ps_cli_setup_log("scan", v.log_level);
    if (res.n_positional == 0) {
        fprintf(stderr, "poisonscan scan: give at least one PATH\nusage: %s\n", usage_line);
        goto done;
    }
    if (v.job == NULL) {
        make_job_id(job, sizeof(job));
        v.job = job;
    } else if (!ps_store_job_valid(v.job)) {
        fprintf(stderr, "poisonscan scan: --job '%s' must match [A-Za-z0-9._-]{1,64}\n", v.job);
        goto done;
    }
    if (!ps_cli_load_allowlist("scan", v.allowlist, &allow))
        goto done;
    if (v.redis == NULL && !find_in_path("redis-server", server, sizeof(server))) {
        fprintf(stderr, "poisonscan scan: needs redis-server, which is not installed: "
                        "'apt-get install redis-server' (Debian/Ubuntu), or pass --redis URL\n");
        goto done;
    }
    self_len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (self_len <= 0) {
        fprintf(stderr, "poisonscan scan: cannot find its own executable: %s\n", strerror(errno));
        rc = PS_EXIT_INFRA;
        goto done;
    }
    self[self_len] = '\0';
    snprintf(e.tmp, sizeof(e.tmp), "%s/poisonscan-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(e.tmp) == NULL) {
        fprintf(stderr, "poisonscan scan: cannot create a temp dir: %s\n", strerror(errno));
        rc = PS_EXIT_INFRA;
        goto done;
    }
    snprintf(e.sock, sizeof(e.sock), "%s/redis.sock", e.tmp);
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/coordinator.ipc", e.tmp);
    ps_cli_catch_signals();
    if (v.redis == NULL) {
        if (!start_redis(&e, server)) {
            rc = PS_EXIT_INFRA;
            goto cleanup;
        }
        snprintf(redis_url, sizeof(redis_url), "unix://%s", e.sock);
        v.redis = redis_url;
    }
    ps_cli_coord_opts(&v, (const char *const *)res.positional, res.n_positional, &o);
    o.bind = endpoint;
    o.linger_ms = 0; /* our own workers were told, and we stop them anyway */
    o.allowlist = allow;
    o.n_redis = ps_cli_redis_urls(v.redis, v.redis_password_file, redis_urls, PS_PARTITION_MAX);
    o.redis = redis_urls;
    if (o.n_redis == 0)
        goto cleanup;

    e.workers = ps_xcalloc(n_workers, sizeof(*e.workers));
    for (size_t i = 0; i < n_workers; i++) {
        char level[16], retry[32];
        const char *wargv[] = {
            self,  "worker",    "--connect", endpoint,        "--redis", v.redis, "--log-level",
            level, "--give-up", "60s",       "--redis-retry", retry,     NULL};
        snprintf(level, sizeof(level), "%s", ps_cli_log_levels[v.log_level < 0 ? 2 : v.log_level]);
        snprintf(retry, sizeof(retry), "%" PRIu64 "ms", v.redis_retry_ms);
        e.workers[i] = spawn(wargv, NULL);
        e.n_workers++;
    }
    rc = ps_coordinator_run(&o, &sum);
    /* after a clean end the workers leave on the coordinator's Shutdown; else stop them now */
    if (rc != 0)
        for (size_t i = 0; i < e.n_workers; i++)
            kill(e.workers[i], SIGTERM);
    for (size_t i = 0; i < e.n_workers; i++)
        stop_child(&e.workers[i], 3000);
    if (rc == 0) {
        print_summary(&sum, v.out, ps_clock_now_ms() - t0);
        rc = sum.n_triggers > 0                              ? PS_EXIT_FLAGGED
             : sum.errors_total > 0 || sum.shards_failed > 0 ? PS_EXIT_ERRORS
                                                             : PS_EXIT_CLEAN;
    }
cleanup:
    for (size_t i = 0; i < e.n_workers; i++)
        stop_child(&e.workers[i], 0);
    if (e.redis > 0) {
        kill(e.redis, SIGTERM);
        stop_child(&e.redis, 5000);
    }
    remove_tree(e.tmp);
    free(e.workers);
done:
    ps_allowlist_free(allow);
    ps_opts_release(table, n, &res);
    return rc;
}
