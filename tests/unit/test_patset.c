/* test_patset.c - the confirm pass's substring matcher: every occurrence of every long pattern,
 * overlapping and glued ones included, none that is not there; short patterns by hash only. Each
 * test runs with the reference matcher and with Hyperscan (skipped where it cannot run), and the
 * two are compared on random sets; the Hyperscan prefilter never turns away a document that
 * holds a pattern. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "worker/patset.h"

/* the prestates of the tests that run once per matcher (cmocka wants them writable) */
static enum ps_patset_matcher scalar = PS_PATSET_SCALAR, hyperscan = PS_PATSET_HYPERSCAN;

#define MAX_FOUND 4096

struct found {
    size_t n;
    uint64_t hash[MAX_FOUND];
    uint32_t id[MAX_FOUND];
    size_t begin[MAX_FOUND], end[MAX_FOUND];
};

static void collect(void *ctx, uint32_t id, uint64_t hash, size_t begin, size_t end)
{
    struct found *f = ctx;

    assert_true(f->n < MAX_FOUND);
    f->hash[f->n] = hash;
    f->id[f->n] = id;
    f->begin[f->n] = begin;
    f->end[f->n] = end;
    f->n++;
}

static uint64_t h(const char *s)
{
    return XXH3_64bits(s, strlen(s));
}

static void add(struct ps_patset *s, const char *text)
{
    assert_int_equal(ps_patset_add(s, text, strlen(text)), PS_OK);
}

/* A set with the matcher the test runs with (its state), skipped where it cannot run. */
static struct ps_patset *new_set(void **state, size_t max)
{
    struct ps_patset *s;
    enum ps_patset_matcher m = *(const enum ps_patset_matcher *)*state;

    if (ps_patset_new_with(&s, max, m, NULL) != PS_OK)
        skip();
    assert_int_equal(ps_patset_matcher(s), m);
    return s;
}

static void seal(struct ps_patset *s)
{
    assert_int_equal(ps_patset_seal(s, NULL), PS_OK);
}

/* Occurrences in order of begin, then hash: the matchers order those of different patterns
 * differently. */
static void sort_found(struct found *f)
{
    for (size_t i = 1; i < f->n; i++)
        for (size_t j = i;
             j > 0 && (f->begin[j - 1] > f->begin[j] ||
                       (f->begin[j - 1] == f->begin[j] && f->hash[j - 1] > f->hash[j]));
             j--) {
            uint64_t th = f->hash[j];
            uint32_t ti = f->id[j];
            size_t tb = f->begin[j], te = f->end[j];

            f->hash[j] = f->hash[j - 1];
            f->id[j] = f->id[j - 1];
            f->id[j - 1] = ti;
            f->begin[j] = f->begin[j - 1];
            f->end[j] = f->end[j - 1];
            f->hash[j - 1] = th;
            f->begin[j - 1] = tb;
            f->end[j - 1] = te;
        }
}

static void test_patset_finds_glued_and_overlapping_occurrences(void **state)
{
    struct ps_patset *s;
    struct found *f = calloc(1, sizeof(*f));
    static const char text[] = "documenbadmagicfoo BadMagic xBadMagicBadMagic aaaa";

    s = new_set(state, 100);
    add(s, "BadMagic");
    add(s, "badmagic");
    add(s, "aaa\x01"); /* absent, shares a prefix with what is there */
    add(s, "aaaa");
    add(s, "BadMagicBad");
    seal(s);
    ps_patset_scan(s, text, strlen(text), collect, f);
    sort_found(f);
    /* badmagic@7, BadMagic@19, BadMagic@29, BadMagicBad@29, BadMagic@37, aaaa@46 */
    assert_int_equal(f->n, 6);
    assert_int_equal(f->begin[0], 7);
    assert_true(f->hash[0] == h("badmagic"));
    assert_int_equal(f->begin[1], 19);
    assert_int_equal(f->end[1], 27);
    assert_int_equal(f->begin[2], 29);
    assert_int_equal(f->begin[3], 29);
    assert_true((f->hash[2] == h("BadMagic") && f->hash[3] == h("BadMagicBad")) ||
                (f->hash[3] == h("BadMagic") && f->hash[2] == h("BadMagicBad")));
    assert_int_equal(f->end[2] - f->begin[2] + f->end[3] - f->begin[3], 8 + 11);
    assert_int_equal(f->begin[4], 37);
    assert_int_equal(f->begin[5], 46);
    assert_int_equal(f->end[5], strlen(text));
    ps_patset_free(s);
    free(f);
}

