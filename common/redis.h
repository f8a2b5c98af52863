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
 * on a connection, "redis disconnected" when it is lost). */
#ifndef SA_REDIS_H
#define SA_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 1000
#define REDIS_CHEAP_ATTEMPT_MS 50

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
 * never resent. The context stays owned by rc. */
redisContext *redis_conn_context(struct redis_conn *rc);
int redis_conn_get_reply(struct redis_conn *rc, redisReply **reply);

/* EVALSHA with the given keys then args (all as binary-safe strings). Loads
 * the script if Redis does not know it (NOSCRIPT: not run, so sent again).
 * Returns as redis_conn_argv. */
redisReply *redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                              const char **keys, int nargs, const char **args);

/* PING. Returns 0 when Redis answered PONG. */
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
