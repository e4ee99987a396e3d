/* plan_internal.h - what the plan's files share: the plan itself, built by walking the corpus
 * (plan.c) or read back from its text form (plan_text.c). */
#ifndef PS_COORDINATOR_PLAN_INTERNAL_H
#define PS_COORDINATOR_PLAN_INTERNAL_H

#include <stdbool.h>

#include "common/itab.h"
#include "coordinator/plan.h"

#define PLAN_HEADER "poisonscan-plan 1"

struct plan_file {
    char *path; /* owned */
    uint64_t size;
    int64_t mtime_sec;
    int64_t mtime_nsec;
    int format;
};

struct plan_unreadable {
    char *path;   /* owned: as the walk found it */
    char *reason; /* owned */
};

struct ps_plan {
    struct plan_file *files;
    size_t n_files, cap_files;
    struct plan_unreadable *unreadable; /* walked entries not taken, in walk order */
    size_t n_unreadable, cap_unreadable;
    struct ps_shard *shards;
    size_t n_shards, cap_shards;
    uint64_t bytes_total;
    struct ps_itab seen; /* files by the hash of their path */
};

/* Only plain JSON Lines can be cut into byte ranges (whatever record shape it holds): true for
 * the ps_format_code() of such a format. */
bool ps_plan_splittable(int code);
/* A path holds a byte below 0x20 or 0x7f. */
bool ps_plan_has_control(const char *s, size_t n);
/* The index of `path` among p->files, or SIZE_MAX when absent. */
size_t ps_plan_find_file(const struct ps_plan *p, const char *path);
/* Append a file (takes ownership of `path`) / a shard of file `file_index`; PS_ERR_LIMIT past
 * UINT32_MAX of either (`ed` says so). */
enum ps_err ps_plan_push_file(struct ps_plan *p, char *path, uint64_t size, int64_t msec,
                              int64_t mnsec, int format, struct ps_errdetail *ed);
/* Append an unreadable entry (takes ownership of `path` and `reason`); one already listed is
 * not listed again (freed). Never fails. */
void ps_plan_push_unreadable(struct ps_plan *p, char *path, char *reason);
enum ps_err ps_plan_push_shard(struct ps_plan *p, size_t file_index, uint64_t begin, uint64_t end,
                               struct ps_errdetail *ed);

#endif
