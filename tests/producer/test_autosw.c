/* Unit tests for the auto source switch and the log throttle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "autosw.h"
#include "ratelog.h"

static void test_switches_after_threshold_failures(void **state)
{
    struct autosw a;
    (void)state;
    autosw_init(&a, 1, SOURCE_YAHOO, 3, 60000);
    assert_int_equal(autosw_on_failure(&a, 1000), 0);
    assert_int_equal(autosw_on_failure(&a, 1001), 0);
    assert_int_equal(autosw_on_success(&a), 0); /* a success resets the count */
    assert_int_equal(autosw_on_failure(&a, 1002), 0);
    assert_int_equal(autosw_on_failure(&a, 1003), 0);
    assert_int_equal(a.current, SOURCE_YAHOO);
    assert_int_equal(autosw_on_failure(&a, 1004), 1);
    assert_int_equal(a.current, SOURCE_SIM);
    /* further failures do not switch (or log) again */
    assert_int_equal(autosw_on_failure(&a, 1005), 0);
    assert_int_equal(a.current, SOURCE_SIM);
}

static void test_probes_and_switches_back(void **state)
{
    struct autosw a;
    (void)state;
    autosw_init(&a, 1, SOURCE_YAHOO, 1, 60000);
    assert_false(autosw_probe_due(&a, 0)); /* no probes while on Yahoo */
    assert_int_equal(autosw_on_failure(&a, 1000), 1);
    assert_false(autosw_probe_due(&a, 1000));
    assert_false(autosw_probe_due(&a, 60999));
    assert_true(autosw_probe_due(&a, 61000)); /* about once a minute */
    autosw_probe_sent(&a, 61000);
    assert_false(autosw_probe_due(&a, 61001));
    assert_int_equal(autosw_on_failure(&a, 61500), 0); /* failed probe: stay */
    assert_true(autosw_probe_due(&a, 121000));
    assert_int_equal(autosw_on_success(&a), 1);
    assert_int_equal(a.current, SOURCE_YAHOO);
    assert_int_equal(autosw_on_success(&a), 0);
}

static void test_fixed_modes_never_switch(void **state)
{
    struct autosw a;
    (void)state;
    autosw_init(&a, 0, SOURCE_YAHOO, 1, 1000);
    for (int i = 0; i < 10; i++)
        assert_int_equal(autosw_on_failure(&a, i), 0);
    assert_int_equal(a.current, SOURCE_YAHOO);
    assert_false(autosw_probe_due(&a, 100000));
    autosw_init(&a, 0, SOURCE_SIM, 1, 1000);
    assert_int_equal(autosw_on_success(&a), 0);
    assert_int_equal(a.current, SOURCE_SIM);
    assert_false(autosw_probe_due(&a, 100000));
}

static void test_ratelog(void **state)
{
    struct ratelog r;
    unsigned long held = 99;
    (void)state;
    ratelog_init(&r, 1000);
    assert_true(ratelog_allow(&r, 5000, &held));
    assert_int_equal(held, 0);
    assert_false(ratelog_allow(&r, 5001, &held));
    assert_false(ratelog_allow(&r, 5999, &held));
    assert_true(ratelog_allow(&r, 6000, &held));
    assert_int_equal(held, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_switches_after_threshold_failures),
        cmocka_unit_test(test_probes_and_switches_back),
        cmocka_unit_test(test_fixed_modes_never_switch),
        cmocka_unit_test(test_ratelog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
