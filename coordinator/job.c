/* job.c - a job's lock (one coordinator per job), its settings and fingerprint, and opening it:
 * a fresh job is recorded in Redis, a known one resumes from its saved plan with the same settings.
 */
/* realpath() is XSI, beyond the _POSIX_C_SOURCE the build sets. */
#define _XOPEN_SOURCE 700
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>
#include <zstd.h>

#include "common/clock.h"
#include "common/clsketch.h"
#include "common/json.h"
#include "common/log.h"
#include "common/units.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/jobkeys.h"

/* One coordinator per job. The lock is a key with a TTL of a few heartbeats that the holder
 * renews every second; a coordinator killed outright frees it within the TTL, and a successor
 * (a restarted pod, a second operator by mistake) waits that long for it rather than running a
 * second dispatcher on the same shards. */
static uint64_t lock_ttl_ms(const struct coord *c)
{
    return c->o->heartbeat_ms * c->o->liveness * 2;
}

enum ps_err ps_coord_lock(struct coord *c, struct ps_errdetail *ed)
{
    char ttl[24];
    uint64_t give_up = ps_clock_now_ms() + lock_ttl_ms(c) + c->o->heartbeat_ms;
    bool waited = false;

    snprintf(ttl, sizeof(ttl), "%" PRIu64, lock_ttl_ms(c));
    ps_wire_make_routing_id(c->lock_token, sizeof(c->lock_token));
    for (;;) {
        struct ps_store_reply *r;
        struct ps_buf holder;
        bool found;
        enum ps_err err =
            ps_store_cmd(c->store, &r, ed, "SET", c->k_lock, c->lock_token, "NX", "PX", ttl, NULL);
        if (err != PS_OK)
            return err;
        c->locked = ps_store_reply_type(r) == PS_STORE_STR;
        ps_store_reply_free(r);
        if (c->locked)
            return PS_OK;
        ps_buf_init(&holder, 512);
        err = ps_store_hget(c->store, c->k_meta, "locked_by", &holder, &found, ed);
        if (err != PS_OK || ps_clock_now_ms() > give_up) {
            if (err == PS_OK)
                ps_errdetail_set(ed, NULL, 0,
                                 "job '%s' is being run by another coordinator ('%s'); stop it "
                                 "or use another --job",
                                 c->o->job, holder.data ? holder.data : "unknown");
            ps_buf_release(&holder);
            return err != PS_OK ? err : PS_ERR_USAGE;
        }
        ps_buf_release(&holder);
        if (!waited)
            ps_log(PS_LOG_INFO, "coordinator",
                   "job '%s' is locked by another coordinator; waiting up to %" PRIu64
                   " ms for its lock to expire",
                   c->o->job, lock_ttl_ms(c) + c->o->heartbeat_ms);
        waited = true;
        ps_clock_sleep_ms(200);
    }
}

/* Renew the lock if it is still ours, or take it again if it expired and nobody else took it (a
 * loop stalled past the TTL on an overloaded node, or a Redis restart that lost the key): one
 * script, so no second coordinator can slip in between. False only when another holds it. */
bool ps_coord_renew_lock(struct coord *c)
{
    static const char lua[] =
        "local v = redis.call('GET', KEYS[1]) "
        "if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
        "if v then return 0 end "
        "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2";
    struct ps_store_reply *r;
    struct ps_errdetail ed = {0};
    char ttl[24];
    bool ok;

    snprintf(ttl, sizeof(ttl), "%" PRIu64, lock_ttl_ms(c));
    if (ps_store_cmd(c->store, &r, &ed, "EVAL", lua, "1", c->k_lock, c->lock_token, ttl, NULL) !=
        PS_OK) {
        ps_coord_redis_fail(c, &ed); /* a restart: reconcile.c takes the lock again */
        return false;
    }
    ok = ps_store_reply_int(r) != 0;
    if (ps_store_reply_int(r) == 2)
        ps_log(PS_LOG_WARN, "coordinator",
               "the lock of job '%s' had expired with nobody else holding it; taken again",
               c->o->job);
    ps_store_reply_free(r);
    return ok;
}

