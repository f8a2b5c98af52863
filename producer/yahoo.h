/* yahoo: a libcurl multi client for Yahoo Finance's chart endpoint,
 * GET {base}/v8/finance/chart/{symbol}?interval=1m&range=1d. Requests run in
 * parallel over reused connections and start no faster than max_rps. After
 * HTTP 429 or 5xx a symbol backs off on its own, exponentially with its own
 * failures in a row, while the others go on; a Retry-After holds them all.
 * Single-threaded: call everything from one thread. The caller must call
 * curl_global_init() before yahoo_client_new(). */
#ifndef PRODUCER_YAHOO_H
#define PRODUCER_YAHOO_H

#include <stddef.h>
#include <stdint.h>

#include "yahoo_parse.h"

#define YAHOO_URL_MAX 512
#define YAHOO_DEFAULT_BASE_URL "https://query1.finance.yahoo.com"
#define YAHOO_DEFAULT_USER_AGENT                                                                   \
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "                      \
    "Chrome/124.0.0.0 Safari/537.36"

struct yahoo_opts {
    const char *base_url; /* no trailing path; a trailing '/' is fine */
    const char *user_agent;
    long connect_timeout_ms;
    long timeout_ms;      /* whole transfer */
    double max_rps;       /* ceiling on request starts per second, > 0 */
    long max_parallel;    /* transfers at once, >= 1 */
    long backoff_base_ms; /* a symbol's first backoff after 429/5xx; doubles */
    long backoff_max_ms;  /* cap of the doubling (Retry-After may exceed it) */
    size_t queue_max;     /* requests waiting to start, >= 1 */
};

enum yahoo_status {
    YAHOO_OK = 0,
    YAHOO_FAIL_TRANSPORT,    /* DNS, connect refused, reset... */
    YAHOO_FAIL_TIMEOUT,      /* connect or total timeout */
    YAHOO_FAIL_HTTP,         /* an HTTP status other than 2xx/404/429 */
    YAHOO_FAIL_RATE_LIMITED, /* HTTP 429 */
    YAHOO_FAIL_PARSE,        /* body unusable: see result.parse */
};

struct yahoo_result {
    size_t idx;         /* as given to yahoo_client_request */
    const char *symbol; /* valid during the callback only */
    enum yahoo_status status;
    long http_code; /* 0 when no answer */
    enum yahoo_parse_status parse;
    struct yahoo_quote quote; /* filled when status == YAHOO_OK */
    char err[YAHOO_ERR_MAX];  /* why, when status != YAHOO_OK */
};

typedef void (*yahoo_result_fn)(void *ud, const struct yahoo_result *r);

struct yahoo_client;

/* Returns a client, or NULL with err (bad options, out of memory). */
struct yahoo_client *yahoo_client_new(const struct yahoo_opts *o, char *err, size_t errlen);

/* Frees the client, aborting what is in flight without callbacks. NULL is fine. */
void yahoo_client_free(struct yahoo_client *c);

/* Queues a request for symbol (copied); idx comes back in its result.
 * Returns 0, or -1 when the queue is full or symbol is too long. */
int yahoo_client_request(struct yahoo_client *c, size_t idx, const char *symbol);

/* Starts what the rate ceiling and backoff allow, waits up to timeout_ms for
 * network activity and calls cb once for each finished request. Returns the
 * number of results delivered. */
int yahoo_client_poll(struct yahoo_client *c, long timeout_ms, yahoo_result_fn cb, void *ud);

/* Drops queued and in-flight requests without callbacks. */
void yahoo_client_cancel_all(struct yahoo_client *c);

/* Queued plus in-flight requests. */
size_t yahoo_client_busy(const struct yahoo_client *c);

/* A short word for a status, for logs and metrics. */
const char *yahoo_status_name(enum yahoo_status s);

#endif
