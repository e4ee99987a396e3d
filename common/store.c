/* store.c - hiredis behind a small interface: URL parsing, connect with AUTH/SELECT and
 * retries, flattened replies, HSCAN/LRANGE walks and the first-commit-wins Lua script. The
 * only module that reads hiredis's err/errstr. */
#include "common/store.h"

#include <ctype.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "common/clock.h"

struct ps_store {
    redisContext *ctx;
    struct ps_store_url url;
    uint64_t retry_ms;
    ps_store_idle_fn idle;
    void *idle_ctx;
    /* the server's INFO run_id at the last connect ("" unknown: INFO refused), and how many
     * reconnects found another server (or one that could not say) */
    char run_id[64];
    uint64_t generation;
    bool guard; /* a command cut by a restart is not sent again (ps_store_set_restart_guard) */
};

void ps_store_set_idle(struct ps_store *s, ps_store_idle_fn fn, void *ctx)
{
    s->idle = fn;
    s->idle_ctx = ctx;
}

static enum ps_err parse_uint(const char *s, size_t n, unsigned max, unsigned *out)
{
    char tmp[16];
    char *end;
    unsigned long v;

    if (n == 0 || n >= sizeof(tmp))
        return PS_ERR_USAGE;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)tmp[i]))
            return PS_ERR_USAGE;
    errno = 0;
    v = strtoul(tmp, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return PS_ERR_USAGE;
    *out = (unsigned)v;
    return PS_OK;
}

/* Percent-decoding of user info, so a password may hold ':' or '@'. */
static enum ps_err copy_decoded(const char *s, size_t n, char *dst, size_t dst_cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        if (o + 1 >= dst_cap)
            return PS_ERR_USAGE;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return PS_OK;
}

enum ps_err ps_store_parse_url(const char *url, struct ps_store_url *out, struct ps_errdetail *ed)
{
    const char *p, *at, *slash, *colon, *hostend, *q;

    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(url, "unix://", 7) == 0) {
        p = url + 7;
        if (*p != '/') {
            ps_errdetail_set(ed, NULL, 0, "redis url: unix socket path must be absolute");
            return PS_ERR_USAGE;
        }
        q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n >= sizeof(out->path)) {
            ps_errdetail_set(ed, NULL, 0, "redis url: socket path too long");
            return PS_ERR_USAGE;
        }
        memcpy(out->path, p, n);
        out->path[n] = '\0';
        out->is_unix = true;
        if (q != NULL) {
            if (strncmp(q, "?db=", 4) != 0 ||
                parse_uint(q + 4, strlen(q + 4), 1u << 20, &out->db)) {
                ps_errdetail_set(ed, NULL, 0, "redis url: expected '?db=N' after the socket path");
                return PS_ERR_USAGE;
            }
        }
        return PS_OK;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        ps_errdetail_set(ed, NULL, 0,
                         "redis url must start with 'redis://' or 'unix://' (no TLS: rediss:// is "
                         "not supported)");
        return PS_ERR_USAGE;
    }
    p = url + 8;
    slash = strchr(p, '/');
    at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
    if (at != NULL) {
        const char *ucolon = memchr(p, ':', (size_t)(at - p));
        if (ucolon == NULL) {
            ps_errdetail_set(ed, NULL, 0, "redis url: user info must be 'user:password'");
            return PS_ERR_USAGE;
        }
        if (copy_decoded(p, (size_t)(ucolon - p), out->user, sizeof(out->user)) ||
            copy_decoded(ucolon + 1, (size_t)(at - ucolon - 1), out->password,
                         sizeof(out->password))) {
            ps_errdetail_set(ed, NULL, 0, "redis url: user or password too long");
            return PS_ERR_USAGE;
        }
        p = at + 1;
    }
    hostend = slash ? slash : p + strlen(p);
    if (*p == '[') { /* IPv6 literal */
        const char *rb = memchr(p, ']', (size_t)(hostend - p));
        if (rb == NULL) {
            ps_errdetail_set(ed, NULL, 0, "redis url: unterminated '[' in host");
            return PS_ERR_USAGE;
        }
        if ((size_t)(rb - p - 1) >= sizeof(out->host))
            goto bad_host;
        memcpy(out->host, p + 1, (size_t)(rb - p - 1));
        out->host[rb - p - 1] = '\0';
        colon = rb + 1 < hostend && rb[1] == ':' ? rb + 1 : NULL;
        if (rb + 1 < hostend && colon == NULL)
            goto bad_host;
    } else {
        colon = memchr(p, ':', (size_t)(hostend - p));
        size_t hn = (size_t)((colon ? colon : hostend) - p);
        if (hn == 0 || hn >= sizeof(out->host))
            goto bad_host;
        memcpy(out->host, p, hn);
        out->host[hn] = '\0';
    }
    if (out->host[0] == '\0')
        goto bad_host;
    if (colon != NULL && (parse_uint(colon + 1, (size_t)(hostend - colon - 1), 65535, &out->port) ||
                          out->port == 0)) {
        ps_errdetail_set(ed, NULL, 0, "redis url: port must be a number from 1 to 65535");
        return PS_ERR_USAGE;
    }
    if (slash != NULL && slash[1] != '\0' &&
        parse_uint(slash + 1, strlen(slash + 1), 1u << 20, &out->db)) {
        ps_errdetail_set(ed, NULL, 0, "redis url: database must be a number after '/'");
        return PS_ERR_USAGE;
    }
    return PS_OK;
