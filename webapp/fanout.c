/* fanout: one Kafka reader per topic for the whole process (every replica
 * reads every partition), each on its own thread. The asset topic is read
 * whole, from its start, into the universe (prices.c): a tick of a ticker
 * outside it is dropped here. Prices are batched: the
 * ticks that arrived together become one shared event pushed to every price
 * stream. Alerts go, one event each, to their user's streams only, placed by
 * their history position (hub_alert_start in webapp.h): a repeat is not
 * delivered twice, and a stream that missed one (alerts reach this replica
 * in any order) is filled from the user's history by the alert thread,
 * which has a Redis connection of its own for that. */
#include "webapp.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alert_history.h"
#include "kafka.h"
#include "log.h"
#include "redis.h"
#include "signals.h"
#include "timeutil.h"

#define FANOUT_BATCH_MAX 256            /* ticks per shared event */
#define FANOUT_BATCH_BYTES (256 * 1024) /* and their bytes */
#define FANOUT_POLL_MS 100
#define FANOUT_WHY_MAX 128        /* a /health reason */
#define FANOUT_COALESCE_MS 5      /* quiet time that ends a burst of no known shape */
#define FANOUT_COALESCE_MAX_MS 30 /* the longest a burst is held */
#define FANOUT_KAFKA_CHECK_MS 1000
#define FANOUT_GAPS_MAX 64      /* users whose gaps one round fills */
#define FANOUT_GAP_RETRY_MS 250 /* after a failed history read */

static struct fanout_opts fanout_opts;
#define FANOUT_THREADS 3 /* prices, alerts, assets */
static pthread_t fanout_threads[FANOUT_THREADS];
static int fanout_started[FANOUT_THREADS];
static atomic_int fanout_quit;
static _Atomic(rd_kafka_t *) fanout_rk[FANOUT_THREADS]; /* closed by fanout_free */

/* Partitions of the asset topic read to their end once (its records when
 * the reader started): the universe is loaded when none is left. */
static atomic_int fanout_assets_left = -1; /* -1: reader not assigned yet */

static atomic_uint_fast64_t fanout_prices;
static atomic_uint_fast64_t fanout_batches;
static atomic_uint_fast64_t fanout_alerts;
static atomic_uint_fast64_t fanout_bad;

static pthread_mutex_t fanout_health_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t fanout_health_at = -FANOUT_KAFKA_CHECK_MS;
static int fanout_health_ok;
static char fanout_health_why[FANOUT_WHY_MAX];

static int fanout_running(void)
{
    return !atomic_load(&fanout_quit) && signals_running();
}

/* One log line for the first bad message and then every 1000th. */
static void fanout_bad_message(const char *topic, const char *why)
{
    uint64_t n = atomic_fetch_add(&fanout_bad, 1) + 1;

    if (n == 1 || n % 1000 == 0)
        log_warn("bad message skipped", "topic=%s count=%llu reason=\"%s\"", topic,
                 (unsigned long long)n, why);
}

static void fanout_kafka_error(const rd_kafka_message_t *m, const char *topic)
{
    static atomic_int_fast64_t last;
    int64_t now = time_mono_ms();

    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    if (now - atomic_load(&last) >= 5000) {
        atomic_store(&last, now);
        log_warn("kafka read error", "topic=%s error=\"%s\"", topic, rd_kafka_err2str(m->err));
    }
}

/* Creates the reader of topic (from its start, or its end), waiting for the
 * broker; NULL when stopping. */
static rd_kafka_t *fanout_reader(const char *topic, const char *client_id, int from_start)
{
    /* The whole-topic reader is told when it reaches a partition's end,
     * and soon: an empty partition's end comes after one fetch wait. */
    static const char *const extra_eof[] = {"fetch.wait.max.ms", "100", "enable.partition.eof",
                                            "true", NULL};
    struct kafka_opts o = {.bootstrap = fanout_opts.bootstrap,
                           .client_id = client_id,
                           .extra = from_start ? extra_eof : NULL};
    char err[KAFKA_ERR_MAX];
    rd_kafka_t *rk;

    while (fanout_running()) {
        rk = from_start ? kafka_reader_new_from_start(&o, topic, err, sizeof(err))
                        : kafka_reader_new(&o, topic, err, sizeof(err));
        if (rk != NULL) {
            log_info("kafka reader started", "topic=%s", topic);
            return rk;
        }
        log_warn("kafka reader failed", "topic=%s error=\"%s\"", topic, err);
        time_sleep_ms(1000);
    }
    return NULL;
}

