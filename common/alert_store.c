/* alert_store: a user's alerts in Redis — create, list, delete — one Lua
 * script per operation (see alert_store.h for the key layout, common/lua/
 * for the scripts), and the helpers both sides of the store share
 * (alert_store_priv.h). Numbers travel as their shortest round-trip decimal
 * text, so the alert JSON built in Lua carries the exact price, threshold
 * and timestamp (cjson alone would keep 14 digits). */
#include "alert_store.h"

#include <jansson.h>
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

int alert_store_note_json(const char *note, char out[ALERT_STORE_NOTE_JSON_MAX])
{
    json_t *v;
    size_t n;

    if (msg_note_check(note, strlen(note)) != MSG_NOTE_OK || (v = json_string(note)) == NULL)
        return -1;
    n = json_dumpb(v, out, ALERT_STORE_NOTE_JSON_MAX, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(v);
    if (n == 0 || n >= ALERT_STORE_NOTE_JSON_MAX)
        return -1;
    out[n] = '\0';
    return 0;
}

/* The note of a stored JSON string (len bytes) into out; -1 when it is not
 * a valid note. */
static int alert_store_note_parse(const char *json, size_t len, char out[MSG_NOTE_MAX])
{
    json_t *v = json_loadb(json, len, JSON_DECODE_ANY, NULL);
    int rv = -1;

    if (json_is_string(v) && json_string_length(v) < MSG_NOTE_MAX &&
        strlen(json_string_value(v)) == json_string_length(v) &&
        msg_note_check(json_string_value(v), json_string_length(v)) == MSG_NOTE_OK) {
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        rv = 0;
    }
    json_decref(v);
    return rv;
}

#define ALERT_STORE_COND_MAX 96 /* "percent_down:<num>:<num>", with its NUL */

enum alert_type alert_store_side(const struct alert_record *rec)
{
    if (rec->type == ALERT_BELOW || rec->type == ALERT_PERCENT_DOWN ||
        (rec->type == ALERT_CROSSES && rec->direction == ALERT_DIR_DOWN))
        return ALERT_BELOW;
    return ALERT_ABOVE;
}

/* The record's condition as stored in both hashes (alert_store.h: cond). */
static void alert_store_cond_text(const struct alert_record *rec, char out[ALERT_STORE_COND_MAX])
{
    char p[ALERT_STORE_NUM_MAX], ref[ALERT_STORE_NUM_MAX];

    if (rec->type == ALERT_CROSSES) {
        snprintf(out, ALERT_STORE_COND_MAX, "crosses:%s", alert_dir_name(rec->direction));
    } else if ((rec->type == ALERT_PERCENT_UP || rec->type == ALERT_PERCENT_DOWN) &&
               rec->window_s > 0) {
        alert_store_fmt_num(rec->percent, p);
        snprintf(out, ALERT_STORE_COND_MAX, "%s:%s:w%d", alert_type_name(rec->type), p,
                 rec->window_s);
    } else if (rec->type == ALERT_PERCENT_UP || rec->type == ALERT_PERCENT_DOWN) {
        alert_store_fmt_num(rec->percent, p);
        alert_store_fmt_num(rec->reference_price, ref);
        snprintf(out, ALERT_STORE_COND_MAX, "%s:%s:%s", alert_type_name(rec->type), p, ref);
    } else {
        snprintf(out, ALERT_STORE_COND_MAX, "%s", alert_type_name(rec->type));
    }
}

/* A positive finite number of the whole of s; -1 otherwise. */
static int alert_store_parse_pos(const char *s, double *out)
{
    char *end = NULL;

    *out = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*out) && *out > 0 ? 0 : -1;
}

/* A window "w<seconds>" of a stored cond into *out; -1 when malformed or out
 * of range. */
static int alert_store_window_parse(const char *s, int *out)
{
    char *end = NULL;
    long v;

    if (s[0] != 'w' || s[1] < '0' || s[1] > '9')
        return -1;
    v = strtol(s + 1, &end, 10);
    if (*end != '\0' || v < ALERT_STORE_WINDOW_MIN_S || v > ALERT_STORE_WINDOW_MAX_S)
        return -1;
    *out = (int)v;
    return 0;
}

