/* redis: one synchronous hiredis connection that reconnects by itself. Not
 * thread-safe: one per thread. A NULL reply means the connection died: it
 * is dropped, never reused.
 *
 * Reconnection, so that no request fails once Redis answers again:
 * - Before each command (and in redis_conn_context) the idle connection is
 *   checked without blocking; one the server has closed (a Redis restart)
 *   is replaced at once, before anything is sent on it.
 * - A connection that was up (it answered) and is lost reconnects on the
 *   next request, without waiting.
 * - A failed connect attempt (or a new connection that never answered) that
 *   was cheap, under REDIS_CHEAP_ATTEMPT_MS (refused: the host answers,
 *   nothing listens), lets the next request try again. A slow one (a
 *   timeout: the host does not answer) starts a backoff of
 *   REDIS_BACKOFF_MIN_MS, doubling to REDIS_BACKOFF_MAX_MS (1 s); calls in
 *   between fail at once.
 * - Resends: a command is sent a second time only when it certainly did not
 *   run: not one byte of it left (then once, on a fresh connection), or
 *   Redis answered NOSCRIPT. After its bytes are out, a lost reply (timeout,
 *   closed connection) is returned as NULL and never resent: Redis may have
 *   run it, and commands like the notifier's dedup claim or a create
 *   without idempotency key must not run twice.
 * Logged: one line per state change ("redis connected" at the first reply
 * on a connection, "redis disconnected" when it is lost).
 *
 * Cluster mode (redis_conn_new_cluster; REDIS_CLUSTER_NODES through
 * redis_conn_open): the same object routes every call over a Redis Cluster.
 * - Slot map: key slot = CRC16-XMODEM of the key (of its hash tag: the
 *   bytes between the first '{' and the first '}' after it, when not
 *   empty) mod 16384. The map of slot -> master comes from CLUSTER SLOTS,
 *   asked of the node that answered it last, else of each known node (the
 *   configured seeds, then every master met) in turn. It is loaded before
 *   the first command and again before the next command once "due" (after
 *   a MOVED, a CLUSTERDOWN, or a node that could not be reached).
 * - One connection per node, each a single-instance connection with every
 *   rule above (lazy connect, stale check, backoff, resend rule).
 * - The routing key: argv[1]; for EVAL, EVALSHA (and _RO), FCALL the first key
 *   (numkeys 0: keyless); XREAD(GROUP) the first stream; OBJECT/MEMORY
 *   argv[2]. Keyless commands (PING, INFO, SCRIPT, SCAN, ...) go to the
 *   node that last answered one. A multi-key command or script must keep
 *   its keys in one slot: Redis answers CROSSSLOT otherwise, and that error
 *   reply is returned as it is.
 * - Replies: MOVED slot host:port sets that slot's node, makes a map
 *   reload due and resends there; ASK sends ASKING then the command to the
 *   named node once, without touching the map; TRYAGAIN waits and resends;
 *   CLUSTERDOWN makes a reload due, waits and resends; NOSCRIPT (scripts)
 *   loads the script on that node (the SHA is the same everywhere) and
 *   resends there. Each of these error replies means the command did not
 *   run, so a resend is safe. A node that cannot be reached before a byte
 *   left (refused, in backoff) makes a reload due, and the command is
 *   retried (routed anew) after a wait.
 * - Bounds: at most 16 redirections (MOVED, ASK, NOSCRIPT) per call; waits
 *   start at 10 ms, double up to 100 ms, and none ends later than
 *   timeout_ms after the call began: then the call returns the last
 *   TRYAGAIN/CLUSTERDOWN error reply, or NULL. Each attempt is bounded by
 *   the node connection's own timeouts, so a call returns within
 *   timeout_ms plus one attempt (a connect and a reply, each <= timeout_ms)
 *   plus one map reload: in practice timeout_ms and a few round trips when
 *   a dead node refuses connections, at worst about 4 x timeout_ms when
 *   hosts black-hole packets.
 * - Resend rule kept: once a byte of the command left for a node, a lost
 *   reply is returned as NULL and never resent, to that node or another.
 * - Pipelines target one node: redis_conn_context_key. redis_conn_context
 *   returns NULL in cluster mode. A pipeline's MOVED/ASK replies are
 *   returned to the caller as they are (a MOVED still updates the map).
 * - redis_conn_ping means "the cluster answers": every master of the slot
 *   map answers PONG and every slot has a master (checked again on a
 *   reloaded map when not).
 * Not thread-safe either: one redis_conn (and so one connection per node)
 * per thread. */
#ifndef SA_REDIS_H
#define SA_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 1000
#define REDIS_CHEAP_ATTEMPT_MS 50

struct redis_conn;
struct common_config;

/* A Lua script called by SHA; loaded on first use and again after NOSCRIPT
 * (a restarted Redis forgets its scripts). */
