/* journal.c - the coordinator's record of committed shards: bitmaps per pass in memory, and
 * the append-only text file of journal.h. Lines carry their own checksum, so that a torn last
 * write is told from a damaged file; the file is rewritten compacted at each open and after a
 * reconciliation, so it holds one bit's worth of text per committed shard and pass. */
#include "coordinator/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/buf.h"
#include "common/fileio.h"
#include "common/pass.h"

#define MAGIC "poisonscan-journal"

struct ps_journal {
    char *path; /* NULL: memory only */
    int fd;     /* append descriptor, -1 in memory mode */
    char job[PS_STORE_JOB_MAX + 1];
    uint64_t fingerprint;
    size_t n_shards;
    uint8_t *bits[PS_PASS__LAST + 1]; /* [pass][shard / 8], passes 1.. */
    size_t count[PS_PASS__LAST + 1];
};

/* ---- parsing ---- */

/* A decimal number of at most 20 digits at *p (ending before end), no sign, no leading '+'. */
static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;

    if (s == end || *s < '0' || *s > '9')
        return false;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

static bool parse_hex(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16;
        if (d == 16)
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

static bool expect_space(const char **p, const char *end)
{
    if (*p == end || **p != ' ')
        return false;
    (*p)++;
    return true;
}

static bool parse_header(const char *s, const char *end, struct ps_journal_header *h,
                         struct ps_errdetail *ed)
{
    const char *p = s, *job;
    uint64_t v;

    if ((size_t)(end - p) < sizeof(MAGIC) || memcmp(p, MAGIC " ", sizeof(MAGIC)) != 0) {
        ps_errdetail_set(ed, NULL, 0, "not a poisonscan journal (no '" MAGIC "' header)");
        return false;
    }
    p += sizeof(MAGIC);
    if (!parse_u64(&p, end, &v) || !expect_space(&p, end)) {
        ps_errdetail_set(ed, NULL, 0, "journal header: bad version");
        return false;
    }
    if (v != PS_JOURNAL_VERSION) {
        ps_errdetail_set(ed, NULL, 0, "journal version %" PRIu64 ", this build reads %d", v,
                         PS_JOURNAL_VERSION);
        return false;
    }
    h->version = (unsigned)v;
    job = p;
    while (p < end && *p != ' ')
        p++;
    if (p - job < 1 || p - job > PS_STORE_JOB_MAX) {
        ps_errdetail_set(ed, NULL, 0, "journal header: bad job id");
        return false;
    }
    memcpy(h->job, job, (size_t)(p - job));
    h->job[p - job] = '\0';
    if (!ps_store_job_valid(h->job) || !expect_space(&p, end) || end - p < 17 ||
        !parse_hex(p, 16, &h->fingerprint) || p[16] != ' ') {
        ps_errdetail_set(ed, NULL, 0, "journal header: bad job id or fingerprint");
        return false;
    }
    p += 17;
    if (!parse_u64(&p, end, &h->n_shards) || p != end || h->n_shards > UINT32_MAX) {
        ps_errdetail_set(ed, NULL, 0, "journal header: bad shard count");
        return false;
    }
    return true;
}

/* One record line s[0, end) without its newline: checksum first, then the records. false when it
 * does not parse (fn not called); a failure of fn comes back through *err. */
static bool parse_record(const char *s, const char *end, const struct ps_journal_header *h,
                         ps_journal_record_fn fn, void *ctx, enum ps_err *err)
{
    const char *p = s, *sum;
    uint64_t pass, shard, want;
    uint32_t ids[PS_JOURNAL_LINE_SHARDS];
    size_t n = 0;

    if (end - s < 10 || end[-9] != ' ')
        return false;
    sum = end - 8;
    if (!parse_hex(sum, 8, &want) || XXH32(s, (size_t)(sum - 1 - s), 0) != (uint32_t)want)
        return false;
    end = sum - 1;
    if (!parse_u64(&p, end, &pass) || pass < PS_PASS_SCAN || pass > PS_PASS__LAST)
        return false;
    while (p < end) {
        if (!expect_space(&p, end) || !parse_u64(&p, end, &shard) || shard >= h->n_shards ||
            n == PS_JOURNAL_LINE_SHARDS)
            return false;
        ids[n++] = (uint32_t)shard;
    }
    if (n == 0)
        return false;
    for (size_t i = 0; fn != NULL && i < n && *err == PS_OK; i++)
        *err = fn(ctx, (unsigned)pass, ids[i]);
    return true;
}

enum ps_err ps_journal_parse(const char *src, size_t src_len, struct ps_journal_header *hdr,
                             ps_journal_record_fn fn, void *ctx, size_t *used,
                             struct ps_errdetail *ed)
{
    const char *end = src + src_len, *nl;
    const char *p = src;
    size_t line = 1;

    memset(hdr, 0, sizeof(*hdr));
    if (used != NULL)
        *used = 0;
    nl = memchr(p, '\n', src_len < PS_JOURNAL_LINE_MAX ? src_len : PS_JOURNAL_LINE_MAX);
    if (nl == NULL) {
        ps_errdetail_set(ed, NULL, 0, "journal header: missing or longer than %d bytes",
                         PS_JOURNAL_LINE_MAX);
        return PS_ERR_PROTO;
    }
    if (!parse_header(p, nl, hdr, ed))
        return PS_ERR_PROTO;
    if (used != NULL)
        *used = (size_t)(nl + 1 - src);
    for (p = nl + 1; p < end; p = nl + 1) {
        size_t left = (size_t)(end - p);
        enum ps_err err = PS_OK;

        line++;
        nl = memchr(p, '\n', left < PS_JOURNAL_LINE_MAX ? left : PS_JOURNAL_LINE_MAX);
        if (nl == NULL && left >= PS_JOURNAL_LINE_MAX) {
            ps_errdetail_set(ed, NULL, 0, "journal line %zu: longer than %d bytes", line,
                             PS_JOURNAL_LINE_MAX);
            return PS_ERR_PROTO;
        }
        if (nl == NULL || !parse_record(p, nl, hdr, fn, ctx, &err)) {
            /* the last line may be a write cut short by a crash; any other is damage */
            if (nl == NULL || nl + 1 == end)
                break;
            ps_errdetail_set(ed, NULL, 0, "journal line %zu: not a valid record", line);
            return PS_ERR_PROTO;
        }
        if (err != PS_OK)
            return err;
        if (used != NULL)
            *used = (size_t)(nl + 1 - src);
    }
    return PS_OK;
}

/* ---- the record ---- */

static void set_bit(struct ps_journal *j, unsigned pass, uint32_t shard)
{
    uint8_t m = (uint8_t)(1u << (shard % 8));

    if (!(j->bits[pass][shard / 8] & m)) {
        j->bits[pass][shard / 8] |= m;
        j->count[pass]++;
    }
}

static enum ps_err load_record(void *ctx, unsigned pass, uint32_t shard)
{
    set_bit(ctx, pass, shard);
    return PS_OK;
}

static void header_line(const struct ps_journal *j, struct ps_buf *b)
{
    ps_buf_addf(b, MAGIC " %d %s %016" PRIx64 " %zu\n", PS_JOURNAL_VERSION, j->job, j->fingerprint,
                j->n_shards);
}

/* Record lines for shards[0, n) of `pass`, PS_JOURNAL_LINE_SHARDS a line, appended to b. */
static void record_lines(struct ps_buf *b, unsigned pass, const uint32_t *shards, size_t n)
{
    for (size_t i = 0; i < n; i += PS_JOURNAL_LINE_SHARDS) {
        size_t start = b->len, m = n - i < PS_JOURNAL_LINE_SHARDS ? n - i : PS_JOURNAL_LINE_SHARDS;
        ps_buf_addf(b, "%u", pass);
        for (size_t k = 0; k < m; k++)
            ps_buf_addf(b, " %u", shards[i + k]);
        ps_buf_addf(b, " %08x\n", (unsigned)XXH32(b->data + start, b->len - start, 0));
    }
}

static enum ps_err open_append(struct ps_journal *j, struct ps_errdetail *ed)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (j->fd < 0) {
        ps_errdetail_set(ed, NULL, 0, "cannot open the journal '%s': %s", j->path, strerror(errno));
        return PS_ERR_IO;
    }
    return PS_OK;
}

