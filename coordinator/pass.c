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
#include <sys/eventfd.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/clock.h"
#include "common/log.h"
#include "coordinator/collect_internal.h"

/* ---- the thread ---- */

static void answer(struct collector *k, const struct ps_collect_result *res)
{
    uint64_t one = 1;
    ssize_t n;

    pthread_mutex_lock(&k->mu);
    k->result = *res;
    k->done = true;
    k->request = PS_COLLECT_NONE;
    pthread_mutex_unlock(&k->mu);
    n = write(k->wake_fd, &one, sizeof(one)); /* fails only when the counter is full: awake */
    (void)n;
}

/* Progress "damaged_files": the files with input errors so far, for `poisonscan status` and
 * /metrics. Record errors are counted in the scan pass only. Counting walks every file, so it
 * runs at most every DAMAGED_EVERY_MS (and when the pass ends: `now`); written when it changed. */
#define DAMAGED_EVERY_MS 2000
struct damaged_note {
    size_t noted; /* SIZE_MAX: none yet */
    uint64_t last_ms;
};

static enum ps_err note_damaged_files(struct collector *k, struct damaged_note *d, bool now,
                                      struct ps_errdetail *ed)
{
    const struct ps_agg *a;
    char text[24];
    size_t n;

    if (k->pass != PS_PASS_SCAN || (!now && ps_clock_now_ms() - d->last_ms < DAMAGED_EVERY_MS))
        return PS_OK;
    d->last_ms = ps_clock_now_ms();
    a = ps_aggset_errors(&k->agg[PS_PASS_SCAN]);
    n = (a != NULL ? ps_agg_count_damaged_files(a) : 0) + ps_plan_n_unreadable(k->c->plan);
    if (n == d->noted)
        return PS_OK;
    d->noted = n;
    snprintf(text, sizeof(text), "%zu", n);
    return ps_store_cmd(ps_collect_store(k, 0), NULL, ed, "HSET", k->c->k_progress, "damaged_files",
                        text, NULL);
}

/* The figures /metrics shows (coordinator/observe.c), after each merge. Damaged files change
 * in the scan pass only; later passes leave the last count of it alone. */
static void observe(struct collector *k, const struct damaged_note *d)
{
    if (k->agg[k->pass].n > 0)
        ps_coord_observe_merged(k->c, k->pass, k->agg[k->pass].part[0],
                                k->pass == PS_PASS_SCAN ? d->noted : SIZE_MAX);
}

/* The pass is over: every committed shard merged, the final checkpoint saved; then the next
 * pass, or the report. */
static void end_pass(struct collector *k, struct ps_collect_result *res)
{
    enum ps_pass next = PS_PASS_NONE;

    size_t footprint = 0;

    res->err = ps_collect_reconcile(k, &res->ed);
    if (res->err == PS_OK) {
        struct damaged_note final = {SIZE_MAX, 0}; /* the reconciled shards may add some */
        res->err = note_damaged_files(k, &final, true, &res->ed);
        observe(k, &final);
    }
    for (unsigned q = 0; q < k->agg[k->pass].n; q++)
        footprint += ps_agg_footprint(k->agg[k->pass].part[q]);
    ps_log(PS_LOG_INFO, "coordinator",
           "pass %u collected: %zu shards merged (%" PRIu64 " KB of blobs, %" PRIu64
           " ms), %zu checkpoints (%" PRIu64 " KB, %" PRIu64 " ms), aggregate %zu KB",
           k->pass, k->n_merges, k->blob_bytes >> 10, k->merge_ms, k->n_checkpoints,
           k->checkpoint_bytes >> 10, k->checkpoint_ms, footprint >> 10);
    k->n_merges = k->n_checkpoints = 0;
    k->blob_bytes = k->checkpoint_bytes = k->merge_ms = k->checkpoint_ms = 0;
    if (res->err == PS_OK)
        res->err = ps_collect_next_pass(k, &next, &res->ed);
    if (res->err == PS_OK && next != PS_PASS_NONE) {
        k->pass = next;
        k->ran[next] = true;
        res->err = ps_collect_open_pass(k, next, false, &res->ed);
    }
    res->next_pass = next;
}

/* The report; and with --attributes, after the first one, the attributes pass. */
static void report(struct collector *k, struct ps_collect_result *res)
{
    enum ps_pass next = PS_PASS_NONE;

    res->report_rc = ps_collect_report(k, &res->sum, &next, &res->ed);
    if (res->report_rc == 0 && next != PS_PASS_NONE) {
        k->pass = next;
        k->ran[next] = true;
        res->err = ps_collect_open_pass(k, next, false, &res->ed);
    }
    res->next_pass = next;
}

