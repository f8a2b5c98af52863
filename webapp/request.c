/* request: what the webapp reads from clients — the set-alert body, the
 * Content-Type of a state-changing request and the
 * origin it comes from (Origin, Referer, Sec-Fetch-Site against Host or
 * nginx's X-Forwarded-Host/-Proto). Pure functions: no I/O, every input
 * bounded, errors are messages for the client (fuzz targets call these
 * directly). */
#include "webapp.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define REQUEST_BODY_MAX 4096
#define REQUEST_THRESHOLD_RANGE_MSG "Threshold must be a number from 0.000001 to 1000000000"

static int request_fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

static int request_get_ticker(json_t *root, struct set_alert_req *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "ticker");
    const char *s;

    if (v == NULL)
        return request_fail(err, errlen, "Missing field 'ticker'");
    if (!json_is_string(v))
        return request_fail(err, errlen, "Field 'ticker' must be a string");
    s = json_string_value(v);
    if (json_string_length(v) >= sizeof(out->ticker) || !msg_ticker_valid(s)) {
        snprintf(err, errlen, "Unknown ticker: %.31s", s);
        return -1;
    }
    memcpy(out->ticker, s, json_string_length(v) + 1);
    return 0;
}

static int request_is_percent(enum alert_type t)
{
    return t == ALERT_PERCENT_UP || t == ALERT_PERCENT_DOWN;
}

/* True when the body's type is a percent one (read before the type is
 * checked, so that an above / below request's errors come in the order
 * of before). */
static int request_names_percent(json_t *root)
{
    json_t *v = json_object_get(root, "type");
    enum alert_type t;

    return json_is_string(v) && alert_type_parse(json_string_value(v), &t) == 0 &&
           request_is_percent(t);
}

static int request_get_threshold(json_t *root, struct set_alert_req *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "threshold");
    double d;

    if (request_names_percent(root)) {
        if (v != NULL)
            return request_fail(err, errlen,
                                "Field 'threshold' is not allowed with type percent_up or "
                                "percent_down (they take 'percent')");
        return 0;
    }
    if (v == NULL)
        return request_fail(err, errlen, "Missing field 'threshold'");
    if (!json_is_number(v))
        return request_fail(err, errlen, "Field 'threshold' must be a number");
    d = json_number_value(v);
    /* Bounded so that whatever is stored can be delivered: an alert's
     * message prints the threshold with two decimals in a capped field, and
     * every JSON reader must read it back as the same finite number. The
     * range covers every real asset, from fractions of a cent (small
     * tokens) to a billion. */
    if (!isfinite(d) || d < REQUEST_THRESHOLD_MIN || d > REQUEST_THRESHOLD_MAX)
        return request_fail(err, errlen, REQUEST_THRESHOLD_RANGE_MSG);
    out->threshold = d;
    return 0;
}

static int request_get_type(json_t *root, struct set_alert_req *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "type");

    if (v == NULL)
        return request_fail(err, errlen, "Missing field 'type'");
    if (!json_is_string(v))
        return request_fail(err, errlen, "Field 'type' must be a string");
    if (alert_type_parse(json_string_value(v), &out->type) != 0)
        return request_fail(
            err, errlen,
            "Type must be 'above', 'below', 'crosses', 'percent_up' or 'percent_down'");
    return 0;
}

/* The optional rolling window of a percent type (absent or null: none). */
static int request_get_window(json_t *root, struct set_alert_req *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "window_s");
    json_int_t w;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!request_is_percent(out->type))
        return request_fail(err, errlen,
                            "Field 'window_s' is only allowed with type percent_up or "
                            "percent_down");
    if (!json_is_integer(v))
        return request_fail(err, errlen, "Field 'window_s' must be an integer (seconds)");
    w = json_integer_value(v);
    if (w < ALERT_STORE_WINDOW_MIN_S || w > ALERT_STORE_WINDOW_MAX_S) {
        snprintf(err, errlen, "Field 'window_s' must be from %d to %d seconds",
                 ALERT_STORE_WINDOW_MIN_S, ALERT_STORE_WINDOW_MAX_S);
        return -1;
    }
    out->window_s = (int)w;
    return 0;
}

/* "repeat" and "cooldown_s". A repeating alert re-arms on its level, which
 * a percent alert over a window (window_s) does not have yet: refused by
 * name here, so that allowing it is this one check. */
