/* collect.c - the collector's records in Redis: fetching a finished shard's results blobs from
 * every partition and merging them, each partition's checkpoint (its aggregate, saved with the
 * deletion of the blobs it now holds in one transaction on its own server), the pattern lists,
 * and picking a job up where it was. Partition q lives on endpoint q % n (common/partition.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/clsketch.h"
#include "common/log.h"
#include "coordinator/collect_internal.h"

/* Blob bytes a partition merges between its checkpoints: at least MIN, and at least a SHAREth of
 * its checkpoint, so that Redis holds a partition's checkpoint and a third of it in blobs at
 * most (blobs are merged as they come), and the checkpoints written add up to at most three
 * times the blobs. */
#define CHECKPOINT_MIN_BYTES ((size_t)128 << 10)
#define CHECKPOINT_SHARE     3
#define PARTS_BATCH          16 /* blob fields asked for in one HMGET */

struct ps_store *ps_collect_store(const struct collector *k, unsigned q)
{
    return k->stores[q % k->n_stores];
}

static void part_key(const struct collector *k, char *dst, size_t cap, unsigned q, const char *base,
                     unsigned pass)
{
    ps_store_part_key(dst, cap, k->c->o->job, q, base, pass);
}

static void grow_parts(struct collector *k, size_t n)
{
    if (n <= k->parts_cap)
        return;
    k->parts = ps_xrealloc(k->parts, n * 2 * sizeof(*k->parts));
    for (size_t i = k->parts_cap; i < n * 2; i++)
        ps_buf_init(&k->parts[i], PS_BUF_NO_LIMIT);
    k->parts_cap = n * 2;
}

/* Append one HMGET reply element to parts[*n] (growing); false when the field is missing. */
static bool take_part(struct collector *k, const struct ps_store_reply *r, size_t i, size_t *n,
                      size_t *bytes)
{
    size_t len = 0;
    const char *v =
        i < ps_store_reply_n(r) ? ps_store_reply_str(ps_store_reply_at(r, i), &len) : NULL;

    if (v == NULL)
        return false;
    grow_parts(k, *n + 1);
    ps_buf_reset(&k->parts[*n]);
    ps_buf_add(&k->parts[*n], v, len);
    *bytes += len;
    (*n)++;
    return true;
}

/* All parts of a shard's results in partition q into k->parts: "<s>.0", "<s>.1", ... (the parts
 * before the last, if any), then "<s>" (the last part). */
static enum ps_err fetch_parts(struct collector *k, unsigned q, uint32_t shard, size_t *n_parts,
                               size_t *bytes, struct ps_errdetail *ed)
{
    char blob_key[256], fields[PARTS_BATCH + 1][32];
    const char *argv[PARTS_BATCH + 3];
    size_t lens[PARTS_BATCH + 3], n = 0;
    struct ps_buf last;
    enum ps_err err = PS_OK;
    bool have_last = false, more = true;

    part_key(k, blob_key, sizeof(blob_key), q, PS_KEY_BLOB, k->pass);
    *bytes = 0;
    ps_buf_init(&last, PS_BUF_NO_LIMIT);
    for (uint32_t first = 0; more && err == PS_OK; first += PARTS_BATCH) {
        struct ps_store_reply *r;
        size_t m = 0, got = 0;

        if (first == 0)
            snprintf(fields[m++], sizeof(fields[0]), "%u", shard);
        for (uint32_t p = first; p < first + PARTS_BATCH; p++)
            snprintf(fields[m++], sizeof(fields[0]), "%u.%u", shard, p);
        argv[0] = "HMGET";
        lens[0] = 5;
        argv[1] = blob_key;
        lens[1] = strlen(blob_key);
        for (size_t i = 0; i < m; i++) {
            argv[2 + i] = fields[i];
            lens[2 + i] = strlen(fields[i]);
        }
        err = ps_store_argv(ps_collect_store(k, q), (int)(m + 2), argv, lens, &r, ed);
        if (err != PS_OK)
            break;
        if (first == 0) {
            size_t len = 0;
            const char *v =
                ps_store_reply_n(r) > 0 ? ps_store_reply_str(ps_store_reply_at(r, 0), &len) : NULL;
            have_last = v != NULL;
            if (have_last) {
                ps_buf_add(&last, v, len);
                *bytes += len;
            }
        }
        for (size_t i = first == 0 ? 1 : 0; i < m && take_part(k, r, i, &n, bytes); i++)
            got++;
        more = got == PARTS_BATCH;
        ps_store_reply_free(r);
    }
    if (err == PS_OK && !have_last) {
        ps_errdetail_set(ed, NULL, 0, "no results blob for shard %u of pass %u in partition %u",
                         shard, k->pass, q);
        err = PS_ERR_PROTO;
    }
    if (err == PS_OK) {
        grow_parts(k, n + 1);
        ps_buf_reset(&k->parts[n]);
        ps_buf_add(&k->parts[n], last.data, last.len);
        *n_parts = n + 1;
    }
    ps_buf_release(&last);
    return err;
}

