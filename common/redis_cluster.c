/* redis_cluster: routing over a Redis Cluster — the slot map (CLUSTER
 * SLOTS), one single-instance connection per node (redis.c, with its
 * reconnect and resend rules), the redirects and retries redis.h describes.
 * Owned by one redis_conn, so by one thread: no locks. */
#include "redis_priv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"

#define REDIS_CLUSTER_KNOWN_MAX 128 /* nodes known: the seeds and every master met */
#define REDIS_CLUSTER_NO_NODE 0xff  /* a slot no node serves (as far as we know) */
#define REDIS_CLUSTER_REDIRECTS_MAX 16
#define REDIS_CLUSTER_PAUSE_MIN_MS 10 /* first wait before a retry, doubling */
#define REDIS_CLUSTER_PAUSE_MAX_MS 100

struct redis_cluster_node {
    struct redis_addr addr;
    struct redis_conn *conn; /* owned */
};

struct redis_cluster {
    long timeout_ms;
    int nnodes; /* nodes[0..nseeds) are the configured seeds */
    int nseeds;
    int last_good;         /* the node that last answered CLUSTER SLOTS: asked first */
    int any;               /* the node keyless commands go to while it answers */
    int pipe;              /* the node of the pipeline under way, or -1 */
    int refresh_due;       /* a redirect or a lost node: reload the map before routing */
    unsigned long reloads; /* map loads that succeeded */
    struct redis_cluster_node nodes[REDIS_CLUSTER_KNOWN_MAX];
    uint8_t slot[REDIS_CLUSTER_SLOTS]; /* node index per slot */
};

/* What an error reply says about where the command should go. */
enum redis_redirect {
    REDIS_REPLY_FINAL,
    REDIS_REPLY_MOVED,
    REDIS_REPLY_ASK,
    REDIS_REPLY_TRYAGAIN,
    REDIS_REPLY_CLUSTERDOWN,
    REDIS_REPLY_NOSCRIPT,
};

static int redis_cluster_node_add(struct redis_cluster *cl, const char *host, int port)
{
    struct redis_cluster_node *n;

    for (int i = 0; i < cl->nnodes; i++)
        if (cl->nodes[i].addr.port == port && strcmp(cl->nodes[i].addr.host, host) == 0)
            return i;
    if (cl->nnodes == REDIS_CLUSTER_KNOWN_MAX || strlen(host) >= REDIS_HOST_MAX)
        return -1;
    n = &cl->nodes[cl->nnodes];
    n->conn = redis_conn_new(host, port, cl->timeout_ms);
    if (n->conn == NULL)
        return -1;
    snprintf(n->addr.host, sizeof(n->addr.host), "%s", host);
    n->addr.port = port;
    return cl->nnodes++;
}

struct redis_cluster *redis_cluster_new(const char *list, long timeout_ms, char *err, size_t errlen)
{
    struct redis_addr *seeds = calloc(REDIS_CLUSTER_NODES_MAX, sizeof(*seeds));
    struct redis_cluster *cl = calloc(1, sizeof(*cl));
    int n;

