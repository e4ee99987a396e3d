/* scan.c - a shard scan's options, its in-memory aggregation and its commits. Candidate counts
 * are summed per part before anything goes to Redis, so Redis traffic grows with distinct
 * candidates per part, never with documents; and a part ends every opts.part_bytes of input, so
 * the memory does not grow with the shard. Part boundaries depend only on the input (the first
 * document at or past each boundary whose part holds only verified frames), so every attempt at
 * a shard commits the same parts. The reading of a shard (the document loop, parts and the
 * integrity rules) is scan_read.c. */
#include "worker/scan_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/hashsort.h"
#include "common/log.h"
#include "common/minhash.h"
#include "common/partition.h"
#include "common/pass.h"
#include "common/results.h"
#include "common/clsketch.h"
#include "common/u64map.h"
#include "common/utf8.h"
#include "worker/clusters.h"

struct ps_scan_opts ps_scan_opts_default(void)
{
    struct ps_scan_opts o;

    o.reader = ps_reader_opts_default();
    o.detect = ps_detect_opts_default();
    o.max_errors_kept = 1000;
    o.signatures_dir = NULL;
    o.signature_k = 128;
    o.cluster_log2 = 0;
    o.part_bytes = (uint64_t)64 << 20;
    o.partitions = 1;
    return o;
}

static void table_init(struct table *t)
{
    t->v = NULL;
    t->n = t->cap = 0;
    ps_itab_init(&t->idx);
    ps_buf_init(&t->text, PS_BUF_NO_LIMIT);
}

static void table_release(struct table *t)
{
    free(t->v);
    ps_itab_release(&t->idx);
    ps_buf_release(&t->text);
}

enum ps_err ps_scan_opts_check(const struct ps_scan_opts *o, struct ps_errdetail *ed)
{
    unsigned p = o->partitions != 0 ? o->partitions : 1;

    if (ps_reader_opts_check(&o->reader, ed) != PS_OK ||
        ps_detect_opts_check(&o->detect, ed) != PS_OK)
        return PS_ERR_USAGE;
    if (o->max_errors_kept > PS_SCAN_ERRORS_KEPT_MAX) {
        ps_errdetail_set(ed, NULL, 0, "--max-errors-kept %u: at most %u", o->max_errors_kept,
                         PS_SCAN_ERRORS_KEPT_MAX);
        return PS_ERR_USAGE;
    }
    if (p > PS_PARTITION_MAX || (p & (p - 1)) != 0) {
        ps_errdetail_set(ed, NULL, 0, "--partitions %u: a power of two from 1 to %u", p,
                         PS_PARTITION_MAX);
        return PS_ERR_USAGE;
    }
    if (o->cluster_log2 != 0 &&
        (o->cluster_log2 < PS_CLSKETCH_LOG2_MIN || o->cluster_log2 > PS_CLSKETCH_LOG2_MAX)) {
        ps_errdetail_set(ed, NULL, 0,
                         "--cluster-sketch-log2 %u: 0 (sized from the corpus) or %u to %u",
                         o->cluster_log2, PS_CLSKETCH_LOG2_MIN, PS_CLSKETCH_LOG2_MAX);
        return PS_ERR_USAGE;
    }
    if (o->signatures_dir != NULL && o->signatures_dir[0] != '\0' &&
        (o->signature_k < PS_MINHASH_K_MIN || o->signature_k > PS_MINHASH_K_MAX ||
         o->signature_k % 16 != 0)) {
        ps_errdetail_set(ed, NULL, 0, "--signature-k %u: a multiple of 16 from %u to %u",
                         o->signature_k, PS_MINHASH_K_MIN, PS_MINHASH_K_MAX);
        return PS_ERR_USAGE;
    }
    return PS_OK;
}

enum ps_err ps_scan_new(struct ps_scan **out, const struct ps_scan_opts *opts,
                        struct ps_errdetail *ed)
{
    struct ps_scan *s = ps_xcalloc(1, sizeof(*s));
    enum ps_err err;

