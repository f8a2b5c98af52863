/* Unit tests of the confirmation queue's keys (common/email_store.h): a
 * user's shard is stable and spread, the shards' hash tags fall on every
 * master of a three-master cluster, and every key reads back as its index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "email_store.h"
#include "redis_priv.h"

#define THIRD_OF_SLOTS 5461 /* the slots of one master of three (redis-cli --cluster create) */

/* Pinned values: the hash is part of the key schema (key-schema.md), so a
 * change of it is a decision, not an accident. */
static void test_shard_is_stable(void **state)
{
    (void)state;
    assert_int_equal(email_store_requests_shard("alice"), 7);
    assert_int_equal(email_store_requests_shard("bob"), 4);
    assert_int_equal(email_store_requests_shard("u1"), 3);
    assert_int_equal(email_store_requests_shard("trader-1"), 15);
    assert_int_equal(email_store_requests_shard("alice"), email_store_requests_shard("alice"));
}

/* 1600 users: every shard gets some, none more than twice its share. */
static void test_shard_spreads_users(void **state)
{
    int count[EMAIL_REQUESTS_SHARDS] = {0};
    char user[32];

    (void)state;
    for (int i = 0; i < 1600; i++) {
        int k;

        snprintf(user, sizeof(user), "u-%d", i);
        k = email_store_requests_shard(user);
        assert_in_range(k, 0, EMAIL_REQUESTS_SHARDS - 1);
        count[k]++;
    }
    for (int k = 0; k < EMAIL_REQUESTS_SHARDS; k++)
        assert_in_range(count[k], 50, 200);
}

static void test_key_format(void **state)
{
    char key[EMAIL_REQUESTS_KEY_MAX];
    char small[8] = "x";

    (void)state;
    assert_int_equal(email_store_requests_key(0, key, sizeof(key)), 0);
    assert_string_equal(key, "email_requests:{email-0}");
    assert_int_equal(email_store_requests_key(EMAIL_REQUESTS_SHARDS - 1, key, sizeof(key)), 0);
    assert_string_equal(key, "email_requests:{email-15}");
    assert_int_equal(email_store_requests_key(EMAIL_REQUESTS_SHARDS, key, sizeof(key)), 0);
    assert_string_equal(key, EMAIL_REQUESTS_LEGACY_KEY);
    assert_string_equal(key, "email_requests:{email}");
    assert_int_equal(email_store_requests_key(-1, key, sizeof(key)), -1);
    assert_int_equal(email_store_requests_key(EMAIL_REQUESTS_STREAMS, key, sizeof(key)), -1);
    assert_int_equal(email_store_requests_key(0, small, sizeof(small)), -1);
    assert_string_equal(small, "");
}

static void test_key_index(void **state)
{
    char key[EMAIL_REQUESTS_KEY_MAX];

    (void)state;
    for (int k = 0; k < EMAIL_REQUESTS_STREAMS; k++) {
        assert_int_equal(email_store_requests_key(k, key, sizeof(key)), 0);
        assert_int_equal(email_store_requests_index(key, strlen(key)), k);
    }
    assert_int_equal(email_store_requests_index("email_requests:{email-16}", 25), -1);
    assert_int_equal(email_store_requests_index("email_requests:{email-1}", 23), -1);
    assert_int_equal(email_store_requests_index("", 0), -1);
}

/* Distinct slots, on all three masters of a three-master cluster: the
 * queue is not one slot, nor one master. */
static void test_shards_spread_over_slots(void **state)
{
    int slots[EMAIL_REQUESTS_SHARDS];
    int third[3] = {0, 0, 0};
    char key[EMAIL_REQUESTS_KEY_MAX];

    (void)state;
    for (int k = 0; k < EMAIL_REQUESTS_SHARDS; k++) {
        int t;

        assert_int_equal(email_store_requests_key(k, key, sizeof(key)), 0);
        slots[k] = redis_key_slot(key, strlen(key));
        for (int i = 0; i < k; i++)
            assert_int_not_equal(slots[i], slots[k]);
        t = slots[k] / THIRD_OF_SLOTS;
        third[t > 2 ? 2 : t]++;
    }
    for (int t = 0; t < 3; t++)
        assert_true(third[t] >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_is_stable),
        cmocka_unit_test(test_shard_spreads_users),
        cmocka_unit_test(test_key_format),
        cmocka_unit_test(test_key_index),
        cmocka_unit_test(test_shards_spread_over_slots),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
