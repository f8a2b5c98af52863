/* Unit tests of the webapp's pure parts: the signed cookie (issued ones
 * verify; forged, tampered, truncated or other-secret ones never do), the
 * set-alert body parser and its threshold bounds,
 * the strict Origin / Referer / Host parsers, the same-origin rule and the
 * JSON Content-Type check, which request heads the front serves itself and
 * the chunk framing of the raw streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
    assert_int_equal(
        cookie_verify("another-secret-another-secret-12345", 35, value, COOKIE_VALUE_LEN, got), -1);
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

    parse_ok("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"above\"}", "AAPL", 180,
             ALERT_ABOVE);
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
    BAD("{\"ticker\":\"AAPL\",\"threshold\":0,\"type\":\"above\"}", "0.000001 to 1000000000");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":-5,\"type\":\"above\"}", "0.000001 to 1000000000");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1e999,\"type\":\"above\"}", "Malformed");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":NaN,\"type\":\"above\"}", "Malformed");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"ABOVE\"}",
        "'above', 'below', 'crosses', 'percent_up' or 'percent_down'");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":1}", "'type' must be a string");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1}", "Missing field 'type'");
    BAD("{\"ticker\":\"AAPL\",\"ticker\":\"MSFT\",\"threshold\":1,\"type\":\"above\"}",
        "Malformed");
    BAD("{\"ticker\":\"AA\\u0000PL\",\"threshold\":1,\"type\":\"above\"}", "Malformed");
    memset(big, ' ', sizeof(big));
    parse_bad(big, sizeof(big), "too large");
}

/* The conditions of issue 18: crosses takes a threshold, percent_up /
 * percent_down a percent (0 < p <= 1000, below 100 down) and no
 * threshold; a field that does not go with the type is refused by name.
 * window_s (a percent type's rolling window, issue 18) was refused as not
 * supported before; now an integer of 60 to 86400 seconds with a percent
 * type is taken, and anything else is refused naming it. */
static void test_parse_conditions(void **state)
{
    struct set_alert_req r;
    char err[160];
    (void)state;

    parse_ok("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"crosses\"}", "AAPL", 180,
             ALERT_CROSSES);
#define PCT(s) request_parse_set_alert(s, sizeof(s) - 1, &r, err, sizeof(err))
    assert_int_equal(PCT("{\"ticker\":\"AAPL\",\"percent\":2.5,\"type\":\"percent_up\"}"), 0);
    assert_int_equal(r.type, ALERT_PERCENT_UP);
    assert_true(r.percent == 2.5);
    assert_true(r.threshold == 0);
    assert_int_equal(PCT("{\"ticker\":\"AAPL\",\"percent\":1000,\"type\":\"percent_up\"}"), 0);
    assert_int_equal(PCT("{\"ticker\":\"AAPL\",\"percent\":99.5,\"type\":\"percent_down\"}"), 0);
    assert_int_equal(r.type, ALERT_PERCENT_DOWN);
#undef PCT
    BAD("{\"ticker\":\"AAPL\",\"type\":\"crosses\"}", "Missing field 'threshold'");
    BAD("{\"ticker\":\"AAPL\",\"type\":\"percent_up\"}", "Missing field 'percent'");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"threshold\":1,\"type\":\"percent_up\"}",
        "Field 'threshold' is not allowed with type percent_up or percent_down");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"threshold\":1,\"type\":\"above\"}",
        "Field 'percent' is only allowed with type percent_up or percent_down");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"threshold\":1,\"type\":\"crosses\"}",
        "Field 'percent' is only allowed");
    BAD("{\"ticker\":\"AAPL\",\"percent\":0,\"type\":\"percent_up\"}",
        "Field 'percent' must be above 0 and at most 1000");
    BAD("{\"ticker\":\"AAPL\",\"percent\":-1,\"type\":\"percent_down\"}",
        "Field 'percent' must be above 0");
    BAD("{\"ticker\":\"AAPL\",\"percent\":1000.5,\"type\":\"percent_up\"}",
        "Field 'percent' must be above 0 and at most 1000");
    BAD("{\"ticker\":\"AAPL\",\"percent\":\"5\",\"type\":\"percent_up\"}",
        "Field 'percent' must be a number");
    BAD("{\"ticker\":\"AAPL\",\"percent\":100,\"type\":\"percent_down\"}",
        "Field 'percent' must be below 100 for percent_down");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":5,\"type\":\"above\",\"window_s\":60}",
        "Field 'window_s' is only allowed with type percent_up or percent_down");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":5,\"type\":\"below\",\"window_s\":3600}",
        "Field 'window_s' is only allowed");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":5,\"type\":\"crosses\",\"window_s\":3600}",
        "Field 'window_s' is only allowed");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\",\"window_s\":59}",
        "Field 'window_s' must be from 60 to 86400 seconds");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\",\"window_s\":86401}",
        "Field 'window_s' must be from 60 to 86400 seconds");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_down\",\"window_s\":-60}",
        "Field 'window_s' must be from 60");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\",\"window_s\":300.5}",
        "Field 'window_s' must be an integer (seconds)");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\",\"window_s\":\"300\"}",
        "Field 'window_s' must be an integer");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\",\"window_s\":1e20}",
        "Field 'window_s' must be an integer");
