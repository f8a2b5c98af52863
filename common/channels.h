/* channels: where a fired alert goes for its user, chosen per alert
 * ("channels": ["browser","email"] in set-alert; default browser only). The
 * set travels as a bit mask in memory, as a JSON array in the API and the
 * alerts message (only when it is not the default: old-style alerts keep
 * their exact bytes), and as a "c:<name>,<name>" token in the stored
 * records (key-schema.md). The operator's sinks (log, webhook) get every
 * alert whatever its channels. */
#ifndef SA_CHANNELS_H
#define SA_CHANNELS_H

#include <jansson.h>
#include <stddef.h>

#define ALERT_CH_BROWSER 1u /* the open page: SSE, banner, sound */
#define ALERT_CH_EMAIL 2u   /* a mail to the user's confirmed address (the notifier) */
#define ALERT_CH_ALL (ALERT_CH_BROWSER | ALERT_CH_EMAIL)
#define ALERT_CH_DEFAULT ALERT_CH_BROWSER
#define ALERT_CH_TOKEN_MAX 24 /* "c:browser,email" and its NUL */
#define ALERT_CH_JSON_MAX 24  /* ["browser","email"] and its NUL */

/* The channels of a set-alert body or a message: v NULL or JSON null gives
 * the default; else an array of 1..2 distinct names of "browser", "email".
 * Returns 0 with *mask, or -1 with a message naming the field in err. */
int alert_channels_from_json(const json_t *v, unsigned *mask, char *err, size_t errlen);

/* The JSON array of mask (a valid, non-zero mask), e.g. ["browser","email"],
 * into out. Never fails. */
void alert_channels_json(unsigned mask, char out[ALERT_CH_JSON_MAX]);

/* The record token of mask: "" for the default (records stay as before),
 * else "c:" and the names comma-separated. Never fails. */
void alert_channels_token(unsigned mask, char out[ALERT_CH_TOKEN_MAX]);

/* Reads the names of a record token after its "c:" (len bytes at s) into
 * *mask. 0, or -1 when they are not a valid set. */
int alert_channels_from_token(const char *s, size_t len, unsigned *mask);

#endif
