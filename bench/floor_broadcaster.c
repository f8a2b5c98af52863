/* floor_broadcaster: the floor of the SSE fan-out benchmark. A minimal
 * raw-socket broadcaster — one thread, plain epoll, no HTTP library — that
 * answers any request with SSE headers and then sends every burst of ticks
 * to every client with one write() each. It reads the same Kafka ticks as
 * the webapp (or makes its own), so sse_load measures both the same way and
 * the ratio webapp/floor shows what the webapp adds to the kernel's cost.
 *
 *   floor_broadcaster (--port P | --unix PATH) (--kafka HOST:PORT --topic T |
 *                     --self-tickers N) [--interval-ms 1000] [--max-clients 19000]
 *
 * On a Unix socket (--unix) it stands where a webapp replica stands behind
 * nginx: nginx in front of such floors is the least any proxied fan-out
 * can cost. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kafka.h"
#include "log.h"
#include "signals.h"

#define FLOOR_FDS_MAX 65536
#define FLOOR_UNIX_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
#define FLOOR_PENDING_MAX (64 * 1024) /* unsent bytes before a client is dropped */
#define FLOOR_BURST_MAX (256 * 1024)
#define FLOOR_EVENTS 512
#define FLOOR_HEADERS                                                                              \
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"            \
    "Transfer-Encoding: chunked\r\n\r\n"

struct floor_opts {
    long port;
    const char *unix_path;
    const char *kafka;
    const char *topic;
    long self_tickers;
    long interval_ms;
    long max_clients;
};

struct floor_client {
    int streaming;
    int index; /* in floor_streams while streaming */
    char *pending;
    size_t pending_len;
};

static struct floor_client *floor_clients; /* by fd */
static int *floor_streams;                 /* fds of the streaming clients */
static int floor_nstreams;
static int floor_nclients;
static int floor_epoll = -1;
static uint64_t floor_dropped;
static uint64_t floor_bursts;
static uint64_t floor_ticks;

static void floor_usage(void)
{
    fprintf(stderr, "usage: floor_broadcaster (--port P | --unix PATH) (--kafka HOST:PORT "
                    "--topic T | --self-tickers N) [--interval-ms MS] [--max-clients N]\n");
}

static int floor_parse(int argc, char **argv, struct floor_opts *o)
{
    o->interval_ms = 1000;
    o->max_clients = 19000;
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok;
        if (strcmp(argv[i], "--port") == 0)
            ok = bench_parse_long(v, 1, 65535, &o->port) == 0;
        else if (strcmp(argv[i], "--unix") == 0)
            ok = (o->unix_path = v) != NULL && *v != '\0' && strlen(v) < FLOOR_UNIX_PATH_MAX;
        else if (strcmp(argv[i], "--kafka") == 0)
            ok = (o->kafka = v) != NULL;
        else if (strcmp(argv[i], "--topic") == 0)
            ok = (o->topic = v) != NULL;
        else if (strcmp(argv[i], "--self-tickers") == 0)
            ok = bench_parse_long(v, 1, BENCH_TICKERS_MAX, &o->self_tickers) == 0;
        else if (strcmp(argv[i], "--interval-ms") == 0)
            ok = bench_parse_long(v, 1, 3600000, &o->interval_ms) == 0;
        else if (strcmp(argv[i], "--max-clients") == 0)
            ok = bench_parse_long(v, 1, FLOOR_FDS_MAX - 64, &o->max_clients) == 0;
        else
            ok = 0;
        if (!ok)
            return -1;
    }
    if ((o->port == 0) == (o->unix_path == NULL) || (o->kafka == NULL) == (o->self_tickers == 0) ||
        (o->kafka != NULL && o->topic == NULL))
        return -1;
    return 0;
}

static void floor_close(int fd)
{
    struct floor_client *c = &floor_clients[fd];

    if (c->streaming) {
        int last = floor_streams[--floor_nstreams];
        floor_streams[c->index] = last;
        floor_clients[last].index = c->index;
    }
    free(c->pending);
    memset(c, 0, sizeof(*c));
    close(fd);
    floor_nclients--;
}

static int floor_watch(int fd, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};

    return epoll_ctl(floor_epoll, op, fd, &ev);
}

/* Queues the unsent tail of a write; drops the client past the cap. */
static void floor_keep(int fd, const char *data, size_t len)
{
    struct floor_client *c = &floor_clients[fd];
    char *p;

    if (c->pending_len + len > FLOOR_PENDING_MAX) {
        floor_dropped++;
        floor_close(fd);
        return;
    }
    p = realloc(c->pending, c->pending_len + len);
    if (p == NULL) {
        floor_close(fd);
        return;
    }
    if (c->pending_len == 0)
        floor_watch(fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    memcpy(p + c->pending_len, data, len);
    c->pending = p;
    c->pending_len += len;
}

/* One write() of data to fd; what the socket does not take is kept. */
static void floor_send(int fd, const char *data, size_t len)
{
    ssize_t n;

    if (floor_clients[fd].pending_len > 0) {
        floor_keep(fd, data, len);
        return;
    }
    n = write(fd, data, len);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        floor_close(fd);
        return;
    }
    if (n < 0)
        n = 0;
    if ((size_t)n < len)
        floor_keep(fd, data + n, len - (size_t)n);
}

