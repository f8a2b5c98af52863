/* notifier: delivers every triggered alert from the alerts topic exactly
 * once per alert_id (see docs/notifier.md) to the log and, when configured,
 * to a signed webhook and by e-mail (alerts whose user chose it); sends the
 * confirmation mails of new addresses; undeliverable and malformed
 * messages go to the DLQ. */
#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "confirm.h"
#include "contract.h"
#include "dedup.h"
#include "dispatch.h"
#include "health.h"
#include "kafka.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "signals.h"
#include "sink.h"
#include "stats.h"
#include "timeutil.h"

#define NC struct notifier_config

static const char *const notifier_resets[] = {"earliest", "latest", NULL};

/* The webhook's settings are read only when it has a URL. */
static int notifier_webhook_wanted(const void *cfg)
{
    const struct notifier_config *c = cfg;

    return c->webhook.url[0] != '\0';
}

/* The SMTP settings are read only when it has a URL. */
static int notifier_smtp_wanted(const void *cfg)
{
    const struct notifier_config *c = cfg;

    return c->smtp.url[0] != '\0';
}

static const struct config_var notifier_vars[] = {
    CONFIG_METRICS_PORT(NC, CONTRACT_TEXT(CONTRACT_PORT_NOTIFIER_METRICS)),
    {"TOPIC_ALERTS", CONTRACT_TOPIC_ALERTS, "topic of triggered alerts to deliver",
     CONFIG_STRING(NC, topic_alerts)},
    {"TOPIC_DLQ", CONTRACT_TOPIC_DLQ, "dead-letter topic (undeliverable or malformed)",
     CONFIG_STRING(NC, topic_dlq)},
    {"NOTIFIER_GROUP", CONTRACT_GROUP_NOTIFIERS, "Kafka consumer group", CONFIG_STRING(NC, group)},
    {"NOTIFIER_OFFSET_RESET", "earliest", "where a new group starts",
     CONFIG_STRING(NC, offset_reset), .choices = notifier_resets},
    {"NOTIFIER_MAX_ATTEMPTS", "5", "attempts per alert before the DLQ",
     CONFIG_LONG(NC, max_attempts, 1, 100)},
    {"NOTIFIER_RETRY_BASE_MS", "500", "first retry delay; doubles per attempt",
     CONFIG_LONG(NC, retry_base_ms, 10, 600000)},
    {"NOTIFIER_RETRY_MAX_MS", "30000", "cap of the retry delay (raised to the base)",
     CONFIG_LONG(NC, retry_max_ms, 10, 3600000)},
    {"NOTIFIER_MAX_PENDING", "1000", "unhandled messages before consuming pauses",
     CONFIG_LONG(NC, max_pending, 1, 100000)},
    {"NOTIFIER_DEDUP_TTL_S", "604800", "how long a delivered alert_id is remembered",
     CONFIG_LONG(NC, dedup_ttl_s, 60, 31536000)},
    {"NOTIFIER_DRAIN_MS", "5000", "at shutdown, time for in-flight deliveries",
     CONFIG_LONG(NC, drain_ms, 0, 8000)},
    {"NOTIFIER_WEBHOOK_URL", NULL, "http(s) URL to POST each alert to; unset = log only",
     CONFIG_STRING(NC, webhook.url), .flags = CONFIG_EMPTY_OK},
    {"NOTIFIER_WEBHOOK_SECRET", NULL, "HMAC-SHA256 key for X-Stock-Alerts-Signature",
     CONFIG_STRING(NC, webhook.secret), .flags = CONFIG_EMPTY_OK, .when = notifier_webhook_wanted},
    {"NOTIFIER_WEBHOOK_TIMEOUT_MS", "5000", "total time of one webhook attempt",
     CONFIG_LONG(NC, webhook.timeout_ms, 100, 120000), .when = notifier_webhook_wanted},
    {"NOTIFIER_WEBHOOK_CONNECT_TIMEOUT_MS", "2000", "connect timeout (at most the total)",
     CONFIG_LONG(NC, webhook.connect_timeout_ms, 50, 60000), .when = notifier_webhook_wanted},
    {"NOTIFIER_WEBHOOK_CONCURRENCY", "8", "webhook requests in flight at once",
     CONFIG_INT(NC, webhook.concurrency, 1, 256), .when = notifier_webhook_wanted},
    {"NOTIFIER_SMTP_URL", NULL,
     "smtp://host:port (STARTTLS when offered) or smtps://; unset = no e-mail",
     CONFIG_STRING(NC, smtp.url), .flags = CONFIG_EMPTY_OK},
    {"NOTIFIER_SMTP_FROM", NULL, "sender address of every mail", CONFIG_STRING(NC, smtp.from),
     .when = notifier_smtp_wanted},
    {"NOTIFIER_SMTP_USER", NULL, "SMTP AUTH user; unset = no AUTH", CONFIG_STRING(NC, smtp.user),
     .flags = CONFIG_EMPTY_OK, .when = notifier_smtp_wanted},
    {"NOTIFIER_SMTP_PASSWORD", NULL, "SMTP AUTH password (never logged)",
     CONFIG_STRING(NC, smtp.password), .flags = CONFIG_EMPTY_OK, .when = notifier_smtp_wanted},
    {"NOTIFIER_SMTP_TIMEOUT_MS", "10000", "total time of one mail",
     CONFIG_LONG(NC, smtp.timeout_ms, 100, 300000), .when = notifier_smtp_wanted},
    {"NOTIFIER_SMTP_CONNECT_TIMEOUT_MS", "5000", "SMTP connect timeout (at most the total)",
     CONFIG_LONG(NC, smtp.connect_timeout_ms, 50, 60000), .when = notifier_smtp_wanted},
    {"NOTIFIER_SMTP_CONCURRENCY", "4", "mails in flight at once",
     CONFIG_INT(NC, smtp.concurrency, 1, 64), .when = notifier_smtp_wanted},
    {"NOTIFIER_CONFIRM_URL", "http://localhost:8080/api/confirm-email",
     "the confirmation link of an address, before ?token=", CONFIG_STRING(NC, confirm_url),
     .when = notifier_smtp_wanted},
    {"NOTIFIER_EMAIL_PER_HOUR", "20", "alert mails per user and hour (more are skipped)",
     CONFIG_LONG(NC, email_per_hour, 1, 10000), .when = notifier_smtp_wanted},
    {"NOTIFIER_CONFIRM_TTL_S", "86400", "how long a confirmation link works",
     CONFIG_LONG(NC, confirm_ttl_s, 600, 604800), .when = notifier_smtp_wanted},
    CONFIG_END,
};

