/* select.c - what a finished pass leaves for the next (docs/detection.md): after the scan, the
 * candidates that deserve a confirm pass and the heavy cells of the cluster sketch; after the
 * confirm pass, the leads of repeated segments that deserve a pass of their own; after the
 * counting passes, the patterns that the count rules let through (the only ones that can be
 * flagged) and the shards the list pass must read for them. Each switch is recorded in Redis
 * before the loop sees it: the pattern list, the list pass's shard set, then the progress and
 * the pass in meta, whose change is the switch (a crash before it redoes the selection). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assoc.h"
#include "common/clock.h"
#include "common/clsketch.h"
#include "common/log.h"
#include "coordinator/clusters.h"
#include "coordinator/collect_internal.h"
#include "coordinator/evidence.h"
#include "coordinator/report.h"

/* A counting pass keeps a sample of each pattern's documents in role (coordinator/aggregate.h);
 * the lease asks for about SAMPLE_TARGET of them, from the documents the naming pass saw: at
 * least as many as it named (a naming pass may see all of a pattern's documents, or a tenth),
 * so that the sample is too big rather than too small; the aggregate keeps the lowest ranks. */
#define SAMPLE_TARGET 16
/* The list pass lists a pattern whose sampled evidence passes the rules with this slack: the
 * sample is small, the decision is made on every listed document. A sample of fewer than
 * SAMPLE_MIN documents says too little to hold a pattern back: it is listed. */
#define EVIDENCE_SLACK 0.15
#define SAMPLE_MIN     4

uint64_t ps_collect_sample_bound(uint64_t docs)
{
    if (docs <= SAMPLE_TARGET)
        return UINT64_MAX;
    return UINT64_MAX / docs * SAMPLE_TARGET;
}

struct picked {
    uint64_t hash, docs;
    const char *text;
    size_t len;
};

struct pick_ctx {
    const struct ps_aggset *a;
    const struct ps_score_opts *o;
    uint64_t shards_total;
    unsigned part;
    const struct ps_patlist *exclude; /* may be NULL */
    struct picked *v;
    size_t n, cap;
};

static uint64_t docs_of(const struct ps_aggset *a, uint64_t hash)
{
    uint64_t docs = 0, shards = 0;

    ps_aggset_pattern_counts(a, hash, &docs, &shards);
    return docs;
}

/* An association entry (common/assoc.h) is a pattern only when it is a pair whose exact counts
 * set its n-gram apart: most of the records with the n-gram carry the label, far more than all
 * records do. The totals it is measured against are never patterns. */
static bool assoc_select(const struct pick_ctx *p, const struct ps_assoc_parts *e, uint64_t docs)
{
    if (!ps_assoc_is_pair(e))
        return false;
    return ps_score_assoc(p->o, docs,
                          docs_of(p->a, ps_assoc_entry_hash(e->ngram, e->ngram_len, NULL, 0)),
                          docs_of(p->a, ps_assoc_entry_hash(NULL, 0, e->label, e->label_len)),
                          docs_of(p->a, ps_assoc_entry_hash(NULL, 0, NULL, 0)));
}

static void pick(void *ctx, uint64_t hash, uint64_t docs, uint64_t shards, const char *text,
                 size_t len)
{
    struct pick_ctx *p = ctx;
    struct ps_assoc_parts e;
    bool assoc = text != NULL && ps_assoc_split(text, len, &e);

    if (!ps_score_select(p->o, docs, shards, p->shards_total,
                         assoc ? PS_SCORE_PART_ASSOC : p->part))
        return;
    if (assoc && !assoc_select(p, &e, docs))
        return;
    if (p->exclude != NULL && ps_patlist_find(p->exclude, hash) != SIZE_MAX)
        return;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->v = ps_xrealloc(p->v, p->cap * sizeof(*p->v));
    }
    p->v[p->n++] = (struct picked){hash, docs, text, len};
}

static int cmp_picked(const void *a, const void *b)
{
    const struct picked *x = a, *y = b;

    if (x->docs != y->docs)
        return x->docs > y->docs ? -1 : 1;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

struct keep_vec {
    uint64_t *v;
    size_t n, cap;
};

static void keep_add(struct keep_vec *k, uint64_t hash)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 256;
        k->v = ps_xrealloc(k->v, k->cap * sizeof(*k->v));
    }
    k->v[k->n++] = hash;
}

