/* outbox: Kafka publishing of claimed alerts with the in-flight set and the
 * batched acknowledgement (one XDEL per service round). */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inflight.h"
#include "kafka.h"
#include "log.h"
#include "timeutil.h"

#define OUTBOX_SWEEP_PAGE 256
#define OUTBOX_SWEEP_PAGES 40        /* at most 10240 entries per sweep */
#define OUTBOX_PRODUCE_TIMEOUT_MS 50 /* wait for queue space, then leave it to the sweeper */
#define OUTBOX_TOPIC_MAX 256

struct outbox {
    struct redis_conn *rc;
    rd_kafka_t *rk;
    struct consumer_stats *stats;
    struct inflight *inflight;
    struct inflight_entry **acks; /* acknowledged, awaiting XDEL */
    size_t nacks;
    size_t acks_cap;
    char topic[OUTBOX_TOPIC_MAX];
    long redeliver_ms;
    int64_t next_sweep_ms;
    int kafka_full;                 /* the last produce found the queue full */
    int ack_failing, sweep_failing; /* log only state changes */
    struct alert_claim *page;
};

struct outbox *outbox_new(struct redis_conn *rc, const char *topic, long redeliver_ms,
                          struct consumer_stats *stats)
{
    struct outbox *ob = calloc(1, sizeof(*ob));

    if (ob == NULL)
        return NULL;
    ob->rc = rc;
    ob->stats = stats;
    ob->redeliver_ms = redeliver_ms;
    snprintf(ob->topic, sizeof(ob->topic), "%s", topic);
    ob->inflight = inflight_new();
    ob->page = calloc(OUTBOX_SWEEP_PAGE, sizeof(*ob->page));
    if (ob->inflight == NULL || ob->page == NULL) {
        outbox_free(ob);
        return NULL;
    }
    return ob;
}

void outbox_attach(struct outbox *ob, rd_kafka_t *producer)
{
    ob->rk = producer;
}

void outbox_free(struct outbox *ob)
{
    if (ob == NULL)
        return;
    inflight_free(ob->inflight);
    free(ob->acks);
    free(ob->page);
    free(ob);
}

size_t outbox_inflight(const struct outbox *ob)
{
    return inflight_count(ob->inflight);
}

static void outbox_update_gauge(struct outbox *ob)
{
    atomic_store(&ob->stats->inflight, (int_fast64_t)inflight_count(ob->inflight));
}

/* Queues e for XDEL; if the list cannot grow, the entry is simply dropped
 * from the in-flight set and a later sweep republishes it (a duplicate the
 * consumers filter by alert_id, never a loss). */
static void outbox_queue_ack(struct outbox *ob, struct inflight_entry *e)
{
    if (ob->nacks == ob->acks_cap) {
        size_t cap = ob->acks_cap ? ob->acks_cap * 2 : 1024;
        struct inflight_entry **p = realloc(ob->acks, cap * sizeof(*p));
        if (p == NULL) {
            inflight_remove(ob->inflight, e);
            return;
        }
        ob->acks = p;
        ob->acks_cap = cap;
    }
    e->acked = 1;
    ob->acks[ob->nacks++] = e;
}

void outbox_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct outbox *ob = opaque;
    struct inflight_entry *e = msg->_private;

    (void)rk;
    if (e == NULL)
        return;
    if (msg->err) {
        /* Left in the outbox: the sweeper sends it again. */
        atomic_fetch_add(&ob->stats->publish_failures, 1);
        inflight_remove(ob->inflight, e);
        return;
    }
    atomic_fetch_add(&ob->stats->alerts_published, 1);
    outbox_queue_ack(ob, e);
}

