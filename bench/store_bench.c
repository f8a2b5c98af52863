/* store_bench: the create path of the alert store (alert_store_create_once,
 * the webapp's set-alert: three single-slot steps) at a fixed concurrency,
 * against one Redis or a Redis Cluster (the usual REDIS_HOST, REDIS_PORT,
 * REDIS_CLUSTER_NODES). Not a test: prints creates/s and latency
 * percentiles as a RESULT line for scripts/bench. It leaves its alerts in
 * Redis (the caller measures their memory, then flushes its private
 * servers): point it at a throwaway Redis only. With BENCH_CPU_NODES, also
 * the Redis CPU seconds (INFO used_cpu_sys + used_cpu_user) per 1,000
 * creates, masters and replicas apart. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert_store.h"
#include "config.h"
#include "log.h"
#include "redis.h"
#include "redis_cpu.h"
#include "signals.h"
#include "timeutil.h"

#define STORE_BENCH_THREADS_MAX 256

struct store_bench {
    struct common_config cc;
    long creates, threads, users, tickers, max_per_user;
    int idem;
    char label[32];
    char cpu_nodes[1024];
    char tag[16];
};

/* One client: its own connection (redis_conn is not thread-safe), its share
 * of the creates, and the latency of each, in microseconds. */
struct store_client {
    const struct store_bench *b;
    long first, count;
    int64_t *lat_us;
    long errors;
    pthread_t thread;
};

static const struct config_var store_bench_vars[] = {
    {"STORE_BENCH_CREATES", "50000", "creates in all",
     CONFIG_LONG(struct store_bench, creates, 1, 100000000)},
    {"STORE_BENCH_CONCURRENCY", "8", "clients, each one connection doing one create at a time",
     CONFIG_LONG(struct store_bench, threads, 1, STORE_BENCH_THREADS_MAX)},
    {"STORE_BENCH_USERS", "5000", "distinct users (alert i belongs to user i mod USERS)",
     CONFIG_LONG(struct store_bench, users, 1, 100000000)},
    {"STORE_BENCH_TICKERS", "100", "distinct tickers (alert i is on ticker i mod TICKERS)",
     CONFIG_LONG(struct store_bench, tickers, 1, 10000000)},
    {"STORE_BENCH_MAX_PER_USER", "100", "the per-user cap passed to the store",
     CONFIG_LONG(struct store_bench, max_per_user, 1, 1000000)},
    {"STORE_BENCH_IDEM", "1",
     "pass an idempotency key (kept 60 s), as the webapp does with nginx's X-Request-Id",
     CONFIG_BOOL(struct store_bench, idem)},
    {"STORE_BENCH_LABEL", "store", "the run's label in the RESULT line",
     CONFIG_STRING(struct store_bench, label)},
    {"BENCH_CPU_NODES", "",
     "host:port,... of every Redis server (replicas too) whose CPU time "
     "the creates cost",
     CONFIG_STRING(struct store_bench, cpu_nodes), .flags = CONFIG_EMPTY_OK},
    CONFIG_END,
};

