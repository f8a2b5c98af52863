/* sse_load: the SSE fan-out load client. Forks several processes (each
 * holds at most LOAD_PER_PROC_MAX sockets: the open-files hard limit), each
 * an epoll loop over its streams, with source addresses spread over
 * 127.0.0.2-251 so no address runs out of ports. The parent publishes the
 * ticks itself (bench tickers, the burst number as the price) to Kafka, so
 * it knows what every stream should get; it measures the target processes'
 * CPU and memory from /proc, and prints the figures, the last line being
 * "RESULT key=value..." for scripts/bench.
 *
 * Per event: latency = receipt time - the tick's timestamp. A tick is
 * counted when its burst is inside the measurement window; lost = streams x
 * tickers x bursts - counted. Without --kafka (a self-ticking floor) the
 * window is by time and only gaps in the sequence count as lost. */
#include <errno.h>
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "contract.h"
#include "kafka.h"
#include "log.h"
#include "message.h"
#include "timeutil.h"

#define LOAD_PER_PROC_MAX 9000
#define LOAD_PROCS_MAX 16
#define LOAD_PIDS_MAX 8
#define LOAD_LINE_MAX 1024
#define LOAD_READ_MAX (256 * 1024)
#define LOAD_PENDING_MAX 200 /* connects in flight per process */
#define LOAD_TRIES 5
#define LOAD_HIST_LIN 1000 /* 1 us buckets below 1 ms */
#define LOAD_HIST_LOG 2600 /* then 0.5 % buckets, up to ~400 s */
#define LOAD_HIST_N (LOAD_HIST_LIN + LOAD_HIST_LOG)
#define LOAD_BURSTS 256 /* bursts whose slowest tick is reported */
#define LOAD_HIST_STEP 1.005

enum load_phase { PH_CONNECT = 0, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };
enum conn_state { CS_IDLE = 0, CS_CONNECTING, CS_HEADERS, CS_STREAM, CS_DEAD };
enum chunk_state { CK_SIZE = 0, CK_DATA, CK_CRLF };

struct load_opts {
    const char *host;
    long port;
    long streams;
    long procs;
    const char *path;
    const char *cookie;
    const char *kafka;
    const char *topic;
    long tickers;
    long interval_ms;
    long warmup_s;
    long duration_s;
    long drain_ms;
    long connect_timeout_s;
    long connect_rate; /* --connect-rate: new streams per second in all (0: as fast as possible) */
    const char *label;
    int any_ticker; /* --any-ticker: time every tick of other tickers too (a real producer) */
    int npids;
    const char *pid_names[LOAD_PIDS_MAX];
    long pids[LOAD_PIDS_MAX];
};

struct load_stats {
    uint64_t hist[LOAD_HIST_N];
    uint64_t max_us;
    uint64_t counted; /* bench ticks inside the window, each once */
    uint64_t dups;    /* a seq not above the last one of its stream/ticker */
    uint64_t gaps;    /* seqs skipped inside one stream/ticker */
    uint64_t others;  /* ticks of other tickers */
    uint64_t bytes;
    uint64_t snap_hist[LOAD_HIST_N]; /* connect() to the snapshot's first tick */
    uint64_t snaps;
    uint32_t burst_max_us[LOAD_BURSTS]; /* by burst number % LOAD_BURSTS */
    long connected;
    long failed; /* never got a 200 stream */
    long http_errors;
    long closed; /* streams that ended after the 200 */
    double cpu_s;
    int finished;
};

struct load_shared {
    _Atomic int phase;
    _Atomic uint32_t lo; /* window: bursts lo..hi; 0 = not yet */
    _Atomic uint32_t hi;
    double run_start; /* ticks stamped before it are a snapshot: ignored */
    struct load_stats child[LOAD_PROCS_MAX];
};

struct conn {
    double t_open; /* when connect() was called */
    int fd;
    uint8_t state;
    uint8_t chunked;
    uint8_t chunk_state;
    uint8_t tries;
    uint8_t overflow;
    uint8_t status_ok;
    uint16_t line_len;
    uint32_t chunk_left;
    char line[LOAD_LINE_MAX];
};

/* One child's world. */
struct load_child {
    const struct load_opts *o;
    struct load_shared *sh;
    struct load_stats *st;
    struct conn *conns;
    uint32_t *last; /* [conn * tickers + ticker]: last seq seen */
    long n;
    long base; /* global index of conns[0], for the source address */
    int ep;
    long next_open;
    long opened;
    double t_start;
    long in_flight;
    double now;
    char request[1024];
    size_t request_len;
};

/* ------------------------------------------------------------ histogram */

