/* http: the libmicrohttpd server — epoll worker threads with suspend/resume
 * for the streams, an explicit connection limit, a bounded per-connection
 * memory — what is refused before any route runs (oversized headers,
 * ambiguous framing, bodies over 4 KiB), and the routes with their CSRF
 * rules. The handlers are api.c's; every answer goes out through reply.c;
 * each worker thread's Redis connection is thread_redis.c's. */
#include "webapp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

#define HTTP_BODY_MAX 4096
/* Header limits, answered with a JSON 431 from the first handler call. A
 * browser's cookies for one host fit in 8 KiB (and at most 180 of them:
 * Chrome's cap), which is what WEBAPP_CONN_MEMORY's default is sized for;
 * the rest of the cap leaves room for ordinary headers and proxies' own. */
#define HTTP_COOKIE_MAX WEBAPP_COOKIE_MAX
#define HTTP_HEADERS_MAX WEBAPP_HEADERS_MAX
#define HTTP_DELETE_PREFIX "/api/delete-alert/"

/* Per-request state, in libmicrohttpd's req_cls: made on the first call,
 * freed in the completion callback. */
struct http_req {
    struct buf body;
    int too_large;
    struct create_job *job; /* set-alert's create, once queued */
};

static struct MHD_Daemon *http_daemon;
static const struct webapp_config *http_cfg;
static struct webapp_stats *http_stats;
static atomic_long http_active;

static enum MHD_Result http_method_not_allowed(struct MHD_Connection *conn, const char *allow)
{
    static const char body[] = "{\"error\":\"Method not allowed\"}";
    struct MHD_Response *r;

    r = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)(uintptr_t)body,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Allow", allow);
    return reply_response(conn, 405, r);
}

static const char *http_header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* Sets c->user_id when the request has a valid signed cookie. */
static void http_read_cookie(struct api_call *c)
{
    const char *v = MHD_lookup_connection_value(c->conn, MHD_COOKIE_KIND, "user_id");

    c->has_user = v != NULL && cookie_verify(http_cfg->cookie_secret, http_cfg->cookie_secret_len,
                                             v, strlen(v), c->user_id) == 0;
}

static int http_cross_site(struct MHD_Connection *conn)
{
    const struct request_site site = {
        .sec_fetch_site = http_header(conn, "Sec-Fetch-Site"),
        .origin = http_header(conn, "Origin"),
        .referer = http_header(conn, "Referer"),
        .host = http_header(conn, "Host"),
        .fwd_host = http_header(conn, "X-Forwarded-Host"),
        .fwd_proto = http_header(conn, "X-Forwarded-Proto"),
    };

    return request_is_cross_site(&site);
}

/* A cross-site page can send text/plain, form and multipart bodies without
 * asking; application/json needs a CORS preflight, which this server never
 * grants. So set-alert takes JSON only. DELETE has no body: the original's
 * clients (curl, python requests) send no Content-Type, and no page can
 * send a cross-site DELETE without a preflight (a form cannot send DELETE
 * at all), so a DELETE is held to JSON only when it carries a Content-Type
 * or a body. */
static int http_type_refused(struct api_call *c, int is_delete)
{
    const char *type = http_header(c->conn, "Content-Type");

    if (is_delete && type == NULL && c->body_len == 0)
        return 0;
    return !request_is_json_type(type);
}

/* /metrics is for the machine's own scrapers: a loopback peer that is not
 * a proxy hop (nginx sets X-Forwarded-For on everything it forwards). */
static int http_metrics_allowed(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

    if (sa == NULL || http_header(conn, "X-Forwarded-For") != NULL ||
        http_header(conn, "Forwarded") != NULL || http_header(conn, "X-Real-IP") != NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127);
    }
    return 0;
}

static int http_is(const char *method, const char *m)
{
    return strcmp(method, m) == 0;
}

/* GET (or HEAD) routes; NULL when url is none of them. */
typedef enum MHD_Result (*http_get_fn)(struct api_call *c);

static http_get_fn http_get_route(const char *url)
{
    static const struct {
        const char *url;
        http_get_fn fn;
    } routes[] = {
        {"/api/get-alerts", api_get_alerts},
        {"/api/alert-history", api_alert_history},
        {"/api/tickers", api_tickers},
        {"/metrics", api_metrics},
        {"/api/stream-prices", api_stream_prices},
        {"/api/stream-alerts", api_stream_alerts},
        {"/api/settings", api_get_settings},
        {"/api/confirm-email", api_confirm_email},
    };

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].url) == 0)
            return routes[i].fn;
    }
    return NULL;
}

static int http_is_stream(const char *url)
{
    return strcmp(url, "/api/stream-prices") == 0 || strcmp(url, "/api/stream-alerts") == 0;
}

/* State-changing routes: set-alert, delete-alert and PUT settings (whose
 * GET is an ordinary read). -1 when url is none of them. */
