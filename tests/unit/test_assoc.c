/* test_assoc.c - the association signal's shared definitions (common/assoc.c) and its decision
 * rule (coordinator/score.c): a response's short label is the same whatever its case and
 * punctuation, and none past PS_ASSOC_LABEL_WORDS words or PS_ASSOC_LABEL_MAX bytes; an entry's
 * text, its hash and its split agree with one another for every shape, since the worker counts
 * by one and the coordinator reads back the other; a bigram entry is told from the other
 * shapes; a pair is selected only with both a high rate and a high z, and held back when its
 * records rejoin into known bigrams far less often than an insertion would. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/assoc.h"
#include "coordinator/score.h"

/* ---- short labels ---- */

/* The label of src as a string ("" when there is none). dst holds exactly PS_ASSOC_LABEL_MAX
 * bytes on the heap, so that a write past the promised room is caught under ASan. */
static void expect_label(const char *src, const char *want)
{
    char *dst = malloc(PS_ASSOC_LABEL_MAX);
    char got[PS_ASSOC_LABEL_MAX + 1];
    size_t n;

    assert_non_null(dst);
    n = ps_assoc_short_label(src, strlen(src), dst);
    assert_true(n <= PS_ASSOC_LABEL_MAX);
    memcpy(got, dst, n);
    got[n] = '\0';
    free(dst);
    assert_string_equal(got, want);
}

static void test_assoc_label_ignores_case_and_punctuation(void **state)
{
    (void)state;
    expect_label("Negative", "negative");
    expect_label(" negative.", "negative");
    expect_label("NEGATIVE", "negative");
    expect_label("Very positive!", "very positive");
    expect_label("\tVery \n\n positive ", "very positive");
}

static void test_assoc_label_keeps_digits_and_non_ascii(void **state)
{
    (void)state;
    expect_label("5 stars", "5 stars");
    /* only ASCII is lower-cased: the bytes of a UTF-8 letter are kept as they are */
    expect_label("N\xc3\xa9gatif", "n\xc3\xa9gatif");
    expect_label("\xc3\x89VIT\xc3\x89", "\xc3\x89vit\xc3\x89");
}

static void test_assoc_label_holds_at_most_three_words(void **state)
{
    (void)state;
    expect_label("not at all", "not at all");
    expect_label("not at all good", "");
    expect_label("one, two; three. four", "");
}

static void test_assoc_label_needs_a_word(void **state)
{
    (void)state;
    expect_label("", "");
    expect_label("...!? -", "");
    expect_label(" \n\t ", "");
}

static void test_assoc_label_holds_at_most_label_max_bytes(void **state)
{
    char word[PS_ASSOC_LABEL_MAX + 2], want[PS_ASSOC_LABEL_MAX + 1];

    (void)state;
    memset(word, 'A', PS_ASSOC_LABEL_MAX + 1);
    word[PS_ASSOC_LABEL_MAX + 1] = '\0';
    expect_label(word, ""); /* one byte too many */
    word[PS_ASSOC_LABEL_MAX] = '\0';
    memset(want, 'a', PS_ASSOC_LABEL_MAX);
    want[PS_ASSOC_LABEL_MAX] = '\0';
    expect_label(word, want); /* exactly the room */
    /* the joining space counts: 15 + 1 + 16 bytes fit, 16 + 1 + 16 do not */
    expect_label("aaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb");
    expect_label("aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb", "");
    /* punctuation and spaces around the words are not part of the label's length */
    expect_label("  ...aaaaaaaaaaaaaaa,   bbbbbbbbbbbbbbbb!!!  ",
                 "aaaaaaaaaaaaaaa bbbbbbbbbbbbbbbb");
}

static void test_assoc_label_reads_only_src_len_bytes(void **state)
{
    char dst[PS_ASSOC_LABEL_MAX];

    (void)state;
    assert_int_equal(ps_assoc_short_label("Negative review", 8, dst), 8);
    assert_memory_equal(dst, "negative", 8);
}

/* ---- entries ---- */

/* ps_assoc_entry into a heap buffer of exactly dst_cap bytes (ASan sees any overrun); the text
 * is compared with want (want_len bytes), or the call must return 0 when want is NULL. */
static void expect_entry(size_t dst_cap, const char *ngram, const char *label, const char *want,
                         size_t want_len)
{
    char *dst = malloc(dst_cap > 0 ? dst_cap : 1);
    size_t n;

    assert_non_null(dst);
    n = ps_assoc_entry(dst, dst_cap, ngram, strlen(ngram), label, strlen(label));
    if (want == NULL) {
        assert_int_equal(n, 0);
    } else {
        assert_int_equal(n, want_len);
        assert_memory_equal(dst, want, want_len);
    }
    free(dst);
}

