/* test_results.c - the results blob: every section round-trips with its values, a blob cut short
 * at any byte is refused, and so are a wrong magic or version, a section the pass does not
 * commit, a text over the bound, and more documents in role than containing the pattern; a big
 * body is compressed (its checksum catches a damaged byte) and a text's own hash is left out;
 * a blob inflated once reads the same. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/pass.h"
#include "common/results.h"

#include <xxhash.h>

struct seen {
    struct ps_results_totals totals;
    int n_errors, n_cands, n_leads, n_counts, n_sketch, n_members, n_hits, n_samples;
    uint64_t sketch_sum; /* row * 10^10 + cell, times count, over the sketch cells */
    uint64_t sample_rank;
    char last_text[64];
    uint64_t last_hash, last_docs, count_sum, member_keys, entry_context;
    uint64_t entry_at, carrier_at;     /* entries[1].at; entries[0].at when it is a carrier */
    uint64_t carrier_next, entry_next; /* entries[0].next, entries[1].next */
    bool carrier_glued, entry_glued, carrier_restates, entry_restates;
    uint32_t entry_sketch7;
    uint8_t entry_kind;
    bool entry_role;
};

static enum ps_err on_totals(void *ctx, const struct ps_results_totals *t)
{
    ((struct seen *)ctx)->totals = *t;
    return PS_OK;
}

static enum ps_err on_error(void *ctx, const struct ps_results_error *e)
{
    struct seen *s = ctx;

    s->n_errors++;
    assert_int_equal(e->offset, 77);
    assert_memory_equal(e->reason, "bad json", e->reason_len);
    return PS_OK;
}

static enum ps_err on_cand(void *ctx, const struct ps_results_cand *c)
{
    struct seen *s = ctx;

    s->n_cands++;
    s->last_hash = c->hash;
    s->last_docs = c->docs;
    snprintf(s->last_text, sizeof(s->last_text), "%.*s", (int)c->text_len, c->text);
    return PS_OK;
}

static enum ps_err on_lead(void *ctx, const struct ps_results_cand *c)
{
    (void)c;
    ((struct seen *)ctx)->n_leads++;
    return PS_OK;
}

static enum ps_err on_count(void *ctx, const struct ps_results_count *c)
{
    struct seen *s = ctx;

    s->n_counts++;
    s->count_sum += c->pattern * 100 + c->total * 10 + c->role;
    return PS_OK;
}

static enum ps_err on_sketch(void *ctx, unsigned row, uint64_t cell, unsigned count)
{
    struct seen *s = ctx;

    s->n_sketch++;
    s->sketch_sum += (row * UINT64_C(10000000000) + cell) * count;
    return PS_OK;
}

static enum ps_err on_member(void *ctx, const struct ps_results_member *m)
{
    struct seen *s = ctx;

    s->n_members++;
    for (size_t i = 0; i < m->n_keys; i++)
        s->member_keys += m->keys[i];
    assert_int_equal(m->offset, 123456789012ull);
    assert_memory_equal(m->id, "doc-1", m->id_len);
    return PS_OK;
}

static enum ps_err on_hit(void *ctx, const struct ps_results_hit *h)
{
    struct seen *s = ctx;

    s->n_hits++;
    assert_int_equal(h->n_entries, 2);
    s->entry_context = h->entries[1].context;
    s->entry_sketch7 = h->entries[1].sketch[7];
    s->entry_kind = h->entries[1].kind;
    s->entry_role = h->entries[1].in_role;
    s->entry_at = h->entries[1].at;
    s->carrier_at = h->entries[0].in_role ? UINT64_MAX : h->entries[0].at;
    s->carrier_next = h->entries[0].next;
    s->entry_next = h->entries[1].next;
    s->carrier_glued = h->entries[0].glued;
    s->entry_glued = h->entries[1].glued;
    s->carrier_restates = h->entries[0].restates;
    s->entry_restates = h->entries[1].restates;
    return PS_OK;
}

static enum ps_err on_sample(void *ctx, const struct ps_results_sample *p)
{
    struct seen *s = ctx;

    s->n_samples++;
    s->sample_rank = p->rank;
    s->entry_kind = p->e.kind;
    return PS_OK;
}

static const struct ps_results_visitor visitor = {.totals = on_totals,
                                                  .error = on_error,
                                                  .cand = on_cand,
                                                  .lead = on_lead,
                                                  .count = on_count,
                                                  .sketch = on_sketch,
                                                  .member = on_member,
                                                  .hit = on_hit,
                                                  .sample = on_sample};

