/* evaluator: the batch of messages in consumption order; a prefix of it is
 * finished (claims durable in their outboxes, or the message skipped) and only
 * that prefix's offsets are stored, so a failure never skips a tick. */
#include "evaluator.h"

#include <stdlib.h>
#include <string.h>

#include "alert_store_claim.h"
#include "log.h"
#include "message.h"
#include "timeutil.h"

struct evaluator_entry {
    rd_kafka_message_t *msg;
    int is_tick;
    struct price_msg pm;
    int64_t recv_us;
};

struct evaluator {
    struct redis_conn *rc;
    rd_kafka_t *consumer;
    struct outbox *ob;
    struct consumer_stats *stats;
    long max_tick_age_ms;
    struct evaluator_entry batch[EVALUATOR_BATCH_MAX];
    int n;    /* entries in batch */
    int head; /* first unfinished entry */
    struct alert_tick ticks[EVALUATOR_BATCH_MAX];
    int tick_entry[EVALUATOR_BATCH_MAX];
    struct alert_claim *claims;
    int failing; /* the last claim failed: log only state changes */
};

struct evaluator *evaluator_new(struct redis_conn *rc, rd_kafka_t *consumer, struct outbox *ob,
                                struct consumer_stats *stats, long max_tick_age_ms)
{
    struct evaluator *ev = calloc(1, sizeof(*ev));

    if (ev == NULL)
        return NULL;
    ev->claims = calloc(EVALUATOR_CLAIM_MAX, sizeof(*ev->claims));
    if (ev->claims == NULL) {
        free(ev);
        return NULL;
    }
    ev->rc = rc;
    ev->consumer = consumer;
    ev->ob = ob;
    ev->stats = stats;
    ev->max_tick_age_ms = max_tick_age_ms;
    return ev;
}

void evaluator_free(struct evaluator *ev)
{
    if (ev == NULL)
        return;
    for (int i = ev->head; i < ev->n; i++)
        rd_kafka_message_destroy(ev->batch[i].msg);
    free(ev->claims);
    free(ev);
}

