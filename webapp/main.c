/* webapp: the dashboard, the alert API and the live event streams.
 * main reads the configuration once, starts the HTTP server and the Kafka
 * fan-out, sends heartbeats, and on SIGTERM stops accepting, ends the
 * streams (browsers reconnect elsewhere), lets requests finish and exits 0. */
#include "webapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "alert_history.h"
#include "daemon.h"
#include "log.h"
#include "redis.h"
#include "signals.h"
#include "timeutil.h"

#define WEBAPP_DEFAULT_TICKERS                                                                 \
    "AAPL,GOOGL,MSFT,AMZN,NVDA,TSLA,META,BTC-USD,ETH-USD,SOL-USD,GC=F,SI=F,CL=F,NG=F,HG=F"
#define WEBAPP_FD_RESERVE 128 /* files besides the client sockets */

static const struct config_var webapp_vars[] = {
    {"WEBAPP_PORT", "8000", "HTTP port of the dashboard, API, /health and /metrics"},
    {"WEBAPP_MAX_CONNECTIONS", "20000", "concurrent HTTP connections (streams included)"},
    {"WEBAPP_THREADS", "4", "HTTP worker threads (1-64), each with its own Redis connection"},
    {"WEBAPP_CONN_MEMORY", "32768", "bytes of libmicrohttpd buffer per connection (4096-1048576): "
                                    "holds a request's headers plus a copy of its Cookie header "
                                    "and 64 bytes per cookie; about half of it is resident per "
                                    "stream"},
    {"WEBAPP_CONN_TIMEOUT_S", "60", "idle / stalled connection timeout in seconds"},
    {"COOKIE_SECRET", "(required)", "HMAC key signing the user_id cookie, >= 32 characters, "
                                    "the same on every replica"},
    {"COOKIE_SECURE", "false", "add Secure to the cookie (when served over HTTPS)"},
    {"MAX_ALERTS_PER_USER", "100", "active alerts one user may have (1-10000)"},
    {"TOPIC_PRICES", "stock-prices", "Kafka topic of price ticks"},
    {"TOPIC_ALERTS", "alerts", "Kafka topic of triggered alerts"},
    {"TICKERS", WEBAPP_DEFAULT_TICKERS, "assets accepted by set-alert before their first tick "
                                        "(any ticker seen on the price topic is accepted too)"},
    {"SSE_HEARTBEAT_MS", "15000", "interval of the heartbeat on idle streams (a comment and an event named 'heartbeat', so a page can tell a hung stream)"},
    {"SSE_QUEUE_MAX", "4096", "events queued for one stream before the client is dropped "
                             "(the queue grows as needed; idle streams hold 4 slots)"},
    {"SSE_QUEUE_MAX_BYTES", "1048576", "bytes queued for one stream before the client is dropped "
                                       "(a price event is a batch of ticks)"},
    {"SSE_RETRY_MS", "1000", "reconnect delay sent to browsers (SSE retry:)"},
    {"SSE_STREAMS_PER_USER", "16", "open alert streams per user (more get 429)"},
    {"SHUTDOWN_GRACE_MS", "5000", "on SIGTERM, how long requests in flight may finish"},
    {"WEBAPP_STATIC_DIR", "(built in)", "serve index.html, app.js, style.css from this folder"},
    {"WEBAPP_INSTANCE", "(the port)", "this replica's name in the X-Served-By response header "
                                      "(letters, digits, '.', '_', '-')"},
    {NULL, NULL, NULL},
};

