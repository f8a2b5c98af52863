/* alert_store: a user's alerts in Redis — create, list, delete — one Lua
 * script per operation (see alert_store.h for the key layout, common/lua/
 * for the scripts), and the helpers both sides of the store share
 * (alert_store_priv.h). Numbers travel as their shortest round-trip decimal
 * text, so the alert JSON built in Lua carries the exact price, threshold
 * and timestamp (cjson alone would keep 14 digits). */
#include "alert_store.h"

#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_store_priv.h"
#include "store_lua.h"

static struct redis_script alert_store_create_lua = ALERT_STORE_SCRIPT(create);
static struct redis_script alert_store_delete_lua = ALERT_STORE_SCRIPT(delete);
static struct redis_script alert_store_list_lua = ALERT_STORE_SCRIPT(list);

void alert_store_fmt_num(double d, char out[ALERT_STORE_NUM_MAX])
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, ALERT_STORE_NUM_MAX, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

int alert_store_copy(const redisReply *e, char *out, size_t outlen)
{
    if (e->type != REDIS_REPLY_STRING || e->len >= outlen)
        return -1;
    memcpy(out, e->str, e->len);
    out[e->len] = '\0';
    return 0;
}

int alert_store_idem_key_valid(const char *key)
{
    size_t n = 0;

    for (; key[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)key[n];
        if (n >= ALERT_STORE_IDEM_MAX - 1 ||
            !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return n > 0;
}

int alert_store_create_once(struct redis_conn *rc, struct alert_record *rec, int max_per_user,
                            const char *idem_key, int idem_ttl_s, char *err, size_t errlen)
{
    char k_alert[ALERT_STORE_KEY_MAX], k_user[ALERT_STORE_KEY_MAX];
    char k_ticker[ALERT_STORE_KEY_MAX], k_idx[ALERT_STORE_KEY_MAX];
    char k_idem[ALERT_STORE_KEY_MAX + ALERT_STORE_IDEM_MAX];
    char thr[ALERT_STORE_NUM_MAX], created[ALERT_STORE_NUM_MAX], maxs[16], ttl[16];
    char fingerprint[MSG_TICKER_MAX + ALERT_STORE_NUM_MAX + 16];
    const char *keys[5], *args[9];
    const char *type = alert_type_name(rec->type);
    redisReply *r;
    int rv;

    if (!msg_id_valid(rec->alert_id) || !msg_id_valid(rec->user_id) ||
        !msg_ticker_valid(rec->ticker) || !isfinite(rec->threshold) || rec->threshold <= 0 ||
        !isfinite(rec->created_at) || max_per_user < 0 ||
        (idem_key != NULL && (!alert_store_idem_key_valid(idem_key) || idem_ttl_s < 1))) {
        snprintf(err, errlen, "create: invalid alert record");
        return -1;
    }
    snprintf(k_alert, sizeof(k_alert), "alert:%s", rec->alert_id);
    snprintf(k_user, sizeof(k_user), "user_alerts:%s", rec->user_id);
    snprintf(k_ticker, sizeof(k_ticker), "ticker_alerts:%s", rec->ticker);
    snprintf(k_idx, sizeof(k_idx), "alert_idx:%s:%s", rec->ticker, type);
    alert_store_fmt_num(rec->threshold, thr);
    alert_store_fmt_num(rec->created_at, created);
    snprintf(maxs, sizeof(maxs), "%d", max_per_user);
    keys[0] = k_alert, keys[1] = k_user, keys[2] = k_ticker, keys[3] = k_idx;
    if (idem_key != NULL) {
        snprintf(k_idem, sizeof(k_idem), "alert_idem:%s:%s", rec->user_id, idem_key);
        keys[4] = k_idem;
    }
    args[0] = rec->alert_id, args[1] = rec->user_id, args[2] = rec->ticker, args[3] = thr;
    args[4] = type, args[5] = created, args[6] = maxs;
    snprintf(ttl, sizeof(ttl), "%d", idem_ttl_s);
    /* What the key promises: the same request. */
    snprintf(fingerprint, sizeof(fingerprint), "%s %s %s", rec->ticker, thr, type);
    args[7] = ttl, args[8] = fingerprint;
    r = redis_script_call(rc, &alert_store_create_lua, idem_key != NULL ? 5 : 4, keys,
                          idem_key != NULL ? 9 : 7, args);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_STRING && msg_id_valid(r->element[0]->str)) {
        snprintf(rec->alert_id, sizeof(rec->alert_id), "%s", r->element[0]->str);
        rv = ALERT_STORE_REPLAY;
        goto out;
    }
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        rv = redis_reply_fail(rc, r, "create", err, errlen);
        goto out;
    }
    rv = r->integer == 1 ? 0 : r->integer == 0 ? ALERT_STORE_LIMIT : ALERT_STORE_CONFLICT;
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

int alert_store_delete(struct redis_conn *rc, const char *user_id, const char *alert_id, char *err,
                       size_t errlen)
{
    char k_alert[ALERT_STORE_KEY_MAX], k_user[ALERT_STORE_KEY_MAX];
    const char *keys[2], *args[2];
    redisReply *r;
    int rv;

    if (!msg_id_valid(user_id) || !msg_id_valid(alert_id))
        return ALERT_STORE_NOTFOUND;
    snprintf(k_alert, sizeof(k_alert), "alert:%s", alert_id);
    snprintf(k_user, sizeof(k_user), "user_alerts:%s", user_id);
    keys[0] = k_alert, keys[1] = k_user;
    args[0] = alert_id, args[1] = user_id;
    r = redis_script_call(rc, &alert_store_delete_lua, 2, keys, 2, args);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        rv = redis_reply_fail(rc, r, "delete", err, errlen);
        goto out;
    }
    rv = r->integer == 1 ? 0 : ALERT_STORE_NOTFOUND;
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

/* Fills one record from five reply elements; -1 if malformed. */
static int alert_store_parse_row(redisReply **e, const char *user_id, struct alert_record *rec)
{
    char num[ALERT_STORE_NUM_MAX], type[8];
    char *end = NULL;

    memset(rec, 0, sizeof(*rec));
    snprintf(rec->user_id, sizeof(rec->user_id), "%s", user_id);
    if (alert_store_copy(e[0], rec->alert_id, sizeof(rec->alert_id)) != 0 ||
        alert_store_copy(e[1], rec->ticker, sizeof(rec->ticker)) != 0 ||
        alert_store_copy(e[3], type, sizeof(type)) != 0 || alert_type_parse(type, &rec->type) != 0)
        return -1;
    if (alert_store_copy(e[2], num, sizeof(num)) != 0)
        return -1;
    rec->threshold = strtod(num, &end);
    if (end == num || *end != '\0')
        return -1;
    if (alert_store_copy(e[4], num, sizeof(num)) != 0)
        return -1;
    rec->created_at = strtod(num, &end);
    return end == num || *end != '\0' ? -1 : 0;
}

int alert_store_list(struct redis_conn *rc, const char *user_id, struct alert_record *out, int max,
                     char *err, size_t errlen)
{
    char k_user[ALERT_STORE_KEY_MAX], maxs[16];
    const char *keys[1], *args[2];
    redisReply *r;
    int n = 0;

    if (!msg_id_valid(user_id) || max <= 0)
        return 0;
    snprintf(k_user, sizeof(k_user), "user_alerts:%s", user_id);
    snprintf(maxs, sizeof(maxs), "%d", max);
    keys[0] = k_user;
    args[0] = user_id, args[1] = maxs;
    r = redis_script_call(rc, &alert_store_list_lua, 1, keys, 2, args);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 5 != 0) {
        n = redis_reply_fail(rc, r, "list", err, errlen);
        goto out;
    }
    for (size_t i = 0; i + 5 <= r->elements && n < max; i += 5) {
        if (alert_store_parse_row(&r->element[i], user_id, &out[n]) == 0)
            n++;
    }
out:
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

int alert_store_new_id(char out[37])
{
    unsigned char b[16];
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;

    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[j++] = '-';
        out[j++] = hex[b[i] >> 4];
        out[j++] = hex[b[i] & 0x0f];
    }
    out[j] = '\0';
    return 0;
}
