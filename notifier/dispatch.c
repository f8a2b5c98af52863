/* dispatch: jobs in arrival order, each a small state machine advanced by
 * the main loop; sinks report through dispatch_on_sink_done, the DLQ
 * producer through dispatch_on_dlq_report. Nothing is freed inside a
 * callback: finished jobs are reaped by the next pass over the list. */
#include "dispatch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "kafka.h"
#include "log.h"
#include "signals.h"
#include "stats.h"
#include "timeutil.h"
#include "tracker.h"

#define DISPATCH_KEY_MAX 256
#define DISPATCH_ORIGINAL_MAX 2048 /* of a message, kept for the DLQ */
#define DISPATCH_BATCH 500         /* messages taken per consume call */
#define DISPATCH_BUSY_WAIT_MS 250  /* another notifier holds the claim */
#define DISPATCH_DLQ_RETRY_MS 1000
#define DISPATCH_REDIS_BACKOFF_MAX_MS 2000
#define DISPATCH_FAR (INT64_MAX / 4)

enum job_state {
    JOB_CLAIM = 0, /* decoded; needs the de-duplication claim */
    JOB_DELIVER,   /* claimed; sinks delivering or waiting for a retry */
    JOB_CONFIRM,   /* every sink delivered; record it in Redis */
    JOB_DLQ,       /* write to the dead-letter topic */
    JOB_DLQ_WAIT,  /* waiting for the DLQ delivery report */
    JOB_RELEASE,   /* dead-lettered: drop our claim */
    JOB_FINISHED,  /* handled; reaped on the next pass */
};

enum sink_status { SS_IDLE = 0, SS_INFLIGHT, SS_OK, SS_FAILED };

struct job_sink {
    enum sink_status st;
    int attempts;
    int64_t next_ms;
};

struct job {
    struct job *prev, *next;
    enum job_state state;
    int64_t next_ms; /* when the job next needs a look */
    int32_t partition;
    int64_t offset;
    char key[DISPATCH_KEY_MAX];
    size_t keylen;
    char *raw; /* the payload (capped copy when malformed) */
    size_t rawlen;
    size_t fulllen; /* the payload's size on the topic */
    int malformed;
    int possible_duplicate;
    struct alert_msg alert;
    struct job_sink sink[SINK_MAX];
    int failed_sink; /* -1, or the sink whose failure sends it to the DLQ */
    char error[SINK_ERR_MAX];
};

struct dispatcher {
    const struct notifier_config *cfg;
    struct dedup *dd;
    struct sink sinks[SINK_MAX];
    int inflight[SINK_MAX];
    int nsinks;
    struct kafka_opts popts; /* must outlive the producer (dr opaque) */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    struct tracker *tracker;
    struct job *head, *tail;
    long njobs;
    int paused;
    int draining;
    int closing; /* jobs are being freed: ignore late delivery reports */
    int64_t redis_next_ms;
    int64_t heartbeat_ms; /* next liveness refresh */
    long redis_backoff_ms;
    rd_kafka_resp_err_t last_consume_err;
};

/* ------------------------------------------------------------ job list */

static struct job *job_new(struct dispatcher *d)
{
    struct job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return NULL;
    j->failed_sink = -1;
    j->prev = d->tail;
    if (d->tail != NULL)
        d->tail->next = j;
    else
        d->head = j;
    d->tail = j;
    d->njobs++;
    return j;
}

static void job_free(struct dispatcher *d, struct job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        d->head = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    else
        d->tail = j->prev;
    d->njobs--;
    free(j->raw);
    free(j);
}

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
static void job_finish(struct dispatcher *d, struct job *j)
{
    int64_t store = tracker_done(d->tracker, j->partition, j->offset);

    if (store >= 0)
        dispatch_store_offset(d, j->partition, store);
    j->state = JOB_FINISHED;
}

/* ------------------------------------------------------------ redis gate */

/* Redis failed: every job needing it waits for the same capped backoff. */
static void dispatch_redis_failed(struct dispatcher *d, struct job *j, int64_t now)
{
    if (stats_redis_up())
        log_warn("redis unavailable", "detail=\"de-duplication store unreachable, retrying\"");
    stats_set_redis_up(0);
    d->redis_backoff_ms = d->redis_backoff_ms == 0 ? 100 : d->redis_backoff_ms * 2;
    if (d->redis_backoff_ms > DISPATCH_REDIS_BACKOFF_MAX_MS)
        d->redis_backoff_ms = DISPATCH_REDIS_BACKOFF_MAX_MS;
    d->redis_next_ms = now + d->redis_backoff_ms;
    j->next_ms = d->redis_next_ms;
}

