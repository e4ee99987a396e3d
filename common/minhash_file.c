/* minhash_file.c - per-shard signature files: a 32-byte little-endian header, then one zstd frame
 * (content checksum on) of records and a trailer that counts them, so truncation and corruption
 * are detected. The format is docs/minhash.md "Signature file"; libzstd is translated here only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "common/error.h"
#include "common/minhash.h"
#include "common/minhash_internal.h"

#define FILE_MAGIC       "PSMH"
#define FILE_VERSION     1u
#define HEADER_BYTES     32u
#define TRAILER_MARK     0xFFFFFFFFu
#define RECORD_FIXED     (4u + 4u + 8u + 8u + 4u) /* id_len, kind, begin, end, n_shingles */
#define RECORD_MAX_BYTES (RECORD_FIXED + PS_MINHASH_ID_MAX + 4u * PS_MINHASH_K_MAX)

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

/* ---- writer */

struct ps_minhash_writer {
    FILE *f;
    char *path;     /* owned: final name */
    char *tmp_path; /* owned: "<path>.tmp.<pid>" while writing; the pid keeps two attempts at
                       the same shard (a slow worker and its replacement) apart */
    ZSTD_CCtx *cctx;
    unsigned k;
    uint64_t n_records;
    unsigned char *rec; /* owned: RECORD_MAX_BYTES staging */
    unsigned char *out; /* owned: ZSTD_CStreamOutSize() */
    size_t out_cap;
    enum ps_err err; /* sticky */
};

void ps_minhash_writer_free(struct ps_minhash_writer *w)
{
    if (w == NULL)
        return;
    if (w->f != NULL) {
        fclose(w->f);
        remove(w->tmp_path);
    }
    ZSTD_freeCCtx(w->cctx);
    free(w->path);
    free(w->tmp_path);
    free(w->rec);
    free(w->out);
    free(w);
}

static enum ps_err zstd_fail(struct ps_minhash_writer *w, size_t code, struct ps_errdetail *ed)
{
    ps_errdetail_set(ed, w->path, 0, "zstd: %s", ZSTD_getErrorName(code));
    w->err = PS_ERR_ZSTD;
    return w->err;
}

static enum ps_err io_fail(struct ps_minhash_writer *w, struct ps_errdetail *ed)
{
    ps_errdetail_set(ed, w->path, 0, "cannot write '%s'", w->tmp_path);
    w->err = PS_ERR_IO;
    return w->err;
}

static enum ps_err compress(struct ps_minhash_writer *w, const void *src, size_t src_len,
                            ZSTD_EndDirective mode, struct ps_errdetail *ed)
{
    ZSTD_inBuffer in = {src, src_len, 0};

    for (;;) {
        ZSTD_outBuffer o = {w->out, w->out_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &o, &in, mode);

        if (ZSTD_isError(left))
            return zstd_fail(w, left, ed);
        if (o.pos > 0 && fwrite(w->out, 1, o.pos, w->f) != o.pos)
            return io_fail(w, ed);
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
            return PS_OK;
    }
}

/* `ed` may point at the writer's path, which is freed with it: the message names the file. */
static void forget_path(const struct ps_minhash_writer *w, struct ps_errdetail *ed)
{
    if (ed != NULL && ed->file == w->path)
        ed->file = NULL;
}

enum ps_err ps_minhash_writer_open(struct ps_minhash_writer **out, const char *path,
                                   const struct ps_minhash *m, int zstd_level,
                                   struct ps_errdetail *ed)
{
    struct ps_minhash_opts o = ps_minhash_get_opts(m);
    struct ps_minhash_writer *w = ps_xcalloc(1, sizeof(*w));
    unsigned char hdr[HEADER_BYTES];
    size_t plen = strlen(path);
    size_t r;

