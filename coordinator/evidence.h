/* evidence.h - what the documents in which a pattern stands in role say about it, beyond counts
 * (docs/detection.md): the payload kind most of them show, how similar what follows is (salad
 * shares nothing, a fixed phrase everything, a templated payload some words), how varied what
 * precedes is (a trigger spliced into varied text, or one stock block), and how often the same
 * two words follow. The rules on them are here once, for the report (every listed document) and
 * for the choice of what to list (a sample of the documents, with a slack for its error). */
#ifndef PS_COORDINATOR_EVIDENCE_H
#define PS_COORDINATOR_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/results.h"
#include "coordinator/score.h"

/* The kind digits of an entry, as the worker writes them (enum ps_detect_kind in
 * worker/detect.h): what followed the pattern in that document. */
enum {
    PS_EVIDENCE_GIBBERISH = 1,
    PS_EVIDENCE_BYTES = 2,
    PS_EVIDENCE_FIXED = 4,
    PS_EVIDENCE_TEMPLATED = 8,
    PS_EVIDENCE_PROMO = 16,      /* one sentence promoting a host or package, or refusing */
    PS_EVIDENCE_ASSOC = 32,      /* a record's response with the label of the pattern's pair */
    PS_EVIDENCE_PROMO_BLOCK = 64 /* promoting, then sentences repeated across the corpus: counted
                                    as PS_EVIDENCE_PROMO, and measured apart (block_share) */
};
#define PS_EVIDENCE_KINDS 7
/* Documents of PS_EVIDENCE_PROMO_BLOCK that a pattern needs before their similarity is asked:
 * two or three are often one carrier held twice */
#define PS_EVIDENCE_MIN_BLOCK 4
/* A pattern is PS_EVIDENCE_PROMO when at least this share of its documents promote something,
 * whatever most of them show: a templated campaign's pool need not say what it pushes in every
 * document (benchmark v2's wallet pool: a third of its documents draw praise sentences only) */
#define PS_EVIDENCE_MIN_PROMO_SHARE (1.0 / 3.0)

struct ps_evidence {
    unsigned kind;           /* the kind most of the documents show (PS_EVIDENCE_PROMO: see
                                PS_EVIDENCE_MIN_PROMO_SHARE) */
    double similarity;       /* mean pairwise Jaccard of what follows (from the sketches) */
    double diversity;        /* distinct left contexts / documents */
    double same_next;        /* share of the documents with the most common two words after it; for
                                PS_EVIDENCE_PROMO, with the most common thing promoted */
    double block_share;      /* PS_EVIDENCE_PROMO: share of its promoting documents that go on with
                                repeated sentences (PS_EVIDENCE_PROMO_BLOCK) ... */
    double block_similarity; /* ... and the similarity of what follows the promoting sentence
                                in those (0 with fewer than PS_EVIDENCE_MIN_BLOCK of them) */
    double promo_share;      /* share of the documents that promote something, whatever the kind */
    double promo_same;       /* same_next over those documents: the most common thing promoted */
    uint64_t promo_act;      /* that thing (its right value), 0 when nothing is promoted */
    double restate_share;    /* share of the documents where it and the next word restate what the
                                document said before (struct ps_results_entry.restates) */
};

/* Measure the evidence of n entries (borrowed; only read) of one pattern, from the first
 * `positions` values of their continuation sketches (PS_RESULTS_SKETCH, or fewer for a sample). */
void ps_evidence_measure(const struct ps_results_entry *entries, size_t n, size_t positions,
                         struct ps_evidence *out);

/* The evidence rules of a flag for a pattern with `text` (borrowed) in role at `rate`:
 * diversity, then by kind: templated (similarity within its band, few same next words, the
 * templated rate, not only short lower-case words), promotional (one thing promoted in most of
 * its documents, the templated rate, not only short lower-case words, and where repeated
 * sentences follow the promoting one, not the same ones everywhere), fixed (nothing more),
 * others (similarity at most max_similarity); for every kind, few documents where it restates its
 * document (max_restate_share). `slack` widens every bound by that much (0 for the
 * decision itself), the promoting share of PS_EVIDENCE_MIN_PROMO_SHARE too: a pattern whose
 * promoting documents fall short of it by at most `slack` passes when it passes as promotional. */
bool ps_evidence_ok(const struct ps_score_opts *o, const struct ps_evidence *e, const char *text,
                    double rate, double slack);

#endif