static int hist_index(double us)
{
    double i;

    if (us < 0)
        us = 0;
    if (us < LOAD_HIST_LIN)
        return (int)us;
    i = LOAD_HIST_LIN + log(us / LOAD_HIST_LIN) / log(LOAD_HIST_STEP);
    return i >= LOAD_HIST_N - 1 ? LOAD_HIST_N - 1 : (int)i;
}

/* Upper bound of bucket i, in microseconds. */
static double hist_value(int i)
{
    if (i < LOAD_HIST_LIN)
        return i + 1;
    return LOAD_HIST_LIN * pow(LOAD_HIST_STEP, i - LOAD_HIST_LIN + 1);
}

static double hist_percentile(const uint64_t *h, uint64_t total, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)total);
    uint64_t acc = 0;

    if (total == 0)
        return 0;
    for (int i = 0; i < LOAD_HIST_N; i++) {
        acc += h[i];
        if (acc >= want)
            return hist_value(i);
    }
    return hist_value(LOAD_HIST_N - 1);
}

/* ------------------------------------------------------------ child: SSE */

static void load_tick(struct load_child *ch, long ci, const char *json, size_t len)
{
    struct load_stats *st = ch->st;
    uint32_t seq = 0;
    uint32_t lo;
    uint32_t hi;
    uint32_t *last;
    double ts = 0;
    double us;
    int idx = 0;
    int kind = bench_tick_parse(json, len, &idx, &seq, &ts);
    int in_window;

    if (kind < 0 || ts < ch->sh->run_start)
        return;
    if (kind == 0) {
        st->others++;
        /* A real producer's tick: no sequence to check, timed by its own
         * timestamp inside the measurement window. */
        if (!ch->o->any_ticker || atomic_load(&ch->sh->phase) != PH_MEASURE)
            return;
        st->counted++;
        us = (ch->now - ts) * 1e6;
        if (us > 0 && (uint64_t)us > st->max_us)
            st->max_us = (uint64_t)us;
        st->hist[hist_index(us)]++;
        return;
    }
    if (idx >= ch->o->tickers)
        return;
    last = &ch->last[ci * ch->o->tickers + idx];
    if (seq <= *last) {
        st->dups++;
        return;
    }
    if (*last != 0)
        st->gaps += seq - *last - 1;
    *last = seq;
    if (ch->o->kafka != NULL) {
        lo = atomic_load(&ch->sh->lo);
        hi = atomic_load(&ch->sh->hi);
        in_window = lo != 0 && seq >= lo && (hi == 0 || seq <= hi);
    } else {
        in_window = atomic_load(&ch->sh->phase) == PH_MEASURE;
    }
    if (!in_window)
        return;
    st->counted++;
    us = (ch->now - ts) * 1e6;
    if (us > 0 && (uint64_t)us > st->max_us)
        st->max_us = (uint64_t)us;
    if (us > 0 && us > st->burst_max_us[seq % LOAD_BURSTS])
        st->burst_max_us[seq % LOAD_BURSTS] = us < UINT32_MAX ? (uint32_t)us : UINT32_MAX;
    st->hist[hist_index(us)]++;
}

/* One complete line of the response (headers or SSE), without its LF. */
static void load_line(struct load_child *ch, long ci, const char *p, size_t len)
{
    struct conn *c = &ch->conns[ci];

    if (len > 0 && p[len - 1] == '\r')
        len--;
    if (c->state == CS_HEADERS) {
        if (!c->status_ok) {
            c->status_ok =
                len >= 12 && memcmp(p, "HTTP/1.", 7) == 0 && memcmp(p + 8, " 200", 4) == 0 ? 1 : 2;
        } else if (len == 0) {
            c->state = CS_STREAM;
        } else if (len >= 25 && strncasecmp(p, "transfer-encoding:", 18) == 0 &&
                   strncasecmp(p + len - 7, "chunked", 7) == 0) {
            c->chunked = 1;
        }
        return;
    }
    if (len > 5 && memcmp(p, "data:", 5) == 0) {
        size_t skip = p[5] == ' ' ? 6 : 5;
        if (c->t_open > 0) { /* the snapshot's first tick: time to first price */
            double us = (ch->now - c->t_open) * 1e6;
            ch->st->snap_hist[hist_index(us > 0 ? us : 0)]++;
            ch->st->snaps++;
            c->t_open = 0;
        }
        load_tick(ch, ci, p + skip, len - skip);
    }
}

