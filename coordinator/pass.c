/* pass.c - the collector: a thread of the coordinator with its own Redis connection that turns
 * the shards' committed results into the job's global counts and moves the job from pass to
 * pass. While a pass runs it merges each finished shard's results blob into the pass's aggregate
 * (coordinator/aggregate.h) and checkpoints the aggregate every few MB of blobs, deleting the
 * merged blobs in the same atomic step; between passes it selects what the next pass counts or
 * lists; at the end it writes the report. The loop (coordinator.c) never waits on it, so it
 * goes on answering heartbeats whatever the collector is doing (docs/protocol.md §5.4).
 *
 * Passes: scan (every shard) -> confirm (every shard) -> leads (every shard; only when leads of
 * repeated segments were selected) -> list (only the shards where a pattern that may be flagged
 * occurs; only when there is one) -> report. A clean corpus reads each shard twice. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/clock.h"
#include "common/clsketch.h"
#include "common/log.h"
#include "coordinator/clusters.h"
#include "coordinator/collect_internal.h"

/* Blob bytes merged between checkpoints: at least this, and at least half the checkpoint, so
 * that Redis holds about a checkpoint and a half of blobs at most, and the checkpoints written
 * add up to at most twice the blobs. */
#define CHECKPOINT_MIN_BYTES ((size_t)1 << 20)
#define PARTS_BATCH          16 /* blob fields asked for in one HMGET */

/* ---- Redis records of the collector ---- */

static void key(const struct coord *c, char *dst, size_t cap, const char *base, unsigned pass)
{
    ps_store_pass_key(dst, cap, c->o->job, base, pass);
}

static void grow_parts(struct collector *k, size_t n)
{
    if (n <= k->parts_cap)
        return;
    k->parts = ps_xrealloc(k->parts, n * 2 * sizeof(*k->parts));
    for (size_t i = k->parts_cap; i < n * 2; i++)
        ps_buf_init(&k->parts[i], SIZE_MAX / 2);
    k->parts_cap = n * 2;
}

/* Append one HMGET reply element to parts[*n] (growing); false when the field is missing. */
static bool take_part(struct collector *k, const struct ps_store_reply *r, size_t i, size_t *n,
                      size_t *bytes)
{
    size_t len = 0;
    const char *v =
        i < ps_store_reply_n(r) ? ps_store_reply_str(ps_store_reply_at(r, i), &len) : NULL;

    if (v == NULL)
        return false;
    grow_parts(k, *n + 1);
    ps_buf_reset(&k->parts[*n]);
    ps_buf_append(&k->parts[*n], v, len);
    *bytes += len;
    (*n)++;
    return true;
}

/* All parts of a shard's results into k->parts: "<s>.0", "<s>.1", ... (the parts before the
 * last, if any), then "<s>" (the last part, whose marker says the shard is complete). */