    s->opts = *opts;
    if (s->opts.part_bytes == 0)
        s->opts.part_bytes = ps_scan_opts_default().part_bytes;
    s->n_partitions = opts->partitions != 0 ? opts->partitions : 1;
    err = ps_scan_opts_check(opts, ed);
    if (err != PS_OK)
        goto fail;
    s->text_field = ps_xstrdup(opts->reader.text_field);
    s->id_field = ps_xstrdup(opts->reader.id_field);
    s->opts.reader.text_field = s->text_field;
    s->opts.reader.id_field = s->id_field;
    err = ps_detect_new(&s->detect, &opts->detect, ed);
    if (err != PS_OK)
        goto fail;
    ps_detect_doc_new(&s->doc);
    if (opts->signatures_dir != NULL && opts->signatures_dir[0] != '\0') {
        /* one-permutation hashing: the same accuracy as K hash functions (docs/minhash.md) at
         * a fraction of the cost, which matters in the worker's hot loop */
        struct ps_minhash_opts mo = ps_minhash_opts_default();
        mo.k = opts->signature_k;
        mo.method = PS_MINHASH_OPH;
        err = ps_minhash_new(&s->minhash, &mo, ed);
        if (err != PS_OK)
            goto fail;
        s->signatures_dir = ps_xstrdup(opts->signatures_dir);
        s->opts.signatures_dir = s->signatures_dir;
        s->sig = ps_xmalloc(mo.k * sizeof(*s->sig));
    }
    if (opts->cluster_log2 != 0) {
        struct ps_clusters_opts co = ps_clusters_opts_default();
        co.sketch_log2 = opts->cluster_log2;
        err = ps_clusters_new(&s->clusters, &co, ed);
        if (err != PS_OK)
            goto fail;
    }
    table_init(&s->cands);
    table_init(&s->leads);
    ps_patset_new(&s->turn_set, SIZE_MAX / 2);
    ps_patset_new(&s->lead_set, SIZE_MAX / 2);
    ps_log(PS_LOG_INFO, "scan", "pattern matcher: %s",
           ps_patset_matcher_name(ps_patset_matcher(s->turn_set)));
    ps_u64map_init(&s->index, SIZE_MAX / 4);
    ps_scan_assoc_init(s);
    s->errors = ps_xcalloc(opts->max_errors_kept ? opts->max_errors_kept : 1, sizeof(*s->errors));
    *out = s;
    return PS_OK;
fail:
    ps_scan_free(s);
    *out = NULL;
    return err;
}

void ps_scan_free(struct ps_scan *s)
{
    if (s == NULL)
        return;
    ps_detect_doc_free(s->doc);
    ps_detect_free(s->detect);
    ps_minhash_free(s->minhash);
    ps_clusters_free(s->clusters);
    free(s->sig);
    free(s->signatures_dir);
    ps_patset_free(s->turn_set);
    ps_patset_free(s->lead_set);
    ps_u64map_release(&s->index);
    ps_scan_assoc_release(s);
    table_release(&s->cands);
    table_release(&s->leads);
    for (unsigned q = 0; q < PS_PARTITION_MAX; q++)
        ps_results_release(&s->out[q]);
    free(s->entries);
    free(s->doc_hits);
    free(s->keys);
    free(s->errors);
    free(s->floor_rank);
    free(s->floor_n);
    free(s->text_field);
    free(s->id_field);
    free(s);
}

static void table_clear(struct table *t)
{
    ps_itab_clear(&t->idx);
    t->n = 0;
    ps_buf_reset(&t->text);
}

/* The entry of `hash`, a new one (counts 0, `text` kept) if it has none yet. */
struct cand *ps_scan_table_get(struct table *t, uint64_t hash, const char *text, size_t text_len)
{
    struct ps_itab_probe p = ps_itab_probe(&t->idx, hash);
    struct cand *c;
    uint32_t i;

