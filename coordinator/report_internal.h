/* report_internal.h - what the report's files share: the candidates, the listed documents and
 * their entries (report.c: loading and report.json), and the decisions and flagged.jsonl
 * (report_decide.c). */
#ifndef PS_COORDINATOR_REPORT_INTERNAL_H
#define PS_COORDINATOR_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coordinator/evidence.h"
#include "coordinator/report.h"

#define PS_REPORT_EXAMPLES 3
/* A promotional pattern whose host or package another pattern promotes in this many times its
 * documents is stock text, not a campaign (report_decide.c, promoted_elsewhere) */
#define PS_REPORT_ELSEWHERE 2.0

struct vec {
    void *items;
    size_t n, cap, size;
};
void *ps_report_vec_push(struct vec *v);
void ps_report_vec_sort(struct vec *v, int (*cmp)(const void *, const void *));

struct cand {
    uint64_t hash;
    char *text; /* owned */
    uint64_t p1_docs, p1_shards, total, role, role_shards;
    double score, diversity, similarity;
    double same_next;   /* share of its documents with the most common two words after it */
    double block_share; /* promotional: share of its promoting documents that go on with repeated
                           sentences (PS_EVIDENCE_PROMO_BLOCK), and what follows there */
    double block_similarity;
    double restate_share; /* share of its documents where it restates what they said before */
    /* what it promotes most (0: nothing), in about how many of its documents in role, and the
     * most documents in which another pattern promotes the same thing (promoted_elsewhere) */
    uint64_t promo_act;
    double promo_docs, promo_elsewhere;
    bool promotes;     /* judged as promotional (PS_EVIDENCE_MIN_PROMO_SHARE of its documents) */
    unsigned kind;     /* enum ps_detect_kind most of its documents in role show */
    bool lead;         /* named in pass 2 before a repeated segment, not a confirm candidate */
    bool recounted;    /* a confirm candidate that pass 3 counted again: never shown */
    bool listed;       /* its documents were listed: the evidence below is measured */
    size_t n_carriers; /* listed documents holding it without its payload (a specific pattern) */
    size_t n_plain;    /* of those, the ones that hold it plainly (struct entry.as_poison false) */
    size_t n_role;     /* listed documents holding it in role */
    bool flagged;
    size_t n_examples;
    size_t examples[PS_REPORT_EXAMPLES];   /* indices into hits, in (file, offset) order */
    size_t allowlist_line;                 /* > 0: flagged, then suppressed by this line */
    const struct ps_results_entry *sample; /* view: the counting pass's sample, n_sample */
    size_t n_sample;
    /* an association pair (common/assoc.h): text is its n-gram; the label its records share,
     * the records with that label and all records (pass 1), and the z of its counts */
    char *label; /* owned; NULL for other patterns */
    /* flagged on its own, then a member of the finding of pattern member_of (by hash: the
     * candidates are sorted after the decision): folded into it (no longer flagged), or, for an
     * association, grouped with it (still flagging its documents, not a finding of its own) */
    bool is_member;
    uint64_t member_of;
    uint64_t label_records, records;
    double z;
    /* its records in role where cutting its n-gram out leaves a known bigram (common/assoc.h),
     * of those that say (REJOIN_*): inside a prompt (insertion) and at its start (prefix) */
    uint64_t rejoin_known[2], rejoin_seen[2];
    double rejoin_p; /* the chance an inserted trigger rejoins this rarely (ps_score_rejoin_p) */
};

/* What an association's removal leaves: two words inside a prompt, or the prompt's new start. */
enum { REJOIN_INSIDE, REJOIN_START };

/* A listed document. */
struct hit {
    uint32_t shard;
    uint64_t offset;
    char *file_json, *id_json, *snippet_json; /* owned, JSON strings */
};

/* One pattern in one listed document: in role (e.in_role), or a specific pattern's carrier. */
struct entry {
    uint64_t hash;
    struct ps_results_entry e;
    size_t hit;     /* index into hits */
    bool as_poison; /* a carrier without the payload that holds the pattern as its poisons do */
};

struct err_rec {
    size_t file; /* index into the plan's files */
    uint64_t offset;
    char *reason_json; /* owned */
    bool failed;       /* a failed shard, not a record error */
};

struct report {
    const struct ps_report_input *in;
    struct vec cands, hits, errors, entries;
    size_t first_cand[PS_PASS__LAST + 1]; /* index of each counting pass's first candidate */
    const char **hit_trigger;             /* per hit: its most suspicious flagged trigger */
    /* the share of all records' bigrams (REJOIN_INSIDE) and prompt starts (REJOIN_START) that
     * are known bigrams: what any prompt's word pairs score, for comparison */
    double rejoin_corpus[2];
};

/* report_decide.c */
void ps_report_decide(struct report *r);
void ps_report_apply_allowlist(struct report *r);
/* After the allowlist: association findings that pull toward one label are one multi-trigger
 * finding, the one with the most documents in role, the others its members. */
void ps_report_group_associations(struct report *r);
void ps_report_sort_candidates(struct report *r);
const char *ps_report_kind_name(unsigned kind);
/* ps_clusters_trigger_fn over the hits: the flagged trigger of the document at (shard, offset). */
const char *ps_report_trigger_of(void *ctx, uint32_t shard, uint64_t offset);
enum ps_err ps_report_write_flagged(struct report *r, struct ps_report_summary *sum,
                                    struct ps_errdetail *ed);
void ps_report_release(struct report *r);

#endif