static enum ps_err fetch_parts(struct collector *k, unsigned pass, uint32_t shard, size_t *n_parts,
                               size_t *bytes, struct ps_errdetail *ed)
{
    char blob_key[256], fields[PARTS_BATCH + 1][32];
    const char *argv[PARTS_BATCH + 3];
    size_t lens[PARTS_BATCH + 3], n = 0;
    struct ps_buf last;
    enum ps_err err = PS_OK;
    bool have_last = false, more = true;

    key(k->c, blob_key, sizeof(blob_key), PS_KEY_BLOB, pass);
    *bytes = 0;
    ps_buf_init(&last, SIZE_MAX / 2);
    for (uint32_t first = 0; more && err == PS_OK; first += PARTS_BATCH) {
        struct ps_store_reply *r;
        size_t m = 0, got = 0;

        if (first == 0)
            snprintf(fields[m++], sizeof(fields[0]), "%u", shard);
        for (uint32_t p = first; p < first + PARTS_BATCH; p++)
            snprintf(fields[m++], sizeof(fields[0]), "%u.%u", shard, p);
        argv[0] = "HMGET";
        lens[0] = 5;
        argv[1] = blob_key;
        lens[1] = strlen(blob_key);
        for (size_t i = 0; i < m; i++) {
            argv[2 + i] = fields[i];
            lens[2 + i] = strlen(fields[i]);
        }
        err = ps_store_argv(k->s, (int)(m + 2), argv, lens, &r, ed);
        if (err != PS_OK)
            break;
        if (first == 0) {
            size_t len = 0;
            const char *v =
                ps_store_reply_n(r) > 0 ? ps_store_reply_str(ps_store_reply_at(r, 0), &len) : NULL;
            have_last = v != NULL;
            if (have_last) {
                ps_buf_append(&last, v, len);
                *bytes += len;
            }
        }
        for (size_t i = first == 0 ? 1 : 0; i < m && take_part(k, r, i, &n, bytes); i++)
            got++;
        more = got == PARTS_BATCH;
        ps_store_reply_free(r);
    }
    if (err == PS_OK && !have_last) {
        ps_errdetail_set(ed, NULL, 0, "no results blob for shard %u of pass %u", shard, pass);
        err = PS_ERR_PROTO;
    }
    if (err == PS_OK) {
        grow_parts(k, n + 1);
        ps_buf_reset(&k->parts[n]);
        ps_buf_append(&k->parts[n], last.data, last.len);
        *n_parts = n + 1;
    }
    ps_buf_release(&last);
    return err;
}

/* Merge one finished shard of the current pass (a second time is a no-op). */
static enum ps_err merge_shard(struct collector *k, uint32_t shard, struct ps_errdetail *ed)
{
    struct ps_agg *a = k->agg[k->pass];
    const void **ptrs;
    size_t *lens, n = 0, bytes = 0;
    bool merged;
    enum ps_err err;

    uint64_t t0 = ps_clock_now_ms();

    if (ps_agg_merged(a, shard))
        return PS_OK;
    err = fetch_parts(k, k->pass, shard, &n, &bytes, ed);
    if (err != PS_OK)
        return err;
    ptrs = ps_xmalloc(n * sizeof(*ptrs));
    lens = ps_xmalloc(n * sizeof(*lens));
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = k->parts[i].data;
        lens[i] = k->parts[i].len;
    }
    err = ps_agg_merge(a, ptrs, lens, n, &merged, ed);
    free(ptrs);
    free(lens);
    if (err != PS_OK)
        return err;
    if (merged) {
        /* its blobs go with the next checkpoint */
        if (k->n_pending == k->pending_cap) {
            k->pending_cap = k->pending_cap ? k->pending_cap * 2 : 256;
            k->pending = ps_xrealloc(k->pending, k->pending_cap * sizeof(*k->pending));
        }
        k->pending[k->n_pending].shard = shard;
        k->pending[k->n_pending].parts = (uint32_t)(n - 1);
        k->n_pending++;
        k->pending_bytes += bytes;
        k->n_merges++;
        k->blob_bytes += bytes;
    }
    k->merge_ms += ps_clock_now_ms() - t0;
    return PS_OK;
}

/* Save the pass's aggregate and delete the blobs it now holds, in one transaction: a crash leaves
 * either the old checkpoint with the blobs or the new one without them. */
enum ps_err ps_collect_checkpoint(struct collector *k, struct ps_errdetail *ed)
{
    struct ps_buf state, names;
    size_t n_fields = 0, a = 0;
    const char **hdel;
    size_t *hdel_lens;
    char ckpt_key[256], blob_key[256];
    uint64_t t0 = ps_clock_now_ms();
    enum ps_err err;

