/* plan_text.c - the plan's text form (plan.h: ps_plan_serialize, ps_plan_deserialize): one
 * record a line, numbers in canonical decimal, every invariant checked on the way back in. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"
#include "coordinator/plan_internal.h"

#ifndef PATH_MAX
#    define PATH_MAX 4096
#endif

/* "\t" and the decimal digits of v at dst (room for 21); returns how many bytes. A shard's
 * record without printf: a 100,000-shard plan is serialized in a few milliseconds. */
static size_t put_field(char *dst, uint64_t v)
{
    dst[0] = '\t';
    return 1 + ps_units_put_u64(dst + 1, v);
}

enum ps_err ps_plan_serialize(const struct ps_plan *p, struct ps_buf *dst)
{
    enum ps_err err = ps_buf_appends(dst, PLAN_HEADER "\n");
    size_t i;

    /* first: a record that ends in free text must not be the last line, whose newline may be
     * missing (a lost newline would extend the text, and the plan would not read back alike) */
    for (i = 0; i < p->n_unreadable && err == PS_OK; i++)
        err = ps_buf_appendf(dst, "U\t%s\t%s\n", p->unreadable[i].reason, p->unreadable[i].path);

    for (i = 0; i < p->n_files && err == PS_OK; i++) {
        const struct plan_file *f = &p->files[i];
        err = ps_buf_appendf(dst, "F\t%zu\t%d\t%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%s\n", i,
                             f->format, f->size, f->mtime_sec, f->mtime_nsec, f->path);
    }
    for (i = 0; i < p->n_shards && err == PS_OK; i++) {
        const struct ps_shard *s = &p->shards[i];
        char rec[2 + 4 * 21];
        size_t n = 0;
        rec[n++] = 'S';
        n += put_field(rec + n, s->id);
        n += put_field(rec + n, s->file_index);
        n += put_field(rec + n, s->begin);
        n += put_field(rec + n, s->end);
        rec[n++] = '\n';
        err = ps_buf_append(dst, rec, n);
    }
    return err;
}

/* A cursor over one line's tab-separated fields. */
struct fields {
    const char *p, *end;
};

/* Next field as [*f, *f + *n); false when the line has no more fields. */
static bool next_field(struct fields *fs, const char **f, size_t *n)
{
    const char *tab;

    if (fs->p == NULL)
        return false;
    tab = memchr(fs->p, '\t', (size_t)(fs->end - fs->p));
    *f = fs->p;
    *n = (size_t)((tab != NULL ? tab : fs->end) - fs->p);
    fs->p = tab != NULL ? tab + 1 : NULL;
    return true;
}

/* A "U" record's reason and path (fs at the reason); false when either is malformed. */
static bool unreadable_record(struct ps_plan *p, struct fields *fs)
{
    const char *reason, *path;
    size_t rlen, plen;

    if (!next_field(fs, &reason, &rlen) || rlen == 0 || rlen >= 300 ||
        ps_plan_has_control(reason, rlen) || fs->p == NULL)
        return false;
    path = fs->p;
    plen = (size_t)(fs->end - fs->p);
    if (plen == 0 || plen >= PATH_MAX || path[0] != '/' || ps_plan_has_control(path, plen))
        return false;
    for (size_t i = 0; i < p->n_unreadable; i++) {
        if (strlen(p->unreadable[i].path) == plen && memcmp(p->unreadable[i].path, path, plen) == 0)
            return false; /* listed twice */
    }
    ps_plan_push_unreadable(p, ps_xstrndup(path, plen), ps_xstrndup(reason, rlen));
    return true;
}