int outbox_publish(struct outbox *ob, const struct alert_claim *c)
{
    struct inflight_entry *e;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (c->payload_len == 0 || ob->rk == NULL)
        return -1;
    if (ob->kafka_full)
        return -1;
    e = inflight_add(ob->inflight, c->outbox_id);
    if (e == NULL)
        return inflight_find(ob->inflight, c->outbox_id) != NULL ? 0 : -1;
    if (kafka_produce(ob->rk, ob->topic, c->user_id, strlen(c->user_id), c->payload, c->payload_len,
                      e, OUTBOX_PRODUCE_TIMEOUT_MS, &err) != 0) {
        inflight_remove(ob->inflight, e);
        atomic_fetch_add(&ob->stats->publish_failures, 1);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            ob->kafka_full = 1;
        log_warn("alert publish deferred to the sweeper", "outbox_id=%s error=\"%s\"", c->outbox_id,
                 rd_kafka_err2str(err));
        return -1;
    }
    outbox_update_gauge(ob);
    return 0;
}

size_t outbox_flush_acks(struct outbox *ob)
{
    const char *ids[ALERT_STORE_ACK_MAX];
    char err[ALERT_STORE_ERR_MAX];

    while (ob->nacks > 0) {
        size_t n = ob->nacks < ALERT_STORE_ACK_MAX ? ob->nacks : ALERT_STORE_ACK_MAX;
        size_t base = ob->nacks - n;
        for (size_t i = 0; i < n; i++)
            ids[i] = ob->acks[base + i]->id;
        if (alert_store_outbox_ack_many(ob->rc, ids, (int)n, err, sizeof(err)) != 0) {
            atomic_fetch_add(&ob->stats->redis_errors, 1);
            if (!ob->ack_failing)
                log_warn("outbox ack failed", "entries=%zu error=\"%s\"", ob->nacks, err);
            ob->ack_failing = 1;
            break;
        }
        ob->ack_failing = 0;
        for (size_t i = 0; i < n; i++)
            inflight_remove(ob->inflight, ob->acks[base + i]);
        ob->nacks = base;
    }
    outbox_update_gauge(ob);
    return ob->nacks;
}

/* Publishes one page of old entries, counting them in *sent; returns how
 * many were read or -1. */
static int outbox_sweep_page(struct outbox *ob, char *after, size_t afterlen, long *sent)
{
    char err[ALERT_STORE_ERR_MAX];
    int n = alert_store_outbox_read(ob->rc, after, ob->redeliver_ms, ob->page, OUTBOX_SWEEP_PAGE,
                                    err, sizeof(err));

    if (n < 0) {
        atomic_fetch_add(&ob->stats->redis_errors, 1);
        if (!ob->sweep_failing)
            log_warn("outbox sweep failed", "error=\"%s\"", err);
        ob->sweep_failing = 1;
        return -1;
    }
    ob->sweep_failing = 0;
    for (int i = 0; i < n; i++) {
        const struct alert_claim *c = &ob->page[i];
        if (c->outbox_id[0] != '\0')
            snprintf(after, afterlen, "%s", c->outbox_id);
        if (c->payload_len == 0 || inflight_find(ob->inflight, c->outbox_id) != NULL)
            continue;
        if (outbox_publish(ob, c) != 0)
            return -1;
        atomic_fetch_add(&ob->stats->alerts_republished, 1);
        (*sent)++;
    }
    return n;
}

void outbox_sweep(struct outbox *ob)
{
    char after[48] = "0";
    long depth, sent = 0;

    for (int page = 0; page < OUTBOX_SWEEP_PAGES; page++) {
        if (outbox_sweep_page(ob, after, sizeof(after), &sent) != OUTBOX_SWEEP_PAGE)
            break;
    }
    depth = alert_store_outbox_len(ob->rc);
    if (sent > 0)
        log_info("outbox republished", "entries=%ld last_id=%s depth=%ld", sent, after, depth);
    atomic_store(&ob->stats->outbox_depth, (int_fast64_t)depth);
}

void outbox_service(struct outbox *ob, long sweep_ms)
{
    int64_t now;

    if (ob->rk != NULL)
        rd_kafka_poll(ob->rk, 0);
    ob->kafka_full = 0;
    outbox_flush_acks(ob);
    now = time_mono_ms();
    if (now >= ob->next_sweep_ms) {
        ob->next_sweep_ms = now + sweep_ms;
        outbox_sweep(ob);
    }
}
