/* stats: the notifier's counters, updated by the main thread and read by
 * the health server thread (atomics), rendered as Prometheus text. */
#ifndef NOTIFIER_STATS_H
#define NOTIFIER_STATS_H

#include <stdint.h>

#include "buf.h"

enum stats_counter {
    STATS_CONSUMED = 0,   /* messages read from the alerts topic */
    STATS_DELIVERED,      /* alerts delivered by every sink and recorded */
    STATS_RETRIED,        /* retries scheduled after a failed attempt */
    STATS_DEAD_LETTERED,  /* alerts written to the DLQ after failing */
    STATS_DUPLICATES,     /* alerts suppressed because already delivered */
    STATS_MALFORMED,      /* messages that did not decode (also in the DLQ) */
    STATS_TAKEN_OVER,     /* claims taken from a dead notifier (possible duplicates) */
    STATS_WEBHOOK_OK,     /* webhook attempts answered 2xx */
    STATS_WEBHOOK_FAILED, /* webhook attempts that failed (any reason) */
    STATS_DLQ_FAILED,     /* DLQ writes that failed and were retried */
    STATS_COUNTERS
};

void stats_add(enum stats_counter c, uint64_t n);
uint64_t stats_get(enum stats_counter c);

/* Records one webhook attempt's duration in the latency histogram. */
void stats_webhook_latency(double seconds);

/* Gauges the main thread sets. */
void stats_set_pending(long jobs);
void stats_set_redis_up(int up);
int stats_redis_up(void);

/* Appends every metric in Prometheus text to out. */
void stats_render(struct buf *out);

#endif
