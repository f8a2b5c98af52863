/* Integration tests of common/email_store against the real Redis of
 * TEST_REDIS_HOST / TEST_REDIS_PORT (skipped without them): the double
 * opt-in of an address (set, the notifier's token, the link), single use,
 * expiry, stale requests, the per-user rate of confirmation mails, each
 * request on its user's shard of the queue, and one hash tag per script
 * call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "email_store.h"
#include "redis.h"

redisReply *__real_redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                                     const char **keys, int nargs, const char **args);
redisReply *__wrap_redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                                     const char **keys, int nargs, const char **args);

static unsigned test_counter;

/* Every key of one call carries the same {hash tag}. */
redisReply *__wrap_redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                                     const char **keys, int nargs, const char **args)
{
    const char *tag0 = strchr(keys[0], '{');

    assert_non_null(tag0);
    for (int i = 1; i < nkeys; i++) {
        const char *t = strchr(keys[i], '{');

        assert_non_null(t);
        assert_int_equal(strcspn(t, "}"), strcspn(tag0, "}"));
        assert_memory_equal(t, tag0, strcspn(tag0, "}"));
    }
    return __real_redis_script_call(rc, s, nkeys, keys, nargs, args);
}

static int setup(void **state)
{
    const char *host = getenv("TEST_REDIS_HOST");
    const char *port = getenv("TEST_REDIS_PORT");
    struct redis_conn *rc;

    if (host == NULL || port == NULL || *host == '\0' || *port == '\0')
        return 0; /* tests skip */
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
    return 0;
}

static struct redis_conn *conn(void **state)
{
    if (*state == NULL)
        skip();
    return *state;
}

static void unique_user(char *out, size_t len)
{
    snprintf(out, len, "eu-%d-%lld-%u", (int)getpid(), (long long)time(NULL), test_counter++);
}

/* The request id of the newest confirmation of user queued on stream k
 * ("" none). */
static void stream_request(struct redis_conn *rc, int k, const char *user,
                           char req[EMAIL_REQ_MAX + 1])
{
    char key[EMAIL_REQUESTS_KEY_MAX];
    redisReply *r;

    req[0] = '\0';
    assert_int_equal(email_store_requests_key(k, key, sizeof(key)), 0);
    r = redis_conn_command(rc, "XREVRANGE %s + - COUNT 200", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];

        if (f->elements == 4 && strcmp(f->element[1]->str, user) == 0) {
            snprintf(req, EMAIL_REQ_MAX + 1, "%s", f->element[3]->str);
            break;
        }
    }
    freeReplyObject(r);
}

/* The same, on the user's shard, where the webapp queues it. */
static void last_request(struct redis_conn *rc, const char *user, char req[EMAIL_REQ_MAX + 1])
{
    stream_request(rc, email_store_requests_shard(user), user, req);
}

static enum email_set_result set(struct redis_conn *rc, const char *user, const char *addr)
{
    enum email_set_result res = EMAIL_SET_REMOVED;
    long retry = 0;
    char err[256] = "";

    assert_int_equal(email_store_set(rc, user, addr, 3, 3600, &res, &retry, err, sizeof(err)), 0);
    return res;
}

static void test_double_opt_in(void **state)
{
    struct redis_conn *rc = conn(state);
    char user[64], req[EMAIL_REQ_MAX + 1], token[EMAIL_TOKEN_MAX + 1], addr[EMAIL_ADDR_MAX + 1];
    char err[256] = "";
    struct email_settings s;

    unique_user(user, sizeof(user));
    assert_int_equal(set(rc, user, "a@b.example"), EMAIL_SET_SENDING);
    assert_int_equal(email_store_get(rc, user, &s, err, sizeof(err)), 0);
    assert_string_equal(s.addr, "a@b.example");
    assert_false(s.confirmed);
    last_request(rc, user, req);
    assert_int_equal(strlen(req), 32);
    assert_int_equal(email_store_issue(rc, user, req, 86400, token, addr, err, sizeof(err)), 1);
    assert_string_equal(addr, "a@b.example");
    assert_int_equal(strncmp(token, user, strlen(user)), 0);
    assert_int_equal(strlen(token), strlen(user) + 65);
    assert_int_equal(email_store_confirm(rc, token, err, sizeof(err)), 1);
    assert_int_equal(email_store_get(rc, user, &s, err, sizeof(err)), 0);
    assert_true(s.confirmed);
    /* single use; and the same address again is no new mail */
    assert_int_equal(email_store_confirm(rc, token, err, sizeof(err)), 0);
    assert_int_equal(set(rc, user, "a@b.example"), EMAIL_SET_CONFIRMED);
    /* a confirmed request is stale for the notifier */
    assert_int_equal(email_store_issue(rc, user, req, 86400, token, addr, err, sizeof(err)), 0);
}

