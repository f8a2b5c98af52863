/* alert_store: the alerts in Redis, shared by the webapp and the evaluator.
 * Every script (common/lua/) touches the keys of one Redis Cluster slot,
 * all passed in KEYS; what spans a user's and a ticker's slot is a short
 * sequence of idempotent single-slot steps, ordered so that a crash between
 * two loses nothing (docs/key-schema.md: each sequence, each crash point,
 * the sweeps). This header describes the keys and holds the webapp's side:
 * a user's alerts created (once per idempotency key), listed, deleted, and
 * the repair sweeps. The evaluator's side, claiming fired alerts into the
 * outboxes and delivering them into the users' histories, is
 * alert_store_claim.h; the histories are read through alert_history.h.
 *
 * Keys (schema 3; braces are real hash tags: {U} a user id, {T} a ticker):
 *   user_alerts:{U}           hash alert id -> "ticker threshold cond created_at
 *                             [expires_at [c:<channels>] [r:<cooldown_s>:<fires>]
 *                             [note]] state", state p
 *                             (pending: not armed yet) or a (armed) always last; the
 *                             note is its JSON string; the channels' token only when
 *                             they are not the default; an entry of before has none
 *                             (never expires)
 *   alert_idem:{U}:<key>      "<alert id> <ticker threshold type>" of the alert a create
 *                             with this idempotency key stored (expires: 60 s for
 *                             nginx's X-Request-Id, 1 h for a client's Idempotency-Key)
 *   alert_events:{U}          the user's fired alerts (alert_history.h)
 *   ticker_alerts:{T}         hash alert id -> "user_id threshold cond [expires_at
 *                             [c:<channels>] [r:<cooldown_s>:<fires>:<cool_until>]
 *                             [note]]"
 *   alert_idx:{T}:above       sorted set id -> threshold   (price >  threshold fires)
 *   alert_idx:{T}:below       sorted set id -> threshold   (price <  threshold fires)
 *   alert_windows:{T}, alert_idx:{T}:w<w>:up|down, alert_win:{T}:<w>:min|max
 *                             the rolling windows of percent alerts with a window
 *                             (common/lua/window.lua: built inside the scripts from
 *                             the ticker's hash tag, same slot)
 *   alert_idx:{T}:rearm_below sorted set id -> level of a repeating above-side alert
 *                             that fired (re-armed when price < level); rearm_above
 *                             the same for the below side
 *   alert_cool:{T}            sorted set id -> cooldown end (Unix s) of a repeating
 *                             alert that crossed back within its cooldown
 *   alerts_outbox:{T}         stream of claimed alerts not yet acknowledged by Kafka:
 *                             "payload" (the alert JSON without positions), "user_id"
 *                             (the Kafka key), "alert_id"
 *   alert_store:schema        3 once the keys of schema 2 were migrated
 *                             (alert_store_migrate.h)
 * cond is the type ("above", "below"), "crosses:up|down" or
 * "percent_up|percent_down:<percent>:<reference price>" (the threshold is
 * then the level); a crosses or percent alert is in the above or below
 * index by its side (alert_store_side). A percent alert with a rolling
 * window is "percent_up|percent_down:<percent>:w<window_s>" (the threshold
 * the level against the reference price when set, for the list) and sits in
 * its window's index instead.
 * Thresholds keep their shortest round-trip text in both hashes.
 *
 * Failure: functions return -1 when Redis is unreachable or answers an error
 * (e.g. a full disk) and fill err; a step that failed halfway is finished or
 * undone by a retry or a sweep (docs/key-schema.md). */
#ifndef SA_ALERT_STORE_H
#define SA_ALERT_STORE_H

#include <stddef.h>

#include "channels.h"
#include "message.h"
#include "redis.h"

#define ALERT_STORE_ERR_MAX 256

/* Result codes beyond 0 / -1. */
#define ALERT_STORE_LIMIT (-2)    /* create: user already has max_per_user alerts */
#define ALERT_STORE_NOTFOUND (-3) /* delete: no such alert or not the caller's */
#define ALERT_STORE_REPLAY (-4)   /* create_once: done before under this key */
#define ALERT_STORE_CONFLICT (-5) /* create_once: key used before for another request */
#define ALERT_STORE_WINDOWS (-6)  /* create: the ticker has ALERT_STORE_WINDOWS_MAX windows */

/* A percent alert's rolling window (window_s): from MIN to MAX seconds, and
 * at most WINDOWS_MAX distinct windows per ticker (each costs every tick of
 * the ticker two deque updates and two index reads in the claim). */
#define ALERT_STORE_WINDOW_MIN_S MSG_WINDOW_MIN_S
#define ALERT_STORE_WINDOW_MAX_S MSG_WINDOW_MAX_S
#define ALERT_STORE_WINDOWS_MAX 8

#define ALERT_STORE_IDEM_MAX 65 /* an idempotency key, with its NUL */

struct alert_record {
    char alert_id[MSG_ID_MAX];
    char user_id[MSG_ID_MAX];
    char ticker[MSG_TICKER_MAX];
    double threshold;
    enum alert_type type;
    double created_at; /* Unix seconds */
    /* Unix seconds; 0: none (an alert stored before expiry existed: it never
     * expires). Past it the alert never fires: the claim and the sweep
     * (alert_store_sweep_step) put it in the user's history as expired. */
    long long expires_at;
    char note[MSG_NOTE_MAX]; /* "" none; else msg_note_check holds */
    unsigned channels;       /* channels.h; 0 is read as ALERT_CH_DEFAULT */
    /* The condition beyond above / below (issue 18), fixed when the alert
     * is set: a crosses alert's direction (up: the price was below the
     * threshold); a percent alert's percent and reference price (the
     * ticker's price then), its threshold being the level they give. */
    enum alert_dir direction;
    double percent;
    double reference_price;
    /* A percent alert's rolling window in seconds (0: none, the reference
     * is the price when set): it fires against the lowest (highest) price
     * of the last window_s seconds. reference_price is then the price when
     * set, which starts the window's history if it is new; it is not
     * stored (0 in a listed record). */
    int window_s;
    /* A repeating alert ("repeat":"every"): 0 for a one-shot alert (every
     * alert of before); else it stays armed, fires at most once per
     * cooldown_s seconds (MSG_COOLDOWN_MIN..MAX) and is re-armed only
     * once the price went back across its level. fires: how many of its
     * firings its user's history took (listed; the next firing is fires + 1). */
    long cooldown_s;
    long fires;
};

