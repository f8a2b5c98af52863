/* evaluator_bench: throughput of one evaluator (the consumer's own modules:
 * Kafka consumer -> decode -> claim script -> outbox -> Kafka producer ->
 * XDEL) with BENCH_ALERTS resident alerts. Not a test: prints ticks/s and
 * fired alerts/s. Writes to the Redis and Kafka of the usual variables
 * (REDIS_HOST, REDIS_PORT, KAFKA_BOOTSTRAP_SERVERS): use dev servers. Its
 * keys carry a unique tag and are removed at the end. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert_store.h"
#include "config.h"
#include "evaluator.h"
#include "kafka.h"
#include "log.h"
#include "outbox.h"
#include "redis.h"
#include "signals.h"
#include "stats.h"
#include "timeutil.h"

#define BENCH_PIPELINE 2000 /* alerts per pipelined round trip */
#define BENCH_TICKERS_MAX 1000
#define BENCH_WRITES 3 /* commands per alert (bench_append_alert) */

struct bench {
    struct common_config cc;
    long alerts, ticks, tickers, fire_steps;
    char tag[16];
    char topic_prices[64], topic_alerts[64];
    char (*ticker)[32];
    struct redis_conn *rc;
    rd_kafka_t *producer; /* the evaluator's */
    rd_kafka_t *feeder;   /* writes the ticks */
    rd_kafka_t *consumer;
    struct outbox *ob;
    struct evaluator *ev;
    struct consumer_stats stats;
};

static const struct config_var bench_vars[] = {
    {"BENCH_ALERTS", "1000000", "resident alerts",
     CONFIG_LONG(struct bench, alerts, 1000, 50000000)},
    {"BENCH_TICKS", "500000", "ticks of the quiet phase",
     CONFIG_LONG(struct bench, ticks, 1000, 50000000)},
    {"BENCH_TICKERS", "100", "distinct tickers",
     CONFIG_LONG(struct bench, tickers, 1, BENCH_TICKERS_MAX)},
    {"BENCH_FIRE_STEPS", "400", "firing phase: ticks per ticker",
     CONFIG_LONG(struct bench, fire_steps, 1, 100000)},
    CONFIG_END,
};

