/* alert_store_migrate: schema 1 and 2 keys into schema 3
 * (alert_store_migrate.h). The scripts here may touch several slots: they
 * run only on the single instance that holds the old data. */
#include "alert_store_migrate.h"

#include <stdio.h>
#include <string.h>

#include "alert_history.h"
#include "alert_store_priv.h"
#include "log.h"
#include "message.h"
#include "store_lua.h"
#include "timeutil.h"

#define ALERT_STORE_MIGRATE_ALERT_PREFIX "alert:"
#define ALERT_STORE_MIGRATE_IDEM_PREFIX "alert_idem:"

static struct redis_script alert_store_migrate_alert_lua = ALERT_STORE_SCRIPT(migrate_alert);
static struct redis_script alert_store_migrate_idem_lua = ALERT_STORE_SCRIPT(migrate_idem);

/* Moves alert:<id> (key). Returns 1 moved, 0 nothing to move, -1 with err. */
static int alert_store_migrate_alert(struct redis_conn *rc, const char *key, char *err,
                                     size_t errlen)
{
    const char *id = key + sizeof(ALERT_STORE_MIGRATE_ALERT_PREFIX) - 1;
    const char *argv[5] = {"HMGET", key, "user_id", "ticker", "type"};
    char user[MSG_ID_MAX], ticker[MSG_TICKER_MAX], type[8];
    char k[7][ALERT_STORE_KEY_MAX];
    const char *keys[7], *args[4];
    redisReply *r;
    enum alert_type t;
    int rv = -1;

    if (!msg_id_valid(id))
        return 0; /* not a key of ours */
    r = redis_conn_argv(rc, 5, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        redis_reply_fail(rc, r, "migrate alert", err, errlen);
        goto out;
    }
    if (alert_store_copy(r->element[0], user, sizeof(user)) != 0 || !msg_id_valid(user) ||
        alert_store_copy(r->element[1], ticker, sizeof(ticker)) != 0 || !msg_ticker_valid(ticker) ||
        alert_store_copy(r->element[2], type, sizeof(type)) != 0 ||
        alert_type_parse(type, &t) != 0 || (t != ALERT_ABOVE && t != ALERT_BELOW)) {
        log_warn("migrate: alert malformed, left as it is", "key=%s", key);
        rv = 0;
        goto out;
    }
    freeReplyObject(r);
    snprintf(k[0], sizeof(k[0]), "%s", key);
    snprintf(k[1], sizeof(k[1]), "user_alerts:%s", user);
    snprintf(k[2], sizeof(k[2]), "ticker_alerts:%s", ticker);
    snprintf(k[3], sizeof(k[3]), "alert_idx:%s:%s", ticker, type);
    snprintf(k[4], sizeof(k[4]), "user_alerts:{%s}", user);
    snprintf(k[5], sizeof(k[5]), "ticker_alerts:{%s}", ticker);
    snprintf(k[6], sizeof(k[6]), "alert_idx:{%s}:%s", ticker, type);
    for (int i = 0; i < 7; i++)
        keys[i] = k[i];
    args[0] = id, args[1] = user, args[2] = ticker, args[3] = type;
    r = redis_script_call(rc, &alert_store_migrate_alert_lua, 7, keys, 4, args);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        redis_reply_fail(rc, r, "migrate alert", err, errlen);
    else
        rv = (int)r->integer;
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

/* Moves alert_idem:<user>:<key> to its tagged name. 1, 0, or -1 with err. */
static int alert_store_migrate_idem(struct redis_conn *rc, const char *key, char *err,
                                    size_t errlen)
{
    const char *user = key + sizeof(ALERT_STORE_MIGRATE_IDEM_PREFIX) - 1;
    const char *colon = strchr(user, ':');
    char tagged[ALERT_STORE_KEY_MAX + ALERT_STORE_IDEM_MAX], uid[MSG_ID_MAX];
    const char *keys[2] = {key, tagged};
    redisReply *r;
    int rv = -1;

    if (strchr(key, '{') != NULL || colon == NULL || (size_t)(colon - user) >= sizeof(uid))
        return 0; /* already tagged, or not a key of ours */
    memcpy(uid, user, (size_t)(colon - user));
    uid[colon - user] = '\0';
    if (!msg_id_valid(uid) || !alert_store_idem_key_valid(colon + 1))
        return 0;
    snprintf(tagged, sizeof(tagged), "alert_idem:{%s}:%s", uid, colon + 1);
    r = redis_script_call(rc, &alert_store_migrate_idem_lua, 2, keys, 0, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        redis_reply_fail(rc, r, "migrate idempotency key", err, errlen);
    else
        rv = (int)r->integer;
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

/* Every key of one type matching pattern, through fn. Returns the items
 * moved or -1 with err. */
static long alert_store_migrate_scan(struct redis_conn *rc, const char *pattern, const char *type,
                                     int (*fn)(struct redis_conn *, const char *, char *, size_t),
                                     char *err, size_t errlen)
{
    char cursor[REDIS_SCAN_CURSOR_MAX] = "0";
    long moved = 0;

    do {
        const char *argv[6] = {"MATCH", pattern, "COUNT", "1000", "TYPE", type};
        redisReply *r = redis_conn_scan(rc, cursor, 6, argv);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            redis_reply_fail(rc, r, "migrate scan", err, errlen);
            if (r != NULL)
                freeReplyObject(r);
            return -1;
        }
        for (size_t i = 0; i < r->element[1]->elements && moved >= 0; i++) {
            const redisReply *k = r->element[1]->element[i];
            int v;
            if (k->type != REDIS_REPLY_STRING || k->len >= ALERT_STORE_KEY_MAX)
                continue;
            v = fn(rc, k->str, err, errlen);
            moved = v < 0 ? -1 : moved + v;
        }
        freeReplyObject(r);
        if (moved < 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return moved;
}

long alert_store_migrate(struct redis_conn *rc, char *err, size_t errlen)
{
    const char *get[2] = {"GET", ALERT_STORE_SCHEMA_KEY};
    const char *set[3] = {"SET", ALERT_STORE_SCHEMA_KEY, ALERT_STORE_SCHEMA};
    redisReply *r = redis_conn_argv(rc, 2, get, NULL);
    long users, alerts, idem;
    int done;

    if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        redis_reply_fail(rc, r, "migrate", err, errlen);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    done = r->type == REDIS_REPLY_STRING && strcmp(r->str, ALERT_STORE_SCHEMA) == 0;
    freeReplyObject(r);
    if (done)
        return 0;
    users = alert_history_migrate(rc, err, errlen);
    if (users < 0)
        return -1;
    alerts = alert_store_migrate_scan(rc, ALERT_STORE_MIGRATE_ALERT_PREFIX "*", "hash",
                                      alert_store_migrate_alert, err, errlen);
    if (alerts < 0)
        return -1;
    idem = alert_store_migrate_scan(rc, ALERT_STORE_MIGRATE_IDEM_PREFIX "*", "string",
                                    alert_store_migrate_idem, err, errlen);
    if (idem < 0)
        return -1;
    r = redis_conn_argv(rc, 3, set, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        redis_reply_fail(rc, r, "migrate", err, errlen);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    log_info("store migrated", "histories=%ld alerts=%ld idempotency_keys=%ld schema=%s", users,
             alerts, idem, ALERT_STORE_SCHEMA);
    return users + alerts + idem;
}

void alert_store_migrate_step(struct redis_conn *rc, struct alert_store_migration *m)
{
    char err[256];
    int64_t now = time_mono_ms();

    if (m->done || now < m->next_ms)
        return;
    if (alert_store_migrate(rc, err, sizeof(err)) >= 0) {
        m->done = 1;
        return;
    }
    if (!m->failing)
        log_warn("store migration waiting", "error=\"%s\" retry_ms=1000", err);
    m->failing = 1;
    m->next_ms = now + 1000;
}
