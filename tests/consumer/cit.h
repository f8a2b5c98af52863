/* cit: helpers for the evaluator's integration tests — the TEST_* servers,
 * running the real consumer binary, producing ticks, reading the alerts
 * topic back and de-duplicating it by alert_id. */
#ifndef CIT_H
#define CIT_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <sys/types.h>

#include "alert_store.h"

struct cit {
    const char *bootstrap;
    const char *redis_host;
    int redis_port;
    char tag[16]; /* unique per run: names of topics, tickers, users */
    char topic_prices[96];
    char topic_alerts[96];
    char group[96];
    char log_path[256];
    struct redis_conn *rc;
    rd_kafka_t *producer;
};

/* The alerts read back: unique ids (sorted) and how many copies in total. */
struct cit_seen {
    char (*ids)[MSG_ID_MAX];
    size_t n, cap;
    size_t total; /* messages read, duplicates included */
    size_t bad;   /* payloads alert_msg_decode rejected */
};

/* Fills c from TEST_* and creates the unique topics (partitions each).
 * Returns -1 when the servers are not configured or unreachable (skip). */
int cit_open(struct cit *c, const char *tag_prefix, int partitions);
void cit_close(struct cit *c);

/* Exports the consumer's environment (extra: NULL-terminated name, value
 * pairs) and starts bin with stderr appended to c->log_path. Returns pid. */
pid_t cit_spawn(struct cit *c, const char *bin, const char *const *extra);

/* Sends pid SIGTERM and waits for it. Returns its exit status, or -1 when it
 * did not exit normally (a signal, a crash). */
int cit_stop(pid_t pid);

/* Produces one tick (key = ticker) to the prices topic; partition -1 lets
 * the partitioner choose. Returns 0 or -1. */
int cit_tick(struct cit *c, const char *ticker, double price, double timestamp, int partition);

/* Produces raw bytes to the prices topic. */
int cit_raw(struct cit *c, const char *key, const char *value);

/* Blocks until the consumer evaluates ticks on every partition: one
 * sentinel alert per partition, ticked until all fired (up to timeout_ms).
 * Returns 0 or -1. */
int cit_wait_consuming(struct cit *c, int partitions, int timeout_ms);

/* Reads the alerts topic from the beginning until want unique ids whose
 * user starts with user_prefix were seen and then quiet_ms passed without
 * a new message, or timeout_ms. */
void cit_collect(struct cit *c, const char *user_prefix, size_t want, int quiet_ms, int timeout_ms,
                 struct cit_seen *seen);
int cit_seen_has(const struct cit_seen *s, const char *id);
void cit_seen_free(struct cit_seen *s);

/* 1 when alert id has no trace left in Redis (hash, both sets, index). */
int cit_alert_gone(struct cit *c, const char *id, const char *user, const char *ticker,
                   enum alert_type type);

#endif
