/* Unit: retry delays double from the base up to the cap, with jitter that
 * keeps each delay within [d/2, d]; huge attempt numbers do not overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static void test_backoff_doubles_then_caps(void **state)
{
    /* rnd = UINT32_MAX % (d/2 + 1) is not always the top, so use the bounds:
     * with rnd 0 the delay is exactly d/2. */
    const long expect_half[] = {250, 500, 1000, 2000, 4000, 5000, 5000};

    (void)state;
    for (int a = 1; a <= 7; a++)
        assert_int_equal(backoff_delay_ms(a, 500, 10000, 0), expect_half[a - 1]);
}

static void test_backoff_jitter_stays_in_bounds(void **state)
{
    (void)state;
    for (int a = 1; a <= 12; a++) {
        long d = 500L << (a - 1);
        if (d > 30000)
            d = 30000;
        for (int i = 0; i < 2000; i++) {
            long v = backoff_delay_ms(a, 500, 30000, backoff_random());
            assert_true(v >= d / 2);
            assert_true(v <= d);
        }
    }
}

static void test_backoff_reaches_both_ends(void **state)
{
    (void)state;
    /* d = 1000: rnd selects d/2 + rnd % (d/2 + 1). */
    assert_int_equal(backoff_delay_ms(2, 500, 30000, 0), 500);
    assert_int_equal(backoff_delay_ms(2, 500, 30000, 500), 1000);
    assert_int_equal(backoff_delay_ms(2, 500, 30000, 501), 500);
}

static void test_backoff_large_attempt_and_odd_values(void **state)
{
    (void)state;
    assert_int_equal(backoff_delay_ms(1000000, 500, 30000, 0), 15000);
    assert_int_equal(backoff_delay_ms(0, 500, 30000, 0), 250);
    assert_int_equal(backoff_delay_ms(-5, 500, 30000, 0), 250);
    assert_true(backoff_delay_ms(64, 1, 1, 12345) <= 1);
    assert_int_equal(backoff_delay_ms(3, 3600000, 3600000, 0), 1800000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_then_caps),
        cmocka_unit_test(test_backoff_jitter_stays_in_bounds),
        cmocka_unit_test(test_backoff_reaches_both_ends),
        cmocka_unit_test(test_backoff_large_attempt_and_odd_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
