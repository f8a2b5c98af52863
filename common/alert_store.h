/* alert_store: the alerts in Redis, shared by the webapp and the evaluator.
 * Every operation is one Lua script (common/lua/), so all keys stay
 * consistent whatever order the daemons run in. This header describes the
 * keys and holds the webapp's side: a user's alerts created (once per
 * idempotency key), listed and deleted. The evaluator's side, claiming fired
 * alerts into the outbox and working the outbox off, is alert_store_claim.h;
 * the users' fired alerts are read through alert_history.h.
 *
 * Keys (the original's three, plus the evaluator's index and outbox):
 *   alert:{id}                hash user_id, ticker, threshold, type, created_at
 *   user_alerts:{user}        set of ids
 *   ticker_alerts:{ticker}    set of ids
 *   alert_idx:{ticker}:above  sorted set id -> threshold   (price >  threshold fires)
 *   alert_idx:{ticker}:below  sorted set id -> threshold   (price <  threshold fires)
 *   alerts_outbox             stream of claimed alerts not yet acknowledged by Kafka,
 *                             each entry has fields "payload" (the alert JSON) and
 *                             "user_id" (the Kafka key)
 *   alert_events:{user}       the user's fired alerts (alert_history.h); the claim
 *                             appends to it, in the same script
 *   alert_idem:{user}:{key}   "<alert id> <ticker threshold type>" of the alert a create
 *                             with this idempotency key stored (expires: 60 s for
 *                             nginx's X-Request-Id, 1 h for a client's Idempotency-Key)
 * ({user}-style braces are placeholders here, except in alert_events:{<user>},
 * whose braces are real: a Redis Cluster hash tag.)
 *
 * Failure: functions return -1 when Redis is unreachable or answers an error
 * (e.g. a full disk) and fill err; nothing is half-done because each is one
 * script. */
#ifndef SA_ALERT_STORE_H
#define SA_ALERT_STORE_H

#include <stddef.h>

#include "message.h"
#include "redis.h"

#define ALERT_STORE_ERR_MAX 256

/* Result codes beyond 0 / -1. */
#define ALERT_STORE_LIMIT (-2)    /* create: user already has max_per_user alerts */
#define ALERT_STORE_NOTFOUND (-3) /* delete: no such alert or not the caller's */
#define ALERT_STORE_REPLAY (-4)   /* create_once: done before under this key */
#define ALERT_STORE_CONFLICT (-5) /* create_once: key used before for another request */

#define ALERT_STORE_IDEM_MAX 65 /* an idempotency key, with its NUL */

struct alert_record {
    char alert_id[MSG_ID_MAX];
    char user_id[MSG_ID_MAX];
    char ticker[MSG_TICKER_MAX];
    double threshold;
    enum alert_type type;
    double created_at; /* Unix seconds */
};

/* Stores a new alert for rec->user_id (rec->alert_id must be a fresh id,
 * e.g. from alert_store_new_id). Returns 0, ALERT_STORE_LIMIT when the user
 * already has max_per_user alerts (nothing stored), or -1 with err.
 * With an idempotency key, once per key and user: a request
 * retried with the same key (a proxy retrying after a replica died before
 * answering, a client repeating a POST) stores nothing new and returns
 * ALERT_STORE_REPLAY with rec->alert_id set to the alert stored the first
 * time; the same key with another ticker, threshold or type stores nothing
 * and returns ALERT_STORE_CONFLICT. idem_key NULL: no key (rec is not
 * written then). A key is remembered for idem_ttl_s seconds (>= 1): what it
 * costs in Redis is one small key per create over that window. */
int alert_store_create_once(struct redis_conn *rc, struct alert_record *rec, int max_per_user,
                            const char *idem_key, int idem_ttl_s, char *err, size_t errlen);

/* True when key is 1-64 characters of letters, digits, '-', '_', '.', ':'. */
int alert_store_idem_key_valid(const char *key);

/* Deletes alert_id if it belongs to user_id. Returns 0, ALERT_STORE_NOTFOUND,
 * or -1 with err. */
int alert_store_delete(struct redis_conn *rc, const char *user_id, const char *alert_id, char *err,
                       size_t errlen);

/* Lists user_id's alerts, newest first, into out[0..max). Returns the count
 * (0..max) or -1 with err. */
int alert_store_list(struct redis_conn *rc, const char *user_id, struct alert_record *out, int max,
                     char *err, size_t errlen);

/* Writes a fresh random UUID v4 (36 chars + NUL) into out[37]. Returns 0, or
 * -1 if no random bytes could be had. */
int alert_store_new_id(char out[37]);

#endif
