/* test_registry.c - the coordinator's worker registry: lookups by routing id among thousands,
 * binary ids, liveness counts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "coordinator/registry.h"

static void test_registry_finds_workers_by_routing_id(void **state)
{
    struct ps_registry *r;
    bool known;
    char id[32];
    size_t first;

    (void)state;
    ps_registry_new(&r);
    first = ps_registry_find_or_add(r, "host-1-aa", 9, &known);
    assert_false(known);
    assert_int_equal(first, 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "w-%d-%08x", i, (unsigned)i * 2654435761u);
        assert_int_equal(ps_registry_find_or_add(r, id, strlen(id), &known), (size_t)i + 1);
        assert_false(known);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "w-%d-%08x", i, (unsigned)i * 2654435761u);
        assert_int_equal(ps_registry_find_or_add(r, id, strlen(id), &known), (size_t)i + 1);
        assert_true(known);
    }
    /* binary ids (ZeroMQ's own, 5 bytes with a leading 0) are printable in the name */
    assert_int_equal(ps_registry_find_or_add(r, "\0abc\xff", 5, &known), 3001);
    assert_string_equal(ps_registry_at(r, 3001)->name, "\\x00abc\\xff");
    assert_int_equal(ps_registry_find_or_add(r, "host-1-aa", 9, &known), first);
    assert_true(known);
    assert_int_equal(ps_registry_n_alive(r), 0);
    ps_registry_at(r, 5)->alive = true;
    assert_int_equal(ps_registry_n_alive(r), 1);
    assert_int_equal(ps_registry_len(r), 3002);
    ps_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_finds_workers_by_routing_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
