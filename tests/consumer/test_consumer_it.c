/* Integration (real Kafka + Redis + the consumer binary): 10,000 alerts of
 * 100 users on 8 tickers and a sequence of ticks (boundary prices, a stale
 * tick, malformed messages). Exactly the alerts a strict model says fire
 * reach the alerts topic, each once; they are gone from every Redis key and
 * all others are intact and still listed for their users. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cit.h"
#include "log.h"
#include "timeutil.h"

#define N_ALERTS 10000
#define N_USERS 100
#define N_TICKERS 8
#define N_PARTITIONS 3

static const char *consumer_bin;

struct model_alert {
    struct alert_record rec;
    int fired;
};

static double rand_price(unsigned *seed)
{
    return 50.0 + (double)(rand_r(seed) % 10001) / 100.0; /* 50.00 .. 150.00 */
}

/* Fires in the model what a tick at price fires. */
static void model_tick(struct model_alert *a, size_t n, const char *ticker, double price)
{
    for (size_t i = 0; i < n; i++) {
        const struct alert_record *r = &a[i].rec;
        if (a[i].fired || strcmp(r->ticker, ticker) != 0)
            continue;
        if ((r->type == ALERT_ABOVE && price > r->threshold) ||
            (r->type == ALERT_BELOW && price < r->threshold))
            a[i].fired = 1;
    }
}

static void create_alerts(struct cit *c, struct model_alert *a, char tickers[][32])
{
    char err[ALERT_STORE_ERR_MAX];
    unsigned seed = 42;

    for (int i = 0; i < N_ALERTS; i++) {
        struct alert_record *r = &a[i].rec;
        alert_store_new_id(r->alert_id);
        snprintf(r->user_id, sizeof(r->user_id), "u%s-%d", c->tag, i % N_USERS);
        snprintf(r->ticker, sizeof(r->ticker), "%s", tickers[rand_r(&seed) % N_TICKERS]);
        r->type = rand_r(&seed) % 2 ? ALERT_BELOW : ALERT_ABOVE;
        r->threshold = rand_price(&seed);
        r->created_at = 1700000000.0 + i;
        assert_int_equal(alert_store_create_once(c->rc, r, 1000, NULL, 0, err, sizeof(err)), 0);
    }
}

/* Sends the tick sequence and applies it to the model. */
static void send_ticks(struct cit *c, struct model_alert *a, char tickers[][32])
{
    static const double seq[] = {100.00, 104.37, 97.12, 112.50, 88.88, 125.00, 75.00};
    char big[6000];

    for (size_t k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
        for (int t = 0; t < N_TICKERS; t++) {
            double p = seq[k] + t * 0.5;
            assert_int_equal(cit_tick(c, tickers[t], p, time_now(), -1), 0);
            model_tick(a, N_ALERTS, tickers[t], p);
        }
        if (k == 3) {
            /* stale (60 s old) and would fire everything: must fire nothing */
            for (int t = 0; t < N_TICKERS; t++)
                cit_tick(c, tickers[t], 1000, time_now() - 60, -1);
            cit_raw(c, tickers[0], "not json");
            cit_raw(c, tickers[0], "{\"ticker\":\"X\",\"price\":-1,\"timestamp\":1}");
            memset(big, ' ', sizeof(big) - 1);
            big[sizeof(big) - 1] = '\0';
            big[0] = '{';
            big[sizeof(big) - 2] = '}';
            cit_raw(c, tickers[0], big);
        }
    }
    /* a price equal to an unfired threshold does not fire it */
    for (int i = 0; i < N_ALERTS; i++) {
        if (!a[i].fired) {
            const struct alert_record *r = &a[i].rec;
            cit_tick(c, r->ticker, r->threshold, time_now(), -1);
            model_tick(a, N_ALERTS, r->ticker, r->threshold);
            assert_false(a[i].fired);
            break;
        }
    }
    rd_kafka_flush(c->producer, 10000);
}

static void check_user_lists(struct cit *c, struct model_alert *a)
{
    struct alert_record *out = calloc(1000, sizeof(*out));
    char err[ALERT_STORE_ERR_MAX];

    for (int u = 0; u < N_USERS; u++) {
        char user[MSG_ID_MAX];
        int alive = 0, n;
        snprintf(user, sizeof(user), "u%s-%d", c->tag, u);
        for (int i = u; i < N_ALERTS; i += N_USERS)
            alive += !a[i].fired;
        n = alert_store_list(c->rc, user, out, 1000, err, sizeof(err));
        assert_int_equal(n, alive);
        for (int j = 1; j < n; j++)
            assert_true(out[j - 1].created_at >= out[j].created_at);
    }
    free(out);
}

static void test_exactly_the_triggered_alerts_fire_once(void **state)
{
    struct cit c;
    struct cit_seen seen = {0};
    struct model_alert *a = calloc(N_ALERTS, sizeof(*a));
    char tickers[N_TICKERS][32], prefix[48];
    size_t want = 0;
    pid_t pid;
    (void)state;

    if (consumer_bin == NULL || cit_open(&c, "E", N_PARTITIONS) != 0) {
        free(a);
        cit_close(&c);
        skip();
    }
    for (int t = 0; t < N_TICKERS; t++)
        snprintf(tickers[t], sizeof(tickers[t]), "%c%s", 'A' + t, c.tag);
    create_alerts(&c, a, tickers);
    pid = cit_spawn(&c, consumer_bin, NULL);
    assert_true(pid > 0);
    assert_int_equal(cit_wait_consuming(&c, N_PARTITIONS, 60000), 0);
    send_ticks(&c, a, tickers);
    for (int i = 0; i < N_ALERTS; i++)
        want += (size_t)a[i].fired;
    print_message("alerts=%d expected to fire=%zu\n", N_ALERTS, want);
    assert_true(want > 1000 && want < N_ALERTS);
    snprintf(prefix, sizeof(prefix), "u%s-", c.tag);
    cit_collect(&c, prefix, want, 3000, 90000, &seen);
    print_message("received unique=%zu total=%zu\n", seen.n, seen.total);
    assert_int_equal(seen.bad, 0);
    assert_int_equal(seen.n, want);
    assert_int_equal(seen.total, want); /* no duplicate without a failure */
    for (int i = 0; i < N_ALERTS; i++) {
        const struct alert_record *r = &a[i].rec;
        assert_int_equal(cit_seen_has(&seen, r->alert_id), a[i].fired);
        assert_int_equal(cit_alert_gone(&c, r->alert_id, r->user_id, r->ticker, r->type),
                         a[i].fired);
    }
    check_user_lists(&c, a);
    assert_int_equal(cit_stop(pid), 0);
    cit_seen_free(&seen);
    cit_close(&c);
    free(a);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_the_triggered_alerts_fire_once),
    };
    consumer_bin = argc > 1 ? argv[1] : NULL;
    log_init("test_consumer_it", LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
