/* hub: every open SSE stream and the fan-out to them. A client is a small
 * struct with a bounded ring of shared events; the MHD thread drains it in
 * the content reader and suspends the connection when it is empty, the
 * reader threads push and resume. A client whose ring is full is dropped, so
 * a slow one never holds the others back; one whose client went away
 * (hangup.c) is ended at once. How alert streams take their alerts, in
 * history order and each once, is hub_alerts.c.
 *
 * Locks: hub_lock guards the lists, the gap list included (taken by the
 * publishers and by opening and closing streams); each client's lock guards
 * its ring, cursor and flags (taken by the publisher and by the MHD thread).
 * Order: hub_lock, then a client's lock, then libmicrohttpd's own. */
#include "webapp.h"

#include "hash.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hub_priv.h"
#include "log.h"

#define HUB_BLOCK_SIZE 256 /* MHD's own buffer, used only without chunking */
#define HUB_RING_START 4   /* the ring grows to queue_max as needed */
#define HUB_RING_KEEP 64   /* a drained ring larger than this shrinks back */
/* A comment for proxies and raw readers, and a named event a page can see
 * (EventSource hides comments): its data says how often to expect one, so a
 * page can tell a hung stream from a quiet one. */
#define HUB_HEARTBEAT ": heartbeat\nevent: heartbeat\ndata: {\"interval_ms\":%ld}\n\n"

pthread_mutex_t hub_lock = PTHREAD_MUTEX_INITIALIZER;
struct sse_client *hub_buckets[HUB_BUCKETS];
struct sse_event *hub_heartbeat_ev;
struct sse_client *hub_gap_list;
atomic_int hub_gap_count;
atomic_uint_fast64_t hub_repeated;
atomic_uint_fast64_t hub_gaps_filled;
static struct sse_client *hub_lists[2];
static struct sse_client *hub_serials[HUB_BUCKETS]; /* serial -> stream */
static uint64_t hub_next_serial = 1;
static long hub_open[2];
static int hub_stopping;
static uint32_t hub_queue_max = 4096;
static size_t hub_queue_max_bytes = 1 << 20;
static long hub_per_user = 8;
static atomic_uint_fast64_t hub_sent;
static atomic_uint_fast64_t hub_dropped;
static atomic_uint_fast64_t hub_gone;

static void hub_client_gone(uint64_t serial);

int hub_init(const struct hub_opts *o)
{
    char hb[sizeof(HUB_HEARTBEAT) + 24];
    int n;

    hub_queue_max = (uint32_t)o->queue_max;
    hub_queue_max_bytes = (size_t)o->queue_max_bytes;
    hub_per_user = o->streams_per_user;
    n = snprintf(hb, sizeof(hb), HUB_HEARTBEAT, o->heartbeat_ms);
    hub_heartbeat_ev = sse_event_new(hb, (size_t)n, 0, 0);
    if (hub_heartbeat_ev == NULL)
        return -1;
    if (hangup_start(hub_client_gone) != 0)
        log_warn("hangup watch unavailable", "note=\"closed streams are noticed at their "
                                             "next write\"");
    return 0;
}

const char *hub_heartbeat_data(void)
{
    return hub_heartbeat_ev->data;
}

size_t hub_heartbeat_len(void)
{
    return hub_heartbeat_ev->len;
}

uint32_t hub_bucket(const char *user_id)
{
    return hash_fnv1a32(user_id) & (HUB_BUCKETS - 1);
}

/* Empties the ring and the current event. Client lock held. */
static void hub_client_clear(struct sse_client *c)
{
    for (uint32_t i = 0; i < c->count; i++)
        sse_event_unref(c->ring[(c->head + i) % c->cap]);
    c->head = 0;
    c->count = 0;
    c->queued = 0;
    sse_event_unref(c->cur);
    c->cur = NULL;
    c->off = 0;
}

/* Makes room for one more event of len bytes: grows the ring (up to
 * queue_max). Returns 0, or -1 when the client is at one of its limits.
 * Client lock held. */
