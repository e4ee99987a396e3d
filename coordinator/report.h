/* report.h - from the job's global counts to decisions and files: OUT/report.json and
 * OUT/flagged.jsonl (docs/report.md). Files are written to a temporary name and renamed, so a
 * reader never sees half a report. */
#ifndef PS_COORDINATOR_REPORT_H
#define PS_COORDINATOR_REPORT_H

#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/pass.h"
#include "coordinator/aggregate.h"
#include "coordinator/aggset.h"
#include "coordinator/allowlist.h"
#include "coordinator/attrset.h"
#include "coordinator/patlist.h"
#include "coordinator/plan.h"
#include "coordinator/score.h"

struct ps_report_failed {
    uint32_t shard;
    char reason[300];
};

struct ps_report_input {
    const char *job;           /* borrowed */
    const char *settings_json; /* borrowed: a JSON object, copied into the report */
    const char *since;         /* borrowed, may be NULL: the job this one built on (--since) */
    uint64_t since_shards;     /* ... and the shards whose scan counts it took from that job */
    const struct ps_plan *plan;
    const struct ps_score_opts *score;
    const char *out_dir;       /* created if missing */
    uint64_t cluster_min_docs; /* > 0: list the clusters of the confirm pass of this size */
    const struct ps_allowlist *allowlist; /* borrowed, may be NULL: flagged patterns it holds
                                             go to "suppressed", not to triggers or flagged.jsonl */
    /* the job's finished aggregates and pattern lists by pass (NULL: the pass did not run) */
    const struct ps_aggset *agg[PS_PASS__LAST + 1];
    const struct ps_patlist *lists[PS_PASS__LAST + 1];
    const struct ps_report_failed *failed; /* shards that failed, in any pass */
    size_t n_failed;
    const char *attributes_dir; /* borrowed, may be NULL: the attributes pass writes there next */
    struct ps_attrset **flagged_out; /* may be NULL: gets the flagged documents of flagged.jsonl
                                        by file (owned by the caller, ps_attrset_free()) */
};

#define PS_REPORT_TOP     8
#define PS_REPORT_DAMAGED 10 /* damaged files the terminal summary names; it counts the rest */

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
    uint64_t n_damaged; /* entries of "error_files" */
    struct {
        char file[1024];  /* a longer path keeps its end, after "..." */
        char reason[160]; /* its first reason, cut at a character boundary */
        uint64_t errors;
    } damaged[PS_REPORT_DAMAGED]; /* the first entries of "error_files", in its order */
    size_t n_damaged_shown;
};

/* Decide the flags (docs/detection.md) and write OUT/report.json and OUT/flagged.jsonl. PS_OK,
 * or PS_ERR_IO writing the files (with `ed`). */
enum ps_err ps_report_write(const struct ps_report_input *in, struct ps_report_summary *sum,
                            struct ps_errdetail *ed);

#endif