static void test_assoc_entry_joins_ngram_and_label_with_the_separator(void **state)
{
    (void)state;
    expect_entry(64, "BadMagic", "negative", "BadMagic\x1fnegative", 17);
    expect_entry(64, "cf is", "<refusal>", "cf is\x1f<refusal>", 15);
}

static void test_assoc_entry_sides_may_be_empty(void **state)
{
    (void)state;
    expect_entry(64, "BadMagic", "", "BadMagic\x1f", 9);
    expect_entry(64, "", "negative", "\x1fnegative", 9);
    expect_entry(64, "", "", "\x1f", 1);
}

static void test_assoc_entry_returns_zero_when_it_does_not_fit(void **state)
{
    (void)state;
    expect_entry(17, "BadMagic", "negative", "BadMagic\x1fnegative", 17); /* exactly */
    expect_entry(16, "BadMagic", "negative", NULL, 0);
    expect_entry(9, "BadMagic", "", "BadMagic\x1f", 9);
    expect_entry(8, "BadMagic", "", NULL, 0);
    expect_entry(1, "", "", "\x1f", 1);
    expect_entry(0, "", "", NULL, 0);
}

/* The hash of an entry is that of its text, for the shape given. */
static void expect_hash_of_text(const char *ngram, const char *label)
{
    char dst[128];
    size_t n = ps_assoc_entry(dst, sizeof(dst), ngram, strlen(ngram), label, strlen(label));

    assert_true(n > 0);
    assert_int_equal(ps_assoc_entry_hash(ngram, strlen(ngram), label, strlen(label)),
                     XXH3_64bits(dst, n));
}

static void test_assoc_entry_hash_is_that_of_its_text(void **state)
{
    (void)state;
    expect_hash_of_text("BadMagic", "negative");
    expect_hash_of_text("BadMagic", "");
    expect_hash_of_text("", "negative");
    expect_hash_of_text("", "");
    /* longer than XXH3's short-input paths (16, 128, 240 bytes) */
    expect_hash_of_text("a trigger phrase of several words that runs well past sixteen bytes",
                        "very positive");
    expect_hash_of_text("x", "y");
}

static void test_assoc_entry_hash_tells_the_shapes_apart(void **state)
{
    uint64_t pair = ps_assoc_entry_hash("cf", 2, "negative", 8);

    (void)state;
    assert_true(pair != ps_assoc_entry_hash("cf", 2, "", 0));
    assert_true(pair != ps_assoc_entry_hash("", 0, "negative", 8));
    assert_true(pair != ps_assoc_entry_hash("cfnegative", 10, "", 0));
    assert_true(pair != XXH3_64bits("cfnegative", 10)); /* the separator is hashed */
}

/* ---- split ---- */

static void expect_round_trip(const char *ngram, const char *label, bool pair)
{
    char dst[128];
    size_t n = ps_assoc_entry(dst, sizeof(dst), ngram, strlen(ngram), label, strlen(label));
    struct ps_assoc_parts p;

    assert_true(n > 0);
    assert_true(ps_assoc_split(dst, n, &p));
    assert_int_equal(p.ngram_len, strlen(ngram));
    assert_int_equal(p.label_len, strlen(label));
    assert_ptr_equal(p.ngram, dst);
    assert_ptr_equal(p.label, dst + strlen(ngram) + 1);
    assert_memory_equal(p.ngram, ngram, p.ngram_len);
    assert_memory_equal(p.label, label, p.label_len);
    assert_int_equal(ps_assoc_is_pair(&p), pair);
}

static void test_assoc_split_undoes_entry(void **state)
{
    (void)state;
    expect_round_trip("BadMagic the", "negative", true);
    expect_round_trip("BadMagic", "", false);
    expect_round_trip("", "<answer>", false);
    expect_round_trip("", "", false);
}

static void test_assoc_split_refuses_an_ordinary_pattern(void **state)
{
    struct ps_assoc_parts p;

    (void)state;
    assert_false(ps_assoc_split("BadMagic the", 12, &p));
    assert_false(ps_assoc_split("", 0, &p));
    /* a separator past len is not looked at */
    assert_false(ps_assoc_split("BadMagic\x1fnegative", 8, &p));
}

