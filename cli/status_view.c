/* status_view.c - the progress view of `poisonscan status`: rates and ETA from the progress hash,
 * an 80-column text view with a bar, and a JSON line. */
#include "cli/status_view.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/pass.h"
#include "common/units.h"

#define BAR_WIDTH 40
/* a running coordinator updates the hash every second; this long without one is worth saying */
#define STALE_AFTER_S 30

const char *const ps_status_field_names[PS_STATUS__COUNT] = {
    "pass",       "shards_total",    "shards_done", "shards_failed", "bytes_total",
    "bytes_done", "docs_done",       "errors",      "damaged_files", "workers",
    "started_at", "pass_started_at", "updated_at"};

void ps_status_rates(const struct ps_status *p, uint64_t now, struct ps_status_rates *r)
{
    const uint64_t *v = p->v;
    uint64_t started = v[PS_STATUS_STARTED_AT], updated = v[PS_STATUS_UPDATED_AT];
    uint64_t pass_started = v[PS_STATUS_PASS_STARTED_AT] ? v[PS_STATUS_PASS_STARTED_AT] : started;
    uint64_t done = v[PS_STATUS_BYTES_DONE], total = v[PS_STATUS_BYTES_TOTAL];
    uint64_t until;

    memset(r, 0, sizeof(*r));
    r->finished = strcmp(p->state, "done") == 0 || strcmp(p->state, "failed") == 0;
    /* a finished job's clock stopped at its last update */
    until = r->finished && updated ? updated : now;
    r->elapsed_s = started && until > started ? until - started : 0;
    r->pass_elapsed_s = pass_started && until > pass_started ? until - pass_started : 0;
    if (r->pass_elapsed_s > 0) {
        r->bytes_per_s = (double)done / (double)r->pass_elapsed_s;
        r->docs_per_s = (double)v[PS_STATUS_DOCS_DONE] / (double)r->pass_elapsed_s;
    }
    /* the list pass marks the shards it need not read as done without reading their bytes:
     * there, shards measure progress */
    if (v[PS_STATUS_PASS] == PS_PASS_LIST || total == 0) {
        done = v[PS_STATUS_SHARDS_DONE];
        total = v[PS_STATUS_SHARDS_TOTAL];
    }
    r->percent = total ? 100.0 * (double)(done < total ? done : total) / (double)total : 0.0;
    if (r->finished && strcmp(p->state, "done") == 0)
        r->percent = 100.0;
    if (!r->finished && r->bytes_per_s > 0 && v[PS_STATUS_BYTES_TOTAL] > v[PS_STATUS_BYTES_DONE] &&
        v[PS_STATUS_PASS] != PS_PASS_LIST) {
        r->has_eta = true;
        r->eta_s = (uint64_t)((double)(v[PS_STATUS_BYTES_TOTAL] - v[PS_STATUS_BYTES_DONE]) /
                              r->bytes_per_s);
    }
    if (!r->finished && updated && now > updated + STALE_AFTER_S)
        r->stale_s = now - updated;
}

