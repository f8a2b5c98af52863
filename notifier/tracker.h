/* tracker: per-partition completion of consumed messages, so an offset is
 * stored only when every earlier message of its partition has been handled
 * even though messages finish out of order (retries, slow webhooks). */
#ifndef NOTIFIER_TRACKER_H
#define NOTIFIER_TRACKER_H

#include <stdint.h>

struct tracker;

/* An empty tracker. Returns NULL on out of memory. Free with tracker_free. */
struct tracker *tracker_new(void);
void tracker_free(struct tracker *t);

/* Records that `offset` of `partition` was consumed and is in progress.
 * Offsets of one partition must be added in increasing order; an offset not
 * above the last one added (a re-fetch after a rebalance) restarts that
 * partition's window. Returns 0, or -1 on out of memory or a bad partition
 * (outside 0..65535). */
int tracker_add(struct tracker *t, int32_t partition, int64_t offset);

/* Marks offset done. Returns the offset to store (one past the last message
 * of the completed prefix) when the prefix grew, -1 when nothing new can be
 * stored yet or the offset is unknown. */
int64_t tracker_done(struct tracker *t, int32_t partition, int64_t offset);

#endif