static int bench_config(struct bench *b)
{
    char err[CONFIG_ERR_MAX];

    if (config_load(config_common_vars, &b->cc, err, sizeof(err)) != 0 ||
        config_load(bench_vars, b, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(b->tag, sizeof(b->tag), "B%d", (int)(getpid() % 100000));
    snprintf(b->topic_prices, sizeof(b->topic_prices), "bench-prices-%s", b->tag);
    snprintf(b->topic_alerts, sizeof(b->topic_alerts), "bench-alerts-%s", b->tag);
    return 0;
}

/* One write of an alert. A single instance: appended to the pipeline on
 * ctx (its reply collected by the caller). Cluster mode: an alert's keys
 * are in its user's slot and its ticker's, so each write runs at once on
 * the node of its key (ctx unused). Returns 0, or -1 when Redis failed. */
static int bench_write(struct bench *b, redisContext *ctx, const char *key, const char *fmt, ...)
{
    redisReply *r = NULL;
    va_list ap;
    int rv;

    if (!redis_conn_is_cluster(b->rc)) {
        va_start(ap, fmt);
        rv = redisvAppendCommand(ctx, fmt, ap) == REDIS_OK ? 0 : -1;
        va_end(ap);
        return rv;
    }
    ctx = redis_conn_context_key(b->rc, key, strlen(key));
    if (ctx == NULL)
        return -1;
    va_start(ap, fmt);
    rv = redisvAppendCommand(ctx, fmt, ap) == REDIS_OK ? 0 : -1;
    va_end(ap);
    if (rv == 0 && redis_conn_get_reply(b->rc, &r) != 0)
        rv = -1;
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

/* The writes alert_store_create_once does (armed), without its checks. */
static int bench_append_alert(redisContext *ctx, struct bench *b, long i, unsigned *seed)
{
    char id[48], user[32], thr[32], key[96], entry[160];
    const char *ticker = b->ticker[i % b->tickers];
    int above = (i / b->tickers) % 2 == 0;
    /* above: 200..300, below: 0.01..100; prices in between fire nothing */
    double t = above ? 200.0 + (double)(rand_r(seed) % 1000000) / 10000.0
                     : 0.01 + (double)(rand_r(seed) % 999900) / 10000.0;

    snprintf(id, sizeof(id), "%s-%ld", b->tag, i);
    snprintf(user, sizeof(user), "bu%s-%ld", b->tag, i % 1000);
    snprintf(thr, sizeof(thr), "%.4f", t);
    /* The values hold spaces: each is formatted first and sent as one argument. */
    snprintf(entry, sizeof(entry), "%s %s %s %ld a", ticker, thr, above ? "above" : "below",
             1700000000L + i);
    snprintf(key, sizeof(key), "user_alerts:{%s}", user);
    if (bench_write(b, ctx, key, "HSET %s %s %s", key, id, entry) != 0)
        return -1;
    snprintf(entry, sizeof(entry), "%s %s %s", user, thr, above ? "above" : "below");
    snprintf(key, sizeof(key), "ticker_alerts:{%s}", ticker);
    if (bench_write(b, ctx, key, "HSET %s %s %s", key, id, entry) != 0)
        return -1;
    snprintf(key, sizeof(key), "alert_idx:{%s}:%s", ticker, above ? "above" : "below");
    return bench_write(b, ctx, key, "ZADD %s %s %s", key, thr, id);
}

static int bench_load_alerts(struct bench *b)
{
    unsigned seed = 1;
    int64_t t0 = time_mono_ms();
    int cluster = redis_conn_is_cluster(b->rc);

    for (long i = 0; i < b->alerts; i += BENCH_PIPELINE) {
        redisContext *ctx = cluster ? NULL : redis_conn_context(b->rc);
        long n = b->alerts - i < BENCH_PIPELINE ? b->alerts - i : BENCH_PIPELINE;
        if (ctx == NULL && !cluster)
            return -1;
        for (long k = 0; k < n; k++)
            if (bench_append_alert(ctx, b, i + k, &seed) != 0)
                return -1;
        for (long k = 0; k < n * BENCH_WRITES && !cluster; k++) {
            redisReply *r = NULL;
            if (redis_conn_get_reply(b->rc, &r) != 0)
                return -1;
            freeReplyObject(r);
        }
    }
    printf("loaded %ld alerts on %ld tickers in %.1f s\n", b->alerts, b->tickers,
           (double)(time_mono_ms() - t0) / 1000.0);
    return 0;
}

/* Writes ticks to the prices topic: quiet prices (100..200) or a rising
 * sweep over the above thresholds from 200. */
static int bench_feed(struct bench *b, long count, int firing)
{
    struct price_msg m;
    char buf[MSG_MAX_BYTES];

    memset(&m, 0, sizeof(m));
    snprintf(m.source, sizeof(m.source), "sim");
    for (long i = 0; i < count; i++) {
        long step = i / b->tickers;
        int len;
        snprintf(m.ticker, sizeof(m.ticker), "%s", b->ticker[i % b->tickers]);
        snprintf(m.company, sizeof(m.company), "%s", m.ticker);
        snprintf(m.display_name, sizeof(m.display_name), "%s", m.ticker);
        m.price = firing ? 200.0 + (double)(step + 1) * 0.1 : 100.0 + (double)(i % 9999) / 100.0;
        m.timestamp = time_now();
        len = price_msg_encode(&m, buf, sizeof(buf));
        if (len < 0 || kafka_produce(b->feeder, b->topic_prices, m.ticker, strlen(m.ticker), buf,
                                     (size_t)len, NULL, 10000, NULL) != 0)
            return -1;
    }
    rd_kafka_flush(b->feeder, 30000);
    return 0;
}

static int bench_open_kafka(struct bench *b)
{
    static struct kafka_opts popts, fopts, copts;
    static const char *const cextra[] = {"auto.offset.reset", "earliest", NULL};
    const char *topics[] = {b->topic_prices, b->topic_alerts, NULL};
    char err[KAFKA_ERR_MAX], group[64];

    if (kafka_create_topics(b->cc.kafka_bootstrap, topics, 1, 10000, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    popts = (struct kafka_opts){.bootstrap = b->cc.kafka_bootstrap,
                                .client_id = "bench-evaluator",
                                .dr_cb = outbox_on_delivery,
                                .opaque = b->ob};
    fopts = (struct kafka_opts){.bootstrap = b->cc.kafka_bootstrap, .client_id = "bench-feed"};
    copts = (struct kafka_opts){
        .bootstrap = b->cc.kafka_bootstrap, .client_id = "bench-evaluator", .extra = cextra};
    topics[1] = NULL;
    snprintf(group, sizeof(group), "bench-%s", b->tag);
    b->producer = kafka_producer_new(&popts, err, sizeof(err));
    b->feeder = kafka_producer_new(&fopts, err, sizeof(err));
    b->consumer = kafka_consumer_new(&copts, group, topics, err, sizeof(err));
    if (b->producer == NULL || b->feeder == NULL || b->consumer == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    outbox_attach(b->ob, b->producer);
    return 0;
}

/* Runs the evaluator until `ticks` more ticks are processed and every
 * fired alert is acknowledged. Returns elapsed seconds. */
static double bench_run(struct bench *b, uint64_t ticks)
{
    uint64_t target = atomic_load(&b->stats.ticks_processed) + ticks;
    int64_t t0 = -1, deadline = time_mono_ms() + 600000;

    while (signals_running() && time_mono_ms() < deadline) {
        int n = evaluator_poll(b->ev, 100);
        if (n > 0 && t0 < 0)
            t0 = time_mono_ms(); /* from the first tick: not the group join */
        outbox_service(b->ob, 1000000);
        if (atomic_load(&b->stats.ticks_processed) >= target && outbox_inflight(b->ob) == 0 &&
            atomic_load(&b->stats.alerts_published) >= atomic_load(&b->stats.alerts_fired))
            break;
        if (n == 0 && atomic_load(&b->stats.ticks_processed) >= target)
            rd_kafka_poll(b->producer, 10);
    }
    return t0 < 0 ? 0 : (double)(time_mono_ms() - t0) / 1000.0;
}

/* UNLINKs the keys of one SCAN page in one command; returns how many. */
static long bench_unlink(struct bench *b, const redisReply *keys)
{
    const char **argv = calloc(keys->elements + 1, sizeof(*argv));
    redisReply *d;

    if (argv == NULL || keys->elements == 0) {
        free(argv);
        return 0;
    }
    argv[0] = "UNLINK";
    for (size_t i = 0; i < keys->elements; i++)
        argv[i + 1] = keys->element[i]->str;
    d = redis_conn_argv(b->rc, (int)keys->elements + 1, argv, NULL);
    if (d != NULL)
        freeReplyObject(d);
    free(argv);
    return (long)keys->elements;
}

/* Removes the bench's keys (all carry its tag). */
static void bench_cleanup(struct bench *b)
{
    char cursor[32] = "0", pattern[48];
    long removed = 0;

    snprintf(pattern, sizeof(pattern), "*%s*", b->tag);
    do {
        redisReply *r = redis_conn_command(b->rc, "SCAN %s MATCH %s COUNT 10000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r != NULL)
                freeReplyObject(r);
            return;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        removed += bench_unlink(b, r->element[1]);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    printf("removed %ld keys\n", removed);
}

int main(int argc, char **argv)
{
    static struct bench b;
    double secs;
    uint64_t fired0, ticks_fire;
    int rc = 1;

    (void)argc;
    (void)argv;
    log_init("evaluator_bench", LOG_LVL_WARN);
    signals_install();
    if (bench_config(&b) != 0)
        return 2;
    stats_init(&b.stats);
    b.ticker = calloc((size_t)b.tickers, sizeof(*b.ticker));
    for (long t = 0; t < b.tickers; t++)
        snprintf(b.ticker[t], sizeof(b.ticker[t]), "%.15s-%d", b.tag, (int)t);
    b.cc.redis_timeout_ms = 10000; /* loading tens of thousands of alerts */
    b.rc = redis_conn_open(&b.cc);
    if (b.rc == NULL) {
        free(b.ticker);
        return 2;
    }
    b.ob = outbox_new(b.rc, b.topic_alerts, 60000, &b.stats);
    if (bench_open_kafka(&b) != 0 || bench_load_alerts(&b) != 0)
        goto out;
    b.ev = evaluator_new(b.rc, b.consumer, b.ob, &b.stats, 0);

    if (bench_feed(&b, b.ticks, 0) != 0)
        goto out;
    secs = bench_run(&b, (uint64_t)b.ticks);
    printf("quiet ticks: %ld ticks in %.2f s = %.0f ticks/s (fired %" PRIu64 ")\n", b.ticks, secs,
           (double)b.ticks / secs, (uint64_t)atomic_load(&b.stats.alerts_fired));

    ticks_fire = (uint64_t)(b.fire_steps * b.tickers);
    fired0 = atomic_load(&b.stats.alerts_fired);
    if (bench_feed(&b, (long)ticks_fire, 1) != 0)
        goto out;
    secs = bench_run(&b, ticks_fire);
    {
        uint64_t fired = atomic_load(&b.stats.alerts_fired) - fired0;
        printf("firing ticks: %" PRIu64 " ticks, %" PRIu64 " alerts fired, published and "
               "acknowledged in %.2f s = %.0f ticks/s, %.0f fired alerts/s\n",
               ticks_fire, fired, secs, (double)ticks_fire / secs, (double)fired / secs);
    }
    printf("processing latency: mean %.3f ms over %" PRIu64 " ticks\n",
           metrics_histogram_mean(&b.stats.latency) * 1000.0,
           metrics_histogram_count(&b.stats.latency));
    rc = 0;
out:
    evaluator_free(b.ev);
    if (b.consumer != NULL)
        kafka_consumer_close(b.consumer);
    if (b.feeder != NULL)
        kafka_producer_close(b.feeder, 5000);
    if (b.producer != NULL)
        kafka_producer_close(b.producer, 5000);
    outbox_flush_acks(b.ob);
    bench_cleanup(&b);
    outbox_free(b.ob);
    redis_conn_free(b.rc);
    free(b.ticker);
    return rc;
}
