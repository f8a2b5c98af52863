/* stats: the producer's counters for /metrics. The main thread (feed,
 * publisher) and librdkafka's delivery callback write them, the health
 * server thread reads them: atomics, and a lock for the last Yahoo error.
 * main() owns the one struct; the modules get a pointer to it. The
 * producer's /health body is written from them too (stats_health). */
#ifndef PRODUCER_STATS_H
#define PRODUCER_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "yahoo_parse.h"

enum price_source { SOURCE_YAHOO = 0, SOURCE_SIM = 1, SOURCE_REPLAY = 2 };

struct producer_stats {
    atomic_uint_fast64_t published;      /* enqueued to Kafka */
    atomic_uint_fast64_t publish_failed; /* refused by the client (queue full...) */
    atomic_uint_fast64_t dropped_bad;    /* bad prices never published */
    atomic_uint_fast64_t yahoo_requests; /* finished requests */
    atomic_uint_fast64_t yahoo_failures; /* finished without a price */
    atomic_uint_fast64_t yahoo_rate_limited;
    atomic_uint_fast64_t source_switches;
    atomic_int source;                    /* enum price_source in use */
    atomic_int_fast64_t last_delivery_ms; /* time_mono_ms of the last good delivery report */
    atomic_int_fast64_t last_publish_ms;  /* time_mono_ms of the last enqueue */
    int64_t started_ms;
    const char *mode;     /* PRICE_SOURCE as configured */
    long assets;          /* symbols this instance publishes */
    pthread_mutex_t lock; /* guards the fields below */
    char last_yahoo_error[YAHOO_ERR_MAX];
    double last_yahoo_error_at; /* Unix time, 0 if never */
};

/* Zeroes the counters and sets the fixed fields (mode is not copied: it
 * must outlive s). Undo with stats_destroy. */
void stats_init(struct producer_stats *s, const char *mode, long assets, enum price_source src);

/* Appends every metric of s (and of the Kafka client), as Prometheus text,
 * to out. */
void stats_render(struct producer_stats *s, struct buf *out);

void stats_destroy(struct producer_stats *s);

/* The names published in "source" and shown in metrics. */
const char *stats_source_name(enum price_source s);

/* Records a Yahoo error text (copied) with the current time. */
void stats_set_yahoo_error(struct producer_stats *s, const char *err);

/* A health_check_fn over a struct producer_stats: the /health JSON.
 * Unhealthy: Kafka has acknowledged nothing for 30 s while messages wait. */
int stats_health(void *ud, struct buf *out);

#endif
