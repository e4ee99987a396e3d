/* scan.c - a shard's scan loop and its in-memory aggregation. Candidate counts are summed per
 * shard before anything goes to Redis, so Redis traffic grows with distinct candidates per
 * shard, never with documents. */
#include "worker/scan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/minhash.h"
#include "common/utf8.h"
#include "worker/clusters.h"

/* report progress (heartbeats, shutdown checks) at least this often */
#define PROGRESS_EVERY_BYTES (4u << 20)
#define SNIPPET_MAX          160

struct cand {
    uint64_t hash;
    uint32_t docs;  /* pass 1: anomalous documents with it; leads: documents where it leads a
                       repeated segment; passes 2-3: documents with it in role */
    uint32_t total; /* passes 2-3: documents containing it */
    size_t text_off;
    uint32_t text_len;
    bool used;
};

/* Patterns of one shard and their counts: open addressing, power-of-two size, texts in an
 * arena. Aggregated per shard so that Redis traffic grows with distinct patterns, not with
 * documents. */
struct table {
    struct cand *slots;
    size_t cap, n;
    struct ps_buf text;
};

struct kept_error {
    uint64_t offset;
    char reason[200];
};

struct ps_scan {
    struct ps_scan_opts opts;
    char *text_field, *id_field, *signatures_dir;
    struct ps_detect *detect;
    struct ps_detect_doc *doc;    /* the document the detector's stages share */
    struct ps_minhash *minhash;   /* with signatures only */
    struct ps_clusters *clusters; /* with clusters only */
    struct ps_buf members;        /* pass 2: cluster member lines */
    size_t *member_offs;
    size_t n_members, members_cap;
    uint32_t *sig;
    struct ps_patset *confirm_set;
    struct table cands; /* pass 1 candidates, or confirm counts (passes 2-3) */
    struct table leads; /* pass 2: candidates where repeated segments start */
    struct kept_error *errors;
    size_t n_errors;
    struct ps_buf hits; /* JSON documents, one after another */
    size_t *hit_offs;   /* start of each hit; hit i ends where hit i+1 starts */
    size_t n_hits, hits_cap;
    struct ps_reader_stats stats;
    const char *path;
};

struct ps_scan_opts ps_scan_opts_default(void)
{
    struct ps_scan_opts o;

    o.reader = ps_reader_opts_default();
    o.detect = ps_detect_opts_default();
    o.max_errors_kept = 1000;
    o.signatures_dir = NULL;
    o.signature_k = 128;
    o.cluster_log2 = 0;
    return o;
}

static void table_init(struct table *t)
{
    t->cap = 1024;
    t->n = 0;
    t->slots = ps_xcalloc(t->cap, sizeof(*t->slots));
    ps_buf_init(&t->text, SIZE_MAX / 2);
}

static void table_release(struct table *t)
{
    free(t->slots);
    ps_buf_release(&t->text);
}

enum ps_err ps_scan_new(struct ps_scan **out, const struct ps_scan_opts *opts,
                        struct ps_errdetail *ed)
{
    struct ps_scan *s = ps_xcalloc(1, sizeof(*s));
    enum ps_err err;

    s->opts = *opts;
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
    ps_buf_init(&s->members, SIZE_MAX / 2);
    if (opts->cluster_log2 != 0) {
        struct ps_clusters_opts co = ps_clusters_opts_default();
        co.sketch_log2 = opts->cluster_log2;
        err = ps_clusters_new(&s->clusters, &co, ed);
        if (err != PS_OK)
            goto fail;
    }
    table_init(&s->cands);
    table_init(&s->leads);
    ps_buf_init(&s->hits, SIZE_MAX / 2);
    ps_patset_new(&s->confirm_set, SIZE_MAX / 2);
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
    ps_buf_release(&s->members);
    free(s->member_offs);
    free(s->sig);
    free(s->signatures_dir);
    ps_patset_free(s->confirm_set);
    table_release(&s->cands);
    table_release(&s->leads);
    ps_buf_release(&s->hits);
    free(s->hit_offs);
    free(s->errors);
    free(s->text_field);
    free(s->id_field);
    free(s);
}

static void table_clear(struct table *t)
{
    memset(t->slots, 0, t->cap * sizeof(*t->slots));
    t->n = 0;
    ps_buf_reset(&t->text);
}

static struct cand *table_slot(struct table *t, uint64_t hash)
{
    size_t mask = t->cap - 1, i = (size_t)(hash ^ (hash >> 29)) & mask;

