/* stream: the price streams the front (front.c) serves on raw sockets,
 * outside libmicrohttpd, so a stream costs a few dozen bytes instead of a
 * connection pool (WEBAPP_CONN_MEMORY, about half of it resident). The
 * streams are spread over WEBAPP_STREAM_THREADS loops, each one thread with
 * its own epoll set, so every core writes. A batch of ticks is framed as one
 * HTTP chunk once, shared by every loop, and each stream gets it with one
 * send(); only a stream that cannot take it all keeps a queue.
 *
 * Behaviour is the libmicrohttpd path's (hub.c): the same response headers,
 * a heartbeat and the snapshot first, then every batch the snapshot does not
 * hold; a heartbeat to idle streams; a stream over SSE_QUEUE_MAX(_BYTES)
 * dropped; a client that goes away (FIN, reset) closed at once; on stop
 * each stream ends after what is queued, with the last chunk.
 *
 * Ownership: a loop's clients and their queues are its thread's alone; the
 * inbox (new sockets, events, flags) is under the loop's lock.
 *
 * A pass over the streams takes the batches waiting in the inbox together
 * (each stream gets all it lacks with one writev), and every
 * STREAM_JOIN_EVERY streams looks at the inbox again: a batch published
 * while the pass is under way (the late piece of a burst Kafka handed over in
 * two) joins it for the streams still ahead, and a short second pass gives it
 * to those behind, instead of a whole pass of its own after this one. */
#include "webapp.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define STREAM_LOOPS_MAX 64
#define STREAM_EVENTS 512
#define STREAM_WAIT_MS 200 /* how soon stream_free is seen */
#define STREAM_RING_START 4
#define STREAM_IOV 16
#define STREAM_HEAD_MAX 512
#define STREAM_LAST_CHUNK "0\r\n\r\n"
#define STREAM_INBOX_MAX 65536 /* sockets or events waiting for a loop */
#define STREAM_JOIN_EVERY 256  /* streams between looks at the inbox in a pass */

struct stream_cl {
    int fd;
    uint32_t idx;            /* in its loop's cl[] */
    long long held;          /* the last batch it holds: its snapshot's, then each one sent */
    struct sse_event **ring; /* queued frames; the head one sent from off */
    uint32_t cap;
    uint32_t head;
    uint32_t count;
    uint32_t out_armed; /* EPOLLOUT is watched */
    size_t off;
    size_t queued;
    int ending;
};

struct stream_loop {
    pthread_t thread;
    int started;
    int epfd;
    int evfd;
    pthread_mutex_t lock; /* the inbox: */
    int *fds;
    size_t nfds;
    struct sse_event **evs;
    size_t nevs;
    int heartbeat;
    int stopping;
    /* the loop thread's own: */
    struct stream_cl **cl;
    uint32_t n;
    uint32_t ncap;
    struct stream_cl **byfd;
    int stop_seen;
};

static struct stream_opts stream_o;
static struct stream_loop stream_loops[STREAM_LOOPS_MAX];
static long stream_nloops;
static size_t stream_maxfd;
static atomic_int stream_quit;
static atomic_uint stream_rr;
static atomic_long stream_open;
static atomic_uint_fast64_t stream_sent;
static atomic_uint_fast64_t stream_dropped;
static atomic_uint_fast64_t stream_gone;
static struct sse_event *stream_hb;   /* the heartbeat as a chunk */
static struct sse_event *stream_last; /* the last chunk */

struct sse_event *stream_frame(const char *data, size_t len, uint32_t messages, long long batch)
{
    char hex[24];
    int h = snprintf(hex, sizeof(hex), "%zx\r\n", len);
    struct sse_event *ev = sse_event_alloc((size_t)h + len + 2, messages, batch);

    if (ev == NULL)
        return NULL;
    memcpy(ev->data, hex, (size_t)h);
    memcpy(ev->data + h, data, len);
    memcpy(ev->data + h + len, "\r\n", 2);
    return ev;
}

static void stream_wake(struct stream_loop *l)
{
    uint64_t one = 1;

    if (write(l->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("stream wake failed", "error=\"%s\"", strerror(errno));
}

static void stream_watch(struct stream_loop *l, struct stream_cl *c, int out)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0);
    ev.data.fd = c->fd;
    epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = (uint32_t)out;
}

