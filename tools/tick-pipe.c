/* tick-pipe: a line-at-a-time Kafka producer. Each stdin line "KEY<TAB>VALUE"
 * is produced to TOPIC as soon as it is read (linger 0): kcat -P reads its
 * input in large blocks, so a line written to it waits for more input or
 * EOF, which would add its own delay to every latency sample and hold back a
 * chaos scenario's tick. The alert-latency benchmark (bench/alert_latency.py)
 * and the chaos suite (tests/chaos/harness.py) both publish their ticks
 * through it. It keeps going through broker outages (each message is retried
 * for up to ten minutes, a full local queue is waited out) and exits at EOF
 * after flushing.
 *
 *   tick-pipe BOOTSTRAP TOPIC
 *
 * Exit status: 0 when every line was delivered, 1 when some was not (or the
 * producer could not be made), 2 on a usage error. A line without a tab or
 * over TICK_PIPE_LINE_MAX bytes is skipped with a warning. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"

#define TICK_PIPE_LINE_MAX 65536
#define TICK_PIPE_FLUSH_MS 30000
/* Librdkafka's own retries: a message waits out a broker restart. */
#define TICK_PIPE_MESSAGE_TIMEOUT "600000"

/* Produces one "KEY\tVALUE" line (without its newline), waiting while the
 * local queue is full. Returns 0, or -1 when the line has no tab or the
 * client refused it (logged). */
static int tick_pipe_line(rd_kafka_t *rk, const char *topic, const char *line, size_t len)
{
    const char *tab = memchr(line, '\t', len);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    size_t klen;

    if (tab == NULL) {
        log_warn("line without a tab skipped", "bytes=%zu", len);
        return -1;
    }
    klen = (size_t)(tab - line);
    while (kafka_produce(rk, topic, line, klen, tab + 1, len - klen - 1, NULL, 1000, &err) != 0) {
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            log_warn("produce failed", "error=%s", rd_kafka_err2name(err));
            return -1;
        }
    }
    return 0;
}

/* Reads stdin to EOF, producing each whole line as it arrives; delivery
 * reports are served while it waits. Returns the number of lines skipped. */
static long tick_pipe_run(rd_kafka_t *rk, const char *topic)
{
    static char buf[TICK_PIPE_LINE_MAX];
    size_t have = 0;
    long skipped = 0;

    for (;;) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        ssize_t n;
        char *nl;

        rd_kafka_poll(rk, 0);
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        n = read(STDIN_FILENO, buf + have, sizeof(buf) - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        while ((nl = memchr(buf, '\n', have)) != NULL) {
            size_t len = (size_t)(nl - buf);
            if (tick_pipe_line(rk, topic, buf, len) != 0)
                skipped++;
            memmove(buf, nl + 1, have - len - 1);
            have -= len + 1;
        }
        if (have == sizeof(buf)) {
            log_warn("line too long skipped", "max_bytes=%d", TICK_PIPE_LINE_MAX);
            skipped++;
            have = 0;
        }
    }
    return skipped;
}

int main(int argc, char **argv)
{
    static const char *const extra[] = {"message.timeout.ms", TICK_PIPE_MESSAGE_TIMEOUT,
                                        "reconnect.backoff.max.ms", "1000", NULL};
    struct kafka_opts ko = {.client_id = "tick-pipe", .extra = extra};
    struct kafka_stats ks;
    char err[KAFKA_ERR_MAX];
    rd_kafka_t *rk;
    long skipped;
    int left;

    log_init("tick-pipe", LOG_LVL_WARN);
    if (argc != 3) {
        fprintf(stderr, "usage: tick-pipe BOOTSTRAP TOPIC < lines of KEY<TAB>VALUE\n");
        return 2;
    }
    ko.bootstrap = argv[1];
    rk = kafka_producer_new(&ko, err, sizeof(err));
    if (rk == NULL) {
        log_error("kafka producer failed", "error=\"%s\"", err);
        return 1;
    }
    skipped = tick_pipe_run(rk, argv[2]);
    left = kafka_producer_close(rk, TICK_PIPE_FLUSH_MS);
    rk = NULL;
    kafka_stats_get(&ks);
    return left == 0 && ks.failed == 0 && skipped == 0 ? 0 : 1;
}