static void dispatch_redis_ok(struct dispatcher *d)
{
    if (!stats_redis_up())
        log_info("redis available", NULL);
    stats_set_redis_up(1);
    d->redis_backoff_ms = 0;
}

/* ------------------------------------------------------------ claim */

static int dispatch_has_capacity(const struct dispatcher *d)
{
    for (int i = 0; i < d->nsinks; i++) {
        if (d->sinks[i].max_inflight > 0 && d->inflight[i] >= d->sinks[i].max_inflight)
            return 0;
    }
    return 1;
}

/* True if another job of this process holds the claim on j's alert_id. */
static int dispatch_claim_held(const struct dispatcher *d, const struct job *j)
{
    for (const struct job *o = d->head; o != NULL; o = o->next) {
        if (o != j && !o->malformed && o->state > JOB_CLAIM && o->state < JOB_FINISHED &&
            strcmp(o->alert.alert_id, j->alert.alert_id) == 0)
            return 1;
    }
    return 0;
}

static void job_deliver(struct dispatcher *d, struct job *j, int64_t now);

static void job_claimed(struct dispatcher *d, struct job *j, int taken, int64_t now)
{
    j->possible_duplicate = taken;
    if (taken) {
        stats_add(STATS_TAKEN_OVER, 1);
        log_warn("claim taken over",
                 "alert_id=%s detail=\"a stopped notifier was delivering it; may duplicate\"",
                 j->alert.alert_id);
    }
    for (int i = 0; i < d->nsinks; i++)
        j->sink[i].next_ms = now;
    j->state = JOB_DELIVER;
    job_deliver(d, j, now);
}

static void job_claim(struct dispatcher *d, struct job *j, int64_t now)
{
    enum dedup_claim c;

    if (d->draining || !dispatch_has_capacity(d))
        return;
    c = dedup_claim(d->dd, j->alert.alert_id);
    if (c == DEDUP_MINE && !dispatch_claim_held(d, j))
        c = dedup_reclaim(d->dd, j->alert.alert_id) == 0 ? DEDUP_CLAIMED : DEDUP_ERROR;
    if (c == DEDUP_ERROR) {
        dispatch_redis_failed(d, j, now);
        return;
    }
    dispatch_redis_ok(d);
    switch (c) {
    case DEDUP_DONE:
        stats_add(STATS_DUPLICATES, 1);
        log_info("duplicate suppressed", "alert_id=%s partition=%d offset=%lld",
                 j->alert.alert_id, (int)j->partition, (long long)j->offset);
        job_finish(d, j);
        break;
    case DEDUP_BUSY:
    case DEDUP_MINE:
        j->next_ms = now + DISPATCH_BUSY_WAIT_MS;
        break;
    default:
        job_claimed(d, j, c == DEDUP_TAKEN_OVER, now);
        break;
    }
}

/* ------------------------------------------------------------ deliver */

static void job_sink_failed(struct dispatcher *d, struct job *j, int i, enum sink_result r,
                            const char *err, int64_t now)
{
    struct job_sink *js = &j->sink[i];

    snprintf(j->error, sizeof(j->error), "%s", err != NULL ? err : "unknown error");
    if (r == SINK_RETRY && js->attempts < d->cfg->max_attempts) {
        long delay = backoff_delay_ms(js->attempts, d->cfg->retry_base_ms,
                                      d->cfg->retry_max_ms, backoff_random());
        js->st = SS_IDLE;
        js->next_ms = now + delay;
        stats_add(STATS_RETRIED, 1);
        log_warn("delivery retry scheduled",
                 "alert_id=%s sink=%s attempt=%d delay_ms=%ld error=\"%s\"", j->alert.alert_id,
                 d->sinks[i].name, js->attempts, delay, j->error);
        return;
    }
    js->st = SS_FAILED;
    j->failed_sink = i;
    log_warn("delivery failed", "alert_id=%s sink=%s attempts=%d permanent=%d error=\"%s\"",
             j->alert.alert_id, d->sinks[i].name, js->attempts, r == SINK_FAIL, j->error);
}

