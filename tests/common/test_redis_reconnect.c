/* Integration: the common Redis helper across restarts of the harness's
 * real Redis (scripts/redis-ctl stop + start on the same port, and a crash).
 * Once Redis answers again, the very next command on the old connection
 * object succeeds (scripts and pipelines included); a command whose reply
 * was lost is never sent a second time; against a server that does not
 * answer, the reconnect backoff stays within its 1 s cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "it_env.h"
#include "log.h"
#include "redis.h"
#include "redis_probe.h"
#include "timeutil.h"

#define IT_TIMEOUT_MS 500
#define IT_HANG_TIMEOUT_MS 200 /* connect timeout against the silent server */
#define IT_SLACK_MS 250        /* scheduling on a shared 2-core machine */

static char it_key[128];
static int it_key_seq;
/* The silent listener of the backoff test: closed by the teardown too, so a
 * failed assertion never leaves the port taken from Redis. */
static int it_listen_fd = -1;
static int it_filler_fd = -1;
static pid_t it_starter = -1; /* a redis-ctl start run in the background */

static int it_setup(void **state)
{
    char prefix[32];
    (void)state;
    snprintf(prefix, sizeof(prefix), "it:reconnect:%d", ++it_key_seq);
    it_unique_name(it_key, sizeof(it_key), prefix);
    return 0;
}

static void it_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Whatever a test did, the next one (and the suites after this one) find
 * Redis running; its keys are removed. */
static int it_teardown(void **state)
{
    struct timeval tv = {2, 0};
    redisContext *c;
    redisReply *r;
    (void)state;

    it_close(&it_filler_fd);
    it_close(&it_listen_fd);
    if (it_starter > 0)
        waitpid(it_starter, NULL, 0);
    it_starter = -1;
    if (it_redis_port() < 0)
        return 0;
    if (it_redis_start() != 0)
        return -1;
    c = redisConnectWithTimeout("127.0.0.1", it_redis_port(), tv);
    if (c != NULL && !c->err) {
        r = redisCommand(c, "DEL %s", it_key);
        if (r != NULL)
            freeReplyObject(r);
    }
    if (c != NULL)
        redisFree(c);
    return 0;
}

static struct redis_conn *it_conn(long timeout_ms)
{
    struct redis_conn *rc;

    if (it_redis_port() < 0)
        skip();
    rc = redis_conn_new("127.0.0.1", it_redis_port(), timeout_ms);
    assert_non_null(rc);
    return rc;
}