/* Adds one tick to the batch b. Returns 1 when added, 0 when skipped. */
static int fanout_price_add(const rd_kafka_message_t *m, struct buf *b)
{
    char err[MSG_ERR_MAX];
    char enc[MSG_MAX_BYTES];
    struct price_msg pm;
    const char *json = m->payload;
    size_t len = m->len;
    int n;

    if (json == NULL || price_msg_decode(json, len, &pm, err, sizeof(err)) != 0) {
        fanout_bad_message(fanout_opts.topic_prices, json == NULL ? "empty" : err);
        return 0;
    }
    if (memchr(json, '\n', len) != NULL || memchr(json, '\r', len) != NULL) {
        /* An SSE data line cannot hold a newline: send it compact. */
        n = price_msg_encode(&pm, enc, sizeof(enc));
        if (n < 0)
            return 0;
        json = enc;
        len = (size_t)n;
    }
    if (prices_update(&pm, json, len) != 0)
        return 0; /* not in the universe (or no memory): not shown */
    atomic_fetch_add(&fanout_prices, 1);
    if (sse_append_data(b, json, len) != 0)
        return 0;
    return 1;
}

/* Takes what Kafka has of one burst: a burst's ticks come in pieces (one
 * per partition and fetch, at times tens of milliseconds apart). The burst
 * ends as soon as it holds every ticker of a burst shape seen before
 * (burst.c), after FANOUT_COALESCE_MAX_MS at most; while no shape is known,
 * also once no tick came for FANOUT_COALESCE_MS. Every stream then gets a
 * burst in one write instead of one per piece. Returns how many messages
 * are in ms (the caller destroys them). */
static int fanout_price_take(rd_kafka_t *rk, struct burst *bu, rd_kafka_message_t **ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, FANOUT_POLL_MS);
    int64_t until;
    size_t bytes = 0;
    int n = 0;

    if (m == NULL)
        return 0;
    burst_begin(bu);
    until = time_mono_ms() + FANOUT_COALESCE_MAX_MS;
    while (m != NULL) {
        int64_t left;
        int whole = m->err == 0 && burst_add(bu, m->key, m->key_len);
        ms[n++] = m;
        bytes += m->len + 8;
        if (whole || n >= FANOUT_BATCH_MAX || bytes > FANOUT_BATCH_BYTES - 2 * MSG_MAX_BYTES)
            break;
        m = rd_kafka_consumer_poll(rk, 0);
        left = until - time_mono_ms();
        if (m == NULL && left > 0)
            m = rd_kafka_consumer_poll(
                rk,
                (int)(left < FANOUT_COALESCE_MS || burst_known(bu) ? left : FANOUT_COALESCE_MS));
    }
    burst_end(bu, time_mono_ms());
    return n;
}

static void fanout_price_batch(rd_kafka_t *rk, struct burst *bu, struct buf *b)
{
    rd_kafka_message_t *ms[FANOUT_BATCH_MAX];
    int nm = fanout_price_take(rk, bu, ms);
    struct sse_event *ev;
    long long batch;
    uint32_t n = 0;

    if (nm == 0)
        return;
    prices_batch_begin();
    for (int i = 0; i < nm; i++) {
        if (ms[i]->err)
            fanout_kafka_error(ms[i], fanout_opts.topic_prices);
        else
            n += (uint32_t)fanout_price_add(ms[i], b);
        rd_kafka_message_destroy(ms[i]);
    }
    batch = prices_batch_end();
    if (n > 0 && b->len > 0) {
        ev = sse_event_new(b->data, b->len, n, batch);
        if (ev != NULL) {
            atomic_fetch_add(&fanout_batches, 1);
            hub_publish_prices(ev);
            stream_publish(ev);
        }
        sse_event_unref(ev);
    }
    buf_reset(b);
}

