/* dispatch_consume: the notifier's consume loop. Each message of the alerts
 * topic becomes a job (malformed ones go straight to the dead letters);
 * partitions pause while too many are unhandled; a partition's offset is
 * stored only once every earlier message of it is handled (tracker.h). */
#include "dispatch_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "signals.h"

#define DISPATCH_ORIGINAL_MAX 2048 /* of a message, kept for the DLQ */
#define DISPATCH_BATCH 500         /* messages taken per consume call */

static void dispatch_store_offset(struct dispatcher *d, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    rd_kafka_topic_partition_list_add(l, d->cfg->topic_alerts, partition)->offset = offset;
    err = rd_kafka_offsets_store(d->consumer, l);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
        err = l->elems[0].err;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) /* e.g. the partition was revoked */
        log_debug("offset not stored", "partition=%d offset=%lld error=%s", (int)partition,
                  (long long)offset, rd_kafka_err2name(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* The message is handled: its offset may now be stored. */
void dispatch_job_finish(struct dispatcher *d, struct job *j)
{
    int64_t store = tracker_done(d->tracker, j->partition, j->offset);

    if (store >= 0)
        dispatch_store_offset(d, j->partition, store);
    j->state = JOB_FINISHED;
}

static int dispatch_copy_payload(struct job *j, const rd_kafka_message_t *m)
{
    size_t n = m->len > MSG_MAX_BYTES ? DISPATCH_ORIGINAL_MAX : m->len;

    j->raw = malloc(n + 1);
    if (j->raw == NULL)
        return -1;
    if (n > 0)
        memcpy(j->raw, m->payload, n);
    j->raw[n] = '\0';
    j->rawlen = n;
    j->fulllen = m->len;
    j->keylen = m->key_len < sizeof(j->key) ? m->key_len : sizeof(j->key) - 1;
    if (j->keylen > 0)
        memcpy(j->key, m->key, j->keylen);
    return 0;
}

/* Turns one consumed message into a job. -1 on out of memory (the message
 * is then fetched again after a restart: its offset is never stored). */
static int dispatch_accept(struct dispatcher *d, const rd_kafka_message_t *m)
{
    struct job *j = dispatch_job_new(d);
    char err[MSG_ERR_MAX] = "";

    if (j == NULL)
        return -1;
    j->partition = m->partition;
    j->offset = m->offset;
    if (dispatch_copy_payload(j, m) != 0 || tracker_add(d->tracker, m->partition, m->offset) != 0) {
        dispatch_job_free(d, j);
        return -1;
    }
    atomic_fetch_add(&d->stats->consumed, 1);
    if (m->len > MSG_MAX_BYTES)
        snprintf(err, sizeof(err), "message too large (%zu bytes, at most %d)", m->len,
                 MSG_MAX_BYTES);
    if (err[0] != '\0' || alert_msg_decode(j->raw, j->rawlen, &j->alert, err, sizeof(err)) != 0) {
        j->malformed = 1;
        snprintf(j->error, sizeof(j->error), "%s", err);
        atomic_fetch_add(&d->stats->malformed, 1);
        log_warn("malformed alert", "partition=%d offset=%lld bytes=%zu error=\"%s\"",
                 (int)m->partition, (long long)m->offset, m->len, err);
        j->state = JOB_DLQ;
        return 0;
    }
    alert_msg_delivery_key(&j->alert, j->dkey);
    if (j->alert.expired) {
        /* An alert that expired unfired is in its user's history; it is no
         * notification: nothing to deliver. */
        atomic_fetch_add(&d->stats->expired, 1);
        log_info("alert expired, not notified", "alert_id=%s user=%s ticker=%s expires_at=%lld",
                 j->alert.alert_id, j->alert.user_id, j->alert.ticker, j->alert.expires_at);
        dispatch_job_finish(d, j);
    }
    return 0;
}

static void dispatch_consume_error(struct dispatcher *d, const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || m->err == d->last_consume_err)
        return;
    d->last_consume_err = m->err;
    log_warn("kafka consume error", "error=%s detail=\"%s\"", rd_kafka_err2name(m->err),
             rd_kafka_message_errstr(m));
}

/* Pauses the assigned partitions while too many messages are unhandled;
 * resumes at three quarters (hysteresis). Paused partitions keep their
 * fetch position, so nothing is skipped. */
void dispatch_flow_control(struct dispatcher *d)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    int pause;

    if (!d->paused && d->njobs >= d->cfg->max_pending)
        pause = 1;
    else if (d->paused && d->njobs <= d->cfg->max_pending * 3 / 4)
        pause = 0;
    else
        return;
    if (rd_kafka_assignment(d->consumer, &a) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (pause)
        rd_kafka_pause_partitions(d->consumer, a);
    else
        rd_kafka_resume_partitions(d->consumer, a);
    rd_kafka_topic_partition_list_destroy(a);
    d->paused = pause;
    log_info(pause ? "consumer paused" : "consumer resumed", "pending=%ld", d->njobs);
}

void dispatch_consume(struct dispatcher *d, int timeout_ms)
{
    for (int n = 0; n < DISPATCH_BATCH && signals_running(); n++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(d->consumer, n == 0 ? timeout_ms : 0);
        if (m == NULL)
            return;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            dispatch_consume_error(d, m);
        } else {
            d->last_consume_err = RD_KAFKA_RESP_ERR_NO_ERROR;
            if (dispatch_accept(d, m) != 0) {
                log_error("out of memory", "partition=%d offset=%lld", (int)m->partition,
                          (long long)m->offset);
                signals_request_stop();
            }
        }
        rd_kafka_message_destroy(m);
    }
}
