/* plan.c - corpus walking, manifest parsing, line-aligned splitting of plain files, the plan's
 * fingerprint and its text form. Cuts are found by reading a few bytes around each nominal
 * boundary with pread, so planning a terabyte corpus reads kilobytes, not the corpus. */
/* realpath() is XSI, beyond the _POSIX_C_SOURCE the build sets. */
#define _XOPEN_SOURCE 700
#include "coordinator/plan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/reader.h"

/* The code of JSON Lines with detected records is its container (layout and record are 0): the
 * values plans carried before other layouts, which old plan texts still hold. */
_Static_assert(PS_FORMAT_JSONL == 0 && PS_FORMAT_RECORD_AUTO == 0 &&
                   PS_PLAN_FORMAT_JSONL == (int)PS_FORMAT_PLAIN &&
                   PS_PLAN_FORMAT_ZST == (int)PS_FORMAT_ZST &&
                   PS_PLAN_FORMAT_GZ == (int)PS_FORMAT_GZ,
               "plan formats must equal ps_format_code() of JSON Lines");

#ifndef PATH_MAX
#    define PATH_MAX 4096
#endif

/* Bytes read per pread while looking for the '\n' after a nominal cut: one typical JSONL line
 * fits, and a pathological multi-megabyte line costs a few more reads, not a bigger buffer. */
#define SCAN_CHUNK  (64 * 1024)
#define PLAN_HEADER "poisonscan-plan 1"

struct plan_file {
    char *path; /* owned */
    uint64_t size;
    int64_t mtime_sec;
    int64_t mtime_nsec;
    int format;
};

/* Open addressing over file indices + 1 (0 = empty slot), keyed by the file's path. */
struct pathset {
    uint32_t *slots;
    size_t cap; /* power of two or 0 */
    size_t n;
};

struct ps_plan {
    struct plan_file *files;
    size_t n_files, cap_files;
    struct ps_shard *shards;
    size_t n_shards, cap_shards;
    uint64_t bytes_total;
    struct pathset seen;
};

struct builder {
    struct ps_plan *p;
    const struct ps_plan_opts *opts;
    struct ps_errdetail *ed;
    char *scan;           /* SCAN_CHUNK bytes, owned */
    const char *manifest; /* borrowed: the manifest being read, for messages, or NULL */
    size_t manifest_line;
};

struct ps_plan_opts ps_plan_opts_default(void)
{
    struct ps_plan_opts o;

    o.shard_size = 256ULL << 20;
    o.max_manifest_line = 4096;
    o.max_manifest_bytes = 1ULL << 30;
    o.max_depth = 64;
    o.format = ps_format_auto();
    return o;
}

/* ---- small helpers ---- */

/* Only plain JSON Lines can be cut into byte ranges (whatever record shape it holds). */
static bool splittable(int code)
{
    struct ps_format f;

    return ps_format_from_code(code, &f) && ps_format_splittable(f);
}

