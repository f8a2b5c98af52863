/* Integration (real Redis, TEST_REDIS_HOST/PORT): the alert store's scripts —
 * the claim fires strictly at its boundaries and removes every trace of a
 * fired alert, create/delete/list keep the keys consistent, the outbox and
 * each user's history record each claim, the history's positions chain, each
 * crash point of the cross-slot sequences recovers (docs/key-schema.md: step
 * 1 run alone, then the recovery path), and the data of the versions before
 * migrates once. Every script call made here (redis_script_call and the
 * store's pipelines, wrapped at link time) is checked to keep all its KEYS
 * under one hash tag, as a Redis Cluster requires. Names are unique per run;
 * nothing is flushed. */
#include <math.h>
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

#include "alert_history.h"
#include "alert_store.h"
#include "alert_store_claim.h"
#include "alert_store_migrate.h"
#include "alert_store_priv.h"
#include "log.h"
#include "store_lua.h"
#include "timeutil.h"

#define CLAIM_MAX 256

struct fixture {
    struct redis_conn *rc;
    struct alert_claim *claims;
    char err[ALERT_STORE_ERR_MAX];
};

static unsigned test_counter;
static unsigned long tag_checks;

/* The hash tag of a key as Redis Cluster reads it: between the first '{'
 * and the next '}', when not empty; the whole key otherwise. */
static void key_tag(const char *key, char *out, size_t outlen)
{
    const char *a = strchr(key, '{'), *b = a != NULL ? strchr(a + 1, '}') : NULL;

    if (a == NULL || b == NULL || b == a + 1)
        snprintf(out, outlen, "%s", key);
    else
        snprintf(out, outlen, "%.*s", (int)(b - a - 1), a + 1);
}

/* Every key of one call hashes to one slot: one tag, and a tag at all. */
static void assert_one_tag(const char *source, int nkeys, const char **keys)
{
    char first[160], tag[160];

    if (strncmp(source, "-- migrate", 10) == 0)
        return; /* the migration runs on the single instance holding old data */
    for (int i = 0; i < nkeys; i++) {
        key_tag(keys[i], tag, sizeof(tag));
        if (strchr(keys[i], '{') == NULL)
            fail_msg("key without a hash tag: %s", keys[i]);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", tag);
        else if (strcmp(first, tag) != 0)
            fail_msg("keys of one call in two slots: %s and %s", keys[0], keys[i]);
    }
    tag_checks++;
}

redisReply *__real_redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                                     const char **keys, int nargs, const char **args);
redisReply *__wrap_redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                                     const char **keys, int nargs, const char **args);
int __real_alert_store_pipe_run(struct redis_conn *rc, const struct alert_store_call *calls, int n,
                                redisReply **replies);
int __wrap_alert_store_pipe_run(struct redis_conn *rc, const struct alert_store_call *calls, int n,
                                redisReply **replies);

/* Run once just before the next call of the script whose source starts
 * with hook_script (a crash point's interleaving: another daemon's step). */
static const char *hook_script;
static void (*hook_fn)(void *arg);
static void *hook_arg;

/* Runs the hook if s is its script. */
static void hook_check(const struct redis_script *s)
{
    if (hook_script != NULL && strncmp(s->source, hook_script, strlen(hook_script)) == 0) {
        void (*fn)(void *) = hook_fn;

        hook_script = NULL;
        fn(hook_arg);
    }
}

redisReply *__wrap_redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                                     const char **keys, int nargs, const char **args)
{
    assert_one_tag(s->source, nkeys, keys);
    hook_check(s);
    return __real_redis_script_call(rc, s, nkeys, keys, nargs, args);
}

int __wrap_alert_store_pipe_run(struct redis_conn *rc, const struct alert_store_call *calls, int n,
                                redisReply **replies)
{
    for (int i = 0; i < n; i++) {
        assert_one_tag(calls[i].script->source, calls[i].nkeys, calls[i].keys);
        hook_check(calls[i].script);
    }
    return __real_alert_store_pipe_run(rc, calls, n, replies);
}

/* A ticker / user id unique to this run and call. */
static void unique_ticker(char *out, size_t len)
{
    snprintf(out, len, "ZT%d-%lld-%u", (int)getpid() % 100000, (long long)time(NULL) % 100000,
             test_counter++);
}

static void unique_user(char *out, size_t len)
{
    snprintf(out, len, "u-%d-%lld-%u", (int)getpid(), (long long)time(NULL), test_counter++);
}

static int setup(void **state)
{
    const char *host = getenv("TEST_REDIS_HOST");
    const char *port = getenv("TEST_REDIS_PORT");
    struct fixture *f;

    if (host == NULL || port == NULL || *host == '\0' || *port == '\0')
        return 0; /* tests skip */
    f = calloc(1, sizeof(*f));
    f->rc = redis_conn_new(host, (int)strtol(port, NULL, 10), 2000);
    f->claims = calloc(CLAIM_MAX, sizeof(*f->claims));
    if (redis_conn_ping(f->rc) != 0) {
        redis_conn_free(f->rc);
        free(f->claims);
        free(f);
        return 0;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f != NULL) {
        redis_conn_free(f->rc);
        free(f->claims);
        free(f);
    }
    return 0;
}

static struct fixture *fixture_get(void **state)
{
    if (*state == NULL)
        skip();
    return *state;
}

/* Creates an alert with an expiry (Unix s; 0: none, as stored before) and
 * a note ("" none); its id is written into id_out[37] when not NULL. */
static void make_alert_full(struct fixture *f, const char *user, const char *ticker, double thr,
                            enum alert_type type, double created, long long expires_at,
                            const char *note, char *id_out)
{
    struct alert_record rec;

    memset(&rec, 0, sizeof(rec));
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", user);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", ticker);
    rec.threshold = thr;
    rec.type = type;
    rec.created_at = created;
    rec.expires_at = expires_at;
    snprintf(rec.note, sizeof(rec.note), "%s", note);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100000, NULL, 0, f->err, sizeof(f->err)),
                     0);
    if (id_out != NULL)
        memcpy(id_out, rec.alert_id, 37);
}

/* An alert without expiry or note, as stored before issue 18. */
static void make_alert(struct fixture *f, const char *user, const char *ticker, double thr,
                       enum alert_type type, double created, char *id_out)
{
    make_alert_full(f, user, ticker, thr, type, created, 0, "", id_out);
}

static long long int_reply(struct fixture *f, const char *fmt, const char *a, const char *b)
{
    redisReply *r = redis_conn_command(f->rc, fmt, a, b);
    long long v;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Claims what one tick at ts fires, into f->claims: the count or -1. */
static int claim_at(struct fixture *f, const char *ticker, double price, double ts)
{
    const struct alert_tick tick = {.ticker = ticker, .price = price, .timestamp = ts};
    int done = 0;

    return alert_store_claim_batch(f->rc, &tick, 1, f->claims, CLAIM_MAX, &done, f->err,
                                   sizeof(f->err));
}

static int claim(struct fixture *f, const char *ticker, double price)
{
    int n = claim_at(f, ticker, price, time_now());
    if (n < 0)
        print_error("claim failed: %s\n", f->err);
    assert_true(n >= 0);
    return n;
}

static void test_equal_price_fires_nothing(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 180.0, ALERT_ABOVE, 1, NULL);
    make_alert(f, u, t, 180.0, ALERT_BELOW, 2, NULL);
    assert_int_equal(claim(f, t, 180.0), 0);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), 2);
    assert_int_equal(claim(f, t, 180.01), 1); /* above fires */
    assert_int_equal(claim(f, t, 179.99), 1); /* below fires */
    assert_int_equal(claim(f, t, 1.0), 0);
}

static void test_above_and_below_are_independent(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], t2[32], u[64], a100[37], b100[37];
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_ticker(t2, sizeof(t2));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 100, ALERT_ABOVE, 1, a100);
    make_alert(f, u, t, 110, ALERT_ABOVE, 2, NULL);
    make_alert(f, u, t, 100, ALERT_BELOW, 3, b100);
    make_alert(f, u, t, 90, ALERT_BELOW, 4, NULL);
    make_alert(f, u, t2, 1, ALERT_ABOVE, 5, NULL); /* other ticker: untouched */
    assert_int_equal(claim(f, t, 105), 1);
    assert_int_equal(alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, &m, f->err,
                                      sizeof(f->err)),
                     0);
    assert_string_equal(m.alert_id, a100);
    assert_int_equal(m.type, ALERT_ABOVE);
    assert_int_equal(claim(f, t, 95), 1);
    assert_int_equal(alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, &m, f->err,
                                      sizeof(f->err)),
                     0);
    assert_string_equal(m.alert_id, b100);
    assert_int_equal(m.type, ALERT_BELOW);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), 2);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t2, ""), 1);
}

static void test_many_at_same_threshold_all_fire_once(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64];
    int total = 0, n;
    const int count = 700;
    char(*seen)[37] = calloc((size_t)count, 37);

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    for (int i = 0; i < count; i++)
        make_alert(f, u, t, 50.0, ALERT_ABOVE, i, NULL);
    do {
        n = claim(f, t, 50.5);
        for (int i = 0; i < n; i++) {
            struct alert_msg m;
            assert_int_equal(alert_msg_decode(f->claims[i].payload, f->claims[i].payload_len, &m,
                                              f->err, sizeof(f->err)),
                             0);
            for (int j = 0; j < total; j++)
                assert_string_not_equal(seen[j], m.alert_id);
            assert_true(total < count);
            assert_int_equal(strlen(m.alert_id), 36);
            memcpy(seen[total++], m.alert_id, 37);
        }
    } while (n == CLAIM_MAX);
    assert_int_equal(total, count);
    assert_int_equal(claim(f, t, 1000), 0);
    free(seen);
}

static void test_thresholds_with_many_decimals(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64];
    const double thr = 123.456789012345678;
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, thr, ALERT_ABOVE, 1, NULL);
    make_alert(f, u, t, thr, ALERT_BELOW, 2, NULL);
    assert_int_equal(claim(f, t, thr), 0);
    assert_int_equal(claim(f, t, nextafter(thr, 1000)), 1);
    assert_int_equal(alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, &m, f->err,
                                      sizeof(f->err)),
                     0);
    assert_true(m.threshold == thr); /* exact, not cjson's 14 digits */
    assert_true(m.price == nextafter(thr, 1000));
    assert_int_equal(claim(f, t, nextafter(thr, 0)), 1);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), 0);
}

static void test_create_respects_limit(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64];
    struct alert_record rec;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", u);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", t);
    rec.threshold = 10;
    rec.created_at = 1;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(alert_store_new_id(rec.alert_id), 0);
        assert_int_equal(alert_store_create_once(f->rc, &rec, 3, NULL, 0, f->err, sizeof(f->err)),
                         0);
    }
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 3, NULL, 0, f->err, sizeof(f->err)),
                     ALERT_STORE_LIMIT);
    assert_int_equal(int_reply(f, "HEXISTS user_alerts:{%s} %s", u, rec.alert_id), 0);
    /* invalid input never reaches Redis */
    snprintf(rec.ticker, sizeof(rec.ticker), "bad ticker");
    assert_int_equal(alert_store_create_once(f->rc, &rec, 10, NULL, 0, f->err, sizeof(f->err)), -1);
}

/* A create retried with its idempotency key stores nothing new and answers
 * with the first alert's id; the key is the user's own. */
static void test_create_once_per_key(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], u2[64], key[80], first[MSG_ID_MAX];
    struct alert_record rec;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    unique_user(u2, sizeof(u2));
    snprintf(key, sizeof(key), "req-%s", t);
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", u);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", t);
    rec.threshold = 10;
    rec.created_at = 1;
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 60, f->err, sizeof(f->err)), 0);
    memcpy(first, rec.alert_id, sizeof(first));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(alert_store_new_id(rec.alert_id), 0);
        assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 60, f->err, sizeof(f->err)),
                         ALERT_STORE_REPLAY);
        assert_string_equal(rec.alert_id, first);
    }
    assert_int_equal(int_reply(f, "HLEN user_alerts:{%s}%s", u, ""), 1);
    assert_int_equal(int_reply(f, "ZCARD alert_idx:{%s}:%s", t, "above"), 1);
    assert_in_range(int_reply(f, "TTL alert_idem:{%s}:%s", u, key), 1, 60);
    /* the same key from another user is another request */
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", u2);
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 60, f->err, sizeof(f->err)), 0);
    assert_string_not_equal(rec.alert_id, first);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), 2);
    /* the same key with another request: refused, nothing stored */
    rec.threshold = 11;
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 60, f->err, sizeof(f->err)),
                     ALERT_STORE_CONFLICT);
    rec.threshold = 10;
    rec.type = ALERT_BELOW;
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 60, f->err, sizeof(f->err)),
                     ALERT_STORE_CONFLICT);
    rec.type = ALERT_ABOVE;
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), 2);
    assert_int_equal(int_reply(f, "HLEN user_alerts:{%s}%s", u2, ""), 1);
    /* a malformed key (or no time to keep it) never reaches Redis */
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 0, f->err, sizeof(f->err)), -1);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, "a b", 60, f->err, sizeof(f->err)),
                     -1);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, "", 60, f->err, sizeof(f->err)), -1);
    assert_false(alert_store_idem_key_valid(
        "01234567890123456789012345678901234567890123456789012345678901234"));
    assert_true(alert_store_idem_key_valid(
        "0123456789012345678901234567890123456789012345678901234567890123"));
    assert_true(alert_store_idem_key_valid("9f86d081884c7d659a2feaa0c55ad015"));
}

