/* Fuzz target: cookie verification. Nothing but a value signed under the
 * secret may pass; a pass yields a 32-hex-digit user id. The first input
 * byte picks whether the input is used raw or as a tampered real cookie. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-secret-0123456789abcdef0123456789abcdef";

static void check_user(const char *user)
{
    if (strlen(user) != COOKIE_USER_LEN)
        abort();
    for (size_t i = 0; i < COOKIE_USER_LEN; i++) {
        if (!((user[i] >= '0' && user[i] <= '9') || (user[i] >= 'a' && user[i] <= 'f')))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char user[COOKIE_USER_LEN + 1];
    char issued_user[COOKIE_USER_LEN + 1];
    char value[COOKIE_VALUE_LEN + 1];

    if (size == 0)
        return 0;
    if (data[0] & 1) {
        /* Raw bytes: a forgery without the secret must never verify. */
        if (cookie_verify(secret, sizeof(secret) - 1, (const char *)data + 1, size - 1, user) == 0)
            check_user(user);
        return 0;
    }
    /* A real cookie with the input XORed over it: verifies only if unchanged. */
    if (cookie_issue(secret, sizeof(secret) - 1, issued_user, value) != 0)
        abort();
    int changed = 0;
    for (size_t i = 1; i < size && i - 1 < COOKIE_VALUE_LEN; i++) {
        value[i - 1] = (char)(value[i - 1] ^ data[i]);
        changed |= data[i] != 0;
    }
    int ok = cookie_verify(secret, sizeof(secret) - 1, value, COOKIE_VALUE_LEN, user) == 0;
    if (ok && changed)
        abort(); /* a tampered cookie passed */
    if (!changed && (!ok || strcmp(user, issued_user) != 0))
        abort(); /* the genuine cookie failed */
    return 0;
}