static int hub_client_room(struct sse_client *c, size_t len)
{
    struct sse_event **ring;
    uint32_t cap;

    if (c->count > 0 && c->queued + len > hub_queue_max_bytes)
        return -1;
    if (c->count < c->cap)
        return 0;
    if (c->cap >= hub_queue_max)
        return -1;
    cap = c->cap * 2 < hub_queue_max ? c->cap * 2 : hub_queue_max;
    ring = malloc(cap * sizeof(*ring));
    if (ring == NULL)
        return -1;
    for (uint32_t i = 0; i < c->count; i++)
        ring[i] = c->ring[(c->head + i) % c->cap];
    free(c->ring);
    c->ring = ring;
    c->cap = cap;
    c->head = 0;
    return 0;
}

/* Gives back what a burst grew: a drained ring returns to its start size,
 * so 15,000 streams do not each keep 32 KiB after one backlog. Client lock
 * held. */
static void hub_client_shrink(struct sse_client *c)
{
    struct sse_event **ring;

    if (c->count != 0 || c->cap <= HUB_RING_KEEP)
        return;
    ring = malloc(HUB_RING_START * sizeof(*ring));
    if (ring == NULL)
        return; /* keep the big one */
    free(c->ring);
    c->ring = ring;
    c->cap = HUB_RING_START;
    c->head = 0;
}

/* Resumes the connection if we suspended it. Client lock held. */
static void hub_client_wake(struct sse_client *c)
{
    if (c->suspended) {
        c->suspended = 0;
        MHD_resume_connection(c->conn);
    }
}

static void hub_free_client(struct sse_client *c)
{
    pthread_mutex_lock(&c->lock);
    hub_client_clear(c);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_destroy(&c->lock);
    free(c->ring);
    free(c);
}

static long hub_user_streams(const char *user_id)
{
    long n = 0;

    for (struct sse_client *p = hub_buckets[hub_bucket(user_id)]; p != NULL; p = p->bnext) {
        if (strcmp(p->user_id, user_id) == 0)
            n++;
    }
    return n;
}

/* Links c into its lists. Returns 0, or -1 (stopping, over the cap). */
static int hub_link(struct sse_client *c, int *over_cap)
{
    int rc = -1;

    pthread_mutex_lock(&hub_lock);
    if (hub_stopping)
        goto out;
    if (c->kind == SSE_ALERTS) {
        uint32_t b = hub_bucket(c->user_id);
        if (hub_user_streams(c->user_id) >= hub_per_user) {
            *over_cap = 1;
            goto out;
        }
        c->bnext = hub_buckets[b];
        hub_buckets[b] = c;
    }
    c->next = hub_lists[c->kind];
    if (c->next != NULL)
        c->next->prev = c;
    hub_lists[c->kind] = c;
    hub_open[c->kind]++;
    c->serial = hub_next_serial++;
    c->snext = hub_serials[c->serial & (HUB_BUCKETS - 1)];
    hub_serials[c->serial & (HUB_BUCKETS - 1)] = c;
    c->listed = 1;
    rc = 0;
out:
    pthread_mutex_unlock(&hub_lock);
    return rc;
}

static void hub_unlink(struct sse_client *c)
{
    struct sse_client **pp;

    pthread_mutex_lock(&hub_lock);
    if (c->listed) {
        if (c->kind == SSE_ALERTS) {
            pp = &hub_buckets[hub_bucket(c->user_id)];
            while (*pp != NULL && *pp != c)
                pp = &(*pp)->bnext;
            if (*pp == c)
                *pp = c->bnext;
        }
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            hub_lists[c->kind] = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        hub_open[c->kind]--;
        pp = &hub_serials[c->serial & (HUB_BUCKETS - 1)];
        while (*pp != NULL && *pp != c)
            pp = &(*pp)->snext;
        if (*pp == c)
            *pp = c->snext;
        c->listed = 0;
    }
    hub_gap_unlink(c);
    pthread_mutex_unlock(&hub_lock);
}

struct sse_client *hub_client_open(struct MHD_Connection *conn, enum sse_kind kind,
                                   const char *user_id, int *over_cap)
{
    const union MHD_ConnectionInfo *ci;
    struct sse_client *c = calloc(1, sizeof(*c));

    *over_cap = 0;
    if (c == NULL)
        return NULL;
    c->cap = hub_queue_max < HUB_RING_START ? hub_queue_max : HUB_RING_START;
    c->ring = calloc(c->cap, sizeof(*c->ring));
    if (c->ring == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->ring);
        free(c);
        return NULL;
    }
    c->conn = conn;
    c->kind = (uint8_t)kind;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = ci != NULL ? ci->connect_fd : -1;
    if (user_id != NULL)
        snprintf(c->user_id, sizeof(c->user_id), "%s", user_id);
    if (hub_link(c, over_cap) != 0) {
        hub_free_client(c);
        return NULL;
    }
    hangup_watch(c->fd, c->serial);
    return c;
}

