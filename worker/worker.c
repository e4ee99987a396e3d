/* worker.c - the worker's scan thread: takes one lease at a time from the link (worker/link.h,
 * which owns the socket and heartbeats on a clock), scans the shard, commits its results to
 * Redis (first commit wins) and hands the ShardResult back to the link. */
#include "worker/worker.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/clock.h"
#include "common/clsketch.h"
#include "common/format.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/pass.h"
#include "common/wire.h"
#include "worker/link.h"
#include "worker/scan.h"

struct worker {
    const struct ps_worker_opts *o;
    struct ps_link *link;
    struct ps_store *stores[PS_PARTITION_MAX]; /* one per Redis endpoint; 0 holds the job */
    size_t n_stores;
    struct ps_scan *scan;
    uint64_t scan_settings_digest;
    char heavy_job[PS_STORE_JOB_MAX + 1];  /* the job whose cluster bitmap the scanner holds */
    char floors_job[PS_STORE_JOB_MAX + 1]; /* the job whose samples the scanner's floors hold */
    struct ps_commit *commit;
    uint64_t n_commits;
    bool shutdown;
    int fatal; /* exit code of a failure that ends the worker (Redis gone), 0 if none */
    /* the pattern list of the current pass, as the leases that carry it send it once a worker */
    uint64_t patterns_id;             /* 0: none held */
    struct ps_scan_pattern *patterns; /* texts point into patterns_arena */
    uint64_t *sample_below;           /* NULL, or one per pattern */
    size_t n_patterns, patterns_cap, leads_from;
    struct ps_buf patterns_arena;
    /* the lease in progress, for the part callback */
    const Poisonscan__Lease *lease;
    enum ps_commit_outcome outcome; /* of its last part */
    bool conflict;                  /* some part differed from the attempt committed first */
    bool redis_restarted;           /* a commit met a restarted Redis: the attempt ends */
};

static bool stopping(const struct worker *w)
{
    return w->o->stop != NULL && *w->o->stop;
}

static bool on_progress(void *ctx, uint64_t bytes, uint64_t docs)
{
    struct worker *w = ctx;

    ps_link_progress(w->link, bytes, docs);
    return !stopping(w);
}

/* Leases of one job carry the same settings; a new digest means a new job's settings. */
static uint64_t settings_digest(const Poisonscan__ScanSettings *st)
{
    size_t n = poisonscan__scan_settings__get_packed_size(st);
    uint8_t *buf = ps_xmalloc(n ? n : 1);
    uint64_t h;

    poisonscan__scan_settings__pack(st, buf);
    h = XXH3_64bits(buf, n);
    free(buf);
    return h;
}

void ps_worker_scan_opts(const Poisonscan__ScanSettings *st, struct ps_scan_opts *so_out)
{
    struct ps_scan_opts so = ps_scan_opts_default();

    if (st->text_field[0])
        so.reader.text_field = st->text_field;
    if (st->id_field[0])
        so.reader.id_field = st->id_field;
    if (st->max_line)
        so.reader.max_line = (size_t)st->max_line;
    if (st->max_errors_kept)
        so.max_errors_kept = st->max_errors_kept;
    if (st->ngram_max)
        so.detect.ngram_max = st->ngram_max;
    if (st->window)
        so.detect.window = st->window;
    if (st->max_candidates)
        so.detect.max_candidates = st->max_candidates;
    if (st->signatures_dir[0] != '\0') {
        so.signatures_dir = st->signatures_dir;
        so.signature_k = st->signature_k;
    }
    so.cluster_log2 = st->cluster_log2;
    so.partitions = st->partitions != 0 ? st->partitions : 1;
    *so_out = so;
}

static enum ps_err ensure_scan(struct worker *w, const Poisonscan__ScanSettings *st)
{
    struct ps_scan_opts so;
    struct ps_errdetail ed = {0};
    uint64_t d = settings_digest(st);
    enum ps_err err;

    if (w->scan != NULL && w->scan_settings_digest == d)
        return PS_OK;
    ps_scan_free(w->scan);
    w->scan = NULL;
    ps_worker_scan_opts(st, &so);
    err = ps_scan_new(&w->scan, &so, &ed);
    if (err != PS_OK) {
        ps_log(PS_LOG_ERROR, "worker", "cannot set up the scanner: %s", ed.msg);
        return err;
    }
    w->scan_settings_digest = d;
    w->heavy_job[0] = '\0';
    return PS_OK;
}

