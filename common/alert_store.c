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
#include "log.h"
#include "store_lua.h"

static struct redis_script alert_store_create_lua = ALERT_STORE_SCRIPT(create);
static struct redis_script alert_store_delete_lua = ALERT_STORE_SCRIPT(delete);
static struct redis_script alert_store_arm_lua = ALERT_STORE_SCRIPT(arm);
static struct redis_script alert_store_mark_lua = ALERT_STORE_SCRIPT(mark);
static struct redis_script alert_store_unpend_lua = ALERT_STORE_SCRIPT(unpend);
static struct redis_script alert_store_disarm_lua = ALERT_STORE_SCRIPT(disarm);

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

/* Runs one script and keeps its reply; NULL when Redis failed (err filled). */
static redisReply *alert_store_run(struct redis_conn *rc, struct redis_script *s, int nkeys,
                                   const char **keys, int nargs, const char **args,
                                   const char *what, char *err, size_t errlen)
{
    redisReply *r = redis_script_call(rc, s, nkeys, keys, nargs, args);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        redis_reply_fail(rc, r, what, err, errlen);
        if (r != NULL)
            freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Runs a script for its integer reply: the integer, or -1 with err. */
static long long alert_store_run_int(struct redis_conn *rc, struct redis_script *s, int nkeys,
                                     const char **keys, int nargs, const char **args,
                                     const char *what, char *err, size_t errlen)
{
    redisReply *r = alert_store_run(rc, s, nkeys, keys, nargs, args, what, err, errlen);
    long long v = -1;

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else
        redis_reply_fail(rc, r, what, err, errlen);
    freeReplyObject(r);
    return v;
}

/* Step 2 of a create: the ticker's side (idempotent). 0 or -1 with err. */
static int alert_store_arm(struct redis_conn *rc, const char *id, const char *user,
                           const char *ticker, const char *thr, const char *type, char *err,
                           size_t errlen)
{
    char k_ticker[ALERT_STORE_KEY_MAX], k_idx[ALERT_STORE_KEY_MAX];
    const char *keys[2] = {k_ticker, k_idx};
    const char *args[4] = {id, user, thr, type};

    snprintf(k_ticker, sizeof(k_ticker), "ticker_alerts:{%s}", ticker);
    snprintf(k_idx, sizeof(k_idx), "alert_idx:{%s}:%s", ticker, type);
    return alert_store_run_int(rc, &alert_store_arm_lua, 2, keys, 4, args, "create: arm", err,
                               errlen) == 1
               ? 0
               : -1;
}

/* Step 3 of a create (and the repair sweep): pending -> armed. 1 armed, 0
 * the entry was removed while pending, 2 it fired or was deleted after it
 * was armed, -1 with err. */
int alert_store_mark(struct redis_conn *rc, const char *user, const char *id, char *err,
                     size_t errlen)
{
    char k_user[ALERT_STORE_KEY_MAX], k_unpended[ALERT_STORE_KEY_MAX];
    const char *keys[2] = {k_user, k_unpended};
    const char *args[1] = {id};

    snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", user);
    snprintf(k_unpended, sizeof(k_unpended), "alert_unpended:{%s}", user);
    return (int)alert_store_run_int(rc, &alert_store_mark_lua, 2, keys, 1, args, "create: mark",
                                    err, errlen);
}

/* Removes a pending entry (created before created_before when not NULL).
 * 1 removed, 0 not, -1 with err. */
int alert_store_unpend(struct redis_conn *rc, const char *user, const char *id,
                       const char *created_before, char *err, size_t errlen)
{
    char k_user[ALERT_STORE_KEY_MAX], k_unpended[ALERT_STORE_KEY_MAX];
    const char *keys[2] = {k_user, k_unpended};
    const char *args[3] = {id, ALERT_STORE_UNPENDED_TTL_S, created_before};

    snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", user);
    snprintf(k_unpended, sizeof(k_unpended), "alert_unpended:{%s}", user);
    return (int)alert_store_run_int(rc, &alert_store_unpend_lua, 2, keys,
                                    created_before != NULL ? 3 : 2, args, "create: undo", err,
                                    errlen);
}

/* Step 2 of a delete (and the orphan sweep): the ticker's side. 1 it was
 * armed, 0 not, -1 with err. */
int alert_store_disarm(struct redis_conn *rc, const char *ticker, const char *id, char *err,
                       size_t errlen)
{
    char k_ticker[ALERT_STORE_KEY_MAX], k_above[ALERT_STORE_KEY_MAX], k_below[ALERT_STORE_KEY_MAX];
    const char *keys[3] = {k_ticker, k_above, k_below};
    const char *args[1] = {id};

    snprintf(k_ticker, sizeof(k_ticker), "ticker_alerts:{%s}", ticker);
    snprintf(k_above, sizeof(k_above), "alert_idx:{%s}:above", ticker);
    snprintf(k_below, sizeof(k_below), "alert_idx:{%s}:below", ticker);
    return (int)alert_store_run_int(rc, &alert_store_disarm_lua, 3, keys, 1, args, "disarm", err,
                                    errlen);
}

/* Steps 2 and 3 for an entry step 1 left pending. 0, or -1 with err. */
static int alert_store_arm_and_mark(struct redis_conn *rc, const struct alert_record *rec,
                                    const char *thr, char *err, size_t errlen)
{
    const char *type = alert_type_name(rec->type);
    char ignored[ALERT_STORE_ERR_MAX];
    int m;

    if (alert_store_arm(rc, rec->alert_id, rec->user_id, rec->ticker, thr, type, err, errlen) !=
        0) {
        /* Best effort: if the arm did run (a lost reply), the orphan sweep
         * disarms what this leaves; if this fails, the repair sweep. */
        alert_store_unpend(rc, rec->user_id, rec->alert_id, NULL, ignored, sizeof(ignored));
        return -1;
    }
    m = alert_store_mark(rc, rec->user_id, rec->alert_id, err, errlen);
    /* m == 2: armed, then fired (or deleted) before this step: stored. */
    if (m == 0) {
        /* The repair sweep removed it (this create stalled for a minute):
         * take the ticker side back so nothing unlisted stays armed. */
        alert_store_disarm(rc, rec->ticker, rec->alert_id, ignored, sizeof(ignored));
        snprintf(err, errlen, "create: the pending alert was removed before it was armed");
        return -1;
    }
    /* m < 0: armed but still marked pending; the repair sweep marks it. */
    return 0;
}

int alert_store_create_once(struct redis_conn *rc, struct alert_record *rec, int max_per_user,
                            const char *idem_key, int idem_ttl_s, char *err, size_t errlen)
{
    char k_user[ALERT_STORE_KEY_MAX], k_unpended[ALERT_STORE_KEY_MAX];
    char k_idem[ALERT_STORE_KEY_MAX + ALERT_STORE_IDEM_MAX];
    char thr[ALERT_STORE_NUM_MAX], created[ALERT_STORE_NUM_MAX], maxs[16], ttl[16];
    char fingerprint[MSG_TICKER_MAX + ALERT_STORE_NUM_MAX + 16];
    const char *keys[3], *args[8];
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
    snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", rec->user_id);
    alert_store_fmt_num(rec->threshold, thr);
    alert_store_fmt_num(rec->created_at, created);
    snprintf(maxs, sizeof(maxs), "%d", max_per_user);
    keys[0] = k_user;
    if (idem_key != NULL) {
        snprintf(k_idem, sizeof(k_idem), "alert_idem:{%s}:%s", rec->user_id, idem_key);
        snprintf(k_unpended, sizeof(k_unpended), "alert_unpended:{%s}", rec->user_id);
        keys[1] = k_idem;
        keys[2] = k_unpended;
    }
    args[0] = rec->alert_id, args[1] = rec->ticker, args[2] = thr, args[3] = type;
    args[4] = created, args[5] = maxs;
    snprintf(ttl, sizeof(ttl), "%d", idem_ttl_s);
    /* What the key promises: the same request. */
    snprintf(fingerprint, sizeof(fingerprint), "%s %s %s", rec->ticker, thr, type);
    args[6] = ttl, args[7] = fingerprint;
    r = redis_script_call(rc, &alert_store_create_lua, idem_key != NULL ? 3 : 1, keys,
                          idem_key != NULL ? 8 : 6, args);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && msg_id_valid(r->element[0]->str) &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        snprintf(rec->alert_id, sizeof(rec->alert_id), "%s", r->element[0]->str);
        rv = ALERT_STORE_REPLAY;
        /* The first request stopped after step 1: finish it for the stored id
         * (the fingerprint matched, so ticker, threshold and type are these). */
        if (r->element[1]->str[0] == ALERT_STORE_STATE_PENDING &&
            alert_store_arm_and_mark(rc, rec, thr, err, errlen) != 0)
            rv = -1;
        goto out;
    }
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        rv = redis_reply_fail(rc, r, "create", err, errlen);
        goto out;
    }
    if (r->integer == 1)
        rv = alert_store_arm_and_mark(rc, rec, thr, err, errlen);
    else
        rv = r->integer == 0 ? ALERT_STORE_LIMIT : ALERT_STORE_CONFLICT;
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

