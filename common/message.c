/* message: jansson-based codecs for price and alert messages. */
#include "message.h"

#include "channels.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* 16 significant digits keep microseconds in a timestamp and print 178.52
 * as 178.52. */
#define MSG_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(16))

static const char *const msg_type_names[] = {"above", "below", "crosses", "percent_up",
                                             "percent_down"};

const char *alert_type_name(enum alert_type t)
{
    if ((int)t < 0 || (size_t)t >= sizeof(msg_type_names) / sizeof(msg_type_names[0]))
        return "above";
    return msg_type_names[t];
}

int alert_type_parse(const char *s, enum alert_type *out)
{
    for (size_t i = 0; i < sizeof(msg_type_names) / sizeof(msg_type_names[0]); i++) {
        if (strcmp(s, msg_type_names[i]) == 0) {
            *out = (enum alert_type)i;
            return 0;
        }
    }
    return -1;
}

const char *alert_dir_name(enum alert_dir d)
{
    return d == ALERT_DIR_UP ? "up" : d == ALERT_DIR_DOWN ? "down" : "";
}

int alert_dir_parse(const char *s, enum alert_dir *out)
{
    if (strcmp(s, "up") == 0)
        *out = ALERT_DIR_UP;
    else if (strcmp(s, "down") == 0)
        *out = ALERT_DIR_DOWN;
    else
        return -1;
    return 0;
}

int msg_ticker_valid(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '=' || c == '^'))
            return 0;
        if (n + 1 >= MSG_TICKER_MAX)
            return 0;
    }
    return n > 0;
}

int msg_id_valid(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (n + 1 >= MSG_ID_MAX)
            return 0;
    }
    return n > 0;
}

/* The length of the UTF-8 sequence starting at s[0..len) and its code
 * point in *cp, or 0 when it is not one (truncated, overlong, a surrogate,
 * beyond U+10FFFF). */
static size_t msg_utf8_next(const unsigned char *s, size_t len, unsigned long *cp)
{
    static const unsigned long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    if (n > len)
        return 0;
    *cp = s[0] & (0xff >> (n + 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    if (*cp < min[n] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return n;
}

int msg_note_check(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t chars = 0;

    for (size_t i = 0; i < len;) {
        unsigned long cp;
        size_t n = msg_utf8_next(u + i, len - i, &cp);
        if (n == 0)
            return MSG_NOTE_BAD_UTF8;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return MSG_NOTE_CONTROL;
        if (++chars > MSG_NOTE_CHARS)
            return MSG_NOTE_TOO_LONG;
        i += n;
    }
    return MSG_NOTE_OK;
}

int msg_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned long cp;

    for (size_t i = 0, n; i < len; i += n) {
        n = msg_utf8_next(u + i, len - i, &cp);
        if (n == 0)
            return 0;
    }
    return 1;
}

static int msg_dump(json_t *obj, char *out, size_t outlen)
{
    size_t n;

    if (obj == NULL)
        return -1;
    n = json_dumpb(obj, out, outlen, MSG_JSON_FLAGS);
    json_decref(obj);
    if (n == 0 || n >= outlen)
        return -1;
    out[n] = '\0';
    return (int)n;
}

int price_msg_encode(const struct price_msg *m, char *out, size_t outlen)
{
    json_t *obj;

    if (!msg_ticker_valid(m->ticker) || !isfinite(m->price) || m->price <= 0 ||
        !isfinite(m->timestamp) || m->timestamp <= 0 || !isfinite(m->previous_close) ||
        m->previous_close < 0 ||
        (m->has_decimals && (m->decimals < 0 || m->decimals > MSG_DECIMALS_MAX)))
        return -1;
    obj = json_pack("{s:s, s:f, s:f, s:s, s:s, s:s}", "ticker", m->ticker, "price", m->price,
                    "timestamp", m->timestamp, "company", m->company, "display_name",
                    m->display_name, "source", m->source);
    if (obj != NULL && m->previous_close > 0)
        json_object_set_new(obj, "previous_close", json_real(m->previous_close));
    if (obj != NULL && m->has_decimals)
        json_object_set_new(obj, "decimals", json_integer(m->decimals));
    return msg_dump(obj, out, outlen);
}

static int msg_source_valid(const char *s)
{
    return strcmp(s, "yahoo") == 0 || strcmp(s, "sim") == 0 || strcmp(s, "replay") == 0;
}

int asset_msg_encode(const struct asset_msg *m, char *out, size_t outlen)
{
    json_t *obj;

    if (!msg_ticker_valid(m->ticker) || !msg_source_valid(m->source) || m->interval_ms < 1 ||
        m->interval_ms > MSG_ASSET_INTERVAL_MAX || m->valid_ms < 1 ||
        m->valid_ms > MSG_ASSET_VALID_MAX || !isfinite(m->published_at) || m->published_at <= 0)
        return -1;
    obj = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:f}", "ticker", m->ticker, "company",
                    m->company, "display_name", m->display_name, "source", m->source, "interval_ms",
                    (json_int_t)m->interval_ms, "valid_ms", (json_int_t)m->valid_ms, "published_at",
                    m->published_at);
    return msg_dump(obj, out, outlen);
}

