/* alert_store: the alert keys in Redis, one Lua script per operation (see
 * alert_store.h for the key layout). Numbers travel as their shortest
 * round-trip decimal text, so the alert JSON built in Lua carries the exact
 * price, threshold and timestamp (cjson alone would keep 14 digits). */
#include "alert_store.h"

#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define ALERT_STORE_HISTORY_TTL "604800" /* 7 days */
#define ALERT_STORE_NUM_MAX 32
#define ALERT_STORE_KEY_MAX 128
#define ALERT_STORE_TICKS_BYTES (ALERT_STORE_BATCH_MAX * 96)

/* KEYS alert:{id} user_alerts:{u} ticker_alerts:{t} alert_idx:{t}:{type}
 *      [alert_idem:{u}:{key}]
 * ARGV id user ticker threshold type created_at max [key_ttl_s]
 * -> 1 stored, 0 limit, or the id stored earlier under the idempotency key */
static struct redis_script alert_store_create_lua = {
    "if KEYS[5] and not redis.call('SET', KEYS[5], ARGV[1], 'NX', 'EX', ARGV[8]) then\n"
    "  return redis.call('GET', KEYS[5])\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  if KEYS[5] then redis.call('DEL', KEYS[5]) end\n"
    "  return redis.error_reply('ERR alert id already exists')\n"
    "end\n"
    "if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[7]) then\n"
    "  if KEYS[5] then redis.call('DEL', KEYS[5]) end\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'user_id', ARGV[2], 'ticker', ARGV[3],\n"
    "  'threshold', ARGV[4], 'type', ARGV[5], 'created_at', ARGV[6])\n"
    "redis.call('SADD', KEYS[2], ARGV[1])\n"
    "redis.call('SADD', KEYS[3], ARGV[1])\n"
    "redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])\n"
    "return 1\n",
    {0}};

/* KEYS alert:{id} user_alerts:{u}  ARGV id user -> 1 deleted, 0 not found */
static struct redis_script alert_store_delete_lua = {
    "local h = redis.call('HMGET', KEYS[1], 'user_id', 'ticker')\n"
    "if h[1] ~= ARGV[2] then return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('SREM', KEYS[2], ARGV[1])\n"
    "if h[2] then\n"
    "  redis.call('SREM', 'ticker_alerts:' .. h[2], ARGV[1])\n"
    "  redis.call('ZREM', 'alert_idx:' .. h[2] .. ':above', ARGV[1])\n"
    "  redis.call('ZREM', 'alert_idx:' .. h[2] .. ':below', ARGV[1])\n"
    "end\n"
    "return 1\n",
    {0}};

/* KEYS user_alerts:{u}  ARGV user max -> flat id ticker threshold type
 * created_at, newest first (ties by id) */
static struct redis_script alert_store_list_lua = {
    "local rows = {}\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local h = redis.call('HMGET', 'alert:' .. id, 'user_id', 'ticker', 'threshold',\n"
    "    'type', 'created_at')\n"
    "  if h[1] == ARGV[1] and h[2] and h[3] and h[4] then\n"
    "    local c = h[5] or '0'\n"
    "    rows[#rows + 1] = {id, h[2], h[3], h[4], c, tonumber(c) or 0}\n"
    "  end\n"
    "end\n"
    "table.sort(rows, function(a, b)\n"
    "  if a[6] ~= b[6] then return a[6] > b[6] end\n"
    "  return a[1] < b[1]\n"
    "end)\n"
    "local out = {}\n"
    "for i = 1, math.min(#rows, tonumber(ARGV[2])) do\n"
    "  for j = 1, 5 do out[#out + 1] = rows[i][j] end\n"
    "end\n"
    "return out\n",
    {0}};

/* KEYS alerts_outbox alert_seq  ARGV max history_max history_ttl ticks,
 * ticks = "TICKER price timestamp " repeated. Fires strictly: above when
 * threshold < price, below when threshold > price, each index read with
 * ZRANGEBYSCORE ... LIMIT (O(log n + k)); the k ids leave every key in a
 * few multi-argument calls, history writes are grouped per user. Ticker
 * (checked by the caller), type and message need no JSON escaping; ids are
 * escaped by cjson unless they are plain [A-Za-z0-9_-].
 * -> {ticks_done, outbox_id, payload, user_id, ...} */
