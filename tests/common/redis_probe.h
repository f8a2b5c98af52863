/* redis_probe: what the Redis tests read of a connection's insides. Defined
 * in common/redis.c; not part of its API (no daemon calls it). */
#ifndef TESTS_REDIS_PROBE_H
#define TESTS_REDIS_PROBE_H

struct redis_conn;

/* Number of (re)connections made so far. */
unsigned long redis_conn_connects(const struct redis_conn *rc);

/* Cluster mode: slot map loads that succeeded so far (0 for a single
 * instance), and the port of the node the map sends slot to (-1: none; a
 * single instance: its port). */
unsigned long redis_conn_cluster_reloads(const struct redis_conn *rc);
int redis_conn_slot_port(const struct redis_conn *rc, int slot);

#endif