static enum ps_err decode(struct ps_results_writer *w, struct seen *s, unsigned *pass,
                          uint32_t *shard)
{
    struct ps_results_header h = {0};
    enum ps_err err;
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_errdetail ed = {0};
    size_t n;
    const void *p = ps_results_data(w, &n);

    memset(s, 0, sizeof(*s));
    err = ps_results_decode(p, n, &lim, &visitor, s, &h, &ed);
    if (pass != NULL)
        *pass = h.pass;
    if (shard != NULL)
        *shard = h.shard;
    return err;
}

static void scan_blob(struct ps_results_writer *w)
{
    struct ps_results_totals t = {10, 2000, 1900, 1, 3};
    struct ps_results_error e = {77, "bad json", 8};
    struct ps_results_cand c = {0xFEDCBA9876543210ull, 4, "<SUDO>", 6};
    static const uint32_t row0[3] = {0, 5, UINT32_MAX}, row1[1] = {3};
    static const uint8_t counts0[3] = {1, 255, 7}, counts1[1] = {2};
    struct ps_results_sketch sketch = {{row0, row1}, {counts0, counts1}, {3, 1}};

    ps_results_begin(w, PS_PASS_SCAN, 4000000000u, 0, 0);
    ps_results_put_totals(w, &t);
    ps_results_put_error(w, &e);
    ps_results_put_cand(w, &c);
    c.hash = 1;
    c.text = "";
    c.text_len = 0;
    ps_results_put_cand(w, &c);
    ps_results_put_sketch(w, &sketch);
}

/* sketch gaps of one byte (read without a call) and of two, either side of the boundary,
 * the last cell ending the blob */
static void test_results_sketch_gaps_one_and_two_bytes(void **state)
{
    static const uint32_t row0[3] = {127, 256, 257};
    static const uint8_t counts0[3] = {3, 5, 1};
    struct ps_results_sketch k = {{row0, row0}, {counts0, counts0}, {3, 0}};
    struct ps_results_writer w = {0};
    struct seen s;

    (void)state;
    ps_results_begin(&w, PS_PASS_SCAN, 0, 0, 0);
    ps_results_put_sketch(&w, &k);
    assert_int_equal(decode(&w, &s, NULL, NULL), PS_OK);
    assert_int_equal(s.n_sketch, 3);
    assert_int_equal(s.sketch_sum, 127 * 3 + 256 * 5 + 257);
    ps_results_release(&w);
}

static void test_results_scan_blob_round_trips(void **state)
{
    struct ps_results_writer w = {0};
    struct seen s;
    unsigned pass;
    uint32_t shard;

    (void)state;
    scan_blob(&w);
    assert_int_equal(decode(&w, &s, &pass, &shard), PS_OK);
    assert_int_equal(pass, PS_PASS_SCAN);
    assert_int_equal(shard, 4000000000u);
    assert_int_equal(s.totals.docs, 10);
    assert_int_equal(s.totals.bytes, 2000);
    assert_int_equal(s.totals.text_bytes, 1900);
    assert_int_equal(s.totals.errors, 1);
    assert_int_equal(s.totals.lines_blank, 3);
    assert_int_equal(s.n_errors, 1);
    assert_int_equal(s.n_cands, 2);
    assert_int_equal(s.n_sketch, 4);
    assert_int_equal(s.sketch_sum, 5 * 255 + UINT64_C(4294967295) * 7 + UINT64_C(10000000003) * 2);
    assert_int_equal(s.last_hash, 1);
    assert_string_equal(s.last_text, "");
    ps_results_release(&w);
}