#define WIN(s) request_parse_set_alert(s, sizeof(s) - 1, &r, err, sizeof(err))
    assert_int_equal(WIN("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\","
                         "\"window_s\":60}"),
                     0);
    assert_int_equal(r.window_s, 60);
    assert_int_equal(r.type, ALERT_PERCENT_UP);
    assert_int_equal(WIN("{\"ticker\":\"AAPL\",\"percent\":99,\"type\":\"percent_down\","
                         "\"window_s\":86400}"),
                     0);
    assert_int_equal(r.window_s, 86400);
    assert_int_equal(WIN("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\","
                         "\"window_s\":null}"),
                     0);
    assert_int_equal(r.window_s, 0);
    assert_int_equal(WIN("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\"}"), 0);
    assert_int_equal(r.window_s, 0);
#undef WIN
}

/* "repeat": "once" (the default, also null) or "every" with "cooldown_s",
 * an integer from 60 to a week, for every type; each wrong combination is
 * refused naming its field; window_s with repeat every is refused by name. */
static void test_parse_repeat(void **state)
{
    struct set_alert_req r;
    char err[160];
    (void)state;

#define REQ(s) request_parse_set_alert(s, sizeof(s) - 1, &r, err, sizeof(err))
    assert_int_equal(REQ("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"above\"}"), 0);
    assert_int_equal(r.cooldown_s, 0);
    assert_int_equal(
        REQ("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"above\",\"repeat\":\"once\"}"), 0);
    assert_int_equal(r.cooldown_s, 0);
    assert_int_equal(
        REQ("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"above\",\"repeat\":null}"), 0);
    assert_int_equal(REQ("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"below\","
                         "\"repeat\":\"every\",\"cooldown_s\":60}"),
                     0);
    assert_int_equal(r.cooldown_s, 60);
    assert_int_equal(REQ("{\"ticker\":\"AAPL\",\"threshold\":180,\"type\":\"crosses\","
                         "\"repeat\":\"every\",\"cooldown_s\":604800}"),
                     0);
    assert_int_equal(r.cooldown_s, 604800);
    assert_int_equal(REQ("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_down\","
                         "\"repeat\":\"every\",\"cooldown_s\":3600}"),
                     0);
    assert_int_equal(r.cooldown_s, 3600);
#undef REQ
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"cooldown_s\":60}",
        "Field 'cooldown_s' is only allowed with repeat 'every'");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":\"once\","
        "\"cooldown_s\":60}",
        "Field 'cooldown_s' is only allowed with repeat 'every'");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":\"every\"}",
        "Missing field 'cooldown_s'");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":\"every\","
        "\"cooldown_s\":null}",
        "Missing field 'cooldown_s'");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":\"always\"}",
        "Field 'repeat' must be 'once' or 'every'");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":true}",
        "Field 'repeat' must be a string");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":\"every\","
        "\"cooldown_s\":59}",
        "Field 'cooldown_s' must be an integer from 60 to 604800");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":\"every\","
        "\"cooldown_s\":604801}",
        "Field 'cooldown_s' must be an integer from 60 to 604800");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":\"every\","
        "\"cooldown_s\":90.5}",
        "Field 'cooldown_s' must be an integer");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"repeat\":\"every\","
        "\"cooldown_s\":\"60\"}",
        "Field 'cooldown_s' must be an integer");
    BAD("{\"ticker\":\"AAPL\",\"percent\":5,\"type\":\"percent_up\",\"repeat\":\"every\","
        "\"cooldown_s\":60,\"window_s\":300}",
        "Field 'window_s' cannot be combined with repeat 'every'");
}

