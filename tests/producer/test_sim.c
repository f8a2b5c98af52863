/* Unit tests for the random walk: positive, reproducible, ordered by volatility. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"

/* Standard deviation of log returns over n steps of dt seconds. */
static double realised_vol(struct sim_walk *w, int n, double dt)
{
    double sum = 0, sum2 = 0, prev = w->price;

    for (int i = 0; i < n; i++) {
        double p = sim_walk_next(w, dt);
        double r = log(p / prev);
        sum += r;
        sum2 += r * r;
        prev = p;
    }
    return sqrt(sum2 / n - (sum / n) * (sum / n));
}

static void test_never_non_positive(void **state)
{
    struct sim_walk w;
    (void)state;
    /* Absurd volatility and long steps: the walk must stay finite and > 0. */
    sim_walk_init(&w, "NG=F", 2.8, 50.0, 7);
    for (int i = 0; i < 1000000; i++) {
        double p = sim_walk_next(&w, 86400);
        assert_true(isfinite(p));
        assert_true(p > 0);
    }
    /* A realistic one for a long time. */
    sim_walk_init(&w, "BTC-USD", 65000, 0.7, 7);
    for (int i = 0; i < 1000000; i++) {
        double p = sim_walk_next(&w, 1.0);
        assert_true(isfinite(p) && p > 0);
    }
}

static void test_reproducible_with_seed(void **state)
{
    struct sim_walk a, b, c, d;
    int differs = 0;
    (void)state;
    sim_walk_init(&a, "AAPL", 190, 0.25, 42);
    sim_walk_init(&b, "AAPL", 190, 0.25, 42);
    sim_walk_init(&c, "AAPL", 190, 0.25, 43);
    sim_walk_init(&d, "MSFT", 190, 0.25, 42);
    for (int i = 0; i < 10000; i++) {
        double pa = sim_walk_next(&a, 1), pb = sim_walk_next(&b, 1);
        double pc = sim_walk_next(&c, 1), pd = sim_walk_next(&d, 1);
        assert_true(pa == pb);
        differs += pa != pc && pa != pd;
    }
    assert_true(differs > 9000); /* another seed or symbol: another path */
}

static void test_volatility_ordering(void **state)
{
    static const struct {
        const char *ticker;
        double vol;
    } cfg[] = {{"GC=F", 0.15}, {"AAPL", 0.25}, {"BTC-USD", 0.70}, {"SOL-USD", 1.00}};
    double prev = 0;
    (void)state;
    for (size_t i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
        struct sim_walk w;
        double v;
        sim_walk_init(&w, cfg[i].ticker, 100, cfg[i].vol, 1);
        v = realised_vol(&w, 200000, 60) * sqrt(365.25 * 24 * 3600 / 60.0);
        /* Realised annualised volatility within 3% of the configured one. */
        assert_true(fabs(v - cfg[i].vol) < 0.03 * cfg[i].vol);
        assert_true(v > prev);
        prev = v;
    }
}

static void test_zero_volatility_is_flat(void **state)
{
    struct sim_walk w;
    (void)state;
    sim_walk_init(&w, "FLAT", 42.5, 0, 3);
    for (int i = 0; i < 1000; i++)
        assert_true(sim_walk_next(&w, 1) == 42.5);
}

static void test_reset_and_bad_start(void **state)
{
    struct sim_walk w;
    (void)state;
    sim_walk_init(&w, "X", -1, 0.3, 3); /* a bad start falls back to 100 */
    assert_true(w.price == 100);
    sim_walk_reset(&w, 250);
    assert_true(w.price == 250);
    sim_walk_reset(&w, NAN);
    sim_walk_reset(&w, -3);
    sim_walk_reset(&w, 0);
    assert_true(w.price == 250);
    sim_walk_reset(&w, 1e-9); /* far below the floor: the floor follows */
    assert_true(w.price == 1e-9);
    assert_true(sim_walk_next(&w, 1) > 0);
}

static void test_gauss_moments(void **state)
{
    struct sim_walk w;
    double sum = 0, sum2 = 0;
    int n = 400000;
    (void)state;
    sim_walk_init(&w, "G", 1, 1, 99);
    for (int i = 0; i < n; i++) {
        double z = sim_walk_gauss(&w);
        assert_true(isfinite(z));
        sum += z;
        sum2 += z * z;
    }
    assert_true(fabs(sum / n) < 0.01);
    assert_true(fabs(sum2 / n - 1) < 0.01);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_non_positive),  cmocka_unit_test(test_reproducible_with_seed),
        cmocka_unit_test(test_volatility_ordering), cmocka_unit_test(test_zero_volatility_is_flat),
        cmocka_unit_test(test_reset_and_bad_start), cmocka_unit_test(test_gauss_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
