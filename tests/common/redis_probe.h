/* redis_probe: what the Redis tests read of a connection's insides. Defined
 * in common/redis.c; not part of its API (no daemon calls it). */
#ifndef TESTS_REDIS_PROBE_H
#define TESTS_REDIS_PROBE_H

struct redis_conn;

/* Number of (re)connections made so far. */
unsigned long redis_conn_connects(const struct redis_conn *rc);

#endif
