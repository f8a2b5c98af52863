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
#define OUTBOX_SCAN_MS 60000 /* how often the outboxes of other evaluators are looked for */
/* SCAN time per sweep at most (at least one page): the sweep runs on the
 * thread that evaluates ticks, and a page of 1,000 keys takes about half a
 * millisecond, so 100 pages in a row held every tick ~60 ms once a second
 * while a keyspace of 326,000 keys was scanned. */
#define OUTBOX_SCAN_BUDGET_MS 3

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
    /* The outboxes swept: the legacy one first, then every ticker's this
     * evaluator claimed for or a SCAN found. */
    char (*keys)[ALERT_STORE_OUTBOX_KEY_MAX];
    long *lens;
    int nkeys, keys_cap;
    char scan_cursor[REDIS_SCAN_CURSOR_MAX];
    int64_t next_scan_ms;
};

/* Adds key to the outboxes swept, once. */
static void outbox_track(struct outbox *ob, const char *key)
{
    for (int i = 0; i < ob->nkeys; i++) {
        if (strcmp(ob->keys[i], key) == 0)
            return;
    }
    if (ob->nkeys == ob->keys_cap) {
        int cap = ob->keys_cap ? ob->keys_cap * 2 : 64;
        char(*k)[ALERT_STORE_OUTBOX_KEY_MAX] = realloc(ob->keys, sizeof(*k) * (size_t)cap);
        long *l = k != NULL ? realloc(ob->lens, sizeof(*l) * (size_t)cap) : NULL;
        if (k != NULL)
            ob->keys = k;
        if (l == NULL)
            return; /* the next SCAN finds it again */
        ob->lens = l;
        ob->keys_cap = cap;
    }
    snprintf(ob->keys[ob->nkeys++], ALERT_STORE_OUTBOX_KEY_MAX, "%s", key);
}

static void outbox_track_cb(const char *key, void *ud)
{
    outbox_track(ud, key);
}