static void test_delete_checks_owner(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], other[64], id[37];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    unique_user(other, sizeof(other));
    make_alert(f, u, t, 10, ALERT_BELOW, 1, id);
    assert_int_equal(alert_store_delete(f->rc, other, id, f->err, sizeof(f->err)),
                     ALERT_STORE_NOTFOUND);
    assert_int_equal(int_reply(f, "HEXISTS user_alerts:{%s} %s", u, id), 1);
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, id), 1);
    assert_int_equal(alert_store_delete(f->rc, u, id, f->err, sizeof(f->err)), 0);
    assert_int_equal(alert_store_delete(f->rc, u, id, f->err, sizeof(f->err)),
                     ALERT_STORE_NOTFOUND);
    assert_int_equal(int_reply(f, "HEXISTS user_alerts:{%s} %s", u, id), 0);
    assert_int_equal(int_reply(f, "HLEN user_alerts:{%s}%s", u, ""), 0);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), 0);
    assert_int_equal(int_reply(f, "ZCARD alert_idx:{%s}:%s", t, "below"), 0);
    assert_int_equal(claim(f, t, 1), 0);
}

static void test_list_newest_first(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], ids[5][37];
    struct alert_record out[10];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    for (int i = 0; i < 5; i++)
        make_alert(f, u, t, 100.25 + i, i % 2 ? ALERT_BELOW : ALERT_ABOVE, 1700000000.5 + i,
                   ids[i]);
    assert_int_equal(alert_store_list(f->rc, u, out, 10, f->err, sizeof(f->err)), 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(out[i].alert_id, ids[4 - i]);
        assert_string_equal(out[i].user_id, u);
        assert_string_equal(out[i].ticker, t);
        assert_true(out[i].threshold == 100.25 + (4 - i));
        assert_true(out[i].created_at == 1700000000.5 + (4 - i));
        assert_int_equal(out[i].type, (4 - i) % 2 ? ALERT_BELOW : ALERT_ABOVE);
    }
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 2);
    assert_string_equal(out[0].alert_id, ids[4]);
}

/* The message text is in the one number format (docs/number-format.md):
 * the asset's decimals from the tick (2 when it gave none), thousands
 * separated, a threshold shown with the decimals it was typed with. */
static void test_claim_message_number_format(void **state)
{
    static const struct {
        double thr, price;
        int has_dec, dec;
        const char *want;
    } cases[] = {
        {2.7965, 2.8012, 1, 4, "is above $2.7965 (Current: $2.8012)"},
        {2.7965, 2.8012, 0, 0, "is above $2.7965 (Current: $2.80)"},
        {2000000, 2000000.5, 1, 2, "is above $2,000,000.00 (Current: $2,000,000.50)"},
        {0.000001, 0.5, 1, 4, "is above $0.000001 (Current: $0.5000)"},
        {10.12345, 12, 1, 2, "is above $10.12345 (Current: $12.00)"},
        {999.5, 1000, 1, 0, "is above $999.5 (Current: $1,000)"},
        {100, 123456789.25, 1, 2, "is above $100.00 (Current: $123,456,789.25)"},
    };
    struct fixture *f = fixture_get(state);
    char t[32], u[64], want[MSG_TEXT_MAX];
    struct alert_msg m;
    int done = 0;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct alert_tick tick = {t, cases[i].price, time_now(), cases[i].has_dec,
                                        cases[i].dec};
        unique_ticker(t, sizeof(t));
        unique_user(u, sizeof(u));
        make_alert(f, u, t, cases[i].thr, ALERT_ABOVE, 1, NULL);
        assert_int_equal(alert_store_claim_batch(f->rc, &tick, 1, f->claims, CLAIM_MAX, &done,
                                                 f->err, sizeof(f->err)),
                         1);
        assert_int_equal(alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, &m,
                                          f->err, sizeof(f->err)),
                         0);
        snprintf(want, sizeof(want), "%s %s", t, cases[i].want);
        assert_string_equal(m.message, want);
    }
}

static void test_claim_removes_from_every_key(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], keep[37];
    struct alert_record out[4];
    struct alert_msg m;
    const double ts = 1700000000.123;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 180, ALERT_ABOVE, 1, id);
    make_alert(f, u, t, 300, ALERT_ABOVE, 2, keep);
    assert_int_equal(claim_at(f, t, 180.5, ts), 1);
    assert_string_equal(f->claims[0].user_id, u);
    assert_int_equal(alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, &m, f->err,
                                      sizeof(f->err)),
                     0);
    assert_string_equal(m.alert_id, id);
    assert_string_equal(m.user_id, u);
    assert_string_equal(m.ticker, t);
    assert_true(m.price == 180.5);
    assert_true(m.threshold == 180);
    assert_true(m.timestamp == ts); /* milliseconds kept */
    /* its position in the user's (new) history, nothing before it */
    assert_true(strchr(m.event_id, '-') != NULL && strcmp(m.event_id, "0-0") != 0);
    assert_string_equal(m.prev_event_id, "0-0");
    assert_int_equal(m.seq, 0);
    {
        char want[MSG_TEXT_MAX];
        snprintf(want, sizeof(want), "%s is above $180.00 (Current: $180.50)", t);
        assert_string_equal(m.message, want);
    }
    assert_int_equal(int_reply(f, "HEXISTS user_alerts:{%s} %s", u, id), 0);
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, id), 0);
    assert_int_equal(int_reply(f, "ZCARD alert_idx:{%s}:%s", t, "above"), 1);
    assert_int_equal(int_reply(f, "HEXISTS user_alerts:{%s} %s", u, keep), 1);
    assert_int_equal(alert_store_list(f->rc, u, out, 4, f->err, sizeof(f->err)), 1);
    assert_string_equal(out[0].alert_id, keep);
}

static void test_outbox_ack(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], oid[48], before[48], key[64];
    const char *ack[1], *akey[1] = {key};
    struct alert_claim *rd = calloc(1024, sizeof(*rd));
    long len = 0;
    int n, found = 0;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 5, ALERT_BELOW, 1, NULL);
    assert_int_equal(claim(f, t, 4), 1);
    assert_int_equal(f->claims[0].state, ALERT_CLAIM_READY);
    snprintf(oid, sizeof(oid), "%s", f->claims[0].outbox_id);
    snprintf(key, sizeof(key), "alerts_outbox:{%s}", t);
    assert_string_equal(f->claims[0].outbox_key, key);
    /* too young for a 60 s minimum age */
    n = alert_store_outbox_read(f->rc, key, "0", 60000, rd, 1024, f->err, sizeof(f->err));
    assert_true(n >= 0);
    for (int i = 0; i < n; i++)
        assert_string_not_equal(rd[i].outbox_id, oid);
    /* Start just before our entry. */
    {
        unsigned long long ms = strtoull(oid, NULL, 10);
        snprintf(before, sizeof(before), "%llu-0", ms - 1);
    }
    n = alert_store_outbox_read(f->rc, key, before, 0, rd, 1024, f->err, sizeof(f->err));
    assert_true(n >= 1);
    /* delivered again (the sweeper's path): the very bytes published first */
    assert_int_equal(alert_store_deliver(f->rc, rd, n, f->err, sizeof(f->err)), 0);
    for (int i = 0; i < n; i++) {
        if (strcmp(rd[i].outbox_id, oid) == 0) {
            found = 1;
            assert_int_equal(rd[i].state, ALERT_CLAIM_READY);
            assert_string_equal(rd[i].payload, f->claims[0].payload);
            assert_string_equal(rd[i].user_id, u);
        }
    }
    assert_true(found);
    assert_int_equal(alert_store_outbox_lens(f->rc, akey, 1, &len, f->err, sizeof(f->err)), 1);
    assert_int_equal(len, 1);
    ack[0] = oid;
    assert_int_equal(alert_store_outbox_ack_many(f->rc, akey, ack, 1, f->err, sizeof(f->err)), 0);
    n = alert_store_outbox_read(f->rc, key, before, 0, rd, 1024, f->err, sizeof(f->err));
    for (int i = 0; i < n; i++)
        assert_string_not_equal(rd[i].outbox_id, oid);
    free(rd);
}

struct hist {
    int n;
    struct evid pos[128];
    char alert_id[128][MSG_ID_MAX];
};

static void hist_cb(const char *payload, size_t len, const struct evid *pos, void *ud)
{
    struct hist *h = ud;
    struct alert_msg m;
    char err[128];

    assert_int_equal(alert_msg_decode(payload, len, &m, err, sizeof(err)), 0);
    if (h->n < 128) {
        h->pos[h->n] = *pos;
        snprintf(h->alert_id[h->n], MSG_ID_MAX, "%s", m.alert_id);
    }
    h->n++;
}

static void parse_pos(const char *text, struct evid *out)
{
    assert_int_equal(evid_parse(text, out), 0);
}

static void test_history_positions_chain(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], ids[3][37], key[80];
    struct evid pos[3], prev, tail, future;
    struct alert_msg m;
    struct hist h = {0};

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    for (int i = 0; i < 3; i++) {
        make_alert(f, u, t, 10 + i, ALERT_ABOVE, i, ids[i]);
        assert_int_equal(claim(f, t, 10.5 + i), 1);
        assert_int_equal(alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, &m,
                                          f->err, sizeof(f->err)),
                         0);
        assert_string_equal(m.alert_id, ids[i]);
        parse_pos(m.event_id, &pos[i]);
        parse_pos(m.prev_event_id, &prev);
        /* each position comes right after the one before, in this user's history */
        if (i == 0) {
            assert_true(prev.ms == 0 && prev.seq == 0);
        } else {
            assert_int_equal(evid_cmp(&prev, &pos[i - 1]), 0);
            assert_true(evid_cmp(&pos[i], &pos[i - 1]) > 0);
        }
    }
    /* newest first for the API */
    assert_int_equal(alert_history_list(f->rc, u, 100, hist_cb, &h, f->err, sizeof(f->err)), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(evid_cmp(&h.pos[i], &pos[2 - i]), 0);
        assert_string_equal(h.alert_id[i], ids[2 - i]);
    }
    /* after a position: oldest first, strictly after */
    memset(&h, 0, sizeof(h));
    assert_int_equal(
        alert_history_after(f->rc, u, &pos[0], 100, hist_cb, &h, &tail, f->err, sizeof(f->err)), 2);
    assert_int_equal(evid_cmp(&h.pos[0], &pos[1]), 0);
    assert_int_equal(evid_cmp(&h.pos[1], &pos[2]), 0);
    assert_int_equal(evid_cmp(&tail, &pos[2]), 0);
    /* no resume point: only the tail */
    memset(&h, 0, sizeof(h));
    assert_int_equal(
        alert_history_after(f->rc, u, NULL, 100, hist_cb, &h, &tail, f->err, sizeof(f->err)), 0);
    assert_int_equal(evid_cmp(&tail, &pos[2]), 0);
    /* a position past the tail (forged, or a Redis that lost data): all of it */
    future.ms = pos[2].ms + 1000000;
    future.seq = 0;
    memset(&h, 0, sizeof(h));
    assert_int_equal(
        alert_history_after(f->rc, u, &future, 100, hist_cb, &h, &tail, f->err, sizeof(f->err)), 3);
    future.ms = UINT64_MAX;
    future.seq = UINT64_MAX;
    memset(&h, 0, sizeof(h));
    assert_int_equal(
        alert_history_after(f->rc, u, &future, 100, hist_cb, &h, &tail, f->err, sizeof(f->err)), 3);
    /* a legacy number reads as 0-N: before every position of this version */
    parse_pos("17", &future);
    memset(&h, 0, sizeof(h));
    assert_int_equal(
        alert_history_after(f->rc, u, &future, 100, hist_cb, &h, &tail, f->err, sizeof(f->err)), 3);
    snprintf(key, sizeof(key), "alert_events:{%s}", u);
    assert_true(int_reply(f, "TTL %s%s", key, "") > 0);
    /* an empty history ends at 0-0 */
    unique_user(u, sizeof(u));
    assert_int_equal(
        alert_history_after(f->rc, u, NULL, 100, hist_cb, &h, &tail, f->err, sizeof(f->err)), 0);
    assert_true(tail.ms == 0 && tail.seq == 0);
}

