/* alert_history: each user's fired alerts, the source of truth of what
 * reached (or must reach) that user. One Redis stream per user,
 *   alert_events:{<user>}   entries with fields "alert_id" and "payload" (the
 *                           alert JSON as fired), at most ALERT_HISTORY_MAX,
 *                           expiring ALERT_HISTORY_TTL_S after the last one,
 * whose entry ids are the alerts' positions (evid.h): the deliver script of
 * alert_store_claim appends each fired alert, so a position is given once,
 * when the alert enters its user's history, and a late alert still lands after every
 * position handed out before it. The braces are a Redis Cluster hash tag: a
 * user's history is one slot.
 *
 * This module reads it (the API's list, a stream's replay, a gap) and
 * migrates the list the version before kept (alert_history:<user>, JSON with
 * a store-wide "seq", newest first) once (the first step of
 * alert_store_migrate.h). Functions return -1 with err when
 * Redis is unreachable or answers an error. */
#ifndef SA_ALERT_HISTORY_H
#define SA_ALERT_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "evid.h"
#include "redis.h"

#define ALERT_HISTORY_MAX 100       /* entries kept per user */
#define ALERT_HISTORY_TTL_S 604800  /* 7 days after the newest entry */
#define ALERT_HISTORY_JSON_EXTRA 64 /* what alert_history_event_json adds */

/* One history entry as readers get it: the payload is the alert JSON as it
 * was fired (without its own position), len bytes, not NUL-terminated. */
typedef void (*alert_history_cb)(const char *payload, size_t len, const struct evid *pos, void *ud);

/* The user's history, newest first, at most max entries: cb for each.
 * Returns the count or -1 with err. */
int alert_history_list(struct redis_conn *rc, const char *user_id, int max, alert_history_cb cb,
                       void *ud, char *err, size_t errlen);

/* The entries after *after, oldest first, at most max (cb for each), and the
 * newest position in *tail ("0-0" when the history is empty). after NULL:
 * only the tail. A position after the tail (lost or forged) gives the whole
 * kept history; one older than the oldest kept gives from the oldest kept.
 * Returns the count or -1 with err. */
int alert_history_after(struct redis_conn *rc, const char *user_id, const struct evid *after,
                        int max, alert_history_cb cb, void *ud, struct evid *tail, char *err,
                        size_t errlen);

/* The payload with "event_id":"<pos>" added as its last member, into
 * out[outlen] (NUL-terminated). Returns the length, or -1 when payload is
 * not a JSON object or out is too small (ALERT_HISTORY_JSON_EXTRA more than
 * len is enough). */
int alert_history_event_json(const char *payload, size_t len, const struct evid *pos, char *out,
                             size_t outlen);

/* Moves every history the version before kept into the per-user streams
 * (positions 0-<seq>), once: a marker key (alert_store:schema = 2, or 3
 * once alert_store_migrate finished) makes later calls one GET. Safe to run from several daemons at
 * once (each user moves in one atomic, idempotent script). Returns the number of users moved (0
 * when already done), or -1 with err: call again later. */
int alert_history_migrate(struct redis_conn *rc, char *err, size_t errlen);

#endif