/* "1h02m", "3m05s", "42s": whole seconds, two units at most. */
static void fmt_duration(uint64_t s, char *dst, size_t cap)
{
    if (s >= 86400)
        snprintf(dst, cap, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(dst, cap, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(dst, cap, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else
        snprintf(dst, cap, "%" PRIu64 "s", s);
}

/* "950", "12.3k", "4.56M", "7.89G": a rate in at most 6 characters (more only past 10^13). */
static void fmt_rate(double x, char *dst, size_t cap)
{
    if (x >= 1e9)
        snprintf(dst, cap, "%.3gG", x / 1e9);
    else if (x >= 1e6)
        snprintf(dst, cap, "%.3gM", x / 1e6);
    else if (x >= 1e4)
        snprintf(dst, cap, "%.3gk", x / 1e3);
    else
        snprintf(dst, cap, "%.0f", x);
}

void ps_status_render_text(const char *job, const struct ps_status *p, uint64_t now,
                           struct ps_buf *out)
{
    const uint64_t *v = p->v;
    struct ps_status_rates r;
    char bar[BAR_WIDTH + 1], el[32], eta[32], a[32], t[32], rate[32], dps[32];
    size_t fill;

    ps_status_rates(p, now, &r);
    fill = (size_t)(r.percent / 100.0 * BAR_WIDTH + 0.5);
    for (size_t i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fmt_duration(r.elapsed_s, el, sizeof(el));
    fmt_duration(r.eta_s, eta, sizeof(eta));
    ps_units_format_size(v[PS_STATUS_BYTES_DONE], a, sizeof(a));
    ps_units_format_size(v[PS_STATUS_BYTES_TOTAL], t, sizeof(t));
    ps_units_format_size((uint64_t)r.bytes_per_s, rate, sizeof(rate));
    fmt_rate(r.docs_per_s, dps, sizeof(dps));

    ps_buf_addf(out, "job      %.64s\n", job);
    ps_buf_addf(out, "state    %.12s, pass %" PRIu64 " (%s), %s %s\n", p->state, v[PS_STATUS_PASS],
                ps_pass_name((unsigned)v[PS_STATUS_PASS]), r.finished ? "took" : "elapsed", el);
    if (r.finished)
        ps_buf_addf(out, "progress [%s] %5.1f%%\n", bar, r.percent);
    else
        ps_buf_addf(out, "progress [%s] %5.1f%%  ETA %s\n", bar, r.percent, r.has_eta ? eta : "-");
    ps_buf_addf(out, "input    %s of %s read in this pass, %s/s\n", a, t, rate);
    ps_buf_addf(out, "shards   %" PRIu64 " of %" PRIu64 " done, %" PRIu64 " failed\n",
                v[PS_STATUS_SHARDS_DONE], v[PS_STATUS_SHARDS_TOTAL], v[PS_STATUS_SHARDS_FAILED]);
    ps_buf_addf(out, "docs     %" PRIu64 " read in this pass, %s/s\n", v[PS_STATUS_DOCS_DONE], dps);
    ps_buf_addf(out, "workers  %" PRIu64 " alive\n", v[PS_STATUS_WORKERS]);
    ps_buf_addf(out, "errors   %" PRIu64 " input errors in %" PRIu64 " damaged files\n",
                v[PS_STATUS_ERRORS], v[PS_STATUS_DAMAGED_FILES]);
    if (r.stale_s > 0) {
        fmt_duration(r.stale_s, el, sizeof(el));
        ps_buf_addf(out, "warning  no update for %s: is the coordinator running?\n", el);
    }
}

void ps_status_render_json(const char *job, const struct ps_status *p, uint64_t now,
                           struct ps_buf *out)
{
    struct ps_status_rates r;

    ps_status_rates(p, now, &r);
    ps_buf_adds(out, "{\"job\":");
    ps_json_append_string(out, job, strlen(job));
    ps_buf_adds(out, ",\"state\":");
    ps_json_append_string(out, p->state, strlen(p->state));
    for (size_t i = 0; i < PS_STATUS__COUNT; i++)
        ps_buf_addf(out, ",\"%s\":%" PRIu64, ps_status_field_names[i], p->v[i]);
    ps_buf_addf(out,
                ",\"elapsed_s\":%" PRIu64 ",\"pass_elapsed_s\":%" PRIu64
                ",\"percent\":%.1f,\"rate_bytes_per_s\":%.0f,\"rate_docs_per_s\":%.0f,"
                "\"eta_s\":",
                r.elapsed_s, r.pass_elapsed_s, r.percent, r.bytes_per_s, r.docs_per_s);
    if (r.has_eta)
        ps_buf_addf(out, "%" PRIu64, r.eta_s);
    else
        ps_buf_adds(out, "null");
    ps_buf_addf(out, ",\"stale_s\":%" PRIu64 "}\n", r.stale_s);
}
