/* test_lease.c - the coordinator's lease table: queueing, grants, renewals only for the current
 * (shard, worker, attempt), expiry and loss of a worker's leases in any order, finished shards
 * counted once, given-back attempts not charged. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "coordinator/lease.h"

static void test_lease_queues_grants_and_finishes(void **state)
{
    struct ps_lease_table *t;
    uint32_t id, got[8];

    (void)state;
    ps_lease_table_new(&t, 5);
    ps_lease_mark_finished(t, 1, PS_LEASE_DONE);
    ps_lease_mark_finished(t, 3, PS_LEASE_FAILED);
    ps_lease_mark_finished(t, 3, PS_LEASE_DONE); /* finished stays finished, counted once */
    ps_lease_set_attempts(t, 4, 2);
    ps_lease_queue_pending(t);
    assert_int_equal(ps_lease_n_finished(t), 2);
    assert_int_equal(ps_lease_n_queued(t), 3);
    assert_int_equal(ps_lease_state(t, 3), PS_LEASE_FAILED);
    assert_true(ps_lease_dequeue(t, &id));
    assert_int_equal(id, 0);
    ps_lease_grant(t, id, 7, 1, 1000);
    assert_true(ps_lease_dequeue(t, &id));
    assert_int_equal(id, 2);
    ps_lease_grant(t, id, 8, 1, 2000);
    assert_true(ps_lease_dequeue(t, &id));
    assert_int_equal(id, 4);
    ps_lease_grant(t, id, 7, 3, 3000);
    assert_false(ps_lease_dequeue(t, &id));
    assert_int_equal(ps_lease_attempts(t, 4), 3);
    assert_int_equal(ps_lease_n_out(t), 3);
    /* only the current holder's current attempt counts */
    assert_true(ps_lease_is_current(t, 4, 7, 3));
    assert_false(ps_lease_is_current(t, 4, 7, 2));
    assert_false(ps_lease_is_current(t, 4, 8, 3));
    assert_false(ps_lease_is_current(t, 99, 7, 3));
    assert_false(ps_lease_renew(t, 0, 8, 1, 5000));
    assert_true(ps_lease_renew(t, 0, 7, 1, 5000));
    /* at 2500 shard 2 has expired (deadline 2000), shard 0 was renewed past it */
    assert_int_equal(ps_lease_expired(t, 2500, got, 8), 1);
    assert_int_equal(got[0], 2);
    ps_lease_requeue(t, 2);
    assert_int_equal(ps_lease_state(t, 2), PS_LEASE_PENDING);
    assert_int_equal(ps_lease_n_queued(t), 1);
    /* worker 7 holds shards 0 and 4 */
    assert_int_equal(ps_lease_held_by(t, 7, got, 8), 2);
    assert_true((got[0] == 0 && got[1] == 4) || (got[0] == 4 && got[1] == 0));
    ps_lease_finish(t, 0, PS_LEASE_DONE);
    ps_lease_finish(t, 0, PS_LEASE_DONE);
    ps_lease_finish(t, 4, PS_LEASE_FAILED);
    assert_int_equal(ps_lease_n_out(t), 0);
    assert_int_equal(ps_lease_n_finished(t), 4);
    assert_int_equal(ps_lease_held_by(t, 7, got, 8), 0);
    assert_true(ps_lease_dequeue(t, &id));
    assert_int_equal(id, 2);
    ps_lease_grant(t, id, 9, 2, 100);
    ps_lease_finish(t, id, PS_LEASE_DONE);
    assert_int_equal(ps_lease_n_finished(t), 5);
    ps_lease_reset(t);
    assert_int_equal(ps_lease_n_finished(t), 0);
    assert_int_equal(ps_lease_state(t, 1), PS_LEASE_PENDING);
    ps_lease_table_free(t);
}

/* Many leases out, removed in an order unlike the one they came in: the set of leases out stays
 * exact (it is a dense array with swap-removal). */
static void test_lease_out_set_survives_any_removal_order(void **state)
{
    enum { N = 1000 };
    struct ps_lease_table *t;
    uint32_t id, got[N];
    size_t n;

    (void)state;
    ps_lease_table_new(&t, N);
    ps_lease_queue_pending(t);
    while (ps_lease_dequeue(t, &id))
        ps_lease_grant(t, id, id % 10, 1, id);
    for (uint32_t i = 0; i < N; i += 3)
        ps_lease_finish(t, (i * 7) % N, PS_LEASE_DONE);
    n = ps_lease_expired(t, UINT64_MAX, got, N);
    assert_int_equal(n, ps_lease_n_out(t));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ps_lease_state(t, got[i]), PS_LEASE_LEASED);
    assert_int_equal(n + ps_lease_n_finished(t), N);
    for (size_t i = 0; i < n; i++)
        ps_lease_requeue(t, got[i]);
    assert_int_equal(ps_lease_n_out(t), 0);
    assert_int_equal(ps_lease_n_queued(t), n);
    ps_lease_table_free(t);
}

/* A lease given back is queued again and its attempt is not charged: the next grant still takes a
 * fresh attempt number (never reused), but only failures count against --max-attempts. */
static void test_lease_given_back_attempts_are_not_charged(void **state)
{
    struct ps_lease_table *t;
    uint32_t id, got[4];

    (void)state;
    ps_lease_table_new(&t, 2);
    ps_lease_queue_pending(t);
    assert_true(ps_lease_dequeue(t, &id));
    assert_int_equal(id, 0);
    ps_lease_grant(t, 0, 7, 1, 1000);
    ps_lease_give_back(t, 0);
    assert_int_equal(ps_lease_state(t, 0), PS_LEASE_PENDING);
    assert_int_equal(ps_lease_n_out(t), 0);
    assert_int_equal(ps_lease_held_by(t, 7, got, 4), 0);
    assert_int_equal(ps_lease_attempts(t, 0), 1);
    assert_int_equal(ps_lease_given_back(t, 0), 1);
    assert_int_equal(ps_lease_charged(t, 0), 0);
    /* queued behind shard 1 */
    assert_true(ps_lease_dequeue(t, &id));
    assert_int_equal(id, 1);
    assert_true(ps_lease_dequeue(t, &id));
    assert_int_equal(id, 0);
    ps_lease_grant(t, 0, 8, 2, 2000);
    assert_false(ps_lease_is_current(t, 0, 7, 1));
    ps_lease_requeue(t, 0); /* lost: this one is charged */
    assert_int_equal(ps_lease_attempts(t, 0), 2);
    assert_int_equal(ps_lease_charged(t, 0), 1);
    /* as loaded from Redis after a restart, and a count that outran the attempts (saturates) */
    ps_lease_reset(t);
    ps_lease_set_attempts(t, 0, 5);
    ps_lease_set_given_back(t, 0, 3);
    assert_int_equal(ps_lease_charged(t, 0), 2);
    ps_lease_set_given_back(t, 1, 2);
    assert_int_equal(ps_lease_charged(t, 1), 0);
    /* a lease that ended with its coordinator (loading the pass after a restart) */
    ps_lease_forgive(t, 0);
    assert_int_equal(ps_lease_given_back(t, 0), 4);
    assert_int_equal(ps_lease_charged(t, 0), 1);
    ps_lease_reset(t);
    assert_int_equal(ps_lease_given_back(t, 0), 0);
    ps_lease_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_queues_grants_and_finishes),
        cmocka_unit_test(test_lease_out_set_survives_any_removal_order),
        cmocka_unit_test(test_lease_given_back_attempts_are_not_charged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