int evaluator_consumer_fatal(const struct evaluator *ev)
{
    return ev->consumer != NULL &&
           rd_kafka_fatal_error(ev->consumer, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

void evaluator_set_consumer(struct evaluator *ev, rd_kafka_t *consumer)
{
    for (int i = ev->head; i < ev->n; i++) {
        rd_kafka_message_destroy(ev->batch[i].msg);
        ev->batch[i].msg = NULL;
    }
    ev->n = 0;
    ev->head = 0;
    ev->failing = 0;
    ev->consumer = consumer;
}

static int evaluator_is_stale(const struct evaluator *ev, const struct price_msg *pm)
{
    return ev->max_tick_age_ms > 0 && (time_now() - pm->timestamp) * 1000.0 > ev->max_tick_age_ms;
}

/* Classifies a fresh message; a consumer error or a bad payload is finished
 * at once (is_tick 0). */
static void evaluator_take(struct evaluator *ev, rd_kafka_message_t *msg)
{
    struct evaluator_entry *e = &ev->batch[ev->n++];
    char err[MSG_ERR_MAX];

    e->msg = msg;
    e->is_tick = 0;
    e->recv_us = time_mono_us();
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("kafka consume error", "error=\"%s\"", rd_kafka_message_errstr(msg));
        return;
    }
    if (price_msg_decode(msg->payload, msg->len, &e->pm, err, sizeof(err)) != 0) {
        atomic_fetch_add(&ev->stats->ticks_malformed, 1);
        log_warn("tick malformed", "partition=%d offset=%lld bytes=%zu error=\"%s\"",
                 (int)msg->partition, (long long)msg->offset, msg->len, err);
        return;
    }
    e->is_tick = 1;
}

/* Reads up to a batch of messages: waits timeout_ms for the first only. */
static void evaluator_fill(struct evaluator *ev, int timeout_ms)
{
    rd_kafka_message_t *msg;

    ev->n = 0;
    ev->head = 0;
    msg = rd_kafka_consumer_poll(ev->consumer, timeout_ms);
    while (msg != NULL) {
        evaluator_take(ev, msg);
        if (ev->n == EVALUATOR_BATCH_MAX)
            break;
        msg = rd_kafka_consumer_poll(ev->consumer, 0);
    }
}

/* Stores the offsets of entries [head, upto) and destroys their messages. */
static void evaluator_finish(struct evaluator *ev, int upto)
{
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_resp_err_t err;

    if (upto <= ev->head)
        return;
    parts = rd_kafka_topic_partition_list_new(8);
    for (int i = ev->head; i < upto; i++) {
        rd_kafka_message_t *m = ev->batch[i].msg;
        rd_kafka_topic_partition_t *p;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->rkt != NULL) {
            p = rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt),
                                                   m->partition);
            if (p == NULL)
                p = rd_kafka_topic_partition_list_add(parts, rd_kafka_topic_name(m->rkt),
                                                      m->partition);
            if (m->offset + 1 > p->offset)
                p->offset = m->offset + 1;
        }
        rd_kafka_message_destroy(m);
        ev->batch[i].msg = NULL;
    }
    ev->head = upto;
    if (parts->cnt > 0) {
        err = rd_kafka_offsets_store(ev->consumer, parts);
        /* After a rebalance the partition may be gone: its new owner reads
         * the tick again and the atomic claim makes that harmless. */
        if (err)
            log_debug("offset store", "error=\"%s\"", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* Collects the unfinished ticks, dropping the stale ones. Returns the count. */
static int evaluator_collect(struct evaluator *ev)
{
    int nt = 0;

    for (int i = ev->head; i < ev->n; i++) {
        struct evaluator_entry *e = &ev->batch[i];
        if (!e->is_tick)
            continue;
        if (evaluator_is_stale(ev, &e->pm)) {
            e->is_tick = 0;
            atomic_fetch_add(&ev->stats->ticks_stale, 1);
            log_debug("tick stale", "ticker=%s timestamp=%.3f", e->pm.ticker, e->pm.timestamp);
            continue;
        }
        ev->ticks[nt] = (struct alert_tick){e->pm.ticker, e->pm.price, e->pm.timestamp,
                                            e->pm.has_decimals, e->pm.decimals};
        ev->tick_entry[nt++] = i;
    }
    return nt;
}

/* Publishes claims and records the ticks [from, to) as processed. */
static void evaluator_done(struct evaluator *ev, int nclaims, int from, int to)
{
    int64_t now = time_mono_us();

    for (int i = 0; i < nclaims; i++) {
        const struct alert_claim *c = &ev->claims[i];
        if (c->state == ALERT_CLAIM_READY && c->payload_len == 0)
            log_error("claim unreadable", "outbox=%s outbox_id=%s", c->outbox_key, c->outbox_id);
        /* Also for the claims not READY: the outbox learns their stream, and
         * its sweeper delivers an UNDELIVERED one later. */
        outbox_publish(ev->ob, c);
    }
    atomic_fetch_add(&ev->stats->alerts_fired, (uint64_t)nclaims);
    atomic_fetch_add(&ev->stats->ticks_processed, (uint64_t)(to - from));
    for (int t = from; t < to; t++)
        stats_observe_latency(ev->stats, now - ev->batch[ev->tick_entry[t]].recv_us);
}

/* Claims for all unfinished ticks. Returns 0, or -1 on a Redis failure with
 * the finished prefix already stored. */
static int evaluator_process(struct evaluator *ev)
{
    char err[ALERT_STORE_ERR_MAX];
    int nt = evaluator_collect(ev);
    int done = 0;

    while (done < nt) {
        int d = 0;
        int nc = alert_store_claim_batch(ev->rc, ev->ticks + done, nt - done, ev->claims,
                                         EVALUATOR_CLAIM_MAX, &d, err, sizeof(err));
        /* d == 0 with claims is progress: a ticker reached its share of
         * the claims (alert_store_claim_batch) at its first tick. */
        if (nc < 0 || (d == 0 && nc == 0)) {
            atomic_fetch_add(&ev->stats->redis_errors, 1);
            if (!ev->failing)
                log_warn("claim failed, holding ticks", "ticks_held=%d error=\"%s\"", nt - done,
                         nc < 0 ? err : "no progress");
            ev->failing = 1;
            evaluator_finish(ev, ev->tick_entry[done]);
            return -1;
        }
        if (ev->failing)
            log_info("claims resumed", "ticks_held=%d", nt - done);
        ev->failing = 0;
        evaluator_done(ev, nc, done, done + d);
        done += d;
        evaluator_finish(ev, done < nt ? ev->tick_entry[done] : ev->n);
    }
    evaluator_finish(ev, ev->n);
    return 0;
}

int evaluator_poll(struct evaluator *ev, int timeout_ms)
{
    int before;

    if (ev->head >= ev->n)
        evaluator_fill(ev, timeout_ms);
    before = ev->head;
    if (ev->n == 0)
        return 0;
    if (evaluator_process(ev) != 0)
        return -1;
    return ev->n - before;
}
