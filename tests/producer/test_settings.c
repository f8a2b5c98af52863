/* Unit tests for the producer's settings: the table's defaults (topics from
 * the contract), a bad value of each kind named in the error, and the
 * checks across variables settings_check makes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "settings.h"
#include "yahoo.h"

static char err[CONFIG_ERR_MAX];
static struct producer_config cfg;

/* Every variable of the tables unset: the environment of the test run
 * (e.g. PRICE_SOURCE=sim) must not leak in. */
static int clear_env(void **state)
{
    (void)state;
    for (const struct config_var *v = config_common_vars; v->name != NULL; v++)
        unsetenv(v->name);
    for (const struct config_var *v = settings_vars; v->name != NULL; v++)
        unsetenv(v->name);
    return 0;
}

/* What daemon_begin does: the shared variables, the table, the checks. */
static int load(void)
{
    memset(&cfg, 0, sizeof(cfg));
    if (config_load(config_common_vars, &cfg.common, err, sizeof(err)) != 0 ||
        config_load(settings_vars, &cfg, err, sizeof(err)) != 0)
        return -1;
    return settings_check(&cfg, err, sizeof(err));
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(load(), 0);
    assert_string_equal(cfg.topic, "stock-prices");
    assert_string_equal(cfg.tickers, "");
    assert_int_equal(cfg.mode, MODE_AUTO);
    assert_string_equal(settings_mode_name(cfg.mode), "auto");
    assert_int_equal(cfg.interval_ms, 1000);
    assert_int_equal(cfg.instance, 0);
    assert_int_equal(cfg.instances, 1);
    assert_int_equal(cfg.common.metrics_port, 9101);
    assert_string_equal(cfg.yahoo_base_url, YAHOO_DEFAULT_BASE_URL);
    assert_string_equal(cfg.yahoo_user_agent, YAHOO_DEFAULT_USER_AGENT);
    assert_true(cfg.yahoo_max_rps == 20);
    assert_true(cfg.sim_seed != 0); /* 0 draws a random seed */
    assert_int_equal(cfg.replay_loop, 1);
    assert_int_equal(cfg.topic_partitions, 6);
}

static void test_values(void **state)
{
    (void)state;
    setenv("PRICE_SOURCE", "replay", 1);
    setenv("REPLAY_FILE", "/tmp/x.csv", 1);
    setenv("REPLAY_LOOP", "off", 1);
    setenv("SIM_SEED", "42", 1);
    setenv("TICKERS", "aapl,msft", 1);
    setenv("PRODUCER_INSTANCES", "3", 1);
    setenv("PRODUCER_INSTANCE", "2", 1);
    assert_int_equal(load(), 0);
    assert_int_equal(cfg.mode, MODE_REPLAY);
    assert_string_equal(cfg.replay_file, "/tmp/x.csv");
    assert_int_equal(cfg.replay_loop, 0);
    assert_true(cfg.sim_seed == 42);
    assert_string_equal(cfg.tickers, "aapl,msft");
    assert_int_equal(cfg.instance, 2);
}

static void expect_error(const char *name, const char *value, const char *word)
{
    setenv(name, value, 1);
    assert_int_equal(load(), -1);
    assert_non_null(strstr(err, word));
    unsetenv(name);
}

static void test_bad_values_name_the_variable(void **state)
{
    (void)state;
    expect_error("PRICE_SOURCE", "bloomberg", "PRICE_SOURCE");
    expect_error("PRICE_INTERVAL_MS", "0", "PRICE_INTERVAL_MS");
    expect_error("PRICE_INTERVAL_MS", "10x", "PRICE_INTERVAL_MS");
    expect_error("YAHOO_MAX_RPS", "nan", "YAHOO_MAX_RPS");
    expect_error("SIM_SEED", "-1", "SIM_SEED");
    expect_error("REPLAY_LOOP", "maybe", "REPLAY_LOOP");
    expect_error("TICKERS", "", "TICKERS");
    expect_error("METRICS_PORT", "65536", "METRICS_PORT");
    expect_error("KAFKA_BOOTSTRAP_SERVERS", "", "KAFKA_BOOTSTRAP_SERVERS");
}

static void test_checks_across_variables(void **state)
{
    (void)state;
    setenv("PRODUCER_INSTANCES", "2", 1);
    expect_error("PRODUCER_INSTANCE", "2", "PRODUCER_INSTANCE: must be below");
    unsetenv("PRODUCER_INSTANCES");
    expect_error("YAHOO_BASE_URL", "ftp://x", "YAHOO_BASE_URL");
    expect_error("PRICE_SOURCE", "replay", "REPLAY_FILE");
    setenv("PRICE_SOURCE", "yahoo", 1);
    expect_error("SIM_SYNTHETIC_TICKERS", "5", "SIM_SYNTHETIC_TICKERS");
    setenv("PRICE_SOURCE", "sim", 1);
    setenv("SIM_SYNTHETIC_TICKERS", "5", 1);
    assert_int_equal(load(), 0);
    assert_int_equal(cfg.sim_synthetic, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_values, clear_env),
        cmocka_unit_test_setup(test_bad_values_name_the_variable, clear_env),
        cmocka_unit_test_setup(test_checks_across_variables, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
