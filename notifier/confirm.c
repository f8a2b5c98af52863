/* confirm: the confirmation mails (confirm.h). One job per stream entry,
 * in memory while its mail is in flight or waits for a retry; a job is
 * acknowledged (XACK + XDEL) on the stream it came from when it ends, or
 * left pending for another notifier when Redis failed before its token was
 * made. The streams are the shards of email_store.h and the legacy stream
 * of before them, read alike; a pass starts at the next stream each time,
 * so a full pass of jobs never starves the last shards. */
#include "confirm.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "email_store.h"
#include "log.h"
#include "redis.h"
#include "timeutil.h"

#define CONFIRM_READ_EVERY_MS 500
#define CONFIRM_CLAIM_EVERY_MS 30000
#define CONFIRM_ID_MAX 48 /* a stream entry id: two 20-digit numbers and a dash */

struct confirm_job {
    struct confirm_job *next;
    int stream; /* index of the stream it came from (email_store_requests_key) */
    char id[CONFIRM_ID_MAX];
    char user[EMAIL_USER_MAX + 1];
    char to[EMAIL_ADDR_MAX + 1];
    struct buf msg;
    int attempts;
    int inflight;
    int finished;
    int64_t next_ms;
};

struct confirm {
    const struct notifier_config *cfg;
    struct redis_conn *rc;
    struct notifier_stats *stats;
    struct mailer *mailer;
    char instance[64];
    struct confirm_job *jobs;
    int njobs;
    char keys[EMAIL_REQUESTS_STREAMS][EMAIL_REQUESTS_KEY_MAX];
    int group_ok[EMAIL_REQUESTS_STREAMS];
    int first; /* the stream the next pass starts at */
    int64_t next_read_ms;
    int64_t next_claim_ms;
};

struct confirm *confirm_new(const struct notifier_config *cfg, struct redis_conn *rc,
                            struct notifier_stats *stats, const char *instance, char *err,
                            size_t errlen)
{
    struct confirm *cf = calloc(1, sizeof(*cf));

    if (cf == NULL) {
        snprintf(err, errlen, "confirm: out of memory");
        return NULL;
    }
    cf->mailer = mailer_new(&cfg->smtp, err, errlen);
    if (cf->mailer == NULL) {
        free(cf);
        return NULL;
    }
    for (int k = 0; k < EMAIL_REQUESTS_STREAMS; k++) {
        if (email_store_requests_key(k, cf->keys[k], sizeof(cf->keys[k])) != 0) {
            snprintf(err, errlen, "confirm: no key for stream %d", k);
            mailer_free(cf->mailer);
            free(cf);
            return NULL;
        }
    }
    cf->cfg = cfg;
    cf->rc = rc;
    cf->stats = stats;
    snprintf(cf->instance, sizeof(cf->instance), "%s", instance);
    return cf;
}

static void confirm_job_free(struct confirm_job *j)
{
    buf_free(&j->msg);
    free(j);
}

/* Entry ids are unique per stream only. */
static struct confirm_job *confirm_find(const struct confirm *cf, int stream, const char *id)
{
    for (struct confirm_job *j = cf->jobs; j != NULL; j = j->next) {
        if (j->stream == stream && strcmp(j->id, id) == 0)
            return j;
    }
    return NULL;
}

/* The request is done with: nobody needs to send it again. A failure leaves
 * it pending: it is taken over later and mailed once more (a new link). */
static void confirm_ack(struct confirm *cf, int stream, const char *id)
{
    const char *key = cf->keys[stream];
    redisReply *r = redis_conn_command(cf->rc, "XACK %s %s %s", key, EMAIL_REQUESTS_GROUP, id);

    if (r != NULL)
        freeReplyObject(r);
    r = redis_conn_command(cf->rc, "XDEL %s %s", key, id);
    if (r == NULL)
        log_warn("confirmation ack failed", "stream=%s id=%s error=\"%s\"", key, id,
                 redis_conn_errstr(cf->rc));
    else
        freeReplyObject(r);
}

/* The consumer group on stream k, made once. A shard is made with it
 * (MKSTREAM); the legacy stream is never made: while it does not exist
 * (a new store, or emptied and deleted) it is skipped. 0 when the group
 * is there, -1 otherwise. */
static int confirm_group(struct confirm *cf, int k)
{
    redisReply *r;

    if (cf->group_ok[k])
        return 0;
    if (k < EMAIL_REQUESTS_SHARDS)
        r = redis_conn_command(cf->rc, "XGROUP CREATE %s %s 0 MKSTREAM", cf->keys[k],
                               EMAIL_REQUESTS_GROUP);
    else
        r = redis_conn_command(cf->rc, "XGROUP CREATE %s %s 0", cf->keys[k], EMAIL_REQUESTS_GROUP);
    if (r != NULL && (r->type == REDIS_REPLY_STATUS ||
                      (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) == 0)))
        cf->group_ok[k] = 1;
    if (r != NULL)
        freeReplyObject(r);
    return cf->group_ok[k] ? 0 : -1;
}

