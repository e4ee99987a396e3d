/* report.h - from global counts in Redis to decisions and files: the confirm-pass candidates
 * after pass 1, and OUT/report.json + OUT/flagged.jsonl at the end (docs/report.md). Files are
 * written to a temporary name and renamed, so a reader never sees half a report. */
#ifndef PS_COORDINATOR_REPORT_H
#define PS_COORDINATOR_REPORT_H

#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/store.h"
#include "coordinator/allowlist.h"
#include "coordinator/plan.h"
#include "coordinator/score.h"

/* A pass done: the pattern hashes that go to the next confirm pass, most documents first (at
 * most o->max_confirm), from the counts in `docs_key` and `shards_key` (PS_KEY_CAND_* after
 * pass 1, PS_KEY_LEAD_* after pass 2) and `part` (PS_SCORE_PART_*, see ps_score_select). *out
 * is owned by the caller (free()); *n may be 0. */
enum ps_err ps_report_select_confirm(struct ps_store *s, const char *job, const char *docs_key,
                                     const char *shards_key, unsigned part,
                                     const struct ps_score_opts *o, uint64_t shards_total,
                                     uint64_t **out, size_t *n, struct ps_errdetail *ed);

/* The texts of candidate patterns `hashes` (from pass 1's cand:text), appended to `texts` one
 * after another; lens[i] gets the length of the i-th (0 when Redis has none). */
enum ps_err ps_report_candidate_texts(struct ps_store *s, const char *job, const uint64_t *hashes,
                                      size_t n, struct ps_buf *texts, size_t *lens,
                                      struct ps_errdetail *ed);

struct ps_report_input {
    const char *job;           /* borrowed */
    const char *settings_json; /* borrowed: a JSON object, copied into the report */
    const struct ps_plan *plan;
    const struct ps_score_opts *score;
    const char *out_dir;       /* created if missing */
    bool confirmed;            /* the confirm pass ran */
    uint64_t cluster_min_docs; /* > 0: list the clusters of pass 2 with at least this size */
    const struct ps_allowlist *allowlist; /* borrowed, may be NULL: flagged patterns it holds
                                             go to "suppressed", not to triggers or flagged.jsonl */
};

#define PS_REPORT_TOP 8

struct ps_report_summary {
    uint64_t files, shards, shards_failed, documents, bytes, text_bytes, errors_total;
    uint64_t n_triggers, n_flagged_docs;
    uint64_t n_suppressed; /* flagged patterns the allowlist moved to "suppressed" */
    size_t n_clusters;
    struct {
        char pattern[96]; /* cut at a character boundary when longer */
        uint64_t documents, shards;
        double score;
    } top[PS_REPORT_TOP]; /* the first flagged triggers, for the terminal summary */
    size_t n_top;
};

enum ps_err ps_report_write(struct ps_store *s, const struct ps_report_input *in,
                            struct ps_report_summary *sum, struct ps_errdetail *ed);

#endif
