/* curve.c - CURVE keys: generation through libzmq, the key file format, and the allow set.
 * Key files are small and written by operators, yet a coordinator reads its allow file again
 * on every SIGHUP, so the parser is bounded like any other input; its messages name the file
 * and the line but never quote a line, which could be a secret key. */
#include "common/curve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

/* Z85 as in ZeroMQ RFC 32: 85 printable characters, each 5 of them one 32-bit group. '#' is
 * among them but is worth 84, and 84 * 85^4 > 2^32 - 1: no key's text starts with '#', so a
 * line that does is a comment without ambiguity. */
static const char z85_chars[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

struct entry {
    uint8_t key[PS_CURVE_KEY_LEN];
    uint32_t seq; /* order of addition: the first of equal keys keeps its name */
    char name[PS_CURVE_NAME_MAX + 1];
};

struct ps_curve_allow {
    struct entry *e; /* sorted by key, no two equal */
    size_t n, cap;
    uint32_t next_seq;
};

bool ps_curve_available(void)
{
    return zmq_has("curve") != 0;
}

/* memset before free can be optimised away; a volatile store cannot. */
void ps_curve_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n-- > 0)
        *v++ = 0;
}

void ps_curve_keypair_wipe(struct ps_curve_keypair *kp)
{
    ps_curve_wipe(kp, sizeof(*kp));
}

