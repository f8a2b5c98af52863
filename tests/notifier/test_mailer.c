/* Unit tests for the mails the notifier composes (notifier/mailer.c): the
 * headers are exactly the fixed ones, whatever the subject and body hold
 * (no header injection, no bare LF, no line over 998 bytes). Sending is
 * tested against a real SMTP server by tests/e2e/mail.py, never a mock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mailer.h"

/* The header names of mail (up to the empty line), one per line start. */
static int header_count(const char *mail, const char *name)
{
    const char *end = strstr(mail, "\r\n\r\n");
    size_t n = strlen(name);
    int count = 0;

    assert_non_null(end);
    for (const char *l = mail; l < end; l = strstr(l, "\r\n") + 2) {
        if (strncmp(l, name, n) == 0)
            count++;
    }
    return count;
}

static void assert_well_formed(const char *mail)
{
    const char *l = mail;

    while (*l != '\0') {
        const char *e = strstr(l, "\r\n");

        assert_non_null(e); /* every line ends in CRLF */
        assert_null(memchr(l, '\n', (size_t)(e - l)));
        assert_null(memchr(l, '\r', (size_t)(e - l)));
        assert_true(e - l <= 998);
        l = e + 2;
    }
}

static void test_subject_cannot_add_headers(void **state)
{
    struct buf b;
    const char *subj = "AAPL above\r\nBcc: stranger@x.example\r\n\r\nbody";

    (void)state;
    buf_init(&b, MAILER_MSG_MAX);
    assert_int_equal(mailer_compose(&b, "alerts@s.example", "me@b.example", "alert.abc-1", subj,
                                    "X-Stock-Alerts-Alert-Id: abc-1\r\n", "line one\nline two"),
                     0);
    assert_well_formed(b.data);
    assert_int_equal(header_count(b.data, "Bcc:"), 0);
    assert_int_equal(header_count(b.data, "Subject: AAPL above  Bcc: stranger@x.example    body"),
                     1);
    assert_int_equal(header_count(b.data, "To: <me@b.example>"), 1);
    assert_int_equal(header_count(b.data, "From: <alerts@s.example>"), 1);
    assert_int_equal(header_count(b.data, "Message-ID: <alert.abc-1@s.example>"), 1);
    assert_int_equal(header_count(b.data, "X-Stock-Alerts-Alert-Id: abc-1"), 1);
    assert_int_equal(header_count(b.data, "Content-Type: text/plain; charset=UTF-8"), 1);
    assert_non_null(strstr(b.data, "\r\n\r\nline one\r\nline two\r\n"));
    buf_free(&b);
}

static void test_unicode_subject_and_long_body(void **state)
{
    struct buf b;
    char body[3000];

    (void)state;
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    buf_init(&b, MAILER_MSG_MAX);
    assert_int_equal(mailer_compose(&b, "a@s.example", "me@b.example", "c.1",
                                    "Stock alert: caf\xc3\xa9 \xe2\x82\xac\r\nBcc: x@y.example",
                                    NULL, body),
                     0);
    assert_well_formed(b.data);
    assert_int_equal(header_count(b.data, "Bcc:"), 0);
    assert_int_equal(header_count(b.data, "Subject: =?UTF-8?B?"), 1);
    buf_free(&b);
}

static void test_size_cap(void **state)
{
    struct buf b;
    static char body[MAILER_MSG_MAX + 10];

    (void)state;
    memset(body, 'y', sizeof(body) - 1);
    buf_init(&b, MAILER_MSG_MAX);
    assert_int_equal(mailer_compose(&b, "a@s.example", "me@b.example", "c.1", "s", NULL, body), -1);
    assert_null(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_cannot_add_headers),
        cmocka_unit_test(test_unicode_subject_and_long_body),
        cmocka_unit_test(test_size_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
