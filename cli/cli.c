/* cli.c - shared pieces of the subcommands: signal flag, logging set-up, Redis URL options and
 * the coordinator's option table (one table serves `scan` and `coordinator`). */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clsketch.h"
#include "common/partition.h"
#include "common/log.h"
#include "common/minhash.h"
#include "common/reader.h"
#include "worker/scan.h"
#include "worker/worker.h"

volatile sig_atomic_t ps_cli_stop = 0;
atomic_int ps_cli_reload = 0;

static void on_signal(int sig)
{
    (void)sig;
    ps_cli_stop = 1;
}

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a signal handler may only touch lock-free atomics");

static void on_hangup(int sig)
{
    (void)sig;
    atomic_store(&ps_cli_reload, 1);
}

void ps_cli_catch_reload(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_hangup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
}

void ps_cli_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

const char *const ps_cli_log_levels[] = {"debug", "info", "warn", "error", "off", NULL};
/* in the order of enum ps_log_format */
const char *const ps_cli_log_formats[] = {"plain", "json", NULL};

void ps_cli_setup_log(const char *role, int level, int format)
{
    ps_log_set_role(role);
    if (level >= 0)
        ps_log_set_level((enum ps_log_level)level);
    ps_log_set_format(format > 0 ? PS_LOG_FORMAT_JSON : PS_LOG_FORMAT_PLAIN);
}

struct ps_opt ps_cli_log_format_opt(int *format)
{
    return (struct ps_opt){.flag = "log-format",
                           .env = "POISONSCAN_LOG_FORMAT",
                           .type = PS_OPT_ENUM,
                           .target = format,
                           .def = "plain",
                           .choices = ps_cli_log_formats,
                           .help = "log lines on stderr: plain text, or one JSON object each"};
}

/* One URL `url` (borrowed) of r->url; `from_env` says whether r->url came from the environment. */
static bool one_url(const char *cmd, const char *url, bool from_env, const struct ps_cli_redis *r,
                    struct ps_store_url *out)
{
    struct ps_errdetail ed = {0};