/* The index an alert is armed in, ALERT_ABOVE (fires when the price is
 * above its threshold: above, crosses up, percent_up) or ALERT_BELOW. */
enum alert_type alert_store_side(const struct alert_record *rec);

/* Stores a new alert for rec->user_id (rec->alert_id must be a fresh id,
 * e.g. from alert_store_new_id). Returns 0, ALERT_STORE_LIMIT when the user
 * already has max_per_user alerts (nothing stored), or -1 with err.
 * With an idempotency key, once per key and user: a request
 * retried with the same key (a proxy retrying after a replica died before
 * answering, a client repeating a POST) stores nothing new and returns
 * ALERT_STORE_REPLAY with rec->alert_id set to the alert stored the first
 * time (and rec->expires_at set to the stored alert's); the same key with
 * another ticker, threshold, type or note stores nothing and returns
 * ALERT_STORE_CONFLICT (expires_at is not compared: a default one differs
 * on every retry). idem_key NULL: no key (rec is not
 * written then). A key is remembered for idem_ttl_s seconds (>= 1): what it
 * costs in Redis is one small key per create over that window.
 * A window alert whose ticker has ALERT_STORE_WINDOWS_MAX other windows in
 * use already: ALERT_STORE_WINDOWS, nothing stored, err lists the windows in
 * use ("60, 300").
 * Three steps (user slot: the pending entry; ticker slot: armed; user slot:
 * marked armed). On -1 the entry was taken back, or is left pending: a
 * retry with the same key arms the stored id (and returns REPLAY), else the
 * repair sweep removes it. */
int alert_store_create_once(struct redis_conn *rc, struct alert_record *rec, int max_per_user,
                            const char *idem_key, int idem_ttl_s, char *err, size_t errlen);

/* One create of alert_store_create_batch: rec, max_per_user, idem_key and
 * idem_ttl_s as for alert_store_create_once; rv its result (0,
 * ALERT_STORE_LIMIT, ALERT_STORE_CONFLICT, ALERT_STORE_REPLAY with
 * rec.alert_id the stored one, or -1 with err). */
struct alert_store_create {
    struct alert_record rec;
    int max_per_user;
    const char *idem_key;
    int idem_ttl_s;
    int rv;
    char err[ALERT_STORE_ERR_MAX];
};

/* The creates cr[0..n), each exactly as alert_store_create_once would do
 * it, their steps pipelined: every first step in one round trip, then every
 * second, then every third (on a cluster, one round trip per node and step).
 * Returns 0 (each create's rv says how it went), or -1 when out of memory
 * (nothing ran). */
int alert_store_create_batch(struct redis_conn *rc, struct alert_store_create *cr, int n);

/* True when key is 1-64 characters of letters, digits, '-', '_', '.', ':'. */
int alert_store_idem_key_valid(const char *key);

/* Deletes alert_id if it belongs to user_id: out of the user's list, then
 * disarmed in the ticker's slot (if that step fails the alert is an orphan:
 * skipped if it fires, disarmed by the repair sweep; the delete still
 * returns 0). Returns 0, ALERT_STORE_NOTFOUND, or -1 with err (nothing
 * deleted). */
int alert_store_delete(struct redis_conn *rc, const char *user_id, const char *alert_id, char *err,
                       size_t errlen);

/* Lists user_id's alerts, newest first, into out[0..max), pending ones
 * included (one HGETALL). Returns the count (0..max) or -1 with err. */
int alert_store_list(struct redis_conn *rc, const char *user_id, struct alert_record *out, int max,
                     char *err, size_t errlen);

/* The repair sweeps, one SCAN page of each per call: a pending entry
 * older than a minute is marked armed when its ticker side has it, else
 * removed; an alert past its expiry is expired (alert_store_expire: out of
 * the index into its ticker's outbox, then into its user's history as
 * expired; the evaluator's outbox sweeper publishes it); an armed id whose
 * user entry is gone (a delete that stopped halfway) is disarmed. Safe from several processes at
 * once. Zero-initialise the struct; call every few seconds. now: Unix seconds. Returns the number
 * of repairs, or -1 with err (call again later). */
struct alert_store_sweep {
    char user_cursor[REDIS_SCAN_CURSOR_MAX];
    char ticker_cursor[REDIS_SCAN_CURSOR_MAX];
};
int alert_store_sweep_step(struct redis_conn *rc, struct alert_store_sweep *s, double now,
                           char *err, size_t errlen);

/* A note as stored and listed: its JSON string (quotes included, UTF-8 as
 * it is, '"', '\\' escaped), into out, NUL-terminated. 0, or -1 when note
 * is not a valid note (msg_note_check). */
#define ALERT_STORE_NOTE_JSON_MAX (2 * MSG_NOTE_MAX + 2)
int alert_store_note_json(const char *note, char out[ALERT_STORE_NOTE_JSON_MAX]);

/* Writes a fresh random UUID v4 (36 chars + NUL) into out[37]. Returns 0, or
 * -1 if no random bytes could be had. */
int alert_store_new_id(char out[37]);

#endif