    while ((i = ps_itab_next(&t->idx, &p)) != PS_ITAB_NONE)
        if (t->v[i].hash == hash)
            return &t->v[i];
    /* a part holds at most a few million distinct patterns (each costs Redis memory) */
    t->v = ps_itab_push(&t->idx, hash, t->v, &t->cap, sizeof(*t->v));
    c = &t->v[t->n];
    c->hash = hash;
    c->text_off = t->text.len;
    c->text_len = (uint32_t)text_len;
    ps_buf_add(&t->text, text, text_len);
    t->n++;
    return c;
}

/* The entries sorted by hash (owned by the caller), so that equal results make equal blobs
 * whatever the table's history (the table's hashes are distinct). */
static struct cand *table_sorted(const struct table *t)
{
    struct cand *sorted = ps_xmalloc((t->n ? t->n : 1) * sizeof(*sorted));
    struct ps_hash_key *keys = ps_xmalloc((2 * t->n + 1) * sizeof(*keys));

    for (size_t i = 0; i < t->n; i++)
        keys[i] = (struct ps_hash_key){t->v[i].hash, i};
    ps_hash_keys_sort(keys, keys + t->n, t->n);
    for (size_t i = 0; i < t->n; i++)
        sorted[i] = t->v[keys[i].i];
    free(keys);
    return sorted;
}

void ps_scan_keep_error(struct ps_scan *s, const struct ps_errdetail *e)
{
    if (s->n_errors >= s->opts.max_errors_kept)
        return;
    s->errors[s->n_errors].offset = e->offset;
    snprintf(s->errors[s->n_errors].reason, sizeof(s->errors[0].reason), "%s", e->msg);
    s->n_errors++;
}

/* Pass 2: the candidates named where a repeated segment starts, each counted once per document
 * (as pass 1 counts its candidates) in the part's lead table. */
static void note_leads(struct ps_scan *s, const struct ps_detect_leads *leads)
{
    for (size_t i = 0; i < leads->n_candidates; i++) {
        const struct ps_candidate *c = &leads->candidates[i];
        bool dup = false;

        for (size_t j = 0; j < i && !dup; j++)
            dup = leads->candidates[j].hash == c->hash;
        if (!dup)
            ps_scan_table_get(&s->leads, c->hash, c->text, c->text_len)->docs++;
    }
}

static uint64_t pattern_index(const struct ps_scan *s, uint64_t hash)
{
    uint64_t i = 0;

    if (!ps_u64map_get(&s->index, hash, &i))
        ps_bug("hit for a pattern %016" PRIx64 " the lease does not hold", hash);
    return i;
}

/* List pass: does the lease ask for every document holding this hit's pattern (a specific
 * trigger's carriers), in role or not? */
static bool listed_carrier(const struct ps_scan *s, const struct ps_detect_hit *hit)
{
    return s->spec->sample_below != NULL && s->spec->sample_below[pattern_index(s, hit->hash)] != 0;
}

/* List pass: the record of a document with a listed pattern in role, or holding one whose
 * carriers are listed: the evidence of each (in_role false for a carrier without its payload),
 * and a snippet at the first one in role, else at the first carrier. */
static void add_hit(struct ps_scan *s, const struct ps_doc *doc, const struct ps_detect_hit *hits,
                    size_t n_hits)
{
    struct ps_results_hit h = {0};
    size_t b, e, at = SIZE_MAX, carrier_at = SIZE_MAX, n = 0;

    if (n_hits > s->entries_cap) {
        s->entries_cap = n_hits;
        s->entries = ps_xrealloc(s->entries, n_hits * sizeof(*s->entries));
    }
    for (size_t i = 0; i < n_hits; i++) {
        struct ps_results_entry *en;

        if (!hits[i].in_role && !listed_carrier(s, &hits[i]))
            continue;
        if (hits[i].in_role)
            at = hits[i].offset < at ? hits[i].offset : at;
        else
            carrier_at = hits[i].offset < carrier_at ? hits[i].offset : carrier_at;
        en = &s->entries[n++];
        memset(en, 0, sizeof(*en));
        en->pattern = pattern_index(s, hits[i].hash);
        en->at = hits[i].offset;
        en->in_role = hits[i].in_role;
        en->next = hits[i].next;
        if (!en->in_role) {
            ps_detect_carrier(s->doc, &hits[i], &en->glued, &en->next);
            continue;
        }
        en->context = hits[i].context;
        en->right = hits[i].right;
        memcpy(en->sketch, hits[i].continuation, sizeof(en->sketch));
        en->kind = (uint8_t)hits[i].kind;
        en->restates = ps_detect_restates(s->doc, &hits[i]);
    }
    if (at == SIZE_MAX)
        at = carrier_at;
    ps_utf8_snippet(doc->text, doc->text_len, at, SNIPPET_MAX, &b, &e);
    h.offset = doc->offset;
    h.id = doc->id;
    h.id_len = doc->id_len;
    h.snippet = doc->text + b;
    h.snippet_len = e - b;
    h.entries = s->entries;
    h.n_entries = n;
    ps_results_put_hit(&s->out[ps_partition_of_shard(s->spec->shard_id, s->n_partitions)], &h);
}

