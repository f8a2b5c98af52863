/* dispatch_dlq: dead letters. A job whose alert no sink could deliver, or
 * whose message did not decode, is written to the DLQ topic with why and
 * where from; once Kafka has it, the job's claim is released and its offset
 * may be stored. */
#include "dispatch_priv.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "log.h"
#include "timeutil.h"

#define DISPATCH_DLQ_RETRY_MS 1000

/* The original as a JSON string; bytes that are not valid UTF-8 become '?'. */
static json_t *dispatch_original(const struct job *j)
{
    json_t *s = json_stringn(j->raw, j->rawlen);
    char *copy;

    if (s != NULL)
        return s;
    copy = malloc(j->rawlen + 1);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < j->rawlen; i++) {
        unsigned char c = (unsigned char)j->raw[i];
        copy[i] = c >= 0x80 || c == 0 ? '?' : (char)c;
    }
    s = json_stringn(copy, j->rawlen);
    free(copy);
    return s;
}

/* The DLQ record: why, where from, and the original (capped). */
static char *dispatch_dlq_json(const struct dispatcher *d, const struct job *j)
{
    json_t *o = json_object();
    char *out = NULL;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "error", json_string(j->error));
    json_object_set_new(o, "reason", json_string(j->malformed ? "malformed" : "undeliverable"));
    if (!j->malformed) {
        json_object_set_new(o, "alert_id", json_string(j->alert.alert_id));
        if (j->alert.firing > 0)
            json_object_set_new(o, "firing", json_integer((json_int_t)j->alert.firing));
        json_object_set_new(o, "sink", json_string(d->sinks[j->failed_sink].name));
        json_object_set_new(o, "attempts", json_integer(j->sink[j->failed_sink].attempts));
    }
    json_object_set_new(o, "topic", json_string(d->cfg->topic_alerts));
    json_object_set_new(o, "partition", json_integer(j->partition));
    json_object_set_new(o, "offset", json_integer(j->offset));
    json_object_set_new(o, "original_bytes", json_integer((json_int_t)j->fulllen));
    json_object_set_new(o, "original", dispatch_original(j));
    json_object_set_new(o, "failed_at", json_real(time_now()));
    out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

void dispatch_dlq_write(struct dispatcher *d, struct job *j, int64_t now)
{
    char *json = dispatch_dlq_json(d, j);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;

    if (json != NULL && kafka_produce(d->producer, d->cfg->topic_dlq, j->key, j->keylen, json,
                                      strlen(json), j, 0, &err) == 0) {
        j->state = JOB_DLQ_WAIT;
        j->next_ms = DISPATCH_FAR;
    } else {
        atomic_fetch_add(&d->stats->dlq_failed, 1);
        log_warn("dlq write failed", "partition=%d offset=%lld error=%s", (int)j->partition,
                 (long long)j->offset, rd_kafka_err2name(err));
        j->next_ms = now + DISPATCH_DLQ_RETRY_MS;
    }
    free(json);
}

void dispatch_dlq_on_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct dispatcher *d = opaque;
    struct job *j = msg->_private;

    (void)rk;
    if (d == NULL || d->closing || j == NULL)
        return;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add(&d->stats->dlq_failed, 1);
        j->state = JOB_DLQ;
        j->next_ms = time_mono_ms() + DISPATCH_DLQ_RETRY_MS;
        return;
    }
    if (j->malformed) {
        dispatch_job_finish(d, j);
        return;
    }
    atomic_fetch_add(&d->stats->dead_lettered, 1);
    log_warn("alert dead-lettered", "alert_id=%s sink=%s attempts=%d topic=%s error=\"%s\"",
             j->alert.alert_id, d->sinks[j->failed_sink].name, j->sink[j->failed_sink].attempts,
             d->cfg->topic_dlq, j->error);
    j->state = JOB_RELEASE;
    j->next_ms = 0;
}

void dispatch_dlq_release(struct dispatcher *d, struct job *j)
{
    /* Best effort: a claim left behind is ours (re-taken on a later copy)
     * or, after we stop, taken over by the next notifier. */
    if (dedup_release(d->dd, j->dkey) != 0)
        log_warn("claim release failed", "alert_id=%s", j->alert.alert_id);
    dispatch_job_finish(d, j);
}
