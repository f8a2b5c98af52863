/* sink: where a notification goes. A sink is a name and three calls; the
 * dispatcher owns retries, de-duplication and the dead-letter topic, so an
 * email, SMS or push sink is one more file that fills a struct sink.
 *
 * deliver() answers at once (SINK_OK / SINK_RETRY / SINK_FAIL) or, for an
 * asynchronous sink, SINK_PENDING and later calls s->done exactly once from
 * inside s->poll(). */
#ifndef NOTIFIER_SINK_H
#define NOTIFIER_SINK_H

#include <stddef.h>

#include "message.h"

#define SINK_MAX 4
#define SINK_ERR_MAX 256

enum sink_result {
    SINK_OK = 0,  /* delivered */
    SINK_RETRY,   /* failed, worth another attempt (network, 5xx, 429) */
    SINK_FAIL,    /* failed for good (4xx, bad URL): straight to the DLQ */
    SINK_PENDING, /* accepted; the result comes through s->done */
};

/* One delivery attempt. Everything it points to stays valid until the
 * result is known (returned, or passed to done). */
struct sink_request {
    const struct alert_msg *alert;
    const char *json; /* the alert JSON as consumed (validated, <= MSG_MAX_BYTES) */
    size_t len;
    int attempt;            /* 1 for the first attempt */
    int possible_duplicate; /* a notifier that died may already have delivered it */
    void *job;              /* the dispatcher's handle, passed back to done */
};

struct sink;

/* The result of a SINK_PENDING delivery; err is a short reason (NULL on
 * SINK_OK), valid only during the call. */
typedef void (*sink_done_fn)(struct sink *s, void *job, enum sink_result r, const char *err);

struct sink {
    const char *name;
    int max_inflight; /* pending deliveries it accepts at once; 0 = synchronous */
    void *state;      /* the sink's own, freed by close */
    sink_done_fn done;
    void *done_ctx; /* the dispatcher's, for done */

    /* Delivers or starts delivering; on SINK_RETRY/SINK_FAIL writes a reason
     * into err (never the secret). */
    enum sink_result (*deliver)(struct sink *s, const struct sink_request *rq, char *err,
                                size_t errlen);
    /* Asynchronous sinks only (NULL otherwise): waits up to timeout_ms for
     * I/O, reports finished deliveries through done, returns how many are
     * still pending. */
    int (*poll)(struct sink *s, int timeout_ms);
    /* Aborts pending deliveries without calling done and frees state. */
    void (*close)(struct sink *s);
};

/* Fills s with the log sink: one structured log line per notification.
 * Never fails. */
void sink_log_init(struct sink *s);

struct webhook_config {
    char url[1024];
    char secret[256]; /* empty: requests are not signed */
    long timeout_ms;  /* whole request */
    long connect_timeout_ms;
    int concurrency; /* requests in flight at once */
};

/* Fills s with the webhook sink (libcurl multi, HMAC-signed POSTs); c is
 * copied; each attempt is counted into stats, which stays the caller's and
 * must outlive the sink. Returns 0, or -1 with err. Needs curl_global_init
 * first. */
struct notifier_stats;
int sink_webhook_init(struct sink *s, const struct webhook_config *c, struct notifier_stats *stats,
                      char *err, size_t errlen);

/* Fills s with the email sink: alerts whose channels hold "email" are
 * mailed (libcurl SMTP, c copied) to their user's confirmed address, read
 * through rc (the caller's, used on the calling thread only; it must
 * outlive the sink), at most per_hour alerts per user and hour; other
 * alerts, and users without a confirmed address, are done at once (counted
 * as skipped). Counts into stats (the caller's). Returns 0, or -1 with err.
 * Needs curl_global_init first. */
struct smtp_config;
struct redis_conn;
int sink_email_init(struct sink *s, const struct smtp_config *c, long per_hour,
                    struct redis_conn *rc, struct notifier_stats *stats, char *err, size_t errlen);

#endif
