/* cit: integration-test helpers for the evaluator. */
#include "cit.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"
#include "timeutil.h"

static struct kafka_opts cit_popts;

int cit_open(struct cit *c, const char *tag_prefix, int partitions)
{
    const char *host = getenv("TEST_REDIS_HOST");
    const char *port = getenv("TEST_REDIS_PORT");
    const char *topics[3];
    char err[KAFKA_ERR_MAX];

    memset(c, 0, sizeof(*c));
    c->bootstrap = getenv("TEST_KAFKA_BOOTSTRAP");
    if (c->bootstrap == NULL || *c->bootstrap == '\0' || host == NULL || port == NULL)
        return -1;
    c->redis_host = host;
    c->redis_port = (int)strtol(port, NULL, 10);
    snprintf(c->tag, sizeof(c->tag), "%.1s%d%ld", tag_prefix, (int)getpid() % 10000,
             (long)(time(NULL) % 100000));
    snprintf(c->topic_prices, sizeof(c->topic_prices), "it-prices-%s", c->tag);
    snprintf(c->topic_alerts, sizeof(c->topic_alerts), "it-alerts-%s", c->tag);
    snprintf(c->group, sizeof(c->group), "it-evaluators-%s", c->tag);
    snprintf(c->log_path, sizeof(c->log_path), "/tmp/it-consumer-%s.log", c->tag);
    c->rc = redis_conn_new(c->redis_host, c->redis_port, 3000);
    if (redis_conn_ping(c->rc) != 0)
        return -1;
    topics[0] = c->topic_prices, topics[1] = c->topic_alerts, topics[2] = NULL;
    if (kafka_create_topics(c->bootstrap, topics, partitions, 10000, err, sizeof(err)) != 0) {
        fprintf(stderr, "create topics: %s\n", err);
        return -1;
    }
    cit_popts = (struct kafka_opts){.bootstrap = c->bootstrap, .client_id = "it-ticks"};
    c->producer = kafka_producer_new(&cit_popts, err, sizeof(err));
    return c->producer != NULL ? 0 : -1;
}

void cit_close(struct cit *c)
{
    if (c->producer != NULL)
        kafka_producer_close(c->producer, 5000);
    redis_conn_free(c->rc);
    c->producer = NULL;
    c->rc = NULL;
}

pid_t cit_spawn(struct cit *c, const char *bin, const char *const *extra)
{
    char port[16];
    pid_t pid;

    snprintf(port, sizeof(port), "%d", c->redis_port);
    setenv("KAFKA_BOOTSTRAP_SERVERS", c->bootstrap, 1);
    setenv("REDIS_HOST", c->redis_host, 1);
    setenv("REDIS_PORT", port, 1);
    setenv("TOPIC_PRICES", c->topic_prices, 1);
    setenv("TOPIC_ALERTS", c->topic_alerts, 1);
    setenv("CONSUMER_GROUP", c->group, 1);
    setenv("METRICS_PORT", "0", 1);
    for (const char *const *p = extra; p != NULL && p[0] != NULL; p += 2)
        setenv(p[0], p[1], 1);
    pid = fork();
    if (pid == 0) {
        int fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        /* A test that fails (cmocka jumps past cit_stop) leaves no consumer
         * behind: one would go on sweeping every outbox of the shared Redis
         * into its own topic, stealing the next run's alerts. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            _exit(127);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int cit_stop(pid_t pid)
{
    int status;

    kill(pid, SIGTERM);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static int cit_produce(struct cit *c, const char *key, const char *value, int partition)
{
    rd_kafka_resp_err_t err;

    err = rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(c->topic_prices),
                            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
                            RD_KAFKA_V_KEY(key, strlen(key)),
                            RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_poll(c->producer, 0);
    return err ? -1 : 0;
}

int cit_tick(struct cit *c, const char *ticker, double price, double timestamp, int partition)
{
    struct price_msg m;
    char buf[MSG_MAX_BYTES];

    memset(&m, 0, sizeof(m));
    snprintf(m.ticker, sizeof(m.ticker), "%s", ticker);
    m.price = price;
    m.timestamp = timestamp;
    snprintf(m.company, sizeof(m.company), "%s Inc", ticker);
    snprintf(m.display_name, sizeof(m.display_name), "%s", ticker);
    snprintf(m.source, sizeof(m.source), "sim");
    if (price_msg_encode(&m, buf, sizeof(buf)) < 0)
        return -1;
    return cit_produce(c, ticker, buf, partition);
}

int cit_raw(struct cit *c, const char *key, const char *value)
{
    return cit_produce(c, key, value, -1);
}

int cit_wait_consuming(struct cit *c, int partitions, int timeout_ms)
{
    char ids[16][37], ticker[32], user[64], err[ALERT_STORE_ERR_MAX];
    struct alert_record rec;
    int64_t deadline = time_mono_ms() + timeout_ms;

    if (partitions > 16)
        return -1;
    snprintf(user, sizeof(user), "sentinel-%s", c->tag);
    for (int p = 0; p < partitions; p++) {
        memset(&rec, 0, sizeof(rec));
        alert_store_new_id(rec.alert_id);
        memcpy(ids[p], rec.alert_id, 37);
        snprintf(rec.user_id, sizeof(rec.user_id), "%s", user);
        snprintf(rec.ticker, sizeof(rec.ticker), "S%d%s", p, c->tag);
        rec.threshold = 1;
        rec.created_at = time_now();
        if (alert_store_create_once(c->rc, &rec, 1000, NULL, 0, err, sizeof(err)) != 0)
            return -1;
    }
    while (time_mono_ms() < deadline) {
        int left = 0;
        for (int p = 0; p < partitions; p++) {
            redisReply *r =
                redis_conn_command(c->rc, "HEXISTS ticker_alerts:{S%d%s} %s", p, c->tag, ids[p]);
            int exists = r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 0;
            if (r != NULL)
                freeReplyObject(r);
            if (!exists)
                continue;
            left++;
            snprintf(ticker, sizeof(ticker), "S%d%s", p, c->tag);
            cit_tick(c, ticker, 2, time_now(), p);
        }
        if (left == 0)
            return 0;
        rd_kafka_flush(c->producer, 1000);
        time_sleep_ms(300);
    }
    return -1;
}

static int cit_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

int cit_seen_has(const struct cit_seen *s, const char *id)
{
    return s->n > 0 && bsearch(id, s->ids, s->n, sizeof(s->ids[0]), cit_cmp) != NULL;
}

/* Inserts id keeping ids sorted; 1 when new. */
static int cit_seen_add(struct cit_seen *s, const char *id)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = strcmp(s->ids[mid], id);
        if (d == 0)
            return 0;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->ids = realloc(s->ids, s->cap * sizeof(s->ids[0]));
    }
    memmove(&s->ids[lo + 1], &s->ids[lo], (s->n - lo) * sizeof(s->ids[0]));
    snprintf(s->ids[lo], sizeof(s->ids[0]), "%s", id);
    s->n++;
    return 1;
}

