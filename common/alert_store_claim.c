/* alert_store_claim: the evaluator's side of the alert store — the claim
 * (per ticker, into its outbox) and the deliver (per user, into the
 * history), each pipelined over a batch, and the outboxes' reads and
 * acknowledgements (alert_store_claim.h). */
#include "alert_store_claim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_history.h"
#include "alert_store_priv.h"
#include "buf.h"
#include "log.h"
#include "store_lua.h"

#define ALERT_STORE_TICKS_BYTES (ALERT_STORE_BATCH_MAX * 64)

static struct redis_script alert_store_claim_lua = ALERT_STORE_SCRIPT(claim);
static struct redis_script alert_store_deliver_lua = ALERT_STORE_SCRIPT(deliver);
static struct redis_script alert_store_outbox_read_lua = ALERT_STORE_SCRIPT(outbox_read);

/* The ticks of one ticker, in their order (linked through next[]), and its
 * claim call. */
struct claim_group {
    const char *ticker;
    int first, last, count;
    struct buf ticks; /* "price timestamp " per tick */
    char keys[ALERT_STORE_TICKER_KEYS][ALERT_STORE_KEY_MAX];
    const char *kp[ALERT_STORE_TICKER_KEYS];
    const char *args[8];
    char maxs[16];
};

/* The ticks a deliver call covers: the claims of one user. */
struct deliver_group {
    const char *user;
    int count;
    int first; /* first claim index; the rest linked through next[] */
    int last;
    char keys[2][ALERT_STORE_KEY_MAX];
    const char *kp[2];
    const char **args;
};

/* Fills claim c from four reply elements (id, alert_id, user_id, payload). An
 * entry that does not fit keeps payload_len 0 so callers skip it. */
static void alert_store_fill_claim(redisReply **e, const char *key, struct alert_claim *c)
{
    size_t klen = strlen(key);

    memset(c, 0, sizeof(*c));
    if (klen >= sizeof(c->outbox_key))
        return; /* cannot be: "alerts_outbox:{<ticker>}" fits */
    memcpy(c->outbox_key, key, klen + 1);
    if (alert_store_copy(e[0], c->outbox_id, sizeof(c->outbox_id)) != 0)
        c->outbox_id[0] = '\0';
    if (alert_store_copy(e[1], c->alert_id, sizeof(c->alert_id)) != 0)
        c->alert_id[0] = '\0';
    if (alert_store_copy(e[2], c->user_id, sizeof(c->user_id)) != 0)
        c->user_id[0] = '\0';
    if (c->outbox_id[0] == '\0' || c->user_id[0] == '\0')
        return;
    if (alert_store_copy(e[3], c->payload, sizeof(c->payload)) == 0)
        c->payload_len = e[3]->len;
}

static int alert_store_tick_valid(const struct alert_tick *t)
{
    return msg_ticker_valid(t->ticker) && isfinite(t->price) && t->price > 0 &&
           isfinite(t->timestamp) && t->timestamp > 0;
}

/* Groups the ticks by ticker, in order. Returns the group count or -1. */
static int alert_store_group_ticks(const struct alert_tick *ticks, int n, struct claim_group *g,
                                   int *next)
{
    char p[ALERT_STORE_NUM_MAX], ts[ALERT_STORE_NUM_MAX];
    int ng = 0;

    for (int i = 0; i < n; i++) {
        int k = 0;
        if (!alert_store_tick_valid(&ticks[i]))
            return -1;
        while (k < ng && strcmp(g[k].ticker, ticks[i].ticker) != 0)
            k++;
        if (k == ng) {
            g[ng].ticker = ticks[i].ticker;
            g[ng].first = i;
            g[ng].count = 0;
            buf_init(&g[ng].ticks, ALERT_STORE_TICKS_BYTES);
            ng++;
        } else {
            next[g[k].last] = i;
        }
        g[k].last = i;
        next[i] = -1;
        g[k].count++;
        alert_store_fmt_num(ticks[i].price, p);
        alert_store_fmt_num(ticks[i].timestamp, ts);
        if (buf_printf(&g[k].ticks, "%s %s %d ", p, ts,
                       ticks[i].has_decimals && ticks[i].decimals >= 0 &&
                               ticks[i].decimals <= MSG_DECIMALS_MAX
                           ? ticks[i].decimals
                           : -1) != 0)
            return -1;
    }
    return ng;
}