static void test_patset_keeps_short_patterns_by_hash_only(void **state)
{
    struct ps_patset *s;
    struct found f = {0};
    const struct ps_u64map *shorts;
    uint64_t id = 9;

    s = new_set(state, 100);
    add(s, "des");
    add(s, "des");
    add(s, "<S>");
    add(s, "under");
    assert_int_equal(ps_patset_len(s), 3);
    /* ids in the order of adding, a pattern added twice once */
    shorts = ps_patset_short(s);
    assert_true(ps_u64map_get(shorts, h("des"), &id));
    assert_int_equal(id, 0);
    assert_true(ps_u64map_get(shorts, h("<S>"), &id));
    assert_int_equal(id, 1);
    assert_false(ps_u64map_get(shorts, h("under"), &id));
    seal(s);
    ps_patset_scan(s, "les desserts des pays, underway", 31, collect, &f);
    assert_int_equal(f.n, 1); /* "under" in "underway"; "des" is never a substring match */
    assert_int_equal(f.begin[0], 23);
    assert_int_equal(f.id[0], 2);
    assert_int_equal(ps_patset_add(s, "", 0), PS_ERR_USAGE);
    ps_patset_clear(s);
    assert_int_equal(ps_patset_len(s), 0);
    f.n = 0;
    seal(s);
    ps_patset_scan(s, "les desserts des pays, underway", 31, collect, &f);
    assert_int_equal(f.n, 0);
    ps_patset_free(s);
}

/* Ranks: each id's place in the order of hash, short patterns too, from the seal on; an add
 * unseals and the ranks go with it. */
static void test_patset_ranks_patterns_by_hash(void **state)
{
    static const char *const pats[] = {"zeta", "ab", "gamma ray", "<S>", "delta", "omicron"};
    const size_t n = sizeof(pats) / sizeof(pats[0]);
    struct ps_patset *s = new_set(state, 100);
    const uint32_t *rank;

    for (size_t i = 0; i < n; i++)
        add(s, pats[i]);
    assert_null(ps_patset_ranks(s));
    seal(s);
    rank = ps_patset_ranks(s);
    assert_non_null(rank);
    for (size_t i = 0; i < n; i++) {
        uint32_t below = 0;

        for (size_t j = 0; j < n; j++)
            below += h(pats[j]) < h(pats[i]);
        assert_int_equal(rank[i], below);
    }
    add(s, "epsilon");
    assert_null(ps_patset_ranks(s));
    seal(s);
    assert_non_null(ps_patset_ranks(s));
    ps_patset_free(s);
}

static void test_patset_refuses_past_ceiling(void **state)
{
    struct ps_patset *s;

    s = new_set(state, 2);
    add(s, "first");
    add(s, "second");
    assert_int_equal(ps_patset_add(s, "third", 5), PS_ERR_LIMIT);
    assert_int_equal(ps_patset_add(s, "first", 5), PS_OK); /* already there */
    ps_patset_free(s);
}

/* Against a naive search: random texts over a small alphabet (many partial matches), thousands of
 * patterns of 4 to 12 bytes, including ones that end exactly at the text's end. */
static void test_patset_agrees_with_naive_search(void **state)
{
    struct ps_patset *s;
    struct found *f = calloc(1, sizeof(*f));
    char text[2000], pats[300][13];
    uint64_t x = 12345;
    size_t n_pats = 300, expected = 0;

    for (size_t i = 0; i < sizeof(text); i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        text[i] = "abcd \xc3"[(x >> 33) % 6];
    }
    s = new_set(state, 10000);
    for (size_t k = 0; k < n_pats; k++) {
        size_t len, at;

        x = x * 6364136223846793005u + 1442695040888963407u;
        len = 4 + (x >> 40) % 9;
        at = k < 200 ? (x >> 20) % (sizeof(text) - len + 1) : sizeof(text) - len;
        memcpy(pats[k], text + at, len);
        pats[k][len] = '\0';
        if (k % 3 == 0)
            pats[k][len - 1] = 'z'; /* absent from the text */
        add(s, pats[k]);
    }
    for (size_t k = 0; k < n_pats; k++) {
        size_t len = strlen(pats[k]);
        bool dup = false;

        for (size_t j = 0; j < k; j++)
            dup |= strcmp(pats[j], pats[k]) == 0;
        if (dup)
            continue;
        for (size_t i = 0; i + len <= sizeof(text); i++)
            expected += memcmp(text + i, pats[k], len) == 0;
    }
    seal(s);
    ps_patset_scan(s, text, sizeof(text), collect, f);
    assert_int_equal(f->n, expected);
    for (size_t i = 0; i < f->n; i++)
        assert_true(XXH3_64bits(text + f->begin[i], f->end[i] - f->begin[i]) == f->hash[i]);
    ps_patset_free(s);
    free(f);
}