/* hangup.c reports that the client of stream serial went away: end it now,
 * which frees its slot (the per-user cap) at once. */
static void hub_client_gone(uint64_t serial)
{
    pthread_mutex_lock(&hub_lock);
    for (struct sse_client *c = hub_serials[serial & (HUB_BUCKETS - 1)]; c != NULL; c = c->snext) {
        if (c->serial != serial)
            continue;
        pthread_mutex_lock(&c->lock);
        if (!c->dropped) {
            atomic_fetch_add(&hub_gone, 1);
            hub_client_clear(c);
            c->dropped = 1;
            hub_client_wake(c);
        }
        pthread_mutex_unlock(&c->lock);
        break;
    }
    pthread_mutex_unlock(&hub_lock);
}

/* Puts ev at the head of the ring. Returns 0, or -1 when the ring is at its
 * limit. Client lock held. */
int hub_client_unshift(struct sse_client *c, struct sse_event *ev)
{
    if (hub_client_room(c, 0) != 0)
        return -1;
    c->head = (c->head + c->cap - 1) % c->cap;
    c->ring[c->head] = sse_event_ref(ev);
    c->count++;
    c->queued += ev->len;
    return 0;
}

void hub_client_start(struct sse_client *c, struct sse_event *first, long long min_batch)
{
    uint32_t n = 0;

    pthread_mutex_lock(&c->lock);
    c->min_batch = min_batch;
    c->queued = 0;
    /* Keep the live batches the snapshot does not already hold, in order,
     * behind first (compacted in place: n <= i). */
    for (uint32_t i = 0; i < c->count; i++) {
        struct sse_event *ev = c->ring[(c->head + i) % c->cap];
        if (ev->batch > 0 && ev->batch <= min_batch) {
            sse_event_unref(ev);
            continue;
        }
        c->ring[(c->head + n) % c->cap] = ev;
        c->queued += ev->len;
        n++;
    }
    c->count = n;
    /* The snapshot or replay, then a heartbeat telling the page its
     * interval; neither is held against the byte limit. */
    if (first != NULL && hub_client_unshift(c, first) != 0)
        c->dropped = 1;
    if (hub_client_unshift(c, hub_heartbeat_ev) != 0)
        c->dropped = 1;
    pthread_mutex_unlock(&c->lock);
}

/* Ends a client that cannot keep up: frees its queue, shuts its socket so
 * libmicrohttpd closes it now. Client lock held. */
void hub_client_drop(struct sse_client *c)
{
    atomic_fetch_add(&hub_dropped, 1);
    log_info("sse client dropped", "kind=%s queued_events=%u queued_bytes=%zu",
             c->kind == SSE_PRICES ? "prices" : "alerts", (unsigned)c->count, c->queued);
    hub_client_clear(c);
    c->dropped = 1;
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    hub_client_wake(c);
}

/* Appends ev to c's ring and wakes it; a client at its limits is dropped.
 * Returns 0, or -1 when c was dropped. Client lock held. */
int hub_enqueue(struct sse_client *c, struct sse_event *ev)
{
    if (hub_client_room(c, ev->len) != 0) {
        hub_client_drop(c);
        return -1;
    }
    c->ring[(c->head + c->count) % c->cap] = sse_event_ref(ev);
    c->count++;
    c->queued += ev->len;
    hub_client_wake(c);
    return 0;
}

/* Queues ev for c. hub_lock held. */
static void hub_push(struct sse_client *c, struct sse_event *ev)
{
    pthread_mutex_lock(&c->lock);
    if (!c->dropped && !c->ending && (ev->batch == 0 || ev->batch > c->min_batch))
        hub_enqueue(c, ev);
    pthread_mutex_unlock(&c->lock);
}

void hub_publish_prices(struct sse_event *ev)
{
    pthread_mutex_lock(&hub_lock);
    for (struct sse_client *c = hub_lists[SSE_PRICES]; c != NULL; c = c->next)
        hub_push(c, ev);
    pthread_mutex_unlock(&hub_lock);
}

