/* observe.c - what the coordinator shows operators besides its log: the /metrics snapshot. The
 * figures come from where they are exact: documents, input bytes, shards and errors from the
 * collector's aggregates (what the report will say, merged exactly once), workers and leases from
 * the loop's own tables, failed shards from the progress hash. The collector hands its figures
 * over under a mutex after each merge; the loop builds and publishes the snapshot once a second.
 * Without --metrics all of this is skipped. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/metrics.h"

#define RATE_SAMPLES 10 /* one a second: throughput over the last ten seconds */

struct pass_figures {
    uint64_t shards, docs, bytes, errors;
};

struct observe {
    struct ps_metrics *metrics;
    struct ps_metrics_snapshot snap; /* the loop's */
    /* from the collector, under mu */
    pthread_mutex_t mu;
    struct pass_figures by_pass[PS_PASS__LAST + 1];
    uint64_t damaged_files;
    /* the loop's: (time, bytes, documents) of the last ticks, all passes */
    struct {
        uint64_t ms, bytes, docs;
    } ring[RATE_SAMPLES];
    size_t ring_n, ring_next;
};

enum ps_err ps_coord_observe_start(struct coord *c, struct ps_errdetail *ed)
{
    char bound[512];
    struct observe *ob;
    enum ps_err err;

    if (c->o->metrics_listen == NULL || c->o->metrics_listen[0] == '\0')
        return PS_OK;
    ob = ps_xcalloc(1, sizeof(*ob));
    pthread_mutex_init(&ob->mu, NULL);
    err = ps_metrics_start(&ob->metrics, c->o->metrics_listen, c->o->job, bound, sizeof(bound), ed);
    if (err != PS_OK) {
        pthread_mutex_destroy(&ob->mu);
        free(ob);
        return err;
    }
    snprintf(ob->snap.job, sizeof(ob->snap.job), "%s", c->o->job);
    snprintf(ob->snap.state, sizeof(ob->snap.state), "planning");
    ob->snap.started_at = ps_clock_unix_s();
    c->observe = ob;
    ps_log(PS_LOG_INFO, "coordinator", "metrics at '%s'", bound);
    return PS_OK;
}

void ps_coord_observe_merged(struct coord *c, unsigned pass, const struct ps_agg *part0,
                             size_t damaged_files)
{
    struct observe *ob = c->observe;
    const struct ps_results_totals *t;

    if (ob == NULL || part0 == NULL || pass < PS_PASS_SCAN || pass > PS_PASS__LAST)
        return;
    t = ps_agg_totals(part0);
    pthread_mutex_lock(&ob->mu);
    ob->by_pass[pass].shards = ps_agg_n_merged(part0);
    ob->by_pass[pass].docs = t->docs;
    ob->by_pass[pass].bytes = t->bytes;
    /* the walk's unreadable entries are input errors too, as in the report and the progress */
    ob->by_pass[pass].errors =
        t->errors + (pass == PS_PASS_SCAN ? ps_plan_n_unreadable(c->plan) : 0);
    if (damaged_files != SIZE_MAX)
        ob->damaged_files = damaged_files;
    pthread_mutex_unlock(&ob->mu);
}

/* Throughput over the samples in the ring (the oldest to this one). */
static void rates(struct observe *ob, uint64_t bytes, uint64_t docs)
{
    size_t oldest;
    uint64_t now = ps_clock_now_ms(), dt;

    ob->ring[ob->ring_next].ms = now;
    ob->ring[ob->ring_next].bytes = bytes;
    ob->ring[ob->ring_next].docs = docs;
    ob->ring_next = (ob->ring_next + 1) % RATE_SAMPLES;
    if (ob->ring_n < RATE_SAMPLES)
        ob->ring_n++;
    oldest = (ob->ring_next + RATE_SAMPLES - ob->ring_n) % RATE_SAMPLES;
    dt = now - ob->ring[oldest].ms;
    ob->snap.bytes_per_s = dt ? (double)(bytes - ob->ring[oldest].bytes) * 1000.0 / (double)dt : 0;
    ob->snap.docs_per_s = dt ? (double)(docs - ob->ring[oldest].docs) * 1000.0 / (double)dt : 0;
}

void ps_coord_observe_tick(struct coord *c)
{
    struct observe *ob = c->observe;
    struct ps_metrics_snapshot *s;
    uint64_t bytes = 0, docs = 0, failed = 0;
    struct ps_errdetail ed = {0};

    if (ob == NULL)
        return;
    s = &ob->snap;
    pthread_mutex_lock(&ob->mu);
    for (unsigned p = PS_PASS_SCAN; p <= PS_PASS__LAST; p++) {
        /* a resumed pass starts from its checkpoint: counters only move up */
        if (ob->by_pass[p].shards > s->shards_done[p])
            s->shards_done[p] = ob->by_pass[p].shards;
        if (ob->by_pass[p].docs > s->docs_read[p])
            s->docs_read[p] = ob->by_pass[p].docs;
        if (ob->by_pass[p].bytes > s->bytes_read[p])
            s->bytes_read[p] = ob->by_pass[p].bytes;
        bytes += s->bytes_read[p];
        docs += s->docs_read[p];
    }
    if (ob->by_pass[PS_PASS_SCAN].errors > s->input_errors)
        s->input_errors = ob->by_pass[PS_PASS_SCAN].errors;
    s->damaged_files = ob->damaged_files;
    pthread_mutex_unlock(&ob->mu);
    /* failed shards: the progress hash keeps the count of every pass (the loop's table only the
     * current pass's) */
    if (ps_store_hget_u64(c->store, c->k_progress, "shards_failed", &failed, &ed) == PS_OK &&
        failed > s->shards_failed)
        s->shards_failed = failed;
    snprintf(s->state, sizeof(s->state), "%s",
             c->asked == PS_COLLECT_REPORT ? "finalizing"
             : c->pass == PS_PASS_SCAN     ? "running"
             : c->pass == PS_PASS_ATTRS    ? "attributes"
                                           : "confirming");
    s->pass = c->pass;
    s->plan_shards = c->n_shards;
    s->plan_bytes = c->plan != NULL ? ps_plan_bytes_total(c->plan) : 0;
    s->workers = ps_registry_n_alive(c->workers);
    s->shards_in_flight = c->leases != NULL ? ps_lease_n_out(c->leases) : 0;
    s->shards_queued = c->leases != NULL ? ps_lease_n_queued(c->leases) : 0;
    rates(ob, bytes, docs);
    ps_metrics_publish(ob->metrics, s);
}

void ps_coord_observe_done(struct coord *c, const struct ps_report_summary *sum)
{
    struct observe *ob = c->observe;
    struct ps_metrics_snapshot *s;

    if (ob == NULL)
        return;
    ps_coord_observe_tick(c); /* the collector's last figures */
    s = &ob->snap;
    snprintf(s->state, sizeof(s->state), "done");
    s->report_written = true;
    s->triggers_flagged = sum->n_triggers;
    s->triggers_suppressed = sum->n_suppressed;
    s->documents_flagged = sum->n_flagged_docs;
    s->shards_in_flight = s->shards_queued = 0;
    s->finished_at = ps_clock_unix_s();
    ps_metrics_publish(ob->metrics, s);
}

void ps_coord_observe_stop(struct coord *c)
{
    struct observe *ob = c->observe;

    if (ob == NULL)
        return;
    ps_metrics_stop(ob->metrics);
    pthread_mutex_destroy(&ob->mu);
    free(ob);
    c->observe = NULL;
}