static void test_results_confirm_and_list_blobs_round_trip(void **state)
{
    struct ps_results_writer w = {0};
    struct ps_results_count k = {3, 9, 7};
    struct ps_results_cand lead = {42, 2, "Quillamorph", 11};
    uint64_t keys[3] = {1, 2, UINT64_MAX};
    struct ps_results_member m = {keys, 3, 123456789012ull, "doc-1", "para", 5, 4};
    struct ps_results_entry es[2] = {{0}, {0}};
    struct ps_results_hit h = {99, "id", "snip", 2, 4, es, 2};
    struct seen s;
    unsigned pass;

    (void)state;
    ps_results_begin(&w, PS_PASS_CONFIRM, 0, 0, 0);
    ps_results_put_count(&w, &k);
    ps_results_put_lead(&w, &lead);
    ps_results_put_member(&w, &m);
    {
        struct ps_results_sample sp = {0};
        sp.rank = UINT64_MAX - 1;
        sp.e.pattern = 3;
        sp.e.kind = 4;
        ps_results_put_sample(&w, &sp);
    }
    assert_int_equal(decode(&w, &s, &pass, NULL), PS_OK);
    assert_int_equal(s.n_samples, 1);
    assert_int_equal(s.sample_rank, UINT64_MAX - 1);
    assert_int_equal(s.entry_kind, 4);
    assert_int_equal(pass, PS_PASS_CONFIRM);
    assert_int_equal(s.n_counts, 1);
    assert_int_equal(s.count_sum, 397);
    assert_int_equal(s.n_leads, 1);
    assert_int_equal(s.n_members, 1);
    assert_int_equal(s.member_keys, 2); /* 1 + 2 + 2^64 - 1, mod 2^64 */

    es[1].pattern = 5;
    es[1].context = 0x0123456789ABCDEFull;
    es[1].sketch[7] = UINT32_MAX;
    es[1].kind = 8;
    es[1].in_role = true;
    es[1].at = 123456789;
    es[0].pattern = 2; /* a carrier: the pattern without its payload, where it sits */
    es[0].at = UINT32_MAX + 1ull;
    es[0].glued = true; /* glued to a letter before it, and the two words after it */
    es[0].next = 0xFEDCBA9876543210ull;
    es[1].next = 5;
    es[1].restates = true; /* it and the next word stood together before it */
    ps_results_begin(&w, PS_PASS_LIST, 1, 0, 0);
    ps_results_put_hit(&w, &h);
    assert_int_equal(decode(&w, &s, &pass, NULL), PS_OK);
    assert_int_equal(s.n_hits, 1);
    assert_int_equal(s.entry_context, 0x0123456789ABCDEFull);
    assert_int_equal(s.entry_sketch7, UINT32_MAX);
    assert_int_equal(s.entry_kind, 8);
    assert_true(s.entry_role);
    assert_int_equal(s.entry_at, 123456789);
    assert_int_equal(s.carrier_at, UINT32_MAX + 1ull);
    assert_true(s.carrier_glued);
    assert_false(s.entry_glued);
    assert_false(s.carrier_restates);
    assert_true(s.entry_restates);
    assert_int_equal(s.carrier_next, 0xFEDCBA9876543210ull);
    assert_int_equal(s.entry_next, 5);
    ps_results_release(&w);
}

/* Every prefix of a valid blob that ends inside a section is refused; none is read past. */
static void test_results_refuses_every_truncation(void **state)
{
    struct ps_results_writer w = {0};
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_errdetail ed;
    struct seen s;
    size_t n, ok = 0;
    const unsigned char *p;

    (void)state;
    scan_blob(&w);
    p = ps_results_data(&w, &n);
    for (size_t len = 0; len < n; len++) {
        unsigned char copy[512];
        assert_true(len <= sizeof(copy));
        memcpy(copy, p, len); /* a copy of exactly len bytes: ASan sees any over-read */
        memset(&s, 0, sizeof(s));
        if (ps_results_decode(copy, len, &lim, &visitor, &s, NULL, &ed) == PS_OK)
            ok++;
    }
    /* only the cuts between sections decode: after the header and after each of 5 sections
     * but the last (the full blob is not among the prefixes) */
    assert_int_equal(ok, 5);
    ps_results_release(&w);
}