/* "channels" of a set that is not the default, as its JSON array. */
static int msg_channels_set(json_t *obj, unsigned channels)
{
    char text[ALERT_CH_JSON_MAX];
    json_t *v;

    alert_channels_json(channels, text);
    v = json_loads(text, 0, NULL);
    return v != NULL ? json_object_set_new(obj, "channels", v) : -1;
}

int alert_msg_encode(const struct alert_msg *m, char *out, size_t outlen)
{
    json_t *obj;

    if (!msg_id_valid(m->alert_id) || !msg_id_valid(m->user_id) || !msg_ticker_valid(m->ticker) ||
        !isfinite(m->price) || !isfinite(m->threshold) || !isfinite(m->timestamp) ||
        (m->type == ALERT_CROSSES && m->direction == ALERT_DIR_NONE) || !isfinite(m->percent) ||
        !isfinite(m->reference_price) || msg_note_check(m->note, strlen(m->note)) != MSG_NOTE_OK)
        return -1;
    if (m->expired)
        obj =
            json_pack("{s:s, s:s, s:s, s:f, s:s, s:s, s:I, s:f, s:s}", "alert_id", m->alert_id,
                      "user_id", m->user_id, "ticker", m->ticker, "threshold", m->threshold, "type",
                      alert_type_name(m->type), "status", "expired", "expires_at",
                      (json_int_t)m->expires_at, "timestamp", m->timestamp, "message", m->message);
    else
        obj = json_pack("{s:s, s:s, s:s, s:f, s:f, s:s, s:f, s:s}", "alert_id", m->alert_id,
                        "user_id", m->user_id, "ticker", m->ticker, "price", m->price, "threshold",
                        m->threshold, "type", alert_type_name(m->type), "timestamp", m->timestamp,
                        "message", m->message);
    if (obj != NULL && m->type == ALERT_CROSSES)
        json_object_set_new(obj, "direction", json_string(alert_dir_name(m->direction)));
    if (obj != NULL && (m->type == ALERT_PERCENT_UP || m->type == ALERT_PERCENT_DOWN)) {
        json_object_set_new(obj, "percent", json_real(m->percent));
        if (m->window_s > 0)
            json_object_set_new(obj, "window_s", json_integer(m->window_s));
        if (m->window_s == 0 || !m->expired)
            json_object_set_new(obj, "reference_price", json_real(m->reference_price));
    }
    if (obj != NULL && m->firing > 0) {
        json_object_set_new(obj, "repeat", json_string("every"));
        json_object_set_new(obj, "cooldown_s", json_integer((json_int_t)m->cooldown_s));
        json_object_set_new(obj, "firing", json_integer((json_int_t)m->firing));
    }
    if (obj != NULL && m->note[0] != '\0')
        json_object_set_new(obj, "note", json_string(m->note));
    if (obj != NULL && m->channels != 0 && m->channels != ALERT_CH_DEFAULT &&
        msg_channels_set(obj, m->channels) != 0) {
        json_decref(obj);
        return -1;
    }
    if (obj != NULL && m->event_id[0] != '\0')
        json_object_set_new(obj, "event_id", json_string(m->event_id));
    if (obj != NULL && m->prev_event_id[0] != '\0')
        json_object_set_new(obj, "prev_event_id", json_string(m->prev_event_id));
    if (obj != NULL && m->seq > 0)
        json_object_set_new(obj, "seq", json_integer((json_int_t)m->seq));
    return msg_dump(obj, out, outlen);
}