static void note_pending(struct collector *k, unsigned q, uint32_t shard, size_t n_parts,
                         size_t bytes)
{
    struct partition_state *p = &k->partitions[q];

    if (p->n_pending == p->pending_cap) {
        p->pending_cap = p->pending_cap ? p->pending_cap * 2 : 64;
        p->pending = ps_xrealloc(p->pending, p->pending_cap * sizeof(*p->pending));
    }
    p->pending[p->n_pending].shard = shard;
    p->pending[p->n_pending].parts = (uint32_t)(n_parts - 1);
    p->n_pending++;
    p->pending_bytes += bytes;
}

/* Merge one finished shard of the current pass into each partition that has not merged it. */
enum ps_err ps_collect_merge_shard(struct collector *k, uint32_t shard, struct ps_errdetail *ed)
{
    struct ps_aggset *set = &k->agg[k->pass];
    uint64_t t0 = ps_clock_now_ms();
    bool any = false;

    for (unsigned q = 0; q < set->n; q++) {
        const void **ptrs;
        size_t *lens, n = 0, bytes = 0;
        bool merged;
        enum ps_err err;

        if (ps_agg_merged(set->part[q], shard))
            continue;
        err = fetch_parts(k, q, shard, &n, &bytes, ed);
        if (err != PS_OK)
            return err;
        ptrs = ps_xmalloc(n * sizeof(*ptrs));
        lens = ps_xmalloc(n * sizeof(*lens));
        for (size_t i = 0; i < n; i++) {
            ptrs[i] = k->parts[i].data;
            lens[i] = k->parts[i].len;
        }
        err = ps_agg_merge(set->part[q], ptrs, lens, n, &merged, ed);
        free(ptrs);
        free(lens);
        if (err != PS_OK)
            return err;
        if (merged) {
            note_pending(k, q, shard, n, bytes); /* its blobs go with the next checkpoint */
            k->blob_bytes += bytes;
            any = true;
        }
    }
    k->n_merges += any;
    k->merge_ms += ps_clock_now_ms() - t0;
    return PS_OK;
}

/* HDEL blob_key and the fields of the blobs partition q merged since its last checkpoint, as
 * argv (owned by the caller: free argv and lens; names holds the strings). */
static size_t blob_fields(const struct partition_state *p, const char *blob_key,
                          struct ps_buf *names, const char ***argv, size_t **lens)
{
    size_t n = 2, a = 0;

    for (size_t i = 0; i < p->n_pending; i++) {
        n += 1 + p->pending[i].parts;
        ps_buf_addf(names, "%u", p->pending[i].shard);
        ps_buf_add(names, "", 1);
        for (uint32_t j = 0; j < p->pending[i].parts; j++) {
            ps_buf_addf(names, "%u.%u", p->pending[i].shard, j);
            ps_buf_add(names, "", 1);
        }
    }
    *argv = ps_xmalloc(n * sizeof(**argv));
    *lens = ps_xmalloc(n * sizeof(**lens));
    (*argv)[a] = "HDEL";
    (*lens)[a++] = 4;
    (*argv)[a] = blob_key;
    (*lens)[a++] = strlen(blob_key);
    for (const char *s = names->data; s != NULL && s < names->data + names->len;
         s += strlen(s) + 1) {
        (*argv)[a] = s;
        (*lens)[a++] = strlen(s);
    }
    return a;
}

