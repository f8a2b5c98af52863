/* Integration: the notifier's confirmation queue (notifier/confirm.c) over
 * the sharded streams of email_store.h, against the real Redis of
 * TEST_REDIS_HOST / TEST_REDIS_PORT (skipped without them). Requests of
 * two users on two shards, and one left on the legacy stream by a webapp
 * of before the shards, are each taken, given a token and acknowledged on
 * the stream they came from; the legacy stream, once deleted, is not made
 * again. The SMTP port is closed and one attempt allowed, so every mail is
 * given up on at once: what is proven is the queue, not the sending
 * (tests/e2e/mail.py sends through a real SMTP server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "confirm.h"
#include "email_store.h"
#include "redis.h"
#include "timeutil.h"

#define IT_WAIT_MS 20000

static unsigned test_counter;

static int setup(void **state)
{
    const char *host = getenv("TEST_REDIS_HOST");
    const char *port = getenv("TEST_REDIS_PORT");
    struct redis_conn *rc;

    if (host == NULL || port == NULL || *host == '\0' || *port == '\0')
        return 0; /* tests skip */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    rc = redis_conn_new(host, (int)strtol(port, NULL, 10), 2000);
    if (redis_conn_ping(rc) != 0) {
        redis_conn_free(rc);
        return 0;
    }
    *state = rc;
    return 0;
}

static int teardown(void **state)
{
    redis_conn_free(*state);
    curl_global_cleanup();
    return 0;
}

static struct redis_conn *conn(void **state)
{
    if (*state == NULL)
        skip();
    return *state;
}

/* A loopback port nobody listens on: bound, read, closed. */
static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void config(struct notifier_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->smtp.url, sizeof(cfg->smtp.url), "smtp://127.0.0.1:%d", closed_port());
    snprintf(cfg->smtp.from, sizeof(cfg->smtp.from), "alerts@it.example");
    cfg->smtp.tls = SMTP_TLS_TRY;
    cfg->smtp.timeout_ms = 2000;
    cfg->smtp.connect_timeout_ms = 1000;
    cfg->smtp.concurrency = 4;
    cfg->max_attempts = 1;
    cfg->retry_base_ms = 100;
    cfg->retry_max_ms = 1000;
    snprintf(cfg->confirm_url, sizeof(cfg->confirm_url), "http://it.example/api/confirm-email");
    cfg->confirm_ttl_s = 3600;
}

static void unique_user(char *out, size_t len)
{
    snprintf(out, len, "cu-%d-%lld-%u", (int)getpid(), (long long)time(NULL), test_counter++);
}

static void set(struct redis_conn *rc, const char *user)
{
    enum email_set_result res = EMAIL_SET_REMOVED;
    char err[256] = "", addr[EMAIL_ADDR_MAX + 1];
    long retry = 0;

    snprintf(addr, sizeof(addr), "%s@it.example", user);
    assert_int_equal(email_store_set(rc, user, addr, 3, 3600, &res, &retry, err, sizeof(err)), 0);
    assert_int_equal(res, EMAIL_SET_SENDING);
}

/* The newest entry of user on stream k: its id and request into id[64] and
 * req (both "" when there is none). */
static void entry_of(struct redis_conn *rc, int k, const char *user, char id[64],
                     char req[EMAIL_REQ_MAX + 1])
{
    char key[EMAIL_REQUESTS_KEY_MAX];
    redisReply *r;

    id[0] = req[0] = '\0';
    assert_int_equal(email_store_requests_key(k, key, sizeof(key)), 0);
    r = redis_conn_command(rc, "XREVRANGE %s + - COUNT 500", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];

        if (f->elements == 4 && strcmp(f->element[1]->str, user) == 0) {
            snprintf(id, 64, "%s", r->element[i]->element[0]->str);
            snprintf(req, EMAIL_REQ_MAX + 1, "%s", f->element[3]->str);
            break;
        }
    }
    freeReplyObject(r);
}

/* As a webapp of before the shards queued it: the request moved from the
 * user's shard to the legacy stream. */
