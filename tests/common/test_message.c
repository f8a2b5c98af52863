/* Unit tests for common/message: both codecs round-trip, and decoding
 * rejects malformed, wrong-typed, oversized and non-finite input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "message.h"

static char err[MSG_ERR_MAX];

static struct price_msg sample_price(void)
{
    struct price_msg p;
    memset(&p, 0, sizeof(p));
    snprintf(p.ticker, sizeof(p.ticker), "AAPL");
    p.price = 178.52;
    p.timestamp = 1764087000.123456;
    snprintf(p.company, sizeof(p.company), "Apple Inc. \"quoted\" é");
    snprintf(p.display_name, sizeof(p.display_name), "Apple");
    snprintf(p.source, sizeof(p.source), "yahoo");
    return p;
}

static struct alert_msg sample_alert(void)
{
    struct alert_msg a;
    memset(&a, 0, sizeof(a));
    snprintf(a.alert_id, sizeof(a.alert_id), "0b9f7c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b");
    snprintf(a.user_id, sizeof(a.user_id), "5f2c0d8e9a7b6c5d4e3f2a1b0c9d8e7f");
    snprintf(a.ticker, sizeof(a.ticker), "BTC-USD");
    a.price = 70000.5;
    a.threshold = 70000;
    a.type = ALERT_ABOVE;
    a.timestamp = 1764087000.5;
    snprintf(a.event_id, sizeof(a.event_id), "1764087000500-2");
    snprintf(a.prev_event_id, sizeof(a.prev_event_id), "1764087000500-1");
    snprintf(a.message, sizeof(a.message), ALERT_MSG_TEXT_FORMAT, a.ticker, alert_type_name(a.type),
             "70,000.00", "70,000.50");
    return a;
}

static void test_price_round_trip(void **state)
{
    struct price_msg in = sample_price();
    struct price_msg out;
    char json[MSG_MAX_BYTES];
    int n;
    (void)state;
    n = price_msg_encode(&in, json, sizeof(json));
    assert_true(n > 0);
    assert_non_null(strstr(json, "\"price\":178.52,"));
    assert_int_equal(price_msg_decode(json, (size_t)n, &out, err, sizeof(err)), 0);
    assert_string_equal(out.ticker, in.ticker);
    assert_true(out.price == in.price);
    assert_true(fabs(out.timestamp - in.timestamp) < 1e-6);
    assert_string_equal(out.company, in.company);
    assert_string_equal(out.display_name, in.display_name);
    assert_string_equal(out.source, "yahoo");
    assert_true(out.previous_close == 0);
    assert_int_equal(out.has_decimals, 0);
    assert_null(strstr(json, "previous_close"));
    assert_null(strstr(json, "decimals"));
}

/* The optional previous close and decimals go through; old messages
 * without them still decode. */
static void test_price_previous_close_and_decimals(void **state)
{
    struct price_msg in = sample_price();
    struct price_msg out;
    char json[MSG_MAX_BYTES];
    int n;
    (void)state;
    in.previous_close = 2.7965;
    in.has_decimals = 1;
    in.decimals = 0; /* zero decimals is a value, not absence */
    n = price_msg_encode(&in, json, sizeof(json));
    assert_true(n > 0);
    assert_non_null(strstr(json, "\"previous_close\":2.7965"));
    assert_non_null(strstr(json, "\"decimals\":0"));
    assert_int_equal(price_msg_decode(json, (size_t)n, &out, err, sizeof(err)), 0);
    assert_true(out.previous_close == 2.7965);
    assert_int_equal(out.has_decimals, 1);
    assert_int_equal(out.decimals, 0);
    in.decimals = MSG_DECIMALS_MAX + 1;
    assert_int_equal(price_msg_encode(&in, json, sizeof(json)), -1);
    in.decimals = 4;
    in.previous_close = -1;
    assert_int_equal(price_msg_encode(&in, json, sizeof(json)), -1);
}

