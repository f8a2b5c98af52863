/* redis_priv: what the parts of the Redis layer share and its tests read
 * (redis.c the single connection, redis_cluster.c the routing over one such
 * connection per node, redis_slot.c the pure helpers). Not for daemons:
 * they use redis.h. */
#ifndef SA_REDIS_PRIV_H
#define SA_REDIS_PRIV_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "redis.h"

#define REDIS_CLUSTER_SLOTS 16384
#define REDIS_CLUSTER_NODES_MAX 64 /* entries of REDIS_CLUSTER_NODES */
#define REDIS_HOST_MAX 256         /* bytes of a host name, NUL included */

struct redis_addr {
    char host[REDIS_HOST_MAX];
    int port;
};

struct redis_cluster;

/* ---- redis_slot.c: no I/O */

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), as the Redis Cluster
 * specification uses it. */
unsigned redis_crc16(const char *buf, size_t len);

/* The cluster slot (0..16383) of a key: CRC16 of the hash tag when the key
 * has one (the bytes between the first '{' and the first '}' after it, if
 * not empty), of the whole key otherwise. */
int redis_key_slot(const char *key, size_t len);

/* Parses "host:port,host:port,..." (1..REDIS_CLUSTER_NODES_MAX entries,
 * ports 1..65535, no empty entry; blanks around entries are ignored) into
 * out[max]. Returns the number of entries, or -1 with err saying what is
 * wrong (out is then partly written). */
int redis_nodes_parse(const char *list, struct redis_addr *out, int max, char *err, size_t errlen);

/* The key a formatted command (RESP array, as redisFormatCommand makes it)
 * is routed by: argv[1] for ordinary commands; the first key of
 * EVAL, EVALSHA, FCALL (none when numkeys is 0); the first stream of
 * XREAD/XREADGROUP; argv[2] of OBJECT/MEMORY. Returns 1 with *key and *keylen
 * (pointing into cmd), 0 for a keyless command (PING, INFO, SCRIPT, SCAN,
 * ...), -1 when cmd is not a well-formed command. */
int redis_cmd_key(const char *cmd, size_t len, const char **key, size_t *keylen);

/* ---- redis.c: one node's connection, as the cluster routing uses it */

/* Runs a formatted command on a single-instance connection under the
 * resend rule of redis.h. *sent is set to 1 when bytes of it left (a NULL
 * reply then means it may have run: never resend), 0 when nothing did (a
 * NULL reply then means the node is unreachable and nothing ran). */
redisReply *redis_node_exec(struct redis_conn *rc, const char *cmd, size_t len, int *sent);

/* ---- redis_cluster.c: routing (redis.h says how it behaves) */

/* Returns the routing state over the nodes of list (checked as
 * redis_nodes_parse), or NULL with err (bad list, out of memory). Connects
 * lazily. Free with redis_cluster_free. */
struct redis_cluster *redis_cluster_new(const char *list, long timeout_ms, char *err,
                                        size_t errlen);
void redis_cluster_free(struct redis_cluster *cl);

/* A formatted command routed by its key, redirected and retried as redis.h
 * says. script: the source of the script an EVALSHA runs (loaded on the
 * node that answers NOSCRIPT, then resent), or NULL. Returns the reply
 * (the caller frees it), or NULL with err. */
redisReply *redis_cluster_exec(struct redis_cluster *cl, const char *cmd, size_t len,
                               const char *script, char *err, size_t errlen);

/* The context of the node owning key's slot, for a pipeline; NULL with err
 * when that node is unreachable or the slot unknown. */
redisContext *redis_cluster_context_key(struct redis_cluster *cl, const char *key, size_t keylen,
                                        char *err, size_t errlen);
/* The next reply of the pipeline on the node of the last
 * redis_cluster_context_key. Returns 0, or -1 with err and *reply NULL. */
int redis_cluster_get_reply(struct redis_cluster *cl, redisReply **reply, char *err, size_t errlen);

/* The node index a key's slot routes to, or -1 (redis_conn_key_node). */
int redis_cluster_key_node(struct redis_cluster *cl, const char *key, size_t keylen);

/* One step of a walk of every master (redis_conn_scan): argv[0..argc) is
 * SCAN with a placeholder at argv[1], replaced by the master's cursor. */
redisReply *redis_cluster_scan(struct redis_cluster *cl, char *cursor, size_t cursorlen, int argc,
                               const char **argv, char *err, size_t errlen);

/* 0 when every master of the slot map answers PONG (after one map refresh
 * if one did not), -1 with err otherwise. */
int redis_cluster_ping(struct redis_cluster *cl, char *err, size_t errlen);

/* For the tests' probes (tests/common/redis_probe.h): map loads that
 * succeeded, and the port of the node the map routes slot to (-1: none). */
unsigned long redis_cluster_reloads(const struct redis_cluster *cl);
int redis_cluster_slot_port(const struct redis_cluster *cl, int slot);

#endif
