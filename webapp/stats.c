/* stats: the webapp's counters, with the hub's, fan-out's and price table's
 * counts, rendered as Prometheus text for /metrics. */
#include "webapp.h"

#include <stdatomic.h>

#include "kafka.h"
#include "metrics.h"

static const unsigned int stats_codes[STATS_CODES] = {200, 304, 400, 403, 404, 405, 409, 413,
                                                      415, 422, 429, 431, 500, 501, 503};

void stats_init(struct webapp_stats *s)
{
    for (size_t i = 0; i <= STATS_CODES; i++)
        atomic_init(&s->by_code[i], 0);
    atomic_init(&s->alerts_created, 0);
    atomic_init(&s->alerts_deleted, 0);
}

void stats_count_status(struct webapp_stats *s, unsigned int status)
{
    size_t i = 0;

    while (i < STATS_CODES && stats_codes[i] != status)
        i++;
    atomic_fetch_add(&s->by_code[i], 1);
}

static void stats_render_requests(struct webapp_stats *s, struct buf *out)
{
    buf_puts(out, "# HELP webapp_http_requests_total HTTP responses by status code.\n"
                  "# TYPE webapp_http_requests_total counter\n");
    for (size_t i = 0; i <= STATS_CODES; i++) {
        uint64_t v = atomic_load(&s->by_code[i]);
        if (i < STATS_CODES)
            buf_printf(out, "webapp_http_requests_total{code=\"%u\"} %llu\n", stats_codes[i],
                       (unsigned long long)v);
        else
            buf_printf(out, "webapp_http_requests_total{code=\"other\"} %llu\n",
                       (unsigned long long)v);
    }
}

void stats_render(struct webapp_stats *s, struct buf *out)
{
    struct hub_counts h;
    struct fanout_counts f;
    struct kafka_stats k;
    long tickers;
    long simulated;

    hub_counts_get(&h);
    fanout_counts_get(&f);
    kafka_stats_get(&k);
    prices_counts(&tickers, &simulated);
    stats_render_requests(s, out);
    metrics_gauge(out, "webapp_sse_price_streams", "Open /api/stream-prices streams.",
                  (double)h.price_streams);
    metrics_gauge(out, "webapp_sse_alert_streams", "Open /api/stream-alerts streams.",
                  (double)h.alert_streams);
    metrics_counter(out, "webapp_sse_events_sent_total", "SSE messages written to clients.",
                    h.events_sent);
    metrics_counter(out, "webapp_sse_clients_dropped_total",
                    "Streams closed because the client fell too far behind.", h.clients_dropped);
    metrics_counter(out, "webapp_sse_clients_gone_total",
                    "Streams ended as soon as their client closed the connection.", h.clients_gone);
    metrics_counter(out, "webapp_alerts_created_total", "Alerts stored by set-alert.",
                    atomic_load(&s->alerts_created));
    metrics_counter(out, "webapp_alerts_deleted_total", "Alerts removed by delete-alert.",
                    atomic_load(&s->alerts_deleted));
    metrics_counter(out, "webapp_kafka_prices_total", "Price ticks read from Kafka.", f.prices);
    metrics_counter(out, "webapp_price_batches_total",
                    "Price events sent to every price stream: the ticks read together "
                    "(a burst), one write per stream each.",
                    f.batches);
    metrics_counter(out, "webapp_kafka_alerts_total", "Alerts read from Kafka.", f.alerts);
    metrics_counter(out, "webapp_kafka_bad_messages_total",
                    "Malformed messages skipped on either topic.", f.bad_messages);
    metrics_counter(out, "webapp_alerts_duplicate_total",
                    "Alerts a stream had delivered already (a republished outbox entry): "
                    "not sent again.",
                    h.alerts_repeated);
    metrics_counter(out, "webapp_alert_gaps_filled_total",
                    "Streams that missed an alert (alerts out of order) filled from the "
                    "user's history.",
                    h.gaps_filled);
    metrics_counter(out, "webapp_kafka_errors_total", "Kafka client errors.", k.errors);
    metrics_gauge(out, "webapp_tickers", "Assets with a known price.", (double)tickers);
    metrics_gauge(out, "webapp_tickers_simulated", "Assets whose last price was simulated.",
                  (double)simulated);
}
