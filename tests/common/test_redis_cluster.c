/* Integration: the common Redis layer in cluster mode against a real
 * six-node Redis Cluster (scripts/redis-cluster, started by the ctest
 * fixture on TEST_REDIS_CLUSTER_PORT.. +5, default 27001): the key slot
 * agrees with CLUSTER KEYSLOT; keys on every master read back; scripts run
 * when their keys share a slot and get CROSSSLOT otherwise; NOSCRIPT on a
 * node that never saw the script; MOVED after a slot moved by hand; ASK and
 * TRYAGAIN during a migration; a master killed: its slots fail fast, the
 * others keep working, and its replica takes over within 10 s. The test
 * checks the cluster's own view (CLUSTER SLOTS, direct reads on a node)
 * through plain hiredis connections, never through the layer under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "it_env.h"
#include "log.h"
#include "redis.h"
#include "redis_priv.h"
#include "redis_probe.h"
#include "timeutil.h"

#define IT_NODES 6
#define IT_TIMEOUT_MS 1000
#define IT_PATIENT_MS 5000       /* a retry window sure to outlast a 300 ms wait */
#define IT_SLACK_MS 1500         /* scheduling on a loaded 2-core machine */
#define IT_FAILOVER_MAX_MS 10000 /* a killed master's replica serves within */

static int it_base = 27001;
static char it_prefix[64];

static int it_port_env(void)
{
    const char *v = getenv("TEST_REDIS_CLUSTER_PORT");
    char *end = NULL;
    long p;

    if (v == NULL || *v == '\0')
        return 27001;
    p = strtol(v, &end, 10);
    return end != v && *end == '\0' && p >= 1 && p <= 65535 - IT_NODES ? (int)p : -1;
}

static const char *it_dir(void)
{
    const char *v = getenv("TEST_REDIS_CLUSTER_DIR");
    return v != NULL && *v != '\0' ? v : SA_CLUSTER_DIR;
}

