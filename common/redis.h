/* redis: one synchronous hiredis connection that reconnects by itself with a
 * capped backoff. A NULL reply means the connection died: it is dropped and
 * the next call reconnects (never reused). Not thread-safe: one per thread. */
#ifndef SA_REDIS_H
#define SA_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

struct redis_conn;

/* A Lua script called by SHA; loaded on first use and again after NOSCRIPT
 * (a restarted Redis forgets its scripts). */
struct redis_script {
    const char *source;
    char sha[41]; /* filled on load */
};

/* Creates a connection object (connects lazily). timeout_ms bounds connect
 * and every command. Returns NULL on out of memory. Free with redis_conn_free. */
struct redis_conn *redis_conn_new(const char *host, int port, long timeout_ms);

void redis_conn_free(struct redis_conn *rc);

/* Connects now if not connected and the backoff allows. Returns 0 when
 * connected, -1 otherwise (see redis_conn_errstr). */
int redis_conn_ensure(struct redis_conn *rc);

/* Runs a command. Returns the reply (caller frees with freeReplyObject), or
 * NULL when Redis is unreachable; an error reply is returned as a reply of
 * type REDIS_REPLY_ERROR, not NULL. */
redisReply *redis_conn_command(struct redis_conn *rc, const char *fmt, ...);
redisReply *redis_conn_argv(struct redis_conn *rc, int argc, const char **argv,
                            const size_t *argvlen);

/* Pipelining: append n commands with redisAppendCommand on the returned
 * context, then collect n replies with redis_conn_get_reply. NULL/-1 mean
 * the connection is down. */
redisContext *redis_conn_context(struct redis_conn *rc);
int redis_conn_get_reply(struct redis_conn *rc, redisReply **reply);

/* EVALSHA with the given keys then args (all as binary-safe strings). Loads
 * the script if Redis does not know it. Returns as redis_conn_argv. */
redisReply *redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                              const char **keys, int nargs, const char **args);

/* PING. Returns 0 when Redis answered PONG. */
int redis_conn_ping(struct redis_conn *rc);

/* The last connection error, for logs and health replies (never NULL). */
const char *redis_conn_errstr(const struct redis_conn *rc);

/* Number of (re)connections made so far, for metrics and tests. */
unsigned long redis_conn_connects(const struct redis_conn *rc);

#endif