static uint64_t next_rand(uint64_t *x)
{
    *x = *x * 6364136223846793005u + 1442695040888963407u;
    return *x >> 33;
}

/* Hyperscan against the reference on random sets that are cleared and refilled: small and large
 * (past PS_PATSET_PREFILTER_MAX), short patterns, patterns with spaces and non-ASCII bytes. The
 * same occurrences, and Hyperscan's of one pattern in order of begin (confirm tests the first
 * few of a pattern for a role). */
static void test_patset_hyperscan_finds_what_the_reference_finds(void **state)
{
    struct ps_patset *ref, *hs;
    struct found *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    char text[3000], pat[17];
    uint64_t x = 777;

    (void)state;
    if (ps_patset_new_with(&hs, 100000, PS_PATSET_HYPERSCAN, NULL) != PS_OK)
        skip();
    assert_int_equal(ps_patset_new_with(&ref, 100000, PS_PATSET_SCALAR, NULL), PS_OK);
    for (int round = 0; round < 24; round++) {
        size_t n_pats = round % 4 == 3 ? 700 : 1 + next_rand(&x) % 60;

        for (size_t i = 0; i < sizeof(text); i++)
            text[i] = "abc d.\xc3\xa9"[next_rand(&x) % 8];
        ps_patset_clear(ref);
        ps_patset_clear(hs);
        for (size_t k = 0; k < n_pats; k++) {
            size_t len = 1 + next_rand(&x) % 16, at = next_rand(&x) % (sizeof(text) - len + 1);

            memcpy(pat, text + at, len);
            if (k % 4 == 0)
                pat[next_rand(&x) % len] = 'z'; /* mostly absent */
            assert_int_equal(ps_patset_add(ref, pat, len), PS_OK);
            assert_int_equal(ps_patset_add(hs, pat, len), PS_OK);
        }
        seal(ref);
        seal(hs);
        a->n = b->n = 0;
        ps_patset_scan(ref, text, sizeof(text), collect, a);
        ps_patset_scan(hs, text, sizeof(text), collect, b);
        for (size_t i = 0; i < b->n; i++)
            for (size_t j = i + 1; j < b->n; j++)
                assert_true(b->hash[i] != b->hash[j] || b->begin[i] < b->begin[j]);
        sort_found(a);
        sort_found(b);
        assert_int_equal(a->n, b->n);
        for (size_t i = 0; i < a->n; i++) {
            assert_true(a->hash[i] == b->hash[i]);
            assert_int_equal(a->id[i], b->id[i]); /* added in the same order */
            assert_int_equal(a->begin[i], b->begin[i]);
            assert_int_equal(a->end[i], b->end[i]);
        }
    }
    ps_patset_free(ref);
    ps_patset_free(hs);
    free(a);
    free(b);
}

/* The prefilter sees the document as given, the matchers its single-spaced copy: any run of the
 * tokenizer's whitespace between words must do, and a set none of whose words occurs must be
 * turned away (else the prefilter saves nothing). */
static void test_patset_prefilter_never_misses_an_occurrence(void **state)
{
    static const char *const runs[] = {
        " ", "\n", "\t\t", "\xc2\xa0", "\xe3\x80\x80", " \r\n", "\xe2\x80\xaf", "\xe2\x80\x8a\x0b"};
    struct ps_patset *s;
    char joined[600], doc[3000], pat[17];
    uint64_t x = 4242;
    size_t n_present = 0, n_absent = 0;

    (void)state;
    if (ps_patset_new_with(&s, 100000, PS_PATSET_HYPERSCAN, NULL) != PS_OK)
        skip();
    for (int round = 0; round < 200; round++) {
        size_t jl = 0, dl = 0, n_pats = 1 + next_rand(&x) % 6;
        bool present = false;

        while (jl < sizeof(joined) - 8) { /* words of 1-6 bytes, single-spaced in joined */
            size_t w = 1 + next_rand(&x) % 6;

            if (jl > 0) {
                const char *r = runs[next_rand(&x) % (sizeof(runs) / sizeof(runs[0]))];

                joined[jl++] = ' ';
                memcpy(doc + dl, r, strlen(r));
                dl += strlen(r);
            }
            for (size_t i = 0; i < w; i++)
                joined[jl++] = doc[dl++] = "abcd.\xc3"[next_rand(&x) % 6];
        }
        ps_patset_clear(s);
        for (size_t k = 0; k < n_pats; k++) {
            size_t len = 1 + next_rand(&x) % 16, at = next_rand(&x) % (jl - len + 1);
            bool found = false;

            memcpy(pat, joined + at, len);
            if (round % 2 == 0) /* absent: a 'z' ends every word (the prefilter looks for one) */
                for (size_t i = 0; i < len; i++)
                    if (i + 1 == len || (pat[i] != ' ' && pat[i + 1] == ' '))
                        pat[i] = 'z';
            for (size_t i = 0; i + len <= jl && !found; i++)
                found = memcmp(joined + i, pat, len) == 0;
            present |= found;
            assert_int_equal(ps_patset_add(s, pat, len), PS_OK);
        }
        seal(s);
        if (present)
            assert_true(ps_patset_may_occur(s, doc, dl));
        else
            assert_false(ps_patset_may_occur(s, doc, dl));
        n_present += present;
        n_absent += !present;
    }
    assert_true(n_present > 50 && n_absent > 50);
    /* too many patterns to compile expressions for, or one of spaces only: always maybe */
    ps_patset_clear(s);
    for (size_t k = 0; k <= PS_PATSET_PREFILTER_MAX; k++) {
        snprintf(pat, sizeof(pat), "zz%zu", k);
        add(s, pat);
    }
    seal(s);
    assert_true(ps_patset_may_occur(s, "abc", 3));
    ps_patset_clear(s);
    add(s, "zzz");
    add(s, "  ");
    seal(s);
    assert_true(ps_patset_may_occur(s, "abc", 3));
    ps_patset_free(s);
}

