/* publish: turns a price into a `stock-prices` message (key = ticker) and
 * hands it to Kafka. It is the last gate before the topic: a price that is
 * not finite and > 0 is dropped, logged and counted, never published. */
#ifndef PRODUCER_PUBLISH_H
#define PRODUCER_PUBLISH_H

#include <librdkafka/rdkafka.h>

#include "assets.h"
#include "ratelog.h"
#include "stats.h"

#define PUBLISH_PRICE_MAX 1e12 /* anything above is taken as garbage */

struct publisher {
    rd_kafka_t *rk;                /* owned from publisher_init on: close with publisher_close */
    const struct kafka_opts *opts; /* borrowed: to replace rk after a fatal error */
    const char *topic;             /* borrowed */
    struct producer_stats *stats;
    struct ratelog drop_log;
    struct ratelog fail_log;
};

void publisher_init(struct publisher *p, rd_kafka_t *rk, const struct kafka_opts *opts,
                    const char *topic, struct producer_stats *stats);

/* Flushes for up to timeout_ms and destroys the producer. */
void publisher_close(struct publisher *p, int timeout_ms);

/* True when price may be published: finite, > 0 and <= PUBLISH_PRICE_MAX. */
int publish_price_ok(double price);

/* Publishes one tick of asset a at Unix time ts, with the asset's decimals
 * when known and the previous close when > 0 (0: none). Returns 0 when
 * enqueued, 1 when dropped as a bad price, -1 when Kafka refused it (counted
 * as failed). */
int publish_price(struct publisher *p, const struct asset *a, double price, double ts,
                  enum price_source src, double previous_close);

/* Announces asset a on the asset topic (key = ticker): in the universe for
 * valid_ms from now, ticking every interval_ms from source src
 * (docs/asset-universe.md). Returns 0 when enqueued, -1 when it does not
 * encode or Kafka refused it (logged, rate-limited). */
int publish_asset(struct publisher *p, const char *topic, const struct asset *a,
                  enum price_source src, long interval_ms, long valid_ms);

#endif