static void test_history_keeps_the_newest(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64];
    struct evid oldest = {0, 0}, tail;
    struct hist h = {0};
    const int n = ALERT_HISTORY_MAX + 5;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    for (int i = 0; i < n; i++)
        make_alert(f, u, t, 10, ALERT_ABOVE, i, NULL);
    assert_int_equal(claim(f, t, 11), n);
    assert_int_equal(alert_history_list(f->rc, u, 1000, hist_cb, &h, f->err, sizeof(f->err)),
                     ALERT_HISTORY_MAX);
    /* resuming from before the oldest kept entry gives what is kept */
    memset(&h, 0, sizeof(h));
    assert_int_equal(
        alert_history_after(f->rc, u, &oldest, 1000, hist_cb, &h, &tail, f->err, sizeof(f->err)),
        ALERT_HISTORY_MAX);
}

/* Pushes a history entry the way the version before did. */
static void legacy_push(struct fixture *f, const char *user, const char *id, long long seq)
{
    char json[512], key[96];
    const char *argv[3];
    redisReply *r;

    snprintf(json, sizeof(json),
             "{\"alert_id\":\"%s\",\"user_id\":\"%s\",\"ticker\":\"AAPL\",\"price\":181,"
             "\"threshold\":180,\"type\":\"above\",\"timestamp\":1700000000.5,"
             "\"message\":\"AAPL is above $180.00 (Current: $181.00)\",\"seq\":%lld}",
             id, user, seq);
    snprintf(key, sizeof(key), "alert_history:%s", user);
    argv[0] = "LPUSH", argv[1] = key, argv[2] = json;
    r = redis_conn_argv(f->rc, 3, argv, NULL);
    assert_non_null(r);
    freeReplyObject(r);
}

static void test_history_migrates_once(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], u2[64], id[37], key[96];
    struct hist h = {0};
    struct evid after, tail;
    redisReply *r;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    unique_user(u2, sizeof(u2));
    legacy_push(f, u, "old-a", 41);
    legacy_push(f, u, "old-b", 57);
    legacy_push(f, u, "old-c", 90);
    /* u2 had a legacy history and fired an alert under the new version first */
    legacy_push(f, u2, "old-d", 12);
    make_alert(f, u2, t, 10, ALERT_ABOVE, 1, id);
    assert_int_equal(claim(f, t, 11), 1);
    r = redis_conn_command(f->rc, "DEL alert_store:schema");
    freeReplyObject(r);
    assert_true(alert_history_migrate(f->rc, f->err, sizeof(f->err)) >= 2);
    snprintf(key, sizeof(key), "alert_history:%s", u);
    assert_int_equal(int_reply(f, "EXISTS %s%s", key, ""), 0);
    assert_int_equal(alert_history_list(f->rc, u, 100, hist_cb, &h, f->err, sizeof(f->err)), 3);
    assert_string_equal(h.alert_id[0], "old-c");
    assert_true(h.pos[0].ms == 0 && h.pos[0].seq == 90);
    assert_true(h.pos[2].ms == 0 && h.pos[2].seq == 41);
    /* a browser of the version before, holding seq 57, resumes after it */
    parse_pos("57", &after);
    memset(&h, 0, sizeof(h));
    assert_int_equal(
        alert_history_after(f->rc, u, &after, 100, hist_cb, &h, &tail, f->err, sizeof(f->err)), 1);
    assert_string_equal(h.alert_id[0], "old-c");
    /* the old entries come before the new one, which keeps its position */
    memset(&h, 0, sizeof(h));
    assert_int_equal(alert_history_list(f->rc, u2, 100, hist_cb, &h, f->err, sizeof(f->err)), 2);
    assert_string_equal(h.alert_id[0], id);
    assert_true(h.pos[0].ms > 0);
    assert_string_equal(h.alert_id[1], "old-d");
    /* once: the marker makes the next call a no-op, and without it nothing moves twice */
    assert_int_equal(alert_history_migrate(f->rc, f->err, sizeof(f->err)), 0);
    r = redis_conn_command(f->rc, "DEL alert_store:schema");
    freeReplyObject(r);
    assert_int_equal(alert_history_migrate(f->rc, f->err, sizeof(f->err)), 0);
    memset(&h, 0, sizeof(h));
    assert_int_equal(alert_history_list(f->rc, u, 100, hist_cb, &h, f->err, sizeof(f->err)), 3);
}

static void test_batch_stops_at_max_and_resumes(void **state)
{
    struct fixture *f = fixture_get(state);
    char t1[32], t2[32], u[64];
    struct alert_tick ticks[2];
    int done = -1, n, total;

    unique_ticker(t1, sizeof(t1));
    unique_ticker(t2, sizeof(t2));
    unique_user(u, sizeof(u));
    for (int i = 0; i < 5; i++) {
        make_alert(f, u, t1, 10, ALERT_ABOVE, i, NULL);
        make_alert(f, u, t2, 10, ALERT_BELOW, i, NULL);
    }
    ticks[0] = (struct alert_tick){.ticker = t1, .price = 11, .timestamp = time_now()};
    ticks[1] = (struct alert_tick){.ticker = t2, .price = 9, .timestamp = time_now()};
    n = alert_store_claim_batch(f->rc, ticks, 2, f->claims, 3, &done, f->err, sizeof(f->err));
    assert_int_equal(n, 3);
    assert_int_equal(done, 0);
    total = n;
    while (done < 2) {
        int d = 0;
        n = alert_store_claim_batch(f->rc, ticks + done, 2 - done, f->claims, 3, &d, f->err,
                                    sizeof(f->err));
        assert_true(n >= 0);
        total += n;
        done += d;
    }
    assert_int_equal(total, 10);
    n = alert_store_claim_batch(f->rc, ticks, 2, f->claims, 3, &done, f->err, sizeof(f->err));
    assert_int_equal(n, 0);
    assert_int_equal(done, 2);
}

/* The scripts, to run one step of a sequence alone (a crash after it). */
static struct redis_script step_create = {(const char *)store_lua_create, {0}};
static struct redis_script step_arm = {(const char *)store_lua_arm, {0}};
static struct redis_script step_delete = {(const char *)store_lua_delete, {0}};
static struct redis_script step_claim = {(const char *)store_lua_claim, {0}};

static void step_run(struct fixture *f, struct redis_script *s, int nkeys, const char **keys,
                     int nargs, const char **args)
{
    redisReply *r = redis_script_call(f->rc, s, nkeys, keys, nargs, args);

    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("script failed: %s", r->str);
    freeReplyObject(r);
}

/* Create step 1 only: the user's pending entry (and the key). */
static void step1_create(struct fixture *f, const char *user, const char *id, const char *ticker,
                         const char *thr, const char *created, const char *idem)
{
    char k_user[96], k_idem[160], k_unpended[96], fp[96];
    const char *keys[3] = {k_user, k_idem, k_unpended};
    const char *args[8] = {id, ticker, thr, "above", created, "100", "60", fp};

    snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", user);
    snprintf(k_idem, sizeof(k_idem), "alert_idem:{%s}:%s", user, idem != NULL ? idem : "");
    snprintf(k_unpended, sizeof(k_unpended), "alert_unpended:{%s}", user);
    snprintf(fp, sizeof(fp), "%s %s above", ticker, thr);
    step_run(f, &step_create, idem != NULL ? 3 : 1, keys, idem != NULL ? 8 : 6, args);
}

static void step2_arm(struct fixture *f, const char *user, const char *id, const char *ticker,
                      const char *thr)
{
    char k_ticker[96], k_idx[96];
    const char *keys[2] = {k_ticker, k_idx};
    const char *args[4] = {id, user, thr, "above"};

    snprintf(k_ticker, sizeof(k_ticker), "ticker_alerts:{%s}", ticker);
    snprintf(k_idx, sizeof(k_idx), "alert_idx:{%s}:above", ticker);
    step_run(f, &step_arm, 2, keys, 4, args);
}

/* Delete step 1 only: gone from the user's list, still armed. */
static void step1_delete(struct fixture *f, const char *user, const char *id)
{
    char k_user[96];
    const char *keys[1] = {k_user};
    const char *args[1] = {id};

    snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", user);
    step_run(f, &step_delete, 1, keys, 1, args);
}

/* Claim step 1 only (no deliver): what a tick at price fires, into the
 * ticker's outbox. */
static void step1_claim(struct fixture *f, const char *ticker, const char *price)
{
    char k[ALERT_STORE_TICKER_KEYS][ALERT_STORE_KEY_MAX], ticks[96];
    const char *keys[ALERT_STORE_TICKER_KEYS];
    const char *args[7] = {"100",
                           ALERT_MSG_TEXT_FORMAT,
                           ticker,
                           ticks,
                           ALERT_MSG_EXPIRED_FORMAT,
                           ALERT_MSG_PERCENT_FORMAT,
                           ALERT_MSG_PERCENT_WINDOW_FORMAT};

    alert_store_ticker_keys(ticker, k, keys);
    snprintf(ticks, sizeof(ticks), "%s 1700000000.25 -1 ", price);
    step_run(f, &step_claim, ALERT_STORE_TICKER_KEYS, keys, 7, args);
}

/* The sweep's expiry, step 1 only (no deliver): id, if armed and past its
 * expiry, into the ticker's outbox. */
static void step1_expire(struct fixture *f, const char *ticker, const char *id)
{
    char k[ALERT_STORE_TICKER_KEYS][ALERT_STORE_KEY_MAX], ids[48];
    const char *keys[ALERT_STORE_TICKER_KEYS];
    const char *args[8] = {"8",
                           ALERT_MSG_TEXT_FORMAT,
                           ticker,
                           "",
                           ALERT_MSG_EXPIRED_FORMAT,
                           ALERT_MSG_PERCENT_FORMAT,
                           ALERT_MSG_PERCENT_WINDOW_FORMAT,
                           ids};

    alert_store_ticker_keys(ticker, k, keys);
    snprintf(ids, sizeof(ids), "%s ", id);
    step_run(f, &step_claim, ALERT_STORE_TICKER_KEYS, keys, 8, args);
}

/* The user's entry for id ("" when none). */
static void user_entry(struct fixture *f, const char *user, const char *id, char *out, size_t len)
{
    redisReply *r = redis_conn_command(f->rc, "HGET user_alerts:{%s} %s", user, id);

    assert_non_null(r);
    snprintf(out, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* Runs the repair sweeps over the whole keyspace once. */
static void sweep_all(struct fixture *f)
{
    struct alert_store_sweep sw;
    int rounds = 0;

    memset(&sw, 0, sizeof(sw));
    do {
        assert_true(alert_store_sweep_step(f->rc, &sw, time_now(), f->err, sizeof(f->err)) >= 0);
        assert_true(++rounds < 1000000);
    } while (strcmp(sw.user_cursor, "0") != 0 || strcmp(sw.ticker_cursor, "0") != 0);
}

/* Reads the ticker's outbox and delivers it, as the sweeper does. */
static int redeliver(struct fixture *f, const char *ticker, struct alert_claim *out, int max)
{
    char key[64];
    int n;

    snprintf(key, sizeof(key), "alerts_outbox:{%s}", ticker);
    n = alert_store_outbox_read(f->rc, key, "0", 0, out, max, f->err, sizeof(f->err));
    assert_true(n >= 0);
    assert_int_equal(alert_store_deliver(f->rc, out, n, f->err, sizeof(f->err)), 0);
    return n;
}

/* Create stopped after step 1: the entry is listed (pending) but fires
 * nothing; the client's retry with the same key arms the stored id. */
static void test_create_crash_after_step1_retry_arms(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], key[48], entry[128];
    struct alert_record rec, out[4];
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    snprintf(key, sizeof(key), "req-%s", t);
    assert_int_equal(alert_store_new_id(id), 0);
    step1_create(f, u, id, t, "10.5", "1700000000", key);
    assert_int_equal(alert_store_list(f->rc, u, out, 4, f->err, sizeof(f->err)), 1);
    assert_string_equal(out[0].alert_id, id);
    assert_int_equal(claim(f, t, 11), 0); /* not armed */
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", u);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", t);
    rec.threshold = 10.5;
    rec.created_at = 1700000001;
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 60, f->err, sizeof(f->err)),
                     ALERT_STORE_REPLAY);
    assert_string_equal(rec.alert_id, id);
    user_entry(f, u, id, entry, sizeof(entry));
    assert_int_equal(strncmp(entry, t, strlen(t)), 0);
    assert_true(strlen(entry) > 2 && strcmp(entry + strlen(entry) - 2, " a") == 0);
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, id), 1);
    assert_int_equal(claim(f, t, 11), 1);
    assert_int_equal(alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, &m, f->err,
                                      sizeof(f->err)),
                     0);
    assert_string_equal(m.alert_id, id);
    assert_int_equal(claim(f, t, 12), 0);
}