enum ps_err ps_scan_write_signature(struct ps_scan *s, struct ps_minhash_writer *w,
                                    const struct ps_doc *doc, struct ps_errdetail *ed)
{
    struct ps_minhash_record rec = {0};
    size_t n_shingles = 0;
    enum ps_err err = ps_minhash_text(s->minhash, doc->text, doc->text_len, s->sig, &n_shingles);

    if (err != PS_OK) {
        ps_errdetail_set(ed, s->spec->path, doc->offset, "cannot sign document: %s",
                         ps_strerror(err));
        return err;
    }
    rec.id = doc->id;
    rec.id_len = doc->id_len < PS_MINHASH_ID_MAX ? doc->id_len : PS_MINHASH_ID_MAX;
    rec.kind = PS_MINHASH_SEG_DOC;
    rec.end = doc->text_len;
    rec.n_shingles = n_shingles > UINT32_MAX ? UINT32_MAX : (uint32_t)n_shingles;
    rec.sig = s->sig;
    return ps_minhash_writer_add(w, &rec, ed);
}

/* A member paragraph goes to each partition that holds one of its band keys, with those keys. */
static void put_member(struct ps_scan *s, struct ps_results_member *rm, const uint64_t *keys,
                       size_t n_keys)
{
    if (n_keys > s->keys_cap) {
        s->keys_cap = n_keys;
        s->keys = ps_xrealloc(s->keys, n_keys * sizeof(*s->keys));
    }
    for (unsigned q = 0; q < s->n_partitions; q++) {
        size_t n = 0;
        for (size_t k = 0; k < n_keys; k++)
            if (ps_partition_of_hash(keys[k], s->n_partitions) == q)
                s->keys[n++] = keys[k];
        if (n == 0)
            continue;
        rm->keys = s->keys;
        rm->n_keys = n;
        ps_results_put_member(&s->out[q], rm);
    }
}

/* Pass 1 counts the paragraphs' band keys; pass 2 records each member paragraph. */
enum ps_err ps_scan_cluster_doc(struct ps_scan *s, const struct ps_doc *doc,
                                struct ps_errdetail *ed)
{
    const struct ps_clusters_member *m;
    size_t n;
    enum ps_err err;

    if (s->spec->pass == PS_PASS_SCAN)
        err = ps_clusters_sketch(s->clusters, doc->text, doc->text_len);
    else
        err = ps_clusters_members(s->clusters, doc->text, doc->text_len, &m, &n);
    if (err != PS_OK) {
        ps_errdetail_set(ed, s->spec->path, doc->offset, "cannot sign paragraphs: %s",
                         ps_strerror(err));
        return err;
    }
    if (s->spec->pass == PS_PASS_SCAN)
        return PS_OK;
    for (size_t i = 0; i < n; i++) {
        struct ps_results_member rm = {0};
        size_t b, e;

        ps_utf8_snippet(doc->text, doc->text_len, m[i].begin, SNIPPET_MAX, &b, &e);
        if (b < m[i].begin)
            b = m[i].begin; /* the snippet starts where the paragraph does */
        rm.offset = doc->offset;
        rm.id = doc->id;
        rm.id_len = doc->id_len;
        rm.snippet = doc->text + b;
        rm.snippet_len = e - b;
        put_member(s, &rm, m[i].keys, m[i].n_keys);
    }
    return PS_OK;
}