/* Pass 2 with clusters: the coordinator's heavy-cell bitmap, read once per job. */
static enum ps_err ensure_heavy(struct worker *w, const Poisonscan__Lease *lease,
                                struct ps_errdetail *ed)
{
    struct ps_buf bitmap;
    char key[256];
    bool found;
    enum ps_err err;

    if (lease->pass == PS_PASS_SCAN || lease->settings->cluster_log2 == 0 ||
        strcmp(w->heavy_job, lease->job_id) == 0)
        return PS_OK;
    ps_buf_init(&bitmap, PS_BUF_NO_LIMIT);
    ps_store_key(key, sizeof(key), lease->job_id, PS_KEY_CLUSTER_HEAVY);
    err = ps_store_get(w->stores[0], key, &bitmap, &found, ed);
    if (err == PS_OK && !found) {
        ps_errdetail_set(ed, NULL, 0, "no cluster bitmap for job '%s' in redis", lease->job_id);
        err = PS_ERR_PROTO;
    }
    if (err == PS_OK) {
        size_t want = PS_CLSKETCH_ROWS * ((size_t)1 << lease->settings->cluster_log2) / 8;
        uint8_t *heavy = ps_xmalloc(want);
        err = ps_clsketch_heavy_unpack(bitmap.data, bitmap.len, heavy, want, ed);
        if (err == PS_OK)
            err = ps_scan_set_cluster_heavy(w->scan, heavy, want, ed);
        free(heavy);
    }
    if (err == PS_OK)
        snprintf(w->heavy_job, sizeof(w->heavy_job), "%s", lease->job_id);
    ps_buf_release(&bitmap);
    return err;
}

static void send_result(struct worker *w, const Poisonscan__Lease *lease, Poisonscan__Outcome oc,
                        const char *error, bool retryable)
{
    Poisonscan__Envelope env;
    Poisonscan__ShardResult res;
    const struct ps_reader_stats *st = w->scan ? ps_scan_stats(w->scan) : NULL;
    struct ps_errdetail ed = {0};
    char msg[512];

    poisonscan__envelope__init(&env);
    poisonscan__shard_result__init(&res);
    ps_wire_copy_text(msg, sizeof(msg), error ? error : "");
    res.job_id = lease->job_id;
    res.pass = lease->pass;
    res.shard_id = lease->shard_id;
    res.attempt = lease->attempt;
    res.outcome = oc;
    res.error = msg;
    res.retryable = retryable;
    if (st != NULL && oc != POISONSCAN__OUTCOME__OUTCOME_FAILED) {
        res.docs = st->docs;
        res.bytes = st->bytes;
        res.errors = st->errors;
    }
    env.body_case = POISONSCAN__ENVELOPE__BODY_RESULT;
    env.result = &res;
    if (ps_link_send(w->link, &env, &ed) != PS_OK)
        ps_log(PS_LOG_WARN, "worker", "cannot send the result of shard %u: %s", lease->shard_id,
               ed.msg);
}

/* Fault injection (--fault-delay-ms): a slow finish; the link heartbeats meanwhile. */
static void fault_delay(struct worker *w)
{
    uint64_t end = ps_clock_now_ms() + w->o->fault_delay_ms;

    while (ps_clock_now_ms() < end && !stopping(w)) {
        uint64_t left = end - ps_clock_now_ms();
        ps_clock_sleep_ms(left < 50 ? left : 50);
        ps_link_progress(w->link, ps_scan_stats(w->scan)->bytes, ps_scan_stats(w->scan)->docs);
    }
}

/* A part of the shard is scanned (worker/scan.h): commit it. The last part's outcome is the
 * shard's; the fault injections act on the last part's commit. */