static int webapp_load_longs(struct webapp_config *c, char *err, size_t errlen)
{
    const struct {
        const char *name;
        long def, min, max;
        long *out;
    } v[] = {
        {"WEBAPP_PORT", 8000, 1, 65535, &c->port},
        {"WEBAPP_MAX_CONNECTIONS", 20000, 16, 1000000, &c->max_connections},
        {"WEBAPP_THREADS", 4, 1, 64, &c->threads},
        {"WEBAPP_CONN_MEMORY", 32768, 4096, 1048576, &c->conn_memory},
        {"WEBAPP_CONN_TIMEOUT_S", 60, 5, 3600, &c->conn_timeout_s},
        {"MAX_ALERTS_PER_USER", 100, 1, 10000, &c->max_alerts_per_user},
        {"SSE_HEARTBEAT_MS", 15000, 100, 60000, &c->heartbeat_ms},
        {"SSE_QUEUE_MAX", 4096, 2, 1048576, &c->queue_max},
        {"SSE_QUEUE_MAX_BYTES", 1048576, 65536, 1073741824, &c->queue_max_bytes},
        {"SSE_RETRY_MS", 1000, 100, 60000, &c->retry_ms},
        {"SSE_STREAMS_PER_USER", 16, 1, 1000, &c->streams_per_user},
        {"SHUTDOWN_GRACE_MS", 5000, 0, 60000, &c->shutdown_grace_ms},
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (config_long(v[i].name, v[i].def, v[i].min, v[i].max, v[i].out, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* A string that may be set empty (TICKERS, WEBAPP_STATIC_DIR). */
static int webapp_load_optional(const char *name, const char *def, char *out, size_t outlen,
                                char *err, size_t errlen)
{
    const char *v = getenv(name);

    if (v == NULL)
        v = def;
    if (strlen(v) >= outlen) {
        snprintf(err, errlen, "%s: too long (at most %zu bytes)", name, outlen - 1);
        return -1;
    }
    snprintf(out, outlen, "%s", v);
    return 0;
}

static int webapp_load_secret(struct webapp_config *c, char *err, size_t errlen)
{
    const char *v = getenv("COOKIE_SECRET");
    size_t len = v != NULL ? strlen(v) : 0;

    if (len < WEBAPP_SECRET_MIN) {
        snprintf(err, errlen, "COOKIE_SECRET: required, at least %d characters (got %zu)",
                 WEBAPP_SECRET_MIN, len);
        return -1;
    }
    if (len >= sizeof(c->cookie_secret)) {
        snprintf(err, errlen, "COOKIE_SECRET: too long (at most %zu characters)",
                 sizeof(c->cookie_secret) - 1);
        return -1;
    }
    memcpy(c->cookie_secret, v, len + 1);
    c->cookie_secret_len = len;
    return 0;
}

/* WEBAPP_INSTANCE goes into a response header: a short token only. */
static int webapp_load_instance(struct webapp_config *c, char *err, size_t errlen)
{
    const char *v = getenv("WEBAPP_INSTANCE");
    size_t len = v != NULL ? strlen(v) : 0;

    if (v == NULL || len == 0) {
        snprintf(c->instance, sizeof(c->instance), "%ld", c->port);
        return 0;
    }
    if (len >= sizeof(c->instance) || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                "0123456789._-") != len) {
        snprintf(err, errlen, "WEBAPP_INSTANCE: at most %zu letters, digits, '.', '_' or '-'",
                 sizeof(c->instance) - 1);
        return -1;
    }
    memcpy(c->instance, v, len + 1);
    return 0;
}

static int webapp_config_load(struct webapp_config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (config_load_common(&c->common, 0, err, errlen) != 0 ||
        webapp_load_longs(c, err, errlen) != 0 || webapp_load_secret(c, err, errlen) != 0 ||
        config_bool("COOKIE_SECURE", 0, &c->cookie_secure, err, errlen) != 0 ||
        config_str("TOPIC_PRICES", "stock-prices", c->topic_prices, sizeof(c->topic_prices), err,
                   errlen) != 0 ||
        config_str("TOPIC_ALERTS", "alerts", c->topic_alerts, sizeof(c->topic_alerts), err,
                   errlen) != 0 ||
        webapp_load_optional("TICKERS", WEBAPP_DEFAULT_TICKERS, c->tickers, sizeof(c->tickers),
                             err, errlen) != 0 ||
        webapp_load_optional("WEBAPP_STATIC_DIR", "", c->static_dir, sizeof(c->static_dir), err,
                             errlen) != 0 ||
        webapp_load_instance(c, err, errlen) != 0)
        return -1;
    return 0;
}

/* Every stream is a socket: take the whole hard limit of open files, and
 * keep the connection limit under it. */
static void webapp_raise_nofile(struct webapp_config *c)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)c->max_connections + WEBAPP_FD_RESERVE > rl.rlim_cur) {
        long cap = rl.rlim_cur > 2 * WEBAPP_FD_RESERVE ? (long)rl.rlim_cur - WEBAPP_FD_RESERVE
                                                      : 16;
        /* Only worth a warning when the operator asked for more. */
        log_event(getenv("WEBAPP_MAX_CONNECTIONS") != NULL ? LOG_LVL_WARN : LOG_LVL_INFO,
                  "connection limit capped by open files", "wanted=%ld limit=%ld open_files=%llu",
                  c->max_connections, cap, (unsigned long long)rl.rlim_cur);
        c->max_connections = cap;
    }
}