enum ps_err ps_curve_keypair_new(struct ps_curve_keypair *out, struct ps_errdetail *ed)
{
    memset(out, 0, sizeof(*out));
    if (!ps_curve_available()) {
        ps_errdetail_set(ed, NULL, 0, "this libzmq was built without CURVE (zmq_has(\"curve\"))");
        return PS_ERR_UNSUPPORTED;
    }
    if (zmq_curve_keypair(out->public_key, out->secret_key) != 0) {
        ps_errdetail_set(ed, NULL, 0, "zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
        ps_curve_keypair_wipe(out);
        return PS_ERR_UNSUPPORTED;
    }
    return PS_OK;
}

bool ps_curve_z85_valid(const char *src, size_t src_len)
{
    if (src_len != PS_CURVE_Z85_LEN)
        return false;
    for (size_t g = 0; g < src_len; g += 5) {
        uint64_t v = 0;
        for (size_t i = g; i < g + 5; i++) {
            const char *c = src[i] != '\0' ? strchr(z85_chars, src[i]) : NULL;
            if (c == NULL)
                return false;
            v = v * 85 + (uint64_t)(c - z85_chars);
        }
        if (v > UINT32_MAX)
            return false;
    }
    return true;
}

bool ps_curve_z85_decode(uint8_t *dst, const char *z85)
{
    char tmp[PS_CURVE_Z85_CAP];

    if (!ps_curve_z85_valid(z85, strnlen(z85, PS_CURVE_Z85_CAP)))
        return false;
    memcpy(tmp, z85, PS_CURVE_Z85_LEN);
    tmp[PS_CURVE_Z85_LEN] = '\0';
    return zmq_z85_decode(dst, tmp) != NULL;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._@:+-", c) != NULL;
}

static bool name_valid(const char *s, size_t n)
{
    if (n == 0 || n > PS_CURVE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || !name_char(s[i]))
            return false;
    return true;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

static enum ps_err line_fail(struct ps_errdetail *ed, const char *file, size_t line_no,
                             const char *what)
{
    ps_errdetail_set(ed, file, line_no, "key file '%s' line %zu: %s", file, line_no, what);
    return PS_ERR_PARSE;
}

/* One line without its line end, already checked for bytes; blanks are trimmed here. */
static enum ps_err parse_line(char *line, size_t n, const char *file, size_t line_no,
                              ps_curve_line_fn fn, void *ctx, struct ps_errdetail *ed)
{
    size_t b = 0, key_end, name_begin, name_end;

    while (b < n && blank(line[b]))
        b++;
    while (n > b && blank(line[n - 1]))
        n--;
    if (b == n || line[b] == '#')
        return PS_OK;
    key_end = b;
    while (key_end < n && !blank(line[key_end]))
        key_end++;
    if (!ps_curve_z85_valid(line + b, key_end - b))
        return line_fail(ed, file, line_no, "not a Z85 key (40 characters) nor a '#' comment");
    name_begin = key_end;
    while (name_begin < n && blank(line[name_begin]))
        name_begin++;
    name_end = name_begin;
    while (name_end < n && !blank(line[name_end]))
        name_end++;
    if (name_end != n)
        return line_fail(ed, file, line_no, "expected 'KEY [NAME]', found more words");
    if (name_begin < n && !name_valid(line + name_begin, n - name_begin))
        return line_fail(ed, file, line_no,
                         "a key's name is 1..64 characters from A-Z a-z 0-9 . _ @ : + -");
    line[key_end] = '\0';
    line[n] = '\0';
    return fn(ctx, line + b, line + name_begin, line_no, ed);
}

enum ps_err ps_curve_parse(const char *src, size_t src_len, const char *file, ps_curve_line_fn fn,
                           void *ctx, struct ps_errdetail *ed)
{
    char line[PS_CURVE_LINE_MAX + 1];
    size_t pos = 0, line_no = 0;
    enum ps_err err = PS_OK;

    if (src_len > PS_CURVE_FILE_MAX) {
        ps_errdetail_set(ed, file, 0, "key file '%s' is larger than %u bytes", file,
                         PS_CURVE_FILE_MAX);
        return PS_ERR_LIMIT;
    }
    while (pos < src_len && err == PS_OK) {
        const char *nl = memchr(src + pos, '\n', src_len - pos);
        size_t end = nl != NULL ? (size_t)(nl - src) : src_len, n = end - pos;

        line_no++;
        if (n > 0 && src[pos + n - 1] == '\r')
            n--;
        if (n > PS_CURVE_LINE_MAX) {
            err = line_fail(ed, file, line_no, "line longer than 256 bytes");
            break;
        }
        memcpy(line, src + pos, n);
        for (size_t i = 0; i < n && err == PS_OK; i++) {
            unsigned char c = (unsigned char)line[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                err = line_fail(ed, file, line_no, "control character");
        }
        if (err == PS_OK)
            err = parse_line(line, n, file, line_no, fn, ctx, ed);
        pos = end + 1;
    }
    ps_curve_wipe(line, sizeof(line));
    return err;
}

/* The whole file into a new buffer (NUL-terminated) of at most PS_CURVE_FILE_MAX bytes; works
 * on pipes too, where st_size says nothing. The caller wipes and frees *out. */
static enum ps_err read_file(const char *path, char **out, size_t *out_len, bool *loose_mode,
                             struct ps_errdetail *ed)
{
    size_t cap = 4096, len = 0;
    char *buf;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    *out_len = 0;
    if (fd < 0) {
        ps_errdetail_set(ed, path, 0, "cannot open key file '%s': %s", path, strerror(errno));
        return PS_ERR_IO;
    }
    if (loose_mode != NULL)
        *loose_mode = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0;
    buf = ps_xmalloc(cap + 1);
    for (;;) {
        ssize_t got;
        if (len == cap) {
            if (cap > PS_CURVE_FILE_MAX) {
                ps_errdetail_set(ed, path, 0, "key file '%s' is larger than %u bytes", path,
                                 PS_CURVE_FILE_MAX);
                close(fd);
                ps_curve_wipe(buf, len);
                free(buf);
                return PS_ERR_LIMIT;
            }
            /* grown by hand rather than realloc'ed, so that no copy of a secret is left behind */
            char *bigger = ps_xmalloc(cap * 2 + 1);
            memcpy(bigger, buf, len);
            ps_curve_wipe(buf, len);
            free(buf);
            buf = bigger;
            cap *= 2;
        }
        got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            ps_errdetail_set(ed, path, 0, "cannot read key file '%s': %s", path, strerror(errno));
            close(fd);
            ps_curve_wipe(buf, len);
            free(buf);
            return PS_ERR_IO;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return PS_OK;
}

struct one_key {
    char key[PS_CURVE_Z85_CAP];
    size_t n;
};

static enum ps_err take_one(void *ctx, const char *z85, const char *name, size_t line_no,
                            struct ps_errdetail *ed)
{
    struct one_key *k = ctx;

    (void)name;
    (void)line_no;
    (void)ed;
    if (k->n++ == 0)
        memcpy(k->key, z85, PS_CURVE_Z85_CAP);
    return PS_OK;
}

/* Exactly one key line in file `path`. */
static enum ps_err read_one_key(const char *path, const char *what, char *dst, bool *loose_mode,
                                struct ps_errdetail *ed)
{
    struct one_key k = {{0}, 0};
    char *text;
    size_t len;
    enum ps_err err = read_file(path, &text, &len, loose_mode, ed);

    if (err != PS_OK)
        return err;
    err = ps_curve_parse(text, len, path, take_one, &k, ed);
    ps_curve_wipe(text, len);
    free(text);
    if (err == PS_OK && k.n != 1) {
        ps_errdetail_set(ed, path, 0, "%s file '%s' holds %zu keys, expected exactly one", what,
                         path, k.n);
        err = PS_ERR_PARSE;
    }
    if (err == PS_OK)
        memcpy(dst, k.key, PS_CURVE_Z85_CAP);
    ps_curve_wipe(&k, sizeof(k));
    return err;
}

enum ps_err ps_curve_read_secret(const char *path, struct ps_curve_keypair *out, bool *loose_mode,
                                 struct ps_errdetail *ed)
{
    enum ps_err err;

    memset(out, 0, sizeof(*out));
    if (!ps_curve_available()) {
        ps_errdetail_set(ed, NULL, 0, "this libzmq was built without CURVE (zmq_has(\"curve\"))");
        return PS_ERR_UNSUPPORTED;
    }
    err = read_one_key(path, "secret key", out->secret_key, loose_mode, ed);
    if (err == PS_OK && zmq_curve_public(out->public_key, out->secret_key) != 0) {
        ps_errdetail_set(ed, path, 0, "secret key file '%s': not a valid key", path);
        err = PS_ERR_PARSE;
    }
    if (err != PS_OK)
        ps_curve_keypair_wipe(out);
    return err;
}

enum ps_err ps_curve_read_public(const char *arg, char *dst, struct ps_errdetail *ed)
{
    uint8_t bin[PS_CURVE_KEY_LEN];
    enum ps_err err;

    dst[0] = '\0';
    /* the key first: '@' is a Z85 character too, and a key may start with it */
    if (ps_curve_z85_valid(arg, strlen(arg))) {
        memcpy(dst, arg, PS_CURVE_Z85_CAP);
    } else if (arg[0] == '@') {
        err = read_one_key(arg + 1, "public key", dst, NULL, ed);
        if (err != PS_OK)
            return err;
    } else {
        ps_errdetail_set(ed, NULL, 0,
                         "not a public key: give its 40 Z85 characters or @FILE (a public key "
                         "file from poisonscan keygen)");
        return PS_ERR_USAGE;
    }
    if (!ps_curve_z85_decode(bin, dst)) {
        ps_errdetail_set(ed, NULL, 0, "public key '%s' does not decode", dst);
        dst[0] = '\0';
        return PS_ERR_USAGE;
    }
    return PS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* writing key files                                                                           */

static enum ps_err write_all(int fd, const char *path, const char *src, size_t src_len,
                             struct ps_errdetail *ed)
{
    while (src_len > 0) {
        ssize_t n = write(fd, src, src_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ps_errdetail_set(ed, path, 0, "cannot write '%s': %s", path, strerror(errno));
            return PS_ERR_IO;
        }
        src += n;
        src_len -= (size_t)n;
    }
    return PS_OK;
}

/* Create `path` with exactly `mode`, or, with `force`, a temporary file renamed over it. The
 * file is created with its final mode, never widened later. */
static enum ps_err write_key_file(const char *path, const char *src, size_t src_len, mode_t mode,
                                  bool force, struct ps_errdetail *ed)
{
    char tmp[4096 + 32];
    const char *target = path;
    enum ps_err err;
    int fd;

    if (force) {
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
            ps_errdetail_set(ed, path, 0, "path '%s' is too long", path);
            return PS_ERR_IO;
        }
        unlink(tmp);
        target = tmp;
    }
    fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        ps_errdetail_set(ed, path, 0, "cannot create '%s': %s%s", path, strerror(errno),
                         errno == EEXIST ? " (use --force to replace it)" : "");
        return PS_ERR_IO;
    }
    /* the umask may have narrowed a public file's mode; it never widens a secret one */
    err = fchmod(fd, mode) == 0 ? write_all(fd, path, src, src_len, ed) : PS_ERR_IO;
    if (err == PS_OK && fsync(fd) != 0)
        err = PS_ERR_IO;
    if (close(fd) != 0 && err == PS_OK)
        err = PS_ERR_IO;
    if (err == PS_OK && force && rename(tmp, path) != 0)
        err = PS_ERR_IO;
    if (err != PS_OK) {
        if (ed != NULL && ed->msg[0] == '\0')
            ps_errdetail_set(ed, path, 0, "cannot write '%s': %s", path, strerror(errno));
        unlink(target);
    }
    return err;
}

enum ps_err ps_curve_write_keypair(const struct ps_curve_keypair *kp, const char *secret_path,
                                   const char *public_path, const char *name, bool force,
                                   struct ps_errdetail *ed)
{
    char secret[512], public[512];
    struct stat st;
    int n_sec, n_pub;
    enum ps_err err;

    if (ed != NULL)
        ed->msg[0] = '\0';
    if (name == NULL)
        name = "";
    if (name[0] != '\0' && !name_valid(name, strlen(name))) {
        ps_errdetail_set(ed, NULL, 0,
                         "key name '%.64s' must be 1..64 characters from A-Z a-z 0-9 . _ @ : + -",
                         name);
        return PS_ERR_USAGE;
    }
    if (!force && (lstat(secret_path, &st) == 0 || lstat(public_path, &st) == 0)) {
        ps_errdetail_set(ed, NULL, 0, "'%s' exists; use --force to replace the key pair",
                         lstat(secret_path, &st) == 0 ? secret_path : public_path);
        return PS_ERR_IO;
    }
    n_sec = snprintf(secret, sizeof(secret),
                     "# poisonscan CURVE secret key (Z85, zmq_curve_keypair). Keep it private: "
                     "mode 0600, never in a command line or a log.\n"
                     "# its public key: %s%s%s\n%s\n",
                     kp->public_key, name[0] ? " " : "", name, kp->secret_key);
    n_pub = snprintf(public, sizeof(public),
                     "# poisonscan CURVE public key (Z85). A worker takes it as --curve-server-key "
                     "@FILE; a coordinator admits the line in its --curve-allow file.\n%s%s%s\n",
                     kp->public_key, name[0] ? " " : "", name);
    err = write_key_file(secret_path, secret, (size_t)n_sec, 0600, force, ed);
    ps_curve_wipe(secret, sizeof(secret));
    if (err != PS_OK)
        return err;
    err = write_key_file(public_path, public, (size_t)n_pub, 0644, force, ed);
    if (err != PS_OK && !force)
        unlink(secret_path); /* all or nothing: a secret without its public half is no use */
    return err;
}

/* ------------------------------------------------------------------------------------------ */
/* the allow set                                                                               */

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = memcmp(x->key, y->key, PS_CURVE_KEY_LEN);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int key_cmp(const void *key, const void *e)
{
    return memcmp(key, ((const struct entry *)e)->key, PS_CURVE_KEY_LEN);
}

struct ps_curve_allow *ps_curve_allow_new(void)
{
    return ps_xcalloc(1, sizeof(struct ps_curve_allow));
}

void ps_curve_allow_free(struct ps_curve_allow *a)
{
    if (a == NULL)
        return;
    free(a->e);
    free(a);
}

size_t ps_curve_allow_n(const struct ps_curve_allow *a)
{
    return a->n;
}

/* Append without keeping the order; sort_unique() restores it. */
static enum ps_err append(struct ps_curve_allow *a, const char *z85, const char *name,
                          struct ps_errdetail *ed)
{
    struct entry *e;

    if (name == NULL)
        name = "";
    if (name[0] != '\0' && !name_valid(name, strlen(name))) {
        ps_errdetail_set(ed, NULL, 0, "key name must be 1..64 characters from A-Z a-z 0-9 ._@:+-");
        return PS_ERR_USAGE;
    }
    if (a->n >= PS_CURVE_ALLOW_MAX) {
        ps_errdetail_set(ed, NULL, 0, "more than %u keys", PS_CURVE_ALLOW_MAX);
        return PS_ERR_LIMIT;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->e = ps_xrealloc(a->e, a->cap * sizeof(*a->e));
    }
    e = &a->e[a->n];
    if (!ps_curve_z85_decode(e->key, z85)) {
        ps_errdetail_set(ed, NULL, 0, "not a Z85 public key");
        return PS_ERR_USAGE;
    }
    e->seq = a->next_seq++;
    snprintf(e->name, sizeof(e->name), "%s", name[0] ? name : z85);
    a->n++;
    return PS_OK;
}

static void sort_unique(struct ps_curve_allow *a)
{
    size_t kept = 0;

    qsort(a->e, a->n, sizeof(*a->e), entry_cmp);
    for (size_t i = 0; i < a->n; i++)
        if (kept == 0 || memcmp(a->e[kept - 1].key, a->e[i].key, PS_CURVE_KEY_LEN) != 0)
            a->e[kept++] = a->e[i];
    a->n = kept;
}

enum ps_err ps_curve_allow_add(struct ps_curve_allow *a, const char *z85, const char *name,
                               struct ps_errdetail *ed)
{
    enum ps_err err = append(a, z85, name, ed);

    if (err == PS_OK)
        sort_unique(a);
    return err;
}

struct allow_ctx {
    struct ps_curve_allow *a;
    const char *file;
};

static enum ps_err add_line(void *ctx, const char *z85, const char *name, size_t line_no,
                            struct ps_errdetail *ed)
{
    struct allow_ctx *x = ctx;
    struct ps_errdetail sub = {0};
    enum ps_err err = append(x->a, z85, name, &sub);

    if (err != PS_OK)
        ps_errdetail_set(ed, x->file, line_no, "key file '%s' line %zu: %s", x->file, line_no,
                         sub.msg);
    return err;
}

enum ps_err ps_curve_allow_parse(struct ps_curve_allow **out, const char *src, size_t src_len,
                                 const char *file, struct ps_errdetail *ed)
{
    struct ps_curve_allow *a = ps_curve_allow_new();
    struct allow_ctx x = {a, file};
    enum ps_err err = ps_curve_parse(src, src_len, file, add_line, &x, ed);

    *out = NULL;
    if (err == PS_OK && a->n == 0) {
        ps_errdetail_set(ed, file, 0, "allow file '%s' holds no key: no worker could connect",
                         file);
        err = PS_ERR_PARSE;
    }
    if (err != PS_OK) {
        ps_curve_allow_free(a);
        return err;
    }
    sort_unique(a);
    *out = a;
    return PS_OK;
}

enum ps_err ps_curve_allow_load(struct ps_curve_allow **out, const char *path,
                                struct ps_errdetail *ed)
{
    char *text;
    size_t len;
    enum ps_err err = read_file(path, &text, &len, NULL, ed);

    *out = NULL;
    if (err != PS_OK)
        return err;
    err = ps_curve_allow_parse(out, text, len, path, ed);
    free(text);
    return err;
}

struct ps_curve_allow *ps_curve_allow_dup(const struct ps_curve_allow *a)
{
    struct ps_curve_allow *d = ps_curve_allow_new();

    *d = *a;
    d->e = a->n ? ps_xmalloc(a->n * sizeof(*a->e)) : NULL;
    d->cap = a->n;
    if (a->n)
        memcpy(d->e, a->e, a->n * sizeof(*a->e));
    return d;
}

const char *ps_curve_allow_find(const struct ps_curve_allow *a, const uint8_t *key)
{
    const struct entry *e = a->n ? bsearch(key, a->e, a->n, sizeof(*a->e), key_cmp) : NULL;

    return e != NULL ? e->name : NULL;
}