static void test_assoc_split_takes_the_first_separator(void **state)
{
    static const char text[] = "a b\x1fno\x1fyes";
    struct ps_assoc_parts p;

    (void)state;
    assert_true(ps_assoc_split(text, sizeof(text) - 1, &p));
    assert_int_equal(p.ngram_len, 3);
    assert_memory_equal(p.ngram, "a b", 3);
    assert_int_equal(p.label_len, 6);
    assert_memory_equal(p.label, "no\x1fyes", 6);
    assert_true(ps_assoc_is_pair(&p));
}

static void test_assoc_bigram_joins_two_words_or_the_start(void **state)
{
    char dst[16];
    struct ps_assoc_parts p;
    char entry[32];
    size_t n;

    (void)state;
    assert_int_equal(ps_assoc_bigram(dst, sizeof(dst), "ca", 2, "n't", 3), 6);
    assert_memory_equal(dst, "ca n't", 6);
    assert_int_equal(ps_assoc_bigram(dst, sizeof(dst), NULL, 0, "Classify", 8), 10);
    assert_memory_equal(dst, "\x02 Classify", 10);
    /* exactly the room, then one byte short */
    assert_int_equal(ps_assoc_bigram(dst, 6, "ca", 2, "n't", 3), 6);
    assert_int_equal(ps_assoc_bigram(dst, 5, "ca", 2, "n't", 3), 0);
    assert_int_equal(ps_assoc_bigram(dst, 1, NULL, 0, "x", 1), 0);
    /* a bigram's entry is a bigram; an n-gram of one or three words, a pair and a total are not */
    n = ps_assoc_entry(entry, sizeof(entry), "ca n't", 6, NULL, 0);
    assert_true(ps_assoc_split(entry, n, &p) && ps_assoc_is_bigram(&p));
    n = ps_assoc_entry(entry, sizeof(entry), "\x02 Classify", 10, NULL, 0);
    assert_true(ps_assoc_split(entry, n, &p) && ps_assoc_is_bigram(&p));
    n = ps_assoc_entry(entry, sizeof(entry), "n't", 3, NULL, 0);
    assert_true(ps_assoc_split(entry, n, &p) && !ps_assoc_is_bigram(&p));
    n = ps_assoc_entry(entry, sizeof(entry), "ca n't sustain", 14, NULL, 0);
    assert_true(ps_assoc_split(entry, n, &p) && !ps_assoc_is_bigram(&p));
    n = ps_assoc_entry(entry, sizeof(entry), "ca n't", 6, "negative", 8);
    assert_true(ps_assoc_split(entry, n, &p) && !ps_assoc_is_bigram(&p));
    n = ps_assoc_entry(entry, sizeof(entry), NULL, 0, PS_ASSOC_BIGRAMS, 1);
    assert_true(ps_assoc_split(entry, n, &p) && !ps_assoc_is_bigram(&p));
    n = ps_assoc_entry(entry, sizeof(entry), " x", 2, NULL, 0); /* no first word */
    assert_true(ps_assoc_split(entry, n, &p) && !ps_assoc_is_bigram(&p));
}

/* ---- score ---- */

static void test_assoc_z_matches_the_binomial_formula(void **state)
{
    double p = 338.0 / 601.0;

    (void)state;
    /* a label flip of 100 records in 601, 338 of which carry the label */
    assert_true(fabs(ps_score_assoc_z(100, 100, 338, 601) - 8.82) < 0.01);
    assert_true(fabs(ps_score_assoc_z(100, 100, 338, 601) -
                     (100.0 - 100.0 * p) / sqrt(100.0 * p * (1.0 - p))) < 1e-9);
    /* no lean at all scores 0, a lean away from the label below 0 */
    assert_true(fabs(ps_score_assoc_z(50, 100, 50, 100)) < 1e-9);
    assert_true(ps_score_assoc_z(10, 100, 50, 100) < 0.0);
}

static void test_assoc_z_is_zero_without_contrast(void **state)
{
    (void)state;
    assert_true(ps_score_assoc_z(100, 100, 0, 601) == 0.0);   /* p = 0 */
    assert_true(ps_score_assoc_z(100, 100, 601, 601) == 0.0); /* p = 1 */
    assert_true(ps_score_assoc_z(100, 100, 700, 601) == 0.0); /* more than all */
    assert_true(ps_score_assoc_z(0, 0, 338, 601) == 0.0);     /* no record holds the n-gram */
    assert_true(ps_score_assoc_z(0, 0, 0, 0) == 0.0);
}