    *out = NULL;
    w->path = ps_xstrdup(path);
    w->tmp_path = ps_xmalloc(plen + 32);
    snprintf(w->tmp_path, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    w->k = o.k;
    w->rec = ps_xmalloc(RECORD_MAX_BYTES);
    w->out_cap = ZSTD_CStreamOutSize();
    w->out = ps_xmalloc(w->out_cap);
    w->cctx = ZSTD_createCCtx();
    if (w->cctx == NULL)
        ps_bug("ZSTD_createCCtx failed");
    r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, zstd_level);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(r)) {
        zstd_fail(w, r, ed);
        goto fail;
    }
    w->f = fopen(w->tmp_path, "wb");
    if (w->f == NULL) {
        ps_errdetail_set(ed, path, 0, "cannot create '%s'", w->tmp_path);
        w->err = PS_ERR_IO;
        goto fail;
    }
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, FILE_MAGIC, 4);
    put_u16(hdr + 4, FILE_VERSION);
    put_u16(hdr + 6, (uint16_t)o.method);
    put_u32(hdr + 8, o.k);
    put_u32(hdr + 12, o.ngram);
    put_u64(hdr + 16, o.seed);
    put_u32(hdr + 24, PS_MINHASH_DEFINITION_VERSION);
    put_u32(hdr + 28, 0);
    if (fwrite(hdr, 1, sizeof(hdr), w->f) != sizeof(hdr)) {
        io_fail(w, ed);
        goto fail;
    }
    *out = w;
    return PS_OK;
fail : {
    enum ps_err err = w->err;

    forget_path(w, ed);
    ps_minhash_writer_free(w);
    return err;
}
}

enum ps_err ps_minhash_writer_add(struct ps_minhash_writer *w, const struct ps_minhash_record *rec,
                                  struct ps_errdetail *ed)
{
    unsigned char *p = w->rec;

    if (w->err != PS_OK)
        return w->err;
    if (rec->id_len > PS_MINHASH_ID_MAX) {
        ps_errdetail_set(ed, w->path, 0, "document id of %zu bytes exceeds %u", rec->id_len,
                         PS_MINHASH_ID_MAX);
        return PS_ERR_LIMIT; /* a record error: the file stays usable */
    }
    put_u32(p, (uint32_t)rec->id_len);
    p += 4;
    if (rec->id_len > 0)
        memcpy(p, rec->id, rec->id_len);
    p += rec->id_len;
    put_u32(p, (uint32_t)rec->kind);
    put_u64(p + 4, rec->begin);
    put_u64(p + 12, rec->end);
    put_u32(p + 20, rec->n_shingles);
    p += 24;
    for (unsigned i = 0; i < w->k; i++, p += 4)
        put_u32(p, rec->sig[i]);
    w->n_records++;
    return compress(w, w->rec, (size_t)(p - w->rec), ZSTD_e_continue, ed);
}

enum ps_err ps_minhash_writer_close(struct ps_minhash_writer *w, struct ps_errdetail *ed)
{
    unsigned char trailer[12];
    enum ps_err err = w->err;

    if (err == PS_OK) {
        put_u32(trailer, TRAILER_MARK);
        put_u64(trailer + 4, w->n_records);
        err = compress(w, trailer, sizeof(trailer), ZSTD_e_end, ed);
    }
    if (err == PS_OK) {
        FILE *f = w->f;

        w->f = NULL;
        if (fclose(f) != 0 || rename(w->tmp_path, w->path) != 0) {
            ps_errdetail_set(ed, w->path, 0, "cannot finish '%s'", w->path);
            remove(w->tmp_path);
            err = PS_ERR_IO;
        }
    }
    forget_path(w, ed);
    ps_minhash_writer_free(w);
    return err;
}

/* ---- reader */

