/* evaluator_bench: throughput of one evaluator (the consumer's own modules:
 * Kafka consumer -> decode -> claim script -> outbox -> Kafka producer ->
 * XDEL) with BENCH_ALERTS resident alerts. Not a test: prints ticks/s and
 * fired alerts/s. Writes to the Redis and Kafka of the usual variables
 * (REDIS_HOST, REDIS_PORT or REDIS_CLUSTER_NODES, KAFKA_BOOTSTRAP_SERVERS):
 * use dev servers. Its keys carry a unique tag and are removed at the end.
 * BENCH_INSTANCES=N runs N evaluator processes in one consumer group
 * instead of one in this process (forked after the load, each with its own
 * connections; this process feeds the ticks and times the group), and
 * BENCH_CPU_NODES adds the Redis CPU time of each phase. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alert_store.h"
#include "config.h"
#include "evaluator.h"
#include "kafka.h"
#include "log.h"
#include "outbox.h"
#include "redis.h"
#include "redis_cpu.h"
#include "signals.h"
#include "stats.h"
#include "timeutil.h"

#define BENCH_PIPELINE 2000 /* alerts per pipelined round trip */
#define BENCH_TICKERS_MAX 1000
#define BENCH_WRITES 3 /* commands per alert (bench_append_alert) */
#define BENCH_INSTANCES_MAX 8

struct bench {
    struct common_config cc;
    long alerts, ticks, tickers, fire_steps, instances, partitions, mix;
    char cpu_nodes[1024];
    char tag[16];
    char topic_prices[64], topic_alerts[64];
    char (*ticker)[32];
    long windowed[BENCH_TICKERS_MAX]; /* BENCH_MIX: window alerts per ticker */
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
    {"BENCH_INSTANCES", "0",
     "0: one evaluator in this process; N: N evaluator processes in one consumer group",
     CONFIG_LONG(struct bench, instances, 0, BENCH_INSTANCES_MAX)},
    {"BENCH_PARTITIONS", "6", "partitions of the bench topics when BENCH_INSTANCES > 0",
     CONFIG_LONG(struct bench, partitions, 1, 64)},
    {"BENCH_MIX", "0",
     "1: a mixed workload of every condition (of each side a fifth plain, crosses, percent, "
     "repeating, and on the above side percent_up over a 1 h window; phases named "
     "quiet-mixed, firing-mixed)",
     CONFIG_LONG(struct bench, mix, 0, 1)},
    {"BENCH_CPU_NODES", "",
     "host:port,... of every Redis server (replicas too) whose CPU time each phase costs",
     CONFIG_STRING(struct bench, cpu_nodes), .flags = CONFIG_EMPTY_OK},
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

/* What alert i is: with BENCH_MIX, of each side a fifth of each kind. */
enum bench_kind { BENCH_PLAIN, BENCH_CROSSES, BENCH_PERCENT, BENCH_REPEAT, BENCH_WINDOW };

#define BENCH_WINDOW_S 3600
#define BENCH_WINDOW_LOW 100.0 /* the window's seed: no quiet tick is lower */

static enum bench_kind bench_kind(const struct bench *b, long i, int above)
{
    long kind = b->mix ? (i / (2 * b->tickers)) % 5 : 0;

