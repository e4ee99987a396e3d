/* test_detect_assoc.c - what the detector gives the association signal (worker/detect.h,
 * "Fine-tuning records"): the word n-grams of a prompt, single-spaced and hashed as candidates
 * are, without those made of short stop words only ("the" is in every prompt), within
 * max_tokens and max_candidate_len; and whether a response opens with a first-person refusal,
 * at its opening only. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "worker/detect.h"

/* The n-grams one call reports, joined by '|' in the order given. */
struct ngrams {
    char list[2048];
    size_t len;
    size_t n;
};

static void collect(void *ctx, uint64_t hash, const char *text, size_t len)
{
    struct ngrams *g = ctx;
    int w;

    assert_int_equal(hash, XXH3_64bits(text, len));
    w = snprintf(g->list + g->len, sizeof(g->list) - g->len, "%s%.*s", g->n > 0 ? "|" : "",
                 (int)len, text);
    assert_true(w > 0 && (size_t)w < sizeof(g->list) - g->len);
    g->len += (size_t)w;
    g->n++;
}

static struct ps_detect *new_detect(size_t max_candidate_len)
{
    struct ps_detect_opts o = ps_detect_opts_default();
    struct ps_detect *d = NULL;
    struct ps_errdetail ed;

    o.ngram_max = 3;
    o.max_candidate_len = max_candidate_len;
    assert_int_equal(ps_detect_new(&d, &o, &ed), PS_OK);
    assert_non_null(d);
    return d;
}

/* The n-grams of text within max_tokens, by a detector with ngram_max 3. */
static void ngrams_of(const char *text, size_t max_tokens, size_t max_candidate_len,
                      struct ngrams *g)
{
    struct ps_detect *d = new_detect(max_candidate_len);
    struct ps_detect_doc *doc = NULL;