/* scripts/redis-cluster CMD PORT DIR, waited for. */
static int it_cluster_ctl(const char *cmd, int port)
{
    char p[16];
    pid_t pid;
    int status = 0;

    snprintf(p, sizeof(p), "%d", port);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl(SA_CLUSTER_SCRIPT, SA_CLUSTER_SCRIPT, cmd, p, it_dir(), (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A plain hiredis command on a fresh connection to one node (the cluster's
 * own view, not the layer's). NULL when the node does not answer. */
static redisReply *it_node(int port, const char *fmt, ...)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;
    va_list ap;

    if (c == NULL || c->err) {
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

static void it_node_ok(int port, const char *fmt, const char *a, const char *b, const char *c)
{
    redisReply *r = it_node(port, fmt, a, b, c);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("node %d: %s", port, r->str);
    freeReplyObject(r);
}

/* The master port serving slot, from CLUSTER SLOTS of the first live node
 * asked (-1: none). */
static int it_owner(int slot)
{
    for (int i = 0; i < IT_NODES; i++) {
        redisReply *r = it_node(it_base + i, "CLUSTER SLOTS");
        int port = -1;
        if (r == NULL)
            continue;
        for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
            const redisReply *e = r->element[k];
            if (e->element[0]->integer <= slot && slot <= e->element[1]->integer)
                port = (int)e->element[2]->element[1]->integer;
        }
        freeReplyObject(r);
        return port;
    }
    return -1;
}

/* The distinct master ports serving slots; returns how many. */
static int it_masters(int ports[IT_NODES])
{
    int n = 0;

    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s += 64) {
        int p = it_owner(s), seen = 0;
        for (int i = 0; i < n; i++)
            seen |= ports[i] == p;
        if (!seen && p > 0 && n < IT_NODES)
            ports[n++] = p;
    }
    return n;
}

static void it_node_id(int port, char id[64])
{
    redisReply *r = it_node(port, "CLUSTER MYID");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(id, 64, "%s", r->str);
    freeReplyObject(r);
}

/* A key of this run, tagged so that it hashes as tag; out must hold 128. */
static void it_key(char *out, const char *tag, const char *name)
{
    snprintf(out, 128, "{%s:%s}%s", it_prefix, tag, name);
}

/* A tag whose slot master is port and whose slot is not avoid; slot out. */
/* The keys port holds in slot (CLUSTER COUNTKEYSINSLOT). */
static long long it_keys_in_slot(int port, int slot)
{
    char s[16];
    redisReply *r;
    long long n;

    snprintf(s, sizeof(s), "%d", slot);
    r = it_node(port, "CLUSTER COUNTKEYSINSLOT %s", s);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    n = r->integer;
    freeReplyObject(r);
    return n;
}

/* A tag whose slot port owns and holds no key in: the other tests on the
 * cluster leave keys behind, and a slot still holding one cannot be given
 * away by hand. */
static void it_tag_on(int port, int avoid, char tag[32], int *slot)
{
    for (int i = 0; i < 100000; i++) {
        char k[128];
        snprintf(tag, 32, "t%d", i);
        it_key(k, tag, "");
        *slot = redis_key_slot(k, strlen(k));
        if (*slot != avoid && it_owner(*slot) == port && it_keys_in_slot(port, *slot) == 0)
            return;
    }
    fail_msg("no tag on port %d", port);
}

static struct redis_conn *it_conn_timeout(long timeout_ms)
{
    char seeds[64];
    struct redis_conn *rc;

    /* One seed: the rest of the cluster is found through its map. */
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d", it_base);
    rc = redis_conn_new_cluster(seeds, timeout_ms);
    assert_non_null(rc);
    assert_true(redis_conn_is_cluster(rc));
    return rc;
}

static struct redis_conn *it_conn(void)
{
    return it_conn_timeout(IT_TIMEOUT_MS);
}

/* The caller's line in failures: these run many times per test. */
#define it_expect_str(r, want) it_expect_str_at((r), (want), __LINE__)
#define it_expect_ok(r) it_expect_ok_at((r), __LINE__)

static void it_expect_str_at(redisReply *r, const char *want, int line)
{
    if (r == NULL)
        fail_msg("line %d: no reply", line);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("line %d: error reply: %s", line, r->str);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
}

static void it_expect_ok_at(redisReply *r, int line)
{
    if (r == NULL)
        fail_msg("line %d: no reply", line);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("line %d: error reply: %s", line, r->str);
    freeReplyObject(r);
}

static int it_group_setup(void **state)
{
    (void)state;
    it_base = it_port_env();
    if (it_base < 0) {
        fprintf(stderr, "TEST_REDIS_CLUSTER_PORT is not a port\n");
        return -1;
    }
    it_unique_name(it_prefix, sizeof(it_prefix), "itc");
    log_init("it_redis_cluster", LOG_LVL_WARN);
    /* The fixture started it; a no-op then, a start when run alone. */
    return it_cluster_ctl("start", it_base);
}

static void test_key_slot_matches_cluster_keyslot(void **state)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", it_base, tv);
    unsigned seed = 7;
    enum { KEYS = 3000 };
    static char keys[KEYS][24];
    (void)state;

    assert_non_null(c);
    assert_false(c->err);
    redisSetTimeout(c, tv);
    for (int i = 0; i < KEYS; i++) {
        /* Braces are frequent, so that tags of every shape occur. */
        static const char alphabet[] = "ab{}{}xyz019:._-";
        int len = 1 + rand_r(&seed) % 20;
        for (int k = 0; k < len; k++)
            keys[i][k] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        keys[i][len] = '\0';
        assert_int_equal(redisAppendCommand(c, "CLUSTER KEYSLOT %s", keys[i]), REDIS_OK);
    }
    for (int i = 0; i < KEYS; i++) {
        void *v = NULL;
        redisReply *r;
        assert_int_equal(redisGetReply(c, &v), REDIS_OK);
        r = v;
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        if (r->integer != redis_key_slot(keys[i], strlen(keys[i])))
            fail_msg("key \"%s\": redis says %lld, we say %d", keys[i], r->integer,
                     redis_key_slot(keys[i], strlen(keys[i])));
        freeReplyObject(r);
    }
    redisFree(c);
}

static void test_keys_on_every_master_read_back(void **state)
{
    struct redis_conn *rc = it_conn();
    int masters[IT_NODES], n = it_masters(masters), hits[IT_NODES] = {0};
    (void)state;

    assert_int_equal(n, 3);
    for (int i = 0; i < 200; i++) {
        char k[128], v[32], name[16];
        int slot, owner;
        snprintf(name, sizeof(name), "k%d", i);
        snprintf(k, sizeof(k), "%s:%s", it_prefix, name); /* untagged: spread */
        snprintf(v, sizeof(v), "v%d", i);
        it_expect_ok(redis_conn_command(rc, "SET %s %s", k, v));
        it_expect_str(redis_conn_command(rc, "GET %s", k), v);
        /* It is where the cluster says the slot lives, read there directly. */
        slot = redis_key_slot(k, strlen(k));
        owner = it_owner(slot);
        assert_int_equal(redis_conn_slot_port(rc, slot), owner);
        for (int m = 0; m < n; m++)
            hits[m] += masters[m] == owner;
        if (i % 20 == 0)
            it_expect_str(it_node(owner, "GET %s", k), v);
    }
    for (int m = 0; m < n; m++)
        assert_true(hits[m] > 0);
    assert_int_equal(redis_conn_ping(rc), 0);
    redis_conn_free(rc);
}

/* redis_conn_scan walks every master: the keys of the test before (spread
 * over the three) come back, each at least once, in small pages. */
static void test_scan_walks_every_master(void **state)
{
    struct redis_conn *rc = it_conn();
    char cursor[REDIS_SCAN_CURSOR_MAX] = "0", match[80];
    const char *argv[4] = {"MATCH", match, "COUNT", "10"};
    int seen[200] = {0}, pages = 0, masters_started = 0;
    (void)state;

    snprintf(match, sizeof(match), "%s:k*", it_prefix);
    do {
        redisReply *r = redis_conn_scan(rc, cursor, 4, argv);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 2);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *k = r->element[1]->element[i]->str;
            int n = atoi(k + strlen(it_prefix) + 2);
            assert_true(n >= 0 && n < 200);
            seen[n] = 1;
        }
        freeReplyObject(r);
        masters_started += strcmp(cursor, "0") != 0 && strstr(cursor, ":0") != NULL &&
                           strcmp(strstr(cursor, ":"), ":0") == 0;
        assert_true(++pages < 10000);
    } while (strcmp(cursor, "0") != 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(seen[i], 1);
    /* The walk moved on from the first master to the two others. */
    assert_int_equal(masters_started, 2);
    /* A cursor that is not one of the walk's is refused, not misread. */
    snprintf(cursor, sizeof(cursor), "%s", "12x:3");
    assert_null(redis_conn_scan(rc, cursor, 4, argv));
    redis_conn_free(rc);
}

static void test_script_one_slot_runs_two_slots_crossslot(void **state)
{
    static struct redis_script set2 = {
        .source = "redis.call('SET', KEYS[1], ARGV[1]) redis.call('SET', KEYS[2], ARGV[1]) "
                  "return redis.call('GET', KEYS[2])",
        .sha = ""};
    struct redis_conn *rc = it_conn();
    char k1[128], k2[128], other[128];
    const char *keys[2];
    const char *args[1] = {"both"};
    redisReply *r;
    (void)state;

    it_key(k1, "s", "a");
    it_key(k2, "s", "b");
    keys[0] = k1, keys[1] = k2;
    it_expect_str(redis_script_call(rc, &set2, 2, keys, 1, args), "both");
    it_expect_str(redis_conn_command(rc, "GET %s", k1), "both");
    /* Keys of two slots: Redis refuses, and that error reply comes back. */
    it_key(other, "other", "b");
    assert_int_not_equal(redis_key_slot(k1, strlen(k1)), redis_key_slot(other, strlen(other)));
    keys[1] = other;
    r = redis_script_call(rc, &set2, 2, keys, 1, args);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_memory_equal(r->str, "CROSSSLOT", 9);
    freeReplyObject(r);
    redis_conn_free(rc);
}

static long long it_script_exists(int port, const char *sha)
{
    redisReply *r = it_node(port, "SCRIPT EXISTS %s", sha);
    long long v;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    v = r->element[0]->integer;
    freeReplyObject(r);
    return v;
}

static void test_noscript_loads_on_that_node(void **state)
{
    static char source[128];
    static struct redis_script echo = {.source = source, .sha = ""};
    struct redis_conn *rc = it_conn();
    int masters[IT_NODES], n = it_masters(masters), fresh = -1, slot;
    char k[128], tag[32], want[128];
    const char *keys[1];
    const char *args[1] = {"hi"};
    (void)state;

    /* A script no node has seen: its text names this run. */
    snprintf(source, sizeof(source), "return ARGV[1] .. '-%s'", it_prefix);
    it_key(k, "n", "x");
    keys[0] = k;
    snprintf(want, sizeof(want), "hi-%s", it_prefix);
    it_expect_str(redis_script_call(rc, &echo, 1, keys, 1, args), want);
    assert_int_equal(strlen(echo.sha), 40);
    for (int m = 0; m < n && fresh < 0; m++)
        if (it_script_exists(masters[m], echo.sha) == 0)
            fresh = masters[m];
    assert_true(fresh > 0); /* loaded on one or two masters, not all three */
    it_tag_on(fresh, -1, tag, &slot);
    it_key(k, tag, "x");
    it_expect_str(redis_script_call(rc, &echo, 1, keys, 1, args), want);
    assert_int_equal(it_script_exists(fresh, echo.sha), 1);
    redis_conn_free(rc);
}

static void test_pipeline_on_the_node_of_a_key(void **state)
{
    struct redis_conn *rc = it_conn();
    char a[128], b[128];
    redisContext *ctx;
    redisReply *r = NULL;
    (void)state;

    it_key(a, "p", "a");
    it_key(b, "p", "b");
    ctx = redis_conn_context_key(rc, a, strlen(a));
    assert_non_null(ctx);
    assert_null(redis_conn_context(rc)); /* a pipeline needs its node */
    ctx = redis_conn_context_key(rc, a, strlen(a));
    assert_non_null(ctx);
    assert_int_equal(redisAppendCommand(ctx, "SET %s %s", a, "1"), REDIS_OK);
    assert_int_equal(redisAppendCommand(ctx, "SET %s %s", b, "2"), REDIS_OK);
    assert_int_equal(redisAppendCommand(ctx, "MGET %s %s", a, b), REDIS_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(redis_conn_get_reply(rc, &r), 0);
        assert_true(r->type != REDIS_REPLY_ERROR);
        if (i == 2) {
            assert_int_equal(r->elements, 2);
            assert_string_equal(r->element[1]->str, "2");
        }
        freeReplyObject(r);
    }
    redis_conn_free(rc);
}

/* Slot from -> to by hand, the way redis-cli --cluster reshard does it:
 * IMPORTING on to, MIGRATING on from, MIGRATE of every key named (all of
 * them when keys is NULL), then (finish) SETSLOT NODE on every master. */
static void it_migrate(int slot, int from, int to, const char *const *keys, int finish)
{
    char idf[64], idt[64], s[16], p[16];
    int masters[IT_NODES], n;

    it_node_id(from, idf);
    it_node_id(to, idt);
    snprintf(s, sizeof(s), "%d", slot);
    snprintf(p, sizeof(p), "%d", to);
    it_node_ok(to, "CLUSTER SETSLOT %s IMPORTING %s", s, idf, NULL);
    it_node_ok(from, "CLUSTER SETSLOT %s MIGRATING %s", s, idt, NULL);
    for (int i = 0; keys != NULL && keys[i] != NULL; i++) {
        redisReply *r = it_node(from, "MIGRATE 127.0.0.1 %s %s 0 5000", p, keys[i]);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    if (!finish)
        return;
    n = it_masters(masters);
    /* The new owner first, then the old, then the rest (as redis-cli). */
    it_node_ok(to, "CLUSTER SETSLOT %s NODE %s", s, idt, NULL);
    it_node_ok(from, "CLUSTER SETSLOT %s NODE %s", s, idt, NULL);
    for (int m = 0; m < n; m++)
        if (masters[m] != to && masters[m] != from)
            it_node_ok(masters[m], "CLUSTER SETSLOT %s NODE %s", s, idt, NULL);
}

static void test_moved_after_slot_moved_by_hand(void **state)
{
    struct redis_conn *rc = it_conn();
    int masters[IT_NODES], slot, from, to;
    unsigned long reloads;
    char k[128], tag[32];
    const char *keys[2] = {k, NULL};
    (void)state;

    assert_int_equal(it_masters(masters), 3);
    from = masters[0];
    to = masters[1];
    it_tag_on(from, -1, tag, &slot);
    it_key(k, tag, "moved");
    it_expect_ok(redis_conn_command(rc, "SET %s %s", k, "here"));
    assert_int_equal(redis_conn_slot_port(rc, slot), from);
    reloads = redis_conn_cluster_reloads(rc);
    it_migrate(slot, from, to, keys, 1);
    assert_int_equal(it_owner(slot), to);
    /* The map is stale: MOVED, resent to the new owner, map reloaded. */
    it_expect_str(redis_conn_command(rc, "GET %s", k), "here");
    assert_int_equal(redis_conn_slot_port(rc, slot), to);
    it_expect_ok(redis_conn_command(rc, "SET %s %s", k, "there"));
    assert_true(redis_conn_cluster_reloads(rc) > reloads);
    it_expect_str(it_node(to, "GET %s", k), "there");
    redis_conn_free(rc);
}

/* GET on a node importing key's slot: ASKING first, on that connection. */
static redisReply *it_asking_get(int port, const char *key)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;

    if (c == NULL || c->err)
        goto out;
    redisSetTimeout(c, tv);
    r = redisCommand(c, "ASKING");
    if (r == NULL)
        goto out;
    freeReplyObject(r);
    r = redisCommand(c, "GET %s", key);
out:
    if (c != NULL)
        redisFree(c);
    return r;
}

struct it_later {
    int from, to;
    const char *key;
};

/* Migrates one more key of a migrating slot after 300 ms. */
static void *it_migrate_later(void *arg)
{
    const struct it_later *l = arg;
    char p[16];
    redisReply *r;

    time_sleep_ms(300);
    snprintf(p, sizeof(p), "%d", l->to);
    r = it_node(l->from, "MIGRATE 127.0.0.1 %s %s 0 5000", p, l->key);
    if (r != NULL)
        freeReplyObject(r);
    return NULL;
}

static void test_ask_and_tryagain_during_migration(void **state)
{
    struct redis_conn *rc = it_conn();
    int masters[IT_NODES], slot, from, to;
    char k1[128], k2[128], k3[128], tag[32];
    const char *first[2] = {k1, NULL};
    struct redis_conn *patient;
    struct it_later later;
    pthread_t th;
    int64_t t0, took;
    redisReply *r;
    (void)state;

    assert_int_equal(it_masters(masters), 3);
    from = masters[1];
    to = masters[2];
    it_tag_on(from, -1, tag, &slot);
    it_key(k1, tag, "one");
    it_key(k2, tag, "two");
    it_key(k3, tag, "three");
    it_expect_ok(redis_conn_command(rc, "SET %s %s", k1, "1"));
    it_expect_ok(redis_conn_command(rc, "SET %s %s", k2, "2"));
    /* Slot migrating, k1 already moved: the old owner answers ASK for it. */
    it_migrate(slot, from, to, first, 0);
    it_expect_str(redis_conn_command(rc, "GET %s", k1), "1");
    it_expect_str(redis_conn_command(rc, "GET %s", k2), "2"); /* still at the old owner */
    assert_int_equal(redis_conn_slot_port(rc, slot), from);   /* ASK leaves the map */
    /* A key the old owner does not have goes to the new one (ASK). */
    it_expect_ok(redis_conn_command(rc, "SET %s %s", k3, "3"));
    it_expect_str(it_asking_get(to, k3), "3");
    /* A multi-key read across the split: TRYAGAIN until the timeout... */
    t0 = time_mono_ms();
    r = redis_conn_command(rc, "MGET %s %s", k1, k2);
    took = time_mono_ms() - t0;
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_memory_equal(r->str, "TRYAGAIN", 8);
    freeReplyObject(r);
    assert_true(took >= IT_TIMEOUT_MS / 2);
    assert_true(took <= IT_TIMEOUT_MS + IT_SLACK_MS);
    /* ...and retried until it works once the rest has moved meanwhile
     * (a longer timeout: the move must land within it on a loaded machine). */
    patient = it_conn_timeout(IT_PATIENT_MS);
    later = (struct it_later){.from = from, .to = to, .key = k2};
    assert_int_equal(pthread_create(&th, NULL, it_migrate_later, &later), 0);
    t0 = time_mono_ms();
    r = redis_conn_command(patient, "MGET %s %s", k1, k2);
    took = time_mono_ms() - t0;
    pthread_join(th, NULL);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("MGET after the migration: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "1");
    assert_string_equal(r->element[1]->str, "2");
    freeReplyObject(r);
    assert_true(took >= 250); /* it did wait for the migration */
    redis_conn_free(patient);
    it_migrate(slot, from, to, NULL, 1);
    it_expect_str(redis_conn_command(rc, "GET %s", k2), "2");
    assert_int_equal(redis_conn_slot_port(rc, slot), to);
    redis_conn_free(rc);
}

/* The replica of master port (its port), from that master's INFO. */
static int it_replica_of(int port)
{
    redisReply *r = it_node(port, "INFO replication");
    const char *p;
    int rp = -1;

    assert_non_null(r);
    p = strstr(r->str, "slave0:");
    if (p != NULL && (p = strstr(p, "port=")) != NULL)
        rp = (int)strtol(p + 5, NULL, 10);
    freeReplyObject(r);
    return rp;
}

/* 1 when the replica on port holds key (READONLY: a replica serves reads
 * of its master's slots on that connection). */
static int it_replica_has(int port, const char *key)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;
    int has = 0;

    if (c == NULL || c->err)
        goto out;
    redisSetTimeout(c, tv);
    r = redisCommand(c, "READONLY");
    if (r == NULL)
        goto out;
    freeReplyObject(r);
    r = redisCommand(c, "EXISTS %s", key);
    has = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r != NULL)
        freeReplyObject(r);
out:
    if (c != NULL)
        redisFree(c);
    return has;
}