int alert_store_delete(struct redis_conn *rc, const char *user_id, const char *alert_id, char *err,
                       size_t errlen)
{
    char k_user[ALERT_STORE_KEY_MAX], ticker[MSG_TICKER_MAX];
    char ignored[ALERT_STORE_ERR_MAX];
    const char *keys[1] = {k_user};
    const char *args[1] = {alert_id};
    redisReply *r;
    int rv = 0;

    if (!msg_id_valid(user_id) || !msg_id_valid(alert_id))
        return ALERT_STORE_NOTFOUND;
    snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", user_id);
    r = alert_store_run(rc, &alert_store_delete_lua, 1, keys, 1, args, "delete", err, errlen);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER) {
        rv = ALERT_STORE_NOTFOUND;
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        rv = redis_reply_fail(rc, r, "delete", err, errlen);
        goto out;
    }
    /* Step 2. If it fails the alert is an orphan: skipped if it fires,
     * disarmed by the orphan sweep. The user's delete is done either way. */
    if (alert_store_copy(r->element[0], ticker, sizeof(ticker)) == 0 && msg_ticker_valid(ticker) &&
        alert_store_disarm(rc, ticker, alert_id, ignored, sizeof(ignored)) < 0)
        log_warn("disarm failed, left to the sweep", "alert_id=%s error=\"%s\"", alert_id, ignored);
