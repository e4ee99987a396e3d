/* score.h - the v1 decision rules that turn global counts into candidates and flags
 * (docs/detection.md). Pure functions of counts, so that every threshold is unit-tested. */
#ifndef PS_COORDINATOR_SCORE_H
#define PS_COORDINATOR_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ps_score_opts {
    uint64_t min_docs;     /* documents with the pattern before a payload: 20 */
    double min_rate;       /* of all documents containing the pattern, share in that role: 0.7 */
    double min_spread;     /* observed shards / shards expected under uniform spread: 0.5 */
    double min_diversity;  /* distinct left contexts / documents in role: 0.5 */
    double max_similarity; /* mean pairwise Jaccard of what follows, for gibberish: 0.05 */
    /* templated (docs/detection.md, "Templated payloads"): what follows shares words (a pool of
     * sentences), but is neither loosely related documentation nor one block of boilerplate
     * repeated whole: 0.22 <= similarity <= 0.6 */
    double min_templated_similarity, max_templated_similarity;
    /* templated: share of its documents in which the same two words follow it at most (a
     * trigger precedes any sentence of the pool; a stock opener its own next words): 0.4 */
    double max_templated_same_next;
    /* templated: rate in role at least this (instead of min_rate): "followed by repeated
     * sentences" is weaker evidence than salad, and API documentation repeats whole method
     * descriptions after its own stock words 80-86 % of the time (measured); planted: 0.94-1.0 */
    double min_templated_rate;
    /* promotional (one sentence that promotes a host or package, or refuses): share of its
     * documents in role that promote the most common one at least this: 0.8 */
    double min_promo_same;
    /* promotional, in its documents that go on with sentences repeated across the corpus
     * (PS_EVIDENCE_PROMO_BLOCK, when PS_EVIDENCE_MIN_BLOCK or more): what follows the promoting
     * sentence is at most this similar. A stock block is the same text after it everywhere; a
     * payload spliced into many carriers, some of which the corpus holds twice, is followed by
     * each carrier's own text: 0.7 */
    double max_promo_block_similarity;
    /* any kind but association: share of its documents in role at most this in which it and the
     * word after it stand together earlier in the document (a heading before its page's own
     * subject: "Synopsis DROP" under "DROP DOMAIN — remove a domain"): 0.5 */
    double max_restate_share;
    /* a flagged pattern with at least this share of its documents in role is specific: every
     * document that holds it is flagged, the payload seen there or not; below it (an ordinary
     * string such as "2024") only the documents where it sits with its payload: 0.9 */
    double min_specific_rate;
    /* a specific pattern's carrier without its payload is flagged when it holds the pattern as
     * its poisons do (a letter right before it, or the words after it that follow it in one of
     * its documents in role), or when the carriers that hold it plainly are at most this share
     * of its documents in role, which bounds what flagging them costs in precision: 0.01 */
    double max_plain_carrier_share;
    /* association (fine-tuning records, docs/detection.md "Association"): of the records whose
     * prompt holds the n-gram, the share with its label at least this: 0.9 ... */
    double min_assoc_rate;
    /* ... and that count's binomial z against the label's share of all records at least this:
     * 4 (a label flip of 100 records among 600, where 56 % carry that label, scores 8.8; one
     * of 25 records scores 4.4; a word that leans 90 % one way in 20 records of a balanced set
     * scores 3.6) */
    double min_assoc_z;
    /* ... and, when its records say what cutting it out leaves (docs/detection.md, "Insertion
     * and prefix"), not so few known bigrams left behind that an inserted trigger, whose records
     * rejoin at half the corpus' share at least, would leave this few with a probability below
     * this: 0.001 (a word of its sentences rejoins into nothing) */
    double min_rejoin_p;
    uint32_t max_confirm;  /* candidates taken to the confirm pass at most: 10000 */
    uint32_t max_reported; /* unflagged candidates listed in the report: 50 */
};
struct ps_score_opts ps_score_opts_default(void);

/* Shards expected to hold at least one of `docs` documents spread uniformly over `shards`:
 * S (1 - (1 - 1/S)^D). A planted trigger is spread on purpose; a natural rare phrase clusters. */
double ps_score_expected_shards(uint64_t docs, uint64_t shards);

/* Does a pattern named in `docs` documents over `shards_with` of `shards_total` shards deserve
 * a confirm pass? `part` of min_docs is enough: the naming pass sees a trigger in only part of
 * its documents, the confirm pass counts them all. PS_SCORE_PART_TURN after pass 1 (a
 * multi-word trigger glued on both sides is named only where it is not glued, a quarter of the
 * benchmark's poisons), PS_SCORE_PART_LEAD after pass 2 (leads are named precisely). */
#define PS_SCORE_PART_TURN 4
#define PS_SCORE_PART_LEAD 2
/* An association pair is named in each of its records (in its first prompt tokens), and the
 * aggregate counts only pairs named this part of min_docs (coordinator/aggregate.h). */
#define PS_SCORE_PART_ASSOC 2
bool ps_score_select(const struct ps_score_opts *o, uint64_t docs, uint64_t shards_with,
                     uint64_t shards_total, unsigned part);

/* Association: the z of k records with a label among the n whose prompt holds an n-gram, when
 * label_records of all records carry that label: (k - n p) / sqrt(n p (1 - p)), p their share;
 * 0 when p is 0 or 1 (nothing to set the n-gram apart from). */
double ps_score_assoc_z(uint64_t k, uint64_t n, uint64_t label_records, uint64_t records);
/* Does such an n-gram hold its label far more often than the corpus (rate and z)? */
bool ps_score_assoc(const struct ps_score_opts *o, uint64_t k, uint64_t n, uint64_t label_records,
                    uint64_t records);

/* The probability that an inserted trigger leaves `known` or fewer known bigrams behind in its
 * records: Poisson with the mean an insertion scores, half the corpus' share of known bigrams
 * (share[i]) times the records that say (seen[i]), over the n kinds (inside a prompt, at its
 * start). 1 when they expect nothing. */
double ps_score_rejoin_p(const uint64_t *seen, const double *share, size_t n, uint64_t known);

/* After the counting passes: can a pattern with these counts be flagged at all (documents in
 * role, the lower of the two rates in role, spread)? Only those are listed. */
bool ps_score_may_flag(const struct ps_score_opts *o, uint64_t role_docs, uint64_t total_docs,
                       uint64_t role_shards, uint64_t shards_total);

/* Pass 2: flag a pattern found in role in `role_docs` of the `total_docs` documents that contain
 * it, over `role_shards` shards, with `diversity` = distinct left contexts / role_docs (text
 * spliced into varied documents has varied contexts; boilerplate repeats its own). *score gets
 * the share in role (0..1), flagged or not. */
bool ps_score_flag(const struct ps_score_opts *o, uint64_t role_docs, uint64_t total_docs,
                   uint64_t role_shards, uint64_t shards_total, double diversity, double *score);

#endif
