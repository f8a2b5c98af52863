/* dedup: claim / confirm / release of notified:{alert_id} in Redis. */
#include "dedup.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEDUP_KEY_MAX (16 + MSG_DELIVERY_KEY_MAX)

/* The scripts of notifier/lua/ (embedded by the build). Each touches the
 * one key notified:<alert id>, so each runs on its slot's node of a
 * cluster; whether another notifier is alive is another key, read between
 * dedup_claim and dedup_take. */
extern const unsigned char notifier_lua_dedup_claim[];
extern const unsigned char notifier_lua_dedup_take[];
extern const unsigned char notifier_lua_dedup_release[];

#define DEDUP_ALIVE_PREFIX "notifier:alive:"

struct dedup {
    struct redis_conn *rc;
    char ttl[24];
    char token[17];
    char alive_key[48];
    struct redis_script claim;
    struct redis_script take;
    struct redis_script release;
};

static void dedup_make_token(char *out, size_t outlen)
{
    unsigned char raw[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    uint64_t fallback = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw))
        memcpy(raw, &fallback, sizeof(raw));
    if (fd >= 0)
        close(fd);
    snprintf(out, outlen, "%02x%02x%02x%02x%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3],
             raw[4], raw[5], raw[6], raw[7]);
}

struct dedup *dedup_new(struct redis_conn *rc, long done_ttl_s)
{
    struct dedup *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->rc = rc;
    snprintf(d->ttl, sizeof(d->ttl), "%ld", done_ttl_s);
    dedup_make_token(d->token, sizeof(d->token));
    snprintf(d->alive_key, sizeof(d->alive_key), DEDUP_ALIVE_PREFIX "%s", d->token);
    d->claim.source = (const char *)notifier_lua_dedup_claim;
    d->take.source = (const char *)notifier_lua_dedup_take;
    d->release.source = (const char *)notifier_lua_dedup_release;
    return d;
}

void dedup_free(struct dedup *d)
{
    redisReply *r;

    if (d == NULL)
        return;
    r = redis_conn_command(d->rc, "DEL %s", d->alive_key);
    if (r != NULL)
        freeReplyObject(r);
    free(d);
}

const char *dedup_token(const struct dedup *d)
{
    return d->token;
}

static void dedup_key(const char *alert_id, char *out, size_t outlen)
{
    snprintf(out, outlen, "notified:%s", alert_id);
}

/* The answer of a claim script, or DEDUP_ERROR. An 'owner:<token>' answer
 * copies the token into owner[ownerlen] and gives DEDUP_BUSY. */
static enum dedup_claim dedup_answer(redisReply *r, char *owner, size_t ownerlen)
{
    static const struct {
        const char *word;
        enum dedup_claim v;
    } map[] = {{"claimed", DEDUP_CLAIMED},
               {"taken", DEDUP_TAKEN_OVER},
               {"done", DEDUP_DONE},
               {"busy", DEDUP_BUSY},
               {"mine", DEDUP_MINE}};
    enum dedup_claim res = DEDUP_ERROR;

    if (r == NULL)
        return DEDUP_ERROR;
    if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) {
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
            if (strcmp(r->str, map[i].word) == 0)
                res = map[i].v;
        }
        if (owner != NULL && strncmp(r->str, "owner:", 6) == 0 && r->len - 6 < ownerlen) {
            snprintf(owner, ownerlen, "%s", r->str + 6);
            res = DEDUP_BUSY;
        }
    }
    freeReplyObject(r);
    return res;
}

enum dedup_claim dedup_claim(struct dedup *d, const char *alert_id)
{
    char key[DEDUP_KEY_MAX], owner[sizeof(d->token)] = "", alive[48], expected[32];
    const char *keys[1] = {key};
    const char *args[3] = {d->token, d->ttl, NULL};
    enum dedup_claim res;
    redisReply *r;

    dedup_key(alert_id, key, sizeof(key));
    res = dedup_answer(redis_script_call(d->rc, &d->claim, 1, keys, 2, args), owner, sizeof(owner));
    if (res != DEDUP_BUSY || owner[0] == '\0')
        return res;
    /* Another notifier's claim: taken over only if that notifier is gone. */
    snprintf(alive, sizeof(alive), DEDUP_ALIVE_PREFIX "%s", owner);
    r = redis_conn_command(d->rc, "EXISTS %s", alive);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        if (r != NULL)
            freeReplyObject(r);
        return DEDUP_ERROR;
    }
    res = r->integer == 1 ? DEDUP_BUSY : DEDUP_ERROR;
    freeReplyObject(r);
    if (res == DEDUP_BUSY)
        return res;
    snprintf(expected, sizeof(expected), "claim:%s", owner);
    args[0] = expected, args[1] = d->token, args[2] = d->ttl;
    return dedup_answer(redis_script_call(d->rc, &d->take, 1, keys, 3, args), NULL, 0);
}

/* Runs a command expected to answer anything but an error. */
static int dedup_simple(redisReply *r)
{
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;

    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

int dedup_reclaim(struct dedup *d, const char *alert_id)
{
    char key[DEDUP_KEY_MAX];

    dedup_key(alert_id, key, sizeof(key));
    return dedup_simple(redis_conn_command(d->rc, "SET %s claim:%s EX %s", key, d->token, d->ttl));
}

int dedup_confirm(struct dedup *d, const char *alert_id)
{
    char key[DEDUP_KEY_MAX];

    dedup_key(alert_id, key, sizeof(key));
    return dedup_simple(redis_conn_command(d->rc, "SET %s done EX %s", key, d->ttl));
}

int dedup_release(struct dedup *d, const char *alert_id)
{
    char key[DEDUP_KEY_MAX];
    const char *keys[1] = {key};
    const char *args[1] = {d->token};

    dedup_key(alert_id, key, sizeof(key));
    return dedup_simple(redis_script_call(d->rc, &d->release, 1, keys, 1, args));
}

int dedup_heartbeat(struct dedup *d)
{
    return dedup_simple(
        redis_conn_command(d->rc, "SET %s 1 EX %d", d->alive_key, DEDUP_ALIVE_TTL_S));
}
