/* kafka: librdkafka wrappers with the house's callbacks and checks. */
#include "kafka.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "contract.h"
#include "log.h"
#include "signals.h"
#include "timeutil.h"

static atomic_uint_fast64_t kafka_delivered;
static atomic_uint_fast64_t kafka_failed;
static atomic_uint_fast64_t kafka_errors;
static atomic_int_fast64_t kafka_last_error;

void kafka_stats_get(struct kafka_stats *out)
{
    out->delivered = atomic_load(&kafka_delivered);
    out->failed = atomic_load(&kafka_failed);
    out->errors = atomic_load(&kafka_errors);
    out->last_error_ms = atomic_load(&kafka_last_error);
}

static void kafka_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    log_event(level <= 2   ? LOG_LVL_ERROR
              : level <= 4 ? LOG_LVL_WARN
                           : LOG_LVL_DEBUG,
              "kafka log", "facility=%s detail=\"%s\"", fac, buf);
}

static void kafka_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char fatal[256];
    rd_kafka_resp_err_t ferr;

    (void)opaque;
    atomic_fetch_add(&kafka_errors, 1);
    atomic_store(&kafka_last_error, time_mono_ms());
    if (err != RD_KAFKA_RESP_ERR__FATAL) {
        log_warn("kafka error", "error=%s reason=\"%s\"",
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
        return;
    }
    /* A fatal error ends the client. A producer's (the idempotent
     * producer's sequence lost in a broker's failover) is replaced by its
     * owner (kafka_producer_failed, kafka_producer_renew): the daemon goes
     * on. Any other client's stops the daemon the way a signal would, so
     * delivery reports are still served. */
    ferr = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    if (rd_kafka_type(rk) == RD_KAFKA_PRODUCER) {
        log_error("kafka producer fatal",
                  "error=%s reason=\"%s\" action=\"replacing the producer\"",
                  rd_kafka_err2name(ferr), fatal);
        return;
    }
    log_error("kafka fatal error", "error=%s reason=\"%s\"", rd_kafka_err2name(ferr), fatal);
    signals_request_stop();
}

static void kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    const struct kafka_opts *o = opaque;

    if (msg->err) {
        atomic_fetch_add(&kafka_failed, 1);
        log_warn("kafka delivery failed", "topic=%s error=\"%s\"", rd_kafka_topic_name(msg->rkt),
                 rd_kafka_err2str(msg->err));
    } else {
        atomic_fetch_add(&kafka_delivered, 1);
    }
    if (o != NULL && o->dr_cb != NULL)
        o->dr_cb(rk, msg, o->opaque);
}

static int kafka_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char e[KAFKA_ERR_MAX];

    if (rd_kafka_conf_set(conf, k, v, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka config %s: %s", k, e);
        return -1;
    }
    return 0;
}

/* A conf with bootstrap, client id, callbacks, the given defaults, then the
 * caller's extra pairs (which win). NULL with err on a bad setting. */
static rd_kafka_conf_t *kafka_conf_build(const struct kafka_opts *o, const char *const *defaults,
                                         char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (kafka_set(conf, "bootstrap.servers", o->bootstrap, err, errlen) != 0 ||
        kafka_set(conf, "client.id", o->client_id ? o->client_id : "stock-alerts", err, errlen) !=
            0)
        goto fail;
    for (const char *const *p = defaults; p != NULL && p[0] != NULL; p += 2) {
        if (kafka_set(conf, p[0], p[1], err, errlen) != 0)
            goto fail;
    }
    for (const char *const *p = o->extra; p != NULL && p[0] != NULL; p += 2) {
        if (p[1] == NULL || kafka_set(conf, p[0], p[1], err, errlen) != 0)
            goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_on_log);
    rd_kafka_conf_set_error_cb(conf, kafka_on_error);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    char e[KAFKA_ERR_MAX];
    rd_kafka_t *rk = rd_kafka_new(type, conf, e, sizeof(e));

    if (rk == NULL) {
        snprintf(err, errlen, "kafka client: %.200s", e); /* fits every caller's err */
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* conf now belongs to rk */
    return rk;
}

rd_kafka_t *kafka_producer_new(const struct kafka_opts *o, char *err, size_t errlen)
{
    static const char *const defaults[] = {"linger.ms",
                                           "0",
                                           "enable.idempotence",
                                           "true",
                                           "acks",
                                           "all",
                                           "socket.nagle.disable",
                                           "true",
                                           "message.timeout.ms",
                                           "300000",
                                           "reconnect.backoff.max.ms",
                                           "2000",
                                           NULL};
    rd_kafka_conf_t *conf = kafka_conf_build(o, defaults, err, errlen);

    if (conf == NULL)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_on_delivery);
    /* The opts struct must outlive the client: it is the dr opaque. */
    rd_kafka_conf_set_opaque(conf, (void *)o);
    return kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
}