/* Splits bytes into lines, keeping a partial line in the connection. */
static void load_lines(struct load_child *ch, long ci, const char *p, size_t len)
{
    struct conn *c = &ch->conns[ci];

    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl != NULL ? (size_t)(nl - p) : len;
        if (c->line_len == 0 && nl != NULL) {
            load_line(ch, ci, p, take); /* whole line in the read buffer */
        } else if (!c->overflow && c->line_len + take <= LOAD_LINE_MAX) {
            memcpy(c->line + c->line_len, p, take);
            c->line_len = (uint16_t)(c->line_len + take);
            if (nl != NULL)
                load_line(ch, ci, c->line, c->line_len);
        } else {
            c->overflow = 1;
        }
        if (nl == NULL)
            return;
        c->line_len = 0;
        c->overflow = 0;
        p += take + 1;
        len -= take + 1;
        if (c->state == CS_HEADERS && c->status_ok == 2)
            return;
    }
}

/* Decodes chunked framing; returns -1 at the last chunk. */
static int load_chunks(struct load_child *ch, long ci, const char *p, size_t len)
{
    struct conn *c = &ch->conns[ci];

    while (len > 0) {
        if (c->chunk_state == CK_DATA) {
            size_t take = len < c->chunk_left ? len : c->chunk_left;
            load_lines(ch, ci, p, take);
            c->chunk_left -= (uint32_t)take;
            p += take;
            len -= take;
            if (c->chunk_left == 0)
                c->chunk_state = CK_CRLF;
            continue;
        }
        if (*p == '\n') {
            if (c->chunk_state == CK_SIZE) {
                if (c->chunk_left == 0)
                    return -1;
                c->chunk_state = CK_DATA;
            } else {
                c->chunk_state = CK_SIZE;
                c->chunk_left = 0;
            }
        } else if (c->chunk_state == CK_SIZE && c->chunk_left < (1u << 27)) {
            int d = *p >= '0' && *p <= '9'   ? *p - '0'
                    : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                    : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                             : -1;
            if (d >= 0)
                c->chunk_left = c->chunk_left * 16 + (uint32_t)d;
        }
        p++;
        len--;
    }
    return 0;
}

/* Feeds received bytes; returns -1 when the stream is over or refused. */
static int load_feed(struct load_child *ch, long ci, const char *p, size_t len)
{
    struct conn *c = &ch->conns[ci];

    while (c->state == CS_HEADERS && len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl != NULL ? (size_t)(nl - p) + 1 : len;
        load_lines(ch, ci, p, take);
        p += take;
        len -= take;
        if (c->status_ok == 2)
            return -1;
    }
    if (c->state != CS_STREAM || len == 0)
        return 0;
    if (c->chunked)
        return load_chunks(ch, ci, p, len);
    load_lines(ch, ci, p, len);
    return 0;
}

/* ------------------------------------------------------------ child: sockets */

static void load_source(long global, struct sockaddr_in *src)
{
    memset(src, 0, sizeof(*src));
    src->sin_family = AF_INET;
    src->sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(global % 250));
}

static double load_realtime(void)
{
    return bench_now();
}

/* May another stream open now? Under --connect-rate, this child opens its
 * share of the rate, evenly from its start. */
static int load_may_open(struct load_child *ch)
{
    double per_child;

    if (ch->o->connect_rate == 0)
        return 1;
    per_child = (double)ch->o->connect_rate / (double)ch->o->procs;
    return (double)ch->opened < (load_realtime() - ch->t_start) * per_child + 1;
}

static void load_open(struct load_child *ch, long ci)
{
    struct conn *c = &ch->conns[ci];
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ch->o->port)};
    struct sockaddr_in src;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)ci};
    int one = 1;
    int fd;

    c->tries++;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    load_source(ch->base + ci, &src);
    inet_pton(AF_INET, ch->o->host, &dst.sin_addr);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
        goto fail;
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)
        goto fail;
    if (epoll_ctl(ch->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        goto fail;
    c->fd = fd;
    c->state = CS_CONNECTING;
    c->t_open = load_realtime();
    ch->in_flight++;
    return;
fail:
    if (fd >= 0)
        close(fd);
    c->state = CS_DEAD;
    ch->st->failed++;
}

/* Ends a connection; one that never streamed is retried a few times. */
static void load_end(struct load_child *ch, long ci)
{
    struct conn *c = &ch->conns[ci];
    int was = c->state;

    close(c->fd);
    c->fd = -1;
    if (was == CS_STREAM) {
        c->state = CS_DEAD;
        ch->st->closed++;
        return;
    }
    ch->in_flight--;
    if (c->status_ok == 2) {
        ch->st->http_errors++;
    } else if (c->tries < LOAD_TRIES && atomic_load(&ch->sh->phase) == PH_CONNECT) {
        uint8_t tries = c->tries;
        memset(c, 0, sizeof(*c));
        c->fd = -1;
        c->tries = tries;
        c->state = CS_IDLE;
        ch->next_open = ci < ch->next_open ? ci : ch->next_open;
        return;
    }
    c->state = CS_DEAD;
    ch->st->failed++;
}

static void load_connected(struct load_child *ch, long ci)
{
    struct conn *c = &ch->conns[ci];
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)ci};
    int err = 0;
    socklen_t el = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0 ||
        write(c->fd, ch->request, ch->request_len) != (ssize_t)ch->request_len ||
        epoll_ctl(ch->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        load_end(ch, ci);
        return;
    }
    c->state = CS_HEADERS;
}

