/* test_score.c - the v1 decision rules: count, spread over shards and rate in role. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_expected_shards_matches_closed_form),
        cmocka_unit_test(test_score_select_needs_count_and_spread),
        cmocka_unit_test(test_score_flag_uses_rate_in_role),
    };
    return cmocka_run_group_tests_name("score", tests, NULL, NULL);
}
