/* health: /health and /metrics over libmicrohttpd's internal thread. */
#include "health.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_BODY_MAX (256 * 1024)

struct health_server {
    struct MHD_Daemon *mhd;
    health_check_fn check;
    health_metrics_fn metrics;
    void *ud;
};

static enum MHD_Result health_reply(struct MHD_Connection *conn, unsigned int status,
                                    const char *type, struct buf *body)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(body->len, body->data ? body->data : (void *)"",
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result health_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_size, void **req_cls)
{
    struct health_server *hs = cls;
    struct buf body;
    enum MHD_Result ret;
    unsigned int status = 200;
    const char *type = "application/json";

    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)req_cls;
    buf_init(&body, HEALTH_BODY_MAX);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = 405;
        buf_puts(&body, "{\"error\":\"Method not allowed\"}");
    } else if (strcmp(url, "/health") == 0) {
        if (hs->check(hs->ud, &body) != 0)
            status = 503;
    } else if (strcmp(url, "/metrics") == 0) {
        type = "text/plain; version=0.0.4";
        hs->metrics(hs->ud, &body);
    } else {
        status = 404;
        buf_puts(&body, "{\"error\":\"Not found\"}");
    }
    ret = health_reply(conn, status, type, &body);
    buf_free(&body);
    return ret;
}

struct health_server *health_server_start(const char *host, int port, health_check_fn check,
                                          health_metrics_fn metrics, void *ud, char *err,
                                          size_t errlen)
{
    struct health_server *hs = calloc(1, sizeof(*hs));
    struct sockaddr_in sa;

    if (hs == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "health server: bad listen address '%s'", host);
        free(hs);
        return NULL;
    }
    hs->check = check;
    hs->metrics = metrics;
    hs->ud = ud;
    hs->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port,
                               NULL, NULL, health_handler, hs, MHD_OPTION_SOCK_ADDR, &sa,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
    if (hs->mhd == NULL) {
        snprintf(err, errlen, "health server: cannot listen on %s:%d", host, port);
        free(hs);
        return NULL;
    }
    return hs;
}

void health_server_stop(struct health_server *hs)
{
    if (hs == NULL)
        return;
    MHD_stop_daemon(hs->mhd);
    free(hs);
}
