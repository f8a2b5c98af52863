/* dispatch: jobs in arrival order, each a small state machine advanced by
 * the main loop (claim → deliver → confirm here; messages come in through
 * dispatch_consume.c, dead letters go out through dispatch_dlq.c). Sinks
 * report through dispatch_on_sink_done, the DLQ producer through
 * dispatch_dlq_on_report. Nothing is freed inside a callback: finished jobs
 * are reaped by the next pass over the list. */
#include "dispatch_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "timeutil.h"

#define DISPATCH_BUSY_WAIT_MS 250 /* another notifier holds the claim */
#define DISPATCH_REDIS_BACKOFF_MAX_MS 2000

/* ------------------------------------------------------------ job list */

struct job *dispatch_job_new(struct dispatcher *d)
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

void dispatch_job_free(struct dispatcher *d, struct job *j)
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

/* ------------------------------------------------------------ redis gate */

/* Redis failed: every job needing it waits for the same capped backoff. */
static void dispatch_redis_failed(struct dispatcher *d, struct job *j, int64_t now)
{
    if (atomic_load(&d->stats->redis_up))
        log_warn("redis unavailable", "detail=\"de-duplication store unreachable, retrying\"");
    atomic_store(&d->stats->redis_up, 0);
    d->redis_backoff_ms = d->redis_backoff_ms == 0 ? 100 : d->redis_backoff_ms * 2;
    if (d->redis_backoff_ms > DISPATCH_REDIS_BACKOFF_MAX_MS)
        d->redis_backoff_ms = DISPATCH_REDIS_BACKOFF_MAX_MS;
    d->redis_next_ms = now + d->redis_backoff_ms;
    j->next_ms = d->redis_next_ms;
}

static void dispatch_redis_ok(struct dispatcher *d)
{
    if (!atomic_load(&d->stats->redis_up))
        log_info("redis available", NULL);
    atomic_store(&d->stats->redis_up, 1);
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

/* True if another job of this process holds the claim on j's delivery key. */
static int dispatch_claim_held(const struct dispatcher *d, const struct job *j)
{
    for (const struct job *o = d->head; o != NULL; o = o->next) {
        if (o != j && !o->malformed && o->state > JOB_CLAIM && o->state < JOB_FINISHED &&
            strcmp(o->dkey, j->dkey) == 0)
            return 1;
    }
    return 0;
}

static void job_deliver(struct dispatcher *d, struct job *j, int64_t now);

static void job_claimed(struct dispatcher *d, struct job *j, int taken, int64_t now)
{
    j->possible_duplicate = taken;
    if (taken) {
        atomic_fetch_add(&d->stats->taken_over, 1);
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
    c = dedup_claim(d->dd, j->dkey);
    if (c == DEDUP_MINE && !dispatch_claim_held(d, j))
        c = dedup_reclaim(d->dd, j->dkey) == 0 ? DEDUP_CLAIMED : DEDUP_ERROR;
    if (c == DEDUP_ERROR) {
        dispatch_redis_failed(d, j, now);
        return;
    }
    dispatch_redis_ok(d);
    switch (c) {
    case DEDUP_DONE:
        atomic_fetch_add(&d->stats->duplicates, 1);
        /* %.0ld prints nothing for 0: a one-shot alert's line as before */
        log_info("duplicate suppressed", "alert_id=%s partition=%d offset=%lld%s%.0ld",
                 j->alert.alert_id, (int)j->partition, (long long)j->offset,
                 j->alert.firing > 0 ? " firing=" : "", j->alert.firing);
        dispatch_job_finish(d, j);
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
        long delay = backoff_delay_ms(js->attempts, d->cfg->retry_base_ms, d->cfg->retry_max_ms,
                                      backoff_random());
        js->st = SS_IDLE;
        js->next_ms = now + delay;
        atomic_fetch_add(&d->stats->retried, 1);
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

static void dispatch_on_sink_done(struct sink *s, void *job, enum sink_result r, const char *err)
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

    if (dedup_confirm(d->dd, j->dkey) != 0) {
        dispatch_redis_failed(d, j, now);
        return;
    }
    dispatch_redis_ok(d);
    for (int i = 0; i < d->nsinks; i++)
        attempts = j->sink[i].attempts > attempts ? j->sink[i].attempts : attempts;
    atomic_fetch_add(&d->stats->delivered, 1);
    log_info("alert delivered", "alert_id=%s user=%s ticker=%s attempts=%d%s%.0ld%s",
             j->alert.alert_id, j->alert.user_id, j->alert.ticker, attempts,
             j->alert.firing > 0 ? " firing=" : "", j->alert.firing,
             j->possible_duplicate ? " possible_duplicate=1" : "");
    dispatch_job_finish(d, j);
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
        dispatch_dlq_write(d, j, now);
        break;
    case JOB_RELEASE:
        dispatch_dlq_release(d, j);
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
            dispatch_job_free(d, j);
        else if (j->next_ms < next)
            next = j->next_ms;
        j = nx;
    }
    atomic_store(&d->stats->pending, d->njobs);
    return next - now;
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
    if (atomic_load(&d->stats->redis_up))
        log_warn("redis unavailable", "detail=\"heartbeat failed, retrying\"");
    atomic_store(&d->stats->redis_up, 0);
}

/* Replaces the dead-letter producer after a fatal error (the idempotent
 * producer's sequence lost in a broker failover): the dead letters it had
 * not delivered fail now (their reports retry them) and go to the new one. */
static void dispatch_renew_producer(struct dispatcher *d)
{
    rd_kafka_t *fresh;

    if (!kafka_producer_failed(d->producer) || (fresh = kafka_producer_renew(&d->popts)) == NULL)
        return;
    kafka_producer_discard(d->producer);
    d->producer = fresh;
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
    dispatch_renew_producer(d);
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
                                struct notifier_stats *stats, struct sink *sinks, int nsinks,
                                char *err, size_t errlen)
{
    const char *extra[] = {"auto.offset.reset", cfg->offset_reset, NULL};
    const char *topics[] = {cfg->topic_alerts, NULL};
    struct kafka_opts copts = {
        .bootstrap = cfg->common.kafka_bootstrap, .client_id = "notifier", .extra = extra};
    struct dispatcher *d = calloc(1, sizeof(*d));

    if (d == NULL || nsinks < 1 || nsinks > SINK_MAX || (d->tracker = tracker_new()) == NULL) {
        snprintf(err, errlen, "dispatcher: out of memory or bad sink count");
        dispatch_close_sinks(sinks, nsinks);
        free(d);
        return NULL;
    }
    d->cfg = cfg;
    d->dd = dd;
    d->stats = stats;
    d->nsinks = nsinks;
    for (int i = 0; i < nsinks; i++) {
        d->sinks[i] = sinks[i];
        d->sinks[i].done = dispatch_on_sink_done;
        d->sinks[i].done_ctx = d;
    }
    d->popts = (struct kafka_opts){.bootstrap = cfg->common.kafka_bootstrap,
                                   .client_id = "notifier-dlq",
                                   .dr_cb = dispatch_dlq_on_report,
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
        dispatch_job_free(d, d->head);
    kafka_producer_close(d->producer, 1000);
    tracker_free(d->tracker);
    free(d);
}