enum ps_err ps_coord_relock(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_store_reply *r;
    struct ps_buf holder;
    char ttl[24];
    bool found, ours;
    enum ps_err err;

    snprintf(ttl, sizeof(ttl), "%" PRIu64, lock_ttl_ms(c));
    err = ps_store_cmd(c->store, &r, ed, "SET", c->k_lock, c->lock_token, "NX", "PX", ttl, NULL);
    if (err != PS_OK)
        return err;
    ours = ps_store_reply_type(r) == PS_STORE_STR;
    ps_store_reply_free(r);
    if (ours)
        return PS_OK;
    /* the lock outlived the restart: still ours, or taken by another coordinator meanwhile */
    ps_buf_init(&holder, 512);
    err = ps_store_get(c->store, c->k_lock, &holder, &found, ed);
    ours = err == PS_OK && found && strcmp(holder.data, c->lock_token) == 0;
    ps_buf_release(&holder);
    if (err == PS_OK && !ours) {
        ps_errdetail_set(ed, NULL, 0, "lost the lock of job '%s' (another coordinator took over)",
                         c->o->job);
        err = PS_ERR_USAGE;
    }
    return err;
}

void ps_coord_unlock(struct coord *c)
{
    static const char lua[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                              "return redis.call('DEL', KEYS[1]) else return 0 end";

    if (c->locked)
        ps_store_cmd(c->store, NULL, NULL, "EVAL", lua, "1", c->k_lock, c->lock_token, NULL);
    c->locked = false;
}

static void make_settings(struct coord *c)
{
    const struct ps_coordinator_opts *o = c->o;
    struct ps_buf b;

    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_buf_adds(&b, "{\"text_field\":");
    ps_json_append_string(&b, o->text_field, strlen(o->text_field));
    ps_buf_adds(&b, ",\"id_field\":");
    ps_json_append_string(&b, o->id_field, strlen(o->id_field));
    ps_buf_addf(&b,
                ",\"max_line\":%" PRIu64 ",\"shard_size\":%" PRIu64
                ",\"max_errors_kept\":%u,\"ngram_max\":%u,\"window\":%u,\"max_candidates\":%u"
                ",\"partitions\":%u,\"redis_endpoints\":%zu",
                o->max_line, o->shard_size, o->max_errors_kept, o->ngram_max, o->window,
                o->max_candidates, c->partitions, o->n_redis);
    if (c->cluster_log2 != 0)
        ps_buf_addf(&b, ",\"clusters\":{\"sketch_log2\":%u,\"min_docs\":%" PRIu64 "}",
                    c->cluster_log2, o->cluster_min_docs);
    if (c->signatures_dir != NULL) {
        ps_buf_adds(&b, ",\"signatures\":{\"dir\":");
        ps_json_append_string(&b, c->signatures_dir, strlen(c->signatures_dir));
        ps_buf_addf(&b, ",\"k\":%u,\"ngram\":5,\"method\":\"oph\"}", o->signature_k);
    }
    ps_buf_adds(&b, "}");
    free(c->scan_json);
    c->scan_json = ps_buf_detach(&b, NULL);
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_buf_addf(&b,
                "{\"scan\":%s,\"detect\":{\"min_docs\":%" PRIu64
                ",\"min_rate\":%.3f,\"min_spread\":%.3f,\"min_diversity\":%.3f,"
                "\"max_similarity\":%.3f,\"max_confirm\":%u}}",
                c->scan_json, o->score.min_docs, o->score.min_rate, o->score.min_spread,
                o->score.min_diversity, o->score.max_similarity, o->score.max_confirm);
    free(c->settings_json);
    c->settings_json = ps_buf_detach(&b, NULL);
    ps_coordinator_scan_settings(o, c->cluster_log2, c->partitions, c->signatures_dir,
                                 &c->settings);
}

bool ps_coord_same_scan_settings(const struct coord *c, const char *settings_json)
{
    static const char head[] = "{\"scan\":";
    size_t n = strlen(c->scan_json);

    return strncmp(settings_json, head, sizeof(head) - 1) == 0 &&
           strncmp(settings_json + sizeof(head) - 1, c->scan_json, n) == 0 &&
           settings_json[sizeof(head) - 1 + n] == ',';
}

unsigned ps_coord_settings_sketch_log2(const char *settings_json)
{
    static const char field[] = "\"sketch_log2\":";
    const char *p = strstr(settings_json, field);

    return p != NULL ? (unsigned)strtoul(p + sizeof(field) - 1, NULL, 10) : 0;
}

void ps_coordinator_scan_settings(const struct ps_coordinator_opts *o, unsigned cluster_log2,
                                  unsigned partitions, const char *signatures_dir,
                                  Poisonscan__ScanSettings *st)
{
    poisonscan__scan_settings__init(st);
    st->text_field = (char *)(uintptr_t)o->text_field;
    st->id_field = (char *)(uintptr_t)o->id_field;
    st->max_line = o->max_line;
    st->max_errors_kept = o->max_errors_kept;
    st->ngram_max = o->ngram_max;
    st->window = o->window;
    st->max_candidates = o->max_candidates;
    if (signatures_dir != NULL) {
        st->signatures_dir = (char *)(uintptr_t)signatures_dir;
        st->signature_k = o->signature_k;
    }
    st->cluster_log2 = cluster_log2;
    st->partitions = partitions;
    st->redis_endpoints = (uint32_t)o->n_redis;
}

/* Decompressed bytes of one file, from its own header where it has one: a zstd frame's
 * content size, a gzip member's ISIZE (both of the first or last part only, so never taken below
 * the file's size); else four times the file (a usual ratio for text). */
static uint64_t estimate_file_bytes(const char *path, uint64_t size, int code)
{
    unsigned char head[18], tail[4]; /* 18: the largest zstd frame header */
    struct ps_format fmt;
    bool plain = !ps_format_from_code(code, &fmt) || fmt.container == PS_FORMAT_PLAIN;
    uint64_t guess = plain ? size : size * 4;
    FILE *f = plain ? NULL : fopen(path, "rb");
    size_t n;

    if (f == NULL)
        return guess;
    if (fmt.container == PS_FORMAT_ZST) {
        unsigned long long cs;
        n = fread(head, 1, sizeof(head), f);
        cs = ZSTD_getFrameContentSize(head, n);
        if (cs != ZSTD_CONTENTSIZE_UNKNOWN && cs != ZSTD_CONTENTSIZE_ERROR)
            guess = cs > size ? cs : size;
    } else if (size >= 18 && fseek(f, -4, SEEK_END) == 0 && fread(tail, 1, 4, f) == 4) {
        uint64_t isize = (uint64_t)tail[0] | (uint64_t)tail[1] << 8 | (uint64_t)tail[2] << 16 |
                         (uint64_t)tail[3] << 24;
        guess = isize > size ? isize : size;
    }
    fclose(f);
    return guess;
}

/* The cluster sketch sized to the corpus: about one cell per band key (16 per paragraph of 16
 * words or more, about one paragraph per 600 bytes of text), so that a cell of a key held by
 * many documents stands out from the background; but at most 2 % of the corpus's decompressed
 * bytes and at most --sketch-max (docs/redis-keys.md, memory model). */
static uint64_t estimate_text(struct coord *c)
{
    const struct ps_plan *p = c->plan;
    uint64_t text = 0;

    for (size_t i = 0; i < ps_plan_n_files(p); i++) {
        text += estimate_file_bytes(ps_plan_file(p, i), ps_plan_file_size(p, i),
                                    ps_plan_file_format(p, i));
        if (i % PS_PLAN_IDLE_EVERY == PS_PLAN_IDLE_EVERY - 1)
            ps_coord_idle(c); /* a file opened each: the lock must outlive a million */
    }
    return text;
}

static unsigned auto_sketch_log2(uint64_t text, uint64_t max_bytes)
{
    uint64_t keys, budget;
    unsigned log2 = PS_CLSKETCH_LOG2_MIN;

    keys = text / 600 * 16;
    budget = text / 50 < max_bytes ? text / 50 : max_bytes;
    while (log2 < 24 && ((uint64_t)1 << log2) < keys &&
           (uint64_t)PS_CLSKETCH_ROWS << (log2 + 1) <= budget)
        log2++;
    return log2;
}

/* XXH3 of what the plan was made from: the inputs as given (each resolved to its real path when
 * it exists) and --format, so a resumed job can tell that it was given others. */
static void inputs_digest(const struct coord *c, char dst[24])
{
    XXH3_state_t st;
    uint32_t fmt[3] = {(uint32_t)c->o->format.container, (uint32_t)c->o->format.layout,
                       (uint32_t)c->o->format.record};

    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, fmt, sizeof(fmt));
    for (size_t i = 0; i < c->o->n_inputs; i++) {
        char *real = realpath(c->o->inputs[i], NULL);
        const char *name = real != NULL ? real : c->o->inputs[i];
        XXH3_64bits_update(&st, name, strlen(name) + 1);
        free(real);
    }
    snprintf(dst, 24, "%016" PRIx64, XXH3_64bits_digest(&st));
}

