/* Unit tests for common/config: defaults, and rejection of empty,
 * non-numeric, trailing-garbage and out-of-range values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static char err[CONFIG_ERR_MAX];

static void test_long_missing_gives_default(void **state)
{
    long v = 0;
    (void)state;
    unsetenv("T_LONG");
    assert_int_equal(config_long("T_LONG", 42, 1, 100, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 42);
}

static void test_long_valid_value(void **state)
{
    long v = 0;
    (void)state;
    setenv("T_LONG", "77", 1);
    assert_int_equal(config_long("T_LONG", 42, 1, 100, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 77);
}

static void test_long_rejects_bad_values(void **state)
{
    static const char *const bad[] = {"", "abc", "12abc", "0", "101", "-5", " ",
                                      "99999999999999999999999", "1.5", NULL};
    (void)state;
    for (int i = 0; bad[i] != NULL; i++) {
        long v = -1;
        setenv("T_LONG", bad[i], 1);
        assert_int_equal(config_long("T_LONG", 42, 1, 100, &v, err, sizeof(err)), -1);
        assert_int_equal(v, -1); /* untouched */
        assert_non_null(strstr(err, "T_LONG"));
    }
}

static void test_double_rejects_non_finite_and_range(void **state)
{
    static const char *const bad[] = {"", "nan", "inf", "-inf", "1e999", "x", "0.5x", "11", NULL};
    double d = 0;
    (void)state;
    for (int i = 0; bad[i] != NULL; i++) {
        setenv("T_DBL", bad[i], 1);
        assert_int_equal(config_double("T_DBL", 1.0, 0.0, 10.0, &d, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "T_DBL"));
    }
    setenv("T_DBL", "2.5", 1);
    assert_int_equal(config_double("T_DBL", 1.0, 0.0, 10.0, &d, err, sizeof(err)), 0);
    assert_true(d == 2.5);
}

static void test_str_empty_and_too_long(void **state)
{
    char out[8];
    (void)state;
    setenv("T_STR", "", 1);
    assert_int_equal(config_str("T_STR", "def", out, sizeof(out), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty"));
    setenv("T_STR", "12345678", 1);
    assert_int_equal(config_str("T_STR", "def", out, sizeof(out), err, sizeof(err)), -1);
    setenv("T_STR", "1234567", 1);
    assert_int_equal(config_str("T_STR", "def", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "1234567");
    unsetenv("T_STR");
    assert_int_equal(config_str("T_STR", "def", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "def");
}

static void test_bool_and_choice(void **state)
{
    static const char *const choices[] = {"yahoo", "sim", "auto", NULL};
    int b = -1;
    int c = -1;
    (void)state;
    setenv("T_BOOL", "Yes", 1);
    assert_int_equal(config_bool("T_BOOL", 0, &b, err, sizeof(err)), 0);
    assert_int_equal(b, 1);
    setenv("T_BOOL", "maybe", 1);
    assert_int_equal(config_bool("T_BOOL", 0, &b, err, sizeof(err)), -1);
    setenv("T_CHOICE", "sim", 1);
    assert_int_equal(config_choice("T_CHOICE", "auto", choices, &c, err, sizeof(err)), 0);
    assert_int_equal(c, 1);
    setenv("T_CHOICE", "SIM", 1);
    assert_int_equal(config_choice("T_CHOICE", "auto", choices, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "yahoo, sim, auto"));
}

static void test_common_defaults_and_errors(void **state)
{
    struct common_config cfg;
    (void)state;
    unsetenv("KAFKA_BOOTSTRAP_SERVERS");
    unsetenv("REDIS_HOST");
    unsetenv("REDIS_PORT");
    unsetenv("METRICS_PORT");
    unsetenv("LOG_LEVEL");
    assert_int_equal(config_load_common(&cfg, 9101, err, sizeof(err)), 0);
    assert_string_equal(cfg.kafka_bootstrap, "127.0.0.1:9092");
    assert_int_equal(cfg.redis_port, 6379);
    assert_int_equal(cfg.metrics_port, 9101);
    setenv("REDIS_PORT", "70000", 1);
    assert_int_equal(config_load_common(&cfg, 9101, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "REDIS_PORT"));
    setenv("REDIS_PORT", "6380", 1);
    setenv("LOG_LEVEL", "loud", 1);
    assert_int_equal(config_load_common(&cfg, 9101, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "LOG_LEVEL"));
    unsetenv("LOG_LEVEL");
    setenv("METRICS_PORT", "0", 1);
    assert_int_equal(config_load_common(&cfg, 9101, err, sizeof(err)), 0);
    assert_int_equal(cfg.metrics_port, 0);
    assert_int_equal(cfg.redis_port, 6380);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_missing_gives_default),
        cmocka_unit_test(test_long_valid_value),
        cmocka_unit_test(test_long_rejects_bad_values),
        cmocka_unit_test(test_double_rejects_non_finite_and_range),
        cmocka_unit_test(test_str_empty_and_too_long),
        cmocka_unit_test(test_bool_and_choice),
        cmocka_unit_test(test_common_defaults_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
