/* since.c - nightly rescans: a job that builds on an earlier one's scan counts (--since JOB).
 *
 * A job run with --save-scan keeps its scan pass unreduced (`base` in each partition, written
 * by the collector before the pass is reduced, coordinator/select.c). A later job over the same
 * corpus, grown since, with the same scan settings, takes those counts over instead of reading
 * the earlier files again in pass 1: each partition's base, renumbered into the new plan
 * (ps_plan_map, ps_agg_rebase), becomes the new job's first scan checkpoint, and the shards it
 * covers are finished from the start (`reused`, read by ps_coord_load_pass). Counts add up
 * shard by shard, so the scan pass ends where a full scan of the grown corpus would; the later
 * passes read every shard, as they always do. docs/operations.md, "Nightly rescans". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/coordinator_internal.h"

/* HGET of the base job's `what` hash into `out`; 0, or 3 when the job is gone, or 4. */
static int base_field(struct coord *c, const char *what, const char *field, struct ps_buf *out,
                      struct ps_errdetail *ed)
{
    char key[256];
    bool found;

    ps_store_key(key, sizeof(key), c->o->since, what);
    if (ps_store_hget(c->store, key, field, out, &found, ed) != PS_OK)
        return 4;
    if (!found) {
        ps_errdetail_set(ed, NULL, 0,
                         "--since: job '%s' is not in Redis: its keys expired (--keep) or were "
                         "removed (poisonscan gc); run a full scan",
                         c->o->since);
        return 3;
    }
    return 0;
}

/* The base's scan counts are missing: 3. */
static int no_base(const struct coord *c, struct ps_errdetail *ed)
{
    ps_errdetail_set(ed, NULL, 0,
                     "--since: job '%s' kept no scan counts (run it with --save-scan), or they "
                     "expired (--keep); run a full scan",
                     c->o->since);
    return 3;
}

/* The base's scan counts are there (partition 0's; the others are checked as they are read). */
static int base_kept(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_store_reply *r;
    char key[256];
    bool kept;

    ps_store_part_key(key, sizeof(key), c->o->since, 0, PS_KEY_BASE, PS_PASS_SCAN);
    if (ps_store_cmd(c->store, &r, ed, "EXISTS", key, NULL) != PS_OK)
        return 4;
    kept = ps_store_reply_int(r) == 1;
    ps_store_reply_free(r);
    return kept ? 0 : no_base(c, ed);
}

int ps_coord_since_open(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf v;
    int rc;

    ps_buf_init(&v, PS_BUF_NO_LIMIT);
    rc = base_field(c, PS_KEY_META, "fingerprint", &v, ed);
    if (rc == 0)
        rc = base_field(c, PS_KEY_PROGRESS, "state", &v, ed);
    if (rc == 0 && strcmp(v.data, "done") != 0) {
        ps_errdetail_set(ed, NULL, 0, "--since: job '%s' has not finished (state '%s')",
                         c->o->since, v.data);
        rc = 3;
    }
    if (rc == 0)
        rc = base_kept(c, ed);
    if (rc == 0)
        rc = base_field(c, PS_KEY_META, "settings", &v, ed);
    /* the base's sketch, whatever size the grown corpus would get: cells add up only so */
    if (rc == 0 && c->o->clusters && c->o->cluster_sketch_log2 == 0) {
        unsigned own = c->cluster_log2;
        c->cluster_log2 = ps_coord_settings_sketch_log2(v.data);
        if (own != c->cluster_log2)
            ps_log(PS_LOG_WARN, "coordinator",
                   "job '%s' keeps the cluster sketch of job '%s' (2^%u cells a row) where this "
                   "corpus would get 2^%u: its clusters may differ from a full scan's (give "
                   "--cluster-sketch-log2 to every night of a chain)",
                   c->o->job, c->o->since, c->cluster_log2, own);
    }
    ps_buf_release(&v);
    return rc;
}

int ps_coord_since_resume(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_buf v;
    bool found, has_settings = false;
    int rc = 0;

    ps_buf_init(&v, PS_BUF_NO_LIMIT);
    if (ps_store_hget(c->store, c->k_meta, "since", &v, &found, ed) != PS_OK)
        rc = 4;
    if (rc == 0 && found) {
        snprintf(c->since, sizeof(c->since), "%s", v.data);
        if (ps_store_hget_u64(c->store, c->k_meta, "since_shards", &c->since_shards, ed) != PS_OK ||
            ps_store_hget(c->store, c->k_meta, "settings", &v, &has_settings, ed) != PS_OK)
            rc = 4;
    }
    /* the sketch size it was started with, its base's */
    if (rc == 0 && has_settings && c->o->clusters && c->o->cluster_sketch_log2 == 0)
        c->cluster_log2 = ps_coord_settings_sketch_log2(v.data);
    ps_buf_release(&v);
    return rc;
}

/* What seeding needs of both plans. */
struct since_maps {
    struct ps_plan *old;
    uint32_t *file_map, *shard_map, *old_file, *new_file;
    size_t n_reused;
};

