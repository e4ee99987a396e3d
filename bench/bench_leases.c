/* bench_leases.c - leases per second from the real coordinator (ps_coordinator_run on a thread of
 * this process) to many simulated workers: one thread holding W DEALER sockets that say Hello and
 * answer every Lease at once with a ShardResult, as a worker that scans nothing would. The plan is
 * one plain JSONL file of N one-line documents cut into N shards (shard size 1 byte, so every
 * line is a shard), or with --corpus the shards of that corpus at --shard-size.
 *
 * A shard counts only once its results are committed (the collector merges the blobs the commit
 * left): the bench commits every shard before the clock starts, through the worker's own path
 * (ps_scan_shard, ps_scan_build_commit, ps_commit_apply with the commit script), one commit per
 * shard and partition. So the figure is the coordinator's alone: dispatch (attempt numbers and
 * lease records in Redis), sending leases, receiving results, handing them to the collector,
 * while the collector merges on its own thread; not the workers' Redis traffic.
 *
 * Measured: from the first Lease the simulated workers receive to the ShardResult of the N-th
 * distinct shard of pass 1 (leases/s = N / that time); also the coordinator's start (plan, job
 * set-up, loading the pass) and the end of pass 1 (last result to the first lease of the next
 * pass, or to the Shutdown after the report when, as with this corpus, no candidate pattern
 * calls for a confirm pass: the collector's catching up, the switch). The job is stopped there.
 *
 *   bench_leases [--shards N] [--workers W] [--credit C] [--partitions P] [--redis URL]
 *                [--bind ENDPOINT] [--dir DIR] [--corpus PATH [--shard-size BYTES]]
 *
 * Without --redis a private redis-server (unix socket in the run's directory) is started. */
#define _GNU_SOURCE /* mkdtemp */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/store.h"
#include "common/wire.h"
#include "coordinator/coordinator.h"
#include "coordinator/plan.h"
#include "worker/scan.h"

#define JOB "bench-leases"

struct args {
    size_t shards, workers;
    unsigned credit, partitions;
    const char *redis, *bind, *dir, *corpus;
    uint64_t shard_size;
};

struct sim {
    void *sock;
    char id[PS_WIRE_ROUTING_ID_CAP];
    bool hello_sent;
    double last_sent;
};

/* Where the CPU goes, by thread (/proc/self/task): the coordinator's loop, its collector, its
 * ZeroMQ I/O thread; the simulated workers and their I/O thread; and the redis-server. */
enum role { R_LOOP, R_COLLECTOR, R_COORD_IO, R_WORKERS, R_WORKERS_IO, R_REDIS, N_ROLES };
static const char *const role_names[N_ROLES] = {"coordinator loop",       "collector",
                                                "coordinator ZeroMQ I/O", "simulated workers",
                                                "workers' ZeroMQ I/O",    "redis-server"};

