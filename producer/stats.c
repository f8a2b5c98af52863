/* stats: the producer's counters, rendered as Prometheus text, and the
 * /health body over them. */
#include "stats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "metrics.h"
#include "timeutil.h"

#define STATS_STALL_MS 30000

const char *stats_source_name(enum price_source s)
{
    switch (s) {
    case SOURCE_YAHOO:
        return "yahoo";
    case SOURCE_SIM:
        return "sim";
    case SOURCE_REPLAY:
        return "replay";
    }
    return "sim";
}

void stats_init(struct producer_stats *s, const char *mode, long assets, enum price_source src)
{
    atomic_init(&s->published, 0);
    atomic_init(&s->publish_failed, 0);
    atomic_init(&s->dropped_bad, 0);
    atomic_init(&s->yahoo_requests, 0);
    atomic_init(&s->yahoo_failures, 0);
    atomic_init(&s->yahoo_rate_limited, 0);
    atomic_init(&s->source_switches, 0);
    atomic_init(&s->source, (int)src);
    atomic_init(&s->last_delivery_ms, 0);
    atomic_init(&s->last_publish_ms, 0);
    s->started_ms = time_mono_ms();
    s->mode = mode;
    s->assets = assets;
    pthread_mutex_init(&s->lock, NULL);
    s->last_yahoo_error[0] = '\0';
    s->last_yahoo_error_at = 0;
}

void stats_destroy(struct producer_stats *s)
{
    pthread_mutex_destroy(&s->lock);
}

void stats_set_yahoo_error(struct producer_stats *s, const char *err)
{
    pthread_mutex_lock(&s->lock);
    snprintf(s->last_yahoo_error, sizeof(s->last_yahoo_error), "%s", err);
    s->last_yahoo_error_at = time_now();
    pthread_mutex_unlock(&s->lock);
}

/* Kafka is stalled when messages were enqueued since the last delivery
 * report and none has come for STATS_STALL_MS. */
static int stats_kafka_stalled(struct producer_stats *s, int64_t now)
{
    int64_t last_ok = atomic_load(&s->last_delivery_ms);
    int64_t last_pub = atomic_load(&s->last_publish_ms);

    if (last_ok < s->started_ms)
        last_ok = s->started_ms;
    return last_pub > last_ok && now - last_ok > STATS_STALL_MS;
}

int stats_health(void *ud, struct buf *out)
{
    struct producer_stats *s = ud;
    struct kafka_stats ks;
    int stalled = stats_kafka_stalled(s, time_mono_ms());
    json_t *o;
    char *txt;

    kafka_stats_get(&ks);
    pthread_mutex_lock(&s->lock);
    o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:s, s:s?, s:f}", "status",
                  stalled ? "kafka stalled" : "ok", "mode", s->mode, "source",
                  stats_source_name((enum price_source)atomic_load(&s->source)), "assets",
                  (int)s->assets, "published", (json_int_t)atomic_load(&s->published), "delivered",
                  (json_int_t)ks.delivered, "failed",
                  (json_int_t)(ks.failed + atomic_load(&s->publish_failed)), "dropped_bad_prices",
                  (json_int_t)atomic_load(&s->dropped_bad), "yahoo_failures",
                  (json_int_t)atomic_load(&s->yahoo_failures), "kafka", stalled ? "stalled" : "ok",
                  "last_yahoo_error", s->last_yahoo_error[0] ? s->last_yahoo_error : NULL,
                  "last_yahoo_error_at", s->last_yahoo_error_at);
    pthread_mutex_unlock(&s->lock);
    txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    buf_puts(out, txt ? txt : "{\"status\":\"error\"}");
    free(txt);
    json_decref(o);
    return stalled ? -1 : 0;
}

void stats_render(struct producer_stats *s, struct buf *out)
{
    struct kafka_stats ks;
    int src = atomic_load(&s->source);
    double err_at;

    kafka_stats_get(&ks);
    pthread_mutex_lock(&s->lock);
    err_at = s->last_yahoo_error_at;
    pthread_mutex_unlock(&s->lock);
    metrics_counter(out, "producer_published_total", "price messages handed to Kafka",
                    atomic_load(&s->published));
    metrics_counter(out, "producer_delivered_total", "messages Kafka acknowledged", ks.delivered);
    metrics_counter(out, "producer_failed_total",
                    "messages that failed (refused by the client or delivery failed)",
                    ks.failed + atomic_load(&s->publish_failed));
    metrics_counter(out, "producer_dropped_bad_prices_total",
                    "bad prices dropped (NaN, infinite, <= 0, unparsable)",
                    atomic_load(&s->dropped_bad));
    metrics_counter(out, "producer_yahoo_requests_total", "finished Yahoo requests",
                    atomic_load(&s->yahoo_requests));
    metrics_counter(out, "producer_yahoo_failures_total", "Yahoo requests without a price",
                    atomic_load(&s->yahoo_failures));
    metrics_counter(out, "producer_yahoo_rate_limited_total", "Yahoo HTTP 429 answers",
                    atomic_load(&s->yahoo_rate_limited));
    metrics_counter(out, "producer_source_switches_total", "auto mode switches yahoo<->sim",
                    atomic_load(&s->source_switches));
    metrics_counter(out, "producer_kafka_errors_total", "Kafka client errors", ks.errors);
    metrics_gauge(out, "producer_assets", "symbols this instance publishes", (double)s->assets);
    metrics_gauge(out, "producer_yahoo_last_error_timestamp_seconds",
                  "Unix time of the last Yahoo error (0 if none)", err_at);
    /* One HELP/TYPE line for the three samples. */
    buf_puts(out, "# HELP producer_source 1 for the price source in use\n"
                  "# TYPE producer_source gauge\n");
    for (int i = SOURCE_YAHOO; i <= SOURCE_REPLAY; i++)
        buf_printf(out, "producer_source{source=\"%s\"} %d\n",
                   stats_source_name((enum price_source)i), i == src);
}