static int http_change_route(struct api_call *c, const char *method, enum MHD_Result *ret)
{
    int is_set = strcmp(c->url, "/api/set-alert") == 0;
    int is_del = strncmp(c->url, HTTP_DELETE_PREFIX, sizeof(HTTP_DELETE_PREFIX) - 1) == 0;
    int is_settings = strcmp(c->url, "/api/settings") == 0;

    if (is_settings && (http_is(method, "GET") || http_is(method, "HEAD")))
        return -1;
    if (!is_set && !is_del && !is_settings)
        return -1;
    if (is_set && !http_is(method, "POST"))
        *ret = http_method_not_allowed(c->conn, "POST");
    else if (is_del && !http_is(method, "DELETE"))
        *ret = http_method_not_allowed(c->conn, "DELETE");
    else if (is_settings && !http_is(method, "PUT"))
        *ret = http_method_not_allowed(c->conn, "GET, HEAD, PUT");
    else if (http_cross_site(c->conn))
        *ret = reply_error(c->conn, 403, "Cross-site request refused");
    else if (http_type_refused(c, is_del))
        *ret = reply_error(c->conn, 415, "Content-Type must be application/json");
    else if (is_set)
        *ret = api_set_alert(c);
    else if (is_settings)
        *ret = api_put_settings(c);
    else
        *ret = api_delete_alert(c, c->url + sizeof(HTTP_DELETE_PREFIX) - 1);
    return 0;
}

static enum MHD_Result http_route(struct api_call *c, const char *method)
{
    int get = http_is(method, "GET") || http_is(method, "HEAD");
    const struct asset *a = assets_find(c->url);
    http_get_fn fn = http_get_route(c->url);
    enum MHD_Result ret = MHD_NO;

    if (http_change_route(c, method, &ret) == 0)
        return ret;
    if ((a == NULL && fn == NULL && strcmp(c->url, "/health") != 0) ||
        (fn == api_metrics && !http_metrics_allowed(c->conn)))
        return reply_error(c->conn, 404, "Not found");
    if (!get || (http_is(method, "HEAD") && http_is_stream(c->url)))
        return http_method_not_allowed(c->conn, http_is_stream(c->url) ? "GET" : "GET, HEAD");
    if (strcmp(c->url, "/health") == 0)
        return api_health(c, reply_is_stopping());
    if (fn != NULL)
        return fn(c);
    if (strcmp(a->name, "/") == 0)
        return api_dashboard(c, a);
    return assets_reply(c->conn, a);
}

/* What the first handler call learns from the request headers, in one pass. */
struct http_head {
    size_t bytes;        /* names and values, with ": " and CRLF */
    size_t cookie_bytes; /* every Cookie header's value */
    int host;
    int content_length;
    int transfer_encoding;
    int chunked; /* the last Transfer-Encoding is exactly "chunked" */
};

static enum MHD_Result http_scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                        size_t key_size, const char *value, size_t value_size)
{
    struct http_head *h = cls;

    (void)kind;
    h->bytes += key_size + value_size + 4;
    if (strcasecmp(key, "Cookie") == 0) {
        h->cookie_bytes += value_size;
    } else if (strcasecmp(key, "Host") == 0) {
        h->host++;
    } else if (strcasecmp(key, "Content-Length") == 0) {
        h->content_length++;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->transfer_encoding++;
        h->chunked = value != NULL && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

/* Refuses, from the headers alone, what no route may see: headers over the
 * caps (431), and framing a proxy and this server could read differently
 * (request smuggling). libmicrohttpd 0.9.75 takes the first of several
 * Content-Length headers and lets Transfer-Encoding win over Content-Length
 * silently, and waits for the end of a body in a coding it does not know:
 * nginx refuses all of these, and so does the webapp on its own. Returns 1
 * with *ret set when it answered. */
static int http_refuse_head(struct MHD_Connection *conn, enum MHD_Result *ret)
{
    struct http_head h;

    memset(&h, 0, sizeof(h));
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, http_scan_header, &h);
    if (h.cookie_bytes > HTTP_COOKIE_MAX)
        *ret = reply_error(conn, 431, "Cookie header too large (max 8192 bytes)");
    else if (h.bytes > HTTP_HEADERS_MAX)
        *ret = reply_error(conn, 431, "Request headers too large (max 16384 bytes)");
    else if (h.host > 1)
        *ret = reply_error(conn, 400, "More than one Host header");
    else if (h.content_length > 1)
        *ret = reply_error(conn, 400, "More than one Content-Length header");
    else if (h.content_length > 0 && h.transfer_encoding > 0)
        *ret = reply_error(conn, 400, "Content-Length and Transfer-Encoding together");
    else if (h.transfer_encoding > 1 || (h.transfer_encoding == 1 && !h.chunked))
        *ret = reply_error(conn, 501, "Transfer-Encoding other than chunked");
    else
        return 0;
    return 1;
}

/* The first call for a request: only headers are known. What
 * http_refuse_head refuses, and a body announced as over the cap, are
 * answered at once: a response queued now makes libmicrohttpd skip the body
 * and close the connection, so nothing of the request is read as another.
 * Stopping: a request arriving now (on a kept-alive connection) is not
 * started: its connection closes unanswered, which nginx retries on another
 * replica, safely, as nothing was done. The count goes up before the flag is
 * read, so the drain never misses a request that did start. */
static enum MHD_Result http_begin(struct MHD_Connection *conn, void **req_cls)
{
    const char *cl = http_header(conn, "Content-Length");
    struct http_req *rq = calloc(1, sizeof(*rq));
    enum MHD_Result ret = MHD_NO;
    char *end = NULL;