static bool on_part(void *ctx, uint32_t part, bool last)
{
    struct worker *w = ctx;
    const Poisonscan__Lease *lease = w->lease;
    struct ps_errdetail ed = {0};
    enum ps_commit_outcome outcome;
    char id[PS_WIRE_ROUTING_ID_CAP], marker[PS_WIRE_ROUTING_ID_CAP + 32];

    if (last && w->o->fault_delay_ms > 0)
        fault_delay(w);
    if (stopping(w))
        return false;
    ps_scan_finish_part(w->scan);
    ps_link_routing_id(w->link, id, sizeof(id));
    snprintf(marker, sizeof(marker), "%u %s", lease->attempt, id);
    /* partition 0 last: its marker says the whole part (and with the last part the shard) is in */
    for (unsigned q = ps_scan_partitions(w->scan); q-- > 0;) {
        ps_scan_build_commit(w->scan, lease->job_id, q, w->commit, lease->end - lease->begin);
        struct ps_store *st = w->stores[q % w->n_stores];
        uint64_t gen = ps_store_generation(st);
        if (ps_commit_apply(st, w->commit, marker, &outcome, &ed) != PS_OK) {
            if (ps_store_generation(st) != gen) {
                /* Redis restarted and may have lost this shard's earlier commits: none may
                 * follow them, or the shard would be complete without them. Another attempt
                 * commits every part again (a commit that survived comes back a duplicate) */
                ps_log(PS_LOG_WARN, "worker", "shard %u part %u: %s", lease->shard_id, part,
                       ed.msg);
                w->redis_restarted = true;
                return false;
            }
            ps_log(PS_LOG_ERROR, "worker", "cannot commit shard %u part %u: %s", lease->shard_id,
                   part, ed.msg);
            /* the lease expires and the shard goes to a worker that can reach Redis */
            w->shutdown = true;
            w->fatal = 4;
            return false;
        }
        if (outcome == PS_COMMIT_CONFLICT) {
            ps_log(PS_LOG_ERROR, "worker",
                   "shard %u part %u partition %u: results differ from the attempt committed "
                   "first (nondeterminism)",
                   lease->shard_id, part, q);
            w->conflict = true;
        }
    }
    w->n_commits++;
    if (last && w->o->fault_exit_after_commit != 0 &&
        w->n_commits >= w->o->fault_exit_after_commit) {
        ps_log(PS_LOG_WARN, "worker", "fault injection: dying after commit %" PRIu64, w->n_commits);
        raise(SIGKILL);
    }
    if (last)
        w->outcome = outcome;
    return true;
}

/* A lease that carries the pattern list replaces the one held; one that names it by id uses the
 * one held. false: the lease names a list this worker does not hold. */
static bool take_patterns(struct worker *w, const Poisonscan__Lease *lease)
{
    size_t off = 0;

    if (lease->patterns_id == 0) {
        w->n_patterns = 0;
        return true;
    }
    if (lease->n_candidates == 0)
        return lease->patterns_id == w->patterns_id;
    if (lease->n_candidates > w->patterns_cap) {
        w->patterns_cap = lease->n_candidates;
        w->patterns = ps_xrealloc(w->patterns, w->patterns_cap * sizeof(*w->patterns));
        w->sample_below = ps_xrealloc(w->sample_below, w->patterns_cap * sizeof(uint64_t));
    }
    ps_buf_reset(&w->patterns_arena);
    for (size_t i = 0; i < lease->n_candidates; i++)
        ps_buf_add(&w->patterns_arena, lease->candidates[i].data, lease->candidates[i].len);
    for (size_t i = 0; i < lease->n_candidates; i++) {
        w->patterns[i].text = w->patterns_arena.data + off;
        w->patterns[i].len = lease->candidates[i].len;
        off += lease->candidates[i].len;
        /* without bounds: a counting pass samples every document, the list pass no carriers */
        w->sample_below[i] = lease->n_sample_below == lease->n_candidates ? lease->sample_below[i]
                             : lease->pass == PS_PASS_LIST                ? 0
                                                                          : UINT64_MAX;
    }
    w->n_patterns = lease->n_candidates;
    w->leads_from = lease->leads_from;
    w->patterns_id = lease->patterns_id;
    return true;
}

/* The wire's format enums are common/format.h's values (the coordinator fills a lease from a
 * plan's format code the same way). */
_Static_assert((int)POISONSCAN__SHARD_FORMAT__SHARD_FORMAT_JSONL_ZST == (int)PS_FORMAT_ZST &&
                   (int)POISONSCAN__SHARD_FORMAT__SHARD_FORMAT_JSONL_GZ == (int)PS_FORMAT_GZ &&
                   (int)POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_JSON == (int)PS_FORMAT_JSON &&
                   (int)POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_WET == (int)PS_FORMAT_WET &&
                   (int)POISONSCAN__INPUT_LAYOUT__INPUT_LAYOUT_TXT == (int)PS_FORMAT_TXT &&
                   (int)POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_ALPACA ==
                       (int)PS_FORMAT_RECORD_ALPACA &&
                   (int)POISONSCAN__RECORD_SHAPE__RECORD_SHAPE_CHAT == (int)PS_FORMAT_RECORD_CHAT,
               "wire format enums must equal common/format.h");

/* The file's format as the plan resolved it: the worker reads the shard as the plan said (a
 * forced --format included) instead of detecting again. The wire checked the values. */
static struct ps_format lease_format(const Poisonscan__Lease *lease)
{
    struct ps_format f;