/* Creates in one batch (each step of all of them pipelined) end as each
 * would alone: new ones stored and armed, the cap counted in order, a key
 * repeated in the same batch a replay of the first, a key reused for
 * another alert a conflict, an invalid record refused; each stored alert
 * fires once. */
static void test_create_batch_as_one_by_one(void **state)
{
    enum { N = 12 };
    struct fixture *f = fixture_get(state);
    struct alert_store_create cr[N];
    char t[32], u[64], u2[64], key[48], key2[48];
    struct alert_record out[16];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    unique_user(u2, sizeof(u2));
    snprintf(key, sizeof(key), "k-%s", t);
    snprintf(key2, sizeof(key2), "k2-%s", t);
    memset(cr, 0, sizeof(cr));
    for (int i = 0; i < N; i++) {
        assert_int_equal(alert_store_new_id(cr[i].rec.alert_id), 0);
        snprintf(cr[i].rec.user_id, sizeof(cr[i].rec.user_id), "%s", i < 6 ? u : u2);
        snprintf(cr[i].rec.ticker, sizeof(cr[i].rec.ticker), "%s", t);
        cr[i].rec.threshold = 10 + i;
        cr[i].rec.type = ALERT_ABOVE;
        cr[i].rec.created_at = time_now();
        cr[i].max_per_user = i < 6 ? 4 : 100;
    }
    /* u: 0..3 stored, 4 and 5 over the cap of 4. u2: 6 and 7 share a key
     * (the same alert), 8 reuses 6's key for another threshold, 9 has a
     * second key, 10 is invalid, 11 is plain. */
    cr[6].idem_key = key, cr[6].idem_ttl_s = 60;
    cr[7] = cr[6];
    assert_int_equal(alert_store_new_id(cr[7].rec.alert_id), 0);
    cr[8].idem_key = key, cr[8].idem_ttl_s = 60;
    cr[9].idem_key = key2, cr[9].idem_ttl_s = 60;
    cr[10].rec.threshold = -1;
    assert_int_equal(alert_store_create_batch(f->rc, cr, N), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(cr[i].rv, 0);
    assert_int_equal(cr[4].rv, ALERT_STORE_LIMIT);
    assert_int_equal(cr[5].rv, ALERT_STORE_LIMIT);
    assert_int_equal(cr[6].rv, 0);
    assert_int_equal(cr[7].rv, ALERT_STORE_REPLAY);
    assert_string_equal(cr[7].rec.alert_id, cr[6].rec.alert_id);
    assert_int_equal(cr[8].rv, ALERT_STORE_CONFLICT);
    assert_int_equal(cr[9].rv, 0);
    assert_int_equal(cr[10].rv, -1);
    assert_non_null(strstr(cr[10].err, "invalid"));
    assert_int_equal(cr[11].rv, 0);
    assert_int_equal(alert_store_list(f->rc, u, out, 16, f->err, sizeof(f->err)), 4);
    assert_int_equal(alert_store_list(f->rc, u2, out, 16, f->err, sizeof(f->err)), 3);
    /* thresholds 10..13 (u), 16, 19, 21 (u2): all below 100, each once */
    assert_int_equal(claim(f, t, 100), 7);
    assert_int_equal(claim(f, t, 101), 0);
}

/* A create whose arm failed is undone (or, stalled, removed by the repair
 * sweep): it was never acknowledged, so a retry under the same key stores
 * the alert anew instead of answering that it was stored. */
static void test_create_undone_retry_creates_again(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], undone[37], swept[37], key[48], key2[48], old[32], entry[128];
    struct alert_record rec;
    char again[sizeof(rec.alert_id)];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    snprintf(key, sizeof(key), "req-a-%s", t);
    snprintf(key2, sizeof(key2), "req-b-%s", t);
    snprintf(old, sizeof(old), "%.0f", time_now() - 2 * ALERT_STORE_PENDING_AGE_S);
    assert_int_equal(alert_store_new_id(undone), 0);
    assert_int_equal(alert_store_new_id(swept), 0);
    /* The webapp's undo after a failed arm; the sweep's removal. */
    step1_create(f, u, undone, t, "10.5", "1700000000", key);
    assert_int_equal(alert_store_unpend(f->rc, u, undone, NULL, f->err, sizeof(f->err)), 1);
    step1_create(f, u, swept, t, "11.5", old, key2);
    sweep_all(f);
    user_entry(f, u, swept, entry, sizeof(entry));
    assert_string_equal(entry, "");
    for (int i = 0; i < 2; i++) {
        memset(&rec, 0, sizeof(rec));
        assert_int_equal(alert_store_new_id(rec.alert_id), 0);
        snprintf(rec.user_id, sizeof(rec.user_id), "%s", u);
        snprintf(rec.ticker, sizeof(rec.ticker), "%s", t);
        rec.threshold = i == 0 ? 10.5 : 11.5;
        rec.created_at = time_now();
        assert_int_equal(alert_store_create_once(f->rc, &rec, 100, i == 0 ? key : key2, 60, f->err,
                                                 sizeof(f->err)),
                         0);
        assert_string_not_equal(rec.alert_id, i == 0 ? undone : swept);
        user_entry(f, u, rec.alert_id, entry, sizeof(entry));
        assert_true(strlen(entry) > 2 && strcmp(entry + strlen(entry) - 2, " a") == 0);
        /* Now it is stored: the same key again is a replay of this one. */
        snprintf(again, sizeof(again), "%s", rec.alert_id);
        assert_int_equal(alert_store_new_id(rec.alert_id), 0);
        assert_int_equal(alert_store_create_once(f->rc, &rec, 100, i == 0 ? key : key2, 60, f->err,
                                                 sizeof(f->err)),
                         ALERT_STORE_REPLAY);
        assert_string_equal(rec.alert_id, again);
    }
    assert_int_equal(claim(f, t, 12), 2); /* both fire, once */
    assert_int_equal(claim(f, t, 13), 0);
}

/* The evaluator's claim of one ticker at one price, as a hook. */
struct fire_between {
    struct fixture *f;
    const char *ticker;
    double price;
    int fired;
};

static void fire_now(void *arg)
{
    struct fire_between *fb = arg;

    fb->fired = claim(fb->f, fb->ticker, fb->price);
}

/* An alert whose threshold is already crossed fires between the create's
 * arm and its mark (the evaluator claims it within milliseconds): the create
 * stored it and answers so; a retry under the same key replays that id; it
 * fired once. The mark of an entry removed while pending still answers 0. */
static void test_create_fired_before_mark_is_stored(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], key[48], id[sizeof(((struct alert_record *)0)->alert_id)];
    struct alert_record rec;
    struct fire_between fb;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    snprintf(key, sizeof(key), "req-%s", t);
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", u);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", t);
    rec.threshold = 10.0;
    rec.type = ALERT_ABOVE;
    rec.created_at = time_now();
    fb = (struct fire_between){f, t, 11.0, -1};
    hook_fn = fire_now, hook_arg = &fb, hook_script = "-- mark";
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 60, f->err, sizeof(f->err)), 0);
    assert_null(hook_script);
    assert_int_equal(fb.fired, 1);
    snprintf(id, sizeof(id), "%s", rec.alert_id);
    assert_int_equal(alert_store_mark(f->rc, u, id, f->err, sizeof(f->err)), 2);
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, key, 60, f->err, sizeof(f->err)),
                     ALERT_STORE_REPLAY);
    assert_string_equal(rec.alert_id, id);
    assert_int_equal(claim(f, t, 12.0), 0);
    /* Removed while pending: 0. */
    assert_int_equal(alert_store_new_id(id), 0);
    step1_create(f, u, id, t, "10.5", "1700000000", NULL);
    assert_int_equal(alert_store_unpend(f->rc, u, id, NULL, f->err, sizeof(f->err)), 1);
    assert_int_equal(alert_store_mark(f->rc, u, id, f->err, sizeof(f->err)), 0);
}

/* The repair sweep: an old pending entry the ticker side has is marked
 * armed, one it has not is removed, a young one is left alone. */
static void test_pending_repaired_by_sweep(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], gone[37], armed[37], young[37], old[32], now[32], entry[128];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    snprintf(old, sizeof(old), "%.0f", time_now() - 2 * ALERT_STORE_PENDING_AGE_S);
    snprintf(now, sizeof(now), "%.0f", time_now());
    assert_int_equal(alert_store_new_id(gone), 0);
    assert_int_equal(alert_store_new_id(armed), 0);
    assert_int_equal(alert_store_new_id(young), 0);
    step1_create(f, u, gone, t, "10", old, NULL);
    step1_create(f, u, armed, t, "20", old, NULL);
    step2_arm(f, u, armed, t, "20");
    step1_create(f, u, young, t, "30", now, NULL);
    sweep_all(f);
    user_entry(f, u, gone, entry, sizeof(entry));
    assert_string_equal(entry, "");
    user_entry(f, u, armed, entry, sizeof(entry));
    assert_true(strlen(entry) > 2 && strcmp(entry + strlen(entry) - 2, " a") == 0);
    user_entry(f, u, young, entry, sizeof(entry));
    assert_true(strlen(entry) > 2 && strcmp(entry + strlen(entry) - 2, " p") == 0);
    assert_int_equal(claim(f, t, 25), 1); /* the armed one fires, once */
    assert_string_equal(f->claims[0].alert_id, armed);
    assert_int_equal(f->claims[0].state, ALERT_CLAIM_READY);
}

/* Delete stopped after step 1: the alert is an orphan. Firing it delivers
 * nothing (skipped, outbox emptied), and otherwise the sweep disarms it. */
static void test_delete_crash_orphan_skipped_or_disarmed(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], t2[32], u[64], id[37], id2[37];
    struct hist h = {0};

    unique_ticker(t, sizeof(t));
    unique_ticker(t2, sizeof(t2));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 10, ALERT_ABOVE, 1, id);
    make_alert(f, u, t2, 10, ALERT_ABOVE, 2, id2);
    step1_delete(f, u, id);
    step1_delete(f, u, id2);
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, id), 1);
    assert_int_equal(claim(f, t, 11), 1);
    assert_int_equal(f->claims[0].state, ALERT_CLAIM_SKIPPED);
    assert_int_equal(int_reply(f, "XLEN alerts_outbox:{%s}%s", t, ""), 0);
    assert_int_equal(alert_history_list(f->rc, u, 100, hist_cb, &h, f->err, sizeof(f->err)), 0);
    assert_int_equal(claim(f, t, 12), 0);
    sweep_all(f);
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t2, id2), 0);
    assert_int_equal(int_reply(f, "ZCARD alert_idx:{%s}:%s", t2, "above"), 0);
    assert_int_equal(claim(f, t2, 11), 0);
}

/* Claim stopped before deliver: the alert waits in the ticker's outbox
 * without a position; the sweeper's deliver gives it one, and a second
 * deliver gives the same one, byte for byte, without a second entry. */
static void test_claim_crash_before_deliver(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], first[MSG_MAX_BYTES];
    struct alert_claim *rd = calloc(8, sizeof(*rd));
    struct alert_record out[2];
    struct hist h = {0};
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 10, ALERT_ABOVE, 1, id);
    step1_claim(f, t, "11");
    assert_int_equal(int_reply(f, "XLEN alerts_outbox:{%s}%s", t, ""), 1);
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, id), 0);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 1);
    assert_int_equal(redeliver(f, t, rd, 8), 1);
    assert_int_equal(rd[0].state, ALERT_CLAIM_READY);
    assert_int_equal(alert_msg_decode(rd[0].payload, rd[0].payload_len, &m, f->err, sizeof(f->err)),
                     0);
    assert_string_equal(m.alert_id, id);
    assert_string_equal(m.prev_event_id, "0-0");
    snprintf(first, sizeof(first), "%s", rd[0].payload);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 0);
    assert_int_equal(redeliver(f, t, rd, 8), 1); /* published, not yet acknowledged */
    assert_int_equal(rd[0].state, ALERT_CLAIM_READY);
    assert_string_equal(rd[0].payload, first);
    assert_int_equal(alert_history_list(f->rc, u, 100, hist_cb, &h, f->err, sizeof(f->err)), 1);
    free(rd);
}

