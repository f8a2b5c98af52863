/* Integration (the test Redis of TEST_REDIS_HOST/PORT as the source, the
 * six-node cluster of the redis_cluster fixture on TEST_REDIS_CLUSTER_PORT
 * as the target): redis-move keeps every alert. The source is filled by the
 * store's own functions (alerts created with and without idempotency keys,
 * some fired into the users' histories and left in the outboxes) plus a
 * notifier dedup record, a heartbeat, schema 2's outbox, e-mail settings
 * with their confirmation requests on the queue's shards and on its legacy
 * stream, and one foreign key;
 * the binary is run as the stack runs it. Proven: every key of the schema is
 * on the cluster with the same DUMP and its TTL (within a second), the
 * foreign key is not, each user's list reads the same; a wrong source schema
 * is refused; a run stopped after one page resumes at its recorded cursor (a
 * key of that page changed on the target stays changed) and completes;
 * counts that differ exit 4; --restart copies everything again; a target
 * holding alerts of its own is refused. Both servers are emptied (FLUSHALL)
 * first, so the test runs alone (RUN_SERIAL). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alert_store.h"
#include "alert_store_claim.h"
#include "alert_store_migrate.h"
#include "email_store.h"
#include "log.h"
#include "redis_move.h"

#define USERS 50
#define EMAIL_USERS 20 /* of USERS: an address set, a request queued */
#define TICKERS 10
#define ALERTS 500
#define CLAIMS_MAX 1024
#define MASTERS_MAX 16
#define OUT_MAX (1 << 20)
#define FOREIGN_KEY "zz-foreign:not-ours"

struct fixture {
    struct redis_conn *src;
    struct redis_conn *dst;
    char from[64];
    char nodes[256];
    char users[USERS][MSG_ID_MAX];
    char tickers[TICKERS][MSG_TICKER_MAX];
    char err[ALERT_STORE_ERR_MAX];
    char *out; /* the last run's output */
};

static struct fixture *fixture_get(void **state)
{
    struct fixture *f = *state;

    if (f == NULL)
        skip(); /* no TEST_REDIS_HOST/PORT */
    return f;
}

static long long int_reply(struct redis_conn *rc, const char *fmt, const char *arg)
{
    redisReply *r = redis_conn_command(rc, fmt, arg);
    long long v;

    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("%s %s: reply type %d (%s)", fmt, arg, r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    v = r->integer;
    freeReplyObject(r);
    return v;
}

static void ok_reply(struct redis_conn *rc, const char *fmt, const char *arg)
{
    redisReply *r = redis_conn_command(rc, fmt, arg);

    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s %s: %s", fmt, arg, r->str);
    freeReplyObject(r);
}

/* The masters of the target (CLUSTER SLOTS), each on a connection of its own. */
static int masters(struct fixture *f, struct redis_conn **out)
{
    redisReply *r = redis_conn_command(f->dst, "CLUSTER SLOTS");
    int ports[MASTERS_MAX], n = 0;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        int port = (int)r->element[i]->element[2]->element[1]->integer, seen = 0;
        for (int k = 0; k < n; k++)
            seen |= ports[k] == port;
        if (!seen && n < MASTERS_MAX) {
            ports[n] = port;
            out[n++] = redis_conn_new("127.0.0.1", port, 5000);
        }
    }
    freeReplyObject(r);
    assert_int_equal(n, 3);
    return n;
}

static void masters_free(struct redis_conn **m, int n)
{
    for (int i = 0; i < n; i++)
        redis_conn_free(m[i]);
}

