/* tracker: one growable ring of {offset, done} per partition, in consume
 * order; completing the head pops every done entry after it. */
#include "tracker.h"

#include <stdlib.h>
#include <string.h>

#define TRACKER_PARTITIONS_MAX 65536

struct entry {
    int64_t offset;
    int done;
};

struct window {
    struct entry *e; /* ring of cap entries */
    size_t cap, head, len;
};

struct tracker {
    struct window *w; /* indexed by partition */
    size_t nw;
    long pending;
};

struct tracker *tracker_new(void)
{
    return calloc(1, sizeof(struct tracker));
}

void tracker_free(struct tracker *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nw; i++)
        free(t->w[i].e);
    free(t->w);
    free(t);
}

static struct window *tracker_window(struct tracker *t, int32_t partition, int create)
{
    size_t p = (size_t)partition;

    if (partition < 0 || partition >= TRACKER_PARTITIONS_MAX)
        return NULL;
    if (p >= t->nw) {
        size_t n = p + 1;
        struct window *w;
        if (!create)
            return NULL;
        w = realloc(t->w, n * sizeof(*w));
        if (w == NULL)
            return NULL;
        memset(w + t->nw, 0, (n - t->nw) * sizeof(*w));
        t->w = w;
        t->nw = n;
    }
    return &t->w[p];
}

static struct entry *window_at(struct window *w, size_t i)
{
    return &w->e[(w->head + i) % w->cap];
}

static int window_grow(struct window *w)
{
    size_t cap = w->cap ? w->cap * 2 : 64;
    struct entry *e = malloc(cap * sizeof(*e));

    if (e == NULL)
        return -1;
    for (size_t i = 0; i < w->len; i++)
        e[i] = *window_at(w, i);
    free(w->e);
    w->e = e;
    w->cap = cap;
    w->head = 0;
    return 0;
}

int tracker_add(struct tracker *t, int32_t partition, int64_t offset)
{
    struct window *w = tracker_window(t, partition, 1);
    struct entry *e;

    if (w == NULL)
        return -1;
    if (w->len > 0 && offset <= window_at(w, w->len - 1)->offset) {
        /* Re-fetched from an older committed offset: the old entries will
         * never complete in order any more, forget them. */
        for (size_t i = 0; i < w->len; i++)
            t->pending -= !window_at(w, i)->done;
        w->len = 0;
        w->head = 0;
    }
    if (w->len == w->cap && window_grow(w) != 0)
        return -1;
    e = window_at(w, w->len);
    e->offset = offset;
    e->done = 0;
    w->len++;
    t->pending++;
    return 0;
}

int64_t tracker_done(struct tracker *t, int32_t partition, int64_t offset)
{
    struct window *w = tracker_window(t, partition, 0);
    int64_t store = -1;
    size_t lo = 0, hi;

    if (w == NULL || w->len == 0)
        return -1;
    /* Offsets increase along the ring: binary search. */
    hi = w->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (window_at(w, mid)->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == w->len || window_at(w, lo)->offset != offset || window_at(w, lo)->done)
        return -1;
    window_at(w, lo)->done = 1;
    t->pending--;
    while (w->len > 0 && window_at(w, 0)->done) {
        store = window_at(w, 0)->offset + 1;
        w->head = (w->head + 1) % w->cap;
        w->len--;
    }
    return store;
}

/* Read by the tests only; declared in tests/notifier/tracker_probe.h. */
long tracker_pending(const struct tracker *t);
long tracker_pending(const struct tracker *t)
{
    return t->pending;
}