/* The user deletes an alert between its claim and its deliver: the delete
 * is answered, the alert is not delivered and its outbox entry goes. */
static void test_deliver_skips_after_delete(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37];
    struct alert_claim *rd = calloc(8, sizeof(*rd));
    struct hist h = {0};

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 10, ALERT_ABOVE, 1, id);
    step1_claim(f, t, "11");
    assert_int_equal(alert_store_delete(f->rc, u, id, f->err, sizeof(f->err)), 0);
    assert_int_equal(redeliver(f, t, rd, 8), 1);
    assert_int_equal(rd[0].state, ALERT_CLAIM_SKIPPED);
    assert_int_equal(int_reply(f, "XLEN alerts_outbox:{%s}%s", t, ""), 0);
    assert_int_equal(alert_history_list(f->rc, u, 100, hist_cb, &h, f->err, sizeof(f->err)), 0);
    free(rd);
}

static void command_ok(struct fixture *f, const char *cmd)
{
    redisReply *r = redis_conn_command(f->rc, cmd);

    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

/* Keys as schema 2 wrote them move once: the alert is listed with its exact
 * numbers, its idempotency key still answers, it fires once. */
static void test_store_migrates_schema2(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], cmd[512];
    struct alert_record rec, out[2];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    assert_int_equal(alert_store_new_id(id), 0);
    snprintf(cmd, sizeof(cmd),
             "HSET alert:%s user_id %s ticker %s threshold 150.25 type above "
             "created_at 1700000000.5",
             id, u, t);
    command_ok(f, cmd);
    snprintf(cmd, sizeof(cmd), "SADD user_alerts:%s %s", u, id);
    command_ok(f, cmd);
    snprintf(cmd, sizeof(cmd), "SADD ticker_alerts:%s %s", t, id);
    command_ok(f, cmd);
    snprintf(cmd, sizeof(cmd), "ZADD alert_idx:%s:above 150.25 %s", t, id);
    command_ok(f, cmd);
    /* the value holds spaces: set through argv */
    {
        char key[128], val[128];
        const char *argv[5] = {"SET", key, val, "EX", "100"};
        redisReply *r;
        snprintf(key, sizeof(key), "alert_idem:%s:k-1", u);
        snprintf(val, sizeof(val), "%s %s 150.25 above", id, t);
        r = redis_conn_argv(f->rc, 5, argv, NULL);
        assert_non_null(r);
        freeReplyObject(r);
    }
    command_ok(f, "DEL alert_store:schema");
    assert_true(alert_store_migrate(f->rc, f->err, sizeof(f->err)) >= 2);
    assert_int_equal(alert_store_migrate(f->rc, f->err, sizeof(f->err)), 0); /* marker */
    assert_int_equal(int_reply(f, "EXISTS alert:%s%s", id, ""), 0);
    assert_int_equal(int_reply(f, "EXISTS user_alerts:%s%s", u, ""), 0);
    assert_int_equal(int_reply(f, "EXISTS ticker_alerts:%s%s", t, ""), 0);
    assert_int_equal(int_reply(f, "EXISTS alert_idem:%s:%s", u, "k-1"), 0);
    assert_in_range(int_reply(f, "TTL alert_idem:{%s}:%s", u, "k-1"), 1, 100);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 1);
    assert_string_equal(out[0].alert_id, id);
    assert_true(out[0].threshold == 150.25);
    assert_true(out[0].created_at == 1700000000.5);
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", u);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", t);
    rec.threshold = 150.25;
    rec.created_at = 1;
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, "k-1", 60, f->err, sizeof(f->err)),
                     ALERT_STORE_REPLAY);
    assert_string_equal(rec.alert_id, id);
    assert_int_equal(claim(f, t, 150.26), 1);
    assert_string_equal(f->claims[0].alert_id, id);
    assert_int_equal(claim(f, t, 151), 0);
    /* without the marker a second run moves nothing of this again */
    command_ok(f, "DEL alert_store:schema");
    assert_true(alert_store_migrate(f->rc, f->err, sizeof(f->err)) >= 0);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 0);
    assert_int_equal(claim(f, t, 152), 0);
}

/* ---- expiry and notes ------------------------------------------------------ */

/* An above alert created now, with an expiry and a note. */
static void make_alert_x(struct fixture *f, const char *user, const char *ticker, double thr,
                         long long expires_at, const char *note, char *id_out)
{
    make_alert_full(f, user, ticker, thr, ALERT_ABOVE, time_now(), expires_at, note, id_out);
}

/* The user's history, each entry decoded, newest first, into out[0..max). */
struct hist_msgs {
    int n;
    struct alert_msg m[8];
};

static void hist_msg_cb(const char *payload, size_t len, const struct evid *pos, void *ud)
{
    struct hist_msgs *h = ud;
    char err[128];

    (void)pos;
    if (h->n < 8)
        assert_int_equal(alert_msg_decode(payload, len, &h->m[h->n], err, sizeof(err)), 0);
    h->n++;
}

static void history_of(struct fixture *f, const char *user, struct hist_msgs *h)
{
    memset(h, 0, sizeof(*h));
    assert_true(alert_history_list(f->rc, user, 100, hist_msg_cb, h, f->err, sizeof(f->err)) >= 0);
}

/* A note and an expiry are stored, listed as they were given, and an alert
 * of before (no expiry in its record) lists none. */
static void test_note_and_expiry_listed(void **state)
{
    struct fixture *f = fixture_get(state);
    const char *note = "Take profit <b>now</b> \"50%\" \\ \xc3\xa9\xe2\x82\xac\xf0\x9f\x9a\x80";
    char t[32], u[64], id[37], old[37];
    struct alert_record out[2];
    long long exp = (long long)time_now() + 3600;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 10, ALERT_ABOVE, 1, old);
    make_alert_x(f, u, t, 20, exp, note, id);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 2);
    assert_string_equal(out[0].alert_id, id);
    assert_int_equal(out[0].expires_at, exp);
    assert_string_equal(out[0].note, note);
    assert_string_equal(out[1].alert_id, old);
    assert_int_equal(out[1].expires_at, 0);
    assert_string_equal(out[1].note, "");
}

/* A fired alert with a note carries it as the last field before its
 * positions; the bytes before it are those of an alert without one. */
static void test_note_carried_when_fired(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], expect[MSG_MAX_BYTES];
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_x(f, u, t, 10, (long long)time_now() + 3600, "sell <i>half</i>", id);
    assert_int_equal(claim_at(f, t, 11, 1700000000.25), 1);
    assert_int_equal(f->claims[0].state, ALERT_CLAIM_READY);
    snprintf(expect, sizeof(expect),
             "{\"alert_id\":\"%s\",\"user_id\":\"%s\",\"ticker\":\"%s\",\"price\":11,"
             "\"threshold\":10,\"type\":\"above\",\"timestamp\":1700000000.25,\"message\":\"%s is "
             "above $10.00 (Current: $11.00)\",\"note\":\"sell <i>half</i>\",\"event_id\":",
             id, u, t, t);
    assert_memory_equal(f->claims[0].payload, expect, strlen(expect));
    assert_int_equal(alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, &m, f->err,
                                      sizeof(f->err)),
                     0);
    assert_string_equal(m.note, "sell <i>half</i>");
    assert_int_equal(m.expired, 0);
}

/* An alert past its expiry never fires, even before any sweep: the claim
 * that crosses it puts it in the history as expired (no price), once. */
static void test_expired_never_fires(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], live[37];
    long long exp = (long long)time_now() - 5;
    struct hist_msgs h;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_x(f, u, t, 10, exp, "n", id);
    make_alert_x(f, u, t, 12, (long long)time_now() + 3600, "", live);
    assert_int_equal(claim(f, t, 13), 2);
    history_of(f, u, &h);
    assert_int_equal(h.n, 2);
    for (int i = 0; i < 2; i++) {
        if (strcmp(h.m[i].alert_id, id) == 0) {
            assert_int_equal(h.m[i].expired, 1);
            assert_int_equal(h.m[i].expires_at, exp);
            assert_true(h.m[i].price == 0);
            assert_string_equal(h.m[i].note, "n");
            assert_non_null(strstr(h.m[i].message, "Alert expired: "));
        } else {
            assert_string_equal(h.m[i].alert_id, live);
            assert_int_equal(h.m[i].expired, 0);
        }
    }
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, id), 0);
    assert_int_equal(int_reply(f, "HEXISTS user_alerts:{%s} %s", u, id), 0);
    assert_int_equal(claim(f, t, 14), 0);
    history_of(f, u, &h);
    assert_int_equal(h.n, 2);
}

/* The sweep removes an alert past its expiry that no tick crossed and
 * writes its expired history entry exactly once; the outbox keeps it for
 * the evaluator to publish, whose deliver finds the same entry. An alert
 * of before (no expiry) and a live one are left alone. */
static void test_sweep_expires_once(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], old[37], live[37], first[MSG_MAX_BYTES];
    struct alert_claim *rd = calloc(8, sizeof(*rd));
    struct alert_record out[4];
    struct hist_msgs h;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_x(f, u, t, 10, (long long)time_now() - 1, "", id);
    make_alert(f, u, t, 10, ALERT_ABOVE, time_now() - 400 * 86400.0, old);
    make_alert_x(f, u, t, 10, (long long)time_now() + 3600, "", live);
    sweep_all(f);
    assert_int_equal(alert_store_list(f->rc, u, out, 4, f->err, sizeof(f->err)), 2);
    history_of(f, u, &h);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.m[0].alert_id, id);
    assert_int_equal(h.m[0].expired, 1);
    sweep_all(f);
    history_of(f, u, &h);
    assert_int_equal(h.n, 1);
    assert_int_equal(redeliver(f, t, rd, 8), 1); /* the evaluator's sweeper */
    assert_int_equal(rd[0].state, ALERT_CLAIM_READY);
    snprintf(first, sizeof(first), "%s", rd[0].payload);
    assert_non_null(strstr(first, "\"status\":\"expired\""));
    assert_int_equal(redeliver(f, t, rd, 8), 1);
    assert_string_equal(rd[0].payload, first);
    history_of(f, u, &h);
    assert_int_equal(h.n, 1);
    assert_int_equal(claim(f, t, 11), 2); /* the other two fire */
    free(rd);
}

/* The sweep's expiry stopped after its first step (into the outbox, before
 * the history): the alert is still listed; a sweep does not expire it
 * twice; the outbox sweeper's deliver writes the one expired entry. */
static void test_expire_crash_between_steps(void **state)
{
    struct fixture *f = fixture_get(state);
    struct alert_claim *rd = calloc(8, sizeof(*rd));
    struct alert_record out[2];
    struct hist_msgs h;
    char t[32], u[64], id[37];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_x(f, u, t, 10, (long long)time_now() - 1, "", id);
    step1_expire(f, t, id);
    assert_int_equal(int_reply(f, "XLEN alerts_outbox:{%s}%s", t, ""), 1);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 1);
    step1_expire(f, t, id); /* again: nothing armed, nothing added */
    sweep_all(f);
    assert_int_equal(int_reply(f, "XLEN alerts_outbox:{%s}%s", t, ""), 1);
    history_of(f, u, &h);
    assert_int_equal(h.n, 0);
    assert_int_equal(redeliver(f, t, rd, 8), 1);
    history_of(f, u, &h);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.m[0].expired, 1);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 0);
    sweep_all(f);
    history_of(f, u, &h);
    assert_int_equal(h.n, 1);
    free(rd);
}

/* An idempotency key covers the note: the same note replays, another is a
 * conflict; the replay keeps the stored expiry. */