/* The bigram entries (common/assoc.h), which the report looks an association's rejoined words
 * up in: every one the scan aggregate holds. */
static void keep_bigram(void *ctx, uint64_t hash, uint64_t docs, uint64_t shards, const char *text,
                        size_t len)
{
    struct ps_assoc_parts e;

    (void)docs;
    (void)shards;
    if (text != NULL && ps_assoc_split(text, len, &e) && ps_assoc_is_bigram(&e))
        keep_add(ctx, hash);
}

void ps_collect_select_patterns(const struct ps_aggset *a, const struct ps_score_opts *o,
                                size_t n_shards, unsigned part, const struct ps_patlist *exclude,
                                struct ps_patlist *out, uint64_t **keep, size_t *n_keep)
{
    struct pick_ctx p = {a, o, n_shards, part, exclude, NULL, 0, 0};
    struct keep_vec k = {0};
    bool pairs = false;
    size_t n;

    ps_aggset_each_pattern(a, pick, &p);
    if (p.n > 1)
        qsort(p.v, p.n, sizeof(*p.v), cmp_picked);
    n = p.n < o->max_confirm ? p.n : o->max_confirm;
    ps_patlist_release(out);
    /* each pattern, and for a pair the totals the report weighs it against again */
    for (size_t i = 0; i < n; i++) {
        ps_patlist_add(out, p.v[i].text, p.v[i].len, (uint32_t)i,
                       ps_collect_sample_bound(p.v[i].docs));
        keep_add(&k, p.v[i].hash);
    }
    for (size_t i = 0; i < n; i++) {
        struct ps_assoc_parts e;

        if (!ps_assoc_split(p.v[i].text, p.v[i].len, &e))
            continue;
        keep_add(&k, ps_assoc_entry_hash(NULL, 0, e.label, e.label_len));
        pairs = true;
    }
    if (pairs) {
        keep_add(&k, ps_assoc_entry_hash(NULL, 0, NULL, 0));
        keep_add(&k, ps_assoc_entry_hash(NULL, 0, PS_ASSOC_STARTS, 1));
        keep_add(&k, ps_assoc_entry_hash(NULL, 0, PS_ASSOC_BIGRAMS, 1));
        ps_aggset_each_pattern(a, keep_bigram, &k);
    }
    ps_patlist_seal(out);
    out->eligible = p.n;
    out->least_docs = n > 0 ? p.v[n - 1].docs : 0;
    free(p.v);
    *keep = k.v != NULL ? k.v : ps_xmalloc(sizeof(**keep));
    *n_keep = k.n;
}

/* The cap binds when more patterns met the count rules than --max-confirm: the rest, named in
 * least_docs documents or fewer (ties go by hash), are never counted and cannot be flagged.
 * The count rules are absolute, so a larger corpus brings more stock phrases over them. */
static void warn_if_capped(const struct ps_patlist *l, const char *what)
{
    if (l->eligible <= l->n)
        return;
    ps_log(PS_LOG_WARN, "coordinator",
           "%" PRIu64 " %s met the count rules; only the %zu named in the most documents are "
           "counted: a trigger named in %" PRIu64
           " documents or fewer may be missed (--max-confirm)",
           l->eligible, what, l->n, l->least_docs);
}

/* Record the switch to `pass` over k->lists[pass] (and, for the list pass, its shard set). */
static enum ps_err record_switch(struct collector *k, enum ps_pass pass, const uint8_t *shards,
                                 size_t shards_len, struct ps_errdetail *ed)
{
    const struct coord *c = k->c;
    struct ps_buf rec;
    char text[4], set_key[256], now[24];
    enum ps_err err;

    ps_buf_init(&rec, PS_BUF_NO_LIMIT);
    ps_patlist_encode(&k->lists[pass], &rec);
    err = ps_collect_put_record(k, PS_KEY_PATTERNS, pass, rec.data, rec.len, ed);
    ps_buf_release(&rec);
    if (err == PS_OK && shards != NULL) {
        const char *argv[3] = {"SET", set_key, (const char *)shards};
        size_t lens[3] = {3, 0, shards_len};
        ps_store_key(set_key, sizeof(set_key), c->o->job, PS_KEY_LIST_SHARDS);
        lens[1] = strlen(set_key);
        err = ps_store_argv(ps_collect_store(k, 0), 3, argv, lens, NULL, ed);
    }
    snprintf(text, sizeof(text), "%u", (unsigned)pass);
    snprintf(now, sizeof(now), "%" PRIu64, ps_clock_unix_s());
    if (err == PS_OK)
        err = ps_store_cmd(ps_collect_store(k, 0), NULL, ed, "HSET", c->k_progress, "shards_done",
                           "0", "docs_done", "0", "bytes_done", "0", "state",
                           pass == PS_PASS_ATTRS ? "attributes" : "confirming", "pass", text,
                           "pass_started_at", now, NULL);
    if (err == PS_OK)
        err = ps_store_cmd(ps_collect_store(k, 0), NULL, ed, "HSET", c->k_meta, "pass", text, NULL);
    return err;
}