static struct redis_script alert_store_claim_lua = {
    "local max = tonumber(ARGV[1])\n"
    "local hmax = tonumber(ARGV[2]) - 1\n"
    "local out = {0}\n"
    "local n = 0\n"
    "local hist, users = {}, {}\n"
    "local function jstr(s)\n"
    "  if string.find(s, '^[%w_%-]+$') then return '\"' .. s .. '\"' end\n"
    "  return cjson.encode(s)\n"
    "end\n"
    "local function jnum(s)\n"
    "  if string.match(s, '^%-?%d[%d%.eE%+%-]*$') then return s end\n"
    "  return cjson.encode(tonumber(s))\n"
    "end\n"
    "local function fire(idx, ids, ticker, typ, price, pnum, ts)\n"
    "  local keys, rows = {}, {}\n"
    "  for i, id in ipairs(ids) do\n"
    "    keys[i] = 'alert:' .. id\n"
    "    local h = redis.call('HMGET', keys[i], 'user_id', 'threshold')\n"
    "    local thr = h[2] and tonumber(h[2])\n"
    "    if h[1] and thr then rows[#rows + 1] = {id, h[1], h[2], thr} end\n"
    "  end\n"
    "  redis.call('DEL', unpack(keys))\n"
    "  redis.call('ZREM', idx, unpack(ids))\n"
    "  redis.call('SREM', 'ticker_alerts:' .. ticker, unpack(ids))\n"
    "  if #rows == 0 then return end\n"
    "  local seq = redis.call('INCRBY', KEYS[2], #rows) - #rows\n"
    "  for _, r in ipairs(rows) do\n"
    "    local id, user = r[1], r[2]\n"
    "    seq = seq + 1\n"
    "    redis.call('SREM', 'user_alerts:' .. user, id)\n"
    "    local msg = string.format('%s is %s $%.2f (Current: $%.2f)', ticker, typ, r[4], pnum)\n"
    "    local json = '{\"alert_id\":' .. jstr(id) .. ',\"user_id\":' .. jstr(user) ..\n"
    "      ',\"ticker\":\"' .. ticker .. '\",\"price\":' .. price .. ',\"threshold\":' ..\n"
    "      jnum(r[3]) .. ',\"type\":\"' .. typ .. '\",\"timestamp\":' .. ts ..\n"
    "      ',\"message\":\"' .. msg .. '\",\"seq\":' .. string.format('%.0f', seq) .. '}'\n"
    "    out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'payload', json, 'user_id', user)\n"
    "    out[#out + 1] = json\n"
    "    out[#out + 1] = user\n"
    "    if not hist[user] then hist[user] = {}; users[#users + 1] = user end\n"
    "    table.insert(hist[user], json)\n"
    "  end\n"
    "  n = n + #ids\n"
    "end\n"
    "local done = 0\n"
    "for ticker, price, ts in string.gmatch(ARGV[4], '(%S+) (%S+) (%S+) ') do\n"
    "  if n >= max then break end\n"
    "  local pnum = tonumber(price)\n"
    "  local idx = 'alert_idx:' .. ticker .. ':above'\n"
    "  local ids = redis.call('ZRANGEBYSCORE', idx, '-inf', '(' .. price, 'LIMIT', 0, max - n)\n"
    "  if #ids > 0 then fire(idx, ids, ticker, 'above', price, pnum, ts) end\n"
    "  if n < max then\n"
    "    idx = 'alert_idx:' .. ticker .. ':below'\n"
    "    ids = redis.call('ZRANGEBYSCORE', idx, '(' .. price, '+inf', 'LIMIT', 0, max - n)\n"
    "    if #ids > 0 then fire(idx, ids, ticker, 'below', price, pnum, ts) end\n"
    "  end\n"
    "  if n >= max then break end\n"
    "  done = done + 1\n"
    "end\n"
    "for _, user in ipairs(users) do\n"
    "  local key = 'alert_history:' .. user\n"
    "  if redis.call('LPUSH', key, unpack(hist[user])) > hmax + 1 then\n"
    "    redis.call('LTRIM', key, 0, hmax)\n"
    "  end\n"
    "  redis.call('EXPIRE', key, ARGV[3])\n"
    "end\n"
    "out[1] = done\n"
    "return out\n",
    {0}};

/* KEYS alerts_outbox  ARGV after_id min_age_ms max -> flat id payload
 * user_id, oldest first, entries at least min_age_ms old by Redis' clock */
static struct redis_script alert_store_outbox_read_lua = {
    "local t = redis.call('TIME')\n"
    "local last = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "last = last - tonumber(ARGV[2])\n"
    "if last < 0 then return {} end\n"
    "local start = '-'\n"
    "if ARGV[1] ~= '0' then start = '(' .. ARGV[1] end\n"
    "local rows = redis.call('XRANGE', KEYS[1], start, string.format('%.0f', last),\n"
    "  'COUNT', ARGV[3])\n"
    "local out = {}\n"
    "for _, e in ipairs(rows) do\n"
    "  local f = {}\n"
    "  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end\n"
    "  out[#out + 1] = e[1]\n"
    "  out[#out + 1] = f['payload'] or ''\n"
    "  out[#out + 1] = f['user_id'] or ''\n"
    "end\n"
    "return out\n",
    {0}};

/* KEYS alert_history:{u}  ARGV after_seq -> flat seq payload, newest first */
static struct redis_script alert_store_history_lua = {
    "local after = tonumber(ARGV[1])\n"
    "local out = {}\n"
    "for _, p in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do\n"
    "  local seq = tonumber(string.match(p, '\"seq\":(%d+)')) or 0\n"
    "  if seq > after then\n"
    "    out[#out + 1] = string.format('%.0f', seq)\n"
    "    out[#out + 1] = p\n"
    "  end\n"
    "end\n"
    "return out\n",
    {0}};