    ps_buf_init(&state, SIZE_MAX / 2);
    err = ps_agg_save(k->agg[k->pass], &state, ed);
    if (err != PS_OK) {
        ps_buf_release(&state);
        return err;
    }
    ps_buf_init(&names, SIZE_MAX / 2);
    for (size_t i = 0; i < k->n_pending; i++) {
        n_fields += 1 + k->pending[i].parts;
        ps_buf_appendf(&names, "%u", k->pending[i].shard);
        ps_buf_append(&names, "", 1);
        for (uint32_t p = 0; p < k->pending[i].parts; p++) {
            ps_buf_appendf(&names, "%u.%u", k->pending[i].shard, p);
            ps_buf_append(&names, "", 1);
        }
    }
    key(k->c, ckpt_key, sizeof(ckpt_key), PS_KEY_CHECKPOINT, k->pass);
    key(k->c, blob_key, sizeof(blob_key), PS_KEY_BLOB, k->pass);
    hdel = ps_xmalloc((n_fields + 2) * sizeof(*hdel));
    hdel_lens = ps_xmalloc((n_fields + 2) * sizeof(*hdel_lens));
    hdel[a] = "HDEL";
    hdel_lens[a++] = 4;
    hdel[a] = blob_key;
    hdel_lens[a++] = strlen(blob_key);
    for (const char *p = names.data; p != NULL && p < names.data + names.len; p += strlen(p) + 1) {
        hdel[a] = p;
        hdel_lens[a++] = strlen(p);
    }
    {
        const char *set[3] = {"SET", ckpt_key, state.data};
        size_t set_lens[3] = {3, strlen(ckpt_key), state.len};
        const char *const *argv[2] = {set, hdel};
        const size_t *lens[2] = {set_lens, hdel_lens};
        int argc[2] = {3, (int)a};
        err = ps_store_transaction(k->s, a > 2 ? 2 : 1, argc, argv, lens, ed);
    }
    free(hdel);
    free(hdel_lens);
    if (err == PS_OK) {
        k->last_checkpoint = state.len;
        k->n_pending = 0;
        k->pending_bytes = 0;
        k->n_checkpoints++;
        k->checkpoint_bytes += state.len;
    }
    k->checkpoint_ms += ps_clock_now_ms() - t0;
    ps_buf_release(&names);
    ps_buf_release(&state);
    return err;
}

static enum ps_err maybe_checkpoint(struct collector *k, struct ps_errdetail *ed)
{
    size_t every = k->last_checkpoint / 2 > CHECKPOINT_MIN_BYTES ? k->last_checkpoint / 2
                                                                 : CHECKPOINT_MIN_BYTES;

    return k->pending_bytes >= every ? ps_collect_checkpoint(k, ed) : PS_OK;
}

struct reconcile_ctx {
    struct collector *k;
    struct ps_errdetail *ed;
};

static enum ps_err reconcile_one(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct reconcile_ctx *rc = ctx;
    char *end;
    unsigned long id = strtoul(f, &end, 10);

    (void)v;
    (void)vl;
    /* "<s>" is a complete shard; "<s>.<part>" an earlier part of one */
    if (end != f + fl || id >= rc->k->c->n_shards)
        return PS_OK;
    return merge_shard(rc->k, (uint32_t)id, rc->ed);
}

/* Merge every complete shard of the pass that is not merged yet (a resumed job, a lost
 * notification): the commit markers are the truth. */
static enum ps_err reconcile(struct collector *k, struct ps_errdetail *ed)
{
    struct reconcile_ctx rc = {k, ed};
    char commits[256];

    key(k->c, commits, sizeof(commits), PS_KEY_COMMITS, k->pass);
    return ps_store_hscan(k->s, commits, reconcile_one, &rc, ed);
}

/* ---- pattern lists and the aggregates of each pass ---- */

struct ps_agg_opts ps_collect_agg_opts(const struct collector *k, unsigned pass, bool finished)
{
    struct ps_agg_opts o = ps_agg_opts_default();

