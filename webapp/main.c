/* webapp: the dashboard, the alert API and the live event streams.
 * main reads the configuration once, starts the HTTP server and the Kafka
 * fan-out, sends heartbeats, and on SIGTERM stops accepting, ends the
 * streams (browsers reconnect elsewhere), lets requests finish and exits 0. */
#include "webapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "alert_store.h"
#include "alert_store_migrate.h"
#include "contract.h"
#include "daemon.h"
#include "log.h"
#include "redis.h"
#include "signals.h"
#include "timeutil.h"

#define WEBAPP_FD_RESERVE 128 /* files besides the client sockets */
#define WEBAPP_SWEEP_MS 2000  /* one page of the store's repair sweeps */

#define WC struct webapp_config

static const struct config_var webapp_vars[] = {
    {"METRICS_PORT", "0", "not used: /health and /metrics are served on WEBAPP_PORT",
     CONFIG_LONG(WC, common.metrics_port, 0, 65535)},
    {"WEBAPP_PORT", CONTRACT_TEXT(CONTRACT_PORT_WEBAPP),
     "HTTP port of the dashboard, API, /health and /metrics", CONFIG_LONG(WC, port, 1, 65535)},
    {"WEBAPP_UNIX_SOCKET", "",
     "also serve on this Unix socket path (for an nginx on the same host: cheaper than a "
     "loopback TCP hop; /metrics stays on WEBAPP_PORT); empty: none",
     CONFIG_STRING(WC, unix_socket), .flags = CONFIG_EMPTY_OK, .shown = "(none)"},
    {"WEBAPP_MAX_CONNECTIONS", "20000",
     "concurrent HTTP connections (streams included; lowered to the open-files limit)",
     CONFIG_LONG(WC, max_connections, 16, 1000000)},
    {"WEBAPP_THREADS", "4", "HTTP worker threads, each with its own Redis connection",
     CONFIG_LONG(WC, threads, 1, 64)},
    {"WEBAPP_STREAM_THREADS", "2",
     "threads writing the price streams the webapp serves on raw sockets (one per core)",
     CONFIG_LONG(WC, stream_threads, 1, 64)},
    {"WEBAPP_CONN_MEMORY", "32768",
     "bytes of libmicrohttpd buffer per connection: holds a request's headers plus a copy of "
     "its Cookie header and 64 bytes per cookie; about half of it is resident per stream",
     CONFIG_LONG(WC, conn_memory, 4096, 1048576)},
    {"WEBAPP_CONN_TIMEOUT_S", "60", "idle / stalled connection timeout in seconds",
     CONFIG_LONG(WC, conn_timeout_s, 5, 3600)},
    {"COOKIE_SECRET", NULL,
     "HMAC key signing the user_id cookie, the same on every replica: at least " CONTRACT_TEXT(
         WEBAPP_SECRET_MIN) " random characters (a placeholder, a pattern or a sequence is "
                            "refused)",
     CONFIG_STRING(WC, cookie_secret), .flags = CONFIG_EMPTY_OK,
     .shown = "(required, or COOKIE_SECRET_FILE)"},
    {"COOKIE_SECRET_FILE", NULL,
     "file holding the cookie secret, read when COOKIE_SECRET is unset or empty (docker-compose "
     "draws one into a volume the replicas share)",
     CONFIG_STRING(WC, cookie_secret_file), .flags = CONFIG_EMPTY_OK, .shown = "(none)"},
    {"COOKIE_SECURE", "false", "add Secure to the cookie (when served over HTTPS)",
     CONFIG_BOOL(WC, cookie_secure)},
    {"MAX_ALERTS_PER_USER", "100", "active alerts one user may have",
     CONFIG_LONG(WC, max_alerts_per_user, 1, 10000)},
    {"ALERT_DEFAULT_TTL_DAYS", "60",
     "days an alert lives when set-alert names no expires_at (then it is removed and shown in "
     "the history as expired)",
     CONFIG_LONG(WC, alert_ttl_days, 1, 3650)},
    {"WEBAPP_EMAIL_CONFIRM_PER_HOUR", "3",
     "confirmation mails one user may ask for per hour (PUT /api/settings; then 429)",
     CONFIG_LONG(WC, email_confirm_per_hour, 1, 100)},
    {"TOPIC_PRICES", CONTRACT_TOPIC_PRICES, "Kafka topic of price ticks",
     CONFIG_STRING(WC, topic_prices)},
    {"TOPIC_ALERTS", CONTRACT_TOPIC_ALERTS, "Kafka topic of triggered alerts",
     CONFIG_STRING(WC, topic_alerts)},
    {"TOPIC_ASSETS", CONTRACT_TOPIC_ASSETS,
     "Kafka topic of the asset universe the producers announce (compacted, read whole): "
     "the assets shown and accepted by set-alert",
     CONFIG_STRING(WC, topic_assets)},
    {"SSE_HEARTBEAT_MS", "15000",
     "interval of the heartbeat on idle streams (a comment and an event named 'heartbeat', "
     "so a page can tell a hung stream)",
     CONFIG_LONG(WC, heartbeat_ms, 100, 60000)},
    {"SSE_QUEUE_MAX", "4096",
     "events queued for one stream before the client is dropped (the queue grows as needed; "
     "idle streams hold 4 slots)",
     CONFIG_LONG(WC, queue_max, 2, 1048576)},
    {"SSE_QUEUE_MAX_BYTES", "1048576",
     "bytes queued for one stream before the client is dropped (a price event is a batch of "
     "ticks)",
     CONFIG_LONG(WC, queue_max_bytes, 65536, 1073741824)},
    {"SSE_RETRY_MS", "1000", "reconnect delay sent to browsers (SSE retry:)",
     CONFIG_LONG(WC, retry_ms, 100, 60000)},
    {"SSE_STREAMS_PER_USER", "16", "open alert streams per user (more get 429)",
     CONFIG_LONG(WC, streams_per_user, 1, 1000)},
    {"SHUTDOWN_GRACE_MS", "5000", "on SIGTERM, how long requests in flight may finish",
     CONFIG_LONG(WC, shutdown_grace_ms, 0, 60000)},
    {"WEBAPP_START_WAIT_MS", "10000",
     "at start, how long to wait for the asset universe (the whole asset topic) before "
     "listening; past it the webapp listens all the same, and set-alert answers 503 until "
     "the universe is read",
     CONFIG_LONG(WC, start_wait_ms, 0, 600000)},
    {"WEBAPP_STATIC_DIR", NULL, "serve index.html, app.js, style.css from this folder",
     CONFIG_STRING(WC, static_dir), .flags = CONFIG_EMPTY_OK, .shown = "(built in)"},
    {"WEBAPP_INSTANCE", NULL,
     "this replica's name in the X-Served-By response header (letters, digits, '.', '_', '-')",
     CONFIG_STRING(WC, instance), .flags = CONFIG_EMPTY_OK, .shown = "(the port)"},
    CONFIG_END,
};