static int store_bench_config(struct store_bench *b)
{
    char err[CONFIG_ERR_MAX];

    if (config_load(config_common_vars, &b->cc, err, sizeof(err)) != 0 ||
        config_load(store_bench_vars, b, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(b->tag, sizeof(b->tag), "S%d", (int)(getpid() % 100000));
    return 0;
}

/* Alert i of the run: its user, ticker, threshold and type. */
static void store_bench_record(const struct store_bench *b, long i, unsigned *seed,
                               struct alert_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->user_id, sizeof(rec->user_id), "su%s-%ld", b->tag, i % b->users);
    snprintf(rec->ticker, sizeof(rec->ticker), "%.8s-%d", b->tag, (int)(i % b->tickers));
    rec->type = i % 2 == 0 ? ALERT_ABOVE : ALERT_BELOW;
    rec->threshold = 1.0 + (double)(rand_r(seed) % 10000000) / 100.0;
    rec->created_at = time_now();
}

/* Runs one create; returns its latency in microseconds, or -1 on failure. */
static int64_t store_bench_create(const struct store_bench *b, struct redis_conn *rc, long i,
                                  unsigned *seed)
{
    struct alert_record rec;
    char err[ALERT_STORE_ERR_MAX], idem[40];
    int64_t t0;
    int rv;

    store_bench_record(b, i, seed, &rec);
    if (alert_store_new_id(rec.alert_id) != 0)
        return -1;
    snprintf(idem, sizeof(idem), "%s-%ld", b->tag, i);
    t0 = time_mono_us();
    rv = alert_store_create_once(rc, &rec, (int)b->max_per_user, b->idem ? idem : NULL, 60, err,
                                 sizeof(err));
    if (rv != 0) {
        fprintf(stderr, "create %ld: %d %s\n", i, rv, rv == -1 ? err : "");
        return -1;
    }
    return time_mono_us() - t0;
}

static void *store_client_run(void *arg)
{
    struct store_client *c = arg;
    struct redis_conn *rc = redis_conn_open(&c->b->cc);
    unsigned seed = (unsigned)c->first + 1;

    for (long k = 0; k < c->count && rc != NULL && signals_running(); k++) {
        int64_t us = store_bench_create(c->b, rc, c->first + k, &seed);
        c->lat_us[k] = us < 0 ? INT64_MAX : us;
        if (us < 0)
            c->errors++;
    }
    if (rc == NULL)
        c->errors = c->count;
    redis_conn_free(rc);
    return NULL;
}

static int store_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of sorted v[0..n), in milliseconds. */
static double store_pct_ms(const int64_t *v, long n, double p)
{
    long i = (long)((p / 100.0) * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

/* One create from the main thread first: the scripts' SHAs are filled in
 * once, before the clients share them. */
static int store_bench_warm(const struct store_bench *b)
{
    struct redis_conn *rc = redis_conn_open(&b->cc);
    unsigned seed = 7;
    int64_t us = rc != NULL ? store_bench_create(b, rc, b->creates, &seed) : -1;

    redis_conn_free(rc);
    return us < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    static struct store_bench b;
    static struct store_client cl[STORE_BENCH_THREADS_MAX];
    int64_t *lat = NULL, t0;
    long errors = 0, per, done = 0;
    double secs, ok;
    struct redis_cpu cpu0, cpu1;
    char err[256];
    int rc = 1;

    (void)argc;
    (void)argv;
    log_init("store_bench", LOG_LVL_WARN);
    signals_install();
    if (store_bench_config(&b) != 0)
        return 2;
    b.cc.redis_timeout_ms = 10000;
    lat = calloc((size_t)b.creates, sizeof(*lat));
    if (lat == NULL || store_bench_warm(&b) != 0) {
        fprintf(stderr, "store_bench: Redis does not take a create\n");
        goto out;
    }
    per = b.creates / b.threads;
    for (long t = 0; t < b.threads; t++) {
        cl[t].b = &b;
        cl[t].first = done;
        cl[t].count = t == b.threads - 1 ? b.creates - done : per;
        cl[t].lat_us = lat + done;
        done += cl[t].count;
    }
    if (b.cpu_nodes[0] != '\0' && redis_cpu_read(b.cpu_nodes, &cpu0, err, sizeof(err)) != 0) {
        fprintf(stderr, "store_bench: %s\n", err);
        goto out;
    }
    t0 = time_mono_us();
    for (long t = 0; t < b.threads; t++)
        if (pthread_create(&cl[t].thread, NULL, store_client_run, &cl[t]) != 0) {
            fprintf(stderr, "store_bench: no thread\n");
            exit(1); /* threads already running: no orderly way back */
        }
    for (long t = 0; t < b.threads; t++) {
        pthread_join(cl[t].thread, NULL);
        errors += cl[t].errors;
    }
    secs = (double)(time_mono_us() - t0) / 1e6;
    ok = (double)(b.creates - errors);
    if (b.cpu_nodes[0] != '\0') {
        if (redis_cpu_read(b.cpu_nodes, &cpu1, err, sizeof(err)) != 0) {
            fprintf(stderr, "store_bench: %s\n", err);
            goto out;
        }
        printf("%s: Redis CPU %.2f s on masters, %.2f s on replicas (%d servers) = %.3f + %.3f "
               "CPU-s per 1000 creates\n",
               b.label, cpu1.master_s - cpu0.master_s, cpu1.replica_s - cpu0.replica_s, cpu1.nodes,
               (cpu1.master_s - cpu0.master_s) * 1000.0 / ok,
               (cpu1.replica_s - cpu0.replica_s) * 1000.0 / ok);
        printf("RESULT store_cpu label=%s master_cpu_s=%.3f replica_cpu_s=%.3f "
               "master_cpu_s_per_1k=%.4f replica_cpu_s_per_1k=%.4f\n",
               b.label, cpu1.master_s - cpu0.master_s, cpu1.replica_s - cpu0.replica_s,
               (cpu1.master_s - cpu0.master_s) * 1000.0 / ok,
               (cpu1.replica_s - cpu0.replica_s) * 1000.0 / ok);
    }
    qsort(lat, (size_t)b.creates, sizeof(*lat), store_cmp_i64);
    printf("%s: %ld creates (%ld clients, %ld users, %ld tickers, idempotency key %s) in %.2f s "
           "= %.0f creates/s, p50 %.3f ms, p99 %.3f ms, %ld errors\n",
           b.label, b.creates, b.threads, b.users, b.tickers, b.idem ? "yes" : "no", secs,
           ok / secs, store_pct_ms(lat, b.creates, 50), store_pct_ms(lat, b.creates, 99), errors);
    printf("RESULT store label=%s creates=%ld clients=%ld secs=%.3f creates_per_s=%.1f "
           "p50_ms=%.3f p99_ms=%.3f errors=%ld\n",
           b.label, b.creates, b.threads, secs, ok / secs, store_pct_ms(lat, b.creates, 50),
           store_pct_ms(lat, b.creates, 99), errors);
    rc = errors == 0 ? 0 : 1;
out:
    free(lat);
    return rc;
}
