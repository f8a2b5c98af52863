/* publish: validation, encoding (common/message) and kafka_produce. */
#include "publish.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "message.h"
#include "timeutil.h"

#define PUBLISH_LOG_PERIOD_MS 5000
#define PUBLISH_QUEUE_WAIT_MS 50 /* back-pressure when the local queue is full */

void publisher_init(struct publisher *p, rd_kafka_t *rk, const struct kafka_opts *opts,
                    const char *topic, struct producer_stats *stats)
{
    p->rk = rk;
    p->opts = opts;
    p->topic = topic;
    p->stats = stats;
    ratelog_init(&p->drop_log, PUBLISH_LOG_PERIOD_MS);
    ratelog_init(&p->fail_log, PUBLISH_LOG_PERIOD_MS);
}

void publisher_close(struct publisher *p, int timeout_ms)
{
    kafka_producer_close(p->rk, timeout_ms);
    p->rk = NULL;
}

/* A producer that hit a fatal error is replaced before the next tick: its
 * unsent ticks are dropped (a price is sent again a tick later). */
static void publisher_check(struct publisher *p)
{
    rd_kafka_t *fresh;

    if (!kafka_producer_failed(p->rk) || (fresh = kafka_producer_renew(p->opts)) == NULL)
        return;
    kafka_producer_discard(p->rk);
    p->rk = fresh;
}

int publish_price_ok(double price)
{
    return isfinite(price) && price > 0 && price <= PUBLISH_PRICE_MAX;
}

static void publish_drop(struct publisher *p, const struct asset *a, double price,
                         enum price_source src, const char *why)
{
    unsigned long held = 0;

    atomic_fetch_add(&p->stats->dropped_bad, 1);
    if (ratelog_allow(&p->drop_log, time_mono_ms(), &held))
        log_warn("bad price dropped", "ticker=%s price=%g source=%s reason=\"%s\" suppressed=%lu",
                 a->ticker, price, stats_source_name(src), why, held);
}

int publish_price(struct publisher *p, const struct asset *a, double price, double ts,
                  enum price_source src, double previous_close)
{
    struct price_msg m;
    char json[MSG_MAX_BYTES];
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    unsigned long held = 0;
    int len;

    if (!publish_price_ok(price)) {
        publish_drop(p, a, price, src, "not a finite positive number");
        return 1;
    }
    memset(&m, 0, sizeof(m));
    snprintf(m.ticker, sizeof(m.ticker), "%s", a->ticker);
    snprintf(m.company, sizeof(m.company), "%s", asset_company(a));
    snprintf(m.display_name, sizeof(m.display_name), "%s", asset_display_name(a));
    snprintf(m.source, sizeof(m.source), "%s", stats_source_name(src));
    m.price = price;
    m.timestamp = ts;
    if (publish_price_ok(previous_close))
        m.previous_close = previous_close;
    m.has_decimals = a->decimals >= 0 && a->decimals <= MSG_DECIMALS_MAX;
    m.decimals = a->decimals;
    len = price_msg_encode(&m, json, sizeof(json));
    if (len < 0) {
        publish_drop(p, a, price, src, "message does not encode");
        return 1;
    }
    publisher_check(p);
    if (kafka_produce(p->rk, p->topic, m.ticker, strlen(m.ticker), json, (size_t)len, NULL,
                      PUBLISH_QUEUE_WAIT_MS, &err) != 0) {
        atomic_fetch_add(&p->stats->publish_failed, 1);
        if (ratelog_allow(&p->fail_log, time_mono_ms(), &held))
            log_warn("publish failed", "ticker=%s error=\"%s\" suppressed=%lu", a->ticker,
                     rd_kafka_err2str(err), held);
        return -1;
    }
    atomic_fetch_add(&p->stats->published, 1);
    atomic_store(&p->stats->last_publish_ms, time_mono_ms());
    return 0;
}

int publish_asset(struct publisher *p, const char *topic, const struct asset *a,
                  enum price_source src, long interval_ms, long valid_ms)
{
    struct asset_msg m;
    char json[MSG_MAX_BYTES];
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    unsigned long held = 0;
    int len;

    memset(&m, 0, sizeof(m));
    snprintf(m.ticker, sizeof(m.ticker), "%s", a->ticker);
    snprintf(m.company, sizeof(m.company), "%s", asset_company(a));
    snprintf(m.display_name, sizeof(m.display_name), "%s", asset_display_name(a));
    snprintf(m.source, sizeof(m.source), "%s", stats_source_name(src));
    m.interval_ms = interval_ms;
    m.valid_ms = valid_ms;
    m.published_at = time_now();
    len = asset_msg_encode(&m, json, sizeof(json));
    if (len < 0)
        return -1;
    publisher_check(p);
    if (kafka_produce(p->rk, topic, m.ticker, strlen(m.ticker), json, (size_t)len, NULL,
                      PUBLISH_QUEUE_WAIT_MS, &err) != 0) {
        if (ratelog_allow(&p->fail_log, time_mono_ms(), &held))
            log_warn("asset announcement failed", "ticker=%s error=\"%s\" suppressed=%lu",
                     a->ticker, rd_kafka_err2str(err), held);
        return -1;
    }
    return 0;
}