static int request_get_repeat(json_t *root, struct set_alert_req *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "repeat");
    json_t *c = json_object_get(root, "cooldown_s");
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    if (v != NULL && !json_is_null(v) && s == NULL)
        return request_fail(err, errlen, "Field 'repeat' must be a string");
    if (s != NULL && strcmp(s, "once") != 0 && strcmp(s, "every") != 0)
        return request_fail(err, errlen, "Field 'repeat' must be 'once' or 'every'");
    if (s == NULL || strcmp(s, "once") == 0) {
        if (c != NULL && !json_is_null(c))
            return request_fail(err, errlen,
                                "Field 'cooldown_s' is only allowed with repeat 'every'");
        return 0;
    }
    if (json_object_get(root, "window_s") != NULL)
        return request_fail(err, errlen,
                            "Field 'window_s' cannot be combined with repeat 'every' (not yet)");
    if (c == NULL || json_is_null(c))
        return request_fail(err, errlen, "Missing field 'cooldown_s' (repeat 'every' needs it)");
    if (!json_is_integer(c) || json_integer_value(c) < MSG_COOLDOWN_MIN ||
        json_integer_value(c) > MSG_COOLDOWN_MAX) {
        snprintf(err, errlen, "Field 'cooldown_s' must be an integer from %ld to %ld",
                 MSG_COOLDOWN_MIN, MSG_COOLDOWN_MAX);
        return -1;
    }
    out->cooldown_s = (long)json_integer_value(c);
    return 0;
}

static int request_get_percent(json_t *root, struct set_alert_req *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "percent");
    double d;

    if (!request_is_percent(out->type)) {
        if (v != NULL)
            return request_fail(err, errlen,
                                "Field 'percent' is only allowed with type percent_up or "
                                "percent_down");
        return 0;
    }
    if (v == NULL)
        return request_fail(err, errlen, "Missing field 'percent'");
    if (!json_is_number(v))
        return request_fail(err, errlen, "Field 'percent' must be a number");
    d = json_number_value(v);
    if (!isfinite(d) || d <= 0 || d > REQUEST_PERCENT_MAX)
        return request_fail(err, errlen, "Field 'percent' must be above 0 and at most 1000");
    if (out->type == ALERT_PERCENT_DOWN && d >= 100)
        return request_fail(err, errlen, "Field 'percent' must be below 100 for percent_down");
    out->percent = d;
    return 0;
}

int request_condition(const struct set_alert_req *req, double price, struct alert_record *rec,
                      char *err, size_t errlen)
{
    double level;

    rec->type = req->type;
    rec->threshold = req->threshold;
    if (req->type == ALERT_ABOVE || req->type == ALERT_BELOW)
        return 0;
    if (!(isfinite(price) && price > 0)) {
        snprintf(err, errlen, "No price known yet for %s: a %s alert is set against it; retry",
                 req->ticker, alert_type_name(req->type));
        return REQUEST_CONFLICT;
    }
    if (req->type == ALERT_CROSSES) {
        if (price == req->threshold) {
            snprintf(err, errlen,
                     "%s is at the threshold now: no side to cross from; use 'above' or "
                     "'below'",
                     req->ticker);
            return REQUEST_CONFLICT;
        }
        rec->direction = price < req->threshold ? ALERT_DIR_UP : ALERT_DIR_DOWN;
        return 0;
    }
    level = req->type == ALERT_PERCENT_UP ? price * (1 + req->percent / 100)
                                          : price * (1 - req->percent / 100);
    if (!isfinite(level) || level < REQUEST_THRESHOLD_MIN || level > REQUEST_THRESHOLD_MAX) {
        request_fail(err, errlen,
                     "Field 'percent' gives a level outside 0.000001 to 1000000000 for this "
                     "price");
        return REQUEST_INVALID;
    }
    rec->percent = req->percent;
    rec->reference_price = price;
    rec->threshold = level;
    rec->window_s = req->window_s;
    return 0;
}

static int request_get_note(json_t *root, struct set_alert_req *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "note");
    const char *s;
    size_t len;
    int why;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return request_fail(err, errlen, "Field 'note' must be a string");
    s = json_string_value(v);
    len = json_string_length(v);
    why = strlen(s) != len ? MSG_NOTE_CONTROL : msg_note_check(s, len);
    if (why == MSG_NOTE_BAD_UTF8)
        return request_fail(err, errlen, "Field 'note' must be valid UTF-8");
    if (why == MSG_NOTE_CONTROL)
        return request_fail(err, errlen, "Field 'note' must not contain control characters");
    if (why != MSG_NOTE_OK) {
        snprintf(err, errlen, "Field 'note' must be at most %d characters", MSG_NOTE_CHARS);
        return -1;
    }
    memcpy(out->note, s, len + 1);
    return 0;
}