/* The cookie secret is required, from COOKIE_SECRET or else the file
 * COOKIE_SECRET_FILE names, and must be one nobody can guess (secret.c): a
 * known one would let anybody sign any user's cookie. Its length is kept for
 * the HMAC. Never quoted in err. */
static int webapp_check_secret(struct webapp_config *c, char *err, size_t errlen)
{
    const char *from = "COOKIE_SECRET";
    const char *weak;
    char ferr[CONFIG_ERR_MAX];
    size_t len = strlen(c->cookie_secret);

    if (len == 0 && c->cookie_secret_file[0] != '\0') {
        from = "COOKIE_SECRET_FILE";
        if (secret_read_file(c->cookie_secret_file, c->cookie_secret, sizeof(c->cookie_secret),
                             &len, ferr, sizeof(ferr)) != 0) {
            snprintf(err, errlen, "COOKIE_SECRET_FILE: %s", ferr);
            return -1;
        }
    }
    if (len == 0) {
        snprintf(err, errlen,
                 "COOKIE_SECRET: required (or COOKIE_SECRET_FILE), at least %d "
                 "random characters",
                 WEBAPP_SECRET_MIN);
        return -1;
    }
    weak = secret_weakness(c->cookie_secret, len);
    if (weak != NULL) {
        snprintf(err, errlen,
                 "%s: refused, %s (%zu characters): use at least %d random ones, "
                 "e.g. openssl rand -hex 32",
                 from, weak, len, WEBAPP_SECRET_MIN);
        return -1;
    }
    c->cookie_secret_len = len;
    return 0;
}

/* WEBAPP_INSTANCE goes into a response header: a short token only; unset or
 * empty, the port names the replica. */