/* The claim call of group g with its share of the budget. */
static void alert_store_claim_call(struct claim_group *g, int budget, struct alert_store_call *c)
{
    alert_store_ticker_keys(g->ticker, g->keys, g->kp);
    snprintf(g->maxs, sizeof(g->maxs), "%d", budget);
    g->args[0] = g->maxs, g->args[1] = ALERT_MSG_TEXT_FORMAT, g->args[2] = g->ticker;
    g->args[3] = g->ticks.data != NULL ? g->ticks.data : "";
    g->args[4] = ALERT_MSG_EXPIRED_FORMAT;
    g->args[5] = ALERT_MSG_PERCENT_FORMAT;
    g->args[6] = ALERT_MSG_PERCENT_WINDOW_FORMAT;
    *c = (struct alert_store_call){&alert_store_claim_lua, ALERT_STORE_TICKER_KEYS, g->kp, 7,
                                   g->args};
}

/* Reads one claim reply into out[*n..max); returns the ticks it finished,
 * or -1 when the reply is not a claim's. */
static int alert_store_claim_reply(const redisReply *r, const struct claim_group *g,
                                   struct alert_claim *out, int *n, int max)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || (r->elements - 1) % 4 != 0 ||
        (r->elements - 1) / 4 > (size_t)(max - *n))
        return -1;
    for (size_t i = 1; i + 4 <= r->elements; i += 4)
        alert_store_fill_claim(&r->element[i], g->keys[3], &out[(*n)++]);
    return (int)r->element[0]->integer;
}

/* The index of the first tick of g not finished when done of its ticks
 * are; nticks when all are. */
static int alert_store_group_bound(const struct claim_group *g, const int *next, int done,
                                   int nticks)
{
    int t = g->first;

    if (done >= g->count)
        return nticks;
    for (int i = 0; i < done; i++)
        t = next[t];
    return t;
}

int alert_store_claim_batch(struct redis_conn *rc, const struct alert_tick *ticks, int nticks,
                            struct alert_claim *out, int max, int *ticks_done, char *err,
                            size_t errlen)
{
    struct claim_group *g = NULL;
    struct alert_store_call *calls = NULL;
    redisReply **replies = NULL;
    int *next = NULL;
    int ng = 0, active, budget, n = 0, ok = 0, bound;
    char derr[ALERT_STORE_ERR_MAX];

    *ticks_done = 0;
    if (nticks <= 0 || max <= 0)
        return 0;
    if (nticks > ALERT_STORE_BATCH_MAX)
        nticks = ALERT_STORE_BATCH_MAX;
    if (max > ALERT_STORE_CLAIM_MAX)
        max = ALERT_STORE_CLAIM_MAX; /* Lua's unpack() limit is ~8000 */
    g = calloc((size_t)nticks, sizeof(*g));
    next = calloc((size_t)nticks, sizeof(*next));
    calls = calloc((size_t)nticks, sizeof(*calls));
    replies = calloc((size_t)nticks, sizeof(*replies));
    if (g == NULL || next == NULL || calls == NULL || replies == NULL) {
        snprintf(err, errlen, "claim: out of memory");
        n = -1;
        goto out;
    }
    ng = alert_store_group_ticks(ticks, nticks, g, next);
    if (ng < 0) {
        snprintf(err, errlen, "claim: invalid tick");
        ng = nticks; /* every buffer may have been initialised */
        n = -1;
        goto out;
    }
    /* Each ticker gets an equal share of max, so the pipeline can never
     * return more than max; a ticker that reaches its share stops there and
     * the caller calls again from that tick. */
    active = ng < max ? ng : max;
    budget = max / active;
    for (int k = 0; k < active; k++)
        alert_store_claim_call(&g[k], budget + (k < max % active ? 1 : 0), &calls[k]);
    if (alert_store_pipe_run(rc, calls, active, replies) != 0)
        redis_reply_fail(rc, NULL, "claim", err, errlen);
    bound = nticks;
    for (int k = 0; k < ng; k++) {
        int d = k < active ? alert_store_claim_reply(replies[k], &g[k], out, &n, max) : 0;
        if (d < 0) {
            if (replies[k] != NULL)
                redis_reply_fail(rc, replies[k], "claim", err, errlen);
            d = 0;
        } else if (k < active) {
            ok++;
        }
        int b = alert_store_group_bound(&g[k], next, d, nticks);
        if (b < bound)
            bound = b;
    }
    if (ok == 0) {
        n = -1;
        goto out;
    }
    *ticks_done = bound;
    /* The claims are durable in the outboxes: a failed deliver leaves them
     * UNDELIVERED for the sweeper, it does not fail the claim. */
    if (n > 0 && alert_store_deliver(rc, out, n, derr, sizeof(derr)) != 0)
        log_warn("deliver failed, left to the outbox sweeper", "claims=%d error=\"%s\"", n, derr);
out:
    for (int k = 0; k < ng; k++)
        buf_free(&g[k].ticks);
    for (int k = 0; replies != NULL && k < nticks; k++) {
        if (replies[k] != NULL)
            freeReplyObject(replies[k]);
    }
    free(g);
    free(next);
    free(calls);
    free(replies);
    return n;
}

