/* patlist.h - the patterns a pass after the scan counts or lists: their texts (what leases carry),
 * hashes, and where each came from, kept in Redis as one record per pass (PS_KEY_PATTERNS) so
 * that a restarted coordinator leases the same list. This module is that record's only encoder
 * and decoder. Patterns [0, leads_from) are in role before a payload (turn candidates);
 * [leads_from, n) before repeated sentences (leads of repeated segments). */
#ifndef PS_COORDINATOR_PATLIST_H
#define PS_COORDINATOR_PATLIST_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "proto/poisonscan.pb-c.h"

struct ps_patlist {
    size_t n, cap, leads_from;
    uint64_t *hashes;           /* XXH3_64bits of each text */
    ProtobufCBinaryData *texts; /* views into arena, for Lease.candidates */
    uint32_t *origin;           /* list pass: index of the pattern in its counting pass */
    uint64_t *sample_below;     /* counting passes: documents of rank below this go to the
                                   pattern's sample (UINT64_MAX: all); list pass: nonzero for a
                                   specific pattern, whose every carrying document is listed,
                                   in role or not (PS_PATLIST_CARRIERS) */
    /* counting passes: the patterns that met the count rules, of which the n named in the most
     * documents were taken (--max-confirm), and the documents that named the last one taken */
    uint64_t eligible, least_docs;
    struct ps_buf arena;
    struct ps_patlist_key *by_hash; /* (hash, index) sorted, for ps_patlist_find: built by
                                       ps_patlist_seal */
};

struct ps_patlist_key {
    uint64_t hash;
    size_t i;
};

/* sample_below of a list pass pattern whose carriers are listed too. */
#define PS_PATLIST_CARRIERS UINT64_MAX

void ps_patlist_init(struct ps_patlist *l);
void ps_patlist_release(struct ps_patlist *l);
/* Append a pattern (text borrowed, copied; views are rebuilt on the next call to
 * ps_patlist_seal). `origin` and `sample_below` are kept as given. */
void ps_patlist_add(struct ps_patlist *l, const char *text, size_t len, uint32_t origin,
                    uint64_t sample_below);
/* Point the texts at the arena and index the hashes (after the last add). */
void ps_patlist_seal(struct ps_patlist *l);
/* Index of the first pattern with this hash, or SIZE_MAX; O(log n), on a sealed list (the
 * selection asks it once per lead candidate, the report once per confirm pattern). */
size_t ps_patlist_find(const struct ps_patlist *l, uint64_t hash);

/* The record: "PSPL", version, n, leads_from, eligible, least_docs, then per pattern its origin,
 * sample bound and text. */
void ps_patlist_encode(const struct ps_patlist *l, struct ps_buf *out);
/* PS_OK, or PS_ERR_PROTO for a malformed record (with `ed`); l is replaced. */
enum ps_err ps_patlist_decode(struct ps_patlist *l, const void *src, size_t src_len,
                              struct ps_errdetail *ed);

#endif