enum ps_err ps_scan_set_cluster_heavy(struct ps_scan *s, const uint8_t *bitmap, size_t len,
                                      struct ps_errdetail *ed)
{
    if (s->clusters == NULL) {
        ps_errdetail_set(ed, NULL, 0, "clusters are off in this scanner");
        return PS_ERR_USAGE;
    }
    return ps_clusters_set_heavy(s->clusters, bitmap, len, ed);
}

/* A pattern's sample is the PS_RESULTS_SAMPLE_KEEP documents in role of smallest rank (below
 * the lease's bound) in the whole corpus. Once this scanner has sent that many of a pattern,
 * from any shard of the job, a document ranked above all of them cannot be among those: the
 * corpus holds as many ranked below it. Whatever order the shards come in, and whether their
 * attempts were committed or not, the coordinator gets every document of the sample, and far
 * fewer of the others (a lead in role in thousands of documents sent thousands). */
static bool above_floor(const struct ps_scan *s, size_t i, uint64_t rank)
{
    return i < s->floor_patterns && s->floor_n[i] == PS_RESULTS_SAMPLE_KEEP &&
           rank > s->floor_rank[i * PS_RESULTS_SAMPLE_KEEP + PS_RESULTS_SAMPLE_KEEP - 1];
}

/* Rank into pattern i's floor: ascending, distinct, the smallest PS_RESULTS_SAMPLE_KEEP. */
static void floor_add(struct ps_scan *s, size_t i, uint64_t rank)
{
    uint64_t *r;
    uint8_t *n;
    size_t at;

    if (s->floor_patterns < s->spec->n_candidates) {
        size_t want = s->spec->n_candidates;
        free(s->floor_rank);
        free(s->floor_n);
        s->floor_rank = ps_xmalloc(want * PS_RESULTS_SAMPLE_KEEP * sizeof(*s->floor_rank));
        s->floor_n = ps_xcalloc(want, 1);
        s->floor_patterns = want;
    }
    r = &s->floor_rank[i * PS_RESULTS_SAMPLE_KEEP];
    n = &s->floor_n[i];
    at = *n;
    while (at > 0 && r[at - 1] > rank)
        at--;
    if (at >= PS_RESULTS_SAMPLE_KEEP || (at > 0 && r[at - 1] == rank))
        return;
    if (*n == PS_RESULTS_SAMPLE_KEEP)
        (*n)--;
    memmove(&r[at + 1], &r[at], (*n - at) * sizeof(*r));
    r[at] = rank;
    (*n)++;
}

void ps_scan_forget_samples(struct ps_scan *s)
{
    if (s->floor_n != NULL)
        memset(s->floor_n, 0, s->floor_patterns);
}

/* Counting passes: documents with each pattern and in role, and the coordinated sample of the
 * latter (the rank is the document id's hash, the bound comes with the lease). */
static void count_hits(struct ps_scan *s, const struct ps_doc *doc,
                       const struct ps_detect_hit *hits, size_t n_hits)
{
    uint64_t rank = 0;
    bool ranked = false;

    for (size_t i = 0; i < n_hits; i++) {
        struct cand *c = ps_scan_table_get(&s->cands, hits[i].hash, NULL, 0);
        struct ps_results_sample p;
        unsigned q;

        c->total++;
        c->docs += hits[i].in_role;
        if (!hits[i].in_role || s->spec->sample_below == NULL)
            continue;
        if (!ranked) {
            rank = XXH3_64bits(doc->id, doc->id_len);
            ranked = true;
        }
        p = (struct ps_results_sample){.e.pattern = pattern_index(s, hits[i].hash)};
        if (rank >= s->spec->sample_below[p.e.pattern] || above_floor(s, p.e.pattern, rank))
            continue;
        floor_add(s, p.e.pattern, rank);
        q = ps_partition_of_pattern(p.e.pattern, s->n_partitions);
        p.e.pattern = ps_partition_local(p.e.pattern, s->n_partitions);
        p.rank = rank;
        p.e.context = hits[i].context;
        p.e.right = hits[i].right;
        memcpy(p.e.sketch, hits[i].continuation, sizeof(p.e.sketch));
        p.e.kind = (uint8_t)hits[i].kind;
        p.e.in_role = true;
        ps_results_put_sample(&s->out[q], &p);
    }
}

