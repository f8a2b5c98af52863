/* Integration: a price message produced through common/kafka is consumed
 * through common/kafka (group consumer and all-partition reader) from the
 * real broker, and decodes to what was sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "it_env.h"
#include "kafka.h"
#include "log.h"
#include "message.h"
#include "timeutil.h"

static char topic[96];
static char err[KAFKA_ERR_MAX];

static int setup(void **state)
{
    const char *topics[] = {topic, NULL};
    (void)state;
    if (it_kafka_bootstrap() == NULL)
        return 0;
    it_unique_name(topic, sizeof(topic), "it-roundtrip");
    if (kafka_create_topics(it_kafka_bootstrap(), topics, 3, 10000, err, sizeof(err)) != 0) {
        fprintf(stderr, "create topics: %s\n", err);
        return -1;
    }
    return 0;
}

static int produce_prices(int n, double base)
{
    struct kafka_opts o = {.bootstrap = it_kafka_bootstrap(), .client_id = "it-producer"};
    rd_kafka_t *p = kafka_producer_new(&o, err, sizeof(err));
    struct kafka_stats before, after;
    int left;

    assert_non_null(p);
    kafka_stats_get(&before);
    for (int i = 0; i < n; i++) {
        struct price_msg m;
        char json[MSG_MAX_BYTES];
        int len;
        memset(&m, 0, sizeof(m));
        snprintf(m.ticker, sizeof(m.ticker), "T%d", i);
        m.price = base + i;
        m.timestamp = time_now();
        snprintf(m.company, sizeof(m.company), "Company %d", i);
        snprintf(m.display_name, sizeof(m.display_name), "C%d", i);
        snprintf(m.source, sizeof(m.source), "sim");
        len = price_msg_encode(&m, json, sizeof(json));
        assert_true(len > 0);
        assert_int_equal(kafka_produce(p, topic, m.ticker, strlen(m.ticker), json, (size_t)len,
                                       NULL, 5000, NULL),
                         0);
    }
    left = kafka_producer_close(p, 10000);
    kafka_stats_get(&after);
    assert_int_equal(after.delivered - before.delivered, (uint64_t)n);
    return left;
}

/* Polls rk until n messages arrived (or 20 s); checks each decodes. */
static int consume_prices(rd_kafka_t *rk, int n, double base)
{
    int got = 0;
    int64_t deadline = time_mono_ms() + 20000;

    while (got < n && time_mono_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 200);
        struct price_msg m;
        char derr[MSG_ERR_MAX];
        if (msg == NULL)
            continue;
        if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            assert_int_equal(price_msg_decode(msg->payload, msg->len, &m, derr, sizeof(derr)), 0);
            assert_true(m.price >= base && m.price < base + n);
            assert_int_equal((int)msg->key_len, (int)strlen(m.ticker));
            assert_memory_equal(msg->key, m.ticker, msg->key_len);
            got++;
        }
        rd_kafka_message_destroy(msg);
    }
    return got;
}

static void test_group_consumer_receives_what_was_produced(void **state)
{
    static const char *const extra[] = {"auto.offset.reset", "earliest", NULL};
    struct kafka_opts o = {.bootstrap = it_kafka_bootstrap(), .extra = extra};
    const char *topics[] = {topic, NULL};
    char group[96];
    rd_kafka_t *c;
    (void)state;
    if (it_kafka_bootstrap() == NULL)
        skip();
    it_unique_name(group, sizeof(group), "it-group");
    assert_int_equal(produce_prices(20, 100.0), 0);
    c = kafka_consumer_new(&o, group, topics, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(kafka_ping(c, 5000), 0);
    assert_int_equal(consume_prices(c, 20, 100.0), 20);
    kafka_consumer_close(c);
}

static void test_reader_sees_every_partition_from_the_end(void **state)
{
    struct kafka_opts o = {.bootstrap = it_kafka_bootstrap()};
    rd_kafka_t *r;
    (void)state;
    if (it_kafka_bootstrap() == NULL)
        skip();
    r = kafka_reader_new(&o, topic, err, sizeof(err));
    assert_non_null(r);
    /* Produced right away, before any poll: the end offsets were resolved
     * when the reader was made, so none of these may be skipped. */
    assert_int_equal(produce_prices(30, 500.0), 0);
    /* Only the 30 new ones (keys spread over the 3 partitions), none older. */
    assert_int_equal(consume_prices(r, 30, 500.0), 30);
    kafka_consumer_close(r);
}

static void test_bad_config_is_reported(void **state)
{
    static const char *const extra[] = {"no.such.property", "1", NULL};
    struct kafka_opts o = {.bootstrap = "127.0.0.1:1", .extra = extra};
    (void)state;
    err[0] = '\0';
    assert_null(kafka_producer_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "no.such.property"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_consumer_receives_what_was_produced),
        cmocka_unit_test(test_reader_sees_every_partition_from_the_end),
        cmocka_unit_test(test_bad_config_is_reported),
    };
    log_init("it-kafka", LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, setup, NULL);
}
