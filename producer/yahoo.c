/* yahoo: curl multi transfers, a start-rate ceiling and 429/5xx backoff. */
#include "yahoo.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "timeutil.h"

#define YAHOO_RETRY_AFTER_MAX_S 3600 /* a longer Retry-After is clamped */
#define YAHOO_SYMBOLS_MAX 4096       /* idx at or above this: no backoff of its own */

/* One symbol's backoff (by its idx): 429/5xx in a row and until when. */
struct yahoo_backoff {
    unsigned fails;
    int64_t until_ms;
};

struct yahoo_pending {
    size_t idx;
    char symbol[MSG_TICKER_MAX];
};

struct yahoo_xfer {
    CURL *easy;
    struct buf body;
    int active;
    size_t idx;
    char symbol[MSG_TICKER_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

struct yahoo_client {
    CURLM *multi;
    struct curl_slist *headers;
    struct yahoo_opts o;
    char base_url[YAHOO_URL_MAX];
    char user_agent[256];
    struct yahoo_xfer *xfers;    /* o.max_parallel of them */
    struct yahoo_pending *queue; /* ring of o.queue_max */
    size_t q_head, q_len;
    size_t active;
    int64_t next_start_ms;         /* rate ceiling */
    int64_t retry_after_until_ms;  /* the server's Retry-After: every symbol waits */
    struct yahoo_backoff *backoff; /* by idx, grown on demand */
    size_t backoff_len;
};

const char *yahoo_status_name(enum yahoo_status s)
{
    switch (s) {
    case YAHOO_OK:
        return "ok";
    case YAHOO_FAIL_TRANSPORT:
        return "transport";
    case YAHOO_FAIL_TIMEOUT:
        return "timeout";
    case YAHOO_FAIL_HTTP:
        return "http";
    case YAHOO_FAIL_RATE_LIMITED:
        return "rate_limited";
    case YAHOO_FAIL_PARSE:
        return "parse";
    }
    return "unknown";
}

static size_t yahoo_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct yahoo_xfer *x = ud;
    size_t n = size * nmemb;

    /* Over the cap: returning less than n makes curl fail with WRITE_ERROR. */
    if (buf_append(&x->body, data, n) != 0)
        return 0;
    return n;
}

/* Options that stay the same for every request of this handle. */
static int yahoo_easy_setup(struct yahoo_client *c, struct yahoo_xfer *x)
{
    CURL *e = x->easy;
    int bad = 0;

    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, yahoo_on_body) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, x) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->o.timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    return bad ? -1 : 0;
}

static int yahoo_copy_base(struct yahoo_client *c, const char *base)
{
    size_t n = strlen(base);

    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof(c->base_url) - 64)
        return -1;
    memcpy(c->base_url, base, n);
    c->base_url[n] = '\0';
    return 0;
}

struct yahoo_client *yahoo_client_new(const struct yahoo_opts *o, char *err, size_t errlen)
{
    struct yahoo_client *c = calloc(1, sizeof(*c));

    if (c == NULL)
        goto oom;
    c->o = *o;
    if (o->max_parallel < 1 || o->queue_max < 1 || !(o->max_rps > 0) ||
        yahoo_copy_base(c, o->base_url) != 0) {
        snprintf(err, errlen, "yahoo client: invalid options");
        free(c);
        return NULL;
    }
    snprintf(c->user_agent, sizeof(c->user_agent), "%s", o->user_agent);
    c->o.base_url = c->base_url;
    c->o.user_agent = c->user_agent;
    c->multi = curl_multi_init();
    c->xfers = calloc((size_t)o->max_parallel, sizeof(*c->xfers));
    c->queue = calloc(o->queue_max, sizeof(*c->queue));
    c->headers = curl_slist_append(NULL, "Accept: application/json");
    if (c->multi == NULL || c->xfers == NULL || c->queue == NULL || c->headers == NULL)
        goto fail;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, o->max_parallel);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, o->max_parallel);
    for (long i = 0; i < o->max_parallel; i++) {
        struct yahoo_xfer *x = &c->xfers[i];
        buf_init(&x->body, YAHOO_BODY_MAX);
        x->easy = curl_easy_init();
        if (x->easy == NULL || yahoo_easy_setup(c, x) != 0)
            goto fail;
    }
    return c;
