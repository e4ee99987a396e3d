/* pass.c - the job's passes: loading a pass's shard table and candidates from Redis, and the
 * work between passes (selecting candidates, merging the cluster sketch, writing the report).
 * That work runs on a thread of its own with its own Redis connection, because it can take
 * seconds to minutes on a big corpus, and the loop must go on answering heartbeats meanwhile
 * (docs/protocol.md §5.4): a coordinator busy merging is not a dead one. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/u64set.h"
#include "coordinator/clusters.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/report.h"

void ps_coord_cands_init(struct ps_coord_cands *k)
{
    memset(k, 0, sizeof(*k));
    ps_buf_init(&k->arena, SIZE_MAX / 2);
}

void ps_coord_cands_release(struct ps_coord_cands *k)
{
    free(k->hashes);
    free(k->texts);
    ps_buf_release(&k->arena);
    ps_coord_cands_init(k);
}

enum load_what { LOAD_COMMITS, LOAD_FAILED, LOAD_ATTEMPTS };

struct load_ctx {
    struct coord *c;
    enum load_what what;
};

static enum ps_err load_field(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct load_ctx *lc = ctx;
    uint64_t id = strtoull(f, NULL, 10);

    (void)fl;
    (void)vl;
    if (id >= lc->c->n_shards)
        return PS_OK;
    if (lc->what == LOAD_ATTEMPTS)
        ps_lease_set_attempts(lc->c->leases, (uint32_t)id, (uint32_t)strtoul(v, NULL, 10));
    else
        ps_lease_mark_finished(lc->c->leases, (uint32_t)id,
                               lc->what == LOAD_COMMITS ? PS_LEASE_DONE : PS_LEASE_FAILED);
    return PS_OK;
}

enum ps_err ps_coord_load_pass(struct coord *c, struct ps_errdetail *ed)
{
    static const char *const keys[] = {PS_KEY_COMMITS, PS_KEY_FAILED, PS_KEY_ATTEMPTS};
    static const enum load_what what[] = {LOAD_COMMITS, LOAD_FAILED, LOAD_ATTEMPTS};
    char key[256];
    enum ps_err err;

    ps_lease_reset(c->leases);
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        struct load_ctx lc = {c, what[k]};
        ps_coord_pass_key(c, key, sizeof(key), keys[k], c->pass);
        err = ps_store_hscan(c->store, key, load_field, &lc, ed);
        if (err != PS_OK)
            return err;
    }
    if (c->pass != PS_PASS_SCAN) {
        /* a shard that failed in the scan pass is not tried again in the confirm passes */
        struct load_ctx lc = {c, LOAD_FAILED};
        ps_coord_pass_key(c, key, sizeof(key), PS_KEY_FAILED, PS_PASS_SCAN);
        err = ps_store_hscan(c->store, key, load_field, &lc, ed);
        if (err != PS_OK)
            return err;
    }
    ps_lease_queue_pending(c->leases);
    return ps_store_cmd(c->store, NULL, ed, "DEL", c->k_leases, NULL);
}

/* The texts of k->hashes, for the leases: the worker finds a trigger as a substring, glued or
 * not. A candidate whose text is missing (it cannot be: pass 1 writes both) is dropped. */
static enum ps_err load_texts(struct ps_store *s, const char *job, struct ps_coord_cands *k,
                              struct ps_errdetail *ed)
{
    size_t *lens = ps_xmalloc((k->n + 1) * sizeof(*lens)), off = 0, n = 0;
    enum ps_err err;

    ps_buf_reset(&k->arena);
    err = ps_report_candidate_texts(s, job, k->hashes, k->n, &k->arena, lens, ed);
    free(k->texts);
    k->texts = ps_xmalloc((k->n + 1) * sizeof(*k->texts));
    for (size_t i = 0; i < k->n && err == PS_OK; i++) {
        if (lens[i] != 0) {
            k->texts[n].data = (uint8_t *)k->arena.data + off;
            k->texts[n].len = lens[i];
            n++;
        }
        off += lens[i];
    }
    k->n_texts = err == PS_OK ? n : 0;
    free(lens);
    return err;
}

/* The candidate list a confirm pass recorded in meta (hex hashes, space-separated). */
static enum ps_err load_cands(struct ps_store *s, const char *job, enum ps_pass pass,
                              struct ps_coord_cands *k, struct ps_errdetail *ed)
{
    struct ps_buf list;
    char meta[256];
    bool found;
    enum ps_err err;

    ps_store_key(meta, sizeof(meta), job, PS_KEY_META);
    ps_buf_init(&list, SIZE_MAX / 2);
    err = ps_store_hget(s, meta, pass == PS_PASS_LEADS ? PS_KEY_LEAD_LIST : PS_KEY_CONFIRM_LIST,
                        &list, &found, ed);
    free(k->hashes);
    k->hashes = ps_xmalloc((list.len / 17 + 2) * sizeof(*k->hashes));
    k->n = 0;
    for (const char *p = list.data ? list.data : ""; *p;) {
        char *end;
        uint64_t h = strtoull(p, &end, 16);
        if (end == p)
            break;
        k->hashes[k->n++] = h;
        p = end;
    }
    ps_buf_release(&list);
    if (err == PS_OK)
        err = load_texts(s, job, k, ed);
    return err;
}