/* Save partition q's aggregate and delete the blobs it now holds, in one transaction on its
 * server: a crash leaves either the old checkpoint with the blobs or the new one without them. */
static enum ps_err checkpoint_part(struct collector *k, unsigned q, struct ps_errdetail *ed)
{
    struct partition_state *p = &k->partitions[q];
    struct ps_buf state, names;
    const char **hdel;
    size_t *hdel_lens, a;
    char ckpt_key[256], blob_key[256];
    uint64_t t0 = ps_clock_now_ms();
    enum ps_err err;

    ps_buf_init(&state, PS_BUF_NO_LIMIT);
    err = ps_agg_save(k->agg[k->pass].part[q], &state, ed);
    if (err != PS_OK) {
        ps_buf_release(&state);
        return err;
    }
    part_key(k, ckpt_key, sizeof(ckpt_key), q, PS_KEY_CHECKPOINT, k->pass);
    part_key(k, blob_key, sizeof(blob_key), q, PS_KEY_BLOB, k->pass);
    ps_buf_init(&names, PS_BUF_NO_LIMIT);
    a = blob_fields(p, blob_key, &names, &hdel, &hdel_lens);
    {
        const char *set[3] = {"SET", ckpt_key, state.data};
        size_t set_lens[3] = {3, strlen(ckpt_key), state.len};
        const char *const *argv[2] = {set, hdel};
        const size_t *lens[2] = {set_lens, hdel_lens};
        int argc[2] = {3, (int)a};
        err = ps_store_transaction(ps_collect_store(k, q), a > 2 ? 2 : 1, argc, argv, lens, ed);
    }
    free(hdel);
    free(hdel_lens);
    if (err == PS_OK) {
        p->last_checkpoint = state.len;
        p->n_pending = 0;
        p->pending_bytes = 0;
        k->n_checkpoints++;
        k->checkpoint_bytes += state.len;
    }
    k->checkpoint_ms += ps_clock_now_ms() - t0;
    ps_buf_release(&names);
    ps_buf_release(&state);
    return err;
}

enum ps_err ps_collect_checkpoint(struct collector *k, struct ps_errdetail *ed)
{
    enum ps_err err = PS_OK;

    for (unsigned q = 0; q < k->agg[k->pass].n && err == PS_OK; q++)
        err = checkpoint_part(k, q, ed);
    return err;
}

enum ps_err ps_collect_maybe_checkpoint(struct collector *k, struct ps_errdetail *ed)
{
    enum ps_err err = PS_OK;

    for (unsigned q = 0; q < k->agg[k->pass].n && err == PS_OK; q++) {
        const struct partition_state *p = &k->partitions[q];
        size_t every = p->last_checkpoint / CHECKPOINT_SHARE > CHECKPOINT_MIN_BYTES
                           ? p->last_checkpoint / CHECKPOINT_SHARE
                           : CHECKPOINT_MIN_BYTES;
        if (p->pending_bytes >= every)
            err = checkpoint_part(k, q, ed);
    }
    return err;
}

struct reconcile_ctx {
    struct collector *k;
    struct ps_errdetail *ed;
};

static enum ps_err reconcile_one(void *ctx, const char *f, size_t fl, const char *v, size_t vl)
{
    struct reconcile_ctx *rc = ctx;
    char *end;
    unsigned long id = strtoul(f, &end, 10);

    (void)v;
    (void)vl;
    /* "<s>" is a complete shard; "<s>.<part>" an earlier part of one */
    if (end != f + fl || id >= rc->k->c->n_shards)
        return PS_OK;
    return ps_collect_merge_shard(rc->k, (uint32_t)id, rc->ed);
}