static void since_maps_release(struct since_maps *m)
{
    ps_plan_free(m->old);
    free(m->file_map);
    free(m->shard_map);
    free(m->old_file);
    free(m->new_file);
}

/* The base's settings must be this job's (the scan part: detection settings apply after it),
 * and its files all in this plan, as they were. 0, 3 or 4. */
static int check_base(struct coord *c, struct since_maps *m, struct ps_errdetail *ed)
{
    struct ps_buf v;
    char key[256];
    bool found;
    int rc;

    ps_buf_init(&v, PS_BUF_NO_LIMIT);
    rc = base_field(c, PS_KEY_META, "settings", &v, ed);
    if (rc == 0 && !ps_coord_same_scan_settings(c, v.data)) {
        ps_errdetail_set(ed, NULL, 0,
                         "--since: job '%s' ran with other scan settings; a rescan takes the "
                         "same ones (its settings: %.300s)",
                         c->o->since, v.data);
        rc = 3;
    }
    ps_store_key(key, sizeof(key), c->o->since, PS_KEY_PLAN);
    if (rc == 0 && ps_store_get(c->store, key, &v, &found, ed) != PS_OK)
        rc = 4;
    if (rc == 0 && !found)
        ps_errdetail_set(ed, NULL, 0, "its plan is gone");
    if (rc == 0 && (!found || ps_plan_deserialize(&m->old, v.data, v.len, ed) != PS_OK))
        rc = -3;
    if (rc == 0) {
        m->file_map = ps_xcalloc(ps_plan_n_files(m->old) + 1, sizeof(*m->file_map));
        m->shard_map = ps_xcalloc(ps_plan_n_shards(m->old) + 1, sizeof(*m->shard_map));
        if (ps_plan_map(m->old, c->plan, m->file_map, m->shard_map, &m->n_reused, ed) != PS_OK)
            rc = -3;
    }
    if (rc == -3) {
        char why[sizeof(ed->msg)];
        snprintf(why, sizeof(why), "%s", ed->msg);
        ps_errdetail_set(ed, ed->file, 0, "--since '%s': %s; run a full scan", c->o->since, why);
        rc = 3;
    }
    ps_buf_release(&v);
    return rc;
}

/* Partition q's base renumbered into this job's first scan checkpoint; partition 0's totals
 * into *totals. 0, 3 or 4. */
static int seed_part(struct coord *c, struct ps_store *s, unsigned q, const struct since_maps *m,
                     struct ps_results_totals *totals, struct ps_errdetail *ed)
{
    struct ps_agg_opts oo = ps_coord_agg_opts(c, m->old, m->old_file, PS_PASS_SCAN, q);
    struct ps_agg_opts no = ps_coord_agg_opts(c, c->plan, m->new_file, PS_PASS_SCAN, q);
    struct ps_agg *old, *cur;
    struct ps_buf rec;
    char key[256];
    bool found;
    int rc = 0;

    ps_agg_new(&old, &oo);
    ps_agg_new(&cur, &no);
    ps_buf_init(&rec, PS_BUF_NO_LIMIT);
    ps_store_part_key(key, sizeof(key), c->o->since, q, PS_KEY_BASE, PS_PASS_SCAN);
    if (ps_store_get(s, key, &rec, &found, ed) != PS_OK)
        rc = 4;
    else if (!found)
        rc = no_base(c, ed);
    else if (ps_agg_load(old, rec.data, rec.len, ed) != PS_OK ||
             ps_agg_rebase(cur, old, m->shard_map, m->file_map, ed) != PS_OK)
        rc = 3;
    ps_buf_reset(&rec);
    if (rc == 0 && ps_agg_save(cur, &rec, ed) != PS_OK)
        rc = 3;
    if (rc == 0) {
        const char *argv[3] = {"SET", key, rec.data};
        size_t lens[3] = {3, 0, rec.len};
        ps_store_part_key(key, sizeof(key), c->o->job, q, PS_KEY_CHECKPOINT, PS_PASS_SCAN);
        lens[1] = strlen(key);
        if (ps_store_argv(s, 3, argv, lens, NULL, ed) != PS_OK)
            rc = 4;
    }
    if (rc == 0 && q == 0)
        *totals = *ps_agg_totals(cur);
    ps_buf_release(&rec);
    ps_agg_free(old);
    ps_agg_free(cur);
    return rc;
}

/* The shards taken over, as a bitmap for ps_coord_load_pass, and in the progress hash from the
 * start, so that `status` counts them done. */
