/* Unit tests for common/config: the table loader takes defaults, rejects
 * empty, non-numeric, trailing-garbage and out-of-range values naming the
 * variable and leaving its field untouched, and --help prints each table
 * entry with its default and range. Also the contract's default tickers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "contract.h"

static char err[CONFIG_ERR_MAX];

/* One field of each kind. */
struct tcfg {
    struct common_config common;
    long l;
    int i;
    double d;
    uint64_t u;
    int b;
    int c;
    enum log_level e;
    char s[8];
    char w[16];
    char opt[8];
    char maybe_empty[8];
    long gated;
};

static const char *const t_choices[] = {"yahoo", "sim", "auto", NULL};

static const struct config_var t_long[] = {
    {"T_LONG", "42", "", CONFIG_LONG(struct tcfg, l, 1, 100)}, CONFIG_END};
static const struct config_var t_int[] = {{"T_INT", "8", "", CONFIG_INT(struct tcfg, i, 1, 256)},
                                          CONFIG_END};
static const struct config_var t_dbl[] = {
    {"T_DBL", "1.0", "", CONFIG_DOUBLE(struct tcfg, d, 0.0, 10.0)}, CONFIG_END};
static const struct config_var t_u64[] = {{"T_U64", "0", "", CONFIG_U64(struct tcfg, u)},
                                          CONFIG_END};
static const struct config_var t_str[] = {{"T_STR", "def", "", CONFIG_STRING(struct tcfg, s)},
                                          CONFIG_END};
static const struct config_var t_bool[] = {{"T_BOOL", "0", "", CONFIG_BOOL(struct tcfg, b)},
                                           CONFIG_END};
static const struct config_var t_choice[] = {
    {"T_CHOICE", "auto", "", CONFIG_CHOICE(struct tcfg, c, t_choices)}, CONFIG_END};
static const struct config_var t_enum[] = {
    {"T_ENUM", "sim", "", CONFIG_CHOICE(struct tcfg, e, t_choices)}, CONFIG_END};
static const struct config_var t_word[] = {
    {"T_WORD", "auto", "", CONFIG_STRING(struct tcfg, w), .choices = t_choices}, CONFIG_END};
static const struct config_var t_optional[] = {
    {"T_OPT", NULL, "", CONFIG_STRING(struct tcfg, opt)},
    {"T_MAYBE_EMPTY", "x", "", CONFIG_STRING(struct tcfg, maybe_empty), .flags = CONFIG_EMPTY_OK},
    CONFIG_END};

static int t_gate_open(const void *cfg)
{
    return ((const struct tcfg *)cfg)->opt[0] != '\0';
}

static const struct config_var t_gated[] = {
    {"T_OPT", NULL, "", CONFIG_STRING(struct tcfg, opt)},
    {"T_GATED", "7", "", CONFIG_LONG(struct tcfg, gated, 1, 10), .when = t_gate_open},
    CONFIG_END};

static void test_long_missing_gives_default(void **state)
{
    struct tcfg t = {.l = 0};
    (void)state;
    unsetenv("T_LONG");
    assert_int_equal(config_load(t_long, &t, err, sizeof(err)), 0);
    assert_int_equal(t.l, 42);
}

static void test_long_valid_value(void **state)
{
    struct tcfg t = {.l = 0};
    (void)state;
    setenv("T_LONG", "77", 1);
    assert_int_equal(config_load(t_long, &t, err, sizeof(err)), 0);
    assert_int_equal(t.l, 77);
}

static void test_long_rejects_bad_values(void **state)
{
    static const char *const bad[] = {
        "", "abc", "12abc", "0", "101", "-5", " ", "99999999999999999999999", "1.5", NULL};
    (void)state;
    for (int i = 0; bad[i] != NULL; i++) {
        struct tcfg t = {.l = -1};
        setenv("T_LONG", bad[i], 1);
        assert_int_equal(config_load(t_long, &t, err, sizeof(err)), -1);
        assert_int_equal(t.l, -1); /* untouched */
        assert_non_null(strstr(err, "T_LONG"));
        assert_non_null(strstr(err, "between 1 and 100"));
    }
}

