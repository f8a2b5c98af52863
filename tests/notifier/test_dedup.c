/* Integration: the notifier's delivery claims (dedup.h) between two
 * notifier instances, on the harness's single Redis and on the six-node
 * Redis Cluster (where a claim's key and the owner's liveness key live in
 * different slots). Skipped where the harness gave no such server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dedup.h"
#include "it_env.h"
#include "redis.h"

#define IT_TIMEOUT_MS 2000

static struct redis_conn *it_single(void)
{
    if (it_redis_port() < 0)
        return NULL;
    return redis_conn_new("127.0.0.1", it_redis_port(), IT_TIMEOUT_MS);
}

static struct redis_conn *it_cluster(void)
{
    const char *v = getenv("TEST_REDIS_CLUSTER_PORT");
    char nodes[256];
    int base = v != NULL && *v != '\0' ? atoi(v) : 27001;
    struct redis_conn *rc;

    if (base <= 0 || base > 65530)
        return NULL;
    snprintf(nodes, sizeof(nodes), "127.0.0.1:%d,127.0.0.1:%d", base, base + 1);
    rc = redis_conn_new_cluster(nodes, IT_TIMEOUT_MS);
    if (rc != NULL && redis_conn_ping(rc) != 0) {
        redis_conn_free(rc);
        return NULL;
    }
    return rc;
}

/* Two notifiers sharing the store: every answer of dedup_claim, in order. */
static void it_two_notifiers(struct redis_conn *rc)
{
    struct dedup *a = dedup_new(rc, 60), *b = dedup_new(rc, 60);
    char id[64], id2[64];

    assert_non_null(a);
    assert_non_null(b);
    it_unique_name(id, sizeof(id), "dedup-a");
    it_unique_name(id2, sizeof(id2), "dedup-b");
    assert_int_equal(dedup_heartbeat(a), 0);
    assert_int_equal(dedup_heartbeat(b), 0);

    /* A claims; B sees a live owner; A sees its own claim. */
    assert_int_equal(dedup_claim(a, id), DEDUP_CLAIMED);
    assert_int_equal(dedup_claim(b, id), DEDUP_BUSY);
    assert_int_equal(dedup_claim(a, id), DEDUP_MINE);
    /* Delivered: nobody delivers it again. */
    assert_int_equal(dedup_confirm(a, id), 0);
    assert_int_equal(dedup_claim(b, id), DEDUP_DONE);
    assert_int_equal(dedup_claim(a, id), DEDUP_DONE);

    /* A claims another and dies (its liveness key gone): B takes it over,
     * then holds it against A's next life. */
    assert_int_equal(dedup_claim(a, id2), DEDUP_CLAIMED);
    dedup_free(a);
    assert_int_equal(dedup_claim(b, id2), DEDUP_TAKEN_OVER);
    assert_int_equal(dedup_claim(b, id2), DEDUP_MINE);
    a = dedup_new(rc, 60);
    assert_non_null(a);
    assert_int_equal(dedup_heartbeat(a), 0);
    assert_int_equal(dedup_claim(a, id2), DEDUP_BUSY);
    /* B gives it up (dead-lettered): free for A. */
    assert_int_equal(dedup_release(b, id2), 0);
    assert_int_equal(dedup_claim(a, id2), DEDUP_CLAIMED);
    dedup_free(a);
    dedup_free(b);
}

static void test_claims_on_one_redis(void **state)
{
    struct redis_conn *rc = it_single();
    (void)state;

    if (rc == NULL)
        skip();
    it_two_notifiers(rc);
    redis_conn_free(rc);
}

static void test_claims_on_a_cluster(void **state)
{
    struct redis_conn *rc = it_cluster();
    (void)state;

    if (rc == NULL)
        skip();
    it_two_notifiers(rc);
    redis_conn_free(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims_on_one_redis),
        cmocka_unit_test(test_claims_on_a_cluster),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