static void stream_close(struct stream_loop *l, struct stream_cl *c)
{
    struct stream_cl *last = l->cl[--l->n];

    last->idx = c->idx;
    l->cl[c->idx] = last;
    l->byfd[c->fd] = NULL;
    for (uint32_t i = 0; i < c->count; i++)
        sse_event_unref(c->ring[(c->head + i) % c->cap]);
    close(c->fd); /* leaves the epoll set with it */
    free(c->ring);
    free(c);
    atomic_fetch_sub(&stream_open, 1);
}

static void stream_drop(struct stream_loop *l, struct stream_cl *c)
{
    atomic_fetch_add(&stream_dropped, 1);
    log_info("sse client dropped", "kind=prices queued_events=%u queued_bytes=%zu",
             (unsigned)c->count, c->queued);
    stream_close(l, c);
}

/* Queues ev (its first off bytes already sent). Returns 0, or -1 when the
 * client is at its limits (dropped, and freed). */
static int stream_queue(struct stream_loop *l, struct stream_cl *c, struct sse_event *ev,
                        size_t off)
{
    if (c->count > 0 && (c->count >= (uint32_t)stream_o.queue_max ||
                         c->queued + ev->len > (size_t)stream_o.queue_max_bytes)) {
        stream_drop(l, c);
        return -1;
    }
    if (c->count == c->cap) {
        uint32_t cap = c->cap * 2;
        struct sse_event **ring = malloc(cap * sizeof(*ring));
        if (ring == NULL) {
            stream_drop(l, c);
            return -1;
        }
        for (uint32_t i = 0; i < c->count; i++)
            ring[i] = c->ring[(c->head + i) % c->cap];
        free(c->ring);
        c->ring = ring;
        c->cap = cap;
        c->head = 0;
    }
    if (c->count == 0)
        c->off = off;
    c->ring[(c->head + c->count) % c->cap] = sse_event_ref(ev);
    c->count++;
    c->queued += ev->len;
    if (!c->out_armed)
        stream_watch(l, c, 1);
    return 0;
}

/* Sends what is queued. Returns 0, or -1 when c was closed. */
static int stream_flush(struct stream_loop *l, struct stream_cl *c)
{
    while (c->count > 0) {
        struct iovec iov[STREAM_IOV];
        int n = 0;
        ssize_t w;
        for (uint32_t i = 0; i < c->count && n < STREAM_IOV; i++, n++) {
            struct sse_event *ev = c->ring[(c->head + i) % c->cap];
            size_t skip = i == 0 ? c->off : 0;
            iov[n].iov_base = ev->data + skip;
            iov[n].iov_len = ev->len - skip;
        }
        w = writev(c->fd, iov, n);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (w < 0) {
            atomic_fetch_add(&stream_gone, 1);
            stream_close(l, c);
            return -1;
        }
        while (w > 0) {
            struct sse_event *ev = c->ring[c->head];
            size_t left = ev->len - c->off;
            if ((size_t)w < left) {
                c->off += (size_t)w;
                break;
            }
            w -= (ssize_t)left;
            atomic_fetch_add(&stream_sent, ev->messages);
            c->queued -= ev->len;
            c->head = (c->head + 1) % c->cap;
            c->count--;
            c->off = 0;
            sse_event_unref(ev);
        }
        if (c->count > 0 && c->off > 0)
            return 0; /* the socket is full */
    }
    if (c->ending) {
        stream_close(l, c);
        return -1;
    }
    if (c->out_armed)
        stream_watch(l, c, 0);
    return 0;
}

/* Sends evs[0..n) to c: one writev() when nothing is queued, else behind
 * the queue; what the socket does not take is queued. */
static void stream_send_n(struct stream_loop *l, struct stream_cl *c, struct sse_event *const *evs,
                          size_t n)
{
    struct iovec iov[STREAM_IOV];
    size_t i = 0;
    ssize_t w;

    if (c->count > 0) {
        for (; i < n; i++)
            if (stream_queue(l, c, evs[i], 0) != 0)
                return; /* dropped */
        return;
    }
    for (size_t k = 0; k < n; k++) {
        iov[k].iov_base = evs[k]->data;
        iov[k].iov_len = evs[k]->len;
    }
    w = n == 1 ? send(c->fd, evs[0]->data, evs[0]->len, MSG_NOSIGNAL | MSG_DONTWAIT)
               : writev(c->fd, iov, (int)n);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        atomic_fetch_add(&stream_gone, 1);
        stream_close(l, c);
        return;
    }
    if (w < 0)
        w = 0;
    for (; i < n && (size_t)w >= evs[i]->len; i++) {
        w -= (ssize_t)evs[i]->len;
        atomic_fetch_add(&stream_sent, evs[i]->messages);
    }
    if (i == n) {
        if (c->ending)
            stream_close(l, c);
        return;
    }
    if (stream_queue(l, c, evs[i], (size_t)w) != 0)
        return;
    for (i++; i < n; i++)
        if (stream_queue(l, c, evs[i], 0) != 0)
            return;
}