static void floor_flush(int fd)
{
    struct floor_client *c = &floor_clients[fd];
    ssize_t n = write(fd, c->pending, c->pending_len);

    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        floor_close(fd);
        return;
    }
    if (n <= 0)
        return;
    memmove(c->pending, c->pending + n, c->pending_len - (size_t)n);
    c->pending_len -= (size_t)n;
    if (c->pending_len == 0)
        floor_watch(fd, EPOLLIN, EPOLL_CTL_MOD);
}

/* One chunk holding the whole burst, sent to every stream. */
static void floor_broadcast(const char *data, size_t len)
{
    static char chunk[FLOOR_BURST_MAX + 32];
    int head;

    if (len == 0 || len > FLOOR_BURST_MAX)
        return;
    floor_bursts++;
    head = snprintf(chunk, sizeof(chunk), "%zx\r\n", len);
    memcpy(chunk + head, data, len);
    memcpy(chunk + head + len, "\r\n", 2);
    /* Backwards: floor_close moves the last stream into the freed slot. */
    for (int i = floor_nstreams - 1; i >= 0; i--)
        floor_send(floor_streams[i], chunk, (size_t)head + len + 2);
}

static void floor_accept(int lfd, long max_clients)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (fd >= FLOOR_FDS_MAX || floor_nclients >= max_clients ||
            floor_watch(fd, EPOLLIN, EPOLL_CTL_ADD) != 0) {
            close(fd);
            continue;
        }
        floor_nclients++;
    }
}

/* A request (any bytes) starts the stream; later bytes are ignored, EOF
 * closes. */
static void floor_readable(int fd)
{
    struct floor_client *c = &floor_clients[fd];
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof(tmp));

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        floor_close(fd);
        return;
    }
    if (n < 0 || c->streaming)
        return;
    c->streaming = 1;
    c->index = floor_nstreams;
    floor_streams[floor_nstreams++] = fd;
    floor_send(fd, FLOOR_HEADERS, sizeof(FLOOR_HEADERS) - 1);
}

/* Drains the Kafka queue into one burst. */
static void floor_kafka_burst(rd_kafka_t *rk, int efd, char *burst)
{
    char drain[256];
    size_t len = 0;
    rd_kafka_message_t *m;

    while (read(efd, drain, sizeof(drain)) > 0)
        ;
    while ((m = rd_kafka_consumer_poll(rk, 0)) != NULL) {
        if (m->err == 0 && m->payload != NULL && m->len < BENCH_TICK_MAX * 4 &&
            memchr(m->payload, '\n', m->len) == NULL && len + m->len + 8 < FLOOR_BURST_MAX) {
            memcpy(burst + len, "data: ", 6);
            memcpy(burst + len + 6, m->payload, m->len);
            memcpy(burst + len + 6 + m->len, "\n\n", 2);
            len += m->len + 8;
            floor_ticks++;
        }
        rd_kafka_message_destroy(m);
    }
    floor_broadcast(burst, len);
}

static void floor_self_burst(int tfd, long tickers, uint32_t *seq, char *burst)
{
    char tick[BENCH_TICK_MAX];
    char ticker[16];
    uint64_t expirations;
    size_t len = 0;

    if (read(tfd, &expirations, sizeof(expirations)) != (ssize_t)sizeof(expirations))
        return;
    ++*seq;
    for (long i = 0; i < tickers; i++) {
        int n = bench_tick_format((int)i, *seq, bench_now(), tick, sizeof(tick), ticker);
        if (n < 0)
            continue;
        len += (size_t)snprintf(burst + len, FLOOR_BURST_MAX - len, "data: %s\n\n", tick);
    }
    floor_broadcast(burst, len);
}

/* Listens on 127.0.0.1:port, or on the Unix socket path (replacing a
 * stale one). */
