/* Unit tests for yahoo_parse_chart: the answers Yahoo gives (and breaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "yahoo_parse.h"

#define META_HEAD "{\"chart\":{\"result\":[{\"meta\":{\"currency\":\"USD\",\"symbol\":\"AAPL\","
#define META_TAIL "},\"timestamp\":[1700000000],\"indicators\":{\"quote\":[{}]}}],\"error\":null}}"

static enum yahoo_parse_status parse(const char *body, struct yahoo_quote *q, char *err)
{
    return yahoo_parse_chart(body, strlen(body), q, err, YAHOO_ERR_MAX);
}

static void test_normal_answer(void **state)
{
    const char *body = META_HEAD "\"shortName\":\"Apple Inc.\",\"regularMarketPrice\":178.52,"
                                 "\"regularMarketTime\":1700000123" META_TAIL;
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];
    (void)state;
    assert_int_equal(parse(body, &q, err), YAHOO_PARSE_OK);
    assert_true(q.price == 178.52);
    assert_true(q.market_time == 1700000123.0);
    assert_string_equal(q.short_name, "Apple Inc.");
    assert_string_equal(q.symbol, "AAPL");
}

/* chartPreviousClose (or previousClose) is the previous close; odd values
 * of it are ignored, never a failed quote. */
static void test_previous_close(void **state)
{
    static const struct {
        const char *fields;
        double want;
    } cases[] = {
        {"\"chartPreviousClose\":2.7965,\"previousClose\":2.5", 2.7965},
        {"\"previousClose\":2.5", 2.5},
        {"\"chartPreviousClose\":null,\"previousClose\":2.5", 2.5},
        {"\"chartPreviousClose\":-1", 0},
        {"\"chartPreviousClose\":0", 0},
        {"\"chartPreviousClose\":\"2.7\"", 0},
        {"\"chartPreviousClose\":{}", 0},
        {"\"currency\":\"USD\"", 0},
    };
    char body[512], err[YAHOO_ERR_MAX];
    struct yahoo_quote q;
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), META_HEAD "\"regularMarketPrice\":2.8,%s" META_TAIL,
                 cases[i].fields);
        assert_int_equal(parse(body, &q, err), YAHOO_PARSE_OK);
        assert_true(q.price == 2.8);
        assert_true(q.previous_close == cases[i].want);
    }
}

/* A closed market answers with the same shape: last price, old market time. */
static void test_market_closed_is_a_price(void **state)
{
    const char *body =
        META_HEAD "\"regularMarketPrice\":190,\"regularMarketTime\":1600000000,"
                  "\"currentTradingPeriod\":{\"regular\":{\"end\":1600000000}}" META_TAIL;
    struct yahoo_quote q, q2;
    char err[YAHOO_ERR_MAX];
    (void)state;
    assert_int_equal(parse(body, &q, err), YAHOO_PARSE_OK);
    assert_int_equal(parse(body, &q2, err), YAHOO_PARSE_OK);
    assert_true(q.price == 190.0 && q2.price == q.price);
    assert_string_equal(q.short_name, ""); /* absent name: empty, caller falls back */
}

static void test_missing_meta(void **state)
{
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];
    (void)state;
    assert_int_equal(parse("{\"chart\":{\"result\":[{}],\"error\":null}}", &q, err),
                     YAHOO_PARSE_SHAPE);
    assert_int_equal(parse("{\"chart\":{\"result\":[],\"error\":null}}", &q, err),
                     YAHOO_PARSE_SHAPE);
    assert_int_equal(parse("{\"chart\":{\"result\":null,\"error\":null}}", &q, err),
                     YAHOO_PARSE_SHAPE);
    assert_int_equal(parse("{\"chart\":[]}", &q, err), YAHOO_PARSE_SHAPE);
    assert_int_equal(parse("{}", &q, err), YAHOO_PARSE_SHAPE);
    assert_int_equal(parse("[1,2]", &q, err), YAHOO_PARSE_SHAPE);
    assert_int_equal(parse("{\"chart\":{\"result\":[{\"meta\":\"x\"}]}}", &q, err),
                     YAHOO_PARSE_SHAPE);
    assert_true(q.price == 0);
}

static void test_bad_prices(void **state)
{
    static const char *const bad[] = {
        META_HEAD "\"regularMarketPrice\":null" META_TAIL,
        META_HEAD "\"regularMarketPrice\":-5.5" META_TAIL,
        META_HEAD "\"regularMarketPrice\":0" META_TAIL,
        META_HEAD "\"regularMarketPrice\":\"178.52\"" META_TAIL,
        META_HEAD "\"regularMarketPrice\":true" META_TAIL,
        META_HEAD "\"regularMarketPrice\":{}" META_TAIL,
        META_HEAD "\"regularMarketTime\":1700000000" META_TAIL, /* missing */
        META_HEAD "\"regularMarketPrice\":1e-400" META_TAIL,    /* underflows to 0 */
    };
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(parse(bad[i], &q, err), YAHOO_PARSE_PRICE);
        assert_true(q.price == 0);
        assert_true(err[0] != '\0');
    }
}