    if (seeds == NULL || cl == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    n = redis_nodes_parse(list, seeds, REDIS_CLUSTER_NODES_MAX, err, errlen);
    if (n < 0)
        goto fail;
    cl->timeout_ms = timeout_ms;
    cl->pipe = -1;
    cl->refresh_due = 1;
    memset(cl->slot, REDIS_CLUSTER_NO_NODE, sizeof(cl->slot));
    for (int i = 0; i < n; i++) {
        if (redis_cluster_node_add(cl, seeds[i].host, seeds[i].port) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    cl->nseeds = cl->nnodes;
    free(seeds);
    return cl;
fail:
    free(seeds);
    redis_cluster_free(cl);
    return NULL;
}

void redis_cluster_free(struct redis_cluster *cl)
{
    if (cl == NULL)
        return;
    for (int i = 0; i < cl->nnodes; i++)
        redis_conn_free(cl->nodes[i].conn);
    free(cl);
}

/* One entry of CLUSTER SLOTS: [start, end, [host, port, id, ...], replicas...]
 * into map. An empty host means the node that answered (asked). */
static int redis_cluster_map_range(struct redis_cluster *cl, const redisReply *e, int asked,
                                   uint8_t *map)
{
    const redisReply *m;
    const char *host;
    long long lo, hi;
    int n;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    m = e->element[2];
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[0]->type != REDIS_REPLY_STRING || m->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    lo = e->element[0]->integer;
    hi = e->element[1]->integer;
    if (lo < 0 || hi >= REDIS_CLUSTER_SLOTS || lo > hi || m->element[1]->integer < 1 ||
        m->element[1]->integer > 65535)
        return -1;
    host = m->element[0]->len > 0 && strcmp(m->element[0]->str, "?") != 0
               ? m->element[0]->str
               : cl->nodes[asked].addr.host;
    n = redis_cluster_node_add(cl, host, (int)m->element[1]->integer);
    if (n < 0)
        return -1;
    memset(map + lo, n, (size_t)(hi - lo + 1));
    return 0;
}

/* Loads the map from node i. Returns 0 when it answered a usable map. */
static int redis_cluster_load_from(struct redis_cluster *cl, int i)
{
    static const char cmd[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";
    uint8_t map[REDIS_CLUSTER_SLOTS];
    redisReply *r;
    int sent, covered = 0, rv = -1;

    r = redis_node_exec(cl->nodes[i].conn, cmd, sizeof(cmd) - 1, &sent);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        goto out; /* an error (cluster support off) or a node that knows no slot yet */
    memset(map, REDIS_CLUSTER_NO_NODE, sizeof(map));
    for (size_t k = 0; k < r->elements; k++)
        if (redis_cluster_map_range(cl, r->element[k], i, map) != 0)
            goto out;
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++)
        covered += map[s] != REDIS_CLUSTER_NO_NODE;
    if (memcmp(map, cl->slot, sizeof(map)) != 0)
        log_info("redis cluster map loaded", "from=%s:%d slots_covered=%d nodes_known=%d",
                 cl->nodes[i].addr.host, cl->nodes[i].addr.port, covered, cl->nnodes);
    memcpy(cl->slot, map, sizeof(map));
    rv = 0;
out:
    if (rv != 0)
        log_warn("redis cluster map refused", "from=%s:%d reply=\"%s\"", cl->nodes[i].addr.host,
                 cl->nodes[i].addr.port, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected");
    freeReplyObject(r);
    return rv;
}

/* Reloads the slot map from the first node that answers, starting with the
 * one that answered last; nodes are tried until one answers or the
 * deadline passes (one at least). Unreachable nodes cost a refused connect,
 * or nothing while in their backoff. */
static void redis_cluster_reload(struct redis_cluster *cl, int64_t deadline)
{
    for (int k = 0; k < cl->nnodes; k++) {
        int i = (cl->last_good + k) % cl->nnodes;
        if (k > 0 && time_mono_ms() >= deadline)
            return;
        if (redis_cluster_load_from(cl, i) == 0) {
            cl->last_good = i;
            cl->refresh_due = 0;
            cl->reloads++;
            return;
        }
    }
}

/* The node a slot routes to (-1: none known); keyless commands (slot < 0)
 * go to the node that answered them last. */
static int redis_cluster_route(const struct redis_cluster *cl, int slot)
{
    if (slot < 0)
        return cl->any;
    return cl->slot[slot] == REDIS_CLUSTER_NO_NODE ? -1 : cl->slot[slot];
}

static enum redis_redirect redis_cluster_classify(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ERROR)
        return REDIS_REPLY_FINAL;
    if (strncmp(r->str, "MOVED ", 6) == 0)
        return REDIS_REPLY_MOVED;
    if (strncmp(r->str, "ASK ", 4) == 0)
        return REDIS_REPLY_ASK;
    if (strncmp(r->str, "TRYAGAIN", 8) == 0)
        return REDIS_REPLY_TRYAGAIN;
    if (strncmp(r->str, "CLUSTERDOWN", 11) == 0)
        return REDIS_REPLY_CLUSTERDOWN;
    if (strncmp(r->str, "NOSCRIPT", 8) == 0)
        return REDIS_REPLY_NOSCRIPT;
    return REDIS_REPLY_FINAL;
}

/* "MOVED|ASK <slot> <host>:<port>": the node (added if new) and the slot.
 * An empty host is the host of the node that answered. Returns the node
 * index, or -1 when the text is not understood. */
static int redis_cluster_target(struct redis_cluster *cl, const char *text, int answered, int *slot)
{
    const char *sp = strchr(text, ' ');
    const char *colon;
    char host[REDIS_HOST_MAX];
    char *end = NULL;
    long s, port;

    if (sp == NULL)
        return -1;
    s = strtol(sp + 1, &end, 10);
    if (end == sp + 1 || *end != ' ' || s < 0 || s >= REDIS_CLUSTER_SLOTS)
        return -1;
    colon = strrchr(end + 1, ':');
    if (colon == NULL || (size_t)(colon - (end + 1)) >= sizeof(host))
        return -1;
    memcpy(host, end + 1, (size_t)(colon - (end + 1)));
    host[colon - (end + 1)] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return -1;
    *slot = (int)s;
    return redis_cluster_node_add(cl, host[0] != '\0' ? host : cl->nodes[answered].addr.host,
                                  (int)port);
}

/* Waits before a retry (doubling *pause up to its cap). Returns 0, or -1
 * when the wait would end past the deadline: no more retries. */
static int redis_cluster_pause(long *pause, int64_t deadline)
{
    if (time_mono_ms() + *pause > deadline)
        return -1;
    time_sleep_ms(*pause);
    *pause *= 2;
    if (*pause > REDIS_CLUSTER_PAUSE_MAX_MS)
        *pause = REDIS_CLUSTER_PAUSE_MAX_MS;
    return 0;
}

/* ASKING on node n before the command an ASK redirect sends there. Nothing
 * of the command itself is sent yet, so any failure here leaves it unrun. */
static int redis_cluster_asking(struct redis_cluster *cl, int n)
{
    static const char cmd[] = "*1\r\n$6\r\nASKING\r\n";
    redisReply *r;
    int sent, ok;

    r = redis_node_exec(cl->nodes[n].conn, cmd, sizeof(cmd) - 1, &sent);
    if (r == NULL)
        return -1;
    ok = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* SCRIPT LOAD of script on node n (the SHA is the same on every node). */
static int redis_cluster_script_load(struct redis_cluster *cl, int n, const char *script)
{
    char *cmd = NULL;
    redisReply *r;
    int len, sent, ok;

    len = redisFormatCommand(&cmd, "SCRIPT LOAD %s", script);
    if (len < 0 || cmd == NULL)
        return -1;
    r = redis_node_exec(cl->nodes[n].conn, cmd, (size_t)len, &sent);
    redisFreeCommand(cmd);
    if (r == NULL)
        return -1;
    ok = r->type == REDIS_REPLY_STRING;
    if (!ok)
        log_error("redis script load failed", "host=%s port=%d error=\"%s\"",
                  cl->nodes[n].addr.host, cl->nodes[n].addr.port,
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static void redis_cluster_node_err(const struct redis_cluster *cl, int n, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s:%d: %s", cl->nodes[n].addr.host, cl->nodes[n].addr.port,
             redis_conn_errstr(cl->nodes[n].conn));
}

redisReply *redis_cluster_exec(struct redis_cluster *cl, const char *cmd, size_t len,
                               const char *script, char *err, size_t errlen)
{
    const char *key = NULL;
    size_t keylen = 0;
    int64_t deadline = time_mono_ms() + cl->timeout_ms;
    long pause = REDIS_CLUSTER_PAUSE_MIN_MS;
    int slot = -1, ask = -1, redirects = 0, keyed, n, sent, target;
    redisReply *r;

    keyed = redis_cmd_key(cmd, len, &key, &keylen);
    if (keyed < 0) {
        snprintf(err, errlen, "cluster: cannot find the key of the command");
        return NULL;
    }
    if (keyed == 1)
        slot = redis_key_slot(key, keylen);
    for (;;) {
        if (cl->refresh_due && ask < 0)
            redis_cluster_reload(cl, deadline);
        n = ask >= 0 ? ask : redis_cluster_route(cl, slot);
        if (n < 0) {
            snprintf(err, errlen, "cluster: no node serves slot %d", slot);
            cl->refresh_due = 1;
            if (redis_cluster_pause(&pause, deadline) != 0)
                return NULL;
            continue;
        }
        r = NULL;
        sent = 0;
        if (ask < 0 || redis_cluster_asking(cl, n) == 0)
            r = redis_node_exec(cl->nodes[n].conn, cmd, len, &sent);
        if (r == NULL) {
            redis_cluster_node_err(cl, n, err, errlen);
            if (sent)
                return NULL; /* it may have run: never resent */
            /* Nothing ran: the node is gone (or going); ask another for the map. */
            cl->refresh_due = 1;
            ask = -1;
            if (slot < 0)
                cl->any = (n + 1) % cl->nnodes;
            if (redis_cluster_pause(&pause, deadline) != 0)
                return NULL;
            continue;
        }
        if (slot < 0)
            cl->any = n;
        switch (redis_cluster_classify(r)) {
        case REDIS_REPLY_MOVED:
        case REDIS_REPLY_ASK:
            if (++redirects > REDIS_CLUSTER_REDIRECTS_MAX)
                return r;
            target = redis_cluster_target(cl, r->str, n, &slot);
            if (target < 0)
                return r;
            if (redis_cluster_classify(r) == REDIS_REPLY_MOVED) {
                cl->slot[slot] = (uint8_t)target;
                cl->refresh_due = 1; /* one move is often a resharding: more follow */
                ask = -1;
            } else {
                ask = target;
            }
            break;
        case REDIS_REPLY_TRYAGAIN:
        case REDIS_REPLY_CLUSTERDOWN:
            if (redis_cluster_classify(r) == REDIS_REPLY_CLUSTERDOWN)
                cl->refresh_due = 1;
            ask = -1;
            if (redis_cluster_pause(&pause, deadline) != 0)
                return r; /* as Redis said it, for the caller to report */
            break;
        case REDIS_REPLY_NOSCRIPT:
            if (script == NULL || ++redirects > REDIS_CLUSTER_REDIRECTS_MAX)
                return r;
            if (redis_cluster_script_load(cl, n, script) != 0) {
                freeReplyObject(r);
                redis_cluster_node_err(cl, n, err, errlen);
                return NULL;
            }
            break; /* resent to n: the route is unchanged (or ask still names n) */
        case REDIS_REPLY_FINAL:
            return r;
        }
        freeReplyObject(r);
    }
}

redisContext *redis_cluster_context_key(struct redis_cluster *cl, const char *key, size_t keylen,
                                        char *err, size_t errlen)
{
    redisContext *ctx;
    int n;

    if (cl->refresh_due)
        redis_cluster_reload(cl, time_mono_ms() + cl->timeout_ms);
    cl->pipe = -1;
    n = redis_cluster_route(cl, redis_key_slot(key, keylen));
    if (n < 0) {
        snprintf(err, errlen, "cluster: no node serves slot %d", redis_key_slot(key, keylen));
        cl->refresh_due = 1;
        return NULL;
    }
    ctx = redis_conn_context(cl->nodes[n].conn);
    if (ctx == NULL) {
        redis_cluster_node_err(cl, n, err, errlen);
        cl->refresh_due = 1;
        return NULL;
    }
    cl->pipe = n;
    return ctx;
}

int redis_cluster_get_reply(struct redis_cluster *cl, redisReply **reply, char *err, size_t errlen)
{
    int slot;
    int target;

    *reply = NULL;
    if (cl->pipe < 0) {
        snprintf(err, errlen, "cluster: no pipeline under way");
        return -1;
    }
    if (redis_conn_get_reply(cl->nodes[cl->pipe].conn, reply) != 0) {
        redis_cluster_node_err(cl, cl->pipe, err, errlen);
        cl->refresh_due = 1;
        return -1;
    }
    /* A pipeline is never resent; a MOVED in it still teaches the map. */
    if (redis_cluster_classify(*reply) == REDIS_REPLY_MOVED) {
        target = redis_cluster_target(cl, (*reply)->str, cl->pipe, &slot);
        if (target >= 0)
            cl->slot[slot] = (uint8_t)target;
        cl->refresh_due = 1;
    }
    return 0;
}

/* PING on each master of the map once; 0 when all answered PONG. */
static int redis_cluster_ping_masters(struct redis_cluster *cl, char *err, size_t errlen)
{
    static const char cmd[] = "*1\r\n$4\r\nPING\r\n";
    uint8_t seen[REDIS_CLUSTER_KNOWN_MAX] = {0};
    int masters = 0, sent;

    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
        int n = cl->slot[s];
        redisReply *r;
        int ok;
        if (n == REDIS_CLUSTER_NO_NODE) {
            snprintf(err, errlen, "cluster: no node serves slot %d", s);
            return -1;
        }
        if (seen[n])
            continue;
        seen[n] = 1;
        masters++;
        r = redis_node_exec(cl->nodes[n].conn, cmd, sizeof(cmd) - 1, &sent);
        if (r == NULL) {
            redis_cluster_node_err(cl, n, err, errlen);
            return -1;
        }
        ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
        if (!ok) {
            snprintf(err, errlen, "%s:%d: no PONG", cl->nodes[n].addr.host, cl->nodes[n].addr.port);
            return -1;
        }
    }
    return masters > 0 ? 0 : -1;
}

int redis_cluster_ping(struct redis_cluster *cl, char *err, size_t errlen)
{
    int64_t deadline = time_mono_ms() + cl->timeout_ms;

    if (cl->refresh_due)
        redis_cluster_reload(cl, deadline);
    if (redis_cluster_ping_masters(cl, err, errlen) == 0)
        return 0;
    /* The map may be stale (a failover): once more on a fresh one. */
    redis_cluster_reload(cl, deadline);
    if (redis_cluster_ping_masters(cl, err, errlen) == 0)
        return 0;
    cl->refresh_due = 1;
    return -1;
}

unsigned long redis_cluster_reloads(const struct redis_cluster *cl)
{
    return cl->reloads;
}

int redis_cluster_slot_port(const struct redis_cluster *cl, int slot)
{
    if (slot < 0 || slot >= REDIS_CLUSTER_SLOTS || cl->slot[slot] == REDIS_CLUSTER_NO_NODE)
        return -1;
    return cl->nodes[cl->slot[slot]].addr.port;
}

int redis_cluster_key_node(struct redis_cluster *cl, const char *key, size_t keylen)
{
    if (cl->refresh_due)
        redis_cluster_reload(cl, time_mono_ms() + cl->timeout_ms);
    return redis_cluster_route(cl, redis_key_slot(key, keylen));
}

/* The lowest slot served by the master after the one whose lowest slot is
 * from, in order of lowest slots; -1 when it was the last. */
static int redis_cluster_next_master(const struct redis_cluster *cl, int from)
{
    uint8_t seen[REDIS_CLUSTER_KNOWN_MAX] = {0};

    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
        int n = cl->slot[s];
        if (n == REDIS_CLUSTER_NO_NODE || seen[n])
            continue;
        seen[n] = 1;
        if (s > from)
            return s;
    }
    return -1;
}

/* Parses a walk cursor "<slot>:<digits>" into *slot and node[nodelen];
 * "0" is the start. Returns 0, or -1 when it is not one. */
static int redis_cluster_scan_cursor(const char *cursor, int *slot, char *node, size_t nodelen)
{
    const char *colon = strchr(cursor, ':');
    char *end;
    long s;

    if (strcmp(cursor, "0") == 0) {
        *slot = -1;
        snprintf(node, nodelen, "0");
        return 0;
    }
    if (colon == NULL || colon == cursor || colon[1] == '\0' ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(colon + 1) >= nodelen)
        return -1;
    s = strtol(cursor, &end, 10);
    if (end != colon || s < 0 || s >= REDIS_CLUSTER_SLOTS)
        return -1;
    *slot = (int)s;
    snprintf(node, nodelen, "%s", colon + 1);
    return 0;
}

redisReply *redis_cluster_scan(struct redis_cluster *cl, char *cursor, size_t cursorlen, int argc,
                               const char **argv, char *err, size_t errlen)
{
    char node_cursor[24];
    char *cmd = NULL;
    redisReply *r;
    int slot, n, len, sent, next;

    if (redis_cluster_scan_cursor(cursor, &slot, node_cursor, sizeof(node_cursor)) != 0) {
        snprintf(err, errlen, "scan: not a cluster cursor: %.40s", cursor);
        return NULL;
    }
    if (cl->refresh_due)
        redis_cluster_reload(cl, time_mono_ms() + cl->timeout_ms);
    if (slot < 0 && (slot = redis_cluster_next_master(cl, -1)) < 0) {
        snprintf(err, errlen, "cluster: no node serves any slot");
        cl->refresh_due = 1;
        return NULL;
    }
    n = redis_cluster_route(cl, slot);
    if (n < 0) {
        snprintf(err, errlen, "cluster: no node serves slot %d", slot);
        cl->refresh_due = 1;
        return NULL;
    }
    argv[1] = node_cursor;
    len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    if (len < 0) {
        snprintf(err, errlen, "scan: out of memory");
        return NULL;
    }
    r = redis_node_exec(cl->nodes[n].conn, cmd, (size_t)len, &sent);
    redisFreeCommand(cmd);
    if (r == NULL) {
        redis_cluster_node_err(cl, n, err, errlen);
        cl->refresh_due = 1;
        return NULL;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return r; /* the caller reports it */
    if (strcmp(r->element[0]->str, "0") != 0)
        snprintf(cursor, cursorlen, "%d:%s", slot, r->element[0]->str);
    else if ((next = redis_cluster_next_master(cl, slot)) >= 0)
        snprintf(cursor, cursorlen, "%d:0", next);
    else
        snprintf(cursor, cursorlen, "0");
    return r;
}