static void load_readable(struct load_child *ch, long ci, char *buf)
{
    struct conn *c = &ch->conns[ci];
    int was_stream = c->state == CS_STREAM;
    ssize_t n = read(c->fd, buf, LOAD_READ_MAX);
    int rc;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        load_end(ch, ci);
        return;
    }
    ch->st->bytes += (uint64_t)n;
    rc = load_feed(ch, ci, buf, (size_t)n);
    if (!was_stream && c->state == CS_STREAM) {
        ch->st->connected++;
        ch->in_flight--;
    }
    if (rc != 0)
        load_end(ch, ci);
}

static void load_child_loop(struct load_child *ch)
{
    struct epoll_event evs[512];
    char *buf = malloc(LOAD_READ_MAX);

    if (buf == NULL)
        return;
    while (atomic_load(&ch->sh->phase) != PH_DONE) {
        while (ch->in_flight < LOAD_PENDING_MAX && ch->next_open < ch->n && load_may_open(ch)) {
            long ci = ch->next_open++;
            if (ch->conns[ci].state == CS_IDLE) {
                load_open(ch, ci);
                ch->opened++;
            }
        }
        int k = epoll_wait(ch->ep, evs, 512, ch->o->connect_rate > 0 ? 2 : 50);
        ch->now = load_realtime();
        for (int i = 0; i < k; i++) {
            long ci = (long)evs[i].data.u64;
            struct conn *c = &ch->conns[ci];
            if (c->state == CS_CONNECTING)
                load_connected(ch, ci);
            else if (c->state == CS_HEADERS || c->state == CS_STREAM)
                load_readable(ch, ci, buf);
        }
    }
    free(buf);
}

static int load_child_main(const struct load_opts *o, struct load_shared *sh, int idx, long base,
                           long n)
{
    struct load_child ch = {.o = o, .sh = sh, .st = &sh->child[idx], .n = n, .base = base};
    struct rusage ru;
    int len;

    ch.conns = calloc((size_t)n, sizeof(*ch.conns));
    ch.last = calloc((size_t)(n * o->tickers), sizeof(*ch.last));
    ch.ep = epoll_create1(EPOLL_CLOEXEC);
    len = snprintf(ch.request, sizeof(ch.request),
                   "GET %s HTTP/1.1\r\nHost: %s:%ld\r\nAccept: text/event-stream\r\n"
                   "Cache-Control: no-cache\r\n%s%s%s\r\n",
                   o->path, o->host, o->port, o->cookie ? "Cookie: " : "",
                   o->cookie ? o->cookie : "", o->cookie ? "\r\n" : "");
    if (ch.conns == NULL || ch.last == NULL || ch.ep < 0 || len < 0 ||
        (size_t)len >= sizeof(ch.request)) {
        ch.st->failed = n;
        ch.st->finished = 1;
        return 1;
    }
    ch.request_len = (size_t)len;
    for (long i = 0; i < n; i++)
        ch.conns[i].fd = -1;
    ch.t_start = load_realtime();
    load_child_loop(&ch);
    getrusage(RUSAGE_SELF, &ru);
    ch.st->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    ch.st->finished = 1;
    /* The process exits right after: the kernel closes the sockets. */
    return 0;
}

/* ------------------------------------------------------------ parent: /proc */

struct proc_sample {
    double cpu_s; /* utime + stime */
    long rss_kb;
};

static int proc_sample(long pid, struct proc_sample *out)
{
    char path[64];
    char text[4096];
    FILE *f;
    size_t n;
    const char *p;
    unsigned long long ut = 0;
    unsigned long long stt = 0;

    out->cpu_s = 0;
    out->rss_kb = 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    p = strrchr(text, ')');
    /* After ") ": state is field 3; utime and stime are fields 14 and 15. */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
        return -1;
    out->cpu_s = (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(text, sizeof(text), f) != NULL) {
        if (strncmp(text, "VmRSS:", 6) == 0)
            out->rss_kb = strtol(text + 6, NULL, 10);
    }
    fclose(f);
    return 0;
}

