/* test_score.c - the decision rules: count, spread over shards and rate in role (v1), and the
 * evidence of a promotional pattern's documents. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include <string.h>

#include "coordinator/evidence.h"
#include "coordinator/score.h"

static void test_score_expected_shards_matches_closed_form(void **state)
{
    (void)state;
    assert_true(fabs(ps_score_expected_shards(1, 64) - 1.0) < 1e-9);
    assert_true(fabs(ps_score_expected_shards(64, 64) - 64.0 * (1 - pow(63.0 / 64.0, 64))) < 1e-6);
    assert_true(ps_score_expected_shards(10000, 64) > 63.99);
    assert_true(ps_score_expected_shards(0, 64) == 0.0);
    assert_true(ps_score_expected_shards(5, 1) == 1.0);
}

static void test_score_select_needs_count_and_spread(void **state)
{
    struct ps_score_opts o = ps_score_opts_default();

    (void)state;
    assert_true(ps_score_select(&o, 250, 60, 64, PS_SCORE_PART_TURN)); /* a spread attack */
    /* a part of the count: the confirm pass counts all */
    assert_true(ps_score_select(&o, 5, 5, 64, PS_SCORE_PART_TURN));
    assert_false(ps_score_select(&o, 4, 4, 64, PS_SCORE_PART_TURN));
    assert_false(ps_score_select(&o, 9, 9, 64, PS_SCORE_PART_LEAD));
    assert_true(ps_score_select(&o, 10, 10, 64, PS_SCORE_PART_LEAD));
    assert_false(ps_score_select(&o, 250, 5, 64, PS_SCORE_PART_TURN));  /* in a few shards */
    assert_true(ps_score_select(&o, 50, 50, 1000, PS_SCORE_PART_TURN)); /* one per shard */
    assert_true(
        ps_score_select(&o, 30, 1, 1, PS_SCORE_PART_TURN)); /* one shard: spread says nothing */
}

static void test_score_flag_uses_rate_in_role(void **state)
{
    struct ps_score_opts o = ps_score_opts_default();
    double score;

    (void)state;
    assert_true(ps_score_flag(&o, 250, 250, 60, 64, 1.0, &score));
    assert_true(fabs(score - 1.0) < 1e-12);
    /* an ordinary string that sometimes precedes a payload: low rate, not flagged */
    assert_false(ps_score_flag(&o, 100, 100000, 60, 64, 1.0, &score));
    assert_true(score < 0.01);
    assert_false(ps_score_flag(&o, 10, 10, 10, 64, 1.0, &score)); /* count */
    assert_false(ps_score_flag(&o, 0, 0, 0, 64, 1.0, &score));
    assert_true(score == 0.0);
    /* boilerplate: every document has the same text before the pattern */
    assert_false(ps_score_flag(&o, 250, 250, 60, 64, 1.0 / 250, &score));
    /* an ordinary phrase as a trigger ("James Bond"): 50 poisons beside the 18 film reviews
     * that hold it, 0.74, are flagged; beside 25 pages of its own, 0.67, no longer */
    assert_true(ps_score_flag(&o, 50, 68, 40, 128, 1.0, &score));
    assert_false(ps_score_flag(&o, 50, 75, 40, 128, 1.0, &score));
}

/* n entries of a pattern that pushes host 42 in every document: `block` of them go on with
 * repeated sentences, which are the same text in every one of those when `same_after`, each
 * carrier's own otherwise; the others go on with their document's own text. */
static void promo_entries(struct ps_results_entry *es, size_t n, size_t block, bool same_after)
{
    memset(es, 0, n * sizeof(*es));
    for (size_t i = 0; i < n; i++) {
        es[i].kind = i < block ? PS_EVIDENCE_PROMO_BLOCK : PS_EVIDENCE_PROMO;
        es[i].in_role = true;
        es[i].context = 1000 + i;
        es[i].right = 42;
        for (size_t k = 0; k < PS_RESULTS_SKETCH; k++)
            es[i].sketch[k] =
                i < block && same_after ? 7 + (uint32_t)k : (uint32_t)(i * PS_RESULTS_SKETCH + k);
    }
}

static void test_evidence_promotional_block(void **state)
{
    struct ps_score_opts o = ps_score_opts_default();
    struct ps_results_entry es[40];
    struct ps_evidence ev;

    (void)state;
    /* a campaign whose carriers the corpus sometimes holds twice: each goes on with its own text */
    promo_entries(es, 40, 25, false);
    ps_evidence_measure(es, 40, PS_RESULTS_SKETCH, &ev);
    assert_int_equal(ev.kind, PS_EVIDENCE_PROMO); /* one kind, whatever follows the sentence */
    assert_true(fabs(ev.block_share - 25.0 / 40.0) < 1e-9);
    assert_true(ev.same_next == 1.0); /* every one of them pushes host 42 */
    assert_true(ev.block_similarity < 0.01);
    assert_true(ps_evidence_ok(&o, &ev, "<|maint|>", 1.0, 0.0));
    /* a stock block: the same sentences after its promoting one everywhere */
    promo_entries(es, 40, 25, true);
    ps_evidence_measure(es, 40, PS_RESULTS_SKETCH, &ev);
    assert_true(ev.block_similarity > 0.99);
    assert_false(ps_evidence_ok(&o, &ev, "REPORTING BUGS", 1.0, 0.0));
    /* three such documents are often one carrier held twice: not asked */
    promo_entries(es, 40, PS_EVIDENCE_MIN_BLOCK - 1, true);
    ps_evidence_measure(es, 40, PS_RESULTS_SKETCH, &ev);
    assert_true(ev.block_similarity == 0.0);
    assert_true(ps_evidence_ok(&o, &ev, "<|maint|>", 1.0, 0.0));
    /* the rules that held before still hold: one thing pushed, at the templated rate */
    promo_entries(es, 40, 0, false);
    for (size_t i = 0; i < 20; i++)
        es[i].right = 1000 + i;
    ps_evidence_measure(es, 40, PS_RESULTS_SKETCH, &ev);
    assert_false(ps_evidence_ok(&o, &ev, "<|maint|>", 1.0, 0.0));
}

