/* evaluator: reads price ticks from the consumer, claims the alerts they
 * trigger (alert_store_claim_batch: one claim script per ticker and one
 * deliver script per user, each kind pipelined in one round trip) and
 * hands the claims to the outbox; stores each tick's offset only once its
 * claims are in the Redis outbox. Main thread only. */
#ifndef CONSUMER_EVALUATOR_H
#define CONSUMER_EVALUATOR_H

#include <librdkafka/rdkafka.h>

#include "outbox.h"
#include "stats.h"

#define EVALUATOR_BATCH_MAX 256 /* ticks per poll round */
#define EVALUATOR_CLAIM_MAX 512 /* claims per script call */

struct evaluator;

/* None of the pointers is owned. max_tick_age_ms 0 turns the stale check
 * off. Returns NULL on out of memory. */
struct evaluator *evaluator_new(struct redis_conn *rc, rd_kafka_t *consumer, struct outbox *ob,
                                struct consumer_stats *stats, long max_tick_age_ms);

/* Frees the evaluator; ticks still held are dropped without storing their
 * offsets (they are read again after a restart). NULL is fine. */
void evaluator_free(struct evaluator *ev);

/* One round: first retries the ticks held from a failed round, otherwise
 * waits up to timeout_ms for messages and takes up to EVALUATOR_BATCH_MAX.
 * Returns the number of messages finished (offsets stored), or -1 when
 * Redis failed and ticks are held for the next round (back off first). */
int evaluator_poll(struct evaluator *ev, int timeout_ms);

/* True once the consumer hit a fatal error (e.g. a static member fenced
 * after a broker restart): it will never deliver again and must be
 * replaced. */
int evaluator_consumer_fatal(const struct evaluator *ev);

/* Drops the ticks held (without storing their offsets: they are read again
 * from the last commit) and uses consumer from now on (not owned; NULL
 * while there is none, then evaluator_poll must not be called). Call it
 * before the old consumer is destroyed: held messages belong to it. */
void evaluator_set_consumer(struct evaluator *ev, rd_kafka_t *consumer);

#endif
