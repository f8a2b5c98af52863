/* signature: HMAC-SHA256 over "timestamp.body" with OpenSSL libcrypto
 * (the one-shot HMAC(), available and not deprecated in 1.1 and 3.x). */
#include "signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

int signature_compute(const char *secret, size_t secret_len, const char *timestamp,
                      const char *body, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t tslen = strlen(timestamp);
    unsigned char *msg = NULL;
    int rc = -1;

    if (outlen < SIGNATURE_MAX || secret_len > (size_t)0x7fffffff || len > ((size_t)1 << 30))
        return -1;
    msg = malloc(tslen + 1 + len + 1);
    if (msg == NULL)
        return -1;
    memcpy(msg, timestamp, tslen);
    msg[tslen] = '.';
    if (len > 0)
        memcpy(msg + tslen + 1, body, len);
    if (HMAC(EVP_sha256(), secret, (int)secret_len, msg, tslen + 1 + len, mac, &maclen) == NULL ||
        maclen != 32)
        goto out;
    memcpy(out, "sha256=", 7);
    for (unsigned int i = 0; i < maclen; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[8 + 2 * i] = hex[mac[i] & 0x0f];
    }
    out[7 + 2 * maclen] = '\0';
    rc = 0;
out:
    free(msg);
    return rc;
}