static bool field_u64(struct fields *fs, uint64_t *out)
{
    char tmp[24];
    const char *f;
    char *e;
    size_t n, i;

    if (!next_field(fs, &f, &n) || n == 0 || n >= sizeof(tmp) || (f[0] == '0' && n > 1))
        return false; /* canonical form only: one text per plan, so one fingerprint */
    for (i = 0; i < n; i++) {
        if (f[i] < '0' || f[i] > '9')
            return false;
    }
    memcpy(tmp, f, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtoull(tmp, &e, 10);
    return errno == 0 && *e == '\0';
}

static bool field_i64(struct fields *fs, int64_t *out)
{
    char tmp[24];
    const char *f;
    char *e;
    size_t n, i;
    long long v;

    if (!next_field(fs, &f, &n) || n == 0 || n >= sizeof(tmp))
        return false;
    for (i = 0; i < n; i++) {
        if ((f[i] < '0' || f[i] > '9') && !(i == 0 && f[i] == '-' && n > 1))
            return false;
    }
    i = f[0] == '-' ? 1 : 0;
    if (f[i] == '0' && (n > i + 1 || i == 1))
        return false; /* no leading zeros, no "-0" */
    memcpy(tmp, f, n);
    tmp[n] = '\0';
    errno = 0;
    v = strtoll(tmp, &e, 10);
    if (errno != 0 || *e != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

/* Check that shards cover every non-empty file exactly, in file order. `upto` is the file
 * index the next shard run starts at (n_files at the end); files in between must be empty. */
static bool files_between_empty(const struct ps_plan *p, size_t from, size_t upto)
{
    size_t i;

    for (i = from; i < upto; i++) {
        if (p->files[i].size != 0)
            return false;
    }
    return true;
}

/* A file record's fields (after the "F"); NULL or why it is refused. */
static const char *parse_file_record(struct ps_plan *p, struct fields *fs, struct ps_errdetail *ed)
{
    uint64_t idx, fmt, size;
    int64_t msec, mnsec;
    struct ps_format decoded;
    const char *path;
    size_t plen;
    char *copy;

    if (!field_u64(fs, &idx) || !field_u64(fs, &fmt) || !field_u64(fs, &size) ||
        !field_i64(fs, &msec) || !field_i64(fs, &mnsec))
        return "bad number in file record";
    if (idx != p->n_files)
        return "file index out of sequence";
    if (fmt > INT32_MAX || !ps_format_from_code((int)fmt, &decoded))
        return "unknown format";
    if (fs->p == NULL)
        return "file record without a path";
    path = fs->p;
    plen = (size_t)(fs->end - fs->p);
    if (plen == 0 || plen >= PATH_MAX || path[0] != '/' || ps_plan_has_control(path, plen))
        return "path must be absolute, shorter than PATH_MAX, without control characters";
    copy = ps_xstrndup(path, plen);
    if (ps_plan_find_file(p, copy) != SIZE_MAX) {
        free(copy);
        return "file listed twice";
    }
    if (ps_plan_push_file(p, copy, size, msec, mnsec, (int)fmt, ed) != PS_OK)
        return "too many files";
    return NULL;
}

/* Where the shards read so far end: the file of the last shard and its end offset. */
struct coverage {
    bool have_shard;
    size_t file;
    uint64_t end;
};

/* A shard record's fields (after the "S"), checked against the coverage so far: shards cover
 * every non-empty file exactly, in order. NULL or why it is refused. */
static const char *parse_shard_record(struct ps_plan *p, struct fields *fs, struct coverage *cov,
                                      struct ps_errdetail *ed)
{
    uint64_t id, fi, begin, end;
    const struct plan_file *file;

    if (!field_u64(fs, &id) || !field_u64(fs, &fi) || !field_u64(fs, &begin) ||
        !field_u64(fs, &end) || fs->p != NULL)
        return "shard record needs exactly id, file, begin, end";
    if (id != p->n_shards)
        return "shard id out of sequence";
    if (fi >= p->n_files)
        return "shard names an unknown file";
    file = &p->files[fi];
    if (begin >= end || end > file->size)
        return "shard range empty or past the end of its file";
    if (cov->have_shard && fi == cov->file) {
        if (begin != cov->end || !ps_plan_splittable(file->format))
            return "shards of a file are not contiguous";
    } else {
        size_t from = cov->have_shard ? cov->file + 1 : 0;
        if ((cov->have_shard && (fi < cov->file || cov->end != p->files[cov->file].size)) ||
            !files_between_empty(p, from, (size_t)fi) || begin != 0)
            return "shards do not cover every file exactly, in order";
    }
    if (!ps_plan_splittable(file->format) && end != file->size)
        return "only plain JSON Lines splits: this file must be one whole shard";
    if (ps_plan_push_shard(p, (size_t)fi, begin, end, ed) != PS_OK)
        return "too many shards";
    cov->have_shard = true;
    cov->file = (size_t)fi;
    cov->end = end;
    return NULL;
}

enum ps_err ps_plan_deserialize(struct ps_plan **out, const char *src, size_t src_len,
                                struct ps_errdetail *ed)
{
    struct ps_plan *p = ps_xcalloc(1, sizeof(*p));
    size_t pos = 0, line_no = 0;
    struct coverage cov = {0};
    const char *why = NULL;

    *out = NULL;
    while (pos < src_len && why == NULL) {
        const char *line = src + pos;
        const char *nl = memchr(line, '\n', src_len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : src_len - pos;
        struct fields fs = {.p = line, .end = line + n};
        const char *f;
        size_t fn;

        pos += n + (nl != NULL ? 1 : 0);
        line_no++;
        if (line_no == 1) {
            if (n != strlen(PLAN_HEADER) || memcmp(line, PLAN_HEADER, n) != 0)
                why = "not a poisonscan plan (bad header)";
        } else if (!next_field(&fs, &f, &fn) || fn != 1 ||
                   (f[0] != 'F' && f[0] != 'S' && f[0] != 'U')) {
            why = "record type must be F, S or U";
        } else if (f[0] == 'U') {
            if (p->n_files > 0 || cov.have_shard)
                why = "unreadable record after file or shard records";
            else if (!unreadable_record(p, &fs))
                why = "unreadable record needs a reason and an absolute path, listed once";
        } else if (f[0] == 'F') {
            why =
                cov.have_shard ? "file record after shard records" : parse_file_record(p, &fs, ed);
        } else {
            why = parse_shard_record(p, &fs, &cov, ed);
        }
    }
    if (why == NULL && line_no == 0)
        why = "empty plan";
    if (why == NULL && ((cov.have_shard && cov.end != p->files[cov.file].size) ||
                        !files_between_empty(p, cov.have_shard ? cov.file + 1 : 0, p->n_files))) {
        line_no++;
        why = "shards end before the last file does";
    }
    if (why == NULL) {
        *out = p;
        return PS_OK;
    }
    ps_errdetail_set(ed, NULL, line_no, "plan line %zu: %s", line_no, why);
    ps_plan_free(p);
    return PS_ERR_PARSE;
}