/* A known job scans the shards it planned, from the plan it saved: the inputs given now must be
 * the ones it was planned over, and every planned file must be as it was (new files in an input
 * folder are not part of it). 0, or the exit code with `ed` filled. */
static int resume_plan(struct coord *c, const char *inputs, struct ps_errdetail *ed)
{
    struct ps_buf text, stored;
    char k_plan[256];
    bool found, same_inputs;
    int rc = 0;

    ps_buf_init(&text, PS_BUF_NO_LIMIT);
    ps_buf_init(&stored, 64);
    ps_store_key(k_plan, sizeof(k_plan), c->o->job, PS_KEY_PLAN);
    if (ps_store_get(c->store, k_plan, &text, &found, ed) != PS_OK ||
        ps_store_hget(c->store, c->k_meta, "inputs", &stored, &same_inputs, ed) != PS_OK) {
        rc = 4;
        goto done;
    }
    same_inputs = same_inputs && strcmp(stored.data, inputs) == 0;
    if (!found || !same_inputs) {
        ps_errdetail_set(ed, NULL, 0,
                         !found ? "job '%s' has no saved plan in Redis; use a new --job"
                                : "job '%s' was planned over other inputs or with another "
                                  "--format; give the same paths and --format or use a new --job",
                         c->o->job);
        rc = 3;
        goto done;
    }
    if (ps_plan_deserialize(&c->plan, text.data, text.len, ed) != PS_OK) {
        rc = 3;
        goto done;
    }
    if (ps_plan_check_files(c->plan, ed) != PS_OK) {
        char why[sizeof(ed->msg)];
        snprintf(why, sizeof(why), "%s", ed->msg);
        ps_errdetail_set(ed, ed->file, 0, "cannot resume job '%s': %s; use a new --job", c->o->job,
                         why);
        rc = 3;
    }
done:
    ps_buf_release(&text);
    ps_buf_release(&stored);
    return rc;
}