    o.n_shards = k->c->n_shards;
    o.n_files = ps_plan_n_files(k->c->plan);
    o.shard_file = k->shard_file;
    o.pass = pass;
    o.cluster_log2 = pass == PS_PASS_SCAN && !finished ? k->c->cluster_log2 : 0;
    /* leads: about one per 200 bytes of text; two per cell keeps a lead named once from
     * looking named five times in every row (a chance of about 1e-4) */
    if (pass == PS_PASS_CONFIRM && !finished && k->c->cluster_log2 != 0) {
        o.lead_gate_log2 = 12;
        while (o.lead_gate_log2 < 24 && (k->c->text_estimate >> o.lead_gate_log2) > 400)
            o.lead_gate_log2++;
    }
    o.n_patterns = pass == PS_PASS_SCAN ? 0 : k->lists[pass].n;
    return o;
}

static enum ps_err load_record(struct collector *k, const char *base, unsigned pass,
                               struct ps_buf *out, bool *found, struct ps_errdetail *ed)
{
    char rec_key[256];

    key(k->c, rec_key, sizeof(rec_key), base, pass);
    ps_buf_reset(out);
    return ps_store_get(k->s, rec_key, out, found, ed);
}

/* The aggregate of `pass` from its checkpoint (finished: reduced), or a fresh one. */
static enum ps_err open_agg(struct collector *k, unsigned pass, bool finished,
                            struct ps_errdetail *ed)
{
    struct ps_agg_opts o = ps_collect_agg_opts(k, pass, finished);
    struct ps_buf rec;
    bool found;
    enum ps_err err;

    ps_agg_free(k->agg[pass]);
    ps_agg_new(&k->agg[pass], &o);
    ps_buf_init(&rec, SIZE_MAX / 2);
    err = load_record(k, PS_KEY_CHECKPOINT, pass, &rec, &found, ed);
    if (err == PS_OK && found)
        err = ps_agg_load(k->agg[pass], rec.data, rec.len, ed);
    if (err == PS_ERR_PROTO && !finished) {
        /* the pass was closed (reduced) but the switch to the next was not recorded yet */
        o = ps_collect_agg_opts(k, pass, true);
        ps_agg_free(k->agg[pass]);
        ps_agg_new(&k->agg[pass], &o);
        err = ps_agg_load(k->agg[pass], rec.data, rec.len, ed);
    }
    if (err == PS_OK && finished)
        ps_agg_finish(k->agg[pass]);
    k->last_checkpoint = found ? rec.len : 0;
    ps_buf_release(&rec);
    return err;
}

static enum ps_err load_list(struct collector *k, unsigned pass, bool *found,
                             struct ps_errdetail *ed)
{
    struct ps_buf rec;
    enum ps_err err;

    ps_buf_init(&rec, SIZE_MAX / 2);
    err = load_record(k, PS_KEY_PATTERNS, pass, &rec, found, ed);
    if (err == PS_OK && *found)
        err = ps_patlist_decode(&k->lists[pass], rec.data, rec.len, ed);
    ps_buf_release(&rec);
    return err;
}

/* A job picked up where it was: the lists and aggregates of the passes before the current one
 * (finished, reduced), then the current pass's checkpoint and the shards committed since. */
static enum ps_err resume(struct collector *k, struct ps_errdetail *ed)
{
    enum ps_err err = PS_OK;

    k->ran[PS_PASS_SCAN] = true;
    for (unsigned p = PS_PASS_CONFIRM; p <= k->pass && err == PS_OK; p++)
        err = load_list(k, p, &k->ran[p], ed);
    for (unsigned p = PS_PASS_SCAN; p <= k->pass && err == PS_OK; p++)
        if (k->ran[p])
            err = open_agg(k, p, p < k->pass, ed);
    if (err == PS_OK)
        err = reconcile(k, ed);
    return err;
}

