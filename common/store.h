/* store.h - the Redis side of poisonscan: URL parsing, a connection that retries with backoff,
 * and the first-commit-wins shard commit. hiredis stays inside store.c; everything else sees
 * enum ps_err and plain replies. Key names are documented in docs/redis-keys.md. */
#ifndef PS_COMMON_STORE_H
#define PS_COMMON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#define PS_STORE_JOB_MAX 64

struct ps_store_url {
    bool is_unix;
    char host[256];  /* tcp host, or "" for unix */
    unsigned port;   /* tcp port, 6379 unless given */
    char path[4096]; /* unix socket path */
    char user[128];  /* ACL user, "" for the default user */
    char password[256];
    unsigned db;
};

/* Parse `redis://[user:password@]host[:port][/db]` or `unix:///path/to/socket[?db=N]`.
 * PS_ERR_USAGE with the reason in ed->msg (the password is never copied into the message). */
enum ps_err ps_store_parse_url(const char *url, struct ps_store_url *out, struct ps_errdetail *ed);

/* Fill url->password from POISONSCAN_REDIS_PASSWORD, or from `password_file` (borrowed, may be
 * NULL; first line, trailing newline stripped) when the URL carries none. The file wins over the
 * environment; a password in the URL wins over both. PS_ERR_IO if the file cannot be read. */
enum ps_err ps_store_url_load_password(struct ps_store_url *url, const char *password_file,
                                       struct ps_errdetail *ed);

/* Print the URL without its password ("redis://user:***@host:port/db"). */
void ps_store_url_redacted(const struct ps_store_url *url, char *dst, size_t dst_cap);

/* Print the URL without user and password, in a form ps_store_parse_url() reads back
 * ("redis://host:port/db", "redis://[::1]:port/db", "unix:///path?db=N"): for handing the
 * address to another process while the credentials travel apart. */
void ps_store_url_format(const struct ps_store_url *url, char *dst, size_t dst_cap);

/* true when `job` matches [A-Za-z0-9._-]{1,64}. */
bool ps_store_job_valid(const char *job);

struct ps_store; /* opaque: one connection, not thread-safe */

/* Connect, AUTH and SELECT, retrying with backoff (100 ms doubling to 2 s) until `retry_ms` has
 * passed. `url` is copied. On PS_OK *out owns the store (ps_store_free); PS_ERR_REDIS otherwise.
 * A server still loading its data after a start (-LOADING) is waited for the same way, on every
 * command below. */
enum ps_err ps_store_connect(struct ps_store **out, const struct ps_store_url *url,
                             uint64_t retry_ms, struct ps_errdetail *ed);
void ps_store_free(struct ps_store *s);

/* Restarts. Each connect asks the server for its run_id (INFO server), which redis-server draws
 * anew at each start. The generation counts the reconnects that found another run_id, or a
 * server that would not say (an ACL without +info): a server that restarted, which with AOF
 * everysec may have lost its last second of writes. Starts at 0. */
uint64_t ps_store_generation(const struct ps_store *s);
/* Off by default: a command cut by a broken connection is sent again after the reconnect. On: it
 * is not when the reconnect found a new generation; the call fails with PS_ERR_REDIS and the
 * caller, seeing the generation move, decides what the new server needs first. */
void ps_store_set_restart_guard(struct ps_store *s, bool on);

/* A reply, flattened: integers, strings (bulk or status), nil, or an array of those. */
enum ps_store_type { PS_STORE_NIL, PS_STORE_INT, PS_STORE_STR, PS_STORE_ARRAY };
struct ps_store_reply; /* opaque */
enum ps_store_type ps_store_reply_type(const struct ps_store_reply *r);
long long ps_store_reply_int(const struct ps_store_reply *r);
const char *ps_store_reply_str(const struct ps_store_reply *r, size_t *len); /* view */
size_t ps_store_reply_n(const struct ps_store_reply *r);
const struct ps_store_reply *ps_store_reply_at(const struct ps_store_reply *r, size_t i); /* view */
void ps_store_reply_free(struct ps_store_reply *r);

/* Run one command given as argv (binary-safe; every pointer borrowed). On a connection failure the
 * store reconnects (within the retry budget) and sends the command again, so pass only commands
 * that are safe to repeat (SET, HSET, reads, the commit script). A Redis error reply is
 * PS_ERR_REDIS with Redis's text. `out` may be NULL; else the caller frees *out. */
enum ps_err ps_store_argv(struct ps_store *s, int argc, const char **argv, const size_t *argvlen,
                          struct ps_store_reply **out, struct ps_errdetail *ed);
/* Run n commands (each argc[i] arguments argv[i], lengths lens[i]; all borrowed) as one
 * MULTI/EXEC transaction in one round trip: Redis runs them atomically, and no argument is copied
 * into a script (a multi-MB value costs its size once). A connection failure reconnects and
 * sends the whole transaction again, so the commands must be safe to repeat. PS_ERR_REDIS when
 * any command fails (with Redis's text). */
enum ps_err ps_store_transaction(struct ps_store *s, size_t n, const int *argc,
                                 const char *const *const *argv, const size_t *const *lens,
                                 struct ps_errdetail *ed);
/* The same with at most 32 C strings, NULL-terminated list: ps_store_cmd(s, &r, ed, "HGET", key, f,
 * NULL). */
enum ps_err ps_store_cmd(struct ps_store *s, struct ps_store_reply **out, struct ps_errdetail *ed,
                         ...) __attribute__((sentinel));

