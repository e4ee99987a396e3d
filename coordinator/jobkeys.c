/* jobkeys.c - walk a job's keys with SCAN (never KEYS: a shared server must not stall) on every
 * endpoint, and expire or unlink them a batch at a time; gc's lock on the job. */
#include "coordinator/jobkeys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_COUNT "1000"

/* Act on one SCAN batch: keys[0..n) (views into the reply). */
static enum ps_err act(struct ps_store *s, enum ps_jobkeys_action action, const char *ttl,
                       const char *const *keys, const size_t *lens, size_t n,
                       struct ps_errdetail *ed)
{
    enum ps_err err = PS_OK;

    if (n == 0 || action == PS_JOBKEYS_COUNT)
        return PS_OK;
    if (action == PS_JOBKEYS_DELETE) {
        const char **argv = ps_xmalloc((n + 1) * sizeof(*argv));
        size_t *al = ps_xmalloc((n + 1) * sizeof(*al));
        argv[0] = "UNLINK";
        al[0] = 6;
        memcpy(argv + 1, keys, n * sizeof(*keys));
        memcpy(al + 1, lens, n * sizeof(*lens));
        err = ps_store_argv(s, (int)(n + 1), argv, al, NULL, ed);
        free(argv);
        free(al);
    } else {
        /* n PEXPIREs in one round trip */
        const char *(*argv)[3] = ps_xmalloc(n * sizeof(*argv));
        size_t(*al)[3] = ps_xmalloc(n * sizeof(*al));
        const char *const **cmds = ps_xmalloc(n * sizeof(*cmds));
        const size_t **cl = ps_xmalloc(n * sizeof(*cl));
        int *argc = ps_xmalloc(n * sizeof(*argc));
        for (size_t i = 0; i < n; i++) {
            argv[i][0] = "PEXPIRE";
            argv[i][1] = keys[i];
            argv[i][2] = ttl;
            al[i][0] = 7;
            al[i][1] = lens[i];
            al[i][2] = strlen(ttl);
            cmds[i] = argv[i];
            cl[i] = al[i];
            argc[i] = 3;
        }
        err = ps_store_transaction(s, n, argc, cmds, cl, ed);
        free(argv);
        free(al);
        free(cmds);
        free(cl);
        free(argc);
    }
    return err;
}

/* Every key matching `pattern` on `s` but `skip1` and `skip2`. */
static enum ps_err walk(struct ps_store *s, const char *pattern, const char *skip1,
                        const char *skip2, enum ps_jobkeys_action action, const char *ttl,
                        void (*idle)(void *), void *idle_ctx, uint64_t *n_keys,
                        struct ps_errdetail *ed)
{
    char cursor[32] = "0";
    enum ps_err err;

