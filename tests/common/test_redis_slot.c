/* Unit tests for common/redis_slot: the cluster key slot (CRC16-XMODEM and
 * the hash tag rules of the Redis Cluster specification), the
 * REDIS_CLUSTER_NODES parser, and which argument a command is routed by. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "redis.h"
#include "redis_priv.h"

static int slot_of(const char *key)
{
    return redis_key_slot(key, strlen(key));
}

static void test_crc16_known_vector(void **state)
{
    (void)state;
    assert_int_equal(redis_crc16("123456789", 9), 0x31C3);
    assert_int_equal(redis_crc16("", 0), 0);
    /* The specification's own example: "foo" is slot 12182. */
    assert_int_equal(slot_of("foo"), 12182);
}

static void test_hash_tags(void **state)
{
    (void)state;
    assert_int_equal(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
    assert_int_equal(slot_of("{user1000}.following"), slot_of("user1000"));
    /* Empty tag: the whole key. */
    assert_int_equal(slot_of("foo{}{bar}"),
                     (int)(redis_crc16("foo{}{bar}", strlen("foo{}{bar}")) & 16383));
    assert_int_not_equal(slot_of("foo{}{bar}"), slot_of("bar"));
    /* First '{', then the first '}' after it. */
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    /* No closing brace: the whole key. */
    assert_int_equal(slot_of("foo{bar"), (int)(redis_crc16("foo{bar", 7) & 16383));
    /* Binary keys: the length counts, not a NUL. */
    assert_int_equal(redis_key_slot("a\0b", 3), (int)(redis_crc16("a\0b", 3) & 16383));
}

static void test_nodes_parse_accepts_lists(void **state)
{
    struct redis_addr a[REDIS_CLUSTER_NODES_MAX];
    char err[200];
    char many[64 * 20 + 1] = "";
    (void)state;

    assert_int_equal(redis_nodes_parse("127.0.0.1:7001", a, 64, err, sizeof(err)), 1);
    assert_string_equal(a[0].host, "127.0.0.1");
    assert_int_equal(a[0].port, 7001);
    assert_int_equal(
        redis_nodes_parse(" h1:1 , redis.local:65535,h3:6379", a, 64, err, sizeof(err)), 3);
    assert_string_equal(a[1].host, "redis.local");
    assert_int_equal(a[1].port, 65535);
    for (int i = 0; i < 64; i++) {
        char one[24];
        snprintf(one, sizeof(one), "%sh:%d", i ? "," : "", 7000 + i);
        strncat(many, one, sizeof(many) - strlen(many) - 1);
    }
    assert_int_equal(redis_nodes_parse(many, a, 64, err, sizeof(err)), 64);
    assert_int_equal(redis_cluster_nodes_check(many, err, sizeof(err)), 0);
}

static void test_nodes_parse_rejects_bad_values(void **state)
{
    static const char *const bad[] = {
        "",      "h",       "h:",      ":7001",    "h:0",      "h:65536", "h:70000",       "h:-1",
        "h:12x", "h:7001,", ",h:7001", "h:1,,h:2", "h 1:7001", "h:+7001", "h:99999999999", NULL};
    struct redis_addr a[REDIS_CLUSTER_NODES_MAX];
    char err[200];
    char many[65 * 20 + 1] = "";
    (void)state;

    for (int i = 0; bad[i] != NULL; i++) {
        err[0] = '\0';
        assert_int_equal(redis_nodes_parse(bad[i], a, 64, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        assert_int_equal(redis_cluster_nodes_check(bad[i], err, sizeof(err)), -1);
    }
    for (int i = 0; i < 65; i++) {
        char one[24];
        snprintf(one, sizeof(one), "%sh:%d", i ? "," : "", 7000 + i);
        strncat(many, one, sizeof(many) - strlen(many) - 1);
    }
    assert_int_equal(redis_cluster_nodes_check(many, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than 64"));
}

/* The routing key of a command formatted as hiredis formats it. */
static int key_of(char *out, size_t outlen, const char *fmt, ...)
{
    char *cmd = NULL;
    const char *key = NULL;
    size_t keylen = 0;
    va_list ap;
    int len, k;

    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    assert_true(len > 0);
    k = redis_cmd_key(cmd, (size_t)len, &key, &keylen);
    out[0] = '\0';
    if (k == 1)
        snprintf(out, outlen, "%.*s", (int)keylen, key);
    redisFreeCommand(cmd);
    return k;
}

static void test_command_routing_key(void **state)
{
    static const char truncated[] = "*2\r\n$3\r\nGET\r\n$9\r\nshort\r\n";
    const char *key = NULL;
    size_t keylen = 0;
    char k[64];
    (void)state;

    assert_int_equal(key_of(k, sizeof(k), "GET %s", "alert:1"), 1);
    assert_string_equal(k, "alert:1");
    assert_int_equal(key_of(k, sizeof(k), "set %s %s", "a", "b"), 1);
    assert_string_equal(k, "a");
    assert_int_equal(key_of(k, sizeof(k), "EVALSHA %s 2 %s %s x", "abc", "{u}1", "{u}2"), 1);
    assert_string_equal(k, "{u}1");
    assert_int_equal(key_of(k, sizeof(k), "EVAL %s 0 x", "return 1"), 0);
    assert_int_equal(key_of(k, sizeof(k), "XREADGROUP GROUP g c COUNT 1 STREAMS %s >", "s1"), 1);
    assert_string_equal(k, "s1");
    assert_int_equal(key_of(k, sizeof(k), "OBJECT ENCODING %s", "o"), 1);
    assert_string_equal(k, "o");
    assert_int_equal(key_of(k, sizeof(k), "PING"), 0);
    assert_int_equal(key_of(k, sizeof(k), "SCRIPT LOAD %s", "return 1"), 0);
    assert_int_equal(key_of(k, sizeof(k), "info replication"), 0);
    assert_int_equal(key_of(k, sizeof(k), "SCAN 0 MATCH x*"), 0);
    /* Not a well-formed command (an argument shorter than its length): refused. */
    assert_int_equal(redis_cmd_key(truncated, sizeof(truncated) - 1, &key, &keylen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_known_vector),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_nodes_parse_accepts_lists),
        cmocka_unit_test(test_nodes_parse_rejects_bad_values),
        cmocka_unit_test(test_command_routing_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