int alert_store_expire(struct redis_conn *rc, const char *ticker, const char *const *ids, int n,
                       struct alert_claim *out, char *err, size_t errlen)
{
    struct claim_group g;
    struct alert_store_call call;
    redisReply *r = NULL;
    struct buf idb;
    char derr[ALERT_STORE_ERR_MAX];
    int got = 0;

    memset(&g, 0, sizeof(g));
    g.ticker = ticker;
    buf_init(&idb, ALERT_STORE_EXPIRE_MAX * MSG_ID_MAX + 1);
    if (!msg_ticker_valid(ticker) || n <= 0 || n > ALERT_STORE_EXPIRE_MAX) {
        snprintf(err, errlen, "expire: invalid ticker or count %d", n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (msg_id_valid(ids[i]) && buf_printf(&idb, "%s ", ids[i]) != 0) {
            snprintf(err, errlen, "expire: out of memory");
            return -1;
        }
    }
    alert_store_claim_call(&g, n, &call);
    g.args[7] = idb.data != NULL ? idb.data : "";
    call.nargs = 8;
    if (alert_store_pipe_run(rc, &call, 1, &r) != 0 ||
        alert_store_claim_reply(r, &g, out, &got, n) < 0) {
        redis_reply_fail(rc, r, "expire", err, errlen);
        got = -1;
    }
    if (r != NULL)
        freeReplyObject(r);
    buf_free(&idb);
    /* Durable in the outbox: a failed deliver is the outbox sweeper's. */
    if (got > 0 && alert_store_deliver(rc, out, got, derr, sizeof(derr)) != 0)
        log_warn("deliver of expired alerts failed, left to the outbox sweeper",
                 "ticker=%s error=\"%s\"", ticker, derr);
    return got;
}

/* The payload with its positions spliced in as its last members, in place;
 * payload_len 0 when it does not fit or is not an object. */
static void alert_store_splice(struct alert_claim *c, const char *pos, const char *prev)
{
    char tmp[MSG_MAX_BYTES];
    int len;

    if (c->payload_len < 2 || c->payload[c->payload_len - 1] != '}') {
        c->payload_len = 0;
        return;
    }
    len = snprintf(tmp, sizeof(tmp), "%.*s,\"event_id\":\"%s\",\"prev_event_id\":\"%s\"}",
                   (int)c->payload_len - 1, c->payload, pos, prev);
    if (len < 0 || (size_t)len >= sizeof(tmp)) {
        c->payload_len = 0;
        return;
    }
    memcpy(c->payload, tmp, (size_t)len + 1);
    c->payload_len = (size_t)len;
}

/* Groups the undelivered claims by user; returns the group count. */
static int alert_store_group_users(struct alert_claim *c, int n, struct deliver_group *g, int *next)
{
    int ng = 0;

    for (int i = 0; i < n; i++) {
        int k = 0;
        if (c[i].state != ALERT_CLAIM_UNDELIVERED)
            continue;
        if (c[i].alert_id[0] == '\0') { /* schema 2's outbox: positions given */
            c[i].state = ALERT_CLAIM_READY;
            continue;
        }
        if (c[i].payload_len == 0 || !msg_id_valid(c[i].user_id))
            continue;
        while (k < ng && strcmp(g[k].user, c[i].user_id) != 0)
            k++;
        if (k == ng) {
            g[ng].user = c[i].user_id;
            g[ng].first = i;
            g[ng].count = 0;
            ng++;
        } else {
            next[g[k].last] = i;
        }
        g[k].last = i;
        next[i] = -1;
        g[k].count++;
    }
    return ng;
}

/* The deliver call of group g; -1 on out of memory. */
static int alert_store_deliver_call(struct deliver_group *g, const struct alert_claim *c,
                                    const int *next, const char *hmax, const char *httl,
                                    struct alert_store_call *call)
{
    int a = 0;