void cit_seen_free(struct cit_seen *s)
{
    free(s->ids);
    memset(s, 0, sizeof(*s));
}

void cit_collect(struct cit *c, const char *user_prefix, size_t want, int quiet_ms, int timeout_ms,
                 struct cit_seen *seen)
{
    char group[128], err[KAFKA_ERR_MAX];
    const char *extra[] = {"auto.offset.reset", "earliest", NULL};
    const char *topics[] = {c->topic_alerts, NULL};
    struct kafka_opts o = {.bootstrap = c->bootstrap, .client_id = "it-reader", .extra = extra};
    int64_t deadline = time_mono_ms() + timeout_ms, last = time_mono_ms();
    size_t mine = 0;
    rd_kafka_t *rk;

    snprintf(group, sizeof(group), "it-reader-%s-%lld", c->tag, (long long)time_mono_ms());
    rk = kafka_consumer_new(&o, group, topics, err, sizeof(err));
    if (rk == NULL)
        return;
    while (time_mono_ms() < deadline && (mine < want || time_mono_ms() - last < quiet_ms)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        struct alert_msg am;
        if (m == NULL)
            continue;
        if (!m->err) {
            last = time_mono_ms();
            if (alert_msg_decode(m->payload, m->len, &am, err, sizeof(err)) != 0) {
                seen->bad++;
            } else if (strncmp(am.user_id, user_prefix, strlen(user_prefix)) == 0) {
                seen->total++;
                mine += (size_t)cit_seen_add(seen, am.alert_id);
            }
        }
        rd_kafka_message_destroy(m);
    }
    kafka_consumer_close(rk);
}

static long long cit_int(struct cit *c, const char *fmt, const char *a, const char *b)
{
    redisReply *r = redis_conn_command(c->rc, fmt, a, b);
    long long v = -1;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    if (r != NULL && r->type == REDIS_REPLY_NIL)
        v = 0;
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        v = 1;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

int cit_alert_gone(struct cit *c, const char *id, const char *user, const char *ticker,
                   enum alert_type type)
{
    char key[128], k_user[128], k_ticker[128];

    snprintf(key, sizeof(key), "alert_idx:{%s}:%s", ticker, alert_type_name(type));
    snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", user);
    snprintf(k_ticker, sizeof(k_ticker), "ticker_alerts:{%s}", ticker);
    return cit_int(c, "HEXISTS %s %s", k_user, id) == 0 &&
           cit_int(c, "HEXISTS %s %s", k_ticker, id) == 0 &&
           cit_int(c, "ZSCORE %s %s", key, id) == 0;
}