static void it_expect_status(redisReply *r)
{
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

static void test_next_command_after_restart_succeeds(void **state)
{
    struct redis_conn *rc = it_conn(IT_TIMEOUT_MS);
    redisReply *r;
    (void)state;

    it_expect_status(redis_conn_command(rc, "SET %s %s", it_key, "before"));
    assert_int_equal(redis_conn_connects(rc), 1);
    /* SIGTERM: Redis writes its AOF and closes every client connection. */
    assert_int_equal(it_redis_stop(), 0);
    assert_int_equal(it_redis_start(), 0);
    /* The old connection is dead: found out before sending, not by failing. */
    r = redis_conn_command(rc, "GET %s", it_key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "before");
    freeReplyObject(r);
    assert_int_equal(redis_conn_connects(rc), 2);
    redis_conn_free(rc);
}

static void test_first_command_after_crash_and_outage_succeeds(void **state)
{
    struct redis_conn *rc = it_conn(IT_TIMEOUT_MS);
    int64_t t0, start;
    int failures = 0, up = 0, status = 0;
    (void)state;

    assert_int_equal(redis_conn_ping(rc), 0);
    assert_int_equal(it_redis_kill(), 0);
    /* Requests keep coming during the outage (the old backoff grew with
     * each one): each fails, and fast. */
    start = time_mono_ms();
    while (time_mono_ms() - start < 1500) {
        t0 = time_mono_ms();
        assert_int_equal(redis_conn_ping(rc), -1);
        assert_true(time_mono_ms() - t0 < IT_TIMEOUT_MS);
        failures++;
        time_sleep_ms(20);
    }
    assert_true(failures > 10);
    assert_true(strlen(redis_conn_errstr(rc)) > 0);
    /* Redis comes back while requests go on: from the moment it answers a
     * PING, the next request must not fail. */
    it_starter = fork();
    assert_true(it_starter >= 0);
    if (it_starter == 0)
        _exit(it_redis_start() == 0 ? 0 : 1);
    start = time_mono_ms();
    while (!up && time_mono_ms() - start < 10000) {
        up = it_redis_answers();
        if (redis_conn_ping(rc) == 0)
            break;
        assert_false(up);
        time_sleep_ms(20);
    }
    assert_int_equal(waitpid(it_starter, &status, 0), it_starter);
    it_starter = -1;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(redis_conn_ping(rc), 0);
    assert_int_equal(redis_conn_connects(rc), 2);
    redis_conn_free(rc);
}

static void test_script_call_after_restart_runs_once(void **state)
{
    struct redis_script s = {.source = "return redis.call('INCR', KEYS[1])", .sha = ""};
    struct redis_conn *rc = it_conn(IT_TIMEOUT_MS);
    const char *keys[] = {it_key};
    redisReply *r;
    (void)state;

    r = redis_script_call(rc, &s, 1, keys, 0, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    assert_int_equal(it_redis_stop(), 0);
    assert_int_equal(it_redis_start(), 0);
    /* A dead connection, then NOSCRIPT (Redis forgot the script): the first
     * call still succeeds, and the script ran exactly once. */
    r = redis_script_call(rc, &s, 1, keys, 0, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    redis_conn_free(rc);
}

static void test_pipeline_after_restart_succeeds(void **state)
{
    struct redis_conn *rc = it_conn(IT_TIMEOUT_MS);
    redisContext *ctx;
    redisReply *r;
    (void)state;

    assert_int_equal(redis_conn_ping(rc), 0);
    assert_int_equal(it_redis_stop(), 0);
    assert_int_equal(it_redis_start(), 0);
    ctx = redis_conn_context(rc);
    assert_non_null(ctx);
    assert_int_equal(redisAppendCommand(ctx, "SET %s %s", it_key, "piped"), REDIS_OK);
    assert_int_equal(redisAppendCommand(ctx, "GET %s", it_key), REDIS_OK);
    assert_int_equal(redis_conn_get_reply(rc, &r), 0);
    it_expect_status(r);
    assert_int_equal(redis_conn_get_reply(rc, &r), 0);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "piped");
    freeReplyObject(r);
    redis_conn_free(rc);
}

/* The command reached Redis and ran, but its reply came too late: sending
 * it again would run it twice (a dedup marker, a create). */
static void test_command_with_lost_reply_is_not_sent_again(void **state)
{
    struct redis_script slow = {.source =
                                    "redis.call('INCR', KEYS[1])\n"
                                    "local t = redis.call('TIME')\n"
                                    "local t0 = t[1] * 1000000 + t[2]\n"
                                    "repeat t = redis.call('TIME')\n"
                                    "until t[1] * 1000000 + t[2] - t0 >= tonumber(ARGV[1]) * 1000\n"
                                    "return 1\n",
                                .sha = ""};
    struct redis_conn *rc = it_conn(IT_HANG_TIMEOUT_MS);
    const char *keys[] = {it_key};
    const char *args[] = {"800"};
    struct timeval tv = {5, 0};
    redisContext *check;
    redisReply *r;
    (void)state;

    /* Loads the script (fast), then times out waiting for its reply. */
    r = redis_script_call(rc, &slow, 1, keys, 1, args);
    assert_null(r);
    /* Queued behind the script: answered once it is done. */
    check = redisConnectWithTimeout("127.0.0.1", it_redis_port(), tv);
    assert_non_null(check);
    assert_int_equal(check->err, 0);
    r = redisCommand(check, "GET %s", it_key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
    redisFree(check);
    /* The connection that timed out was up: the next command reconnects
     * at once, without waiting for a backoff. */
    assert_int_equal(redis_conn_ping(rc), 0);
    redis_conn_free(rc);
}

/* A listener whose accept queue is full (backlog 0, one connection in it):
 * connects to it hang until their timeout, like a server host that does not
 * answer. Fills it_listen_fd and it_filler_fd. */
static void it_silent_listener(int port)
{
    struct sockaddr_in sa;
    int one = 1;

    it_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    it_filler_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(it_listen_fd >= 0 && it_filler_fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(setsockopt(it_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(bind(it_listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(it_listen_fd, 0), 0);
    assert_int_equal(connect(it_filler_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void test_backoff_capped_while_server_silent(void **state)
{
    struct redis_conn *rc = it_conn(IT_HANG_TIMEOUT_MS);
    int64_t attempts[64];
    int64_t t0, start, gap, max_gap = 0;
    int n = 0, ok = 0;
    (void)state;

    assert_int_equal(redis_conn_ping(rc), 0);
    assert_int_equal(it_redis_stop(), 0);
    it_silent_listener(it_redis_port());
    /* Call every 10 ms for 6 s; a call that makes a connect attempt blocks
     * for the connect timeout, one held back by the backoff returns at once. */
    start = time_mono_ms();
    while (time_mono_ms() - start < 6000 && n < 64) {
        t0 = time_mono_ms();
        assert_int_equal(redis_conn_ping(rc), -1);
        if (time_mono_ms() - t0 >= IT_HANG_TIMEOUT_MS / 2)
            attempts[n++] = t0;
        time_sleep_ms(10);
    }
    it_close(&it_filler_fd);
    it_close(&it_listen_fd);
    for (int i = 1; i < n; i++) {
        gap = attempts[i] - attempts[i - 1];
        print_message("attempt %d after %lld ms\n", i, (long long)gap);
        if (gap > max_gap)
            max_gap = gap;
    }
    /* Backed off (a silent server is not hammered) and within the cap. */
    assert_true(n >= 5 && n < 30);
    assert_int_equal(REDIS_BACKOFF_MAX_MS, 1000);
    assert_true(max_gap <= REDIS_BACKOFF_MAX_MS + IT_HANG_TIMEOUT_MS + IT_SLACK_MS);
    assert_true(attempts[n - 1] - attempts[n - 2] >= REDIS_BACKOFF_MAX_MS);
    /* Back within one backoff of Redis answering. */
    assert_int_equal(it_redis_start(), 0);
    start = time_mono_ms();
    while (!ok && time_mono_ms() - start < REDIS_BACKOFF_MAX_MS + IT_SLACK_MS) {
        ok = redis_conn_ping(rc) == 0;
        if (!ok)
            time_sleep_ms(10);
    }
    assert_true(ok);
    redis_conn_free(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_next_command_after_restart_succeeds, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_first_command_after_crash_and_outage_succeeds,
                                        it_setup, it_teardown),
        cmocka_unit_test_setup_teardown(test_script_call_after_restart_runs_once, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_after_restart_succeeds, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_command_with_lost_reply_is_not_sent_again, it_setup,
                                        it_teardown),
        cmocka_unit_test_setup_teardown(test_backoff_capped_while_server_silent, it_setup,
                                        it_teardown),
    };
    log_init("it-redis", LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
