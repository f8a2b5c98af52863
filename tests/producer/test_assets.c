/* Unit tests for the asset list: defaults, TICKERS, overrides and sharding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "assets.h"

static const char *const defaults[] = {"AAPL", "GOOGL", "MSFT",    "AMZN",    "NVDA",
                                       "TSLA", "META",  "BTC-USD", "ETH-USD", "SOL-USD",
                                       "GC=F", "SI=F",  "CL=F",    "NG=F",    "HG=F"};

static void test_defaults_have_names(void **state)
{
    struct asset_list l = {0};
    (void)state;
    assert_int_equal(assets_load_defaults(&l), 0);
    assert_int_equal(l.len, 15);
    for (size_t i = 0; i < 15; i++) {
        const struct asset *a = &l.items[i];
        assert_string_equal(a->ticker, defaults[i]);
        assert_non_null(a->company);
        assert_non_null(a->display_name);
        assert_true(a->start_price > 0);
        assert_true(a->volatility > 0);
    }
    assert_string_equal(asset_display_name(&l.items[10]), "Gold");
    assert_string_equal(asset_company(&l.items[12]), "Crude Oil Futures");
    /* crypto moves more than equities, equities more than gold */
    assert_true(l.items[7].volatility > l.items[0].volatility);
    assert_true(l.items[0].volatility > l.items[10].volatility);
    assets_free(&l);
}

static void test_tickers_override(void **state)
{
    struct asset_list l = {0};
    char err[ASSETS_ERR_MAX];
    (void)state;
    assert_int_equal(assets_parse(&l, " aapl, ZZZZ ,gc=f,,AAPL", err, sizeof(err)), 0);
    assert_int_equal(l.len, 3); /* trimmed, upper-cased, empty and duplicate dropped */
    assert_string_equal(l.items[0].ticker, "AAPL");
    assert_string_equal(asset_company(&l.items[0]), "Apple Inc.");
    assert_string_equal(l.items[1].ticker, "ZZZZ");
    assert_string_equal(asset_company(&l.items[1]), "ZZZZ"); /* unknown: named by symbol */
    assert_string_equal(asset_display_name(&l.items[1]), "ZZZZ");
    assert_true(l.items[1].start_price > 0);
    assert_string_equal(l.items[2].ticker, "GC=F");
    assert_int_equal(assets_set_company(&l.items[1], "Zeta Corp"), 0);
    assert_string_equal(asset_company(&l.items[1]), "Zeta Corp");
    assets_free(&l);
}

static void test_tickers_rejected(void **state)
{
    static const char *const bad[] = {
        "",          " , ,", "AAPL,BAD SYMBOL",
        "AAPL;MSFT", "ÄPPL", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    char err[ASSETS_ERR_MAX];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct asset_list l = {0};
        err[0] = '\0';
        assert_int_equal(assets_parse(&l, bad[i], err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        assets_free(&l);
    }
}

static void test_volatility_override(void **state)
{
    struct asset_list l = {0};
    char err[ASSETS_ERR_MAX];
    (void)state;
    assert_int_equal(assets_load_defaults(&l), 0);
    assert_int_equal(assets_set_volatility(&l, "GC=F=0.05, btc-usd = 2,NOPE=1", err, sizeof(err)),
                     0);
    assert_true(l.items[10].volatility == 0.05);
    assert_true(l.items[7].volatility == 2.0);
    assert_int_equal(assets_set_volatility(&l, "AAPL", err, sizeof(err)), -1);
    assert_int_equal(assets_set_volatility(&l, "AAPL=-1", err, sizeof(err)), -1);
    assert_int_equal(assets_set_volatility(&l, "AAPL=abc", err, sizeof(err)), -1);
    assets_free(&l);
}

/* Every symbol lands in exactly one of the instances' parts. */
static void check_cover(size_t n, size_t instances)
{
    struct asset_list parts[8];
    size_t seen[64] = {0};
    size_t total = 0;
    char err[ASSETS_ERR_MAX];

    for (size_t k = 0; k < instances; k++) {
        memset(&parts[k], 0, sizeof(parts[k]));
        if (n == 15) {
            assert_int_equal(assets_load_defaults(&parts[k]), 0);
        } else {
            for (size_t i = 0; i < n; i++) {
                char t[32];
                snprintf(t, sizeof(t), "T%zu", i);
                assert_int_equal(assets_add(&parts[k], t, err, sizeof(err)), 0);
            }
        }
        assert_int_equal(assets_shard(&parts[k], k, instances), 0);
        total += parts[k].len;
        /* balanced: sizes differ by at most one */
        assert_true(parts[k].len == n / instances || parts[k].len == n / instances + 1);
    }
    assert_int_equal(total, n);
    for (size_t k = 0; k < instances; k++) {
        struct asset_list all = {0};
        if (n == 15) {
            assert_int_equal(assets_load_defaults(&all), 0);
        } else {
            for (size_t i = 0; i < n; i++) {
                char t[32];
                snprintf(t, sizeof(t), "T%zu", i);
                assert_int_equal(assets_add(&all, t, err, sizeof(err)), 0);
            }
        }
        for (size_t j = 0; j < parts[k].len; j++) {
            long idx = assets_find(&all, parts[k].items[j].ticker);
            assert_true(idx >= 0);
            seen[idx]++;
            /* names travel with the symbol */
            assert_string_equal(asset_company(&parts[k].items[j]), asset_company(&all.items[idx]));
        }
        assets_free(&all);
        assets_free(&parts[k]);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
}

static void test_sharding_covers_exactly_once(void **state)
{
    struct asset_list l = {0};
    (void)state;
    check_cover(15, 2); /* two producers: 0/2 and 1/2 */
    check_cover(15, 1);
    check_cover(15, 3);
    check_cover(15, 4);
    check_cover(7, 7);
    check_cover(5, 8); /* more instances than symbols: some get none */
    assert_int_equal(assets_load_defaults(&l), 0);
    assert_int_equal(assets_shard(&l, 2, 2), -1);
    assert_int_equal(assets_shard(&l, 0, 0), -1);
    assets_free(&l);
}

static void test_synthetic(void **state)
{
    struct asset_list a = {0}, b = {0};
    (void)state;
    assert_int_equal(assets_add_synthetic(&a, 5000, 9), 0);
    assert_int_equal(assets_add_synthetic(&b, 5000, 9), 0);
    assert_int_equal(a.len, 5000);
    assert_string_equal(a.items[0].ticker, "SYN000000");
    assert_string_equal(a.items[4999].ticker, "SYN004999");
    for (size_t i = 0; i < a.len; i++) {
        assert_true(msg_ticker_valid(a.items[i].ticker));
        assert_true(a.items[i].start_price >= 1 && a.items[i].start_price <= 10000);
        assert_true(a.items[i].start_price == b.items[i].start_price);
        assert_true(a.items[i].volatility >= 0.1 && a.items[i].volatility <= 1.0);
    }
    assets_free(&a);
    assets_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_have_names),
        cmocka_unit_test(test_tickers_override),
        cmocka_unit_test(test_tickers_rejected),
        cmocka_unit_test(test_volatility_override),
        cmocka_unit_test(test_sharding_covers_exactly_once),
        cmocka_unit_test(test_synthetic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
