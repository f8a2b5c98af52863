/* alert_store_sweep: the repair sweeps of the alert store (alert_store.h,
 * docs/key-schema.md): pending entries a create left behind, alerts past
 * their expiry, armed ids a delete left behind. Each decision is taken in
 * one slot by a script that re-checks it there, so sweeps racing each
 * other, a create or a claim are safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_store.h"
#include "alert_store_claim.h"
#include "alert_store_priv.h"
#include "log.h"

#define ALERT_STORE_SWEEP_COUNT "100" /* SCAN COUNT per page */

/* One SCAN page of hashes matching pattern; the reply (caller frees) or
 * NULL with err. */
static redisReply *alert_store_sweep_scan(struct redis_conn *rc, char cursor[REDIS_SCAN_CURSOR_MAX],
                                          const char *pattern, char *err, size_t errlen)
{
    const char *argv[6] = {"MATCH", pattern, "COUNT", ALERT_STORE_SWEEP_COUNT, "TYPE", "hash"};
    redisReply *r;

    if (cursor[0] == '\0')
        snprintf(cursor, REDIS_SCAN_CURSOR_MAX, "0");
    r = redis_conn_scan(rc, cursor, 6, argv);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        redis_reply_fail(rc, r, "sweep scan", err, errlen);
        if (r != NULL)
            freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* The tag of a key "<prefix>{<tag>}...", into out; -1 if it has none. */
static int alert_store_sweep_tag(const char *key, char *out, size_t outlen)
{
    const char *a = strchr(key, '{'), *b = a != NULL ? strchr(a, '}') : NULL;

    if (b == NULL || b == a + 1 || (size_t)(b - a - 1) >= outlen)
        return -1;
    memcpy(out, a + 1, (size_t)(b - a - 1));
    out[b - a - 1] = '\0';
    return 0;
}

static redisReply *alert_store_sweep_hgetall(struct redis_conn *rc, const char *key)
{
    const char *argv[2] = {"HGETALL", key};
    redisReply *r = redis_conn_argv(rc, 2, argv, NULL);

    if (r != NULL && (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)) {
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* HEXISTS key field: 1, 0, or -1. */
static int alert_store_sweep_hexists(struct redis_conn *rc, const char *key, const char *field)
{
    const char *argv[3] = {"HEXISTS", key, field};
    redisReply *r = redis_conn_argv(rc, 3, argv, NULL);
    int v = -1;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        v = r->integer != 0;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

/* An alert of user past its expiry (by now, the caller's clock; the script
 * checks again by Redis'): expired into its user's history, once. *claim is
 * allocated on first use (the caller frees it). 1 expired, 0 not (not armed
 * any more, or not yet by Redis' clock), -1 with err. */
static int alert_store_sweep_expire(struct redis_conn *rc, const char *user,
                                    const struct alert_record *rec, struct alert_claim **claim,
                                    char *err, size_t errlen)
{
    const char *ids[1] = {rec->alert_id};
    int n;

    if (*claim == NULL && (*claim = malloc(sizeof(**claim))) == NULL) {
        snprintf(err, errlen, "sweep: out of memory");
        return -1;
    }
    n = alert_store_expire(rc, rec->ticker, ids, 1, *claim, err, errlen);
    if (n > 0)
        log_info("alert expired", "user_id=%s alert_id=%s ticker=%s expires_at=%lld", user,
                 rec->alert_id, rec->ticker, rec->expires_at);
    return n;
}

/* One user's alerts: pending entries older than now - ALERT_STORE_PENDING_AGE_S
 * armed -> marked, else removed; alerts past their expiry expired. Returns
 * the repairs or -1 with err. */
static int alert_store_sweep_user(struct redis_conn *rc, const char *key, double now, char *err,
                                  size_t errlen)
{
    struct alert_claim *claim = NULL;
    double cutoff = now - ALERT_STORE_PENDING_AGE_S;
    char user[MSG_ID_MAX], k_ticker[ALERT_STORE_KEY_MAX], before[ALERT_STORE_NUM_MAX];
    redisReply *r;
    int fixed = 0;

    if (alert_store_sweep_tag(key, user, sizeof(user)) != 0 || !msg_id_valid(user))
        return 0;
    r = alert_store_sweep_hgetall(rc, key);
    if (r == NULL) {
        snprintf(err, errlen, "sweep: cannot read %s", key);
        return -1;
    }
    alert_store_fmt_num(cutoff, before);
    for (size_t i = 0; i + 1 < r->elements && fixed >= 0; i += 2) {
        struct alert_record rec;
        char state;
        int armed, v;
        if (r->element[i]->type != REDIS_REPLY_STRING ||
            r->element[i + 1]->type != REDIS_REPLY_STRING ||
            alert_store_parse_entry(r->element[i]->str, r->element[i + 1]->str, &rec, &state) != 0)
            continue;
        if (rec.expires_at > 0 && (double)rec.expires_at <= now) {
            v = alert_store_sweep_expire(rc, user, &rec, &claim, err, errlen);
            if (v < 0) {
                fixed = -1;
                break;
            }
            fixed += v;
            /* Not armed: fired, or in an outbox already; or pending, never
             * armed, which the pending repair below removes. */
            if (v > 0 || state != ALERT_STORE_STATE_PENDING)
                continue;
        }
        if (state != ALERT_STORE_STATE_PENDING || !(rec.created_at < cutoff))
            continue;
        snprintf(k_ticker, sizeof(k_ticker), "ticker_alerts:{%s}", rec.ticker);
        armed = alert_store_sweep_hexists(rc, k_ticker, rec.alert_id);
        if (armed < 0) {
            fixed = redis_reply_fail(rc, NULL, "sweep", err, errlen);
            break;
        }
        v = armed ? alert_store_mark(rc, user, rec.alert_id, err, errlen)
                  : alert_store_unpend(rc, user, rec.alert_id, before, err, errlen);
        if (v < 0)
            fixed = -1;
        else if (v == 1) {
            log_info("pending alert repaired", "user_id=%s alert_id=%s action=%s", user,
                     rec.alert_id, armed ? "marked" : "removed");
            fixed++;
        }
    }
    freeReplyObject(r);
    free(claim);
    return fixed;
}

/* Armed ids of one ticker whose user entry is gone: disarmed. Returns the
 * repairs or -1 with err. */
static int alert_store_sweep_ticker(struct redis_conn *rc, const char *key, char *err,
                                    size_t errlen)
{
    char ticker[MSG_TICKER_MAX], user[MSG_ID_MAX], k_user[ALERT_STORE_KEY_MAX];
    redisReply *r;
    int fixed = 0;

    if (alert_store_sweep_tag(key, ticker, sizeof(ticker)) != 0 || !msg_ticker_valid(ticker))
        return 0;
    r = alert_store_sweep_hgetall(rc, key);
    if (r == NULL) {
        snprintf(err, errlen, "sweep: cannot read %s", key);
        return -1;
    }
    for (size_t i = 0; i + 1 < r->elements && fixed >= 0; i += 2) {
        const redisReply *id = r->element[i], *v = r->element[i + 1];
        int owned;
        if (id->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            sscanf(v->str, "%63s", user) != 1 || !msg_id_valid(user))
            continue;
        snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", user);
        /* The user entry is written before the id is armed: an armed id
         * without one is an orphan (a delete stopped halfway). */
        owned = alert_store_sweep_hexists(rc, k_user, id->str);
        if (owned < 0) {
            fixed = redis_reply_fail(rc, NULL, "sweep", err, errlen);
            break;
        }
        if (owned)
            continue;
        if (alert_store_disarm(rc, ticker, id->str, err, errlen) < 0) {
            fixed = -1;
            break;
        }
        log_info("orphan alert disarmed", "ticker=%s alert_id=%s", ticker, id->str);
        fixed++;
    }
    freeReplyObject(r);
    return fixed;
}

/* One SCAN page of pattern: each user (users) or ticker hash swept.
 * Returns the repairs or -1 with err. */
static int alert_store_sweep_page(struct redis_conn *rc, char cursor[REDIS_SCAN_CURSOR_MAX],
                                  const char *pattern, int users, double now, char *err,
                                  size_t errlen)
{
    redisReply *r = alert_store_sweep_scan(rc, cursor, pattern, err, errlen);
    int fixed = 0;

    if (r == NULL)
        return -1;
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        const redisReply *k = r->element[1]->element[i];
        int v;
        if (k->type != REDIS_REPLY_STRING)
            continue;
        v = users ? alert_store_sweep_user(rc, k->str, now, err, errlen)
                  : alert_store_sweep_ticker(rc, k->str, err, errlen);
        if (v < 0) {
            fixed = -1;
            break;
        }
        fixed += v;
    }
    freeReplyObject(r);
    return fixed;
}

int alert_store_sweep_step(struct redis_conn *rc, struct alert_store_sweep *s, double now,
                           char *err, size_t errlen)
{
    int a, b;

    a = alert_store_sweep_page(rc, s->user_cursor, "user_alerts:{*", 1, now, err, errlen);
    if (a < 0)
        return -1;
    b = alert_store_sweep_page(rc, s->ticker_cursor, "ticker_alerts:{*", 0, now, err, errlen);
    return b < 0 ? -1 : a + b;
}
