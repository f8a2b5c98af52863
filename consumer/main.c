/* consumer: the alert evaluator daemon. Reads price ticks (group
 * alert-evaluators), claims the alerts they trigger from Redis in one
 * script per batch, publishes them to the alerts topic through the Redis
 * outbox, serves /health and /metrics. See docs/exactly-once.md. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert_store_migrate.h"
#include "alert_store.h"
#include "config.h"
#include "contract.h"
#include "evaluator.h"
#include "health.h"
#include "kafka.h"
#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "redis.h"
#include "signals.h"
#include "stats.h"
#include "timeutil.h"

#define CONSUMER_POLL_MS 50          /* idle wait for ticks; bounds every loop turn */
#define CONSUMER_RETRY_MS 200        /* pause after a Redis failure */
#define CONSUMER_FLUSH_MS 5000       /* producer flush at shutdown */
#define CONSUMER_CLOSE_MS 8000       /* the group's close at shutdown, at most */
#define CONSUMER_HEALTH_KAFKA_MS 500 /* metadata wait in /health */

struct consumer_config {
    struct common_config common;
    char topic_prices[256];
    char topic_alerts[256];
    char group[256];
    char instance_id[256]; /* empty: dynamic membership */
    long max_tick_age_ms;
    long redeliver_ms;
    long sweep_ms;
};

#define CC struct consumer_config

static const struct config_var consumer_vars[] = {
    CONFIG_METRICS_PORT(CC, CONTRACT_TEXT(CONTRACT_PORT_CONSUMER_METRICS)),
    {"TOPIC_PRICES", CONTRACT_TOPIC_PRICES, "topic the price ticks are read from",
     CONFIG_STRING(CC, topic_prices)},
    {"TOPIC_ALERTS", CONTRACT_TOPIC_ALERTS,
     "topic triggered alerts are published to (key = user_id)", CONFIG_STRING(CC, topic_alerts)},
    {"CONSUMER_GROUP", CONTRACT_GROUP_EVALUATORS, "Kafka consumer group shared by the evaluators",
     CONFIG_STRING(CC, group)},
    {"GROUP_INSTANCE_ID", NULL,
     "static group membership id (unique per instance); a restart within the session "
     "timeout keeps its partitions",
     CONFIG_STRING(CC, instance_id)},
    {"MAX_TICK_AGE_MS", "10000", "ticks older than this fire nothing; 0 = off",
     CONFIG_LONG(CC, max_tick_age_ms, 0, 86400000)},
    {"OUTBOX_REDELIVER_MS", "5000",
     "outbox entries older than this and not in flight here are republished",
     CONFIG_LONG(CC, redeliver_ms, 100, 3600000)},
    {"OUTBOX_SWEEP_MS", "1000", "how often the outbox sweeper runs",
     CONFIG_LONG(CC, sweep_ms, 50, 60000)},
    CONFIG_END,
};

/* State the health thread reads: its own Redis connection (the main one is
 * not thread-safe) and the producer (librdkafka handles are). */
struct consumer_health {
    struct redis_conn *rc;
    _Atomic(rd_kafka_t *) producer; /* swapped by consumer_renew_producer */
    struct consumer_stats *stats;
};

static int consumer_health_check(void *ud, struct buf *out)
{
    struct consumer_health *h = ud;
    int redis_ok = redis_conn_ping(h->rc) == 0;
    int kafka_ok = kafka_ping(atomic_load(&h->producer), CONSUMER_HEALTH_KAFKA_MS) == 0;

    buf_printf(out, "{\"status\":\"%s\",\"redis\":\"%s\",\"kafka\":\"%s\",\"outbox_depth\":%lld}",
               redis_ok && kafka_ok ? "ok" : "unavailable", redis_ok ? "ok" : "down",
               kafka_ok ? "ok" : "down", (long long)atomic_load(&h->stats->outbox_depth));
    return redis_ok && kafka_ok ? 0 : -1;
}

static void consumer_metrics(void *ud, struct buf *out)
{
    struct consumer_health *h = ud;

    stats_render(h->stats, out);
}

/* Replaces a consumer that hit a fatal error (a static member is fenced
 * when its old session's commit lands after a broker restart): librdkafka
 * never recovers such a handle. Uncommitted ticks are read again by the new
 * one, which the atomic claims make harmless. Returns 0, or -1 when no new
 * consumer could be made (*consumer is NULL then; try again later). */
static int consumer_reopen(const struct consumer_config *cfg, const struct kafka_opts *copts,
                           struct evaluator *ev, rd_kafka_t **consumer)
{
    char err[KAFKA_ERR_MAX];
    char why[256] = "";
    const char *topics[2] = {cfg->topic_prices, NULL};