static void *fanout_price_main(void *arg)
{
    static struct burst bu; /* this thread's */
    rd_kafka_t *rk;
    struct buf b;

    (void)arg;
    rk = fanout_reader(fanout_opts.topic_prices, "webapp-prices", 0);
    if (rk == NULL)
        return NULL;
    atomic_store(&fanout_rk[0], rk);
    buf_init(&b, FANOUT_BATCH_BYTES);
    burst_init(&bu);
    while (fanout_running())
        fanout_price_batch(rk, &bu, &b);
    buf_free(&b);
    return NULL;
}

/* "id: <position>\ndata: <json>\n\n" (no id line when there is no
 * position). The JSON goes as it came, unless it holds a line break. */
static struct sse_event *fanout_event(const struct alert_msg *a, const char *json, size_t len,
                                      const struct evid *pos)
{
    char enc[MSG_MAX_BYTES], id[EVID_TEXT_MAX];
    struct sse_event *ev = NULL;
    struct buf b;
    int n;

    if (memchr(json, '\n', len) != NULL || memchr(json, '\r', len) != NULL) {
        if (a == NULL)
            return NULL;
        n = alert_msg_encode(a, enc, sizeof(enc));
        if (n < 0)
            return NULL;
        json = enc;
        len = (size_t)n;
    }
    buf_init(&b, MSG_MAX_BYTES + ALERT_HISTORY_JSON_EXTRA + 64);
    if (pos != NULL && buf_printf(&b, "id: %s\n", evid_format(pos, id)) != 0)
        goto out;
    if (sse_append_data(&b, json, len) != 0)
        goto out;
    ev = sse_event_new(b.data, b.len, 1, 0);
    if (ev != NULL && pos != NULL) {
        ev->pos = *pos;
        ev->has_pos = 1;
    }
out:
    buf_free(&b);
    return ev;
}

static void fanout_alert_one(const rd_kafka_message_t *m)
{
    char err[MSG_ERR_MAX];
    struct alert_msg a;
    struct sse_event *ev;
    struct evid pos, prev;
    int has_pos = 0, has_prev = 0;

    if (m->payload == NULL || alert_msg_decode(m->payload, m->len, &a, err, sizeof(err)) != 0) {
        fanout_bad_message(fanout_opts.topic_alerts, m->payload == NULL ? "empty" : err);
        return;
    }
    atomic_fetch_add(&fanout_alerts, 1);
    if (a.event_id[0] != '\0' && evid_parse(a.event_id, &pos) == 0) {
        has_pos = 1;
        has_prev = a.prev_event_id[0] != '\0' && evid_parse(a.prev_event_id, &prev) == 0;
    } else if (a.seq > 0) { /* from the version before: where the migration put it */
        pos.ms = 0;
        pos.seq = (uint64_t)a.seq;
        has_pos = 1;
    }
    ev = fanout_event(&a, m->payload, m->len, has_pos ? &pos : NULL);
    if (ev == NULL)
        return;
    if (has_prev) {
        ev->prev = prev;
        ev->has_prev = 1;
    }
    hub_publish_alert(a.user_id, ev);
    sse_event_unref(ev);
}

/* One history entry read to fill a gap, as an event of the user's streams. */
struct fanout_fill {
    struct sse_event *evs[ALERT_HISTORY_MAX];
    int n;
};

static void fanout_fill_add(const char *payload, size_t len, const struct evid *pos, void *ud)
{
    struct fanout_fill *f = ud;
    char json[MSG_MAX_BYTES + ALERT_HISTORY_JSON_EXTRA];
    struct sse_event *ev;
    int n = alert_history_event_json(payload, len, pos, json, sizeof(json));

    if (n < 0 || f->n >= ALERT_HISTORY_MAX)
        return;
    ev = fanout_event(NULL, json, (size_t)n, pos);
    if (ev != NULL)
        f->evs[f->n++] = ev;
}

/* Fills the streams that missed an alert from their users' histories.
 * Returns 0, or -1 when Redis failed (the gaps stay: tried again later). */