static void test_only_newest_link_and_stale_requests(void **state)
{
    struct redis_conn *rc = conn(state);
    char user[64], req1[EMAIL_REQ_MAX + 1], req2[EMAIL_REQ_MAX + 1];
    char t1[EMAIL_TOKEN_MAX + 1], t2[EMAIL_TOKEN_MAX + 1], addr[EMAIL_ADDR_MAX + 1];
    char err[256] = "";
    struct email_settings s;

    unique_user(user, sizeof(user));
    assert_int_equal(set(rc, user, "one@b.example"), EMAIL_SET_SENDING);
    last_request(rc, user, req1);
    assert_int_equal(email_store_issue(rc, user, req1, 86400, t1, addr, err, sizeof(err)), 1);
    assert_int_equal(set(rc, user, "two@b.example"), EMAIL_SET_SENDING);
    last_request(rc, user, req2);
    assert_string_not_equal(req1, req2);
    /* the first address's request is stale, its link dead */
    assert_int_equal(email_store_issue(rc, user, req1, 86400, t2, addr, err, sizeof(err)), 0);
    assert_int_equal(email_store_confirm(rc, t1, err, sizeof(err)), 0);
    assert_int_equal(email_store_issue(rc, user, req2, 86400, t1, addr, err, sizeof(err)), 1);
    assert_string_equal(addr, "two@b.example");
    /* issued again (a notifier that took over): only the newest token works */
    assert_int_equal(email_store_issue(rc, user, req2, 86400, t2, addr, err, sizeof(err)), 1);
    assert_int_equal(email_store_confirm(rc, t1, err, sizeof(err)), 0);
    assert_int_equal(email_store_confirm(rc, t2, err, sizeof(err)), 1);
    assert_int_equal(email_store_get(rc, user, &s, err, sizeof(err)), 0);
    assert_string_equal(s.addr, "two@b.example");
    assert_true(s.confirmed);
}

static void test_expired_token(void **state)
{
    struct redis_conn *rc = conn(state);
    char user[64], req[EMAIL_REQ_MAX + 1], token[EMAIL_TOKEN_MAX + 1], addr[EMAIL_ADDR_MAX + 1];
    char err[256] = "";
    struct email_settings s;

    unique_user(user, sizeof(user));
    assert_int_equal(set(rc, user, "late@b.example"), EMAIL_SET_SENDING);
    last_request(rc, user, req);
    assert_int_equal(email_store_issue(rc, user, req, -5, token, addr, err, sizeof(err)), 1);
    assert_int_equal(email_store_confirm(rc, token, err, sizeof(err)), -2);
    assert_int_equal(email_store_confirm(rc, token, err, sizeof(err)), 0); /* dropped */
    assert_int_equal(email_store_get(rc, user, &s, err, sizeof(err)), 0);
    assert_false(s.confirmed);
}

static void test_remove_and_malformed_tokens(void **state)
{
    struct redis_conn *rc = conn(state);
    char user[64], req[EMAIL_REQ_MAX + 1], token[EMAIL_TOKEN_MAX + 1], addr[EMAIL_ADDR_MAX + 1];
    char err[256] = "";
    char bad[200];
    struct email_settings s;

    unique_user(user, sizeof(user));
    assert_int_equal(set(rc, user, "gone@b.example"), EMAIL_SET_SENDING);
    last_request(rc, user, req);
    assert_int_equal(email_store_issue(rc, user, req, 86400, token, addr, err, sizeof(err)), 1);
    assert_int_equal(set(rc, user, NULL), EMAIL_SET_REMOVED);
    assert_int_equal(email_store_get(rc, user, &s, err, sizeof(err)), 0);
    assert_string_equal(s.addr, "");
    assert_int_equal(email_store_confirm(rc, token, err, sizeof(err)), 0);
    assert_int_equal(email_store_issue(rc, user, req, 86400, token, addr, err, sizeof(err)), 0);
    assert_int_equal(email_store_confirm(rc, "", err, sizeof(err)), 0);
    assert_int_equal(email_store_confirm(rc, "nodot", err, sizeof(err)), 0);
    snprintf(bad, sizeof(bad), "%s.%s", user, "00");
    assert_int_equal(email_store_confirm(rc, bad, err, sizeof(err)), 0);
    snprintf(bad, sizeof(bad), "{x}.%064d", 0);
    assert_int_equal(email_store_confirm(rc, bad, err, sizeof(err)), 0);
}