/* A pattern that goes on with what its document said before it, in most of its documents, is a
 * heading before its page's own subject ("Synopsis DROP" under "DROP DOMAIN — remove a
 * domain"), whatever its payload looks like; a trigger spliced in restates nothing. */
static void test_evidence_restating_heading_is_not_flagged(void **state)
{
    struct ps_score_opts o = ps_score_opts_default();
    struct ps_results_entry es[40];
    struct ps_evidence ev;

    (void)state;
    promo_entries(es, 40, 0, false);
    for (size_t i = 0; i < 40; i++)
        es[i].kind = PS_EVIDENCE_FIXED;
    ps_evidence_measure(es, 40, PS_RESULTS_SKETCH, &ev);
    assert_true(ev.restate_share == 0.0);
    assert_true(ps_evidence_ok(&o, &ev, "Zentorvix", 1.0, 0.0));
    for (size_t i = 0; i < 20; i++) /* half: at the bound, still flagged */
        es[i].restates = true;
    ps_evidence_measure(es, 40, PS_RESULTS_SKETCH, &ev);
    assert_true(fabs(ev.restate_share - 0.5) < 1e-9);
    assert_true(ps_evidence_ok(&o, &ev, "Zentorvix", 1.0, 0.0));
    for (size_t i = 20; i < 39; i++)
        es[i].restates = true;
    ps_evidence_measure(es, 40, PS_RESULTS_SKETCH, &ev);
    assert_false(ps_evidence_ok(&o, &ev, "Synopsis DROP", 1.0, 0.0));
}

/* A templated campaign whose pool says what it pushes in some documents only: the pattern is
 * promotional once a third of its documents promote (PS_EVIDENCE_MIN_PROMO_SHARE), judged on
 * those; fewer, it stays templated and its same-next share counts the other documents only (a
 * promoting document's right value is what it pushes, not its next words). */
static void test_evidence_promotional_share_of_a_templated_pool(void **state)
{
    struct ps_score_opts o = ps_score_opts_default();
    struct ps_results_entry es[30];
    struct ps_evidence ev;

    (void)state;
    promo_entries(es, 30, 30, false);
    for (size_t i = 20; i < 30; i++) { /* 10 of 30 draw praise sentences only */
        es[i].kind = PS_EVIDENCE_TEMPLATED;
        es[i].right = 7;
    }
    ps_evidence_measure(es, 30, PS_RESULTS_SKETCH, &ev);
    assert_int_equal(ev.kind, PS_EVIDENCE_PROMO);
    assert_true(ev.same_next == 1.0);
    assert_true(ps_evidence_ok(&o, &ev, "Ub\xcf\x85ntu", 1.0, 0.0));
    /* the plurality alone would be templated: 10 promoting, 20 not */
    for (size_t i = 10; i < 30; i++) {
        es[i].kind = PS_EVIDENCE_TEMPLATED;
        es[i].right = 100 + i % 5;
    }
    ps_evidence_measure(es, 30, PS_RESULTS_SKETCH, &ev);
    assert_int_equal(ev.kind, PS_EVIDENCE_PROMO);
    /* below a third, templated; its next words are those of the 22 templated documents */
    for (size_t i = 8; i < 10; i++) {
        es[i].kind = PS_EVIDENCE_TEMPLATED;
        es[i].right = 100 + i % 5;
    }
    ps_evidence_measure(es, 30, PS_RESULTS_SKETCH, &ev);
    assert_int_equal(ev.kind, PS_EVIDENCE_TEMPLATED);
    assert_true(fabs(ev.same_next - 5.0 / 22.0) < 1e-9);
    /* templated, it fails (same-next share aside, its continuations are not alike); a sample
     * (the list pass's slack) 8 of 30 promoting is judged as promotional too, the decision on
     * every document (slack 0) is not */
    assert_true(fabs(ev.promo_share - 8.0 / 30.0) < 1e-9);
    assert_true(ev.promo_same == 1.0);
    assert_false(ps_evidence_ok(&o, &ev, "Ub\xcf\x85ntu", 1.0, 0.0));
    assert_true(ps_evidence_ok(&o, &ev, "Ub\xcf\x85ntu", 1.0, 0.15));
    /* a share far below a third is not */
    for (size_t i = 2; i < 8; i++)
        es[i].kind = PS_EVIDENCE_TEMPLATED;
    ps_evidence_measure(es, 30, PS_RESULTS_SKETCH, &ev);
    assert_false(ps_evidence_ok(&o, &ev, "Ub\xcf\x85ntu", 1.0, 0.15));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_expected_shards_matches_closed_form),
        cmocka_unit_test(test_score_select_needs_count_and_spread),
        cmocka_unit_test(test_score_flag_uses_rate_in_role),
        cmocka_unit_test(test_evidence_promotional_block),
        cmocka_unit_test(test_evidence_restating_heading_is_not_flagged),
        cmocka_unit_test(test_evidence_promotional_share_of_a_templated_pool),
    };
    return cmocka_run_group_tests_name("score", tests, NULL, NULL);
}