/* Did a Redis of this collector restart? (Its stores refuse to repeat a command across one.) */
static bool restarted(const struct collector *k)
{
    for (size_t i = 0; i < k->n_stores; i++)
        if (ps_store_generation(k->stores[i]) != 0)
            return true;
    return false;
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
    struct damaged_note damaged = {SIZE_MAX, 0};

    res.err = ps_collect_resume(k, &res.ed);
    if (res.err == PS_OK)
        res.err = note_damaged_files(k, &damaged, true, &res.ed);
    if (res.err == PS_OK)
        observe(k, &damaged);
    for (;;) {
        uint32_t shard;
        enum ps_collect_request req;
        bool quit;

        if (res.err != PS_OK) {
            /* a failure is the answer to whatever comes next. After a Redis restart the
             * aggregates here may hold shards whose commits it lost: the loop reconciles and
             * starts another collector from what Redis holds */
            res.restarted = restarted(k);
            ps_log(res.restarted ? PS_LOG_WARN : PS_LOG_ERROR, "coordinator", "%s%s", res.ed.msg,
                   res.restarted ? " (collector stopped: redis restarted)" : "");
            answer(k, &res);
            break;
        }
        if (next_work(k, &shard, &req, &quit)) {
            res.err = ps_collect_merge_shard(k, shard, &res.ed);
            if (res.err == PS_OK)
                res.err = ps_collect_maybe_checkpoint(k, &res.ed);
            if (res.err == PS_OK)
                res.err = note_damaged_files(k, &damaged, false, &res.ed);
            if (res.err == PS_OK)
                observe(k, &damaged);
            continue;
        }
        if (quit)
            break;
        memset(&res, 0, sizeof(res));
        if (req == PS_COLLECT_PASS_END)
            end_pass(k, &res);
        else if (req == PS_COLLECT_REPORT)
            report(k, &res);
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
    k->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (k->wake_fd < 0) {
        ps_errdetail_set(ed, NULL, 0, "cannot make the collector's eventfd");
        free(k);
        return PS_ERR_IO;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->q_cap = c->n_shards + 1;
    k->queue = ps_xcalloc(k->q_cap, sizeof(*k->queue));
    k->shard_file = ps_plan_shard_files(c->plan);
    for (unsigned p = 0; p <= PS_PASS__LAST; p++)
        ps_patlist_init(&k->lists[p]);
    for (err = PS_OK; err == PS_OK && k->n_stores < c->o->n_redis; k->n_stores++) {
        err = ps_store_connect(&k->stores[k->n_stores], &c->o->redis[k->n_stores],
                               c->o->redis_retry_ms, ed);
        if (err == PS_OK)
            ps_store_set_restart_guard(k->stores[k->n_stores], true);
    }
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

void ps_collect_merge(struct collector *k, const uint32_t *shards, size_t n)
{
    pthread_mutex_lock(&k->mu);
    /* each shard finishes once a pass, so the queue never holds more than the shards */
    for (size_t i = 0; i < n && k->q_len < k->q_cap; i++) {
        k->queue[(k->q_head + k->q_len) % k->q_cap] = shards[i];
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
        uint64_t v;
        ssize_t n = read(k->wake_fd, &v, sizeof(v)); /* empty it: nothing else waits */

        (void)n;
        *out = k->result;
        k->done = false;
    }
    pthread_mutex_unlock(&k->mu);
    return done;
}

int ps_collect_wake_fd(const struct collector *k)
{
    return k->wake_fd;
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
        ps_aggset_release(&k->agg[p]);
        ps_patlist_release(&k->lists[p]);
    }
    for (size_t i = 0; i < k->parts_cap; i++)
        ps_buf_release(&k->parts[i]);
    free(k->parts);
    for (unsigned q = 0; q < PS_PARTITION_MAX; q++)
        free(k->partitions[q].pending);
    free(k->queue);
    free(k->shard_file);
    for (size_t i = 0; i < k->n_stores; i++)
        ps_store_free(k->stores[i]);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    close(k->wake_fd);
    free(k);
}

/* ---- the loop's view of the passes ---- */

enum load_what { LOAD_COMMITS, LOAD_FAILED, LOAD_ATTEMPTS, LOAD_GIVEN_BACK };

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
    else if (lc->what == LOAD_GIVEN_BACK)
        ps_lease_set_given_back(lc->c->leases, (uint32_t)id, (uint32_t)strtoul(v, NULL, 10));
    else
        ps_lease_mark_finished(lc->c->leases, (uint32_t)id,
                               lc->what == LOAD_COMMITS ? PS_LEASE_DONE : PS_LEASE_FAILED);
    return PS_OK;
}

/* Shards finished from the start: the list pass reads only the shards of its set (`inside`
 * false: the others are finished), the scan pass of a --since job not those it took over
 * (`inside` true: those are finished; no set, none). */
static enum ps_err skip_shards(struct coord *c, const char *set, bool inside,
                               struct ps_errdetail *ed)
{
    char set_key[256];
    struct ps_buf bits;
    bool found;
    enum ps_err err;

    ps_store_key(set_key, sizeof(set_key), c->o->job, set);
    ps_buf_init(&bits, PS_BUF_NO_LIMIT);
    err = ps_store_get(c->store, set_key, &bits, &found, ed);
    for (size_t i = 0; err == PS_OK && (found || !inside) && i < c->n_shards; i++) {
        bool in = found && i / 8 < bits.len && ((unsigned char)bits.data[i / 8] >> (i % 8) & 1);
        if (in == inside)
            ps_lease_mark_finished(c->leases, (uint32_t)i, PS_LEASE_DONE);
    }
    ps_buf_release(&bits);
    return err;
}

/* A lease on record for a pending shard of this pass was out when its coordinator stopped (a
 * restart), or when Redis restarted under this one, which forgets its leases: the shard goes out
 * again, and that attempt is not charged against --max-attempts (it did not fail on the shard). */
static enum ps_err forgive_lease(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct coord *c = ctx;
    char *end;
    unsigned long id = strtoul(f, &end, 10);
    unsigned pass;

    if (end != f + fl || id >= c->n_shards || !ps_coord_lease_record_pass(v, vl, &pass) ||
        pass != c->pass || ps_lease_state(c->leases, (uint32_t)id) != PS_LEASE_PENDING ||
        ps_lease_charged(c->leases, (uint32_t)id) == 0)
        return PS_OK;
    ps_lease_forgive(c->leases, (uint32_t)id);
    ps_coord_note_given_back(c, (uint32_t)id);
    return PS_OK;
}

enum ps_err ps_coord_load_pass(struct coord *c, struct ps_errdetail *ed)
{
    static const char *const keys[] = {PS_KEY_COMMITS, PS_KEY_FAILED, PS_KEY_ATTEMPTS,
                                       PS_KEY_GIVEN_BACK};
    static const enum load_what what[] = {LOAD_COMMITS, LOAD_FAILED, LOAD_ATTEMPTS,
                                          LOAD_GIVEN_BACK};
    char k[256];
    enum ps_err err;

    ps_lease_reset(c->leases);
    c->n_gave_back = 0; /* counts of the table just reset, or of another pass */
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
    if (c->pass == PS_PASS_LIST && (err = skip_shards(c, PS_KEY_LIST_SHARDS, false, ed)) != PS_OK)
        return err;
    if (c->pass == PS_PASS_SCAN && (err = skip_shards(c, PS_KEY_REUSED, true, ed)) != PS_OK)
        return err;
    /* the attributes pass leases whole files: a file's first shard stands for it */
    for (size_t i = 0; c->pass == PS_PASS_ATTRS && i < c->n_shards; i++)
        if (ps_plan_shard(c->plan, i)->begin != 0)
            ps_lease_mark_finished(c->leases, (uint32_t)i, PS_LEASE_DONE);
    ps_lease_queue_pending(c->leases);
    if ((err = ps_store_hscan(c->store, c->k_leases, forgive_lease, c, ed)) != PS_OK)
        return err;
    return ps_store_cmd(c->store, NULL, ed, "DEL", c->k_leases, NULL);
}

enum ps_err ps_coord_load_job_pass(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf text;
    bool found;
    char rec_key[256];
    enum ps_err err;

    ps_buf_init(&text, PS_BUF_NO_LIMIT);
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
        /* the workers hold a list under this id (never 0: 0 means none). An empty list is none:
         * a lease that carried it would hold no candidates, like one that names a list by id,
         * and a worker could never take it (every shard of a pass 2 after a pass 1 that named
         * no candidate failed so, when clusters made pass 2 run) */
        c->cands_id = c->cands.n > 0 ? XXH3_64bits(text.data, text.len) | 1 : 0;
    }
    ps_buf_release(&text);
    if (err == PS_OK && c->pass == PS_PASS_ATTRS)
        err = ps_coord_load_attrs(c, ed);
    return err;
}
