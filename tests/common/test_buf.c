/* Unit tests for common/buf: growth, the size cap, and freeing on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void test_append_and_printf(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b, 1024);
    assert_int_equal(buf_puts(&b, "hello"), 0);
    assert_int_equal(buf_printf(&b, " %d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "hello 42-x");
    assert_int_equal(b.len, 10);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void test_cap_is_enforced_and_frees(void **state)
{
    struct buf b;
    char big[600];
    (void)state;
    memset(big, 'a', sizeof(big));
    buf_init(&b, 1000);
    assert_int_equal(buf_append(&b, big, sizeof(big)), 0);
    assert_int_equal(buf_append(&b, big, 400), 0); /* exactly at the cap */
    assert_int_equal(b.len, 1000);
    assert_int_equal(buf_append(&b, "x", 1), -1);
    assert_null(b.data); /* a failed append frees */
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_printf(&b, "%0*d", 1001, 0), -1);
    assert_null(b.data);
    buf_free(&b);
}

static void test_hex(void **state)
{
    const unsigned char in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[2 * sizeof(in) + 1];
    (void)state;

    memset(out, 'x', sizeof(out));
    buf_hex(in, sizeof(in), out);
    assert_string_equal(out, "000fa5ff");
    buf_hex(in, 0, out);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_printf),
        cmocka_unit_test(test_cap_is_enforced_and_frees),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