static void job_sink_start(struct dispatcher *d, struct job *j, int i, int64_t now)
{
    struct sink *s = &d->sinks[i];
    struct sink_request rq = {.alert = &j->alert,
                              .json = j->raw,
                              .len = j->rawlen,
                              .attempt = j->sink[i].attempts + 1,
                              .possible_duplicate = j->possible_duplicate,
                              .job = j};
    char err[SINK_ERR_MAX] = "";
    enum sink_result r;

    j->sink[i].attempts++;
    r = s->deliver(s, &rq, err, sizeof(err));
    if (r == SINK_OK) {
        j->sink[i].st = SS_OK;
    } else if (r == SINK_PENDING) {
        j->sink[i].st = SS_INFLIGHT;
        d->inflight[i]++;
    } else {
        job_sink_failed(d, j, i, r, err, now);
    }
}

/* Starts due attempts, then decides: all delivered → confirm; a sink gave
 * up and none is still busy → dead-letter; else wait. */
static void job_deliver(struct dispatcher *d, struct job *j, int64_t now)
{
    int ok = 0, failed = 0, busy = 0;

    j->next_ms = DISPATCH_FAR;
    for (int i = 0; i < d->nsinks; i++) {
        struct job_sink *js = &j->sink[i];
        int room = d->sinks[i].max_inflight == 0 || d->inflight[i] < d->sinks[i].max_inflight;
        if (js->st == SS_IDLE && js->next_ms <= now && room && !d->draining)
            job_sink_start(d, j, i, now);
        ok += js->st == SS_OK;
        failed += js->st == SS_FAILED;
        busy += js->st == SS_INFLIGHT;
        if (js->st == SS_IDLE) {
            /* due but no room (or draining): look again shortly */
            int64_t at = js->next_ms > now ? js->next_ms : now + 10;
            j->next_ms = at < j->next_ms ? at : j->next_ms;
        }
    }
    if (ok == d->nsinks) {
        j->state = JOB_CONFIRM;
        j->next_ms = now;
    } else if (failed > 0 && busy == 0) {
        j->state = JOB_DLQ;
        j->next_ms = now;
    }
}

static void dispatch_on_sink_done(struct sink *s, void *job, enum sink_result r,
                                  const char *err)
{
    struct dispatcher *d = s->done_ctx;
    struct job *j = job;
    int i = (int)(s - d->sinks);
    int64_t now = time_mono_ms();

    d->inflight[i]--;
    if (r == SINK_OK)
        j->sink[i].st = SS_OK;
    else
        job_sink_failed(d, j, i, r, err, now);
    j->next_ms = now;
}

/* ------------------------------------------------------------ confirm */

static void job_confirm(struct dispatcher *d, struct job *j, int64_t now)
{
    int attempts = 0;

    if (dedup_confirm(d->dd, j->alert.alert_id) != 0) {
        dispatch_redis_failed(d, j, now);
        return;
    }
    dispatch_redis_ok(d);
    for (int i = 0; i < d->nsinks; i++)
        attempts = j->sink[i].attempts > attempts ? j->sink[i].attempts : attempts;
    stats_add(STATS_DELIVERED, 1);
    log_info("alert delivered", "alert_id=%s user=%s ticker=%s attempts=%d%s",
             j->alert.alert_id, j->alert.user_id, j->alert.ticker, attempts,
             j->possible_duplicate ? " possible_duplicate=1" : "");
    job_finish(d, j);
}

/* ------------------------------------------------------------ dead letters */

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

static void job_dlq(struct dispatcher *d, struct job *j, int64_t now)
{
    char *json = dispatch_dlq_json(d, j);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;

    if (json != NULL &&
        kafka_produce(d->producer, d->cfg->topic_dlq, j->key, j->keylen, json, strlen(json), j,
                      0, &err) == 0) {
        j->state = JOB_DLQ_WAIT;
        j->next_ms = DISPATCH_FAR;
    } else {
        stats_add(STATS_DLQ_FAILED, 1);
        log_warn("dlq write failed", "partition=%d offset=%lld error=%s", (int)j->partition,
                 (long long)j->offset, rd_kafka_err2name(err));
        j->next_ms = now + DISPATCH_DLQ_RETRY_MS;
    }
    free(json);
}

static void dispatch_on_dlq_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct dispatcher *d = opaque;
    struct job *j = msg->_private;

    (void)rk;
    if (d == NULL || d->closing || j == NULL)
        return;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        stats_add(STATS_DLQ_FAILED, 1);
        j->state = JOB_DLQ;
        j->next_ms = time_mono_ms() + DISPATCH_DLQ_RETRY_MS;
        return;
    }
    if (j->malformed) {
        job_finish(d, j);
        return;
    }
    stats_add(STATS_DEAD_LETTERED, 1);
    log_warn("alert dead-lettered", "alert_id=%s sink=%s attempts=%d topic=%s error=\"%s\"",
             j->alert.alert_id, d->sinks[j->failed_sink].name,
             j->sink[j->failed_sink].attempts, d->cfg->topic_dlq, j->error);
    j->state = JOB_RELEASE;
    j->next_ms = 0;
}