struct ps_minhash_reader {
    FILE *f;
    char *path; /* owned */
    ZSTD_DCtx *dctx;
    unsigned k;
    unsigned char *in; /* owned: compressed input */
    size_t in_cap;
    ZSTD_inBuffer inb;
    bool src_eof;
    size_t frame_left;  /* last ZSTD_decompressStream hint: 0 once the frame is complete */
    unsigned char *buf; /* owned: decompressed bytes [pos, len) */
    size_t buf_cap, pos, len;
    uint32_t *sig; /* owned: k slots, the record's signature */
    uint64_t n_records;
    bool done;
    enum ps_err err; /* sticky */
};

void ps_minhash_reader_free(struct ps_minhash_reader *r)
{
    if (r == NULL)
        return;
    if (r->f != NULL)
        fclose(r->f);
    ZSTD_freeDCtx(r->dctx);
    free(r->path);
    free(r->in);
    free(r->buf);
    free(r->sig);
    free(r);
}

static enum ps_err rfail(struct ps_minhash_reader *r, enum ps_err err, struct ps_errdetail *ed,
                         const char *what)
{
    ps_errdetail_set(ed, r->path, 0, "signature file: %s", what);
    r->err = err;
    return err;
}

/* Make `need` decompressed bytes available at buf + pos; *got false at a clean end of data. */
static enum ps_err fill(struct ps_minhash_reader *r, size_t need, bool *got,
                        struct ps_errdetail *ed)
{
    *got = false;
    while (r->len - r->pos < need) {
        ZSTD_outBuffer o;
        size_t ret, in_before;

        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        }
        if (r->inb.pos == r->inb.size && !r->src_eof) {
            size_t n = fread(r->in, 1, r->in_cap, r->f);

            if (n < r->in_cap) {
                if (ferror(r->f))
                    return rfail(r, PS_ERR_IO, ed, "read error");
                r->src_eof = true;
            }
            r->inb.src = r->in;
            r->inb.size = n;
            r->inb.pos = 0;
        }
        o.dst = r->buf + r->len;
        o.size = r->buf_cap - r->len;
        o.pos = 0;
        in_before = r->inb.pos;
        ret = ZSTD_decompressStream(r->dctx, &o, &r->inb);
        if (ZSTD_isError(ret)) {
            ps_errdetail_set(ed, r->path, 0, "zstd: %s", ZSTD_getErrorName(ret));
            r->err = PS_ERR_ZSTD;
            return r->err;
        }
        /* after a finished frame an idle call returns the next header's size: not pending data */
        if (ret == 0 || o.pos > 0 || r->inb.pos > in_before)
            r->frame_left = ret;
        r->len += o.pos;
        if (o.pos == 0 && r->inb.pos == r->inb.size && r->src_eof) {
            /* no input left and the decoder has nothing more to flush */
            if (r->len - r->pos == 0 && r->frame_left == 0)
                return PS_OK;
            return rfail(r, PS_ERR_PARSE, ed, "truncated");
        }
    }
    *got = true;
    return PS_OK;
}

enum ps_err ps_minhash_reader_open(struct ps_minhash_reader **out, const char *path,
                                   struct ps_minhash_file_info *info, struct ps_errdetail *ed)
{
    struct ps_minhash_reader *r = ps_xcalloc(1, sizeof(*r));
    unsigned char hdr[HEADER_BYTES];
    unsigned method, k, ngram;

