/* Unit tests of the webapp's pure parts: the signed cookie (issued ones
 * verify; forged, tampered, truncated or other-secret ones never do), the
 * set-alert body parser, Last-Event-ID parsing and the cross-site rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "webapp.h"

static const char secret[] = "0123456789abcdef0123456789abcdef-unit";
#define SLEN (sizeof(secret) - 1)

static void test_cookie_roundtrip(void **state)
{
    char user[COOKIE_USER_LEN + 1], value[COOKIE_VALUE_LEN + 1], got[COOKIE_USER_LEN + 1];
    char user2[COOKIE_USER_LEN + 1], value2[COOKIE_VALUE_LEN + 1];
    (void)state;

    assert_int_equal(cookie_issue(secret, SLEN, user, value), 0);
    assert_int_equal(strlen(user), COOKIE_USER_LEN);
    assert_int_equal(strlen(value), COOKIE_VALUE_LEN);
    assert_int_equal(cookie_verify(secret, SLEN, value, strlen(value), got), 0);
    assert_string_equal(got, user);
    assert_int_equal(cookie_issue(secret, SLEN, user2, value2), 0);
    assert_string_not_equal(user, user2); /* 128 random bits */
}

static void test_cookie_rejects_tampering(void **state)
{
    char user[COOKIE_USER_LEN + 1], value[COOKIE_VALUE_LEN + 1], got[COOKIE_USER_LEN + 1];
    char bad[COOKIE_VALUE_LEN + 2];
    (void)state;

    assert_int_equal(cookie_issue(secret, SLEN, user, value), 0);
    /* every single-character change, in the id and in the MAC */
    for (size_t i = 0; i < COOKIE_VALUE_LEN; i++) {
        if (i == COOKIE_USER_LEN)
            continue;
        memcpy(bad, value, COOKIE_VALUE_LEN + 1);
        bad[i] = bad[i] == '0' ? '1' : '0';
        assert_int_equal(cookie_verify(secret, SLEN, bad, COOKIE_VALUE_LEN, got), -1);
    }
    /* truncated, extended, separator changed, upper case, other secret */
    for (size_t n = 0; n < COOKIE_VALUE_LEN; n++)
        assert_int_equal(cookie_verify(secret, SLEN, value, n, got), -1);
    memcpy(bad, value, COOKIE_VALUE_LEN);
    bad[COOKIE_VALUE_LEN] = '0';
    bad[COOKIE_VALUE_LEN + 1] = '\0';
    assert_int_equal(cookie_verify(secret, SLEN, bad, COOKIE_VALUE_LEN + 1, got), -1);
    memcpy(bad, value, COOKIE_VALUE_LEN + 1);
    bad[COOKIE_USER_LEN] = '-';
    assert_int_equal(cookie_verify(secret, SLEN, bad, COOKIE_VALUE_LEN, got), -1);
    memcpy(bad, value, COOKIE_VALUE_LEN + 1);
    for (size_t i = 0; i < COOKIE_VALUE_LEN; i++)
        bad[i] = (bad[i] >= 'a' && bad[i] <= 'f') ? (char)(bad[i] - 32) : bad[i];
    assert_int_equal(cookie_verify(secret, SLEN, bad, COOKIE_VALUE_LEN, got), -1);
    assert_int_equal(cookie_verify("another-secret-another-secret-12345", 35, value,
                                   COOKIE_VALUE_LEN, got),
                     -1);
    assert_int_equal(cookie_verify(secret, SLEN, NULL, 0, got), -1);
    assert_int_equal(cookie_verify(secret, SLEN, "", 0, got), -1);
}

static void test_cookie_forged_user(void **state)
{
    char user[COOKIE_USER_LEN + 1], value[COOKIE_VALUE_LEN + 1], got[COOKIE_USER_LEN + 1];
    (void)state;

    /* someone else's id with my MAC */
    assert_int_equal(cookie_issue(secret, SLEN, user, value), 0);
    memcpy(value, "00000000000000000000000000000000", COOKIE_USER_LEN);
    assert_int_equal(cookie_verify(secret, SLEN, value, COOKIE_VALUE_LEN, got), -1);
}

static void parse_ok(const char *body, const char *ticker, double thr, enum alert_type t)
{
    struct set_alert_req r;
    char err[128];

    assert_int_equal(request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)), 0);
    assert_string_equal(r.ticker, ticker);
    assert_true(r.threshold == thr);
    assert_int_equal(r.type, t);
}

static void parse_bad(const char *body, size_t len, const char *want)
{
    struct set_alert_req r;
    char err[128] = "";

    assert_int_equal(request_parse_set_alert(body, len, &r, err, sizeof(err)), -1);
    if (strstr(err, want) == NULL)
        fail_msg("body %.60s: error '%s' lacks '%s'", body, err, want);
}

