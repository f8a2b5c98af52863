/* stats: the evaluator's counters for /metrics. The main thread (evaluator,
 * outbox) writes them, the health server thread reads them: atomics, no
 * lock. main() owns the one struct; the modules get a pointer to it. */
#ifndef CONSUMER_STATS_H
#define CONSUMER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"

struct consumer_stats {
    atomic_uint_fast64_t ticks_processed;    /* evaluated against the store */
    atomic_uint_fast64_t ticks_stale;        /* older than MAX_TICK_AGE_MS */
    atomic_uint_fast64_t ticks_malformed;    /* undecodable */
    atomic_uint_fast64_t alerts_fired;       /* claimed from the store */
    atomic_uint_fast64_t alerts_published;   /* acknowledged by Kafka */
    atomic_uint_fast64_t alerts_republished; /* sent again by the sweeper */
    atomic_uint_fast64_t publish_failures;   /* enqueue or delivery failures */
    atomic_uint_fast64_t redis_errors;       /* failed claim/ack/sweep calls */
    atomic_int_fast64_t outbox_depth;        /* XLEN at the last sweep, -1 unknown */
    atomic_int_fast64_t inflight;            /* entries awaiting Kafka or XDEL */
    /* processing latency: tick received -> claimed and handed to Kafka */
    struct metrics_histogram latency;
};

/* Zeroes s (the outbox depth starts unknown: -1). */
void stats_init(struct consumer_stats *s);

/* Appends every metric of s, as Prometheus text, to out. */
void stats_render(struct consumer_stats *s, struct buf *out);

/* Records one tick's processing latency. */
void stats_observe_latency(struct consumer_stats *s, int64_t us);

#endif