static void test_create_once_covers_note(void **state)
{
    struct fixture *f = fixture_get(state);
    struct alert_record a, b;
    char t[32], u[64];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    memset(&a, 0, sizeof(a));
    assert_int_equal(alert_store_new_id(a.alert_id), 0);
    snprintf(a.user_id, sizeof(a.user_id), "%s", u);
    snprintf(a.ticker, sizeof(a.ticker), "%s", t);
    a.threshold = 5;
    a.created_at = time_now();
    a.expires_at = (long long)time_now() + 100;
    snprintf(a.note, sizeof(a.note), "first");
    b = a;
    assert_int_equal(alert_store_create_once(f->rc, &a, 10, "k1", 60, f->err, sizeof(f->err)), 0);
    assert_int_equal(alert_store_new_id(b.alert_id), 0);
    b.expires_at += 7;
    assert_int_equal(alert_store_create_once(f->rc, &b, 10, "k1", 60, f->err, sizeof(f->err)),
                     ALERT_STORE_REPLAY);
    assert_string_equal(b.alert_id, a.alert_id);
    assert_int_equal(b.expires_at, a.expires_at);
    snprintf(b.note, sizeof(b.note), "second");
    assert_int_equal(alert_store_create_once(f->rc, &b, 10, "k1", 60, f->err, sizeof(f->err)),
                     ALERT_STORE_CONFLICT);
}

/* The wrapped calls above really were checked. */
static void test_every_call_checked(void **state)
{
    fixture_get(state);
    assert_true(tag_checks > 0);
}

/* ---- issue 18: crosses and percent conditions -------------------------- */

/* Creates an alert of rec's condition fields (type, direction, percent,
 * reference_price, threshold) for user on ticker, with an hour to live
 * unless rec->expires_at says;
 * its id into id_out[37]. idem: an idempotency key or NULL; returns the
 * create's result. */
static int make_cond(struct fixture *f, const char *user, const char *ticker,
                     struct alert_record *rec, const char *idem, char *id_out)
{
    int rv;

    assert_int_equal(alert_store_new_id(rec->alert_id), 0);
    snprintf(rec->user_id, sizeof(rec->user_id), "%s", user);
    snprintf(rec->ticker, sizeof(rec->ticker), "%s", ticker);
    rec->created_at = time_now();
    if (rec->expires_at == 0)
        rec->expires_at = (long long)time_now() + 3600;
    rv = alert_store_create_once(f->rc, rec, 100000, idem, idem != NULL ? 3600 : 0, f->err,
                                 sizeof(f->err));
    if (id_out != NULL)
        memcpy(id_out, rec->alert_id, 37);
    return rv;
}

static void make_crosses(struct fixture *f, const char *user, const char *ticker, double thr,
                         enum alert_dir dir, char *id_out)
{
    struct alert_record rec = {.threshold = thr, .type = ALERT_CROSSES, .direction = dir};

    assert_int_equal(make_cond(f, user, ticker, &rec, NULL, id_out), 0);
}

static void make_percent(struct fixture *f, const char *user, const char *ticker,
                         enum alert_type type, double pct, double ref, char *id_out)
{
    struct alert_record rec = {.type = type, .percent = pct, .reference_price = ref};

    rec.threshold = type == ALERT_PERCENT_UP ? ref * (1 + pct / 100) : ref * (1 - pct / 100);
    assert_int_equal(make_cond(f, user, ticker, &rec, NULL, id_out), 0);
}

/* The one claim of f->claims, decoded. */
static void claimed_msg(struct fixture *f, struct alert_msg *m)
{
    assert_int_equal(
        alert_msg_decode(f->claims[0].payload, f->claims[0].payload_len, m, f->err, sizeof(f->err)),
        0);
}

/* A crosses alert set with the price below its threshold fires when the
 * price goes above it, one set above fires when it goes below; neither
 * fires on its own side or at the threshold. Both carry "type":"crosses"
 * and their direction in the alert JSON and in the list. */
static void test_crosses_from_either_side(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], up[37], down[37];
    struct alert_record out[2];
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_crosses(f, u, t, 100, ALERT_DIR_UP, up);
    make_crosses(f, u, t, 100, ALERT_DIR_DOWN, down);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(out[i].type, ALERT_CROSSES);
        assert_int_equal(out[i].direction,
                         strcmp(out[i].alert_id, up) == 0 ? ALERT_DIR_UP : ALERT_DIR_DOWN);
        assert_true(out[i].threshold == 100);
    }
    assert_int_equal(claim(f, t, 100), 0);
    assert_int_equal(claim(f, t, 100.5), 1);
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, up);
    assert_int_equal(m.type, ALERT_CROSSES);
    assert_int_equal(m.direction, ALERT_DIR_UP);
    assert_non_null(strstr(f->claims[0].payload, "\"type\":\"crosses\",\"direction\":\"up\""));
    assert_non_null(strstr(m.message, "is above $100.00"));
    assert_int_equal(claim(f, t, 101), 0); /* fired once */
    assert_int_equal(claim(f, t, 99.5), 1);
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, down);
    assert_int_equal(m.direction, ALERT_DIR_DOWN);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), 0);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 0);
}

/* An above alert's JSON is what it was before issue 18, byte for byte:
 * no member added, the same order. */
static void test_above_json_unchanged(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], want[512];

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert(f, u, t, 100, ALERT_ABOVE, 1, id);
    assert_int_equal(claim_at(f, t, 100.5, 1700000000.25), 1);
    snprintf(want, sizeof(want),
             "{\"alert_id\":\"%s\",\"user_id\":\"%s\",\"ticker\":\"%s\",\"price\":100.5,"
             "\"threshold\":100,\"type\":\"above\",\"timestamp\":1700000000.25,\"message\":"
             "\"%s is above $100.00 (Current: $100.50)\"",
             id, u, t, t);
    assert_memory_equal(f->claims[0].payload, want, strlen(want));
}

/* A percent alert is an above / below entry at its level: percent_up 5 %
 * of 100 fires above 105, percent_down 10 % of 100 below 90; the JSON says
 * which condition fired (type, percent, reference_price, the percent
 * message); the list shows percent and reference. */
static void test_percent_with_reference(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], up[37], down[37], text[128];
    struct alert_record out[2];
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_percent(f, u, t, ALERT_PERCENT_UP, 5, 100, up);
    make_percent(f, u, t, ALERT_PERCENT_DOWN, 10, 100, down);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 2);
    for (int i = 0; i < 2; i++) {
        int is_up = strcmp(out[i].alert_id, up) == 0;
        assert_int_equal(out[i].type, is_up ? ALERT_PERCENT_UP : ALERT_PERCENT_DOWN);
        assert_true(out[i].percent == (is_up ? 5 : 10));
        assert_true(out[i].reference_price == 100);
        assert_true(out[i].threshold == (is_up ? 100 * 1.05 : 100 * 0.9));
    }
    assert_int_equal(claim(f, t, 104.9), 0);
    assert_int_equal(claim(f, t, 90.1), 0);
    assert_int_equal(claim(f, t, 105.2), 1);
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, up);
    assert_int_equal(m.type, ALERT_PERCENT_UP);
    assert_true(m.percent == 5);
    assert_true(m.reference_price == 100);
    assert_true(m.threshold == 100 * 1.05); /* the level, exact */
    snprintf(text, sizeof(text), "%s is up 5%% from $100.00 (Current: $105.20)", t);
    assert_string_equal(m.message, text);
    assert_int_equal(claim(f, t, 89.5), 1);
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, down);
    assert_int_equal(m.type, ALERT_PERCENT_DOWN);
    assert_true(m.percent == 10);
}

/* A crosses alert retried under its idempotency key after the price moved
 * to the other side is the same request: REPLAY, the stored direction. */
static void test_crosses_replay_keeps_direction(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37];
    struct alert_record rec = {.threshold = 50, .type = ALERT_CROSSES, .direction = ALERT_DIR_UP};
    struct alert_record again = {
        .threshold = 50, .type = ALERT_CROSSES, .direction = ALERT_DIR_DOWN};

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    assert_int_equal(make_cond(f, u, t, &rec, "k-crosses", id), 0);
    assert_int_equal(make_cond(f, u, t, &again, "k-crosses", NULL), ALERT_STORE_REPLAY);
    assert_string_equal(again.alert_id, id);
    assert_int_equal(again.direction, ALERT_DIR_UP);
    assert_int_equal(int_reply(f, "ZCARD alert_idx:{%s}:above%s", t, ""), 1);
    assert_int_equal(int_reply(f, "EXISTS alert_idx:{%s}:below%s", t, ""), 0);
}

/* A crosses alert past its expiry that a tick crosses enters the outbox
 * as expired, never fired, with its type and direction. */
static void test_crosses_expires(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37];
    struct alert_record rec = {.threshold = 10, .type = ALERT_CROSSES, .direction = ALERT_DIR_UP};
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    rec.expires_at = (long long)time_now() - 1;
    assert_int_equal(make_cond(f, u, t, &rec, NULL, id), 0);
    assert_int_equal(claim(f, t, 11), 1);
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, id);
    assert_int_equal(m.expired, 1);
    assert_int_equal(m.type, ALERT_CROSSES);
    assert_int_equal(m.direction, ALERT_DIR_UP);
}

/* ---- rolling windows (percent alerts with window_s) ---------------------- */

/* A percent alert with a rolling window of w seconds, reference ref (the
 * seed of a new window); returns the create's result. */
static int make_window(struct fixture *f, const char *user, const char *ticker,
                       enum alert_type type, double pct, int w, double ref, char *id_out)
{
    struct alert_record rec = {.type = type, .percent = pct, .reference_price = ref, .window_s = w};

    rec.threshold = type == ALERT_PERCENT_UP ? ref * (1 + pct / 100) : ref * (1 - pct / 100);
    return make_cond(f, user, ticker, &rec, NULL, id_out);
}

/* A command on ticker t's window w (fmt takes both: "HGET alert_windows:{%s}
 * %s"): its integer reply, or the number of its string reply (0: nil). */
static long long window_int(struct fixture *f, const char *fmt, const char *t, int w)
{
    char ws[16];
    redisReply *r;
    long long v = 0;

    snprintf(ws, sizeof(ws), "%d", w);
    r = redis_conn_command(f->rc, fmt, t, ws);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    else
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return v;
}

/* percent_up 5 % over 5 min fires at the first tick at least 5 % above the
 * window's low (not before, not at 4.9 %), and its JSON and message say
 * against which low; percent_down 10 % fires against the window's high.
 * The list shows percent and window_s, no reference. */
static void test_window_up_and_down_fire_at_the_right_tick(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], up[37], down[37], text[160];
    struct alert_record out[2];
    struct alert_msg m;
    double t0 = time_now();

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    assert_int_equal(make_window(f, u, t, ALERT_PERCENT_UP, 5, 300, 100, up), 0);
    assert_int_equal(make_window(f, u, t, ALERT_PERCENT_DOWN, 10, 300, 100, down), 0);
    assert_int_equal(window_int(f, "HGET alert_windows:{%s} %s", t, 300), 2);
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(out[i].window_s, 300);
        assert_true(out[i].percent == (strcmp(out[i].alert_id, up) == 0 ? 5 : 10));
    }
    assert_int_equal(claim_at(f, t, 101, t0 + 10), 0);   /* high 101 */
    assert_int_equal(claim_at(f, t, 98, t0 + 20), 0);    /* low 98 */
    assert_int_equal(claim_at(f, t, 102.8, t0 + 30), 0); /* 4.9 % above 98 */
    assert_int_equal(claim_at(f, t, 103, t0 + 40), 1);   /* 5.1 % above 98 */
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, up);
    assert_int_equal(m.type, ALERT_PERCENT_UP);
    assert_int_equal(m.window_s, 300);
    assert_true(m.reference_price == 98);
    assert_true(fabs(m.threshold - 98 * 1.05) < 1e-9);
    assert_non_null(strstr(f->claims[0].payload, "\"percent\":5,\"window_s\":300,"
                                                 "\"reference_price\":98,"));
    snprintf(text, sizeof(text), "%s is up 5%% from its 5min low of $98.00 (Current: $103.00)", t);
    assert_string_equal(m.message, text);
    /* the high is 103 now; 10 % below it is 92.7 */
    assert_int_equal(claim_at(f, t, 92.8, t0 + 50), 0);
    assert_int_equal(claim_at(f, t, 92.6, t0 + 60), 1);
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, down);
    assert_true(m.reference_price == 103);
    snprintf(text, sizeof(text), "%s is down 10%% from its 5min high of $103.00 (Current: $92.60)",
             t);
    assert_string_equal(m.message, text);
    /* the window's last alert fired: its keys are gone */
    assert_int_equal(int_reply(f, "EXISTS alert_windows:{%s}%s", t, ""), 0);
    assert_int_equal(window_int(f, "EXISTS alert_win:{%s}:%s:min", t, 300), 0);
    assert_int_equal(window_int(f, "EXISTS alert_idx:{%s}:w%s:up", t, 300), 0);
}