enum ps_err ps_journal_rewrite(struct ps_journal *j, struct ps_errdetail *ed)
{
    struct ps_buf b;
    uint32_t *ids;
    enum ps_err err;

    if (j->path == NULL)
        return PS_OK;
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    header_line(j, &b);
    ids = ps_xmalloc((j->n_shards + 1) * sizeof(*ids));
    for (unsigned p = PS_PASS_SCAN; p <= PS_PASS__LAST; p++) {
        size_t n = 0;
        for (size_t s = 0; s < j->n_shards; s++)
            if (j->bits[p][s / 8] >> (s % 8) & 1)
                ids[n++] = (uint32_t)s;
        record_lines(&b, p, ids, n);
    }
    free(ids);
    err = ps_file_write_atomic(j->path, b.data, b.len, ed);
    ps_buf_release(&b);
    return err == PS_OK ? open_append(j, ed) : err;
}

/* Read the file at j->path into memory; a missing file is an empty record. */
static enum ps_err read_file(struct ps_journal *j, bool *replaced, struct ps_errdetail *ed)
{
    FILE *f = fopen(j->path, "rb");
    struct ps_journal_header h;
    struct ps_buf b;
    char chunk[65536];
    size_t n;
    enum ps_err err = PS_OK;

    if (f == NULL && errno == ENOENT)
        return PS_OK;
    if (f == NULL) {
        ps_errdetail_set(ed, NULL, 0, "cannot read the journal '%s': %s", j->path, strerror(errno));
        return PS_ERR_IO;
    }
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ps_buf_add(&b, chunk, n);
    if (ferror(f)) {
        ps_errdetail_set(ed, NULL, 0, "cannot read the journal '%s'", j->path);
        err = PS_ERR_IO;
    }
    fclose(f);
    if (err == PS_OK) {
        struct ps_errdetail why = {0};
        /* checked whole first; then read only when it is this job's state */
        err = ps_journal_parse(b.data ? b.data : "", b.len, &h, NULL, NULL, NULL, &why);
        if (err == PS_OK && strcmp(h.job, j->job) != 0) {
            ps_errdetail_set(&why, NULL, 0, "it belongs to job '%s'", h.job);
            err = PS_ERR_PROTO;
        }
        if (err == PS_OK && (h.fingerprint != j->fingerprint || h.n_shards != j->n_shards))
            *replaced = true; /* the job was made again (gc, then other settings) */
        else if (err == PS_OK)
            err = ps_journal_parse(b.data, b.len, &h, load_record, j, NULL, &why);
        if (err != PS_OK)
            ps_errdetail_set(ed, NULL, 0, "journal '%s': %.150s", j->path, why.msg);
    }
    ps_buf_release(&b);
    return err;
}

