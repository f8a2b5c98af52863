/* signature: the webhook request signature, so a receiver can check that a
 * POST came from this notifier and was not replayed with another body:
 * "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)). */
#ifndef NOTIFIER_SIGNATURE_H
#define NOTIFIER_SIGNATURE_H

#include <stddef.h>

/* "sha256=" + 64 hex digits + NUL */
#define SIGNATURE_MAX 72

/* Signs body (len bytes) sent at `timestamp` (decimal Unix seconds, as in
 * the X-Stock-Alerts-Timestamp header) with secret (secret_len bytes) and
 * writes the header value into out. Returns 0, or -1 if outlen is below
 * SIGNATURE_MAX or OpenSSL fails. */
int signature_compute(const char *secret, size_t secret_len, const char *timestamp,
                      const char *body, size_t len, char *out, size_t outlen);

#endif
