/* hub_priv: the hub's internals, shared by hub.c (the streams, their rings
 * and the price fan-out) and hub_alerts.c (the delivery rule of alert
 * streams). Not for other modules: they use webapp.h. Locks as in hub.c:
 * hub_lock, then a client's lock. */
#ifndef WEBAPP_HUB_PRIV_H
#define WEBAPP_HUB_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "webapp.h"

#define HUB_BUCKETS 4096 /* user id -> alert streams, a power of two */

struct sse_client {
    struct sse_client *prev; /* the list of its kind */
    struct sse_client *next;
    struct sse_client *bnext; /* alert streams: the user's bucket chain */
    struct sse_client *gprev; /* alert streams with a gap: the gap list */
    struct sse_client *gnext;
    struct sse_client *snext; /* the serial bucket chain (hangup reports) */
    uint64_t serial;          /* this stream's number for hangup.c */
    struct MHD_Connection *conn;
    pthread_mutex_t lock;
    struct sse_event *cur; /* being written, from off */
    size_t off;
    struct sse_event **ring;
    uint32_t cap; /* ring slots, <= hub_queue_max */
    uint32_t head;
    uint32_t count;
    size_t queued;       /* bytes of the events in the ring */
    long long min_batch; /* prices: batches <= it were in the snapshot */
    struct evid cursor;  /* alerts: the last position delivered (started) */
    int fd;
    uint8_t kind;
    uint8_t suspended; /* we suspended it: the next push resumes it */
    uint8_t ending;    /* end the stream once the ring is drained */
    uint8_t dropped;   /* too slow, or the client went away: close at once */
    uint8_t listed;
    uint8_t started; /* alerts: the replay is queued, the cursor holds */
    uint8_t gap;     /* alerts: on the gap list, waiting for the history */
    char user_id[COOKIE_USER_LEN + 1];
};

extern pthread_mutex_t hub_lock;
extern struct sse_client *hub_buckets[HUB_BUCKETS]; /* a user's alert streams (bnext) */
extern struct sse_event *hub_heartbeat_ev;
extern struct sse_client *hub_gap_list; /* alert streams with a gap */
extern atomic_int hub_gap_count;
extern atomic_uint_fast64_t hub_repeated;
extern atomic_uint_fast64_t hub_gaps_filled;

/* The bucket of user_id in hub_buckets. */
uint32_t hub_bucket(const char *user_id);

/* Appends ev to c's ring and wakes it; a client at its limits is dropped.
 * Returns 0, or -1 when c was dropped. Client lock held. */
int hub_enqueue(struct sse_client *c, struct sse_event *ev);

/* Puts ev at the head of the ring (not held against the byte limit).
 * Returns 0, or -1 when the ring is at its limit. Client lock held. */
int hub_client_unshift(struct sse_client *c, struct sse_event *ev);

/* Ends a client that cannot keep up. Client lock held. */
void hub_client_drop(struct sse_client *c);

/* Takes c off the gap list. hub_lock held. */
void hub_gap_unlink(struct sse_client *c);

#endif