/* The low follows the ticks: a low older than the window leaves it, so a
 * price 5 % above that old low but not above the lows within the window
 * fires nothing; the deques hold only what can still become the low
 * (rising) or the high (falling). */
static void test_window_slides_past_an_old_low(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37];
    struct alert_msg m;
    double t0 = time_now();

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    assert_int_equal(make_window(f, u, t, ALERT_PERCENT_UP, 5, 60, 100, id), 0);
    assert_int_equal(claim_at(f, t, 90, t0 + 1), 0);
    assert_int_equal(claim_at(f, t, 93, t0 + 20), 0); /* 3.3 % above 90 */
    assert_int_equal(claim_at(f, t, 92, t0 + 30), 0); /* pops 93 from the min deque */
    assert_int_equal(window_int(f, "LLEN alert_win:{%s}:%s:min", t, 60), 2); /* 90, 92 */
    assert_int_equal(window_int(f, "LLEN alert_win:{%s}:%s:max", t, 60), 3); /* 100, 93, 92 */
    /* 94.6 is 5.1 % above 90 (t0+1), but that low left the window at t0+61 */
    assert_int_equal(claim_at(f, t, 94.6, t0 + 70), 0);
    assert_int_equal(window_int(f, "LLEN alert_win:{%s}:%s:min", t, 60), 2); /* 92, 94.6 */
    assert_int_equal(window_int(f, "LLEN alert_win:{%s}:%s:max", t, 60), 1); /* 94.6 */
    /* a tick read again after a crash (older than the newest entry) is left
     * out: the low stays 92, 94.6 is not popped */
    assert_int_equal(claim_at(f, t, 91, t0 + 40), 0);
    assert_int_equal(window_int(f, "LLEN alert_win:{%s}:%s:min", t, 60), 2);
    /* 96.7 is 5.1 % above 92 (t0+30, still in the window) */
    assert_int_equal(claim_at(f, t, 96.7, t0 + 80), 1);
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, id);
    assert_true(m.reference_price == 92);
}

/* A delete and an expiry take a window alert out of its window's index and
 * count; the window's keys stay while another alert uses it and go with
 * the last. The expired entry carries window_s and no reference. */
static void test_window_disarm_and_expire(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], a[37], b[37];
    const char *ids[1] = {b};
    struct alert_record rec = {.type = ALERT_PERCENT_DOWN,
                               .percent = 3,
                               .reference_price = 50,
                               .window_s = 120,
                               .threshold = 48.5};
    struct alert_msg m;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    assert_int_equal(make_window(f, u, t, ALERT_PERCENT_UP, 5, 120, 50, a), 0);
    rec.expires_at = (long long)time_now() - 1;
    assert_int_equal(make_cond(f, u, t, &rec, NULL, b), 0);
    assert_int_equal(window_int(f, "HGET alert_windows:{%s} %s", t, 120), 2);
    assert_int_equal(alert_store_delete(f->rc, u, a, f->err, sizeof(f->err)), 0);
    assert_int_equal(window_int(f, "ZCARD alert_idx:{%s}:w%s:up", t, 120), 0);
    assert_int_equal(window_int(f, "HGET alert_windows:{%s} %s", t, 120), 1);
    assert_int_equal(window_int(f, "EXISTS alert_win:{%s}:%s:max", t, 120), 1);
    assert_int_equal(alert_store_expire(f->rc, t, ids, 1, f->claims, f->err, sizeof(f->err)), 1);
    claimed_msg(f, &m);
    assert_string_equal(m.alert_id, b);
    assert_int_equal(m.expired, 1);
    assert_int_equal(m.window_s, 120);
    assert_null(strstr(f->claims[0].payload, "reference_price"));
    assert_int_equal(int_reply(f, "EXISTS alert_windows:{%s}%s", t, ""), 0);
    assert_int_equal(window_int(f, "EXISTS alert_idx:{%s}:w%s:down", t, 120), 0);
    assert_int_equal(window_int(f, "EXISTS alert_win:{%s}:%s:max", t, 120), 0);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), 0);
    /* delete of a window alert already gone: nothing counted twice */
    assert_int_equal(alert_store_delete(f->rc, u, a, f->err, sizeof(f->err)), ALERT_STORE_NOTFOUND);
}

/* At most ALERT_STORE_WINDOWS_MAX distinct windows per ticker: one more is
 * refused (ALERT_STORE_WINDOWS, the windows in use listed, nothing stored
 * or listed), another alert on a window in use is not. */
static void test_window_cap(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], want[256] = "";
    struct alert_record out[ALERT_STORE_WINDOWS_MAX + 2];
    size_t o = 0;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    for (int i = 0; i < ALERT_STORE_WINDOWS_MAX; i++) {
        assert_int_equal(make_window(f, u, t, ALERT_PERCENT_UP, 5, 60 * (i + 1), 10, NULL), 0);
        o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%d", i > 0 ? ", " : "", 60 * (i + 1));
    }
    assert_int_equal(make_window(f, u, t, ALERT_PERCENT_DOWN, 5, 3600, 10, NULL),
                     ALERT_STORE_WINDOWS);
    assert_string_equal(f->err, want);
    assert_int_equal(int_reply(f, "HLEN alert_windows:{%s}%s", t, ""), ALERT_STORE_WINDOWS_MAX);
    assert_int_equal(int_reply(f, "HLEN ticker_alerts:{%s}%s", t, ""), ALERT_STORE_WINDOWS_MAX);
    assert_int_equal(
        alert_store_list(f->rc, u, out, ALERT_STORE_WINDOWS_MAX + 2, f->err, sizeof(f->err)),
        ALERT_STORE_WINDOWS_MAX);
    assert_int_equal(make_window(f, u, t, ALERT_PERCENT_DOWN, 5, 120, 10, NULL), 0);
    assert_int_equal(window_int(f, "HGET alert_windows:{%s} %s", t, 120), 2);
}

/* The window is part of what an idempotency key promises: the same key
 * with another window is a conflict, with the same one a replay of the
 * stored alert (armed once, counted once). */
static void test_window_replay_and_conflict(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37];
    struct alert_record a = {.type = ALERT_PERCENT_UP,
                             .percent = 5,
                             .reference_price = 10,
                             .window_s = 300,
                             .threshold = 10.5};
    struct alert_record other = a, again = a;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    other.window_s = 600;
    again.reference_price = 11; /* the price moved: still the same request */
    assert_int_equal(make_cond(f, u, t, &a, "k-window", id), 0);
    assert_int_equal(make_cond(f, u, t, &other, "k-window", NULL), ALERT_STORE_CONFLICT);
    assert_int_equal(make_cond(f, u, t, &again, "k-window", NULL), ALERT_STORE_REPLAY);
    assert_string_equal(again.alert_id, id);
    assert_int_equal(again.window_s, 300);
    assert_int_equal(window_int(f, "HGET alert_windows:{%s} %s", t, 300), 1);
    assert_int_equal(window_int(f, "EXISTS alert_idx:{%s}:w%s:up", t, 600), 0);
}

/* The sum of the "calls=" of INFO commandstats: every command Redis ran,
 * those of scripts included. */
static long long redis_calls(struct fixture *f)
{
    redisReply *r = redis_conn_command(f->rc, "INFO commandstats");
    long long sum = 0;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    for (const char *p = strstr(r->str, "calls="); p != NULL; p = strstr(p + 6, "calls="))
        sum += strtoll(p + 6, NULL, 10);
    freeReplyObject(r);
    return sum;
}

/* The commands one claim of ticker t runs for the ticks at t0 + 1..5 of
 * prices[] (none firing), the INFO calls around it subtracted. */
static long long window_claim_work(struct fixture *f, const char *t, double t0)
{
    static const double prices[] = {101, 99, 102, 98.5, 100.5};
    long long before, base, after;

    base = redis_calls(f);
    before = redis_calls(f);
    for (int i = 0; i < 5; i++)
        assert_int_equal(claim_at(f, t, prices[i], t0 + 1 + i), 0);
    after = redis_calls(f);
    return after - before - (before - base);
}

/* A tick's work does not grow with the number of window alerts on the
 * ticker: the same ticks run the same number of Redis commands with 1 and
 * with 300 alerts of one window (a scan of the alerts would not). */
static void test_window_tick_work_does_not_grow_with_alerts(void **state)
{
    struct fixture *f = fixture_get(state);
    char one[32], many[32], u[64];
    double t0 = time_now();
    long long w1, wn;

    unique_ticker(one, sizeof(one));
    unique_ticker(many, sizeof(many));
    unique_user(u, sizeof(u));
    assert_int_equal(make_window(f, u, one, ALERT_PERCENT_UP, 50, 600, 100, NULL), 0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(make_window(f, u, many, i % 2 ? ALERT_PERCENT_UP : ALERT_PERCENT_DOWN,
                                     40 + i % 50, 600, 100, NULL),
                         0);
    w1 = window_claim_work(f, one, t0);
    wn = window_claim_work(f, many, t0);
    assert_true(w1 > 5);
    assert_int_equal(w1, wn);
}

/* ---- repeating alerts ("repeat":"every") ---------------------------------- */

/* A repeating alert (cooldown_s) of type, created now; its id into id_out. */
static void make_alert_repeat(struct fixture *f, const char *user, const char *ticker, double thr,
                              enum alert_type type, long long expires_at, char *id_out)
{
    struct alert_record rec;

    memset(&rec, 0, sizeof(rec));
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", user);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", ticker);
    rec.threshold = thr;
    rec.type = type;
    rec.created_at = time_now();
    rec.expires_at = expires_at;
    rec.cooldown_s = 60;
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100000, NULL, 0, f->err, sizeof(f->err)),
                     0);
    memcpy(id_out, rec.alert_id, 37);
}

/* Ends id's cooldown now: the claim reads Redis' clock and no test waits a
 * minute, so its record's cool_until (the last number of its "r:" token)
 * and its score in alert_cool (if it waits there) become 1. */
static void cooldown_end(struct fixture *f, const char *ticker, const char *id)
{
    redisReply *r = redis_conn_command(f->rc, "HGET ticker_alerts:{%s} %s", ticker, id);
    char row[512], *tok, *till;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(row, sizeof(row), "%s", r->str);
    freeReplyObject(r);
    tok = strstr(row, " r:");
    assert_non_null(tok);
    till = strchr(tok + 3, ':'); /* r:<cooldown>:<fires>:<cool_until> */
    assert_non_null(till);
    till = strchr(till + 1, ':');
    assert_non_null(till);
    till[1] = '1';
    memmove(till + 2, till + 2 + strspn(till + 2, "0123456789"),
            strlen(till + 2 + strspn(till + 2, "0123456789")) + 1);
    r = redis_conn_command(f->rc, "HSET ticker_alerts:{%s} %s %s", ticker, id, row);
    assert_non_null(r);
    freeReplyObject(r);
    r = redis_conn_command(f->rc, "ZADD alert_cool:{%s} XX 1 %s", ticker, id);
    assert_non_null(r);
    freeReplyObject(r);
}

/* The set (key suffix of ticker's slot) id is in: "above", "below",
 * "rearm_above", "rearm_below", "cool", or "" when none; fails when it is
 * in more than one. */
static const char *where_is(struct fixture *f, const char *ticker, const char *id)
{
    static const char *const sets[5] = {"above", "below", "rearm_above", "rearm_below", "cool"};
    const char *found = "";

    for (int i = 0; i < 5; i++) {
        redisReply *r =
            i < 4 ? redis_conn_command(f->rc, "ZSCORE alert_idx:{%s}:%s %s", ticker, sets[i], id)
                  : redis_conn_command(f->rc, "ZSCORE alert_cool:{%s} %s", ticker, id);
        assert_non_null(r);
        if (r->type != REDIS_REPLY_NIL) {
            assert_string_equal(found, "");
            found = sets[i];
        }
        freeReplyObject(r);
    }
    return found;
}

/* The firing number of claim i (0: none). */
static long claim_firing(struct fixture *f, int i)
{
    struct alert_msg m;

    assert_int_equal(alert_msg_decode(f->claims[i].payload, f->claims[i].payload_len, &m, f->err,
                                      sizeof(f->err)),
                     0);
    return m.firing;
}

/* A repeating above alert fires, stays listed and armed in its ticker's
 * hash, does not fire again while the price stays above, is re-armed only
 * once the price went back below, and a crossing back within its cooldown
 * fires nothing until the cooldown ends (then at once, the price being
 * still above). Each firing is one history entry, named by its firing. */
