/* sink_webhook: POSTs the alert JSON to NOTIFIER_WEBHOOK_URL through one
 * curl multi handle, several requests at once, each signed with
 * HMAC-SHA256 (see signature.h) and bounded by connect and total timeouts. */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "signature.h"
#include "sink.h"
#include "stats.h"
#include "timeutil.h"

#define WEBHOOK_RESPONSE_MAX (64 * 1024) /* a receiver's reply is read and dropped */

struct webhook_req {
    struct webhook_req *next;
    CURL *easy;
    struct curl_slist *headers;
    void *job;
    size_t received;
    char errbuf[CURL_ERROR_SIZE];
};

struct webhook_state {
    struct webhook_config cfg;
    struct notifier_stats *stats; /* the caller's */
    CURLM *multi;
    struct webhook_req *reqs; /* in flight */
    int inflight;
};

static size_t webhook_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct webhook_req *r = ud;
    size_t n = size * nmemb;

    (void)data;
    if (r->received + n > WEBHOOK_RESPONSE_MAX)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    r->received += n;
    return n;
}

static void webhook_req_free(struct webhook_req *r)
{
    if (r == NULL)
        return;
    if (r->easy != NULL)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r);
}

/* Appends one header; -1 when out of memory (the list is left intact). */
static int webhook_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);

    if (l == NULL)
        return -1;
    *list = l;
    return 0;
}

static int webhook_headers(struct webhook_state *st, struct webhook_req *r,
                           const struct sink_request *rq)
{
    char line[256];
    char ts[32];
    char sig[SIGNATURE_MAX];

    snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
    if (webhook_header(&r->headers, "Content-Type: application/json") != 0 ||
        webhook_header(&r->headers, "Expect:") != 0)
        return -1;
    snprintf(line, sizeof(line), "X-Stock-Alerts-Timestamp: %s", ts);
    if (webhook_header(&r->headers, line) != 0)
        return -1;
    snprintf(line, sizeof(line), "X-Stock-Alerts-Alert-Id: %s", rq->alert->alert_id);
    if (webhook_header(&r->headers, line) != 0)
        return -1;
    /* A repeating alert's firing: the receiver's idempotency key is the
     * alert id and this (the body carries "firing" too). */
    snprintf(line, sizeof(line), "X-Stock-Alerts-Firing: %ld", rq->alert->firing);
    if (rq->alert->firing > 0 && webhook_header(&r->headers, line) != 0)
        return -1;
    snprintf(line, sizeof(line), "X-Stock-Alerts-Attempt: %d", rq->attempt);
    if (webhook_header(&r->headers, line) != 0)
        return -1;
    if (rq->possible_duplicate &&
        webhook_header(&r->headers, "X-Stock-Alerts-Possible-Duplicate: 1") != 0)
        return -1;
    if (st->cfg.secret[0] == '\0')
        return 0;
    if (signature_compute(st->cfg.secret, strlen(st->cfg.secret), ts, rq->json, rq->len, sig,
                          sizeof(sig)) != 0)
        return -1;
    snprintf(line, sizeof(line), "X-Stock-Alerts-Signature: %s", sig);
    return webhook_header(&r->headers, line);
}

static int webhook_easy_setup(struct webhook_state *st, struct webhook_req *r,
                              const struct sink_request *rq)
{
    CURL *e = r->easy;

    if (curl_easy_setopt(e, CURLOPT_URL, st->cfg.url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)rq->len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, rq->json) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USERAGENT, "stock-alerts-notifier/1") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, st->cfg.timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, st->cfg.connect_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, webhook_on_body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK)
        return -1;
    return 0;
}

