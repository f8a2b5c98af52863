/* hub_alerts: how an alert stream takes its alerts. Each started stream
 * holds a cursor, the history position of the last alert it delivered, and
 * takes an alert only when it comes right after it; one at or before it was
 * delivered already; one further on means the stream missed one: it goes on
 * the gap list and the fan-out's alert thread fills it from the user's
 * history (hub_gaps_take, hub_gap_fill). docs/exactly-once.md has the whole
 * protocol; webapp.h the contract. Locks as in hub.c. */
#include "webapp.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_priv.h"

/* Takes c off the gap list. hub_lock held. */
void hub_gap_unlink(struct sse_client *c)
{
    if (!c->gap)
        return;
    if (c->gprev != NULL)
        c->gprev->gnext = c->gnext;
    else
        hub_gap_list = c->gnext;
    if (c->gnext != NULL)
        c->gnext->gprev = c->gprev;
    c->gprev = c->gnext = NULL;
    c->gap = 0;
    atomic_fetch_sub(&hub_gap_count, 1);
}

/* Puts c on the gap list: it missed an alert. hub_lock and c's lock held. */
static void hub_gap_link(struct sse_client *c)
{
    if (c->gap)
        return;
    c->gap = 1;
    c->gprev = NULL;
    c->gnext = hub_gap_list;
    if (hub_gap_list != NULL)
        hub_gap_list->gprev = c;
    hub_gap_list = c;
    atomic_fetch_add(&hub_gap_count, 1);
}

/* The delivery rule of a started alert stream (webapp.h, hub_alert_start).
 * hub_lock and c's lock held. */
static void hub_alert_apply(struct sse_client *c, struct sse_event *ev)
{
    if (!ev->has_pos) { /* not from the store: nothing to place it by */
        hub_enqueue(c, ev);
        return;
    }
    if (c->gap)
        return; /* the history read that fills the gap holds it */
    if (evid_cmp(&ev->pos, &c->cursor) <= 0) {
        atomic_fetch_add(&hub_repeated, 1);
        return;
    }
    if (ev->has_prev && evid_cmp(&ev->prev, &c->cursor) == 0) {
        if (hub_enqueue(c, ev) == 0)
            c->cursor = ev->pos;
        return;
    }
    hub_gap_link(c);
}

void hub_publish_alert(const char *user_id, struct sse_event *ev)
{
    pthread_mutex_lock(&hub_lock);
    for (struct sse_client *c = hub_buckets[hub_bucket(user_id)]; c != NULL; c = c->bnext) {
        if (strcmp(c->user_id, user_id) != 0)
            continue;
        pthread_mutex_lock(&c->lock);
        if (c->dropped || c->ending)
            ; /* going away */
        else if (c->started)
            hub_alert_apply(c, ev);
        else
            hub_enqueue(c, ev); /* sorted out by hub_alert_start */
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&hub_lock);
}

void hub_alert_start(struct sse_client *c, struct sse_event *first, const struct evid *cursor)
{
    struct sse_event **held = NULL;
    uint32_t n;

    pthread_mutex_lock(&hub_lock);
    pthread_mutex_lock(&c->lock);
    /* Take out what arrived while the replay was read, in order. */
    n = c->count;
    if (n > 0) {
        held = malloc(n * sizeof(*held));
        if (held == NULL) {
            hub_client_drop(c);
            goto out;
        }
        for (uint32_t i = 0; i < n; i++)
            held[i] = c->ring[(c->head + i) % c->cap];
        c->count = 0;
        c->head = 0;
        c->queued = 0;
    }
    c->cursor = *cursor;
    c->started = 1;
    if (hub_client_unshift(c, first) != 0 || hub_client_unshift(c, hub_heartbeat_ev) != 0)
        c->dropped = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (!c->dropped)
            hub_alert_apply(c, held[i]);
        sse_event_unref(held[i]);
    }
out:
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&hub_lock);
    free(held);
}

int hub_gaps_pending(void)
{
    return atomic_load(&hub_gap_count) > 0;
}

int hub_gaps_take(struct hub_gap *out, int max)
{
    int n = 0;

    pthread_mutex_lock(&hub_lock);
    for (struct sse_client *c = hub_gap_list; c != NULL; c = c->gnext) {
        int i;
        pthread_mutex_lock(&c->lock);
        for (i = 0; i < n && strcmp(out[i].user_id, c->user_id) != 0; i++)
            ;
        if (i < n) {
            if (evid_cmp(&c->cursor, &out[i].from) < 0)
                out[i].from = c->cursor;
        } else if (n < max) {
            snprintf(out[n].user_id, sizeof(out[n].user_id), "%s", c->user_id);
            out[n].from = c->cursor;
            n++;
        }
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&hub_lock);
    return n;
}

void hub_gap_fill(const char *user_id, const struct evid *from, struct sse_event *const *evs, int n,
                  const struct evid *tail)
{
    pthread_mutex_lock(&hub_lock);
    for (struct sse_client *c = hub_buckets[hub_bucket(user_id)]; c != NULL; c = c->bnext) {
        if (!c->gap || strcmp(c->user_id, user_id) != 0)
            continue;
        pthread_mutex_lock(&c->lock);
        /* A stream behind from (opened meanwhile) waits for the next read. */
        if (evid_cmp(&c->cursor, from) >= 0) {
            for (int i = 0; i < n && !c->dropped; i++) {
                if (evid_cmp(&evs[i]->pos, &c->cursor) > 0 && hub_enqueue(c, evs[i]) == 0)
                    c->cursor = evs[i]->pos;
            }
            if (evid_cmp(tail, &c->cursor) > 0)
                c->cursor = *tail;
            hub_gap_unlink(c);
            atomic_fetch_add(&hub_gaps_filled, 1);
        }
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&hub_lock);
}