enum ps_err ps_collect_reconcile(struct collector *k, struct ps_errdetail *ed)
{
    struct reconcile_ctx rc = {k, ed};
    char commits[256];

    /* partition 0 commits last: its markers are the complete shards */
    part_key(k, commits, sizeof(commits), 0, PS_KEY_COMMITS, k->pass);
    return ps_store_hscan(ps_collect_store(k, 0), commits, reconcile_one, &rc, ed);
}

/* ---- pattern lists and the aggregates of each pass ---- */

struct ps_agg_opts ps_coord_agg_opts(const struct coord *c, const struct ps_plan *plan,
                                     const uint32_t *shard_file, unsigned pass, unsigned q)
{
    struct ps_agg_opts o = ps_agg_opts_default();

    o.n_shards = ps_plan_n_shards(plan);
    o.n_files = ps_plan_n_files(plan);
    o.shard_file = shard_file;
    o.pass = pass;
    o.partition = q;
    if (pass == PS_PASS_SCAN && c->cluster_log2 != 0)
        o.sketch_cells = ps_partition_cells((size_t)1 << c->cluster_log2, c->partitions);
    if (pass == PS_PASS_SCAN) {
        /* records name about one entry per 2 bytes of text (two per prompt n-gram, most of
         * them once): a cell a row per 8 bytes of the partition's share (3/8 of it in all)
         * holds about 4, and an entry named once passes 3 rows at 10 in about 1e-5 of cases;
         * the gate is made at the first entry (a corpus of documents has none) */
        uint64_t share = c->text_estimate / c->partitions;
        uint64_t admit = (c->o->score.min_docs + PS_SCORE_PART_ASSOC - 1) / PS_SCORE_PART_ASSOC;
        o.assoc_gate_log2 = 12;
        while (o.assoc_gate_log2 < PS_AGG_GATE_MAX_LOG2 && (share >> o.assoc_gate_log2) > 8)
            o.assoc_gate_log2++;
        o.assoc_admit_docs = admit < 1 ? 1 : admit > 255 ? 255 : admit;
    }
    return o;
}

static struct ps_agg_opts agg_opts(const struct collector *k, unsigned pass, unsigned q,
                                   bool finished)
{
    struct ps_agg_opts o = ps_coord_agg_opts(k->c, k->c->plan, k->shard_file, pass, q);
    unsigned n = k->c->partitions;

    if (finished)
        o.sketch_cells = 0; /* a finished scan pass was reduced: no sketch */
    /* leads: about one per 200 bytes of text; two per cell keeps a lead named once from
     * looking named five times in every row (a chance of about 1e-4) */
    if (pass == PS_PASS_CONFIRM && !finished && k->c->cluster_log2 != 0) {
        o.lead_gate_log2 = 12;
        while (o.lead_gate_log2 < PS_AGG_GATE_MAX_LOG2 &&
               (k->c->text_estimate / n >> o.lead_gate_log2) > 400)
            o.lead_gate_log2++;
    }
    o.n_patterns = pass == PS_PASS_SCAN ? 0 : ps_aggset_part_patterns(pass, k->lists[pass].n, q, n);
    return o;
}

static enum ps_err get_record(struct collector *k, unsigned q, const char *base, unsigned pass,
                              struct ps_buf *out, bool *found, struct ps_errdetail *ed)
{
    char rec_key[256];

    part_key(k, rec_key, sizeof(rec_key), q, base, pass);
    ps_buf_reset(out);
    return ps_store_get(ps_collect_store(k, q), rec_key, out, found, ed);
}

/* Partition q's aggregate of `pass` from its checkpoint (finished: reduced), or a fresh one. */
static enum ps_err open_part(struct collector *k, unsigned pass, unsigned q, bool finished,
                             struct ps_errdetail *ed)
{
    struct ps_agg_opts o = agg_opts(k, pass, q, finished);
    struct ps_aggset *set = &k->agg[pass];
    struct ps_buf rec;
    bool found;
    enum ps_err err;