/* request_condition: a crosses alert's direction from the side the price
 * is on; a percent alert's level from the price; 409 without a price or at
 * the threshold, 400 for a level out of range; above / below untouched. */
static void test_request_condition(void **state)
{
    struct set_alert_req req = {.ticker = "AAPL", .threshold = 100, .type = ALERT_CROSSES};
    struct alert_record rec;
    char err[160];
    (void)state;

    memset(&rec, 0, sizeof(rec));
    assert_int_equal(request_condition(&req, 99.5, &rec, err, sizeof(err)), 0);
    assert_int_equal(rec.type, ALERT_CROSSES);
    assert_int_equal(rec.direction, ALERT_DIR_UP);
    assert_true(rec.threshold == 100);
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(request_condition(&req, 100.5, &rec, err, sizeof(err)), 0);
    assert_int_equal(rec.direction, ALERT_DIR_DOWN);
    assert_int_equal(request_condition(&req, 100, &rec, err, sizeof(err)), REQUEST_CONFLICT);
    assert_non_null(strstr(err, "at the threshold"));
    assert_int_equal(request_condition(&req, 0, &rec, err, sizeof(err)), REQUEST_CONFLICT);
    assert_non_null(strstr(err, "No price known yet for AAPL"));

    req.type = ALERT_PERCENT_UP, req.threshold = 0, req.percent = 5;
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(request_condition(&req, 200, &rec, err, sizeof(err)), 0);
    assert_true(rec.threshold == 200 * (1 + 5 / 100.0));
    assert_true(rec.reference_price == 200);
    assert_true(rec.percent == 5);
    assert_int_equal(request_condition(&req, 0, &rec, err, sizeof(err)), REQUEST_CONFLICT);
    req.percent = 1000;
    assert_int_equal(request_condition(&req, 500000000, &rec, err, sizeof(err)), REQUEST_INVALID);
    assert_non_null(strstr(err, "Field 'percent'"));
    req.type = ALERT_PERCENT_DOWN, req.percent = 50;
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(request_condition(&req, 10, &rec, err, sizeof(err)), 0);
    assert_true(rec.threshold == 5);
    assert_int_equal(rec.window_s, 0);
    /* a window: the same level and reference (the seed of a new window) */
    req.window_s = 3600;
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(request_condition(&req, 10, &rec, err, sizeof(err)), 0);
    assert_int_equal(rec.window_s, 3600);
    assert_true(rec.reference_price == 10);
    assert_true(rec.threshold == 5);
    req.window_s = 0;

    req.type = ALERT_ABOVE, req.threshold = 7, req.percent = 0;
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(request_condition(&req, 0, &rec, err, sizeof(err)), 0); /* no price needed */
    assert_int_equal(rec.type, ALERT_ABOVE);
    assert_int_equal(rec.direction, ALERT_DIR_NONE);
    assert_true(rec.threshold == 7);
}

/* Thresholds: a millionth to a billion, both included; anything else, and
 * 1e300 (which once fired and could not be delivered), is
 * refused with the range in the message. */
/* A note of n copies of the UTF-8 character ch, in a set-alert body. */
static void note_body(char *out, size_t outlen, const char *ch, int n)
{
    size_t o = (size_t)snprintf(out, outlen,
                                "{\"ticker\":\"AAPL\",\"threshold\":1,"
                                "\"type\":\"above\",\"note\":\"");

    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%s", ch);
    snprintf(out + o, outlen - o, "\"}");
}

/* The note: at most 140 code points (not bytes), any Unicode, valid UTF-8
 * only, no control character; absent, null or "" is no note. */
