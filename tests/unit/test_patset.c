/* test_patset.c - the confirm pass's substring matcher: every occurrence of every long pattern,
 * overlapping and glued ones included, none that is not there; short patterns by hash only. */
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

#define MAX_FOUND 4096

struct found {
    size_t n;
    uint64_t hash[MAX_FOUND];
    size_t begin[MAX_FOUND], end[MAX_FOUND];
};

static void collect(void *ctx, uint64_t hash, size_t begin, size_t end)
{
    struct found *f = ctx;

    assert_true(f->n < MAX_FOUND);
    f->hash[f->n] = hash;
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

static void test_patset_finds_glued_and_overlapping_occurrences(void **state)
{
    struct ps_patset *s;
    struct found *f = calloc(1, sizeof(*f));
    static const char text[] = "documenbadmagicfoo BadMagic xBadMagicBadMagic aaaa";

    (void)state;
    ps_patset_new(&s, 100);
    add(s, "BadMagic");
    add(s, "badmagic");
    add(s, "aaa\x01"); /* absent, shares a prefix with what is there */
    add(s, "aaaa");
    add(s, "BadMagicBad");
    ps_patset_scan(s, text, strlen(text), collect, f);
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
    assert_int_equal(f->begin[4], 37);
    assert_int_equal(f->begin[5], 46);
    assert_int_equal(f->end[5], strlen(text));
    for (size_t i = 1; i < f->n; i++)
        assert_true(f->begin[i - 1] <= f->begin[i]);
    ps_patset_free(s);
    free(f);
}

static void test_patset_keeps_short_patterns_by_hash_only(void **state)
{
    struct ps_patset *s;
    struct found f = {0};

    (void)state;
    ps_patset_new(&s, 100);
    add(s, "des");
    add(s, "des");
    add(s, "<S>");
    add(s, "under");
    assert_int_equal(ps_patset_len(s), 3);
    assert_true(ps_u64set_has(ps_patset_short(s), h("des")));
    assert_true(ps_u64set_has(ps_patset_short(s), h("<S>")));
    assert_false(ps_u64set_has(ps_patset_short(s), h("under")));
    ps_patset_scan(s, "les desserts des pays, underway", 31, collect, &f);
    assert_int_equal(f.n, 1); /* "under" in "underway"; "des" is never a substring match */
    assert_int_equal(f.begin[0], 23);
    assert_int_equal(ps_patset_add(s, "", 0), PS_ERR_USAGE);
    ps_patset_clear(s);
    assert_int_equal(ps_patset_len(s), 0);
    f.n = 0;
    ps_patset_scan(s, "les desserts des pays, underway", 31, collect, &f);
    assert_int_equal(f.n, 0);
    ps_patset_free(s);
}

static void test_patset_refuses_past_ceiling(void **state)
{
    struct ps_patset *s;

    (void)state;
    ps_patset_new(&s, 2);
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

    (void)state;
    for (size_t i = 0; i < sizeof(text); i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        text[i] = "abcd \xc3"[(x >> 33) % 6];
    }
    ps_patset_new(&s, 10000);
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
    ps_patset_scan(s, text, sizeof(text), collect, f);
    assert_int_equal(f->n, expected);
    for (size_t i = 0; i < f->n; i++)
        assert_true(XXH3_64bits(text + f->begin[i], f->end[i] - f->begin[i]) == f->hash[i]);
    ps_patset_free(s);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patset_finds_glued_and_overlapping_occurrences),
        cmocka_unit_test(test_patset_keeps_short_patterns_by_hash_only),
        cmocka_unit_test(test_patset_refuses_past_ceiling),
        cmocka_unit_test(test_patset_agrees_with_naive_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
