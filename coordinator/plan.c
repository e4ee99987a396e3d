/* plan.c - corpus walking, manifest parsing, line-aligned splitting of plain files and the
 * plan's fingerprint (its text form: plan_text.c). Cuts are found by reading a few bytes around
 * each nominal boundary with pread, so planning a terabyte corpus reads kilobytes, not the
 * corpus. */
/* realpath() is XSI, beyond the _POSIX_C_SOURCE the build sets. */
#define _XOPEN_SOURCE 700
/* d_type and the DT_ values of readdir() are BSD, from the same place */
#define _DEFAULT_SOURCE
#include "coordinator/plan_internal.h"

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
#define SCAN_CHUNK (64 * 1024)

struct builder {
    struct ps_plan *p;
    const struct ps_plan_opts *opts;
    struct ps_errdetail *ed;
    char *scan; /* SCAN_CHUNK bytes, owned: file bytes [scan_pos, scan_pos + scan_len) */
    uint64_t scan_pos;
    size_t scan_len;
    uint64_t work;        /* files and cuts so far, for opts->idle */
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
    o.idle = NULL;
    o.idle_ctx = NULL;
    return o;
}

/* ---- small helpers ---- */

bool ps_plan_splittable(int code)
{
    struct ps_format f;

    return ps_format_from_code(code, &f) && ps_format_splittable(f);
}

bool ps_plan_has_control(const char *s, size_t n)
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
size_t ps_plan_find_file(const struct ps_plan *p, const char *path)
{
    struct ps_itab_probe probe = ps_itab_probe(&p->seen, path_hash(path));
    uint32_t i;

    while ((i = ps_itab_next(&p->seen, &probe)) != PS_ITAB_NONE)
        if (strcmp(p->files[i].path, path) == 0)
            return i;
    return SIZE_MAX;
}

/* ---- plan growth ---- */