/* The stored cond s into rec's type, direction, percent and reference
 * price (or window); -1 when malformed. */
static int alert_store_cond_parse(const char *s, struct alert_record *rec)
{
    char buf[ALERT_STORE_COND_MAX], *ref, *pct = NULL;

    if (strlen(s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, strlen(s) + 1);
    pct = strchr(buf, ':');
    if (pct != NULL)
        *pct++ = '\0';
    if (alert_type_parse(buf, &rec->type) != 0)
        return -1;
    if (rec->type == ALERT_ABOVE || rec->type == ALERT_BELOW)
        return pct == NULL ? 0 : -1;
    if (pct == NULL)
        return -1;
    if (rec->type == ALERT_CROSSES)
        return alert_dir_parse(pct, &rec->direction);
    ref = strchr(pct, ':');
    if (ref == NULL)
        return -1;
    *ref++ = '\0';
    if (ref[0] == 'w')
        return alert_store_parse_pos(pct, &rec->percent) == 0 &&
                       alert_store_window_parse(ref, &rec->window_s) == 0
                   ? 0
                   : -1;
    return alert_store_parse_pos(pct, &rec->percent) == 0 &&
                   alert_store_parse_pos(ref, &rec->reference_price) == 0
               ? 0
               : -1;
}

/* True when rec's condition fields fit its type. */
static int alert_store_cond_valid(const struct alert_record *rec)
{
    switch (rec->type) {
    case ALERT_ABOVE:
    case ALERT_BELOW:
        return rec->direction == ALERT_DIR_NONE && rec->percent == 0 && rec->reference_price == 0 &&
               rec->window_s == 0;
    case ALERT_CROSSES:
        return rec->direction != ALERT_DIR_NONE && rec->percent == 0 && rec->reference_price == 0 &&
               rec->window_s == 0;
    case ALERT_PERCENT_UP:
    case ALERT_PERCENT_DOWN:
        return rec->direction == ALERT_DIR_NONE && isfinite(rec->percent) && rec->percent > 0 &&
               isfinite(rec->reference_price) && rec->reference_price > 0 &&
               (rec->window_s == 0 || (rec->window_s >= ALERT_STORE_WINDOW_MIN_S &&
                                       rec->window_s <= ALERT_STORE_WINDOW_MAX_S));
    }
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

void alert_store_ticker_keys(const char *ticker,
                             char k[ALERT_STORE_TICKER_KEYS][ALERT_STORE_KEY_MAX],
                             const char *keys[ALERT_STORE_TICKER_KEYS])
{
    snprintf(k[0], ALERT_STORE_KEY_MAX, "ticker_alerts:{%s}", ticker);
    snprintf(k[1], ALERT_STORE_KEY_MAX, "alert_idx:{%s}:above", ticker);
    snprintf(k[2], ALERT_STORE_KEY_MAX, "alert_idx:{%s}:below", ticker);
    snprintf(k[3], ALERT_STORE_KEY_MAX, "alerts_outbox:{%s}", ticker);
    snprintf(k[4], ALERT_STORE_KEY_MAX, "alert_idx:{%s}:rearm_above", ticker);
    snprintf(k[5], ALERT_STORE_KEY_MAX, "alert_idx:{%s}:rearm_below", ticker);
    snprintf(k[6], ALERT_STORE_KEY_MAX, "alert_cool:{%s}", ticker);
    for (int i = 0; i < ALERT_STORE_TICKER_KEYS; i++)
        keys[i] = k[i];
}

/* Step 2 of a delete (and the orphan sweep): the ticker's side. 1 it was
 * armed, 0 not, -1 with err. */
int alert_store_disarm(struct redis_conn *rc, const char *ticker, const char *id, char *err,
                       size_t errlen)
{
    char k[ALERT_STORE_TICKER_KEYS][ALERT_STORE_KEY_MAX];
    const char *keys[ALERT_STORE_TICKER_KEYS];
    const char *args[1] = {id};

    alert_store_ticker_keys(ticker, k, keys);
    return (int)alert_store_run_int(rc, &alert_store_disarm_lua, ALERT_STORE_TICKER_KEYS, keys, 1,
                                    args, "disarm", err, errlen);
}

/* One create of a batch as it goes through the three steps: its keys and
 * arguments (the calls point into them) and what is left to do. */
struct create_work {
    char k_user[ALERT_STORE_KEY_MAX], k_unpended[ALERT_STORE_KEY_MAX];
    char k_idem[ALERT_STORE_KEY_MAX + ALERT_STORE_IDEM_MAX];
    char k_ticker[ALERT_STORE_KEY_MAX], k_idx[ALERT_STORE_KEY_MAX];
    char thr[ALERT_STORE_NUM_MAX], created[ALERT_STORE_NUM_MAX], maxs[16], ttl[16];
    char seed[ALERT_STORE_NUM_MAX];
    char expires[24], note[ALERT_STORE_NOTE_JSON_MAX], cond[ALERT_STORE_COND_MAX];
    char channels[ALERT_CH_TOKEN_MAX], repeat[ALERT_STORE_REPEAT_MAX];
    char fingerprint[MSG_TICKER_MAX + ALERT_STORE_NUM_MAX + 32 + ALERT_CH_TOKEN_MAX +
                     ALERT_STORE_REPEAT_MAX + ALERT_STORE_NOTE_JSON_MAX];
    const char *keys[3], *args[13];
    int arm; /* steps 2 and 3 are to run (a new entry, or a replay left pending) */
};

static int create_valid(const struct alert_store_create *c)
{
    const struct alert_record *rec = &c->rec;

    return msg_id_valid(rec->alert_id) && msg_id_valid(rec->user_id) &&
           msg_ticker_valid(rec->ticker) && isfinite(rec->threshold) && rec->threshold > 0 &&
           isfinite(rec->created_at) && rec->expires_at >= 0 && alert_store_cond_valid(rec) &&
           (rec->cooldown_s == 0 ||
            (rec->cooldown_s >= MSG_COOLDOWN_MIN && rec->cooldown_s <= MSG_COOLDOWN_MAX)) &&
           msg_note_check(rec->note, strlen(rec->note)) == MSG_NOTE_OK && c->max_per_user >= 0 &&
           (c->idem_key == NULL || (alert_store_idem_key_valid(c->idem_key) && c->idem_ttl_s >= 1));
}

/* The optional arguments of create.lua and arm.lua from rec (expires_at,
 * the channels' token when they are not the default, a repeating alert's
 * token "r:<cooldown_s>:0" and the note as its JSON string) into args: how
 * many (0 for an alert with none, stored as before). w->channels,
 * w->repeat and w->note are left "" when absent. */
static int create_extra_args(const struct alert_record *rec, struct create_work *w,
                             const char **args)
{
    int n = 0;

    alert_channels_token(rec->channels, w->channels);
    w->repeat[0] = '\0';
    if (rec->cooldown_s > 0)
        snprintf(w->repeat, sizeof(w->repeat), "r:%ld:0", rec->cooldown_s);
    if (rec->note[0] == '\0' || alert_store_note_json(rec->note, w->note) != 0)
        w->note[0] = '\0';
    if (rec->expires_at <= 0 && w->note[0] == '\0' && w->channels[0] == '\0' &&
        w->repeat[0] == '\0')
        return 0;
    snprintf(w->expires, sizeof(w->expires), "%lld", rec->expires_at > 0 ? rec->expires_at : 0);
    args[n++] = w->expires;
    if (w->channels[0] != '\0')
        args[n++] = w->channels;
    if (w->repeat[0] != '\0')
        args[n++] = w->repeat;
    if (w->note[0] != '\0')
        args[n++] = w->note;
    return n;
}

/* Step 1's call for c (create.lua in the user's slot). */
static struct alert_store_call create_step1(struct alert_store_create *c, struct create_work *w)
{
    const struct alert_record *rec = &c->rec;
    const char *type = alert_type_name(rec->type);
    int idem = c->idem_key != NULL;
    int extra = create_extra_args(rec, w, w->args + 8);
    char num[ALERT_STORE_NUM_MAX], pct[ALERT_STORE_NUM_MAX + 16];
    char rpt[ALERT_STORE_REPEAT_MAX] = "";

    snprintf(w->k_user, sizeof(w->k_user), "user_alerts:{%s}", rec->user_id);
    snprintf(w->k_unpended, sizeof(w->k_unpended), "alert_unpended:{%s}", rec->user_id);
    alert_store_fmt_num(rec->threshold, w->thr);
    alert_store_fmt_num(rec->created_at, w->created);
    alert_store_cond_text(rec, w->cond);
    snprintf(w->maxs, sizeof(w->maxs), "%d", c->max_per_user);
    snprintf(w->ttl, sizeof(w->ttl), "%d", c->idem_ttl_s);
    /* What the key promises: the same request (channels and note included
     * when there are, so that a key of before still matches). A percent
     * alert's request names its percent, not its level (which the price
     * when set decides); a crosses alert's its threshold, not its
     * direction: a retry after the price moved is the same request. A
     * window is part of the request ("<percent>:w<window_s>"; none: as
     * before). */
    if (rec->type == ALERT_PERCENT_UP || rec->type == ALERT_PERCENT_DOWN) {
        alert_store_fmt_num(rec->percent, num);
        if (rec->window_s > 0)
            snprintf(pct, sizeof(pct), "%s:w%d", num, rec->window_s);
        else
            snprintf(pct, sizeof(pct), "%s", num);
    } else {
        snprintf(pct, sizeof(pct), "%s", w->thr);
    }
    if (rec->cooldown_s > 0) /* the request's cooldown, not the fire count */
        snprintf(rpt, sizeof(rpt), " r:%ld", rec->cooldown_s);
    snprintf(w->fingerprint, sizeof(w->fingerprint), "%s %s %s%s%s%s%s%s", rec->ticker, pct, type,
             w->channels[0] != '\0' ? " " : "", w->channels, rpt, w->note[0] != '\0' ? " " : "",
             w->note);
    if (idem)
        snprintf(w->k_idem, sizeof(w->k_idem), "alert_idem:{%s}:%s", rec->user_id, c->idem_key);
    w->keys[0] = w->k_user, w->keys[1] = w->k_idem, w->keys[2] = w->k_unpended;
    w->args[0] = rec->alert_id, w->args[1] = rec->ticker, w->args[2] = w->thr;
    w->args[3] = w->cond, w->args[4] = w->created, w->args[5] = w->maxs;
    w->args[6] = w->ttl, w->args[7] = w->fingerprint;
    return (struct alert_store_call){&alert_store_create_lua, idem ? 3 : 1, w->keys,
                                     idem || extra > 0 ? 8 + extra : 6, w->args};
}

/* Reads step 1's reply r into c (rv, the stored id of a replay) and w->arm. */
static void create_step1_reply(struct redis_conn *rc, const redisReply *r,
                               struct alert_store_create *c, struct create_work *w)
{
    struct alert_record stored;
    char state;

    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && msg_id_valid(r->element[0]->str) &&
        r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING) {
        snprintf(c->rec.alert_id, sizeof(c->rec.alert_id), "%s", r->element[0]->str);
        c->rv = ALERT_STORE_REPLAY;
        /* Armed again as it was stored (its expiry, not this request's
         * default; its level and direction, not those of the price now). */
        if (alert_store_parse_entry(c->rec.alert_id, r->element[2]->str, &stored, &state) == 0) {
            c->rec.expires_at = stored.expires_at;
            c->rec.threshold = stored.threshold;
            c->rec.type = stored.type;
            c->rec.direction = stored.direction;
            c->rec.percent = stored.percent;
            c->rec.window_s = stored.window_s;
            /* A window's reference is not stored: this request's price
             * seeds the window if a re-run arm opens it. */
            if (stored.window_s == 0)
                c->rec.reference_price = stored.reference_price;
            c->rec.cooldown_s = stored.cooldown_s;
            c->rec.fires = stored.fires;
        }
        /* The first request stopped after step 1: finish it for the stored id
         * (the fingerprint matched, so ticker, threshold and type are these). */
        w->arm = r->element[1]->str[0] == ALERT_STORE_STATE_PENDING;
    } else if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        c->rv = redis_reply_fail(rc, r, "create", c->err, sizeof(c->err));
    } else if (r->integer == 1) {
        c->rv = 0;
        w->arm = 1;
    } else {
        c->rv = r->integer == 0 ? ALERT_STORE_LIMIT : ALERT_STORE_CONFLICT;
    }
}

