/* Unit tests for common/email: which addresses pass, and that no text,
 * whatever it holds, can end a mail header or smuggle one in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "email.h"

static int addr_ok(const char *a)
{
    char err[128] = "";

    return email_addr_check(a, strlen(a), err, sizeof(err)) == 0;
}

static void test_addresses_accepted(void **state)
{
    (void)state;
    assert_true(addr_ok("a@b.example"));
    assert_true(addr_ok("first.last+tag@mail.example.org"));
    assert_true(addr_ok("o'brien_99@x-y.example"));
    assert_true(addr_ok("A.B-C@EXAMPLE.COM"));
}

static void test_addresses_refused(void **state)
{
    char err[128] = "";
    char long_local[80];
    char long_addr[300];

    (void)state;
    assert_false(addr_ok(""));
    assert_false(addr_ok("plain"));
    assert_false(addr_ok("@b.example"));
    assert_false(addr_ok("a@"));
    assert_false(addr_ok("a@b")); /* no dot in the domain */
    assert_false(addr_ok("a@@b.example"));
    assert_false(addr_ok("a@b@c.example"));
    assert_false(addr_ok(".a@b.example"));
    assert_false(addr_ok("a.@b.example"));
    assert_false(addr_ok("a..b@b.example"));
    assert_false(addr_ok("a@b..example"));
    assert_false(addr_ok("a@-b.example"));
    assert_false(addr_ok("a@b-.example"));
    assert_false(addr_ok("a@[127.0.0.1]"));
    assert_false(addr_ok("\"a b\"@b.example"));
    assert_false(addr_ok("a b@b.example"));
    assert_false(addr_ok("a@b.example\r\nBcc: x@y.example")); /* header injection */
    assert_false(addr_ok("a@b.example\nRCPT TO:<x@y.example>"));
    assert_false(addr_ok("<a@b.example>"));
    assert_false(addr_ok("a,c@b.example"));
    assert_false(addr_ok("\xc3\xa9@b.example")); /* no SMTPUTF8 */
    assert_int_equal(email_addr_check("a\0b@c.example", 13, err, sizeof(err)), -1);
    memset(long_local, 'a', 65);
    memcpy(long_local + 65, "@b.example", 11);
    assert_false(addr_ok(long_local));
    assert_string_equal(err, "a character not allowed before @");
    email_addr_check(long_local, strlen(long_local), err, sizeof(err));
    assert_string_equal(err, "the part before @ is over 64 characters");
    memset(long_addr, 'b', sizeof(long_addr));
    memcpy(long_addr, "a@", 2);
    memcpy(long_addr + 250, ".example", 9); /* 258 characters */
    assert_false(addr_ok(long_addr));
}

static const char *header(const char *in, size_t len, struct buf *b)
{
    buf_init(b, 4096);
    assert_int_equal(email_header_append(b, in, len), 0);
    return b->data != NULL ? b->data : "";
}

static void test_header_ascii_controls_become_spaces(void **state)
{
    struct buf b;
    const char in[] = "AAPL above 100\r\nBcc: victim@x.example\tend\x7f";

    (void)state;
    assert_string_equal(header(in, sizeof(in) - 1, &b),
                        "AAPL above 100  Bcc: victim@x.example end ");
    assert_null(strchr(b.data, '\r'));
    assert_null(strchr(b.data, '\n'));
    buf_free(&b);
}

/* Every byte between the encoded words' own folds is base64 or the word's
 * frame: no raw CR/LF from the input, no line over 78 characters. */
static void test_header_unicode_encoded_words(void **state)
{
    struct buf b;
    const char in[] = "caf\xc3\xa9 \xe2\x82\xac 100\r\nBcc: x@y.example";
    const char *line;

    (void)state;
    header(in, sizeof(in) - 1, &b);
    assert_non_null(strstr(b.data, "=?UTF-8?B?"));
    assert_null(strstr(b.data, "Bcc:"));
    /* "café € 100  Bcc: x@y.example" in one word (30 bytes) */
    assert_string_equal(b.data, "=?UTF-8?B?Y2Fmw6kg4oKsIDEwMCAgQmNjOiB4QHkuZXhhbXBsZQ==?=");
    buf_free(&b);

    {
        char lng[400];
        size_t n = 0;

        while (n + 2 <= 300) {
            lng[n++] = '\xc3';
            lng[n++] = '\xa9';
        }
        header(lng, n, &b);
        for (line = b.data; line != NULL;) {
            const char *e = strstr(line, "\r\n");
            size_t ll = e != NULL ? (size_t)(e - line) : strlen(line);

            assert_true(ll <= 78);
            assert_true(ll > 0);
            line = e != NULL ? e + 2 : NULL;
            if (line != NULL)
                assert_int_equal(line[0], ' '); /* folded, never a new header */
        }
        buf_free(&b);
    }
}

static void test_header_invalid_utf8_replaced(void **state)
{
    struct buf b;
    const char in[] = "a\xff\xc3"; /* a stray byte and a cut sequence */

    (void)state;
    /* "a??" */
    assert_string_equal(header(in, sizeof(in) - 1, &b), "=?UTF-8?B?YT8/?=");
    buf_free(&b);
}

static void test_header_cap_fails_and_frees(void **state)
{
    struct buf b;
    char big[200];

    (void)state;
    memset(big, 'x', sizeof(big));
    buf_init(&b, 100);
    assert_int_equal(email_header_append(&b, big, sizeof(big)), -1);
    assert_null(b.data);
    buf_free(&b);
}

static void test_body_line_endings_and_controls(void **state)
{
    struct buf b;
    const char in[] = "one\ntwo\r\nthree\rfour\x01\tend";
    char lng[2100];

    (void)state;
    buf_init(&b, 8192);
    assert_int_equal(email_body_append(&b, in, sizeof(in) - 1), 0);
    assert_string_equal(b.data, "one\r\ntwo\r\nthree\r\nfour \tend");
    buf_reset(&b);
    memset(lng, 'y', sizeof(lng));
    assert_int_equal(email_body_append(&b, lng, sizeof(lng)), 0);
    assert_int_equal(b.len, sizeof(lng) + 4); /* broken twice */
    assert_int_equal(b.data[998], '\r');
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses_accepted),
        cmocka_unit_test(test_addresses_refused),
        cmocka_unit_test(test_header_ascii_controls_become_spaces),
        cmocka_unit_test(test_header_unicode_encoded_words),
        cmocka_unit_test(test_header_invalid_utf8_replaced),
        cmocka_unit_test(test_header_cap_fails_and_frees),
        cmocka_unit_test(test_body_line_endings_and_controls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