/* What the table cannot say: the URL's scheme, the webhook switch, and
 * limits that follow others. */
static int notifier_config_check(void *arg, char *err, size_t errlen)
{
    struct notifier_config *c = arg;
    char reason[96];

    c->webhook_enabled = notifier_webhook_wanted(c);
    if (c->webhook_enabled && strncmp(c->webhook.url, "http://", 7) != 0 &&
        strncmp(c->webhook.url, "https://", 8) != 0) {
        snprintf(err, errlen, "NOTIFIER_WEBHOOK_URL: must start with http:// or https://");
        return -1;
    }
    c->smtp_enabled = notifier_smtp_wanted(c);
    if (c->smtp_enabled && strncmp(c->smtp.url, "smtp://", 7) != 0 &&
        strncmp(c->smtp.url, "smtps://", 8) != 0) {
        snprintf(err, errlen, "NOTIFIER_SMTP_URL: must start with smtp:// or smtps://");
        return -1;
    }
    if (c->smtp_enabled &&
        email_addr_check(c->smtp.from, strlen(c->smtp.from), reason, sizeof(reason)) != 0) {
        snprintf(err, errlen, "NOTIFIER_SMTP_FROM: not a plain address (%s)", reason);
        return -1;
    }
    if (c->smtp_enabled && strncmp(c->confirm_url, "http://", 7) != 0 &&
        strncmp(c->confirm_url, "https://", 8) != 0) {
        snprintf(err, errlen, "NOTIFIER_CONFIRM_URL: must start with http:// or https://");
        return -1;
    }
    if (c->smtp.connect_timeout_ms > c->smtp.timeout_ms)
        c->smtp.connect_timeout_ms = c->smtp.timeout_ms;
    if (c->webhook.connect_timeout_ms > c->webhook.timeout_ms)
        c->webhook.connect_timeout_ms = c->webhook.timeout_ms;
    if (c->retry_max_ms < c->retry_base_ms)
        c->retry_max_ms = c->retry_base_ms;
    return 0;
}