static int fanout_fill_gaps(struct redis_conn *rc)
{
    static struct hub_gap gaps[FANOUT_GAPS_MAX];
    static struct fanout_fill fill;
    char err[256];
    struct evid tail;
    int n = hub_gaps_take(gaps, FANOUT_GAPS_MAX);
    int rv = 0;

    for (int i = 0; i < n; i++) {
        fill.n = 0;
        if (alert_history_after(rc, gaps[i].user_id, &gaps[i].from, ALERT_HISTORY_MAX,
                                fanout_fill_add, &fill, &tail, err, sizeof(err)) < 0) {
            log_warn("stream gap not filled", "error=\"%s\" retry_ms=%d", err, FANOUT_GAP_RETRY_MS);
            rv = -1;
        } else {
            hub_gap_fill(gaps[i].user_id, &gaps[i].from, fill.evs, fill.n, &tail);
        }
        for (int j = 0; j < fill.n; j++)
            sse_event_unref(fill.evs[j]);
        if (rv != 0)
            break;
    }
    return rv;
}

static void *fanout_alert_main(void *arg)
{
    struct redis_conn *rc;
    rd_kafka_t *rk;
    int64_t next_fill = 0;

    (void)arg;
    rc = redis_conn_open(fanout_opts.redis);
    if (rc == NULL) {
        log_error("fan-out: out of memory", NULL);
        return NULL;
    }
    rk = fanout_reader(fanout_opts.topic_alerts, "webapp-alerts", 0);
    if (rk == NULL) {
        redis_conn_free(rc);
        return NULL;
    }
    atomic_store(&fanout_rk[1], rk);
    while (fanout_running()) {
        rd_kafka_message_t *m =
            rd_kafka_consumer_poll(rk, hub_gaps_pending() ? 10 : FANOUT_POLL_MS);
        if (m != NULL) {
            if (m->err)
                fanout_kafka_error(m, fanout_opts.topic_alerts);
            else
                fanout_alert_one(m);
            rd_kafka_message_destroy(m);
        }
        if (hub_gaps_pending() && time_mono_ms() >= next_fill && fanout_fill_gaps(rc) != 0)
            next_fill = time_mono_ms() + FANOUT_GAP_RETRY_MS;
    }
    redis_conn_free(rc);
    return NULL;
}

/* One record of the asset topic: an announcement, or a tombstone. */
static void fanout_asset_one(const rd_kafka_message_t *m)
{
    char ticker[MSG_TICKER_MAX];
    char err[MSG_ERR_MAX];
    struct asset_msg a;

    if (m->payload == NULL) {
        if (m->key_len == 0 || m->key_len >= sizeof(ticker))
            return;
        memcpy(ticker, m->key, m->key_len);
        ticker[m->key_len] = '\0';
        prices_withdraw(ticker);
        return;
    }
    if (asset_msg_decode(m->payload, m->len, &a, err, sizeof(err)) != 0) {
        fanout_bad_message(fanout_opts.topic_assets, err);
        return;
    }
    if (prices_announce(&a) != 0)
        fanout_bad_message(fanout_opts.topic_assets, "universe full");
}

/* Counts a partition's first end of the asset topic; the last one loads
 * the universe. seen has a flag per partition (at most FANOUT_ASSET_PARTS). */
static void fanout_asset_eof(const rd_kafka_message_t *m, unsigned char *seen, int parts)
{
    if (m->partition < 0 || m->partition >= parts || seen[m->partition])
        return;
    seen[m->partition] = 1;
    if (atomic_fetch_sub(&fanout_assets_left, 1) == 1)
        log_info("asset universe loaded", "topic=%s partitions=%d", fanout_opts.topic_assets,
                 parts);
}

#define FANOUT_ASSET_PARTS 1024

