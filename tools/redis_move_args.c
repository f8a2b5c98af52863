/* redis_move_args: the command line of redis-move and the names of the
 * schema's keys (redis_move.h). No I/O, so both are unit-tested. */
#include "redis_move.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_store.h"
#include "config.h"
#include "email_store.h"
#include "message.h"
#include "redis.h"

#define REDIS_MOVE_TOKEN_LEN 16 /* notifier:alive:<16 hex digits> (notifier/dedup.c) */

static const char redis_move_usage_text[] =
    "usage: redis-move --from HOST:PORT --to HOST:PORT[,HOST:PORT...] [options]\n"
    "\n"
    "Copies the stock-alerts keys (schema 3, docs/key-schema.md) of the single Redis\n"
    "--from into the Redis Cluster --to (any of its nodes): DUMP + PTTL on the source,\n"
    "RESTORE ... REPLACE on the node owning each key's slot. Keys that are not of the\n"
    "schema are left alone and counted. Stop the writers (webapps, evaluators,\n"
    "notifiers) first: keys changed on the source after they were copied are not\n"
    "copied again. Progress (the SCAN cursor and the counts) is kept in the target's\n"
    "key " REDIS_MOVE_PROGRESS_KEY " after each page: a rerun continues there.\n"
    "\n"
    "  --from HOST:PORT       the single Redis holding the data (alert_store:schema 3)\n"
    "  --to HOST:PORT,...     seed nodes of the target cluster (state ok), at most 64\n"
    "  --restart              forget the recorded progress and copy everything again\n"
    "  --count N              keys per SCAN page, 1..10000 (500)\n"
    "  --max-key-bytes N      the largest DUMP payload accepted, 1024..536870912\n"
    "                         (536870912: Redis' proto-max-bulk-len); a larger key stops\n"
    "                         the move with an error naming it\n"
    "  --timeout-ms N         bound of each Redis call, 100..600000 (10000)\n"
    "  --max-pages N          stop after N pages of this run, exit 3 (for tests: an\n"
    "                         interrupted move); a rerun resumes\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit: 0 copied and the counts of alerts and history entries agree; 1 refused\n"
    "or failed (a rerun resumes after the last recorded page); 2 bad arguments;\n"
    "3 stopped early (--max-pages, SIGINT/SIGTERM); 4 copied but the counts differ.\n";

const char *redis_move_usage(void)
{
    return redis_move_usage_text;
}

/* "host:port" (the last colon splits) into host[hostlen] and *port. */
static int redis_move_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    long p;

    if (colon == NULL || colon == s || (size_t)(colon - s) >= hostlen ||
        config_long(colon + 1, 1, 65535, &p) != 0)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (int)p;
    return 0;
}

/* One option with a number: its value checked against [min, max]. */
static int redis_move_opt_long(const char *name, const char *value, long min, long max, long *out,
                               char *err, size_t errlen)
{
    if (config_long(value, min, max, out) != 0) {
        snprintf(err, errlen, "%s must be a whole number in %ld..%ld, not '%.64s'", name, min, max,
                 value);
        return -1;
    }
    return 0;
}

int redis_move_parse_args(int argc, char **argv, struct redis_move_opts *o, char *err,
                          size_t errlen)
{
    char nodes_err[256];
    int have_from = 0;

    memset(o, 0, sizeof(*o));
    o->count = 500;
    o->max_key_bytes = REDIS_MOVE_PAYLOAD_MAX;
    o->timeout_ms = 10000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = strcmp(a, "--from") == 0 || strcmp(a, "--to") == 0 ||
                          strcmp(a, "--count") == 0 || strcmp(a, "--max-pages") == 0 ||
                          strcmp(a, "--max-key-bytes") == 0 || strcmp(a, "--timeout-ms") == 0;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 1;
        if (strcmp(a, "--restart") == 0) {
            o->restart = 1;
            continue;
        }
        if (!takes_value) {
            snprintf(err, errlen, "unknown argument '%.64s' (--help lists them)", a);
            return -1;
        }
        if (v == NULL) {
            snprintf(err, errlen, "%s needs a value", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--from") == 0) {
            if (redis_move_parse_addr(v, o->from_host, sizeof(o->from_host), &o->from_port) != 0) {
                snprintf(err, errlen, "--from must be HOST:PORT (port 1..65535), not '%.64s'", v);
                return -1;
            }
            have_from = 1;
        } else if (strcmp(a, "--to") == 0) {
            if (strlen(v) >= sizeof(o->to)) {
                snprintf(err, errlen, "--to is longer than %zu bytes", sizeof(o->to) - 1);
                return -1;
            }
            if (redis_cluster_nodes_check(v, nodes_err, sizeof(nodes_err)) != 0) {
                snprintf(err, errlen, "--to: %s", nodes_err);
                return -1;
            }
            snprintf(o->to, sizeof(o->to), "%s", v);
        } else if (strcmp(a, "--count") == 0) {
            if (redis_move_opt_long(a, v, 1, REDIS_MOVE_COUNT_MAX, &o->count, err, errlen) != 0)
                return -1;
        } else if (strcmp(a, "--max-pages") == 0) {
            if (redis_move_opt_long(a, v, 1, 1000000000L, &o->max_pages, err, errlen) != 0)
                return -1;
        } else if (strcmp(a, "--max-key-bytes") == 0) {
            if (redis_move_opt_long(a, v, REDIS_MOVE_PAYLOAD_MIN, REDIS_MOVE_PAYLOAD_MAX,
                                    &o->max_key_bytes, err, errlen) != 0)
                return -1;
        } else if (redis_move_opt_long(a, v, 100, 600000, &o->timeout_ms, err, errlen) != 0) {
            return -1; /* --timeout-ms */
        }
    }
    if (!have_from || o->to[0] == '\0') {
        snprintf(err, errlen, "--from and --to are required (--help)");
        return -1;
    }
    return 0;
}

