/* alert_store_pipe: several script calls of the alert store in one round
 * trip (alert_store_priv.h). Each call keeps to one slot; the pipeline as a
 * whole may span many: on a cluster the calls are pipelined per node, one
 * round trip per node that owns any of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_store_priv.h"
#include "log.h"

/* SCRIPT LOAD of s; 0, or -1 (connection down or an error reply). */
static int alert_store_pipe_load(struct redis_conn *rc, struct redis_script *s)
{
    const char *argv[3] = {"SCRIPT", "LOAD", s->source};
    redisReply *r = redis_conn_argv(rc, 3, argv, NULL);
    int rv = -1;

    if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(s->sha, r->str, 40);
        s->sha[40] = '\0';
        rv = 0;
    } else if (r != NULL) {
        log_error("redis script load failed", "error=\"%s\"",
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

/* Appends EVALSHA of call c to the context; 0 or -1 (out of memory). */
static int alert_store_pipe_append(redisContext *ctx, const struct alert_store_call *c)
{
    int argc = 3 + c->nkeys + c->nargs;
    const char **argv = malloc(sizeof(*argv) * (size_t)argc);
    char nk[16];
    int k = 0, rv;

    if (argv == NULL)
        return -1;
    snprintf(nk, sizeof(nk), "%d", c->nkeys);
    argv[k++] = "EVALSHA";
    argv[k++] = c->script->sha;
    argv[k++] = nk;
    for (int i = 0; i < c->nkeys; i++)
        argv[k++] = c->keys[i];
    for (int i = 0; i < c->nargs; i++)
        argv[k++] = c->args[i];
    rv = redisAppendCommandArgv(ctx, argc, argv, NULL) == REDIS_OK ? 0 : -1;
    free(argv);
    return rv;
}

static int alert_store_pipe_noscript(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* One pipeline over the calls whose index is in todo[0..n). */
static int alert_store_pipe_once(struct redis_conn *rc, const struct alert_store_call *calls,
                                 const int *todo, int n, redisReply **replies)
{
    redisContext *ctx;
    int sent = 0;

    for (int i = 0; i < n; i++) {
        struct redis_script *s = calls[todo[i]].script;
        if (s->sha[0] == '\0' && alert_store_pipe_load(rc, s) != 0)
            return -1;
    }
    ctx = redis_conn_context(rc);
    if (ctx == NULL)
        return -1;
    for (; sent < n; sent++) {
        if (alert_store_pipe_append(ctx, &calls[todo[sent]]) != 0)
            break;
    }
    for (int i = 0; i < sent; i++) {
        if (redis_conn_get_reply(rc, &replies[todo[i]]) != 0)
            return -1;
    }
    return sent == n ? 0 : -1;
}

/* An error reply that says the call did not run on that node: the slot is
 * elsewhere (MOVED, ASK), busy or unserved (TRYAGAIN, CLUSTERDOWN), or the
 * node does not know the script (NOSCRIPT). */
static int alert_store_pipe_not_run(const redisReply *r)
{
    static const char *const words[] = {"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT"};

    if (r == NULL || r->type != REDIS_REPLY_ERROR)
        return 0;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strncmp(r->str, words[i], strlen(words[i])) == 0)
            return 1;
    }
    return 0;
}

/* Cluster: the calls grouped by the node their slot routes to, one pipeline
 * per node in turn. A call answered "not run here" is sent again alone
 * through redis_script_call, which follows redirects, waits out a failover
 * and loads the script on the node. */
static int alert_store_pipe_cluster(struct redis_conn *rc, const struct alert_store_call *calls,
                                    int n, redisReply **replies)
{
    int *node = malloc(sizeof(*node) * (size_t)n), *todo = malloc(sizeof(*todo) * (size_t)n);
    int rv = -1;

    if (node == NULL || todo == NULL)
        goto out;
    for (int i = 0; i < n; i++) {
        struct redis_script *s = calls[i].script;
        if (s->sha[0] == '\0' && alert_store_pipe_load(rc, s) != 0)
            goto out;
        node[i] = redis_conn_key_node(rc, calls[i].keys[0], strlen(calls[i].keys[0]));
    }
    for (int g = 0; g < n; g++) {
        redisContext *ctx;
        int m = 0;
        if (node[g] == -2)
            continue; /* sent with an earlier group */
        ctx = redis_conn_context_key(rc, calls[g].keys[0], strlen(calls[g].keys[0]));
        for (int i = g; i < n; i++) {
            if (i == g || (node[g] >= 0 && node[i] == node[g])) {
                todo[m++] = i;
                node[i] = -2;
            }
        }
        if (ctx == NULL)
            continue; /* each is sent alone below, and fails there if it must */
        for (int k = 0; k < m; k++) {
            if (alert_store_pipe_append(ctx, &calls[todo[k]]) != 0)
                goto out;
        }
        for (int k = 0; k < m; k++) {
            if (redis_conn_get_reply(rc, &replies[todo[k]]) != 0)
                goto out; /* the rest of this node's may have run: never resent */
        }
    }
    for (int i = 0; i < n; i++) {
        const struct alert_store_call *c = &calls[i];
        if (replies[i] != NULL && !alert_store_pipe_not_run(replies[i]))
            continue;
        if (replies[i] != NULL)
            freeReplyObject(replies[i]);
        replies[i] = redis_script_call(rc, c->script, c->nkeys, c->keys, c->nargs, c->args);
        if (replies[i] == NULL)
            goto out;
    }
    rv = 0;
out:
    free(node);
    free(todo);
    return rv;
}

int alert_store_pipe_run(struct redis_conn *rc, const struct alert_store_call *calls, int n,
                         redisReply **replies)
{
    int *todo;
    int m = n, rv = -1;

    for (int i = 0; i < n; i++)
        replies[i] = NULL;
    if (n <= 0)
        return 0;
    if (redis_conn_is_cluster(rc))
        return alert_store_pipe_cluster(rc, calls, n, replies);
    todo = malloc(sizeof(*todo) * (size_t)n);
    if (todo == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        todo[i] = i;
    /* A restarted Redis forgot its scripts: NOSCRIPT calls did not run, so
     * they are sent again once the scripts are loaded. */
    for (int round = 0; round < 2 && m > 0; round++) {
        int again = 0;
        if (alert_store_pipe_once(rc, calls, todo, m, replies) != 0)
            goto out;
        for (int i = 0; i < m; i++) {
            if (alert_store_pipe_noscript(replies[todo[i]])) {
                freeReplyObject(replies[todo[i]]);
                replies[todo[i]] = NULL;
                calls[todo[i]].script->sha[0] = '\0';
                todo[again++] = todo[i];
            }
        }
        m = again;
    }
    rv = m == 0 ? 0 : -1;
out:
    free(todo);
    return rv;
}