static void test_int_range_and_default(void **state)
{
    struct tcfg t = {.i = -1};
    (void)state;
    unsetenv("T_INT");
    assert_int_equal(config_load(t_int, &t, err, sizeof(err)), 0);
    assert_int_equal(t.i, 8);
    setenv("T_INT", "256", 1);
    assert_int_equal(config_load(t_int, &t, err, sizeof(err)), 0);
    assert_int_equal(t.i, 256);
    setenv("T_INT", "257", 1);
    assert_int_equal(config_load(t_int, &t, err, sizeof(err)), -1);
    assert_int_equal(t.i, 256);
    assert_non_null(strstr(err, "T_INT"));
}

static void test_double_rejects_non_finite_and_range(void **state)
{
    static const char *const bad[] = {"", "nan", "inf", "-inf", "1e999", "x", "0.5x", "11", NULL};
    struct tcfg t = {.d = 0};
    (void)state;
    for (int i = 0; bad[i] != NULL; i++) {
        setenv("T_DBL", bad[i], 1);
        assert_int_equal(config_load(t_dbl, &t, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "T_DBL"));
    }
    setenv("T_DBL", "2.5", 1);
    assert_int_equal(config_load(t_dbl, &t, err, sizeof(err)), 0);
    assert_true(t.d == 2.5);
    unsetenv("T_DBL");
    assert_int_equal(config_load(t_dbl, &t, err, sizeof(err)), 0);
    assert_true(t.d == 1.0);
}

static void test_u64_takes_64_bits_and_refuses_signs(void **state)
{
    static const char *const bad[] = {"", "-1", "x", "18446744073709551616", "12 ", NULL};
    struct tcfg t = {.u = 5};
    (void)state;
    setenv("T_U64", "18446744073709551615", 1);
    assert_int_equal(config_load(t_u64, &t, err, sizeof(err)), 0);
    assert_true(t.u == UINT64_MAX);
    for (int i = 0; bad[i] != NULL; i++) {
        t.u = 5;
        setenv("T_U64", bad[i], 1);
        assert_int_equal(config_load(t_u64, &t, err, sizeof(err)), -1);
        assert_true(t.u == 5);
        assert_non_null(strstr(err, "T_U64"));
    }
    unsetenv("T_U64");
    assert_int_equal(config_load(t_u64, &t, err, sizeof(err)), 0);
    assert_true(t.u == 0);
}

