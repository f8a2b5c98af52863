/* Unit: redis-move's command line (every option's bounds, required ones,
 * unknown ones, --help) and the key names it copies: each kind of the
 * schema, and near misses that must stay foreign (left alone). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "redis_move.h"

static int parse(struct redis_move_opts *o, char *err, int argc, ...)
{
    static char prog[] = "redis-move";
    char *argv[16] = {prog};
    va_list ap;

    va_start(ap, argc);
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    err[0] = '\0';
    return redis_move_parse_args(argc, argv, o, err, REDIS_MOVE_ERR_MAX);
}

static void test_good_arguments(void **state)
{
    struct redis_move_opts o;
    char err[REDIS_MOVE_ERR_MAX];

    (void)state;
    assert_int_equal(
        parse(&o, err, 5, "--from", "127.0.0.1:6379", "--to", "127.0.0.1:7001,127.0.0.1:7002"), 0);
    assert_string_equal(o.from_host, "127.0.0.1");
    assert_int_equal(o.from_port, 6379);
    assert_string_equal(o.to, "127.0.0.1:7001,127.0.0.1:7002");
    assert_int_equal(o.count, 500);
    assert_int_equal(o.max_pages, 0);
    assert_int_equal(o.restart, 0);
    assert_int_equal(o.max_key_bytes, REDIS_MOVE_PAYLOAD_MAX);
    assert_int_equal(parse(&o, err, 14, "--to", "h:1", "--from", "redis.local:1", "--restart",
                           "--count", "10000", "--max-pages", "1", "--max-key-bytes", "1024",
                           "--timeout-ms", "100"),
                     0);
    assert_string_equal(o.from_host, "redis.local");
    assert_int_equal(o.restart, 1);
    assert_int_equal(o.count, 10000);
    assert_int_equal(o.max_pages, 1);
    assert_int_equal(o.max_key_bytes, 1024);
    assert_int_equal(o.timeout_ms, 100);
    assert_int_equal(parse(&o, err, 2, "--help"), 1);
    assert_int_equal(parse(&o, err, 4, "--from", "x:1", "-h"), 1);
    assert_non_null(strstr(redis_move_usage(), "--max-pages"));
}

static void bad(const char *why, int argc, ...)
{
    static char prog[] = "redis-move";
    char *argv[16] = {prog};
    struct redis_move_opts o;
    char err[REDIS_MOVE_ERR_MAX] = "";
    va_list ap;

    va_start(ap, argc);
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    assert_int_equal(redis_move_parse_args(argc, argv, &o, err, sizeof(err)), -1);
    if (strstr(err, why) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err, why);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    bad("required", 1);
    bad("required", 3, "--from", "h:1");
    bad("required", 3, "--to", "h:1");
    bad("--from needs a value", 4, "--to", "h:1", "--from");
    bad("--from must be HOST:PORT", 5, "--from", "h", "--to", "h:1");
    bad("--from must be HOST:PORT", 5, "--from", ":1", "--to", "h:1");
    bad("--from must be HOST:PORT", 5, "--from", "h:0", "--to", "h:1");
    bad("--from must be HOST:PORT", 5, "--from", "h:65536", "--to", "h:1");
    bad("--from must be HOST:PORT", 5, "--from", "h:12x", "--to", "h:1");
    bad("--to:", 5, "--from", "h:1", "--to", "h:1,,h:2");
    bad("--to:", 5, "--from", "h:1", "--to", "h");
    bad("--count must be", 7, "--from", "h:1", "--to", "h:1", "--count", "0");
    bad("--count must be", 7, "--from", "h:1", "--to", "h:1", "--count", "10001");
    bad("--count must be", 7, "--from", "h:1", "--to", "h:1", "--count", "-5");
    bad("--max-pages must be", 7, "--from", "h:1", "--to", "h:1", "--max-pages", "0");
    bad("--max-key-bytes must be", 7, "--from", "h:1", "--to", "h:1", "--max-key-bytes", "1023");
    bad("--max-key-bytes must be", 7, "--from", "h:1", "--to", "h:1", "--max-key-bytes",
        "536870913");
    bad("--timeout-ms must be", 7, "--from", "h:1", "--to", "h:1", "--timeout-ms", "99");
    bad("--timeout-ms must be", 7, "--from", "h:1", "--to", "h:1", "--timeout-ms", "");
    bad("unknown argument", 6, "--from", "h:1", "--to", "h:1", "--force");
    bad("unknown argument", 6, "--from", "h:1", "--to", "h:1", "extra");
}

static void kind(const char *key, enum redis_move_kind want)
{
    enum redis_move_kind got = redis_move_key_kind(key, strlen(key));

    if (got != want)
        fail_msg("%s: kind %d, want %d", key, (int)got, (int)want);
}

static void test_key_kinds(void **state)
{
    char big[REDIS_MOVE_KEY_MAX + 16];

    (void)state;
    kind("user_alerts:{u-1_A}", REDIS_MOVE_USER_ALERTS);
    kind("alert_idem:{u1}:req-1.a:b", REDIS_MOVE_IDEM);
    kind("alert_events:{u1}", REDIS_MOVE_EVENTS);
    kind("alert_unpended:{u1}", REDIS_MOVE_UNPENDED);
    kind("alert_unpended:{u1}:x", REDIS_MOVE_FOREIGN);
    kind("ticker_alerts:{BTC-USD}", REDIS_MOVE_TICKER_ALERTS);
    kind("ticker_alerts:{^GSPC}", REDIS_MOVE_TICKER_ALERTS);
    kind("alert_idx:{GC=F}:above", REDIS_MOVE_INDEX);
    kind("alert_idx:{AAPL}:below", REDIS_MOVE_INDEX);
    kind("alert_idx:{AAPL}:w3600:up", REDIS_MOVE_WINDOW);
    kind("alert_idx:{AAPL}:w60:down", REDIS_MOVE_WINDOW);
    kind("alert_idx:{AAPL}:w:up", REDIS_MOVE_FOREIGN);
    kind("alert_idx:{AAPL}:w60:sideways", REDIS_MOVE_FOREIGN);
    kind("alert_windows:{AAPL}", REDIS_MOVE_WINDOW);
    kind("alert_win:{AAPL}:300:min", REDIS_MOVE_WINDOW);
    kind("alert_win:{AAPL}:300:max", REDIS_MOVE_WINDOW);
    kind("alert_win:{AAPL}:300", REDIS_MOVE_FOREIGN);
    kind("alert_idx:{AAPL}:rearm_above", REDIS_MOVE_INDEX);
    kind("alert_idx:{AAPL}:rearm_below", REDIS_MOVE_INDEX);
    kind("alert_cool:{AAPL}", REDIS_MOVE_INDEX);
    kind("notified:abc-1.2", REDIS_MOVE_NOTIFIED);
    kind("notified:abc-1.0", REDIS_MOVE_FOREIGN);
    kind("alert_cool:{AAPL}:x", REDIS_MOVE_FOREIGN);
    kind("alerts_outbox:{AAPL}", REDIS_MOVE_OUTBOX);
    kind("alerts_outbox", REDIS_MOVE_OUTBOX_LEGACY);
    kind("alert_store:schema", REDIS_MOVE_SCHEMA);
    kind("notified:3f1c2b9e-0d4a-4c1e-9a7b-2f6d8e1a5c3b", REDIS_MOVE_NOTIFIED);
    kind("notifier:alive:0123456789abcdef", REDIS_MOVE_NOTIFIER_ALIVE);
    kind("user_email:{u1}", REDIS_MOVE_EMAIL);
    kind("email_rate:{u1}", REDIS_MOVE_EMAIL);
    kind("email_sent:{u-1_a}", REDIS_MOVE_EMAIL);
    kind("email_requests:{email}", REDIS_MOVE_EMAIL_REQUESTS); /* the legacy stream */
    kind("email_requests:{email-0}", REDIS_MOVE_EMAIL_REQUESTS);
    kind("email_requests:{email-15}", REDIS_MOVE_EMAIL_REQUESTS);
    kind("email_requests:{email-16}", REDIS_MOVE_FOREIGN);
    kind("email_requests:{email-01}", REDIS_MOVE_FOREIGN);
    kind("email_requests:{email-0}x", REDIS_MOVE_FOREIGN);
    kind("user_email:{u 1}", REDIS_MOVE_FOREIGN);
    kind("email_sent:{u1}x", REDIS_MOVE_FOREIGN);
    /* near misses */
    kind("user_alerts:u1", REDIS_MOVE_FOREIGN); /* schema 2: migrated before a move */
    kind("user_alerts:{}", REDIS_MOVE_FOREIGN);
    kind("user_alerts:{u1}x", REDIS_MOVE_FOREIGN);
    kind("user_alerts:{u 1}", REDIS_MOVE_FOREIGN);
    kind("alert_idem:{u1}", REDIS_MOVE_FOREIGN);
    kind("alert_idem:{u1}:", REDIS_MOVE_FOREIGN);
    kind("alert_idem:u1:k", REDIS_MOVE_FOREIGN);
    kind("ticker_alerts:{aapl}", REDIS_MOVE_FOREIGN);
    kind("alert_idx:{AAPL}:sideways", REDIS_MOVE_FOREIGN);
    kind("alert_idx:{AAPL}", REDIS_MOVE_FOREIGN);
    kind("alerts_outbox:{AAPL", REDIS_MOVE_FOREIGN);
    kind("alerts_outbox:", REDIS_MOVE_FOREIGN);
    kind("alert_store:schema2", REDIS_MOVE_FOREIGN);
    kind(REDIS_MOVE_PROGRESS_KEY, REDIS_MOVE_FOREIGN);
    kind("notified:", REDIS_MOVE_FOREIGN);
    kind("notifier:alive:0123", REDIS_MOVE_FOREIGN);
    kind("alert:3f1c2b9e", REDIS_MOVE_FOREIGN);
    kind("alert_history:u1", REDIS_MOVE_FOREIGN);
    kind("", REDIS_MOVE_FOREIGN);
    assert_int_equal(redis_move_key_kind("user_alerts:{u1}\0x", 18), REDIS_MOVE_FOREIGN);
    memset(big, 'a', sizeof(big));
    memcpy(big, "user_alerts:{", 13);
    big[sizeof(big) - 2] = '}';
    assert_int_equal(redis_move_key_kind(big, sizeof(big) - 1), REDIS_MOVE_FOREIGN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_arguments),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_key_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
