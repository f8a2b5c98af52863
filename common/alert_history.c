/* alert_history: reads of the per-user history streams and the one-time
 * migration of the lists the version before kept (see alert_history.h; the
 * claim script that appends is common/lua/claim.lua). */
#include "alert_history.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "message.h"
#include "store_lua.h"

#define ALERT_HISTORY_KEY_MAX 128
#define ALERT_HISTORY_SCHEMA_KEY "alert_store:schema"
#define ALERT_HISTORY_SCHEMA "2"
#define ALERT_HISTORY_LEGACY_PREFIX "alert_history:"

static struct redis_script alert_history_events_lua = {(const char *)store_lua_events, {0}};
static struct redis_script alert_history_migrate_lua = {(const char *)store_lua_migrate, {0}};

static void alert_history_key(const char *user_id, char out[ALERT_HISTORY_KEY_MAX])
{
    snprintf(out, ALERT_HISTORY_KEY_MAX, "alert_events:{%s}", user_id);
}

/* Calls cb for a (position, payload) pair of string replies; 0, or -1 when
 * the position is not one. */
static int alert_history_emit(const redisReply *id, const redisReply *payload, alert_history_cb cb,
                              void *ud)
{
    struct evid pos;

    if (id->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING ||
        evid_parse(id->str, &pos) != 0)
        return -1;
    cb(payload->str, payload->len, &pos, ud);
    return 0;
}

/* The "payload" value of a stream entry's field list, or NULL. */
static const redisReply *alert_history_payload(const redisReply *fields)
{
    if (fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *f = fields->element[i];
        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, "payload") == 0)
            return fields->element[i + 1];
    }
    return NULL;
}

