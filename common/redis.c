/* redis: one synchronous hiredis connection per thread — lazy connect, a
 * liveness check before every send, a resend only when the command certainly
 * did not run, the reconnect policy of redis.h, and script caching. In
 * cluster mode the same object fronts redis_cluster.c, which routes each
 * command to one such connection per node. */
#include "redis.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config.h"
#include "log.h"
#include "redis_priv.h"
#include "timeutil.h"

#define REDIS_ARGS_MAX 64

struct redis_conn {
    redisContext *ctx;
    char host[256];
    int port;
    long timeout_ms;
    int64_t attempt_ms;      /* start of the connect attempt that made ctx */
    int64_t next_attempt_ms; /* no attempt before (0: the next request may try) */
    long backoff_ms;         /* wait after the next slow failure */
    unsigned long connects;
    int was_up; /* a reply came on this connection: one log line per state change */
    char err[128];
    struct redis_cluster *cluster; /* owned; NULL: a single instance (ctx above) */
};

/* How a command's bytes went out: whether it can have reached Redis. */
enum redis_sent { REDIS_SENT_NONE, REDIS_SENT_PART, REDIS_SENT_ALL };

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

struct redis_conn *redis_conn_new_cluster(const char *nodes, long timeout_ms)
{
    struct redis_conn *rc = redis_conn_new("", 0, timeout_ms);
    char err[128];

    if (rc == NULL)
        return NULL;
    rc->cluster = redis_cluster_new(nodes, timeout_ms, err, sizeof(err));
    if (rc->cluster == NULL) {
        log_error("redis cluster setup failed", "error=\"%s\"", err);
        free(rc);
        return NULL;
    }
    return rc;
}

struct redis_conn *redis_conn_open(const struct common_config *cfg)
{
    if (cfg->redis_cluster_nodes[0] != '\0')
        return redis_conn_new_cluster(cfg->redis_cluster_nodes, cfg->redis_timeout_ms);
    return redis_conn_new(cfg->redis_host, (int)cfg->redis_port, cfg->redis_timeout_ms);
}