static void test_price_original_shape_and_defaults(void **state)
{
    /* The original's message, and a minimal one relying on defaults. */
    const char *orig = "{\"ticker\":\"GC=F\",\"price\":2031,\"timestamp\":1764087000,"
                       "\"company\":\"Gold\",\"display_name\":\"Gold\",\"source\":\"sim\"}";
    const char *min = "{\"ticker\":\"ETH-USD\",\"price\":3500.25,\"timestamp\":1764087000.1}";
    struct price_msg m;
    (void)state;
    assert_int_equal(price_msg_decode(orig, strlen(orig), &m, err, sizeof(err)), 0);
    assert_true(m.price == 2031.0);
    assert_int_equal(price_msg_decode(min, strlen(min), &m, err, sizeof(err)), 0);
    assert_string_equal(m.company, "ETH-USD");
    assert_string_equal(m.source, "sim");
}

static void test_price_rejects_bad_input(void **state)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[1,2,3]",
        "\"AAPL\"",
        "{\"ticker\":\"AAPL\",\"price\":1.0",                                      /* truncated */
        "{\"price\":1.0,\"timestamp\":1}",                                         /* no ticker */
        "{\"ticker\":\"AAPL\",\"timestamp\":1}",                                   /* no price */
        "{\"ticker\":\"AAPL\",\"price\":1.0}",                                     /* no time */
        "{\"ticker\":\"AAPL\",\"price\":\"1.0\",\"timestamp\":1}",                 /* string */
        "{\"ticker\":7,\"price\":1.0,\"timestamp\":1}",                            /* number */
        "{\"ticker\":\"AAPL\",\"price\":0,\"timestamp\":1}",                       /* zero */
        "{\"ticker\":\"AAPL\",\"price\":-3.5,\"timestamp\":1}",                    /* negative */
        "{\"ticker\":\"AAPL\",\"price\":NaN,\"timestamp\":1}",                     /* NaN */
        "{\"ticker\":\"AAPL\",\"price\":1e999,\"timestamp\":1}",                   /* inf */
        "{\"ticker\":\"AAPL\",\"price\":null,\"timestamp\":1}",                    /* null */
        "{\"ticker\":\"aa pl\",\"price\":1.0,\"timestamp\":1}",                    /* symbol */
        "{\"ticker\":\"AAPL\",\"price\":1.0,\"timestamp\":1,\"source\":\"x\"}",    /* source */
        "{\"ticker\":\"AAPL\",\"price\":1.0,\"timestamp\":1,\"company\":[]}",      /* company */
        "{\"ticker\":\"AAPL\",\"ticker\":\"MSFT\",\"price\":1.0,\"timestamp\":1}", /* dup */
        "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1,\"previous_close\":0}",
        "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1,\"previous_close\":-2}",
        "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1,\"previous_close\":\"2\"}",
        "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1,\"previous_close\":null}",
        "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1,\"decimals\":9}",
        "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1,\"decimals\":-1}",
        "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1,\"decimals\":2.5}",
        "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1,\"decimals\":\"2\"}",
        NULL};
    struct price_msg m;
    (void)state;
    for (int i = 0; bad[i] != NULL; i++) {
        err[0] = '\0';
        assert_int_equal(price_msg_decode(bad[i], strlen(bad[i]), &m, err, sizeof(err)), -1);
        assert_true(strlen(err) > 0);
    }
}