    f.container = (enum ps_format_container)lease->format;
    f.layout = (enum ps_format_layout)lease->layout;
    f.record = (enum ps_format_record)lease->record;
    return f;
}

static enum ps_err scan_lease(struct worker *w, const Poisonscan__Lease *lease,
                              struct ps_errdetail *ed)
{
    struct ps_scan_spec spec = {0};
    struct ps_scan_callbacks cb = {on_progress, on_part, w};
    struct ps_format fmt = lease_format(lease);

    spec.pass = lease->pass;
    spec.shard_id = lease->shard_id;
    spec.path = lease->path;
    spec.begin = lease->begin;
    spec.end = lease->end;
    spec.format = &fmt;
    spec.candidates = w->patterns;
    spec.n_candidates = w->n_patterns;
    spec.patterns_id = w->n_patterns != 0 ? w->patterns_id : 0;
    spec.sample_below = lease->pass == PS_PASS_CONFIRM || lease->pass == PS_PASS_LEADS ||
                                lease->pass == PS_PASS_LIST
                            ? w->sample_below
                            : NULL;
    spec.leads_from = lease->pass == PS_PASS_LEADS  ? 0
                      : lease->pass == PS_PASS_LIST ? w->leads_from
                                                    : w->n_patterns;
    spec.attributes_path = lease->attributes_path;
    spec.flagged = lease->flagged;
    spec.n_flagged = lease->n_flagged;
    w->lease = lease;
    w->conflict = false;
    w->redis_restarted = false;
    return ps_scan_shard(w->scan, &spec, &cb, ed);
}

static void handle_lease(struct worker *w, const Poisonscan__Lease *lease)
{
    struct ps_errdetail ed = {0};
    uint64_t t0 = ps_clock_now_ms();
    enum ps_err err;

    if (!ps_store_job_valid(lease->job_id)) {
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, "invalid job id", false);
        return;
    }
    if (lease->settings == NULL || ensure_scan(w, lease->settings) != PS_OK) {
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, "bad scan settings", false);
        return;
    }
    if ((lease->settings->redis_endpoints != 0 ? lease->settings->redis_endpoints : 1) !=
        w->n_stores) {
        /* this worker is misconfigured, not the shard: give it back and stop */
        ps_log(PS_LOG_ERROR, "worker",
               "job '%s' spreads over %u Redis endpoints, this worker was given %zu (--redis)",
               lease->job_id,
               lease->settings->redis_endpoints ? lease->settings->redis_endpoints : 1,
               w->n_stores);
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED,
                    "the worker was given another number of Redis endpoints than the job", true);
        w->shutdown = true;
        w->fatal = 3;
        return;
    }
    if (!take_patterns(w, lease)) {
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED,
                    "the lease names a pattern list this worker does not hold", true);
        return;
    }
    if (ensure_heavy(w, lease, &ed) != PS_OK) {
        ps_log(PS_LOG_WARN, "worker", "shard %u: %s", lease->shard_id, ed.msg);
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, ed.msg, true);
        return;
    }
    if (strcmp(w->floors_job, lease->job_id) != 0) {
        ps_scan_forget_samples(w->scan);
        snprintf(w->floors_job, sizeof(w->floors_job), "%s", lease->job_id);
    }
    ps_link_set_lease(w->link, lease->pass, lease->shard_id, lease->attempt);
    ps_log(PS_LOG_DEBUG, "worker",
           "lease: pass %u shard %u attempt %u '%s' [%" PRIu64 ", %" PRIu64 ")", lease->pass,
           lease->shard_id, lease->attempt, lease->path, lease->begin, lease->end);
    err = scan_lease(w, lease, &ed);
    if (err == PS_ERR_TIMEOUT && w->redis_restarted) {
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED,
                    "redis restarted during the shard; another attempt commits it again", true);
    } else if (err == PS_ERR_TIMEOUT && stopping(w)) {
        /* SIGTERM or SIGINT mid-shard: the goodbye gives the lease back (parts committed stay
         * in), see say_goodbye */
        ps_log(PS_LOG_INFO, "worker", "stopping: shard %u given back", lease->shard_id);
    } else if (err == PS_ERR_TIMEOUT) {
        /* Redis is gone: the lease expires and goes elsewhere */
    } else if (err != PS_OK) {
        ps_log(PS_LOG_WARN, "worker", "cannot scan shard %u of '%s': %s", lease->shard_id,
               lease->path, ed.msg);
        send_result(w, lease, POISONSCAN__OUTCOME__OUTCOME_FAILED, ed.msg, true);
    } else {
        ps_log(PS_LOG_DEBUG, "worker", "shard %u pass %u: %" PRIu64 " docs in %" PRIu64 " ms (%s)",
               lease->shard_id, lease->pass, ps_scan_stats(w->scan)->docs, ps_clock_now_ms() - t0,
               w->outcome == PS_COMMIT_APPLIED ? "committed" : "duplicate");
        send_result(w, lease,
                    w->outcome == PS_COMMIT_APPLIED ? POISONSCAN__OUTCOME__OUTCOME_COMMITTED
                                                    : POISONSCAN__OUTCOME__OUTCOME_DUPLICATE,
                    w->conflict ? "results differ from the first commit" : NULL, false);
    }
    w->lease = NULL;
    ps_link_set_lease(w->link, 0, 0, 0);
}

