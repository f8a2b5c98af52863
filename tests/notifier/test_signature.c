/* Unit: the webhook signature is "sha256=" + hex HMAC-SHA256(secret,
 * timestamp "." body) — the recipe docs/notifier.md gives receivers (the
 * expected values were computed with Python's hmac module). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "signature.h"

static void test_signature_matches_documented_recipe(void **state)
{
    const char *body = "{\"alert_id\":\"a1\"}";
    char sig[SIGNATURE_MAX];

    (void)state;
    assert_int_equal(
        signature_compute("topsecret", 9, "1700000000", body, strlen(body), sig, sizeof(sig)), 0);
    assert_string_equal(sig,
                        "sha256=070c506380fdb2086ff5a8991c8e390644a5ffde9dd9cf309dda5a9d3b1b837b");
}

static void test_signature_changes_with_secret_timestamp_and_body(void **state)
{
    const char *body = "{\"alert_id\":\"a1\"}";
    char good[SIGNATURE_MAX], other[SIGNATURE_MAX];

    (void)state;
    assert_int_equal(
        signature_compute("topsecret", 9, "1700000000", body, strlen(body), good, sizeof(good)), 0);
    assert_int_equal(
        signature_compute("topsecreT", 9, "1700000000", body, strlen(body), other, sizeof(other)),
        0);
    assert_string_not_equal(good, other);
    assert_int_equal(
        signature_compute("topsecret", 9, "1700000001", body, strlen(body), other, sizeof(other)),
        0);
    assert_string_not_equal(good, other);
    assert_int_equal(signature_compute("topsecret", 9, "1700000000", body, strlen(body) - 1, other,
                                       sizeof(other)),
                     0);
    assert_string_not_equal(good, other);
}

static void test_signature_empty_inputs(void **state)
{
    char sig[SIGNATURE_MAX];

    (void)state;
    assert_int_equal(signature_compute("", 0, "0", "", 0, sig, sizeof(sig)), 0);
    assert_string_equal(sig,
                        "sha256=b849d5a581847b281957065739df36df2463d1977ea8d6e1e4e6cf33fadc68c3");
}

static void test_signature_rejects_small_buffer(void **state)
{
    char sig[SIGNATURE_MAX - 1];

    (void)state;
    assert_int_equal(signature_compute("k", 1, "1", "{}", 2, sig, sizeof(sig)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_matches_documented_recipe),
        cmocka_unit_test(test_signature_changes_with_secret_timestamp_and_body),
        cmocka_unit_test(test_signature_empty_inputs),
        cmocka_unit_test(test_signature_rejects_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