static void test_repeat_fires_rearms_and_cools(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37];
    struct alert_record out[2];
    struct hist_msgs h;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_repeat(f, u, t, 10, ALERT_ABOVE, 0, id);
    assert_string_equal(where_is(f, t, id), "above");
    assert_int_equal(claim(f, t, 11), 1);
    assert_int_equal(claim_firing(f, 0), 1);
    assert_non_null(
        strstr(f->claims[0].payload,
               "\"type\":\"above\",\"repeat\":\"every\",\"cooldown_s\":60,\"firing\":1,"));
    assert_string_equal(where_is(f, t, id), "rearm_below");
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, id), 1);
    assert_int_equal(claim(f, t, 12), 0); /* still above: no flapping */
    assert_int_equal(claim(f, t, 10), 0); /* at the level: not back across */
    assert_string_equal(where_is(f, t, id), "rearm_below");
    assert_int_equal(claim(f, t, 9), 0); /* back below, within the cooldown */
    assert_string_equal(where_is(f, t, id), "cool");
    assert_int_equal(claim(f, t, 11), 0); /* above again, still cooling */
    cooldown_end(f, t, id);
    assert_int_equal(claim(f, t, 11), 1); /* cooled, still above: fires */
    assert_int_equal(claim_firing(f, 0), 2);
    assert_int_equal(claim(f, t, 12), 0);
    cooldown_end(f, t, id);
    assert_int_equal(claim(f, t, 9), 0); /* back below after the cooldown: armed at once */
    assert_string_equal(where_is(f, t, id), "above");
    assert_int_equal(claim(f, t, 11), 1);
    assert_int_equal(claim_firing(f, 0), 3);
    history_of(f, u, &h);
    assert_int_equal(h.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(h.m[i].alert_id, id);
        assert_int_equal(h.m[i].firing, 3 - i);
        assert_int_equal(h.m[i].cooldown_s, 60);
    }
    assert_int_equal(alert_store_list(f->rc, u, out, 2, f->err, sizeof(f->err)), 1);
    assert_int_equal(out[0].cooldown_s, 60);
    assert_int_equal(out[0].fires, 3);
}

/* Ticks read again do not re-arm: an evaluator killed before it committed
 * its offsets is followed by one that reads its ticks again, older than the
 * one that fired the alert. Their prices went back below the level in the
 * past, not now: the alert stays waiting for a newer tick below (chaos
 * scenario 14 at full scale once saw such alerts fire twice). */
static void test_repeat_not_rearmed_by_older_ticks(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37];
    double t0 = time_now();

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_repeat(f, u, t, 10, ALERT_ABOVE, 0, id);
    assert_int_equal(claim_at(f, t, 10.5, t0 + 10), 1);
    assert_string_equal(where_is(f, t, id), "rearm_below");
    assert_int_equal(claim_at(f, t, 9, t0 + 5), 0); /* read again: older */
    assert_int_equal(claim_at(f, t, 9.5, t0 + 9.999), 0);
    assert_string_equal(where_is(f, t, id), "rearm_below");
    cooldown_end(f, t, id);
    assert_int_equal(claim_at(f, t, 10.5, t0 + 10), 0); /* the firing tick again */
    assert_int_equal(claim_at(f, t, 9, t0 + 7), 0);
    assert_string_equal(where_is(f, t, id), "rearm_below");
    assert_int_equal(claim_at(f, t, 9, t0 + 11), 0); /* newer, below: re-armed */
    assert_string_equal(where_is(f, t, id), "above");
    assert_int_equal(claim_at(f, t, 10.5, t0 + 12), 1);
    assert_int_equal(claim_firing(f, 0), 2);
}

/* The other side and the conditions: a below, a crosses (down) and a
 * percent_up alert repeat the same way, each re-armed by its own side. */
static void test_repeat_below_crosses_percent(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], below[37], cross[37], pct[37];
    struct alert_record rec;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_repeat(f, u, t, 10, ALERT_BELOW, 0, below);
    memset(&rec, 0, sizeof(rec));
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", u);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", t);
    rec.threshold = 8;
    rec.type = ALERT_CROSSES;
    rec.direction = ALERT_DIR_DOWN;
    rec.created_at = time_now();
    rec.cooldown_s = 120;
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, NULL, 0, f->err, sizeof(f->err)), 0);
    memcpy(cross, rec.alert_id, 37);
    rec.type = ALERT_PERCENT_UP;
    rec.direction = ALERT_DIR_NONE;
    rec.percent = 50;
    rec.reference_price = 10;
    rec.threshold = 15;
    assert_int_equal(alert_store_new_id(rec.alert_id), 0);
    assert_int_equal(alert_store_create_once(f->rc, &rec, 100, NULL, 0, f->err, sizeof(f->err)), 0);
    memcpy(pct, rec.alert_id, 37);
    assert_int_equal(claim(f, t, 7), 2); /* below 10 and crosses down 8 */
    assert_string_equal(where_is(f, t, below), "rearm_above");
    assert_string_equal(where_is(f, t, cross), "rearm_above");
    assert_int_equal(claim(f, t, 16), 1); /* percent_up; the others cross back */
    assert_string_equal(where_is(f, t, pct), "rearm_below");
    assert_string_equal(where_is(f, t, below), "cool");
    assert_string_equal(where_is(f, t, cross), "cool");
    cooldown_end(f, t, below);
    cooldown_end(f, t, cross);
    assert_int_equal(claim(f, t, 9), 1); /* below fires again; crosses 8 does not */
    assert_int_equal(claim_firing(f, 0), 2);
    assert_string_equal(f->claims[0].alert_id, below);
    assert_string_equal(where_is(f, t, cross), "below");
}

/* Each firing is delivered once: deliver run again for the same outbox
 * entry (the sweeper after a crash) answers the same position and adds no
 * entry, also once the next firing was delivered; the user's entry stays,
 * counting the firings delivered. */
static void test_repeat_firing_delivered_once(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], id[37], first[MSG_MAX_BYTES], entry[512];
    struct alert_claim *rd = calloc(8, sizeof(*rd));
    struct hist_msgs h;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_repeat(f, u, t, 10, ALERT_ABOVE, 0, id);
    step1_claim(f, t, "11");
    assert_int_equal(redeliver(f, t, rd, 8), 1);
    assert_int_equal(rd[0].state, ALERT_CLAIM_READY);
    snprintf(first, sizeof(first), "%s", rd[0].payload);
    assert_int_equal(redeliver(f, t, rd, 8), 1);
    assert_int_equal(rd[0].state, ALERT_CLAIM_READY);
    assert_string_equal(rd[0].payload, first);
    history_of(f, u, &h);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.m[0].firing, 1);
    user_entry(f, u, id, entry, sizeof(entry));
    assert_non_null(strstr(entry, " r:60:1 "));
    cooldown_end(f, t, id);
    assert_int_equal(claim(f, t, 9), 0);
    assert_int_equal(claim(f, t, 11), 1); /* firing 2, delivered at once */
    assert_int_equal(f->claims[0].state, ALERT_CLAIM_READY);
    assert_int_equal(redeliver(f, t, rd, 8), 2); /* both still in the outbox */
    assert_string_equal(rd[0].payload, first);
    history_of(f, u, &h);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.m[0].firing, 2);
    assert_int_equal(h.m[1].firing, 1);
    user_entry(f, u, id, entry, sizeof(entry));
    assert_non_null(strstr(entry, " r:60:2 "));
    free(rd);
}

/* A delete takes a repeating alert out of every set it may wait in, and
 * so does the sweep's expiry (its user entry then leaves with an expired
 * history entry after the firings). */
static void test_repeat_delete_and_expiry_clear_every_set(void **state)
{
    struct fixture *f = fixture_get(state);
    char t[32], u[64], a[37], b[37], c[37];
    struct alert_record out[4];
    struct hist_msgs h;

    unique_ticker(t, sizeof(t));
    unique_user(u, sizeof(u));
    make_alert_repeat(f, u, t, 10, ALERT_ABOVE, 0, a);
    make_alert_repeat(f, u, t, 12, ALERT_ABOVE, 0, b);
    make_alert_repeat(f, u, t, 11, ALERT_ABOVE, (long long)time_now() + 2, c);
    assert_int_equal(claim(f, t, 13), 3);
    assert_int_equal(claim(f, t, 11.5), 0); /* b back below it, cooling */
    assert_string_equal(where_is(f, t, a), "rearm_below");
    assert_string_equal(where_is(f, t, b), "cool");
    assert_string_equal(where_is(f, t, c), "rearm_below");
    assert_int_equal(alert_store_delete(f->rc, u, a, f->err, sizeof(f->err)), 0);
    assert_int_equal(alert_store_delete(f->rc, u, b, f->err, sizeof(f->err)), 0);
    assert_string_equal(where_is(f, t, a), "");
    assert_string_equal(where_is(f, t, b), "");
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, a), 0);
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, b), 0);
    sleep(3); /* c's expiry passes */
    sweep_all(f);
    assert_string_equal(where_is(f, t, c), "");
    assert_int_equal(int_reply(f, "HEXISTS ticker_alerts:{%s} %s", t, c), 0);
    assert_int_equal(alert_store_list(f->rc, u, out, 4, f->err, sizeof(f->err)), 0);
    history_of(f, u, &h);
    assert_int_equal(h.n, 4); /* three firings, then c's expiry */
    assert_string_equal(h.m[0].alert_id, c);
    assert_int_equal(h.m[0].expired, 1);
    assert_int_equal(claim(f, t, 9), 0);
    assert_int_equal(claim(f, t, 13), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_price_fires_nothing),
        cmocka_unit_test(test_above_and_below_are_independent),
        cmocka_unit_test(test_many_at_same_threshold_all_fire_once),
        cmocka_unit_test(test_thresholds_with_many_decimals),
        cmocka_unit_test(test_create_respects_limit),
        cmocka_unit_test(test_create_once_per_key),
        cmocka_unit_test(test_delete_checks_owner),
        cmocka_unit_test(test_list_newest_first),
        cmocka_unit_test(test_claim_removes_from_every_key),
        cmocka_unit_test(test_outbox_ack),
        cmocka_unit_test(test_history_positions_chain),
        cmocka_unit_test(test_history_keeps_the_newest),
        cmocka_unit_test(test_history_migrates_once),
        cmocka_unit_test(test_batch_stops_at_max_and_resumes),
        cmocka_unit_test(test_create_crash_after_step1_retry_arms),
        cmocka_unit_test(test_create_undone_retry_creates_again),
        cmocka_unit_test(test_create_batch_as_one_by_one),
        cmocka_unit_test(test_create_fired_before_mark_is_stored),
        cmocka_unit_test(test_claim_message_number_format),
        cmocka_unit_test(test_pending_repaired_by_sweep),
        cmocka_unit_test(test_delete_crash_orphan_skipped_or_disarmed),
        cmocka_unit_test(test_claim_crash_before_deliver),
        cmocka_unit_test(test_deliver_skips_after_delete),
        cmocka_unit_test(test_store_migrates_schema2),
        cmocka_unit_test(test_note_and_expiry_listed),
        cmocka_unit_test(test_note_carried_when_fired),
        cmocka_unit_test(test_expired_never_fires),
        cmocka_unit_test(test_sweep_expires_once),
        cmocka_unit_test(test_expire_crash_between_steps),
        cmocka_unit_test(test_create_once_covers_note),
        cmocka_unit_test(test_crosses_from_either_side),
        cmocka_unit_test(test_above_json_unchanged),
        cmocka_unit_test(test_percent_with_reference),
        cmocka_unit_test(test_crosses_replay_keeps_direction),
        cmocka_unit_test(test_crosses_expires),
        cmocka_unit_test(test_window_up_and_down_fire_at_the_right_tick),
        cmocka_unit_test(test_window_slides_past_an_old_low),
        cmocka_unit_test(test_window_disarm_and_expire),
        cmocka_unit_test(test_window_cap),
        cmocka_unit_test(test_window_replay_and_conflict),
        cmocka_unit_test(test_window_tick_work_does_not_grow_with_alerts),

        cmocka_unit_test(test_repeat_fires_rearms_and_cools),
        cmocka_unit_test(test_repeat_not_rearmed_by_older_ticks),
        cmocka_unit_test(test_repeat_below_crosses_percent),
        cmocka_unit_test(test_repeat_firing_delivered_once),
        cmocka_unit_test(test_repeat_delete_and_expiry_clear_every_set),
        cmocka_unit_test(test_every_call_checked),
    };
    log_init("test_alert_store", LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, setup, teardown);
}
