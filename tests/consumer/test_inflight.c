/* Unit: the evaluator's in-flight set — add/find/remove by outbox reference,
 * duplicates refused, growth past the initial table, tombstones reused
 * without losing entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "inflight.h"

static void test_add_find_remove(void **state)
{
    struct inflight *s = inflight_new();
    struct inflight_entry *e;
    (void)state;

    assert_non_null(s);
    e = inflight_add(s, "1700000000000-0");
    assert_non_null(e);
    assert_null(inflight_add(s, "1700000000000-0")); /* already there */
    assert_ptr_equal(inflight_find(s, "1700000000000-0"), e);
    assert_null(inflight_find(s, "1700000000000-1"));
    assert_int_equal(inflight_count(s), 1);
    inflight_remove(s, e);
    assert_null(inflight_find(s, "1700000000000-0"));
    assert_int_equal(inflight_count(s), 0);
    {
        char longer[INFLIGHT_ID_MAX + 8];
        memset(longer, 'x', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        assert_null(inflight_add(s, longer)); /* too long: refused, not cut */
        longer[INFLIGHT_ID_MAX - 1] = '\0';
        assert_non_null(inflight_add(s, longer)); /* the longest that fits */
    }
    inflight_free(s);
}

static void test_many_entries_with_churn(void **state)
{
    struct inflight *s = inflight_new();
    char id[48];
    (void)state;

    for (int i = 0; i < 50000; i++) {
        snprintf(id, sizeof(id), "%d-%d", 1700000 + i, i % 7);
        assert_non_null(inflight_add(s, id));
    }
    for (int i = 0; i < 50000; i += 2) { /* remove every other one */
        snprintf(id, sizeof(id), "%d-%d", 1700000 + i, i % 7);
        inflight_remove(s, inflight_find(s, id));
    }
    assert_int_equal(inflight_count(s), 25000);
    for (int i = 0; i < 50000; i++) {
        snprintf(id, sizeof(id), "%d-%d", 1700000 + i, i % 7);
        if (i % 2)
            assert_non_null(inflight_find(s, id));
        else
            assert_null(inflight_find(s, id));
    }
    inflight_free(s); /* frees the 25000 left: LeakSanitizer checks */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_many_entries_with_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
