/* Unit tests for the publish gate: a bad price is dropped and counted and
 * never reaches kafka_produce (mocked with -Wl,--wrap); a good one is
 * encoded per the message contract with key = ticker. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h"
#include "message.h"
#include "publish.h"
#include "signals.h"

static int produced;
static char last_key[64];
static char last_value[MSG_MAX_BYTES];
static size_t last_len;
static int fail_next;
static rd_kafka_t *last_rk;

int __wrap_kafka_produce(rd_kafka_t *rk, const char *topic, const char *key, size_t keylen,
                         const void *value, size_t len, void *msg_opaque, int timeout_ms,
                         rd_kafka_resp_err_t *errp);

int __wrap_kafka_produce(rd_kafka_t *rk, const char *topic, const char *key, size_t keylen,
                         const void *value, size_t len, void *msg_opaque, int timeout_ms,
                         rd_kafka_resp_err_t *errp)
{
    last_rk = rk;
    (void)topic;
    (void)msg_opaque;
    (void)timeout_ms;
    if (fail_next) {
        fail_next = 0;
        *errp = RD_KAFKA_RESP_ERR__QUEUE_FULL;
        return -1;
    }
    produced++;
    assert_true(keylen < sizeof(last_key) && len < sizeof(last_value));
    memcpy(last_key, key, keylen);
    last_key[keylen] = '\0';
    memcpy(last_value, value, len);
    last_len = len;
    return 0;
}

static void test_price_ok(void **state)
{
    (void)state;
    assert_true(publish_price_ok(178.52));
    assert_true(publish_price_ok(1e-9));
    assert_false(publish_price_ok(0));
    assert_false(publish_price_ok(-0.0));
    assert_false(publish_price_ok(-1));
    assert_false(publish_price_ok(NAN));
    assert_false(publish_price_ok(INFINITY));
    assert_false(publish_price_ok(-INFINITY));
    assert_false(publish_price_ok(1e13));
}

static void test_bad_prices_never_produced(void **state)
{
    static const double bad[] = {0, -1, NAN, INFINITY, -INFINITY, 1e300};
    struct producer_stats st;
    struct publisher p;
    struct asset_list l = {0};
    struct price_msg m;
    char err[MSG_ERR_MAX];
    (void)state;
    assert_int_equal(assets_load_defaults(&l), 0);
    stats_init(&st, "sim", (long)l.len, SOURCE_SIM);
    publisher_init(&p, NULL, NULL, "publish-test", &st);
    produced = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(publish_price(&p, &l.items[0], bad[i], 1700000000, SOURCE_SIM, 0), 1);
    /* a bad timestamp cannot be encoded either */
    assert_int_equal(publish_price(&p, &l.items[0], 10, NAN, SOURCE_SIM, 0), 1);
    assert_int_equal(produced, 0);
    assert_int_equal(atomic_load(&st.dropped_bad), 7);
    assert_int_equal(atomic_load(&st.published), 0);

    assert_int_equal(publish_price(&p, &l.items[10], 2350.25, 1700000000.5, SOURCE_YAHOO, 2331.5),
                     0);
    assert_int_equal(produced, 1);
    assert_int_equal(atomic_load(&st.published), 1);
    assert_string_equal(last_key, "GC=F");
    assert_int_equal(price_msg_decode(last_value, last_len, &m, err, sizeof(err)), 0);
    assert_string_equal(m.ticker, "GC=F");
    assert_true(m.price == 2350.25 && m.timestamp == 1700000000.5);
    assert_string_equal(m.company, "Gold Futures");
    assert_string_equal(m.display_name, "Gold");
    assert_string_equal(m.source, "yahoo");
    assert_true(m.previous_close == 2331.5); /* the previous close, */
    assert_int_equal(m.has_decimals, 1);     /* and gold quotes cents */
    assert_int_equal(m.decimals, 2);

    fail_next = 1; /* Kafka refuses: counted as failed, not published */
    assert_int_equal(publish_price(&p, &l.items[0], 1, 1700000000, SOURCE_SIM, 0), -1);
    assert_int_equal(atomic_load(&st.publish_failed), 1);
    assert_int_equal(atomic_load(&st.published), 1);
    stats_destroy(&st);
    assets_free(&l);
}

/* A producer's fatal error (the idempotent producer's sequence lost in a
 * broker failover; raised here by librdkafka's test hook) stops nothing: the
 * publisher replaces the producer before the next tick and sends it there. */
static void test_fatally_failed_producer_is_replaced(void **state)
{
    struct kafka_opts ko = {.bootstrap = "127.0.0.1:9", .client_id = "publish-test"};
    struct producer_stats st;
    struct publisher p;
    struct asset_list l = {0};
    char err[256];
    rd_kafka_t *rk;
    (void)state;

    assert_int_equal(assets_load_defaults(&l), 0);
    stats_init(&st, "sim", (long)l.len, SOURCE_SIM);
    rk = kafka_producer_new(&ko, err, sizeof(err));
    assert_non_null(rk);
    assert_int_equal(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "test: sequence desynchronization"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_poll(rk, 200); /* serves the error callback */
    assert_true(kafka_producer_failed(rk));
    assert_true(signals_running());
    publisher_init(&p, rk, &ko, "publish-test", &st);
    last_rk = NULL;
    assert_int_equal(publish_price(&p, &l.items[0], 10, 1700000000, SOURCE_SIM, 0), 0);
    assert_ptr_not_equal(p.rk, rk);
    assert_ptr_equal(last_rk, p.rk);
    assert_false(kafka_producer_failed(p.rk));
    publisher_close(&p, 0);
    stats_destroy(&st);
    assets_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_price_ok),
        cmocka_unit_test(test_bad_prices_never_produced),
        cmocka_unit_test(test_fatally_failed_producer_is_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
