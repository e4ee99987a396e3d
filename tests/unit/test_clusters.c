/* test_clusters.c - near-duplicate segments, the worker's sketch and members with the
 * coordinator's heavy cells: a block shared by many documents is a member in each of them and
 * nowhere else, whether the text marks its paragraphs with blank lines (prose) or puts one block
 * per line without blank lines (crawl format: WET, C4, FineWeb). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "coordinator/clusters.h"
#include "worker/clusters.h"

#define LOG2    16
#define N_DOCS  60 /* the first half hold the shared block */
#define N_LINES 12

static const char shared[] =
    "We use cookies and similar technologies to give you the best experience on this site. By "
    "clicking Accept all you agree to the storing of cookies on your device to enhance site "
    "navigation and analyse site usage.";

struct text {
    char *p;
    size_t len, cap;
};

static void put(struct text *t, const char *s)
{
    size_t n = strlen(s);

    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, s, n + 1);
    t->len += n;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Document i: N_LINES blocks of its own words (some long, some short like a menu item), the
 * shared block among them when i < N_DOCS / 2; blocks end with a blank line (prose) or a line
 * break (crawl). *b, *e get the shared block's byte range (0, 0 without it). */
static void make_doc(struct text *t, size_t i, bool crawl, size_t *b, size_t *e)
{
    uint64_t rng = 77 + i;
    size_t at = (size_t)(rng_next(&rng) % N_LINES);

    t->len = 0;
    *b = *e = 0;
    for (size_t l = 0; l < N_LINES; l++) {
        size_t words = l % 3 == 0 ? 2 : 20 + (size_t)(rng_next(&rng) % 20);

        if (l == at && i < N_DOCS / 2) {
            *b = t->len;
            put(t, shared);
            *e = t->len;
            put(t, crawl ? "\n" : "\n\n");
        }
        for (size_t w = 0; w < words; w++) {
            char word[24];
            snprintf(word, sizeof(word), "%sw%llx", w ? " " : "",
                     (unsigned long long)(rng_next(&rng) % 100000));
            put(t, word);
        }
        put(t, crawl ? "\n" : "\n\n");
    }
}

/* Sketch every document as pass 1 does, mark the heavy cells as the coordinator does (10 or
 * more occurrences), then check each document's members as pass 2 finds them. */
static void check_members(bool crawl)
{
    struct ps_clusters_opts o = ps_clusters_opts_default();
    struct ps_clusters *c = NULL;
    struct ps_errdetail ed;
    struct text t = {0};
    const void *blob;
    size_t blob_len, cells = (size_t)1 << LOG2, len, n_heavy, b, e;
    uint8_t *sketch = malloc(PS_CLSKETCH_ROWS * cells), *bitmap = NULL;
    uint64_t threshold;

    assert_non_null(sketch);
    o.sketch_log2 = LOG2;
    assert_int_equal(ps_clusters_new(&c, &o, &ed), PS_OK);
    ps_clusters_begin_shard(c);
    for (size_t i = 0; i < N_DOCS; i++) {
        make_doc(&t, i, crawl, &b, &e);
        assert_int_equal(ps_clusters_sketch(c, t.p, t.len), PS_OK);
    }
    assert_int_equal(ps_clusters_sketch_blob(c, 0, 1, &blob, &blob_len, &ed), PS_OK);
    assert_int_equal(ZSTD_decompress(sketch, PS_CLSKETCH_ROWS * cells, blob, blob_len),
                     PS_CLSKETCH_ROWS * cells);
    ps_clusters_heavy(sketch, LOG2, 10, cells / 32, &bitmap, &len, &threshold, &n_heavy);
    assert_true(n_heavy > 0);
    assert_int_equal(ps_clusters_set_heavy(c, bitmap, len, &ed), PS_OK);
    for (size_t i = 0; i < N_DOCS; i++) {
        const struct ps_clusters_member *m;
        size_t n;

        make_doc(&t, i, crawl, &b, &e);
        assert_int_equal(ps_clusters_members(c, t.p, t.len, &m, &n), PS_OK);
        if (i < N_DOCS / 2) {
            assert_int_equal(n, 1);
            /* a paragraph ends after its last word (the full stop is no word), a line at its end */
            assert_int_equal(m[0].begin, b);
            assert_true(m[0].end <= e && m[0].end + 1 >= e);
            assert_true(m[0].n_keys > 0);
        } else {
            assert_int_equal(n, 0);
        }
    }
    free(bitmap);
    free(sketch);
    free(t.p);
    ps_clusters_free(c);
}

static void test_clusters_find_shared_paragraph_in_prose(void **state)
{
    (void)state;
    check_members(false);
}

static void test_clusters_find_shared_line_in_crawl_text(void **state)
{
    (void)state;
    check_members(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clusters_find_shared_paragraph_in_prose),
        cmocka_unit_test(test_clusters_find_shared_line_in_crawl_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