enum ps_err ps_plan_push_file(struct ps_plan *p, char *path, uint64_t size, int64_t msec,
                              int64_t mnsec, int format, struct ps_errdetail *ed)
{
    struct plan_file *f;
    uint32_t index;

    if (p->n_files >= PS_ITAB_MAX) {
        ps_errdetail_set(ed, NULL, 0, "more than %" PRIu32 " files", (uint32_t)PS_ITAB_MAX);
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
    if (ps_itab_add(&p->seen, path_hash(path), &index) != PS_OK)
        ps_bug("plan: the path index refused file %zu", p->n_files);
    p->n_files++;
    return PS_OK;
}

enum ps_err ps_plan_push_shard(struct ps_plan *p, size_t file_index, uint64_t begin, uint64_t end,
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

void ps_plan_push_unreadable(struct ps_plan *p, char *path, char *reason)
{
    /* a linear look: such entries are few, and a tree reached twice lists each once */
    for (size_t i = 0; i < p->n_unreadable; i++) {
        if (strcmp(p->unreadable[i].path, path) == 0) {
            free(path);
            free(reason);
            return;
        }
    }
    if (p->n_unreadable == p->cap_unreadable) {
        p->cap_unreadable = p->cap_unreadable == 0 ? 8 : p->cap_unreadable * 2;
        p->unreadable = ps_xrealloc(p->unreadable, p->cap_unreadable * sizeof(*p->unreadable));
    }
    p->unreadable[p->n_unreadable].path = path;
    p->unreadable[p->n_unreadable].reason = reason;
    p->n_unreadable++;
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

/* One more file or cut: now and then, the caller's idle function. */
static void did_work(struct builder *b)
{
    if (b->opts->idle != NULL && ++b->work % PS_PLAN_IDLE_EVERY == 0)
        b->opts->idle(b->opts->idle_ctx);
}

/* Find the first line start at or after `nominal` (0 < nominal < size): the byte after the
 * first '\n' at offset >= nominal - 1. *cut = size when there is none. The chunk read last stays
 * in b->scan: with shards smaller than a chunk the next cuts are found there without a read (a
 * corpus of 4 KiB shards would otherwise read its every byte 16 times). */
static enum ps_err find_cut(struct builder *b, int fd, const char *path, uint64_t nominal,
                            uint64_t size, uint64_t *cut)
{
    uint64_t pos = nominal - 1;

    while (pos < size) {
        const char *nl;
        size_t off;

        if (pos < b->scan_pos || pos >= b->scan_pos + b->scan_len) {
            size_t want = size - pos < SCAN_CHUNK ? (size_t)(size - pos) : SCAN_CHUNK;
            ssize_t got = pread(fd, b->scan, want, (off_t)pos);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                ps_errdetail_set(b->ed, NULL, pos, "cannot read '%s' at offset %" PRIu64 ": %s",
                                 path, pos, strerror(errno));
                return PS_ERR_IO;
            }
            if (got == 0)
                break; /* the file shrank since fstat: no cut, the reader will see the new end */
            b->scan_pos = pos;
            b->scan_len = (size_t)got;
        }
        off = (size_t)(pos - b->scan_pos);
        nl = memchr(b->scan + off, '\n', b->scan_len - off);
        if (nl != NULL) {
            *cut = b->scan_pos + (uint64_t)(nl - b->scan) + 1;
            return PS_OK;
        }
        pos = b->scan_pos + b->scan_len;
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
    if (!ps_plan_splittable(f->format) || size <= b->opts->shard_size)
        return ps_plan_push_shard(b->p, fi, 0, size, b->ed);
    b->scan_len = 0; /* the chunk held is another file's */
    while (size - begin > b->opts->shard_size) {
        uint64_t cut;

        err = find_cut(b, fd, b->p->files[fi].path, begin + b->opts->shard_size, size, &cut);
        if (err != PS_OK)
            return err;
        if (cut >= size)
            break;
        err = ps_plan_push_shard(b->p, fi, begin, cut, b->ed);
        if (err != PS_OK)
            return err;
        begin = cut;
        did_work(b);
    }
    return ps_plan_push_shard(b->p, fi, begin, size, b->ed);
}

/* A walked entry that cannot be taken: listed (path taken over), the walk goes on. A path with
 * a control character cannot be listed in the plan's text: that stays an error. */
static enum ps_err unreadable(struct builder *b, char *path, const char *what, int errnum)
{
    char reason[300];

    if (ps_plan_has_control(path, strlen(path))) {
        ps_errdetail_set(b->ed, NULL, 0,
                         "path '%s' holds a control character (tab, newline, ...); rename it",
                         path);
        free(path);
        return PS_ERR_UNSUPPORTED;
    }
    if (errnum != 0)
        snprintf(reason, sizeof(reason), "%s: %s", what, strerror(errnum));
    else
        snprintf(reason, sizeof(reason), "%s", what);
    ps_plan_push_unreadable(b->p, path, ps_xstrdup(reason));
    return PS_OK;
}

/* Take the regular file at `real` (canonical; ownership taken), opened as `rel` relative to the
 * directory dfd (AT_FDCWD and `real` itself outside a walk: a walk opens each file from its
 * folder, not through its whole path); `name` (the name it was found under) and its first bytes
 * decide the format. A walked file that cannot be opened is listed as unreadable. */
static enum ps_err add_file(struct builder *b, char *real, const char *name, int dfd,
                            const char *rel, bool walked)
{
    char at[300];
    struct stat st;
    struct ps_format fmt;
    struct ps_errdetail ded;
    enum ps_err err;
    int fd;

    if (ps_plan_find_file(b->p, real) != SIZE_MAX) {
        free(real);
        return PS_OK; /* the same file reached twice: listed once */
    }
    where(b, at, sizeof(at));
    if (ps_plan_has_control(real, strlen(real))) {
        ps_errdetail_set(b->ed, NULL, 0,
                         "path '%s' holds a control character (tab, newline, ...); rename it%s",
                         real, at);
        free(real);
        return PS_ERR_UNSUPPORTED;
    }
    fd = openat(dfd, rel, O_RDONLY);
    if (fd < 0 && walked)
        return unreadable(b, real, "cannot open", errno);
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
    err = ps_plan_push_file(b->p, real, (uint64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                            (int64_t)st.st_mtim.tv_nsec, ps_format_code(fmt), b->ed);
    if (err == PS_OK)
        err = split_file(b, fd, b->p->n_files - 1);
    close(fd);
    did_work(b);
    return err;
}

/* A directory entry: its name and what readdir said it is (DT_UNKNOWN on file systems that do
 * not say, where an lstat finds out). */
struct entry {
    char *name;
    unsigned char type;
};

static int cmp_entries(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The entries of the open directory d but ".", ".." and hidden ones, sorted bytewise; owned by
 * the caller (free each name and the array). PS_ERR_IO when readdir fails. */
static enum ps_err read_entries(struct builder *b, DIR *d, const char *dir, struct entry **out,
                                size_t *n_out)
{
    char at[300];
    struct entry *e = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;

    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (de->d_name[0] == '.')
            continue; /* ".", ".." and hidden temporaries */
        if (n == cap) {
            cap = cap == 0 ? 32 : cap * 2;
            e = ps_xrealloc(e, cap * sizeof(*e));
        }
        e[n].name = ps_xstrdup(de->d_name);
        e[n++].type = de->d_type;
    }
    *out = e;
    *n_out = n;
    if (n > 1)
        qsort(e, n, sizeof(*e), cmp_entries);
    if (errno != 0) {
        where(b, at, sizeof(at));
        ps_errdetail_set(b->ed, NULL, 0, "cannot read directory '%s'%s: %s", dir, at,
                         strerror(errno));
        return PS_ERR_IO;
    }
    return PS_OK;
}

static enum ps_err walk_dir(struct builder *b, const char *dir, uint32_t depth);

/* Entry e of the directory `dir` (open as dfd): walked, taken, followed or skipped. */
static enum ps_err walk_entry(struct builder *b, const char *dir, int dfd, const struct entry *e,
                              uint32_t depth)
{
    char at[300];
    unsigned char type = e->type;
    bool taken = ps_format_name_is_corpus(e->name);
    enum ps_err err = PS_OK;
    struct stat st;
    char *child;

    if (type != DT_DIR && type != DT_UNKNOWN && !taken)
        return PS_OK; /* no syscall for a file the walk does not take */
    child = join_path(dir, e->name, strlen(e->name));
    if (type == DT_UNKNOWN) {
        if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            where(b, at, sizeof(at));
            ps_errdetail_set(b->ed, NULL, 0, "cannot stat '%s'%s: %s", child, at, strerror(errno));
            free(child);
            return PS_ERR_IO;
        }
        type = S_ISDIR(st.st_mode)    ? DT_DIR
               : S_ISREG(st.st_mode)  ? DT_REG
               : S_ISLNK(st.st_mode)  ? DT_LNK
               : S_ISFIFO(st.st_mode) ? DT_FIFO
               : S_ISSOCK(st.st_mode) ? DT_SOCK
                                      : DT_CHR;
    }
    if (type == DT_DIR) {
        err = walk_dir(b, child, depth + 1);
    } else if (taken && type == DT_REG) {
        err = add_file(b, child, e->name, dfd, e->name, true);
        child = NULL; /* taken */
    } else if (taken && type == DT_LNK) {
        /* Followed only to a file: a link to a directory could loop. */
        char *real = realpath(child, NULL);
        if (real == NULL) {
            err = unreadable(b, child, "cannot resolve link", errno);
            child = NULL; /* taken */
        } else if (stat(real, &st) == 0 && S_ISREG(st.st_mode)) {
            err = add_file(b, real, e->name, AT_FDCWD, real, true);
        } else {
            free(real);
        }
    } else if (taken) {
        /* never opened: a FIFO without a writer would block the walk */
        err = unreadable(b, child,
                         type == DT_FIFO   ? "not a regular file (a FIFO)"
                         : type == DT_SOCK ? "not a regular file (a socket)"
                                           : "not a regular file (a device)",
                         0);
        child = NULL; /* taken */
    }
    free(child);
    return err;
}

/* Walk the canonical directory `dir` (borrowed). The directory stays open while its entries
 * are taken (at most max_depth + 1 at once), so that each is reached from it. */
static enum ps_err walk_dir(struct builder *b, const char *dir, uint32_t depth)
{
    char at[300];
    struct entry *e = NULL;
    size_t n = 0;
    enum ps_err err;
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
    err = read_entries(b, d, dir, &e, &n);
    for (size_t i = 0; i < n && err == PS_OK; i++)
        err = walk_entry(b, dir, dirfd(d), &e[i], depth);
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
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
        return add_file(b, real, path, AT_FDCWD, real, false);
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
        if (ps_plan_has_control(line, n)) {
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

size_t ps_plan_common_dir_len(const struct ps_plan *p)
{
    size_t len;

    if (p->n_files == 0)
        return 0;
    len = strlen(p->files[0].path);
    for (size_t i = 1; i < p->n_files && len > 0; i++) {
        const char *a = p->files[0].path, *b = p->files[i].path;
        size_t k = 0;
        while (k < len && a[k] == b[k])
            k++;
        len = k;
    }
    /* back to the last '/' of the shared prefix: "/d/ab" and "/d/ac" share "/d/", not "/d/a" */
    while (len > 0 && p->files[0].path[len - 1] != '/')
        len--;
    return len;
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

size_t ps_plan_n_unreadable(const struct ps_plan *p)
{
    return p->n_unreadable;
}

struct ps_plan_unreadable ps_plan_unreadable(const struct ps_plan *p, size_t i)
{
    struct ps_plan_unreadable u;

    if (i >= p->n_unreadable)
        ps_bug("unreadable entry %zu of %zu", i, p->n_unreadable);
    u.path = p->unreadable[i].path;
    u.reason = p->unreadable[i].reason;
    return u;
}

uint32_t *ps_plan_shard_files(const struct ps_plan *p)
{
    uint32_t *f = ps_xcalloc(p->n_shards + 1, sizeof(*f));

    for (size_t i = 0; i < p->n_shards; i++)
        f[i] = p->shards[i].file_index;
    return f;
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

enum ps_err ps_plan_check_files(const struct ps_plan *p, struct ps_errdetail *ed)
{
    for (size_t i = 0; i < p->n_files; i++) {
        const struct plan_file *f = &p->files[i];
        struct stat st;

        if (stat(f->path, &st) != 0) {
            ps_errdetail_set(ed, f->path, 0, "%s: planned file is gone (%s)", f->path,
                             strerror(errno));
            return PS_ERR_USAGE;
        }
        if ((uint64_t)st.st_size != f->size) {
            ps_errdetail_set(ed, f->path, 0,
                             "%s: planned file changed size (%" PRIu64 " bytes planned, %" PRIu64
                             " now)",
                             f->path, f->size, (uint64_t)st.st_size);
            return PS_ERR_USAGE;
        }
        if ((int64_t)st.st_mtim.tv_sec != f->mtime_sec ||
            (int64_t)st.st_mtim.tv_nsec != f->mtime_nsec) {
            ps_errdetail_set(ed, f->path, 0,
                             "%s: planned file was modified since (same size, other mtime)",
                             f->path);
            return PS_ERR_USAGE;
        }
    }
    return PS_OK;
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
    /* nothing when there are none: plans without such entries keep their fingerprint */
    if (p->n_unreadable > 0)
        hash_u64(st, p->n_unreadable);
    for (i = 0; i < p->n_unreadable; i++) {
        hash_u64(st, strlen(p->unreadable[i].path));
        XXH3_64bits_update(st, p->unreadable[i].path, strlen(p->unreadable[i].path));
        hash_u64(st, strlen(p->unreadable[i].reason));
        XXH3_64bits_update(st, p->unreadable[i].reason, strlen(p->unreadable[i].reason));
    }
    h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

void ps_plan_free(struct ps_plan *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n_files; i++)
        free(p->files[i].path);
    free(p->files);
    for (i = 0; i < p->n_unreadable; i++) {
        free(p->unreadable[i].path);
        free(p->unreadable[i].reason);
    }
    free(p->unreadable);
    free(p->shards);
    ps_itab_release(&p->seen);
    free(p);
}