    if (url == NULL || url[0] == '\0') {
        fprintf(stderr,
                "poisonscan %s: --redis URL is required (redis://host:port or unix:///path)\n",
                cmd);
        return false;
    }
    if (ps_store_parse_url(url, out, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan %s: %s\n", cmd, ed.msg);
        return false;
    }
    /* any user on the machine can read a command line (ps, /proc/PID/cmdline) */
    if (out->password[0] != '\0' && !from_env) {
        fprintf(stderr,
                "poisonscan %s: a password in --redis would be visible in the process list; "
                "use --redis-password-file FILE or POISONSCAN_REDIS_PASSWORD\n",
                cmd);
        goto fail;
    }
    if (r->user != NULL && r->user[0] != '\0') {
        if (out->user[0] != '\0' && strcmp(out->user, r->user) != 0) {
            fprintf(stderr, "poisonscan %s: --redis-user '%s' differs from the URL's user '%s'\n",
                    cmd, r->user, out->user);
            goto fail;
        }
        if (strlen(r->user) >= sizeof(out->user)) {
            fprintf(stderr, "poisonscan %s: --redis-user is too long\n", cmd);
            goto fail;
        }
        strcpy(out->user, r->user);
    }
    if (ps_store_url_load_password(out, r->password_file, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan %s: %s\n", cmd, ed.msg);
        goto fail;
    }
    if (out->user[0] != '\0' && out->password[0] == '\0') {
        fprintf(stderr,
                "poisonscan %s: Redis user '%s' needs a password: --redis-password-file FILE or "
                "POISONSCAN_REDIS_PASSWORD\n",
                cmd, out->user);
        goto fail;
    }
    ps_log_add_secret(out->password, strlen(out->password));
    return true;
fail:
    memset(out->password, 0, sizeof(out->password));
    return false;
}

static bool url_from_env(const struct ps_cli_redis *r)
{
    const char *env = getenv("POISONSCAN_REDIS");

    return env != NULL && r->url != NULL && strcmp(env, r->url) == 0;
}

bool ps_cli_redis_url(const char *cmd, const struct ps_cli_redis *r, struct ps_store_url *out)
{
    return one_url(cmd, r->url, url_from_env(r), r, out);
}

size_t ps_cli_redis_urls(const char *cmd, const struct ps_cli_redis *r, struct ps_store_url *out,
                         size_t cap)
{
    char one[8192];
    size_t n = 0;
    bool from_env = url_from_env(r);

    if (r->url == NULL || r->url[0] == '\0')
        return one_url(cmd, r->url, from_env, r, &out[0]) ? 1 : 0;
    for (const char *p = r->url; *p;) {
        size_t len = strcspn(p, ",");
        if (n == cap || len == 0 || len >= sizeof(one)) {
            fprintf(stderr, "poisonscan %s: --redis: %s\n", cmd,
                    n == cap ? "too many endpoints" : "an empty or overlong URL in the list");
            goto fail;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (!one_url(cmd, one, from_env, r, &out[n++]))
            goto fail;
        p += len;
        p += *p == ',';
    }
    ps_curve_wipe(one, sizeof(one));
    return n;
fail:
    ps_curve_wipe(one, sizeof(one));
    for (size_t i = 0; i < n; i++)
        memset(out[i].password, 0, sizeof(out[i].password));
    return 0;
}

size_t ps_cli_redis_table(struct ps_opt *t, struct ps_cli_redis *r)
{
    t[0] = (struct ps_opt){.flag = "redis",
                           .env = "POISONSCAN_REDIS",
                           .type = PS_OPT_STRING,
                           .target = &r->url,
                           .help = "Redis: redis://host:port[/db] or unix:///path; several, "
                                   "comma-separated, spread the job's partitions",
                           .metavar = "URL"};
    t[1] = (struct ps_opt){.flag = "redis-user",
                           .env = "POISONSCAN_REDIS_USER",
                           .type = PS_OPT_STRING,
                           .target = &r->user,
                           .help = "Redis ACL user (its password from --redis-password-file or "
                                   "POISONSCAN_REDIS_PASSWORD)",
                           .metavar = "NAME"};
    t[2] = (struct ps_opt){
        .flag = "redis-password-file",
        .env = "POISONSCAN_REDIS_PASSWORD_FILE",
        .type = PS_OPT_STRING,
        .target = &r->password_file,
        .help =
            "read the Redis password from this file's first line (or POISONSCAN_REDIS_PASSWORD)",
        .metavar = "FILE"};
    return PS_CLI_REDIS_OPTS;
}

/* Both options of a pair, or neither: half a CURVE configuration is a mistake, never a mode. */
static bool pair_given(const char *cmd, const char *a, const char *a_flag, const char *b,
                       const char *b_flag, bool *curve)
{
    bool has_a = a != NULL && a[0] != '\0', has_b = b != NULL && b[0] != '\0';

    *curve = has_a || has_b;
    if (has_a != has_b) {
        fprintf(stderr, "poisonscan %s: --%s needs --%s (docs/security.md)\n", cmd,
                has_a ? a_flag : b_flag, has_a ? b_flag : a_flag);
        return false;
    }
    return true;
}

/* Plain text leaves the machine only when the operator says so. */
static bool plain_allowed(const char *cmd, const char *endpoint, bool insecure, bool curve)
{
    bool local = strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0;

    if (curve && insecure) {
        fprintf(stderr, "poisonscan %s: --insecure contradicts the --curve-* options\n", cmd);
        return false;
    }
    if (!curve && !local && !insecure) {
        fprintf(stderr,
                "poisonscan %s: '%s' would carry plain-text ZeroMQ; give the --curve-* options "
                "(docs/security.md), or --insecure on a trusted network\n",
                cmd, endpoint);
        return false;
    }
    return true;
}

static bool read_secret(const char *cmd, const char *path, struct ps_wire_security *sec)
{
    struct ps_errdetail ed = {0};
    bool loose = false;

    if (ps_curve_read_secret(path, &sec->own, &loose, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan %s: --curve-secret-key: %s\n", cmd, ed.msg);
        return false;
    }
    if (loose)
        ps_log(PS_LOG_WARN, cmd, "secret key file '%s' is readable by other users; chmod 600 it",
               path);
    sec->curve = true;
    return true;
}

bool ps_cli_coord_security(const char *cmd, const char *endpoint, bool insecure,
                           const char *secret_key_file, const char *allow_file,
                           struct ps_wire_security *sec, struct ps_curve_allow **allow)
{
    struct ps_errdetail ed = {0};
    bool curve;

    *sec = ps_wire_security_plain();
    *allow = NULL;
    if (!pair_given(cmd, secret_key_file, "curve-secret-key", allow_file, "curve-allow", &curve) ||
        !plain_allowed(cmd, endpoint, insecure, curve))
        return false;
    if (!curve)
        return true;
    if (!read_secret(cmd, secret_key_file, sec))
        return false;
    if (ps_curve_allow_load(allow, allow_file, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan %s: --curve-allow: %s\n", cmd, ed.msg);
        ps_curve_keypair_wipe(&sec->own);
        sec->curve = false;
        return false;
    }
    ps_log(PS_LOG_INFO, cmd, "CURVE on: public key %s, %zu worker keys allowed",
           sec->own.public_key, ps_curve_allow_n(*allow));
    return true;
}

bool ps_cli_worker_security(const char *endpoint, bool insecure, const char *secret_key_file,
                            const char *server_key, struct ps_wire_security *sec)
{
    struct ps_errdetail ed = {0};
    bool curve;

    *sec = ps_wire_security_plain();
    if (!pair_given("worker", secret_key_file, "curve-secret-key", server_key, "curve-server-key",
                    &curve) ||
        !plain_allowed("worker", endpoint, insecure, curve))
        return false;
    if (!curve)
        return true;
    if (ps_curve_read_public(server_key, sec->server_key, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan worker: --curve-server-key: %s\n", ed.msg);
        return false;
    }
    if (!read_secret("worker", secret_key_file, sec))
        return false;
    ps_log(PS_LOG_INFO, "worker", "CURVE on: public key %s, coordinator key %s",
           sec->own.public_key, sec->server_key);
    return true;
}

size_t ps_cli_coord_table(struct ps_opt *t, struct ps_cli_coord *v, bool embedded)
{
    size_t n = 0;

    /* what the table leaves out in embedded mode keeps these values */
    memset(v, 0, sizeof(*v));
    v->heartbeat_ms = 1000;
    v->liveness = 3;
    v->lease_timeout_ms = 10000;
    v->max_attempts = 3;
#define OPT(...) (t[n++] = (struct ps_opt){__VA_ARGS__})
    n += ps_cli_redis_table(t + n, &v->redis);
    if (embedded)
        t[0].help = "use this Redis instead of a private redis-server";
    if (!embedded) {
        OPT(.flag = "bind", .env = "POISONSCAN_BIND", .type = PS_OPT_STRING, .target = &v->bind,
            .help = "ZeroMQ endpoint to bind (tcp://*:5555, tcp://127.0.0.1:*, ipc://PATH)",
            .metavar = "ENDPOINT");
        OPT(.flag = "endpoint-file", .type = PS_OPT_STRING, .target = &v->endpoint_file,
            .help = "write the bound endpoint here (for wildcard ports)", .metavar = "FILE");
        OPT(.flag = "insecure", .env = "POISONSCAN_INSECURE", .type = PS_OPT_BOOL,
            .target = &v->insecure, .help = "allow plain-text ZeroMQ over TCP (no CURVE)");
        OPT(.flag = "curve-secret-key", .env = "POISONSCAN_CURVE_SECRET_KEY", .type = PS_OPT_STRING,
            .target = &v->curve_secret_key, .metavar = "FILE",
            .help = "CURVE: this coordinator's secret key file (poisonscan keygen)");
        OPT(.flag = "curve-allow", .env = "POISONSCAN_CURVE_ALLOW", .type = PS_OPT_STRING,
            .target = &v->curve_allow, .metavar = "FILE",
            .help = "CURVE: the worker public keys admitted, one a line; reread on SIGHUP");
        OPT(.flag = "job", .env = "POISONSCAN_JOB", .type = PS_OPT_STRING, .target = &v->job,
            .help = "job id [A-Za-z0-9._-]{1,64}; the same id resumes the job", .metavar = "ID");
        OPT(.flag = "liveness", .type = PS_OPT_U64, .target = &v->liveness, .def = "3", .min = 1,
            .max = 100, .help = "heartbeats a worker may miss before its leases go elsewhere");
        OPT(.flag = "lease-timeout", .type = PS_OPT_DURATION, .target = &v->lease_timeout_ms,
            .def = "10s", .min = 100, .max = 86400000,
            .help = "a lease not renewed by a heartbeat for this long is dispatched again");
        OPT(.flag = "max-attempts", .type = PS_OPT_U64, .target = &v->max_attempts, .def = "3",
            .min = 1, .max = 100,
            .help = "dispatches of a shard before it is recorded as failed (a lease a stopping "
                    "worker gave back does not count)");
        OPT(.flag = "state-dir", .env = "POISONSCAN_STATE_DIR", .type = PS_OPT_STRING,
            .target = &v->state_dir, .metavar = "DIR",
            .help = "keep a journal of the committed shards here (JOB.journal), to find what a "
                    "restarted Redis lost even across a coordinator restart");
    } else {
        OPT(.flag = "job", .env = "POISONSCAN_JOB", .type = PS_OPT_STRING, .target = &v->job,
            .help = "job id (default: made from the time and a random suffix)", .metavar = "ID");
    }
    /* both modes: a scan's workers get the same value (cmd_scan.c), so that neither side
     * counts the other silent because of an environment only one of them read */
    OPT(.flag = "heartbeat", .env = "POISONSCAN_HEARTBEAT", .type = PS_OPT_DURATION,
        .target = &v->heartbeat_ms, .def = "1s", .min = 10, .max = 30000,
        .help = "heartbeat interval");
    OPT(.flag = "redis-retry", .type = PS_OPT_DURATION, .target = &v->redis_retry_ms, .def = "30s",
        .min = 0, .max = 3600000,
        .help = "how long Redis may be unreachable before giving up (exit 4)");
    OPT(.flag = "out", .env = "POISONSCAN_OUT", .type = PS_OPT_STRING, .target = &v->out,
        .def = "./poisonscan-out", .help = "report directory", .metavar = "DIR");
    OPT(.flag = "shard-size", .type = PS_OPT_SIZE, .target = &v->shard_size, .def = "256M",
        .min = 4096, .max = (uint64_t)1 << 50,
        .help = "plain files larger than this split into shards");
    OPT(.flag = "format", .type = PS_OPT_ENUM, .target = &v->format, .def = "auto",
        .choices = ps_format_choices,
        .help = "input format: a layout or a record shape (auto: detected per file)");
    OPT(.flag = "text-field", .type = PS_OPT_STRING, .target = &v->text_field, .def = "text",
        .help = "JSON key of the document text", .metavar = "KEY");
    OPT(.flag = "id-field", .type = PS_OPT_STRING, .target = &v->id_field, .def = "id",
        .help = "JSON key of the document id (absent: path:offset)", .metavar = "KEY");
    OPT(.flag = "max-line", .type = PS_OPT_SIZE, .target = &v->max_line, .def = "64M", .min = 1024,
        .max = PS_READER_MAX_LINE_MAX, .help = "longer lines are skipped and counted as errors");
    OPT(.flag = "max-errors-kept", .type = PS_OPT_U64, .target = &v->max_errors_kept, .def = "1000",
        .min = 1, .max = PS_SCAN_ERRORS_KEPT_MAX, .help = "error records kept per shard");
    OPT(.flag = "ngram-max", .type = PS_OPT_U64, .target = &v->ngram_max, .def = "3", .min = 1,
        .max = PS_DETECT_NGRAM_MAX,
        .help = "candidate patterns are word n-grams up to this length");
    OPT(.flag = "window", .type = PS_OPT_U64, .target = &v->window, .def = "32",
        .min = PS_DETECT_WINDOW_MIN, .max = PS_DETECT_WINDOW_MAX,
        .help = "words on each side of a text/payload turn");
    OPT(.flag = "max-candidates", .type = PS_OPT_U64, .target = &v->max_candidates, .def = "48",
        .min = 1, .max = PS_DETECT_CANDIDATES_MAX,
        .help = "candidate patterns per anomalous document");
    OPT(.flag = "signatures", .type = PS_OPT_STRING, .target = &v->signatures,
        .help = "write per-shard MinHash signature files here (docs/minhash.md)", .metavar = "DIR");
    OPT(.flag = "signature-k", .type = PS_OPT_U64, .target = &v->signature_k, .def = "128",
        .min = PS_MINHASH_K_MIN, .max = PS_MINHASH_K_MAX,
        .help = "slots per signature, a multiple of 16");
    OPT(.flag = "no-clusters", .type = PS_OPT_BOOL, .target = &v->no_clusters,
        .help = "skip near-duplicate paragraph clusters (report.json \"clusters\")");
    OPT(.flag = "cluster-min-docs", .type = PS_OPT_U64, .target = &v->cluster_min_docs, .def = "10",
        .min = 2, .max = 1000000000, .help = "documents a cluster needs");
    OPT(.flag = "cluster-sketch-log2", .type = PS_OPT_U64, .target = &v->cluster_sketch_log2,
        .def = "0", .max = PS_CLSKETCH_LOG2_MAX,
        .help = "cluster sketch rows of 2^N cells (0: sized from the corpus)");
    OPT(.flag = "partitions", .type = PS_OPT_U64, .target = &v->partitions, .def = "8", .min = 1,
        .max = PS_PARTITION_MAX,
        .help = "aggregation partitions, a power of two (spread over the --redis endpoints)");
    OPT(.flag = "sketch-max", .type = PS_OPT_SIZE, .target = &v->sketch_max, .def = "256M",
        .min = 8192, .max = (uint64_t)1 << 40,
        .help = "the cluster sketch sized from the corpus takes at most this (and 2% of it)");
    OPT(.flag = "min-docs", .type = PS_OPT_U64, .target = &v->min_docs, .def = "20", .min = 2,
        .max = 1000000000, .help = "documents a trigger needs before it is flagged");
    OPT(.flag = "min-rate", .type = PS_OPT_DOUBLE, .target = &v->min_rate, .def = "0.7",
        .dmin = 0.0001, .dmax = 1,
        .help = "share of a pattern's documents that must turn to payload after it");
    OPT(.flag = "min-spread", .type = PS_OPT_DOUBLE, .target = &v->min_spread, .def = "0.5",
        .dmin = 0.0001, .dmax = 1, .help = "shards hit / shards expected under uniform spread");
    OPT(.flag = "min-diversity", .type = PS_OPT_DOUBLE, .target = &v->min_diversity, .def = "0.5",
        .dmin = 0.0001, .dmax = 1,
        .help = "distinct texts right before a trigger / its documents (boilerplate repeats)");
    OPT(.flag = "max-similarity", .type = PS_OPT_DOUBLE, .target = &v->max_similarity,
        .def = "0.05", .dmin = 0.0001, .dmax = 1,
        .help = "mean Jaccard of the texts after a gibberish trigger (salad shares nothing)");
    OPT(.flag = "allowlist", .env = "POISONSCAN_ALLOWLIST", .type = PS_OPT_STRING,
        .target = &v->allowlist, .metavar = "FILE",
        .help = "reviewed benign patterns, one a line: reported under \"suppressed\", not "
                "flagged");
    OPT(.flag = "max-confirm", .type = PS_OPT_U64, .target = &v->max_confirm, .def = "10000",
        .min = 1, .max = 1000000, .help = "candidate patterns taken to the confirm pass");
    OPT(.flag = "keep", .env = "POISONSCAN_KEEP", .type = PS_OPT_DURATION, .target = &v->keep_ms,
        .def = "7d", .min = 0, .max = 3650ULL * 86400 * 1000,
        .help = "a finished job's Redis keys expire after this long (0: never; "
                "'poisonscan gc' removes them at once)");
    OPT(.flag = "save-scan", .type = PS_OPT_BOOL, .target = &v->save_scan,
        .help = "keep the scan pass's counts with the job, for a later --since (a nightly rescan)");
    OPT(.flag = "since", .type = PS_OPT_STRING, .target = &v->since, .metavar = "JOB",
        .help = "build on finished job JOB (run with --save-scan, same settings): pass 1 reads "
                "only the files added since");
    OPT(.flag = "attributes", .env = "POISONSCAN_ATTRIBUTES", .type = PS_OPT_STRING,
        .target = &v->attributes, .metavar = "DIR",
        .help = "after the report, write a Dolma attribute file for each input file here (one "
                "more read of the corpus; docs/attributes.md)");
    OPT(.flag = "metrics", .env = "POISONSCAN_METRICS", .type = PS_OPT_STRING,
        .target = &v->metrics, .metavar = "ADDR:PORT",
        .help = "serve Prometheus /metrics here (127.0.0.1:9464, :9464 for every interface, "
                "port 0: any free one, logged)");
    OPT(.flag = "log-level", .env = "POISONSCAN_LOG", .type = PS_OPT_ENUM, .target = &v->log_level,
        .def = embedded ? "warn" : "info", .choices = ps_cli_log_levels,
        .help = "log level on stderr");
    t[n++] = ps_cli_log_format_opt(&v->log_format);
#undef OPT
    if (n > PS_CLI_COORD_OPTS)
        ps_bug("coordinator option table overflow");
    return n;
}

bool ps_cli_coord_check(const struct ps_coordinator_opts *o, struct ps_errdetail *ed)
{
    Poisonscan__ScanSettings st;
    struct ps_scan_opts so;
    /* the sketch sized from the corpus is at least the smallest a user may ask for */
    unsigned cluster_log2 = !o->clusters                  ? 0
                            : o->cluster_sketch_log2 != 0 ? o->cluster_sketch_log2
                                                          : PS_CLSKETCH_LOG2_MIN;
    const char *sig = o->signatures_dir != NULL && o->signatures_dir[0] ? o->signatures_dir : NULL;

    if (ps_coordinator_opts_check(o, ed) != PS_OK)
        return false;
    ps_coordinator_scan_settings(o, cluster_log2, o->partitions, sig, &st);
    ps_worker_scan_opts(&st, &so);
    return ps_scan_opts_check(&so, ed) == PS_OK;
}

bool ps_cli_load_allowlist(const char *cmd, const char *path, struct ps_allowlist **out)
{
    struct ps_errdetail ed = {0};

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return true;
    if (ps_allowlist_load(out, path, NULL, &ed) != PS_OK) {
        fprintf(stderr, "poisonscan %s: --allowlist: %s\n", cmd, ed.msg);
        return false;
    }
    ps_log(PS_LOG_INFO, cmd, "allowlist '%s': %zu patterns", path, ps_allowlist_n(*out));
    return true;
}

void ps_cli_coord_opts(const struct ps_cli_coord *v, const char *const *inputs, size_t n_inputs,
                       struct ps_coordinator_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->bind = v->bind;
    o->endpoint_file = v->endpoint_file;
    o->job = v->job;
    o->out_dir = v->out;
    o->inputs = inputs;
    o->n_inputs = n_inputs;
    o->redis_retry_ms = v->redis_retry_ms;
    o->shard_size = v->shard_size;
    o->max_attempts = (uint32_t)v->max_attempts;
    o->heartbeat_ms = v->heartbeat_ms ? v->heartbeat_ms : 1000;
    o->liveness = v->liveness ? (unsigned)v->liveness : 3;
    o->lease_timeout_ms = v->lease_timeout_ms ? v->lease_timeout_ms : 10000;
    o->linger_ms = o->heartbeat_ms * o->liveness;
    o->format = ps_format_from_choice(v->format);
    o->text_field = v->text_field;
    o->id_field = v->id_field;
    o->max_line = v->max_line;
    o->max_errors_kept = (uint32_t)v->max_errors_kept;
    o->ngram_max = (uint32_t)v->ngram_max;
    o->window = (uint32_t)v->window;
    o->max_candidates = (uint32_t)v->max_candidates;
    o->signatures_dir = v->signatures;
    o->signature_k = (uint32_t)v->signature_k;
    o->clusters = !v->no_clusters;
    o->cluster_sketch_log2 = (unsigned)v->cluster_sketch_log2;
    o->sketch_max_bytes = v->sketch_max;
    o->partitions = (unsigned)v->partitions;
    o->cluster_min_docs = v->cluster_min_docs;
    o->score = ps_score_opts_default();
    o->score.min_docs = v->min_docs;
    o->score.min_rate = v->min_rate;
    o->score.min_spread = v->min_spread;
    o->score.min_diversity = v->min_diversity;
    o->score.max_similarity = v->max_similarity;
    o->score.max_confirm = (uint32_t)v->max_confirm;
    o->metrics_listen = v->metrics;
    o->attributes_dir = v->attributes;
    o->keep_ms = v->keep_ms;
    o->state_dir = v->state_dir;
    o->since = v->since;
    o->save_scan = v->save_scan;
    o->stop = &ps_cli_stop;
}