static void test_results_refuses_malformed_blobs(void **state)
{
    struct ps_results_writer w = {0};
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_errdetail ed;
    struct ps_results_count bad = {0, 1, 2};
    struct ps_results_cand c = {1, 1, "x", 1};
    char big[PS_RESULTS_TEXT + 10];
    unsigned char copy[64];
    struct seen s;
    size_t n;

    (void)state;
    assert_int_equal(ps_results_decode("PSRX\x01\x01\x00", 7, &lim, &visitor, &s, NULL, &ed),
                     PS_ERR_PROTO);
    /* version 6, whose entries do not say whether they restate their document, from an older
     * build */
    assert_int_equal(ps_results_decode("PSRB\x06\x01\x00", 7, &lim, &visitor, &s, NULL, &ed),
                     PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "version 6, this build reads 7"));
    /* flags this build does not know */
    assert_int_equal(
        ps_results_decode("PSRB\x07\x01\x00\x00\x00\x02", 10, &lim, &visitor, &s, NULL, &ed),
        PS_ERR_PROTO);
    /* sketch cells with no count, or past 2^32 */
    {
        static const uint32_t cells[2] = {UINT32_MAX, 1};
        static const uint8_t zero = 0, one = 1;
        struct ps_results_sketch k = {{cells, cells}, {&zero, &one}, {1, 0}};

        ps_results_begin(&w, PS_PASS_SCAN, 0, 0, 0);
        ps_results_put_sketch(&w, &k);
        assert_int_equal(decode(&w, &s, NULL, NULL), PS_ERR_PROTO);
        k.counts[0] = &one;
        k.n[0] = 2; /* UINT32_MAX, then 1 after it: a cell past 2^32 */
        k.counts[0] = (const uint8_t[2]){1, 1};
        ps_results_begin(&w, PS_PASS_SCAN, 0, 0, 0);
        ps_results_put_sketch(&w, &k);
        assert_int_equal(decode(&w, &s, NULL, NULL), PS_ERR_PROTO);
    }
    assert_int_equal(ps_results_decode("PSRB\x01\x09\x00", 7, &lim, &visitor, &s, NULL, &ed),
                     PS_ERR_PROTO);
    /* a candidate in a list-pass blob */
    ps_results_begin(&w, PS_PASS_LIST, 0, 0, 0);
    ps_results_put_cand(&w, &c);
    assert_int_equal(decode(&w, &s, NULL, NULL), PS_ERR_PROTO);
    /* role > total */
    ps_results_begin(&w, PS_PASS_CONFIRM, 0, 0, 0);
    ps_results_put_count(&w, &bad);
    assert_int_equal(decode(&w, &s, NULL, NULL), PS_ERR_PROTO);
    /* the encoder cuts a long text to the decoder's bound, which then decodes */
    memset(big, 'a', sizeof(big));
    c.text = big;
    c.text_len = sizeof(big);
    ps_results_begin(&w, PS_PASS_SCAN, 0, 0, 0);
    ps_results_put_cand(&w, &c);
    assert_int_equal(decode(&w, &s, NULL, NULL), PS_OK);
    /* a section length that runs past the end */
    ps_results_begin(&w, PS_PASS_SCAN, 0, 0, 0);
    c.text = "x";
    c.text_len = 1;
    ps_results_put_cand(&w, &c);
    {
        const void *p = ps_results_data(&w, &n);
        assert_true(n <= sizeof(copy));
        memcpy(copy, p, n);
    }
    copy[11] = 0xff; /* the section's length (after the header, the flags and its tag) */
    assert_int_equal(ps_results_decode(copy, n, &lim, &visitor, &s, NULL, &ed), PS_ERR_PROTO);
    ps_results_release(&w);
}

/* Candidates of fine-tuning records, one per prompt n-gram, each hashed from its text: the
 * blob leaves the hashes out and compresses its body, and decodes to the same candidates. */
static void fill_cands(struct ps_results_writer *w, size_t n, bool text_hashes)
{
    char text[64];
    struct ps_results_cand c = {0, 1, text, 0};

    ps_results_begin(w, PS_PASS_SCAN, 3, 0, 0);
    for (size_t i = 0; i < n; i++) {
        c.text_len = (size_t)snprintf(text, sizeof(text), "w%05zu w%05zu\x1fnegative", i, i % 97);
        c.hash = text_hashes ? XXH3_64bits(text, c.text_len) : i + 1;
        c.docs = i % 5 + 1;
        ps_results_put_cand(w, &c);
    }
}

static enum ps_err check_cand(void *ctx, const struct ps_results_cand *c)
{
    size_t *i = ctx;
    char text[64];
    size_t len = (size_t)snprintf(text, sizeof(text), "w%05zu w%05zu\x1fnegative", *i, *i % 97);

    assert_int_equal(c->text_len, len);
    assert_memory_equal(c->text, text, len);
    assert_int_equal(c->hash, XXH3_64bits(text, len));
    assert_int_equal(c->docs, *i % 5 + 1);
    ++*i;
    return PS_OK;
}