fail:
    yahoo_client_free(c);
oom:
    snprintf(err, errlen, "yahoo client: out of memory or curl setup failed");
    return NULL;
}

void yahoo_client_free(struct yahoo_client *c)
{
    if (c == NULL)
        return;
    yahoo_client_cancel_all(c);
    for (long i = 0; c->xfers != NULL && i < c->o.max_parallel; i++) {
        if (c->xfers[i].easy != NULL)
            curl_easy_cleanup(c->xfers[i].easy);
        buf_free(&c->xfers[i].body);
    }
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->headers);
    free(c->xfers);
    free(c->queue);
    free(c->backoff);
    free(c);
}

int yahoo_client_request(struct yahoo_client *c, size_t idx, const char *symbol)
{
    struct yahoo_pending *p;

    if (c->q_len >= c->o.queue_max || strlen(symbol) >= sizeof(p->symbol))
        return -1;
    p = &c->queue[(c->q_head + c->q_len) % c->o.queue_max];
    p->idx = idx;
    snprintf(p->symbol, sizeof(p->symbol), "%s", symbol);
    c->q_len++;
    return 0;
}

static struct yahoo_xfer *yahoo_free_xfer(struct yahoo_client *c)
{
    for (long i = 0; i < c->o.max_parallel; i++) {
        if (!c->xfers[i].active)
            return &c->xfers[i];
    }
    return NULL;
}

/* Starts the transfer for the queue head. -1 if curl refused it. */
static int yahoo_start(struct yahoo_client *c, struct yahoo_xfer *x, const struct yahoo_pending *p)
{
    char url[YAHOO_URL_MAX + 128];
    char *sym = curl_easy_escape(x->easy, p->symbol, 0);
    int rc = -1;

    if (sym == NULL)
        return -1;
    snprintf(url, sizeof(url), "%s/v8/finance/chart/%s?interval=1m&range=1d", c->base_url, sym);
    curl_free(sym);
    buf_reset(&x->body);
    x->errbuf[0] = '\0';
    x->idx = p->idx;
    snprintf(x->symbol, sizeof(x->symbol), "%s", p->symbol);
    if (curl_easy_setopt(x->easy, CURLOPT_URL, url) == CURLE_OK &&
        curl_multi_add_handle(c->multi, x->easy) == CURLM_OK) {
        x->active = 1;
        c->active++;
        rc = 0;
    }
    return rc;
}

/* A request that could not start still gets its result. */
static void yahoo_report_unstarted(const struct yahoo_pending *p, yahoo_result_fn cb, void *ud)
{
    struct yahoo_result r;

    memset(&r, 0, sizeof(r));
    r.idx = p->idx;
    r.symbol = p->symbol;
    r.status = YAHOO_FAIL_TRANSPORT;
    r.parse = YAHOO_PARSE_JSON;
    snprintf(r.err, sizeof(r.err), "request could not be started");
    cb(ud, &r);
}

/* The backoff of the symbol at idx, or NULL when idx has none of its own. */
static struct yahoo_backoff *yahoo_backoff_of(struct yahoo_client *c, size_t idx, int grow)
{
    if (idx >= YAHOO_SYMBOLS_MAX)
        return NULL;
    if (idx >= c->backoff_len) {
        size_t n = idx + 16 < YAHOO_SYMBOLS_MAX ? idx + 16 : YAHOO_SYMBOLS_MAX;
        struct yahoo_backoff *b;

        if (!grow || (b = realloc(c->backoff, n * sizeof(*b))) == NULL)
            return NULL;
        memset(b + c->backoff_len, 0, (n - c->backoff_len) * sizeof(*b));
        c->backoff = b;
        c->backoff_len = n;
    }
    return &c->backoff[idx];
}

/* When the symbol at idx may be asked for again (0: now). */
static int64_t yahoo_symbol_gate(const struct yahoo_client *c, size_t idx)
{
    return idx < c->backoff_len ? c->backoff[idx].until_ms : 0;
}

