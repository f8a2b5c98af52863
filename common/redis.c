/* redis: hiredis connection with lazy connect, reconnect backoff (100 ms
 * doubling to 5 s) and script caching. */
#include "redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 5000
#define REDIS_ARGS_MAX 64

struct redis_conn {
    redisContext *ctx;
    char host[256];
    int port;
    long timeout_ms;
    int64_t next_attempt_ms;
    long backoff_ms;
    unsigned long connects;
    int was_up; /* for one log line per state change */
    char err[128];
};

struct redis_conn *redis_conn_new(const char *host, int port, long timeout_ms)
{
    struct redis_conn *rc = calloc(1, sizeof(*rc));

    if (rc == NULL)
        return NULL;
    snprintf(rc->host, sizeof(rc->host), "%s", host);
    rc->port = port;
    rc->timeout_ms = timeout_ms;
    rc->backoff_ms = REDIS_BACKOFF_MIN_MS;
    snprintf(rc->err, sizeof(rc->err), "not connected");
    return rc;
}

void redis_conn_free(struct redis_conn *rc)
{
    if (rc == NULL)
        return;
    if (rc->ctx != NULL)
        redisFree(rc->ctx);
    free(rc);
}

/* Drops a dead context and schedules the next attempt. */
static void redis_conn_drop(struct redis_conn *rc, const char *why)
{
    if (why != NULL)
        snprintf(rc->err, sizeof(rc->err), "%s", why);
    if (rc->ctx != NULL) {
        redisFree(rc->ctx);
        rc->ctx = NULL;
    }
    if (rc->was_up) {
        log_warn("redis disconnected", "host=%s port=%d error=\"%s\"", rc->host, rc->port,
                 rc->err);
        rc->was_up = 0;
    }
    rc->next_attempt_ms = time_mono_ms() + rc->backoff_ms;
    rc->backoff_ms *= 2;
    if (rc->backoff_ms > REDIS_BACKOFF_MAX_MS)
        rc->backoff_ms = REDIS_BACKOFF_MAX_MS;
}

int redis_conn_ensure(struct redis_conn *rc)
{
    struct timeval tv;

    if (rc->ctx != NULL)
        return 0;
    if (time_mono_ms() < rc->next_attempt_ms)
        return -1;
    tv.tv_sec = rc->timeout_ms / 1000;
    tv.tv_usec = (rc->timeout_ms % 1000) * 1000;
    rc->ctx = redisConnectWithTimeout(rc->host, rc->port, tv);
    if (rc->ctx == NULL) {
        redis_conn_drop(rc, "out of memory");
        return -1;
    }
    if (rc->ctx->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", rc->ctx->errstr);
        redis_conn_drop(rc, why);
        return -1;
    }
    if (redisSetTimeout(rc->ctx, tv) != REDIS_OK) {
        redis_conn_drop(rc, "cannot set command timeout");
        return -1;
    }
    rc->connects++;
    rc->backoff_ms = REDIS_BACKOFF_MIN_MS;
    rc->was_up = 1;
    rc->err[0] = '\0';
    log_info("redis connected", "host=%s port=%d connects=%lu", rc->host, rc->port,
             rc->connects);
    return 0;
}

/* Turns a NULL reply (I/O error or timeout) into a dropped connection. */
static redisReply *redis_conn_check(struct redis_conn *rc, void *reply)
{
    if (reply == NULL) {
        char why[128];
        snprintf(why, sizeof(why), "%s", rc->ctx && rc->ctx->err ? rc->ctx->errstr : "no reply");
        redis_conn_drop(rc, why);
    }
    return reply;
}

redisReply *redis_conn_command(struct redis_conn *rc, const char *fmt, ...)
{
    va_list ap;
    void *reply;

    if (redis_conn_ensure(rc) != 0)
        return NULL;
    va_start(ap, fmt);
    reply = redisvCommand(rc->ctx, fmt, ap);
    va_end(ap);
    return redis_conn_check(rc, reply);
}

redisReply *redis_conn_argv(struct redis_conn *rc, int argc, const char **argv,
                            const size_t *argvlen)
{
    if (redis_conn_ensure(rc) != 0)
        return NULL;
    return redis_conn_check(rc, redisCommandArgv(rc->ctx, argc, argv, argvlen));
}

redisContext *redis_conn_context(struct redis_conn *rc)
{
    return redis_conn_ensure(rc) == 0 ? rc->ctx : NULL;
}

int redis_conn_get_reply(struct redis_conn *rc, redisReply **reply)
{
    void *r = NULL;

    *reply = NULL;
    if (rc->ctx == NULL)
        return -1;
    if (redisGetReply(rc->ctx, &r) != REDIS_OK || r == NULL) {
        redis_conn_check(rc, NULL);
        return -1;
    }
    *reply = r;
    return 0;
}

static int redis_script_load(struct redis_conn *rc, struct redis_script *s)
{
    redisReply *r = redis_conn_command(rc, "SCRIPT LOAD %s", s->source);
    int rc_ = -1;

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        rc_ = 0;
    } else {
        log_error("redis script load failed", "error=\"%s\"",
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return rc_;
}

redisReply *redis_script_call(struct redis_conn *rc, struct redis_script *s, int nkeys,
                              const char **keys, int nargs, const char **args)
{
    const char *argv[REDIS_ARGS_MAX];
    char nk[16];
    int argc = 0;
    redisReply *r;

    if (nkeys < 0 || nargs < 0 || nkeys + nargs + 3 > REDIS_ARGS_MAX)
        return NULL;
    if (s->sha[0] == '\0' && redis_script_load(rc, s) != 0)
        return NULL;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[argc++] = "EVALSHA";
    argv[argc++] = s->sha;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    r = redis_conn_argv(rc, argc, argv, NULL);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        if (redis_script_load(rc, s) != 0)
            return NULL;
        r = redis_conn_argv(rc, argc, argv, NULL);
    }
    return r;
}

int redis_conn_ping(struct redis_conn *rc)
{
    redisReply *r = redis_conn_command(rc, "PING");
    int ok;

    if (r == NULL)
        return -1;
    ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

const char *redis_conn_errstr(const struct redis_conn *rc)
{
    return rc->err;
}

unsigned long redis_conn_connects(const struct redis_conn *rc)
{
    return rc->connects;
}
