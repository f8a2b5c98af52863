/* dispatch: the notifier's engine. Consumes the alerts topic, turns each
 * message into a job (claim → deliver through every sink with retries →
 * confirm, or → dead-letter), and stores a partition's offset only once
 * every earlier message of that partition is handled. */
#ifndef NOTIFIER_DISPATCH_H
#define NOTIFIER_DISPATCH_H

#include "config.h"
#include "dedup.h"
#include "mailer.h"
#include "sink.h"
#include "stats.h"

struct notifier_config {
    struct common_config common;
    char topic_alerts[128];
    char topic_dlq[128];
    char group[128];
    char offset_reset[16]; /* "earliest" or "latest", for a new group */
    long max_attempts;     /* per sink and alert, first attempt included */
    long retry_base_ms;
    long retry_max_ms;
    long max_pending; /* consumed but unhandled messages before the consumer pauses */
    long dedup_ttl_s;
    long drain_ms; /* at shutdown, how long in-flight deliveries may finish */
    int webhook_enabled;
    struct webhook_config webhook;
    int smtp_enabled; /* NOTIFIER_SMTP_URL set: confirmation mails are sent */
    struct smtp_config smtp;
    char confirm_url[1024]; /* the link of a confirmation mail, before "?token=" */
    long confirm_ttl_s;     /* how long that link works */
    long email_per_hour;    /* alert mails per user and hour */
};

struct dispatcher;

/* Creates the Kafka consumer and DLQ producer. The sinks (nsinks <=
 * SINK_MAX) are moved into the dispatcher, which closes them (also when
 * it fails); cfg, dd and stats (which it counts into) stay the caller's and
 * must outlive it. Returns NULL with err. */
struct dispatcher *dispatch_new(const struct notifier_config *cfg, struct dedup *dd,
                                struct notifier_stats *stats, struct sink *sinks, int nsinks,
                                char *err, size_t errlen);

/* One turn of the main loop: consume (unless draining), advance due jobs,
 * drive the sinks, serve delivery reports. Blocks at most ~100 ms. */
void dispatch_step(struct dispatcher *d);

/* Stops consuming, lets in-flight deliveries finish for up to cfg->drain_ms,
 * flushes the DLQ producer, commits stored offsets, closes sinks and Kafka,
 * frees. Jobs left unfinished are redelivered by the next notifier. */
void dispatch_close(struct dispatcher *d);

/* Consumed messages not yet handled (the /health "pending"). */
long dispatch_pending(const struct dispatcher *d);

#endif
