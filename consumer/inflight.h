/* inflight: the outbox entries this evaluator has handed to Kafka and not
 * yet removed from Redis, keyed by "<outbox key> <entry id>", so the sweeper never
 * republishes what is still on its way. Single-threaded (the main thread
 * serves delivery reports). */
#ifndef CONSUMER_INFLIGHT_H
#define CONSUMER_INFLIGHT_H

#include <stddef.h>

#define INFLIGHT_ID_MAX 112

struct inflight_entry {
    char id[INFLIGHT_ID_MAX]; /* "<outbox key> <entry id>" */
    int acked;                /* Kafka acknowledged; XDEL pending */
};

struct inflight;

/* Returns an empty set, or NULL on out of memory. Free with inflight_free. */
struct inflight *inflight_new(void);

/* Frees the set and every entry still in it. NULL is fine. */
void inflight_free(struct inflight *s);

/* Adds id (copied). Returns the new entry (owned by the set), or NULL when
 * id is already present, too long, or memory ran out. */
struct inflight_entry *inflight_add(struct inflight *s, const char *id);

/* The entry for id, or NULL. */
struct inflight_entry *inflight_find(const struct inflight *s, const char *id);

/* Removes and frees e (an entry of this set). */
void inflight_remove(struct inflight *s, struct inflight_entry *e);

/* Number of entries. */
size_t inflight_count(const struct inflight *s);

#endif
