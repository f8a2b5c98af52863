/* Unit tests for common/channels: what set-alert accepts as "channels", and
 * the JSON and record spellings reading back as the same set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "channels.h"

static int parse(const char *text, unsigned *mask, char *err, size_t errlen)
{
    json_t *v = text != NULL ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    int rc = alert_channels_from_json(v, mask, err, errlen);

    json_decref(v);
    return rc;
}

static void test_accepted(void **state)
{
    unsigned m = 0;
    char err[128];

    (void)state;
    assert_int_equal(parse(NULL, &m, err, sizeof(err)), 0);
    assert_int_equal(m, ALERT_CH_BROWSER);
    assert_int_equal(parse("null", &m, err, sizeof(err)), 0);
    assert_int_equal(m, ALERT_CH_BROWSER);
    assert_int_equal(parse("[\"browser\"]", &m, err, sizeof(err)), 0);
    assert_int_equal(m, ALERT_CH_BROWSER);
    assert_int_equal(parse("[\"email\"]", &m, err, sizeof(err)), 0);
    assert_int_equal(m, ALERT_CH_EMAIL);
    assert_int_equal(parse("[\"email\",\"browser\"]", &m, err, sizeof(err)), 0);
    assert_int_equal(m, ALERT_CH_ALL);
}

static void test_refused_naming_the_field(void **state)
{
    static const char *const bad[] = {
        "[]",           "\"email\"", "[\"sms\"]", "[\"browser\",\"browser\"]",
        "[\"Email\"]",  "[1]",       "{}",        "[\"browser\",\"email\",\"email\"]",
        "[\"email \"]", "true",
    };
    unsigned m;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(parse(bad[i], &m, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "channels"));
    }
}

static void test_spellings_round_trip(void **state)
{
    char json[ALERT_CH_JSON_MAX], tok[ALERT_CH_TOKEN_MAX];
    unsigned m = 0;

    (void)state;
    alert_channels_json(ALERT_CH_ALL, json);
    assert_string_equal(json, "[\"browser\",\"email\"]");
    alert_channels_json(ALERT_CH_BROWSER, json);
    assert_string_equal(json, "[\"browser\"]");
    alert_channels_token(ALERT_CH_BROWSER, tok);
    assert_string_equal(tok, ""); /* the default: records as before */
    alert_channels_token(ALERT_CH_ALL, tok);
    assert_string_equal(tok, "c:browser,email");
    assert_int_equal(alert_channels_from_token(tok + 2, strlen(tok + 2), &m), 0);
    assert_int_equal(m, ALERT_CH_ALL);
    alert_channels_token(ALERT_CH_EMAIL, tok);
    assert_string_equal(tok, "c:email");
    assert_int_equal(alert_channels_from_token("email", 5, &m), 0);
    assert_int_equal(m, ALERT_CH_EMAIL);
    assert_int_equal(alert_channels_from_token("", 0, &m), -1);
    assert_int_equal(alert_channels_from_token("email,email", 11, &m), -1);
    assert_int_equal(alert_channels_from_token("email,", 6, &m), -1);
    assert_int_equal(alert_channels_from_token("fax", 3, &m), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused_naming_the_field),
        cmocka_unit_test(test_spellings_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