struct notifier_health {
    const struct notifier_config *cfg;
    struct notifier_stats *stats;
};

static int notifier_health_check(void *ud, struct buf *out)
{
    const struct notifier_health *h = ud;
    int redis = atomic_load(&h->stats->redis_up);

    buf_printf(out,
               "{\"status\":\"%s\",\"service\":\"notifier\",\"redis\":%s,\"webhook\":%s,"
               "\"smtp\":%s,\"delivered\":%llu,\"dead_lettered\":%llu}",
               redis ? "ok" : "degraded", redis ? "true" : "false",
               h->cfg->webhook_enabled ? "true" : "false", h->cfg->smtp_enabled ? "true" : "false",
               (unsigned long long)atomic_load(&h->stats->delivered),
               (unsigned long long)atomic_load(&h->stats->dead_lettered));
    return redis ? 0 : -1;
}

static void notifier_metrics(void *ud, struct buf *out)
{
    const struct notifier_health *h = ud;
    struct kafka_stats ks;

    stats_render(h->stats, out);
    kafka_stats_get(&ks);
    metrics_counter(out, "notifier_kafka_errors_total", "Kafka client errors.", ks.errors);
}

/* The webhook URL without userinfo or query, which may carry credentials. */
static void notifier_redact_url(const char *url, char *out, size_t outlen)
{
    const char *sep = strstr(url, "://");
    const char *host = sep != NULL ? sep + 3 : url;
    const char *slash = strchr(host, '/');
    const char *at = strchr(host, '@');
    size_t scheme = (size_t)(host - url);
    size_t rest;

    if (at != NULL && (slash == NULL || at < slash))
        host = at + 1;
    rest = strcspn(host, "?#");
    snprintf(out, outlen, "%.*s%.*s", (int)scheme, url, (int)rest, host);
}

static void notifier_log_start(const struct notifier_config *c, const struct dedup *dd)
{
    char url[sizeof(c->webhook.url)];

    notifier_redact_url(c->webhook.url, url, sizeof(url));
    log_info("starting",
             "topic=%s dlq=%s group=%s kafka=%s redis=%s:%ld webhook=%s signed=%d "
             "max_attempts=%ld concurrency=%d instance=%s",
             c->topic_alerts, c->topic_dlq, c->group, c->common.kafka_bootstrap,
             c->common.redis_host, c->common.redis_port, c->webhook_enabled ? url : "off",
             c->webhook.secret[0] != '\0', c->max_attempts,
             c->webhook_enabled ? c->webhook.concurrency : 0, dedup_token(dd));
    if (c->webhook_enabled && c->webhook.secret[0] == '\0')
        log_warn("webhook unsigned", "detail=\"NOTIFIER_WEBHOOK_SECRET is not set\"");
    if (!c->smtp_enabled) {
        log_info("email off", "detail=\"NOTIFIER_SMTP_URL is not set: no e-mail channel, no "
                              "confirmation mails\"");
        return;
    }
    notifier_redact_url(c->smtp.url, url, sizeof(url));
    log_info("email on", "smtp=%s from=%s auth=%d concurrency=%d per_hour=%ld confirm_ttl_s=%ld",
             url, c->smtp.from, c->smtp.user[0] != '\0', c->smtp.concurrency, c->email_per_hour,
             c->confirm_ttl_s);
}

