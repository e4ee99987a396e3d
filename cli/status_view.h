/* status_view.h - what `poisonscan status` shows of a job's progress hash
 * (poisonscan:{JOB}:progress, docs/redis-keys.md): the rates and ETA derived from it, a text view
 * whose every line fits 80 columns, and a one-line JSON object. Pure functions of the hash and
 * the time, so the view is tested without Redis. */
#ifndef PS_CLI_STATUS_VIEW_H
#define PS_CLI_STATUS_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

/* The numeric fields of the progress hash, in the order of ps_status_field_names. */
enum ps_status_field {
    PS_STATUS_PASS,
    PS_STATUS_SHARDS_TOTAL,
    PS_STATUS_SHARDS_DONE,
    PS_STATUS_SHARDS_FAILED,
    PS_STATUS_BYTES_TOTAL,
    PS_STATUS_BYTES_DONE,
    PS_STATUS_DOCS_DONE,
    PS_STATUS_ERRORS,
    PS_STATUS_DAMAGED_FILES,
    PS_STATUS_WORKERS,
    PS_STATUS_STARTED_AT,
    PS_STATUS_PASS_STARTED_AT,
    PS_STATUS_UPDATED_AT,
    PS_STATUS__COUNT
};
extern const char *const ps_status_field_names[PS_STATUS__COUNT]; /* "pass", "shards_total", ... */

struct ps_status {
    char state[32];               /* "planning", "running", "confirming", "finalizing",
                                     "attributes", "done", "failed" */
    uint64_t v[PS_STATUS__COUNT]; /* a missing field reads 0 */
};

/* A view's figures at unix time `now` (seconds). */
struct ps_status_rates {
    bool finished;           /* state done or failed */
    double percent;          /* of the current pass (bytes; shards in the list pass) */
    double bytes_per_s;      /* the current pass's average since it started */
    double docs_per_s;       /* likewise */
    uint64_t elapsed_s;      /* since the job started (until its last update once finished) */
    uint64_t pass_elapsed_s; /* since the current pass started */
    bool has_eta;
    uint64_t eta_s;   /* of the current pass, at its average rate */
    uint64_t stale_s; /* a running job not updated for this long (0: fresh) */
};
void ps_status_rates(const struct ps_status *p, uint64_t now, struct ps_status_rates *out);

/* Append the text view of job `job` (borrowed) to `out`: a few lines, each at most 80 columns
 * (a job id of up to 64 characters included), ending in '\n'. */
void ps_status_render_text(const char *job, const struct ps_status *p, uint64_t now,
                           struct ps_buf *out);
/* Append one JSON object and '\n': the job, every field of the hash, and the figures above. */
void ps_status_render_json(const char *job, const struct ps_status *p, uint64_t now,
                           struct ps_buf *out);

#endif
