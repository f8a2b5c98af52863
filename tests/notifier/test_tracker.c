/* Unit: an offset is released for storing only when every earlier message
 * of its partition is done, whatever order they finish in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tracker.h"
#include "tracker_probe.h"

static void test_tracker_in_order(void **state)
{
    struct tracker *t = tracker_new();

    (void)state;
    assert_non_null(t);
    assert_int_equal(tracker_add(t, 0, 10), 0);
    assert_int_equal(tracker_add(t, 0, 11), 0);
    assert_int_equal(tracker_pending(t), 2);
    assert_int_equal(tracker_done(t, 0, 10), 11);
    assert_int_equal(tracker_done(t, 0, 11), 12);
    assert_int_equal(tracker_pending(t), 0);
    tracker_free(t);
}

static void test_tracker_out_of_order_waits_for_head(void **state)
{
    struct tracker *t = tracker_new();

    (void)state;
    for (int64_t o = 100; o < 105; o++)
        assert_int_equal(tracker_add(t, 3, o), 0);
    assert_int_equal(tracker_done(t, 3, 103), -1);
    assert_int_equal(tracker_done(t, 3, 101), -1);
    assert_int_equal(tracker_done(t, 3, 100), 102); /* 100, 101 done; 102 not */
    assert_int_equal(tracker_done(t, 3, 102), 104);
    assert_int_equal(tracker_done(t, 3, 104), 105);
    tracker_free(t);
}

static void test_tracker_partitions_are_independent(void **state)
{
    struct tracker *t = tracker_new();

    (void)state;
    assert_int_equal(tracker_add(t, 0, 5), 0);
    assert_int_equal(tracker_add(t, 1, 7), 0);
    assert_int_equal(tracker_done(t, 1, 7), 8);
    assert_int_equal(tracker_done(t, 0, 5), 6);
    tracker_free(t);
}

static void test_tracker_gaps_and_unknown_offsets(void **state)
{
    struct tracker *t = tracker_new();

    (void)state;
    /* Compacted or transactional topics leave gaps between offsets. */
    assert_int_equal(tracker_add(t, 0, 1), 0);
    assert_int_equal(tracker_add(t, 0, 5), 0);
    assert_int_equal(tracker_done(t, 0, 3), -1);
    assert_int_equal(tracker_done(t, 0, 5), -1);
    assert_int_equal(tracker_done(t, 0, 5), -1); /* twice: ignored */
    assert_int_equal(tracker_done(t, 0, 1), 6);
    assert_int_equal(tracker_done(t, 9, 1), -1);
    assert_int_equal(tracker_add(t, -1, 1), -1);
    tracker_free(t);
}

static void test_tracker_grows_and_wraps(void **state)
{
    struct tracker *t = tracker_new();

    (void)state;
    /* Keep the head pending while thousands complete behind it. */
    for (int64_t o = 0; o < 5000; o++)
        assert_int_equal(tracker_add(t, 2, o), 0);
    for (int64_t o = 1; o < 5000; o++)
        assert_int_equal(tracker_done(t, 2, o), -1);
    assert_int_equal(tracker_done(t, 2, 0), 5000);
    /* Wrap-around: triples added, finished back to front. */
    for (int64_t o = 5000; o < 20000; o += 3) {
        for (int k = 0; k < 3; k++)
            assert_int_equal(tracker_add(t, 2, o + k), 0);
        assert_int_equal(tracker_done(t, 2, o + 2), -1);
        assert_int_equal(tracker_done(t, 2, o + 1), -1);
        assert_int_equal(tracker_done(t, 2, o), o + 3);
    }
    assert_int_equal(tracker_pending(t), 0);
    tracker_free(t);
}

static void test_tracker_refetch_restarts_window(void **state)
{
    struct tracker *t = tracker_new();

    (void)state;
    assert_int_equal(tracker_add(t, 0, 10), 0);
    assert_int_equal(tracker_add(t, 0, 11), 0);
    /* After a rebalance the partition is read again from 10. */
    assert_int_equal(tracker_add(t, 0, 10), 0);
    assert_int_equal(tracker_pending(t), 1);
    assert_int_equal(tracker_done(t, 0, 10), 11);
    tracker_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tracker_in_order),
        cmocka_unit_test(test_tracker_out_of_order_waits_for_head),
        cmocka_unit_test(test_tracker_partitions_are_independent),
        cmocka_unit_test(test_tracker_gaps_and_unknown_offsets),
        cmocka_unit_test(test_tracker_grows_and_wraps),
        cmocka_unit_test(test_tracker_refetch_restarts_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