/* Parses and checks that the top level is an object; NULL with err otherwise. */
static json_t *msg_load(const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root;

    if (len > MSG_MAX_BYTES) {
        snprintf(err, errlen, "message too large (%zu bytes, max %d)", len, MSG_MAX_BYTES);
        return NULL;
    }
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Copies a string field. required: absence is an error; otherwise def. */
static int msg_get_str(json_t *root, const char *key, int required, const char *def, char *out,
                       size_t outlen, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    const char *s;

    if (v == NULL) {
        if (required) {
            snprintf(err, errlen, "missing field '%s'", key);
            return -1;
        }
        s = def;
    } else if (!json_is_string(v)) {
        snprintf(err, errlen, "field '%s' must be a string", key);
        return -1;
    } else {
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v)) {
            snprintf(err, errlen, "field '%s' contains a NUL byte", key);
            return -1;
        }
    }
    if (strlen(s) >= outlen) {
        snprintf(err, errlen, "field '%s' too long", key);
        return -1;
    }
    snprintf(out, outlen, "%s", s);
    return 0;
}

/* A required finite number; positive when must_be_positive. */
static int msg_get_num(json_t *root, const char *key, int must_be_positive, double *out, char *err,
                       size_t errlen)
{
    json_t *v = json_object_get(root, key);
    double d;

    if (v == NULL) {
        snprintf(err, errlen, "missing field '%s'", key);
        return -1;
    }
    if (!json_is_number(v)) {
        snprintf(err, errlen, "field '%s' must be a number", key);
        return -1;
    }
    d = json_number_value(v);
    if (!isfinite(d) || (must_be_positive && d <= 0)) {
        snprintf(err, errlen, "field '%s' must be a finite number%s", key,
                 must_be_positive ? " > 0" : "");
        return -1;
    }
    *out = d;
    return 0;
}

/* An optional history position "<ms>-<n>", stored in canonical form; out
 * stays "" when absent. */
static int msg_get_evid(json_t *root, const char *key, char out[EVID_TEXT_MAX], char *err,
                        size_t errlen)
{
    char text[EVID_INPUT_MAX + 1];
    struct evid id;

    if (json_object_get(root, key) == NULL)
        return 0;
    if (msg_get_str(root, key, 1, NULL, text, sizeof(text), err, errlen) != 0)
        return -1;
    if (strchr(text, '-') == NULL || evid_parse(text, &id) != 0) {
        snprintf(err, errlen, "field '%s' must be a history position like 1764087000123-0", key);
        return -1;
    }
    evid_format(&id, out);
    return 0;
}

/* A required integer field in lo..hi. */
static int msg_get_long(json_t *root, const char *key, long lo, long hi, long *out, char *err,
                        size_t errlen)
{
    json_t *v = json_object_get(root, key);

    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "field '%s' must be an integer in %ld..%ld", key, lo, hi);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

/* The required "ticker", a valid symbol. */
static int msg_get_ticker(json_t *root, char *out, size_t outlen, char *err, size_t errlen)
{
    if (msg_get_str(root, "ticker", 1, NULL, out, outlen, err, errlen) != 0)
        return -1;
    if (!msg_ticker_valid(out)) {
        snprintf(err, errlen, "field 'ticker' is not a valid symbol");
        return -1;
    }
    return 0;
}

/* The names of an asset (company, display_name: the ticker when absent) and
 * its source ("yahoo", "sim" or "replay"; "sim" when absent unless
 * required). */
static int msg_get_names_source(json_t *root, const char *ticker, char *company, size_t clen,
                                char *name, size_t nlen, int source_required, char *source,
                                size_t slen, char *err, size_t errlen)
{
    if (msg_get_str(root, "company", 0, ticker, company, clen, err, errlen) != 0 ||
        msg_get_str(root, "display_name", 0, ticker, name, nlen, err, errlen) != 0 ||
        msg_get_str(root, "source", source_required, source_required ? NULL : "sim", source, slen,
                    err, errlen) != 0)
        return -1;
    if (!msg_source_valid(source)) {
        snprintf(err, errlen, "field 'source' must be yahoo, sim or replay");
        return -1;
    }
    return 0;
}

/* The optional fields of a price: previous_close (> 0) and decimals. */
static int msg_price_optional(json_t *root, struct price_msg *m, char *err, size_t errlen)
{
    long d;

    if (json_object_get(root, "previous_close") != NULL &&
        msg_get_num(root, "previous_close", 1, &m->previous_close, err, errlen) != 0)
        return -1;
    if (json_object_get(root, "decimals") == NULL)
        return 0;
    if (msg_get_long(root, "decimals", 0, MSG_DECIMALS_MAX, &d, err, errlen) != 0)
        return -1;
    m->decimals = (int)d;
    m->has_decimals = 1;
    return 0;
}