/* Step 2's call for c (arm.lua in the ticker's slot, idempotent). */
static struct alert_store_call create_step2(struct alert_store_create *c, struct create_work *w)
{
    const struct alert_record *rec = &c->rec;

    /* From rec again: a replay armed the stored alert (step 1's reply). */
    alert_store_fmt_num(rec->threshold, w->thr);
    alert_store_cond_text(rec, w->cond);
    snprintf(w->k_ticker, sizeof(w->k_ticker), "ticker_alerts:{%s}", rec->ticker);
    snprintf(w->k_idx, sizeof(w->k_idx), "alert_idx:{%s}:%s", rec->ticker,
             alert_type_name(alert_store_side(rec)));
    w->keys[0] = w->k_ticker, w->keys[1] = w->k_idx;
    w->args[0] = rec->alert_id, w->args[1] = rec->user_id, w->args[2] = w->thr;
    w->args[3] = w->cond;
    if (rec->window_s > 0) {
        /* arm.lua: the seed of a new window and the cap, before the rest */
        alert_store_fmt_num(rec->reference_price, w->seed);
        snprintf(w->maxs, sizeof(w->maxs), "%d", ALERT_STORE_WINDOWS_MAX);
        w->args[4] = w->seed, w->args[5] = w->maxs;
        return (struct alert_store_call){&alert_store_arm_lua, 2, w->keys,
                                         6 + create_extra_args(rec, w, w->args + 6), w->args};
    }
    return (struct alert_store_call){&alert_store_arm_lua, 2, w->keys,
                                     4 + create_extra_args(rec, w, w->args + 4), w->args};
}