static int request_get_expires_at(json_t *root, struct set_alert_req *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, "expires_at");

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return request_fail(err, errlen,
                            "Field 'expires_at' must be a positive integer (Unix seconds)");
    out->expires_at = (long long)json_integer_value(v);
    return 0;
}

int request_expiry(const struct set_alert_req *req, double now, long long default_ttl_s,
                   long long *out, char *err, size_t errlen)
{
    long long t = (long long)now;

    if (req->expires_at == 0) {
        *out = t + default_ttl_s;
        return 0;
    }
    if ((double)req->expires_at <= now)
        return request_fail(err, errlen, "Field 'expires_at' must be in the future");
    if (req->expires_at - t > REQUEST_EXPIRES_AHEAD_MAX_S)
        return request_fail(err, errlen, "Field 'expires_at' must be at most 10 years ahead");
    *out = req->expires_at;
    return 0;
}

int request_parse_set_alert(const char *body, size_t len, struct set_alert_req *out, char *err,
                            size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (len > REQUEST_BODY_MAX)
        return request_fail(err, errlen, "Request body too large");
    if (body == NULL || len == 0)
        return request_fail(err, errlen, "Request body must be a JSON object");
    if (!msg_utf8_valid(body, len))
        return request_fail(err, errlen, "Malformed JSON in request body: not valid UTF-8");
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return request_fail(err, errlen, "Malformed JSON in request body");
    if (!json_is_object(root)) {
        request_fail(err, errlen, "Request body must be a JSON object");
        goto out;
    }
    if (request_get_ticker(root, out, err, errlen) != 0 ||
        request_get_threshold(root, out, err, errlen) != 0 ||
        request_get_type(root, out, err, errlen) != 0 ||
        request_get_repeat(root, out, err, errlen) != 0 ||
        request_get_percent(root, out, err, errlen) != 0 ||
        request_get_window(root, out, err, errlen) != 0 ||
        request_get_note(root, out, err, errlen) != 0 ||
        request_get_expires_at(root, out, err, errlen) != 0 ||
        alert_channels_from_json(json_object_get(root, "channels"), &out->channels, err, errlen) !=
            0)
        goto out;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- where a state-changing request comes from -------------------------- */

static int request_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int request_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char request_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Parses "http" or "https" ending at "://"; returns the length eaten (incl.
 * "://") or 0. Case-insensitive, as RFC 3986 says schemes are. */
static size_t request_parse_scheme(const char *s, int *https)
{
    if (strncasecmp(s, "http://", 7) == 0) {
        *https = 0;
        return 7;
    }
    if (strncasecmp(s, "https://", 8) == 0) {
        *https = 1;
        return 8;
    }
    return 0;
}

/* Parses "host[:port]" from s up to the first character of stop (or the
 * end): a name of letters, digits, '.', '-', '_' or a bracketed IPv6
 * literal, then an optional port of 1-5 digits in 1..65535. No userinfo,
 * no percent-encoding: browsers send neither in Host, Origin or Referer.
 * Returns the length eaten, or 0 when malformed. */
static size_t request_parse_authority(const char *s, const char *stop, int https,
                                      struct request_origin *out)
{
    size_t n = 0;
    size_t h = 0;
    unsigned long port = 0;
    size_t digits = 0;

    if (s[0] == '[') {
        for (n = 1; s[n] != ']'; n++) {
            char c = s[n];
            if (!(request_is_digit(c) || (request_lower(c) >= 'a' && request_lower(c) <= 'f') ||
                  c == ':' || c == '.'))
                return 0;
        }
        n++; /* the ']' */
        if (n < 4)
            return 0; /* "[]" or "[:]" */
    } else {
        while (request_is_alpha(s[n]) || request_is_digit(s[n]) || s[n] == '.' || s[n] == '-' ||
               s[n] == '_')
            n++;
        if (n == 0)
            return 0;
    }
    if (n >= sizeof(out->host))
        return 0;
    for (h = 0; h < n; h++)
        out->host[h] = request_lower(s[h]);
    out->host[n] = '\0';
    if (s[n] == ':') {
        for (n++; request_is_digit(s[n]); n++) {
            if (++digits > 5)
                return 0;
            port = port * 10 + (unsigned long)(s[n] - '0');
        }
        if (digits == 0 || port == 0 || port > 65535)
            return 0;
    } else {
        port = https ? 443 : 80;
    }
    if (s[n] != '\0' && strchr(stop, s[n]) == NULL)
        return 0;
    out->https = https;
    out->port = (unsigned)port;
    return n;
}

int request_parse_origin(const char *s, struct request_origin *out)
{
    size_t n;
    size_t a;
    int https = 0;

    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return -1;
    n = request_parse_scheme(s, &https);
    if (n == 0)
        return -1; /* "null" (sandboxed frames, file:, some redirects) or garbage */
    a = request_parse_authority(s + n, "", https, out);
    return a > 0 && s[n + a] == '\0' ? 0 : -1;
}

int request_parse_url_origin(const char *s, struct request_origin *out)
{
    size_t n;
    int https = 0;

    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return -1;
    n = request_parse_scheme(s, &https);
    if (n == 0)
        return -1;
    return request_parse_authority(s + n, "/?#", https, out) > 0 ? 0 : -1;
}

int request_parse_host(const char *s, int https, struct request_origin *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return -1;
    return request_parse_authority(s, "", https, out) > 0 ? 0 : -1;
}

static int request_same_origin(const struct request_origin *a, const struct request_origin *b)
{
    return a->https == b->https && a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* The origin the browser used to reach us: nginx forwards the Host it was
 * sent (X-Forwarded-Host, also Host) and its scheme (X-Forwarded-Proto);
 * without nginx, Host and plain http. A browser cannot send either
 * X-Forwarded header cross-site without a CORS preflight, which fails. */
static int request_own_origin(const struct request_site *s, struct request_origin *own)
{
    int https = 0;

    if (s->fwd_proto != NULL) {
        if (strcasecmp(s->fwd_proto, "https") == 0)
            https = 1;
        else if (strcasecmp(s->fwd_proto, "http") != 0)
            return -1;
    }
    return request_parse_host(s->fwd_host != NULL ? s->fwd_host : s->host, https, own);
}

int request_is_cross_site(const struct request_site *s)
{
    struct request_origin own;
    struct request_origin theirs;
    int own_ok;

    /* Only what the browser itself says about the request: same-site (a
     * sibling port or subdomain) is not enough. */
    if (s->sec_fetch_site != NULL && strcasecmp(s->sec_fetch_site, "same-origin") != 0 &&
        strcasecmp(s->sec_fetch_site, "none") != 0)
        return 1;
    if (s->origin == NULL && s->referer == NULL)
        return 0; /* curl, scripts, the original's clients: no browser context */
    own_ok = request_own_origin(s, &own) == 0;
    if (s->origin != NULL && (!own_ok || request_parse_origin(s->origin, &theirs) != 0 ||
                              !request_same_origin(&own, &theirs)))
        return 1;
    if (s->referer != NULL && (!own_ok || request_parse_url_origin(s->referer, &theirs) != 0 ||
                               !request_same_origin(&own, &theirs)))
        return 1;
    return 0;
}

/* ---- Content-Type ------------------------------------------------------- */

/* RFC 9110 tchar. */
static int request_is_tchar(char c)
{
    return request_is_alpha(c) || request_is_digit(c) ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t request_token_len(const char *s)
{
    size_t n = 0;

    while (request_is_tchar(s[n]))
        n++;
    return n;
}

static const char *request_skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A quoted-string at s (which starts with '"'): its length, or 0. */
static size_t request_quoted_len(const char *s)
{
    size_t n = 1;

    for (;;) {
        unsigned char c = (unsigned char)s[n];
        if (c == '"')
            return n + 1;
        if (c == '\\') {
            unsigned char q = (unsigned char)s[n + 1];
            if (q == '\t' || (q >= 0x20 && q != 0x7f))
                n += 2;
            else
                return 0;
        } else if (c == '\t' || (c >= 0x20 && c != 0x7f)) {
            n++;
        } else {
            return 0; /* control characters and the end */
        }
    }
}

/* media-type parameters: *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] ) OWS */
static int request_params_valid(const char *s)
{
    for (;;) {
        size_t n;
        s = request_skip_ows(s);
        if (*s == '\0')
            return 1;
        if (*s != ';')
            return 0;
        s = request_skip_ows(s + 1);
        n = request_token_len(s);
        if (n == 0)
            continue; /* an empty parameter */
        if (s[n] != '=')
            return 0;
        s += n + 1;
        n = *s == '"' ? request_quoted_len(s) : request_token_len(s);
        if (n == 0)
            return 0;
        s += n;
    }
}

int request_is_json_type(const char *v)
{
    size_t n;

    if (v == NULL)
        return 0;
    v = request_skip_ows(v);
    n = request_token_len(v);
    if (n != 11 || strncasecmp(v, "application", 11) != 0 || v[11] != '/')
        return 0;
    v += 12;
    n = request_token_len(v);
    if (n != 4 || strncasecmp(v, "json", 4) != 0)
        return 0;
    return request_params_valid(v + 4);
}