struct run {
    struct args a;
    char dir[512], corpus[600], endpoint_file[600], out[600], sock_path[600];
    pid_t redis_pid;
    struct ps_store_url url;
    struct ps_coordinator_opts o;
    volatile sig_atomic_t stop;
    int coord_rc;
    void *zctx;
    struct sim *sims;
    int epfd;
    uint64_t shard_size;
    struct ps_plan *plan;
    size_t n_shards;
    uint8_t *seen; /* shards of pass 1 answered */
    size_t n_seen, n_leases;
    double t_first, t_last, t_pass2;
    pthread_t coord_thread;
    volatile pid_t loop_tid;                      /* the thread that runs ps_coordinator_run */
    double cpu_first[N_ROLES], cpu_last[N_ROLES]; /* CPU seconds by role */
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of /proc/<path>/stat in seconds, and the thread's name; false if gone. */
static bool read_stat(const char *path, char *name, size_t cap, double *secs)
{
    char buf[1024], *open_paren, *close_paren;
    unsigned long long ut, st;
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    open_paren = strchr(buf, '(');
    close_paren = strrchr(buf, ')');
    if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
        return false;
    snprintf(name, cap, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
    /* after the name: state, then fields 4..13, then utime (14) and stime (15) */
    if (sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
               &st) != 2)
        return false;
    *secs = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return true;
}

static void cpu_now(const struct run *r, double *out)
{
    char path[64], name[64];
    double secs;
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;

    memset(out, 0, N_ROLES * sizeof(*out));
    while (d != NULL && (de = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(de->d_name);
        if (tid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
        if (!read_stat(path, name, sizeof(name), &secs))
            continue;
        if (tid == r->loop_tid)
            out[R_LOOP] += secs;
        else if (strcmp(name, "coordinator") == 0)
            out[R_COLLECTOR] += secs; /* created by the loop's thread, named after it */
        else if (strncmp(name, "ZMQbg/IO", 8) == 0)
            out[R_COORD_IO] += secs;
        else if (strncmp(name, "1/ZMQbg/IO", 10) == 0)
            out[R_WORKERS_IO] += secs; /* the workers' context has the prefix */
        else if (tid == getpid())
            out[R_WORKERS] += secs;
    }
    if (d != NULL)
        closedir(d);
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)r->redis_pid);
    if (r->redis_pid > 0 && read_stat(path, name, sizeof(name), &secs))
        out[R_REDIS] = secs;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_leases: %s: %s\n", what, why);
    exit(1);
}

static size_t parse_size(const char *flag, const char *v)
{
    char *end;
    unsigned long long n;

    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n == 0)
        die(flag, "expects a positive number");
    return (size_t)n;
}

static void parse_args(int argc, char **argv, struct args *a)
{
    a->shards = 100000;
    a->workers = 1000;
    a->credit = 1;
    a->partitions = 1;
    a->redis = NULL;
    a->bind = "tcp://127.0.0.1:*";
    a->dir = NULL;
    a->corpus = NULL;
    a->shard_size = 256 << 20;
    /* options come in pairs: flag, value */
    for (int i = 1; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die(f, "needs a value (bench_leases [--shards N] [--workers W] [--credit C] "
                   "[--partitions P] [--redis URL] [--bind ENDPOINT] [--dir DIR] "
                   "[--corpus PATH [--shard-size BYTES]])");
        if (strcmp(f, "--shards") == 0)
            a->shards = parse_size(f, v);
        else if (strcmp(f, "--workers") == 0)
            a->workers = parse_size(f, v);
        else if (strcmp(f, "--credit") == 0)
            a->credit = (unsigned)parse_size(f, v);
        else if (strcmp(f, "--partitions") == 0)
            a->partitions = (unsigned)parse_size(f, v);
        else if (strcmp(f, "--redis") == 0)
            a->redis = v;
        else if (strcmp(f, "--bind") == 0)
            a->bind = v;
        else if (strcmp(f, "--dir") == 0)
            a->dir = v;
        else if (strcmp(f, "--corpus") == 0)
            a->corpus = v;
        else if (strcmp(f, "--shard-size") == 0)
            a->shard_size = parse_size(f, v);
        else
            die(f, "unknown option");
    }
    if (a->credit > PS_WIRE_MAX_CREDIT)
        die("--credit", "at most 1024");
}

/* ---- set-up: directory, corpus, Redis ---- */

static void make_corpus(struct run *r)
{
    FILE *f = fopen(r->corpus, "w");

    if (f == NULL)
        die(r->corpus, strerror(errno));
    for (size_t i = 0; i < r->a.shards; i++)
        fprintf(f, "{\"id\":\"d%zu\",\"text\":\"one line\"}\n", i);
    if (fclose(f) != 0)
        die(r->corpus, strerror(errno));
}

