/* outbox: publishes claimed alerts to Kafka and removes each outbox entry
 * from Redis once Kafka acknowledged it; a sweeper republishes entries left
 * behind (a killed evaluator, Kafka down) so no claimed alert is lost. All
 * calls, delivery reports included, run on the main thread. */
#ifndef CONSUMER_OUTBOX_H
#define CONSUMER_OUTBOX_H

#include <librdkafka/rdkafka.h>

#include "alert_store_claim.h"
#include "stats.h"

struct outbox;

/* topic is copied; rc and stats must outlive the outbox. The producer is
 * attached later (outbox_attach) because its delivery callback needs the
 * outbox. Returns NULL on out of memory. */
struct outbox *outbox_new(struct redis_conn *rc, const char *topic, long redeliver_ms,
                          struct consumer_stats *stats);

/* Sets the producer used by outbox_publish (not owned). */
void outbox_attach(struct outbox *ob, rd_kafka_t *producer);

/* The delivery-report hook for kafka_opts.dr_cb, with the outbox as opaque. */
void outbox_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Hands c to Kafka (key = user_id) if it is READY (alert_store_claim.h),
 * unless it is already in flight; whatever its state, its outbox is swept
 * from now on. Returns 0, or -1 when c is not READY or Kafka did not take
 * it: the entry stays in its outbox and the sweeper delivers and retries it. */
int outbox_publish(struct outbox *ob, const struct alert_claim *c);

/* Serves delivery reports, removes acknowledged entries from Redis, and
 * every sweep_ms runs the sweeper. Never blocks longer than a Redis call. */
void outbox_service(struct outbox *ob, long sweep_ms);

/* Delivers (again: idempotent) and republishes the entries older than
 * redeliver_ms not in flight here, of every outbox known: the schema-2
 * outbox, those of the tickers this evaluator claimed for, and those a SCAN
 * finds (at start, then every minute). */
void outbox_sweep(struct outbox *ob);

/* Removes acknowledged entries from Redis (XDEL). Returns how many are
 * still waiting (0 when all done). */
size_t outbox_flush_acks(struct outbox *ob);

/* Entries handed to Kafka and not yet removed from Redis. */
size_t outbox_inflight(const struct outbox *ob);

/* Frees the outbox; call after the producer was closed. NULL is fine. */
void outbox_free(struct outbox *ob);

#endif
