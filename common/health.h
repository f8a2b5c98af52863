/* health: a tiny HTTP server (libmicrohttpd, its own thread) answering
 * GET /health (JSON, 200 or 503) and GET /metrics (Prometheus text) for the
 * daemons without an HTTP API of their own. */
#ifndef SA_HEALTH_H
#define SA_HEALTH_H

#include <stddef.h>

#include "buf.h"

/* Writes a JSON object into out; returns 0 when healthy, -1 when not.
 * Called on the server thread: read shared state with atomics or a lock. */
typedef int (*health_check_fn)(void *ud, struct buf *out);

/* Appends Prometheus text to out. Called on the server thread. */
typedef void (*health_metrics_fn)(void *ud, struct buf *out);

struct health_server;

/* Listens on host:port. Returns NULL with err (port in use...). */
struct health_server *health_server_start(const char *host, int port, health_check_fn check,
                                          health_metrics_fn metrics, void *ud, char *err,
                                          size_t errlen);

/* Stops the thread and frees the server; NULL is fine. */
void health_server_stop(struct health_server *hs);

#endif