enum ps_err ps_coord_load_job_pass(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf text;
    bool found;
    enum ps_err err;

    ps_buf_init(&text, 16);
    err = ps_store_hget(c->store, c->k_meta, "pass", &text, &found, ed);
    c->pass = PS_PASS_SCAN;
    if (err == PS_OK && found && strcmp(text.data, "2") == 0)
        c->pass = PS_PASS_CONFIRM;
    else if (err == PS_OK && found && strcmp(text.data, "3") == 0)
        c->pass = PS_PASS_LEADS;
    ps_buf_release(&text);
    if (err == PS_OK && c->pass != PS_PASS_SCAN)
        err = load_cands(c->store, c->o->job, c->pass, &c->cands, ed);
    return err;
}

/* Record the switch to confirm pass `pass` over `hashes`: progress first, then the meta list and
 * pass (the job's durable state); a crash between the two redoes the switch. */
static enum ps_err record_switch(struct ps_store *s, const struct coord *c, enum ps_pass pass,
                                 const uint64_t *hashes, size_t n, struct ps_errdetail *ed)
{
    struct ps_buf list;
    char text[4];
    enum ps_err err;

    ps_buf_init(&list, SIZE_MAX / 2);
    for (size_t i = 0; i < n; i++)
        ps_buf_appendf(&list, "%s%016" PRIx64, i ? " " : "", hashes[i]);
    snprintf(text, sizeof(text), "%u", (unsigned)pass);
    err = ps_store_cmd(s, NULL, ed, "HSET", c->k_progress, "shards_done", "0", "docs_done", "0",
                       "bytes_done", "0", "state", "confirming", "pass", text, NULL);
    if (err == PS_OK)
        err = ps_store_cmd(s, NULL, ed, "HSET", c->k_meta,
                           pass == PS_PASS_LEADS ? PS_KEY_LEAD_LIST : PS_KEY_CONFIRM_LIST,
                           list.data != NULL ? list.data : "", "pass", text, NULL);
    ps_buf_release(&list);
    return err;
}

/* Pass 1 finished: pick the confirm candidates and merge the cluster sketch; none of either
 * means straight to the report. */
static enum ps_err after_scan(struct coord *c, struct ps_store *s, struct ps_coord_phase *ph)
{
    uint64_t *cands = NULL;
    size_t n = 0;
    enum ps_err err;

    err = ps_report_select_confirm(s, c->o->job, PS_KEY_CAND_DOCS, PS_KEY_CAND_SHARDS,
                                   PS_SCORE_PART_TURN, &c->o->score, c->n_shards, &cands, &n,
                                   &ph->ed);
    if (err != PS_OK)
        return err;
    ps_log(PS_LOG_INFO, "coordinator", "scan pass done: %zu candidate patterns to confirm", n);
    if (c->cluster_log2 != 0) {
        uint64_t threshold;
        size_t heavy;
        char text[24];
        /* a saturated sketch would send every paragraph to pass 2: cap the heavy cells */
        size_t max_heavy = ((size_t)1 << c->cluster_log2) / 32;

        err = ps_clusters_merge(s, c->o->job, c->cluster_log2, c->o->cluster_min_docs, max_heavy,
                                &threshold, &heavy, &ph->ed);
        if (err == PS_OK) {
            snprintf(text, sizeof(text), "%" PRIu64, threshold);
            err =
                ps_store_cmd(s, NULL, &ph->ed, "HSET", c->k_meta, "cluster_threshold", text, NULL);
        }
        if (err != PS_OK) {
            free(cands);
            return err;
        }
        ps_log(PS_LOG_INFO, "coordinator",
               "cluster sketch: %zu heavy cells at %" PRIu64 " or more occurrences", heavy,
               threshold);
        ph->clusters_pending = heavy > 0;
    }
    if (n != 0 || ph->clusters_pending) {
        err = record_switch(s, c, PS_PASS_CONFIRM, cands, n, &ph->ed);
        if (err == PS_OK)
            err = load_cands(s, c->o->job, PS_PASS_CONFIRM, &ph->next, &ph->ed);
        if (err == PS_OK)
            ph->next_pass = PS_PASS_CONFIRM;
    }
    free(cands);
    return err;
}

/* Pass 2 finished: the patterns that lead repeated segments in enough documents get a pass of
 * their own, which counts all their occurrences (the true rate) and finds all their documents.
 * None means straight to the report. */
static enum ps_err after_confirm(struct coord *c, struct ps_store *s, struct ps_coord_phase *ph)
{
    struct ps_u64set known;
    uint64_t *cands = NULL;
    size_t n = 0, kept = 0;
    enum ps_err err;