int alert_history_list(struct redis_conn *rc, const char *user_id, int max, alert_history_cb cb,
                       void *ud, char *err, size_t errlen)
{
    char key[ALERT_HISTORY_KEY_MAX], count[16];
    const char *argv[6];
    redisReply *r;
    int n = 0;

    if (!msg_id_valid(user_id) || max <= 0)
        return 0;
    alert_history_key(user_id, key);
    snprintf(count, sizeof(count), "%d", max);
    argv[0] = "XREVRANGE", argv[1] = key, argv[2] = "+", argv[3] = "-", argv[4] = "COUNT";
    argv[5] = count;
    r = redis_conn_argv(rc, 6, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        n = redis_reply_fail(rc, r, "history", err, errlen);
        goto out;
    }
    for (size_t i = 0; i < r->elements && n < max; i++) {
        const redisReply *e = r->element[i], *p;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        p = alert_history_payload(e->element[1]);
        if (p != NULL && alert_history_emit(e->element[0], p, cb, ud) == 0)
            n++;
    }
out:
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

int alert_history_after(struct redis_conn *rc, const char *user_id, const struct evid *after,
                        int max, alert_history_cb cb, void *ud, struct evid *tail, char *err,
                        size_t errlen)
{
    char key[ALERT_HISTORY_KEY_MAX], from[EVID_TEXT_MAX] = "", count[16];
    const char *keys[1], *args[2];
    redisReply *r;
    int n = -1;

    if (!msg_id_valid(user_id)) {
        snprintf(err, errlen, "history: invalid user id");
        return -1;
    }
    alert_history_key(user_id, key);
    if (after != NULL)
        evid_format(after, from);
    snprintf(count, sizeof(count), "%d", max > 0 ? max : 1);
    keys[0] = key;
    args[0] = from, args[1] = count;
    r = redis_script_call(rc, &alert_history_events_lua, 1, keys, 2, args);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 1 ||
        r->element[0]->type != REDIS_REPLY_STRING || evid_parse(r->element[0]->str, tail) != 0) {
        redis_reply_fail(rc, r, "history", err, errlen);
        goto out;
    }
    n = 0;
    for (size_t i = 1; i + 1 < r->elements && n < max; i += 2) {
        if (alert_history_emit(r->element[i], r->element[i + 1], cb, ud) == 0)
            n++;
    }
out:
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

int alert_history_event_json(const char *payload, size_t len, const struct evid *pos, char *out,
                             size_t outlen)
{
    char id[EVID_TEXT_MAX];
    size_t end = len;
    int n;

    while (end > 0 && (payload[end - 1] == ' ' || payload[end - 1] == '\t'))
        end--;
    if (len < 2 || payload[0] != '{' || end < 2 || payload[end - 1] != '}' || end > INT32_MAX)
        return -1;
    n = snprintf(out, outlen, "%.*s%s\"event_id\":\"%s\"}", (int)(end - 1), payload,
                 end > 2 ? "," : "", evid_format(pos, id));
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}

/* Migrates the legacy list key (one user). Returns entries moved or -1. */
static long long alert_history_migrate_one(struct redis_conn *rc, const char *legacy, char *err,
                                           size_t errlen)
{
    const char *user = legacy + sizeof(ALERT_HISTORY_LEGACY_PREFIX) - 1;
    char key[ALERT_HISTORY_KEY_MAX], hmax[16], httl[16];
    const char *keys[2], *args[2];
    redisReply *r;
    long long moved = -1;

    if (!msg_id_valid(user))
        return 0; /* not a key of ours */
    alert_history_key(user, key);
    snprintf(hmax, sizeof(hmax), "%d", ALERT_HISTORY_MAX);
    snprintf(httl, sizeof(httl), "%d", ALERT_HISTORY_TTL_S);
    keys[0] = legacy, keys[1] = key;
    args[0] = hmax, args[1] = httl;
    r = redis_script_call(rc, &alert_history_migrate_lua, 2, keys, 2, args);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        redis_reply_fail(rc, r, "migrate", err, errlen);
    else
        moved = r->integer;
    if (r != NULL)
        freeReplyObject(r);
    return moved;
}

/* One SCAN page of legacy lists, each migrated. Returns the next cursor in
 * cursor (as text) and adds to *users / *entries; -1 with err. */
static int alert_history_migrate_page(struct redis_conn *rc, char cursor[REDIS_SCAN_CURSOR_MAX],
                                      long *users, long long *entries, char *err, size_t errlen)
{
    const char *argv[6] = {"MATCH", ALERT_HISTORY_LEGACY_PREFIX "*", "COUNT", "1000", "TYPE",
                           "list"};
    redisReply *r = redis_conn_scan(rc, cursor, 6, argv);
    int rv = -1;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        redis_reply_fail(rc, r, "migrate scan", err, errlen);
        goto out;
    }
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        const redisReply *k = r->element[1]->element[i];
        long long moved;
        if (k->type != REDIS_REPLY_STRING)
            continue;
        moved = alert_history_migrate_one(rc, k->str, err, errlen);
        if (moved < 0)
            goto out;
        if (moved > 0) {
            (*users)++;
            *entries += moved;
        }
    }
    rv = 0;
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

int alert_history_migrate(struct redis_conn *rc, char *err, size_t errlen)
{
    char cursor[REDIS_SCAN_CURSOR_MAX] = "0";
    long users = 0;
    long long entries = 0;
    redisReply *r = redis_conn_command(rc, "GET %s", ALERT_HISTORY_SCHEMA_KEY);
    int done;

    if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        redis_reply_fail(rc, r, "migrate", err, errlen);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    /* 2, or 3 (alert_store_migrate.h): the lists are gone. */
    done = r->type == REDIS_REPLY_STRING &&
           (strcmp(r->str, ALERT_HISTORY_SCHEMA) == 0 || strcmp(r->str, "3") == 0);
    freeReplyObject(r);
    if (done)
        return 0;
    do {
        if (alert_history_migrate_page(rc, cursor, &users, &entries, err, errlen) != 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    /* NX: never back from 3 when a racing daemon finished the whole chain. */
    r = redis_conn_command(rc, "SET %s %s NX", ALERT_HISTORY_SCHEMA_KEY, ALERT_HISTORY_SCHEMA);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        redis_reply_fail(rc, r, "migrate", err, errlen);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    log_info("history migrated", "users=%ld entries=%lld schema=%s", users, entries,
             ALERT_HISTORY_SCHEMA);
    return (int)(users > INT32_MAX ? INT32_MAX : users);
}