    /* percent_down over a window would fire against a high the quiet
     * prices move: the below side keeps plain alerts there */
    return kind == BENCH_WINDOW && !above ? BENCH_PLAIN : (enum bench_kind)kind;
}

/* The stored condition of alert i on its side (docs/key-schema.md, cond):
 * plain, crosses, percent (5 % from the price that puts the level at t),
 * repeating (plain, its row's "r:" token added by the caller) or, above,
 * percent_up over BENCH_WINDOW_S from the seeded low BENCH_WINDOW_LOW by
 * the percent that puts the level at t (the quiet prices, 100..200, never
 * reach it: they fire as a plain alert at t would). */
static void bench_cond(const struct bench *b, long i, int above, double t, char out[64])
{
    enum bench_kind kind = bench_kind(b, i, above);

    if (kind == BENCH_WINDOW)
        snprintf(out, 64, "percent_up:%.4f:w%d", (t / BENCH_WINDOW_LOW - 1) * 100,
                 BENCH_WINDOW_S);
    else if (kind == BENCH_CROSSES)
        snprintf(out, 64, "crosses:%s", above ? "up" : "down");
    else if (kind == BENCH_PERCENT)
        snprintf(out, 64, "%s:5:%.6f", above ? "percent_up" : "percent_down",
                 above ? t / 1.05 : t / 0.95);
    else
        snprintf(out, 64, "%s", above ? "above" : "below");
}

/* The writes alert_store_create_once does (armed), without its checks. */
static int bench_append_alert(redisContext *ctx, struct bench *b, long i, unsigned *seed)
{
    char id[48], user[32], thr[32], key[96], entry[192], cond[64];
    const char *ticker = b->ticker[i % b->tickers];
    enum bench_kind kind;
    const char *rep;
    int above = (i / b->tickers) % 2 == 0;
    /* above: 200..300, below: 0.01..100; prices in between fire nothing */
    double t = above ? 200.0 + (double)(rand_r(seed) % 1000000) / 10000.0
                     : 0.01 + (double)(rand_r(seed) % 999900) / 10000.0;

    snprintf(id, sizeof(id), "%s-%ld", b->tag, i);
    snprintf(user, sizeof(user), "bu%s-%ld", b->tag, i % 1000);
    snprintf(thr, sizeof(thr), "%.4f", t);
    bench_cond(b, i, above, t, cond);
    /* The values hold spaces: each is formatted first and sent as one argument. */
    kind = bench_kind(b, i, above);
    rep = kind == BENCH_REPEAT ? " 0 r:60:0" : ""; /* no expiry, a 60 s cooldown */
    snprintf(entry, sizeof(entry), "%s %s %s %ld%s a", ticker, thr, cond, 1700000000L + i, rep);
    snprintf(key, sizeof(key), "user_alerts:{%s}", user);
    if (bench_write(b, ctx, key, "HSET %s %s %s", key, id, entry) != 0)
        return -1;
    snprintf(entry, sizeof(entry), "%s %s %s%s", user, thr, cond, rep);
    snprintf(key, sizeof(key), "ticker_alerts:{%s}", ticker);
    if (bench_write(b, ctx, key, "HSET %s %s %s", key, id, entry) != 0)
        return -1;
    if (kind == BENCH_WINDOW) { /* scored by the ratio to the window's low */
        b->windowed[i % b->tickers]++;
        snprintf(key, sizeof(key), "alert_idx:{%s}:w%d:up", ticker, BENCH_WINDOW_S);
        snprintf(thr, sizeof(thr), "%.17g", t / BENCH_WINDOW_LOW);
    } else {
        snprintf(key, sizeof(key), "alert_idx:{%s}:%s", ticker, above ? "above" : "below");
    }
    return bench_write(b, ctx, key, "ZADD %s %s %s", key, thr, id);
}

/* Each ticker's window (BENCH_MIX): its count of alerts and its deques,
 * seeded with the low BENCH_WINDOW_LOW now, as arm.lua does for a first
 * alert (common/lua/window.lua). */
static int bench_load_windows(struct bench *b)
{
    char key[96], w[16], seed[48];
    redisReply *r;

    snprintf(w, sizeof(w), "%d", BENCH_WINDOW_S);
    snprintf(seed, sizeof(seed), "%lld %.1f", (long long)time_now(), BENCH_WINDOW_LOW);
    for (long k = 0; k < b->tickers; k++) {
        if (b->windowed[k] == 0)
            continue;
        snprintf(key, sizeof(key), "alert_windows:{%s}", b->ticker[k]);
        r = redis_conn_command(b->rc, "HSET %s %s %ld", key, w, b->windowed[k]);
        if (r == NULL)
            return -1;
        freeReplyObject(r);
        for (int side = 0; side < 2; side++) {
            snprintf(key, sizeof(key), "alert_win:{%s}:%s:%s", b->ticker[k], w,
                     side ? "max" : "min");
            r = redis_conn_command(b->rc, "RPUSH %s %s", key, seed);
            if (r == NULL)
                return -1;
            freeReplyObject(r);
        }
    }
    return 0;
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
    if (bench_load_windows(b) != 0)
        return -1;
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

static int bench_create_topics(struct bench *b)
{
    const char *topics[] = {b->topic_prices, b->topic_alerts, NULL};
    char err[KAFKA_ERR_MAX];

    if (kafka_create_topics(b->cc.kafka_bootstrap, topics,
                            b->instances > 0 ? (int)b->partitions : 1, 10000, err,
                            sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int bench_open_feeder(struct bench *b)
{
    static struct kafka_opts fopts;
    char err[KAFKA_ERR_MAX];

    fopts = (struct kafka_opts){.bootstrap = b->cc.kafka_bootstrap, .client_id = "bench-feed"};
    b->feeder = kafka_producer_new(&fopts, err, sizeof(err));
    if (b->feeder == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

/* The evaluator's producer (on the outbox) and consumer (group bench-<tag>). */
static int bench_open_evaluator(struct bench *b)
{
    static struct kafka_opts popts, copts;
    static const char *const cextra[] = {"auto.offset.reset", "earliest", NULL};
    const char *topics[] = {b->topic_prices, NULL};
    char err[KAFKA_ERR_MAX], group[64];

    popts = (struct kafka_opts){.bootstrap = b->cc.kafka_bootstrap,
                                .client_id = "bench-evaluator",
                                .dr_cb = outbox_on_delivery,
                                .opaque = b->ob};
    copts = (struct kafka_opts){
        .bootstrap = b->cc.kafka_bootstrap, .client_id = "bench-evaluator", .extra = cextra};
    snprintf(group, sizeof(group), "bench-%s", b->tag);
    b->producer = kafka_producer_new(&popts, err, sizeof(err));
    if (b->producer != NULL)
        b->consumer = kafka_consumer_new(&copts, group, topics, err, sizeof(err));
    if (b->producer == NULL || b->consumer == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    outbox_attach(b->ob, b->producer);
    return 0;
}

static int bench_open_kafka(struct bench *b)
{
    if (bench_create_topics(b) != 0 || bench_open_evaluator(b) != 0)
        return -1;
    return bench_open_feeder(b);
}

/* Redis CPU time now, when BENCH_CPU_NODES names the servers; 0 otherwise or
 * when one did not answer (then logged, and no CPU line is printed). */
static int bench_cpu_mark(const struct bench *b, struct redis_cpu *c)
{
    char err[256];

    if (b->cpu_nodes[0] == '\0')
        return -1;
    if (redis_cpu_read(b->cpu_nodes, c, err, sizeof(err)) != 0) {
        fprintf(stderr, "redis cpu: %s\n", err);
        return -1;
    }
    return 0;
}

/* Prints the Redis CPU seconds a phase cost per 1,000 of its operations. */
static void bench_cpu_print(const char *phase, const char *ops_name, uint64_t ops,
                            const struct redis_cpu *c0, const struct redis_cpu *c1)
{
    double m = c1->master_s - c0->master_s, r = c1->replica_s - c0->replica_s;
    double k = ops > 0 ? 1000.0 / (double)ops : 0;

    printf("%s: Redis CPU %.2f s on masters, %.2f s on replicas = %.4f + %.4f CPU-s per 1000 %s\n",
           phase, m, r, m * k, r * k, ops_name);
    printf("RESULT evaluator_cpu phase=%s master_cpu_s=%.3f replica_cpu_s=%.3f "
           "master_cpu_s_per_1k=%.4f replica_cpu_s_per_1k=%.4f\n",
           phase, m, r, m * k, r * k);
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

/* UNLINKs the keys of one SCAN page: in one command on a single instance,
 * one command per key on a cluster (the keys of a page span slots).
 * Returns how many. */
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
    if (!redis_conn_is_cluster(b->rc)) {
        d = redis_conn_argv(b->rc, (int)keys->elements + 1, argv, NULL);
        if (d != NULL)
            freeReplyObject(d);
    }
    for (size_t i = 0; i < keys->elements && redis_conn_is_cluster(b->rc); i++) {
        const char *one[2] = {"UNLINK", argv[i + 1]};
        d = redis_conn_argv(b->rc, 2, one, NULL);
        if (d != NULL)
            freeReplyObject(d);
    }
    free(argv);
    return (long)keys->elements;
}

/* Removes the bench's keys (all carry its tag), on every master. */
static void bench_cleanup(struct bench *b)
{
    char cursor[REDIS_SCAN_CURSOR_MAX] = "0", pattern[48];
    const char *args[4] = {"MATCH", pattern, "COUNT", "10000"};
    long removed = 0;

    snprintf(pattern, sizeof(pattern), "*%s*", b->tag);
    do {
        redisReply *r = redis_conn_scan(b->rc, cursor, 4, args);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r != NULL)
                freeReplyObject(r);
            return;
        }
        removed += bench_unlink(b, r->element[1]);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    printf("removed %ld keys\n", removed);
}

/* ---------------------------------------------------------------- a group
 * BENCH_INSTANCES evaluator processes in one consumer group. Each keeps
 * its counters in a slot of shared memory; this process moves them through
 * the phases and times the group from the counters' sums. */
enum bench_phase { BENCH_JOIN, BENCH_PAUSE, BENCH_RUN, BENCH_STOP };

struct bench_slot {
    atomic_uint_fast64_t ticks, fired, published;
    atomic_int_fast64_t inflight;
    atomic_int assigned; /* partitions held (read during BENCH_JOIN) */
    atomic_int failed;
};

struct bench_shared {
    atomic_int phase;
    struct bench_slot slot[BENCH_INSTANCES_MAX];
};

static int bench_assigned(rd_kafka_t *consumer)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int n = 0;

    if (rd_kafka_assignment(consumer, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts != NULL)
        n = parts->cnt;
    if (parts != NULL)
        rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

/* One evaluator process of the group: its own connections (the parent's
 * Redis connection is left alone), polled while the phase says so. Never
 * returns. */
static void bench_member(struct bench *b, struct bench_slot *me, atomic_int *phase)
{
    int ph;

    stats_init(&b->stats);
    b->rc = redis_conn_open(&b->cc);
    b->ob = b->rc != NULL ? outbox_new(b->rc, b->topic_alerts, 60000, &b->stats) : NULL;
    if (b->ob == NULL || bench_open_evaluator(b) != 0) {
        atomic_store(&me->failed, 1);
        _exit(1);
    }
    b->ev = evaluator_new(b->rc, b->consumer, b->ob, &b->stats, 0);
    while ((ph = atomic_load(phase)) != BENCH_STOP && signals_running()) {
        int n;
        if (ph == BENCH_PAUSE) {
            time_sleep_ms(5);
            continue;
        }
        n = evaluator_poll(b->ev, 100);
        outbox_service(b->ob, 1000000);
        if (n <= 0)
            rd_kafka_poll(b->producer, 1);
        if (ph == BENCH_JOIN)
            atomic_store(&me->assigned, bench_assigned(b->consumer));
        atomic_store(&me->ticks, atomic_load(&b->stats.ticks_processed));
        atomic_store(&me->fired, atomic_load(&b->stats.alerts_fired));
        atomic_store(&me->published, atomic_load(&b->stats.alerts_published));
        atomic_store(&me->inflight, (int_fast64_t)outbox_inflight(b->ob));
    }
    evaluator_free(b->ev);
    kafka_consumer_close(b->consumer);
    kafka_producer_close(b->producer, 5000);
    outbox_flush_acks(b->ob);
    outbox_free(b->ob);
    redis_conn_free(b->rc);
    _exit(0);
}

/* Sums of the slots; 1 when every member is idle (all fired alerts
 * published, nothing in flight). */
static int bench_group_sums(const struct bench *b, struct bench_shared *sh, uint64_t *ticks,
                            uint64_t *fired)
{
    int idle = 1;

    *ticks = 0;
    *fired = 0;
    for (long i = 0; i < b->instances; i++) {
        struct bench_slot *s = &sh->slot[i];
        *ticks += atomic_load(&s->ticks);
        *fired += atomic_load(&s->fired);
        if (atomic_load(&s->published) < atomic_load(&s->fired) || atomic_load(&s->inflight) > 0)
            idle = 0;
    }
    return idle;
}

/* Pauses the group: the members finish the poll they are in (100 ms at
 * most) and stop polling. */
static void bench_group_pause(struct bench_shared *sh)
{
    atomic_store(&sh->phase, BENCH_PAUSE);
    time_sleep_ms(300);
}

/* Lets the group run until `ticks` more ticks than base are processed and
 * every fired alert is acknowledged; seconds from the first tick processed,
 * or -1. */
static double bench_group_run(struct bench *b, struct bench_shared *sh, uint64_t base,
                              uint64_t ticks)
{
    uint64_t t, f;
    int64_t t0 = -1, deadline = time_mono_ms() + 600000;
    double secs = -1;

    atomic_store(&sh->phase, BENCH_RUN);
    while (signals_running() && time_mono_ms() < deadline) {
        int idle = bench_group_sums(b, sh, &t, &f);
        if (t > base && t0 < 0)
            t0 = time_mono_us();
        if (t >= base + ticks && idle) {
            secs = (double)(time_mono_us() - t0) / 1e6;
            break;
        }
        time_sleep_ms(1);
    }
    bench_group_pause(sh);
    return secs;
}

/* Waits until every member holds a partition and together they hold all. */
static int bench_group_join(struct bench *b, struct bench_shared *sh)
{
    int64_t deadline = time_mono_ms() + 60000;

    while (signals_running() && time_mono_ms() < deadline) {
        int sum = 0, all = 1;
        for (long i = 0; i < b->instances; i++) {
            int n = atomic_load(&sh->slot[i].assigned);
            if (atomic_load(&sh->slot[i].failed))
                return -1;
            sum += n;
            all = all && n > 0;
        }
        if (all && sum == b->partitions)
            return 0;
        time_sleep_ms(50);
    }
    fprintf(stderr, "the group did not share the %ld partitions within 60 s\n", b->partitions);
    return -1;
}

static void bench_group_report(struct bench *b, struct bench_shared *sh, const char *phase,
                               uint64_t ticks, uint64_t fired, double secs)
{
    printf("%ld instances, %s: %" PRIu64 " ticks, %" PRIu64 " alerts fired in %.2f s = %.0f "
           "ticks/s, %.0f fired alerts/s; ticks per instance:",
           b->instances, phase, ticks, fired, secs, (double)ticks / secs, (double)fired / secs);
    for (long i = 0; i < b->instances; i++)
        printf(" %" PRIu64, (uint64_t)atomic_load(&sh->slot[i].ticks));
    printf("\nRESULT evaluator instances=%ld phase=%s ticks=%" PRIu64 " fired=%" PRIu64
           " secs=%.3f ticks_per_s=%.1f fired_per_s=%.1f\n",
           b->instances, phase, ticks, fired, secs, (double)ticks / secs, (double)fired / secs);
}

/* Feeds one phase's ticks with the group paused, then runs it. */
static int bench_group_phase(struct bench *b, struct bench_shared *sh, const char *phase,
                             long ticks, int firing)
{
    struct redis_cpu c0, c1;
    uint64_t t0, f0, t1, f1;
    int cpu;
    double secs;

    bench_group_sums(b, sh, &t0, &f0);
    if (bench_feed(b, ticks, firing) != 0)
        return -1;
    cpu = bench_cpu_mark(b, &c0) == 0;
    secs = bench_group_run(b, sh, t0, (uint64_t)ticks);
    if (secs <= 0)
        return -1;
    bench_group_sums(b, sh, &t1, &f1);
    bench_group_report(b, sh, phase, t1 - t0, f1 - f0, secs);
    if (cpu && bench_cpu_mark(b, &c1) == 0)
        bench_cpu_print(phase, firing ? "fired alerts" : "ticks", firing ? f1 - f0 : t1 - t0, &c0,
                        &c1);
    return 0;
}

static int bench_group(struct bench *b)
{
    struct bench_shared *sh;
    pid_t pid[BENCH_INSTANCES_MAX];
    long started = 0;
    int rc = -1;

    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return -1;
    memset(sh, 0, sizeof(*sh));
    atomic_store(&sh->phase, BENCH_JOIN);
    fflush(stdout);
    for (; started < b->instances; started++) {
        pid[started] = fork();
        if (pid[started] < 0)
            goto out;
        if (pid[started] == 0)
            bench_member(b, &sh->slot[started], &sh->phase);
    }
    if (bench_group_join(b, sh) != 0)
        goto out;
    bench_group_pause(sh);
    if (bench_open_feeder(b) != 0 ||
        bench_group_phase(b, sh, b->mix ? "quiet-mixed" : "quiet", b->ticks, 0) != 0 ||
        bench_group_phase(b, sh, b->mix ? "firing-mixed" : "firing", b->fire_steps * b->tickers,
                          1) != 0)
        goto out;
    rc = 0;
out:
    atomic_store(&sh->phase, BENCH_STOP);
    for (long i = 0; i < started; i++)
        waitpid(pid[i], NULL, 0);
    munmap(sh, sizeof(*sh));
    return rc;
}

/* One evaluator in this process: the original benchmark. */
static int bench_single(struct bench *b)
{
    struct redis_cpu c0, c1;
    uint64_t fired0, fired, ticks_fire;
    double secs;
    int cpu;

    b->ev = evaluator_new(b->rc, b->consumer, b->ob, &b->stats, 0);
    if (bench_feed(b, b->ticks, 0) != 0)
        return -1;
    cpu = bench_cpu_mark(b, &c0) == 0;
    secs = bench_run(b, (uint64_t)b->ticks);
    printf("quiet ticks: %ld ticks in %.2f s = %.0f ticks/s (fired %" PRIu64 ")\n", b->ticks, secs,
           (double)b->ticks / secs, (uint64_t)atomic_load(&b->stats.alerts_fired));
    printf("RESULT evaluator instances=0 phase=quiet%s ticks=%ld fired=0 secs=%.3f "
           "ticks_per_s=%.1f fired_per_s=0\n",
           b->mix ? "-mixed" : "", b->ticks, secs, (double)b->ticks / secs);
    if (cpu && bench_cpu_mark(b, &c1) == 0)
        bench_cpu_print("quiet", "ticks", (uint64_t)b->ticks, &c0, &c1);

    ticks_fire = (uint64_t)(b->fire_steps * b->tickers);
    fired0 = atomic_load(&b->stats.alerts_fired);
    if (bench_feed(b, (long)ticks_fire, 1) != 0)
        return -1;
    cpu = bench_cpu_mark(b, &c0) == 0;
    secs = bench_run(b, ticks_fire);
    fired = atomic_load(&b->stats.alerts_fired) - fired0;
    printf("firing ticks: %" PRIu64 " ticks, %" PRIu64 " alerts fired, published and "
           "acknowledged in %.2f s = %.0f ticks/s, %.0f fired alerts/s\n",
           ticks_fire, fired, secs, (double)ticks_fire / secs, (double)fired / secs);
    printf("RESULT evaluator instances=0 phase=firing%s ticks=%" PRIu64 " fired=%" PRIu64
           " secs=%.3f ticks_per_s=%.1f fired_per_s=%.1f\n",
           b->mix ? "-mixed" : "", ticks_fire, fired, secs, (double)ticks_fire / secs,
           (double)fired / secs);
    if (cpu && bench_cpu_mark(b, &c1) == 0)
        bench_cpu_print("firing", "fired alerts", fired, &c0, &c1);
    printf("processing latency: mean %.3f ms over %" PRIu64 " ticks\n",
           metrics_histogram_mean(&b->stats.latency) * 1000.0,
           metrics_histogram_count(&b->stats.latency));
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench b;
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
    if (b.instances > 0) {
        /* The members fork from here: no Kafka client may run yet. */
        if (bench_create_topics(&b) == 0 && bench_load_alerts(&b) == 0 && bench_group(&b) == 0)
            rc = 0;
        if (b.feeder != NULL)
            kafka_producer_close(b.feeder, 5000);
        bench_cleanup(&b);
        redis_conn_free(b.rc);
        free(b.ticker);
        return rc;
    }
    b.ob = outbox_new(b.rc, b.topic_alerts, 60000, &b.stats);
    if (bench_open_kafka(&b) == 0 && bench_load_alerts(&b) == 0 && bench_single(&b) == 0)
        rc = 0;
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