static void move_to_legacy(struct redis_conn *rc, const char *user)
{
    char key[EMAIL_REQUESTS_KEY_MAX], id[64], req[EMAIL_REQ_MAX + 1];
    redisReply *r;

    assert_int_equal(email_store_requests_key(email_store_requests_shard(user), key, sizeof(key)),
                     0);
    entry_of(rc, email_store_requests_shard(user), user, id, req);
    assert_int_equal(strlen(req), 32);
    r = redis_conn_command(rc, "XDEL %s %s", key, id);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    r = redis_conn_command(rc, "XADD %s * user_id %s req %s", EMAIL_REQUESTS_LEGACY_KEY, user, req);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
}

static long long int_reply(struct redis_conn *rc, const char *cmd, const char *key,
                           const char *field)
{
    redisReply *r =
        field != NULL ? redis_conn_command(rc, cmd, key, field) : redis_conn_command(rc, cmd, key);
    long long v;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Handled: its token was made, and its entry is gone from stream k. */
static int handled(struct redis_conn *rc, int k, const char *user)
{
    char key[96], id[64], req[EMAIL_REQ_MAX + 1];

    snprintf(key, sizeof(key), "user_email:{%s}", user);
    if (int_reply(rc, "HEXISTS %s %s", key, "token") != 1)
        return 0;
    entry_of(rc, k, user, id, req);
    return id[0] == '\0';
}

/* Turns of the queue until every user of users[n] (on streams[n]) is
 * handled; fails after IT_WAIT_MS. */
static void run_until_handled(struct confirm *cf, struct redis_conn *rc, const char **users,
                              const int *streams, int n)
{
    int64_t deadline = time_mono_ms() + IT_WAIT_MS;
    int done = 0;

    while (!done && time_mono_ms() < deadline) {
        confirm_step(cf, 100);
        done = 1;
        for (int i = 0; i < n && done; i++)
            done = handled(rc, streams[i], users[i]);
    }
    assert_true(done);
}

/* Nothing of this consumer is left pending on stream k. */
static void assert_none_pending(struct redis_conn *rc, int k, const char *instance)
{
    char key[EMAIL_REQUESTS_KEY_MAX];
    redisReply *r;

    assert_int_equal(email_store_requests_key(k, key, sizeof(key)), 0);
    r = redis_conn_command(rc, "XPENDING %s %s - + 100 %s", key, EMAIL_REQUESTS_GROUP, instance);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
}

static void test_shards_and_legacy_stream_handled(void **state)
{
    struct redis_conn *rc = conn(state);
    struct notifier_config cfg;
    struct notifier_stats stats;
    struct confirm *cf;
    char a[64], b[64], c[64], instance[64], err[256] = "";
    const char *users[3] = {a, b, c};
    int streams[3];

    unique_user(a, sizeof(a));
    do {
        unique_user(b, sizeof(b));
    } while (email_store_requests_shard(b) == email_store_requests_shard(a));
    unique_user(c, sizeof(c));
    streams[0] = email_store_requests_shard(a);
    streams[1] = email_store_requests_shard(b);
    streams[2] = EMAIL_REQUESTS_SHARDS;
    set(rc, a);
    set(rc, b);
    set(rc, c);
    move_to_legacy(rc, c);

    config(&cfg);
    stats_init(&stats);
    snprintf(instance, sizeof(instance), "it-confirm-%d", (int)getpid());
    cf = confirm_new(&cfg, rc, &stats, instance, err, sizeof(err));
    assert_non_null(cf);
    run_until_handled(cf, rc, users, streams, 3);
    while (confirm_pending(cf) > 0)
        confirm_step(cf, 100);
    for (int i = 0; i < 3; i++)
        assert_none_pending(rc, streams[i], instance);
    assert_true(atomic_load(&stats.confirm_failed) >= 3); /* the closed port: given up on */

    /* Emptied, the legacy stream may be deleted: it is not made again, and
     * the shards go on. */
    assert_int_equal(int_reply(rc, "XLEN %s", EMAIL_REQUESTS_LEGACY_KEY, NULL), 0);
    assert_int_equal(int_reply(rc, "DEL %s", EMAIL_REQUESTS_LEGACY_KEY, NULL), 1);
    unique_user(a, sizeof(a));
    set(rc, a);
    streams[0] = email_store_requests_shard(a);
    run_until_handled(cf, rc, users, streams, 1);
    assert_int_equal(int_reply(rc, "EXISTS %s", EMAIL_REQUESTS_LEGACY_KEY, NULL), 0);
    confirm_free(cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_and_legacy_stream_handled),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
