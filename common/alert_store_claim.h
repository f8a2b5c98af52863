/* alert_store_claim: the evaluator's side of the alert store (key layout in
 * alert_store.h, the sequences in docs/key-schema.md). A claim fires alerts
 * in two single-slot steps: per ticker, one script removes every alert its
 * ticks cross from the index and appends it to the ticker's outbox; then per
 * user, one script (deliver) appends it to the user's history, where it gets
 * its position, unless the user deleted it meanwhile (skipped). An outbox
 * entry is removed once Kafka acknowledged it (or deliver skipped it); one
 * left behind (a crash, a failed delivery) is read back, delivered again
 * (idempotent: the same position) and published again.
 *
 * Failure: functions return -1 when Redis is unreachable or answers an error
 * and fill err (ALERT_STORE_ERR_MAX is enough). Every out array is the
 * caller's. */
#ifndef SA_ALERT_STORE_CLAIM_H
#define SA_ALERT_STORE_CLAIM_H

#include <stddef.h>

#include "alert_store.h"
#include "message.h"
#include "redis.h"

/* Schema 2's single outbox: still drained (its payloads carry positions). */
#define ALERT_STORE_OUTBOX_LEGACY "alerts_outbox"
#define ALERT_STORE_OUTBOX_KEY_MAX 64 /* "alerts_outbox:{<ticker>}" and its NUL */

/* Where a claimed alert stands. */
enum alert_claim_state {
    ALERT_CLAIM_UNDELIVERED = 0, /* in its outbox, no position yet: deliver it */
    ALERT_CLAIM_READY,           /* payload carries its positions: publish it */
    ALERT_CLAIM_SKIPPED,         /* the user deleted it: nothing to publish */
};

/* A claimed alert: its outbox entry and the alert. payload_len 0 marks an
 * entry too large for the buffers (never produced by this store): skip it. */
struct alert_claim {
    char outbox_key[ALERT_STORE_OUTBOX_KEY_MAX]; /* the stream holding it */
    char outbox_id[48];                          /* its entry id there */
    char alert_id[MSG_ID_MAX];                   /* "" in schema 2's outbox */
    char payload[MSG_MAX_BYTES]; /* alert JSON; with "event_id" and "prev_event_id" once READY */
    size_t payload_len;
    char user_id[MSG_ID_MAX]; /* the alert's owner: the Kafka key */
    enum alert_claim_state state;
};

/* One price tick to evaluate (alert_store_claim_batch). */
struct alert_tick {
    const char *ticker; /* valid per msg_ticker_valid */
    double price;       /* finite, > 0 */
    double timestamp;   /* Unix seconds, copied into the alert JSON */
    int has_decimals;   /* the tick gave the asset's decimals: the message text */
    int decimals;       /* uses them; else 2 */
};

/* Claims every alert whose condition holds at a tick's price (above: price
 * > threshold; below: price < threshold), the ticks of each ticker in their
 * order, one script per ticker, all in one round trip; then delivers the
 * claims (alert_store_deliver). Returns them in out[0..max), each READY,
 * SKIPPED (its outbox entry already removed) or UNDELIVERED (deliver failed:
 * the outbox keeps it for the sweeper). Claims at most max alerts in all;
 * *ticks_done is set to the number of leading ticks fully evaluated: call
 * again with the rest when it is below nticks. nticks is capped at
 * ALERT_STORE_BATCH_MAX and max at ALERT_STORE_CLAIM_MAX. Returns the count
 * of claims in out, or -1 with err (nothing claimed that is not in an
 * outbox). */
#define ALERT_STORE_BATCH_MAX 512
#define ALERT_STORE_CLAIM_MAX 4096
int alert_store_claim_batch(struct redis_conn *rc, const struct alert_tick *ticks, int nticks,
                            struct alert_claim *out, int max, int *ticks_done, char *err,
                            size_t errlen);

/* Expires those of the alerts ids[0..n) (n at most ALERT_STORE_EXPIRE_MAX)
 * of ticker that are still armed and whose expiry has passed by Redis'
 * clock: one claim.lua in the ticker's slot takes each out of the index
 * into the ticker's outbox as an expired entry ("status":"expired", no
 * price), then alert_store_deliver puts it in its user's history, once.
 * The rest (not armed any more: fired, deleted, or expired by a run that
 * stopped before its deliver, which the outbox sweeper finishes) are left
 * alone. The claims go to out[0..n); a failed deliver leaves them
 * UNDELIVERED in the outbox for the sweeper. Returns their count, or -1
 * with err (nothing expired that is not in the outbox). */
#define ALERT_STORE_EXPIRE_MAX 64
int alert_store_expire(struct redis_conn *rc, const char *ticker, const char *const *ids, int n,
                       struct alert_claim *out, char *err, size_t errlen);

/* Delivers the UNDELIVERED claims of c[0..n) into their users' histories,
 * one script per user, in one round trip: each becomes READY (payload with
 * its position and the one before, the same every time) or SKIPPED (its
 * outbox entry removed). Claims of schema 2's outbox become READY as they
 * are. Returns 0, or -1 with err (those not delivered stay UNDELIVERED). */
int alert_store_deliver(struct redis_conn *rc, struct alert_claim *c, int n, char *err,
                        size_t errlen);

/* Removes n (1..ALERT_STORE_ACK_MAX) outbox entries, ids[i] of stream
 * keys[i], once Kafka acknowledged them, in one round trip. Returns 0 or -1
 * with err. */
#define ALERT_STORE_ACK_MAX 1024
int alert_store_outbox_ack_many(struct redis_conn *rc, const char *const *keys,
                                const char *const *ids, int n, char *err, size_t errlen);

/* Reads up to max entries of the outbox key whose id is greater than
 * after_id ("0" for the start) and whose age is at least min_age_ms, oldest
 * first, as UNDELIVERED claims. Returns the count or -1 with err. */
int alert_store_outbox_read(struct redis_conn *rc, const char *key, const char *after_id,
                            long min_age_ms, struct alert_claim *out, int max, char *err,
                            size_t errlen);

/* One SCAN page of outbox streams (alerts_outbox:{*}): cb for each key.
 * cursor "0" starts; it is "0" again when the scan is complete. Returns 0
 * or -1 with err. */
int alert_store_outbox_scan(struct redis_conn *rc, char cursor[REDIS_SCAN_CURSOR_MAX],
                            void (*cb)(const char *key, void *ud), void *ud, char *err,
                            size_t errlen);

/* The number of entries (XLEN) of each of the n outboxes keys[i] into
 * lens[i], in one round trip. Returns their sum, or -1 with err. */
long alert_store_outbox_lens(struct redis_conn *rc, const char *const *keys, int n, long *lens,
                             char *err, size_t errlen);

#endif
