/* alert_store: the alert keys in Redis, one Lua script per operation (see
 * alert_store.h for the key layout, common/lua/ for the scripts). Numbers
 * travel as their shortest round-trip decimal text, so the alert JSON built
 * in Lua carries the exact price, threshold and timestamp (cjson alone would
 * keep 14 digits). */
#include "alert_store.h"

#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_history.h"
#include "buf.h"
#include "store_lua.h"

#define ALERT_STORE_NUM_MAX 32
#define ALERT_STORE_KEY_MAX 128
#define ALERT_STORE_TICKS_BYTES (ALERT_STORE_BATCH_MAX * 96)

#define ALERT_STORE_SCRIPT(name) {(const char *)store_lua_##name, {0}}

static struct redis_script alert_store_create_lua = ALERT_STORE_SCRIPT(create);
static struct redis_script alert_store_delete_lua = ALERT_STORE_SCRIPT(delete);
static struct redis_script alert_store_list_lua = ALERT_STORE_SCRIPT(list);
static struct redis_script alert_store_claim_lua = ALERT_STORE_SCRIPT(claim);
static struct redis_script alert_store_outbox_read_lua = ALERT_STORE_SCRIPT(outbox_read);

/* The shortest decimal text that reads back as d (at most 17 digits). */
static void alert_store_fmt_num(double d, char out[ALERT_STORE_NUM_MAX])
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, ALERT_STORE_NUM_MAX, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* Copies a string reply element into out[outlen]; -1 if not a string or too long. */
static int alert_store_copy(const redisReply *e, char *out, size_t outlen)
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

int alert_store_delete(struct redis_conn *rc, const char *user_id, const char *alert_id,
                       char *err, size_t errlen)
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
        alert_store_copy(e[3], type, sizeof(type)) != 0 ||
        alert_type_parse(type, &rec->type) != 0)
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

int alert_store_list(struct redis_conn *rc, const char *user_id, struct alert_record *out,
                     int max, char *err, size_t errlen)
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

/* Fills claim c from three reply elements (id, payload, user_id). An entry
 * that does not fit keeps payload_len 0 so callers skip it. */
static void alert_store_fill_claim(redisReply **e, struct alert_claim *c)
{
    c->payload_len = 0;
    c->payload[0] = '\0';
    if (alert_store_copy(e[0], c->outbox_id, sizeof(c->outbox_id)) != 0)
        c->outbox_id[0] = '\0';
    if (alert_store_copy(e[2], c->user_id, sizeof(c->user_id)) != 0)
        c->user_id[0] = '\0';
    if (c->outbox_id[0] == '\0' || c->user_id[0] == '\0')
        return;
    if (alert_store_copy(e[1], c->payload, sizeof(c->payload)) == 0)
        c->payload_len = e[1]->len;
}

/* Appends "TICKER price timestamp " per tick; -1 on an invalid tick. */
static int alert_store_pack_ticks(const struct alert_tick *ticks, int n, struct buf *b)
{
    char p[ALERT_STORE_NUM_MAX], ts[ALERT_STORE_NUM_MAX];

    for (int i = 0; i < n; i++) {
        if (!msg_ticker_valid(ticks[i].ticker) || !isfinite(ticks[i].price) ||
            ticks[i].price <= 0 || !isfinite(ticks[i].timestamp) || ticks[i].timestamp <= 0)
            return -1;
        alert_store_fmt_num(ticks[i].price, p);
        alert_store_fmt_num(ticks[i].timestamp, ts);
        if (buf_printf(b, "%s %s %s ", ticks[i].ticker, p, ts) != 0)
            return -1;
    }
    return 0;
}