enum ps_err ps_collect_put_record(struct collector *k, const char *base, unsigned pass,
                                  const void *src, size_t len, struct ps_errdetail *ed)
{
    char rec_key[256];
    const char *argv[3] = {"SET", rec_key, src};
    size_t lens[3] = {3, 0, len};

    key(k->c, rec_key, sizeof(rec_key), base, pass);
    lens[1] = strlen(rec_key);
    return ps_store_argv(k->s, 3, argv, lens, NULL, ed);
}

enum ps_err ps_collect_drop_blobs(struct collector *k, unsigned pass, struct ps_errdetail *ed)
{
    char blob_key[256];

    key(k->c, blob_key, sizeof(blob_key), PS_KEY_BLOB, pass);
    return ps_store_cmd(k->s, NULL, ed, "DEL", blob_key, NULL);
}

/* ---- the thread ---- */

static void answer(struct collector *k, const struct ps_collect_result *res)
{
    pthread_mutex_lock(&k->mu);
    k->result = *res;
    k->done = true;
    k->request = PS_COLLECT_NONE;
    pthread_mutex_unlock(&k->mu);
}

/* The pass is over: every committed shard merged, the final checkpoint saved; then the next
 * pass, or the report. */
static void end_pass(struct collector *k, struct ps_collect_result *res)
{
    enum ps_pass next = PS_PASS_NONE;

    res->err = reconcile(k, &res->ed);
    ps_log(PS_LOG_INFO, "coordinator",
           "pass %u collected: %zu shards merged (%" PRIu64 " KB of blobs, %" PRIu64
           " ms), %zu checkpoints (%" PRIu64 " KB, %" PRIu64 " ms), aggregate %zu KB",
           k->pass, k->n_merges, k->blob_bytes >> 10, k->merge_ms, k->n_checkpoints,
           k->checkpoint_bytes >> 10, k->checkpoint_ms, ps_agg_footprint(k->agg[k->pass]) >> 10);
    k->n_merges = k->n_checkpoints = 0;
    k->blob_bytes = k->checkpoint_bytes = k->merge_ms = k->checkpoint_ms = 0;
    if (res->err == PS_OK)
        res->err = ps_collect_next_pass(k, &next, &res->ed);
    if (res->err == PS_OK && next != PS_PASS_NONE) {
        k->pass = next;
        k->ran[next] = true;
        res->err = open_agg(k, next, false, &res->ed);
    }
    res->next_pass = next;
}

/* Wait for work; true with *shard set to merge one, false for a request (or quit). */
static bool next_work(struct collector *k, uint32_t *shard, enum ps_collect_request *req,
                      bool *quit)
{
    bool merge = false;

    pthread_mutex_lock(&k->mu);
    while (k->q_len == 0 && k->request == PS_COLLECT_NONE && !k->quit)
        pthread_cond_wait(&k->cv, &k->mu);
    /* merges first: a request comes once every shard of the pass is in the queue */
    if (k->q_len > 0) {
        *shard = k->queue[k->q_head];
        k->q_head = (k->q_head + 1) % k->q_cap;
        k->q_len--;
        merge = true;
    }
    *req = k->done ? PS_COLLECT_NONE : k->request;
    *quit = k->quit;
    pthread_mutex_unlock(&k->mu);
    return merge;
}

static void *collect_main(void *arg)
{
    struct collector *k = arg;
    struct ps_collect_result res = {0};

    res.err = resume(k, &res.ed);
    for (;;) {
        uint32_t shard;
        enum ps_collect_request req;
        bool quit;

        if (res.err != PS_OK) {
            /* a failure is the answer to whatever comes next */
            ps_log(PS_LOG_ERROR, "coordinator", "%s", res.ed.msg);
            answer(k, &res);
            break;
        }
        if (next_work(k, &shard, &req, &quit)) {
            res.err = merge_shard(k, shard, &res.ed);
            if (res.err == PS_OK)
                res.err = maybe_checkpoint(k, &res.ed);
            continue;
        }
        if (quit)
            break;
        memset(&res, 0, sizeof(res));
        if (req == PS_COLLECT_PASS_END)
            end_pass(k, &res);
        else if (req == PS_COLLECT_REPORT)
            res.report_rc = ps_collect_report(k, &res.sum, &res.ed);
        if (res.err == PS_OK)
            answer(k, &res);
    }
    return NULL;
}

