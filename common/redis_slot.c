/* redis_slot: the pure parts of cluster routing — the key slot (CRC16 and
 * hash tags), the node list of REDIS_CLUSTER_NODES, and the routing key of
 * a formatted command. No I/O, no state. */
#include "redis_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REDIS_CMD_ARGS_SCAN 8 /* leading arguments redis_cmd_key looks at */

unsigned redis_crc16(const char *buf, size_t len)
{
    unsigned crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)buf[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000u) ? ((crc << 1) ^ 0x1021u) & 0xffffu : (crc << 1) & 0xffffu;
    }
    return crc;
}

int redis_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);

    if (open != NULL) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close != NULL && close > key + from)
            return (int)(redis_crc16(key + from, (size_t)(close - key) - from) & 16383u);
    }
    return (int)(redis_crc16(key, len) & 16383u);
}

/* One "host:port" entry of len bytes (blanks trimmed by the caller). */
static int redis_node_parse(const char *s, size_t len, struct redis_addr *out, char *err,
                            size_t errlen)
{
    const char *colon = NULL;
    char port[8];
    char *end = NULL;
    long p;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == ':')
            colon = s + i;
        else if (isspace((unsigned char)s[i])) {
            snprintf(err, errlen, "blank inside entry '%.*s'", (int)(len > 64 ? 64 : len), s);
            return -1;
        }
    }
    if (colon == NULL || colon == s) {
        snprintf(err, errlen, "entry '%.*s' is not host:port", (int)(len > 64 ? 64 : len), s);
        return -1;
    }
    if ((size_t)(colon - s) >= sizeof(out->host)) {
        snprintf(err, errlen, "host name too long (at most %zu bytes)", sizeof(out->host) - 1);
        return -1;
    }
    len -= (size_t)(colon - s) + 1;
    if (len == 0 || len >= sizeof(port) || !isdigit((unsigned char)colon[1])) {
        snprintf(err, errlen, "entry '%.*s': port must be 1..65535", (int)(colon - s) + 1, s);
        return -1;
    }
    memcpy(port, colon + 1, len);
    port[len] = '\0';
    p = strtol(port, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) {
        snprintf(err, errlen, "entry '%.*s%s': port must be 1..65535", (int)(colon - s) + 1, s,
                 port);
        return -1;
    }
    memcpy(out->host, s, (size_t)(colon - s));
    out->host[colon - s] = '\0';
    out->port = (int)p;
    return 0;
}

int redis_nodes_parse(const char *list, struct redis_addr *out, int max, char *err, size_t errlen)
{
    const char *s = list;
    int n = 0;

    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        while (len > 0 && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)s[len - 1]))
            len--;
        if (len == 0) {
            snprintf(err, errlen, "empty entry (expected host:port,host:port,...)");
            return -1;
        }
        if (n == max || n == REDIS_CLUSTER_NODES_MAX) {
            snprintf(err, errlen, "more than %d nodes",
                     max < REDIS_CLUSTER_NODES_MAX ? max : REDIS_CLUSTER_NODES_MAX);
            return -1;
        }
        if (redis_node_parse(s, len, &out[n], err, errlen) != 0)
            return -1;
        n++;
        if (comma == NULL)
            return n;
        s = comma + 1;
    }
}

/* Reads "<c><digits>\r\n" at *p (below end) into *v. */
static int redis_resp_num(const char **p, const char *end, char c, long *v)
{
    const char *s = *p;
    long n = 0;

    if (s >= end || *s != c)
        return -1;
    s++;
    if (s >= end || !isdigit((unsigned char)*s))
        return -1;
    while (s < end && isdigit((unsigned char)*s)) {
        if (n > 512L * 1024 * 1024)
            return -1;
        n = n * 10 + (*s - '0');
        s++;
    }
    if (end - s < 2 || s[0] != '\r' || s[1] != '\n')
        return -1;
    *p = s + 2;
    *v = n;
    return 0;
}

static int redis_arg_is(const char *arg, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(arg, word, len) == 0;
}

/* Commands that name no key: any node can run them. */
static int redis_cmd_keyless(const char *name, size_t len)
{
    static const char *const words[] = {
        "PING",      "ECHO",     "INFO",    "SCRIPT",   "CLUSTER",      "ASKING",  "READONLY",
        "READWRITE", "TIME",     "DBSIZE",  "FLUSHALL", "FLUSHDB",      "SCAN",    "KEYS",
        "RANDOMKEY", "CONFIG",   "COMMAND", "CLIENT",   "FUNCTION",     "PUBLISH", "WAIT",
        "SELECT",    "LASTSAVE", "SAVE",    "BGSAVE",   "BGREWRITEAOF", "HELLO",   "AUTH",
        "QUIT",      "SLOWLOG",  "LATENCY", "DEBUG",    "SHUTDOWN",     "MULTI",   "EXEC",
        "DISCARD",   NULL};

    for (int i = 0; words[i] != NULL; i++)
        if (redis_arg_is(name, len, words[i]))
            return 1;
    return 0;
}

int redis_cmd_key(const char *cmd, size_t len, const char **key, size_t *keylen)
{
    const char *p = cmd, *end = cmd + len;
    const char *arg[REDIS_CMD_ARGS_SCAN];
    size_t alen[REDIS_CMD_ARGS_SCAN];
    long argc, n, k = 1;

    if (redis_resp_num(&p, end, '*', &argc) != 0 || argc < 1)
        return -1;
    n = argc < REDIS_CMD_ARGS_SCAN ? argc : REDIS_CMD_ARGS_SCAN;
    for (long i = 0; i < n; i++) {
        long l;
        if (redis_resp_num(&p, end, '$', &l) != 0 || end - p < l + 2)
            return -1;
        arg[i] = p;
        alen[i] = (size_t)l;
        p += l + 2;
    }
    if (redis_cmd_keyless(arg[0], alen[0]))
        return 0;
    if (redis_arg_is(arg[0], alen[0], "EVAL") || redis_arg_is(arg[0], alen[0], "EVALSHA") ||
        redis_arg_is(arg[0], alen[0], "EVAL_RO") || redis_arg_is(arg[0], alen[0], "EVALSHA_RO") ||
        redis_arg_is(arg[0], alen[0], "FCALL") || redis_arg_is(arg[0], alen[0], "FCALL_RO")) {
        if (n < 3 || alen[2] == 0 || (alen[2] == 1 && arg[2][0] == '0'))
            return 0; /* numkeys 0: keyless */
        k = 3;
    } else if (redis_arg_is(arg[0], alen[0], "OBJECT") || redis_arg_is(arg[0], alen[0], "MEMORY")) {
        k = 2;
    } else if (redis_arg_is(arg[0], alen[0], "XREAD") ||
               redis_arg_is(arg[0], alen[0], "XREADGROUP")) {
        k = -1;
        for (long i = 1; i + 1 < n && k < 0; i++)
            if (redis_arg_is(arg[i], alen[i], "STREAMS"))
                k = i + 1;
        if (k < 0)
            return -1; /* STREAMS beyond the arguments looked at */
    }
    if (k >= n)
        return n == 1 ? 0 : -1;
    *key = arg[k];
    *keylen = alen[k];
    return 1;
}