static void test_failover_of_a_killed_master(void **state)
{
    struct redis_conn *rc = it_conn();
    int masters[IT_NODES], slot, oslot, dead, replica, ok = 0, tries = 0;
    char k[128], other[128], tag[32], otag[32];
    int64_t killed, t0, took, worst = 0, recovered = -1;
    redisReply *r;
    (void)state;

    assert_int_equal(it_masters(masters), 3);
    dead = masters[0];
    it_tag_on(dead, -1, tag, &slot);
    it_tag_on(masters[1], slot, otag, &oslot);
    it_key(k, tag, "fo");
    it_key(other, otag, "fo");
    it_expect_ok(redis_conn_command(rc, "SET %s %s", k, "kept"));
    it_expect_ok(redis_conn_command(rc, "SET %s %s", other, "alive"));
    replica = it_replica_of(dead);
    assert_true(replica > 0);
    /* The replica has the key before the crash (replication is async). */
    for (int i = 0; i < 100 && !ok; i++) {
        ok = it_replica_has(replica, k);
        if (!ok)
            time_sleep_ms(20);
    }
    if (!ok)
        fail_msg("replica %d of %d never had %s", replica, dead, k);
    assert_int_equal(it_cluster_ctl("kill-node", dead), 0);
    killed = time_mono_ms();
    assert_int_equal(redis_conn_ping(rc), -1); /* a master is missing */
    for (;;) {
        t0 = time_mono_ms();
        r = redis_conn_command(rc, "GET %s", k);
        took = time_mono_ms() - t0;
        worst = took > worst ? took : worst;
        tries++;
        if (r != NULL && r->type == REDIS_REPLY_STRING) {
            assert_string_equal(r->str, "kept");
            freeReplyObject(r);
            recovered = time_mono_ms() - killed;
            break;
        }
        /* Failing: NULL or CLUSTERDOWN, within the bound of redis.h. */
        if (r != NULL) {
            assert_int_equal(r->type, REDIS_REPLY_ERROR);
            assert_memory_equal(r->str, "CLUSTERDOWN", 11);
            freeReplyObject(r);
        }
        assert_true(took <= IT_TIMEOUT_MS + IT_SLACK_MS);
        /* The other masters' slots keep working meanwhile. */
        it_expect_str(redis_conn_command(rc, "GET %s", other), "alive");
        it_expect_ok(redis_conn_command(rc, "SET %s %s", other, "alive"));
        assert_true(time_mono_ms() - killed < IT_FAILOVER_MAX_MS);
    }
    print_message("failover: slot %d served again %lld ms after the kill (%d tries, slowest "
                  "failing call %lld ms)\n",
                  slot, (long long)recovered, tries, (long long)worst);
    assert_true(recovered < IT_FAILOVER_MAX_MS);
    assert_int_equal(redis_conn_slot_port(rc, slot), replica);
    /* The killed node comes back (as a replica) and the cluster is whole. */
    assert_int_equal(it_cluster_ctl("start-node", dead), 0);
    assert_int_equal(it_cluster_ctl("start", it_base), 0);
    assert_int_equal(redis_conn_ping(rc), 0);
    redis_conn_free(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_slot_matches_cluster_keyslot),
        cmocka_unit_test(test_keys_on_every_master_read_back),
        cmocka_unit_test(test_scan_walks_every_master),
        cmocka_unit_test(test_script_one_slot_runs_two_slots_crossslot),
        cmocka_unit_test(test_noscript_loads_on_that_node),
        cmocka_unit_test(test_pipeline_on_the_node_of_a_key),
        cmocka_unit_test(test_moved_after_slot_moved_by_hand),
        cmocka_unit_test(test_ask_and_tryagain_during_migration),
        cmocka_unit_test(test_failover_of_a_killed_master),
    };
    return cmocka_run_group_tests(tests, it_group_setup, NULL);
}
