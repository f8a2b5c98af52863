/* sink_email: the email channel. An alert whose user chose e-mail for it
 * ("channels" holds "email") is mailed to the user's confirmed address
 * (email_store_recipient, the user's Redis slot), within the user's rate;
 * every other alert, and one whose user has no confirmed address, is done
 * at once (skipped and counted). Mails go out through a mailer (libcurl
 * SMTP); the dispatcher retries, de-duplicates and dead-letters as for the
 * webhook. Every attempt of an alert carries the same Message-ID, so a
 * mail client or server that de-duplicates by it sees one mail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channels.h"
#include "email_store.h"
#include "log.h"
#include "mailer.h"
#include "sink.h"
#include "stats.h"

struct email_state {
    struct smtp_config cfg;
    long per_hour;
    struct redis_conn *rc;        /* the caller's */
    struct notifier_stats *stats; /* the caller's */
    struct mailer *mailer;
};

static void email_skip(struct email_state *st, const struct sink_request *rq, const char *why)
{
    atomic_fetch_add(&st->stats->email_skipped, 1);
    log_info("email skipped", "alert_id=%s user_id=%s reason=%s", rq->alert->alert_id,
             rq->alert->user_id, why);
}

/* The mail's text: the alert's message, its numbers and the note. */
static int email_body(const struct alert_msg *a, struct buf *out)
{
    char when[32];
    time_t t = (time_t)a->timestamp;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    if (buf_printf(
            out, "%s\n\nTicker:    %s\nCondition: %s %.15g\nPrice:     %.15g\nTime:      %s\n",
            a->message, a->ticker, alert_type_name(a->type), a->threshold, a->price, when) != 0)
        return -1;
    if (a->note[0] != '\0' && buf_printf(out, "Note:      %s\n", a->note) != 0)
        return -1;
    return buf_puts(out, "\nYou get this mail because you chose e-mail for this alert in the "
                         "stock alerts dashboard.\n");
}

/* The whole mail of rq to addr into out. 0 or -1 (over the cap). */
static int email_compose(const struct email_state *st, const struct sink_request *rq,
                         const char *addr, struct buf *out)
{
    const struct alert_msg *a = rq->alert;
    char id[MSG_DELIVERY_KEY_MAX + 8], key[MSG_DELIVERY_KEY_MAX], subject[MSG_TEXT_MAX + 16];
    char extra[256];
    struct buf body;
    int rc;

    /* One Message-ID per delivery: a repeating alert's firings are mails of
     * their own, a retried one is the same mail. */
    alert_msg_delivery_key(a, key);
    snprintf(id, sizeof(id), "alert.%s", key);
    snprintf(subject, sizeof(subject), "Stock alert: %s", a->message);
    /* alert ids are [A-Za-z0-9_-] (msg_id_valid): safe in a header */
    snprintf(extra, sizeof(extra), "X-Stock-Alerts-Alert-Id: %s\r\n%s%.0ld%s%s", a->alert_id,
             a->firing > 0 ? "X-Stock-Alerts-Firing: " : "", a->firing, a->firing > 0 ? "\r\n" : "",
             rq->possible_duplicate ? "X-Stock-Alerts-Possible-Duplicate: 1\r\n" : "");
    buf_init(&body, MAILER_MSG_MAX);
    rc = email_body(a, &body);
    if (rc == 0)
        rc = mailer_compose(out, st->cfg.from, addr, id, subject, extra, body.data);
    buf_free(&body);
    return rc;
}

static enum sink_result email_deliver(struct sink *s, const struct sink_request *rq, char *err,
                                      size_t errlen)
{
    struct email_state *st = s->state;
    enum email_recipient who;
    char addr[EMAIL_ADDR_MAX + 1], key[MSG_DELIVERY_KEY_MAX];
    struct buf msg;
    int rc;

    if ((rq->alert->channels & ALERT_CH_EMAIL) == 0)
        return SINK_OK; /* not this user's choice for this alert: nothing to do */
    alert_msg_delivery_key(rq->alert, key);
    if (email_store_recipient(st->rc, rq->alert->user_id, key, st->per_hour, 3600, &who, addr, err,
                              errlen) != 0)
        return SINK_RETRY;
    if (who != EMAIL_RCPT_OK) {
        email_skip(st, rq,
                   who == EMAIL_RCPT_NONE          ? "no_address"
                   : who == EMAIL_RCPT_UNCONFIRMED ? "unconfirmed"
                                                   : "rate_limited");
        return SINK_OK;
    }
    buf_init(&msg, MAILER_MSG_MAX);
    rc = email_compose(st, rq, addr, &msg);
    if (rc != 0) {
        buf_free(&msg);
        snprintf(err, errlen, "mail over %d bytes", MAILER_MSG_MAX);
        return SINK_FAIL;
    }
    rc = mailer_send(st->mailer, addr, msg.data, msg.len, rq->job, err, errlen);
    buf_free(&msg);
    return rc == 0 ? SINK_PENDING : SINK_RETRY;
}

static void email_on_done(void *ctx, void *job, enum sink_result r, const char *err)
{
    struct sink *s = ctx;
    struct email_state *st = s->state;

    atomic_fetch_add(r == SINK_OK ? &st->stats->email_sent : &st->stats->email_failed, 1);
    s->done(s, job, r, err);
}

static int email_poll(struct sink *s, int timeout_ms)
{
    struct email_state *st = s->state;

    return mailer_poll(st->mailer, timeout_ms, email_on_done, s);
}

static void email_close(struct sink *s)
{
    struct email_state *st = s->state;

    if (st == NULL)
        return;
    mailer_free(st->mailer);
    free(st);
    s->state = NULL;
}

int sink_email_init(struct sink *s, const struct smtp_config *c, long per_hour,
                    struct redis_conn *rc, struct notifier_stats *stats, char *err, size_t errlen)
{
    struct email_state *st = calloc(1, sizeof(*st));

    if (st == NULL) {
        snprintf(err, errlen, "email: out of memory");
        return -1;
    }
    st->mailer = mailer_new(c, err, errlen);
    if (st->mailer == NULL) {
        free(st);
        return -1;
    }
    st->cfg = *c;
    st->per_hour = per_hour;
    st->rc = rc;
    st->stats = stats;
    s->name = "email";
    s->max_inflight = c->concurrency;
    s->state = st;
    s->deliver = email_deliver;
    s->poll = email_poll;
    s->close = email_close;
    return 0;
}