static void test_infinite_price_is_not_json(void **state)
{
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];
    (void)state;
    /* JSON has no NaN/Infinity; an overflowing literal is refused outright. */
    assert_int_equal(parse(META_HEAD "\"regularMarketPrice\":1e999" META_TAIL, &q, err),
                     YAHOO_PARSE_JSON);
    assert_int_equal(parse(META_HEAD "\"regularMarketPrice\":NaN" META_TAIL, &q, err),
                     YAHOO_PARSE_JSON);
    assert_true(q.price == 0);
}

static void test_bad_market_time(void **state)
{
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];
    (void)state;
    assert_int_equal(
        parse(META_HEAD "\"regularMarketPrice\":5,\"regularMarketTime\":\"x\"" META_TAIL, &q, err),
        YAHOO_PARSE_SHAPE);
    assert_int_equal(
        parse(META_HEAD "\"regularMarketPrice\":5,\"regularMarketTime\":null" META_TAIL, &q, err),
        YAHOO_PARSE_OK);
    assert_true(q.market_time == 0);
}

static void test_chart_error(void **state)
{
    const char *body = "{\"chart\":{\"result\":null,\"error\":{\"code\":\"Not Found\","
                       "\"description\":\"No data found, symbol may be delisted\"}}}";
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];
    (void)state;
    assert_int_equal(parse(body, &q, err), YAHOO_PARSE_CHART_ERROR);
    assert_non_null(strstr(err, "Not Found"));
    /* An error next to a result still means no price. */
    assert_int_equal(parse(META_HEAD "\"regularMarketPrice\":5},\"x\":[1]}],"
                                     "\"error\":{\"code\":\"x\"}}}",
                           &q, err),
                     YAHOO_PARSE_CHART_ERROR);
    assert_int_equal(parse("{\"chart\":{\"error\":\"boom\"}}", &q, err), YAHOO_PARSE_CHART_ERROR);
}

static void test_truncated_json(void **state)
{
    const char *body = META_HEAD "\"regularMarketPrice\":178.52,\"regularMarketTime\":17" META_TAIL;
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];
    size_t len = strlen(body);
    (void)state;
    /* Every prefix of a good answer is refused, never read past. */
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n + 1);
        assert_non_null(copy);
        memcpy(copy, body, n);
        enum yahoo_parse_status st = yahoo_parse_chart(copy, n, &q, err, sizeof(err));
        assert_int_equal(st, YAHOO_PARSE_JSON);
        assert_true(q.price == 0);
        free(copy);
    }
    assert_int_equal(yahoo_parse_chart(body, len, &q, err, sizeof(err)), YAHOO_PARSE_OK);
    assert_int_equal(yahoo_parse_chart(NULL, 0, &q, err, sizeof(err)), YAHOO_PARSE_JSON);
}

static void test_oversized_and_odd_strings(void **state)
{
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];
    char name[400];
    char *body = malloc(1024);
    (void)state;
    memset(name, 'N', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_non_null(body);
    snprintf(body, 1024, META_HEAD "\"regularMarketPrice\":3,\"shortName\":\"%s\"" META_TAIL, name);
    assert_int_equal(parse(body, &q, err), YAHOO_PARSE_OK);
    assert_string_equal(q.short_name, ""); /* too long for a company: dropped */
    /* jansson refuses \u0000 in strings: the whole answer is unusable. */
    assert_int_equal(
        parse(META_HEAD "\"regularMarketPrice\":3,\"shortName\":\"a\\u0000b\"" META_TAIL, &q, err),
        YAHOO_PARSE_JSON);
    free(body);
    /* Over the size cap: refused without parsing. */
    assert_int_equal(yahoo_parse_chart("{}", (size_t)YAHOO_BODY_MAX + 1, &q, err, sizeof(err)),
                     YAHOO_PARSE_JSON);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_answer),
        cmocka_unit_test(test_previous_close),
        cmocka_unit_test(test_market_closed_is_a_price),
        cmocka_unit_test(test_missing_meta),
        cmocka_unit_test(test_bad_prices),
        cmocka_unit_test(test_infinite_price_is_not_json),
        cmocka_unit_test(test_bad_market_time),
        cmocka_unit_test(test_chart_error),
        cmocka_unit_test(test_truncated_json),
        cmocka_unit_test(test_oversized_and_odd_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