static void test_parse_note(void **state)
{
    struct set_alert_req r;
    char body[2048], err[128];
    (void)state;

    /* 140 four-byte characters (560 bytes) pass, 141 one-byte ones do not */
    note_body(body, sizeof(body), "\xf0\x9f\x9a\x80", 140);
    assert_int_equal(request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)), 0);
    assert_int_equal(strlen(r.note), 560);
    note_body(body, sizeof(body), "\xc3\xa9", 140);
    assert_int_equal(request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)), 0);
    note_body(body, sizeof(body), "a", 141);
    parse_bad(body, strlen(body), "Field 'note' must be at most 140 characters");
    note_body(body, sizeof(body), "\xe2\x82\xac", 141);
    parse_bad(body, strlen(body), "Field 'note' must be at most 140 characters");
    /* escapes count as the character they stand for */
    note_body(body, sizeof(body), "\\u00e9", 140);
    assert_int_equal(request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)), 0);
    assert_int_equal(strlen(r.note), 280);
    /* HTML is text like any other */
    note_body(body, sizeof(body), "<b>x</b>", 1);
    assert_int_equal(request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)), 0);
    assert_string_equal(r.note, "<b>x</b>");
    /* bad UTF-8: a lone continuation byte, an overlong '/', a surrogate, a
     * truncated sequence, beyond U+10FFFF */
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"a\x80\"}",
        "valid UTF-8");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"\xc0\xaf\"}",
        "valid UTF-8");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"\xed\xa0\x80\"}",
        "valid UTF-8");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"\xe2\x82\"}",
        "valid UTF-8");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"\xf4\x90\x80\x80\"}",
        "valid UTF-8");
    assert_int_equal(msg_note_check("a\x80", 2), MSG_NOTE_BAD_UTF8);
    assert_int_equal(msg_note_check("\xed\xa0\x80", 3), MSG_NOTE_BAD_UTF8);
    /* control characters: C0 (escaped or not), DEL, C1, NUL */
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"a\\nb\"}",
        "Field 'note' must not contain control characters");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"a\\u001bb\"}",
        "Field 'note' must not contain control characters");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"a\x7f\"}",
        "Field 'note' must not contain control characters");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"a\\u0085\"}",
        "Field 'note' must not contain control characters");
    assert_int_equal(msg_note_check("a\0b", 3), MSG_NOTE_CONTROL);
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":5}",
        "Field 'note' must be a string");
    /* no note */
    snprintf(body, sizeof(body),
             "{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":\"\"}");
    assert_int_equal(request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)), 0);
    assert_string_equal(r.note, "");
    parse_ok("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"note\":null}", "AAPL", 1,
             ALERT_ABOVE);
}

/* expires_at: an integer of Unix seconds, after now and at most 10 years
 * ahead; without it, now + the default. */
static void test_parse_expires_at(void **state)
{
    const double now = 1764087000.5;
    struct set_alert_req r;
    long long exp = 0;
    char body[256], err[128];
    (void)state;

    parse_ok("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\"}", "AAPL", 1, ALERT_ABOVE);
    snprintf(body, sizeof(body), "{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\"}");
    assert_int_equal(request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)), 0);
    assert_int_equal(r.expires_at, 0);
    assert_int_equal(request_expiry(&r, now, 60 * 86400, &exp, err, sizeof(err)), 0);
    assert_int_equal(exp, 1764087000LL + 60 * 86400);
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"expires_at\":1.5}",
        "Field 'expires_at' must be a positive integer");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"expires_at\":\"1\"}",
        "Field 'expires_at' must be a positive integer");
    BAD("{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"expires_at\":-3}",
        "Field 'expires_at' must be a positive integer");
    /* the bounds, each side */
    const long long cases[][2] = {{1764087000, -1},
                                  {1764087001, 0},
                                  {1764087000 + REQUEST_EXPIRES_AHEAD_MAX_S, 0},
                                  {1764087001 + REQUEST_EXPIRES_AHEAD_MAX_S, -1},
                                  {1, -1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"ticker\":\"AAPL\",\"threshold\":1,\"type\":\"above\",\"expires_at\":%lld}",
                 cases[i][0]);
        assert_int_equal(request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)), 0);
        assert_int_equal(request_expiry(&r, now, 86400, &exp, err, sizeof(err)), cases[i][1]);
        if (cases[i][1] == 0)
            assert_int_equal(exp, cases[i][0]);
        else
            assert_non_null(strstr(err, "Field 'expires_at' must be"));
    }
}

