/* Unit tests of the cookie secret's rules (webapp/secret.c): random secrets
 * of the kinds ./stack, compose's secret-init and the test suites use are
 * accepted; compose's former placeholder, short ones, patterns and sequences
 * are refused with a reason that never quotes them; the secret file is read
 * without its line break, and a bad file is an error that leaves nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "webapp.h"

static const char *weakness(const char *s)
{
    return secret_weakness(s, strlen(s));
}

/* n random bytes as 2n lowercase hex digits: what ./stack's {secret:...},
 * scripts/cookie-secret and secrets.token_hex(32) make. */
static void random_hex(char *out, size_t n)
{
    unsigned char b[64];
    FILE *f = fopen("/dev/urandom", "rb");

    assert_non_null(f);
    assert_true(n <= sizeof(b));
    assert_int_equal(fread(b, 1, n, f), n);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void test_random_secrets_accepted(void **state)
{
    char hex[129];
    (void)state;

    for (int i = 0; i < 2000; i++) {
        random_hex(hex, 32); /* 64 characters */
        assert_null(weakness(hex));
        random_hex(hex, 16); /* 32: the shortest accepted */
        assert_null(weakness(hex));
    }
    assert_null(weakness("Vq3Jx0bWm+9kPz/aT4eLr8NcYh2UsQ6dFg1iKo5nBt7="));
}

/* Every secret a test or tool of the project sets must still start a webapp. */
static void test_project_secrets_accepted(void **state)
{
    static const char *const used[] = {
        "webapp-contract-test-secret-0123456789abcdef",      /* tests/webapp */
        "upgrade-fixture-v1-cookie-secret-0123456789abcdef", /* tests/upgrade */
        "another-secret-another-secret-0123456789",          /* tests/webapp, the other one */
        "0123456789abcdef0123456789abcdef-unit",             /* test_webapp_units.c */
        NULL};
    (void)state;

    for (size_t i = 0; used[i] != NULL; i++)
        assert_null(weakness(used[i]));
}

static void test_guessable_secrets_refused(void **state)
{
    static const char *const weak[] = {
        "",
        "short",
        "0123456789abcdef0123456789abcde",                              /* 31 characters */
        "change-me-to-64-random-hex-characters-shared-by-all-replicas", /* compose's, before */
        "CHANGEME-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c",    /* any case */
        "replace_me_with_9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "your-secret-9f86d081884c7d659a2f",
        "placeholder-9f86d081884c7d659a2feaa0c55ad015",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* one character */
        "abababababababababababababababababababababab",                     /* two */
        "0123456789abcdef0123456789abcdef",                                 /* repeated */
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", /* repeated */
        "secret-key-123secret-key-123secret-key-123secret-key-123",         /* repeated */
        " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ",     /* a sequence */
        "~}|{zyxwvutsrqponmlkjihgfedcba`_^]",                               /* backwards */
        "1111111111111111111111111111111122222222222222222222222222222222",
        NULL};
    (void)state;

    for (size_t i = 0; weak[i] != NULL; i++) {
        const char *why = weakness(weak[i]);
        if (why == NULL)
            fail_msg("accepted: %s", weak[i]);
        if (strlen(weak[i]) >= 8) /* the reason never quotes it */
            assert_null(strstr(why, weak[i]));
    }
}

/* The placeholder and too-short reasons name what is wrong. */
static void test_reasons(void **state)
{
    (void)state;
    assert_non_null(strstr(weakness("abc"), "shorter than 32"));
    assert_non_null(strstr(weakness("change-me-to-64-random-hex-characters-shared-by-all-replicas"),
                           "placeholder"));
}

static char tmpname[64];

static int file_setup(void **state)
{
    int fd;
    (void)state;

    snprintf(tmpname, sizeof(tmpname), "/tmp/test-secret-XXXXXX");
    fd = mkstemp(tmpname);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int file_teardown(void **state)
{
    (void)state;
    unlink(tmpname);
    return 0;
}

static void write_file(const void *data, size_t n)
{
    FILE *f = fopen(tmpname, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_read_file(void **state)
{
    char out[129], err[256];
    char hex[65];
    size_t len = 0;
    (void)state;

    random_hex(hex, 32);
    write_file(hex, 64);
    assert_int_equal(secret_read_file(tmpname, out, sizeof(out), &len, err, sizeof(err)), 0);
    assert_int_equal(len, 64);
    assert_string_equal(out, hex);

    /* one line break (or CRLF) at the end is not part of it */
    write_file("0123456789abcdefghijklmnopqrstuvwxyz\r\n", 38);
    assert_int_equal(secret_read_file(tmpname, out, sizeof(out), &len, err, sizeof(err)), 0);
    assert_int_equal(len, 36);
    assert_string_equal(out, "0123456789abcdefghijklmnopqrstuvwxyz");

    /* 128 bytes fit out[129]; 129 do not, and out is wiped */
    char big[130];
    memset(big, 'k', sizeof(big));
    write_file(big, 128);
    assert_int_equal(secret_read_file(tmpname, out, sizeof(out), &len, err, sizeof(err)), 0);
    assert_int_equal(len, 128);
    write_file(big, 129);
    assert_int_equal(secret_read_file(tmpname, out, sizeof(out), &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than 128 bytes"));
    assert_int_equal(out[0], '\0');

    /* a NUL inside, an empty file, no file */
    write_file("abc\0def-0123456789-0123456789-0123456789", 40);
    assert_int_equal(secret_read_file(tmpname, out, sizeof(out), &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "NUL"));
    write_file("", 0);
    assert_int_equal(secret_read_file(tmpname, out, sizeof(out), &len, err, sizeof(err)), 0);
    assert_int_equal(len, 0);
    assert_int_equal(
        secret_read_file("/nonexistent/secret", out, sizeof(out), &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_secrets_accepted),
        cmocka_unit_test(test_project_secrets_accepted),
        cmocka_unit_test(test_guessable_secrets_refused),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test_setup_teardown(test_read_file, file_setup, file_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