    while (t->slots[i].used && t->slots[i].hash != hash)
        i = (i + 1) & mask;
    return &t->slots[i];
}

static void table_grow(struct table *t)
{
    struct cand *old = t->slots;
    size_t old_cap = t->cap;

    t->cap *= 2;
    t->slots = ps_xcalloc(t->cap, sizeof(*t->slots));
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            *table_slot(t, old[i].hash) = old[i];
    free(old);
}

static struct cand *table_get(struct table *t, uint64_t hash, const char *text, size_t text_len)
{
    struct cand *c;

    if ((t->n + 1) * 4 > t->cap * 3)
        table_grow(t);
    c = table_slot(t, hash);
    if (!c->used) {
        c->used = true;
        c->hash = hash;
        c->text_off = t->text.len;
        c->text_len = (uint32_t)text_len;
        if (text_len > 0 && ps_buf_append(&t->text, text, text_len) != PS_OK)
            ps_bug("candidate text arena ceiling");
        t->n++;
    }
    return c;
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;

    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* The entries sorted by hash (owned by the caller), so that equal results make equal digests
 * whatever the table's history. */
static struct cand *table_sorted(const struct table *t)
{
    struct cand *sorted = ps_xmalloc((t->n ? t->n : 1) * sizeof(*sorted));
    size_t n = 0;

    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used)
            sorted[n++] = t->slots[i];
    qsort(sorted, n, sizeof(*sorted), cmp_cand);
    return sorted;
}

static void keep_error(struct ps_scan *s, const struct ps_errdetail *e)
{
    if (s->n_errors >= s->opts.max_errors_kept)
        return;
    s->errors[s->n_errors].offset = e->offset;
    snprintf(s->errors[s->n_errors].reason, sizeof(s->errors[0].reason), "%s", e->msg);
    s->n_errors++;
}

/* Pass 2: the candidates named where a repeated segment starts, each counted once per document
 * (as pass 1 counts its candidates) in the shard's lead table. */
static void note_leads(struct ps_scan *s, const struct ps_detect_leads *leads)
{
    for (size_t i = 0; i < leads->n_candidates; i++) {
        const struct ps_candidate *c = &leads->candidates[i];
        bool dup = false;

        for (size_t j = 0; j < i && !dup; j++)
            dup = leads->candidates[j].hash == c->hash;
        if (!dup)
            table_get(&s->leads, c->hash, c->text, c->text_len)->docs++;
    }
}

static void append_entry(struct ps_buf *b, bool *first, const struct ps_detect_hit *h)
{
    ps_buf_appendf(b, "%s%016" PRIx64 ":%016" PRIx64 ":", *first ? "" : ",", h->hash, h->context);
    for (size_t k = 0; k < PS_DETECT_SKETCH; k++)
        ps_buf_appendf(b, "%08" PRIx32, h->continuation[k]);
    ps_buf_appendf(b, ":%x:%016" PRIx64, h->kind, h->right);
    *first = false;
}

/* One line per document with a pattern in role. */
static void add_hit(struct ps_scan *s, const struct ps_doc *doc, const struct ps_detect_hit *hits,
                    size_t n_hits)
{
    size_t b, e, at = SIZE_MAX;
    bool first = true;

    if (s->n_hits == s->hits_cap) {
        s->hits_cap = s->hits_cap ? s->hits_cap * 2 : 64;
        s->hit_offs = ps_xrealloc(s->hit_offs, s->hits_cap * sizeof(*s->hit_offs));
    }
    s->hit_offs[s->n_hits++] = s->hits.len;
    /* the snippet shows the first trigger in role and the start of what follows it */
    for (size_t i = 0; i < n_hits; i++)
        if (hits[i].in_role && hits[i].offset < at)
            at = hits[i].offset;
    ps_utf8_snippet(doc->text, doc->text_len, at, SNIPPET_MAX, &b, &e);
    /* "hash:context:sketch:kind:right,...<TAB>offset<TAB>file<TAB>id<TAB>snippet", strings
     * JSON-encoded so that they hold no raw tab and the report copies them as they are */
    for (size_t i = 0; i < n_hits; i++)
        if (hits[i].in_role)
            append_entry(&s->hits, &first, &hits[i]);
    ps_buf_appendf(&s->hits, "\t%" PRIu64 "\t", doc->offset);
    ps_json_append_string(&s->hits, s->path, strlen(s->path));
    ps_buf_appends(&s->hits, "\t");
    ps_json_append_string(&s->hits, doc->id, doc->id_len);
    ps_buf_appends(&s->hits, "\t");
    ps_json_append_string(&s->hits, doc->text + b, e - b);
}