/* A comment for a client with nothing queued (the others get data). */
static void hub_heartbeat_one(struct sse_client *c)
{
    int busy;

    pthread_mutex_lock(&c->lock);
    busy = c->count > 0 || c->cur != NULL;
    pthread_mutex_unlock(&c->lock);
    if (!busy)
        hub_push(c, hub_heartbeat_ev);
}

void hub_heartbeat(void)
{
    pthread_mutex_lock(&hub_lock);
    for (int k = 0; k < 2; k++) {
        for (struct sse_client *c = hub_lists[k]; c != NULL; c = c->next)
            hub_heartbeat_one(c);
    }
    pthread_mutex_unlock(&hub_lock);
}

void hub_stop(void)
{
    pthread_mutex_lock(&hub_lock);
    hub_stopping = 1;
    for (int k = 0; k < 2; k++) {
        for (struct sse_client *c = hub_lists[k]; c != NULL; c = c->next) {
            pthread_mutex_lock(&c->lock);
            c->ending = 1;
            hub_client_wake(c);
            pthread_mutex_unlock(&c->lock);
        }
    }
    pthread_mutex_unlock(&hub_lock);
}

/* libmicrohttpd asks for the next bytes of the stream: copy what is queued,
 * or suspend until a publisher resumes us. */
static ssize_t hub_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct sse_client *c = cls;
    ssize_t ret;
    size_t n = 0;

    (void)pos;
    pthread_mutex_lock(&c->lock);
    while (n < max && !c->dropped) {
        size_t take;
        if (c->cur == NULL) {
            if (c->count == 0)
                break;
            c->cur = c->ring[c->head];
            c->head = (c->head + 1) % c->cap;
            c->count--;
            c->queued -= c->cur->len;
            c->off = 0;
        }
        take = c->cur->len - c->off;
        if (take > max - n)
            take = max - n;
        memcpy(out + n, c->cur->data + c->off, take);
        n += take;
        c->off += take;
        if (c->off == c->cur->len) {
            atomic_fetch_add(&hub_sent, c->cur->messages);
            sse_event_unref(c->cur);
            c->cur = NULL;
        }
    }
    hub_client_shrink(c);
    if (c->dropped) {
        ret = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (n > 0) {
        ret = (ssize_t)n;
    } else if (c->ending) {
        ret = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        c->suspended = 1;
        MHD_suspend_connection(c->conn);
        ret = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return ret;
}

void hub_client_close(struct sse_client *c)
{
    if (c == NULL)
        return;
    hub_unlink(c);
    hub_free_client(c);
}

static void hub_reader_free(void *cls)
{
    hub_client_close(cls);
}

struct MHD_Response *hub_client_response(struct sse_client *c)
{
    struct MHD_Response *r;

    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HUB_BLOCK_SIZE, hub_reader, c,
                                          hub_reader_free);
    if (r == NULL)
        return NULL;
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache, no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}

/* The raw price streams (stream.c) are counted with the hub's own. */
void hub_counts_get(struct hub_counts *out)
{
    struct stream_counts sc;

    stream_counts_get(&sc);
    pthread_mutex_lock(&hub_lock);
    out->price_streams = hub_open[SSE_PRICES] + sc.open;
    out->alert_streams = hub_open[SSE_ALERTS];
    pthread_mutex_unlock(&hub_lock);
    out->events_sent = atomic_load(&hub_sent) + sc.sent;
    out->clients_dropped = atomic_load(&hub_dropped) + sc.dropped;
    out->alerts_repeated = atomic_load(&hub_repeated);
    out->gaps_filled = atomic_load(&hub_gaps_filled);
    out->clients_gone = atomic_load(&hub_gone) + sc.gone;
}

void hub_free(void)
{
    hangup_stop();
    pthread_mutex_lock(&hub_lock);
    for (int k = 0; k < 2; k++) {
        while (hub_lists[k] != NULL) {
            struct sse_client *c = hub_lists[k];
            hub_lists[k] = c->next;
            c->listed = 0;
            hub_free_client(c);
        }
        hub_open[k] = 0;
    }
    memset(hub_buckets, 0, sizeof(hub_buckets));
    memset(hub_serials, 0, sizeof(hub_serials));
    hub_gap_list = NULL;
    atomic_store(&hub_gap_count, 0);
    pthread_mutex_unlock(&hub_lock);
    sse_event_unref(hub_heartbeat_ev);
    hub_heartbeat_ev = NULL;
}