static int record_reused(struct coord *c, const struct since_maps *m,
                         const struct ps_results_totals *t, struct ps_errdetail *ed)
{
    size_t nb = c->n_shards / 8 + 1;
    uint8_t *bits = ps_xcalloc(nb, 1);
    uint64_t bytes = 0;
    char key[256], shards[24], done_bytes[24], docs[24], errors[24];
    enum ps_err err;

    for (size_t i = 0; i < ps_plan_n_shards(m->old); i++) {
        const struct ps_shard *sh = ps_plan_shard(c->plan, m->shard_map[i]);
        bits[sh->id / 8] |= (uint8_t)(1u << (sh->id % 8));
        bytes += sh->end - sh->begin;
    }
    ps_store_key(key, sizeof(key), c->o->job, PS_KEY_REUSED);
    {
        const char *argv[3] = {"SET", key, (const char *)bits};
        size_t lens[3] = {3, strlen(key), nb};
        err = ps_store_argv(c->store, 3, argv, lens, NULL, ed);
    }
    free(bits);
    snprintf(shards, sizeof(shards), "%zu", m->n_reused);
    snprintf(done_bytes, sizeof(done_bytes), "%" PRIu64, bytes);
    snprintf(docs, sizeof(docs), "%" PRIu64, t->docs);
    snprintf(errors, sizeof(errors), "%" PRIu64, t->errors + ps_plan_n_unreadable(c->plan));
    if (err == PS_OK)
        err = ps_store_cmd(c->store, NULL, ed, "HSET", c->k_progress, "shards_done", shards,
                           "bytes_done", done_bytes, "docs_done", docs, "errors", errors, NULL);
    if (err == PS_OK)
        err = ps_store_cmd(c->store, NULL, ed, "HSET", c->k_meta, "since_shards", shards, NULL);
    snprintf(c->since, sizeof(c->since), "%s", c->o->since);
    c->since_shards = m->n_reused;
    return err == PS_OK ? 0 : 4;
}

/* A job whose set-up as a --since job failed half-way (meta `since` is written before the
 * first checkpoint is seeded, the fingerprint after the last) may be started again, with or
 * without --since: the checkpoints it seeded must not count. */
static int clear_seeded(struct coord *c, struct ps_store *const *stores, struct ps_errdetail *ed)
{
    char key[256];

    for (unsigned q = 0; q < c->partitions; q++) {
        ps_store_part_key(key, sizeof(key), c->o->job, q, PS_KEY_CHECKPOINT, PS_PASS_SCAN);
        if (ps_store_cmd(stores[q % c->o->n_redis], NULL, ed, "DEL", key, NULL) != PS_OK)
            return 4;
    }
    ps_store_key(key, sizeof(key), c->o->job, PS_KEY_REUSED);
    if (ps_store_cmd(c->store, NULL, ed, "DEL", key, NULL) != PS_OK ||
        ps_store_cmd(c->store, NULL, ed, "HDEL", c->k_meta, "since", "since_shards", NULL) != PS_OK)
        return 4;
    ps_log(PS_LOG_WARN, "coordinator",
           "job '%s': removed the scan counts of an earlier --since set-up that did not finish",
           c->o->job);
    return 0;
}

/* The base's counts, partition by partition, into this job's first scan checkpoints. */
static int seed_all(struct coord *c, struct ps_store *const *stores, struct ps_errdetail *ed)
{
    struct since_maps m = {0};
    struct ps_results_totals totals = {0};
    int rc = check_base(c, &m, ed);

    /* the mark of a set-up under way, before the first checkpoint is seeded */
    if (rc == 0 &&
        ps_store_cmd(c->store, NULL, ed, "HSET", c->k_meta, "since", c->o->since, NULL) != PS_OK)
        rc = 4;
    if (rc == 0) {
        m.old_file = ps_plan_shard_files(m.old);
        m.new_file = ps_plan_shard_files(c->plan);
    }
    for (unsigned q = 0; rc == 0 && q < c->partitions; q++)
        rc = seed_part(c, stores[q % c->o->n_redis], q, &m, &totals, ed);
    if (rc == 0)
        rc = record_reused(c, &m, &totals, ed);
    if (rc == 0)
        ps_log(PS_LOG_INFO, "coordinator",
               "job '%s' builds on job '%s': %zu of %zu shards counted already, pass 1 reads "
               "the other %zu",
               c->o->job, c->o->since, m.n_reused, c->n_shards, c->n_shards - m.n_reused);
    since_maps_release(&m);
    return rc;
}

int ps_coord_since_seed(struct coord *c, struct ps_errdetail *ed)
{
    struct ps_store *stores[PS_PARTITION_MAX] = {0};
    struct ps_buf v;
    bool left = false;
    int rc = 0;

    stores[0] = c->store;
    for (size_t i = 1; rc == 0 && i < c->o->n_redis; i++)
        if (ps_store_connect(&stores[i], &c->o->redis[i], c->o->redis_retry_ms, ed) != PS_OK)
            rc = 4;
    ps_buf_init(&v, PS_BUF_NO_LIMIT);
    if (rc == 0 && ps_store_hget(c->store, c->k_meta, "since", &v, &left, ed) != PS_OK)
        rc = 4;
    ps_buf_release(&v);
    if (rc == 0 && left)
        rc = clear_seeded(c, stores, ed);
    if (rc == 0 && c->o->since != NULL)
        rc = seed_all(c, stores, ed);
    for (size_t i = 1; i < c->o->n_redis; i++)
        ps_store_free(stores[i]);
    return rc;
}