/* Step 3's call for c (mark.lua in the user's slot). */
static struct alert_store_call create_step3(struct alert_store_create *c, struct create_work *w)
{
    w->keys[0] = w->k_user, w->keys[1] = w->k_unpended;
    w->args[0] = c->rec.alert_id;
    return (struct alert_store_call){&alert_store_mark_lua, 2, w->keys, 1, w->args};
}

/* The windows in use that arm.lua listed ("60 300") as "60, 300" into err. */
static void create_windows_err(const char *list, char *err, size_t errlen)
{
    size_t o = 0;

    for (const char *p = list; *p != '\0' && o + 3 < errlen; p++) {
        if (*p == ' ') {
            err[o++] = ',';
            err[o++] = ' ';
        } else if (*p >= '0' && *p <= '9') {
            err[o++] = *p;
        }
    }
    err[o] = '\0';
}

/* Runs one step for the creates whose w->arm is set, in one pipeline.
 * replies[i] is that create's reply (NULL when not run or not read). */
static void
create_run_step(struct redis_conn *rc, struct alert_store_create *cr, struct create_work *w, int n,
                struct alert_store_call (*step)(struct alert_store_create *, struct create_work *),
                struct alert_store_call *calls, int *idx, redisReply **replies)
{
    int m = 0;