static void test_threshold_bounds(void **state)
{
    static const char *const ok[] = {"0.000001",     "1e-6",       "0.1", "178.52",
                                     "999999999.99", "1000000000", "1e9", "0.0000010"};
    static const char *const bad[] = {"0",
                                      "-1",
                                      "1e-7",
                                      "0.00000099",
                                      "1000000000.0001",
                                      "1e10",
                                      "1e300",
                                      "1.7976931348623157e308",
                                      "-0"};
    char body[128];
    (void)state;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct set_alert_req r;
        char err[128] = "";
        snprintf(body, sizeof(body), "{\"ticker\":\"AAPL\",\"threshold\":%s,\"type\":\"below\"}",
                 ok[i]);
        if (request_parse_set_alert(body, strlen(body), &r, err, sizeof(err)) != 0)
            fail_msg("threshold %s refused: %s", ok[i], err);
        assert_true(r.threshold == strtod(ok[i], NULL));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"ticker\":\"AAPL\",\"threshold\":%s,\"type\":\"below\"}",
                 bad[i]);
        parse_bad(body, strlen(body), "from 0.000001 to 1000000000");
    }
}

static void origin_is(const char *v, int https, const char *host, unsigned port)
{
    struct request_origin o;

    if (request_parse_origin(v, &o) != 0)
        fail_msg("origin %s refused", v);
    assert_int_equal(o.https, https);
    assert_string_equal(o.host, host);
    assert_int_equal(o.port, port);
}

static void test_parse_origin(void **state)
{
    static const char *const bad[] = {NULL,
                                      "",
                                      "null",
                                      "http://",
                                      "http://:80",
                                      "ftp://localhost",
                                      "http:/localhost",
                                      "localhost:8080",
                                      "http://localhost/",
                                      "http://localhost/x",
                                      "http://localhost?x",
                                      "http://localhost#x",
                                      "http://localhost:",
                                      "http://localhost:0",
                                      "http://localhost:65536",
                                      "http://localhost:123456",
                                      "http://localhost:80a",
                                      "http://localhost:+80",
                                      "http://localhost:1@evil.com",
                                      "http://user@localhost",
                                      "http://user:pw@localhost",
                                      "http://local host",
                                      "http://localhost ",
                                      " http://localhost",
                                      "http://loc%61lhost",
                                      "http://[::1",
                                      "http://[]",
                                      "http://[::1]x",
                                      "http://[::g]",
                                      "http://evil.com\\@localhost",
                                      "http://localhost\r\n"};
    struct request_origin o;
    char longhost[300];
    (void)state;

    origin_is("http://localhost:8080", 0, "localhost", 8080);
    origin_is("http://LocalHost", 0, "localhost", 80);
    origin_is("HTTPS://Example.ORG", 1, "example.org", 443);
    origin_is("https://example.org:8443", 1, "example.org", 8443);
    origin_is("http://127.0.0.1:65535", 0, "127.0.0.1", 65535);
    origin_is("http://[::1]:8080", 0, "[::1]", 8080);
    origin_is("http://[FE80::A]", 0, "[fe80::a]", 80);
    origin_is("http://my_host-1.example", 0, "my_host-1.example", 80);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (request_parse_origin(bad[i], &o) != -1)
            fail_msg("origin '%s' accepted", bad[i] != NULL ? bad[i] : "(NULL)");
    }
    memcpy(longhost, "http://", 7);
    memset(longhost + 7, 'a', 260);
    longhost[267] = '\0';
    assert_int_equal(request_parse_origin(longhost, &o), -1);
    /* a Referer: the origin of a URL, then a path, query or fragment */
    assert_int_equal(request_parse_url_origin("http://localhost:8080/", &o), 0);
    assert_int_equal(o.port, 8080);
    assert_int_equal(request_parse_url_origin("https://a.example/x?y#z", &o), 0);
    assert_string_equal(o.host, "a.example");
    assert_int_equal(request_parse_url_origin("http://a.example?q", &o), 0);
    assert_int_equal(request_parse_url_origin("http://a.example#f", &o), 0);
    assert_int_equal(request_parse_url_origin("http://a.example", &o), 0);
    assert_int_equal(request_parse_url_origin("http://localhost:1@evil.com/", &o), -1);
    assert_int_equal(request_parse_url_origin("http://localhost@evil.com/", &o), -1);
    assert_int_equal(request_parse_url_origin("about:blank", &o), -1);
    assert_int_equal(request_parse_url_origin("http://a.example:99999/", &o), -1);
    /* a Host header: the port defaults to the scheme's */
    assert_int_equal(request_parse_host("localhost", 1, &o), 0);
    assert_int_equal(o.port, 443);
    assert_int_equal(request_parse_host("localhost:8080", 0, &o), 0);
    assert_int_equal(o.port, 8080);
    assert_int_equal(request_parse_host("", 0, &o), -1);
    assert_int_equal(request_parse_host("a, b", 0, &o), -1);
    assert_int_equal(request_parse_host("a/b", 0, &o), -1);
}