static int floor_listen(long port, const char *path)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    struct sockaddr *addr = (struct sockaddr *)&sa;
    socklen_t addrlen = sizeof(sa);
    int one = 1;
    int fd =
        socket(path != NULL ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (path != NULL) {
        memcpy(su.sun_path, path, strlen(path) + 1); /* length checked by floor_parse */
        unlink(path);
        addr = (struct sockaddr *)&su;
        addrlen = sizeof(su);
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    /* nginx's workers run as another user: they must be able to connect. */
    if (bind(fd, addr, addrlen) != 0 || (path != NULL && chmod(path, 0666) != 0) ||
        listen(fd, 4096) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Fires every interval_ms, at the multiples of it on the wall clock: floors
 * started apart (two behind one nginx) send their bursts at the same
 * moments, as webapps reading one topic do. */
static int floor_timer(long interval_ms)
{
    struct itimerspec its = {
        .it_interval = {.tv_sec = interval_ms / 1000, .tv_nsec = (interval_ms % 1000) * 1000000}};
    struct timespec now;
    int64_t next;
    int fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);

    if (fd < 0 || clock_gettime(CLOCK_REALTIME, &now) != 0)
        goto fail;
    next = ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000) / interval_ms * interval_ms +
           interval_ms;
    its.it_value.tv_sec = next / 1000;
    its.it_value.tv_nsec = (next % 1000) * 1000000;
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
        goto fail;
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

/* The Kafka reader whose queue wakes epoll through a pipe. */
static rd_kafka_t *floor_reader(const struct floor_opts *o, int pipefd[2])
{
    /* Static: the client keeps a pointer to its options (kafka.h). */
    static struct kafka_opts ko;
    char err[KAFKA_ERR_MAX];
    rd_kafka_queue_t *q;
    rd_kafka_t *rk;

    ko = (struct kafka_opts){.bootstrap = o->kafka, .client_id = "floor"};
    rk = kafka_reader_new(&ko, o->topic, err, sizeof(err));
    if (rk == NULL) {
        log_error("kafka reader failed", "error=\"%s\"", err);
        return NULL;
    }
    if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
        kafka_consumer_close(rk);
        return NULL;
    }
    q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_queue_io_event_enable(q, pipefd[1], "1", 1);
    rd_kafka_queue_destroy(q);
    return rk;
}

static void floor_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void floor_loop(const struct floor_opts *o, int lfd, rd_kafka_t *rk, int wake_fd)
{
    struct epoll_event evs[FLOOR_EVENTS];
    char *burst = malloc(FLOOR_BURST_MAX);
    uint32_t seq = 0;

    if (burst == NULL)
        return;
    while (signals_running()) {
        int n = epoll_wait(floor_epoll, evs, FLOOR_EVENTS, 500);
        /* The queue wakes the pipe only on empty -> non-empty: drain it
         * now and then in case something got in before the pipe was set. */
        if (n == 0 && rk != NULL)
            floor_kafka_burst(rk, wake_fd, burst);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd)
                floor_accept(lfd, o->max_clients);
            else if (fd == wake_fd && rk != NULL)
                floor_kafka_burst(rk, wake_fd, burst);
            else if (fd == wake_fd)
                floor_self_burst(wake_fd, o->self_tickers, &seq, burst);
            else if (floor_clients[fd].pending_len > 0 && (evs[i].events & EPOLLOUT))
                floor_flush(fd);
            else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                floor_readable(fd);
        }
    }
    free(burst);
}

int main(int argc, char **argv)
{
    struct floor_opts o = {0};
    int pipefd[2] = {-1, -1};
    rd_kafka_t *rk = NULL;
    int lfd = -1;
    int wake_fd = -1;
    int rc = 1;

    log_init("floor", LOG_LVL_INFO);
    if (floor_parse(argc, argv, &o) != 0) {
        floor_usage();
        return 2;
    }
    signals_install();
    floor_raise_nofile();
    floor_clients = calloc(FLOOR_FDS_MAX, sizeof(*floor_clients));
    floor_streams = calloc(FLOOR_FDS_MAX, sizeof(*floor_streams));
    floor_epoll = epoll_create1(EPOLL_CLOEXEC);
    lfd = floor_listen(o.port, o.unix_path);
    if (floor_clients == NULL || floor_streams == NULL || floor_epoll < 0 || lfd < 0) {
        log_error("startup failed", "port=%ld unix=%s error=\"%s\"", o.port,
                  o.unix_path != NULL ? o.unix_path : "-", strerror(errno));
        goto out;
    }
    if (o.kafka != NULL) {
        rk = floor_reader(&o, pipefd);
        wake_fd = pipefd[0];
    } else {
        wake_fd = floor_timer(o.interval_ms);
    }
    if (wake_fd < 0 || floor_watch(lfd, EPOLLIN, EPOLL_CTL_ADD) != 0 ||
        floor_watch(wake_fd, EPOLLIN, EPOLL_CTL_ADD) != 0)
        goto out;
    log_info("floor listening", "port=%ld unix=%s source=%s", o.port,
             o.unix_path != NULL ? o.unix_path : "-", rk != NULL ? o.topic : "self");
    floor_loop(&o, lfd, rk, wake_fd);
    log_info("floor stopped", "streams=%d dropped=%llu bursts=%llu ticks=%llu", floor_nstreams,
             (unsigned long long)floor_dropped, (unsigned long long)floor_bursts,
             (unsigned long long)floor_ticks);
    rc = 0;
out:
    if (rk != NULL)
        kafka_consumer_close(rk);
    for (int i = 0; i < 2; i++) {
        if (pipefd[i] >= 0)
            close(pipefd[i]);
    }
    if (rk == NULL && wake_fd >= 0)
        close(wake_fd);
    if (lfd >= 0)
        close(lfd);
    if (floor_epoll >= 0)
        close(floor_epoll);
    if (floor_clients != NULL) {
        for (int fd = 0; fd < FLOOR_FDS_MAX; fd++)
            free(floor_clients[fd].pending);
    }
    free(floor_clients);
    free(floor_streams);
    return rc;
}