static int webapp_start(const struct webapp_config *cfg, struct webapp_stats *stats, char *err,
                        size_t errlen)
{
    const struct hub_opts ho = {.queue_max = cfg->queue_max,
                                .queue_max_bytes = cfg->queue_max_bytes,
                                .streams_per_user = cfg->streams_per_user,
                                .heartbeat_ms = cfg->heartbeat_ms};
    const struct fanout_opts fo = {.bootstrap = cfg->common.kafka_bootstrap,
                                   .topic_prices = cfg->topic_prices,
                                   .topic_alerts = cfg->topic_alerts,
                                   .redis_host = cfg->common.redis_host,
                                   .redis_port = (int)cfg->common.redis_port,
                                   .redis_timeout_ms = cfg->common.redis_timeout_ms};

    if (hub_init(&ho) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (http_start(cfg, stats, err, errlen) != 0)
        return -1;
    return fanout_start(&fo, err, errlen);
}

/* Stops accepting, ends the streams, waits for requests in flight. */
static void webapp_drain(const struct webapp_config *cfg)
{
    int64_t deadline = time_mono_ms() + cfg->shutdown_grace_ms;

    http_quiesce();
    hub_stop();
    while (http_inflight() > 0 && time_mono_ms() < deadline)
        time_sleep_ms(20);
    if (http_inflight() > 0)
        log_warn("requests cut at shutdown", "inflight=%ld", http_inflight());
}

static void webapp_shutdown(void)
{
    fanout_stop();
    http_stop();
    fanout_free();
    hub_free();
    prices_free();
    assets_free();
}

static void webapp_run(const struct webapp_config *cfg, struct redis_conn *rc,
                       struct alert_history_migration *mig)
{
    int64_t next_heartbeat = time_mono_ms() + cfg->heartbeat_ms;

    while (signals_running()) {
        int64_t now = time_mono_ms();
        alert_history_migrate_step(rc, mig); /* if Redis was down at start */
        long wait = (long)(next_heartbeat - now);
        if (wait <= 0) {
            hub_heartbeat();
            next_heartbeat = now + cfg->heartbeat_ms;
            continue;
        }
        time_sleep_ms(wait < 200 ? wait : 200);
    }
}

/* The configuration, and the ticker table and page assets it names. */
static int webapp_load(void *arg, char *err, size_t errlen)
{
    struct webapp_config *cfg = arg;

    if (webapp_config_load(cfg, err, errlen) != 0 ||
        prices_init(cfg->tickers, err, errlen) != 0 ||
        assets_init(cfg->static_dir, err, errlen) != 0)
        return -1;
    return 0;
}

static const struct daemon_desc webapp_daemon = {
    "webapp", "Dashboard, alert API and live SSE streams.", webapp_vars, webapp_load};

int main(int argc, char **argv)
{
    static struct webapp_config cfg;
    static struct webapp_stats stats;
    struct alert_history_migration mig = {0};
    struct redis_conn *mrc = NULL;
    char err[CONFIG_ERR_MAX];
    int rc = 0;

    rc = daemon_begin(&webapp_daemon, argc, argv, &cfg, &cfg.common);
    if (rc >= 0)
        return rc;
    rc = 0;
    stats_init(&stats);
    webapp_raise_nofile(&cfg);
    /* Histories of the version before move before the first stream reads
     * one (when Redis is up; otherwise from the main loop). */
    mrc = redis_conn_new(cfg.common.redis_host, (int)cfg.common.redis_port,
                         cfg.common.redis_timeout_ms);
    if (mrc != NULL)
        alert_history_migrate_step(mrc, &mig);
    else
        snprintf(err, sizeof(err), "out of memory");
    if (mrc == NULL || webapp_start(&cfg, &stats, err, sizeof(err)) != 0) {
        log_error("cannot start", "error=\"%s\"", err);
        signals_request_stop();
        rc = 1;
    } else {
        log_info("started", "listen=%s:%ld max_connections=%ld threads=%ld topics=%s,%s",
                 cfg.common.listen_host, cfg.port, cfg.max_connections, cfg.threads,
                 cfg.topic_prices, cfg.topic_alerts);
        webapp_run(&cfg, mrc, &mig);
        log_info("stopping", "inflight=%ld", http_inflight());
        webapp_drain(&cfg);
    }
    webapp_shutdown();
    redis_conn_free(mrc);
    if (rc == 0)
        log_info("stopped", NULL);
    return rc;
}