/* The mail of user's request, with its link; 0 or -1 (cap). */
static int confirm_compose(struct confirm *cf, struct confirm_job *j, const char *token)
{
    struct buf body;
    char id[CONFIRM_ID_MAX + 24];
    int rc;

    buf_init(&body, 4096);
    snprintf(id, sizeof(id), "confirm.%d.%s", j->stream, j->id);
    rc = buf_printf(&body,
                    "Someone, hopefully you, entered this address in the stock alerts dashboard.\n"
                    "To receive price alerts here, confirm it within %ld hours:\n\n"
                    "%s?token=%s\n\n"
                    "If it was not you, ignore this mail: nothing else is sent to this address "
                    "unless the link is followed.\n",
                    cf->cfg->confirm_ttl_s / 3600, cf->cfg->confirm_url, token);
    if (rc == 0)
        rc = mailer_compose(&j->msg, cf->cfg->smtp.from, j->to, id,
                            "Confirm your address for stock alerts", NULL, body.data);
    buf_free(&body);
    return rc;
}

static void confirm_start(struct confirm *cf, struct confirm_job *j)
{
    char err[SINK_ERR_MAX];

    j->attempts++;
    if (mailer_send(cf->mailer, j->to, j->msg.data, j->msg.len, j, err, sizeof(err)) != 0) {
        j->next_ms = time_mono_ms() + cf->cfg->retry_base_ms;
        return;
    }
    j->inflight = 1;
}

/* A request read from stream k: its token and mail, or stale. */
static void confirm_take(struct confirm *cf, int k, const char *id, const redisReply *fields)
{
    const char *user = NULL, *req = NULL;
    char token[EMAIL_TOKEN_MAX + 1];
    char err[256];
    struct confirm_job *j;
    int rc;

    if (confirm_find(cf, k, id) != NULL || strlen(id) >= CONFIRM_ID_MAX)
        return;
    for (size_t i = 0; fields != NULL && i + 1 < fields->elements; i += 2) {
        if (strcmp(fields->element[i]->str, "user_id") == 0)
            user = fields->element[i + 1]->str;
        else if (strcmp(fields->element[i]->str, "req") == 0)
            req = fields->element[i + 1]->str;
    }
    if (user == NULL || req == NULL || email_store_user_check(user) != 0) {
        log_warn("confirmation request malformed", "stream=%s id=%s", cf->keys[k], id);
        confirm_ack(cf, k, id);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return; /* stays pending: taken over later */
    buf_init(&j->msg, MAILER_MSG_MAX);
    j->stream = k;
    snprintf(j->id, sizeof(j->id), "%s", id);
    snprintf(j->user, sizeof(j->user), "%s", user);
    rc = email_store_issue(cf->rc, user, req, cf->cfg->confirm_ttl_s, token, j->to, err,
                           sizeof(err));
    if (rc == 1 && confirm_compose(cf, j, token) == 0) {
        memset(token, 0, sizeof(token));
        j->next = cf->jobs;
        cf->jobs = j;
        cf->njobs++;
        confirm_start(cf, j);
        return;
    }
    memset(token, 0, sizeof(token));
    if (rc == 0) {
        atomic_fetch_add(&cf->stats->confirm_skipped, 1);
        log_info("confirmation skipped", "user_id=%s reason=stale", user);
        confirm_ack(cf, k, id);
    } else if (rc == 1) {
        atomic_fetch_add(&cf->stats->confirm_failed, 1);
        log_warn("confirmation failed", "user_id=%s error=\"mail over the size cap\"", user);
        confirm_ack(cf, k, id);
    } else {
        log_warn("confirmation deferred", "user_id=%s error=\"%s\"", user, err);
    }
    confirm_job_free(j);
}

/* Entries of stream k: of an XREADGROUP reply ([[key, entries]]) or an
 * XAUTOCLAIM reply ([cursor, entries, deleted]). */
static void confirm_take_entries(struct confirm *cf, int k, const redisReply *entries)
{
    for (size_t i = 0; entries != NULL && i < entries->elements; i++) {
        const redisReply *e = entries->element[i];

        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
            e->element[0]->type == REDIS_REPLY_STRING && e->element[1]->type == REDIS_REPLY_ARRAY)
            confirm_take(cf, k, e->element[0]->str, e->element[1]);
    }
}

/* Jobs that may still be taken on: twice the mails in flight at once. */
static int confirm_room(const struct confirm *cf)
{
    return cf->cfg->smtp.concurrency * 2 - cf->njobs;
}

/* Takes over stream k's requests abandoned by a dead notifier. -1 when
 * Redis did not answer (the pass ends). */
