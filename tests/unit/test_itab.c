/* test_itab.c - the index table against a plain list: random adds, lookups and clears (the
 * O(1) clear must hide every earlier record, also across growth and the renumbering at the end
 * of the id space), hashes that share a tag, records grown by push, and the ceiling. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "common/itab.h"

/* The record index under `key` in keys[0..n), or PS_ITAB_NONE, found through the table. */
static uint32_t find(const struct ps_itab *t, const uint64_t *keys, uint64_t key)
{
    struct ps_itab_probe p = ps_itab_probe(t, key);

    for (uint32_t i; (i = ps_itab_next(t, &p)) != PS_ITAB_NONE;)
        if (keys[i] == key)
            return i;
    return PS_ITAB_NONE;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Rounds of adds (keys from a small range, so that repeats and misses both happen) and lookups,
 * each round ended by a clear; `base` starts the ids near the end of their space when asked. */
static void run_model(uint32_t start_base)
{
    enum { ROUNDS = 40, MAX_N = 3000, RANGE = 5000 };
    struct ps_itab t;
    uint64_t *keys = malloc(MAX_N * sizeof(*keys)), seed = 88172645463325252u;

    ps_itab_init(&t);
    t.base = start_base;
    for (int round = 0; round < ROUNDS; round++) {
        uint32_t n = 0, want = (uint32_t)(next_rand(&seed) % MAX_N);

        while (n < want) {
            uint64_t key = next_rand(&seed) % RANGE;
            uint32_t naive = PS_ITAB_NONE, got, idx;

            for (uint32_t i = 0; i < n; i++)
                if (keys[i] == key)
                    naive = i;
            got = find(&t, keys, key);
            assert_int_equal(got, naive);
            if (got == PS_ITAB_NONE) {
                assert_int_equal(ps_itab_add(&t, key, &idx), PS_OK);
                assert_int_equal(idx, n);
                keys[n++] = key;
            }
        }
        assert_int_equal(t.n, n);
        for (uint32_t i = 0; i < n; i++)
            assert_int_equal(find(&t, keys, keys[i]), i);
        assert_true(t.cap >= 2 * (size_t)n);
        ps_itab_clear(&t);
        for (uint32_t i = 0; i < n; i++)
            assert_int_equal(find(&t, keys, keys[i]), PS_ITAB_NONE);
    }
    ps_itab_release(&t);
    free(keys);
}

static void test_itab_matches_a_list_across_clears(void **state)
{
    (void)state;
    run_model(0);
}

static void test_itab_renumbers_at_the_end_of_the_id_space(void **state)
{
    (void)state;
    run_model(PS_ITAB_MAX - 5000); /* a few rounds in, a clear must wipe the slots */
}

static void test_itab_hashes_sharing_a_tag(void **state)
{
    struct ps_itab t;
    uint64_t keys[64];
    uint32_t idx;

    (void)state;
    ps_itab_init(&t);
    /* k and k's halves swapped fold to the same tag: the caller tells them apart */
    for (uint32_t i = 0; i < 32; i++) {
        uint64_t k = (uint64_t)(i + 1) << 32 | (0xABCD0000u + i);

        keys[2 * i] = k;
        keys[2 * i + 1] = k << 32 | k >> 32;
        assert_int_equal(ps_itab_tag(keys[2 * i]), ps_itab_tag(keys[2 * i + 1]));
        assert_int_equal(ps_itab_add(&t, keys[2 * i], &idx), PS_OK);
        assert_int_equal(ps_itab_add(&t, keys[2 * i + 1], &idx), PS_OK);
    }
    for (uint32_t i = 0; i < 64; i++)
        assert_int_equal(find(&t, keys, keys[i]), i);
    assert_int_equal(find(&t, keys, 12345), PS_ITAB_NONE);
    /* patset counts on it: a 32-bit key cannot share its tag with another 32-bit key */
    assert_int_equal(ps_itab_tag(0xDEADBEEFu), 0xDEADBEEFu);
    assert_int_equal(ps_itab_tag(0), 0);
    ps_itab_release(&t);
    assert_null(t.slots);
    assert_int_equal(find(&t, keys, keys[0]), PS_ITAB_NONE);
}

static void test_itab_push_grows_the_records(void **state)
{
    struct rec {
        uint64_t key, count;
    } *v = NULL;
    size_t cap = 0;
    struct ps_itab t;

    (void)state;
    ps_itab_init(&t);
    for (uint64_t k = 0; k < 1000; k++) {
        v = ps_itab_push(&t, k * 7919, v, &cap, sizeof(*v));
        assert_int_equal(t.n, k + 1);
        assert_true(cap >= t.n);
        assert_int_equal(v[k].key, 0); /* zeroed, whatever the allocator left there */
        assert_int_equal(v[k].count, 0);
        v[k].key = k * 7919;
        v[k].count = k;
    }
    for (uint64_t k = 0; k < 1000; k++) {
        struct ps_itab_probe p = ps_itab_probe(&t, k * 7919);
        uint32_t i;

        while ((i = ps_itab_next(&t, &p)) != PS_ITAB_NONE && v[i].key != k * 7919)
            ;
        assert_int_equal(i, k);
        assert_int_equal(v[i].count, k);
    }
    ps_itab_release(&t);
    free(v);
}

static void test_itab_refuses_past_ceiling(void **state)
{
    struct ps_itab t;
    uint32_t idx = 7;

    (void)state;
    ps_itab_init(&t);
    t.n = PS_ITAB_MAX; /* as if full: refused before any allocation */
    assert_int_equal(ps_itab_add(&t, 1, &idx), PS_ERR_LIMIT);
    assert_int_equal(idx, 7);
    assert_null(t.slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_itab_matches_a_list_across_clears),
        cmocka_unit_test(test_itab_renumbers_at_the_end_of_the_id_space),
        cmocka_unit_test(test_itab_hashes_sharing_a_tag),
        cmocka_unit_test(test_itab_push_grows_the_records),
        cmocka_unit_test(test_itab_refuses_past_ceiling),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