/* The shortest decimal text that reads back as d (at most 17 digits). */
static void alert_store_fmt_num(double d, char out[ALERT_STORE_NUM_MAX])
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, ALERT_STORE_NUM_MAX, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* Fills err from a NULL or error reply; returns -1 for the caller. */
static int alert_store_fail(struct redis_conn *rc, const redisReply *r, const char *what,
                            char *err, size_t errlen)
{
    if (r == NULL)
        snprintf(err, errlen, "%s: redis unavailable: %s", what, redis_conn_errstr(rc));
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(err, errlen, "%s: redis error: %s", what, r->str);
    else
        snprintf(err, errlen, "%s: unexpected reply type %d", what, r->type);
    return -1;
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

int alert_store_create(struct redis_conn *rc, const struct alert_record *rec, int max_per_user,
                       char *err, size_t errlen)
{
    struct alert_record copy = *rec; /* without a key it is never written */

    return alert_store_create_once(rc, &copy, max_per_user, NULL, 0, err, errlen);
}

int alert_store_create_once(struct redis_conn *rc, struct alert_record *rec, int max_per_user,
                            const char *idem_key, int idem_ttl_s, char *err, size_t errlen)
{
    char k_alert[ALERT_STORE_KEY_MAX], k_user[ALERT_STORE_KEY_MAX];
    char k_ticker[ALERT_STORE_KEY_MAX], k_idx[ALERT_STORE_KEY_MAX];
    char k_idem[ALERT_STORE_KEY_MAX + ALERT_STORE_IDEM_MAX];
    char thr[ALERT_STORE_NUM_MAX], created[ALERT_STORE_NUM_MAX], maxs[16], ttl[16];
    const char *keys[5], *args[8];
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
    args[7] = ttl;
    r = redis_script_call(rc, &alert_store_create_lua, idem_key != NULL ? 5 : 4, keys,
                          idem_key != NULL ? 8 : 7, args);
    if (r != NULL && r->type == REDIS_REPLY_STRING && msg_id_valid(r->str)) {
        snprintf(rec->alert_id, sizeof(rec->alert_id), "%s", r->str);
        rv = ALERT_STORE_REPLAY;
        goto out;
    }
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        rv = alert_store_fail(rc, r, "create", err, errlen);
        goto out;
    }
    rv = r->integer == 1 ? 0 : ALERT_STORE_LIMIT;
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
        rv = alert_store_fail(rc, r, "delete", err, errlen);
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
        n = alert_store_fail(rc, r, "list", err, errlen);
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
    const char *keys[2] = {ALERT_STORE_OUTBOX, "alert_seq"};
    const char *args[4];
    char maxs[16], hmax[16];
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
    snprintf(hmax, sizeof(hmax), "%d", ALERT_STORE_HISTORY_MAX);
    args[0] = maxs, args[1] = hmax, args[2] = ALERT_STORE_HISTORY_TTL, args[3] = b.data;
    r = redis_script_call(rc, &alert_store_claim_lua, 2, keys, 4, args);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || (r->elements - 1) % 3 != 0 ||
        (r->elements - 1) / 3 > (size_t)max) {
        alert_store_fail(rc, r, "claim", err, errlen);
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

int alert_store_claim(struct redis_conn *rc, const char *ticker, double price, double timestamp,
                      struct alert_claim *out, int max, char *err, size_t errlen)
{
    struct alert_tick t = {ticker, price, timestamp};
    int done = 0;

    return alert_store_claim_batch(rc, &t, 1, out, max, &done, err, errlen);
}

int alert_store_outbox_ack(struct redis_conn *rc, const char *outbox_id, char *err,
                           size_t errlen)
{
    return alert_store_outbox_ack_many(rc, &outbox_id, 1, err, errlen);
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
        alert_store_fail(rc, r, "ack", err, errlen);
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
        alert_store_fail(rc, r, "outbox read", err, errlen);
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

int alert_store_history(struct redis_conn *rc, const char *user_id, long long after_seq,
                        void (*cb)(const char *payload, size_t len, long long seq, void *ud),
                        void *ud, char *err, size_t errlen)
{
    char k_hist[ALERT_STORE_KEY_MAX], after[24];
    const char *keys[1], *args[1];
    redisReply *r;
    int n = -1;

    if (!msg_id_valid(user_id))
        return 0;
    snprintf(k_hist, sizeof(k_hist), "alert_history:%s", user_id);
    snprintf(after, sizeof(after), "%lld", after_seq);
    keys[0] = k_hist;
    args[0] = after;
    r = redis_script_call(rc, &alert_store_history_lua, 1, keys, 1, args);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        alert_store_fail(rc, r, "history", err, errlen);
        goto out;
    }
    n = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        redisReply *s = r->element[i], *p = r->element[i + 1];
        if (s->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING)
            continue;
        cb(p->str, p->len, strtoll(s->str, NULL, 10), ud);
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
