/* stats: atomic counters and a fixed-bucket latency histogram. */
#include "stats.h"

#include <stdatomic.h>

#include "metrics.h"

static const double stats_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5,   1.0,  2.5,   5.0,  10.0};
#define STATS_NBUCKETS (sizeof(stats_buckets) / sizeof(stats_buckets[0]))

static atomic_uint_fast64_t stats_counters[STATS_COUNTERS];
/* Static storage: the counters start at zero without an init call. */
static struct metrics_histogram stats_hist = {.bounds = stats_buckets, .n = STATS_NBUCKETS};
static atomic_long stats_pending;
static atomic_int stats_redis = 1;

void stats_add(enum stats_counter c, uint64_t n)
{
    atomic_fetch_add(&stats_counters[c], n);
}

uint64_t stats_get(enum stats_counter c)
{
    return atomic_load(&stats_counters[c]);
}

void stats_webhook_latency(double seconds)
{
    metrics_histogram_observe(&stats_hist, seconds);
}

void stats_set_pending(long jobs)
{
    atomic_store(&stats_pending, jobs);
}

void stats_set_redis_up(int up)
{
    atomic_store(&stats_redis, up);
}

int stats_redis_up(void)
{
    return atomic_load(&stats_redis);
}

void stats_render(struct buf *out)
{
    static const struct {
        const char *name, *help;
    } c[STATS_COUNTERS] = {
        {"notifier_consumed_total", "Messages read from the alerts topic."},
        {"notifier_delivered_total", "Alerts delivered by every sink."},
        {"notifier_retried_total", "Delivery retries scheduled."},
        {"notifier_dead_lettered_total", "Alerts sent to the DLQ after failed delivery."},
        {"notifier_duplicates_suppressed_total", "Alerts skipped as already delivered."},
        {"notifier_malformed_total", "Messages that did not decode (sent to the DLQ)."},
        {"notifier_claims_taken_over_total",
         "Deliveries resumed from a dead notifier (possible duplicates)."},
        {"notifier_webhook_success_total", "Webhook attempts answered 2xx."},
        {"notifier_webhook_failed_total", "Webhook attempts that failed."},
        {"notifier_dlq_write_failed_total", "DLQ writes that failed and were retried."},
    };

    for (int i = 0; i < STATS_COUNTERS; i++)
        metrics_counter(out, c[i].name, c[i].help, stats_get((enum stats_counter)i));
    metrics_gauge(out, "notifier_pending", "Consumed messages not yet handled.",
                  (double)atomic_load(&stats_pending));
    metrics_gauge(out, "notifier_redis_up", "1 when the de-duplication store answers.",
                  (double)atomic_load(&stats_redis));
    metrics_histogram_write(out, "notifier_webhook_latency_seconds",
                            "Duration of webhook attempts.", &stats_hist);
}
