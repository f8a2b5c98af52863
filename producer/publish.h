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
    rd_kafka_t *rk;    /* borrowed */
    const char *topic; /* borrowed */
    struct producer_stats *stats;
    struct ratelog drop_log;
    struct ratelog fail_log;
};

void publisher_init(struct publisher *p, rd_kafka_t *rk, const char *topic,
                    struct producer_stats *stats);

/* True when price may be published: finite, > 0 and <= PUBLISH_PRICE_MAX. */
int publish_price_ok(double price);

/* Publishes one tick of asset a at Unix time ts. Returns 0 when enqueued,
 * 1 when dropped as a bad price, -1 when Kafka refused it (counted as failed). */
int publish_price(struct publisher *p, const struct asset *a, double price, double ts,
                  enum price_source src);

#endif
