/* stats: the notifier's counters for /metrics. The main thread (dispatch,
 * sinks) writes them, the health server thread reads them: atomics, no
 * lock. main() owns the one struct; the modules get a pointer to it. */
#ifndef NOTIFIER_STATS_H
#define NOTIFIER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"

struct notifier_stats {
    atomic_uint_fast64_t consumed;        /* messages read from the alerts topic */
    atomic_uint_fast64_t delivered;       /* alerts delivered by every sink and recorded */
    atomic_uint_fast64_t retried;         /* retries scheduled after a failed attempt */
    atomic_uint_fast64_t dead_lettered;   /* alerts written to the DLQ after failing */
    atomic_uint_fast64_t duplicates;      /* alerts suppressed because already delivered */
    atomic_uint_fast64_t malformed;       /* messages that did not decode (also in the DLQ) */
    atomic_uint_fast64_t expired;         /* alerts that expired unfired: nothing to deliver */
    atomic_uint_fast64_t taken_over;      /* claims taken over from a dead notifier */
    atomic_uint_fast64_t webhook_ok;      /* webhook attempts answered 2xx */
    atomic_uint_fast64_t webhook_failed;  /* webhook attempts that failed (any reason) */
    atomic_uint_fast64_t dlq_failed;      /* DLQ writes that failed and were retried */
    atomic_uint_fast64_t confirm_sent;    /* confirmation mails the SMTP server took */
    atomic_uint_fast64_t confirm_failed;  /* confirmation mails given up on */
    atomic_uint_fast64_t confirm_skipped; /* requests made stale (address changed, removed) */
    atomic_uint_fast64_t email_sent;      /* alert mails the SMTP server took */
    atomic_uint_fast64_t email_failed;    /* alert mail attempts that failed */
    atomic_uint_fast64_t email_skipped;   /* email-channel alerts without a confirmed address */
    atomic_long pending;                  /* consumed messages not yet handled */
    atomic_int redis_up;                  /* 1 while the de-duplication store answers */
    /* duration of webhook attempts */
    struct metrics_histogram webhook_latency;
};

/* Zeroes s (Redis counts as up until a call fails). */
void stats_init(struct notifier_stats *s);

/* Appends every metric of s, as Prometheus text, to out. */
void stats_render(struct notifier_stats *s, struct buf *out);

#endif