/* Every key of one single-instance node, through cb. */
static void scan_all(struct redis_conn *rc,
                     void (*cb)(struct fixture *, const redisReply *, void *), struct fixture *f,
                     void *ud)
{
    char cursor[32] = "0";

    do {
        redisReply *r = redis_conn_command(rc, "SCAN %s COUNT 1000", cursor);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            cb(f, r->element[1]->element[i], ud);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

/* Runs the tool with the fixture's --from/--to and args (NULL-terminated);
 * its output (stdout and stderr) into f->out. Returns its exit code. */
static int run_tool(struct fixture *f, ...)
{
    const char *argv[16] = {SA_REDIS_MOVE_BIN, "--from", f->from, "--to", f->nodes};
    char path[] = "/tmp/redis-move-test-XXXXXX";
    int argc = 5, fd = mkstemp(path), status = 0;
    ssize_t n;
    va_list ap;
    pid_t pid;

    assert_true(fd >= 0);
    unlink(path);
    va_start(ap, f);
    for (const char *a = va_arg(ap, const char *); a != NULL && argc < 15;
         a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    n = pread(fd, f->out, OUT_MAX - 1, 0);
    close(fd);
    f->out[n > 0 ? n : 0] = '\0';
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void assert_out_has(const struct fixture *f, const char *text)
{
    if (strstr(f->out, text) == NULL)
        fail_msg("the tool's output lacks \"%s\":\n%s", text, f->out);
}

/* ------------------------------------------------------------ the data */

static void fill_source(struct fixture *f)
{
    struct alert_claim *claims = calloc(CLAIMS_MAX, sizeof(*claims));
    struct alert_tick ticks[TICKERS / 2];
    int done = 0, fired = 0;

    assert_non_null(claims);
    for (int i = 0; i < USERS; i++)
        snprintf(f->users[i], sizeof(f->users[i]), "mv-user-%d", i);
    for (int i = 0; i < TICKERS; i++)
        snprintf(f->tickers[i], sizeof(f->tickers[i]), "MV%d.X", i);
    for (int i = 0; i < ALERTS; i++) {
        struct alert_record rec = {0};
        char idem[16];
        int rv;
        assert_int_equal(alert_store_new_id(rec.alert_id), 0);
        snprintf(rec.user_id, sizeof(rec.user_id), "%s", f->users[i % USERS]);
        snprintf(rec.ticker, sizeof(rec.ticker), "%s", f->tickers[i % TICKERS]);
        rec.threshold = 100 + (i % 97) + 0.25;
        rec.type = i % 2 ? ALERT_BELOW : ALERT_ABOVE;
        rec.created_at = 1700000000.0 + i;
        snprintf(idem, sizeof(idem), "k%d", i);
        /* every third one with an idempotency key, of 1 h or 60 s */
        rv = alert_store_create_once(f->src, &rec, 100, i % 3 == 0 ? idem : NULL, i % 2 ? 3600 : 60,
                                     f->err, sizeof(f->err));
        if (rv != 0)
            fail_msg("create %d: %d %s", i, rv, f->err);
    }
    /* Half the tickers at 150: their crossed alerts fire into the histories
     * and stay in the outboxes (never acknowledged here). */
    for (int i = 0; i < TICKERS / 2; i++)
        ticks[i] =
            (struct alert_tick){.ticker = f->tickers[i], .price = 150.0, .timestamp = 1700001000.0};
    while (done < TICKERS / 2) {
        int d = 0, n = alert_store_claim_batch(f->src, ticks + done, TICKERS / 2 - done, claims,
                                               CLAIMS_MAX, &d, f->err, sizeof(f->err));
        if (n < 0)
            fail_msg("claim: %s", f->err);
        fired += n;
        done += d;
    }
    assert_true(fired > 50);
    /* A notifier dedup record (as dedup_confirm writes it) and heartbeat,
     * schema 2's outbox, a key that is not ours. */
    ok_reply(f->src, "SET notified:%s done EX 86400", claims[0].alert_id);
    ok_reply(f->src, "SET notifier:alive:%s 1 EX 300", "0123456789abcdef");
    ok_reply(f->src, "XADD alerts_outbox * payload %s", "{\"seq\":1}");
    ok_reply(f->src, "SET %s 1", FOREIGN_KEY);
    /* E-mail settings and their confirmation requests, on the users'
     * shards, and one left on the legacy stream of before the shards. */
    for (int i = 0; i < EMAIL_USERS; i++) {
        enum email_set_result res;
        long retry;
        char addr[64];

        snprintf(addr, sizeof(addr), "mv%d@b.example", i);
        assert_int_equal(email_store_set(f->src, f->users[i], addr, 3, 3600, &res, &retry, f->err,
                                         sizeof(f->err)),
                         0);
    }
    ok_reply(f->src, "XADD " EMAIL_REQUESTS_LEGACY_KEY " * user_id %s req 0", f->users[0]);
    free(claims);
}

/* ------------------------------------------------------------ the check */

/* The test's own view of the keys, not the tool's classifier: the source
 * holds only what fill_source wrote, so every key but FOREIGN_KEY must be
 * copied, whatever the tool thinks of it. */
static int is_foreign(const redisReply *k)
{
    return strcmp(k->str, FOREIGN_KEY) == 0 || strcmp(k->str, REDIS_MOVE_PROGRESS_KEY) == 0;
}

/* The keys the tool's count check sees (alert hashes, histories). */
static int is_counted(const redisReply *k)
{
    return strncmp(k->str, "user_alerts:", 12) == 0 || strncmp(k->str, "ticker_alerts:", 14) == 0 ||
           strncmp(k->str, "alert_events:", 13) == 0;
}

/* Every kind of key the schema names, as written by fill_source. */
static const char *const kinds[] = {"user_alerts:{",
                                    "alert_idem:{",
                                    "alert_events:{",
                                    "ticker_alerts:{",
                                    "alert_idx:{",
                                    "alerts_outbox:{",
                                    "alerts_outbox",
                                    "alert_store:schema",
                                    "notified:",
                                    "notifier:alive:",
                                    "user_email:{",
                                    "email_rate:{",
                                    "email_requests:{email-",
                                    EMAIL_REQUESTS_LEGACY_KEY};
#define KINDS (sizeof(kinds) / sizeof(kinds[0]))

static void kind_seen(struct fixture *f, const redisReply *k, void *ud)
{
    int *seen = ud;

    (void)f;
    for (size_t i = 0; i < KINDS; i++) {
        size_t n = strlen(kinds[i]);
        int prefix = strchr(":{-", kinds[i][n - 1]) != NULL;
        if (prefix ? strncmp(k->str, kinds[i], n) == 0 : strcmp(k->str, kinds[i]) == 0)
            seen[i]++;
    }
}

/* The data covers every kind of key. */
static void check_kinds(struct fixture *f)
{
    int seen[KINDS] = {0};

    scan_all(f->src, kind_seen, f, seen);
    for (size_t i = 0; i < KINDS; i++)
        if (seen[i] == 0)
            fail_msg("no %s key in the test data", kinds[i]);
}

struct check {
    const char *except; /* a key left out (NULL: none) */
    long keys;          /* schema keys checked */
};

/* One source key: a schema key is on the target with the same DUMP and
 * TTL; a foreign one is not there. */
static void check_key(struct fixture *f, const redisReply *k, void *ud)
{
    struct check *c = ud;
    redisReply *a, *b;
    long long ta, tb;

    if (is_foreign(k)) {
        assert_int_equal(int_reply(f->dst, "EXISTS %s", k->str), 0);
        return;
    }
    if (c->except != NULL && strcmp(k->str, c->except) == 0)
        return;
    a = redis_conn_command(f->src, "DUMP %b", k->str, k->len);
    b = redis_conn_command(f->dst, "DUMP %b", k->str, k->len);
    assert_non_null(a);
    assert_non_null(b);
    if (b->type != REDIS_REPLY_STRING)
        fail_msg("key %s missing on the cluster", k->str);
    if (a->len != b->len || memcmp(a->str, b->str, a->len) != 0)
        fail_msg("key %s differs on the cluster", k->str);
    freeReplyObject(a);
    freeReplyObject(b);
    ta = int_reply(f->src, "PTTL %s", k->str);
    tb = int_reply(f->dst, "PTTL %s", k->str);
    if ((ta < 0 || tb < 0) ? ta != tb : llabs(ta - tb) > 1000)
        fail_msg("key %s: PTTL %lld on the source, %lld on the cluster", k->str, ta, tb);
    c->keys++;
}

static int same_record(const struct alert_record *a, const struct alert_record *b)
{
    return strcmp(a->alert_id, b->alert_id) == 0 && strcmp(a->ticker, b->ticker) == 0 &&
           a->threshold == b->threshold && a->type == b->type && a->created_at == b->created_at;
}

/* Every schema key copied (except one), every user's list the same. */
static long check_copy(struct fixture *f, const char *except)
{
    struct check c = {except, 0};
    struct alert_record a[64], b[64];
    int listed = 0;

    scan_all(f->src, check_key, f, &c);
    for (int u = 0; u < USERS; u++) {
        int na = alert_store_list(f->src, f->users[u], a, 64, f->err, sizeof(f->err));
        int nb = alert_store_list(f->dst, f->users[u], b, 64, f->err, sizeof(f->err));
        assert_true(na >= 0);
        assert_int_equal(na, nb);
        listed += na;
        for (int i = 0; i < na; i++)
            assert_true(same_record(&a[i], &b[i]));
    }
    assert_true(listed > 0);
    return c.keys;
}

/* A key of the target that the count check does not see (not an alert
 * hash, not a history): the resume probe. */
static void pick_uncounted(struct fixture *f, const redisReply *k, void *ud)
{
    char *out = ud;

    (void)f;
    if (out[0] == '\0' && !is_foreign(k) && !is_counted(k))
        snprintf(out, REDIS_MOVE_KEY_MAX, "%s", k->str);
}

static void count_key(struct fixture *f, const redisReply *k, void *ud)
{
    (void)f;
    if (!is_foreign(k))
        (*(long *)ud)++;
}

static long target_keys(struct fixture *f, char *uncounted)
{
    struct redis_conn *m[MASTERS_MAX];
    int n = masters(f, m);
    long keys = 0;

    for (int i = 0; i < n; i++) {
        scan_all(m[i], count_key, f, &keys);
        if (uncounted != NULL)
            scan_all(m[i], pick_uncounted, f, uncounted);
    }
    masters_free(m, n);
    return keys;
}

static long long progress_field(struct fixture *f, const char *field, char *text, size_t len)
{
    redisReply *r = redis_conn_command(f->dst, "HGET " REDIS_MOVE_PROGRESS_KEY " %s", field);
    long long v = -1;

    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING) {
        v = strtoll(r->str, NULL, 10);
        if (text != NULL)
            snprintf(text, len, "%s", r->str);
    }
    freeReplyObject(r);
    return v;
}

/* ------------------------------------------------------------ the tests */

static void test_wrong_schema_refused(void **state)
{
    struct fixture *f = fixture_get(state);

    ok_reply(f->src, "SET alert_store:schema %s", "2");
    assert_int_equal(run_tool(f, NULL), REDIS_MOVE_FAILED);
    assert_out_has(f, "schema 2, not 3");
    assert_out_has(f, "they migrate the data at start");
    assert_int_equal(int_reply(f->dst, "EXISTS %s", REDIS_MOVE_PROGRESS_KEY), 0);
    assert_int_equal(target_keys(f, NULL), 0);
    ok_reply(f->src, "SET alert_store:schema %s", "3");
}

static void test_interrupted_move_resumes(void **state)
{
    struct fixture *f = fixture_get(state);
    char probe[REDIS_MOVE_KEY_MAX] = "", cursor[32];
    long all = 0, after_one;

    check_kinds(f);
    scan_all(f->src, count_key, f, &all);
    /* One page, then stopped, as a kill after that page would leave it. */
    assert_int_equal(run_tool(f, "--count", "20", "--max-pages", "1", NULL), REDIS_MOVE_STOPPED);
    assert_out_has(f, "move stopped (--max-pages)");
    assert_int_equal(progress_field(f, "pages", NULL, 0), 1);
    assert_int_equal(progress_field(f, "done", NULL, 0), 0);
    progress_field(f, "cursor", cursor, sizeof(cursor));
    assert_string_not_equal(cursor, "0");
    after_one = target_keys(f, probe);
    assert_true(after_one > 0);
    assert_true(after_one < all);
    if (probe[0] == '\0')
        fail_msg("no uncounted key among the %ld of the first page", after_one);
    /* Changed on the target: a resumed run does not copy that page again. */
    ok_reply(f->dst, "SET %s probe", probe);

    assert_int_equal(run_tool(f, "--count", "20", NULL), REDIS_MOVE_OK);
    assert_out_has(f, "move resumed cursor=");
    assert_out_has(f, "skipped=1 ");
    assert_true(progress_field(f, "pages", NULL, 0) > 1);
    assert_int_equal(progress_field(f, "done", NULL, 0), 1);
    assert_int_equal(int_reply(f->dst, "EXISTS %s", probe), 1);
    {
        redisReply *r = redis_conn_command(f->dst, "GET %s", probe);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_string_equal(r->str, "probe");
        freeReplyObject(r);
    }
    assert_int_equal(check_copy(f, probe), all - 1);
    assert_int_equal(target_keys(f, NULL), all);

    /* A lost alert on the target: the count check fails the (complete) move. */
    {
        char key[REDIS_MOVE_KEY_MAX];
        redisReply *r;
        snprintf(key, sizeof(key), "user_alerts:{%s}", f->users[7]);
        r = redis_conn_command(f->dst, "HKEYS %s", key);
        assert_non_null(r);
        assert_true(r->type == REDIS_REPLY_ARRAY && r->elements > 0);
        redisReply *d = redis_conn_command(f->dst, "HDEL %s %s", key, r->element[0]->str);
        assert_non_null(d);
        freeReplyObject(d);
        freeReplyObject(r);
    }
    assert_int_equal(run_tool(f, NULL), REDIS_MOVE_MISMATCH);
    assert_out_has(f, "move already complete");
    assert_out_has(f, "counts differ");

    /* --restart copies everything again: the probe and the alert are back. */
    assert_int_equal(run_tool(f, "--restart", NULL), REDIS_MOVE_OK);
    assert_out_has(f, "progress forgotten (--restart)");
    assert_out_has(f, "move started");
    assert_int_equal(check_copy(f, NULL), all);
}

static void test_target_with_alerts_refused(void **state)
{
    struct fixture *f = fixture_get(state);

    ok_reply(f->dst, "DEL %s", REDIS_MOVE_PROGRESS_KEY);
    assert_int_equal(run_tool(f, NULL), REDIS_MOVE_FAILED);
    assert_out_has(f, "the target already holds");
}

static void flush_all(struct fixture *f)
{
    struct redis_conn *m[MASTERS_MAX];
    int n = masters(f, m);

    for (int i = 0; i < n; i++)
        ok_reply(m[i], "FLUSHALL%s", "");
    masters_free(m, n);
    ok_reply(f->src, "FLUSHALL%s", "");
}

static int group_setup(void **state)
{
    const char *host = getenv("TEST_REDIS_HOST"), *port = getenv("TEST_REDIS_PORT");
    const char *cport = getenv("TEST_REDIS_CLUSTER_PORT");
    long p, c = cport != NULL && *cport != '\0' ? strtol(cport, NULL, 10) : 27001;
    struct fixture *f;

    *state = NULL;
    if (host == NULL || port == NULL || *host == '\0' || *port == '\0')
        return 0; /* the tests skip */
    log_init("test_redis_move", LOG_LVL_WARN);
    p = strtol(port, NULL, 10);
    f = calloc(1, sizeof(*f));
    f->out = malloc(OUT_MAX);
    snprintf(f->from, sizeof(f->from), "%s:%ld", host, p);
    snprintf(f->nodes, sizeof(f->nodes), "127.0.0.1:%ld,127.0.0.1:%ld,127.0.0.1:%ld", c, c + 1,
             c + 2);
    f->src = redis_conn_new(host, (int)p, 5000);
    f->dst = redis_conn_new_cluster(f->nodes, 5000);
    *state = f;
    if (redis_conn_ping(f->src) != 0 || redis_conn_ping(f->dst) != 0) {
        fprintf(stderr, "source %s or cluster %s does not answer\n", f->from, f->nodes);
        return -1;
    }
    flush_all(f);
    if (alert_store_migrate(f->src, f->err, sizeof(f->err)) < 0) { /* schema 3, as daemons do */
        fprintf(stderr, "migrate: %s\n", f->err);
        return -1;
    }
    fill_source(f);
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *f = *state;

    if (f == NULL)
        return 0;
    flush_all(f);
    redis_conn_free(f->src);
    redis_conn_free(f->dst);
    free(f->out);
    free(f);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_schema_refused),
        cmocka_unit_test(test_interrupted_move_resumes),
        cmocka_unit_test(test_target_with_alerts_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