enum ps_err ps_collect_start(struct collector **out, struct coord *c, enum ps_pass pass,
                             struct ps_errdetail *ed)
{
    struct collector *k = ps_xcalloc(1, sizeof(*k));
    enum ps_err err;

    *out = NULL;
    k->c = c;
    k->pass = pass;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->q_cap = c->n_shards + 1;
    k->queue = ps_xcalloc(k->q_cap, sizeof(*k->queue));
    k->shard_file = ps_xcalloc(c->n_shards + 1, sizeof(*k->shard_file));
    for (size_t i = 0; i < c->n_shards; i++)
        k->shard_file[i] = ps_plan_shard(c->plan, i)->file_index;
    for (unsigned p = 0; p <= PS_PASS__LAST; p++)
        ps_patlist_init(&k->lists[p]);
    err = ps_store_connect(&k->s, &c->o->redis, c->o->redis_retry_ms, ed);
    if (err == PS_OK && pthread_create(&k->thread, NULL, collect_main, k) != 0) {
        ps_errdetail_set(ed, NULL, 0, "cannot start the collector thread");
        err = PS_ERR_REDIS;
    }
    if (err != PS_OK) {
        ps_collect_stop(k);
        return err;
    }
    k->running = true;
    *out = k;
    return PS_OK;
}