    do {
        struct ps_store_reply *r;
        const struct ps_store_reply *list;
        const char **keys;
        size_t *lens, n = 0, m, clen;
        const char *c;

        err = ps_store_cmd(s, &r, ed, "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, NULL);
        if (err != PS_OK)
            return err;
        if (ps_store_reply_type(r) != PS_STORE_ARRAY || ps_store_reply_n(r) != 2 ||
            (c = ps_store_reply_str(ps_store_reply_at(r, 0), &clen)) == NULL ||
            clen >= sizeof(cursor) ||
            ps_store_reply_type(list = ps_store_reply_at(r, 1)) != PS_STORE_ARRAY) {
            ps_store_reply_free(r);
            ps_errdetail_set(ed, NULL, 0, "redis: unexpected SCAN reply for '%s'", pattern);
            return PS_ERR_REDIS;
        }
        memcpy(cursor, c, clen);
        cursor[clen] = '\0';
        m = ps_store_reply_n(list);
        keys = ps_xmalloc((m + 1) * sizeof(*keys));
        lens = ps_xmalloc((m + 1) * sizeof(*lens));
        for (size_t i = 0; i < m; i++) {
            size_t kl;
            const char *k = ps_store_reply_str(ps_store_reply_at(list, i), &kl);
            if (k == NULL || (kl == strlen(skip1) && memcmp(k, skip1, kl) == 0) ||
                (kl == strlen(skip2) && memcmp(k, skip2, kl) == 0))
                continue;
            keys[n] = k;
            lens[n++] = kl;
        }
        err = act(s, action, ttl, keys, lens, n, ed);
        *n_keys += n;
        free(keys);
        free(lens);
        ps_store_reply_free(r);
        if (idle != NULL)
            idle(idle_ctx);
    } while (err == PS_OK && strcmp(cursor, "0") != 0);
    return err;
}

enum ps_err ps_jobkeys_apply(struct ps_store *const *stores, size_t n_stores, const char *job,
                             enum ps_jobkeys_action action, uint64_t ttl_ms, void (*idle)(void *),
                             void *idle_ctx, uint64_t *n_keys, struct ps_errdetail *ed)
{
    char own[128], parts[128], k_lock[256], k_meta[256], ttl[24], meta_ttl[24];
    struct ps_store_reply *r;
    enum ps_err err = PS_OK;
    bool meta;

    *n_keys = 0;
    /* job ids are [A-Za-z0-9._-]: nothing in them is a SCAN glob character */
    snprintf(own, sizeof(own), "poisonscan:{%s}:*", job);
    snprintf(parts, sizeof(parts), "poisonscan:{%s:q*}:*", job);
    ps_store_key(k_lock, sizeof(k_lock), job, PS_KEY_LOCK);
    ps_store_key(k_meta, sizeof(k_meta), job, PS_KEY_META);
    snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms);
    snprintf(meta_ttl, sizeof(meta_ttl), "%" PRIu64, ttl_ms + PS_JOBKEYS_META_GRACE_MS);
    for (size_t i = 0; err == PS_OK && i < n_stores; i++) {
        if (i == 0)
            err = walk(stores[0], own, k_lock, k_meta, action, ttl, idle, idle_ctx, n_keys, ed);
        if (err == PS_OK)
            err = walk(stores[i], parts, k_lock, k_meta, action, ttl, idle, idle_ctx, n_keys, ed);
    }
    if (err != PS_OK)
        return err;
    /* meta last */
    err = ps_store_cmd(stores[0], &r, ed, "EXISTS", k_meta, NULL);
    if (err != PS_OK)
        return err;
    meta = ps_store_reply_int(r) == 1;
    ps_store_reply_free(r);
    if (!meta)
        return PS_OK;
    (*n_keys)++;
    if (action == PS_JOBKEYS_DELETE)
        err = ps_store_cmd(stores[0], NULL, ed, "UNLINK", k_meta, NULL);
    else if (action == PS_JOBKEYS_EXPIRE)
        err = ps_store_cmd(stores[0], NULL, ed, "PEXPIRE", k_meta, meta_ttl, NULL);
    return err;
}

enum ps_err ps_jobkeys_lock(struct ps_store *s, const char *job, const char *token, uint64_t ttl_ms,
                            bool *taken, char *holder, size_t holder_cap, struct ps_errdetail *ed)
{
    char k_lock[256], k_meta[256], ttl[24];
    struct ps_store_reply *r;
    struct ps_buf who;
    bool found;
    enum ps_err err;

    ps_store_key(k_lock, sizeof(k_lock), job, PS_KEY_LOCK);
    ps_store_key(k_meta, sizeof(k_meta), job, PS_KEY_META);
    snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms);
    err = ps_store_cmd(s, &r, ed, "SET", k_lock, token, "NX", "PX", ttl, NULL);
    if (err != PS_OK)
        return err;
    *taken = ps_store_reply_type(r) == PS_STORE_STR;
    ps_store_reply_free(r);
    if (*taken)
        return PS_OK;
    ps_buf_init(&who, 512);
    err = ps_store_hget(s, k_meta, "locked_by", &who, &found, ed);
    snprintf(holder, holder_cap, "%s", err == PS_OK && found ? who.data : "unknown");
    ps_buf_release(&who);
    return err;
}

bool ps_jobkeys_renew(struct ps_store *s, const char *job, const char *token, uint64_t ttl_ms)
{
    static const char lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                              "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
    char k_lock[256], ttl[24];
    struct ps_store_reply *r;
    bool ok;

    ps_store_key(k_lock, sizeof(k_lock), job, PS_KEY_LOCK);
    snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms);
    if (ps_store_cmd(s, &r, NULL, "EVAL", lua, "1", k_lock, token, ttl, NULL) != PS_OK)
        return false;
    ok = ps_store_reply_int(r) == 1;
    ps_store_reply_free(r);
    return ok;
}

void ps_jobkeys_unlock(struct ps_store *s, const char *job, const char *token)
{
    static const char lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                              "return redis.call('DEL', KEYS[1]) else return 0 end";
    char k_lock[256];

    ps_store_key(k_lock, sizeof(k_lock), job, PS_KEY_LOCK);
    ps_store_cmd(s, NULL, NULL, "EVAL", lua, "1", k_lock, token, NULL);
}
