/* test_u64set.c - the open-addressing u64 set used for confirm-pass candidate hashes: membership,
 * the key 0, duplicates, growth, iteration, clear and the ceiling. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/u64set.h"

static void test_u64set_adds_probes_and_iterates(void **state)
{
    struct ps_u64set s;
    bool added;
    uint64_t k, sum = 0;
    size_t pos = 0, seen = 0, i;

    (void)state;
    ps_u64set_init(&s, 10000);
    assert_false(ps_u64set_has(&s, 0));
    assert_false(ps_u64set_has(&s, 5));
    assert_int_equal(ps_u64set_add(&s, 0, &added), PS_OK);
    assert_true(added);
    for (i = 1; i <= 5000; i++)
        assert_int_equal(ps_u64set_add(&s, i * 7919, NULL), PS_OK);
    assert_int_equal(ps_u64set_add(&s, 7919, &added), PS_OK);
    assert_false(added);
    assert_int_equal(s.len, 5001);
    assert_true(ps_u64set_has(&s, 0));
    for (i = 1; i <= 5000; i++) {
        assert_true(ps_u64set_has(&s, i * 7919));
        assert_false(ps_u64set_has(&s, i * 7919 + 1));
    }
    while (ps_u64set_next(&s, &pos, &k)) {
        sum += k;
        seen++;
    }
    assert_int_equal(seen, 5001);
    assert_int_equal(sum, (uint64_t)7919 * 5000 * 5001 / 2);
    ps_u64set_clear(&s);
    assert_int_equal(s.len, 0);
    assert_false(ps_u64set_has(&s, 0));
    assert_false(ps_u64set_has(&s, 7919));
    ps_u64set_release(&s);
}

static void test_u64set_refuses_past_ceiling(void **state)
{
    struct ps_u64set s;

    (void)state;
    ps_u64set_init(&s, 2);
    assert_int_equal(ps_u64set_add(&s, 1, NULL), PS_OK);
    assert_int_equal(ps_u64set_add(&s, 0, NULL), PS_OK);
    assert_int_equal(ps_u64set_add(&s, 2, NULL), PS_ERR_LIMIT);
    assert_int_equal(ps_u64set_add(&s, 1, NULL), PS_OK); /* already there: fine */
    assert_false(ps_u64set_has(&s, 2));
    assert_int_equal(s.len, 2);
    assert_int_equal(ps_u64set_reserve(&s, 3), PS_ERR_LIMIT);
    ps_u64set_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64set_adds_probes_and_iterates),
        cmocka_unit_test(test_u64set_refuses_past_ceiling),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