/* The queue position (0 = head) of the first request whose symbol is not
 * backing off, or -1. */
static long yahoo_first_ready(const struct yahoo_client *c, int64_t now)
{
    for (size_t i = 0; i < c->q_len; i++) {
        if (now >= yahoo_symbol_gate(c, c->queue[(c->q_head + i) % c->o.queue_max].idx))
            return (long)i;
    }
    return -1;
}

/* Takes the request at queue position pos out, keeping the others' order. */
static struct yahoo_pending yahoo_dequeue(struct yahoo_client *c, size_t pos)
{
    struct yahoo_pending p = c->queue[(c->q_head + pos) % c->o.queue_max];

    for (size_t i = pos; i > 0; i--)
        c->queue[(c->q_head + i) % c->o.queue_max] = c->queue[(c->q_head + i - 1) % c->o.queue_max];
    c->q_head = (c->q_head + 1) % c->o.queue_max;
    c->q_len--;
    return p;
}

/* Starts queued requests while the ceiling, Retry-After and the pool allow,
 * in queue order, passing over symbols that are backing off. Returns the
 * number of results delivered (requests that failed to start). */
static int yahoo_start_due(struct yahoo_client *c, int64_t now, yahoo_result_fn cb, void *ud)
{
    long spacing = (long)(1000.0 / c->o.max_rps);
    int n = 0;
    long pos;

    while (now >= c->retry_after_until_ms && now >= c->next_start_ms &&
           (pos = yahoo_first_ready(c, now)) >= 0) {
        struct yahoo_xfer *x = yahoo_free_xfer(c);
        struct yahoo_pending p;
        if (x == NULL)
            break;
        p = yahoo_dequeue(c, (size_t)pos);
        c->next_start_ms = now + spacing;
        if (yahoo_start(c, x, &p) != 0) {
            yahoo_report_unstarted(&p, cb, ud);
            n++;
        }
    }
    return n;
}

/* After a 429 or 5xx for one symbol: that symbol waits base * 2^(n-1)
 * (capped), n its failures in a row; other symbols go on. A Retry-After
 * makes every symbol wait that long. */
static void yahoo_backoff(struct yahoo_client *c, size_t idx, const char *symbol, long http_code,
                          long retry_after_s)
{
    int64_t now = time_mono_ms();
    struct yahoo_backoff *b = yahoo_backoff_of(c, idx, 1);
    unsigned fails = b != NULL ? b->fails : 0;
    unsigned shift = fails < 16 ? fails : 16;
    long wait = c->o.backoff_base_ms << shift;

    if (wait > c->o.backoff_max_ms || wait < 0)
        wait = c->o.backoff_max_ms;
    if (b != NULL) {
        b->fails++;
        b->until_ms = now + wait;
    }
    if (retry_after_s > YAHOO_RETRY_AFTER_MAX_S)
        retry_after_s = YAHOO_RETRY_AFTER_MAX_S;
    if (retry_after_s > 0 && now + retry_after_s * 1000 > c->retry_after_until_ms)
        c->retry_after_until_ms = now + retry_after_s * 1000;
    log_warn("yahoo backoff", "symbol=%s http=%ld wait_ms=%ld retry_after_s=%ld in_a_row=%u",
             symbol, http_code, wait, retry_after_s, fails + 1);
}

/* Fills r from an HTTP answer (the transfer itself succeeded). */
static void yahoo_judge_http(struct yahoo_client *c, struct yahoo_xfer *x, struct yahoo_result *r)
{
    curl_off_t retry_after = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r->http_code);
    if (r->http_code == 429 || r->http_code >= 500) {
        curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &retry_after);
        r->status = r->http_code == 429 ? YAHOO_FAIL_RATE_LIMITED : YAHOO_FAIL_HTTP;
        snprintf(r->err, sizeof(r->err), "HTTP %ld", r->http_code);
        yahoo_backoff(c, x->idx, x->symbol, r->http_code, retry_after > 0 ? (long)retry_after : 0);
        return;
    }
    /* Yahoo answers an unknown symbol with 404 and a chart.error body. */
    if ((r->http_code < 200 || r->http_code > 299) && r->http_code != 404) {
        r->status = YAHOO_FAIL_HTTP;
        snprintf(r->err, sizeof(r->err), "HTTP %ld", r->http_code);
        return;
    }
    r->parse = yahoo_parse_chart(x->body.data, x->body.len, &r->quote, r->err, sizeof(r->err));
    r->status = r->parse == YAHOO_PARSE_OK ? YAHOO_OK : YAHOO_FAIL_PARSE;
    if (r->status == YAHOO_OK && x->idx < c->backoff_len)
        c->backoff[x->idx].fails = 0;
}