static int webapp_check_instance(struct webapp_config *c, char *err, size_t errlen)
{
    size_t len = strlen(c->instance);

    if (len == 0) {
        snprintf(c->instance, sizeof(c->instance), "%ld", c->port);
        return 0;
    }
    if (strspn(c->instance, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789._-") != len) {
        snprintf(err, errlen, "WEBAPP_INSTANCE: at most %zu letters, digits, '.', '_' or '-'",
                 sizeof(c->instance) - 1);
        return -1;
    }
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
        long cap = rl.rlim_cur > 2 * WEBAPP_FD_RESERVE ? (long)rl.rlim_cur - WEBAPP_FD_RESERVE : 16;
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
    const struct stream_opts so = {.threads = cfg->stream_threads,
                                   .queue_max = cfg->queue_max,
                                   .queue_max_bytes = cfg->queue_max_bytes,
                                   .retry_ms = cfg->retry_ms,
                                   .instance = cfg->instance};
    const struct fanout_opts fo = {.bootstrap = cfg->common.kafka_bootstrap,
                                   .topic_prices = cfg->topic_prices,
                                   .topic_alerts = cfg->topic_alerts,
                                   .topic_assets = cfg->topic_assets,
                                   .redis = &cfg->common};
    const int64_t deadline = time_mono_ms() + cfg->start_wait_ms;

    if (hub_init(&ho) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (stream_start(&so) != 0) {
        snprintf(err, errlen, "cannot start the stream threads");
        return -1;
    }
    if (create_start(&cfg->common) != 0) {
        snprintf(err, errlen, "cannot start the store thread");
        return -1;
    }
    if (fanout_start(&fo, err, errlen) != 0)
        return -1;
    /* Requests come once the readers exist and the asset universe is read
     * (a replica restarted behind nginx then never answers "unknown ticker"
     * for a real one); without Kafka it listens after start_wait_ms all
     * the same, and set-alert answers 503 until the universe is read. */
    while (!fanout_ready() && time_mono_ms() < deadline && signals_running())
        time_sleep_ms(10);
    if (!fanout_universe_loaded())
        log_warn("listening before the asset universe is read", "topic=%s", cfg->topic_assets);
    else if (!fanout_ready())
        log_warn("listening before the kafka readers exist", NULL);
    return http_start(cfg, stats, err, errlen);
}

/* Stops accepting, ends the streams, waits for requests in flight. */
static void webapp_drain(const struct webapp_config *cfg)
{
    int64_t deadline = time_mono_ms() + cfg->shutdown_grace_ms;

    http_quiesce();
    hub_stop();
    stream_stop();
    while ((http_inflight() > 0 || stream_count() > 0) && time_mono_ms() < deadline)
        time_sleep_ms(20);
    if (http_inflight() > 0 || stream_count() > 0)
        log_warn("requests cut at shutdown", "inflight=%ld streams=%ld", http_inflight(),
                 stream_count());
}

static void webapp_shutdown(void)
{
    create_stop();
    fanout_stop();
    http_stop();
    stream_free();
    fanout_free();
    hub_free();
    prices_free();
    assets_free();
}

/* One page of the store's repair sweeps (alert_store.h), every
 * WEBAPP_SWEEP_MS; failures are logged once per state change. */
static void webapp_sweep(struct redis_conn *rc, struct alert_store_sweep *sw, int64_t *next,
                         int *failing)
{
    char err[ALERT_STORE_ERR_MAX];
    int64_t now = time_mono_ms();

    if (now < *next)
        return;
    *next = now + WEBAPP_SWEEP_MS;
    if (alert_store_sweep_step(rc, sw, time_now(), err, sizeof(err)) < 0) {
        if (!*failing)
            log_warn("store sweep failed", "error=\"%s\"", err);
        *failing = 1;
        return;
    }
    *failing = 0;
}

static void webapp_run(const struct webapp_config *cfg, struct redis_conn *rc,
                       struct alert_store_migration *mig)
{
    int64_t next_heartbeat = time_mono_ms() + cfg->heartbeat_ms;
    struct alert_store_sweep sweep = {{0}, {0}};
    int64_t next_sweep = time_mono_ms() + WEBAPP_SWEEP_MS;
    int sweep_failing = 0;

    while (signals_running()) {
        int64_t now = time_mono_ms();
        alert_store_migrate_step(rc, mig); /* if Redis was down at start */
        if (mig->done)
            webapp_sweep(rc, &sweep, &next_sweep, &sweep_failing);
        long wait = (long)(next_heartbeat - now);
        if (wait <= 0) {
            hub_heartbeat();
            stream_heartbeat();
            next_heartbeat = now + cfg->heartbeat_ms;
            continue;
        }
        time_sleep_ms(wait < 200 ? wait : 200);
    }
}

/* What the table cannot say, then the page assets the configuration names. */
static int webapp_check(void *arg, char *err, size_t errlen)
{
    struct webapp_config *cfg = arg;

    if (webapp_check_secret(cfg, err, errlen) != 0 ||
        webapp_check_instance(cfg, err, errlen) != 0 ||
        assets_init(cfg->static_dir, err, errlen) != 0)
        return -1;
    return 0;
}

static const struct daemon_desc webapp_daemon = {
    "webapp", "Dashboard, alert API and live SSE streams.", webapp_vars,
    sizeof(struct webapp_config), webapp_check};

int main(int argc, char **argv)
{
    static struct webapp_config cfg;
    static struct webapp_stats stats;
    struct alert_store_migration mig = {0};
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
    mrc = redis_conn_open(&cfg.common);
    if (mrc != NULL)
        alert_store_migrate_step(mrc, &mig);
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