enum ps_err ps_journal_open(struct ps_journal **out, const char *dir, const char *job,
                            uint64_t fingerprint, size_t n_shards, bool *replaced,
                            struct ps_errdetail *ed)
{
    struct ps_journal *j = ps_xcalloc(1, sizeof(*j));
    enum ps_err err = PS_OK;

    *out = NULL;
    *replaced = false;
    j->fd = -1;
    snprintf(j->job, sizeof(j->job), "%s", job);
    j->fingerprint = fingerprint;
    j->n_shards = n_shards;
    for (unsigned p = PS_PASS_SCAN; p <= PS_PASS__LAST; p++)
        j->bits[p] = ps_xcalloc(n_shards / 8 + 1, 1);
    if (dir != NULL) {
        size_t len = strlen(dir) + strlen(job) + sizeof("/.journal");
        j->path = ps_xmalloc(len);
        snprintf(j->path, len, "%s/%s.journal", dir, job);
        err = ps_file_mkdirs(dir, ed);
        if (err == PS_OK)
            err = read_file(j, replaced, ed);
        if (err == PS_OK)
            err = ps_journal_rewrite(j, ed);
    }
    if (err != PS_OK) {
        ps_journal_free(j);
        return err;
    }
    *out = j;
    return PS_OK;
}

void ps_journal_free(struct ps_journal *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    for (unsigned p = PS_PASS_SCAN; p <= PS_PASS__LAST; p++)
        free(j->bits[p]);
    free(j->path);
    free(j);
}

enum ps_err ps_journal_add(struct ps_journal *j, unsigned pass, const uint32_t *shards, size_t n,
                           struct ps_errdetail *ed)
{
    struct ps_buf b;
    enum ps_err err = PS_OK;
    size_t off = 0;

    if (pass < PS_PASS_SCAN || pass > PS_PASS__LAST)
        ps_bug("journal: pass %u", pass);
    for (size_t i = 0; i < n; i++) {
        if (shards[i] >= j->n_shards)
            ps_bug("journal: shard %u of %zu", shards[i], j->n_shards);
        set_bit(j, pass, shards[i]);
    }
    if (j->path == NULL || n == 0)
        return PS_OK;
    ps_buf_init(&b, PS_BUF_NO_LIMIT);
    record_lines(&b, pass, shards, n);
    while (off < b.len) {
        ssize_t w = write(j->fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = PS_ERR_IO;
            break;
        }
        off += (size_t)w;
    }
    if (err == PS_OK && fsync(j->fd) != 0)
        err = PS_ERR_IO;
    if (err != PS_OK)
        ps_errdetail_set(ed, NULL, 0, "cannot write the journal '%s': %s", j->path,
                         strerror(errno));
    ps_buf_release(&b);
    return err;
}

bool ps_journal_has(const struct ps_journal *j, unsigned pass, uint32_t shard)
{
    if (pass < PS_PASS_SCAN || pass > PS_PASS__LAST || shard >= j->n_shards)
        return false;
    return j->bits[pass][shard / 8] >> (shard % 8) & 1;
}

size_t ps_journal_count(const struct ps_journal *j, unsigned pass)
{
    return pass >= PS_PASS_SCAN && pass <= PS_PASS__LAST ? j->count[pass] : 0;
}

void ps_journal_forget(struct ps_journal *j, unsigned pass, uint32_t shard)
{
    if (pass < PS_PASS_SCAN || pass > PS_PASS__LAST)
        return;
    if (shard == UINT32_MAX) {
        memset(j->bits[pass], 0, j->n_shards / 8 + 1);
        j->count[pass] = 0;
    } else if (ps_journal_has(j, pass, shard)) {
        j->bits[pass][shard / 8] &= (uint8_t) ~(1u << (shard % 8));
        j->count[pass]--;
    }
}

void ps_journal_remove(struct ps_journal *j)
{
    if (j->path != NULL)
        unlink(j->path);
}

const char *ps_journal_path(const struct ps_journal *j)
{
    return j->path != NULL ? j->path : "(memory)";
}
