/* stats: the evaluator's counters and latency histogram, rendered as
 * Prometheus text. */
#include "stats.h"

#include "metrics.h"

/* Upper bounds in seconds. */
static const double stats_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                      0.05,   0.1,   0.25,   0.5,   1,    5};

void stats_init(struct consumer_stats *s)
{
    atomic_init(&s->ticks_processed, 0);
    atomic_init(&s->ticks_stale, 0);
    atomic_init(&s->ticks_malformed, 0);
    atomic_init(&s->alerts_fired, 0);
    atomic_init(&s->alerts_published, 0);
    atomic_init(&s->alerts_republished, 0);
    atomic_init(&s->publish_failures, 0);
    atomic_init(&s->redis_errors, 0);
    atomic_init(&s->outbox_depth, -1);
    atomic_init(&s->inflight, 0);
    metrics_histogram_init(&s->latency, stats_bounds,
                           sizeof(stats_bounds) / sizeof(stats_bounds[0]));
}

void stats_render(struct consumer_stats *s, struct buf *out)
{
    metrics_counter(out, "consumer_ticks_processed_total", "Price ticks evaluated",
                    atomic_load(&s->ticks_processed));
    metrics_counter(out, "consumer_ticks_skipped_stale_total",
                    "Ticks older than MAX_TICK_AGE_MS, skipped", atomic_load(&s->ticks_stale));
    metrics_counter(out, "consumer_ticks_skipped_malformed_total",
                    "Undecodable messages on the prices topic, skipped",
                    atomic_load(&s->ticks_malformed));
    metrics_counter(out, "consumer_alerts_fired_total", "Alerts claimed from the store",
                    atomic_load(&s->alerts_fired));
    metrics_counter(out, "consumer_alerts_published_total", "Alert messages acknowledged by Kafka",
                    atomic_load(&s->alerts_published));
    metrics_counter(out, "consumer_alerts_republished_total",
                    "Outbox entries sent again by the sweeper",
                    atomic_load(&s->alerts_republished));
    metrics_counter(out, "consumer_publish_failures_total",
                    "Alert messages Kafka did not take or acknowledge (retried)",
                    atomic_load(&s->publish_failures));
    metrics_counter(out, "consumer_redis_errors_total", "Failed Redis operations",
                    atomic_load(&s->redis_errors));
    metrics_gauge(out, "consumer_outbox_depth", "Entries in the Redis outbox (-1 unknown)",
                  (double)atomic_load(&s->outbox_depth));
    metrics_gauge(out, "consumer_outbox_inflight",
                  "Outbox entries handed to Kafka and not yet removed",
                  (double)atomic_load(&s->inflight));
    metrics_histogram_write(out, "consumer_processing_latency_seconds",
                            "Time from receiving a tick to its alerts handed to Kafka",
                            &s->latency);
}

void stats_observe_latency(struct consumer_stats *s, int64_t us)
{
    metrics_histogram_observe(&s->latency, (double)us / 1e6);
}