/* Builds the sinks: the log always, the webhook and the email channel
 * (over mail_rc) when configured. */
static int notifier_sinks(const struct notifier_config *c, struct notifier_stats *stats,
                          struct redis_conn *mail_rc, struct sink *sinks, int *n, char *err,
                          size_t errlen)
{
    *n = 0;
    sink_log_init(&sinks[(*n)++]);
    if (c->webhook_enabled) {
        if (sink_webhook_init(&sinks[*n], &c->webhook, stats, err, errlen) != 0)
            return -1;
        (*n)++;
    }
    if (c->smtp_enabled) {
        if (sink_email_init(&sinks[*n], &c->smtp, c->email_per_hour, mail_rc, stats, err, errlen) !=
            0)
            return -1;
        (*n)++;
    }
    return 0;
}

static const struct daemon_desc notifier_daemon = {
    "notifier", "Delivers triggered alerts (log, signed webhook, e-mail).", notifier_vars,
    sizeof(struct notifier_config), notifier_config_check};

int main(int argc, char **argv)
{
    static struct notifier_config cfg;
    static struct notifier_stats stats;
    struct notifier_health hctx = {.cfg = &cfg, .stats = &stats};
    struct sink sinks[SINK_MAX];
    struct redis_conn *rc = NULL;
    struct redis_conn *mail_rc = NULL;
    struct confirm *cf = NULL;
    struct dedup *dd = NULL;
    struct dispatcher *d = NULL;
    struct health_server *hs = NULL;
    char err[512];
    int nsinks = 0;
    int rcode = 1;

    rcode = daemon_begin(&notifier_daemon, argc, argv, &cfg, &cfg.common);
    if (rcode >= 0)
        return rcode;
    rcode = 1;
    stats_init(&stats);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("startup failed", "error=\"libcurl\"");
        return 1;
    }
    rc = redis_conn_open(&cfg.common);
    dd = rc != NULL ? dedup_new(rc, cfg.dedup_ttl_s) : NULL;
    if (dd == NULL) {
        log_error("startup failed", "error=\"out of memory\"");
        goto out;
    }
    notifier_log_start(&cfg, dd);
    /* The mails' own Redis connection (addresses, tokens), main thread only. */
    if (cfg.smtp_enabled && (mail_rc = redis_conn_open(&cfg.common)) == NULL) {
        snprintf(err, sizeof(err), "out of memory");
        goto fail;
    }
    if (notifier_sinks(&cfg, &stats, mail_rc, sinks, &nsinks, err, sizeof(err)) != 0)
        goto fail;
    d = dispatch_new(&cfg, dd, &stats, sinks, nsinks, err, sizeof(err));
    nsinks = 0; /* the dispatcher owns (or has closed) them now */
    if (d == NULL)
        goto fail;
    if (cfg.smtp_enabled &&
        (cf = confirm_new(&cfg, mail_rc, &stats, dedup_token(dd), err, sizeof(err))) == NULL)
        goto fail;
    if (cfg.common.metrics_port > 0) {
        hs = health_server_start(cfg.common.listen_host, (int)cfg.common.metrics_port,
                                 notifier_health_check, notifier_metrics, &hctx, err, sizeof(err));
        if (hs == NULL)
            goto fail;
    }
    while (signals_running()) {
        dispatch_step(d);
        if (cf != NULL)
            confirm_step(cf, 0);
    }
    log_info("stopping", "pending=%ld", dispatch_pending(d));
    rcode = 0;
    goto out;
fail:
    log_error("startup failed", "error=\"%s\"", err);
out:
    health_server_stop(hs);
    dispatch_close(d);
    confirm_free(cf);
    redis_conn_free(mail_rc);
    for (int i = 0; i < nsinks; i++)
        sinks[i].close(&sinks[i]);
    dedup_free(dd);
    redis_conn_free(rc);
    curl_global_cleanup();
    if (rcode == 0)
        log_info("stopped", NULL);
    return rcode;
}