void ps_collect_merge(struct collector *k, uint32_t shard)
{
    pthread_mutex_lock(&k->mu);
    /* each shard finishes once a pass, so the queue never holds more than the shards */
    if (k->q_len < k->q_cap) {
        k->queue[(k->q_head + k->q_len) % k->q_cap] = shard;
        k->q_len++;
    }
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

void ps_collect_ask(struct collector *k, enum ps_collect_request what)
{
    pthread_mutex_lock(&k->mu);
    k->request = what;
    k->done = false;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

bool ps_collect_poll(struct collector *k, struct ps_collect_result *out)
{
    bool done;

    pthread_mutex_lock(&k->mu);
    done = k->done;
    if (done) {
        *out = k->result;
        k->done = false;
    }
    pthread_mutex_unlock(&k->mu);
    return done;
}

void ps_collect_stop(struct collector *k)
{
    if (k == NULL)
        return;
    if (k->running) {
        pthread_mutex_lock(&k->mu);
        k->quit = true;
        pthread_cond_signal(&k->cv);
        pthread_mutex_unlock(&k->mu);
        pthread_join(k->thread, NULL);
    }
    for (unsigned p = 0; p <= PS_PASS__LAST; p++) {
        ps_agg_free(k->agg[p]);
        ps_patlist_release(&k->lists[p]);
    }
    for (size_t i = 0; i < k->parts_cap; i++)
        ps_buf_release(&k->parts[i]);
    free(k->parts);
    free(k->pending);
    free(k->queue);
    free(k->shard_file);
    ps_store_free(k->s);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
}

/* ---- the loop's view of the passes ---- */

enum load_what { LOAD_COMMITS, LOAD_FAILED, LOAD_ATTEMPTS };

struct load_ctx {
    struct coord *c;
    enum load_what what;
};

static enum ps_err load_field(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct load_ctx *lc = ctx;
    char *end;
    unsigned long id = strtoul(f, &end, 10);

    (void)vl;
    /* "<s>.<part>" markers are parts of a shard still in progress: not finished */
    if (end != f + fl || id >= lc->c->n_shards)
        return PS_OK;
    if (lc->what == LOAD_ATTEMPTS)
        ps_lease_set_attempts(lc->c->leases, (uint32_t)id, (uint32_t)strtoul(v, NULL, 10));
    else
        ps_lease_mark_finished(lc->c->leases, (uint32_t)id,
                               lc->what == LOAD_COMMITS ? PS_LEASE_DONE : PS_LEASE_FAILED);
    return PS_OK;
}

/* The list pass reads only the shards of its set: the others are finished from the start. */
static enum ps_err skip_unlisted(struct coord *c, struct ps_errdetail *ed)
{
    char set_key[256];
    struct ps_buf bits;
    bool found;
    enum ps_err err;

    ps_store_key(set_key, sizeof(set_key), c->o->job, PS_KEY_LIST_SHARDS);
    ps_buf_init(&bits, SIZE_MAX / 2);
    err = ps_store_get(c->store, set_key, &bits, &found, ed);
    for (size_t i = 0; err == PS_OK && i < c->n_shards; i++)
        if (!found || i / 8 >= bits.len || !((unsigned char)bits.data[i / 8] >> (i % 8) & 1))
            ps_lease_mark_finished(c->leases, (uint32_t)i, PS_LEASE_DONE);
    ps_buf_release(&bits);
    return err;
}

enum ps_err ps_coord_load_pass(struct coord *c, struct ps_errdetail *ed)
{
    static const char *const keys[] = {PS_KEY_COMMITS, PS_KEY_FAILED, PS_KEY_ATTEMPTS};
    static const enum load_what what[] = {LOAD_COMMITS, LOAD_FAILED, LOAD_ATTEMPTS};
    char k[256];
    enum ps_err err;

    ps_lease_reset(c->leases);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct load_ctx lc = {c, what[i]};
        ps_coord_pass_key(c, k, sizeof(k), keys[i], c->pass);
        err = ps_store_hscan(c->store, k, load_field, &lc, ed);
        if (err != PS_OK)
            return err;
    }
    if (c->pass != PS_PASS_SCAN) {
        /* a shard that failed in the scan pass is not tried again in the later passes */
        struct load_ctx lc = {c, LOAD_FAILED};
        ps_coord_pass_key(c, k, sizeof(k), PS_KEY_FAILED, PS_PASS_SCAN);
        err = ps_store_hscan(c->store, k, load_field, &lc, ed);
        if (err != PS_OK)
            return err;
    }
    if (c->pass == PS_PASS_LIST && (err = skip_unlisted(c, ed)) != PS_OK)
        return err;
    ps_lease_queue_pending(c->leases);
    return ps_store_cmd(c->store, NULL, ed, "DEL", c->k_leases, NULL);
}

enum ps_err ps_coord_load_job_pass(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf text;
    bool found;
    char rec_key[256];
    enum ps_err err;

    ps_buf_init(&text, SIZE_MAX / 2);
    err = ps_store_hget(c->store, c->k_meta, "pass", &text, &found, ed);
    c->pass = PS_PASS_SCAN;
    if (err == PS_OK && found) {
        unsigned long p = strtoul(text.data, NULL, 10);
        if (p >= PS_PASS_SCAN && p <= PS_PASS__LAST)
            c->pass = (enum ps_pass)p;
    }
    ps_patlist_release(&c->cands);
    if (err == PS_OK && c->pass != PS_PASS_SCAN) {
        ps_coord_pass_key(c, rec_key, sizeof(rec_key), PS_KEY_PATTERNS, c->pass);
        ps_buf_reset(&text);
        err = ps_store_get(c->store, rec_key, &text, &found, ed);
        if (err == PS_OK && !found) {
            ps_errdetail_set(ed, NULL, 0, "job '%s' is in pass %u but has no pattern list",
                             c->o->job, (unsigned)c->pass);
            err = PS_ERR_PROTO;
        }
        if (err == PS_OK)
            err = ps_patlist_decode(&c->cands, text.data, text.len, ed);
        /* the workers hold a list under this id (never 0: 0 means none) */
        c->cands_id = XXH3_64bits(text.data, text.len) | 1;
    }
    ps_buf_release(&text);
    return err;
}