static void *fanout_asset_main(void *arg)
{
    static unsigned char seen[FANOUT_ASSET_PARTS];
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_t *rk;
    int n = 0;

    (void)arg;
    rk = fanout_reader(fanout_opts.topic_assets, "webapp-assets", 1);
    if (rk == NULL)
        return NULL;
    atomic_store(&fanout_rk[2], rk);
    if (rd_kafka_assignment(rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = parts->cnt < FANOUT_ASSET_PARTS ? parts->cnt : FANOUT_ASSET_PARTS;
        rd_kafka_topic_partition_list_destroy(parts);
    }
    memset(seen, 0, sizeof(seen));
    atomic_store(&fanout_assets_left, n);
    while (fanout_running()) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, FANOUT_POLL_MS);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            fanout_asset_eof(m, seen, n);
        else if (m->err)
            fanout_kafka_error(m, fanout_opts.topic_assets);
        else
            fanout_asset_one(m);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

int fanout_universe_loaded(void)
{
    return atomic_load(&fanout_assets_left) == 0;
}

/* 0 when the price and alert readers exist and the asset universe is read;
 * else -1 with what is still awaited in why. */
static int fanout_readiness(char *why, size_t whylen)
{
    int prices = atomic_load(&fanout_rk[0]) != NULL;

    if (!prices || atomic_load(&fanout_rk[1]) == NULL) {
        snprintf(why, whylen, "waiting for topic %s",
                 !prices ? fanout_opts.topic_prices : fanout_opts.topic_alerts);
        return -1;
    }
    if (!fanout_universe_loaded()) {
        snprintf(why, whylen, "reading topic %s", fanout_opts.topic_assets);
        return -1;
    }
    return 0;
}

int fanout_ready(void)
{
    char why[FANOUT_WHY_MAX];

    return fanout_readiness(why, sizeof(why)) == 0;
}

int fanout_start(const struct fanout_opts *o, char *err, size_t errlen)
{
    void *(*mains[FANOUT_THREADS])(void *) = {fanout_price_main, fanout_alert_main,
                                              fanout_asset_main};

    fanout_opts = *o;
    atomic_store(&fanout_quit, 0);
    for (int i = 0; i < FANOUT_THREADS; i++) {
        if (pthread_create(&fanout_threads[i], NULL, mains[i], NULL) != 0) {
            snprintf(err, errlen, "cannot start the fan-out threads");
            fanout_stop();
            return -1;
        }
        fanout_started[i] = 1;
    }
    return 0;
}

void fanout_stop(void)
{
    atomic_store(&fanout_quit, 1);
    for (int i = 0; i < FANOUT_THREADS; i++) {
        if (fanout_started[i])
            pthread_join(fanout_threads[i], NULL);
        fanout_started[i] = 0;
    }
}

void fanout_free(void)
{
    for (int i = 0; i < FANOUT_THREADS; i++) {
        rd_kafka_t *rk = atomic_exchange(&fanout_rk[i], NULL);
        if (rk != NULL)
            kafka_consumer_close(rk);
    }
}

int fanout_kafka_ok(char *why, size_t whylen)
{
    int64_t now = time_mono_ms();
    rd_kafka_t *rk;
    int ok;

    pthread_mutex_lock(&fanout_health_lock);
    if (now - fanout_health_at >= FANOUT_KAFKA_CHECK_MS) {
        if (fanout_readiness(fanout_health_why, sizeof(fanout_health_why)) != 0) {
            fanout_health_ok = 0;
        } else if ((rk = atomic_load(&fanout_rk[0])) == NULL || kafka_ping(rk, 500) != 0) {
            fanout_health_ok = 0;
            snprintf(fanout_health_why, sizeof(fanout_health_why), "no broker answered");
        } else {
            fanout_health_ok = 1;
            fanout_health_why[0] = '\0';
        }
        fanout_health_at = time_mono_ms();
    }
    ok = fanout_health_ok;
    snprintf(why, whylen, "%s", fanout_health_why);
    pthread_mutex_unlock(&fanout_health_lock);
    return ok ? 0 : -1;
}

void fanout_counts_get(struct fanout_counts *out)
{
    out->prices = atomic_load(&fanout_prices);
    out->batches = atomic_load(&fanout_batches);
    out->alerts = atomic_load(&fanout_alerts);
    out->bad_messages = atomic_load(&fanout_bad);
}