static void test_price_rejects_oversized_and_deep(void **state)
{
    size_t n = MSG_MAX_BYTES + 100;
    char *big = malloc(n + 1);
    struct price_msg m;
    (void)state;
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"ticker\":\"AAPL\",\"price\":1,\"timestamp\":1}", 41);
    assert_int_equal(price_msg_decode(big, n, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too large"));
    /* Deep nesting within the size cap: parsed or refused, never a crash. */
    memset(big, '[', MSG_MAX_BYTES);
    assert_int_equal(price_msg_decode(big, MSG_MAX_BYTES, &m, err, sizeof(err)), -1);
    free(big);
}

static void test_price_encode_refuses_bad_values(void **state)
{
    struct price_msg p = sample_price();
    char json[MSG_MAX_BYTES];
    (void)state;
    p.price = NAN;
    assert_int_equal(price_msg_encode(&p, json, sizeof(json)), -1);
    p.price = -1;
    assert_int_equal(price_msg_encode(&p, json, sizeof(json)), -1);
    p = sample_price();
    p.timestamp = INFINITY;
    assert_int_equal(price_msg_encode(&p, json, sizeof(json)), -1);
    p = sample_price();
    assert_int_equal(price_msg_encode(&p, json, 10), -1); /* too small */
}

/* An asset record of the universe round-trips; names default to the ticker;
 * a bad source, interval, validity or time is refused both ways. */
static void test_asset_record(void **state)
{
    struct asset_msg a = {.ticker = "NG=F",
                          .company = "Natural Gas Futures",
                          .display_name = "Natural Gas",
                          .source = "yahoo",
                          .interval_ms = 1000,
                          .valid_ms = 300000,
                          .published_at = 1700000000.5};
    struct asset_msg b;
    char buf[MSG_MAX_BYTES];
    int n;
    static const char *const bad[] = {
        "{\"ticker\":\"A\",\"source\":\"sim\",\"interval_ms\":1,\"valid_ms\":1}",
        "{\"ticker\":\"A\",\"source\":\"web\",\"interval_ms\":1,\"valid_ms\":1,"
        "\"published_at\":1}",
        "{\"ticker\":\"A\",\"source\":\"sim\",\"interval_ms\":0,\"valid_ms\":1,"
        "\"published_at\":1}",
        "{\"ticker\":\"A\",\"source\":\"sim\",\"interval_ms\":1.5,\"valid_ms\":1,"
        "\"published_at\":1}",
        "{\"ticker\":\"A\",\"source\":\"sim\",\"interval_ms\":1,\"valid_ms\":999999999999,"
        "\"published_at\":1}",
        "{\"ticker\":\"a b\",\"source\":\"sim\",\"interval_ms\":1,\"valid_ms\":1,"
        "\"published_at\":1}",
        "[]",
    };

    (void)state;
    n = asset_msg_encode(&a, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(asset_msg_decode(buf, (size_t)n, &b, err, sizeof(err)), 0);
    assert_string_equal(b.ticker, "NG=F");
    assert_string_equal(b.display_name, "Natural Gas");
    assert_string_equal(b.source, "yahoo");
    assert_int_equal(b.interval_ms, 1000);
    assert_int_equal(b.valid_ms, 300000);
    assert_true(b.published_at == 1700000000.5);
    {
        static const char min[] = "{\"ticker\":\"ZZB\",\"source\":\"replay\",\"interval_ms\":"
                                  "500,\"valid_ms\":1000,\"published_at\":2}";
        assert_int_equal(asset_msg_decode(min, sizeof(min) - 1, &b, err, sizeof(err)), 0);
        assert_string_equal(b.company, "ZZB");
        assert_string_equal(b.display_name, "ZZB");
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(asset_msg_decode(bad[i], strlen(bad[i]), &b, err, sizeof(err)), -1);
    a.interval_ms = 0;
    assert_int_equal(asset_msg_encode(&a, buf, sizeof(buf)), -1);
    a.interval_ms = 1;
    snprintf(a.source, sizeof(a.source), "web");
    assert_int_equal(asset_msg_encode(&a, buf, sizeof(buf)), -1);
}

static void test_alert_round_trip(void **state)
{
    struct alert_msg in = sample_alert();
    struct alert_msg out;
    char json[MSG_MAX_BYTES];
    int n;
    (void)state;
    assert_string_equal(in.message, "BTC-USD is above $70,000.00 (Current: $70,000.50)");
    n = alert_msg_encode(&in, json, sizeof(json));
    assert_true(n > 0);
    assert_int_equal(alert_msg_decode(json, (size_t)n, &out, err, sizeof(err)), 0);
    assert_string_equal(out.alert_id, in.alert_id);
    assert_string_equal(out.user_id, in.user_id);
    assert_string_equal(out.ticker, in.ticker);
    assert_true(out.price == in.price);
    assert_true(out.threshold == in.threshold);
    assert_int_equal(out.type, ALERT_ABOVE);
    assert_true(out.timestamp == in.timestamp);
    assert_string_equal(out.message, in.message);
    assert_string_equal(out.event_id, "1764087000500-2");
    assert_string_equal(out.prev_event_id, "1764087000500-1");
    assert_int_equal(out.seq, 0);
    assert_null(strstr(json, "\"seq\""));
    /* a message of the version before: a store-wide seq, no position */
    in.event_id[0] = in.prev_event_id[0] = '\0';
    in.seq = 12345;
    n = alert_msg_encode(&in, json, sizeof(json));
    assert_true(n > 0);
    assert_int_equal(alert_msg_decode(json, (size_t)n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.seq, 12345);
    assert_string_equal(out.event_id, "");
    assert_null(strstr(json, "event_id"));
    /* positions are kept in canonical form */
    n = snprintf(json, sizeof(json),
                 "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
                 "\"threshold\":1,\"type\":\"above\",\"timestamp\":1,"
                 "\"event_id\":\"0017-0003\",\"prev_event_id\":\"0-0\"}");
    assert_int_equal(alert_msg_decode(json, (size_t)n, &out, err, sizeof(err)), 0);
    assert_string_equal(out.event_id, "17-3");
    assert_string_equal(out.prev_event_id, "0-0");
}

/* Each of the n alert messages is refused by the decoder. */
static void alerts_refused(const char *const *bad, size_t n)
{
    struct alert_msg m;

    for (size_t i = 0; i < n; i++) {
        if (alert_msg_decode(bad[i], strlen(bad[i]), &m, err, sizeof(err)) != -1)
            fail_msg("accepted: %s", bad[i]);
    }
}

/* Encodes in into json (MSG_MAX_BYTES) and decodes it into out; both must
 * succeed. */
static void alert_round_trip(const struct alert_msg *in, char *json, struct alert_msg *out)
{
    int n = alert_msg_encode(in, json, MSG_MAX_BYTES);

    assert_true(n > 0);
    assert_int_equal(alert_msg_decode(json, (size_t)n, out, err, sizeof(err)), 0);
}

/* An alert with a note, and one that expired unfired (no price): both
 * round-trip; a fired alert without a note has no new field. */
static void test_alert_note_and_expired(void **state)
{
    struct alert_msg in = sample_alert(), out;
    char json[MSG_MAX_BYTES];
    int n;
    (void)state;

    n = alert_msg_encode(&in, json, sizeof(json));
    assert_true(n > 0);
    assert_null(strstr(json, "\"note\""));
    assert_null(strstr(json, "\"status\""));
    snprintf(in.note, sizeof(in.note), "<b>buy</b> \xe2\x82\xac");
    alert_round_trip(&in, json, &out);
    assert_string_equal(out.note, in.note);
    assert_int_equal(out.expired, 0);
    in.expired = 1;
    in.expires_at = 1764087000;
    n = alert_msg_encode(&in, json, sizeof(json));
    assert_true(n > 0);
    assert_null(strstr(json, "\"price\""));
    assert_int_equal(alert_msg_decode(json, (size_t)n, &out, err, sizeof(err)), 0);
    assert_int_equal(out.expired, 1);
    assert_int_equal(out.expires_at, 1764087000);
    assert_true(out.price == 0);
    /* refused: another status, an expired one without its expiry, a fired
     * one without a price, a control character in the note */
    const char *bad[] = {
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"above\",\"timestamp\":1,\"status\":\"late\"}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"threshold\":1,"
        "\"type\":\"above\",\"timestamp\":1,\"status\":\"expired\"}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"threshold\":1,"
        "\"type\":\"above\",\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"above\",\"timestamp\":1,\"note\":\"a\\u0007\"}",
    };
    alerts_refused(bad, sizeof(bad) / sizeof(bad[0]));
}

/* Which condition fired: a crosses alert's direction, a percent alert's
 * percent and reference price (and window) round-trip; each is required
 * with its type; an above alert carries none of them. */
static void test_alert_conditions(void **state)
{
    struct alert_msg in = sample_alert(), out;
    char json[MSG_MAX_BYTES];
    int n;
    (void)state;

    n = alert_msg_encode(&in, json, sizeof(json));
    assert_true(n > 0);
    assert_null(strstr(json, "direction"));
    assert_null(strstr(json, "percent"));
    in.type = ALERT_CROSSES;
    in.direction = ALERT_DIR_DOWN;
    alert_round_trip(&in, json, &out);
    assert_int_equal(out.type, ALERT_CROSSES);
    assert_int_equal(out.direction, ALERT_DIR_DOWN);
    in.direction = ALERT_DIR_NONE;
    assert_int_equal(alert_msg_encode(&in, json, sizeof(json)), -1);
    in.type = ALERT_PERCENT_DOWN;
    in.percent = 2.5;
    in.reference_price = 71000.25;
    alert_round_trip(&in, json, &out);
    assert_int_equal(out.type, ALERT_PERCENT_DOWN);
    assert_true(out.percent == 2.5);
    assert_true(out.reference_price == 71000.25);
    assert_int_equal(out.window_s, 0);
    assert_null(strstr(json, "window_s"));
    /* a rolling window: window_s round-trips; an expired one has no
     * reference (it never fired against a low or high) */
    in.window_s = 3600;
    alert_round_trip(&in, json, &out);
    assert_non_null(strstr(json, "\"window_s\":3600"));
    assert_int_equal(out.window_s, 3600);
    assert_true(out.reference_price == 71000.25);
    in.expired = 1, in.expires_at = 1700000000, in.price = 0;
    alert_round_trip(&in, json, &out);
    assert_null(strstr(json, "reference_price"));
    assert_int_equal(out.window_s, 3600);
    assert_int_equal(out.expired, 1);
    in.expired = 0, in.expires_at = 0, in.window_s = 0;
    const char *bad[] = {
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"crosses\",\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"crosses\",\"direction\":\"sideways\",\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"percent_up\",\"percent\":5,\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"percent_up\",\"percent\":-5,\"reference_price\":1,\"timestamp\":1}",
        /* a fired window alert names its low / high; a window is 60..86400 s */
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"percent_up\",\"percent\":5,\"window_s\":300,\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"percent_up\",\"percent\":5,\"window_s\":59,\"reference_price\":1,"
        "\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"percent_up\",\"percent\":5,\"window_s\":\"300\",\"reference_price\":1,"
        "\"timestamp\":1}",
    };
    alerts_refused(bad, sizeof(bad) / sizeof(bad[0]));
}

/* A repeating alert's firing round-trips ("repeat":"every","cooldown_s",
 * "firing"), keys its deliveries by alert id and firing, and is refused
 * without either number; a one-shot alert has none and keys by its id. */
static void test_alert_repeat_firing(void **state)
{
    struct alert_msg in = sample_alert(), out;
    char json[MSG_MAX_BYTES], key[MSG_DELIVERY_KEY_MAX];
    int n;
    (void)state;

    n = alert_msg_encode(&in, json, sizeof(json));
    assert_true(n > 0);
    assert_null(strstr(json, "repeat"));
    alert_msg_delivery_key(&in, key);
    assert_string_equal(key, in.alert_id);
    assert_true(msg_delivery_key_valid(key));
    in.cooldown_s = 300;
    in.firing = 7;
    alert_round_trip(&in, json, &out);
    assert_non_null(strstr(json, "\"repeat\":\"every\""));
    assert_int_equal(out.cooldown_s, 300);
    assert_int_equal(out.firing, 7);
    alert_msg_delivery_key(&out, key);
    assert_string_equal(key, "0b9f7c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b.7");
    assert_true(msg_delivery_key_valid(key));
    assert_false(msg_delivery_key_valid("a1-b2.07"));
    assert_false(msg_delivery_key_valid("a1-b2."));
    assert_false(msg_delivery_key_valid("a1 b2"));
    const char *bad[] = {
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"above\",\"timestamp\":1,\"repeat\":\"every\",\"cooldown_s\":60}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"above\",\"timestamp\":1,\"repeat\":\"every\",\"firing\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"above\",\"timestamp\":1,\"repeat\":\"every\",\"cooldown_s\":60,\"firing\":0}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"T\",\"price\":1,\"threshold\":1,"
        "\"type\":\"above\",\"timestamp\":1,\"repeat\":\"sometimes\"}",
    };
    alerts_refused(bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_alert_rejects_bad_input(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":1,\"type\":\"sideways\",\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":\"1\",\"type\":\"above\",\"timestamp\":1}",
        "{\"alert_id\":\"a b\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":1,\"type\":\"above\",\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":1,\"type\":\"above\",\"timestamp\":1,\"seq\":-4}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":1,\"type\":\"above\",\"timestamp\":1,\"event_id\":\"17\"}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":1,\"type\":\"above\",\"timestamp\":1,\"event_id\":5}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":1,\"type\":\"above\",\"timestamp\":1,\"prev_event_id\":\"1-x\"}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":-1,"
        "\"threshold\":1,\"type\":\"above\",\"timestamp\":1}",
        "{\"alert_id\":\"a\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":1,\"type\":\"above\"}",
        "{\"alert_id\":\"a\\u0000b\",\"user_id\":\"u\",\"ticker\":\"AAPL\",\"price\":1,"
        "\"threshold\":1,\"type\":\"above\",\"timestamp\":1}",
        "\xff\xfe garbage",
        NULL};
    struct alert_msg m;
    (void)state;
    for (int i = 0; bad[i] != NULL; i++)
        assert_int_equal(alert_msg_decode(bad[i], strlen(bad[i]), &m, err, sizeof(err)), -1);
}

static void test_alert_type_and_validators(void **state)
{
    enum alert_type t;
    (void)state;
    assert_int_equal(alert_type_parse("below", &t), 0);
    assert_int_equal(t, ALERT_BELOW);
    assert_int_equal(alert_type_parse("Above", &t), -1);
    assert_true(msg_ticker_valid("GC=F"));
    assert_true(msg_ticker_valid("^GSPC"));
    assert_false(msg_ticker_valid(""));
    assert_false(msg_ticker_valid("aapl"));
    assert_false(msg_ticker_valid("AAAAAAAAAABBBBBBBBBBCCCCCCCCCCDD")); /* 32 chars */
    assert_true(msg_id_valid("abc-DEF_123"));
    assert_false(msg_id_valid("a/b"));
    assert_false(msg_id_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_price_round_trip),
        cmocka_unit_test(test_price_previous_close_and_decimals),
        cmocka_unit_test(test_price_original_shape_and_defaults),
        cmocka_unit_test(test_price_rejects_bad_input),
        cmocka_unit_test(test_price_rejects_oversized_and_deep),
        cmocka_unit_test(test_price_encode_refuses_bad_values),
        cmocka_unit_test(test_asset_record),
        cmocka_unit_test(test_alert_round_trip),
        cmocka_unit_test(test_alert_note_and_expired),
        cmocka_unit_test(test_alert_conditions),
        cmocka_unit_test(test_alert_repeat_firing),
        cmocka_unit_test(test_alert_rejects_bad_input),
        cmocka_unit_test(test_alert_type_and_validators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
