/* test_u64map.c - the u64 -> u64 map: insert, overwrite, the key 0, growth keeps every value,
 * and the ceiling. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/u64map.h"

static void test_u64map_puts_gets_and_overwrites(void **state)
{
    struct ps_u64map m;
    uint64_t v = 0;

    (void)state;
    ps_u64map_init(&m, 100000);
    assert_false(ps_u64map_get(&m, 0, &v));
    assert_false(ps_u64map_get(&m, 42, &v));
    assert_int_equal(ps_u64map_put(&m, 0, 7), PS_OK);
    /* enough keys to grow the table several times: every value must move with its key */
    for (uint64_t k = 1; k <= 20000; k++)
        assert_int_equal(ps_u64map_put(&m, k * 0x9E3779B97F4A7C15u, k), PS_OK);
    assert_int_equal(ps_u64map_len(&m), 20001);
    assert_true(ps_u64map_get(&m, 0, &v));
    assert_int_equal(v, 7);
    for (uint64_t k = 1; k <= 20000; k++) {
        assert_true(ps_u64map_get(&m, k * 0x9E3779B97F4A7C15u, &v));
        assert_int_equal(v, k);
        assert_false(ps_u64map_get(&m, k * 0x9E3779B97F4A7C15u + 1, &v));
    }
    assert_int_equal(ps_u64map_put(&m, 0x9E3779B97F4A7C15u, 99), PS_OK);
    assert_true(ps_u64map_get(&m, 0x9E3779B97F4A7C15u, &v));
    assert_int_equal(v, 99);
    assert_int_equal(ps_u64map_len(&m), 20001);
    ps_u64map_release(&m);
}

static void test_u64map_refuses_past_ceiling(void **state)
{
    struct ps_u64map m;
    uint64_t v = 0;

    (void)state;
    ps_u64map_init(&m, 2);
    assert_int_equal(ps_u64map_put(&m, 5, 1), PS_OK);
    assert_int_equal(ps_u64map_put(&m, 0, 2), PS_OK);
    assert_int_equal(ps_u64map_put(&m, 6, 3), PS_ERR_LIMIT);
    assert_int_equal(ps_u64map_put(&m, 5, 4), PS_OK); /* an overwrite needs no room */
    assert_false(ps_u64map_get(&m, 6, &v));
    assert_true(ps_u64map_get(&m, 5, &v));
    assert_int_equal(v, 4);
    ps_u64map_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64map_puts_gets_and_overwrites),
        cmocka_unit_test(test_u64map_refuses_past_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
