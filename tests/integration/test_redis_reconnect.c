/* Integration: the common Redis helper survives redis-server being killed
 * and restarted — calls fail fast while it is down, then it reconnects by
 * itself and data written before the crash (AOF) is readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "it_env.h"
#include "log.h"
#include "redis.h"
#include "timeutil.h"

static void test_reconnects_after_restart(void **state)
{
    char dir[256];
    int port = 20000 + (int)(getpid() % 5000);
    pid_t pid;
    struct redis_conn *rc;
    redisReply *r;
    int64_t t0;
    int ok = 0;
    (void)state;

    snprintf(dir, sizeof(dir), "/tmp/sa-it-redis-%d", (int)getpid());
    pid = it_redis_start(port, dir);
    if (pid < 0)
        skip();
    rc = redis_conn_new("127.0.0.1", port, 500);
    assert_non_null(rc);
    r = redis_conn_command(rc, "SET %s %s", "it:key", "before");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    /* appendfsync everysec: give the AOF its second. */
    time_sleep_ms(1200);
    assert_int_equal(redis_conn_connects(rc), 1);

    it_process_kill(pid);
    /* While down: a clear failure, quickly (never a hang). */
    t0 = time_mono_ms();
    assert_int_equal(redis_conn_ping(rc), -1);
    assert_int_equal(redis_conn_ping(rc), -1);
    assert_true(time_mono_ms() - t0 < 2000);
    assert_true(strlen(redis_conn_errstr(rc)) > 0);

    pid = it_redis_start(port, dir);
    assert_true(pid > 0);
    /* The backoff is capped at 5 s: it must be back within 7 s. */
    t0 = time_mono_ms();
    while (time_mono_ms() - t0 < 7000) {
        if (redis_conn_ping(rc) == 0) {
            ok = 1;
            break;
        }
        time_sleep_ms(50);
    }
    assert_true(ok);
    assert_int_equal(redis_conn_connects(rc), 2);
    r = redis_conn_command(rc, "GET %s", "it:key");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "before");
    freeReplyObject(r);
    redis_conn_free(rc);
    it_process_kill(pid);
}

static void test_script_survives_restart(void **state)
{
    char dir[256];
    int port = 25000 + (int)(getpid() % 5000);
    struct redis_script s = {.source = "return tonumber(ARGV[1]) + 1", .sha = ""};
    const char *args[] = {"41"};
    struct redis_conn *rc;
    redisReply *r;
    pid_t pid;
    (void)state;

    snprintf(dir, sizeof(dir), "/tmp/sa-it-redis-s-%d", (int)getpid());
    pid = it_redis_start(port, dir);
    if (pid < 0)
        skip();
    rc = redis_conn_new("127.0.0.1", port, 500);
    r = redis_script_call(rc, &s, 0, NULL, 1, args);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 42);
    freeReplyObject(r);
    /* A restarted Redis forgets scripts: NOSCRIPT must be handled. */
    it_process_kill(pid);
    pid = it_redis_start(port, dir);
    assert_true(pid > 0);
    r = NULL;
    for (int i = 0; i < 100 && r == NULL; i++) {
        r = redis_script_call(rc, &s, 0, NULL, 1, args);
        if (r == NULL)
            time_sleep_ms(100);
    }
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 42);
    freeReplyObject(r);
    redis_conn_free(rc);
    it_process_kill(pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconnects_after_restart),
        cmocka_unit_test(test_script_survives_restart),
    };
    log_init("it-redis", LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