static void proc_sample_all(const struct load_opts *o, struct proc_sample *out)
{
    for (int i = 0; i < o->npids; i++)
        proc_sample(o->pids[i], &out[i]);
}

/* ------------------------------------------------------------ parent: ticks */

struct load_injector {
    rd_kafka_t *rk;
    const struct load_opts *o;
    uint32_t seq; /* last burst published */
    uint64_t failed;
    struct timespec next;
};

static void load_publish_burst(struct load_injector *inj)
{
    char tick[BENCH_TICK_MAX];
    char ticker[16];

    inj->seq++;
    for (long i = 0; i < inj->o->tickers; i++) {
        int n = bench_tick_format((int)i, inj->seq, bench_now(), tick, sizeof(tick), ticker);
        if (n < 0 || kafka_produce(inj->rk, inj->o->topic, ticker, strlen(ticker), tick, (size_t)n,
                                   NULL, 100, NULL) != 0)
            inj->failed++;
    }
    rd_kafka_poll(inj->rk, 0);
}

/* Publishes a burst every interval for ms milliseconds (or just waits
 * without a producer). */
static void load_inject_for(struct load_injector *inj, long ms)
{
    struct timespec end;

    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += ms / 1000;
    end.tv_nsec += (ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            return;
        if (inj->rk == NULL) {
            struct timespec step = {0, 50000000L};
            nanosleep(&step, NULL);
            continue;
        }
        if (now.tv_sec > inj->next.tv_sec ||
            (now.tv_sec == inj->next.tv_sec && now.tv_nsec >= inj->next.tv_nsec)) {
            load_publish_burst(inj);
            inj->next.tv_sec += inj->o->interval_ms / 1000;
            inj->next.tv_nsec += (inj->o->interval_ms % 1000) * 1000000L;
            if (inj->next.tv_nsec >= 1000000000L) {
                inj->next.tv_sec++;
                inj->next.tv_nsec -= 1000000000L;
            }
            continue;
        }
        rd_kafka_poll(inj->rk, 5);
    }
}

/* ------------------------------------------------------------ parent */

static void load_usage(void)
{
    fprintf(stderr,
            "usage: sse_load --port P --streams N [--host 127.0.0.1] [--procs K]\n"
            "  [--path /api/stream-prices] [--cookie 'user_id=...'] [--kafka HOST:PORT --topic T]\n"
            "  [--tickers 15] [--interval-ms 1000] [--warmup-s 3] [--duration-s 20]\n"
            "  [--drain-ms 3000] [--connect-timeout-s 120] [--label NAME] [--pid NAME:PID]...\n"
            "  [--any-ticker]   (also time the ticks of a real producer)\n"
            "  [--connect-rate N]   (open N streams a second; time connect to first price)\n");
}

static int load_parse_pid(struct load_opts *o, const char *v)
{
    const char *colon = v != NULL ? strchr(v, ':') : NULL;

    if (colon == NULL || o->npids >= LOAD_PIDS_MAX ||
        bench_parse_long(colon + 1, 1, 1L << 30, &o->pids[o->npids]) != 0)
        return -1;
    o->pid_names[o->npids++] = v;
    return 0;
}