static void stream_send(struct stream_loop *l, struct stream_cl *c, struct sse_event *ev)
{
    stream_send_n(l, c, &ev, 1);
}

/* The Date value as libmicrohttpd writes it (RFC 7231 IMF-fixdate). */
static void stream_date(char *out, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The response head (libmicrohttpd's headers, in its order), the heartbeat
 * and the snapshot, as one event. */
static struct sse_event *stream_first(long long *batch)
{
    char head[STREAM_HEAD_MAX], date[64], hex[24];
    struct sse_event *snap = prices_snapshot(stream_o.retry_ms, batch);
    struct sse_event *ev = NULL;
    size_t body;
    int h, x;

    if (snap == NULL)
        return NULL;
    stream_date(date, sizeof(date));
    h = snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\n"
                 "Date: %s\r\n"
                 "%s"
                 "Content-Type: text/event-stream; charset=utf-8\r\n"
                 "Cache-Control: no-cache, no-store\r\n"
                 "X-Accel-Buffering: no\r\n"
                 "X-Served-By: %s\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n",
                 date, reply_is_stopping() ? "Connection: close\r\n" : "", stream_o.instance);
    body = hub_heartbeat_len() + snap->len;
    x = snprintf(hex, sizeof(hex), "%zx\r\n", body);
    if (h < 0 || (size_t)h >= sizeof(head))
        goto out;
    ev = sse_event_alloc((size_t)h + (size_t)x + body + 2, snap->messages, 0);
    if (ev == NULL)
        goto out;
    memcpy(ev->data, head, (size_t)h);
    memcpy(ev->data + h, hex, (size_t)x);
    memcpy(ev->data + h + x, hub_heartbeat_data(), hub_heartbeat_len());
    memcpy(ev->data + (size_t)h + (size_t)x + hub_heartbeat_len(), snap->data, snap->len);
    memcpy(ev->data + (size_t)h + (size_t)x + body, "\r\n", 2);
out:
    sse_event_unref(snap);
    return ev;
}

/* A new stream on fd (its request head consumed): registered first, then
 * the snapshot read, so no batch falls between them (batches are published
 * to this loop's inbox, which this thread alone drains). */
static void stream_begin(struct stream_loop *l, int fd)
{
    struct stream_cl *c = NULL;
    struct sse_event *first = NULL;
    struct epoll_event ev;

    if ((size_t)fd >= stream_maxfd || l->stop_seen)
        goto fail;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto fail;
    c->ring = malloc(STREAM_RING_START * sizeof(*c->ring));
    if (c->ring == NULL)
        goto fail;
    c->cap = STREAM_RING_START;
    c->fd = fd;
    if (l->n == l->ncap) {
        uint32_t cap = l->ncap ? l->ncap * 2 : 1024;
        struct stream_cl **cl = realloc(l->cl, cap * sizeof(*cl));
        if (cl == NULL)
            goto fail;
        l->cl = cl;
        l->ncap = cap;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        goto fail;
    first = stream_first(&c->held);
    if (first == NULL)
        goto fail;
    c->idx = l->n;
    l->cl[l->n++] = c;
    l->byfd[fd] = c;
    atomic_fetch_add(&stream_open, 1);
    stream_send(l, c, first);
    sse_event_unref(first);
    return;
fail:
    if (c != NULL)
        free(c->ring);
    free(c);
    close(fd);
}

/* Moves the batches published since into b (up to STREAM_IOV in all);
 * sockets and flags stay in the inbox for the next round. */
static void stream_join(struct stream_loop *l, struct sse_event **b, size_t *nb)
{
    size_t take, k;

    pthread_mutex_lock(&l->lock);
    take = l->nevs < STREAM_IOV - *nb ? l->nevs : STREAM_IOV - *nb;
    if (take > 0) {
        for (k = 0; k < take; k++)
            b[(*nb)++] = l->evs[k];
        memmove(l->evs, l->evs + take, (l->nevs - take) * sizeof(*l->evs));
        l->nevs -= take;
    }
    pthread_mutex_unlock(&l->lock);
}

/* The batches b[0..nb) (in publishing order) to every stream, each getting
 * those it does not hold in one write; with join (no older batch waits
 * elsewhere), batches published meanwhile join (stream_join). Drops the
 * references of b. */
static void stream_batches(struct stream_loop *l, struct sse_event **b, size_t nb, int join)
{
    size_t before;

    do {
        before = nb;
        for (uint32_t i = l->n, seen = 0; i-- > 0; seen++) {
            struct stream_cl *c = l->cl[i];
            size_t k = 0;
            if (join && seen % STREAM_JOIN_EVERY == STREAM_JOIN_EVERY - 1 && nb < STREAM_IOV)
                stream_join(l, b, &nb);
            while (k < nb && b[k]->batch <= c->held)
                k++;
            if (k == nb)
                continue;
            c->held = b[nb - 1]->batch;
            stream_send_n(l, c, b + k, nb - k);
        }
    } while (nb > before); /* those passed before a batch joined lack it */
    for (size_t k = 0; k < nb; k++)
        sse_event_unref(b[k]);
}

static void stream_heartbeat_all(struct stream_loop *l)
{
    for (uint32_t i = l->n; i-- > 0;) {
        if (l->cl[i]->count == 0)
            stream_send(l, l->cl[i], stream_hb);
    }
}

static void stream_end_all(struct stream_loop *l)
{
    for (uint32_t i = l->n; i-- > 0;) {
        struct stream_cl *c = l->cl[i];
        c->ending = 1;
        stream_send(l, c, stream_last);
    }
}

/* Takes the inbox and acts on it in order: sockets first (they read the
 * snapshot now, so the batches behind them are after it or skipped). */
static void stream_inbox(struct stream_loop *l)
{
    int *fds;
    struct sse_event **evs;
    size_t nfds, nevs;
    int hb, stop;
    uint64_t v;

    if (read(l->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&l->lock);
    fds = l->fds;
    nfds = l->nfds;
    evs = l->evs;
    nevs = l->nevs;
    hb = l->heartbeat;
    stop = l->stopping;
    l->fds = NULL;
    l->nfds = 0;
    l->evs = NULL;
    l->nevs = 0;
    l->heartbeat = 0;
    pthread_mutex_unlock(&l->lock);
    for (size_t i = 0; i < nfds; i++)
        stream_begin(l, fds[i]);
    for (size_t i = 0; i < nevs; i += STREAM_IOV) {
        struct sse_event *b[STREAM_IOV];
        size_t nb = nevs - i < STREAM_IOV ? nevs - i : STREAM_IOV;
        memcpy(b, evs + i, nb * sizeof(*b));
        stream_batches(l, b, nb, i + nb == nevs);
    }
    if (hb)
        stream_heartbeat_all(l);
    if (stop && !l->stop_seen) {
        l->stop_seen = 1;
        stream_end_all(l);
    }
    free(fds);
    free(evs);
}

/* The client sent something: a request after the stream's (ignored, as
 * libmicrohttpd ignores it on a stream), or its end. */
static void stream_readable(struct stream_loop *l, struct stream_cl *c, uint32_t events)
{
    char sink[512];
    ssize_t r = 0;

    if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        for (int i = 0; i < 8; i++) {
            r = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
            if (r <= 0)
                break;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r > 0)
            return;
    }
    atomic_fetch_add(&stream_gone, 1);
    stream_close(l, c);
}

static void *stream_main(void *arg)
{
    struct stream_loop *l = arg;
    struct epoll_event evs[STREAM_EVENTS];

    while (!atomic_load(&stream_quit)) {
        int n = epoll_wait(l->epfd, evs, STREAM_EVENTS, STREAM_WAIT_MS);
        if (n < 0 && errno != EINTR) {
            log_error("stream loop failed", "error=\"%s\"", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            struct stream_cl *c;
            if (fd == l->evfd) {
                stream_inbox(l);
                continue;
            }
            c = l->byfd[fd];
            if (c == NULL)
                continue; /* closed earlier in this round */
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                stream_readable(l, c, evs[i].events);
                if (l->byfd[fd] != c)
                    continue;
            }
            if (evs[i].events & EPOLLOUT)
                stream_flush(l, c);
        }
    }
    return NULL;
}

static int stream_loop_init(struct stream_loop *l)
{
    struct epoll_event ev;

    memset(l, 0, sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->byfd = calloc(stream_maxfd, sizeof(*l->byfd));
    if (l->epfd < 0 || l->evfd < 0 || l->byfd == NULL || pthread_mutex_init(&l->lock, NULL) != 0)
        return -1;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = l->evfd;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) != 0)
        return -1;
    if (pthread_create(&l->thread, NULL, stream_main, l) != 0)
        return -1;
    l->started = 1;
    return 0;
}

int stream_start(const struct stream_opts *o)
{
    struct rlimit rl;

    stream_o = *o;
    atomic_store(&stream_quit, 0);
    stream_maxfd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur > stream_maxfd)
        stream_maxfd = rl.rlim_cur > (1u << 22) ? (1u << 22) : (size_t)rl.rlim_cur;
    stream_hb = stream_frame(hub_heartbeat_data(), hub_heartbeat_len(), 0, 0);
    stream_last = sse_event_new(STREAM_LAST_CHUNK, sizeof(STREAM_LAST_CHUNK) - 1, 0, 0);
    if (stream_hb == NULL || stream_last == NULL)
        return -1;
    stream_nloops = o->threads < STREAM_LOOPS_MAX ? o->threads : STREAM_LOOPS_MAX;
    for (long i = 0; i < stream_nloops; i++) {
        if (stream_loop_init(&stream_loops[i]) != 0) {
            stream_nloops = i + 1;
            stream_free();
            return -1;
        }
    }
    return 0;
}