int redis_cluster_nodes_check(const char *nodes, char *err, size_t errlen)
{
    struct redis_addr *addr = calloc(REDIS_CLUSTER_NODES_MAX, sizeof(*addr));
    int n;

    if (addr == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n = redis_nodes_parse(nodes, addr, REDIS_CLUSTER_NODES_MAX, err, errlen);
    free(addr);
    return n > 0 ? 0 : -1;
}

void redis_conn_free(struct redis_conn *rc)
{
    if (rc == NULL)
        return;
    redis_cluster_free(rc->cluster);
    if (rc->ctx != NULL)
        redisFree(rc->ctx);
    free(rc);
}

/* Drops the context and decides when the next connect may happen. A
 * connection that answered was up: the next request reconnects at once (a
 * restarted Redis is back). One that never answered is a failed attempt:
 * cheap ones (refused) leave the next request free to try again, so no
 * request fails once Redis listens (trying costs it no more than failing
 * does); slow ones (a timeout: a host that does not answer) wait for the
 * backoff, doubling up to REDIS_BACKOFF_MAX_MS. */
static void redis_conn_drop(struct redis_conn *rc, const char *why)
{
    int64_t now = time_mono_ms();

    if (why != NULL)
        snprintf(rc->err, sizeof(rc->err), "%s", why);
    if (rc->ctx != NULL) {
        redisFree(rc->ctx);
        rc->ctx = NULL;
    }
    if (rc->was_up) {
        log_warn("redis disconnected", "host=%s port=%d error=\"%s\"", rc->host, rc->port, rc->err);
        rc->was_up = 0;
        rc->next_attempt_ms = 0;
        rc->backoff_ms = REDIS_BACKOFF_MIN_MS;
    } else if (now - rc->attempt_ms < REDIS_CHEAP_ATTEMPT_MS) {
        rc->next_attempt_ms = 0;
        rc->backoff_ms = REDIS_BACKOFF_MIN_MS;
    } else {
        rc->next_attempt_ms = now + rc->backoff_ms;
        rc->backoff_ms *= 2;
        if (rc->backoff_ms > REDIS_BACKOFF_MAX_MS)
            rc->backoff_ms = REDIS_BACKOFF_MAX_MS;
    }
}

/* A reply arrived: the connection is up. */
static void redis_conn_answered(struct redis_conn *rc)
{
    if (rc->was_up)
        return;
    rc->was_up = 1;
    rc->backoff_ms = REDIS_BACKOFF_MIN_MS;
    rc->err[0] = '\0';
    log_info("redis connected", "host=%s port=%d connects=%lu", rc->host, rc->port, rc->connects);
}

static int redis_conn_connect(struct redis_conn *rc)
{
    struct timeval tv;
    int64_t now;

    if (rc->ctx != NULL)
        return 0;
    now = time_mono_ms();
    if (now < rc->next_attempt_ms)
        return -1;
    rc->attempt_ms = now;
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
    return 0;
}

/* Why an idle connection can no longer carry a command, or NULL when it can.
 * Nothing is due on it between commands, so anything readable is the
 * server's close (EOF), a reset, or bytes out of step with our requests. */
static const char *redis_conn_stale(const redisContext *ctx)
{
    struct pollfd p = {.fd = ctx->fd, .events = POLLIN, .revents = 0};
    ssize_t n;
    char c;

    if (poll(&p, 1, 0) <= 0)
        return NULL; /* nothing pending (or EINTR: the send will tell) */
    if (p.revents & (POLLERR | POLLNVAL))
        return "connection reset";
    n = recv(ctx->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return "server closed the connection";
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? NULL
                                                                         : "connection reset";
    return "unexpected data from the server";
}

/* A live connection, made now if needed and allowed: an idle one the server
 * has closed is found out here, before anything is sent on it, and replaced
 * at once. */
static int redis_conn_ready(struct redis_conn *rc)
{
    const char *why;

    if (rc->ctx != NULL) {
        why = redis_conn_stale(rc->ctx);
        if (why != NULL)
            redis_conn_drop(rc, why);
    }
    return redis_conn_connect(rc);
}

/* Writes a formatted command itself rather than through hiredis, to know
 * whether any byte of it left: hiredis only says that the write failed. */
static enum redis_sent redis_conn_send(struct redis_conn *rc, const char *cmd, size_t len)
{
    size_t off = 0;
    ssize_t n;

    while (off < len) {
        n = send(rc->ctx->fd, cmd + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* strerror_r: the webapp's workers each run their own conn. */
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                snprintf(rc->err, sizeof(rc->err), "write timeout");
            else if (strerror_r(errno, rc->err, sizeof(rc->err)) != 0)
                snprintf(rc->err, sizeof(rc->err), "write failed");
            return off == 0 ? REDIS_SENT_NONE : REDIS_SENT_PART;
        }
        off += (size_t)n;
    }
    return REDIS_SENT_ALL;
}

/* Reads the reply of a command sent in full; any failure drops the
 * connection (a NULL reply means it is dead: never reused). */
static redisReply *redis_conn_read(struct redis_conn *rc)
{
    void *reply = NULL;
    char why[128];

    if (redisGetReply(rc->ctx, &reply) != REDIS_OK || reply == NULL) {
        /* hiredis reports the socket's receive timeout as EAGAIN. */
        if (rc->ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
            snprintf(why, sizeof(why), "reply timeout");
        else
            snprintf(why, sizeof(why), "%s", rc->ctx->err ? rc->ctx->errstr : "no reply");
        redis_conn_drop(rc, why);
        return NULL;
    }
    redis_conn_answered(rc);
    return reply;
}

/* Runs a formatted command. The resend rule: a command is sent a second
 * time only when it certainly did not run, i.e. not one byte of it left
 * (the send failed at once) — then once, on a fresh connection. Once a byte
 * is out, a lost reply is the caller's failure, never a resend: Redis may
 * have run it, and some of our commands must not run twice (the notifier's
 * dedup claim, a create without idempotency key). A connection found dead
 * before the send (redis_conn_ready) is no such case: nothing was sent. */
redisReply *redis_node_exec(struct redis_conn *rc, const char *cmd, size_t len, int *sent_out)
{
    enum redis_sent sent;

    *sent_out = 0;
    for (int tries = 0; tries < 2; tries++) {
        if (redis_conn_ready(rc) != 0)
            return NULL;
        sent = redis_conn_send(rc, cmd, len);
        if (sent == REDIS_SENT_ALL) {
            *sent_out = 1;
            return redis_conn_read(rc);
        }
        redis_conn_drop(rc, NULL);
        if (sent == REDIS_SENT_PART) {
            *sent_out = 1;
            return NULL;
        }
    }
    return NULL;
}

/* A formatted command on either kind of connection. */
static redisReply *redis_conn_exec(struct redis_conn *rc, const char *cmd, size_t len)
{
    int sent;

    if (rc->cluster != NULL)
        return redis_cluster_exec(rc->cluster, cmd, len, NULL, rc->err, sizeof(rc->err));
    return redis_node_exec(rc, cmd, len, &sent);
}

redisReply *redis_conn_command(struct redis_conn *rc, const char *fmt, ...)
{
    va_list ap;
    char *cmd = NULL;
    int len;
    redisReply *r;

    va_start(ap, fmt);
    len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0 || cmd == NULL) {
        snprintf(rc->err, sizeof(rc->err), "cannot format command");
        return NULL;
    }
    r = redis_conn_exec(rc, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return r;
}

redisReply *redis_conn_argv(struct redis_conn *rc, int argc, const char **argv,
                            const size_t *argvlen)
{
    char *cmd = NULL;
    long long len;
    redisReply *r;

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0 || cmd == NULL) {
        snprintf(rc->err, sizeof(rc->err), "cannot format command");
        return NULL;
    }
    r = redis_conn_exec(rc, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return r;
}

redisContext *redis_conn_context(struct redis_conn *rc)
{
    if (rc->cluster != NULL) {
        snprintf(rc->err, sizeof(rc->err), "cluster: a pipeline needs a key's node");
        return NULL;
    }
    return redis_conn_ready(rc) == 0 ? rc->ctx : NULL;
}

redisContext *redis_conn_context_key(struct redis_conn *rc, const char *key, size_t keylen)
{
    if (rc->cluster != NULL)
        return redis_cluster_context_key(rc->cluster, key, keylen, rc->err, sizeof(rc->err));
    return redis_conn_context(rc);
}

int redis_conn_key_node(struct redis_conn *rc, const char *key, size_t keylen)
{
    return rc->cluster != NULL ? redis_cluster_key_node(rc->cluster, key, keylen) : 0;
}

redisReply *redis_conn_scan(struct redis_conn *rc, char cursor[REDIS_SCAN_CURSOR_MAX], int argc,
                            const char **argv)
{
    const char *v[16];
    redisReply *r;

    if (argc < 0 || argc > 14) {
        snprintf(rc->err, sizeof(rc->err), "scan: %d arguments", argc);
        return NULL;
    }
    v[0] = "SCAN";
    v[1] = cursor;
    memcpy(v + 2, argv, sizeof(*v) * (size_t)argc);
    if (rc->cluster != NULL)
        return redis_cluster_scan(rc->cluster, cursor, REDIS_SCAN_CURSOR_MAX, argc + 2, v, rc->err,
                                  sizeof(rc->err));
    r = redis_conn_argv(rc, argc + 2, v, NULL);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len < REDIS_SCAN_CURSOR_MAX)
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
    return r;
}

int redis_conn_is_cluster(const struct redis_conn *rc)
{
    return rc->cluster != NULL;
}

int redis_conn_get_reply(struct redis_conn *rc, redisReply **reply)
{
    *reply = NULL;
    if (rc->cluster != NULL)
        return redis_cluster_get_reply(rc->cluster, reply, rc->err, sizeof(rc->err));
    if (rc->ctx == NULL)
        return -1;
    *reply = redis_conn_read(rc);
    return *reply != NULL ? 0 : -1;
}

/* EVALSHA (argv, argc of them) routed by its first key; the routing loads
 * the script on the node that answers NOSCRIPT and resends there. */
static redisReply *redis_cluster_script(struct redis_conn *rc, const struct redis_script *s,
                                        int argc, const char **argv)
{
    char *cmd = NULL;
    long long len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    redisReply *r;

    if (len < 0 || cmd == NULL) {
        snprintf(rc->err, sizeof(rc->err), "cannot format command");
        return NULL;
    }
    r = redis_cluster_exec(rc->cluster, cmd, (size_t)len, s->source, rc->err, sizeof(rc->err));
    redisFreeCommand(cmd);
    return r;
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
    if (rc->cluster != NULL)
        return redis_cluster_script(rc, s, argc, argv);
    r = redis_conn_argv(rc, argc, argv, NULL);
    /* NOSCRIPT: the script did not run, so sending it again is safe. */
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
    redisReply *r;
    int ok;

    if (rc->cluster != NULL)
        return redis_cluster_ping(rc->cluster, rc->err, sizeof(rc->err));
    r = redis_conn_command(rc, "PING");
    if (r == NULL)
        return -1;
    ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int redis_reply_fail(struct redis_conn *rc, const redisReply *r, const char *what, char *err,
                     size_t errlen)
{
    if (r == NULL)
        snprintf(err, errlen, "%s: redis unavailable: %s", what, rc->err);
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(err, errlen, "%s: redis error: %s", what, r->str);
    else
        snprintf(err, errlen, "%s: unexpected reply type %d", what, r->type);
    return -1;
}

const char *redis_conn_errstr(const struct redis_conn *rc)
{
    return rc->err;
}

/* Read by the tests only; declared in tests/common/redis_probe.h. */
unsigned long redis_conn_connects(const struct redis_conn *rc);
unsigned long redis_conn_connects(const struct redis_conn *rc)
{
    return rc->connects;
}

/* Read by the tests only; declared in tests/common/redis_probe.h. */
unsigned long redis_conn_cluster_reloads(const struct redis_conn *rc);
unsigned long redis_conn_cluster_reloads(const struct redis_conn *rc)
{
    return rc->cluster != NULL ? redis_cluster_reloads(rc->cluster) : 0;
}

int redis_conn_slot_port(const struct redis_conn *rc, int slot);
int redis_conn_slot_port(const struct redis_conn *rc, int slot)
{
    return rc->cluster != NULL ? redis_cluster_slot_port(rc->cluster, slot) : rc->port;
}