static int plan_fresh(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_plan_opts po = ps_plan_opts_default();
    char now[24];

    snprintf(now, sizeof(now), "%" PRIu64, ps_clock_unix_s());
    if (ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "state", "planning", "started_at",
                     now, "updated_at", now, NULL) != PS_OK)
        return 4;
    po.shard_size = c->o->shard_size;
    po.format = c->o->format;
    /* the lock is held: a plan of a million files must not outlast it */
    po.idle = ps_coord_idle;
    po.idle_ctx = c;
    if (ps_plan_build(&c->plan, c->o->inputs, c->o->n_inputs, &po, ed) != PS_OK)
        return 3;
    if (ps_plan_n_shards(c->plan) == 0) {
        ps_errdetail_set(ed, NULL, 0,
                         "no input files found (looked for .jsonl, .ndjson, .json, .wet, .txt "
                         "and their .zst/.gz forms)");
        return 3;
    }
    return 0;
}

/* Fresh job: plan, record the plan and the fingerprint. Known job: its saved plan, the same
 * settings, or refuse. */
int ps_coord_open_job(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf stored, plan_text;
    char fp[24], now[24], total[24], bytes[24], inputs[24], unreadable[24];
    bool found;
    int rc = 0;

    ps_buf_init(&stored, 64);
    ps_buf_init(&plan_text, PS_BUF_NO_LIMIT);
    inputs_digest(c, inputs);
    if (ps_store_hget(c->store, c->k_meta, "fingerprint", &stored, &found, ed) != PS_OK) {
        rc = 4;
        goto done;
    }
    rc = found ? resume_plan(c, inputs, ed) : plan_fresh(c, ed);
    if (rc != 0)
        goto done;
    c->n_shards = ps_plan_n_shards(c->plan);
    c->text_estimate = estimate_text(c);
    if (c->o->clusters)
        c->cluster_log2 = c->o->cluster_sketch_log2 != 0
                              ? c->o->cluster_sketch_log2
                              : auto_sketch_log2(c->text_estimate, c->o->sketch_max_bytes);
    rc = found                 ? ps_coord_since_resume(c, ed)
         : c->o->since != NULL ? ps_coord_since_open(c, ed)
                               : 0;
    if (rc != 0)
        goto done;
    make_settings(c);
    {
        XXH3_state_t st;
        uint64_t pf = ps_plan_fingerprint(c->plan);
        XXH3_64bits_reset(&st);
        XXH3_64bits_update(&st, c->scan_json, strlen(c->scan_json));
        XXH3_64bits_update(&st, &pf, sizeof(pf));
        c->fingerprint = XXH3_64bits_digest(&st);
    }
    snprintf(fp, sizeof(fp), "%016" PRIx64, c->fingerprint);
    if (found) {
        if (strcmp(stored.data, fp) != 0) {
            ps_errdetail_set(ed, NULL, 0,
                             "job '%s' exists with other settings (fingerprint %s, now %s); use "
                             "a new --job or the original settings",
                             c->o->job, stored.data, fp);
            rc = 3;
            goto done;
        }
        ps_log(PS_LOG_INFO, "coordinator",
               "resuming job '%s' with its saved plan (%zu files, %zu shards)", c->o->job,
               ps_plan_n_files(c->plan), c->n_shards);
        goto done;
    }
    if (ps_plan_serialize(c->plan, &plan_text) != PS_OK) {
        ps_errdetail_set(ed, NULL, 0, "cannot serialize the plan");
        rc = 3;
        goto done;
    }
    snprintf(now, sizeof(now), "%" PRIu64, ps_clock_unix_s());
    snprintf(total, sizeof(total), "%zu", c->n_shards);
    snprintf(unreadable, sizeof(unreadable), "%zu", ps_plan_n_unreadable(c->plan));
    snprintf(bytes, sizeof(bytes), "%" PRIu64, ps_plan_bytes_total(c->plan));
    {
        char k_plan[256];
        ps_store_key(k_plan, sizeof(k_plan), c->o->job, PS_KEY_PLAN);
        const char *argv[3] = {"SET", k_plan, plan_text.data ? plan_text.data : ""};
        size_t lens[3] = {3, strlen(k_plan), plan_text.len};
        if (ps_store_argv(c->store, 3, argv, lens, NULL, ed) != PS_OK ||
            ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "state", "running", "pass", "1",
                         "shards_total", total, "shards_done", "0", "shards_failed", "0",
                         "bytes_total", bytes, "bytes_done", "0", "docs_done", "0",
                         NULL) != PS_OK ||
            /* the walk's unreadable entries are errors from the start; commits add the rest */
            ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "errors", unreadable, "workers",
                         "0", "damaged_files", unreadable, "pass_started_at", now, NULL) != PS_OK) {
            rc = 4;
            goto done;
        }
        if ((rc = ps_coord_since_seed(c, ed)) != 0)
            goto done;
        /* the fingerprint last: its presence says the job is fully set up */
        if (ps_store_cmd(c->store, NULL, ed, "HSET", c->k_meta, "settings", c->settings_json,
                         "created_at", now, "pass", "1", "version", "1", "inputs", inputs,
                         "fingerprint", fp, NULL) != PS_OK)
            rc = 4;
    }
