/* message: the JSON contract between the daemons — price ticks on
 * `stock-prices` (key = ticker), triggered alerts on `alerts`
 * (key = user_id) and the asset universe on `stock-assets` (key = ticker). Decoders never abort:
 * malformed, wrong-typed, non-finite or oversized input returns -1 with a reason in err. */
#ifndef SA_MESSAGE_H
#define SA_MESSAGE_H

#include <stddef.h>

#include "evid.h"

#define MSG_MAX_BYTES 4096 /* cap on one encoded message */
#define MSG_TICKER_MAX 32  /* buffer sizes, including the NUL */
#define MSG_COMPANY_MAX 128
#define MSG_NAME_MAX 64
#define MSG_SOURCE_MAX 8
#define MSG_ID_MAX 64
#define MSG_TEXT_MAX 256
#define MSG_ERR_MAX 128
#define MSG_DECIMALS_MAX 8                    /* a price's decimals, at most */
#define MSG_NOTE_CHARS 140                    /* an alert's note: Unicode code points, at most */
#define MSG_NOTE_MAX (MSG_NOTE_CHARS * 4 + 1) /* its UTF-8 bytes, with the NUL */
#define MSG_COOLDOWN_MIN 60L                  /* a repeating alert's cooldown_s, at least */
#define MSG_COOLDOWN_MAX (7L * 86400)         /* and at most (a week) */

/* An alert's condition. above / below compare with a fixed threshold; the
 * others are set against the ticker's price when the alert is set and
 * become, in the evaluator's index, an above or below entry (issue 18):
 * crosses fires when the price crosses the threshold from the side it was
 * on (its direction), percent_up / percent_down when it is at least
 * percent % above / below the reference price. */
enum alert_type {
    ALERT_ABOVE = 0,
    ALERT_BELOW = 1,
    ALERT_CROSSES = 2,
    ALERT_PERCENT_UP = 3,
    ALERT_PERCENT_DOWN = 4
};

/* Which way a crosses alert crosses: up (from below the threshold) or
 * down; none for every other type. */
enum alert_dir { ALERT_DIR_NONE = 0, ALERT_DIR_UP = 1, ALERT_DIR_DOWN = 2 };

struct price_msg {
    char ticker[MSG_TICKER_MAX];
    double price;     /* finite, > 0 */
    double timestamp; /* Unix seconds with fraction, > 0 */
    char company[MSG_COMPANY_MAX];
    char display_name[MSG_NAME_MAX];
    char source[MSG_SOURCE_MAX]; /* "yahoo", "sim" or "replay" */
    /* Optional (fields old readers ignore): the previous session's close,
     * finite and > 0, 0 when absent; the decimals the asset is quoted with
     * (0..MSG_DECIMALS_MAX), when has_decimals. */
    double previous_close;
    int has_decimals;
    int decimals;
};

/* One asset of the universe, as the producer that publishes it announces
 * it on `stock-assets` (compacted, key = ticker; docs/asset-universe.md): it
 * is in the universe until published_at + valid_ms, and is republished well
 * before. A record without a value (a tombstone) takes the asset out. */
struct asset_msg {
    char ticker[MSG_TICKER_MAX];
    char company[MSG_COMPANY_MAX];
    char display_name[MSG_NAME_MAX];
    char source[MSG_SOURCE_MAX]; /* the producer's source: "yahoo", "sim" or "replay" */
    long interval_ms;            /* its ticks' interval, 1 .. MSG_ASSET_INTERVAL_MAX */
    long valid_ms;               /* 1 .. MSG_ASSET_VALID_MAX */
    double published_at;         /* Unix seconds, > 0 */
};

#define MSG_ASSET_INTERVAL_MAX 86400000L /* a day */
#define MSG_ASSET_VALID_MAX 604800000L   /* a week */

struct alert_msg {
    char alert_id[MSG_ID_MAX];
    char user_id[MSG_ID_MAX];
    char ticker[MSG_TICKER_MAX];
    double price;
    double threshold;
    enum alert_type type;
    double timestamp;
    char message[MSG_TEXT_MAX];
    /* The alert's position in its user's history (evid.h) and the position
     * of the entry before it ("0-0": none), set by the store when it fired;
     * "" when absent. The webapp delivers by them (docs/exactly-once.md). */
    char event_id[EVID_TEXT_MAX];
    char prev_event_id[EVID_TEXT_MAX];
    long long seq; /* legacy: the store-wide seq of the version before; 0 if absent */
    /* Optional: the user's note ("" when none; msg_note_check holds), and
     * "status":"expired" for an alert that expired unfired (then price is 0:
     * an expired alert carries none, and expires_at its expiry, Unix s). */
    char note[MSG_NOTE_MAX];
    int expired;
    long long expires_at;
    /* Which condition fired (types other than above / below): a crosses
     * alert's "direction"; a percent one's "percent" and "reference_price"
     * (its threshold is the level they give). 0 / none otherwise. */
    enum alert_dir direction;
    double percent;
    double reference_price;
    /* A percent alert's rolling window, seconds ("window_s"; 0: none): its
     * reference_price is then the window's low (high) it fired against; an
     * expired one carries none. */
    int window_s;
    /* The user's channels (channels.h), ALERT_CH_DEFAULT when the message
     * has no "channels" (every alert of before). */
    unsigned channels;
    /* A repeating alert's firing ("repeat":"every","cooldown_s":c,
     * "firing":n): the alert stays set and fires again; alert_id names the
     * alert, firing (1, 2, ...) which of its firings this is. Both 0 for a
     * one-shot alert (no such members). */
    long cooldown_s;
    long firing;
};