static void job_release(struct dispatcher *d, struct job *j)
{
    /* Best effort: a claim left behind is ours (re-taken on a later copy)
     * or, after we stop, taken over by the next notifier. */
    if (dedup_release(d->dd, j->alert.alert_id) != 0)
        log_warn("claim release failed", "alert_id=%s", j->alert.alert_id);
    job_finish(d, j);
}

/* ------------------------------------------------------------ the loop */

static void job_step(struct dispatcher *d, struct job *j, int64_t now)
{
    int needs_redis = j->state == JOB_CLAIM || j->state == JOB_CONFIRM;

    if (needs_redis && now < d->redis_next_ms) {
        j->next_ms = d->redis_next_ms;
        return;
    }
    switch (j->state) {
    case JOB_CLAIM:
        job_claim(d, j, now);
        break;
    case JOB_DELIVER:
        job_deliver(d, j, now);
        break;
    case JOB_CONFIRM:
        job_confirm(d, j, now);
        break;
    case JOB_DLQ:
        job_dlq(d, j, now);
        break;
    case JOB_RELEASE:
        job_release(d, j);
        break;
    default:
        break;
    }
}

/* Advances every due job (oldest first), reaps finished ones; returns the
 * ms until the next job is due (capped by the caller). */
static int64_t dispatch_advance(struct dispatcher *d)
{
    int64_t now = time_mono_ms();
    int64_t next = DISPATCH_FAR;
    struct job *j = d->head;

    while (j != NULL) {
        struct job *nx = j->next;
        if (j->state != JOB_FINISHED && j->next_ms <= now)
            job_step(d, j, now);
        if (j->state == JOB_FINISHED)
            job_free(d, j);
        else if (j->next_ms < next)
            next = j->next_ms;
        j = nx;
    }
    stats_set_pending(d->njobs);
    return next - now;
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
    struct job *j = job_new(d);
    char err[MSG_ERR_MAX] = "";

    if (j == NULL)
        return -1;
    j->partition = m->partition;
    j->offset = m->offset;
    if (dispatch_copy_payload(j, m) != 0 ||
        tracker_add(d->tracker, m->partition, m->offset) != 0) {
        job_free(d, j);
        return -1;
    }
    stats_add(STATS_CONSUMED, 1);
    if (m->len > MSG_MAX_BYTES)
        snprintf(err, sizeof(err), "message too large (%zu bytes, at most %d)", m->len,
                 MSG_MAX_BYTES);
    if (err[0] != '\0' || alert_msg_decode(j->raw, j->rawlen, &j->alert, err, sizeof(err)) != 0) {
        j->malformed = 1;
        snprintf(j->error, sizeof(j->error), "%s", err);
        stats_add(STATS_MALFORMED, 1);
        log_warn("malformed alert", "partition=%d offset=%lld bytes=%zu error=\"%s\"",
                 (int)m->partition, (long long)m->offset, m->len, err);
        j->state = JOB_DLQ;
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
static void dispatch_flow_control(struct dispatcher *d)
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

static void dispatch_consume(struct dispatcher *d, int timeout_ms)
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

static int dispatch_inflight(const struct dispatcher *d)
{
    int n = 0;

    for (int i = 0; i < d->nsinks; i++)
        n += d->inflight[i];
    return n;
}

static void dispatch_poll_sinks(struct dispatcher *d, int timeout_ms)
{
    for (int i = 0; i < d->nsinks; i++) {
        if (d->sinks[i].poll != NULL && d->inflight[i] > 0) {
            d->sinks[i].poll(&d->sinks[i], timeout_ms);
            timeout_ms = 0; /* wait on one sink only */
        }
    }
}

/* Keeps this instance's liveness key fresh so other notifiers respect its
 * claims (also while draining at shutdown). */
static void dispatch_heartbeat(struct dispatcher *d)
{
    int64_t now = time_mono_ms();

    if (now < d->heartbeat_ms)
        return;
    d->heartbeat_ms = now + 1000;
    if (dedup_heartbeat(d->dd) == 0) {
        dispatch_redis_ok(d);
        return;
    }
    if (stats_redis_up())
        log_warn("redis unavailable", "detail=\"heartbeat failed, retrying\"");
    stats_set_redis_up(0);
}

void dispatch_step(struct dispatcher *d)
{
    int64_t due = dispatch_advance(d);
    int wait = due < 0 ? 0 : due > 100 ? 100 : (int)due;
    int busy = dispatch_inflight(d) > 0;

    dispatch_heartbeat(d);
    if (!d->draining) {
        dispatch_flow_control(d);
        dispatch_consume(d, busy ? 0 : wait);
        dispatch_advance(d);
    }
    if (busy)
        dispatch_poll_sinks(d, wait > 20 ? 20 : wait);
    else if (d->draining)
        time_sleep_ms(wait > 20 ? 20 : wait);
    rd_kafka_poll(d->producer, 0);
}

long dispatch_pending(const struct dispatcher *d)
{
    return d->njobs;
}

/* ------------------------------------------------------------ lifecycle */

/* On failure the sinks are closed here, as promised by the header. */
static void dispatch_close_sinks(struct sink *sinks, int nsinks)
{
    for (int i = 0; i < nsinks && i < SINK_MAX; i++)
        sinks[i].close(&sinks[i]);
}

struct dispatcher *dispatch_new(const struct notifier_config *cfg, struct dedup *dd,
                                struct sink *sinks, int nsinks, char *err, size_t errlen)
{
    const char *extra[] = {"auto.offset.reset", cfg->offset_reset, NULL};
    const char *topics[] = {cfg->topic_alerts, NULL};
    struct kafka_opts copts = {.bootstrap = cfg->common.kafka_bootstrap,
                               .client_id = "notifier",
                               .extra = extra};
    struct dispatcher *d = calloc(1, sizeof(*d));

    if (d == NULL || nsinks < 1 || nsinks > SINK_MAX ||
        (d->tracker = tracker_new()) == NULL) {
        snprintf(err, errlen, "dispatcher: out of memory or bad sink count");
        dispatch_close_sinks(sinks, nsinks);
        free(d);
        return NULL;
    }
    d->cfg = cfg;
    d->dd = dd;
    d->nsinks = nsinks;
    for (int i = 0; i < nsinks; i++) {
        d->sinks[i] = sinks[i];
        d->sinks[i].done = dispatch_on_sink_done;
        d->sinks[i].done_ctx = d;
    }
    d->popts = (struct kafka_opts){.bootstrap = cfg->common.kafka_bootstrap,
                                   .client_id = "notifier-dlq",
                                   .dr_cb = dispatch_on_dlq_report,
                                   .opaque = d};
    d->producer = kafka_producer_new(&d->popts, err, errlen);
    if (d->producer != NULL)
        d->consumer = kafka_consumer_new(&copts, cfg->group, topics, err, errlen);
    if (d->consumer == NULL) {
        d->closing = 1;
        dispatch_close_sinks(d->sinks, d->nsinks);
        kafka_producer_close(d->producer, 0);
        tracker_free(d->tracker);
        free(d);
        return NULL;
    }
    return d;
}

/* True while some job can still finish without new attempts. */
static int dispatch_drain_busy(const struct dispatcher *d)
{
    if (dispatch_inflight(d) > 0)
        return 1;
    for (const struct job *j = d->head; j != NULL; j = j->next) {
        if (j->state == JOB_CONFIRM || j->state == JOB_DLQ_WAIT || j->state == JOB_RELEASE)
            return 1;
    }
    return 0;
}

void dispatch_close(struct dispatcher *d)
{
    int64_t deadline;

    if (d == NULL)
        return;
    deadline = time_mono_ms() + d->cfg->drain_ms;
    d->draining = 1;
    log_info("draining", "pending=%ld inflight=%d", d->njobs, dispatch_inflight(d));
    while (dispatch_drain_busy(d) && time_mono_ms() < deadline)
        dispatch_step(d);
    rd_kafka_flush(d->producer, 1000);
    dispatch_advance(d);
    if (d->njobs > 0)
        log_warn("unfinished at shutdown", "jobs=%ld detail=\"redelivered after restart\"",
                 d->njobs);
    kafka_consumer_close(d->consumer);
    for (int i = 0; i < d->nsinks; i++)
        d->sinks[i].close(&d->sinks[i]);
    d->closing = 1;
    while (d->head != NULL)
        job_free(d, d->head);
    kafka_producer_close(d->producer, 1000);
    tracker_free(d->tracker);
    free(d);
}