bad_host:
    ps_errdetail_set(ed, NULL, 0, "redis url: missing or invalid host");
    return PS_ERR_USAGE;
}

enum ps_err ps_store_url_load_password(struct ps_store_url *url, const char *password_file,
                                       struct ps_errdetail *ed)
{
    const char *env;

    if (url->password[0] != '\0')
        return PS_OK;
    if (password_file != NULL && password_file[0] != '\0') {
        FILE *f = fopen(password_file, "r");
        if (f == NULL) {
            ps_errdetail_set(ed, password_file, 0, "cannot read redis password file '%s': %s",
                             password_file, strerror(errno));
            return PS_ERR_IO;
        }
        if (fgets(url->password, sizeof(url->password), f) == NULL)
            url->password[0] = '\0';
        fclose(f);
        url->password[strcspn(url->password, "\r\n")] = '\0';
        return PS_OK;
    }
    env = getenv("POISONSCAN_REDIS_PASSWORD");
    if (env != NULL && strlen(env) < sizeof(url->password))
        strcpy(url->password, env);
    return PS_OK;
}

void ps_store_url_redacted(const struct ps_store_url *url, char *dst, size_t dst_cap)
{
    if (url->is_unix)
        snprintf(dst, dst_cap, "unix://%s?db=%u", url->path, url->db);
    else if (url->user[0] != '\0')
        snprintf(dst, dst_cap, "redis://%s:***@%s:%u/%u", url->user, url->host, url->port, url->db);
    else if (url->password[0] != '\0')
        snprintf(dst, dst_cap, "redis://:***@%s:%u/%u", url->host, url->port, url->db);
    else
        snprintf(dst, dst_cap, "redis://%s:%u/%u", url->host, url->port, url->db);
}

void ps_store_url_format(const struct ps_store_url *url, char *dst, size_t dst_cap)
{
    if (url->is_unix)
        snprintf(dst, dst_cap, "unix://%s?db=%u", url->path, url->db);
    else if (strchr(url->host, ':') != NULL)
        snprintf(dst, dst_cap, "redis://[%s]:%u/%u", url->host, url->port, url->db);
    else
        snprintf(dst, dst_cap, "redis://%s:%u/%u", url->host, url->port, url->db);
}

