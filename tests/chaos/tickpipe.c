/* tickpipe: a line-at-a-time Kafka producer for the chaos suite. Each stdin
 * line "KEY<TAB>VALUE" is produced to TOPIC at once (kcat -P reads its input
 * in large blocks, so a tick written to it waits for more input or EOF).
 * Keeps running through broker outages (librdkafka retries); exits at EOF
 * after flushing.  usage: tickpipe BOOTSTRAP TOPIC */
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICKPIPE_LINE_MAX 65536

static rd_kafka_t *tickpipe_new(const char *bootstrap)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", bootstrap},
                           {"linger.ms", "0"},
                           {"enable.idempotence", "true"},
                           {"message.timeout.ms", "600000"},
                           {"reconnect.backoff.max.ms", "1000"}};
    rd_kafka_t *rk;

    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "tickpipe: %s\n", errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "tickpipe: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk; /* conf is owned by rk now */
}

/* Produces one "KEY\tVALUE" line (without its newline); retries while the
 * local queue is full. Returns 0, or -1 when the line has no tab. */
static int tickpipe_line(rd_kafka_t *rk, const char *topic, char *line, size_t len)
{
    char *tab = memchr(line, '\t', len);
    rd_kafka_resp_err_t err;
    size_t klen;
    void *val;

    if (tab == NULL)
        return -1;
    klen = (size_t)(tab - line);
    val = tab + 1;
    for (;;) {
        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(line, klen),
                                RD_KAFKA_V_VALUE(val, len - klen - 1),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(rk, 100);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "tickpipe: produce failed: %s\n", rd_kafka_err2str(err));
    return 0;
}

int main(int argc, char **argv)
{
    static char buf[TICKPIPE_LINE_MAX];
    size_t have = 0;
    rd_kafka_t *rk;
    int rc = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: tickpipe BOOTSTRAP TOPIC\n");
        return 2;
    }
    rk = tickpipe_new(argv[1]);
    if (rk == NULL)
        return 1;
    for (;;) {
        struct pollfd pfd = {0, POLLIN, 0};
        ssize_t n;
        char *nl;

        rd_kafka_poll(rk, 0);
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        n = read(0, buf + have, sizeof(buf) - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        while ((nl = memchr(buf, '\n', have)) != NULL) {
            size_t len = (size_t)(nl - buf);
            if (tickpipe_line(rk, argv[2], buf, len) != 0)
                fprintf(stderr, "tickpipe: line without a tab skipped\n");
            memmove(buf, nl + 1, have - len - 1);
            have -= len + 1;
        }
        if (have == sizeof(buf)) {
            fprintf(stderr, "tickpipe: line over %d bytes dropped\n", TICKPIPE_LINE_MAX);
            have = 0;
        }
    }
    if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "tickpipe: %d messages undelivered\n", rd_kafka_outq_len(rk));
        rc = 1;
    }
    rd_kafka_destroy(rk);
    return rc;
}