static int load_parse(int argc, char **argv, struct load_opts *o)
{
    *o = (struct load_opts){.host = "127.0.0.1",
                            .path = "/api/stream-prices",
                            .tickers = 15,
                            .interval_ms = 1000,
                            .warmup_s = 3,
                            .duration_s = 20,
                            .drain_ms = 3000,
                            .connect_timeout_s = 120,
                            .label = "run"};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = v != NULL;
        if (strcmp(a, "--any-ticker") == 0) { /* a flag: no value */
            o->any_ticker = 1;
            i--;
            continue;
        }
        if (strcmp(a, "--host") == 0)
            o->host = v;
        else if (strcmp(a, "--port") == 0)
            ok = bench_parse_long(v, 1, 65535, &o->port) == 0;
        else if (strcmp(a, "--streams") == 0)
            ok = bench_parse_long(v, 1, LOAD_PER_PROC_MAX * LOAD_PROCS_MAX, &o->streams) == 0;
        else if (strcmp(a, "--procs") == 0)
            ok = bench_parse_long(v, 1, LOAD_PROCS_MAX, &o->procs) == 0;
        else if (strcmp(a, "--path") == 0)
            o->path = v;
        else if (strcmp(a, "--cookie") == 0)
            o->cookie = v;
        else if (strcmp(a, "--kafka") == 0)
            o->kafka = v;
        else if (strcmp(a, "--topic") == 0)
            o->topic = v;
        else if (strcmp(a, "--tickers") == 0)
            ok = bench_parse_long(v, 1, BENCH_TICKERS_MAX, &o->tickers) == 0;
        else if (strcmp(a, "--interval-ms") == 0)
            ok = bench_parse_long(v, 10, 60000, &o->interval_ms) == 0;
        else if (strcmp(a, "--warmup-s") == 0)
            ok = bench_parse_long(v, 0, 3600, &o->warmup_s) == 0;
        else if (strcmp(a, "--duration-s") == 0)
            ok = bench_parse_long(v, 1, 36000, &o->duration_s) == 0;
        else if (strcmp(a, "--drain-ms") == 0)
            ok = bench_parse_long(v, 0, 600000, &o->drain_ms) == 0;
        else if (strcmp(a, "--connect-timeout-s") == 0)
            ok = bench_parse_long(v, 1, 3600, &o->connect_timeout_s) == 0;
        else if (strcmp(a, "--label") == 0)
            o->label = v;
        else if (strcmp(a, "--connect-rate") == 0)
            ok = bench_parse_long(v, 1, 1000000, &o->connect_rate) == 0;
        else if (strcmp(a, "--pid") == 0)
            ok = load_parse_pid(o, v) == 0;

        else
            ok = 0;
        if (!ok)
            return -1;
    }
    if (o->port == 0 || o->streams == 0 || (o->kafka != NULL && o->topic == NULL))
        return -1;
    if (o->procs == 0)
        o->procs = (o->streams + 7499) / 7500 < 2 ? 2 : (o->streams + 7499) / 7500;
    if (o->procs > o->streams)
        o->procs = o->streams;
    if ((o->streams + o->procs - 1) / o->procs > LOAD_PER_PROC_MAX)
        return -1;
    return 0;
}

static void load_sum(const struct load_shared *sh, long procs, struct load_stats *t)
{
    memset(t, 0, sizeof(*t));
    for (long p = 0; p < procs; p++) {
        const struct load_stats *s = &sh->child[p];
        for (int i = 0; i < LOAD_HIST_N; i++) {
            t->hist[i] += s->hist[i];
            t->snap_hist[i] += s->snap_hist[i];
        }
        t->snaps += s->snaps;
        if (s->max_us > t->max_us)
            t->max_us = s->max_us;
        for (int i = 0; i < LOAD_BURSTS; i++)
            if (s->burst_max_us[i] > t->burst_max_us[i])
                t->burst_max_us[i] = s->burst_max_us[i];
        t->counted += s->counted;
        t->dups += s->dups;
        t->gaps += s->gaps;
        t->others += s->others;
        t->bytes += s->bytes;
        t->connected += s->connected;
        t->failed += s->failed;
        t->http_errors += s->http_errors;
        t->closed += s->closed;
        t->cpu_s += s->cpu_s;
    }
}

