/* event: one encoded SSE payload shared by every client it goes to; the
 * last client (or the publisher) to drop it frees it. */
#include "webapp.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sse_event *sse_event_alloc(size_t len, uint32_t messages, long long batch)
{
    struct sse_event *ev = malloc(sizeof(*ev) + len);

    if (ev == NULL)
        return NULL;
    atomic_init(&ev->refs, 1);
    ev->messages = messages;
    ev->batch = batch;
    memset(&ev->pos, 0, sizeof(ev->pos));
    memset(&ev->prev, 0, sizeof(ev->prev));
    ev->has_pos = 0;
    ev->has_prev = 0;
    ev->len = len;
    return ev;
}

struct sse_event *sse_event_new(const char *data, size_t len, uint32_t messages, long long batch)
{
    struct sse_event *ev = sse_event_alloc(len, messages, batch);

    if (ev != NULL)
        memcpy(ev->data, data, len);
    return ev;
}

struct sse_event *sse_event_ref(struct sse_event *ev)
{
    atomic_fetch_add(&ev->refs, 1);
    return ev;
}

void sse_event_unref(struct sse_event *ev)
{
    if (ev != NULL && atomic_fetch_sub(&ev->refs, 1) == 1)
        free(ev);
}

int sse_append_data(struct buf *b, const char *json, size_t len)
{
    if (memchr(json, '\n', len) != NULL || memchr(json, '\r', len) != NULL)
        return -1;
    if (buf_append(b, "data: ", 6) != 0 || buf_append(b, json, len) != 0 ||
        buf_append(b, "\n\n", 2) != 0)
        return -1;
    return 0;
}
