/* alert_store_claim: the evaluator's side of the alert store (key layout in
 * alert_store.h). A claim fires alerts: one script removes every alert a
 * tick crosses from all its keys and appends it to its user's history and
 * to the outbox, a stream that keeps it until Kafka has it. An entry is
 * removed once Kafka acknowledged it; one left behind (a crash, a failed
 * delivery) is read back and published again.
 *
 * Failure: functions return -1 when Redis is unreachable or answers an error
 * and fill err (ALERT_STORE_ERR_MAX is enough); a claim is one script, so it
 * is either done in full or not at all. Every out array is the caller's. */
#ifndef SA_ALERT_STORE_CLAIM_H
#define SA_ALERT_STORE_CLAIM_H

#include <stddef.h>

#include "alert_store.h"
#include "message.h"
#include "redis.h"

#define ALERT_STORE_OUTBOX "alerts_outbox"

/* A claimed alert: its outbox entry id and the alert as published.
 * payload_len 0 marks an entry too large for the buffers (never produced by
 * this store): skip it. */
struct alert_claim {
    char outbox_id[48];          /* stream entry id, for alert_store_outbox_ack_many */
    char payload[MSG_MAX_BYTES]; /* alert JSON, as alert_msg_decode reads it */
    size_t payload_len;
    char user_id[MSG_ID_MAX]; /* the alert's owner: the Kafka key */
};

/* One price tick to evaluate (alert_store_claim_batch). */
struct alert_tick {
    const char *ticker; /* valid per msg_ticker_valid */
    double price;       /* finite, > 0 */
    double timestamp;   /* Unix seconds, copied into the alert JSON */
};

/* Atomically claims, tick by tick in order, every alert of the tick's
 * ticker whose condition holds at its price (above: price > threshold;
 * below: price < threshold), in one script call (one round trip): removes
 * each from all keys, appends it to the user's history (where it gets its
 * position, evid.h) and to the outbox, and returns it in out[0..max), its
 * payload carrying "event_id" and "prev_event_id". Claims at most max
 * alerts in all; *ticks_done is set to the number of leading ticks fully
 * evaluated: call again with the rest when it is below nticks. nticks is
 * capped at ALERT_STORE_BATCH_MAX and max at ALERT_STORE_CLAIM_MAX.
 * Returns the count of claims in out, or -1 with err (nothing claimed). */
#define ALERT_STORE_BATCH_MAX 512
#define ALERT_STORE_CLAIM_MAX 4096
int alert_store_claim_batch(struct redis_conn *rc, const struct alert_tick *ticks, int nticks,
                            struct alert_claim *out, int max, int *ticks_done, char *err,
                            size_t errlen);

/* Removes n (1..ALERT_STORE_ACK_MAX) outbox entries, once Kafka acknowledged
 * them, in one XDEL. Returns 0 or -1 with err. */
#define ALERT_STORE_ACK_MAX 1024
int alert_store_outbox_ack_many(struct redis_conn *rc, const char *const *outbox_ids, int n,
                                char *err, size_t errlen);

/* Reads up to max outbox entries whose id is greater than after_id ("0" for
 * the start) and whose age is at least min_age_ms, oldest first. Returns the
 * count or -1 with err. */
int alert_store_outbox_read(struct redis_conn *rc, const char *after_id, long min_age_ms,
                            struct alert_claim *out, int max, char *err, size_t errlen);

/* Number of outbox entries (XLEN), or -1. */
long alert_store_outbox_len(struct redis_conn *rc);

#endif