/* The in-flight key of a claim: "<outbox key> <entry id>". */
static void outbox_ref(const struct alert_claim *c, char out[INFLIGHT_ID_MAX])
{
    snprintf(out, INFLIGHT_ID_MAX, "%s %s", c->outbox_key, c->outbox_id);
}

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
    snprintf(ob->scan_cursor, sizeof(ob->scan_cursor), "0");
    outbox_track(ob, ALERT_STORE_OUTBOX_LEGACY);
    ob->inflight = inflight_new();
    ob->page = calloc(OUTBOX_SWEEP_PAGE, sizeof(*ob->page));
    if (ob->inflight == NULL || ob->page == NULL || ob->nkeys != 1) {
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
    free(ob->keys);
    free(ob->lens);
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
 * consumers filter by alert_id (and firing), never a loss). */
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
    char ref[INFLIGHT_ID_MAX];

    if (c->outbox_key[0] != '\0')
        outbox_track(ob, c->outbox_key);
    if (c->state != ALERT_CLAIM_READY || c->payload_len == 0 || ob->rk == NULL)
        return -1;
    if (ob->kafka_full)
        return -1;
    outbox_ref(c, ref);
    e = inflight_add(ob->inflight, ref);
    if (e == NULL)
        return inflight_find(ob->inflight, ref) != NULL ? 0 : -1;
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
    static char keys[ALERT_STORE_ACK_MAX][INFLIGHT_ID_MAX];
    const char *kp[ALERT_STORE_ACK_MAX], *ids[ALERT_STORE_ACK_MAX];
    char err[ALERT_STORE_ERR_MAX];

    while (ob->nacks > 0) {
        size_t n = ob->nacks < ALERT_STORE_ACK_MAX ? ob->nacks : ALERT_STORE_ACK_MAX;
        size_t base = ob->nacks - n;
        for (size_t i = 0; i < n; i++) {
            /* "<outbox key> <entry id>": split into the two */
            char *sp;
            snprintf(keys[i], sizeof(keys[i]), "%s", ob->acks[base + i]->id);
            sp = strchr(keys[i], ' ');
            if (sp != NULL)
                *sp = '\0';
            kp[i] = keys[i];
            ids[i] = sp != NULL ? sp + 1 : "";
        }
        if (alert_store_outbox_ack_many(ob->rc, kp, ids, (int)n, err, sizeof(err)) != 0) {
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

/* Delivers (idempotent) and publishes one page of old entries of outbox
 * key, counting them in *sent; returns how many were read or -1. */
static int outbox_sweep_page(struct outbox *ob, const char *key, char *after, size_t afterlen,
                             long *sent)
{
    char err[ALERT_STORE_ERR_MAX], ref[INFLIGHT_ID_MAX];
    int n = alert_store_outbox_read(ob->rc, key, after, ob->redeliver_ms, ob->page,
                                    OUTBOX_SWEEP_PAGE, err, sizeof(err));

    if (n >= 0) {
        /* Entries in flight here already carry their positions: skip them. */
        for (int i = 0; i < n; i++) {
            outbox_ref(&ob->page[i], ref);
            if (inflight_find(ob->inflight, ref) != NULL)
                ob->page[i].payload_len = 0;
        }
    }
    if (n < 0 || alert_store_deliver(ob->rc, ob->page, n, err, sizeof(err)) != 0) {
        atomic_fetch_add(&ob->stats->redis_errors, 1);
        if (!ob->sweep_failing)
            log_warn("outbox sweep failed", "outbox=%s error=\"%s\"", key, err);
        ob->sweep_failing = 1;
        return -1;
    }
    ob->sweep_failing = 0;
    for (int i = 0; i < n; i++) {
        const struct alert_claim *c = &ob->page[i];
        if (c->outbox_id[0] != '\0')
            snprintf(after, afterlen, "%s", c->outbox_id);
        if (c->state != ALERT_CLAIM_READY || c->payload_len == 0)
            continue;
        if (outbox_publish(ob, c) != 0)
            return -1;
        atomic_fetch_add(&ob->stats->alerts_republished, 1);
        (*sent)++;
    }
    return n;
}

/* Looks for outboxes other evaluators left (at start, then every
 * OUTBOX_SCAN_MS): SCAN pages for OUTBOX_SCAN_BUDGET_MS per sweep, the
 * next sweep going on from the cursor until the keyspace is covered. */
static void outbox_scan(struct outbox *ob)
{
    char err[ALERT_STORE_ERR_MAX];
    int64_t now = time_mono_ms();

    if (now < ob->next_scan_ms)
        return;
    do {
        if (alert_store_outbox_scan(ob->rc, ob->scan_cursor, outbox_track_cb, ob, err,
                                    sizeof(err)) != 0) {
            snprintf(ob->scan_cursor, sizeof(ob->scan_cursor), "0");
            return; /* the sweep below logs Redis failures */
        }
        if (strcmp(ob->scan_cursor, "0") == 0) {
            ob->next_scan_ms = now + OUTBOX_SCAN_MS;
            return;
        }
    } while (time_mono_ms() - now < OUTBOX_SCAN_BUDGET_MS);
}

void outbox_sweep(struct outbox *ob)
{
    char after[48], err[ALERT_STORE_ERR_MAX];
    const char **keys;
    long depth, sent = 0;

    outbox_scan(ob);
    keys = malloc(sizeof(*keys) * (size_t)ob->nkeys);
    if (keys == NULL)
        return;
    for (int k = 0; k < ob->nkeys; k++)
        keys[k] = ob->keys[k];
    depth = alert_store_outbox_lens(ob->rc, keys, ob->nkeys, ob->lens, err, sizeof(err));
    for (int k = 0; depth > 0 && k < ob->nkeys; k++) {
        if (ob->lens[k] <= 0)
            continue;
        snprintf(after, sizeof(after), "0");
        for (int page = 0; page < OUTBOX_SWEEP_PAGES; page++) {
            if (outbox_sweep_page(ob, keys[k], after, sizeof(after), &sent) != OUTBOX_SWEEP_PAGE)
                break;
        }
    }
    free(keys);
    if (sent > 0)
        log_info("outbox republished", "entries=%ld depth=%ld", sent, depth);
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