int alert_store_claim_batch(struct redis_conn *rc, const struct alert_tick *ticks, int nticks,
                            struct alert_claim *out, int max, int *ticks_done, char *err,
                            size_t errlen)
{
    const char *keys[1] = {ALERT_STORE_OUTBOX};
    const char *args[5];
    char maxs[16], hmax[16], httl[16];
    redisReply *r = NULL;
    struct buf b;
    int n = -1;

    *ticks_done = 0;
    buf_init(&b, ALERT_STORE_TICKS_BYTES);
    if (nticks <= 0 || max <= 0) {
        n = 0;
        goto out;
    }
    if (nticks > ALERT_STORE_BATCH_MAX)
        nticks = ALERT_STORE_BATCH_MAX;
    if (max > ALERT_STORE_CLAIM_MAX)
        max = ALERT_STORE_CLAIM_MAX; /* Lua's unpack() limit is ~8000 */
    if (alert_store_pack_ticks(ticks, nticks, &b) != 0) {
        snprintf(err, errlen, "claim: invalid tick");
        goto out;
    }
    snprintf(maxs, sizeof(maxs), "%d", max);
    snprintf(hmax, sizeof(hmax), "%d", ALERT_HISTORY_MAX);
    snprintf(httl, sizeof(httl), "%d", ALERT_HISTORY_TTL_S);
    args[0] = maxs, args[1] = hmax, args[2] = httl, args[3] = b.data;
    args[4] = ALERT_MSG_TEXT_FORMAT;
    r = redis_script_call(rc, &alert_store_claim_lua, 1, keys, 5, args);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || (r->elements - 1) % 3 != 0 ||
        (r->elements - 1) / 3 > (size_t)max) {
        redis_reply_fail(rc, r, "claim", err, errlen);
        goto out;
    }
    *ticks_done = (int)r->element[0]->integer;
    for (n = 0; (size_t)(1 + 3 * n) < r->elements; n++)
        alert_store_fill_claim(&r->element[1 + 3 * n], &out[n]);
out:
    if (r != NULL)
        freeReplyObject(r);
    buf_free(&b);
    return n;
}

int alert_store_outbox_ack_many(struct redis_conn *rc, const char *const *outbox_ids, int n,
                                char *err, size_t errlen)
{
    const char **argv = NULL;
    redisReply *r = NULL;
    int rv = -1;

    if (n <= 0 || n > ALERT_STORE_ACK_MAX) {
        snprintf(err, errlen, "ack: count %d out of range", n);
        return -1;
    }
    argv = malloc(sizeof(*argv) * (size_t)(n + 2));
    if (argv == NULL) {
        snprintf(err, errlen, "ack: out of memory");
        return -1;
    }
    argv[0] = "XDEL";
    argv[1] = ALERT_STORE_OUTBOX;
    memcpy(argv + 2, outbox_ids, sizeof(*argv) * (size_t)n);
    r = redis_conn_argv(rc, n + 2, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        redis_reply_fail(rc, r, "ack", err, errlen);
        goto out;
    }
    rv = 0;
out:
    if (r != NULL)
        freeReplyObject(r);
    free(argv);
    return rv;
}

int alert_store_outbox_read(struct redis_conn *rc, const char *after_id, long min_age_ms,
                            struct alert_claim *out, int max, char *err, size_t errlen)
{
    const char *keys[1] = {ALERT_STORE_OUTBOX};
    const char *args[3];
    char age[24], maxs[16];
    redisReply *r;
    int n = -1;

    if (max <= 0)
        return 0;
    snprintf(age, sizeof(age), "%ld", min_age_ms < 0 ? 0 : min_age_ms);
    snprintf(maxs, sizeof(maxs), "%d", max);
    args[0] = after_id, args[1] = age, args[2] = maxs;
    r = redis_script_call(rc, &alert_store_outbox_read_lua, 1, keys, 3, args);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0 ||
        r->elements / 3 > (size_t)max) {
        redis_reply_fail(rc, r, "outbox read", err, errlen);
        goto out;
    }
    for (n = 0; (size_t)(3 * n) < r->elements; n++)
        alert_store_fill_claim(&r->element[3 * n], &out[n]);
out:
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

long alert_store_outbox_len(struct redis_conn *rc)
{
    redisReply *r = redis_conn_command(rc, "XLEN %s", ALERT_STORE_OUTBOX);
    long n = -1;

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        n = (long)r->integer;
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