/* Stopping on a signal: the goodbye gives back every lease the coordinator sent this worker and
 * it has not answered (the one in progress, those waiting here, those still on their way), so
 * that they go elsewhere now rather than when the coordinator finds this worker silent, and none
 * counts against --max-attempts; the coordinator sends it no more. */
static void say_goodbye(struct worker *w)
{
    Poisonscan__Envelope env, *lease;
    Poisonscan__Goodbye bye;
    struct ps_errdetail ed = {0};
    enum ps_link_event ev;
    char reason[] = "the worker is stopping";

    while ((ev = ps_link_next(w->link, 0, &lease)) == PS_LINK_LEASE || ev == PS_LINK_SHUTDOWN) {
        if (ev == PS_LINK_SHUTDOWN)
            continue;
        ps_log(PS_LOG_INFO, "worker", "stopping: shard %u given back", lease->lease->shard_id);
        ps_wire_envelope_free(lease);
    }
    poisonscan__envelope__init(&env);
    poisonscan__goodbye__init(&bye);
    bye.reason = reason;
    env.body_case = POISONSCAN__ENVELOPE__BODY_GOODBYE;
    env.goodbye = &bye;
    if (ps_link_send(w->link, &env, &ed) != PS_OK)
        ps_log(PS_LOG_WARN, "worker", "cannot say goodbye: %s", ed.msg);
}

int ps_worker_run(const struct ps_worker_opts *o)
{
    struct worker w = {0};
    struct ps_errdetail ed = {0};
    struct ps_link_opts lo = {0};
    int rc = 0;

    w.o = o;
    ps_buf_init(&w.patterns_arena, PS_BUF_NO_LIMIT);
    for (w.n_stores = 0; w.n_stores < o->n_redis; w.n_stores++)
        if (ps_store_connect(&w.stores[w.n_stores], &o->redis[w.n_stores], o->redis_retry_ms,
                             &ed) != PS_OK) {
            ps_log(PS_LOG_ERROR, "worker", "%s", ed.msg);
            rc = 4;
            goto done;
        }
    for (size_t i = 0; i < w.n_stores; i++)
        ps_store_set_restart_guard(w.stores[i], true);
    w.commit = ps_commit_new();
    lo.connect = o->connect;
    lo.heartbeat_ms = o->heartbeat_ms;
    lo.liveness = o->liveness;
    lo.give_up_ms = o->give_up_ms;
    lo.stall_ms = o->stall_ms;
    lo.security = &o->security;
    if (ps_link_start(&w.link, &lo, &ed) != PS_OK) {
        ps_log(PS_LOG_ERROR, "worker", "cannot connect to '%s': %s", o->connect, ed.msg);
        rc = 4;
        goto done;
    }
    while (!w.shutdown && !stopping(&w)) {
        Poisonscan__Envelope *env;

        switch (ps_link_next(w.link, 200, &env)) {
        case PS_LINK_LEASE:
            handle_lease(&w, env->lease);
            ps_wire_envelope_free(env);
            break;
        case PS_LINK_SHUTDOWN:
            w.shutdown = true;
            break;
        case PS_LINK_LOST:
            rc = 4;
            goto done;
        case PS_LINK_NONE:
            break;
        }
    }
    if (stopping(&w))
        say_goodbye(&w);
done:
    if (rc == 0)
        rc = w.fatal;
    ps_link_stop(w.link);
    ps_scan_free(w.scan);
    free(w.patterns);
    free(w.sample_below);
    ps_buf_release(&w.patterns_arena);
    ps_commit_free(w.commit);
    for (size_t i = 0; i < w.n_stores; i++)
        ps_store_free(w.stores[i]);
    return rc;
}