/* Finish the pass: keep only the patterns `keep` in its aggregate, and the samples of those the
 * count rules let through; save that as its final checkpoint and drop its blobs. */
static enum ps_err close_pass(struct collector *k, const uint64_t *keep, size_t n_keep,
                              struct ps_errdetail *ed)
{
    const struct ps_patlist *l = &k->lists[k->pass];
    enum ps_err err;

    if (k->pass == PS_PASS_CONFIRM || k->pass == PS_PASS_LEADS) {
        bool *counted = ps_xcalloc(l->n + 1, sizeof(*counted));
        for (size_t i = 0; i < l->n; i++) {
            const struct ps_agg_count *n = ps_aggset_count(&k->agg[k->pass], i);
            counted[i] = ps_score_may_flag(&k->c->o->score, n->role, n->total, n->role_shards,
                                           k->c->n_shards);
        }
        ps_aggset_drop_samples(&k->agg[k->pass], counted);
        free(counted);
    }
    ps_aggset_reduce(&k->agg[k->pass], keep, n_keep);
    err = ps_collect_checkpoint(k, ed);
    if (err == PS_OK)
        err = ps_collect_drop_blobs(k, k->pass, ed);
    ps_aggset_finish(&k->agg[k->pass], 0);
    return err;
}

/* The heavy cells of the cluster sketch, for the confirm pass; false when there are none. */
static enum ps_err publish_heavy(struct collector *k, bool *any, struct ps_errdetail *ed)
{
    const struct coord *c = k->c;
    const uint8_t *sketch;
    uint8_t *bitmap;
    size_t len, n_heavy;
    uint64_t threshold;
    char heavy_key[256], text[24];
    struct ps_buf packed;
    enum ps_err err;

    *any = false;
    if (c->cluster_log2 == 0)
        return PS_OK;
    /* the partitions' runs of cells put back together */
    ps_aggset_finish(&k->agg[PS_PASS_SCAN], (size_t)1 << c->cluster_log2);
    sketch = k->agg[PS_PASS_SCAN].sketch;
    if (sketch == NULL) {
        /* a resumed job whose scan pass was closed already: the bitmap was published then */
        struct ps_store_reply *r;
        ps_store_key(heavy_key, sizeof(heavy_key), c->o->job, PS_KEY_CLUSTER_HEAVY);
        err = ps_store_cmd(ps_collect_store(k, 0), &r, ed, "EXISTS", heavy_key, NULL);
        if (err == PS_OK)
            *any = ps_store_reply_int(r) == 1;
        ps_store_reply_free(r);
        return err;
    }
    /* a saturated sketch would send every paragraph to pass 2: at most one cell in 16 is heavy,
     * so that a key seen once passes both rows by chance about once in 256 (the sketch sized
     * within its 2% budget is small enough for the corpus's own repeated text to reach the
     * cap: a tighter one raises the bar past the sentences of a 50-document templated attack) */
    ps_clusters_heavy(sketch, c->cluster_log2, c->o->cluster_min_docs,
                      ((size_t)1 << c->cluster_log2) / 16, &bitmap, &len, &threshold, &n_heavy);
    ps_store_key(heavy_key, sizeof(heavy_key), c->o->job, PS_KEY_CLUSTER_HEAVY);
    ps_buf_init(&packed, PS_BUF_NO_LIMIT);
    err = ps_clsketch_heavy_pack(bitmap, len, &packed, ed);
    if (err == PS_OK) {
        const char *argv[3] = {"SET", heavy_key, packed.data};
        size_t lens[3] = {3, strlen(heavy_key), packed.len};
        err = ps_store_argv(ps_collect_store(k, 0), 3, argv, lens, NULL, ed);
    }
    ps_buf_release(&packed);
    free(bitmap);
    snprintf(text, sizeof(text), "%" PRIu64, threshold);
    if (err == PS_OK)
        err = ps_store_cmd(ps_collect_store(k, 0), NULL, ed, "HSET", c->k_meta, "cluster_threshold",
                           text, NULL);
    ps_log(PS_LOG_INFO, "coordinator",
           "cluster sketch: %zu heavy cells at %" PRIu64 " or more occurrences", n_heavy,
           threshold);
    *any = n_heavy > 0;
    return err;
}