    g->args = malloc(sizeof(*g->args) * (size_t)(2 + 2 * g->count));
    if (g->args == NULL)
        return -1;
    snprintf(g->keys[0], sizeof(g->keys[0]), "alert_events:{%s}", g->user);
    snprintf(g->keys[1], sizeof(g->keys[1]), "user_alerts:{%s}", g->user);
    g->kp[0] = g->keys[0], g->kp[1] = g->keys[1];
    g->args[a++] = hmax;
    g->args[a++] = httl;
    for (int i = g->first; i >= 0; i = next[i]) {
        g->args[a++] = c[i].alert_id;
        g->args[a++] = c[i].payload;
    }
    *call = (struct alert_store_call){&alert_store_deliver_lua, 2, g->kp, a, g->args};
    return 0;
}

/* Applies one deliver reply to the claims of g; collects the skipped ones
 * in skip[*ns]. -1 when the reply is not a deliver's. */
static int alert_store_deliver_reply(const redisReply *r, const struct deliver_group *g,
                                     struct alert_claim *c, const int *next, int *skip, int *ns)
{
    size_t e = 0;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)g->count * 3)
        return -1;
    for (int i = g->first; i >= 0; i = next[i], e += 3) {
        const redisReply *st = r->element[e], *pos = r->element[e + 1], *prev = r->element[e + 2];
        if (st->type != REDIS_REPLY_INTEGER || pos->type != REDIS_REPLY_STRING ||
            prev->type != REDIS_REPLY_STRING)
            continue;
        if (st->integer == 0) {
            c[i].state = ALERT_CLAIM_SKIPPED;
            skip[(*ns)++] = i;
        } else {
            alert_store_splice(&c[i], pos->str, prev->str);
            c[i].state = ALERT_CLAIM_READY;
        }
    }
    return 0;
}