done:
    ps_buf_release(&stored);
    ps_buf_release(&plan_text);
    return rc;
}

/* The lock stays ours while a big keyspace is walked (a SCAN of millions of other keys takes
 * seconds), so no second coordinator takes the job up meanwhile. */
static void keep_idle(void *ctx)
{
    struct coord *c = ctx;
    uint64_t now = ps_clock_now_ms();

    if (now - c->last_lock >= c->o->heartbeat_ms) {
        c->last_lock = now;
        ps_coord_renew_lock(c);
    }
}

void ps_coord_keep_job(struct coord *c)
{
    struct ps_store *stores[PS_PARTITION_MAX] = {0};
    struct ps_errdetail ed = {0};
    char keep[PS_UNITS_DURATION_STRLEN];
    uint64_t n = 0;
    enum ps_err err = PS_OK;

    if (c->o->keep_ms == 0)
        return;
    stores[0] = c->store;
    for (size_t i = 1; err == PS_OK && i < c->o->n_redis; i++)
        err = ps_store_connect(&stores[i], &c->o->redis[i], c->o->redis_retry_ms, &ed);
    if (err == PS_OK)
        err = ps_jobkeys_apply(stores, c->o->n_redis, c->o->job, PS_JOBKEYS_EXPIRE, c->o->keep_ms,
                               keep_idle, c, &n, &ed);
    for (size_t i = 1; i < c->o->n_redis; i++)
        ps_store_free(stores[i]);
    ps_units_format_duration_ms(c->o->keep_ms, keep, sizeof(keep));
    if (err != PS_OK)
        ps_log(PS_LOG_ERROR, "coordinator",
               "cannot set the expiry of job '%s' (its keys stay until 'poisonscan gc'): %s",
               c->o->job, ed.msg);
    else
        ps_log(PS_LOG_INFO, "coordinator", "job '%s': its %" PRIu64 " keys expire in %s (--keep)",
               c->o->job, n, keep);
}