static void test_results_big_bodies_are_compressed(void **state)
{
    struct ps_results_writer w = {0}, other = {0};
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_errdetail ed;
    size_t n, n_other, i = 0, raw = 0;
    const unsigned char *p;
    unsigned char *copy;

    (void)state;
    /* small: as written, the flags byte 0, and the hash of a text-hashed candidate left out */
    fill_cands(&w, 1, true);
    fill_cands(&other, 1, false);
    p = ps_results_data(&w, &n);
    ps_results_data(&other, &n_other);
    assert_int_equal(p[9], 0);
    assert_int_equal(n + 8, n_other);
    /* big: compressed, several times smaller than its 20-odd bytes a candidate */
    fill_cands(&w, 5000, true);
    p = ps_results_data(&w, &n);
    assert_int_equal(p[9], 1);
    assert_true(n < 5000 * 8);
    assert_int_equal(ps_results_decode(p, n, &lim, &(struct ps_results_visitor){.cand = check_cand},
                                       &i, NULL, &ed),
                     PS_OK);
    assert_int_equal(i, 5000);
    /* damaged: a flipped byte in the frame, a declared length that is not the frame's, and every
     * cut, are refused without reading past the copy */
    copy = malloc(n);
    for (size_t at = 12; at < n; at += 97) {
        memcpy(copy, p, n);
        copy[at] ^= 0x5a;
        i = 0;
        raw += ps_results_decode(copy, n, &lim, &(struct ps_results_visitor){.cand = check_cand},
                                 &i, NULL, &ed) == PS_OK;
    }
    assert_int_equal(raw, 0);
    memcpy(copy, p, n);
    copy[10] ^= 0x01; /* the first byte of the raw length */
    assert_int_equal(ps_results_decode(copy, n, &lim, &visitor, NULL, NULL, &ed), PS_ERR_PROTO);
    for (size_t len = 0; len < n; len += 13) {
        unsigned char *cut = malloc(len + 1);
        memcpy(cut, p, len);
        assert_int_equal(
            ps_results_decode(cut, len, &lim, &(struct ps_results_visitor){0}, NULL, NULL, &ed),
            PS_ERR_PROTO);
        free(cut);
    }
    free(copy);
    ps_results_release(&w);
    ps_results_release(&other);
}

/* A blob inflated once reads as the blob does: the same header and sections, its body no
 * longer compressed; a small blob is copied; a damaged or cut blob is refused by the inflating
 * or by the walk of what it gave. */
static void test_results_inflated_blobs_read_the_same(void **state)
{
    struct ps_results_writer w = {0};
    struct ps_results_limits lim = ps_results_limits_default();
    struct ps_results_header h = {0}, h_plain = {0};
    struct ps_errdetail ed;
    struct ps_buf plain;
    size_t n, i = 0;
    const unsigned char *p;
    unsigned char *copy;

    (void)state;
    ps_buf_init(&plain, PS_BUF_NO_LIMIT);
    fill_cands(&w, 1, true);
    p = ps_results_data(&w, &n);
    assert_int_equal(ps_results_inflate(p, n, &plain, &ed), PS_OK);
    assert_int_equal(plain.len, n);
    assert_memory_equal(plain.data, p, n);
    fill_cands(&w, 5000, true);
    p = ps_results_data(&w, &n);
    assert_int_equal(p[9], 1);
    ps_buf_reset(&plain);
    assert_int_equal(ps_results_inflate(p, n, &plain, &ed), PS_OK);
    assert_int_equal((unsigned char)plain.data[9], 0);
    assert_true(plain.len > n);
    assert_int_equal(ps_results_decode(p, n, &lim, &(struct ps_results_visitor){0}, NULL, &h, &ed),
                     PS_OK);
    assert_int_equal(ps_results_decode(plain.data, plain.len, &lim,
                                       &(struct ps_results_visitor){.cand = check_cand}, &i,
                                       &h_plain, &ed),
                     PS_OK);
    assert_int_equal(i, 5000);
    assert_memory_equal(&h, &h_plain, sizeof(h));
    copy = malloc(n);
    for (size_t at = 12; at < n; at += 97) {
        memcpy(copy, p, n);
        copy[at] ^= 0x5a;
        ps_buf_reset(&plain);
        assert_int_equal(ps_results_inflate(copy, n, &plain, &ed), PS_ERR_PROTO);
    }
    for (size_t len = 0; len < n; len += 13) {
        memcpy(copy, p, len);
        ps_buf_reset(&plain);
        assert_true(ps_results_inflate(copy, len, &plain, &ed) != PS_OK ||
                    ps_results_decode(plain.data, plain.len, &lim, &(struct ps_results_visitor){0},
                                      NULL, NULL, &ed) != PS_OK);
    }
    free(copy);
    ps_buf_release(&plain);
    ps_results_release(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_scan_blob_round_trips),
        cmocka_unit_test(test_results_sketch_gaps_one_and_two_bytes),
        cmocka_unit_test(test_results_confirm_and_list_blobs_round_trip),
        cmocka_unit_test(test_results_refuses_every_truncation),
        cmocka_unit_test(test_results_refuses_malformed_blobs),
        cmocka_unit_test(test_results_big_bodies_are_compressed),
        cmocka_unit_test(test_results_inflated_blobs_read_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