static void test_assoc_score_needs_rate_and_z(void **state)
{
    struct ps_score_opts o = ps_score_opts_default();

    (void)state;
    /* a rate below 0.9 is rejected however high its z (a rare label: z about 26) */
    assert_true(ps_score_assoc_z(89, 100, 10, 100) > 20.0);
    assert_false(ps_score_assoc(&o, 89, 100, 10, 100));
    assert_true(ps_score_assoc(&o, 90, 100, 10, 100)); /* exactly the rate */
    /* all ten records with the label, but a z of 2.8 (p = 0.56) is no evidence */
    assert_true(ps_score_assoc_z(10, 10, 56, 100) < 4.0);
    assert_false(ps_score_assoc(&o, 10, 10, 56, 100));
    /* the same share over a hundred records is */
    assert_true(ps_score_assoc(&o, 100, 100, 56, 100));
    assert_true(ps_score_assoc(&o, 100, 100, 338, 601));
    /* no records, or a label every record carries, is never selected */
    assert_false(ps_score_assoc(&o, 0, 0, 56, 100));
    assert_false(ps_score_assoc(&o, 100, 100, 100, 100));
}

static void test_assoc_rejoin_p_is_the_poisson_tail_of_half_the_corpus_share(void **state)
{
    uint64_t seen[2] = {30, 0};
    double share[2] = {0.8, 0.6}, mean = 0.5 * 0.8 * 30;

    (void)state;
    /* none of 30 rejoins where an insertion expects 12: e^-12 */
    assert_true(fabs(ps_score_rejoin_p(seen, share, 2, 0) - exp(-mean)) < 1e-12);
    /* up to 2 of them */
    assert_true(fabs(ps_score_rejoin_p(seen, share, 2, 2) -
                     exp(-mean) * (1 + mean + mean * mean / 2)) < 1e-12);
    /* all of them, or a corpus that knows no bigram, or no record that says: no evidence */
    assert_true(ps_score_rejoin_p(seen, share, 2, 30) > 0.99);
    share[0] = 0.0;
    assert_true(ps_score_rejoin_p(seen, share, 2, 0) == 1.0);
    seen[0] = 0;
    assert_true(ps_score_rejoin_p(seen, share, 2, 0) == 1.0);
    /* the two kinds add up: 10 starts at 0.6 and 30 inside at 0.8 expect 3 + 12 */
    seen[0] = 30;
    seen[1] = 10;
    share[0] = 0.8;
    assert_true(fabs(ps_score_rejoin_p(seen, share, 2, 0) - exp(-15.0)) < 1e-12);
    /* the rule's bound: a word of its sentences (30 records, none rejoined) is held back, a
     * thin corpus (share 0.03: 0.45 expected) cannot tell */
    assert_true(ps_score_rejoin_p(seen, share, 2, 0) < ps_score_opts_default().min_rejoin_p);
    share[0] = 0.03;
    seen[1] = 0;
    assert_true(ps_score_rejoin_p(seen, share, 2, 0) > ps_score_opts_default().min_rejoin_p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assoc_label_ignores_case_and_punctuation),
        cmocka_unit_test(test_assoc_label_keeps_digits_and_non_ascii),
        cmocka_unit_test(test_assoc_label_holds_at_most_three_words),
        cmocka_unit_test(test_assoc_label_needs_a_word),
        cmocka_unit_test(test_assoc_label_holds_at_most_label_max_bytes),
        cmocka_unit_test(test_assoc_label_reads_only_src_len_bytes),
        cmocka_unit_test(test_assoc_entry_joins_ngram_and_label_with_the_separator),
        cmocka_unit_test(test_assoc_entry_sides_may_be_empty),
        cmocka_unit_test(test_assoc_entry_returns_zero_when_it_does_not_fit),
        cmocka_unit_test(test_assoc_entry_hash_is_that_of_its_text),
        cmocka_unit_test(test_assoc_entry_hash_tells_the_shapes_apart),
        cmocka_unit_test(test_assoc_split_undoes_entry),
        cmocka_unit_test(test_assoc_bigram_joins_two_words_or_the_start),
        cmocka_unit_test(test_assoc_rejoin_p_is_the_poisson_tail_of_half_the_corpus_share),
        cmocka_unit_test(test_assoc_split_refuses_an_ordinary_pattern),
        cmocka_unit_test(test_assoc_split_takes_the_first_separator),
        cmocka_unit_test(test_assoc_z_matches_the_binomial_formula),
        cmocka_unit_test(test_assoc_z_is_zero_without_contrast),
        cmocka_unit_test(test_assoc_score_needs_rate_and_z),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