/* --save-scan: every partition's scan counts as they are before the pass is reduced, for a later
 * --since job (coordinator/since.c). Written once: a base already there is this one, or the
 * pass was reduced since (a resumed job) and must not replace it. */
static enum ps_err save_base(struct collector *k, struct ps_errdetail *ed)
{
    enum ps_err err = PS_OK;

    for (unsigned q = 0; q < k->agg[PS_PASS_SCAN].n && err == PS_OK; q++) {
        struct ps_buf state;
        char key[256];
        ps_buf_init(&state, PS_BUF_NO_LIMIT);
        ps_store_part_key(key, sizeof(key), k->c->o->job, q, PS_KEY_BASE, PS_PASS_SCAN);
        err = ps_agg_save(k->agg[PS_PASS_SCAN].part[q], &state, ed);
        if (err == PS_OK) {
            const char *argv[4] = {"SET", key, state.data, "NX"};
            size_t lens[4] = {3, strlen(key), state.len, 2};
            err = ps_store_argv(ps_collect_store(k, q), 4, argv, lens, NULL, ed);
        }
        ps_buf_release(&state);
    }
    return err;
}

static enum ps_err after_scan(struct collector *k, enum ps_pass *next, struct ps_errdetail *ed)
{
    uint64_t *keep = NULL;
    size_t n_keep = 0;
    bool heavy = false;
    enum ps_err err = k->c->o->save_scan ? save_base(k, ed) : PS_OK;

    if (err != PS_OK)
        return err;

    ps_collect_select_patterns(&k->agg[PS_PASS_SCAN], &k->c->o->score, k->c->n_shards,
                               PS_SCORE_PART_TURN, NULL, &k->lists[PS_PASS_CONFIRM], &keep,
                               &n_keep);
    k->lists[PS_PASS_CONFIRM].leads_from = k->lists[PS_PASS_CONFIRM].n;
    ps_log(PS_LOG_INFO, "coordinator", "scan pass done: %zu candidate patterns to confirm",
           k->lists[PS_PASS_CONFIRM].n);
    warn_if_capped(&k->lists[PS_PASS_CONFIRM], "candidate patterns");
    err = publish_heavy(k, &heavy, ed);
    if (err == PS_OK)
        err = close_pass(k, keep, n_keep, ed);
    free(keep);
    if (err == PS_OK && ps_collect_pass_after(PS_PASS_SCAN, k->lists[PS_PASS_CONFIRM].n, heavy,
                                              0) == PS_PASS_CONFIRM) {
        err = record_switch(k, PS_PASS_CONFIRM, NULL, 0, ed);
        *next = PS_PASS_CONFIRM;
    }
    return err;
}

/* The least share that a share p measured on n documents of a sample is likely to come from: the
 * lower end of its Wilson interval at two standard errors. The sample is 8 documents: a templated
 * payload whose full list shares its next words in 17-26 % of its documents showed 5 of 8 with
 * the same ones (benchmark v2's tuning half, gen_accuracy.py's templated attack at 100), which
 * held it back from the list pass at 0.625 against 0.4 + EVIDENCE_SLACK; at two standard errors
 * that is 0.30, while a stock block with the same words after it in 8 of 8 stays at 0.67. */
static double share_at_least(double p, double n)
{
    const double z2 = 4.0;
    double centre, half;

    if (n < 1.0)
        return p;
    centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    half = sqrt(z2 * (p * (1.0 - p) / n + z2 / (4.0 * n * n))) / (1.0 + z2 / n);
    return centre > half ? centre - half : 0.0;
}

/* A specific pattern (min_specific_rate of its documents in role) has its carriers listed too:
 * their number is bounded by its documents in role, so by the attack, never by the corpus. */
