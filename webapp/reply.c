/* reply: the one way an answer leaves the webapp. Every response carries the
 * replica's name (X-Served-By) and, once the server stops, Connection: close
 * (so keep-alive clients such as nginx move to another replica), and its
 * status is counted for /metrics. The server (http.c) and the route handlers
 * (api.c) both answer through here, so neither calls into the other's
 * internals: http.c calls the handlers, the handlers call nothing back. */
#include "webapp.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *reply_instance = "";
static struct webapp_stats *reply_stats;
static atomic_int reply_stopping;

void reply_init(const char *instance, struct webapp_stats *stats)
{
    reply_instance = instance;
    reply_stats = stats;
}

void reply_set_stopping(void)
{
    atomic_store(&reply_stopping, 1);
}

int reply_is_stopping(void)
{
    return atomic_load(&reply_stopping);
}

enum MHD_Result reply_response(struct MHD_Connection *conn, unsigned int status,
                               struct MHD_Response *r)
{
    enum MHD_Result ret;

    /* Which replica answered (nginx's stickiness is visible to tests). */
    MHD_add_response_header(r, "X-Served-By", reply_instance);
    /* Stopping: let keep-alive clients (nginx) move to another replica. */
    if (atomic_load(&reply_stopping))
        MHD_add_response_header(r, "Connection", "close");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    stats_count_status(reply_stats, status);
    return ret;
}

enum MHD_Result reply_body(struct MHD_Connection *conn, unsigned int status, const char *type,
                           const void *data, size_t len, int copy)
{
    struct MHD_Response *r;

    r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data,
                                        copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    return reply_response(conn, status, r);
}

enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned int status, const char *json,
                           size_t len)
{
    return reply_body(conn, status, "application/json", json, len, 1);
}

enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned int status, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    enum MHD_Result ret;

    if (text == NULL)
        ret = reply_json(conn, status, "{\"error\":\"error\"}", 17);
    else
        ret = reply_json(conn, status, text, strlen(text));
    free(text);
    json_decref(o);
    return ret;
}
