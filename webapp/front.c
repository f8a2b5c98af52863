/* front: the webapp's listening socket. One thread accepts, looks at the
 * first bytes of each connection without consuming them (MSG_PEEK), and
 * passes a plain price stream request (head.c) to the raw streams
 * (stream.c); every other connection goes, unread, to libmicrohttpd
 * (MHD_add_connection), which then serves it exactly as when it accepted it
 * itself. A connection waits here at most WEBAPP_CONN_TIMEOUT_S for its
 * head, as it would in libmicrohttpd.
 *
 * Ownership: a waiting connection's socket is this thread's; on handing
 * over, libmicrohttpd or stream.c owns it (and closes it on failure). */
#include "webapp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

#define FRONT_PEEK_MAX (32 * 1024) /* a head longer than this is MHD's */
#define FRONT_EVENTS 256
#define FRONT_WAIT_MS 200  /* how soon front_stop is seen */
#define FRONT_PEEKS_MAX 64 /* a head that comes in more pieces is MHD's */
#define FRONT_BACKLOG 4096
#define FRONT_PAUSE_MS 100 /* out of file descriptors: accept again after */

/* A connection waiting for its head. */
struct front_conn {
    int fd;
    int peeks;
    int64_t deadline;
    socklen_t alen;
    struct sockaddr_storage addr;
    struct front_conn *prev;
    struct front_conn *next;
};

static const struct webapp_config *front_cfg;
static struct MHD_Daemon *front_mhd;
static int front_fd = -1;  /* TCP: LISTEN_HOST:WEBAPP_PORT */
static int front_ufd = -1; /* Unix: WEBAPP_UNIX_SOCKET, or -1 */
/* epoll data of the listening sockets (a waiting connection's is its front_conn) */
static char front_tcp_tag, front_unix_tag;
static int front_epfd = -1;
static pthread_t front_thread;
static int front_running;
static atomic_int front_quit;
static atomic_int front_quiet; /* front_quiesce was called */
static struct front_conn *front_waiting;
static char front_peek[FRONT_PEEK_MAX];

static void front_unlink(struct front_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (front_waiting == c)
        front_waiting = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = NULL;
}

/* To libmicrohttpd, unread; it closes the socket when it cannot take it. */
static void front_to_mhd(struct front_conn *c)
{
    if (MHD_add_connection(front_mhd, c->fd, (const struct sockaddr *)&c->addr, c->alen) != MHD_YES)
        log_debug("connection refused by the http server", "error=\"%s\"", strerror(errno));
    c->fd = -1;
}

/* A price stream: its head consumed, the socket to stream.c. */
static void front_to_stream(struct front_conn *c, size_t head_len)
{
    ssize_t r = recv(c->fd, front_peek, head_len, MSG_DONTWAIT);

    if (r != (ssize_t)head_len || atomic_load(&front_quiet) || stream_adopt(c->fd) != 0)
        close(c->fd);
    c->fd = -1;
}

/* Looks at what c sent so far. Returns 1 when c was handed over or closed
 * (c->fd is -1 then), 0 when it waits for more. */
static int front_look(struct front_conn *c)
{
    ssize_t n = recv(c->fd, front_peek, sizeof(front_peek), MSG_PEEK | MSG_DONTWAIT);
    size_t head_len = 0;
    enum head_verdict v;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) { /* gone before a request */
        close(c->fd);
        c->fd = -1;
        return 1;
    }
    v = head_classify(front_peek, (size_t)n, &head_len);
    if (v == HEAD_MORE && ((size_t)n == sizeof(front_peek) || ++c->peeks > FRONT_PEEKS_MAX))
        v = HEAD_OTHER;
    if (v == HEAD_MORE)
        return 0;
    /* Leave this epoll set before another owner adds it to theirs. */
    epoll_ctl(front_epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (v == HEAD_STREAM_PRICES && stream_count() < front_cfg->max_connections)
        front_to_stream(c, head_len);
    else
        front_to_mhd(c);
    return 1;
}