#define SITE(...) (&(const struct request_site){__VA_ARGS__})

static void test_cross_site(void **state)
{
    (void)state;
    /* no browser context: curl, scripts, the original's clients */
    assert_false(request_is_cross_site(SITE(.host = "localhost:8080")));
    assert_false(request_is_cross_site(SITE(0)));
    /* same origin, directly and through nginx */
    assert_false(
        request_is_cross_site(SITE(.sec_fetch_site = "same-origin",
                                   .origin = "http://localhost:8080", .host = "localhost:8080")));
    assert_false(request_is_cross_site(SITE(.origin = "http://LOCALHOST", .host = "localhost:80")));
    assert_false(request_is_cross_site(SITE(.origin = "http://localhost:80", .host = "localhost")));
    assert_false(request_is_cross_site(
        SITE(.origin = "http://example.org", .host = "127.0.0.1:8001", .fwd_host = "example.org")));
    assert_false(request_is_cross_site(
        SITE(.origin = "https://example.org", .referer = "https://example.org/",
             .host = "127.0.0.1:8001", .fwd_host = "example.org", .fwd_proto = "https")));
    assert_false(request_is_cross_site(SITE(.origin = "http://[::1]:8080", .host = "[::1]:8080")));
    assert_false(request_is_cross_site(SITE(.sec_fetch_site = "none", .host = "localhost")));
    assert_false(request_is_cross_site(
        SITE(.referer = "http://localhost:8080/?x", .host = "localhost:8080")));
    /* Sec-Fetch-Site: only same-origin and none pass */
    assert_true(request_is_cross_site(SITE(.sec_fetch_site = "cross-site", .host = "localhost")));
    assert_true(request_is_cross_site(
        SITE(.sec_fetch_site = "same-site", .origin = "http://localhost", .host = "localhost")));
    assert_true(request_is_cross_site(SITE(.sec_fetch_site = "", .host = "localhost")));
    /* Origin: parsed and compared in scheme, host and port */
    assert_true(
        request_is_cross_site(SITE(.origin = "http://evil.example", .host = "localhost:8080")));
    assert_true(request_is_cross_site(
        SITE(.origin = "http://localhost.evil.example", .host = "localhost")));
    assert_true(request_is_cross_site(
        SITE(.origin = "http://localhost:1@evil.com", .host = "localhost:1")));
    assert_true(
        request_is_cross_site(SITE(.origin = "http://localhost:8080", .host = "localhost")));
    assert_true(
        request_is_cross_site(SITE(.origin = "http://localhost:8081", .host = "localhost:8080")));
    assert_true(
        request_is_cross_site(SITE(.origin = "https://localhost:8080", .host = "localhost:8080")));
    assert_true(request_is_cross_site(SITE(.origin = "http://example.org", .host = "127.0.0.1:8001",
                                           .fwd_host = "example.org", .fwd_proto = "https")));
    assert_true(request_is_cross_site(SITE(.origin = "null", .host = "localhost")));
    assert_true(request_is_cross_site(SITE(.origin = "http://localhost/x", .host = "localhost")));
    assert_true(request_is_cross_site(SITE(.origin = "http://evil")));
    assert_true(request_is_cross_site(
        SITE(.origin = "http://localhost", .host = "localhost", .fwd_proto = "gopher")));
    /* Referer: its origin, parsed */
    assert_true(
        request_is_cross_site(SITE(.referer = "http://evil.example/page", .host = "localhost")));
    assert_true(request_is_cross_site(
        SITE(.referer = "http://localhost.evil.example/", .host = "localhost")));
    assert_true(request_is_cross_site(
        SITE(.referer = "http://localhost@evil.example/", .host = "localhost")));
    assert_true(
        request_is_cross_site(SITE(.origin = "http://localhost", .referer = "http://evil.example/",
                                   .host = "localhost")));
    assert_true(request_is_cross_site(SITE(.referer = "garbage", .host = "localhost")));
}