    *out = NULL;
    r->path = ps_xstrdup(path);
    r->f = fopen(path, "rb");
    if (r->f == NULL) {
        ps_errdetail_set(ed, path, 0, "cannot open signature file");
        ps_minhash_reader_free(r);
        return PS_ERR_IO;
    }
    if (fread(hdr, 1, sizeof(hdr), r->f) != sizeof(hdr) || memcmp(hdr, FILE_MAGIC, 4) != 0 ||
        get_u16(hdr + 4) != FILE_VERSION || get_u32(hdr + 24) != PS_MINHASH_DEFINITION_VERSION) {
        ps_errdetail_set(ed, path, 0, "not a version %u signature file", FILE_VERSION);
        ps_minhash_reader_free(r);
        return PS_ERR_PARSE;
    }
    method = get_u16(hdr + 6);
    k = get_u32(hdr + 8);
    ngram = get_u32(hdr + 12);
    if (method > PS_MINHASH_OPH || k < 16 || k > PS_MINHASH_K_MAX || k % 16 != 0 || ngram < 1 ||
        ngram > PS_MINHASH_NGRAM_MAX) {
        ps_errdetail_set(ed, path, 0, "signature file header: bad method, k or ngram");
        ps_minhash_reader_free(r);
        return PS_ERR_PARSE;
    }
    info->method = (enum ps_minhash_method)method;
    info->k = k;
    info->ngram = ngram;
    info->seed = get_u64(hdr + 16);
    r->k = k;
    r->dctx = ZSTD_createDCtx();
    if (r->dctx == NULL)
        ps_bug("ZSTD_createDCtx failed");
    r->in_cap = ZSTD_DStreamInSize();
    r->in = ps_xmalloc(r->in_cap);
    r->buf_cap = RECORD_MAX_BYTES + ZSTD_DStreamOutSize();
    r->buf = ps_xmalloc(r->buf_cap);
    r->sig = ps_xmalloc(k * sizeof(*r->sig));
    r->frame_left = 1; /* a frame must follow the header */
    *out = r;
    return PS_OK;
}

enum ps_err ps_minhash_reader_next(struct ps_minhash_reader *r, struct ps_minhash_record *rec,
                                   bool *have, struct ps_errdetail *ed)
{
    const unsigned char *p;
    uint32_t id_len;
    bool got;
    enum ps_err err;

    *have = false;
    if (r->err != PS_OK)
        return r->err;
    if (r->done)
        return PS_OK;
    err = fill(r, 4, &got, ed);
    if (err != PS_OK)
        return err;
    if (!got)
        return rfail(r, PS_ERR_PARSE, ed, "truncated: no trailer");
    id_len = get_u32(r->buf + r->pos);
    if (id_len == TRAILER_MARK) {
        err = fill(r, 12, &got, ed);
        if (err != PS_OK)
            return err;
        if (!got)
            return rfail(r, PS_ERR_PARSE, ed, "truncated trailer");
        if (get_u64(r->buf + r->pos + 4) != r->n_records)
            return rfail(r, PS_ERR_PARSE, ed, "record count mismatch");
        r->pos += 12;
        /* nothing may follow the trailer, and the frame (with its checksum) must be complete */
        err = fill(r, 1, &got, ed);
        if (err != PS_OK)
            return err;
        if (got)
            return rfail(r, PS_ERR_PARSE, ed, "data after the trailer");
        r->done = true;
        return PS_OK;
    }
    if (id_len > PS_MINHASH_ID_MAX)
        return rfail(r, PS_ERR_PARSE, ed, "document id too long");
    err = fill(r, RECORD_FIXED + id_len + 4u * r->k, &got, ed);
    if (err != PS_OK)
        return err;
    if (!got)
        return rfail(r, PS_ERR_PARSE, ed, "truncated record");
    p = r->buf + r->pos + 4;
    rec->id = (const char *)p;
    rec->id_len = id_len;
    p += id_len;
    if (get_u32(p) > PS_MINHASH_SEG_RANGE)
        return rfail(r, PS_ERR_PARSE, ed, "bad record kind");
    rec->kind = (enum ps_minhash_seg_kind)get_u32(p);
    rec->begin = get_u64(p + 4);
    rec->end = get_u64(p + 12);
    rec->n_shingles = get_u32(p + 20);
    p += 24;
    /* decoded into an array of our own: the view is aligned, host-order memory */
    for (unsigned i = 0; i < r->k; i++)
        r->sig[i] = get_u32(p + 4 * i);
    rec->sig = r->sig;
    r->pos += RECORD_FIXED + id_len + 4u * r->k;
    r->n_records++;
    *have = true;
    return PS_OK;
}