/* One matcher's hits in a document: counted (confirm, leads), or kept for the document's record
 * (list: *to_list when one is in role or its pattern's carriers are listed). */
static void take_hits(struct ps_scan *s, const struct ps_doc *doc, const struct ps_detect_hit *hits,
                      size_t n_hits, bool *to_list)
{
    if (s->spec->pass != PS_PASS_LIST) {
        count_hits(s, doc, hits, n_hits);
        return;
    }
    for (size_t i = 0; i < n_hits; i++)
        *to_list = *to_list || hits[i].in_role || listed_carrier(s, &hits[i]);
    if (s->n_doc_hits + n_hits > s->doc_hits_cap) {
        s->doc_hits_cap = 2 * (s->n_doc_hits + n_hits);
        s->doc_hits = ps_xrealloc(s->doc_hits, s->doc_hits_cap * sizeof(*s->doc_hits));
    }
    if (n_hits > 0) /* no hits: `hits` may be NULL, which memcpy may not take */
        memcpy(s->doc_hits + s->n_doc_hits, hits, n_hits * sizeof(*hits));
    s->n_doc_hits += n_hits;
}

/* Passes 2-4: the turn patterns with the payload tests, the leads with "followed by repeated
 * sentences", the association pairs in a record's prompts; counted (confirm, leads) or recorded
 * (list: documents with a pattern in role or holding a pattern whose carriers are listed). */
static void confirm_doc(struct ps_scan *s, const struct ps_doc *doc)
{
    const struct ps_detect_hit *hits;
    size_t n_hits;
    bool to_list = false;

    s->n_doc_hits = 0;
    if (ps_patset_len(s->turn_set) > 0) {
        ps_detect_confirm(s->detect, s->doc, s->turn_set, NULL, NULL, &hits, &n_hits);
        take_hits(s, doc, hits, n_hits, &to_list);
    }
    if (ps_patset_len(s->lead_set) > 0 && s->clusters != NULL) {
        ps_detect_confirm(s->detect, s->doc, s->lead_set, ps_clusters_sentence_heavy, s->clusters,
                          &hits, &n_hits);
        take_hits(s, doc, hits, n_hits, &to_list);
    }
    n_hits = ps_scan_assoc_hits(s, doc, &hits);
    take_hits(s, doc, hits, n_hits, &to_list);
    if (s->spec->pass == PS_PASS_LIST && to_list)
        add_hit(s, doc, s->doc_hits, s->n_doc_hits);
}

void ps_scan_doc(struct ps_scan *s, const struct ps_doc *doc)
{
    if (s->spec->pass == PS_PASS_ATTRS)
        return; /* the attribute line is written for every reading (ps_scan_write_attrs) */
    ps_detect_prepare(s->doc, doc->text, doc->text_len);
    if (s->spec->pass == PS_PASS_SCAN) {
        struct ps_detect_result res;

        ps_detect_scan(s->detect, s->doc, &res);
        if (s->clusters != NULL)
            ps_detect_sentences(s->detect, s->doc, ps_clusters_sentence_add, s->clusters);
        for (size_t i = 0; i < res.n_candidates; i++) {
            const struct ps_candidate *k = &res.candidates[i];
            ps_scan_table_get(&s->cands, k->hash, k->text, k->text_len)->docs++;
        }
        ps_scan_assoc_name(s, doc);
        return;
    }
    /* the leads and list passes do nothing else with a document: one in which no pattern can
     * occur is not even tokenized (patset.h: the prefilter never misses an occurrence) */
    if ((s->spec->pass == PS_PASS_LEADS || s->spec->pass == PS_PASS_LIST) &&
        !ps_patset_may_occur(s->turn_set, doc->text, doc->text_len) &&
        !ps_patset_may_occur(s->lead_set, doc->text, doc->text_len) &&
        !ps_patset_may_occur(s->assoc.set, doc->text, doc->text_len))
        return;
    confirm_doc(s, doc);
    if (s->spec->pass == PS_PASS_CONFIRM && s->clusters != NULL) {
        struct ps_detect_leads leads;

        ps_detect_leads(s->detect, s->doc, ps_clusters_sentence_heavy, s->clusters, &leads);
        note_leads(s, &leads);
    }
}