/* Convenience reads. *found false (and dst empty) for a missing key or field. */
enum ps_err ps_store_hget(struct ps_store *s, const char *key, const char *field,
                          struct ps_buf *dst, bool *found, struct ps_errdetail *ed);
/* GET of a string key (binary-safe) into dst; *found false for a missing key. */
enum ps_err ps_store_get(struct ps_store *s, const char *key, struct ps_buf *dst, bool *found,
                         struct ps_errdetail *ed);
enum ps_err ps_store_hget_u64(struct ps_store *s, const char *key, const char *field, uint64_t *out,
                              struct ps_errdetail *ed);
/* Every field of a hash, walked with HSCAN so a big hash never comes back in one reply.
 * `fn` gets views valid during the call; a non-PS_OK return from fn stops the walk. */
typedef enum ps_err (*ps_store_hash_fn)(void *ctx, const char *field, size_t field_len,
                                        const char *value, size_t value_len);
enum ps_err ps_store_hscan(struct ps_store *s, const char *key, ps_store_hash_fn fn, void *ctx,
                           struct ps_errdetail *ed);
/* A function the walks below call between items, so that a caller busy walking a big hash or
 * list can keep its other duties going (the coordinator's heartbeats). NULL to remove. */
typedef void (*ps_store_idle_fn)(void *ctx);
void ps_store_set_idle(struct ps_store *s, ps_store_idle_fn fn, void *ctx);

/* Key suffixes of one job, all under "poisonscan:{JOB}:" (docs/redis-keys.md). The hash tag
 * puts a job's keys on one cluster slot, which the commit script needs. */
#define PS_KEY_META          "meta"        /* hash: fingerprint, settings, pass, created_at */
#define PS_KEY_PLAN          "plan"        /* string: the serialized shard plan */
#define PS_KEY_PROGRESS      "progress"    /* hash: the operator-facing progress */
#define PS_KEY_LEASES        "leases"      /* hash: shard -> "routing-id attempt deadline pass" */
#define PS_KEY_ATTEMPTS      "attempts"    /* hash: shard -> attempts dispatched in pass N */
#define PS_KEY_GIVEN_BACK    "givenback"   /* hash: shard -> of those, given back by a worker */
#define PS_KEY_COMMITS       "commits"     /* hash: shard -> "attempt routing-id digest" */
#define PS_KEY_BLOB          "blob"        /* hash: shard[.part] -> results blob, until merged */
#define PS_KEY_CHECKPOINT    "ckpt"        /* string: the pass's aggregate (coordinator) */
#define PS_KEY_PATTERNS      "patterns"    /* string: the pass's pattern list (coordinator) */
#define PS_KEY_LIST_SHARDS   "list:shards" /* string: bitmap of the shards the list pass reads */
#define PS_KEY_FAILED        "failed"      /* hash: shard -> reason */
#define PS_KEY_LOCK          "lock" /* string with a TTL: the running coordinator, "host pid nonce" */
#define PS_KEY_CLUSTER_HEAVY "clusters:heavy" /* string: heavy-cell bitmap for pass 2 */
#define PS_KEY_BASE          "base" /* string per partition: the scan pass unreduced (--save-scan) */
#define PS_KEY_ATTRS         "attrs"  /* string: the flagged documents by file (attributes pass) */
#define PS_KEY_REUSED        "reused" /* string: bitmap of the shards a --since job took over */

/* Key of a job: "poisonscan:{JOB}:<suffix>" into dst. */
void ps_store_key(char *dst, size_t dst_cap, const char *job, const char *suffix);
/* Key of a job's per-pass hash: "poisonscan:{JOB}:<base>:p<pass>" into dst. */
void ps_store_pass_key(char *dst, size_t dst_cap, const char *job, const char *base, unsigned pass);
/* Key of partition q's per-pass hash or record: partition 0's is the job's own (as above),
 * partition q > 0's "poisonscan:{JOB:q<q>}:<base>:p<pass>" (its own cluster slot). */
void ps_store_part_key(char *dst, size_t dst_cap, const char *job, unsigned q, const char *base,
                       unsigned pass);

/* A shard's results, committed in one atomic step (a Lua script): if the shard's marker field
 * is absent from the commits hash, set it and apply every operation; otherwise change nothing.
 * The batch holds its keys and argument list; build it once per worker and reset per shard. */
struct ps_commit; /* opaque */
struct ps_commit *ps_commit_new(void);
void ps_commit_free(struct ps_commit *c);
/* Start a batch whose marker is field `marker_field` (a shard id, or "shard.part") of hash
 * `commits_key` (both borrowed, copied). */
void ps_commit_reset(struct ps_commit *c, const char *commits_key, const char *marker_field);
/* Operations; keys and strings are copied. */
void ps_commit_hincrby(struct ps_commit *c, const char *key, const char *field, size_t field_len,
                       int64_t by);
void ps_commit_hsetnx(struct ps_commit *c, const char *key, const char *field, size_t field_len,
                      const char *value, size_t value_len);

enum ps_commit_outcome {
    PS_COMMIT_APPLIED,   /* this call's operations landed */
    PS_COMMIT_DUPLICATE, /* a commit with the same digest was there first; nothing changed */
    PS_COMMIT_CONFLICT   /* a commit with another digest was there first: results differ */
};
/* `marker_prefix` (e.g. "2 host-12-ab12") is stored with the digest as the marker value. */
enum ps_err ps_commit_apply(struct ps_store *s, struct ps_commit *c, const char *marker_prefix,
                            enum ps_commit_outcome *outcome, struct ps_errdetail *ed);

#endif