struct redis_script {
    const char *source;
    char sha[41]; /* filled on load */
};

/* Creates a connection object (connects lazily). timeout_ms bounds connect
 * and every command. Returns NULL on out of memory. Free with redis_conn_free. */
struct redis_conn *redis_conn_new(const char *host, int port, long timeout_ms);

/* Cluster mode over the seed nodes "host:port,host:port,..." (any reachable
 * one gives the map; redis_cluster_nodes_check's rules). Connects lazily.
 * Returns NULL on out of memory or a bad list (logged). Free with
 * redis_conn_free. */
struct redis_conn *redis_conn_new_cluster(const char *nodes, long timeout_ms);

/* The connection the configuration asks for: cluster mode over
 * REDIS_CLUSTER_NODES when it is set, else the single instance
 * REDIS_HOST:REDIS_PORT; REDIS_TIMEOUT_MS either way. What every daemon
 * calls. Returns NULL on out of memory. */
struct redis_conn *redis_conn_open(const struct common_config *cfg);

/* Checks a REDIS_CLUSTER_NODES value: 1 to 64 comma-separated host:port
 * entries, ports 1..65535. Returns 0, or -1 with err saying what is wrong. */
int redis_cluster_nodes_check(const char *nodes, char *err, size_t errlen);

/* 1 in cluster mode, 0 for a single instance. */
int redis_conn_is_cluster(const struct redis_conn *rc);

/* Frees rc and every connection it holds; NULL is a no-op. */
void redis_conn_free(struct redis_conn *rc);

/* Runs a command. Returns the reply (caller frees with freeReplyObject), or
 * NULL when Redis is unreachable or the reply was lost (the command may then
 * have run: see the resend rule above); an error reply is returned as a
 * reply of type REDIS_REPLY_ERROR, not NULL. */
redisReply *redis_conn_command(struct redis_conn *rc, const char *fmt, ...);
redisReply *redis_conn_argv(struct redis_conn *rc, int argc, const char **argv,
                            const size_t *argvlen);

/* Pipelining: append n commands with redisAppendCommand on the returned
 * context (live: connected on demand), then collect n replies with
 * redis_conn_get_reply. NULL/-1 mean the connection is down; a pipeline is
 * never resent. The context stays owned by rc. redis_conn_context is the
 * single instance's (NULL in cluster mode); redis_conn_context_key is the
 * context of the node owning key's slot (a single instance: its one
 * connection), valid for commands whose keys all hash to that slot, until
 * the next call on rc. */
redisContext *redis_conn_context(struct redis_conn *rc);
redisContext *redis_conn_context_key(struct redis_conn *rc, const char *key, size_t keylen);

/* Which connection a key's commands go to, for grouping a pipeline by node:
 * the index of the node that owns key's slot on a cluster (as far as the map
 * knows; -1 when no node is known to serve it), 0 for a single instance. */
int redis_conn_key_node(struct redis_conn *rc, const char *key, size_t keylen);

/* One SCAN step over the whole keyspace. cursor: "0" to start, then as the
 * previous call left it, until it reads "0" again (the walk is done). argv
 * (argc of them) is what follows the cursor: MATCH, COUNT, TYPE. On a
 * cluster every master is walked in turn, in order of the lowest slot it
 * serves, and the cursor reads "<slot>:<that master's cursor>"; a failover
 * continues on the promoted replica, and a slot moved during a walk may
 * make it miss or repeat keys, as a rehash may for SCAN itself: walks are
 * for sweeps that tolerate that. Returns the SCAN reply (array: the node's
 * cursor, then the keys; the caller frees it and reads the next cursor from
 * cursor, not from the reply), an error reply as is, or NULL when Redis is
 * unreachable (cursor then unchanged). */
#define REDIS_SCAN_CURSOR_MAX 32
redisReply *redis_conn_scan(struct redis_conn *rc, char cursor[REDIS_SCAN_CURSOR_MAX], int argc,
                            const char **argv);
int redis_conn_get_reply(struct redis_conn *rc, redisReply **reply);

/* EVALSHA with the given keys then args (all as binary-safe strings). Loads
 * the script if Redis does not know it (NOSCRIPT: not run, so sent again).
 * Returns as redis_conn_argv. */
redisReply *redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                              const char **keys, int nargs, const char **args);

/* PING. Returns 0 when Redis answered PONG (cluster mode: every master). */
int redis_conn_ping(struct redis_conn *rc);

/* Fills err with why a call got reply r: "<what>: redis unavailable: ..."
 * for a NULL reply (the connection is down), Redis' own text for an error
 * reply, the unexpected type otherwise. Returns -1, for the caller to
 * return. */
int redis_reply_fail(struct redis_conn *rc, const redisReply *r, const char *what, char *err,
                     size_t errlen);

/* The last connection error, for logs and health replies (never NULL). */
const char *redis_conn_errstr(const struct redis_conn *rc);

#endif
