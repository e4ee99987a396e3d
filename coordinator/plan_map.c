/* plan_map.c - an earlier plan's files and shards in a later plan of the same corpus, for a job
 * that builds on an earlier one's scan counts (--since, coordinator/since.c). */
#include <inttypes.h>
#include <stdlib.h>

#include "coordinator/plan_internal.h"

/* First shard of each file (n_files + 1 entries: a file's shards are [first[f], first[f+1])). */
static size_t *first_shards(const struct ps_plan *p)
{
    size_t *first = ps_xcalloc(p->n_files + 1, sizeof(*first));
    size_t s = 0;

    for (size_t f = 0; f < p->n_files; f++) {
        first[f] = s;
        while (s < p->n_shards && p->shards[s].file_index == f)
            s++;
    }
    first[p->n_files] = s;
    return first;
}

static const char *file_differs(const struct plan_file *a, const struct plan_file *b)
{
    if (a->size != b->size)
        return "changed size";
    if (a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec)
        return "was modified (other mtime)";
    if (a->format != b->format)
        return "is read in another format";
    return NULL;
}

enum ps_err ps_plan_map(const struct ps_plan *old, const struct ps_plan *cur, uint32_t *file_map,
                        uint32_t *shard_map, size_t *n_reused, struct ps_errdetail *ed)
{
    size_t *of = first_shards(old), *cf = first_shards(cur);
    enum ps_err err = PS_OK;

    *n_reused = 0;
    for (size_t f = 0; f < old->n_files && err == PS_OK; f++) {
        const struct plan_file *a = &old->files[f];
        size_t g = ps_plan_find_file(cur, a->path), n;
        const char *why =
            g == SIZE_MAX ? "is no longer part of the corpus" : file_differs(a, &cur->files[g]);
        n = of[f + 1] - of[f];
        if (why == NULL && cf[g + 1] - cf[g] != n)
            why = "is cut into other shards";
        for (size_t i = 0; why == NULL && i < n; i++)
            if (old->shards[of[f] + i].begin != cur->shards[cf[g] + i].begin ||
                old->shards[of[f] + i].end != cur->shards[cf[g] + i].end)
                why = "is cut into other shards";
        if (why != NULL) {
            ps_errdetail_set(ed, a->path, 0, "%s %s since the base job was planned", a->path, why);
            err = PS_ERR_USAGE;
            break;
        }
        file_map[f] = (uint32_t)g;
        for (size_t i = 0; i < n; i++)
            shard_map[of[f] + i] = (uint32_t)(cf[g] + i);
        *n_reused += n;
    }
    free(of);
    free(cf);
    return err;
}
