/* alert_store_priv: what the two sides of the alert store (alert_store.c,
 * the webapp's; alert_store_claim.c, the evaluator's) share and nobody else
 * uses. Defined in alert_store.c. */
#ifndef SA_ALERT_STORE_PRIV_H
#define SA_ALERT_STORE_PRIV_H

#include <stddef.h>

#include "alert_store.h"
#include "redis.h"

#define ALERT_STORE_NUM_MAX 32
#define ALERT_STORE_KEY_MAX 128
#define ALERT_STORE_REPEAT_MAX 48 /* "r:<cooldown_s>:<fires>", with its NUL */
#define ALERT_STORE_STATE_PENDING 'p'
/* How long alert_unpended:{user} remembers a removed pending id: longer than
 * any idempotency key lives (1 h for a client's key). */
#define ALERT_STORE_UNPENDED_TTL_S "3600"
#define ALERT_STORE_STATE_ARMED 'a'
#define ALERT_STORE_PENDING_AGE_S 60 /* a pending entry older than this is repaired */

/* A script of common/lua/, loaded on first use (store_lua.h). */
/* clang-format off */
#define ALERT_STORE_SCRIPT(name) {(const char *)store_lua_##name, {0}}
/* clang-format on */

/* One script call of a pipeline (alert_store_pipe_run). keys and args are
 * the caller's and must stay valid during the call. */
struct alert_store_call {
    struct redis_script *script;
    int nkeys;
    const char **keys;
    int nargs;
    const char **args;
};

/* Runs the n calls in one pipeline (one round trip) and stores each reply in
 * replies[i] (the caller frees each non-NULL one). A script Redis did not
 * know (NOSCRIPT: it did not run) is loaded and that call sent again. Every
 * call of a pipeline must touch one slot: all its keys share one hash tag.
 * Returns 0 when every reply was read, -1 when the connection failed (then
 * the replies from the failed one on are NULL: those calls may have run). */
int alert_store_pipe_run(struct redis_conn *rc, const struct alert_store_call *calls, int n,
                         redisReply **replies);

/* The single-slot steps the sweeps share with create and delete
 * (alert_store.c); each returns -1 with err when Redis failed.
 * alert_store_mark: a pending entry of user_alerts:{user} becomes armed: 1,
 * 0 when it was removed while pending, 2 when it is gone after it was armed
 * (fired or deleted). alert_store_unpend: removes the entry if it
 * is still pending (and, with created_before, was created before that Unix
 * time in text): 1 removed, 0 not. alert_store_disarm: removes the id from
 * the ticker's hash and indexes: 1 it was armed, 0 not. */
int alert_store_mark(struct redis_conn *rc, const char *user, const char *id, char *err,
                     size_t errlen);
int alert_store_unpend(struct redis_conn *rc, const char *user, const char *id,
                       const char *created_before, char *err, size_t errlen);
int alert_store_disarm(struct redis_conn *rc, const char *ticker, const char *id, char *err,
                       size_t errlen);

/* The keys of a ticker's slot, in the order claim.lua and disarm.lua take
 * them: ticker_alerts, alert_idx above and below, alerts_outbox, alert_idx
 * rearm_above and rearm_below, alert_cool (alert_store.h); keys[i] points
 * at k[i]. */
#define ALERT_STORE_TICKER_KEYS 7
void alert_store_ticker_keys(const char *ticker,
                             char k[ALERT_STORE_TICKER_KEYS][ALERT_STORE_KEY_MAX],
                             const char *keys[ALERT_STORE_TICKER_KEYS]);

/* Parses a user_alerts:{user} value ("ticker threshold type created_at
 * [expires_at [note]] state") of alert id into rec (user_id left empty)
 * and *state. 0, or -1 when malformed. */
int alert_store_parse_entry(const char *id, const char *entry, struct alert_record *rec,
                            char *state);

/* Writes the shortest decimal text that reads back as d (at most 17
 * digits) into out, NUL-terminated. Never fails. */
void alert_store_fmt_num(double d, char out[ALERT_STORE_NUM_MAX]);

/* Copies a string reply element into out[outlen], NUL-terminated. Returns 0,
 * or -1 (out untouched) if e is not a string or does not fit. */
int alert_store_copy(const redisReply *e, char *out, size_t outlen);

#endif
