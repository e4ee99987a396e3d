/* test_hashsort.c - ps_hash_keys_sort against qsort: every length around the run size and the
 * merge widths, random distinct hashes, and each key keeping its index. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "common/hashsort.h"

static int cmp_key(const void *a, const void *b)
{
    const struct ps_hash_key *x = a, *y = b;

    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static void test_hashsort_matches_qsort(void **state)
{
    static const size_t lengths[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 64, 100, 255, 1000, 4097};
    uint64_t x = 0x9E3779B97F4A7C15u;

    (void)state;
    for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
        size_t n = lengths[l];
        struct ps_hash_key *keys = malloc((2 * n + 1) * sizeof(*keys));
        struct ps_hash_key *want = malloc((n + 1) * sizeof(*want));
        uint64_t *by_index = malloc((n + 1) * sizeof(*by_index));

        assert_true(keys != NULL && want != NULL && by_index != NULL);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* small hashes too, so that runs hold keys already in order and reversed */
            keys[i] = (struct ps_hash_key){i % 3 == 0 ? x : x >> 40, i};
            for (size_t j = 0; j < i; j++) /* distinct, as the contract asks */
                if (keys[j].hash == keys[i].hash)
                    keys[i].hash ^= UINT64_C(1) << 63;
            want[i] = keys[i];
            by_index[i] = keys[i].hash;
        }
        if (n > 0)
            qsort(want, n, sizeof(*want), cmp_key);
        ps_hash_keys_sort(keys, keys + n, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(keys[i].hash, want[i].hash);
            assert_int_equal(by_index[keys[i].i], keys[i].hash);
        }
        free(keys);
        free(want);
        free(by_index);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashsort_matches_qsort),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