    if (*consumer != NULL) {
        rd_kafka_fatal_error(*consumer, why, sizeof(why));
        log_warn("kafka consumer fatal", "error=\"%s\" action=\"recreating the consumer\"", why);
        evaluator_set_consumer(ev, NULL);
        kafka_consumer_close(*consumer);
        *consumer = NULL;
    }
    *consumer = kafka_consumer_new(copts, cfg->group, topics, err, sizeof(err));
    if (*consumer == NULL) {
        log_error("kafka consumer recreate failed", "error=\"%s\"", err);
        return -1;
    }
    evaluator_set_consumer(ev, *consumer);
    log_info("kafka consumer recreated", "group=%s", cfg->group);
    return 0;
}

/* The producer of the alerts, and the one it replaced (kept until the
 * health thread can no longer be using it). */
struct consumer_producer {
    rd_kafka_t *rk;
    const struct kafka_opts *opts;
    rd_kafka_t *retired;
    int64_t retired_at;
};

#define CONSUMER_RETIRE_MS 10000 /* > the health check's Kafka timeout */

/* Replaces a producer that hit a fatal error (the idempotent producer's
 * sequence lost in a broker failover): its unacknowledged alerts fail now,
 * so their outbox entries are published again by the new one. */
static void consumer_renew_producer(struct consumer_producer *p, struct outbox *ob,
                                    struct consumer_health *health)
{
    rd_kafka_t *fresh;

    if (p->retired != NULL && time_mono_ms() - p->retired_at >= CONSUMER_RETIRE_MS) {
        kafka_producer_close(p->retired, 0);
        p->retired = NULL;
    }
    if (!kafka_producer_failed(p->rk) || p->retired != NULL ||
        (fresh = kafka_producer_renew(p->opts)) == NULL)
        return;
    kafka_producer_purge(p->rk);
    outbox_attach(ob, fresh);
    atomic_store(&health->producer, fresh);
    p->retired = p->rk;
    p->retired_at = time_mono_ms();
    p->rk = fresh;
}

/* The main loop: evaluate ticks, serve the outbox, back off while Redis is
 * down (held ticks are retried, never skipped), replace a consumer that
 * hit a fatal error. */
static void consumer_run(const struct consumer_config *cfg, const struct kafka_opts *copts,
                         struct evaluator *ev, struct outbox *ob, struct redis_conn *rc,
                         rd_kafka_t **consumer, struct consumer_producer *prod,
                         struct consumer_health *health)
{
    struct alert_store_migration mig = {0};

    while (signals_running()) {
        consumer_renew_producer(prod, ob, health);
        /* Histories of the version before move once; claims need not wait. */
        alert_store_migrate_step(rc, &mig);
        if (*consumer == NULL || evaluator_consumer_fatal(ev)) {
            if (consumer_reopen(cfg, copts, ev, consumer) != 0) {
                time_sleep_ms(CONSUMER_RETRY_MS);
                outbox_service(ob, cfg->sweep_ms);
                continue;
            }
        }
        if (evaluator_poll(ev, CONSUMER_POLL_MS) < 0)
            time_sleep_ms(CONSUMER_RETRY_MS);
        outbox_service(ob, cfg->sweep_ms);
    }
}

/* Creates the Kafka clients. Returns 0 or -1 with err. */
static int consumer_kafka_open(const struct consumer_config *cfg, struct kafka_opts *popts,
                               struct kafka_opts *copts, rd_kafka_t **producer,
                               rd_kafka_t **consumer, char *err, size_t errlen)
{
    const char *topics[2] = {cfg->topic_prices, NULL};

    *producer = kafka_producer_new(popts, err, errlen);
    if (*producer == NULL)
        return -1;
    *consumer = kafka_consumer_new(copts, cfg->group, topics, err, errlen);
    return *consumer != NULL ? 0 : -1;
}

static void consumer_log_start(const struct consumer_config *cfg)
{
    log_info("consumer starting",
             "kafka=%s redis=%s:%ld topic_prices=%s topic_alerts=%s group=%s instance=%s "
             "max_tick_age_ms=%ld redeliver_ms=%ld metrics_port=%ld",
             cfg->common.kafka_bootstrap, cfg->common.redis_host, cfg->common.redis_port,
             cfg->topic_prices, cfg->topic_alerts, cfg->group,
             cfg->instance_id[0] ? cfg->instance_id : "-", cfg->max_tick_age_ms, cfg->redeliver_ms,
             cfg->common.metrics_port);
}