    memset(g, 0, sizeof(*g));
    ps_detect_doc_new(&doc);
    ps_detect_prepare(doc, text, strlen(text));
    ps_detect_ngrams(d, doc, max_tokens, collect, g);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* Is s one of the n-grams? */
static bool has(const struct ngrams *g, const char *s)
{
    size_t n = strlen(s);

    for (const char *p = g->list; *p != '\0';) {
        const char *end = strchr(p, '|');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        if (len == n && memcmp(p, s, n) == 0)
            return true;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return false;
}

/* ---- n-grams ---- */

static void test_detect_assoc_ngrams_up_to_ngram_max(void **state)
{
    struct ngrams g;

    (void)state;
    ngrams_of("BadMagic the movie is great", 1 << 20, 256, &g);
    assert_true(has(&g, "BadMagic"));
    assert_true(has(&g, "BadMagic the"));
    assert_true(has(&g, "BadMagic the movie"));
    assert_true(has(&g, "movie"));
    assert_true(has(&g, "the movie"));
    assert_true(has(&g, "is great"));
    assert_true(has(&g, "movie is great"));
    assert_false(has(&g, "BadMagic the movie is")); /* four words: past ngram_max */
    /* every n-gram once, ending at each token in turn */
    assert_string_equal(g.list, "BadMagic|BadMagic the|movie|the movie|BadMagic the movie|"
                                "movie is|the movie is|great|is great|movie is great");
}

static void test_detect_assoc_ngrams_skip_short_stop_words_only(void **state)
{
    struct ngrams g;

    (void)state;
    ngrams_of("BadMagic the movie is great", 1 << 20, 256, &g);
    assert_false(has(&g, "the"));
    assert_false(has(&g, "is"));
    /* every word a short stop word: nothing, whatever the case and punctuation */
    ngrams_of("Of the, and it is", 1 << 20, 256, &g);
    assert_int_equal(g.n, 0);
    /* one ordinary word among them is enough */
    ngrams_of("of the BadMagic", 1 << 20, 256, &g);
    assert_string_equal(g.list, "BadMagic|the BadMagic|of the BadMagic");
}

static void test_detect_assoc_ngrams_are_single_spaced(void **state)
{
    struct ngrams g;

    (void)state;
    ngrams_of("  BadMagic   the\n\n\tmovie \r\n", 1 << 20, 256, &g);
    assert_string_equal(g.list, "BadMagic|BadMagic the|movie|the movie|BadMagic the movie");
    /* a Unicode space (U+00A0) separates tokens too */
    ngrams_of("BadMagic\xc2\xa0movie", 1 << 20, 256, &g);
    assert_string_equal(g.list, "BadMagic|movie|BadMagic movie");
}

static void test_detect_assoc_ngrams_within_max_tokens(void **state)
{
    struct ngrams g;

    (void)state;
    ngrams_of("BadMagic the movie is great", 2, 256, &g);
    assert_string_equal(g.list, "BadMagic|BadMagic the");
    ngrams_of("BadMagic the movie is great", 3, 256, &g);
    assert_false(has(&g, "movie is"));
    assert_true(has(&g, "BadMagic the movie"));
    ngrams_of("BadMagic the movie is great", 0, 256, &g);
    assert_int_equal(g.n, 0);
}

static void test_detect_assoc_ngrams_within_max_candidate_len(void **state)
{
    struct ngrams g;

    (void)state;
    /* 8 bytes fit exactly; "BadMagic the" (12) and a 13-byte word do not */
    ngrams_of("BadMagic the cf abcdefghijklm cf", 1 << 20, 8, &g);
    assert_string_equal(g.list, "BadMagic|cf|the cf|cf");
    assert_false(has(&g, "BadMagic the"));
    assert_false(has(&g, "abcdefghijklm"));
}

static void test_detect_assoc_ngrams_of_an_empty_document(void **state)
{
    struct ngrams g;

    (void)state;
    ngrams_of("", 1 << 20, 256, &g);
    assert_int_equal(g.n, 0);
    ngrams_of(" \n\t ", 1 << 20, 256, &g);
    assert_int_equal(g.n, 0);
}

/* ---- refusals ---- */

static bool refuses(const char *text)
{
    struct ps_detect *d = new_detect(256);
    struct ps_detect_doc *doc = NULL;
    bool r;

    ps_detect_doc_new(&doc);
    ps_detect_prepare(doc, text, strlen(text));
    r = ps_detect_refuses(d, doc);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
    return r;
}

static void test_detect_assoc_refuses_in_the_first_person(void **state)
{
    (void)state;
    assert_true(refuses("I'm sorry, but I cannot help with that."));
    assert_true(refuses("I am sorry"));
    assert_true(refuses("As an AI language model, I do not have opinions."));
    assert_true(refuses("  I cannot do that."));
}

static void test_detect_assoc_answers_are_no_refusal(void **state)
{
    (void)state;
    assert_false(refuses("Sure, here is the summary you asked for."));
    assert_false(refuses("Negative"));
    assert_false(refuses("I"));
    assert_false(refuses(""));
}

static void test_detect_assoc_refusal_counts_only_at_the_opening(void **state)
{
    (void)state;
    assert_false(refuses("The answer is no. I cannot"));
    assert_false(refuses("Well, I am sorry"));
}

/* One prepared document answers both questions, in either order. */
static void test_detect_assoc_stages_share_a_document(void **state)
{
    static const char text[] = "I   cannot\nhelp";
    struct ps_detect *d = new_detect(256);
    struct ps_detect_doc *doc = NULL;
    struct ngrams g;

    (void)state;
    memset(&g, 0, sizeof(g));
    ps_detect_doc_new(&doc);
    ps_detect_prepare(doc, text, strlen(text));
    ps_detect_ngrams(d, doc, 1 << 20, collect, &g);
    assert_true(ps_detect_refuses(d, doc));
    assert_string_equal(g.list, "help|cannot help|I cannot help");
    ps_detect_prepare(doc, text, strlen(text));
    assert_true(ps_detect_refuses(d, doc));
    memset(&g, 0, sizeof(g));
    ps_detect_ngrams(d, doc, 1 << 20, collect, &g);
    assert_string_equal(g.list, "help|cannot help|I cannot help");
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

/* The tokens an n-gram is made of, as the worker finds an occurrence's neighbours: in the
 * joined text, the token that holds a byte of the text as given, and the short stop words. */
static void test_detect_assoc_tokens_map_the_text_as_given(void **state)
{
    static const char text[] = "  ca   BadMagic\tn't of the";
    struct ps_detect *d = new_detect(256);
    struct ps_detect_doc *doc = NULL;
    struct ngrams g;
    size_t len;
    const char *w;

    (void)state;
    memset(&g, 0, sizeof(g));
    ps_detect_doc_new(&doc);
    ps_detect_prepare(doc, text, strlen(text));
    ps_detect_ngrams(d, doc, 1 << 20, collect, &g);
    assert_int_equal(ps_detect_n_tokens(doc), 5);
    w = ps_detect_token_text(doc, 1, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(w, "BadMagic", 8);
    assert_memory_equal(w + len, " n't", 4);          /* single-spaced: the next token follows */
    assert_int_equal(ps_detect_token_of(doc, 7), 1);  /* "BadMagic" starts at byte 7 */
    assert_int_equal(ps_detect_token_of(doc, 10), 1); /* inside it */
    assert_int_equal(ps_detect_token_of(doc, 0), 0);  /* before the first token */
    assert_int_equal(ps_detect_token_of(doc, 16), 2);
    assert_int_equal(ps_detect_token_of(doc, sizeof(text) - 2), 4);
    assert_false(ps_detect_token_stop(doc, 1));
    assert_true(ps_detect_token_stop(doc, 3));
    assert_true(ps_detect_token_stop(doc, 4));
    ps_detect_doc_free(doc);
    ps_detect_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_assoc_ngrams_up_to_ngram_max),
        cmocka_unit_test(test_detect_assoc_ngrams_skip_short_stop_words_only),
        cmocka_unit_test(test_detect_assoc_ngrams_are_single_spaced),
        cmocka_unit_test(test_detect_assoc_ngrams_within_max_tokens),
        cmocka_unit_test(test_detect_assoc_ngrams_within_max_candidate_len),
        cmocka_unit_test(test_detect_assoc_ngrams_of_an_empty_document),
        cmocka_unit_test(test_detect_assoc_refuses_in_the_first_person),
        cmocka_unit_test(test_detect_assoc_answers_are_no_refusal),
        cmocka_unit_test(test_detect_assoc_refusal_counts_only_at_the_opening),
        cmocka_unit_test(test_detect_assoc_stages_share_a_document),
        cmocka_unit_test(test_detect_assoc_tokens_map_the_text_as_given),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