static pid_t load_fork(const struct load_opts *o, struct load_shared *sh, pid_t *kids)
{
    long base = 0;

    for (long p = 0; p < o->procs; p++) {
        long n = o->streams / o->procs + (p < o->streams % o->procs ? 1 : 0);
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            /* A parent that dies must not leave the children looping. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(1);
            _exit(load_child_main(o, sh, (int)p, base, n));
        }
        kids[p] = pid;
        base += n;
    }
    return 0;
}

/* Waits until every stream is open or given up on. */
static void load_wait_connected(const struct load_opts *o, struct load_shared *sh,
                                struct load_injector *inj, double *secs)
{
    double t0 = bench_now();
    struct load_stats t;

    for (;;) {
        load_sum(sh, o->procs, &t);
        if (t.connected + t.failed + t.http_errors >= o->streams ||
            bench_now() - t0 > (double)o->connect_timeout_s)
            break;
        load_inject_for(inj, 100);
    }
    *secs = bench_now() - t0;
}

struct load_report {
    struct proc_sample idle[LOAD_PIDS_MAX];
    struct proc_sample open[LOAD_PIDS_MAX];
    struct proc_sample w0[LOAD_PIDS_MAX];
    struct proc_sample w1[LOAD_PIDS_MAX];
    double window_s;
    double connect_s;
    uint32_t lo;
    uint32_t hi;
    uint64_t inject_failed;
};

/* The slowest tick of each burst in the window: whether a p99 comes from
 * every burst or from a few slow ones. */
static void load_print_bursts(const struct load_report *r, const struct load_stats *t)
{
    uint32_t lo = r->lo, hi = r->hi;

    if (lo == 0 || hi < lo)
        return;
    if (hi - lo >= LOAD_BURSTS)
        lo = hi - LOAD_BURSTS + 1;
    printf("slowest tick of each burst %u..%u (ms):", lo, hi);
    for (uint32_t b = lo; b <= hi; b++)
        printf(" %.0f", t->burst_max_us[b % LOAD_BURSTS] / 1000.0);
    printf("\n");
}

static void load_print(const struct load_opts *o, const struct load_shared *sh,
                       const struct load_report *r)
{
    struct load_stats t;
    uint64_t expected;
    double lost;
    double p50;
    double p99;
    double p999;
    long rss_idle = 0;
    long rss_open = 0;
    double cpu = 0;

    load_sum(sh, o->procs, &t);
    expected = o->kafka != NULL ? (uint64_t)t.connected * (uint64_t)o->tickers * (r->hi - r->lo + 1)
                                : t.counted + t.gaps;
    lost = (double)expected - (double)t.counted;
    p50 = hist_percentile(t.hist, t.counted, 0.50) / 1000;
    p99 = hist_percentile(t.hist, t.counted, 0.99) / 1000;
    p999 = hist_percentile(t.hist, t.counted, 0.999) / 1000;
    printf("== %s: %ld streams to %s:%ld%s (%ld client processes)\n", o->label, o->streams, o->host,
           o->port, o->path, o->procs);
    printf("streams: %ld open, %ld failed, %ld refused (non-200), %ld ended early; opened in "
           "%.1f s\n",
           t.connected, t.failed, t.http_errors, t.closed, r->connect_s);
    printf("window: %.1f s, bursts %u..%u of %ld tickers every %ld ms; publish failures %llu\n",
           r->window_s, r->lo, r->hi, o->tickers, o->interval_ms,
           (unsigned long long)r->inject_failed);
    printf("events: %llu counted of %llu expected, lost %.0f (%.4f%%), duplicates %llu, "
           "gaps %llu, other tickers %llu\n",
           (unsigned long long)t.counted, (unsigned long long)expected, lost,
           expected ? 100.0 * lost / (double)expected : 0.0, (unsigned long long)t.dups,
           (unsigned long long)t.gaps, (unsigned long long)t.others);
    printf("latency (receipt - tick timestamp): p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max "
           "%.2f ms\n",
           p50, p99, p999, (double)t.max_us / 1000);
    load_print_bursts(r, &t);
    printf("load client: %.1f CPU-s over %ld processes\n", t.cpu_s, o->procs);
    for (int i = 0; i < o->npids; i++) {
        double c = (r->w1[i].cpu_s - r->w0[i].cpu_s) / (r->window_s > 0 ? r->window_s : 1);
        printf("target %s: RSS idle %ld KiB, with streams %ld KiB, end %ld KiB "
               "(%.2f KiB/stream); CPU %.1f%% during the window\n",
               o->pid_names[i], r->idle[i].rss_kb, r->open[i].rss_kb, r->w1[i].rss_kb,
               t.connected ? (double)(r->open[i].rss_kb - r->idle[i].rss_kb) / (double)t.connected
                           : 0.0,
               100 * c);
        rss_idle += r->idle[i].rss_kb;
        rss_open += r->open[i].rss_kb;
        cpu += c;
    }
    printf("RESULT label=%s streams=%ld open=%ld failed=%ld ended=%ld expected=%llu "
           "counted=%llu lost=%.0f dups=%llu p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f "
           "rss_idle_kb=%ld rss_open_kb=%ld kb_per_stream=%.2f cpu_pct=%.1f "
           "cpu_us_per_event=%.2f client_cpu_s=%.1f any_ticker=%d connect_rate=%ld snaps=%llu "
           "snap_p50_ms=%.2f snap_p99_ms=%.2f\n",
           o->label, o->streams, t.connected, t.failed + t.http_errors, t.closed,
           (unsigned long long)expected, (unsigned long long)t.counted, lost,
           (unsigned long long)t.dups, p50, p99, p999, (double)t.max_us / 1000, rss_idle, rss_open,
           t.connected ? (double)(rss_open - rss_idle) / (double)t.connected : 0.0, 100 * cpu,
           t.counted ? cpu * r->window_s * 1e6 / (double)t.counted : 0.0, t.cpu_s, o->any_ticker,
           o->connect_rate, (unsigned long long)t.snaps,
           hist_percentile(t.snap_hist, t.snaps, 0.50) / 1000,
           hist_percentile(t.snap_hist, t.snaps, 0.99) / 1000);
    fflush(stdout);
}

/* Puts the bench tickers in the webapps' universe (the asset topic, as a
 * producer announces its assets: docs/asset-universe.md) for an hour: a
 * webapp streams no tick of a ticker outside it. */
static int load_announce(struct load_injector *inj)
{
    const char *topics[] = {CONTRACT_TOPIC_ASSETS, NULL};
    char err[KAFKA_ERR_MAX];
    char json[MSG_MAX_BYTES];
    char tick[BENCH_TICK_MAX];
    struct asset_msg a;

    if (kafka_create_topics(inj->o->kafka, topics, 6, 10000, err, sizeof(err)) != 0) {
        log_error("topic create failed", "topic=%s error=\"%s\"", topics[0], err);
        return -1;
    }
    for (long i = 0; i < inj->o->tickers; i++) {
        int n;
        memset(&a, 0, sizeof(a));
        if (bench_tick_format((int)i, 0, bench_now(), tick, sizeof(tick), a.ticker) < 0)
            return -1;
        snprintf(a.company, sizeof(a.company), "Bench %ld", i);
        snprintf(a.display_name, sizeof(a.display_name), "%s", a.ticker);
        snprintf(a.source, sizeof(a.source), "sim");
        a.interval_ms = inj->o->interval_ms;
        a.valid_ms = 3600000;
        a.published_at = time_now();
        n = asset_msg_encode(&a, json, sizeof(json));
        if (n < 0 || kafka_produce(inj->rk, topics[0], a.ticker, strlen(a.ticker), json, (size_t)n,
                                   NULL, 1000, NULL) != 0)
            return -1;
    }
    rd_kafka_flush(inj->rk, 5000);
    return 0;
}

static int load_injector_start(const struct load_opts *o, struct load_injector *inj)
{
    const char *topics[] = {o->topic, NULL};
    /* Static: the producer keeps a pointer to its options (kafka.h). */
    static struct kafka_opts ko;
    char err[KAFKA_ERR_MAX];

    ko = (struct kafka_opts){.bootstrap = o->kafka, .client_id = "sse_load"};
    memset(inj, 0, sizeof(*inj));
    inj->o = o;
    clock_gettime(CLOCK_MONOTONIC, &inj->next);
    if (o->kafka == NULL)
        return 0;
    if (kafka_create_topics(o->kafka, topics, 6, 10000, err, sizeof(err)) != 0) {
        log_error("topic create failed", "topic=%s error=\"%s\"", o->topic, err);
        return -1;
    }
    inj->rk = kafka_producer_new(&ko, err, sizeof(err));
    if (inj->rk == NULL) {
        log_error("kafka producer failed", "error=\"%s\"", err);
        return -1;
    }
    return load_announce(inj);
}

static void load_run(const struct load_opts *o, struct load_shared *sh, struct load_injector *inj,
                     struct load_report *r)
{
    double t0;

    load_wait_connected(o, sh, inj, &r->connect_s);
    proc_sample_all(o, r->open);
    atomic_store(&sh->phase, PH_WARMUP);
    load_inject_for(inj, o->warmup_s * 1000);
    atomic_store(&sh->lo, inj->seq + 1);
    atomic_store(&sh->phase, PH_MEASURE);
    proc_sample_all(o, r->w0);
    t0 = bench_now();
    load_inject_for(inj, o->duration_s * 1000);
    r->window_s = bench_now() - t0;
    proc_sample_all(o, r->w1);
    r->lo = atomic_load(&sh->lo);
    r->hi = inj->seq;
    atomic_store(&sh->hi, inj->seq > 0 ? inj->seq : 1);
    atomic_store(&sh->phase, PH_DRAIN);
    load_inject_for(inj, o->drain_ms);
    r->inject_failed = inj->failed;
}

int main(int argc, char **argv)
{
    struct load_opts o;
    struct load_injector inj;
    struct load_report r;
    struct load_shared *sh;
    pid_t kids[LOAD_PROCS_MAX] = {0};
    int rc = 1;

    log_init("sse_load", LOG_LVL_WARN);
    if (load_parse(argc, argv, &o) != 0) {
        load_usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&r, 0, sizeof(r));
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    memset(sh, 0, sizeof(*sh));
    if (load_injector_start(&o, &inj) != 0)
        goto out;
    proc_sample_all(&o, r.idle);
    sh->run_start = bench_now();
    if (load_fork(&o, sh, kids) != 0)
        goto out;
    load_run(&o, sh, &inj, &r);
    rc = 0;
out:
    atomic_store(&sh->phase, PH_DONE);
    for (long p = 0; p < o.procs; p++) {
        if (kids[p] > 0)
            waitpid(kids[p], NULL, 0);
    }
    if (rc == 0)
        load_print(&o, sh, &r);
    if (inj.rk != NULL)
        kafka_producer_close(inj.rk, 5000);
    munmap(sh, sizeof(*sh));
    return rc;
}
