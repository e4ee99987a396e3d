/* cli.h - what the subcommands share: their entry points, signal handling that only sets a
 * flag, the Redis URL options, and the option table shared by `scan` and `coordinator`. */
#ifndef PS_CLI_CLI_H
#define PS_CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/opts.h"
#include "common/store.h"
#include "coordinator/coordinator.h"

/* Exit codes (docs/cli.md). */
#define PS_EXIT_CLEAN   0
#define PS_EXIT_FLAGGED 1
#define PS_EXIT_ERRORS  2
#define PS_EXIT_USAGE   3
#define PS_EXIT_INFRA   4

int ps_cmd_scan(int argc, char **argv);
int ps_cmd_coordinator(int argc, char **argv);
int ps_cmd_worker(int argc, char **argv);
int ps_cmd_status(int argc, char **argv);
int ps_cmd_gc(int argc, char **argv);
int ps_cmd_html(int argc, char **argv);
int ps_cmd_keygen(int argc, char **argv);

/* Set by SIGINT/SIGTERM once ps_cli_catch_signals() ran; loops poll it. */
extern volatile sig_atomic_t ps_cli_stop;
void ps_cli_catch_signals(void);
/* Set by SIGHUP once ps_cli_catch_reload() ran (a coordinator rereads its --curve-allow). A
 * lock-free atomic, so that the handler may set it and the ZAP thread read it. */
extern atomic_int ps_cli_reload;
void ps_cli_catch_reload(void);

/* Apply --log-level (an index into ps_cli_log_levels, -1 = keep) and --log-format (an index
 * into ps_cli_log_formats, -1 = plain) for role `role`. */
extern const char *const ps_cli_log_levels[];
extern const char *const ps_cli_log_formats[];
void ps_cli_setup_log(const char *role, int level, int format);
/* The --log-format option writing into *format. */
struct ps_opt ps_cli_log_format_opt(int *format);

/* The Redis options every subcommand has: --redis URL[,URL...], --redis-user NAME (an ACL user)
 * and --redis-password-file FILE. Values are views into argv or the environment. */
struct ps_cli_redis {
    const char *url, *user, *password_file;
};
#define PS_CLI_REDIS_OPTS 3
/* Write the Redis options into t[0 .. PS_CLI_REDIS_OPTS) with targets in `r`; returns their
 * number. */
size_t ps_cli_redis_table(struct ps_opt *t, struct ps_cli_redis *r);

/* Parse r->url as one URL, then take the user from --redis-user and the password from
 * --redis-password-file or POISONSCAN_REDIS_PASSWORD. Passwords never come from the command
 * line: a URL with a password is accepted only from POISONSCAN_REDIS. The password is registered
 * with the log as a secret (common/log.h). Prints the problem (never the password) for subcommand
 * `cmd` and returns false on error. */
bool ps_cli_redis_url(const char *cmd, const struct ps_cli_redis *r, struct ps_store_url *out);

/* r->url as a comma-separated list of Redis URLs (each as ps_cli_redis_url) into out[0..cap);
 * returns how many, or 0 after printing the problem. */
size_t ps_cli_redis_urls(const char *cmd, const struct ps_cli_redis *r, struct ps_store_url *out,
                         size_t cap);

/* CURVE for a coordinator (docs/security.md): with both `secret_key_file` and `allow_file`
 * (borrowed, may be NULL) read the key pair into sec->own and the allow file into *allow (owned
 * by the caller: ps_curve_allow_free); with neither, plain text, which a tcp:// `endpoint`
 * accepts only with `insecure`. Prints the problem for `cmd` and returns false. */
bool ps_cli_coord_security(const char *cmd, const char *endpoint, bool insecure,
                           const char *secret_key_file, const char *allow_file,
                           struct ps_wire_security *sec, struct ps_curve_allow **allow);
/* The same for a worker: `secret_key_file` and `server_key` (Z85 or @FILE) go together. */
bool ps_cli_worker_security(const char *endpoint, bool insecure, const char *secret_key_file,
                            const char *server_key, struct ps_wire_security *sec);

/* The coordinator's options, shared by `scan` (embedded) and `coordinator`. */
struct ps_cli_coord {
    struct ps_cli_redis redis;
    const char *bind, *endpoint_file, *job, *out, *curve_secret_key, *curve_allow;
    const char *text_field, *id_field, *signatures, *allowlist, *metrics, *state_dir, *since;
    const char *attributes;
    bool insecure;
    uint64_t shard_size, max_attempts, heartbeat_ms, liveness, lease_timeout_ms, redis_retry_ms;
    uint64_t max_line, max_errors_kept, ngram_max, window, max_candidates;
    uint64_t min_docs, max_confirm, signature_k, cluster_min_docs, cluster_sketch_log2, sketch_max;
    uint64_t partitions, keep_ms;
    bool no_clusters, save_scan;
    double min_rate, min_spread, min_diversity, max_similarity;
    int log_level, log_format;
    int format; /* index into ps_format_choices */
};
/* Fill table[] (room for PS_CLI_COORD_OPTS entries) with options writing into `v`; `embedded`
 * drops the distributed-only ones. Returns the number of entries. */
#define PS_CLI_COORD_OPTS 60
size_t ps_cli_coord_table(struct ps_opt *table, struct ps_cli_coord *v, bool embedded);
/* Load --allowlist `path` (borrowed; NULL or "" leaves *out NULL) for subcommand `cmd`. On a
 * bad file prints the problem (file and line) and returns false: the caller exits 3 before any
 * scanning. *out is owned by the caller: ps_allowlist_free(). */
bool ps_cli_load_allowlist(const char *cmd, const char *path, struct ps_allowlist **out);
/* Check `o` before any work starts: the coordinator's own rules, then the scan settings its
 * leases would carry, with the check every worker applies to them (ps_scan_opts_check). False
 * with the problem, naming the option, in `ed`: the caller prints it and exits 3. */
bool ps_cli_coord_check(const struct ps_coordinator_opts *o, struct ps_errdetail *ed);
/* Turn parsed values into coordinator options (views into `v` and `inputs`). */
void ps_cli_coord_opts(const struct ps_cli_coord *v, const char *const *inputs, size_t n_inputs,
                       struct ps_coordinator_opts *o);

#endif
