/* stats: the webapp's counters and their Prometheus text for /metrics. */
#include "webapp.h"

#include <stdatomic.h>

#include "kafka.h"
#include "metrics.h"

static const unsigned int stats_codes[] = {200, 304, 400, 403, 404, 405, 409, 413, 415,
                                           422, 429, 431, 500, 501, 503};
#define STATS_NCODES (sizeof(stats_codes) / sizeof(stats_codes[0]))

static atomic_uint_fast64_t stats_by_code[STATS_NCODES + 1]; /* last: any other */
static atomic_uint_fast64_t stats_created;
static atomic_uint_fast64_t stats_deleted;

void stats_count_status(unsigned int status)
{
    size_t i = 0;

    while (i < STATS_NCODES && stats_codes[i] != status)
        i++;
    atomic_fetch_add(&stats_by_code[i], 1);
}

void stats_alert_created(void)
{
    atomic_fetch_add(&stats_created, 1);
}

void stats_alert_deleted(void)
{
    atomic_fetch_add(&stats_deleted, 1);
}

static void stats_write_requests(struct buf *out)
{
    buf_puts(out, "# HELP webapp_http_requests_total HTTP responses by status code.\n"
                  "# TYPE webapp_http_requests_total counter\n");
    for (size_t i = 0; i <= STATS_NCODES; i++) {
        uint64_t v = atomic_load(&stats_by_code[i]);
        if (i < STATS_NCODES)
            buf_printf(out, "webapp_http_requests_total{code=\"%u\"} %llu\n", stats_codes[i],
                       (unsigned long long)v);
        else
            buf_printf(out, "webapp_http_requests_total{code=\"other\"} %llu\n",
                       (unsigned long long)v);
    }
}

void stats_write(struct buf *out)
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
    stats_write_requests(out);
    metrics_gauge(out, "webapp_sse_price_streams", "Open /api/stream-prices streams.",
                  (double)h.price_streams);
    metrics_gauge(out, "webapp_sse_alert_streams", "Open /api/stream-alerts streams.",
                  (double)h.alert_streams);
    metrics_counter(out, "webapp_sse_events_sent_total", "SSE messages written to clients.",
                    h.events_sent);
    metrics_counter(out, "webapp_sse_clients_dropped_total",
                    "Streams closed because the client fell too far behind.",
                    h.clients_dropped);
    metrics_counter(out, "webapp_sse_clients_gone_total",
                    "Streams ended as soon as their client closed the connection.",
                    h.clients_gone);
    metrics_counter(out, "webapp_alerts_created_total", "Alerts stored by set-alert.",
                    atomic_load(&stats_created));
    metrics_counter(out, "webapp_alerts_deleted_total", "Alerts removed by delete-alert.",
                    atomic_load(&stats_deleted));
    metrics_counter(out, "webapp_kafka_prices_total", "Price ticks read from Kafka.", f.prices);
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
