/* cookie: the anonymous user id. 128 random bits in hex, signed with
 * HMAC-SHA256 under COOKIE_SECRET so every replica can check it and nobody
 * can make one up. Only the random part is ever used as the user id. */
#include "webapp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#define COOKIE_MAC_LEN 32
/* Domain separation: this key signs user ids and nothing else. */
#define COOKIE_LABEL "stock-alerts user_id v1:"

/* HMAC of label + user (COOKIE_USER_LEN hex chars) as hex into mac_hex[65]. */
static int cookie_mac(const char *secret, size_t secret_len, const char *user, char *mac_hex)
{
    unsigned char msg[sizeof(COOKIE_LABEL) - 1 + COOKIE_USER_LEN];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    memcpy(msg, COOKIE_LABEL, sizeof(COOKIE_LABEL) - 1);
    memcpy(msg + sizeof(COOKIE_LABEL) - 1, user, COOKIE_USER_LEN);
    if (HMAC(EVP_sha256(), secret, (int)secret_len, msg, sizeof(msg), mac, &mac_len) == NULL ||
        mac_len != COOKIE_MAC_LEN)
        return -1;
    buf_hex(mac, COOKIE_MAC_LEN, mac_hex);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}

int cookie_issue(const char *secret, size_t secret_len, char user_id[COOKIE_USER_LEN + 1],
                 char value[COOKIE_VALUE_LEN + 1])
{
    unsigned char rnd[COOKIE_USER_LEN / 2];
    char mac_hex[2 * COOKIE_MAC_LEN + 1];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -1;
    buf_hex(rnd, sizeof(rnd), user_id);
    if (cookie_mac(secret, secret_len, user_id, mac_hex) != 0)
        return -1;
    memcpy(value, user_id, COOKIE_USER_LEN);
    value[COOKIE_USER_LEN] = '.';
    memcpy(value + COOKIE_USER_LEN + 1, mac_hex, 2 * COOKIE_MAC_LEN + 1);
    return 0;
}

static int cookie_is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

int cookie_verify(const char *secret, size_t secret_len, const char *value, size_t len,
                  char user_id[COOKIE_USER_LEN + 1])
{
    char mac_hex[2 * COOKIE_MAC_LEN + 1];

    if (value == NULL || len != COOKIE_VALUE_LEN || value[COOKIE_USER_LEN] != '.' ||
        !cookie_is_hex(value, COOKIE_USER_LEN) ||
        !cookie_is_hex(value + COOKIE_USER_LEN + 1, 2 * COOKIE_MAC_LEN))
        return -1;
    if (cookie_mac(secret, secret_len, value, mac_hex) != 0)
        return -1;
    if (CRYPTO_memcmp(mac_hex, value + COOKIE_USER_LEN + 1, 2 * COOKIE_MAC_LEN) != 0)
        return -1;
    memcpy(user_id, value, COOKIE_USER_LEN);
    user_id[COOKIE_USER_LEN] = '\0';
    return 0;
}