static void test_str_empty_and_too_long(void **state)
{
    struct tcfg t = {.s = ""};
    (void)state;
    setenv("T_STR", "", 1);
    assert_int_equal(config_load(t_str, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty"));
    setenv("T_STR", "12345678", 1);
    assert_int_equal(config_load(t_str, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "T_STR"));
    assert_null(strstr(err, "12345678")); /* a string may be a secret: never quoted */
    setenv("T_STR", "1234567", 1);
    assert_int_equal(config_load(t_str, &t, err, sizeof(err)), 0);
    assert_string_equal(t.s, "1234567");
    unsetenv("T_STR");
    assert_int_equal(config_load(t_str, &t, err, sizeof(err)), 0);
    assert_string_equal(t.s, "def");
}

static void test_optional_and_empty_strings(void **state)
{
    struct tcfg t;
    (void)state;
    memset(&t, 'z', sizeof(t));
    unsetenv("T_OPT");
    unsetenv("T_MAYBE_EMPTY");
    assert_int_equal(config_load(t_optional, &t, err, sizeof(err)), 0);
    assert_string_equal(t.opt, ""); /* no default: unset is "" */
    assert_string_equal(t.maybe_empty, "x");
    setenv("T_MAYBE_EMPTY", "", 1);
    assert_int_equal(config_load(t_optional, &t, err, sizeof(err)), 0);
    assert_string_equal(t.maybe_empty, "");
    setenv("T_OPT", "", 1); /* set, but empty: refused without CONFIG_EMPTY_OK */
    assert_int_equal(config_load(t_optional, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "T_OPT"));
    unsetenv("T_OPT");
    unsetenv("T_MAYBE_EMPTY");
}

static void test_when_gates_a_variable(void **state)
{
    struct tcfg t = {.gated = 0};
    (void)state;
    unsetenv("T_OPT");
    setenv("T_GATED", "junk", 1); /* not read while the gate is closed */
    assert_int_equal(config_load(t_gated, &t, err, sizeof(err)), 0);
    assert_int_equal(t.gated, 0);
    setenv("T_OPT", "on", 1);
    assert_int_equal(config_load(t_gated, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "T_GATED"));
    unsetenv("T_GATED");
    assert_int_equal(config_load(t_gated, &t, err, sizeof(err)), 0);
    assert_int_equal(t.gated, 7);
    unsetenv("T_OPT");
}

static void test_bool_and_choice(void **state)
{
    struct tcfg t = {.b = -1, .c = -1};
    (void)state;
    setenv("T_BOOL", "Yes", 1);
    assert_int_equal(config_load(t_bool, &t, err, sizeof(err)), 0);
    assert_int_equal(t.b, 1);
    setenv("T_BOOL", "maybe", 1);
    assert_int_equal(config_load(t_bool, &t, err, sizeof(err)), -1);
    setenv("T_CHOICE", "sim", 1);
    assert_int_equal(config_load(t_choice, &t, err, sizeof(err)), 0);
    assert_int_equal(t.c, 1);
    setenv("T_CHOICE", "SIM", 1);
    assert_int_equal(config_load(t_choice, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "yahoo, sim, auto"));
}

static void test_choice_into_enum_and_word(void **state)
{
    struct tcfg t = {.e = LOG_LVL_DEBUG};
    (void)state;
    unsetenv("T_ENUM");
    assert_int_equal(config_load(t_enum, &t, err, sizeof(err)), 0);
    assert_int_equal(t.e, 1);
    unsetenv("T_WORD");
    assert_int_equal(config_load(t_word, &t, err, sizeof(err)), 0);
    assert_string_equal(t.w, "auto");
    setenv("T_WORD", "yahoo", 1);
    assert_int_equal(config_load(t_word, &t, err, sizeof(err)), 0);
    assert_string_equal(t.w, "yahoo");
    setenv("T_WORD", "bloomberg", 1);
    assert_int_equal(config_load(t_word, &t, err, sizeof(err)), -1);
    assert_string_equal(t.w, "yahoo");
    assert_non_null(strstr(err, "T_WORD: must be one of yahoo, sim, auto"));
    unsetenv("T_WORD");
}

static const struct config_var t_common[] = {
    CONFIG_METRICS_PORT(struct tcfg, CONTRACT_TEXT(CONTRACT_PORT_PRODUCER_METRICS)), CONFIG_END};

/* config_common_vars, then a daemon's table with its METRICS_PORT. */
static int load_common(struct tcfg *t)
{
    if (config_load(config_common_vars, &t->common, err, sizeof(err)) != 0)
        return -1;
    return config_load(t_common, t, err, sizeof(err));
}

static void test_common_defaults_and_errors(void **state)
{
    struct tcfg t;
    (void)state;
    memset(&t, 0, sizeof(t));
    unsetenv("KAFKA_BOOTSTRAP_SERVERS");
    unsetenv("REDIS_HOST");
    unsetenv("REDIS_PORT");
    unsetenv("METRICS_PORT");
    unsetenv("LOG_LEVEL");
    assert_int_equal(load_common(&t), 0);
    assert_string_equal(t.common.kafka_bootstrap, "127.0.0.1:9092");
    assert_int_equal(t.common.redis_port, 6379);
    assert_int_equal(t.common.metrics_port, 9101);
    assert_int_equal(t.common.log_level, LOG_LVL_INFO);
    setenv("REDIS_PORT", "70000", 1);
    assert_int_equal(load_common(&t), -1);
    assert_non_null(strstr(err, "REDIS_PORT"));
    setenv("REDIS_PORT", "6380", 1);
    setenv("LOG_LEVEL", "loud", 1);
    assert_int_equal(load_common(&t), -1);
    assert_non_null(strstr(err, "LOG_LEVEL"));
    unsetenv("LOG_LEVEL");
    setenv("METRICS_PORT", "0", 1);
    assert_int_equal(load_common(&t), 0);
    assert_int_equal(t.common.metrics_port, 0);
    assert_int_equal(t.common.redis_port, 6380);
    unsetenv("REDIS_PORT");
    unsetenv("METRICS_PORT");
}

static const struct config_var t_help[] = {
    {"T_HELP_LONG", "42", "a number", CONFIG_LONG(struct tcfg, l, 1, 100)},
    {"T_HELP_WORD", "auto", "a word", CONFIG_STRING(struct tcfg, w), .choices = t_choices},
    {"T_HELP_OPT", NULL, "optional", CONFIG_STRING(struct tcfg, opt)},
    {"T_HELP_SHOWN", NULL, "described", CONFIG_STRING(struct tcfg, s), .shown = "(built in)"},
    CONFIG_END};

/* --help's lines, printed to a temporary file in place of stdout. */
static char *help_text(void)
{
    static char text[8192];
    FILE *tmp = tmpfile();
    int saved = dup(STDOUT_FILENO);
    size_t n;

    assert_non_null(tmp);
    assert_true(saved >= 0);
    fflush(stdout);
    assert_true(dup2(fileno(tmp), STDOUT_FILENO) >= 0);
    config_print_help("prog", "a summary", t_help);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    n = fread(text, 1, sizeof(text) - 1, tmp);
    text[n] = '\0';
    fclose(tmp);
    return text;
}

/* The line of name, or fails. */
static const char *help_line(const char *text, const char *name, char *line, size_t len)
{
    char key[64];
    const char *p;
    size_t n;

    snprintf(key, sizeof(key), "\n  %s ", name);
    p = strstr(text, key);
    assert_non_null(p);
    p += 3;
    n = strcspn(p, "\n");
    assert_true(n < len);
    memcpy(line, p, n);
    line[n] = '\0';
    return line;
}

static int help_has(const char *line, const char *pattern_a, const char *pattern_b)
{
    const char *a = strstr(line, pattern_a);
    return a != NULL && strstr(a + strlen(pattern_a), pattern_b) != NULL;
}

static void test_help_lists_defaults_and_ranges(void **state)
{
    const char *text = help_text();
    char line[256];
    (void)state;
    assert_non_null(strstr(text, "Usage: prog [--help]\na summary\n"));
    /* the common variables first, each with its default */
    assert_true(help_has(help_line(text, "REDIS_PORT", line, sizeof(line)), "6379", "(1-65535)"));
    assert_true(help_has(help_line(text, "LOG_LEVEL", line, sizeof(line)), "info",
                         "(debug, info, warn, error)"));
    assert_true(help_has(help_line(text, "KAFKA_BOOTSTRAP_SERVERS", line, sizeof(line)),
                         "127.0.0.1:9092", "Kafka"));
    /* then the daemon's: default, help, range or words */
    assert_true(
        help_has(help_line(text, "T_HELP_LONG", line, sizeof(line)), " 42 ", "a number (1-100)"));
    assert_true(help_has(help_line(text, "T_HELP_WORD", line, sizeof(line)), " auto ",
                         "a word (yahoo, sim, auto)"));
    assert_true(help_has(help_line(text, "T_HELP_OPT", line, sizeof(line)), "(unset)", "optional"));
    assert_true(
        help_has(help_line(text, "T_HELP_SHOWN", line, sizeof(line)), "(built in)", "described"));
    assert_true(strstr(text, "REDIS_PORT") < strstr(text, "T_HELP_LONG"));
}

/* The webapp's default TICKERS is the producer's default asset list. */
static void test_contract_tickers_join_the_assets(void **state)
{
    char joined[1024] = "";
    size_t used = 0;
    (void)state;
    assert_true(contract_assets_len > 0);
    for (size_t i = 0; i < contract_assets_len; i++) {
        int r = snprintf(joined + used, sizeof(joined) - used, "%s%s", i ? "," : "",
                         contract_assets[i].ticker);
        assert_true(r > 0 && (size_t)r < sizeof(joined) - used);
        used += (size_t)r;
        assert_ptr_equal(contract_asset_find(contract_assets[i].ticker), &contract_assets[i]);
    }
    assert_string_equal(CONTRACT_TICKERS, joined);
    assert_string_equal(
        CONTRACT_TICKERS,
        "AAPL,GOOGL,MSFT,AMZN,NVDA,TSLA,META,BTC-USD,ETH-USD,SOL-USD,GC=F,SI=F,CL=F,NG=F,HG=F");
    assert_null(contract_asset_find("NOPE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_missing_gives_default),
        cmocka_unit_test(test_long_valid_value),
        cmocka_unit_test(test_long_rejects_bad_values),
        cmocka_unit_test(test_int_range_and_default),
        cmocka_unit_test(test_double_rejects_non_finite_and_range),
        cmocka_unit_test(test_u64_takes_64_bits_and_refuses_signs),
        cmocka_unit_test(test_str_empty_and_too_long),
        cmocka_unit_test(test_optional_and_empty_strings),
        cmocka_unit_test(test_when_gates_a_variable),
        cmocka_unit_test(test_bool_and_choice),
        cmocka_unit_test(test_choice_into_enum_and_word),
        cmocka_unit_test(test_common_defaults_and_errors),
        cmocka_unit_test(test_help_lists_defaults_and_ranges),
        cmocka_unit_test(test_contract_tickers_join_the_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