int stream_adopt(int fd)
{
    struct stream_loop *l;
    int *fds;
    int rc = -1;

    if (stream_nloops == 0)
        return -1;
    l = &stream_loops[atomic_fetch_add(&stream_rr, 1) % (unsigned)stream_nloops];
    pthread_mutex_lock(&l->lock);
    if (!l->stopping && l->nfds < STREAM_INBOX_MAX) {
        fds = realloc(l->fds, (l->nfds + 1) * sizeof(*fds));
        if (fds != NULL) {
            l->fds = fds;
            l->fds[l->nfds++] = fd;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&l->lock);
    if (rc == 0)
        stream_wake(l);
    return rc;
}

void stream_publish(struct sse_event *ev)
{
    struct sse_event *fr;

    if (stream_nloops == 0 || atomic_load(&stream_open) == 0)
        return;
    fr = stream_frame(ev->data, ev->len, ev->messages, ev->batch);
    if (fr == NULL)
        return;
    for (long i = 0; i < stream_nloops; i++) {
        struct stream_loop *l = &stream_loops[i];
        struct sse_event **evs;
        int queued = 0;
        pthread_mutex_lock(&l->lock);
        if (l->nevs < STREAM_INBOX_MAX) {
            evs = realloc(l->evs, (l->nevs + 1) * sizeof(*evs));
            if (evs != NULL) {
                l->evs = evs;
                l->evs[l->nevs++] = sse_event_ref(fr);
                queued = 1;
            }
        }
        pthread_mutex_unlock(&l->lock);
        if (queued)
            stream_wake(l);
    }
    sse_event_unref(fr);
}

static void stream_flag(int heartbeat)
{
    for (long i = 0; i < stream_nloops; i++) {
        struct stream_loop *l = &stream_loops[i];
        pthread_mutex_lock(&l->lock);
        if (heartbeat)
            l->heartbeat = 1;
        else
            l->stopping = 1;
        pthread_mutex_unlock(&l->lock);
        stream_wake(l);
    }
}

void stream_heartbeat(void)
{
    stream_flag(1);
}

void stream_stop(void)
{
    stream_flag(0);
}

long stream_count(void)
{
    return atomic_load(&stream_open);
}

void stream_counts_get(struct stream_counts *out)
{
    out->open = atomic_load(&stream_open);
    out->sent = atomic_load(&stream_sent);
    out->dropped = atomic_load(&stream_dropped);
    out->gone = atomic_load(&stream_gone);
}

void stream_free(void)
{
    atomic_store(&stream_quit, 1);
    for (long i = 0; i < stream_nloops; i++) {
        struct stream_loop *l = &stream_loops[i];
        if (l->started)
            pthread_join(l->thread, NULL);
        while (l->n > 0)
            stream_close(l, l->cl[l->n - 1]);
        for (size_t j = 0; j < l->nfds; j++)
            close(l->fds[j]);
        for (size_t j = 0; j < l->nevs; j++)
            sse_event_unref(l->evs[j]);
        free(l->fds);
        free(l->evs);
        free(l->cl);
        free(l->byfd);
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->evfd >= 0)
            close(l->evfd);
        pthread_mutex_destroy(&l->lock);
        memset(l, 0, sizeof(*l));
    }
    stream_nloops = 0;
    sse_event_unref(stream_hb);
    sse_event_unref(stream_last);
    stream_hb = NULL;
    stream_last = NULL;
}