static void test_json_type(void **state)
{
    static const char *const ok[] = {"application/json",
                                     "Application/JSON",
                                     "application/json; charset=utf-8",
                                     "application/json;charset=UTF-8",
                                     "application/json ; charset=\"utf-8\"",
                                     " application/json",
                                     "application/json ",
                                     "application/json;",
                                     "application/json;;a=b",
                                     "application/json; a=\"q\\\"x\"",
                                     "application/json;\ta=b"};
    static const char *const bad[] = {NULL,
                                      "",
                                      "text/plain",
                                      "application/x-www-form-urlencoded",
                                      "multipart/form-data; boundary=x",
                                      "application/jsonx",
                                      "application/json-patch+json",
                                      "application/json+x",
                                      "application/",
                                      "application",
                                      "json",
                                      "application /json",
                                      "application/ json",
                                      "application/json, text/plain",
                                      "application/json; charset",
                                      "application/json; charset=",
                                      "application/json; =utf-8",
                                      "application/json; a=\"unterminated",
                                      "application/json; a=b c",
                                      "text/plain; application/json",
                                      "application/json\r\nX: y",
                                      "application/json; a=\"\x01\""};
    (void)state;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!request_is_json_type(ok[i]))
            fail_msg("'%s' not taken for JSON", ok[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (request_is_json_type(bad[i]))
            fail_msg("'%s' taken for JSON", bad[i] != NULL ? bad[i] : "(NULL)");
    }
}

/* The front serves a price stream itself only for a plain, complete head;
 * everything else (a prefix of one aside) goes to libmicrohttpd. */
static enum head_verdict classify(const char *s, size_t *hl)
{
    return head_classify(s, strlen(s), hl);
}

static void test_head_classify(void **state)
{
    static const char ok[] = "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\n"
                             "Cookie: user_id=a.b\r\nConnection: keep-alive\r\n\r\n";
    static const char *const other[] = {
        "GET /api/stream-alerts HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /api/stream-prices HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /api/stream-prices HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/stream-pricesX HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/stream-prices HTTP/1.0\r\nHost: x\r\n\r\n",
        "GET /api/stream-prices HTTP/1.1\r\n\r\n",                       /* no Host */
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", /* two */
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\nA: b\r\n\r\n", /* bare LF */
        "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\nA: b\x01\r\n\r\n",
        "GET /api/stream-prices?a b HTTP/1.1\r\nHost: x\r\n\r\n",
        "get /api/stream-prices HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /static/app.js HTTP/1.1\r\n",
    };
    char big[WEBAPP_COOKIE_MAX + 200];
    size_t hl = 1;
    int n;
    (void)state;

    assert_int_equal(classify(ok, &hl), HEAD_STREAM_PRICES);
    assert_int_equal(hl, sizeof(ok) - 1);
    /* A query is ignored, as libmicrohttpd's route ignores it. */
    assert_int_equal(classify("GET /api/stream-prices?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", &hl),
                     HEAD_STREAM_PRICES);
    /* Only the head is consumed: what follows is the client's next bytes. */
    assert_int_equal(classify("GET /api/stream-prices HTTP/1.1\r\nHost: x\r\n\r\nGET /", &hl),
                     HEAD_STREAM_PRICES);
    assert_int_equal(hl, strlen("GET /api/stream-prices HTTP/1.1\r\nHost: x\r\n\r\n"));
    /* Every prefix of a good head waits for more. */
    for (size_t i = 0; i < sizeof(ok) - 1; i++)
        assert_int_equal(head_classify(ok, i, &hl), HEAD_MORE);
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        assert_int_equal(classify(other[i], &hl), HEAD_OTHER);
    /* Cookies over the limit are libmicrohttpd's 431; at the limit, ours. */
    n = snprintf(big, sizeof(big), "GET /api/stream-prices HTTP/1.1\r\nHost: x\r\nCookie: ");
    memset(big + n, 'a', WEBAPP_COOKIE_MAX);
    memcpy(big + n + WEBAPP_COOKIE_MAX, "\r\n\r\n", 5);
    assert_int_equal(classify(big, &hl), HEAD_STREAM_PRICES);
    memset(big + n, 'a', WEBAPP_COOKIE_MAX + 1);
    memcpy(big + n + WEBAPP_COOKIE_MAX + 1, "\r\n\r\n", 5);
    assert_int_equal(classify(big, &hl), HEAD_OTHER);
}

