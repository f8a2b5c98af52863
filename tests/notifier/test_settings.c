/* Unit tests for the notifier's settings (notifier/settings.c): the SMTP
 * channel's TLS and CA variables, loaded as daemon_begin loads them: a bad
 * NOTIFIER_SMTP_TLS or an unreadable NOTIFIER_SMTP_CA_FILE is a startup
 * error naming the variable, and no error quotes the password. */
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
#include "settings.h"

#define PASSWORD "pw-never-quoted-5f1c"

static char err[CONFIG_ERR_MAX];
static struct notifier_config cfg;

/* Every variable of the tables unset (the test stack's environment must
 * not leak in), then a minimal SMTP channel. */
static int smtp_env(void **state)
{
    (void)state;
    for (const struct config_var *v = config_common_vars; v->name != NULL; v++)
        unsetenv(v->name);
    for (const struct config_var *v = settings_vars; v->name != NULL; v++)
        unsetenv(v->name);
    setenv("NOTIFIER_SMTP_URL", "smtp://127.0.0.1:2525", 1);
    setenv("NOTIFIER_SMTP_FROM", "alerts@s.example", 1);
    setenv("NOTIFIER_SMTP_USER", "bot", 1);
    setenv("NOTIFIER_SMTP_PASSWORD", PASSWORD, 1);
    return 0;
}

/* What daemon_begin does: the shared variables, the table, the checks. */
static int load(void)
{
    memset(&cfg, 0, sizeof(cfg));
    err[0] = '\0';
    if (config_load(config_common_vars, &cfg.common, err, sizeof(err)) != 0 ||
        config_load(settings_vars, &cfg, err, sizeof(err)) != 0)
        return -1;
    return settings_check(&cfg, err, sizeof(err));
}

static void assert_fails_naming(const char *var)
{
    assert_int_equal(load(), -1);
    assert_non_null(strstr(err, var));
    assert_null(strstr(err, PASSWORD));
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(load(), 0);
    assert_true(cfg.smtp_enabled);
    assert_int_equal(cfg.smtp.tls, SMTP_TLS_TRY);
    assert_string_equal(cfg.smtp.ca_file, "");
    assert_string_equal(cfg.smtp.user, "bot");
    assert_string_equal(cfg.smtp.password, PASSWORD);
}

static void test_tls_values(void **state)
{
    (void)state;
    setenv("NOTIFIER_SMTP_TLS", "required", 1);
    assert_int_equal(load(), 0);
    assert_int_equal(cfg.smtp.tls, SMTP_TLS_REQUIRED);
    setenv("NOTIFIER_SMTP_TLS", "try", 1);
    assert_int_equal(load(), 0);
    assert_int_equal(cfg.smtp.tls, SMTP_TLS_TRY);
}

static void test_bad_tls_names_the_variable(void **state)
{
    static const char *const bad[] = {"", "on", "Required", "none", "insecure", "try "};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("NOTIFIER_SMTP_TLS", bad[i], 1);
        assert_fails_naming("NOTIFIER_SMTP_TLS");
    }
}

static void test_ca_file(void **state)
{
    char path[] = "/tmp/notifier-ca-XXXXXX";
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    setenv("NOTIFIER_SMTP_CA_FILE", path, 1);
    assert_int_equal(load(), 0);
    assert_string_equal(cfg.smtp.ca_file, path);
    unlink(path);
    assert_fails_naming("NOTIFIER_SMTP_CA_FILE");
    assert_non_null(strstr(err, path));
}

/* With no SMTP URL the channel is off and its variables are not read: a
 * stray bad value there stops nothing. */
static void test_smtp_off_ignores_its_variables(void **state)
{
    (void)state;
    unsetenv("NOTIFIER_SMTP_URL");
    setenv("NOTIFIER_SMTP_TLS", "bogus", 1);
    setenv("NOTIFIER_SMTP_CA_FILE", "/nonexistent/ca.pem", 1);
    assert_int_equal(load(), 0);
    assert_false(cfg.smtp_enabled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, smtp_env),
        cmocka_unit_test_setup(test_tls_values, smtp_env),
        cmocka_unit_test_setup(test_bad_tls_names_the_variable, smtp_env),
        cmocka_unit_test_setup(test_ca_file, smtp_env),
        cmocka_unit_test_setup(test_smtp_off_ignores_its_variables, smtp_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