static void test_rate_of_confirmation_mails(void **state)
{
    struct redis_conn *rc = conn(state);
    char user[64], err[256] = "";
    enum email_set_result res;
    long retry = 0;
    struct email_settings s;

    unique_user(user, sizeof(user));
    assert_int_equal(set(rc, user, "r1@b.example"), EMAIL_SET_SENDING);
    assert_int_equal(set(rc, user, "r2@b.example"), EMAIL_SET_SENDING);
    assert_int_equal(set(rc, user, "r3@b.example"), EMAIL_SET_SENDING);
    assert_int_equal(
        email_store_set(rc, user, "r4@b.example", 3, 3600, &res, &retry, err, sizeof(err)), 0);
    assert_int_equal(res, EMAIL_SET_LIMITED);
    assert_true(retry > 0 && retry <= 3600);
    assert_int_equal(email_store_get(rc, user, &s, err, sizeof(err)), 0);
    assert_string_equal(s.addr, "r3@b.example"); /* nothing changed */
}

/* Two users of two shards: each request is on its user's shard only, none
 * on the other's nor on the legacy stream. */
static void test_requests_on_the_users_shard(void **state)
{
    struct redis_conn *rc = conn(state);
    char a[64], b[64], req[EMAIL_REQ_MAX + 1];
    int ka, kb;

    unique_user(a, sizeof(a));
    do {
        unique_user(b, sizeof(b));
    } while (email_store_requests_shard(b) == email_store_requests_shard(a));
    ka = email_store_requests_shard(a);
    kb = email_store_requests_shard(b);
    assert_int_equal(set(rc, a, "sa@b.example"), EMAIL_SET_SENDING);
    assert_int_equal(set(rc, b, "sb@b.example"), EMAIL_SET_SENDING);
    stream_request(rc, ka, a, req);
    assert_int_equal(strlen(req), 32);
    stream_request(rc, kb, b, req);
    assert_int_equal(strlen(req), 32);
    stream_request(rc, kb, a, req);
    assert_string_equal(req, "");
    stream_request(rc, ka, b, req);
    assert_string_equal(req, "");
    stream_request(rc, EMAIL_REQUESTS_SHARDS, a, req);
    assert_string_equal(req, "");
    stream_request(rc, EMAIL_REQUESTS_SHARDS, b, req);
    assert_string_equal(req, "");
}

static enum email_recipient rcpt(struct redis_conn *rc, const char *user, const char *alert,
                                 char addr[EMAIL_ADDR_MAX + 1])
{
    enum email_recipient res = EMAIL_RCPT_NONE;
    char err[256] = "";

    assert_int_equal(email_store_recipient(rc, user, alert, 2, 3600, &res, addr, err, sizeof(err)),
                     0);
    return res;
}

/* Alert mails only to a confirmed address, at most 2 alerts per window
 * here, an alert's retries counted once. */
static void test_recipient(void **state)
{
    struct redis_conn *rc = conn(state);
    char user[64], req[EMAIL_REQ_MAX + 1], token[EMAIL_TOKEN_MAX + 1], addr[EMAIL_ADDR_MAX + 1];
    char err[256] = "";

    unique_user(user, sizeof(user));
    assert_int_equal(rcpt(rc, user, "a1", addr), EMAIL_RCPT_NONE);
    assert_int_equal(set(rc, user, "me@b.example"), EMAIL_SET_SENDING);
    assert_int_equal(rcpt(rc, user, "a1", addr), EMAIL_RCPT_UNCONFIRMED);
    assert_string_equal(addr, "");
    last_request(rc, user, req);
    assert_int_equal(email_store_issue(rc, user, req, 86400, token, addr, err, sizeof(err)), 1);
    assert_int_equal(rcpt(rc, user, "a1", addr), EMAIL_RCPT_UNCONFIRMED); /* link not followed */
    assert_int_equal(email_store_confirm(rc, token, err, sizeof(err)), 1);
    assert_int_equal(rcpt(rc, user, "a1", addr), EMAIL_RCPT_OK);
    assert_string_equal(addr, "me@b.example");
    assert_int_equal(rcpt(rc, user, "a1", addr), EMAIL_RCPT_OK); /* a retry */
    assert_int_equal(rcpt(rc, user, "a2", addr), EMAIL_RCPT_OK);
    assert_int_equal(rcpt(rc, user, "a3", addr), EMAIL_RCPT_LIMITED);
    assert_int_equal(rcpt(rc, user, "a2", addr), EMAIL_RCPT_OK);
    /* a new, unconfirmed address gets no alert mail */
    assert_int_equal(set(rc, user, "other@b.example"), EMAIL_SET_SENDING);
    assert_int_equal(rcpt(rc, user, "a1", addr), EMAIL_RCPT_UNCONFIRMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_opt_in),
        cmocka_unit_test(test_only_newest_link_and_stale_requests),
        cmocka_unit_test(test_expired_token),
        cmocka_unit_test(test_remove_and_malformed_tokens),
        cmocka_unit_test(test_rate_of_confirmation_mails),
        cmocka_unit_test(test_recipient),
        cmocka_unit_test(test_requests_on_the_users_shard),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
