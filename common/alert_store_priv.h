/* alert_store_priv: what the two sides of the alert store (alert_store.c,
 * the webapp's; alert_store_claim.c, the evaluator's) share and nobody else
 * uses. Defined in alert_store.c. */
#ifndef SA_ALERT_STORE_PRIV_H
#define SA_ALERT_STORE_PRIV_H

#include <stddef.h>

#include "redis.h"

#define ALERT_STORE_NUM_MAX 32
#define ALERT_STORE_KEY_MAX 128

/* A script of common/lua/, loaded on first use (store_lua.h). */
/* clang-format off */
#define ALERT_STORE_SCRIPT(name) {(const char *)store_lua_##name, {0}}
/* clang-format on */

/* Writes the shortest decimal text that reads back as d (at most 17
 * digits) into out, NUL-terminated. Never fails. */
void alert_store_fmt_num(double d, char out[ALERT_STORE_NUM_MAX]);

/* Copies a string reply element into out[outlen], NUL-terminated. Returns 0,
 * or -1 (out untouched) if e is not a string or does not fit. */
int alert_store_copy(const redisReply *e, char *out, size_t outlen);

#endif