    err = ps_report_select_confirm(s, c->o->job, PS_KEY_LEAD_DOCS, PS_KEY_LEAD_SHARDS,
                                   PS_SCORE_PART_LEAD, &c->o->score, c->n_shards, &cands, &n,
                                   &ph->ed);
    if (err != PS_OK)
        return err;
    /* a pattern pass 2 has counted already keeps those counts */
    ps_u64set_init(&known, SIZE_MAX / 2);
    for (size_t j = 0; j < c->cands.n; j++)
        if (ps_u64set_add(&known, c->cands.hashes[j], NULL) != PS_OK)
            ps_bug("candidate set full");
    for (size_t i = 0; i < n; i++)
        if (!ps_u64set_has(&known, cands[i]))
            cands[kept++] = cands[i];
    ps_u64set_release(&known);
    ps_log(PS_LOG_INFO, "coordinator", "confirm pass done: %zu leads of repeated segments", kept);
    if (kept != 0) {
        err = record_switch(s, c, PS_PASS_LEADS, cands, kept, &ph->ed);
        if (err == PS_OK)
            err = load_cands(s, c->o->job, PS_PASS_LEADS, &ph->next, &ph->ed);
        if (err == PS_OK)
            ph->next_pass = PS_PASS_LEADS;
    }
    free(cands);
    return err;
}

static int write_report(struct coord *c, struct ps_store *s, struct ps_coord_phase *ph)
{
    struct ps_report_input in = {0};

    in.job = c->o->job;
    in.settings_json = c->settings_json;
    in.plan = c->plan;
    in.score = &c->o->score;
    in.out_dir = c->o->out_dir;
    in.confirmed = c->pass != PS_PASS_SCAN;
    in.cluster_min_docs =
        c->cluster_log2 != 0 && c->pass != PS_PASS_SCAN ? c->o->cluster_min_docs : 0;
    in.allowlist = c->o->allowlist;
    ph->err = ps_report_write(s, &in, &ph->sum, &ph->ed);
    if (ph->err == PS_OK)
        return 0;
    return ph->err == PS_ERR_REDIS ? 4 : 3;
}

static void *phase_main(void *arg)
{
    struct coord *c = arg;
    struct ps_coord_phase *ph = &c->phase;
    struct ps_store *s = NULL;

    ph->err = ps_store_connect(&s, &c->o->redis, c->o->redis_retry_ms, &ph->ed);
    if (ph->err == PS_OK) {
        switch (ph->kind) {
        case PS_COORD_PHASE_AFTER_SCAN:
            ph->err = after_scan(c, s, ph);
            break;
        case PS_COORD_PHASE_AFTER_CONFIRM:
            ph->err = after_confirm(c, s, ph);
            break;
        case PS_COORD_PHASE_REPORT:
            ph->report_rc = write_report(c, s, ph);
            break;
        case PS_COORD_PHASE_NONE:
            break;
        }
    } else if (ph->kind == PS_COORD_PHASE_REPORT) {
        ph->report_rc = 4;
    }
    ps_store_free(s);
    pthread_mutex_lock(&ph->mu);
    ph->done = true;
    pthread_mutex_unlock(&ph->mu);
    return NULL;
}

void ps_coord_phase_start(struct coord *c, enum ps_coord_phase_kind kind)
{
    struct ps_coord_phase *ph = &c->phase;

    if (ph->running)
        ps_bug("a phase is running already");
    ph->kind = kind;
    ph->done = false;
    ph->err = PS_OK;
    memset(&ph->ed, 0, sizeof(ph->ed));
    ph->next_pass = PS_PASS_NONE;
    ph->clusters_pending = false;
    ph->report_rc = 0;
    memset(&ph->sum, 0, sizeof(ph->sum));
    ps_coord_cands_release(&ph->next);
    if (pthread_create(&ph->thread, NULL, phase_main, c) != 0)
        ps_bug("cannot start the phase thread");
    ph->running = true;
}

bool ps_coord_phase_done(struct coord *c)
{
    struct ps_coord_phase *ph = &c->phase;
    bool done;

    if (!ph->running)
        return false;
    pthread_mutex_lock(&ph->mu);
    done = ph->done;
    pthread_mutex_unlock(&ph->mu);
    if (done) {
        pthread_join(ph->thread, NULL);
        ph->running = false;
    }
    return done;
}

enum ps_err ps_coord_phase_apply(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_coord_cands old = c->cands;

    c->cands = c->phase.next;
    c->phase.next = old;
    ps_coord_cands_release(&c->phase.next);
    c->pass = c->phase.next_pass;
    return ps_coord_load_pass(c, ed);
}

void ps_coord_phase_release(struct coord *c)
{
    if (c->phase.running) {
        pthread_join(c->phase.thread, NULL);
        c->phase.running = false;
    }
    ps_coord_cands_release(&c->phase.next);
}