static bool has_control(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

static char *join_path(const char *dir, const char *name, size_t name_len)
{
    size_t dl = strlen(dir);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    char *s = ps_xmalloc(dl + 1 + name_len + 1);

    memcpy(s, dir, dl);
    if (!slash)
        s[dl++] = '/';
    memcpy(s + dl, name, name_len);
    s[dl + name_len] = '\0';
    return s;
}

/* ---- path set ---- */

static size_t path_hash(const char *path)
{
    return (size_t)XXH3_64bits(path, strlen(path));
}

/* Returns the index of `path` among p->files, or SIZE_MAX when absent. */
static size_t pathset_find(const struct ps_plan *p, const char *path)
{
    size_t mask, i;

    if (p->seen.cap == 0)
        return SIZE_MAX;
    mask = p->seen.cap - 1;
    for (i = path_hash(path) & mask; p->seen.slots[i] != 0; i = (i + 1) & mask) {
        size_t idx = p->seen.slots[i] - 1;
        if (strcmp(p->files[idx].path, path) == 0)
            return idx;
    }
    return SIZE_MAX;
}

static void pathset_insert_slot(struct ps_plan *p, uint32_t value)
{
    size_t mask = p->seen.cap - 1;
    size_t i = path_hash(p->files[value - 1].path) & mask;

    while (p->seen.slots[i] != 0)
        i = (i + 1) & mask;
    p->seen.slots[i] = value;
}

/* Record that file `idx` (already in p->files) is present. */
static void pathset_add(struct ps_plan *p, size_t idx)
{
    if ((p->seen.n + 1) * 2 > p->seen.cap) {
        uint32_t *old = p->seen.slots;
        size_t old_cap = p->seen.cap, i;

        p->seen.cap = old_cap == 0 ? 64 : old_cap * 2;
        p->seen.slots = ps_xcalloc(p->seen.cap, sizeof(uint32_t));
        for (i = 0; i < old_cap; i++) {
            if (old[i] != 0)
                pathset_insert_slot(p, old[i]);
        }
        free(old);
    }
    pathset_insert_slot(p, (uint32_t)(idx + 1));
    p->seen.n++;
}

/* ---- plan growth ---- */

static enum ps_err push_file(struct ps_plan *p, char *path, uint64_t size, int64_t msec,
                             int64_t mnsec, int format, struct ps_errdetail *ed)
{
    struct plan_file *f;

    if (p->n_files >= UINT32_MAX - 1) {
        ps_errdetail_set(ed, NULL, 0, "more than %" PRIu32 " files", UINT32_MAX - 1);
        free(path);
        return PS_ERR_LIMIT;
    }
    if (p->n_files == p->cap_files) {
        p->cap_files = p->cap_files == 0 ? 16 : p->cap_files * 2;
        p->files = ps_xrealloc(p->files, p->cap_files * sizeof(*p->files));
    }
    f = &p->files[p->n_files];
    f->path = path;
    f->size = size;
    f->mtime_sec = msec;
    f->mtime_nsec = mnsec;
    f->format = format;
    pathset_add(p, p->n_files);
    p->n_files++;
    return PS_OK;
}

static enum ps_err push_shard(struct ps_plan *p, size_t file_index, uint64_t begin, uint64_t end,
                              struct ps_errdetail *ed)
{
    struct ps_shard *s;

    if (p->n_shards >= UINT32_MAX) {
        ps_errdetail_set(ed, NULL, 0, "more than %" PRIu32 " shards; raise the shard size",
                         UINT32_MAX);
        return PS_ERR_LIMIT;
    }
    if (p->n_shards == p->cap_shards) {
        p->cap_shards = p->cap_shards == 0 ? 16 : p->cap_shards * 2;
        p->shards = ps_xrealloc(p->shards, p->cap_shards * sizeof(*p->shards));
    }
    s = &p->shards[p->n_shards];
    s->id = (uint32_t)p->n_shards;
    s->path = p->files[file_index].path;
    s->begin = begin;
    s->end = end;
    s->file_index = (uint32_t)file_index;
    s->format = p->files[file_index].format;
    p->bytes_total += end - begin;
    p->n_shards++;
    return PS_OK;
}

/* ---- building ---- */

/* Where an error happened, for messages: " (manifest 'm' line 3)" or "". */
static void where(const struct builder *b, char *dst, size_t dst_cap)
{
    if (b->manifest != NULL)
        snprintf(dst, dst_cap, " (manifest '%s' line %zu)", b->manifest, b->manifest_line);
    else
        dst[0] = '\0';
}

/* Find the first line start at or after `nominal` (0 < nominal < size): the byte after the
 * first '\n' at offset >= nominal - 1. *cut = size when there is none. */
static enum ps_err find_cut(struct builder *b, int fd, const char *path, uint64_t nominal,
                            uint64_t size, uint64_t *cut)
{
    uint64_t pos = nominal - 1;

    while (pos < size) {
        size_t want = size - pos < SCAN_CHUNK ? (size_t)(size - pos) : SCAN_CHUNK;
        ssize_t got = pread(fd, b->scan, want, (off_t)pos);
        const char *nl;

        if (got < 0) {
            if (errno == EINTR)
                continue;
            ps_errdetail_set(b->ed, NULL, pos, "cannot read '%s' at offset %" PRIu64 ": %s", path,
                             pos, strerror(errno));
            return PS_ERR_IO;
        }
        if (got == 0)
            break; /* the file shrank since fstat: no cut, the reader will see the new end */
        nl = memchr(b->scan, '\n', (size_t)got);
        if (nl != NULL) {
            *cut = pos + (uint64_t)(nl - b->scan) + 1;
            return PS_OK;
        }
        pos += (uint64_t)got;
    }
    *cut = size;
    return PS_OK;
}

/* Cut [0, size) into shards of at least shard_size bytes each (the last may be shorter), every
 * cut moved forward to a line start. Measuring each nominal cut from the previous real cut
 * means a line longer than shard_size just makes one long shard: no empty or line-less range
 * can arise that would need merging. */
static enum ps_err split_file(struct builder *b, int fd, size_t fi)
{
    const struct plan_file *f = &b->p->files[fi];
    uint64_t size = f->size;
    uint64_t begin = 0;
    enum ps_err err;

    if (size == 0)
        return PS_OK; /* listed as a file, nothing to scan */
    if (!splittable(f->format) || size <= b->opts->shard_size)
        return push_shard(b->p, fi, 0, size, b->ed);
    while (size - begin > b->opts->shard_size) {
        uint64_t cut;

        err = find_cut(b, fd, b->p->files[fi].path, begin + b->opts->shard_size, size, &cut);
        if (err != PS_OK)
            return err;
        if (cut >= size)
            break;
        err = push_shard(b->p, fi, begin, cut, b->ed);
        if (err != PS_OK)
            return err;
        begin = cut;
    }
    return push_shard(b->p, fi, begin, size, b->ed);
}

/* Take the regular file at `real` (canonical; ownership taken); `name` (the name it was found
 * under) and its first bytes decide the format. */
static enum ps_err add_file(struct builder *b, char *real, const char *name)
{
    char at[300];
    struct stat st;
    struct ps_format fmt;
    struct ps_errdetail ded;
    enum ps_err err;
    int fd;

    if (pathset_find(b->p, real) != SIZE_MAX) {
        free(real);
        return PS_OK; /* the same file reached twice: listed once */
    }
    where(b, at, sizeof(at));
    if (has_control(real, strlen(real))) {
        ps_errdetail_set(b->ed, NULL, 0,
                         "path '%s' holds a control character (tab, newline, ...); rename it%s",
                         real, at);
        free(real);
        return PS_ERR_UNSUPPORTED;
    }
    fd = open(real, O_RDONLY);
    if (fd < 0) {
        ps_errdetail_set(b->ed, NULL, 0, "cannot open '%s'%s: %s", real, at, strerror(errno));
        free(real);
        return PS_ERR_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ps_errdetail_set(b->ed, NULL, 0, "'%s'%s is not a regular file", real, at);
        close(fd);
        free(real);
        return PS_ERR_IO;
    }
    err = ps_reader_detect(fd, name, b->opts->format, &fmt, &ded);
    if (err != PS_OK) {
        ps_errdetail_set(b->ed, NULL, 0, "'%s'%s: %s", real, at, ded.msg);
        close(fd);
        free(real);
        return err;
    }
    err = push_file(b->p, real, (uint64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                    (int64_t)st.st_mtim.tv_nsec, ps_format_code(fmt), b->ed);
    if (err == PS_OK)
        err = split_file(b, fd, b->p->n_files - 1);
    close(fd);
    return err;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk the canonical directory `dir` (borrowed). */
static enum ps_err walk_dir(struct builder *b, const char *dir, uint32_t depth)
{
    char at[300];
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    enum ps_err err = PS_OK;
    struct dirent *de;
    DIR *d;

    where(b, at, sizeof(at));
    if (depth > b->opts->max_depth) {
        ps_errdetail_set(b->ed, NULL, 0, "directory '%s'%s is nested deeper than %" PRIu32, dir, at,
                         b->opts->max_depth);
        return PS_ERR_LIMIT;
    }
    d = opendir(dir);
    if (d == NULL) {
        ps_errdetail_set(b->ed, NULL, 0, "cannot read directory '%s'%s: %s", dir, at,
                         strerror(errno));
        return PS_ERR_IO;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (de->d_name[0] == '.')
            continue; /* ".", ".." and hidden temporaries */
        if (n == cap) {
            cap = cap == 0 ? 32 : cap * 2;
            names = ps_xrealloc(names, cap * sizeof(*names));
        }
        names[n++] = ps_xstrdup(de->d_name);
    }
    if (errno != 0) {
        ps_errdetail_set(b->ed, NULL, 0, "cannot read directory '%s'%s: %s", dir, at,
                         strerror(errno));
        err = PS_ERR_IO;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    for (i = 0; i < n && err == PS_OK; i++) {
        char *child = join_path(dir, names[i], strlen(names[i]));
        struct stat st;

        if (lstat(child, &st) != 0) {
            ps_errdetail_set(b->ed, NULL, 0, "cannot stat '%s'%s: %s", child, at, strerror(errno));
            err = PS_ERR_IO;
        } else if (S_ISDIR(st.st_mode)) {
            err = walk_dir(b, child, depth + 1);
        } else if (S_ISREG(st.st_mode) && ps_format_name_is_corpus(names[i])) {
            err = add_file(b, child, names[i]);
            child = NULL; /* taken */
        } else if (S_ISLNK(st.st_mode) && ps_format_name_is_corpus(names[i])) {
            /* Followed only to a file: a link to a directory could loop. */
            char *real = realpath(child, NULL);
            if (real == NULL) {
                ps_errdetail_set(b->ed, NULL, 0, "cannot resolve link '%s'%s: %s", child, at,
                                 strerror(errno));
                err = PS_ERR_IO;
            } else if (stat(real, &st) == 0 && S_ISREG(st.st_mode)) {
                err = add_file(b, real, names[i]);
            } else {
                free(real);
            }
        }
        free(child);
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return err;
}

/* A path named explicitly, on the command line or in a manifest (borrowed). */
static enum ps_err add_explicit(struct builder *b, const char *path)
{
    char at[300];
    struct stat st;
    char *real;
    enum ps_err err;

    where(b, at, sizeof(at));
    if (stat(path, &st) != 0) {
        ps_errdetail_set(b->ed, NULL, 0, "cannot stat '%s'%s: %s", path, at, strerror(errno));
        return PS_ERR_IO;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        ps_errdetail_set(b->ed, NULL, 0, "'%s'%s is not a regular file or directory", path, at);
        return PS_ERR_IO;
    }
    real = realpath(path, NULL);
    if (real == NULL) {
        ps_errdetail_set(b->ed, NULL, 0, "cannot resolve '%s'%s: %s", path, at, strerror(errno));
        return PS_ERR_IO;
    }
    if (S_ISREG(st.st_mode))
        return add_file(b, real, path);
    err = walk_dir(b, real, 0);
    free(real);
    return err;
}

static enum ps_err manifest_entry(void *ctx, const char *path, size_t line_no,
                                  struct ps_errdetail *ed)
{
    struct builder *b = ctx;

    (void)ed; /* b->ed is the same detail */
    b->manifest_line = line_no;
    return add_explicit(b, path);
}

static enum ps_err read_manifest(struct builder *b, const char *mpath)
{
    struct stat st;
    char *text = NULL, *base = NULL, *slash;
    size_t len = 0;
    enum ps_err err;
    int fd;

    fd = open(mpath, O_RDONLY);
    if (fd < 0) {
        ps_errdetail_set(b->ed, NULL, 0, "cannot open manifest '%s': %s", mpath, strerror(errno));
        return PS_ERR_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ps_errdetail_set(b->ed, NULL, 0, "manifest '%s' is not a regular file", mpath);
        close(fd);
        return PS_ERR_IO;
    }
    if ((uint64_t)st.st_size > b->opts->max_manifest_bytes) {
        ps_errdetail_set(b->ed, NULL, 0, "manifest '%s' is larger than %" PRIu64 " bytes", mpath,
                         b->opts->max_manifest_bytes);
        close(fd);
        return PS_ERR_LIMIT;
    }
    text = ps_xmalloc((size_t)st.st_size + 1);
    while (len < (size_t)st.st_size) {
        ssize_t got = read(fd, text + len, (size_t)st.st_size - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            ps_errdetail_set(b->ed, NULL, 0, "cannot read manifest '%s': %s", mpath,
                             strerror(errno));
            close(fd);
            free(text);
            return PS_ERR_IO;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);

    base = ps_xstrdup(mpath);
    slash = strrchr(base, '/');
    if (slash == NULL) {
        free(base);
        base = NULL; /* relative to the working directory, like the manifest itself */
    } else {
        slash[slash == base ? 1 : 0] = '\0';
    }
    b->manifest = mpath;
    err = ps_plan_parse_manifest_buf(text, len, mpath, base, b->opts->max_manifest_line,
                                     manifest_entry, b, b->ed);
    b->manifest = NULL;
    free(base);
    free(text);
    return err;
}

enum ps_err ps_plan_build(struct ps_plan **out, const char *const *inputs, size_t n_inputs,
                          const struct ps_plan_opts *opts, struct ps_errdetail *ed)
{
    struct ps_plan_opts defaults = ps_plan_opts_default();
    struct builder b;
    enum ps_err err = PS_OK;
    size_t i;

    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->shard_size == 0) {
        ps_errdetail_set(ed, NULL, 0, "shard size must be at least 1 byte");
        return PS_ERR_USAGE;
    }
    if (n_inputs == 0) {
        ps_errdetail_set(ed, NULL, 0, "no input paths");
        return PS_ERR_USAGE;
    }
    memset(&b, 0, sizeof(b));
    b.p = ps_xcalloc(1, sizeof(*b.p));
    b.opts = opts;
    b.ed = ed;
    b.scan = ps_xmalloc(SCAN_CHUNK);
    for (i = 0; i < n_inputs && err == PS_OK; i++) {
        if (inputs[i][0] == '@')
            err = read_manifest(&b, inputs[i] + 1);
        else
            err = add_explicit(&b, inputs[i]);
    }
    free(b.scan);
    if (err != PS_OK) {
        ps_plan_free(b.p);
        return err;
    }
    *out = b.p;
    return PS_OK;
}

/* ---- manifest text ---- */

enum ps_err ps_plan_parse_manifest_buf(const char *src, size_t src_len, const char *name,
                                       const char *base_dir, size_t max_line,
                                       ps_plan_manifest_fn fn, void *ctx, struct ps_errdetail *ed)
{
    const char *shown = name != NULL ? name : "(buffer)";
    size_t pos = 0, line_no = 0;

    while (pos < src_len) {
        const char *line = src + pos;
        const char *nl = memchr(line, '\n', src_len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : src_len - pos;
        size_t line_off = pos;
        enum ps_err err;
        char *path;

        pos += n + (nl != NULL ? 1 : 0);
        line_no++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n > max_line) {
            ps_errdetail_set(ed, NULL, line_off, "manifest '%s' line %zu: longer than %zu bytes",
                             shown, line_no, max_line);
            return PS_ERR_PARSE;
        }
        while (n > 0 && (line[0] == ' ' || line[0] == '\t')) {
            line++;
            n--;
        }
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        if (has_control(line, n)) {
            ps_errdetail_set(ed, NULL, line_off,
                             "manifest '%s' line %zu: control character or NUL in path", shown,
                             line_no);
            return PS_ERR_PARSE;
        }
        if (line[0] != '/' && base_dir != NULL)
            path = join_path(base_dir, line, n);
        else
            path = ps_xstrndup(line, n);
        err = fn(ctx, path, line_no, ed);
        free(path);
        if (err != PS_OK)
            return err;
    }
    return PS_OK;
}

/* ---- accessors ---- */

size_t ps_plan_n_shards(const struct ps_plan *p)
{
    return p->n_shards;
}

const struct ps_shard *ps_plan_shard(const struct ps_plan *p, size_t i)
{
    if (i >= p->n_shards)
        ps_bug("shard %zu of %zu", i, p->n_shards);
    return &p->shards[i];
}

size_t ps_plan_n_files(const struct ps_plan *p)
{
    return p->n_files;
}

const char *ps_plan_file(const struct ps_plan *p, size_t i)
{
    if (i >= p->n_files)
        ps_bug("file %zu of %zu", i, p->n_files);
    return p->files[i].path;
}

uint64_t ps_plan_file_size(const struct ps_plan *p, size_t i)
{
    if (i >= p->n_files)
        ps_bug("file %zu of %zu", i, p->n_files);
    return p->files[i].size;
}

int ps_plan_file_format(const struct ps_plan *p, size_t i)
{
    if (i >= p->n_files)
        ps_bug("file %zu of %zu", i, p->n_files);
    return p->files[i].format;
}

uint64_t ps_plan_bytes_total(const struct ps_plan *p)
{
    return p->bytes_total;
}

static void hash_u64(XXH3_state_t *st, uint64_t v)
{
    unsigned char le[8];
    int i;

    for (i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    XXH3_64bits_update(st, le, sizeof(le));
}

uint64_t ps_plan_fingerprint(const struct ps_plan *p)
{
    XXH3_state_t *st = XXH3_createState();
    uint64_t h;
    size_t i;

    if (st == NULL)
        ps_bug("XXH3_createState out of memory");
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, PLAN_HEADER, strlen(PLAN_HEADER));
    hash_u64(st, p->n_files);
    for (i = 0; i < p->n_files; i++) {
        const struct plan_file *f = &p->files[i];
        hash_u64(st, strlen(f->path));
        XXH3_64bits_update(st, f->path, strlen(f->path));
        hash_u64(st, f->size);
        hash_u64(st, (uint64_t)f->mtime_sec);
        hash_u64(st, (uint64_t)f->mtime_nsec);
        hash_u64(st, (uint64_t)f->format);
    }
    hash_u64(st, p->n_shards);
    for (i = 0; i < p->n_shards; i++) {
        hash_u64(st, p->shards[i].file_index);
        hash_u64(st, p->shards[i].begin);
        hash_u64(st, p->shards[i].end);
    }
    h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

/* ---- text form ---- */

enum ps_err ps_plan_serialize(const struct ps_plan *p, struct ps_buf *dst)
{
    enum ps_err err = ps_buf_appends(dst, PLAN_HEADER "\n");
    size_t i;

    for (i = 0; i < p->n_files && err == PS_OK; i++) {
        const struct plan_file *f = &p->files[i];
        err = ps_buf_appendf(dst, "F\t%zu\t%d\t%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%s\n", i,
                             f->format, f->size, f->mtime_sec, f->mtime_nsec, f->path);
    }
    for (i = 0; i < p->n_shards && err == PS_OK; i++) {
        const struct ps_shard *s = &p->shards[i];
        err = ps_buf_appendf(dst, "S\t%" PRIu32 "\t%" PRIu32 "\t%" PRIu64 "\t%" PRIu64 "\n", s->id,
                             s->file_index, s->begin, s->end);
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

enum ps_err ps_plan_deserialize(struct ps_plan **out, const char *src, size_t src_len,
                                struct ps_errdetail *ed)
{
    struct ps_plan *p = ps_xcalloc(1, sizeof(*p));
    size_t pos = 0, line_no = 0;
    /* Coverage cursor: the file the last shard belonged to and where that shard ended. */
    bool have_shard = false;
    size_t cur_file = 0;
    uint64_t cur_end = 0;
    const char *why = NULL;

    *out = NULL;
    while (pos < src_len) {
        const char *line = src + pos;
        const char *nl = memchr(line, '\n', src_len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : src_len - pos;
        struct fields fs;
        const char *f;
        size_t fn;

        pos += n + (nl != NULL ? 1 : 0);
        line_no++;
        fs.p = line;
        fs.end = line + n;
        if (line_no == 1) {
            if (n != strlen(PLAN_HEADER) || memcmp(line, PLAN_HEADER, n) != 0) {
                why = "not a poisonscan plan (bad header)";
                goto fail;
            }
            continue;
        }
        if (!next_field(&fs, &f, &fn) || fn != 1) {
            why = "record type must be F or S";
            goto fail;
        }
        if (f[0] == 'F') {
            uint64_t idx, fmt, size;
            int64_t msec, mnsec;
            struct ps_format decoded;
            const char *path;
            size_t plen;

            if (have_shard) {
                why = "file record after shard records";
                goto fail;
            }
            if (!field_u64(&fs, &idx) || !field_u64(&fs, &fmt) || !field_u64(&fs, &size) ||
                !field_i64(&fs, &msec) || !field_i64(&fs, &mnsec)) {
                why = "bad number in file record";
                goto fail;
            }
            if (idx != p->n_files) {
                why = "file index out of sequence";
                goto fail;
            }
            if (fmt > INT32_MAX || !ps_format_from_code((int)fmt, &decoded)) {
                why = "unknown format";
                goto fail;
            }
            if (fs.p == NULL) {
                why = "file record without a path";
                goto fail;
            }
            path = fs.p;
            plen = (size_t)(fs.end - fs.p);
            if (plen == 0 || plen >= PATH_MAX || path[0] != '/' || has_control(path, plen)) {
                why = "path must be absolute, shorter than PATH_MAX, without control characters";
                goto fail;
            }
            {
                char *copy = ps_xstrndup(path, plen);
                if (pathset_find(p, copy) != SIZE_MAX) {
                    free(copy);
                    why = "file listed twice";
                    goto fail;
                }
                if (push_file(p, copy, size, msec, mnsec, (int)fmt, ed) != PS_OK) {
                    why = "too many files";
                    goto fail;
                }
            }
        } else if (f[0] == 'S') {
            uint64_t id, fi, begin, end;
            const struct plan_file *file;

            if (!field_u64(&fs, &id) || !field_u64(&fs, &fi) || !field_u64(&fs, &begin) ||
                !field_u64(&fs, &end) || fs.p != NULL) {
                why = "shard record needs exactly id, file, begin, end";
                goto fail;
            }
            if (id != p->n_shards) {
                why = "shard id out of sequence";
                goto fail;
            }
            if (fi >= p->n_files) {
                why = "shard names an unknown file";
                goto fail;
            }
            file = &p->files[fi];
            if (begin >= end || end > file->size) {
                why = "shard range empty or past the end of its file";
                goto fail;
            }
            if (have_shard && fi == cur_file) {
                if (begin != cur_end || !splittable(file->format)) {
                    why = "shards of a file are not contiguous";
                    goto fail;
                }
            } else {
                size_t from = have_shard ? cur_file + 1 : 0;
                if ((have_shard && (fi < cur_file || cur_end != p->files[cur_file].size)) ||
                    !files_between_empty(p, from, (size_t)fi) || begin != 0) {
                    why = "shards do not cover every file exactly, in order";
                    goto fail;
                }
            }
            if (!splittable(file->format) && end != file->size) {
                why = "only plain JSON Lines splits: this file must be one whole shard";
                goto fail;
            }
            if (push_shard(p, (size_t)fi, begin, end, ed) != PS_OK) {
                why = "too many shards";
                goto fail;
            }
            have_shard = true;
            cur_file = (size_t)fi;
            cur_end = end;
        } else {
            why = "record type must be F or S";
            goto fail;
        }
    }
    if (line_no == 0) {
        why = "empty plan";
        goto fail;
    }
    if ((have_shard && cur_end != p->files[cur_file].size) ||
        !files_between_empty(p, have_shard ? cur_file + 1 : 0, p->n_files)) {
        line_no++;
        why = "shards end before the last file does";
        goto fail;
    }
    *out = p;
    return PS_OK;

fail:
    ps_errdetail_set(ed, NULL, line_no, "plan line %zu: %s", line_no, why);
    ps_plan_free(p);
    return PS_ERR_PARSE;
}

void ps_plan_free(struct ps_plan *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n_files; i++)
        free(p->files[i].path);
    free(p->files);
    free(p->shards);
    free(p->seen.slots);
    free(p);
}
