/* settings: the notifier's environment variables (settings.h): the one
 * table of them, read by --help and by loading, and the checks across them
 * that run before anything starts. */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "contract.h"
#include "email.h"

#define NC struct notifier_config

static const char *const settings_resets[] = {"earliest", "latest", NULL};
/* in the order of enum smtp_tls */
static const char *const settings_tls[] = {"try", "required", NULL};

/* The webhook's settings are read only when it has a URL. */
static int settings_webhook_wanted(const void *cfg)
{
    const struct notifier_config *c = cfg;

    return c->webhook.url[0] != '\0';
}

/* The SMTP settings are read only when it has a URL. */
static int settings_smtp_wanted(const void *cfg)
{
    const struct notifier_config *c = cfg;

    return c->smtp.url[0] != '\0';
}

const struct config_var settings_vars[] = {
    CONFIG_METRICS_PORT(NC, CONTRACT_TEXT(CONTRACT_PORT_NOTIFIER_METRICS)),
    {"TOPIC_ALERTS", CONTRACT_TOPIC_ALERTS, "topic of triggered alerts to deliver",
     CONFIG_STRING(NC, topic_alerts)},
    {"TOPIC_DLQ", CONTRACT_TOPIC_DLQ, "dead-letter topic (undeliverable or malformed)",
     CONFIG_STRING(NC, topic_dlq)},
    {"NOTIFIER_GROUP", CONTRACT_GROUP_NOTIFIERS, "Kafka consumer group", CONFIG_STRING(NC, group)},
    {"NOTIFIER_OFFSET_RESET", "earliest", "where a new group starts",
     CONFIG_STRING(NC, offset_reset), .choices = settings_resets},
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
     CONFIG_STRING(NC, webhook.secret), .flags = CONFIG_EMPTY_OK, .when = settings_webhook_wanted},
    {"NOTIFIER_WEBHOOK_TIMEOUT_MS", "5000", "total time of one webhook attempt",
     CONFIG_LONG(NC, webhook.timeout_ms, 100, 120000), .when = settings_webhook_wanted},
    {"NOTIFIER_WEBHOOK_CONNECT_TIMEOUT_MS", "2000", "connect timeout (at most the total)",
     CONFIG_LONG(NC, webhook.connect_timeout_ms, 50, 60000), .when = settings_webhook_wanted},
    {"NOTIFIER_WEBHOOK_CONCURRENCY", "8", "webhook requests in flight at once",
     CONFIG_INT(NC, webhook.concurrency, 1, 256), .when = settings_webhook_wanted},
    {"NOTIFIER_SMTP_URL", NULL,
     "smtp://host:port (STARTTLS when offered) or smtps://; unset = no e-mail",
     CONFIG_STRING(NC, smtp.url), .flags = CONFIG_EMPTY_OK},
    {"NOTIFIER_SMTP_FROM", NULL, "sender address of every mail", CONFIG_STRING(NC, smtp.from),
     .when = settings_smtp_wanted},
    {"NOTIFIER_SMTP_USER", NULL, "SMTP AUTH user; unset = no AUTH", CONFIG_STRING(NC, smtp.user),
     .flags = CONFIG_EMPTY_OK, .when = settings_smtp_wanted},
    {"NOTIFIER_SMTP_PASSWORD", NULL, "SMTP AUTH password (never logged)",
     CONFIG_STRING(NC, smtp.password), .flags = CONFIG_EMPTY_OK, .when = settings_smtp_wanted},
    {"NOTIFIER_SMTP_TIMEOUT_MS", "10000", "total time of one mail",
     CONFIG_LONG(NC, smtp.timeout_ms, 100, 300000), .when = settings_smtp_wanted},
    {"NOTIFIER_SMTP_CONNECT_TIMEOUT_MS", "5000", "SMTP connect timeout (at most the total)",
     CONFIG_LONG(NC, smtp.connect_timeout_ms, 50, 60000), .when = settings_smtp_wanted},
    {"NOTIFIER_SMTP_TLS", "try",
     "smtp://: try = STARTTLS when the server offers it, required = no mail without it",
     CONFIG_CHOICE(NC, smtp.tls, settings_tls), .when = settings_smtp_wanted},
    {"NOTIFIER_SMTP_CA_FILE", NULL,
     "PEM file of the CAs to trust for the SMTP server; unset = the system store",
     CONFIG_STRING(NC, smtp.ca_file), .flags = CONFIG_EMPTY_OK, .when = settings_smtp_wanted},
    {"NOTIFIER_SMTP_CONCURRENCY", "4", "mails in flight at once",
     CONFIG_INT(NC, smtp.concurrency, 1, 64), .when = settings_smtp_wanted},
    {"NOTIFIER_CONFIRM_URL", "http://localhost:8080/api/confirm-email",
     "the confirmation link of an address, before ?token=", CONFIG_STRING(NC, confirm_url),
     .when = settings_smtp_wanted},
    {"NOTIFIER_EMAIL_PER_HOUR", "20", "alert mails per user and hour (more are skipped)",
     CONFIG_LONG(NC, email_per_hour, 1, 10000), .when = settings_smtp_wanted},
    {"NOTIFIER_CONFIRM_TTL_S", "86400", "how long a confirmation link works",
     CONFIG_LONG(NC, confirm_ttl_s, 600, 604800), .when = settings_smtp_wanted},
    CONFIG_END,
};

/* A CA file that cannot be read is a startup error, not a failure of
 * every mail. "" (the system store) passes. */
static int settings_readable(const char *path, char *err, size_t errlen)
{
    FILE *f;

    if (path[0] == '\0')
        return 0;
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "NOTIFIER_SMTP_CA_FILE: cannot read %.200s (%s)", path,
                 strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* What the table cannot say: the URLs' schemes, the sender address, the
 * CA file, the channel switches, and limits that follow others. */
int settings_check(void *arg, char *err, size_t errlen)
{
    struct notifier_config *c = arg;
    char reason[96];

    c->webhook_enabled = settings_webhook_wanted(c);
    if (c->webhook_enabled && strncmp(c->webhook.url, "http://", 7) != 0 &&
        strncmp(c->webhook.url, "https://", 8) != 0) {
        snprintf(err, errlen, "NOTIFIER_WEBHOOK_URL: must start with http:// or https://");
        return -1;
    }
    c->smtp_enabled = settings_smtp_wanted(c);
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
    if (c->smtp_enabled && settings_readable(c->smtp.ca_file, err, errlen) != 0)
        return -1;
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