bool ps_store_job_valid(const char *job)
{
    size_t n = strlen(job);

    if (n == 0 || n > PS_STORE_JOB_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)job[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}

static enum ps_err reply_error(redisReply *r, struct ps_errdetail *ed)
{
    ps_errdetail_set(ed, NULL, 0, "redis: %.*s", (int)r->len, r->str);
    return PS_ERR_REDIS;
}

static bool loading_reply(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 7 && memcmp(r->str, "LOADING", 7) == 0;
}

/* One command; an error reply is PS_ERR_REDIS with Redis's text, and *loading (when not NULL)
 * says whether it was -LOADING (a restarted server still reading its data). */
static enum ps_err run_argv(redisContext *ctx, int argc, const char **argv, const size_t *argvlen,
                            redisReply **out, bool *loading, struct ps_errdetail *ed)
{
    redisReply *r = redisCommandArgv(ctx, argc, argv, argvlen);

    *out = NULL;
    if (r == NULL) {
        ps_errdetail_set(ed, NULL, 0, "redis: %s", ctx->errstr[0] ? ctx->errstr : "no reply");
        return PS_ERR_REDIS;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        enum ps_err err = reply_error(r, ed);
        if (loading != NULL)
            *loading = loading_reply(r);
        freeReplyObject(r);
        return err;
    }
    *out = r;
    return PS_OK;
}

static enum ps_err handshake(redisContext *ctx, const struct ps_store_url *url,
                             struct ps_errdetail *ed)
{
    redisReply *r;
    enum ps_err err;
    char db[16];

    if (url->password[0] != '\0') {
        const char *argv[3] = {"AUTH", url->user, url->password};
        size_t lens[3] = {4, strlen(url->user), strlen(url->password)};
        if (url->user[0] == '\0')
            err = run_argv(ctx, 2, (const char *[]){"AUTH", url->password},
                           (size_t[]){4, strlen(url->password)}, &r, NULL, ed);
        else
            err = run_argv(ctx, 3, argv, lens, &r, NULL, ed);
        if (err != PS_OK)
            return err;
        freeReplyObject(r);
    }
    if (url->db != 0) {
        snprintf(db, sizeof(db), "%u", url->db);
        err = run_argv(ctx, 2, (const char *[]){"SELECT", db}, (size_t[]){6, strlen(db)}, &r, NULL,
                       ed);
        if (err != PS_OK)
            return err;
        freeReplyObject(r);
    }
    return PS_OK;
}

/* One connection attempt; an auth or select error is final, not retried. */
/* The server's run_id (INFO server), a new random value at each start of redis-server; ""
 * when the server refuses INFO (an ACL without +info) or does not name it. */
static void server_run_id(redisContext *ctx, char *dst, size_t dst_cap)
{
    redisReply *r = redisCommand(ctx, "INFO server");
    const char *p;

    dst[0] = '\0';
    if (r != NULL && r->type == REDIS_REPLY_STRING && (p = strstr(r->str, "run_id:")) != NULL) {
        size_t n = strcspn(p + 7, "\r\n");
        if (n < dst_cap)
            snprintf(dst, dst_cap, "%.*s", (int)n, p + 7);
    }
    if (r != NULL)
        freeReplyObject(r);
}

static enum ps_err connect_once(struct ps_store *s, bool *final, struct ps_errdetail *ed)
{
    struct timeval tv = {5, 0};
    redisContext *ctx;
    char run_id[64];

    *final = false;
    if (s->url.is_unix)
        ctx = redisConnectUnixWithTimeout(s->url.path, tv);
    else
        ctx = redisConnectWithTimeout(s->url.host, (int)s->url.port, tv);
    if (ctx == NULL) {
        ps_errdetail_set(ed, NULL, 0, "redis: cannot allocate a context");
        return PS_ERR_REDIS;
    }
    if (ctx->err) {
        char where[512];
        ps_store_url_redacted(&s->url, where, sizeof(where));
        ps_errdetail_set(ed, NULL, 0, "cannot connect to redis at '%s': %s", where, ctx->errstr);
        redisFree(ctx);
        return PS_ERR_REDIS;
    }
    /* a command that hangs longer than this is a dead server, not a slow one */
    redisSetTimeout(ctx, (struct timeval){60, 0});
    if (!s->url.is_unix)
        redisEnableKeepAlive(ctx);
    if (handshake(ctx, &s->url, ed) != PS_OK) {
        redisFree(ctx);
        *final = true;
        return PS_ERR_REDIS;
    }
    server_run_id(ctx, run_id, sizeof(run_id));
    if (s->ctx != NULL) {
        /* a reconnect: the same server (a network blip), or a restarted one that may have lost
         * the last writes (AOF everysec). A server that does not say is taken for a new one. */
        if (run_id[0] == '\0' || strcmp(run_id, s->run_id) != 0)
            s->generation++;
        redisFree(s->ctx);
    }
    snprintf(s->run_id, sizeof(s->run_id), "%s", run_id);
    s->ctx = ctx;
    return PS_OK;
}

static enum ps_err connect_retry(struct ps_store *s, struct ps_errdetail *ed)
{
    uint64_t start = ps_clock_now_ms(), delay = 100;
    bool final;

    for (;;) {
        if (connect_once(s, &final, ed) == PS_OK)
            return PS_OK;
        uint64_t spent = ps_clock_now_ms() - start;
        if (final || spent >= s->retry_ms)
            return PS_ERR_REDIS;
        ps_clock_sleep_ms(delay < s->retry_ms - spent ? delay : s->retry_ms - spent);
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
    }
}

enum ps_err ps_store_connect(struct ps_store **out, const struct ps_store_url *url,
                             uint64_t retry_ms, struct ps_errdetail *ed)
{
    struct ps_store *s = ps_xcalloc(1, sizeof(*s));
    enum ps_err err;

    s->url = *url;
    s->retry_ms = retry_ms;
    err = connect_retry(s, ed);
    if (err != PS_OK) {
        ps_store_free(s);
        *out = NULL;
        return err;
    }
    *out = s;
    return PS_OK;
}

void ps_store_free(struct ps_store *s)
{
    if (s == NULL)
        return;
    if (s->ctx != NULL)
        redisFree(s->ctx);
    memset(s->url.password, 0, sizeof(s->url.password));
    free(s);
}

/* Replies are hiredis's own objects behind an opaque name. */
static const redisReply *rr(const struct ps_store_reply *r)
{
    return (const redisReply *)(const void *)r;
}

enum ps_store_type ps_store_reply_type(const struct ps_store_reply *r)
{
    switch (rr(r)->type) {
    case REDIS_REPLY_INTEGER:
        return PS_STORE_INT;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        return PS_STORE_STR;
    case REDIS_REPLY_ARRAY:
        return PS_STORE_ARRAY;
    default:
        return PS_STORE_NIL;
    }
}

long long ps_store_reply_int(const struct ps_store_reply *r)
{
    const redisReply *x = rr(r);

    if (x->type == REDIS_REPLY_INTEGER)
        return x->integer;
    if (x->type == REDIS_REPLY_STRING)
        return strtoll(x->str, NULL, 10);
    return 0;
}

const char *ps_store_reply_str(const struct ps_store_reply *r, size_t *len)
{
    const redisReply *x = rr(r);

    if (x->type != REDIS_REPLY_STRING && x->type != REDIS_REPLY_STATUS) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = x->len;
    return x->str;
}

size_t ps_store_reply_n(const struct ps_store_reply *r)
{
    return rr(r)->type == REDIS_REPLY_ARRAY ? rr(r)->elements : 0;
}

const struct ps_store_reply *ps_store_reply_at(const struct ps_store_reply *r, size_t i)
{
    return (const struct ps_store_reply *)(const void *)rr(r)->element[i];
}

void ps_store_reply_free(struct ps_store_reply *r)
{
    if (r != NULL)
        freeReplyObject((void *)r);
}

/* One command or transaction, sent once: PS_OK, or an error with *loading set when the server
 * answered -LOADING (it is reading its data after a start and ran nothing). */
typedef enum ps_err (*run_fn)(struct ps_store *s, const void *arg, bool *loading,
                              struct ps_errdetail *ed);

/* `run` with the store's duties around it. A server loading its data is waited for (backoff,
 * within the retry budget) and asked again. A broken connection is made again within the
 * budget and the command sent again once, unless the guard is on and the server is a new one:
 * its data may lack the last writes, and the caller must know before anything else is sent. */
static enum ps_err run_with_retry(struct ps_store *s, run_fn run, const void *arg,
                                  struct ps_errdetail *ed)
{
    uint64_t start = ps_clock_now_ms(), delay = 100;
    bool reconnected = false;

    for (;;) {
        bool loading = false;
        enum ps_err err = run(s, arg, &loading, ed);
        uint64_t gen = s->generation, spent = ps_clock_now_ms() - start;

        if (err == PS_OK)
            return PS_OK;
        if (loading) {
            if (spent >= s->retry_ms)
                return err;
            ps_clock_sleep_ms(delay < s->retry_ms - spent ? delay : s->retry_ms - spent);
            delay = delay * 2 > 2000 ? 2000 : delay * 2;
            continue;
        }
        /* a Redis error reply is the command's own answer; only a broken connection retries */
        if (!s->ctx->err || reconnected)
            return err;
        err = connect_retry(s, ed);
        if (err != PS_OK)
            return err;
        reconnected = true;
        if (s->guard && s->generation != gen) {
            char where[512];
            ps_store_url_redacted(&s->url, where, sizeof(where));
            ps_errdetail_set(ed, NULL, 0,
                             "redis at '%s' restarted (it may have lost its last writes); the "
                             "command was not sent again",
                             where);
            return PS_ERR_REDIS;
        }
    }
}

struct argv_call {
    int argc;
    const char **argv;
    const size_t *lens;
    redisReply **out;
};

static enum ps_err run_one(struct ps_store *s, const void *arg, bool *loading,
                           struct ps_errdetail *ed)
{
    const struct argv_call *a = arg;

    return run_argv(s->ctx, a->argc, a->argv, a->lens, a->out, loading, ed);
}

enum ps_err ps_store_argv(struct ps_store *s, int argc, const char **argv, const size_t *argvlen,
                          struct ps_store_reply **out, struct ps_errdetail *ed)
{
    redisReply *r = NULL;
    struct argv_call a = {argc, argv, argvlen, &r};
    enum ps_err err;

    if (out != NULL)
        *out = NULL;
    err = run_with_retry(s, run_one, &a, ed);
    if (err != PS_OK)
        return err;
    if (out != NULL)
        *out = (struct ps_store_reply *)(void *)r;
    else
        freeReplyObject(r);
    return PS_OK;
}

struct tx_call {
    size_t n;
    const int *argc;
    const char *const *const *argv;
    const size_t *const *lens;
};

static enum ps_err run_transaction(struct ps_store *s, const void *arg, bool *loading,
                                   struct ps_errdetail *ed)
{
    const struct tx_call *t = arg;
    redisContext *ctx = s->ctx;
    redisReply *r = NULL;
    enum ps_err err = PS_OK;

    redisAppendCommand(ctx, "MULTI");
    for (size_t i = 0; i < t->n; i++)
        redisAppendCommandArgv(ctx, t->argc[i], (const char **)(uintptr_t)t->argv[i], t->lens[i]);
    redisAppendCommand(ctx, "EXEC");
    /* MULTI and each queued command answer +OK/+QUEUED; EXEC answers every result. A server
     * loading its data refuses the commands (-LOADING) and so aborts EXEC: nothing ran */
    for (size_t i = 0; i < t->n + 2; i++) {
        void *reply = NULL;
        if (redisGetReply(ctx, &reply) != REDIS_OK || reply == NULL) {
            ps_errdetail_set(ed, NULL, 0, "redis: %s", ctx->errstr[0] ? ctx->errstr : "no reply");
            return PS_ERR_REDIS;
        }
        r = reply;
        *loading = *loading || loading_reply(r);
        if (err == PS_OK && r->type == REDIS_REPLY_ERROR)
            err = reply_error(r, ed);
        if (err == PS_OK && i == t->n + 1 && r->type == REDIS_REPLY_ARRAY)
            for (size_t k = 0; k < r->elements && err == PS_OK; k++)
                if (r->element[k]->type == REDIS_REPLY_ERROR)
                    err = reply_error(r->element[k], ed);
        if (err == PS_OK && i == t->n + 1 && r->type != REDIS_REPLY_ARRAY) {
            ps_errdetail_set(ed, NULL, 0, "redis: the transaction was aborted");
            err = PS_ERR_REDIS;
        }
        freeReplyObject(r);
    }
    return err;
}

enum ps_err ps_store_transaction(struct ps_store *s, size_t n, const int *argc,
                                 const char *const *const *argv, const size_t *const *lens,
                                 struct ps_errdetail *ed)
{
    struct tx_call t = {n, argc, argv, lens};

    return run_with_retry(s, run_transaction, &t, ed);
}

void ps_store_set_restart_guard(struct ps_store *s, bool on)
{
    s->guard = on;
}

uint64_t ps_store_generation(const struct ps_store *s)
{
    return s->generation;
}

enum ps_err ps_store_cmd(struct ps_store *s, struct ps_store_reply **out, struct ps_errdetail *ed,
                         ...)
{
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    va_list ap;
    const char *a;

    va_start(ap, ed);
    while ((a = va_arg(ap, const char *)) != NULL) {
        if (argc == 32)
            ps_bug("ps_store_cmd takes at most 32 arguments");
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    va_end(ap);
    return ps_store_argv(s, argc, argv, lens, out, ed);
}

/* A string reply of a command that ran (err), into dst; nil leaves *found false. */
static enum ps_err string_reply(enum ps_err err, struct ps_store_reply *r, struct ps_buf *dst,
                                bool *found)
{
    const char *v;
    size_t n;

    *found = false;
    ps_buf_reset(dst);
    if (err != PS_OK)
        return err;
    v = ps_store_reply_str(r, &n);
    if (v != NULL) {
        *found = true;
        err = ps_buf_append(dst, v, n);
    }
    ps_store_reply_free(r);
    return err;
}

enum ps_err ps_store_hget(struct ps_store *s, const char *key, const char *field,
                          struct ps_buf *dst, bool *found, struct ps_errdetail *ed)
{
    struct ps_store_reply *r = NULL;
    enum ps_err err = ps_store_cmd(s, &r, ed, "HGET", key, field, NULL);

    return string_reply(err, r, dst, found);
}

enum ps_err ps_store_get(struct ps_store *s, const char *key, struct ps_buf *dst, bool *found,
                         struct ps_errdetail *ed)
{
    struct ps_store_reply *r = NULL;
    enum ps_err err = ps_store_cmd(s, &r, ed, "GET", key, NULL);

    return string_reply(err, r, dst, found);
}

enum ps_err ps_store_hget_u64(struct ps_store *s, const char *key, const char *field, uint64_t *out,
                              struct ps_errdetail *ed)
{
    struct ps_store_reply *r;
    enum ps_err err = ps_store_cmd(s, &r, ed, "HGET", key, field, NULL);
    const char *v;

    *out = 0;
    if (err != PS_OK)
        return err;
    v = ps_store_reply_str(r, NULL);
    if (v != NULL)
        *out = strtoull(v, NULL, 10);
    ps_store_reply_free(r);
    return PS_OK;
}

enum ps_err ps_store_hscan(struct ps_store *s, const char *key, ps_store_hash_fn fn, void *ctx,
                           struct ps_errdetail *ed)
{
    char cursor[32] = "0";
    enum ps_err err;

    do {
        struct ps_store_reply *r;
        const struct ps_store_reply *items;
        const char *c;
        size_t clen;

        err = ps_store_cmd(s, &r, ed, "HSCAN", key, cursor, "COUNT", "1000", NULL);
        if (err != PS_OK)
            return err;
        if (ps_store_reply_n(r) != 2) {
            ps_store_reply_free(r);
            ps_errdetail_set(ed, NULL, 0, "redis: unexpected HSCAN reply for '%s'", key);
            return PS_ERR_REDIS;
        }
        c = ps_store_reply_str(ps_store_reply_at(r, 0), &clen);
        snprintf(cursor, sizeof(cursor), "%.*s", (int)clen, c ? c : "0");
        items = ps_store_reply_at(r, 1);
        for (size_t i = 0; i + 1 < ps_store_reply_n(items); i += 2) {
            size_t fl, vl;
            const char *f = ps_store_reply_str(ps_store_reply_at(items, i), &fl);
            const char *v = ps_store_reply_str(ps_store_reply_at(items, i + 1), &vl);
            err = fn(ctx, f, fl, v, vl);
            if (err != PS_OK) {
                ps_store_reply_free(r);
                return err;
            }
            if (s->idle != NULL)
                s->idle(s->idle_ctx);
        }
        ps_store_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    return PS_OK;
}

void ps_store_key(char *dst, size_t dst_cap, const char *job, const char *suffix)
{
    snprintf(dst, dst_cap, "poisonscan:{%s}:%s", job, suffix);
}

void ps_store_pass_key(char *dst, size_t dst_cap, const char *job, const char *base, unsigned pass)
{
    snprintf(dst, dst_cap, "poisonscan:{%s}:%s:p%u", job, base, pass);
}

void ps_store_part_key(char *dst, size_t dst_cap, const char *job, unsigned q, const char *base,
                       unsigned pass)
{
    if (q == 0)
        ps_store_pass_key(dst, dst_cap, job, base, pass);
    else
        snprintf(dst, dst_cap, "poisonscan:{%s:q%u}:%s:p%u", job, q, base, pass);
}

/* The commit script. Every key is declared in KEYS (cluster routing and ACLs need that); ARGV
 * says which operation touches which key by index. The marker and the increments land together
 * or not at all, because Redis runs a script atomically. */
static const char commit_lua[] =
    "local prev = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if prev then\n"
    "  if string.match(prev, '(%S+)$') == ARGV[3] then return 0 end\n"
    "  return -1\n"
    "end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])\n"
    "local i = 4\n"
    "local n = tonumber(ARGV[i]); i = i + 1\n"
    "for _ = 1, n do\n"
    "  redis.call('HINCRBY', KEYS[tonumber(ARGV[i])], ARGV[i+1], ARGV[i+2]); i = i + 3\n"
    "end\n"
    "n = tonumber(ARGV[i]); i = i + 1\n"
    "for _ = 1, n do\n"
    "  redis.call('HSETNX', KEYS[tonumber(ARGV[i])], ARGV[i+1], ARGV[i+2]); i = i + 3\n"
    "end\n"
    "return 1\n";

/* Operations are kept as (key index, field, value) triples in one byte arena per kind, so a
 * shard's batch costs a few reallocations per worker lifetime, not per operation. */
struct op_list {
    struct ps_buf arena; /* fields and values back to back */
    size_t *offs;        /* per op: key index, field off, field len, value off, value len */
    size_t n, cap;
};

#define N_OPS 2

struct ps_commit {
    char *keys[64];
    size_t n_keys;
    char marker[32];
    struct op_list ops[N_OPS]; /* hincrby (value = decimal), hsetnx */
};

struct ps_commit *ps_commit_new(void)
{
    struct ps_commit *c = ps_xcalloc(1, sizeof(*c));

    for (int k = 0; k < N_OPS; k++)
        ps_buf_init(&c->ops[k].arena, PS_BUF_NO_LIMIT);
    return c;
}

void ps_commit_free(struct ps_commit *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_keys; i++)
        free(c->keys[i]);
    for (int k = 0; k < N_OPS; k++) {
        ps_buf_release(&c->ops[k].arena);
        free(c->ops[k].offs);
    }
    free(c);
}

void ps_commit_reset(struct ps_commit *c, const char *commits_key, const char *marker_field)
{
    for (size_t i = 0; i < c->n_keys; i++)
        free(c->keys[i]);
    c->n_keys = 0;
    c->keys[c->n_keys++] = ps_xstrdup(commits_key);
    snprintf(c->marker, sizeof(c->marker), "%s", marker_field);
    for (int k = 0; k < N_OPS; k++) {
        ps_buf_reset(&c->ops[k].arena);
        c->ops[k].n = 0;
    }
}

static size_t key_index(struct ps_commit *c, const char *key)
{
    for (size_t i = 0; i < c->n_keys; i++)
        if (strcmp(c->keys[i], key) == 0)
            return i;
    if (c->n_keys == sizeof(c->keys) / sizeof(c->keys[0]))
        ps_bug("a commit names more than %zu keys", c->n_keys);
    c->keys[c->n_keys] = ps_xstrdup(key);
    return c->n_keys++;
}

static void op_add(struct ps_commit *c, int kind, const char *key, const char *field,
                   size_t field_len, const char *value, size_t value_len)
{
    struct op_list *l = &c->ops[kind];
    size_t *o;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->offs = ps_xrealloc(l->offs, l->cap * 5 * sizeof(size_t));
    }
    o = l->offs + l->n * 5;
    o[0] = key_index(c, key);
    o[1] = l->arena.len;
    o[2] = field_len;
    ps_buf_add(&l->arena, field, field_len);
    o[3] = l->arena.len;
    o[4] = value_len;
    ps_buf_add(&l->arena, value, value_len);
    l->n++;
}

void ps_commit_hincrby(struct ps_commit *c, const char *key, const char *field, size_t field_len,
                       int64_t by)
{
    char v[24];
    int n = snprintf(v, sizeof(v), "%lld", (long long)by);

    op_add(c, 0, key, field, field_len, v, (size_t)n);
}

void ps_commit_hsetnx(struct ps_commit *c, const char *key, const char *field, size_t field_len,
                      const char *value, size_t value_len)
{
    op_add(c, 1, key, field, field_len, value, value_len);
}

/* Digest of the operations: equal for equal results, whichever attempt made them. */
static uint64_t commit_digest(const struct ps_commit *c)
{
    XXH3_state_t st;

    XXH3_64bits_reset(&st);
    for (int k = 0; k < N_OPS; k++) {
        const struct op_list *l = &c->ops[k];
        for (size_t i = 0; i < l->n; i++) {
            const size_t *o = l->offs + i * 5;
            const char *key = c->keys[o[0]];
            XXH3_64bits_update(&st, key, strlen(key) + 1);
            XXH3_64bits_update(&st, &o[2], sizeof(o[2]));
            XXH3_64bits_update(&st, l->arena.data + o[1], o[2]);
            XXH3_64bits_update(&st, &o[4], sizeof(o[4]));
            XXH3_64bits_update(&st, l->arena.data + o[3], o[4]);
        }
    }
    return XXH3_64bits_digest(&st);
}

enum ps_err ps_commit_apply(struct ps_store *s, struct ps_commit *c, const char *marker_prefix,
                            enum ps_commit_outcome *outcome, struct ps_errdetail *ed)
{
    size_t n_args = 3 + c->n_keys + 3 + N_OPS;
    const char **argv;
    size_t *lens;
    char(*idx)[24], nums[N_OPS][24], digest[24], nkeys[24];
    size_t a = 0, n_idx = 0, total_ops = 0;
    struct ps_store_reply *r;
    enum ps_err err;

    for (int k = 0; k < N_OPS; k++) {
        n_args += c->ops[k].n * 3;
        total_ops += c->ops[k].n;
    }
    argv = ps_xmalloc(n_args * sizeof(*argv));
    lens = ps_xmalloc(n_args * sizeof(*lens));
    idx = ps_xmalloc((total_ops + 1) * sizeof(*idx));
    snprintf(digest, sizeof(digest), "%016llx", (unsigned long long)commit_digest(c));
    snprintf(nkeys, sizeof(nkeys), "%zu", c->n_keys);

#define PUSH(p, l) (argv[a] = (p), lens[a] = (l), a++)
    PUSH("EVAL", 4);
    PUSH(commit_lua, sizeof(commit_lua) - 1);
    PUSH(nkeys, strlen(nkeys));
    for (size_t i = 0; i < c->n_keys; i++)
        PUSH(c->keys[i], strlen(c->keys[i]));
    PUSH(c->marker, strlen(c->marker));
    PUSH(marker_prefix, strlen(marker_prefix));
    PUSH(digest, strlen(digest));
    for (int k = 0; k < N_OPS; k++) {
        const struct op_list *l = &c->ops[k];
        snprintf(nums[k], sizeof(nums[k]), "%zu", l->n);
        PUSH(nums[k], strlen(nums[k]));
        for (size_t i = 0; i < l->n; i++) {
            const size_t *o = l->offs + i * 5;
            int n = snprintf(idx[n_idx], sizeof(idx[n_idx]), "%zu", o[0] + 1);
            PUSH(idx[n_idx], (size_t)n);
            n_idx++;
            PUSH(l->arena.data + o[1], o[2]);
            PUSH(l->arena.data + o[3], o[4]);
        }
    }
#undef PUSH
    err = ps_store_argv(s, (int)a, argv, lens, &r, ed);
    free(argv);
    free(lens);
    free(idx);
    if (err != PS_OK)
        return err;
    switch (ps_store_reply_int(r)) {
    case 1:
        *outcome = PS_COMMIT_APPLIED;
        break;
    case 0:
        *outcome = PS_COMMIT_DUPLICATE;
        break;
    default:
        *outcome = PS_COMMIT_CONFLICT;
        break;
    }
    ps_store_reply_free(r);
    return PS_OK;
}
