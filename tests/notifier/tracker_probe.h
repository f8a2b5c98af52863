/* tracker_probe: what the tracker tests read of its insides. Defined in
 * notifier/tracker.c; not part of its API (the notifier does not call it). */
#ifndef TESTS_TRACKER_PROBE_H
#define TESTS_TRACKER_PROBE_H

struct tracker;

/* Messages added and not yet done, over all partitions. */
long tracker_pending(const struct tracker *t);

#endif
