/* dedup: the notifier's exactly-once bookkeeping in Redis, so it survives a
 * restart. Per delivery one key, notified:{key}, key being the alert_id, or
 * "<alert_id>.<firing>" for a repeating alert's firing
 * (alert_msg_delivery_key; the functions below take it as alert_id):
 *   "claim:<token>"  a notifier (instance token) is delivering it;
 *   "done"           delivered (expires after the configured TTL).
 * Each running notifier refreshes notifier:alive:<token> (a few seconds
 * TTL); a claim whose owner is no longer alive is taken over. Every script
 * touches the one key notified:{alert_id}, so the claims run on a Redis
 * Cluster too: the owner's liveness, a key of another slot, is read between
 * the claim and the takeover, which re-checks that the claim is unchanged. */
#ifndef NOTIFIER_DEDUP_H
#define NOTIFIER_DEDUP_H

#include "message.h"
#include "redis.h"

enum dedup_claim {
    DEDUP_CLAIMED = 0, /* ours now: deliver */
    DEDUP_TAKEN_OVER,  /* ours now, taken from a dead notifier: it may have delivered */
    DEDUP_DONE,        /* already delivered: suppress */
    DEDUP_BUSY,        /* a live notifier is delivering it: ask again later */
    DEDUP_MINE,        /* this instance already holds the claim */
    DEDUP_ERROR,       /* Redis unreachable or answered an error: ask again later */
};

struct dedup;

/* rc stays the caller's (must outlive the dedup). done_ttl_s bounds how long
 * a delivered alert_id is remembered. Returns NULL on out of memory. */
struct dedup *dedup_new(struct redis_conn *rc, long done_ttl_s);

/* Removes this instance's liveness key (a clean exit) and frees. */
void dedup_free(struct dedup *d);

/* This instance's random token (16 hex digits). */
const char *dedup_token(const struct dedup *d);

/* Claims alert_id for delivery: one script, and when another notifier holds
 * the claim, its liveness read and a compare-and-set takeover. */
enum dedup_claim dedup_claim(struct dedup *d, const char *alert_id);

/* Forces a claim for this instance (after DEDUP_MINE with no live delivery
 * of it here: a stale claim of ours). Returns 0 or -1 on a Redis error. */
int dedup_reclaim(struct dedup *d, const char *alert_id);

/* Records alert_id as delivered. Returns 0, or -1 on a Redis error. */
int dedup_confirm(struct dedup *d, const char *alert_id);

/* Drops this instance's claim (the alert was dead-lettered: a later copy
 * may be delivered). Returns 0, or -1 on a Redis error. */
int dedup_release(struct dedup *d, const char *alert_id);

/* Refreshes the liveness key. Returns 0, or -1 on a Redis error. */
int dedup_heartbeat(struct dedup *d);

#define DEDUP_ALIVE_TTL_S 5

#endif