/* key starts with prefix, then "{tag}": the tag into out[outlen] and the
 * rest of the key. NULL when key is not of that form. */
static const char *redis_move_tag(const char *key, const char *prefix, char *out, size_t outlen)
{
    size_t n = strlen(prefix);
    const char *close;

    if (strncmp(key, prefix, n) != 0 || key[n] != '{')
        return NULL;
    close = strchr(key + n + 1, '}');
    if (close == NULL || (size_t)(close - key - n - 1) >= outlen)
        return NULL;
    memcpy(out, key + n + 1, (size_t)(close - key - n - 1));
    out[close - key - n - 1] = '\0';
    return close + 1;
}

static int redis_move_token_valid(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");

    return n == REDIS_MOVE_TOKEN_LEN && s[n] == '\0';
}

/* True when rest is <lead><digits><a> or <lead><digits><b>: the window
 * part of a rolling window's key (common/lua/window.lua). */
static int redis_move_window_rest(const char *rest, const char *lead, const char *a, const char *b)
{
    size_t n = strlen(lead), d = 0;

    if (strncmp(rest, lead, n) != 0)
        return 0;
    while (rest[n + d] >= '0' && rest[n + d] <= '9')
        d++;
    return d > 0 && (strcmp(rest + n + d, a) == 0 || strcmp(rest + n + d, b) == 0);
}

enum redis_move_kind redis_move_key_kind(const char *key, size_t len)
{
    char k[REDIS_MOVE_KEY_MAX], user[MSG_ID_MAX], ticker[MSG_TICKER_MAX];
    const char *rest;

    if (len == 0 || len >= sizeof(k) || memchr(key, '\0', len) != NULL)
        return REDIS_MOVE_FOREIGN;
    memcpy(k, key, len);
    k[len] = '\0';
    if (strcmp(k, "alert_store:schema") == 0)
        return REDIS_MOVE_SCHEMA;
    if (strcmp(k, "alerts_outbox") == 0)
        return REDIS_MOVE_OUTBOX_LEGACY;
    if (strncmp(k, "notified:", 9) == 0)
        return msg_delivery_key_valid(k + 9) ? REDIS_MOVE_NOTIFIED : REDIS_MOVE_FOREIGN;
    if (strncmp(k, "notifier:alive:", 15) == 0)
        return redis_move_token_valid(k + 15) ? REDIS_MOVE_NOTIFIER_ALIVE : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "user_alerts:", user, sizeof(user))) != NULL)
        return msg_id_valid(user) && *rest == '\0' ? REDIS_MOVE_USER_ALERTS : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "alert_unpended:", user, sizeof(user))) != NULL)
        return msg_id_valid(user) && *rest == '\0' ? REDIS_MOVE_UNPENDED : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "alert_events:", user, sizeof(user))) != NULL)
        return msg_id_valid(user) && *rest == '\0' ? REDIS_MOVE_EVENTS : REDIS_MOVE_FOREIGN;
    if (email_store_requests_index(k, len) >= 0) /* the shards and the legacy stream */
        return REDIS_MOVE_EMAIL_REQUESTS;
    if ((rest = redis_move_tag(k, "user_email:", user, sizeof(user))) != NULL ||
        (rest = redis_move_tag(k, "email_rate:", user, sizeof(user))) != NULL ||
        (rest = redis_move_tag(k, "email_sent:", user, sizeof(user))) != NULL)
        return msg_id_valid(user) && *rest == '\0' ? REDIS_MOVE_EMAIL : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "alert_idem:", user, sizeof(user))) != NULL)
        return msg_id_valid(user) && rest[0] == ':' && alert_store_idem_key_valid(rest + 1)
                   ? REDIS_MOVE_IDEM
                   : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "ticker_alerts:", ticker, sizeof(ticker))) != NULL)
        return msg_ticker_valid(ticker) && *rest == '\0' ? REDIS_MOVE_TICKER_ALERTS
                                                         : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "alert_idx:", ticker, sizeof(ticker))) != NULL) {
        if (!msg_ticker_valid(ticker))
            return REDIS_MOVE_FOREIGN;
        if (strcmp(rest, ":above") == 0 || strcmp(rest, ":below") == 0 ||
            strcmp(rest, ":rearm_above") == 0 || strcmp(rest, ":rearm_below") == 0)
            return REDIS_MOVE_INDEX;
        return redis_move_window_rest(rest, ":w", ":up", ":down") ? REDIS_MOVE_WINDOW
                                                                  : REDIS_MOVE_FOREIGN;
    }
    if ((rest = redis_move_tag(k, "alert_windows:", ticker, sizeof(ticker))) != NULL)
        return msg_ticker_valid(ticker) && *rest == '\0' ? REDIS_MOVE_WINDOW : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "alert_win:", ticker, sizeof(ticker))) != NULL)
        return msg_ticker_valid(ticker) && redis_move_window_rest(rest, ":", ":min", ":max")
                   ? REDIS_MOVE_WINDOW
                   : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "alert_cool:", ticker, sizeof(ticker))) != NULL)
        return msg_ticker_valid(ticker) && *rest == '\0' ? REDIS_MOVE_INDEX : REDIS_MOVE_FOREIGN;
    if ((rest = redis_move_tag(k, "alerts_outbox:", ticker, sizeof(ticker))) != NULL)
        return msg_ticker_valid(ticker) && *rest == '\0' ? REDIS_MOVE_OUTBOX : REDIS_MOVE_FOREIGN;
    return REDIS_MOVE_FOREIGN;
}