out:
    freeReplyObject(r);
    return rv;
}

int alert_store_parse_entry(const char *id, const char *entry, struct alert_record *rec,
                            char *state)
{
    char ticker[MSG_TICKER_MAX], thr[ALERT_STORE_NUM_MAX], type[8], created[ALERT_STORE_NUM_MAX];
    char st[2], *end = NULL;

    memset(rec, 0, sizeof(*rec));
    /* The widths are the buffers' sizes minus one (message.h, above). */
    if (sscanf(entry, "%31s %31s %7s %31s %1s", ticker, thr, type, created, st) != 5 ||
        !msg_id_valid(id) || !msg_ticker_valid(ticker) || alert_type_parse(type, &rec->type) != 0)
        return -1;
    snprintf(rec->alert_id, sizeof(rec->alert_id), "%s", id);
    snprintf(rec->ticker, sizeof(rec->ticker), "%s", ticker);
    rec->threshold = strtod(thr, &end);
    if (end == thr || *end != '\0')
        return -1;
    rec->created_at = strtod(created, &end);
    if (end == created || *end != '\0')
        return -1;
    *state = st[0];
    return 0;
}

static int alert_store_newest_first(const void *a, const void *b)
{
    const struct alert_record *x = a, *y = b;

    if (x->created_at != y->created_at)
        return x->created_at > y->created_at ? -1 : 1;
    return strcmp(x->alert_id, y->alert_id);
}

int alert_store_list(struct redis_conn *rc, const char *user_id, struct alert_record *out, int max,
                     char *err, size_t errlen)
{
    char k_user[ALERT_STORE_KEY_MAX];
    const char *argv[2] = {"HGETALL", k_user};
    struct alert_record *all = NULL;
    redisReply *r;
    size_t n = 0;
    int rv = -1;

    if (!msg_id_valid(user_id) || max <= 0)
        return 0;
    snprintf(k_user, sizeof(k_user), "user_alerts:{%s}", user_id);
    r = redis_conn_argv(rc, 2, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        rv = redis_reply_fail(rc, r, "list", err, errlen);
        goto out;
    }
    all = calloc(r->elements / 2 + 1, sizeof(*all));
    if (all == NULL) {
        snprintf(err, errlen, "list: out of memory");
        goto out;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        char state;
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            alert_store_parse_entry(k->str, v->str, &all[n], &state) == 0) {
            snprintf(all[n].user_id, sizeof(all[n].user_id), "%s", user_id);
            n++;
        }
    }
    qsort(all, n, sizeof(*all), alert_store_newest_first);
    if (n > (size_t)max)
        n = (size_t)max;
    memcpy(out, all, n * sizeof(*all));
    rv = (int)n;
out:
    free(all);
    if (r != NULL)
        freeReplyObject(r);
    return rv;
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
