/* stats: the evaluator's counters, written by the main thread and read by
 * the health thread (atomics), and their Prometheus rendering. */
#ifndef CONSUMER_STATS_H
#define CONSUMER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"

struct stats {
    atomic_uint_fast64_t ticks_processed;  /* evaluated against the store */
    atomic_uint_fast64_t ticks_stale;      /* older than MAX_TICK_AGE_MS */
    atomic_uint_fast64_t ticks_malformed;  /* undecodable */
    atomic_uint_fast64_t alerts_fired;     /* claimed from the store */
    atomic_uint_fast64_t alerts_published; /* acknowledged by Kafka */
    atomic_uint_fast64_t alerts_republished; /* sent again by the sweeper */
    atomic_uint_fast64_t publish_failures; /* enqueue or delivery failures */
    atomic_uint_fast64_t redis_errors;     /* failed claim/ack/sweep calls */
    atomic_int_fast64_t outbox_depth;      /* XLEN at the last sweep, -1 unknown */
    atomic_int_fast64_t inflight;          /* entries awaiting Kafka or XDEL */
    /* processing latency: tick received -> claimed and handed to Kafka */
    struct metrics_histogram latency;
};

/* Zeroes s (outbox depth -1). */
void stats_init(struct stats *s);

/* Records one tick's processing latency. */
void stats_observe_latency(struct stats *s, int64_t us);

/* Appends every metric to out. */
void stats_render(struct stats *s, struct buf *out);

#endif