static void front_accept_one(int fd, const struct sockaddr_storage *addr, socklen_t alen)
{
    struct front_conn *c = calloc(1, sizeof(*c));
    struct epoll_event ev;

    if (c == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->addr = *addr;
    c->alen = alen;
    c->deadline = time_mono_ms() + front_cfg->conn_timeout_s * 1000;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = c;
    if (epoll_ctl(front_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        free(c);
        return;
    }
    /* Most clients send their request with the handshake's last packet. */
    if (front_look(c)) {
        free(c);
        return;
    }
    c->next = front_waiting;
    if (front_waiting != NULL)
        front_waiting->prev = c;
    front_waiting = c;
}

/* Accepts what is pending on lfd. Returns -1 when out of file descriptors. */
static int front_accept(int lfd)
{
    for (int i = 0; i < FRONT_EVENTS; i++) {
        struct sockaddr_storage addr;
        socklen_t alen = sizeof(addr);
        int fd = accept4(lfd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                return -1;
            return 0; /* EAGAIN, or the client gave up (ECONNABORTED) */
        }
        front_accept_one(fd, &addr, alen);
    }
    return 0;
}

static void front_expire(int64_t now, int all)
{
    struct front_conn *c = front_waiting;

    while (c != NULL) {
        struct front_conn *next = c->next;
        if (all || now >= c->deadline) {
            front_unlink(c);
            close(c->fd); /* leaves the epoll set */
            free(c);
        }
        c = next;
    }
}

static void front_listen_arm(int on)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = on ? EPOLLIN : 0;
    if (front_fd >= 0) {
        ev.data.ptr = &front_tcp_tag;
        epoll_ctl(front_epfd, EPOLL_CTL_MOD, front_fd, &ev);
    }
    if (front_ufd >= 0) {
        ev.data.ptr = &front_unix_tag;
        epoll_ctl(front_epfd, EPOLL_CTL_MOD, front_ufd, &ev);
    }
}

static void front_close_listeners(void)
{
    if (front_fd >= 0)
        close(front_fd);
    front_fd = -1;
    if (front_ufd >= 0) {
        close(front_ufd);
        unlink(front_cfg->unix_socket);
    }
    front_ufd = -1;
}

static void *front_main(void *arg)
{
    struct epoll_event evs[FRONT_EVENTS];
    int64_t next_expire = time_mono_ms() + 1000;
    int64_t paused_until = 0;

    (void)arg;
    while (!atomic_load(&front_quit)) {
        int n = epoll_wait(front_epfd, evs, FRONT_EVENTS, FRONT_WAIT_MS);
        int64_t now = time_mono_ms();
        if (n < 0 && errno != EINTR) {
            log_error("front loop failed", "error=\"%s\"", strerror(errno));
            break;
        }
        if (atomic_load(&front_quiet)) {
            front_close_listeners();
            front_expire(now, 1);
            continue;
        }
        for (int i = 0; i < n; i++) {
            struct front_conn *c = evs[i].data.ptr;
            if (evs[i].data.ptr == &front_tcp_tag || evs[i].data.ptr == &front_unix_tag) {
                if (front_accept(evs[i].data.ptr == &front_tcp_tag ? front_fd : front_ufd) != 0) {
                    front_listen_arm(0);
                    paused_until = now + FRONT_PAUSE_MS;
                }
                continue;
            }
            if (front_look(c)) {
                front_unlink(c);
                free(c);
            }
        }
        if (paused_until != 0 && now >= paused_until) {
            paused_until = 0;
            front_listen_arm(1);
        }
        if (now >= next_expire) {
            front_expire(now, 0);
            next_expire = now + 1000;
        }
    }
    front_expire(0, 1);
    return NULL;
}

/* WEBAPP_UNIX_SOCKET: the same server on a Unix socket, for an nginx on the
 * same host (a hop without TCP: about half the work per event of a loopback
 * connection). A socket left by an earlier run is replaced; any other file
 * there is an error. */
static int front_listen_unix(const struct webapp_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_un su;
    struct stat st;
    size_t len = strlen(cfg->unix_socket);

    if (len == 0)
        return 0;
    memset(&su, 0, sizeof(su));
    su.sun_family = AF_UNIX;
    if (len >= sizeof(su.sun_path)) {
        snprintf(err, errlen, "WEBAPP_UNIX_SOCKET: longer than %zu bytes", sizeof(su.sun_path) - 1);
        return -1;
    }
    memcpy(su.sun_path, cfg->unix_socket, len + 1);
    if (lstat(su.sun_path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "WEBAPP_UNIX_SOCKET: %s exists and is not a socket", su.sun_path);
            return -1;
        }
        unlink(su.sun_path);
    }
    front_ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (front_ufd < 0 || bind(front_ufd, (const struct sockaddr *)&su, sizeof(su)) != 0 ||
        chmod(su.sun_path, 0666) != 0 || listen(front_ufd, FRONT_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", su.sun_path, strerror(errno));
        if (front_ufd >= 0)
            close(front_ufd);
        front_ufd = -1;
        return -1;
    }
    return 0;
}

static int front_listen(const struct webapp_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    int one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->common.listen_host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "LISTEN_HOST: not an IPv4 address");
        return -1;
    }
    front_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (front_fd < 0 || setsockopt(front_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(front_fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(front_fd, FRONT_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%ld (in use, or limits too high)",
                 cfg->common.listen_host, cfg->port);
        if (front_fd >= 0)
            close(front_fd);
        front_fd = -1;
        return -1;
    }
    return front_listen_unix(cfg, err, errlen);
}

int front_start(const struct webapp_config *cfg, struct MHD_Daemon *d, char *err, size_t errlen)
{
    struct epoll_event ev;

    front_cfg = cfg;
    front_mhd = d;
    atomic_store(&front_quit, 0);
    atomic_store(&front_quiet, 0);
    if (front_listen(cfg, err, errlen) != 0)
        return -1;
    front_epfd = epoll_create1(EPOLL_CLOEXEC);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &front_tcp_tag;
    if (front_epfd < 0 || epoll_ctl(front_epfd, EPOLL_CTL_ADD, front_fd, &ev) != 0) {
        snprintf(err, errlen, "cannot start the front thread");
        front_stop();
        return -1;
    }
    ev.data.ptr = &front_unix_tag;
    if ((front_ufd >= 0 && epoll_ctl(front_epfd, EPOLL_CTL_ADD, front_ufd, &ev) != 0) ||
        pthread_create(&front_thread, NULL, front_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the front thread");
        front_stop();
        return -1;
    }
    front_running = 1;
    return 0;
}

void front_quiesce(void)
{
    atomic_store(&front_quiet, 1);
    /* Refuses new connections now (Linux stops listening on SHUT_RD); the
     * thread closes the socket itself, so no accept() meets a reused fd. */
    if (front_fd >= 0)
        shutdown(front_fd, SHUT_RDWR);
    if (front_ufd >= 0)
        shutdown(front_ufd, SHUT_RDWR);
}

void front_stop(void)
{
    atomic_store(&front_quit, 1);
    if (front_running)
        pthread_join(front_thread, NULL);
    front_running = 0;
    front_close_listeners();
    if (front_epfd >= 0)
        close(front_epfd);
    front_epfd = -1;
}