/* XDELs the skipped claims; 0 or -1 with err. */
static int alert_store_ack_skipped(struct redis_conn *rc, const struct alert_claim *c,
                                   const int *skip, int ns, char *err, size_t errlen)
{
    const char *keys[ALERT_STORE_ACK_MAX], *ids[ALERT_STORE_ACK_MAX];

    for (int base = 0; base < ns; base += ALERT_STORE_ACK_MAX) {
        int m = ns - base < ALERT_STORE_ACK_MAX ? ns - base : ALERT_STORE_ACK_MAX;
        for (int i = 0; i < m; i++) {
            keys[i] = c[skip[base + i]].outbox_key;
            ids[i] = c[skip[base + i]].outbox_id;
        }
        if (alert_store_outbox_ack_many(rc, keys, ids, m, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int alert_store_deliver(struct redis_conn *rc, struct alert_claim *c, int n, char *err,
                        size_t errlen)
{
    char hmax[16], httl[16];
    struct deliver_group *g = calloc((size_t)(n > 0 ? n : 1), sizeof(*g));
    struct alert_store_call *calls = calloc((size_t)(n > 0 ? n : 1), sizeof(*calls));
    redisReply **replies = calloc((size_t)(n > 0 ? n : 1), sizeof(*replies));
    int *next = calloc((size_t)(n > 0 ? n : 1), sizeof(*next));
    int *skip = calloc((size_t)(n > 0 ? n : 1), sizeof(*skip));
    int ng = 0, ns = 0, rv = -1;

    if (g == NULL || calls == NULL || replies == NULL || next == NULL || skip == NULL) {
        snprintf(err, errlen, "deliver: out of memory");
        goto out;
    }
    snprintf(hmax, sizeof(hmax), "%d", ALERT_HISTORY_MAX);
    snprintf(httl, sizeof(httl), "%d", ALERT_HISTORY_TTL_S);
    ng = alert_store_group_users(c, n, g, next);
    for (int k = 0; k < ng; k++) {
        if (alert_store_deliver_call(&g[k], c, next, hmax, httl, &calls[k]) != 0) {
            snprintf(err, errlen, "deliver: out of memory");
            goto out;
        }
    }
    rv = alert_store_pipe_run(rc, calls, ng, replies);
    if (rv != 0)
        redis_reply_fail(rc, NULL, "deliver", err, errlen);
    for (int k = 0; k < ng; k++) {
        if (alert_store_deliver_reply(replies[k], &g[k], c, next, skip, &ns) != 0) {
            if (replies[k] != NULL)
                redis_reply_fail(rc, replies[k], "deliver", err, errlen);
            rv = -1;
        }
    }
    if (ns > 0 && alert_store_ack_skipped(rc, c, skip, ns, err, errlen) != 0)
        rv = -1;
out:
    for (int k = 0; k < ng; k++) {
        free(g[k].args);
        if (replies[k] != NULL)
            freeReplyObject(replies[k]);
    }
    free(g);
    free(calls);
    free(replies);
    free(next);
    free(skip);
    return rv;
}

/* One XDEL of an outbox's entries, alone (routed to the outbox's node).
 * Returns 0, or -1 with err. */
static int alert_store_ack_one(struct redis_conn *rc, int argc, const char **argv, char *err,
                               size_t errlen)
{
    redisReply *r = redis_conn_argv(rc, argc, argv, NULL);
    int rv = 0;

    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        rv = redis_reply_fail(rc, r, "ack", err, errlen);
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

int alert_store_outbox_ack_many(struct redis_conn *rc, const char *const *keys,
                                const char *const *ids, int n, char *err, size_t errlen)
{
    const char **argv = NULL;
    redisContext *ctx = NULL;
    int sent = 0, rv = -1, cluster = redis_conn_is_cluster(rc);

    if (n <= 0 || n > ALERT_STORE_ACK_MAX) {
        snprintf(err, errlen, "ack: count %d out of range", n);
        return -1;
    }
    argv = malloc(sizeof(*argv) * (size_t)(n + 2));
    if (argv == NULL) {
        snprintf(err, errlen, "ack: out of memory");
        goto out;
    }
    /* A single instance: one pipeline. A cluster: each outbox on its node. */
    if (!cluster && (ctx = redis_conn_context(rc)) == NULL) {
        redis_reply_fail(rc, NULL, "ack", err, errlen);
        goto out;
    }
    /* One XDEL per run of entries of the same outbox. */
    for (int i = 0; i < n;) {
        int argc = 2;
        argv[0] = "XDEL";
        argv[1] = keys[i];
        for (int j = i; j < n && strcmp(keys[j], keys[i]) == 0; j++)
            argv[argc++] = ids[j];
        i += argc - 2;
        if (cluster) {
            if (alert_store_ack_one(rc, argc, argv, err, errlen) != 0)
                goto out;
            continue;
        }
        if (redisAppendCommandArgv(ctx, argc, argv, NULL) != REDIS_OK) {
            snprintf(err, errlen, "ack: out of memory");
            rv = -2; /* read what was sent, then fail */
            break;
        }
        sent++;
    }
    rv = rv == -2 ? -1 : 0;
    for (int i = 0; i < sent; i++) {
        redisReply *r = NULL;
        if (redis_conn_get_reply(rc, &r) != 0 || r->type != REDIS_REPLY_INTEGER) {
            redis_reply_fail(rc, r, "ack", err, errlen);
            rv = -1;
        }
        if (r != NULL)
            freeReplyObject(r);
        if (r == NULL)
            break;
    }
out:
    free(argv);
    return rv;
}

int alert_store_outbox_read(struct redis_conn *rc, const char *key, const char *after_id,
                            long min_age_ms, struct alert_claim *out, int max, char *err,
                            size_t errlen)
{
    const char *keys[1] = {key};
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
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 4 != 0 ||
        r->elements / 4 > (size_t)max) {
        redis_reply_fail(rc, r, "outbox read", err, errlen);
        goto out;
    }
    for (n = 0; (size_t)(4 * n) < r->elements; n++) {
        /* (id, payload, user_id, alert_id) into fill_claim's order */
        redisReply *e[4] = {r->element[4 * n], r->element[4 * n + 3], r->element[4 * n + 2],
                            r->element[4 * n + 1]};
        alert_store_fill_claim(e, key, &out[n]);
    }
out:
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

int alert_store_outbox_scan(struct redis_conn *rc, char cursor[REDIS_SCAN_CURSOR_MAX],
                            void (*cb)(const char *key, void *ud), void *ud, char *err,
                            size_t errlen)
{
    const char *argv[6] = {"MATCH", "alerts_outbox:{*", "COUNT", "1000", "TYPE", "stream"};
    redisReply *r = redis_conn_scan(rc, cursor, 6, argv);
    int rv = -1;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        redis_reply_fail(rc, r, "outbox scan", err, errlen);
        goto out;
    }
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        const redisReply *k = r->element[1]->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len < ALERT_STORE_OUTBOX_KEY_MAX)
            cb(k->str, ud);
    }
    rv = 0;
out:
    if (r != NULL)
        freeReplyObject(r);
    return rv;
}

long alert_store_outbox_lens(struct redis_conn *rc, const char *const *keys, int n, long *lens,
                             char *err, size_t errlen)
{
    redisContext *ctx;
    long sum = 0;

    if (redis_conn_is_cluster(rc)) { /* each outbox on its node */
        for (int i = 0; i < n; i++) {
            const char *argv[2] = {"XLEN", keys[i]};
            redisReply *r = redis_conn_argv(rc, 2, argv, NULL);
            if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
                redis_reply_fail(rc, r, "outbox length", err, errlen);
                if (r != NULL)
                    freeReplyObject(r);
                return -1;
            }
            lens[i] = (long)r->integer;
            sum += lens[i];
            freeReplyObject(r);
        }
        return sum;
    }
    if ((ctx = redis_conn_context(rc)) == NULL)
        return redis_reply_fail(rc, NULL, "outbox length", err, errlen);
    for (int i = 0; i < n; i++) {
        const char *argv[2] = {"XLEN", keys[i]};
        if (redisAppendCommandArgv(ctx, 2, argv, NULL) != REDIS_OK) {
            snprintf(err, errlen, "outbox length: out of memory");
            n = i; /* read what was sent, then fail */
            sum = -1;
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redis_conn_get_reply(rc, &r) != 0)
            return redis_reply_fail(rc, NULL, "outbox length", err, errlen);
        lens[i] = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
        if (sum >= 0)
            sum += lens[i];
        freeReplyObject(r);
    }
    return sum;
}