static int confirm_claim(struct confirm *cf, int k)
{
    redisReply *r = redis_conn_command(cf->rc, "XAUTOCLAIM %s %s %s %d 0-0 COUNT %d", cf->keys[k],
                                       EMAIL_REQUESTS_GROUP, cf->instance, CONFIRM_ABANDONED_MS,
                                       confirm_room(cf));

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
        confirm_take_entries(cf, k, r->element[1]);
    else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0)
        cf->group_ok[k] = 0; /* the stream was deleted: its group is made again */
    freeReplyObject(r);
    return 0;
}

/* New requests of stream k. -1 when Redis did not answer (the pass ends). */
static int confirm_read_stream(struct confirm *cf, int k)
{
    redisReply *r =
        redis_conn_command(cf->rc, "XREADGROUP GROUP %s %s COUNT %d STREAMS %s >",
                           EMAIL_REQUESTS_GROUP, cf->instance, confirm_room(cf), cf->keys[k]);

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
        confirm_take_entries(cf, k, r->element[0]->element[1]);
    else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0)
        cf->group_ok[k] = 0;
    freeReplyObject(r);
    return 0;
}

/* One pass over the streams, from cf->first: at most one XAUTOCLAIM (every
 * CONFIRM_CLAIM_EVERY_MS) and one XREADGROUP (every CONFIRM_READ_EVERY_MS)
 * each, and no more entries than there is room for jobs. A missing legacy
 * stream is looked for again at the claim pace only. */
static void confirm_read(struct confirm *cf, int64_t now)
{
    int claim = now >= cf->next_claim_ms, read = now >= cf->next_read_ms;

    if ((!claim && !read) || confirm_room(cf) <= 0)
        return;
    if (claim)
        cf->next_claim_ms = now + CONFIRM_CLAIM_EVERY_MS;
    if (read)
        cf->next_read_ms = now + CONFIRM_READ_EVERY_MS;
    for (int n = 0; n < EMAIL_REQUESTS_STREAMS && confirm_room(cf) > 0; n++) {
        int k = (cf->first + n) % EMAIL_REQUESTS_STREAMS;

        if (!cf->group_ok[k] && (k < EMAIL_REQUESTS_SHARDS || claim))
            confirm_group(cf, k);
        if (!cf->group_ok[k])
            continue;
        if (claim && confirm_claim(cf, k) != 0)
            break;
        if (read && confirm_room(cf) > 0 && confirm_read_stream(cf, k) != 0)
            break;
    }
    cf->first = (cf->first + 1) % EMAIL_REQUESTS_STREAMS;
}

static void confirm_done(void *ctx, void *ud, enum sink_result res, const char *err)
{
    struct confirm *cf = ctx;
    struct confirm_job *j = ud;

    j->inflight = 0;
    if (res == SINK_OK) {
        atomic_fetch_add(&cf->stats->confirm_sent, 1);
        log_info("confirmation mail sent", "user_id=%s attempts=%d", j->user, j->attempts);
        j->finished = 1;
    } else if (res == SINK_RETRY && j->attempts < cf->cfg->max_attempts) {
        long delay = backoff_delay_ms(j->attempts, cf->cfg->retry_base_ms, cf->cfg->retry_max_ms,
                                      backoff_random());

        j->next_ms = time_mono_ms() + delay;
        log_warn("confirmation mail retry scheduled",
                 "user_id=%s attempt=%d delay_ms=%ld error=\"%s\"", j->user, j->attempts, delay,
                 err);
    } else {
        atomic_fetch_add(&cf->stats->confirm_failed, 1);
        log_warn("confirmation mail failed", "user_id=%s attempts=%d permanent=%d error=\"%s\"",
                 j->user, j->attempts, res == SINK_FAIL, err);
        j->finished = 1;
    }
}

/* Acknowledges and frees finished jobs; starts due retries. */
static void confirm_sweep(struct confirm *cf, int64_t now)
{
    struct confirm_job **p = &cf->jobs;

    while (*p != NULL) {
        struct confirm_job *j = *p;

        if (j->finished) {
            confirm_ack(cf, j->stream, j->id);
            *p = j->next;
            cf->njobs--;
            confirm_job_free(j);
            continue;
        }
        if (!j->inflight && j->next_ms <= now)
            confirm_start(cf, j);
        p = &j->next;
    }
}

void confirm_step(struct confirm *cf, int timeout_ms)
{
    int64_t now = time_mono_ms();

    mailer_poll(cf->mailer, timeout_ms, confirm_done, cf);
    confirm_sweep(cf, now);
    confirm_read(cf, now);
}

int confirm_pending(const struct confirm *cf)
{
    return cf != NULL ? cf->njobs : 0;
}

void confirm_free(struct confirm *cf)
{
    struct confirm_job *j;

    if (cf == NULL)
        return;
    mailer_free(cf->mailer);
    while ((j = cf->jobs) != NULL) {
        cf->jobs = j->next;
        confirm_job_free(j);
    }
    free(cf);
}