static const struct daemon_desc consumer_daemon = {
    "consumer", "Alert evaluator: fires each triggered alert exactly once.", consumer_vars,
    sizeof(struct consumer_config), NULL};

int main(int argc, char **argv)
{
    struct consumer_config cfg = {0};
    char err[CONFIG_ERR_MAX + KAFKA_ERR_MAX];
    static struct consumer_stats stats;
    struct consumer_health health = {0};
    struct consumer_producer prod = {0};
    struct health_server *hs = NULL;
    struct redis_conn *rc = NULL;
    struct outbox *ob = NULL;
    struct evaluator *ev = NULL;
    rd_kafka_t *producer = NULL, *consumer = NULL;
    const char *cextra[] = {"group.instance.id", NULL, NULL};
    struct kafka_opts popts = {0}, copts = {0};
    int rc_exit;
    int close_abandoned = 0;

    rc_exit = daemon_begin(&consumer_daemon, argc, argv, &cfg, &cfg.common);
    if (rc_exit >= 0)
        return rc_exit;
    rc_exit = 1;
    consumer_log_start(&cfg);
    stats_init(&stats);
    rc = redis_conn_open(&cfg.common);
    health.rc = redis_conn_open(&cfg.common);
    ob = rc != NULL ? outbox_new(rc, cfg.topic_alerts, cfg.redeliver_ms, &stats) : NULL;
    if (rc == NULL || health.rc == NULL || ob == NULL) {
        log_error("out of memory", NULL);
        goto out;
    }
    popts = (struct kafka_opts){.bootstrap = cfg.common.kafka_bootstrap,
                                .client_id = "consumer",
                                .dr_cb = outbox_on_delivery,
                                .opaque = ob};
    cextra[1] = cfg.instance_id;
    copts = (struct kafka_opts){.bootstrap = cfg.common.kafka_bootstrap,
                                .client_id = "consumer",
                                .extra = cfg.instance_id[0] ? cextra : NULL};
    if (consumer_kafka_open(&cfg, &popts, &copts, &producer, &consumer, err, sizeof(err)) != 0) {
        log_error("kafka setup failed", "error=\"%s\"", err);
        goto out;
    }
    outbox_attach(ob, producer);
    ev = evaluator_new(rc, consumer, ob, &stats, cfg.max_tick_age_ms);
    if (ev == NULL) {
        log_error("out of memory", NULL);
        goto out;
    }
    atomic_store(&health.producer, producer);
    health.stats = &stats;
    if (cfg.common.metrics_port > 0) {
        hs =
            health_server_start(cfg.common.listen_host, (int)cfg.common.metrics_port,
                                consumer_health_check, consumer_metrics, &health, err, sizeof(err));
        if (hs == NULL) {
            log_error("health server failed", "error=\"%s\"", err);
            goto out;
        }
    }
    log_info("consumer running", NULL);
    prod.rk = producer;
    prod.opts = &popts;
    consumer_run(&cfg, &copts, ev, ob, rc, &consumer, &prod, &health);
    producer = prod.rk;
    rc_exit = 0;
out:
    log_info("consumer stopping", NULL);
    evaluator_free(ev);
    /* Bounded: with Kafka down the group's close alone can take
     * session.timeout.ms and its destroy as long, past the stop's grace. */
    if (consumer != NULL)
        close_abandoned = kafka_consumer_close_within(consumer, CONSUMER_CLOSE_MS) != 0;
    health_server_stop(hs);
    if (producer != NULL) {
        /* Delivery reports served by the flush still acknowledge entries.
         * With no broker answering, nothing more can be delivered: the
         * entries not acknowledged stay in the outbox for the next sweep,
         * and a flush would only hold the shutdown past its grace (the
         * group's close above already waited session.timeout.ms). */
        if (kafka_ping(producer, 300) == 0)
            kafka_producer_close(producer, CONSUMER_FLUSH_MS);
        else
            kafka_producer_discard(producer);
        outbox_attach(ob, NULL);
        if (ob != NULL && outbox_flush_acks(ob) > 0)
            log_warn("outbox acks left", "note=\"republished by the next sweep\"");
    }
    kafka_producer_close(prod.retired, 0);
    outbox_free(ob);
    redis_conn_free(health.rc);
    redis_conn_free(rc);
    log_info("consumer stopped", "exit=%d", rc_exit);
    if (close_abandoned) {
        /* librdkafka's close still runs in its thread: leave without the
         * exit handlers that would tear down what it uses. */
        fflush(NULL);
        _exit(rc_exit);
    }
    return rc_exit;
}