int price_msg_decode(const char *data, size_t len, struct price_msg *m, char *err, size_t errlen)
{
    json_t *root = msg_load(data, len, err, errlen);
    int rc = -1;

    if (root == NULL)
        return -1;
    memset(m, 0, sizeof(*m));
    if (msg_get_ticker(root, m->ticker, sizeof(m->ticker), err, errlen) != 0)
        goto out;
    if (msg_get_num(root, "price", 1, &m->price, err, errlen) != 0 ||
        msg_get_num(root, "timestamp", 1, &m->timestamp, err, errlen) != 0 ||
        msg_get_names_source(root, m->ticker, m->company, sizeof(m->company), m->display_name,
                             sizeof(m->display_name), 0, m->source, sizeof(m->source), err,
                             errlen) != 0 ||
        msg_price_optional(root, m, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int asset_msg_decode(const char *data, size_t len, struct asset_msg *m, char *err, size_t errlen)
{
    json_t *root = msg_load(data, len, err, errlen);
    int rc = -1;

    if (root == NULL)
        return -1;
    memset(m, 0, sizeof(*m));
    if (msg_get_ticker(root, m->ticker, sizeof(m->ticker), err, errlen) != 0)
        goto out;
    if (msg_get_names_source(root, m->ticker, m->company, sizeof(m->company), m->display_name,
                             sizeof(m->display_name), 1, m->source, sizeof(m->source), err,
                             errlen) != 0 ||
        msg_get_long(root, "interval_ms", 1, MSG_ASSET_INTERVAL_MAX, &m->interval_ms, err,
                     errlen) != 0 ||
        msg_get_long(root, "valid_ms", 1, MSG_ASSET_VALID_MAX, &m->valid_ms, err, errlen) != 0 ||
        msg_get_num(root, "published_at", 1, &m->published_at, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* The optional fields of an alert: "status" ("fired" or "expired"; an
 * expired one has its "expires_at" and no price) and "note". */
static int msg_alert_optional(json_t *root, struct alert_msg *m, char *err, size_t errlen)
{
    char status[8];
    json_t *v;

    if (msg_get_str(root, "status", 0, "fired", status, sizeof(status), err, errlen) != 0)
        return -1;
    if (strcmp(status, "expired") == 0) {
        v = json_object_get(root, "expires_at");
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            snprintf(err, errlen, "field 'expires_at' must be a positive integer");
            return -1;
        }
        m->expired = 1;
        m->expires_at = (long long)json_integer_value(v);
    } else if (strcmp(status, "fired") != 0) {
        snprintf(err, errlen, "field 'status' must be fired or expired");
        return -1;
    }
    if (alert_channels_from_json(json_object_get(root, "channels"), &m->channels, err, errlen) != 0)
        return -1;
    if (msg_get_str(root, "note", 0, "", m->note, sizeof(m->note), err, errlen) != 0)
        return -1;
    if (msg_note_check(m->note, strlen(m->note)) != MSG_NOTE_OK) {
        snprintf(err, errlen, "field 'note' must be at most %d characters, no control character",
                 MSG_NOTE_CHARS);
        return -1;
    }
    return 0;
}

/* A percent alert's optional "window_s" (MSG_WINDOW_MIN_S..MAX seconds). */
static int msg_alert_window(json_t *root, struct alert_msg *m, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "window_s");

    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < MSG_WINDOW_MIN_S ||
        json_integer_value(v) > MSG_WINDOW_MAX_S) {
        snprintf(err, errlen, "field 'window_s' must be an integer from %d to %d", MSG_WINDOW_MIN_S,
                 MSG_WINDOW_MAX_S);
        return -1;
    }
    m->window_s = (int)json_integer_value(v);
    return 0;
}

/* A repeating alert's firing: "repeat" ("once", the default, or "every"
 * with "cooldown_s" and "firing"). */
static int msg_alert_repeat(json_t *root, struct alert_msg *m, char *err, size_t errlen)
{
    char repeat[8];

    if (msg_get_str(root, "repeat", 0, "once", repeat, sizeof(repeat), err, errlen) != 0)
        return -1;
    if (strcmp(repeat, "once") == 0)
        return 0;
    if (strcmp(repeat, "every") != 0) {
        snprintf(err, errlen, "field 'repeat' must be once or every");
        return -1;
    }
    if (msg_get_long(root, "cooldown_s", 1, MSG_COOLDOWN_MAX, &m->cooldown_s, err, errlen) != 0 ||
        msg_get_long(root, "firing", 1, LONG_MAX, &m->firing, err, errlen) != 0)
        return -1;
    return 0;
}

void alert_msg_delivery_key(const struct alert_msg *m, char out[MSG_DELIVERY_KEY_MAX])
{
    if (m->firing > 0)
        snprintf(out, MSG_DELIVERY_KEY_MAX, "%s.%ld", m->alert_id, m->firing);
    else
        snprintf(out, MSG_DELIVERY_KEY_MAX, "%s", m->alert_id);
}

int msg_delivery_key_valid(const char *s)
{
    char id[MSG_ID_MAX];
    const char *dot = strchr(s, '.');
    size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);

    if (n >= sizeof(id))
        return 0;
    memcpy(id, s, n);
    id[n] = '\0';
    if (!msg_id_valid(id))
        return 0;
    if (dot == NULL)
        return 1;
    if (dot[1] < '1' || dot[1] > '9' || strlen(dot + 1) > 19)
        return 0;
    for (const char *p = dot + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return 0;
    }
    return 1;
}

/* The fields that say which condition fired: a crosses alert's
 * "direction", a percent one's "percent" and "reference_price". */
static int msg_alert_condition(json_t *root, struct alert_msg *m, char *err, size_t errlen)
{
    char dir[8];

    if (m->type == ALERT_CROSSES) {
        if (msg_get_str(root, "direction", 1, NULL, dir, sizeof(dir), err, errlen) != 0)
            return -1;
        if (alert_dir_parse(dir, &m->direction) != 0) {
            snprintf(err, errlen, "field 'direction' must be up or down");
            return -1;
        }
    } else if (m->type == ALERT_PERCENT_UP || m->type == ALERT_PERCENT_DOWN) {
        if (msg_get_num(root, "percent", 1, &m->percent, err, errlen) != 0 ||
            msg_alert_window(root, m, err, errlen) != 0)
            return -1;
        /* an expired window alert has no reference: it never fired */
        if ((m->window_s == 0 || !m->expired || json_object_get(root, "reference_price") != NULL) &&
            msg_get_num(root, "reference_price", 1, &m->reference_price, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int alert_msg_decode(const char *data, size_t len, struct alert_msg *m, char *err, size_t errlen)
{
    json_t *root = msg_load(data, len, err, errlen);
    json_t *seq;
    char type[16];
    int rc = -1;

    if (root == NULL)
        return -1;
    memset(m, 0, sizeof(*m));
    if (msg_get_str(root, "alert_id", 1, NULL, m->alert_id, sizeof(m->alert_id), err, errlen) !=
            0 ||
        msg_get_str(root, "user_id", 1, NULL, m->user_id, sizeof(m->user_id), err, errlen) != 0 ||
        msg_get_str(root, "ticker", 1, NULL, m->ticker, sizeof(m->ticker), err, errlen) != 0 ||
        msg_get_str(root, "type", 1, NULL, type, sizeof(type), err, errlen) != 0 ||
        msg_get_str(root, "message", 0, "", m->message, sizeof(m->message), err, errlen) != 0)
        goto out;
    if (!msg_id_valid(m->alert_id) || !msg_id_valid(m->user_id)) {
        snprintf(err, errlen, "field 'alert_id' or 'user_id' is not a valid id");
        goto out;
    }
    if (!msg_ticker_valid(m->ticker)) {
        snprintf(err, errlen, "field 'ticker' is not a valid symbol");
        goto out;
    }
    if (alert_type_parse(type, &m->type) != 0) {
        snprintf(err, errlen,
                 "field 'type' must be above, below, crosses, percent_up or percent_down");
        goto out;
    }
    if (msg_alert_optional(root, m, err, errlen) != 0 ||
        msg_alert_condition(root, m, err, errlen) != 0 ||
        msg_alert_repeat(root, m, err, errlen) != 0)
        goto out;
    if ((!m->expired && msg_get_num(root, "price", 1, &m->price, err, errlen) != 0) ||
        msg_get_num(root, "threshold", 1, &m->threshold, err, errlen) != 0 ||
        msg_get_num(root, "timestamp", 1, &m->timestamp, err, errlen) != 0)
        goto out;
    if (msg_get_evid(root, "event_id", m->event_id, err, errlen) != 0 ||
        msg_get_evid(root, "prev_event_id", m->prev_event_id, err, errlen) != 0)
        goto out;
    seq = json_object_get(root, "seq");
    if (seq != NULL) {
        if (!json_is_integer(seq) || json_integer_value(seq) < 0) {
            snprintf(err, errlen, "field 'seq' must be a non-negative integer");
            goto out;
        }
        m->seq = json_integer_value(seq);
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}