    for (int i = 0; i < n; i++) {
        replies[i] = NULL;
        if (w[i].arm) {
            idx[m] = i;
            calls[m++] = step(&cr[i], &w[i]);
        }
    }
    if (m == 0)
        return;
    /* On a failed connection the replies from there on stay NULL: those
     * creates get the connection's error below. */
    alert_store_pipe_run(rc, calls, m, replies + n);
    for (int k = 0; k < m; k++)
        replies[idx[k]] = replies[n + k];
}

int alert_store_create_batch(struct redis_conn *rc, struct alert_store_create *cr, int n)
{
    struct create_work *w = calloc((size_t)n, sizeof(*w));
    struct alert_store_call *calls = calloc((size_t)n, sizeof(*calls));
    redisReply **replies = calloc((size_t)n * 2, sizeof(*replies));
    int *idx = calloc((size_t)n, sizeof(*idx));
    char ignored[ALERT_STORE_ERR_MAX];

    if (w == NULL || calls == NULL || replies == NULL || idx == NULL) {
        free(w), free(calls), free(replies), free(idx);
        return -1;
    }
    /* Step 1 for every valid create ("arm" marks the ones to run here). */
    for (int i = 0; i < n; i++) {
        cr[i].err[0] = '\0';
        w[i].arm = create_valid(&cr[i]);
        if (!w[i].arm) {
            cr[i].rv = -1;
            snprintf(cr[i].err, sizeof(cr[i].err), "create: invalid alert record");
        }
    }
    create_run_step(rc, cr, w, n, create_step1, calls, idx, replies);
    for (int i = 0; i < n; i++) {
        if (!w[i].arm)
            continue;
        w[i].arm = 0;
        create_step1_reply(rc, replies[i], &cr[i], &w[i]);
        freeReplyObject(replies[i]);
    }
    /* Step 2 for the new entries and the replays left pending. */
    create_run_step(rc, cr, w, n, create_step2, calls, idx, replies);
    for (int i = 0; i < n; i++) {
        if (!w[i].arm)
            continue;
        if (replies[i] != NULL && replies[i]->type == REDIS_REPLY_STRING) {
            /* arm.lua refused a new window past the cap: nothing armed */
            cr[i].rv = ALERT_STORE_WINDOWS;
            create_windows_err(replies[i]->str, cr[i].err, sizeof(cr[i].err));
            alert_store_unpend(rc, cr[i].rec.user_id, cr[i].rec.alert_id, NULL, ignored,
                               sizeof(ignored));
            w[i].arm = 0;
        } else if (replies[i] == NULL || replies[i]->type != REDIS_REPLY_INTEGER ||
                   replies[i]->integer != 1) {
            cr[i].rv =
                redis_reply_fail(rc, replies[i], "create: arm", cr[i].err, sizeof(cr[i].err));
            /* Best effort: if the arm did run (a lost reply), the orphan
             * sweep disarms what this leaves; if this fails, the repair
             * sweep removes the entry. */
            alert_store_unpend(rc, cr[i].rec.user_id, cr[i].rec.alert_id, NULL, ignored,
                               sizeof(ignored));
            w[i].arm = 0;
        }
        freeReplyObject(replies[i]);
    }
    /* Step 3: armed, so marked. */
    create_run_step(rc, cr, w, n, create_step3, calls, idx, replies);
    for (int i = 0; i < n; i++) {
        if (!w[i].arm)
            continue;
        /* 2: armed, then fired (or deleted) before this step: stored.
         * An error: armed but still marked pending; the repair sweep marks
         * it. 0: the repair sweep removed it (this create stalled for a
         * minute): take the ticker side back so nothing unlisted stays
         * armed. */
        if (replies[i] != NULL && replies[i]->type == REDIS_REPLY_INTEGER &&
            replies[i]->integer == 0) {
            alert_store_disarm(rc, cr[i].rec.ticker, cr[i].rec.alert_id, ignored, sizeof(ignored));
            snprintf(cr[i].err, sizeof(cr[i].err),
                     "create: the pending alert was removed before it was armed");
            cr[i].rv = -1;
        }
        freeReplyObject(replies[i]);
    }
    free(w), free(calls), free(replies), free(idx);
    return 0;
}

