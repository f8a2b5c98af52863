/* Crash (real Kafka + Redis + the consumer binary): the evaluator is
 * SIGKILLed again and again while thousands of alerts trigger, and restarted
 * each time. Afterwards every triggered alert id is on the alerts topic
 * (after de-duplication by alert_id) and nothing is left in Redis. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cit.h"
#include "log.h"
#include "timeutil.h"

#define N_ALERTS 5000
#define N_USERS 50
#define N_TICKERS 4
#define N_PARTITIONS 3
#define N_STEPS 200 /* rising ticks, one every STEP_MS */
#define STEP_MS 75

static const char *consumer_bin;

static pid_t spawn(struct cit *c)
{
    static char instance[96];
    const char *extra[] = {"GROUP_INSTANCE_ID", instance, "OUTBOX_REDELIVER_MS", "2000", NULL};

    snprintf(instance, sizeof(instance), "it-crash-%s", c->tag);
    return cit_spawn(c, consumer_bin, extra);
}

static long long index_left(struct cit *c, char tickers[][32])
{
    long long left = 0;

    for (int t = 0; t < N_TICKERS; t++) {
        redisReply *r = redis_conn_command(c->rc, "ZCARD alert_idx:%s:above", tickers[t]);
        if (r != NULL && r->type == REDIS_REPLY_INTEGER)
            left += r->integer;
        else
            left += 1;
        if (r != NULL)
            freeReplyObject(r);
    }
    return left;
}

/* Rising prices cross every threshold while the evaluator is killed at
 * random moments. Returns the number of kills. */
static int ticks_under_fire(struct cit *c, char tickers[][32], pid_t *pid)
{
    unsigned seed = 7;
    int64_t next_kill = time_mono_ms() + 800;
    int kills = 0;

    for (int step = 0; step <= N_STEPS; step++) {
        for (int t = 0; t < N_TICKERS; t++)
            cit_tick(c, tickers[t], 100.0 + step * 0.5 + t * 0.01, time_now(), -1);
        rd_kafka_poll(c->producer, 0);
        time_sleep_ms(STEP_MS);
        if (time_mono_ms() >= next_kill) {
            kill(*pid, SIGKILL);
            waitpid(*pid, NULL, 0);
            *pid = spawn(c);
            assert_true(*pid > 0);
            kills++;
            next_kill = time_mono_ms() + 600 + rand_r(&seed) % 1400;
        }
    }
    return kills;
}

static void test_sigkill_loses_nothing(void **state)
{
    struct cit c;
    struct cit_seen seen = {0};
    char(*ids)[37] = calloc(N_ALERTS, 37);
    char tickers[N_TICKERS][32], prefix[48], err[ALERT_STORE_ERR_MAX];
    unsigned seed = 11;
    int64_t deadline;
    int kills, missing = 0;
    pid_t pid;
    (void)state;

    if (consumer_bin == NULL || cit_open(&c, "K", N_PARTITIONS) != 0) {
        free(ids);
        cit_close(&c);
        skip();
    }
    for (int t = 0; t < N_TICKERS; t++)
        snprintf(tickers[t], sizeof(tickers[t]), "%c%s", 'P' + t, c.tag);
    for (int i = 0; i < N_ALERTS; i++) {
        struct alert_record r = {0};
        alert_store_new_id(r.alert_id);
        memcpy(ids[i], r.alert_id, 37);
        snprintf(r.user_id, sizeof(r.user_id), "c%s-%d", c.tag, i % N_USERS);
        snprintf(r.ticker, sizeof(r.ticker), "%s", tickers[i % N_TICKERS]);
        r.type = ALERT_ABOVE;
        r.threshold = 100.0 + (double)(rand_r(&seed) % 10000) / 100.0; /* < 200 */
        r.created_at = time_now();
        assert_int_equal(alert_store_create_once(c.rc, &r, 1000, NULL, 0, err, sizeof(err)), 0);
    }
    pid = spawn(&c);
    assert_int_equal(cit_wait_consuming(&c, N_PARTITIONS, 60000), 0);
    time_sleep_ms(1500); /* let the first offsets be committed */
    kills = ticks_under_fire(&c, tickers, &pid);
    /* A last high price until every index is empty. */
    deadline = time_mono_ms() + 60000;
    while (index_left(&c, tickers) > 0 && time_mono_ms() < deadline) {
        for (int t = 0; t < N_TICKERS; t++)
            cit_tick(&c, tickers[t], 250, time_now(), -1);
        rd_kafka_flush(c.producer, 1000);
        time_sleep_ms(500);
    }
    assert_int_equal(index_left(&c, tickers), 0);
    snprintf(prefix, sizeof(prefix), "c%s-", c.tag);
    cit_collect(&c, prefix, N_ALERTS, 3000, 120000, &seen);
    for (int i = 0; i < N_ALERTS; i++) {
        if (!cit_seen_has(&seen, ids[i]))
            missing++;
    }
    print_message("kills=%d alerts=%d unique received=%zu total=%zu duplicates=%zu missing=%d\n",
                  kills, N_ALERTS, seen.n, seen.total, seen.total - seen.n, missing);
    assert_true(kills >= 5);
    assert_int_equal(missing, 0);
    assert_int_equal(seen.n, N_ALERTS);
    assert_int_equal(cit_stop(pid), 0);
    cit_seen_free(&seen);
    cit_close(&c);
    free(ids);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_loses_nothing),
    };
    consumer_bin = argc > 1 ? argv[1] : NULL;
    log_init("test_consumer_crash", LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