/* A percent alert's rolling window ("window_s"), seconds: from MIN to MAX. */
#define MSG_WINDOW_MIN_S 60
#define MSG_WINDOW_MAX_S 86400

/* What identifies one delivery of an alert, for everything that
 * de-duplicates (the notifier's claim, e-mail and webhook idempotency keys):
 * the alert_id of a one-shot alert (as before), "<alert_id>.<firing>" for a
 * repeating alert's firing ('.' is in no id). */
#define MSG_DELIVERY_KEY_MAX (MSG_ID_MAX + 21)
void alert_msg_delivery_key(const struct alert_msg *m, char out[MSG_DELIVERY_KEY_MAX]);

/* True when s is a delivery key (alert_msg_delivery_key's form). */
int msg_delivery_key_valid(const char *s);

/* "above", "below", "crosses", "percent_up", "percent_down". */
const char *alert_type_name(enum alert_type t);

/* Returns 0 and sets *out, or -1 if s is none of alert_type_name's. */
int alert_type_parse(const char *s, enum alert_type *out);

/* "up" / "down" ("" for none); parse: 0, or -1 if s is neither. */
const char *alert_dir_name(enum alert_dir d);
int alert_dir_parse(const char *s, enum alert_dir *out);

/* A ticker is 1..31 characters of A-Z, 0-9, '.', '-', '=', '^'. */
int msg_ticker_valid(const char *s);

/* An id (alert or user) is 1..63 characters of [A-Za-z0-9_-]. */
int msg_id_valid(const char *s);

/* Why a note (len bytes) is refused: MSG_NOTE_OK (0) when it is valid
 * UTF-8 (no overlong form, no surrogate, at most U+10FFFF) of at most
 * MSG_NOTE_CHARS code points without a control character (C0, DEL, C1);
 * else MSG_NOTE_BAD_UTF8, MSG_NOTE_CONTROL or MSG_NOTE_TOO_LONG. */
#define MSG_NOTE_OK 0
#define MSG_NOTE_BAD_UTF8 (-1)
#define MSG_NOTE_CONTROL (-2)
#define MSG_NOTE_TOO_LONG (-3)
int msg_note_check(const char *s, size_t len);

/* True when s[0..len) is valid UTF-8 (as msg_note_check reads it). */
int msg_utf8_valid(const char *s, size_t len);

/* Writes the JSON of m into out (NUL-terminated). Returns its length, or -1
 * if a field is invalid (non-finite, empty ticker...) or out is too small. */
int price_msg_encode(const struct price_msg *m, char *out, size_t outlen);
int asset_msg_encode(const struct asset_msg *m, char *out, size_t outlen);
int alert_msg_encode(const struct alert_msg *m, char *out, size_t outlen);

/* Parses len bytes (not necessarily NUL-terminated). Returns 0 and fills m,
 * or -1 with err. Optional price fields (company, display_name, source)
 * default to the ticker / "sim" when absent, previous_close to 0 and
 * has_decimals to 0 (present, they must be valid); an alert's event_id and
 * prev_event_id, when present, must be "<ms>-<n>" positions (kept in
 * canonical form). */
int price_msg_decode(const char *data, size_t len, struct price_msg *m, char *err, size_t errlen);
int asset_msg_decode(const char *data, size_t len, struct asset_msg *m, char *err, size_t errlen);
int alert_msg_decode(const char *data, size_t len, struct alert_msg *m, char *err, size_t errlen);

/* The alert's "message" text, "BTC-USD is above $70,000.00 (Current:
 * $70,000.50)", from printf arguments ticker, type name (alert_type_name),
 * threshold and price, both already in the one number format
 * (docs/number-format.md: the asset's decimals, thousands separated by ',',
 * a threshold with as many more decimals as it was typed with). Written
 * once: the claim script (common/lua/claim.lua), which fires alerts, formats
 * the numbers and writes their JSON, gets this very string as an argument
 * (alert_store_claim.c). Its constant part needs no JSON escaping. */
#define ALERT_MSG_TEXT_FORMAT "%s is %s $%s (Current: $%s)"

/* The "message" of an alert that expired unfired, "Alert expired: BTC-USD
 * above $70,000.00", from ticker, type name and threshold (as above);
 * written by the same script. */
#define ALERT_MSG_EXPIRED_FORMAT "Alert expired: %s %s $%s"

/* The "message" of a percent alert that fired, "BTC-USD is up 5% from
 * $70,000.00 (Current: $73,600.00)", from ticker, "up" or "down", the
 * percent (shortest text), the reference price and the price (the one
 * number format); written by the same script. */
#define ALERT_MSG_PERCENT_FORMAT "%s is %s %s%% from $%s (Current: $%s)"

/* The "message" of a percent alert with a rolling window that fired,
 * "AAPL is up 5% from its 1h low of $180.00 (Current: $189.10)", from
 * ticker, "up" or "down", the percent, the window ("1h", "5min", "90s"),
 * "low" or "high", the window's low (high) it fired against and the price;
 * written by the same script. */
#define ALERT_MSG_PERCENT_WINDOW_FORMAT "%s is %s %s%% from its %s %s of $%s (Current: $%s)"

#endif