static void yahoo_finish(struct yahoo_client *c, struct yahoo_xfer *x, CURLcode code,
                         yahoo_result_fn cb, void *ud)
{
    struct yahoo_result r;

    memset(&r, 0, sizeof(r));
    r.idx = x->idx;
    r.symbol = x->symbol;
    r.parse = YAHOO_PARSE_JSON;
    if (code == CURLE_OK) {
        yahoo_judge_http(c, x, &r);
    } else if (code == CURLE_WRITE_ERROR) {
        r.status = YAHOO_FAIL_PARSE;
        snprintf(r.err, sizeof(r.err), "response larger than %d bytes", YAHOO_BODY_MAX);
    } else {
        r.status = code == CURLE_OPERATION_TIMEDOUT ? YAHOO_FAIL_TIMEOUT : YAHOO_FAIL_TRANSPORT;
        snprintf(r.err, sizeof(r.err), "%.150s",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
    }
    curl_multi_remove_handle(c->multi, x->easy);
    x->active = 0;
    c->active--;
    buf_reset(&x->body);
    cb(ud, &r);
}

static int yahoo_drain(struct yahoo_client *c, yahoo_result_fn cb, void *ud)
{
    CURLMsg *m;
    int left = 0, n = 0;
    void *priv = NULL;

    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        yahoo_finish(c, priv, m->data.result, cb, ud);
        n++;
    }
    return n;
}

/* How long poll may sleep before the next queued request may start. */
static long yahoo_wait_budget(const struct yahoo_client *c, long timeout_ms, int64_t now)
{
    int64_t gate = INT64_MAX;

    if (c->q_len == 0 || c->active >= (size_t)c->o.max_parallel)
        return timeout_ms;
    for (size_t i = 0; i < c->q_len; i++) {
        int64_t g = yahoo_symbol_gate(c, c->queue[(c->q_head + i) % c->o.queue_max].idx);
        if (g < gate)
            gate = g;
    }
    if (c->next_start_ms > gate)
        gate = c->next_start_ms;
    if (c->retry_after_until_ms > gate)
        gate = c->retry_after_until_ms;
    if (gate - now < timeout_ms)
        return gate > now ? (long)(gate - now) : 0;
    return timeout_ms;
}

int yahoo_client_poll(struct yahoo_client *c, long timeout_ms, yahoo_result_fn cb, void *ud)
{
    int running = 0, n = 0;
    long wait;

    n += yahoo_start_due(c, time_mono_ms(), cb, ud);
    curl_multi_perform(c->multi, &running);
    n += yahoo_drain(c, cb, ud);
    wait = yahoo_wait_budget(c, timeout_ms, time_mono_ms());
    if (n == 0 && wait > 0)
        curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
    curl_multi_perform(c->multi, &running);
    n += yahoo_drain(c, cb, ud);
    n += yahoo_start_due(c, time_mono_ms(), cb, ud);
    curl_multi_perform(c->multi, &running);
    return n;
}

void yahoo_client_cancel_all(struct yahoo_client *c)
{
    for (long i = 0; c->xfers != NULL && i < c->o.max_parallel; i++) {
        struct yahoo_xfer *x = &c->xfers[i];
        if (!x->active)
            continue;
        curl_multi_remove_handle(c->multi, x->easy);
        x->active = 0;
        buf_reset(&x->body);
    }
    c->active = 0;
    c->q_len = 0;
    c->q_head = 0;
}

size_t yahoo_client_busy(const struct yahoo_client *c)
{
    return c->q_len + c->active;
}
