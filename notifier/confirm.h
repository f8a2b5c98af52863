/* confirm: the confirmation mails of the double opt-in. Reads the requests
 * the webapp queues on the EMAIL_REQUESTS_SHARDS streams of email_store.h,
 * and on the legacy stream of before them (read until empty, never
 * written), each by the consumer group "notifiers", so each request goes
 * to one notifier; makes the link's token (email_store_issue), mails it
 * through its own mailer, retries with the dispatcher's backoff, and
 * acknowledges the request, on its own stream, once the SMTP server took
 * the mail or the attempts are spent. A request left
 * unacknowledged by a notifier that died is taken over after
 * CONFIRM_ABANDONED_MS (XAUTOCLAIM): that mail may go out twice, and only
 * the newest link works. Runs on the main thread, between dispatcher turns. */
#ifndef NOTIFIER_CONFIRM_H
#define NOTIFIER_CONFIRM_H

#include "dispatch.h"
#include "mailer.h"
#include "stats.h"

#define CONFIRM_ABANDONED_MS 120000 /* a request pending that long has no live owner */

struct redis_conn;
struct confirm;

/* A confirmation sender over rc (its own connection: the caller's, which it
 * does not free), with cfg's SMTP settings and retry rules, counting into
 * stats, reading as consumer `instance` (the notifier's dedup token). cfg,
 * rc and stats must outlive it. Returns NULL with err. */
struct confirm *confirm_new(const struct notifier_config *cfg, struct redis_conn *rc,
                            struct notifier_stats *stats, const char *instance, char *err,
                            size_t errlen);

/* One turn: finishes sent mails, starts due retries and new requests. Waits
 * at most timeout_ms (for the mails in flight). */
void confirm_step(struct confirm *cf, int timeout_ms);

/* Mails still in flight or waiting for a retry. */
int confirm_pending(const struct confirm *cf);

/* Aborts what is in flight (the requests stay unacknowledged: taken over
 * later) and frees; NULL is a no-op. */
void confirm_free(struct confirm *cf);

#endif