void ps_collect_may_flag(const struct ps_patlist *l, const struct ps_aggset *a,
                         const struct ps_score_opts *o, size_t n_shards, struct ps_patlist *out)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct ps_agg_count *n = ps_aggset_count(a, i);
        const struct ps_results_entry *sample;
        struct ps_evidence ev;
        size_t n_sample;
        char *text;
        double rate;
        bool ok;

        if (!ps_score_may_flag(o, n->role, n->total, n->role_shards, n_shards))
            continue;
        ps_aggset_samples(a, i, &sample, &n_sample);
        ps_evidence_measure(sample, n_sample, PS_AGG_SAMPLE_SKETCH, &ev);
        if (ev.kind == PS_EVIDENCE_TEMPLATED) /* over its documents that promote nothing */
            ev.same_next = share_at_least(ev.same_next, (double)n_sample * (1.0 - ev.promo_share));
        text = ps_xstrndup((const char *)l->texts[i].data, l->texts[i].len);
        rate = (double)n->role / (double)n->total;
        ok = n_sample < SAMPLE_MIN || ps_evidence_ok(o, &ev, text, rate, EVIDENCE_SLACK);
        free(text);
        if (ok)
            ps_patlist_add(out, (const char *)l->texts[i].data, l->texts[i].len, (uint32_t)i,
                           rate >= o->min_specific_rate ? PS_PATLIST_CARRIERS : 0);
    }
}

uint8_t *ps_collect_list_shards(const struct ps_patlist *l, const struct ps_aggset *confirm,
                                const struct ps_aggset *leads, size_t n_shards, size_t *len)
{
    uint8_t *bits = ps_xcalloc(n_shards / 8 + 1, 1);

    *len = n_shards / 8 + 1;
    for (size_t i = 0; i < l->n; i++) {
        const struct ps_aggset *from = i < l->leads_from ? confirm : leads;
        const uint32_t *ids;
        size_t n;

        if (!ps_aggset_pattern_shards(from, l->origin[i], l->sample_below[i] != PS_PATLIST_CARRIERS,
                                      &ids, &n)) {
            memset(bits, 0xff, *len);
            break;
        }
        for (size_t j = 0; j < n; j++)
            bits[ids[j] / 8] |= (uint8_t)(1u << (ids[j] % 8));
    }
    return bits;
}

/* The counting passes are over: list the documents of every pattern that may be flagged. */
static enum ps_err plan_list(struct collector *k, enum ps_pass *next, struct ps_errdetail *ed)
{
    struct ps_patlist *l = &k->lists[PS_PASS_LIST];
    const struct ps_score_opts *o = &k->c->o->score;
    size_t n_shards = k->c->n_shards;
    uint8_t *bits;
    size_t len, n_read = 0;
    enum ps_err err;

    ps_patlist_release(l);
    ps_collect_may_flag(&k->lists[PS_PASS_CONFIRM], &k->agg[PS_PASS_CONFIRM], o, n_shards, l);
    l->leads_from = l->n;
    if (k->ran[PS_PASS_LEADS])
        ps_collect_may_flag(&k->lists[PS_PASS_LEADS], &k->agg[PS_PASS_LEADS], o, n_shards, l);
    ps_patlist_seal(l);
    /* no leads here: they would have been counted first */
    if (ps_collect_pass_after(k->pass, 0, false, l->n) != PS_PASS_LIST)
        return PS_OK;
    bits =
        ps_collect_list_shards(l, &k->agg[PS_PASS_CONFIRM], &k->agg[PS_PASS_LEADS], n_shards, &len);
    for (size_t i = 0; i < k->c->n_shards; i++)
        n_read += bits[i / 8] >> (i % 8) & 1;
    ps_log(PS_LOG_INFO, "coordinator", "%zu patterns to list, in %zu of %zu shards", l->n, n_read,
           k->c->n_shards);
    err = record_switch(k, PS_PASS_LIST, bits, len, ed);
    free(bits);
    *next = PS_PASS_LIST;
    return err;
}

void ps_collect_judged(const struct ps_patlist *l, const struct ps_aggset *a,
                       const struct ps_score_opts *o, size_t n_shards, struct ps_patlist *out)
{
    ps_patlist_release(out);
    for (size_t i = 0; i < l->n; i++) {
        const struct ps_agg_count *n = ps_aggset_count(a, i);

        if (ps_score_may_flag(o, n->role, n->total, n->role_shards, n_shards))
            ps_patlist_add(out, (const char *)l->texts[i].data, l->texts[i].len, (uint32_t)i, 0);
    }
    ps_patlist_seal(out);
}

