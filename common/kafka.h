/* kafka: librdkafka client setup shared by the daemons — configuration with
 * every result checked, error/log/delivery callbacks that log one line per
 * event and count, produce with back-pressure, clean close, topic admin. */
#ifndef SA_KAFKA_H
#define SA_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#define KAFKA_ERR_MAX 512

/* Process-wide counters, updated from the callbacks. */
struct kafka_stats {
    uint64_t delivered;    /* delivery reports without error */
    uint64_t failed;       /* delivery reports with an error */
    uint64_t errors;       /* error callbacks (broker down, ...) */
    int64_t last_error_ms; /* time_mono_ms() of the last error callback, 0 if none */
};

typedef void (*kafka_dr_fn)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

struct kafka_opts {
    const char *bootstrap;    /* required */
    const char *client_id;    /* may be NULL */
    const char *const *extra; /* NULL-terminated key, value, key, value...; may be NULL */
    kafka_dr_fn dr_cb;        /* producer: called after counting; may be NULL */
    void *opaque;             /* passed to dr_cb */
};

/* A low-latency idempotent producer (linger.ms=0, acks=all). Returns the
 * handle, or NULL with err. Destroy with kafka_producer_close. */
rd_kafka_t *kafka_producer_new(const struct kafka_opts *o, char *err, size_t errlen);

/* A consumer in group_id subscribed to topics (NULL-terminated); offsets are
 * stored only by the caller (enable.auto.offset.store=false), committed
 * automatically. New groups start at the latest offset unless extra says
 * otherwise. Returns NULL with err. Close with kafka_consumer_close. */
rd_kafka_t *kafka_consumer_new(const struct kafka_opts *o, const char *group_id,
                               const char *const *topics, char *err, size_t errlen);

/* A consumer that reads every partition of topic itself, outside any group
 * (each webapp replica must see every message), starting at the end as it
 * is when the call returns (the end offsets are resolved before it does).
 * Returns NULL with err. Close with kafka_consumer_close. */
rd_kafka_t *kafka_reader_new(const struct kafka_opts *o, const char *topic, char *err,
                             size_t errlen);

/* The same, starting at the beginning of every partition: a compacted
 * topic read whole (the asset universe). */
rd_kafka_t *kafka_reader_new_from_start(const struct kafka_opts *o, const char *topic, char *err,
                                        size_t errlen);

/* Enqueues a copy of the message; when the local queue is full, serves
 * delivery reports and retries for up to timeout_ms. Returns 0, or -1 with
 * the librdkafka error in *errp (may be NULL). */
int kafka_produce(rd_kafka_t *rk, const char *topic, const char *key, size_t keylen,
                  const void *value, size_t len, void *msg_opaque, int timeout_ms,
                  rd_kafka_resp_err_t *errp);

/* Flushes for up to timeout_ms, logs what stayed undelivered, destroys.
 * Returns the number of messages left undelivered. */
int kafka_producer_close(rd_kafka_t *rk, int timeout_ms);

/* A producer's fatal error (e.g. the idempotent producer's sequence lost
 * in a broker failover) does not stop the daemon: the producer's owner
 * checks kafka_producer_failed before producing and replaces it.
 * kafka_producer_renew makes the new one from the same options (NULL,
 * logged, when it cannot: try again later); kafka_producer_discard fails
 * the old one's queued and in-flight messages (their delivery reports say
 * so) and destroys it; kafka_producer_purge only fails them, for a handle
 * another thread may still read (destroyed later). */
int kafka_producer_failed(rd_kafka_t *rk);
rd_kafka_t *kafka_producer_renew(const struct kafka_opts *o);
void kafka_producer_discard(rd_kafka_t *rk);
void kafka_producer_purge(rd_kafka_t *rk);

/* Leaves the group (commits stored offsets) and destroys. */
void kafka_consumer_close(rd_kafka_t *rk);

/* kafka_consumer_close, given at most timeout_ms: with no group coordinator
 * answering, librdkafka's close waits up to session.timeout.ms, and its
 * destroy as long again. Past the deadline the close goes on in its own
 * thread and this returns -1: for a process about to exit (its handle is
 * not freed; the offsets not committed are read again by the group's next
 * owner, which the claims make harmless). 0 when closed in time. */
int kafka_consumer_close_within(rd_kafka_t *rk, int timeout_ms);

/* Returns 0 when a broker answered a metadata request within timeout_ms. */
int kafka_ping(rd_kafka_t *rk, int timeout_ms);

/* Creates the topics (NULL-terminated) with `partitions` partitions and
 * replication factor 1; existing topics are fine. Returns 0 or -1 with err. */
int kafka_create_topics(const char *bootstrap, const char *const *topics, int partitions,
                        int timeout_ms, char *err, size_t errlen);

/* The same with `replication` replicas per partition and, when min_isr > 0,
 * the topic's min.insync.replicas (0: the broker's default). Topics that
 * exist already are left as they are. Returns 0 or -1 with err. */
int kafka_create_topics_replicated(const char *bootstrap, const char *const *topics, int partitions,
                                   int replication, int min_isr, int timeout_ms, char *err,
                                   size_t errlen);

/* A snapshot of the counters. */
void kafka_stats_get(struct kafka_stats *out);

#endif