    ps_agg_free(set->part[q]);
    ps_agg_new(&set->part[q], &o);
    ps_buf_init(&rec, PS_BUF_NO_LIMIT);
    err = get_record(k, q, PS_KEY_CHECKPOINT, pass, &rec, &found, ed);
    if (err == PS_OK && found)
        err = ps_agg_load(set->part[q], rec.data, rec.len, ed);
    if (err == PS_ERR_PROTO && !finished) {
        /* the pass was closed (reduced) but the switch to the next was not recorded yet */
        o = agg_opts(k, pass, q, true);
        ps_agg_free(set->part[q]);
        ps_agg_new(&set->part[q], &o);
        err = ps_agg_load(set->part[q], rec.data, rec.len, ed);
    }
    k->partitions[q].last_checkpoint = found ? rec.len : 0;
    ps_buf_release(&rec);
    return err;
}

enum ps_err ps_collect_open_pass(struct collector *k, unsigned pass, bool finished,
                                 struct ps_errdetail *ed)
{
    struct ps_aggset *set = &k->agg[pass];
    unsigned n = k->c->partitions;
    enum ps_err err = PS_OK;

    ps_aggset_release(set);
    ps_aggset_init(set, pass, n, pass == PS_PASS_SCAN ? 0 : k->lists[pass].n);
    for (unsigned q = 0; q < n && err == PS_OK; q++)
        err = open_part(k, pass, q, finished, ed);
    if (err == PS_OK && finished)
        ps_aggset_finish(set, 0);
    return err;
}

static enum ps_err load_list(struct collector *k, unsigned pass, bool *found,
                             struct ps_errdetail *ed)
{
    struct ps_buf rec;
    enum ps_err err;

    ps_buf_init(&rec, PS_BUF_NO_LIMIT);
    err = get_record(k, 0, PS_KEY_PATTERNS, pass, &rec, found, ed);
    if (err == PS_OK && *found)
        err = ps_patlist_decode(&k->lists[pass], rec.data, rec.len, ed);
    ps_buf_release(&rec);
    return err;
}

enum ps_err ps_collect_resume(struct collector *k, struct ps_errdetail *ed)
{
    enum ps_err err = PS_OK;

    k->ran[PS_PASS_SCAN] = true;
    for (unsigned p = PS_PASS_CONFIRM; p <= k->pass && err == PS_OK; p++)
        err = load_list(k, p, &k->ran[p], ed);
    for (unsigned p = PS_PASS_SCAN; p <= k->pass && err == PS_OK; p++)
        if (k->ran[p])
            err = ps_collect_open_pass(k, p, p < k->pass, ed);
    if (err == PS_OK)
        err = ps_collect_reconcile(k, ed);
    return err;
}

enum ps_err ps_collect_put_record(struct collector *k, const char *base, unsigned pass,
                                  const void *src, size_t len, struct ps_errdetail *ed)
{
    char rec_key[256];
    const char *argv[3] = {"SET", rec_key, src};
    size_t lens[3] = {3, 0, len};

    part_key(k, rec_key, sizeof(rec_key), 0, base, pass);
    lens[1] = strlen(rec_key);
    return ps_store_argv(ps_collect_store(k, 0), 3, argv, lens, NULL, ed);
}

enum ps_err ps_collect_drop_blobs(struct collector *k, unsigned pass, struct ps_errdetail *ed)
{
    enum ps_err err = PS_OK;

    for (unsigned q = 0; q < k->c->partitions && err == PS_OK; q++) {
        char blob_key[256], commits_key[256];
        part_key(k, blob_key, sizeof(blob_key), q, PS_KEY_BLOB, pass);
        part_key(k, commits_key, sizeof(commits_key), q, PS_KEY_COMMITS, pass);
        /* partition 0's markers say which shards the pass read (status, resume); the others'
         * served their merge, which the checkpoints' bitmaps now remember */
        err = q == 0 ? ps_store_cmd(ps_collect_store(k, q), NULL, ed, "DEL", blob_key, NULL)
                     : ps_store_cmd(ps_collect_store(k, q), NULL, ed, "DEL", blob_key, commits_key,
                                    NULL);
    }
    return err;
}
