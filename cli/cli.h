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

/* Set by SIGINT/SIGTERM once ps_cli_catch_signals() ran; loops poll it. */
extern volatile sig_atomic_t ps_cli_stop;
void ps_cli_catch_signals(void);

/* Apply --log-level (an index into ps_cli_log_levels, -1 = keep) for role `role`. */
extern const char *const ps_cli_log_levels[];
void ps_cli_setup_log(const char *role, int level);

/* Parse `url`, then take the password from --redis-password-file or the environment. Prints
 * the problem and returns false on error. */
bool ps_cli_redis_url(const char *url, const char *password_file, struct ps_store_url *out);

/* A comma-separated list of Redis URLs (each as ps_cli_redis_url) into out[0..cap); returns how
 * many, or 0 after printing the problem. */
size_t ps_cli_redis_urls(const char *list, const char *password_file, struct ps_store_url *out,
                         size_t cap);

/* The two Redis options every subcommand has (--redis, --redis-password-file), written into
 * t[0..1] with targets `redis` and `password_file`; returns 2. */
size_t ps_cli_redis_table(struct ps_opt *t, const char **redis, const char **password_file);

/* The coordinator's options, shared by `scan` (embedded) and `coordinator`. */
struct ps_cli_coord {
    const char *redis, *redis_password_file, *bind, *endpoint_file, *job, *out;
    const char *text_field, *id_field, *signatures, *allowlist;
    bool insecure;
    uint64_t shard_size, max_attempts, heartbeat_ms, liveness, lease_timeout_ms, redis_retry_ms;
    uint64_t max_line, max_errors_kept, ngram_max, window, max_candidates;
    uint64_t min_docs, max_confirm, signature_k, cluster_min_docs, cluster_sketch_log2, sketch_max;
    uint64_t partitions;
    bool no_clusters;
    double min_rate, min_spread, min_diversity, max_similarity;
    int log_level;
    int format; /* index into ps_format_choices */
};
/* Fill table[] (room for PS_CLI_COORD_OPTS entries) with options writing into `v`; `embedded`
 * drops the distributed-only ones. Returns the number of entries. */
#define PS_CLI_COORD_OPTS 48
size_t ps_cli_coord_table(struct ps_opt *table, struct ps_cli_coord *v, bool embedded);
/* Load --allowlist `path` (borrowed; NULL or "" leaves *out NULL) for subcommand `cmd`. On a
 * bad file prints the problem (file and line) and returns false: the caller exits 3 before any
 * scanning. *out is owned by the caller: ps_allowlist_free(). */
bool ps_cli_load_allowlist(const char *cmd, const char *path, struct ps_allowlist **out);
/* Turn parsed values into coordinator options (views into `v` and `inputs`). */
void ps_cli_coord_opts(const struct ps_cli_coord *v, const char *const *inputs, size_t n_inputs,
                       struct ps_coordinator_opts *o);

#endif
