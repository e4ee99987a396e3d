/* cmd_scan.c - `poisonscan scan`: the embedded default on one machine. A private redis-server
 * on a unix socket in a temp dir (unless --redis), the coordinator in this process and N worker
 * processes of this same binary over ipc:// with CURVE keys made for this run; exit codes follow
 * clamscan (docs/cli.md). */
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

/* Start argv[0]; output to log_path (NULL: inherit); fds[i] (n_fds at most 2) become the
 * child's descriptors 3, 4, ... */
static pid_t spawn(const char *const argv[], const char *log_path, const int *fds, size_t n_fds)
{
    pid_t pid = fork();

    if (pid == 0) {
        int high[2];
        /* die with the parent: no orphan workers or servers after a crash */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        /* moved above the targets first, so that one never overwrites another's source */
        for (size_t i = 0; i < n_fds; i++)
            high[i] = fcntl(fds[i], F_DUPFD, 3 + (int)n_fds);
        for (size_t i = 0; i < n_fds; i++) {
            dup2(high[i], 3 + (int)i);
            close(high[i]);
        }
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
    e->redis = spawn(argv, log_path, NULL, 0);
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

/* A pipe whose read end a worker reads as a file (/dev/fd/N), so that a secret reaches it
 * through neither its command line nor the disk. `text` is one short line: it fits the pipe's
 * buffer, and the write end is closed before any child starts. The read end or -1. */
static int secret_pipe(const char *text)
{
    int p[2];
    size_t len = strlen(text);

    if (pipe(p) != 0)
        return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    if (write(p[1], text, len) != (ssize_t)len) {
        close(p[0]);
        p[0] = -1;
    }
    close(p[1]);
    return p[0];
}

/* What every local worker is told, besides its key and the coordinator's. */
struct worker_args {
    const char *self, *endpoint;
    const char *level, *format, *retry; /* --log-level, --log-format, --redis-retry */
    const char *heartbeat; /* --heartbeat: the coordinator's, whatever their environment */
};

/* The socket sits in a private directory, and CURVE keeps even this user's other processes from
 * joining the run: make the coordinator a key pair (into o->security, admitting `allow`), then
 * start n workers, each with a fresh key pair whose public half goes into `allow` (named local-1,
 * local-2, ...) and whose secret half it reads from its descriptor 3. */
static bool start_workers(struct embedded *e, size_t n, const struct worker_args *a,
                          struct ps_coordinator_opts *o, struct ps_curve_allow *allow)
{
    const size_t one_cap = sizeof(o->redis[0].path) + 40;
    const struct ps_store_url *redis = &o->redis[0]; /* the password goes through a pipe */
    char *url = ps_xcalloc(o->n_redis, one_cap), line[PS_CURVE_Z85_CAP + 1];
    struct ps_errdetail ed = {0};
    bool started = false;

    /* the endpoints, comma-separated, without credentials; one user and password for all */
    for (size_t i = 0; i < o->n_redis; i++) {
        size_t len = strlen(url);
        if (strcmp(o->redis[i].user, redis->user) != 0 ||
            strcmp(o->redis[i].password, redis->password) != 0) {
            fprintf(stderr, "poisonscan scan: its workers take one Redis user and password for "
                            "every endpoint\n");
            free(url);
            return false;
        }
        if (i > 0)
            url[len++] = ',';
        ps_store_url_format(&o->redis[i], url + len, o->n_redis * one_cap - len);
    }
    if (ps_curve_keypair_new(&o->security.own, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan scan: %s\n", ed.msg);
        free(url);
        return false;
    }
    o->security.curve = true;
    o->zap.allow = allow;
    e->workers = ps_xcalloc(n, sizeof(*e->workers));
    for (size_t i = 0; i < n; i++) {
        struct ps_curve_keypair kp;
        char name[32];
        const char *argv[32];
        int fds[2], n_fds = 0;
        size_t k = 0;
        bool ok;

        if (ps_curve_keypair_new(&kp, &ed) != PS_OK) {
            fprintf(stderr, "poisonscan scan: %s\n", ed.msg);
            goto out;
        }
        snprintf(name, sizeof(name), "local-%zu", i + 1);
        ok = ps_curve_allow_add(allow, kp.public_key, name, &ed) == PS_OK;
        snprintf(line, sizeof(line), "%s\n", kp.secret_key);
        ps_curve_keypair_wipe(&kp);
        fds[n_fds++] = secret_pipe(line);
        ps_curve_wipe(line, sizeof(line));
        if (redis->password[0] != '\0') {
            char pw[sizeof(redis->password) + 1];
            snprintf(pw, sizeof(pw), "%s\n", redis->password);
            fds[n_fds++] = secret_pipe(pw);
            ps_curve_wipe(pw, sizeof(pw));
        }
        argv[k++] = a->self;
        argv[k++] = "worker";
        argv[k++] = "--connect";
        argv[k++] = a->endpoint;
        argv[k++] = "--redis";
        argv[k++] = url;
        if (redis->user[0] != '\0') {
            argv[k++] = "--redis-user";
            argv[k++] = redis->user;
        }
        if (n_fds > 1) {
            argv[k++] = "--redis-password-file";
            argv[k++] = "/dev/fd/4";
        }
        argv[k++] = "--curve-secret-key";
        argv[k++] = "/dev/fd/3";
        argv[k++] = "--curve-server-key";
        argv[k++] = o->security.own.public_key;
        argv[k++] = "--log-level";
        argv[k++] = a->level;
        argv[k++] = "--log-format";
        argv[k++] = a->format;
        argv[k++] = "--give-up";
        argv[k++] = "60s";
        argv[k++] = "--redis-retry";
        argv[k++] = a->retry;
        argv[k++] = "--heartbeat";
        argv[k++] = a->heartbeat;
        argv[k] = NULL;
        ok = ok && fds[0] >= 0 && fds[n_fds - 1] >= 0;
        if (ok)
            e->workers[e->n_workers++] = spawn(argv, NULL, fds, (size_t)n_fds);
        for (int j = 0; j < n_fds; j++)
            if (fds[j] >= 0)
                close(fds[j]);
        if (!ok) {
            fprintf(stderr, "poisonscan scan: cannot hand worker %zu its keys: %s\n", i + 1,
                    ed.msg[0] ? ed.msg : strerror(errno));
            goto out;
        }
    }
    started = true;
out:
    free(url);
    return started;
}

/* Workers that all die (a Redis user without their commands, a crash) would leave the coordinator
 * in this process waiting for ever. SIGCHLD reaps them; once every one has exited and none on the
 * coordinator's Shutdown (status 0), the run stops. The handler touches only these, and
 * waitpid() is async-signal-safe. */
static pid_t watched[1024]; /* --workers is at most 1024; 0 once reaped */
static volatile sig_atomic_t n_watched, n_gone, n_clean, all_failed;

static void on_child(int sig)
{
    int saved = errno, status;

    (void)sig;
    for (sig_atomic_t i = 0; i < n_watched; i++) {
        if (watched[i] > 0 && waitpid(watched[i], &status, WNOHANG) == watched[i]) {
            watched[i] = 0;
            n_gone++;
            n_clean += WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
    }
    if (n_watched > 0 && n_gone == n_watched && n_clean == 0) {
        all_failed = 1;
        ps_cli_stop = 1;
    }
    errno = saved;
}

static void watch_workers(const struct embedded *e)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_child;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < e->n_workers && i < sizeof(watched) / sizeof(watched[0]); i++)
        watched[i] = e->workers[i];
    n_watched = (sig_atomic_t)e->n_workers;
    sigaction(SIGCHLD, &sa, NULL);
    on_child(SIGCHLD); /* any that died before the handler was there */
}

/* Back to reaping by hand: forget the pids the handler reaped (they may belong to others now). */
static void unwatch_workers(struct embedded *e)
{
    signal(SIGCHLD, SIG_DFL);
    for (size_t i = 0; i < e->n_workers && i < sizeof(watched) / sizeof(watched[0]); i++)
        if (watched[i] == 0)
            e->workers[i] = 0;
    n_watched = 0;
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
    if (s->errors_total > 0 || s->shards_failed > 0) {
        printf("input errors: %" PRIu64 " (%" PRIu64 " shards failed) in %" PRIu64
               " damaged file%s, listed in %s/report.json\n",
               s->errors_total, s->shards_failed, s->n_damaged, s->n_damaged == 1 ? "" : "s", out);
        for (size_t i = 0; i < s->n_damaged_shown; i++)
            printf("  %s: %" PRIu64 " error%s, first: %s\n", s->damaged[i].file,
                   s->damaged[i].errors, s->damaged[i].errors == 1 ? "" : "s",
                   s->damaged[i].reason);
        if (s->n_damaged > s->n_damaged_shown)
            printf("  and %" PRIu64 " more damaged file%s (report.json \"error_files\")\n",
                   s->n_damaged - s->n_damaged_shown,
                   s->n_damaged - s->n_damaged_shown == 1 ? "" : "s");
    }
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

/* This executable's path (the workers run it) and a private temporary directory for the sockets;
 * false after saying why. */
static bool find_self_and_tmp(struct embedded *e, char *self, size_t cap)
{
    ssize_t len = readlink("/proc/self/exe", self, cap - 1);

    if (len <= 0) {
        fprintf(stderr, "poisonscan scan: cannot find its own executable: %s\n", strerror(errno));
        return false;
    }
    self[len] = '\0';
    snprintf(e->tmp, sizeof(e->tmp), "%s/poisonscan-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(e->tmp) == NULL) {
        fprintf(stderr, "poisonscan scan: cannot create a temp dir: %s\n", strerror(errno));
        return false;
    }
    return true;
}

/* The coordinator in this process with the workers started; then the workers stopped and the
 * summary printed. Returns the exit code. */
static int run_job(struct embedded *e, const struct ps_coordinator_opts *o, const char *out,
                   uint64_t t0)
{
    struct ps_report_summary sum = {0};
    int rc;

    ps_log(PS_LOG_INFO, "scan", "CURVE keys made for this run: %zu workers", e->n_workers);
    watch_workers(e);
    rc = ps_coordinator_run(o, &sum);
    unwatch_workers(e);
    if (all_failed) {
        fprintf(stderr,
                "poisonscan scan: all %zu workers exited before the job was done (their "
                "messages are above)\n",
                e->n_workers);
        rc = PS_EXIT_INFRA;
    }
    /* after a clean end the workers leave on the coordinator's Shutdown; else stop them now */
    if (rc != 0)
        for (size_t i = 0; i < e->n_workers; i++)
            if (e->workers[i] > 0)
                kill(e->workers[i], SIGTERM);
    for (size_t i = 0; i < e->n_workers; i++)
        stop_child(&e->workers[i], 3000);
    if (rc != 0)
        return rc;
    print_summary(&sum, out, ps_clock_now_ms() - t0);
    return sum.n_triggers > 0                              ? PS_EXIT_FLAGGED
           : sum.errors_total > 0 || sum.shards_failed > 0 ? PS_EXIT_ERRORS
                                                           : PS_EXIT_CLEAN;
}

/* scan's one option of its own: how many local workers (default: one per core). */
static struct ps_opt workers_opt(uint64_t *n_workers, const char *cores_text)
{
    return (struct ps_opt){.flag = "workers",
                           .env = "POISONSCAN_WORKERS",
                           .type = PS_OPT_U64,
                           .target = n_workers,
                           .def = cores_text,
                           .min = 1,
                           .max = 1024,
                           .help = "worker processes"};
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
    struct ps_coordinator_opts o = {0};
    static struct ps_store_url redis_urls[PS_PARTITION_MAX]; /* big: off the stack */
    struct embedded e = {0};
    struct ps_allowlist *allow = NULL;
    struct ps_curve_allow *worker_keys = ps_curve_allow_new();
    struct worker_args wa;
    char level[16], retry[32], heartbeat[32];
    size_t n;
    uint64_t t0 = ps_clock_now_ms();
    int rc = PS_EXIT_USAGE;

    snprintf(cores_text, sizeof(cores_text), "%ld", cores > 0 ? cores : 1);
    n = ps_cli_coord_table(table, &v, true);
    table[n++] = workers_opt(&n_workers, cores_text);
    if (ps_opts_parse(table, n, argc, argv, usage_line, stdout, &res, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan scan: %s\n", ed.msg);
        goto done;
    }
    if (res.help_shown) {
        rc = 0;
        goto done;
    }
    ps_cli_setup_log("scan", v.log_level, v.log_format);
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
    /* every option checked before a server, a worker or a temp dir exists (the private
     * redis-server is one endpoint) */
    ps_cli_coord_opts(&v, (const char *const *)res.positional, res.n_positional, &o);
    o.n_redis =
        v.redis.url == NULL ? 1 : ps_cli_redis_urls("scan", &v.redis, redis_urls, PS_PARTITION_MAX);
    if (o.n_redis == 0)
        goto done;
    if (!ps_cli_coord_check(&o, &ed)) {
        fprintf(stderr, "poisonscan scan: %s\n", ed.msg);
        goto done;
    }
    if (v.redis.url == NULL && (o.since != NULL || o.save_scan)) {
        fprintf(stderr, "poisonscan scan: --since and --save-scan need --redis URL: the private "
                        "redis-server keeps nothing after the scan\n");
        goto done;
    }
    if (v.redis.url == NULL && !find_in_path("redis-server", server, sizeof(server))) {
        fprintf(stderr, "poisonscan scan: needs redis-server, which is not installed: "
                        "'apt-get install redis-server' (Debian/Ubuntu), or pass --redis URL\n");
        goto done;
    }
    if (!find_self_and_tmp(&e, self, sizeof(self))) {
        rc = PS_EXIT_INFRA;
        goto done;
    }
    snprintf(e.sock, sizeof(e.sock), "%s/redis.sock", e.tmp);
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/coordinator.ipc", e.tmp);
    ps_cli_catch_signals();
    if (v.redis.url == NULL) {
        if (!start_redis(&e, server)) {
            rc = PS_EXIT_INFRA;
            goto cleanup;
        }
        snprintf(redis_url, sizeof(redis_url), "unix://%s", e.sock);
        v.redis.url = redis_url;
    }
    /* the options checked above, now bound to the private endpoints */
    o.bind = endpoint;
    o.linger_ms = 0; /* our own workers were told, and we stop them anyway */
    o.allowlist = allow;
    o.n_redis = ps_cli_redis_urls("scan", &v.redis, redis_urls, PS_PARTITION_MAX);
    o.redis = redis_urls;
    if (o.n_redis == 0)
        goto cleanup;
    rc = PS_EXIT_INFRA;
    snprintf(level, sizeof(level), "%s", ps_cli_log_levels[v.log_level < 0 ? 2 : v.log_level]);
    snprintf(retry, sizeof(retry), "%" PRIu64 "ms", v.redis_retry_ms);
    snprintf(heartbeat, sizeof(heartbeat), "%" PRIu64 "ms", o.heartbeat_ms);
    wa = (struct worker_args){.self = self,
                              .endpoint = endpoint,
                              .level = level,
                              .format = ps_cli_log_formats[v.log_format > 0 ? v.log_format : 0],
                              .retry = retry,
                              .heartbeat = heartbeat};
    if (start_workers(&e, n_workers, &wa, &o, worker_keys))
        rc = run_job(&e, &o, v.out, t0);
cleanup:
    for (size_t i = 0; i < e.n_workers; i++)
        stop_child(&e.workers[i], 0);
    if (e.redis > 0) {
        kill(e.redis, SIGTERM);
        stop_child(&e.redis, 5000);
    }
    remove_tree(e.tmp);
    free(e.workers);
    for (size_t i = 0; i < o.n_redis; i++)
        memset(redis_urls[i].password, 0, sizeof(redis_urls[i].password));
    ps_curve_keypair_wipe(&o.security.own);
done:
    ps_curve_allow_free(worker_keys);
    ps_allowlist_free(allow);
    ps_opts_release(table, n, &res);
    return rc;
}