static enum ps_err write_signature(struct ps_scan *s, struct ps_minhash_writer *w,
                                   const struct ps_doc *doc, struct ps_errdetail *ed)
{
    struct ps_minhash_record rec = {0};
    size_t n_shingles = 0;
    enum ps_err err = ps_minhash_text(s->minhash, doc->text, doc->text_len, s->sig, &n_shingles);

    if (err != PS_OK) {
        ps_errdetail_set(ed, s->path, doc->offset, "cannot sign document: %s", ps_strerror(err));
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

/* Pass 1 counts the paragraphs' band keys; pass 2 writes one line per member paragraph:
 * "key,key,... TAB shard TAB offset TAB "file" TAB "id" TAB "snippet"" (JSON strings). */
static enum ps_err cluster_doc(struct ps_scan *s, const struct ps_scan_spec *spec,
                               const struct ps_doc *doc, struct ps_errdetail *ed)
{
    const struct ps_clusters_member *m;
    size_t n;
    enum ps_err err;

    if (spec->pass == 1)
        err = ps_clusters_sketch(s->clusters, doc->text, doc->text_len);
    else
        err = ps_clusters_members(s->clusters, doc->text, doc->text_len, &m, &n);
    if (err != PS_OK) {
        ps_errdetail_set(ed, s->path, doc->offset, "cannot sign paragraphs: %s", ps_strerror(err));
        return err;
    }
    if (spec->pass == 1)
        return PS_OK;
    for (size_t i = 0; i < n; i++) {
        size_t b, e;

        if (s->n_members == s->members_cap) {
            s->members_cap = s->members_cap ? s->members_cap * 2 : 64;
            s->member_offs = ps_xrealloc(s->member_offs, s->members_cap * sizeof(size_t));
        }
        s->member_offs[s->n_members++] = s->members.len;
        for (size_t k = 0; k < m[i].n_keys; k++)
            ps_buf_appendf(&s->members, "%s%016" PRIx64, k ? "," : "", m[i].keys[k]);
        ps_buf_appendf(&s->members, "\t%u\t%" PRIu64 "\t", spec->shard_id, doc->offset);
        ps_json_append_string(&s->members, s->path, strlen(s->path));
        ps_buf_appends(&s->members, "\t");
        ps_json_append_string(&s->members, doc->id, doc->id_len);
        ps_buf_appends(&s->members, "\t");
        ps_utf8_snippet(doc->text, doc->text_len, m[i].begin, SNIPPET_MAX, &b, &e);
        if (b < m[i].begin)
            b = m[i].begin; /* the snippet starts where the paragraph does */
        ps_json_append_string(&s->members, doc->text + b, e - b);
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

static void scan_doc(struct ps_scan *s, const struct ps_scan_spec *spec, const struct ps_doc *doc)
{
    const struct ps_detect_hit *hits;
    size_t n_hits;
    bool any_role = false;

    ps_detect_prepare(s->doc, doc->text, doc->text_len);
    if (spec->pass == 1) {
        struct ps_detect_result res;

        ps_detect_scan(s->detect, s->doc, &res);
        if (s->clusters != NULL)
            ps_detect_sentences(s->detect, s->doc, ps_clusters_sentence_add, s->clusters);
        for (size_t i = 0; i < res.n_candidates; i++) {
            const struct ps_candidate *k = &res.candidates[i];
            table_get(&s->cands, k->hash, k->text, k->text_len)->docs++;
        }
        return;
    }
    /* pass 3 asks, for each occurrence, whether repeated sentences follow */
    ps_detect_confirm(s->detect, s->doc, s->confirm_set,
                      spec->pass == 3 && s->clusters != NULL ? ps_clusters_sentence_heavy : NULL,
                      s->clusters, &hits, &n_hits);
    for (size_t i = 0; i < n_hits; i++) {
        struct cand *c = table_get(&s->cands, hits[i].hash, NULL, 0);
        c->total++;
        if (hits[i].in_role) {
            c->docs++;
            any_role = true;
        }
    }
    if (any_role)
        add_hit(s, doc, hits, n_hits);
    if (spec->pass == 2 && s->clusters != NULL) {
        struct ps_detect_leads leads;

        ps_detect_leads(s->detect, s->doc, ps_clusters_sentence_heavy, s->clusters, &leads);
        note_leads(s, &leads);
    }
}

enum ps_err ps_scan_shard(struct ps_scan *s, const struct ps_scan_spec *spec,
                          ps_scan_progress_fn fn, void *ctx, struct ps_errdetail *ed)
{
    struct ps_reader *r = NULL;
    struct ps_minhash_writer *sigw = NULL;
    enum ps_err err;
    uint64_t next_progress = PROGRESS_EVERY_BYTES;

    table_clear(&s->cands);
    table_clear(&s->leads);
    s->n_errors = 0;
    s->n_members = 0;
    ps_buf_reset(&s->members);
    if (s->clusters != NULL)
        ps_clusters_begin_shard(s->clusters);
    s->n_hits = 0;
    ps_buf_reset(&s->hits);
    memset(&s->stats, 0, sizeof(s->stats));
    s->path = spec->path;
    if (spec->pass >= 2) {
        ps_patset_clear(s->confirm_set);
        for (size_t i = 0; i < spec->n_candidates; i++)
            if (ps_patset_add(s->confirm_set, spec->candidates[i].text, spec->candidates[i].len) !=
                PS_OK)
                ps_bug("candidate set ceiling");
    }
    err = ps_reader_open(&r, spec->path, spec->begin, spec->end, &s->opts.reader, ed);
    if (err != PS_OK)
        return err;
    if (spec->pass == 1 && s->minhash != NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/shard-%06u.sig", s->signatures_dir, spec->shard_id);
        err = ps_minhash_writer_open(&sigw, path, s->minhash, 3, ed);
        if (err != PS_OK)
            goto done;
    }
    for (;;) {
        struct ps_doc doc;
        bool has_doc;

        err = ps_reader_next(r, &doc, &has_doc);
        if (err == PS_OK && !has_doc)
            break;
        if (err == PS_ERR_PARSE || err == PS_ERR_LIMIT) {
            keep_error(s, ps_reader_last_error(r));
            continue;
        }
        if (err != PS_OK) {
            /* a corrupt or truncated stream ends the shard; what came before it stands */
            keep_error(s, ps_reader_last_error(r));
            break;
        }
        scan_doc(s, spec, &doc);
        if (s->clusters != NULL && (err = cluster_doc(s, spec, &doc, ed)) != PS_OK)
            goto done;
        if (sigw != NULL && (err = write_signature(s, sigw, &doc, ed)) != PS_OK)
            goto done;
        if (fn != NULL && ps_reader_stats(r)->bytes >= next_progress) {
            next_progress = ps_reader_stats(r)->bytes + PROGRESS_EVERY_BYTES;
            if (!fn(ctx, ps_reader_stats(r)->bytes, ps_reader_stats(r)->docs)) {
                ps_errdetail_set(ed, spec->path, 0, "shard abandoned");
                err = PS_ERR_TIMEOUT;
                goto done;
            }
        }
    }
    err = PS_OK;
    s->stats = *ps_reader_stats(r);
    if (sigw != NULL) {
        err = ps_minhash_writer_close(sigw, ed);
        sigw = NULL;
    }
done:
    ps_minhash_writer_free(sigw);
    ps_reader_free(r);
    return err;
}

const struct ps_reader_stats *ps_scan_stats(const struct ps_scan *s)
{
    return &s->stats;
}

/* Candidates of the shard (pass 1) or leads (pass 2): documents per pattern, one shard each,
 * and the texts (the first shard to name a pattern writes it). */
static void commit_counts(struct ps_commit *c, const char *job, const char *docs_key,
                          const char *shards_key, const struct table *t, const struct cand *sorted,
                          size_t n)
{
    char k1[256], k2[256], k3[256], hex[17];

    ps_store_key(k1, sizeof(k1), job, docs_key);
    ps_store_key(k2, sizeof(k2), job, shards_key);
    ps_store_key(k3, sizeof(k3), job, PS_KEY_CAND_TEXT);
    for (size_t i = 0; i < n; i++) {
        snprintf(hex, sizeof(hex), "%016" PRIx64, sorted[i].hash);
        ps_commit_hincrby(c, k1, hex, 16, sorted[i].docs);
        ps_commit_hincrby(c, k2, hex, 16, 1);
        ps_commit_hsetnx(c, k3, hex, 16, t->text.data + sorted[i].text_off, sorted[i].text_len);
    }
}

enum ps_err ps_scan_build_commit(struct ps_scan *s, const char *job, uint32_t pass,
                                 uint32_t shard_id, uint64_t disk_bytes, struct ps_commit *c,
                                 struct ps_errdetail *ed)
{
    char progress[256], totals[256], k1[256], k2[256], k3[256], hex[17];
    const struct ps_reader_stats *st = &s->stats;
    struct cand *sorted = table_sorted(&s->cands);
    size_t n = s->cands.n;

    ps_store_key(progress, sizeof(progress), job, PS_KEY_PROGRESS);
    ps_store_pass_key(totals, sizeof(totals), job, PS_KEY_TOTALS, pass);
    ps_commit_hincrby(c, progress, "shards_done", 11, 1);
    ps_commit_hincrby(c, progress, "docs_done", 9, (int64_t)st->docs);
    ps_commit_hincrby(c, progress, "bytes_done", 10, (int64_t)disk_bytes);
    ps_commit_hincrby(c, totals, "shards", 6, 1);
    ps_commit_hincrby(c, totals, "docs", 4, (int64_t)st->docs);
    ps_commit_hincrby(c, totals, "bytes", 5, (int64_t)st->bytes);
    ps_commit_hincrby(c, totals, "text_bytes", 10, (int64_t)st->text_bytes);
    ps_commit_hincrby(c, totals, "errors", 6, (int64_t)st->errors);

    if (pass == 1) {
        char errors[256];

        ps_commit_hincrby(c, progress, "errors", 6, (int64_t)st->errors);
        commit_counts(c, job, PS_KEY_CAND_DOCS, PS_KEY_CAND_SHARDS, &s->cands, sorted, n);
        ps_store_key(errors, sizeof(errors), job, PS_KEY_ERRORS);
        for (size_t i = 0; i < s->n_errors; i++) {
            struct ps_buf line;
            ps_buf_init(&line, SIZE_MAX / 2);
            ps_buf_appendf(&line, "%" PRIu64 "\t", s->errors[i].offset);
            ps_json_append_string(&line, s->path, strlen(s->path));
            ps_buf_appends(&line, "\t");
            ps_json_append_string(&line, s->errors[i].reason, strlen(s->errors[i].reason));
            ps_commit_rpush(c, errors, line.data, line.len);
            ps_buf_release(&line);
        }
    } else {
        /* pass 2 counts the confirm candidates, pass 3 the leads, each under keys of its own */
        ps_store_pass_key(k1, sizeof(k1), job, PS_KEY_CONFIRM_TOTAL, pass);
        ps_store_pass_key(k2, sizeof(k2), job, PS_KEY_CONFIRM_ROLE, pass);
        ps_store_pass_key(k3, sizeof(k3), job, PS_KEY_CONFIRM_RSH, pass);
        for (size_t i = 0; i < n; i++) {
            snprintf(hex, sizeof(hex), "%016" PRIx64, sorted[i].hash);
            ps_commit_hincrby(c, k1, hex, 16, sorted[i].total);
            if (sorted[i].docs > 0) {
                ps_commit_hincrby(c, k2, hex, 16, sorted[i].docs);
                ps_commit_hincrby(c, k3, hex, 16, 1);
            }
        }
        if (pass == 2) {
            struct cand *leads = table_sorted(&s->leads);
            commit_counts(c, job, PS_KEY_LEAD_DOCS, PS_KEY_LEAD_SHARDS, &s->leads, leads,
                          s->leads.n);
            free(leads);
        }
        ps_store_key(k1, sizeof(k1), job, PS_KEY_HITS);
        for (size_t i = 0; i < s->n_hits; i++) {
            size_t b = s->hit_offs[i];
            size_t e = i + 1 < s->n_hits ? s->hit_offs[i + 1] : s->hits.len;
            ps_commit_rpush(c, k1, s->hits.data + b, e - b);
        }
    }
    free(sorted);
    if (s->clusters != NULL && pass == 1) {
        const void *blob;
        size_t blob_len;
        char field[16];
        enum ps_err err = ps_clusters_sketch_blob(s->clusters, &blob, &blob_len, ed);

        if (err != PS_OK)
            return err;
        snprintf(field, sizeof(field), "%u", shard_id);
        ps_store_key(k1, sizeof(k1), job, PS_KEY_CLUSTER_SKETCH);
        ps_commit_hsetnx(c, k1, field, strlen(field), blob, blob_len);
    } else if (s->clusters != NULL) {
        ps_store_key(k1, sizeof(k1), job, PS_KEY_CLUSTER_MEMBERS);
        for (size_t i = 0; i < s->n_members; i++) {
            size_t b = s->member_offs[i];
            size_t e = i + 1 < s->n_members ? s->member_offs[i + 1] : s->members.len;
            ps_commit_rpush(c, k1, s->members.data + b, e - b);
        }
    }
    return PS_OK;
}