/* A new part: empty tables, errors, sketch and blob. */
void ps_scan_begin_part(struct ps_scan *s)
{
    table_clear(&s->cands);
    table_clear(&s->leads);
    s->n_errors = 0;
    if (s->clusters != NULL)
        ps_clusters_begin_shard(s->clusters);
    for (unsigned q = 0; q < s->n_partitions; q++)
        ps_results_begin(&s->out[q], s->spec->pass, s->spec->shard_id, s->part, q);
    s->base = s->stats;
    s->part_frames = 0;
}

/* The lease's patterns: a pattern set for each role test, and their indices; kept from the
 * last shard when the lease names the same list (compiling a set of thousands costs about as
 * much as scanning a shard). */
void ps_scan_load_patterns(struct ps_scan *s, const struct ps_scan_spec *spec)
{
    struct ps_patset *const sets[] = {s->turn_set, s->lead_set, s->assoc.set};
    struct ps_errdetail ed = {0};

    if (spec->patterns_id != 0 && spec->patterns_id == s->loaded_id &&
        spec->pass == s->loaded_pass && spec->leads_from == s->loaded_leads_from &&
        spec->n_candidates == s->loaded_n)
        return;
    s->loaded_id = spec->patterns_id;
    s->loaded_pass = spec->pass;
    s->loaded_leads_from = spec->leads_from;
    s->loaded_n = spec->n_candidates;
    ps_scan_forget_samples(s);
    ps_patset_clear(s->turn_set);
    ps_patset_clear(s->lead_set);
    ps_scan_assoc_clear(s);
    ps_u64map_release(&s->index);
    ps_u64map_init(&s->index, SIZE_MAX / 4);
    for (size_t i = 0; i < spec->n_candidates; i++) {
        const struct ps_scan_pattern *p = &spec->candidates[i];
        struct ps_patset *set = i >= spec->leads_from ? s->lead_set : s->turn_set;
        if (ps_u64map_put(&s->index, XXH3_64bits(p->text, p->len), i) != PS_OK)
            ps_bug("candidate set ceiling");
        if (memchr(p->text, PS_ASSOC_SEP, p->len) != NULL)
            ps_scan_assoc_add(s, p->text, p->len, i);
        else if (ps_patset_add(set, p->text, p->len) != PS_OK)
            ps_bug("candidate set ceiling");
    }
    /* a set Hyperscan refuses is matched by the reference matcher: the same hits, slower (each
     * set is sealed all the same: confirm needs its ranks) */
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if (ps_patset_seal(sets[i], &ed) != PS_OK)
            ps_log(PS_LOG_WARN, "scan", "%s; the reference matcher takes over", ed.msg);
}

const struct ps_reader_stats *ps_scan_stats(const struct ps_scan *s)
{
    return &s->stats;
}

/* Candidates (or leads) to the partition of their hash. */
static void put_cands(struct ps_scan *s, const struct table *t, bool leads)
{
    struct cand *sorted = table_sorted(t);

    for (size_t i = 0; i < t->n; i++) {
        struct ps_results_writer *w =
            &s->out[ps_partition_of_hash(sorted[i].hash, s->n_partitions)];
        struct ps_results_cand c;
        c.hash = sorted[i].hash;
        c.docs = sorted[i].docs;
        c.text = t->text.data + sorted[i].text_off;
        c.text_len = sorted[i].text_len;
        if (leads)
            ps_results_put_lead(w, &c);
        else
            ps_results_put_cand(w, &c);
    }
    free(sorted);
}

