/* test_detect_roles.c - confirm's role tests at a token against their definitions.
 * Salad (ps_detect_salad_from): the after-window ratios of stop words (best language),
 * alphabetic and capitalized tokens and mean length, computed in doubles over the window. The
 * test rejects on English stop words first and on bounds precomputed per window size (role_lim),
 * so the documents mix the stop words of several languages at densities around the bound, under
 * several option sets.
 * Repeat (ps_detect_repeat_from): a phrase of at most REP_PERIOD_MAX tokens holding a word, its
 * REP_COPIES copies starting at j or j + 1 and not one token earlier, by a search of every
 * period. The test leaves at once when token j + 1 does not come again, and tries only the
 * periods both starts share with it, so the documents hold runs of every period up to past
 * REP_PERIOD_MAX, runs cut short, and runs that end at the document's end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/detect_internal.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Word classes: English, German and French stop words, salad words, capitalized words, and
 * tokens that are not alphabetic or too long or short for the mean length. */
static const char *const words[][4] = {
    {"the", "of", "and", "to"},
    {"und", "der", "nicht", "ist"},
    {"le", "et", "les", "des"},
    {"blorf", "qux", "zenith", "mauve"},
    {"Alpha", "Zeta", "Quorn", "Brisk"},
    {"42", "{x}", "a=b", "7.5"},
    {"x", "supercalifragilisticexpialidocious", "y", "antidisestablishmentarianism"}};
#define N_CLASSES (sizeof(words) / sizeof(words[0]))

/* n tokens, class c drawn with weight w[c], into buf (NUL-terminated). */
static size_t random_text(char *buf, size_t cap, size_t n, const unsigned *w)
{
    unsigned total = 0;
    size_t len = 0;

    for (size_t c = 0; c < N_CLASSES; c++)
        total += w[c];
    for (size_t i = 0; i < n; i++) {
        unsigned r = (unsigned)(rng() % total);
        size_t c = 0;
        int k;

        while (r >= w[c])
            r -= w[c++];
        k = snprintf(buf + len, cap - len, "%s%s", i ? " " : "", words[c][rng() % 4]);
        assert_true(k > 0 && (size_t)k < cap - len);
        len += (size_t)k;
    }
    return len;
}

/* What ps_detect_salad_from tests, from its definition; *stop_ok: the stop ratio passes,
 * *eng_low: English alone would pass it. */
/* Token k's features by their definition, from its bytes. */
static uint8_t token_features(const struct ps_detect *d, const struct ps_detect_doc *doc, size_t k)
{
    return ps_detect_token_flags(d, (const unsigned char *)doc->base + doc->tstart[k],
                                 doc->tend[k] - doc->tstart[k]);
}

static bool salad_def(const struct ps_detect *d, const struct ps_detect_doc *doc, size_t j,
                      bool *stop_ok, bool *eng_low)
{
    const struct ps_detect_opts *o = &d->o;
    size_t n = doc->n_tok, e = j + o->window < n ? j + o->window : n, best = 0;
    size_t alpha = 0, cap = 0, bytes = 0;
    double c;

    *stop_ok = *eng_low = false;
    if (j >= n || e - j < o->min_after)
        return false;
    c = (double)(e - j);
    for (int l = 0; l < N_LANGS; l++) {
        size_t s = 0;

        for (size_t k = j; k < e; k++)
            s += (doc->tflags[k] & lang_bit[l]) != 0;
        best = s > best ? s : best;
        if (l == 0)
            *eng_low = (double)s / c <= o->max_role_stop;
    }
    for (size_t k = j; k < e; k++) {
        uint8_t f = token_features(d, doc, k);

        alpha += (f & F_ALPHA) != 0;
        cap += (f & F_CAP) != 0;
        bytes += doc->tend[k] - doc->tstart[k];
    }
    *stop_ok = (double)best / c <= o->max_role_stop;
    return *stop_ok && (double)alpha / c >= o->min_after_alpha &&
           (double)cap / c <= o->max_after_cap && (double)bytes / c >= o->min_after_meanlen &&
           (double)bytes / c <= o->max_after_meanlen;
}