static void start_redis(struct run *r)
{
    struct ps_errdetail ed = {0};
    struct ps_store *s;
    char url[700];

    if (r->a.redis != NULL) {
        snprintf(url, sizeof(url), "%s", r->a.redis);
    } else {
        snprintf(r->sock_path, sizeof(r->sock_path), "%s/redis.sock", r->dir);
        r->redis_pid = fork();
        if (r->redis_pid < 0)
            die("fork", strerror(errno));
        if (r->redis_pid == 0) {
            freopen("/dev/null", "w", stdout);
            freopen("/dev/null", "w", stderr);
            execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", r->sock_path,
                   "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", r->dir,
                   (char *)NULL);
            _exit(127);
        }
        snprintf(url, sizeof(url), "unix://%s", r->sock_path);
    }
    if (ps_store_parse_url(url, &r->url, &ed) != PS_OK)
        die("--redis", ed.msg);
    /* the connect retries while the server starts */
    if (ps_store_connect(&s, &r->url, 20000, &ed) != PS_OK)
        die("redis", ed.msg);
    ps_store_free(s);
}

/* Redis's own account of its time (INFO commandstats): calls and microseconds by command. */
static void print_redis_stats(const struct run *r)
{
    struct ps_errdetail ed = {0};
    struct ps_store *s;
    struct ps_store_reply *rep;
    const char *text;
    size_t len;

    if (ps_store_connect(&s, &r->url, 1000, &ed) != PS_OK)
        return;
    if (ps_store_cmd(s, &rep, &ed, "INFO", "commandstats", NULL) == PS_OK) {
        text = ps_store_reply_str(rep, &len);
        printf("redis commandstats over the whole run:\n");
        for (const char *p = text; p != NULL && p < text + len;) {
            const char *nl = memchr(p, '\n', (size_t)(text + len - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
            if (n > 0 && p[n - 1] == '\r')
                n--;
            if (n > 8 && strncmp(p, "cmdstat_", 8) == 0)
                printf("  %.*s\n", (int)(n - 8), p + 8);
            p = nl ? nl + 1 : NULL;
        }
        ps_store_reply_free(rep);
    }
    ps_store_free(s);
}

static void stop_redis(struct run *r)
{
    if (r->redis_pid > 0) {
        kill(r->redis_pid, SIGTERM);
        waitpid(r->redis_pid, NULL, 0);
    }
}

/* The shards the coordinator will lease (the same input and shard size give the same plan). */
static void plan_corpus(struct run *r)
{
    struct ps_plan_opts po = ps_plan_opts_default();
    struct ps_errdetail ed = {0};
    const char *input = r->corpus;

    po.shard_size = r->shard_size;
    if (ps_plan_build(&r->plan, &input, 1, &po, &ed) != PS_OK)
        die(r->corpus, ed.msg);
    r->n_shards = ps_plan_n_shards(r->plan);
    if (r->n_shards == 0)
        die(r->corpus, "no shards");
}

/* ---- the coordinator ---- */

static void *coordinator_main(void *arg)
{
    struct run *r = arg;

    /* a name for profiles (perf report --sort comm); the collector's thread inherits it */
    pthread_setname_np(pthread_self(), "coordinator");
    r->loop_tid = (pid_t)syscall(SYS_gettid);
    r->coord_rc = ps_coordinator_run(&r->o, NULL);
    return NULL;
}

static void coordinator_opts(struct run *r)
{
    struct ps_coordinator_opts *o = &r->o;
    static const char *inputs[1];

    inputs[0] = r->corpus;
    memset(o, 0, sizeof(*o));
    o->format = ps_format_auto(); /* as the CLI without --format, and as plan_corpus() plans */
    o->bind = r->a.bind;
    o->endpoint_file = r->endpoint_file;
    o->job = JOB;
    o->out_dir = r->out;
    o->inputs = inputs;
    o->n_inputs = 1;
    o->redis = &r->url;
    o->n_redis = 1;
    o->partitions = r->a.partitions;
    o->redis_retry_ms = 30000;
    o->shard_size = r->shard_size;
    o->max_attempts = 3;
    o->heartbeat_ms = 1000;
    o->liveness = 3;
    o->lease_timeout_ms = 10000;
    o->text_field = "text";
    o->id_field = "id";
    o->max_line = 64 << 20;
    o->max_errors_kept = 1000;
    o->ngram_max = 3;
    o->window = 32;
    o->max_candidates = 48;
    o->signature_k = 128;
    o->clusters = false; /* no sketch in the blobs the bench commits */
    o->score = ps_score_opts_default();
    o->stop = &r->stop;
}

/* The bound endpoint, once the coordinator has planned, set up the job and bound its socket. */
static void wait_endpoint(struct run *r, char *dst, size_t cap)
{
    for (;;) {
        FILE *f = fopen(r->endpoint_file, "r");
        if (f != NULL) {
            bool ok = fgets(dst, (int)cap, f) != NULL;
            fclose(f);
            if (ok) {
                dst[strcspn(dst, "\n")] = '\0';
                return;
            }
        }
        if (r->stop)
            die("coordinator", "stopped before it listened");
        ps_clock_sleep_ms(5);
    }
}

/* ---- commits, before the clock starts ---- */

struct committer {
    struct ps_scan *scan;
    struct ps_store *store;
    struct ps_commit *commit;
    uint64_t disk_bytes;
    enum ps_err err;
    struct ps_errdetail ed;
};

static bool on_part(void *ctx, uint32_t part, bool last)
{
    struct committer *k = ctx;
    enum ps_commit_outcome outcome;

    (void)part;
    (void)last;
    ps_scan_finish_part(k->scan);
    for (unsigned q = ps_scan_partitions(k->scan); q-- > 0;) {
        ps_scan_build_commit(k->scan, JOB, q, k->commit, k->disk_bytes);
        k->err = ps_commit_apply(k->store, k->commit, "1 bench-leases", &outcome, &k->ed);
        if (k->err != PS_OK)
            return false;
    }
    return true;
}

/* Commit every shard of pass 1 as a worker would after scanning it: the shards of the plan the
 * coordinator makes of the same input. */
static void commit_all(struct run *r)
{
    struct committer k = {0};
    struct ps_scan_opts so = ps_scan_opts_default();

    so.partitions = r->a.partitions;
    so.cluster_log2 = 0;
    if (ps_scan_new(&k.scan, &so, &k.ed) != PS_OK ||
        ps_store_connect(&k.store, &r->url, 20000, &k.ed) != PS_OK)
        die("commit", k.ed.msg);
    k.commit = ps_commit_new();
    for (size_t id = 0; id < r->n_shards; id++) {
        const struct ps_shard *sh = ps_plan_shard(r->plan, id);
        struct ps_scan_spec spec = {0};
        struct ps_scan_callbacks cb = {NULL, on_part, &k};

        spec.pass = 1;
        spec.shard_id = (uint32_t)id;
        spec.path = sh->path;
        spec.begin = sh->begin;
        spec.end = sh->end;
        k.disk_bytes = sh->end - sh->begin;
        if (ps_scan_shard(k.scan, &spec, &cb, &k.ed) != PS_OK || k.err != PS_OK)
            die("commit", k.ed.msg);
    }
    ps_commit_free(k.commit);
    ps_store_free(k.store);
    ps_scan_free(k.scan);
}

/* ---- the simulated workers ----
 * One thread, W DEALER sockets. Each socket's ZMQ_FD is in one epoll set, so that a wake-up costs
 * the sockets that have something, not all W (zmq_poll walks every item). The descriptor only
 * says that the socket's state may have changed: ZMQ_EVENTS says whether a message waits, and it
 * is asked again after every send, which may take the wake-up of a message that arrived
 * meanwhile. Like a worker's link (worker/link.c), a socket heartbeats only when it has sent
 * nothing for an interval. */

#define HEARTBEAT_S 1.0

static void send_or_die(struct sim *s, const Poisonscan__Envelope *env)
{
    struct ps_errdetail ed = {0};

    if (ps_wire_send_dealer(s->sock, env, &ed) != PS_OK)
        die("send", ed.msg);
    s->last_sent = now_s();
}

static bool send_hello(struct sim *s, unsigned credit)
{
    Poisonscan__Envelope env;
    Poisonscan__Hello hello;
    static char simd[] = "scalar", host[] = "bench";

    poisonscan__envelope__init(&env);
    poisonscan__hello__init(&hello);
    hello.protocol_version = PS_WIRE_PROTOCOL_VERSION;
    hello.routing_id = s->id;
    hello.hostname = host;
    hello.pid = (uint32_t)getpid();
    hello.simd_level = simd;
    hello.credit = credit;
    env.body_case = POISONSCAN__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    if (ps_wire_send_dealer(s->sock, &env, NULL) != PS_OK)
        return false; /* EAGAIN until connected */
    s->last_sent = now_s();
    return true;
}

static void send_heartbeat(struct sim *s)
{
    Poisonscan__Envelope env;
    Poisonscan__Heartbeat hb;

    poisonscan__envelope__init(&env);
    poisonscan__heartbeat__init(&hb);
    env.body_case = POISONSCAN__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    if (ps_wire_send_dealer(s->sock, &env, NULL) == PS_OK) /* a lost one is no matter */
        s->last_sent = now_s();
}

static void answer(struct run *r, struct sim *s, const Poisonscan__Lease *l)
{
    Poisonscan__Envelope env;
    Poisonscan__ShardResult res;
    static char empty[] = "";

    if (l->pass != 1) {
        if (r->t_pass2 == 0)
            r->t_pass2 = now_s();
        return; /* the bench ends at pass 1's end */
    }
    if (r->t_first == 0) {
        r->t_first = now_s();
        cpu_now(r, r->cpu_first);
    }
    r->n_leases++;
    poisonscan__envelope__init(&env);
    poisonscan__shard_result__init(&res);
    res.job_id = l->job_id;
    res.pass = l->pass;
    res.shard_id = l->shard_id;
    res.attempt = l->attempt;
    res.outcome = POISONSCAN__OUTCOME__OUTCOME_COMMITTED;
    res.error = empty;
    res.docs = 1;
    res.bytes = l->end - l->begin;
    env.body_case = POISONSCAN__ENVELOPE__BODY_RESULT;
    env.result = &res;
    send_or_die(s, &env);
    if (l->shard_id < r->n_shards && !r->seen[l->shard_id]) {
        r->seen[l->shard_id] = 1;
        if (++r->n_seen == r->n_shards) {
            r->t_last = now_s();
            cpu_now(r, r->cpu_last);
        }
    }
}

/* Every message waiting on the socket, until ZMQ_EVENTS says none is left. */
static void receive(struct run *r, struct sim *s)
{
    struct ps_wire_limits lim = ps_wire_limits_worker();

    for (;;) {
        Poisonscan__Envelope *env = NULL;
        struct ps_errdetail ed = {0};
        bool got = false;
        int events = 0;
        size_t len = sizeof(events);

        if (zmq_getsockopt(s->sock, ZMQ_EVENTS, &events, &len) != 0)
            die("zmq_getsockopt", zmq_strerror(zmq_errno()));
        if (!(events & ZMQ_POLLIN))
            return;
        if (ps_wire_recv_dealer(s->sock, &lim, &env, &got, &ed) != PS_OK)
            die("receive", ed.msg);
        if (!got)
            continue;
        if (env->body_case == POISONSCAN__ENVELOPE__BODY_LEASE)
            answer(r, s, env->lease);
        else if (env->body_case == POISONSCAN__ENVELOPE__BODY_SHUTDOWN && r->t_pass2 == 0)
            r->t_pass2 = now_s(); /* no pass follows: the report is written */
        ps_wire_envelope_free(env);
    }
}

static void open_workers(struct run *r, const char *endpoint)
{
    struct ps_wire_limits lim = ps_wire_limits_worker();
    /* plain text, like the coordinator here (memset opts): the figure is dispatch, not CURVE */
    struct ps_wire_security plain = ps_wire_security_plain();
    struct rlimit rl;

    /* two descriptors a socket here (mailbox, connection) and one a connection in the
     * coordinator's ROUTER */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    r->zctx = zmq_ctx_new();
    if (r->zctx == NULL || zmq_ctx_set(r->zctx, ZMQ_MAX_SOCKETS, (int)r->a.workers + 16) != 0 ||
        zmq_ctx_set(r->zctx, ZMQ_THREAD_NAME_PREFIX, 1) != 0)
        die("zmq", zmq_strerror(zmq_errno()));
    r->epfd = epoll_create1(0);
    r->sims = calloc(r->a.workers, sizeof(*r->sims));
    if (r->epfd < 0 || r->sims == NULL)
        die("set-up", strerror(errno));
    for (size_t i = 0; i < r->a.workers; i++) {
        struct ps_errdetail ed = {0};
        struct epoll_event ev = {0};
        int fd;
        size_t len = sizeof(fd);

        ps_wire_make_routing_id(r->sims[i].id, sizeof(r->sims[i].id));
        if (ps_wire_dealer_connect(r->zctx, endpoint, r->sims[i].id, &plain, &lim, &r->sims[i].sock,
                                   &ed) != PS_OK)
            die("connect", ed.msg);
        if (zmq_getsockopt(r->sims[i].sock, ZMQ_FD, &fd, &len) != 0)
            die("zmq_getsockopt", zmq_strerror(zmq_errno()));
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("epoll_ctl", strerror(errno));
    }
}

static void close_workers(struct run *r)
{
    for (size_t i = 0; i < r->a.workers; i++)
        if (r->sims[i].sock != NULL)
            zmq_close(r->sims[i].sock);
    zmq_ctx_term(r->zctx);
    close(r->epfd);
    free(r->sims);
}

/* Hellos until every socket has said it, and heartbeats of the sockets quiet for an interval;
 * then whatever arrived meanwhile. */
static void housekeeping(struct run *r, size_t *joined)
{
    double now = now_s();

    for (size_t i = 0; i < r->a.workers; i++) {
        struct sim *s = &r->sims[i];
        if (!s->hello_sent) {
            if (!send_hello(s, r->a.credit))
                continue;
            s->hello_sent = true;
            (*joined)++;
        } else if (now - s->last_sent >= HEARTBEAT_S) {
            send_heartbeat(s);
        }
        receive(r, s);
    }
}

/* Until pass 1 is answered and pass 2 has begun (or a minute passes without progress). */
static void run_workers(struct run *r)
{
    double last_house = 0, last_progress = now_s();
    size_t joined = 0, before = 0;
    struct epoll_event evs[256];

    while (!(r->n_seen == r->n_shards && r->t_pass2 != 0)) {
        int n = epoll_wait(r->epfd, evs, 256, joined < r->a.workers ? 10 : 100);

        if (n < 0 && errno != EINTR)
            die("epoll_wait", strerror(errno));
        for (int i = 0; i < n; i++)
            receive(r, &r->sims[evs[i].data.u64]);
        if (joined < r->a.workers || now_s() - last_house >= HEARTBEAT_S / 4) {
            housekeeping(r, &joined);
            last_house = now_s();
        }
        if (r->n_seen != before) {
            before = r->n_seen;
            last_progress = now_s();
        } else if (now_s() - last_progress > 60) {
            die("workers", "no progress for a minute");
        }
        if (r->stop)
            die("coordinator", "stopped during the run");
    }
}

int main(int argc, char **argv)
{
    static struct run r;
    char endpoint[PS_WIRE_ENDPOINT_CAP];
    double t0, t_listen, t_committed, t_stop, cpu_listen[N_ROLES];

    parse_args(argc, argv, &r.a);
    ps_log_set_role("bench");
    {
        enum ps_log_level lv = PS_LOG_WARN;
        const char *e = getenv("POISONSCAN_LOG");
        if (e != NULL && ps_log_parse_level(e, &lv) != 0)
            die("POISONSCAN_LOG", "debug, info, warn, error or off");
        ps_log_set_level(lv);
    }
    if (r.a.dir != NULL) {
        snprintf(r.dir, sizeof(r.dir), "%s", r.a.dir);
        mkdir(r.dir, 0700);
    } else {
        snprintf(r.dir, sizeof(r.dir), "/tmp/ps-leases-XXXXXX");
        if (mkdtemp(r.dir) == NULL)
            die("mkdtemp", strerror(errno));
    }
    if (r.a.corpus != NULL) {
        snprintf(r.corpus, sizeof(r.corpus), "%s", r.a.corpus);
        r.shard_size = r.a.shard_size;
    } else {
        snprintf(r.corpus, sizeof(r.corpus), "%s/leases.jsonl", r.dir);
        r.shard_size = 1; /* every line a shard */
        make_corpus(&r);
    }
    snprintf(r.endpoint_file, sizeof(r.endpoint_file), "%s/endpoint", r.dir);
    snprintf(r.out, sizeof(r.out), "%s/out", r.dir);
    unlink(r.endpoint_file);
    plan_corpus(&r);
    r.seen = calloc(r.n_shards, 1);
    if (r.seen == NULL)
        die("memory", "out of memory");
    start_redis(&r);
    coordinator_opts(&r);

    t0 = now_s();
    if (pthread_create(&r.coord_thread, NULL, coordinator_main, &r) != 0)
        die("pthread_create", "cannot start the coordinator");
    wait_endpoint(&r, endpoint, sizeof(endpoint));
    t_listen = now_s();
    cpu_now(&r, cpu_listen);
    commit_all(&r);
    t_committed = now_s();
    fprintf(stderr, "bench_leases: committed; the clock starts\n");
    open_workers(&r, endpoint);
    run_workers(&r);
    r.stop = 1;
    pthread_join(r.coord_thread, NULL);
    t_stop = now_s();
    close_workers(&r);
    if (getenv("PS_BENCH_REDIS_STATS") != NULL)
        print_redis_stats(&r);
    stop_redis(&r);
    if (r.a.dir == NULL) {
        if (r.a.corpus == NULL)
            unlink(r.corpus);
        unlink(r.endpoint_file);
        rmdir(r.out);
        rmdir(r.dir);
    }
    if (r.coord_rc != 0 && r.coord_rc != 4) /* 4: interrupted, as asked */
        fprintf(stderr, "bench_leases: the coordinator exited %d\n", r.coord_rc);

    printf("%s: %zu shards, workers %zu, credit %u, partitions %u, endpoint %s\n", r.corpus,
           r.n_shards, r.a.workers, r.a.credit, r.a.partitions, endpoint);
    printf("coordinator start (plan, job set-up, pass loaded): %.3f s (CPU %.3f s)\n",
           t_listen - t0, cpu_listen[R_LOOP]);
    printf("commits before the clock (one connection): %.3f s\n", t_committed - t_listen);
    printf("pass 1: %zu leases for %zu shards in %.3f s (first lease to last result)\n", r.n_leases,
           r.n_seen, r.t_last - r.t_first);
    for (int i = 0; i < N_ROLES; i++)
        printf("CPU in that time, %s: %.2f s (%.1f us a lease)\n", role_names[i],
               r.cpu_last[i] - r.cpu_first[i],
               1e6 * (r.cpu_last[i] - r.cpu_first[i]) / (double)r.n_leases);
    printf("pass 1 end (last result to the next pass or the report's Shutdown): %.3f s\n",
           r.t_pass2 - r.t_last);
    printf("stop: %.3f s\n", t_stop - r.t_pass2);
    printf("leases=%zu seconds=%.3f leases_per_s=%.0f loop_cpu_s=%.3f start_s=%.3f "
           "start_cpu_s=%.3f pass_end_s=%.3f\n",
           r.n_leases, r.t_last - r.t_first, (double)r.n_leases / (r.t_last - r.t_first),
           r.cpu_last[R_LOOP] - r.cpu_first[R_LOOP], t_listen - t0, cpu_listen[R_LOOP],
           r.t_pass2 - r.t_last);
    free(r.seen);
    ps_plan_free(r.plan);
    return 0;
}