/* A batch framed as one HTTP chunk: hex size, CRLF, data, CRLF. */
static void test_stream_frame(void **state)
{
    struct sse_event *ev = stream_frame("data: {}\n\n", 10, 1, 7);
    (void)state;

    assert_non_null(ev);
    assert_int_equal(ev->len, 3 + 10 + 2);
    assert_memory_equal(ev->data, "a\r\ndata: {}\n\n\r\n", ev->len);
    assert_int_equal(ev->batch, 7);
    assert_int_equal(ev->messages, 1);
    sse_event_unref(ev);
}

/* Feeds the tickers of names (space separated) to b; returns the index of
 * the tick that made the burst whole, or -1. */
static int burst_feed(struct burst *b, const char *names)
{
    char copy[256];
    int i = 0, whole = -1;

    snprintf(copy, sizeof(copy), "%s", names);
    for (char *save = NULL, *t = strtok_r(copy, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save), i++)
        if (burst_add(b, t, strlen(t)) && whole < 0)
            whole = i;
    return whole;
}

/* A burst is whole once it holds a shape seen before; pieces of one burst
 * (closer than BURST_JOIN_MS) make one shape; shapes of sharded producers
 * are told apart; a shape not seen for BURST_FORGET_MS is forgotten. */
static void test_burst_shapes(void **state)
{
    static struct burst b; /* large */
    int64_t t = 1000000;
    (void)state;

    burst_init(&b);
    assert_false(burst_known(&b));
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "A B C"), -1); /* nothing learned yet */
    burst_end(&b, t);
    assert_true(burst_known(&b));

    t += 1000; /* the next round: whole at its last ticker, in any order */
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "C A A B D"), 3);
    burst_end(&b, t);

    /* A round that came in two pieces 20 ms apart: one shape, A B C E. */
    t += 1000;
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "A B"), -1);
    burst_end(&b, t);
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "C E"), -1);
    burst_end(&b, t + 20);
    t += 1000;
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "E C B"), -1);
    assert_int_equal(burst_feed(&b, "A"), 0);
    burst_end(&b, t);

    /* The round grows (A..E): the first round's shape A B C ends it early
     * once; the rest, coming within BURST_JOIN_MS, grows that shape. */
    t += 1000;
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "A B C"), 2);
    burst_end(&b, t);
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "D E"), -1);
    burst_end(&b, t + 5);
    t += 1000;
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "A B C D"), 3); /* round 2's shape, still known */
    assert_int_equal(burst_feed(&b, "E"), 0);       /* and the grown one */
    burst_end(&b, t);

    /* Two producers, half a second apart: both shapes are known. */
    for (int round = 0; round < 2; round++) {
        t += 500;
        burst_begin(&b);
        int w = burst_feed(&b, "X Y");
        assert_int_equal(w, round == 0 ? -1 : 1);
        burst_end(&b, t);
        t += 500;
        burst_begin(&b);
        assert_int_equal(burst_feed(&b, "E D C B A"), 4);
        burst_end(&b, t);
    }

    /* X Y stops; after BURST_FORGET_MS its shape is gone, and so are the
     * stale parts of A..E (A B C D) that could end a round early. */
    for (int i = 0; i < BURST_FORGET_MS / 1000 + 1; i++) {
        t += 1000;
        burst_begin(&b);
        assert_true(burst_feed(&b, "A B C D E") >= 3);
        burst_end(&b, t);
    }
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "X Y"), -1);
    burst_begin(&b);
    assert_int_equal(burst_feed(&b, "A B C D E"), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie_roundtrip),   cmocka_unit_test(test_cookie_rejects_tampering),
        cmocka_unit_test(test_cookie_forged_user), cmocka_unit_test(test_parse_set_alert),
        cmocka_unit_test(test_parse_note),         cmocka_unit_test(test_parse_conditions),
        cmocka_unit_test(test_parse_repeat),       cmocka_unit_test(test_request_condition),
        cmocka_unit_test(test_parse_expires_at),   cmocka_unit_test(test_threshold_bounds),
        cmocka_unit_test(test_parse_origin),       cmocka_unit_test(test_cross_site),
        cmocka_unit_test(test_json_type),          cmocka_unit_test(test_head_classify),
        cmocka_unit_test(test_stream_frame),       cmocka_unit_test(test_burst_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