static void test_detect_salad_from_definition(void **state)
{
    static const unsigned windows[] = {16, 20, 32, 33, 64};
    static const double stops[] = {0.0, 0.05, 0.1, 0.25, 1.0};
    size_t cap = 64 * 1024, yes = 0, no = 0, other_lang = 0, stop_ok_other = 0;
    char *buf = malloc(cap);

    (void)state;
    assert_non_null(buf);
    for (int set = 0; set < 10; set++) {
        struct ps_detect_opts o = ps_detect_opts_default();
        struct ps_detect *d = NULL;
        struct ps_detect_doc *doc = NULL;
        struct ps_errdetail ed;

        if (set > 0) {
            o.window = windows[rng() % 5];
            o.min_after = 1 + (unsigned)(rng() % o.window);
            o.max_role_stop = stops[rng() % 5];
        }
        assert_int_equal(ps_detect_new(&d, &o, &ed), PS_OK);
        ps_detect_doc_new(&doc);
        for (int round = 0; round < 60; round++) {
            unsigned w[N_CLASSES];
            size_t len;

            /* mostly salad, with stop words of one to three languages at a few percent */
            for (size_t c = 0; c < N_CLASSES; c++)
                w[c] = c < 3 ? (unsigned)(rng() % 6) : 2 + (unsigned)(rng() % 30);
            len = random_text(buf, cap, 1 + rng() % 400, w);
            ps_detect_prepare(doc, buf, len);
            ps_detect_doc_need(d, doc, DOC_JOINED);
            for (size_t j = 0; j <= doc->n_tok; j++) {
                bool stop_ok, eng_low, want = salad_def(d, doc, j, &stop_ok, &eng_low);

                if (ps_detect_salad_from(d, doc, j) != want)
                    fail_msg("options %d, token %zu of %zu: salad %d", set, j, doc->n_tok, !want);
                yes += want;
                no += !want;
                other_lang += eng_low && !stop_ok;
                stop_ok_other += stop_ok && !want;
            }
        }
        ps_detect_doc_free(doc);
        ps_detect_free(d);
    }
    /* every way out was taken: English, another language, the other features, salad */
    assert_true(yes > 1000 && no > 1000 && other_lang > 1000 && stop_ok_other > 1000);
    free(buf);
}

static bool same_tok(const struct ps_detect_doc *doc, size_t a, size_t b)
{
    size_t len = doc->tend[a] - doc->tstart[a];

    return doc->tend[b] - doc->tstart[b] == len &&
           memcmp(doc->base + doc->tstart[a], doc->base + doc->tstart[b], len) == 0;
}

/* What ps_detect_repeat_from tests, from its definition. */
static bool repeat_def(const struct ps_detect *d, const struct ps_detect_doc *doc, size_t j)
{
    size_t n = doc->n_tok;

    for (size_t s = j; s <= j + 1 && s < n; s++) {
        for (size_t per = 1; per <= REP_PERIOD_MAX && s + REP_COPIES * per <= n; per++) {
            bool word = false, run = true;

            for (size_t k = s; k < s + per; k++)
                word |= (token_features(d, doc, k) & F_ALPHA) && doc->tend[k] - doc->tstart[k] >= 2;
            for (size_t k = s + per; k < s + REP_COPIES * per && run; k++)
                run = same_tok(doc, k, k - per);
            if (word && run && (s == 0 || !same_tok(doc, s - 1, s - 1 + per)))
                return true;
        }
    }
    return false;
}

/* n tokens into buf: random words of a small vocabulary, some not words ("|", "00"), and runs of
 * a phrase of 1 to 40 tokens repeated 1 to 6 times. */
static size_t repeat_text(char *buf, size_t cap, size_t n)
{
    static const char *const vocab[] = {"the", "cat", "sat", "on", "a",
                                        "mat", "|",   "00",  "-1", "x"};
    size_t len = 0, i = 0;

    while (i < n) {
        size_t per = 1 + (rng() % 4 == 0 ? rng() % 40 : rng() % 6), copies = 1 + rng() % 6;
        unsigned phrase[40];

        for (size_t k = 0; k < per; k++)
            phrase[k] = (unsigned)(rng() % 10);
        for (size_t k = 0; k < per * copies && i < n; k++, i++) {
            int w = snprintf(buf + len, cap - len, "%s%s", i ? " " : "", vocab[phrase[k % per]]);

            assert_true(w > 0 && (size_t)w < cap - len);
            len += (size_t)w;
        }
    }
    return len;
}

static void test_detect_repeat_from_definition(void **state)
{
    struct ps_detect *d = NULL;
    struct ps_detect_doc *doc = NULL;
    struct ps_errdetail ed;
    size_t cap = 64 * 1024, yes = 0, no = 0;
    char *buf = malloc(cap);

    (void)state;
    assert_non_null(buf);
    assert_int_equal(ps_detect_new(&d, NULL, &ed), PS_OK);
    ps_detect_doc_new(&doc);
    for (int round = 0; round < 2000; round++) {
        size_t len = repeat_text(buf, cap, 1 + rng() % (round % 2 ? 300 : 12));

        ps_detect_prepare(doc, buf, len);
        ps_detect_doc_need(d, doc, DOC_JOINED);
        for (size_t j = 0; j <= doc->n_tok; j++) {
            bool want = repeat_def(d, doc, j);

            if (ps_detect_repeat_from(d, doc, j) != want)
                fail_msg("round %d, token %zu of %zu: repeat %d", round, j, doc->n_tok, !want);
            yes += want;
            no += !want;
        }
    }
    assert_true(yes > 1000 && no > 1000);
    ps_detect_doc_free(doc);
    ps_detect_free(d);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_salad_from_definition),
        cmocka_unit_test(test_detect_repeat_from_definition),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
