/* stats: counters and a latency histogram in Prometheus text. */
#include "stats.h"

#include <inttypes.h>

#include "metrics.h"

/* Upper bounds in seconds. */
static const double stats_bounds[STATS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

void stats_init(struct stats *s)
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
    for (int i = 0; i < STATS_LATENCY_BUCKETS; i++)
        atomic_init(&s->latency_bucket[i], 0);
    atomic_init(&s->latency_count, 0);
    atomic_init(&s->latency_sum_us, 0);
}

void stats_observe_latency(struct stats *s, int64_t us)
{
    double sec = (double)us / 1e6;

    if (us < 0)
        us = 0;
    for (int i = 0; i < STATS_LATENCY_BUCKETS; i++) {
        if (sec <= stats_bounds[i]) {
            atomic_fetch_add(&s->latency_bucket[i], 1);
            break;
        }
    }
    atomic_fetch_add(&s->latency_count, 1);
    atomic_fetch_add(&s->latency_sum_us, (uint64_t)us);
}

static void stats_render_latency(struct stats *s, struct buf *out)
{
    const char *name = "consumer_processing_latency_seconds";
    uint64_t cum = 0;

    buf_printf(out, "# HELP %s Time from receiving a tick to its alerts handed to Kafka\n"
                    "# TYPE %s histogram\n", name, name);
    for (int i = 0; i < STATS_LATENCY_BUCKETS; i++) {
        cum += atomic_load(&s->latency_bucket[i]);
        buf_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, stats_bounds[i], cum);
    }
    buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n",
               name, (uint64_t)atomic_load(&s->latency_count), name,
               (double)atomic_load(&s->latency_sum_us) / 1e6, name,
               (uint64_t)atomic_load(&s->latency_count));
}

void stats_render(struct stats *s, struct buf *out)
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
    metrics_counter(out, "consumer_alerts_published_total",
                    "Alert messages acknowledged by Kafka", atomic_load(&s->alerts_published));
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
    stats_render_latency(s, out);
}