static enum ps_err after_confirm(struct collector *k, enum ps_pass *next, struct ps_errdetail *ed)
{
    uint64_t *keep = NULL;
    size_t n_keep = 0;
    enum ps_err err = PS_OK;

    if (k->c->cluster_log2 != 0) {
        struct ps_patlist judged;

        /* a lead that pass 2 counted but could not judge (a turn named it in a few documents;
         * pass 2 asks no templated or promotional role) is counted again by pass 3 */
        ps_patlist_init(&judged);
        ps_collect_judged(&k->lists[PS_PASS_CONFIRM], &k->agg[PS_PASS_CONFIRM], &k->c->o->score,
                          k->c->n_shards, &judged);
        ps_collect_select_patterns(&k->agg[PS_PASS_CONFIRM], &k->c->o->score, k->c->n_shards,
                                   PS_SCORE_PART_LEAD, &judged, &k->lists[PS_PASS_LEADS], &keep,
                                   &n_keep);
        ps_patlist_release(&judged);
    }
    k->lists[PS_PASS_LEADS].leads_from = 0;
    ps_log(PS_LOG_INFO, "coordinator", "confirm pass done: %zu leads of repeated segments",
           k->lists[PS_PASS_LEADS].n);
    warn_if_capped(&k->lists[PS_PASS_LEADS], "leads");
    err = close_pass(k, keep, n_keep, ed);
    free(keep);
    if (err != PS_OK)
        return err;
    if (ps_collect_pass_after(PS_PASS_CONFIRM, k->lists[PS_PASS_LEADS].n, false, 0) ==
        PS_PASS_LEADS) {
        *next = PS_PASS_LEADS;
        return record_switch(k, PS_PASS_LEADS, NULL, 0, ed);
    }
    return plan_list(k, next, ed);
}

enum ps_pass ps_collect_pass_after(enum ps_pass done, size_t n_selected, bool heavy,
                                   size_t n_to_list)
{
    switch (done) {
    case PS_PASS_SCAN:
        /* heavy cells alone make a confirm pass: its members are the clusters of the report */
        return n_selected > 0 || heavy ? PS_PASS_CONFIRM : PS_PASS_NONE;
    case PS_PASS_CONFIRM:
        if (n_selected > 0)
            return PS_PASS_LEADS;
        return n_to_list > 0 ? PS_PASS_LIST : PS_PASS_NONE;
    case PS_PASS_LEADS:
        return n_to_list > 0 ? PS_PASS_LIST : PS_PASS_NONE;
    default:
        return PS_PASS_NONE;
    }
}

enum ps_err ps_collect_next_pass(struct collector *k, enum ps_pass *next, struct ps_errdetail *ed)
{
    *next = PS_PASS_NONE;
    switch (k->pass) {
    case PS_PASS_SCAN:
        return after_scan(k, next, ed);
    case PS_PASS_CONFIRM:
        return after_confirm(k, next, ed);
    case PS_PASS_LEADS: {
        enum ps_err err = close_pass(k, NULL, 0, ed);
        return err == PS_OK ? plan_list(k, next, ed) : err;
    }
    default:
        return close_pass(k, NULL, 0, ed);
    }
}

struct failed_ctx {
    struct ps_report_failed *v;
    size_t n, cap;
    size_t n_shards;
    uint8_t *seen;
};

static enum ps_err collect_failed(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct failed_ctx *fc = ctx;
    unsigned long id = strtoul(f, NULL, 10);

    (void)fl;
    if (id >= fc->n_shards || fc->seen[id])
        return PS_OK;
    fc->seen[id] = 1;
    if (fc->n == fc->cap) {
        fc->cap = fc->cap ? fc->cap * 2 : 16;
        fc->v = ps_xrealloc(fc->v, fc->cap * sizeof(*fc->v));
    }
    fc->v[fc->n].shard = (uint32_t)id;
    snprintf(fc->v[fc->n].reason, sizeof(fc->v[0].reason), "%.*s", (int)vl, v);
    fc->n++;
    return PS_OK;
}

static int cmp_failed(const void *a, const void *b)
{
    const struct ps_report_failed *x = a, *y = b;

    return (x->shard > y->shard) - (x->shard < y->shard);
}

/* The report is written and asks for attribute files: record the flagged documents by file, the
 * folder, and the switch to the attributes pass (the pass in meta last, as every switch). */