    if (rq == NULL)
        return MHD_NO;
    buf_init(&rq->body, HTTP_BODY_MAX);
    *req_cls = rq;
    atomic_fetch_add(&http_active, 1);
    if (reply_is_stopping())
        return MHD_NO;
    if (http_refuse_head(conn, &ret))
        return ret;
    if (cl != NULL && (strtoull(cl, &end, 10) > HTTP_BODY_MAX || end == cl))
        return reply_error(conn, 413, "Request body too large (max 4096 bytes)");
    return MHD_YES;
}

static enum MHD_Result http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_size, void **req_cls)
{
    struct http_req *rq = *req_cls;
    struct api_call c;

    (void)cls;
    (void)version;
    if (rq == NULL)
        return http_begin(conn, req_cls);
    if (*upload_size > 0) {
        if (!rq->too_large && buf_append(&rq->body, upload_data, *upload_size) != 0)
            rq->too_large = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_large)
        return reply_error(conn, 413, "Request body too large (max 4096 bytes)");
    memset(&c, 0, sizeof(c));
    c.conn = conn;
    c.cfg = http_cfg;
    c.stats = http_stats;
    c.url = url;
    c.body = rq->body.data;
    c.body_len = rq->body.len;
    c.job = &rq->job;
    http_read_cookie(&c);
    return http_route(&c, method);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_req *rq = *req_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (rq == NULL)
        return;
    buf_free(&rq->body);
    create_job_free(rq->job);
    free(rq);
    *req_cls = NULL;
    atomic_fetch_sub(&http_active, 1);
}

/* libmicrohttpd hands its own format string: forwarded, never built here. */
__attribute__((format(printf, 2, 0))) static void http_mhd_log(void *cls, const char *fmt,
                                                               va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    /* A browser going away mid-stream is routine, not a warning; nor is a
     * request closed unanswered while stopping (http_begin). */
    if (strstr(line, "no longer available") != NULL || strstr(line, "reset by") != NULL)
        log_debug("http client gone", "detail=\"%s\"", line);
    /* A connection of the Unix socket (WEBAPP_UNIX_SOCKET) has no TCP options
     * to set, and nothing waits in a TCP buffer: libmicrohttpd, which was
     * handed it (MHD_add_connection cannot say it is not TCP), says so for
     * every answer. */
    else if (strstr(line, "Operation not supported") != NULL &&
             (strstr(line, "TCP_NODELAY") != NULL || strstr(line, "TCP_CORK") != NULL))
        log_debug("http socket option not supported", "detail=\"%s\"", line);
    else if (strstr(line, "Failed to push the data from buffers") != NULL)
        log_debug("http socket not pushed", "detail=\"%s\"", line);
    else if (reply_is_stopping() && strstr(line, "Application reported") != NULL)
        log_debug("http request closed while stopping", NULL);
    else
        log_warn("http server", "detail=\"%s\"", line);
}

int http_start(const struct webapp_config *cfg, struct webapp_stats *stats, char *err,
               size_t errlen)
{
    /* No listening socket of its own: front.c accepts and hands over every
     * connection but the price streams it serves itself. */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET |
                         MHD_USE_ITC;

    http_cfg = cfg;
    http_stats = stats;
    reply_init(cfg->instance, stats);
    thread_redis_init(&cfg->common);
    http_daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http_handler, NULL, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->conn_memory, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->conn_timeout_s, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads,
        MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL, MHD_OPTION_END);
    if (http_daemon == NULL) {
        snprintf(err, errlen, "cannot start the http server (limits too high?)");
        return -1;
    }
    if (front_start(cfg, http_daemon, err, errlen) != 0) {
        MHD_stop_daemon(http_daemon);
        http_daemon = NULL;
        return -1;
    }
    return 0;
}

void http_quiesce(void)
{
    reply_set_stopping();
    front_quiesce();
}

long http_inflight(void)
{
    return atomic_load(&http_active);
}

void http_stop(void)
{
    front_stop();
    if (http_daemon != NULL)
        MHD_stop_daemon(http_daemon);
    http_daemon = NULL;
    thread_redis_free_all();
}
