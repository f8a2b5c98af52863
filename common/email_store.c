/* email_store: the address settings and the confirmation token of
 * email_store.h; the scripts are common/lua/email_*.lua. The token itself
 * is never stored nor logged, only its SHA-256. */
#include "email_store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "hash.h"
#include "redis.h"
#include "store_lua.h"

static struct redis_script email_set_script = {(const char *)store_lua_email_set, ""};
static struct redis_script email_issue_script = {(const char *)store_lua_email_issue, ""};
static struct redis_script email_confirm_script = {(const char *)store_lua_email_confirm, ""};
static struct redis_script email_recipient_script = {(const char *)store_lua_email_recipient, ""};

/* sha-256 of text as 64 hex digits. 0 or -1. */
static int email_sha256_hex(const char *text, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -1;
    buf_hex(md, 32, out);
    return 0;
}

int email_store_user_check(const char *user)
{
    size_t n = user != NULL ? strlen(user) : 0;

    if (n == 0 || n > EMAIL_USER_MAX)
        return -1;
    return strspn(user, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n
               ? 0
               : -1;
}

int email_store_requests_shard(const char *user)
{
    return (int)(hash_fnv1a32(user) % EMAIL_REQUESTS_SHARDS);
}

int email_store_requests_key(int k, char *out, size_t outlen)
{
    int n;

    if (k < 0 || k > EMAIL_REQUESTS_SHARDS) {
        n = -1;
    } else if (k == EMAIL_REQUESTS_SHARDS) {
        n = snprintf(out, outlen, "%s", EMAIL_REQUESTS_LEGACY_KEY);
    } else {
        n = snprintf(out, outlen, "email_requests:{email-%d}", k);
    }
    if (n < 0 || (size_t)n >= outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

int email_store_requests_index(const char *key, size_t len)
{
    char k[EMAIL_REQUESTS_KEY_MAX];

    for (int i = 0; i < EMAIL_REQUESTS_STREAMS; i++) {
        if (email_store_requests_key(i, k, sizeof(k)) == 0 && strlen(k) == len &&
            memcmp(k, key, len) == 0)
            return i;
    }
    return -1;
}

static int email_keys(const char *user, char *k1, char *k2, size_t klen)
{
    if (email_store_user_check(user) != 0)
        return -1;
    snprintf(k1, klen, "user_email:{%s}", user);
    if (k2 != NULL)
        snprintf(k2, klen, "email_rate:{%s}", user);
    return 0;
}

int email_store_new_req(char out[EMAIL_REQ_MAX + 1])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    buf_hex(b, sizeof(b), out);
    return 0;
}

int email_store_get(struct redis_conn *rc, const char *user, struct email_settings *out, char *err,
                    size_t errlen)
{
    char key[128];
    redisReply *r = NULL;
    int rv = -1;

    memset(out, 0, sizeof(*out));
    if (email_keys(user, key, NULL, sizeof(key)) != 0) {
        snprintf(err, errlen, "email settings: bad user id");
        return -1;
    }
    r = redis_conn_command(rc, "HMGET %s addr confirmed", key);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        redis_reply_fail(rc, r, "email settings", err, errlen);
        goto out;
    }
    if (r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len <= EMAIL_ADDR_MAX) {
        memcpy(out->addr, r->element[0]->str, r->element[0]->len);
        out->addr[r->element[0]->len] = '\0';
        out->confirmed =
            r->element[1]->type == REDIS_REPLY_STRING && strcmp(r->element[1]->str, "1") == 0;
    }
    rv = 0;
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

/* Step 2 of a set: the request for the notifier, on the user's shard (a
 * slot of its own: a plain XADD after the user's script, never inside it). */
static int email_store_enqueue(struct redis_conn *rc, const char *user, const char *req, char *err,
                               size_t errlen)
{
    char key[EMAIL_REQUESTS_KEY_MAX];
    redisReply *r = NULL;
    int rv = 0;

    if (email_store_requests_key(email_store_requests_shard(user), key, sizeof(key)) != 0) {
        snprintf(err, errlen, "email request: no shard key");
        return -1;
    }
    r = redis_conn_command(rc, "XADD %s MAXLEN ~ %d * user_id %s req %s", key,
                           EMAIL_REQUESTS_MAXLEN, user, req);
    if (r == NULL || r->type != REDIS_REPLY_STRING)
        rv = redis_reply_fail(rc, r, "email request", err, errlen);
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

static int email_set_reply(const redisReply *r, enum email_set_result *res, long *retry_s)
{
    const char *what;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    what = r->element[0]->str;
    if (strcmp(what, "removed") == 0)
        *res = EMAIL_SET_REMOVED;
    else if (strcmp(what, "confirmed") == 0)
        *res = EMAIL_SET_CONFIRMED;
    else if (strcmp(what, "send") == 0)
        *res = EMAIL_SET_SENDING;
    else if (strcmp(what, "limited") == 0 && r->elements == 2 &&
             r->element[1]->type == REDIS_REPLY_INTEGER) {
        *res = EMAIL_SET_LIMITED;
        *retry_s = (long)r->element[1]->integer;
    } else {
        return -1;
    }
    return 0;
}

int email_store_set(struct redis_conn *rc, const char *user, const char *addr, long rate_max,
                    long rate_window_s, enum email_set_result *res, long *retry_s, char *err,
                    size_t errlen)
{
    char k1[128], k2[128], req[EMAIL_REQ_MAX + 1], now[32], max[32], win[32];
    const char *keys[2] = {k1, k2};
    const char *args[5] = {addr != NULL ? addr : "", req, now, max, win};
    redisReply *r = NULL;
    int rv = -1;

    *retry_s = 0;
    if (email_keys(user, k1, k2, sizeof(k1)) != 0 || email_store_new_req(req) != 0) {
        snprintf(err, errlen, "email settings: bad user id or no randomness");
        return -1;
    }
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    snprintf(max, sizeof(max), "%ld", rate_max);
    snprintf(win, sizeof(win), "%ld", rate_window_s);
    r = redis_script_call(rc, &email_set_script, 2, keys, 5, args);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        redis_reply_fail(rc, r, "email settings", err, errlen);
        goto out;
    }
    if (email_set_reply(r, res, retry_s) != 0) {
        redis_reply_fail(rc, r, "email settings", err, errlen);
        goto out;
    }
    if (*res == EMAIL_SET_SENDING && email_store_enqueue(rc, user, req, err, errlen) != 0)
        goto out;
    rv = 0;
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

int email_store_issue(struct redis_conn *rc, const char *user, const char *req, long lifetime_s,
                      char token[EMAIL_TOKEN_MAX + 1], char addr[EMAIL_ADDR_MAX + 1], char *err,
                      size_t errlen)
{
    char key[128], hash[65], life[32], secret[65];
    unsigned char rnd[32];
    const char *keys[1] = {key};
    const char *args[3] = {req, hash, life};
    redisReply *r = NULL;
    int rv = -1;

    if (email_keys(user, key, NULL, sizeof(key)) != 0 || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        snprintf(err, errlen, "email token: bad user id or no randomness");
        return -1;
    }
    buf_hex(rnd, sizeof(rnd), secret);
    snprintf(token, EMAIL_TOKEN_MAX + 1, "%s.%s", user, secret);
    if (email_sha256_hex(token, strlen(token), hash) != 0) {
        snprintf(err, errlen, "email token: sha-256 failed");
        goto out;
    }
    snprintf(life, sizeof(life), "%ld", lifetime_s);
    r = redis_script_call(rc, &email_issue_script, 1, keys, 3, args);
    if (r != NULL && r->type == REDIS_REPLY_NIL) {
        rv = 0;
    } else if (r != NULL && r->type == REDIS_REPLY_STRING && r->len <= EMAIL_ADDR_MAX) {
        memcpy(addr, r->str, r->len);
        addr[r->len] = '\0';
        rv = 1;
    } else {
        redis_reply_fail(rc, r, "email token", err, errlen);
    }
out:
    if (r != NULL)
        freeReplyObject(r);
    if (rv != 1)
        token[0] = '\0';
    OPENSSL_cleanse(secret, sizeof(secret));
    return rv;
}

int email_store_confirm(struct redis_conn *rc, const char *token, char *err, size_t errlen)
{
    char user[EMAIL_USER_MAX + 1], key[128], hash[65];
    const char *dot = token != NULL ? strchr(token, '.') : NULL;
    const char *keys[1] = {key};
    const char *args[1] = {hash};
    size_t ulen;
    redisReply *r = NULL;
    int rv = -1;

    if (dot == NULL || strlen(token) > EMAIL_TOKEN_MAX || strlen(dot + 1) != 64 ||
        strspn(dot + 1, "0123456789abcdef") != 64)
        return 0;
    ulen = (size_t)(dot - token);
    if (ulen == 0 || ulen > EMAIL_USER_MAX)
        return 0;
    memcpy(user, token, ulen);
    user[ulen] = '\0';
    if (email_keys(user, key, NULL, sizeof(key)) != 0)
        return 0;
    if (email_sha256_hex(token, strlen(token), hash) != 0) {
        snprintf(err, errlen, "email confirm: sha-256 failed");
        return -1;
    }
    r = redis_script_call(rc, &email_confirm_script, 1, keys, 1, args);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= -1 && r->integer <= 1)
        rv = r->integer == -1 ? -2 : (int)r->integer;
    else
        redis_reply_fail(rc, r, "email confirm", err, errlen);
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

int email_store_recipient(struct redis_conn *rc, const char *user, const char *alert_id, long max,
                          long window_s, enum email_recipient *res, char addr[EMAIL_ADDR_MAX + 1],
                          char *err, size_t errlen)
{
    char k1[128], k2[128], maxs[32], win[32];
    const char *keys[2] = {k1, k2};
    const char *args[3] = {alert_id, maxs, win};
    const redisReply *what;
    redisReply *r = NULL;
    int rv = -1;

    addr[0] = '\0';
    if (email_keys(user, k1, NULL, sizeof(k1)) != 0) {
        snprintf(err, errlen, "email recipient: bad user id");
        return -1;
    }
    snprintf(k2, sizeof(k2), "email_sent:{%s}", user);
    snprintf(maxs, sizeof(maxs), "%ld", max);
    snprintf(win, sizeof(win), "%ld", window_s);
    r = redis_script_call(rc, &email_recipient_script, 2, keys, 3, args);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        redis_reply_fail(rc, r, "email recipient", err, errlen);
        goto out;
    }
    what = r->element[0];
    rv = 0;
    if (strcmp(what->str, "none") == 0) {
        *res = EMAIL_RCPT_NONE;
    } else if (strcmp(what->str, "unconfirmed") == 0) {
        *res = EMAIL_RCPT_UNCONFIRMED;
    } else if (strcmp(what->str, "limited") == 0) {
        *res = EMAIL_RCPT_LIMITED;
    } else if (strcmp(what->str, "ok") == 0 && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len <= EMAIL_ADDR_MAX &&
               email_addr_check(r->element[1]->str, r->element[1]->len, err, errlen) == 0) {
        memcpy(addr, r->element[1]->str, r->element[1]->len);
        addr[r->element[1]->len] = '\0';
        *res = EMAIL_RCPT_OK;
    } else {
        rv = redis_reply_fail(rc, r, "email recipient", err, errlen);
    }
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}