#define BAD(s, want) parse_bad(s, sizeof(s) - 1, want)

static void test_parse_set_alert(void **state)
{
    static char big[5000];
    (void)state;

    parse_ok("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"above\"}", "AAPL", 180, ALERT_ABOVE);
    parse_ok("{\"type\":\"below\",\"threshold\":0.0001,\"ticker\":\"BTC-USD\",\"x\":[1]}",
             "BTC-USD", 0.0001, ALERT_BELOW);
    BAD("", "JSON object");
    BAD("{", "Malformed");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"above\"", "Malformed");
    BAD("[1,2]", "JSON object");
    BAD("\"AAPL\"", "Malformed"); /* jansson refuses a bare string at top level */
    BAD("null", "Malformed");
    BAD("{\"threshold\":1,\"type\":\"above\"}", "Missing field 'ticker'");
    BAD("{\"ticker\":1,\"threshold\":1,\"type\":\"above\"}", "'ticker' must be a string");
    BAD("{\"ticker\":\"aapl\",\"threshold\":1,\"type\":\"above\"}", "Unknown ticker");
    BAD("{\"ticker\":\"A A\",\"threshold\":1,\"type\":\"above\"}", "Unknown ticker");
    BAD("{\"ticker\":\"AAPL\",\"type\":\"above\"}", "Missing field 'threshold'");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":\"180\",\"type\":\"above\"}", "must be a number");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":true,\"type\":\"above\"}", "must be a number");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":null,\"type\":\"above\"}", "must be a number");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":0,\"type\":\"above\"}", "greater than 0");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":-5,\"type\":\"above\"}", "greater than 0");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1e999,\"type\":\"above\"}", "Malformed");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":NaN,\"type\":\"above\"}", "Malformed");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"ABOVE\"}", "'above' or 'below'");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":1}", "'type' must be a string");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1}", "Missing field 'type'");
    BAD("{\"ticker\":\"AAPL\",\"ticker\":\"MSFT\",\"threshold\":1,\"type\":\"above\"}",
        "Malformed");
    BAD("{\"ticker\":\"AA\\u0000PL\",\"threshold\":1,\"type\":\"above\"}", "Malformed");
    memset(big, ' ', sizeof(big));
    parse_bad(big, sizeof(big), "too large");
}

static void test_event_id(void **state)
{
    (void)state;
    assert_true(request_parse_event_id("0") == 0);
    assert_true(request_parse_event_id("42") == 42);
    assert_true(request_parse_event_id("999999999999999999") == 999999999999999999LL);
    assert_true(request_parse_event_id("9999999999999999999") == -1);
    assert_true(request_parse_event_id(NULL) == -1);
    assert_true(request_parse_event_id("") == -1);
    assert_true(request_parse_event_id("-1") == -1);
    assert_true(request_parse_event_id("12a") == -1);
    assert_true(request_parse_event_id(" 1") == -1);
}

static void test_cross_site(void **state)
{
    (void)state;
    assert_false(request_is_cross_site(NULL, NULL, "localhost:8080", NULL));
    assert_false(request_is_cross_site("same-origin", "http://localhost:8080", "localhost:8080",
                                       NULL));
    assert_false(request_is_cross_site(NULL, "http://localhost:8080", "localhost", NULL));
    assert_false(request_is_cross_site(NULL, "http://LOCALHOST", "localhost:80", NULL));
    assert_false(request_is_cross_site(NULL, "http://example.org", "127.0.0.1:8000",
                                       "example.org"));
    assert_false(request_is_cross_site(NULL, "http://[::1]:8080", "[::1]:8000", NULL));
    assert_true(request_is_cross_site("cross-site", NULL, "localhost", NULL));
    assert_true(request_is_cross_site("cross-site", "http://localhost", "localhost", NULL));
    assert_true(request_is_cross_site(NULL, "http://evil.example", "localhost:8080", NULL));
    assert_true(request_is_cross_site(NULL, "http://localhost.evil.example", "localhost", NULL));
    assert_true(request_is_cross_site(NULL, "null", "localhost", NULL));
    assert_true(request_is_cross_site(NULL, "http://localhost/x", "localhost", NULL));
    assert_true(request_is_cross_site(NULL, "http://evil", NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie_roundtrip),  cmocka_unit_test(test_cookie_rejects_tampering),
        cmocka_unit_test(test_cookie_forged_user), cmocka_unit_test(test_parse_set_alert),
        cmocka_unit_test(test_event_id),          cmocka_unit_test(test_cross_site),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