static enum sink_result webhook_deliver(struct sink *s, const struct sink_request *rq, char *err,
                                        size_t errlen)
{
    struct webhook_state *st = s->state;
    struct webhook_req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        goto fail;
    r->job = rq->job;
    r->easy = curl_easy_init();
    if (r->easy == NULL || webhook_headers(st, r, rq) != 0 || webhook_easy_setup(st, r, rq) != 0)
        goto fail;
    if (curl_multi_add_handle(st->multi, r->easy) != CURLM_OK)
        goto fail;
    r->next = st->reqs;
    st->reqs = r;
    st->inflight++;
    return SINK_PENDING;
fail:
    webhook_req_free(r);
    snprintf(err, errlen, "cannot start request (out of memory)");
    return SINK_RETRY;
}

/* Network trouble and 408/429/5xx are worth retrying; a URL the library
 * cannot use and other HTTP answers (4xx, 3xx) are not. */
static enum sink_result webhook_classify(CURLcode cc, long status, const char *errbuf, char *err,
                                         size_t errlen)
{
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT)
            return SINK_FAIL;
        return SINK_RETRY;
    }
    if (status >= 200 && status < 300)
        return SINK_OK;
    snprintf(err, errlen, "http status %ld", status);
    if (status == 408 || status == 429 || status >= 500)
        return SINK_RETRY;
    return SINK_FAIL;
}

static void webhook_unlink(struct webhook_state *st, struct webhook_req *r)
{
    for (struct webhook_req **p = &st->reqs; *p != NULL; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    curl_multi_remove_handle(st->multi, r->easy);
    st->inflight--;
}

static void webhook_finish(struct sink *s, CURLMsg *m)
{
    struct webhook_state *st = s->state;
    struct webhook_req *r = NULL;
    curl_off_t total_us = 0;
    long status = 0;
    char err[SINK_ERR_MAX] = "";
    enum sink_result res;

    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(m->easy_handle, CURLINFO_TOTAL_TIME_T, &total_us);
    res = webhook_classify(m->data.result, status, r->errbuf, err, sizeof(err));
    metrics_histogram_observe(&st->stats->webhook_latency, (double)total_us / 1e6);
    atomic_fetch_add(res == SINK_OK ? &st->stats->webhook_ok : &st->stats->webhook_failed, 1);
    webhook_unlink(st, r);
    s->done(s, r->job, res, res == SINK_OK ? NULL : err);
    webhook_req_free(r);
}

static int webhook_poll(struct sink *s, int timeout_ms)
{
    struct webhook_state *st = s->state;
    int running = 0;
    int left = 0;
    CURLMsg *m;

    if (st->inflight == 0)
        return 0;
    curl_multi_perform(st->multi, &running);
    if (running > 0 && timeout_ms > 0) {
        curl_multi_poll(st->multi, NULL, 0, timeout_ms, NULL);
        curl_multi_perform(st->multi, &running);
    }
    while ((m = curl_multi_info_read(st->multi, &left)) != NULL) {
        if (m->msg == CURLMSG_DONE)
            webhook_finish(s, m);
    }
    return st->inflight;
}

static void webhook_close(struct sink *s)
{
    struct webhook_state *st = s->state;
    struct webhook_req *r;

    if (st == NULL)
        return;
    while ((r = st->reqs) != NULL) {
        st->reqs = r->next;
        curl_multi_remove_handle(st->multi, r->easy);
        webhook_req_free(r);
    }
    curl_multi_cleanup(st->multi);
    free(st);
    s->state = NULL;
}

int sink_webhook_init(struct sink *s, const struct webhook_config *c, struct notifier_stats *stats,
                      char *err, size_t errlen)
{
    struct webhook_state *st = calloc(1, sizeof(*st));

    if (st == NULL || (st->multi = curl_multi_init()) == NULL) {
        free(st);
        snprintf(err, errlen, "webhook: out of memory");
        return -1;
    }
    st->cfg = *c;
    st->stats = stats;
    curl_multi_setopt(st->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->concurrency);
    s->name = "webhook";
    s->max_inflight = c->concurrency;
    s->state = st;
    s->deliver = webhook_deliver;
    s->poll = webhook_poll;
    s->close = webhook_close;
    return 0;
}
