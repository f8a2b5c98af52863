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
#include "dedup.h"
#include "dispatch.h"
#include "health.h"
#include "kafka.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "settings.h"
#include "signals.h"
#include "sink.h"
#include "stats.h"
#include "timeutil.h"

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
    int implicit;

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
    implicit = strncmp(c->smtp.url, "smtps://", 8) == 0;
    notifier_redact_url(c->smtp.url, url, sizeof(url));
    log_info("email on",
             "smtp=%s tls=%s ca=%s from=%s auth=%d concurrency=%d per_hour=%ld confirm_ttl_s=%ld",
             url,
             implicit                           ? "implicit"
             : c->smtp.tls == SMTP_TLS_REQUIRED ? "required"
                                                : "try",
             c->smtp.ca_file[0] != '\0' ? c->smtp.ca_file : "system", c->smtp.from,
             c->smtp.user[0] != '\0', c->smtp.concurrency, c->email_per_hour, c->confirm_ttl_s);
    if (c->smtp.user[0] != '\0' && !implicit && c->smtp.tls == SMTP_TLS_TRY)
        log_warn("smtp auth may go in clear",
                 "detail=\"a server that offers no STARTTLS gets the credentials in clear; "
                 "NOTIFIER_SMTP_TLS=required refuses it\"");
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
    "notifier", "Delivers triggered alerts (log, signed webhook, e-mail).", settings_vars,
    sizeof(struct notifier_config), settings_check};

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