static enum ps_err switch_to_attrs(struct collector *k, const struct ps_attrset *set,
                                   struct ps_errdetail *ed)
{
    const struct coord *c = k->c;
    struct ps_buf rec;
    char key[256];
    const char *argv[3] = {"SET", key, NULL};
    size_t lens[3] = {3, 0, 0};
    enum ps_err err;

    ps_buf_init(&rec, PS_BUF_NO_LIMIT);
    ps_attrset_encode(set, &rec);
    ps_store_key(key, sizeof(key), c->o->job, PS_KEY_ATTRS);
    lens[1] = strlen(key);
    argv[2] = rec.data;
    lens[2] = rec.len;
    err = ps_store_argv(ps_collect_store(k, 0), 3, argv, lens, NULL, ed);
    ps_buf_release(&rec);
    if (err == PS_OK)
        err = ps_store_cmd(ps_collect_store(k, 0), NULL, ed, "HSET", c->k_meta, "attributes",
                           c->attributes_dir, NULL);
    ps_patlist_release(&k->lists[PS_PASS_ATTRS]);
    ps_patlist_init(&k->lists[PS_PASS_ATTRS]);
    if (err == PS_OK)
        err = record_switch(k, PS_PASS_ATTRS, NULL, 0, ed);
    if (err == PS_OK)
        ps_log(PS_LOG_INFO, "coordinator",
               "attributes pass: %zu flagged documents; an attribute file for each of %zu files "
               "under '%s'",
               ps_attrset_n_docs(set), ps_plan_n_files(c->plan), c->attributes_dir);
    return err;
}

int ps_collect_report(struct collector *k, struct ps_report_summary *sum, enum ps_pass *next,
                      struct ps_errdetail *ed)
{
    const struct coord *c = k->c;
    struct ps_report_input in = {0};
    struct ps_attrset *flagged = NULL;
    /* this run switches to the attributes pass; a run in it writes the report again only */
    bool to_attrs = c->attributes_dir != NULL && k->pass != PS_PASS_ATTRS;
    struct failed_ctx fc = {0};
    char failed_key[256];
    enum ps_err err = PS_OK;

    fc.n_shards = c->n_shards;
    fc.seen = ps_xcalloc(c->n_shards + 1, 1);
    /* the attributes pass comes after the report: a report written again at its end (a
     * coordinator restarted in it) is the same report */
    for (unsigned p = PS_PASS_SCAN; p <= PS_PASS_LIST && err == PS_OK; p++) {
        ps_store_pass_key(failed_key, sizeof(failed_key), c->o->job, PS_KEY_FAILED, p);
        err = ps_store_hscan(ps_collect_store(k, 0), failed_key, collect_failed, &fc, ed);
    }
    if (fc.n > 1)
        qsort(fc.v, fc.n, sizeof(*fc.v), cmp_failed);
    in.job = c->o->job;
    in.settings_json = c->settings_json;
    in.since = c->since[0] != '\0' ? c->since : NULL;
    in.since_shards = c->since_shards;
    in.plan = c->plan;
    in.score = &c->o->score;
    in.out_dir = c->o->out_dir;
    in.cluster_min_docs = c->cluster_log2 != 0 ? c->o->cluster_min_docs : 0;
    in.allowlist = c->o->allowlist;
    for (unsigned p = PS_PASS_SCAN; p <= PS_PASS__LAST; p++) {
        in.agg[p] = k->ran[p] ? &k->agg[p] : NULL;
        in.lists[p] = k->ran[p] && p != PS_PASS_SCAN ? &k->lists[p] : NULL;
    }
    in.failed = fc.v;
    in.n_failed = fc.n;
    in.attributes_dir = k->pass == PS_PASS_ATTRS ? c->attrs_dir : c->attributes_dir;
    in.flagged_out = to_attrs ? &flagged : NULL;
    *next = PS_PASS_NONE;
    if (err == PS_OK)
        err = ps_report_write(&in, sum, ed);
    if (err == PS_OK && to_attrs) {
        err = switch_to_attrs(k, flagged, ed);
        if (err == PS_OK)
            *next = PS_PASS_ATTRS;
    }
    ps_attrset_free(flagged);
    free(fc.v);
    free(fc.seen);
    if (err == PS_OK)
        return 0;
    return err == PS_ERR_REDIS ? 4 : 3;
}