static const char *const kafka_consumer_defaults[] = {"enable.auto.offset.store",
                                                      "false",
                                                      "enable.auto.commit",
                                                      "true",
                                                      "auto.commit.interval.ms",
                                                      "1000",
                                                      "auto.offset.reset",
                                                      "latest",
                                                      "fetch.wait.max.ms",
                                                      "500",
                                                      "fetch.error.backoff.ms",
                                                      "50",
                                                      "socket.nagle.disable",
                                                      "true",
                                                      "session.timeout.ms",
                                                      "10000",
                                                      "heartbeat.interval.ms",
                                                      "1000",
                                                      "reconnect.backoff.max.ms",
                                                      "2000",
                                                      NULL};

rd_kafka_t *kafka_consumer_new(const struct kafka_opts *o, const char *group_id,
                               const char *const *topics, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_conf_build(o, kafka_consumer_defaults, err, errlen);
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t rerr;
    rd_kafka_t *rk;

    if (conf == NULL)
        return NULL;
    if (kafka_set(conf, "group.id", group_id, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    conf = NULL;
    if (rk == NULL)
        return NULL;
    rd_kafka_poll_set_consumer(rk);
    subs = rd_kafka_topic_partition_list_new(4);
    for (const char *const *t = topics; *t != NULL; t++)
        rd_kafka_topic_partition_list_add(subs, *t, RD_KAFKA_PARTITION_UA);
    rerr = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (rerr) {
        snprintf(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(rerr));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/* Partition count of topic from broker metadata, or -1. */
static int kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;

    if (rkt == NULL)
        return -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static rd_kafka_t *kafka_reader(const struct kafka_opts *o, const char *topic, int from_start,
                                char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_conf_build(o, kafka_consumer_defaults, err, errlen);
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t rerr;
    char group[64];
    rd_kafka_t *rk;
    int n = -1;

    if (conf == NULL)
        return NULL;
    /* assign() needs a group.id even though no group is joined. */
    snprintf(group, sizeof(group), "reader-%d-%lld", (int)getpid(), (long long)time_mono_ms());
    if (kafka_set(conf, "group.id", group, err, errlen) != 0 ||
        kafka_set(conf, "enable.auto.commit", "false", err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    conf = NULL;
    if (rk == NULL)
        return NULL;
    rd_kafka_poll_set_consumer(rk);
    /* The broker may still be starting: keep asking, bounded by the run flag. */
    while (signals_running() && (n = kafka_partition_count(rk, topic, 1000)) <= 0)
        time_sleep_ms(200);
    if (n <= 0) {
        snprintf(err, errlen, "kafka reader: no partitions for topic %s", topic);
        rd_kafka_destroy(rk);
        return NULL;
    }
    parts = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        int64_t lo = 0, hi = RD_KAFKA_OFFSET_END;
        if (from_start) {
            rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
            continue;
        }
        /* Resolve the end now, not lazily at the first fetch: a message
         * produced after this returns is then never skipped (a webapp is
         * healthy, and takes streams, as soon as its readers exist). */
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 5000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            hi = RD_KAFKA_OFFSET_END;
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = hi;
    }
    rerr = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (rerr) {
        snprintf(err, errlen, "kafka assign: %s", rd_kafka_err2str(rerr));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

rd_kafka_t *kafka_reader_new(const struct kafka_opts *o, const char *topic, char *err,
                             size_t errlen)
{
    return kafka_reader(o, topic, 0, err, errlen);
}

rd_kafka_t *kafka_reader_new_from_start(const struct kafka_opts *o, const char *topic, char *err,
                                        size_t errlen)
{
    return kafka_reader(o, topic, 1, err, errlen);
}

int kafka_produce(rd_kafka_t *rk, const char *topic, const char *key, size_t keylen,
                  const void *value, size_t len, void *msg_opaque, int timeout_ms,
                  rd_kafka_resp_err_t *errp)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t err;

    for (;;) {
        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
                                RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || time_mono_ms() >= deadline)
            break;
        /* Serve delivery reports so the queue drains, then retry. */
        rd_kafka_poll(rk, 100);
    }
    if (errp != NULL)
        *errp = err;
    return err ? -1 : 0;
}

int kafka_producer_failed(rd_kafka_t *rk)
{
    return rk != NULL && rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_t *kafka_producer_renew(const struct kafka_opts *o)
{
    char err[256];
    rd_kafka_t *rk = kafka_producer_new(o, err, sizeof(err));

    if (rk == NULL)
        log_error("kafka producer not replaced", "error=\"%s\"", err);
    else
        log_info("kafka producer replaced", NULL);
    return rk;
}

void kafka_producer_purge(rd_kafka_t *rk)
{
    if (rk == NULL)
        return;
    /* Its queued and in-flight messages fail now (delivery reports with
     * _PURGE_QUEUE / _PURGE_INFLIGHT, served here), for their owners to
     * send again. */
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk, 1000);
}

void kafka_producer_discard(rd_kafka_t *rk)
{
    int left;

    if (rk == NULL)
        return;
    kafka_producer_purge(rk);
    left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    log_info("kafka producer discarded", "undelivered=%d", left);
}

int kafka_producer_close(rd_kafka_t *rk, int timeout_ms)
{
    int left;

    if (rk == NULL)
        return 0;
    rd_kafka_flush(rk, timeout_ms);
    left = rd_kafka_outq_len(rk);
    if (left > 0)
        log_warn("kafka undelivered at shutdown", "messages=%d", left);
    rd_kafka_destroy(rk);
    return left;
}

void kafka_consumer_close(rd_kafka_t *rk)
{
    rd_kafka_resp_err_t err;

    if (rk == NULL)
        return;
    err = rd_kafka_consumer_close(rk);
    if (err)
        log_warn("kafka consumer close", "error=\"%s\"", rd_kafka_err2str(err));
    rd_kafka_destroy(rk);
}

struct kafka_closer {
    rd_kafka_t *rk;
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int done;
    int abandoned; /* the waiter left: the thread frees this */
};

static void *kafka_closer_main(void *arg)
{
    struct kafka_closer *c = arg;
    int abandoned;

    kafka_consumer_close(c->rk);
    pthread_mutex_lock(&c->lock);
    c->done = 1;
    abandoned = c->abandoned;
    pthread_cond_signal(&c->done_cv);
    pthread_mutex_unlock(&c->lock);
    if (abandoned) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->done_cv);
        free(c);
    }
    return NULL;
}

int kafka_consumer_close_within(rd_kafka_t *rk, int timeout_ms)
{
    struct kafka_closer *c;
    struct timespec until;
    pthread_t t;
    int done, rv = 0;

    if (rk == NULL)
        return 0;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        kafka_consumer_close(rk);
        return 0;
    }
    c->rk = rk;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->done_cv, NULL);
    if (pthread_create(&t, NULL, kafka_closer_main, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->done_cv);
        free(c);
        kafka_consumer_close(rk);
        return 0;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    while (!c->done && rv != ETIMEDOUT)
        rv = pthread_cond_timedwait(&c->done_cv, &c->lock, &until);
    done = c->done;
    if (!done)
        c->abandoned = 1;
    pthread_mutex_unlock(&c->lock);
    if (!done) {
        pthread_detach(t);
        log_warn("kafka consumer close abandoned",
                 "after_ms=%d note=\"no group coordinator answered; the next owner reads the "
                 "uncommitted offsets again\"",
                 timeout_ms);
        return -1;
    }
    pthread_join(t, NULL);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->done_cv);
    free(c);
    return 0;
}

int kafka_ping(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;

    if (rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    rd_kafka_metadata_destroy(md);
    return 0;
}

int kafka_create_topics(const char *bootstrap, const char *const *topics, int partitions,
                        int timeout_ms, char *err, size_t errlen)
{
    return kafka_create_topics_replicated(bootstrap, topics, partitions, 1, 0, timeout_ms, err,
                                          errlen);
}

int kafka_create_topics_replicated(const char *bootstrap, const char *const *topics, int partitions,
                                   int replication, int min_isr, int timeout_ms, char *err,
                                   size_t errlen)
{
    struct kafka_opts o = {.bootstrap = bootstrap, .client_id = "stock-alerts-admin"};
    rd_kafka_conf_t *conf = kafka_conf_build(&o, NULL, err, errlen);
    rd_kafka_NewTopic_t *nt[16];
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_t *rk = NULL;
    size_t n = 0;
    int rc = -1;
    char e[KAFKA_ERR_MAX];

    if (conf == NULL)
        return -1;
    rk = kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    conf = NULL;
    if (rk == NULL)
        return -1;
    for (; topics[n] != NULL && n < sizeof(nt) / sizeof(nt[0]); n++) {
        nt[n] = rd_kafka_NewTopic_new(topics[n], partitions, replication, e, sizeof(e));
        if (nt[n] == NULL) {
            snprintf(err, errlen, "topic %s: %s", topics[n], e);
            goto out;
        }
        if (contract_topic_compacted(topics[n]) &&
            rd_kafka_NewTopic_set_config(nt[n], "cleanup.policy", "compact") !=
                RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, errlen, "topic %s: cannot set cleanup.policy", topics[n]);
            n++;
            goto out;
        }
        if (min_isr > 0) {
            char v[16];

            snprintf(v, sizeof(v), "%d", min_isr);
            if (rd_kafka_NewTopic_set_config(nt[n], "min.insync.replicas", v) !=
                RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(err, errlen, "topic %s: cannot set min.insync.replicas", topics[n]);
                n++; /* so that out: destroys nt[n] too */
                goto out;
            }
        }
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, e, sizeof(e));
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, e, sizeof(e));
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, n, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (ev == NULL) {
        snprintf(err, errlen, "create topics: timed out");
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "create topics: %s", rd_kafka_event_error_string(ev));
        goto out;
    }
    {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t te = rd_kafka_topic_result_error(tr[i]);
            if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(err, errlen, "topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                         rd_kafka_topic_result_error_string(tr[i]));
                goto out;
            }
        }
    }
    rc = 0;
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    if (q != NULL)
        rd_kafka_queue_destroy(q);
    if (opts != NULL)
        rd_kafka_AdminOptions_destroy(opts);
    for (size_t i = 0; i < n; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    rd_kafka_destroy(rk);
    return rc;
}