int alert_store_create_once(struct redis_conn *rc, struct alert_record *rec, int max_per_user,
                            const char *idem_key, int idem_ttl_s, char *err, size_t errlen)
{
    struct alert_store_create c = {
        .rec = *rec, .max_per_user = max_per_user, .idem_key = idem_key, .idem_ttl_s = idem_ttl_s};

    if (alert_store_create_batch(rc, &c, 1) != 0) {
        snprintf(err, errlen, "create: out of memory");
        return -1;
    }
    *rec = c.rec;
    if (c.rv == -1 || c.rv == ALERT_STORE_WINDOWS)
        snprintf(err, errlen, "%s", c.err);
    return c.rv;
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

/* A repeating alert's token "r:<cooldown_s>:<fires>" (n bytes at s) into
 * rec; -1 when malformed. */
static int alert_store_parse_repeat(const char *s, size_t n, struct alert_record *rec)
{
    char tok[ALERT_STORE_REPEAT_MAX], *end = NULL;

    if (n < 5 || n >= sizeof(tok))
        return -1;
    memcpy(tok, s, n);
    tok[n] = '\0';
    rec->cooldown_s = strtol(tok + 2, &end, 10);
    if (*end != ':' || rec->cooldown_s < MSG_COOLDOWN_MIN || rec->cooldown_s > MSG_COOLDOWN_MAX)
        return -1;
    rec->fires = strtol(end + 1, &end, 10);
    return *end == '\0' && rec->fires >= 0 ? 0 : -1;
}

/* The length of the token at s (up to a space or len). */
static size_t alert_store_token_len(const char *s, size_t len)
{
    size_t n = 0;

    while (n < len && s[n] != ' ')
        n++;
    return n;
}

/* The part of an entry between created_at and the state: "" (an entry of
 * before), "expires_at", then optionally the channels' token "c:<names>",
 * then optionally the repeat token "r:<cooldown_s>:<fires>", then
 * optionally the note, len bytes at s. */
static int alert_store_parse_extra(const char *s, size_t len, struct alert_record *rec)
{
    char num[24], *end = NULL;
    size_t n = 0;

    rec->channels = ALERT_CH_DEFAULT;
    if (len == 0)
        return 0;
    while (n < len && s[n] != ' ')
        n++;
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    rec->expires_at = strtoll(num, &end, 10);
    if (*end != '\0' || rec->expires_at < 0)
        return -1;
    if (n == len)
        return 0;
    s += n + 1;
    len -= n + 1;
    if (len >= 2 && s[0] == 'c' && s[1] == ':') {
        n = alert_store_token_len(s, len);
        if (alert_channels_from_token(s + 2, n - 2, &rec->channels) != 0)
            return -1;
        if (n == len)
            return 0;
        s += n + 1;
        len -= n + 1;
    }
    if (len >= 2 && s[0] == 'r' && s[1] == ':') {
        n = alert_store_token_len(s, len);
        if (alert_store_parse_repeat(s, n, rec) != 0)
            return -1;
        if (n == len)
            return 0;
        s += n + 1;
        len -= n + 1;
    }
    return alert_store_note_parse(s, len, rec->note);
}

int alert_store_parse_entry(const char *id, const char *entry, struct alert_record *rec,
                            char *state)
{
    char ticker[MSG_TICKER_MAX], thr[ALERT_STORE_NUM_MAX], type[ALERT_STORE_COND_MAX];
    char created[ALERT_STORE_NUM_MAX];
    const char *last;
    char *end = NULL;
    int used = 0;

    memset(rec, 0, sizeof(*rec));
    /* The widths are the buffers' sizes minus one (message.h, above); the
     * state is the last field, one character. */
    last = strrchr(entry, ' ');
    if (sscanf(entry, "%31s %31s %95s %31s%n", ticker, thr, type, created, &used) != 4 ||
        last == NULL || last < entry + used || strlen(last) != 2 || !msg_id_valid(id) ||
        !msg_ticker_valid(ticker) || alert_store_cond_parse(type, rec) != 0)
        return -1;
    if (last > entry + used &&
        (entry[used] != ' ' ||
         alert_store_parse_extra(entry + used + 1, (size_t)(last - entry - used - 1), rec) != 0))
        return -1;
    snprintf(rec->alert_id, sizeof(rec->alert_id), "%s", id);
    snprintf(rec->ticker, sizeof(rec->ticker), "%s", ticker);
    rec->threshold = strtod(thr, &end);
    if (end == thr || *end != '\0')
        return -1;
    rec->created_at = strtod(created, &end);
    if (end == created || *end != '\0')
        return -1;
    *state = last[1];
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