/* Counts to the partition of their pattern, by its index there. */
static void put_counts(struct ps_scan *s)
{
    struct cand *sorted = table_sorted(&s->cands);

    for (size_t i = 0; i < s->cands.n; i++) {
        uint64_t pattern = pattern_index(s, sorted[i].hash);
        unsigned q = ps_partition_of_pattern(pattern, s->n_partitions);
        struct ps_results_count k;
        k.pattern = ps_partition_local(pattern, s->n_partitions);
        k.total = sorted[i].total;
        k.role = sorted[i].docs;
        ps_results_put_count(&s->out[q], &k);
    }
    free(sorted);
}

/* The part's blobs, completed: totals and errors (partition 0), and what the pass counts. */
static void finish_blobs(struct ps_scan *s)
{
    struct ps_results_totals t;

    t.docs = s->stats.docs - s->base.docs;
    t.bytes = s->stats.bytes - s->base.bytes;
    t.text_bytes = s->stats.text_bytes - s->base.text_bytes;
    t.errors = s->stats.errors - s->base.errors;
    t.lines_blank = s->stats.lines_blank - s->base.lines_blank;
    ps_results_put_totals(&s->out[0], &t);
    switch (s->spec->pass) {
    case PS_PASS_SCAN:
        for (size_t i = 0; i < s->n_errors; i++) {
            struct ps_results_error e = {s->errors[i].offset, s->errors[i].reason, 0};
            e.reason_len = strlen(e.reason);
            ps_results_put_error(&s->out[0], &e);
        }
        put_cands(s, &s->cands, false);
        for (unsigned q = 0; s->clusters != NULL && q < s->n_partitions; q++) {
            struct ps_results_sketch k;
            ps_clusters_sketch_part(s->clusters, q, s->n_partitions, &k);
            ps_results_put_sketch(&s->out[q], &k);
        }
        break;
    case PS_PASS_CONFIRM:
        put_counts(s);
        put_cands(s, &s->leads, true);
        break;
    case PS_PASS_LEADS:
        put_counts(s);
        break;
    default:
        break;
    }
}

unsigned ps_scan_partitions(const struct ps_scan *s)
{
    return s->n_partitions;
}

void ps_scan_finish_part(struct ps_scan *s)
{
    finish_blobs(s);
}

void ps_scan_build_commit(struct ps_scan *s, const char *job, unsigned partition,
                          struct ps_commit *c, uint64_t disk_bytes)
{
    char progress[256], commits[256], blobs[256], field[32];
    const void *blob;
    size_t len;

    if (s->last)
        snprintf(field, sizeof(field), "%u", s->spec->shard_id);
    else
        snprintf(field, sizeof(field), "%u.%u", s->spec->shard_id, s->part);
    ps_store_part_key(commits, sizeof(commits), job, partition, PS_KEY_COMMITS, s->spec->pass);
    ps_store_part_key(blobs, sizeof(blobs), job, partition, PS_KEY_BLOB, s->spec->pass);
    ps_commit_reset(c, commits, field);
    if (partition == 0) {
        ps_store_key(progress, sizeof(progress), job, PS_KEY_PROGRESS);
        ps_commit_hincrby(c, progress, "docs_done", 9, (int64_t)(s->stats.docs - s->base.docs));
        if (s->spec->pass == PS_PASS_SCAN)
            ps_commit_hincrby(c, progress, "errors", 6,
                              (int64_t)(s->stats.errors - s->base.errors));
        if (s->last) {
            ps_commit_hincrby(c, progress, "shards_done", 11, 1);
            ps_commit_hincrby(c, progress, "bytes_done", 10, (int64_t)disk_bytes);
        }
    }
    blob = ps_scan_blob(s, partition, &len);
    ps_commit_hsetnx(c, blobs, field, strlen(field), blob, len);
}

const void *ps_scan_blob(struct ps_scan *s, unsigned partition, size_t *len)
{
    return ps_results_data(&s->out[partition], len);
}
