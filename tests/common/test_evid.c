/* Unit: history positions (evid) — strict parsing of resume tokens (the
 * Last-Event-ID a client sends), their order, the legacy numbers of the
 * version before, and the event_id a history entry is given when sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alert_history.h"
#include "evid.h"

static void test_parse_and_format(void **state)
{
    struct evid id;
    char out[EVID_TEXT_MAX];

    (void)state;
    assert_int_equal(evid_parse("1764087000123-0", &id), 0);
    assert_true(id.ms == 1764087000123ULL && id.seq == 0);
    assert_string_equal(evid_format(&id, out), "1764087000123-0");
    assert_int_equal(evid_parse("18446744073709551615-18446744073709551615", &id), 0);
    assert_true(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
    assert_string_equal(evid_format(&id, out), "18446744073709551615-18446744073709551615");
    /* a legacy seq of the version before is 0-N */
    assert_int_equal(evid_parse("42", &id), 0);
    assert_true(id.ms == 0 && id.seq == 42);
    assert_int_equal(evid_parse("000000000000000001", &id), 0); /* 18 digits */
    assert_true(id.ms == 0 && id.seq == 1);
}

static void test_parse_refuses(void **state)
{
    static const char *const bad[] = {
        "",
        "-",
        "1-",
        "-1",
        "1--1",
        "1-2-3",
        "a",
        "1-a",
        " 1-2",
        "1-2 ",
        "+1-2",
        "0x10",
        "18446744073709551616-0",
        "0-18446744073709551616",
        "123456789012345678901",
        "1.5",
        "1-2\n",
    };
    struct evid id = {7, 7};
    char longest[EVID_INPUT_MAX + 2];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(evid_parse(bad[i], &id), -1);
        assert_true(id.ms == 7 && id.seq == 7); /* untouched */
    }
    assert_int_equal(evid_parse(NULL, &id), -1);
    memset(longest, '1', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    assert_int_equal(evid_parse(longest, &id), -1); /* 65 characters */
}

static void test_order(void **state)
{
    struct evid a, b;

    (void)state;
    evid_parse("5-9", &a);
    evid_parse("6-0", &b);
    assert_true(evid_cmp(&a, &b) < 0 && evid_cmp(&b, &a) > 0);
    evid_parse("6-1", &a);
    assert_true(evid_cmp(&a, &b) > 0);
    evid_parse("6-0", &a);
    assert_int_equal(evid_cmp(&a, &b), 0);
    /* every legacy number comes before every position of this version */
    evid_parse("99999999999999999", &a);
    evid_parse("1-0", &b);
    assert_true(evid_cmp(&a, &b) < 0);
}

static void test_event_json(void **state)
{
    struct evid pos = {1764087000123ULL, 4};
    char out[128];

    (void)state;
    assert_int_equal(alert_history_event_json("{\"a\":1}", 7, &pos, out, sizeof(out)),
                     (int)strlen("{\"a\":1,\"event_id\":\"1764087000123-4\"}"));
    assert_string_equal(out, "{\"a\":1,\"event_id\":\"1764087000123-4\"}");
    assert_int_equal(alert_history_event_json("{}", 2, &pos, out, sizeof(out)),
                     (int)strlen("{\"event_id\":\"1764087000123-4\"}"));
    assert_string_equal(out, "{\"event_id\":\"1764087000123-4\"}");
    /* not an object, or no room: refused */
    assert_int_equal(alert_history_event_json("[1]", 3, &pos, out, sizeof(out)), -1);
    assert_int_equal(alert_history_event_json("{", 1, &pos, out, sizeof(out)), -1);
    assert_int_equal(alert_history_event_json("{\"a\":1}", 7, &pos, out, 20), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_event_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
