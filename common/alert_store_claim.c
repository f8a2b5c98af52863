/* alert_store_claim: the evaluator's side of the alert store — the claim
 * script that fires alerts into the outbox, and the outbox's reads and
 * acknowledgements (alert_store_claim.h). */
#include "alert_store_claim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_history.h"
#include "alert_store_priv.h"
#include "buf.h"
#include "store_lua.h"

#define ALERT_STORE_TICKS_BYTES (ALERT_STORE_BATCH_MAX * 96)

static struct redis_script alert_store_claim_lua = ALERT_STORE_SCRIPT(claim);
static struct redis_script alert_store_outbox_read_lua = ALERT_STORE_SCRIPT(outbox_read);

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
