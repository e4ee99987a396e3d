/* test_detect_repeats.c - the next occurrence of each token's fingerprint (DOC_REPEATS, the
 * periods ps_detect_repeat_from tries) against a search of the window: the same for documents
 * of few and of many distinct words, one document object reused from document to document (its
 * slots hold the last document's tokens), and fingerprints that share slots. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/detect_internal.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Du;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* n words drawn from a vocabulary of `vocab`, one space apart, into buf (NUL-terminated). */
static size_t random_text(char *buf, size_t cap, size_t n, unsigned vocab)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "%sw%u", i ? " " : "", (unsigned)(rng() % vocab));

        assert_true(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
    return len;
}

static void check_next_same(const struct ps_detect_doc *doc)
{
    for (size_t i = 0; i < doc->n_tok; i++) {
        uint32_t want = 0;

        for (size_t k = i + 1; k < doc->n_tok && k <= i + REP_PERIOD_MAX && want == 0; k++)
            if (doc->tfp[k] == doc->tfp[i])
                want = (uint32_t)k;
        if (doc->nsame[i] != want)
            fail_msg("token %zu of %zu: next same %u, want %u", i, doc->n_tok, doc->nsame[i], want);
    }
}

static void test_detect_next_same_random(void **state)
{
    static const unsigned vocabs[] = {1, 3, 40, 700, 5000};
    struct ps_detect *d = NULL;
    struct ps_detect_doc *doc = NULL;
    struct ps_errdetail ed;
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);

    (void)state;
    assert_non_null(buf);
    assert_int_equal(ps_detect_new(&d, NULL, &ed), PS_OK);
    ps_detect_doc_new(&doc);
    for (int round = 0; round < 300; round++) {
        size_t n = 1 + rng() % 4000;
        size_t len = random_text(buf, cap, n, vocabs[rng() % 5]);

        ps_detect_prepare(doc, buf, len);
        ps_detect_doc_need(d, doc, DOC_REPEATS);
        assert_true(doc->have & DOC_FINGERPRINTS);
        assert_int_equal(doc->n_tok, n);
        check_next_same(doc);
    }
    ps_detect_doc_free(doc);
    ps_detect_free(d);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_next_same_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