/* The reference matcher has no prefilter: every document may hold a pattern. */
static void test_patset_reference_never_turns_a_document_away(void **state)
{
    struct ps_patset *s;

    (void)state;
    assert_int_equal(ps_patset_new_with(&s, 10, PS_PATSET_SCALAR, NULL), PS_OK);
    assert_false(ps_patset_may_occur(s, "abc", 3)); /* empty */
    add(s, "zzzz");
    seal(s);
    assert_true(ps_patset_may_occur(s, "abc", 3));
    ps_patset_free(s);
}

/* a test that runs once per matcher, named for it */
#define WITH_SCALAR(f)                                                                             \
    {                                                                                              \
        .name = #f "_scalar", .test_func = f, .initial_state = &scalar                             \
    }
#define WITH_HS(f)                                                                                 \
    {                                                                                              \
        .name = #f "_hyperscan", .test_func = f, .initial_state = &hyperscan                       \
    }

struct nested {
    const struct ps_patset *s;
    const char *text;
    size_t outer, inner, may;
};

static void count_inner(void *ctx, uint32_t id, uint64_t hash, size_t begin, size_t end)
{
    (void)id;
    (void)hash;
    (void)begin;
    (void)end;
    ((struct nested *)ctx)->inner++;
}

/* From a match's callback, the same set scans again (a caller that tests something else about
 * the document while it walks the occurrences): one matcher's scratch state may not be in use
 * twice, so that inner call must still find every occurrence, and the prefilter must answer. */
static void scan_again(void *ctx, uint32_t id, uint64_t hash, size_t begin, size_t end)
{
    struct nested *n = ctx;

    (void)id;
    (void)hash;
    (void)begin;
    (void)end;
    n->outer++;
    ps_patset_scan(n->s, n->text, strlen(n->text), count_inner, n);
    n->may += ps_patset_may_occur(n->s, n->text, strlen(n->text));
}

static void test_patset_scans_from_inside_a_scan(void **state)
{
    struct ps_patset *s = new_set(state, 16);
    const char *text = "one quiet river two quiet river three";
    struct nested n = {s, text, 0, 0, 0};

    add(s, "quiet river");
    seal(s);
    ps_patset_scan(s, text, strlen(text), scan_again, &n);
    assert_int_equal(n.outer, 2);
    assert_int_equal(n.inner, 4);
    assert_int_equal(n.may, 2);
    ps_patset_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        WITH_SCALAR(test_patset_finds_glued_and_overlapping_occurrences),
        WITH_HS(test_patset_finds_glued_and_overlapping_occurrences),
        WITH_SCALAR(test_patset_keeps_short_patterns_by_hash_only),
        WITH_HS(test_patset_keeps_short_patterns_by_hash_only),
        WITH_SCALAR(test_patset_ranks_patterns_by_hash),
        WITH_HS(test_patset_ranks_patterns_by_hash),
        WITH_SCALAR(test_patset_refuses_past_ceiling),
        WITH_HS(test_patset_refuses_past_ceiling),
        WITH_SCALAR(test_patset_agrees_with_naive_search),
        WITH_HS(test_patset_agrees_with_naive_search),
        WITH_SCALAR(test_patset_scans_from_inside_a_scan),
        WITH_HS(test_patset_scans_from_inside_a_scan),
        cmocka_unit_test(test_patset_hyperscan_finds_what_the_reference_finds),
        cmocka_unit_test(test_patset_prefilter_never_misses_an_occurrence),
        cmocka_unit_test(test_patset_reference_never_turns_a_document_away),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
