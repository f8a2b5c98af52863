/* stats: the notifier's counters and webhook latency histogram, rendered as
 * Prometheus text. */
#include "stats.h"

#include "metrics.h"

/* Upper bounds in seconds. */
static const double stats_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5,   1.0,  2.5,   5.0,  10.0};

void stats_init(struct notifier_stats *s)
{
    atomic_init(&s->consumed, 0);
    atomic_init(&s->delivered, 0);
    atomic_init(&s->retried, 0);
    atomic_init(&s->dead_lettered, 0);
    atomic_init(&s->duplicates, 0);
    atomic_init(&s->malformed, 0);
    atomic_init(&s->expired, 0);
    atomic_init(&s->taken_over, 0);
    atomic_init(&s->webhook_ok, 0);
    atomic_init(&s->webhook_failed, 0);
    atomic_init(&s->dlq_failed, 0);
    atomic_init(&s->confirm_sent, 0);
    atomic_init(&s->confirm_failed, 0);
    atomic_init(&s->confirm_skipped, 0);
    atomic_init(&s->email_sent, 0);
    atomic_init(&s->email_failed, 0);
    atomic_init(&s->email_skipped, 0);
    atomic_init(&s->pending, 0);
    atomic_init(&s->redis_up, 1);
    metrics_histogram_init(&s->webhook_latency, stats_bounds,
                           sizeof(stats_bounds) / sizeof(stats_bounds[0]));
}

void stats_render(struct notifier_stats *s, struct buf *out)
{
    metrics_counter(out, "notifier_consumed_total", "Messages read from the alerts topic.",
                    atomic_load(&s->consumed));
    metrics_counter(out, "notifier_delivered_total", "Alerts delivered by every sink.",
                    atomic_load(&s->delivered));
    metrics_counter(out, "notifier_retried_total", "Delivery retries scheduled.",
                    atomic_load(&s->retried));
    metrics_counter(out, "notifier_dead_lettered_total",
                    "Alerts sent to the DLQ after failed delivery.",
                    atomic_load(&s->dead_lettered));
    metrics_counter(out, "notifier_duplicates_suppressed_total",
                    "Alerts skipped as already delivered.", atomic_load(&s->duplicates));
    metrics_counter(out, "notifier_malformed_total",
                    "Messages that did not decode (sent to the DLQ).", atomic_load(&s->malformed));
    metrics_counter(out, "notifier_expired_total",
                    "Alerts that expired unfired (in their user's history; nothing delivered).",
                    atomic_load(&s->expired));
    metrics_counter(out, "notifier_claims_taken_over_total",
                    "Deliveries resumed from a dead notifier (possible duplicates).",
                    atomic_load(&s->taken_over));
    metrics_counter(out, "notifier_webhook_success_total", "Webhook attempts answered 2xx.",
                    atomic_load(&s->webhook_ok));
    metrics_counter(out, "notifier_webhook_failed_total", "Webhook attempts that failed.",
                    atomic_load(&s->webhook_failed));
    metrics_counter(out, "notifier_dlq_write_failed_total",
                    "DLQ writes that failed and were retried.", atomic_load(&s->dlq_failed));
    metrics_counter(out, "notifier_email_confirm_sent_total",
                    "Confirmation mails the SMTP server accepted.", atomic_load(&s->confirm_sent));
    metrics_counter(out, "notifier_email_confirm_failed_total",
                    "Confirmation mails given up on (attempts spent or refused).",
                    atomic_load(&s->confirm_failed));
    metrics_counter(out, "notifier_email_confirm_skipped_total",
                    "Confirmation requests skipped: the address was changed, removed or "
                    "confirmed meanwhile.",
                    atomic_load(&s->confirm_skipped));
    metrics_counter(out, "notifier_email_sent_total", "Alert mails the SMTP server accepted.",
                    atomic_load(&s->email_sent));
    metrics_counter(out, "notifier_email_failed_total", "Alert mail attempts that failed.",
                    atomic_load(&s->email_failed));
    metrics_counter(out, "notifier_email_skipped_total",
                    "Alerts of the email channel not mailed: no confirmed address, or over the "
                    "user's rate.",
                    atomic_load(&s->email_skipped));
    metrics_gauge(out, "notifier_pending", "Consumed messages not yet handled.",
                  (double)atomic_load(&s->pending));
    metrics_gauge(out, "notifier_redis_up", "1 when the de-duplication store answers.",
                  (double)atomic_load(&s->redis_up));
    metrics_histogram_write(out, "notifier_webhook_latency_seconds",
                            "Duration of webhook attempts.", &s->webhook_latency);
}
