/* redis_cpu: INFO of each listed node, its CPU fields added up by role. */
#include "redis_cpu.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

/* The number after "\r\n<field>:" in an INFO text, or -1 when absent. */
static double redis_cpu_field(const char *info, const char *field)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\n%s:", field);
    p = strstr(info, pat);
    return p == NULL ? -1.0 : strtod(p + strlen(pat), NULL);
}

/* Adds one node's CPU seconds to out; -1 with err when it did not answer. */
static int redis_cpu_node(const char *host, int port, struct redis_cpu *out, char *err,
                          size_t errlen)
{
    struct redis_conn *rc = redis_conn_new(host, port, 2000);
    redisReply *r = rc != NULL ? redis_conn_command(rc, "INFO") : NULL;
    double sys, user;
    int rv = -1;

    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "%s:%d: no INFO", host, port);
        goto out;
    }
    sys = redis_cpu_field(r->str, "used_cpu_sys");
    user = redis_cpu_field(r->str, "used_cpu_user");
    if (sys < 0 || user < 0) {
        snprintf(err, errlen, "%s:%d: INFO without used_cpu_sys/user", host, port);
        goto out;
    }
    if (strstr(r->str, "\nrole:master") != NULL)
        out->master_s += sys + user;
    else
        out->replica_s += sys + user;
    out->nodes++;
    rv = 0;
out:
    if (r != NULL)
        freeReplyObject(r);
    redis_conn_free(rc);
    return rv;
}

int redis_cpu_read(const char *nodes, struct redis_cpu *out, char *err, size_t errlen)
{
    const char *p = nodes;

    memset(out, 0, sizeof(*out));
    if (redis_cluster_nodes_check(nodes, err, errlen) != 0)
        return -1;
    while (*p != '\0') {
        char host[256];
        const char *colon = strchr(p, ':'), *end;
        long port;

        if (colon == NULL || (size_t)(colon - p) >= sizeof(host))
            return -1;
        memcpy(host, p, (size_t)(colon - p));
        host[colon - p] = '\0';
        port = strtol(colon + 1, NULL, 10);
        if (redis_cpu_node(host, (int)port, out, err, errlen) != 0)
            return -1;
        end = strchr(colon, ',');
        p = end == NULL ? colon + strlen(colon) : end + 1;
    }
    return 0;
}
