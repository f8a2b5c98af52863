/* Unit tests for common/metrics: the histogram's cumulative buckets, +Inf,
 * sum and count in Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static const double bounds[] = {0.01, 0.1, 1};

static void test_histogram_buckets_are_cumulative(void **state)
{
    struct metrics_histogram h;
    struct buf b;
    (void)state;
    metrics_histogram_init(&h, bounds, 3);
    metrics_histogram_observe(&h, 0.005); /* le 0.01 */
    metrics_histogram_observe(&h, 0.01);  /* le 0.01: bounds are inclusive */
    metrics_histogram_observe(&h, 0.05);  /* le 0.1 */
    metrics_histogram_observe(&h, 7.0);   /* +Inf only */
    metrics_histogram_observe(&h, -1.0);  /* counted as 0 */
    assert_int_equal(metrics_histogram_count(&h), 5);
    buf_init(&b, 4096);
    assert_int_equal(metrics_histogram_write(&b, "t_seconds", "test", &h), 0);
    assert_non_null(strstr(b.data, "# TYPE t_seconds histogram\n"));
    assert_non_null(strstr(b.data, "t_seconds_bucket{le=\"0.01\"} 3\n"));
    assert_non_null(strstr(b.data, "t_seconds_bucket{le=\"0.1\"} 4\n"));
    assert_non_null(strstr(b.data, "t_seconds_bucket{le=\"1\"} 4\n"));
    assert_non_null(strstr(b.data, "t_seconds_bucket{le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(b.data, "t_seconds_sum 7.065000\n"));
    assert_non_null(strstr(b.data, "t_seconds_count 5\n"));
    assert_true(metrics_histogram_mean(&h) > 1.41 && metrics_histogram_mean(&h) < 1.42);
    buf_free(&b);
}

static void test_histogram_empty(void **state)
{
    struct metrics_histogram h;
    struct buf b;
    (void)state;
    metrics_histogram_init(&h, bounds, 3);
    assert_true(metrics_histogram_mean(&h) == 0.0);
    buf_init(&b, 4096);
    assert_int_equal(metrics_histogram_write(&b, "e", "empty", &h), 0);
    assert_non_null(strstr(b.data, "e_bucket{le=\"+Inf\"} 0\ne_sum 0.000000\ne_count 0\n"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_histogram_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
