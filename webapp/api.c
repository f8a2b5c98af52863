/* api: the route handlers — the dashboard with its cookie, the alert CRUD on
 * the shared alert store, history, tickers, health, metrics and the two
 * event streams. Paths, JSON shapes and errors are the original's. They
 * answer through reply.c and never call back into the server (http.c). */
#include "webapp.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_history.h"
#include "alert_store.h"
#include "log.h"
#include "redis.h"
#include "timeutil.h"

#define API_NO_USER "No user_id"
#define API_STORE_DOWN "Alert storage is unavailable, please retry"
#define API_NOT_FOUND "Alert not found or unauthorized"
#define API_METRICS_MAX (64 * 1024)
#define API_EVENT_MAX (MSG_MAX_BYTES + ALERT_HISTORY_JSON_EXTRA)
#define API_REPLAY_MAX (ALERT_HISTORY_MAX * (API_EVENT_MAX + EVID_TEXT_MAX + 16) + 256)
#define API_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
/* An alert of get-alerts is under 384 bytes plus its note (256 before the
 * conditions' members and the channels);
 * MAX_ALERTS_PER_USER <= 10000. */
#define API_ALERTS_JSON_MAX (10000 * (384 + ALERT_STORE_NOTE_JSON_MAX) + 64)

/* One log line per second at most while the store is down. */
static void api_store_failed(const char *what, const char *err)
{
    static _Atomic long long last;
    long long now = (long long)time_mono_ms();

    if (now - last >= 1000) {
        last = now;
        log_warn("alert store error", "op=%s error=\"%s\"", what, err);
    }
}

/* Replies with root dumped (and frees it). */
static enum MHD_Result api_reply_obj(struct MHD_Connection *conn, unsigned int status, json_t *root)
{
    char *text = root != NULL ? json_dumps(root, API_JSON_FLAGS) : NULL;
    enum MHD_Result ret;

    if (text == NULL)
        ret = reply_error(conn, 500, "Out of memory");
    else
        ret = reply_json(conn, status, text, strlen(text));
    free(text);
    json_decref(root);
    return ret;
}

enum MHD_Result api_dashboard(struct api_call *c, const struct asset *a)
{
    char user[COOKIE_USER_LEN + 1];
    char value[COOKIE_VALUE_LEN + 1];
    char cookie[COOKIE_VALUE_LEN + 128];
    struct MHD_Response *r;
    /* A visitor without a cookie gets the page, and one, even when cached. */
    int fresh = c->has_user && assets_not_modified(c->conn, a);

    /* Revalidated on every load: it names the current script and style. */
    r = assets_response(a, fresh, "no-cache");
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                            "base-uri 'none'; frame-ancestors 'none'");
    if (!c->has_user) {
        if (cookie_issue(c->cfg->cookie_secret, c->cfg->cookie_secret_len, user, value) != 0) {
            MHD_destroy_response(r);
            return reply_error(c->conn, 503, "No randomness available");
        }
        snprintf(cookie, sizeof(cookie),
                 "user_id=%s; HttpOnly; SameSite=Lax; Path=/; Max-Age=31536000%s", value,
                 c->cfg->cookie_secure ? "; Secure" : "");
        MHD_add_response_header(r, "Set-Cookie", cookie);
    }
    return reply_response(c->conn, fresh ? MHD_HTTP_NOT_MODIFIED : 200, r);
}

#define API_IDEM_CLIENT_TTL_S 3600 /* a client's Idempotency-Key */
#define API_IDEM_PROXY_TTL_S                                                                       \
    60 /* nginx's X-Request-Id: its retries come within                                            \
          proxy_read_timeout (30 s) */

/* The request's idempotency key and how long to keep it: the client's
 * Idempotency-Key (refused when malformed), else the X-Request-Id nginx sets
 * once per request and keeps when it retries on another replica (ignored
 * when malformed). *key NULL when there is none; -1 when the client's is
 * malformed. */
static int api_idem_key(struct api_call *c, const char **key, int *ttl_s)
{
    const char *k = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Idempotency-Key");

    *key = NULL;
    if (k != NULL) {
        if (!alert_store_idem_key_valid(k))
            return -1;
        *key = k;
        *ttl_s = API_IDEM_CLIENT_TTL_S;
        return 0;
    }
    k = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (k != NULL && alert_store_idem_key_valid(k)) {
        *key = k;
        *ttl_s = API_IDEM_PROXY_TTL_S;
    }
    return 0;
}

/* The answer to a set-alert whose create ended with rc (rec as stored). */
static enum MHD_Result api_set_alert_done(struct api_call *c, const struct alert_record *rec,
                                          int rc, const char *err)
{
    char text[96];
    json_t *obj;

    if (rc == ALERT_STORE_LIMIT) {
        snprintf(text, sizeof(text), "Too many active alerts (at most %ld per user)",
                 c->cfg->max_alerts_per_user);
        return reply_error(c->conn, 409, text);
    }
    if (rc == ALERT_STORE_CONFLICT)
        return reply_error(c->conn, 422, "Idempotency-Key already used for a different alert");
    if (rc == ALERT_STORE_WINDOWS) {
        char msg[ALERT_STORE_ERR_MAX + 160];

        snprintf(msg, sizeof(msg),
                 "Field 'window_s': %s already has %d different windows in use (%s seconds); "
                 "use one of them",
                 rec->ticker, ALERT_STORE_WINDOWS_MAX, err);
        return reply_error(c->conn, 409, msg);
    }
    if (rc != 0 && rc != ALERT_STORE_REPLAY) {
        api_store_failed("create", err);
        return reply_error(c->conn, 503, API_STORE_DOWN);
    }
    if (rc == 0)
        atomic_fetch_add(&c->stats->alerts_created, 1);
    else
        log_info("set-alert repeated", "alert_id=%s", rec->alert_id);
    snprintf(text, sizeof(text), "Alert set for %s", rec->ticker);
    obj = json_pack("{s:s, s:s}", "message", text, "alert_id", rec->alert_id);
    /* What the price when set decided (above / below: nothing, as before). */
    if (obj != NULL && rec->type == ALERT_CROSSES)
        json_object_set_new(obj, "direction", json_string(alert_dir_name(rec->direction)));
    if (obj != NULL && (rec->type == ALERT_PERCENT_UP || rec->type == ALERT_PERCENT_DOWN))
        json_object_set_new(obj, "reference_price", json_real(rec->reference_price));
    if (obj != NULL && rec->window_s > 0)
        json_object_set_new(obj, "window_s", json_integer(rec->window_s));
    return api_reply_obj(c->conn, 200, obj);
}

enum MHD_Result api_set_alert(struct api_call *c)
{
    char err[ALERT_STORE_ERR_MAX];
    struct set_alert_req req;
    struct alert_record rec;
    const char *idem;
    int idem_ttl_s = 0;
    int rc;

    /* Called again once the store thread has done the queued create. */
    if (c->job != NULL && *c->job != NULL) {
        const struct alert_store_create *done = create_result(*c->job);
        return api_set_alert_done(c, &done->rec, done->rv, done->err);
    }
    if (!c->has_user)
        return reply_error(c->conn, 400, API_NO_USER);
    if (api_idem_key(c, &idem, &idem_ttl_s) != 0)
        return reply_error(c->conn, 400,
                           "Invalid Idempotency-Key (1-64 letters, digits, '-', '_', "
                           "'.', ':')");
    if (request_parse_set_alert(c->body, c->body_len, &req, err, sizeof(err)) != 0)
        return reply_error(c->conn, 400, err);
    memset(&rec, 0, sizeof(rec));
    rec.created_at = time_now();
    if (request_expiry(&req, rec.created_at, (long long)c->cfg->alert_ttl_days * 86400,
                       &rec.expires_at, err, sizeof(err)) != 0)
        return reply_error(c->conn, 400, err);
    if (!prices_known(req.ticker) && !fanout_universe_loaded())
        return reply_error(c->conn, 503, "The asset list is still being read from Kafka; retry");
    if (!prices_known(req.ticker)) {
        snprintf(err, sizeof(err),
                 "Unknown ticker: %s is not one of the assets the producers publish", req.ticker);
        return reply_error(c->conn, 400, err);
    }
    if (alert_store_new_id(rec.alert_id) != 0)
        return reply_error(c->conn, 503, "No randomness available");
    snprintf(rec.user_id, sizeof(rec.user_id), "%s", c->user_id);
    snprintf(rec.ticker, sizeof(rec.ticker), "%s", req.ticker);
    rc = request_condition(&req, prices_latest(req.ticker), &rec, err, sizeof(err));
    if (rc != 0)
        return reply_error(c->conn, (unsigned)rc, err);
    memcpy(rec.note, req.note, sizeof(rec.note));
    rec.channels = req.channels;
    rec.cooldown_s = req.cooldown_s;
    if (c->job != NULL && (*c->job = create_submit(c->conn, &rec, (int)c->cfg->max_alerts_per_user,
                                                   idem, idem_ttl_s)) != NULL)
        return MHD_YES; /* suspended: answered when the store thread is done */
    rc = alert_store_create_once(thread_redis_get(), &rec, (int)c->cfg->max_alerts_per_user, idem,
                                 idem_ttl_s, err, sizeof(err));
    return api_set_alert_done(c, &rec, rc, err);
}

/* The shortest decimal text strtod reads back as d (%.15g, else %.16g, else
 * %.17g): JSON readers get the very number stored, and 0.1 stays 0.1.
 * A non-finite number (only from a damaged store) is null. */
static void api_fmt_num(double d, char out[32])
{
    if (!isfinite(d)) {
        snprintf(out, 32, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* A record's condition members after "type" ("" for above / below). */
static void api_condition_json(const struct alert_record *r, char out[96])
{
    char pct[32], ref[32];

    out[0] = '\0';
    if (r->type == ALERT_CROSSES) {
        snprintf(out, 96, ",\"direction\":\"%s\"", alert_dir_name(r->direction));
    } else if ((r->type == ALERT_PERCENT_UP || r->type == ALERT_PERCENT_DOWN) && r->window_s > 0) {
        api_fmt_num(r->percent, pct);
        snprintf(out, 96, ",\"percent\":%s,\"window_s\":%d", pct, r->window_s);
    } else if (r->type == ALERT_PERCENT_UP || r->type == ALERT_PERCENT_DOWN) {
        api_fmt_num(r->percent, pct);
        api_fmt_num(r->reference_price, ref);
        snprintf(out, 96, ",\"percent\":%s,\"reference_price\":%s", pct, ref);
    }
}

/* Appends one alert of /api/get-alerts, after a comma unless *first (then
 * cleared). Ids and tickers are of JSON-safe characters only (the store's
 * own checks), the note is written as a JSON string; a record that is not
 * valid is left out. expires_at is null for an alert stored before
 * expiry existed (it never expires). Returns 0, or -1 when out is full. */
static int api_record_json(struct buf *out, const struct alert_record *r, int *first)
{
    char thr[32], created[32], expires[24], note[ALERT_STORE_NOTE_JSON_MAX] = "";
    char cond[96], channels[ALERT_CH_JSON_MAX], repeat[80] = "";
    int comma = !*first;

    if (!msg_id_valid(r->alert_id) || !msg_ticker_valid(r->ticker) ||
        (r->note[0] != '\0' && alert_store_note_json(r->note, note) != 0))
        return 0;
    api_fmt_num(r->threshold, thr);
    api_fmt_num(r->created_at, created);
    if (r->expires_at > 0)
        snprintf(expires, sizeof(expires), "%lld", r->expires_at);
    else
        snprintf(expires, sizeof(expires), "null");
    api_condition_json(r, cond);
    alert_channels_json(r->channels != 0 ? r->channels : ALERT_CH_DEFAULT, channels);
    if (r->cooldown_s > 0)
        snprintf(repeat, sizeof(repeat), ",\"repeat\":\"every\",\"cooldown_s\":%ld,\"fired\":%ld",
                 r->cooldown_s, r->fires);
    *first = 0;
    return buf_printf(out,
                      "%s{\"alert_id\":\"%s\",\"ticker\":\"%s\",\"threshold\":%s,\"type\":\"%s\"%s,"
                      "\"created_at\":%s,\"expires_at\":%s,\"channels\":%s%s%s%s}",
                      comma ? "," : "", r->alert_id, r->ticker, thr, alert_type_name(r->type), cond,
                      created, expires, channels, repeat, note[0] != '\0' ? ",\"note\":" : "",
                      note);
}

enum MHD_Result api_get_alerts(struct api_call *c)
{
    char err[ALERT_STORE_ERR_MAX];
    int max = (int)c->cfg->max_alerts_per_user;
    struct alert_record *recs;
    enum MHD_Result ret;
    struct buf b;
    int first = 1;
    int rc = 0;
    int n;

    if (!c->has_user)
        return reply_error(c->conn, 400, API_NO_USER);
    recs = calloc((size_t)max, sizeof(*recs));
    if (recs == NULL)
        return reply_error(c->conn, 500, "Out of memory");
    n = alert_store_list(thread_redis_get(), c->user_id, recs, max, err, sizeof(err));
    if (n < 0) {
        free(recs);
        api_store_failed("list", err);
        return reply_error(c->conn, 503, API_STORE_DOWN);
    }
    /* Written by hand: jansson prints every real with one precision, which
     * either loses digits (15) or adds them (17: 0.10000000000000001). */
    buf_init(&b, API_ALERTS_JSON_MAX);
    rc = buf_puts(&b, "{\"alerts\":[");
    for (int i = 0; i < n && rc == 0; i++)
        rc = api_record_json(&b, &recs[i], &first);
    if (rc == 0)
        rc = buf_puts(&b, "]}");
    free(recs);
    if (rc != 0)
        ret = reply_error(c->conn, 500, "Out of memory");
    else
        ret = reply_json(c->conn, 200, b.data, b.len);
    buf_free(&b);
    return ret;
}

enum MHD_Result api_delete_alert(struct api_call *c, const char *alert_id)
{
    char err[ALERT_STORE_ERR_MAX];
    int rc;

    if (!c->has_user)
        return reply_error(c->conn, 400, API_NO_USER);
    if (!msg_id_valid(alert_id))
        return reply_error(c->conn, 404, API_NOT_FOUND);
    rc = alert_store_delete(thread_redis_get(), c->user_id, alert_id, err, sizeof(err));
    if (rc == ALERT_STORE_NOTFOUND)
        return reply_error(c->conn, 404, API_NOT_FOUND);
    if (rc != 0) {
        api_store_failed("delete", err);
        return reply_error(c->conn, 503, API_STORE_DOWN);
    }
    atomic_fetch_add(&c->stats->alerts_deleted, 1);
    return reply_json(c->conn, 200, "{\"message\":\"Alert deleted\"}", 27);
}

/* History callback: one alert, with its position, appended to the JSON
 * array in the buffer, as it was fired (the numbers keep their exact text). */
struct api_history {
    struct buf out;
    int n;
};

static void api_history_add(const char *payload, size_t len, const struct evid *pos, void *ud)
{
    struct api_history *h = ud;
    char json[API_EVENT_MAX];
    json_t *check;
    int n = alert_history_event_json(payload, len, pos, json, sizeof(json));

    if (n < 0)
        return;
    check = json_loadb(json, (size_t)n, 0, NULL); /* a damaged entry is left out */
    if (check == NULL || !json_is_object(check)) {
        json_decref(check);
        return;
    }
    json_decref(check);
    if (h->n > 0 && buf_puts(&h->out, ",") != 0)
        return;
    if (buf_append(&h->out, json, (size_t)n) == 0)
        h->n++;
}

enum MHD_Result api_alert_history(struct api_call *c)
{
    char err[ALERT_STORE_ERR_MAX];
    struct api_history h = {.n = 0};
    enum MHD_Result ret;

    if (!c->has_user)
        return reply_error(c->conn, 400, API_NO_USER);
    buf_init(&h.out, API_REPLAY_MAX);
    if (buf_puts(&h.out, "{\"alerts\":[") != 0) {
        buf_free(&h.out);
        return reply_error(c->conn, 500, "Out of memory");
    }
    if (alert_history_list(thread_redis_get(), c->user_id, ALERT_HISTORY_MAX, api_history_add, &h,
                           err, sizeof(err)) < 0) {
        buf_free(&h.out);
        api_store_failed("history", err);
        return reply_error(c->conn, 503, API_STORE_DOWN);
    }
    if (buf_puts(&h.out, "]}") != 0)
        ret = reply_error(c->conn, 500, "Out of memory");
    else
        ret = reply_json(c->conn, 200, h.out.data, h.out.len);
    buf_free(&h.out);
    return ret;
}

enum MHD_Result api_tickers(struct api_call *c)
{
    struct buf b;
    enum MHD_Result ret;

    buf_init(&b, 1024 * 1024);
    if (prices_write_json(&b) != 0)
        ret = reply_error(c->conn, 500, "Out of memory");
    else
        ret = reply_json(c->conn, 200, b.data, b.len);
    buf_free(&b);
    return ret;
}

enum MHD_Result api_health(struct api_call *c, int stopping)
{
    char kwhy[128];
    struct redis_conn *rc;
    int redis_ok;
    int kafka_ok;

    if (stopping)
        return reply_json(c->conn, 503, "{\"status\":\"stopping\"}", 21);
    rc = thread_redis_get();
    redis_ok = rc != NULL && redis_conn_ping(rc) == 0;
    kafka_ok = fanout_kafka_ok(kwhy, sizeof(kwhy)) == 0;
    if (redis_ok && kafka_ok)
        return reply_json(c->conn, 200, "{\"status\":\"healthy\"}", 20);
    return api_reply_obj(c->conn, 503,
                         json_pack("{s:s, s:s, s:s}", "status", "unhealthy", "redis",
                                   redis_ok     ? "ok"
                                   : rc != NULL ? redis_conn_errstr(rc)
                                                : "no memory",
                                   "kafka", kafka_ok ? "ok" : kwhy));
}

enum MHD_Result api_metrics(struct api_call *c)
{
    struct buf b;
    enum MHD_Result ret;

    buf_init(&b, API_METRICS_MAX);
    stats_render(c->stats, &b);
    ret = reply_body(c->conn, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, 1);
    buf_free(&b);
    return ret;
}

/* Answers c with cl's stream (consumes nothing; cl is freed on failure). */
static enum MHD_Result api_stream_reply(struct api_call *c, struct sse_client *cl)
{
    struct MHD_Response *r = hub_client_response(cl);

    if (r == NULL) {
        hub_client_close(cl);
        return MHD_NO;
    }
    return reply_response(c->conn, 200, r);
}

static enum MHD_Result api_stream_refused(struct api_call *c, int over_cap)
{
    if (over_cap)
        return reply_error(c->conn, 429, "Too many open alert streams for this user");
    return reply_error(c->conn, 503, "Shutting down, reconnect");
}

enum MHD_Result api_stream_prices(struct api_call *c)
{
    struct sse_client *cl;
    struct sse_event *snap;
    long long batch;
    int over_cap = 0;

    cl = hub_client_open(c->conn, SSE_PRICES, NULL, &over_cap);
    if (cl == NULL)
        return api_stream_refused(c, over_cap);
    /* Opened first, so no batch falls between the snapshot and the live
     * ones; the live ones the snapshot holds are dropped. */
    snap = prices_snapshot(c->cfg->retry_ms, &batch);
    if (snap == NULL) {
        hub_client_close(cl);
        return reply_error(c->conn, 500, "Out of memory");
    }
    hub_client_start(cl, snap, batch);
    sse_event_unref(snap);
    return api_stream_reply(c, cl);
}

/* The first event of an alert stream: retry, then the history after the
 * resume point, oldest first, each with its position as the event id; with
 * nothing to replay, just the id to resume from. */
struct api_replay {
    struct buf b;
    uint32_t n;
};

static void api_replay_add(const char *payload, size_t len, const struct evid *pos, void *ud)
{
    struct api_replay *rp = ud;
    char json[API_EVENT_MAX], id[EVID_TEXT_MAX];
    int n = alert_history_event_json(payload, len, pos, json, sizeof(json));

    if (n < 0 || memchr(json, '\n', (size_t)n) != NULL || memchr(json, '\r', (size_t)n) != NULL)
        return; /* not an event a browser could read: left out */
    if (buf_printf(&rp->b, "id: %s\n", evid_format(pos, id)) == 0 &&
        sse_append_data(&rp->b, json, (size_t)n) == 0)
        rp->n++;
}

/* The stream's resume point: Last-Event-ID, or ?last_event_id= for a page
 * that reconnects by itself. Returns 1 with *out set, 0 when there is none,
 * -1 when it is malformed (or longer than EVID_INPUT_MAX). */
static int api_resume_point(struct api_call *c, struct evid *out)
{
    const char *h = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Last-Event-ID");

    if (h == NULL)
        h = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "last_event_id");
    if (h == NULL)
        return 0;
    return evid_parse(h, out) == 0 ? 1 : -1;
}

enum MHD_Result api_stream_alerts(struct api_call *c)
{
    char err[ALERT_STORE_ERR_MAX], id[EVID_TEXT_MAX];
    struct api_replay rp = {.n = 0};
    struct evid resume, tail;
    struct sse_client *cl;
    struct sse_event *first;
    int has_resume, over_cap = 0;

    if (!c->has_user)
        return reply_error(c->conn, 400, API_NO_USER);
    has_resume = api_resume_point(c, &resume);
    if (has_resume < 0)
        return reply_error(c->conn, 400,
                           "Malformed Last-Event-ID (an id this stream sent, at most 64 "
                           "characters)");
    /* Register first: an alert arriving while the history is read is held
     * and sorted out against the replay by hub_alert_start. */
    cl = hub_client_open(c->conn, SSE_ALERTS, c->user_id, &over_cap);
    if (cl == NULL)
        return api_stream_refused(c, over_cap);
    buf_init(&rp.b, API_REPLAY_MAX);
    if (buf_printf(&rp.b, "retry: %ld\n\n", c->cfg->retry_ms) != 0)
        goto nomem;
    /* With a resume point: the history after it. Without: only where the
     * history ends, the point the stream starts from. */
    if (alert_history_after(thread_redis_get(), c->user_id, has_resume ? &resume : NULL,
                            ALERT_HISTORY_MAX, api_replay_add, &rp, &tail, err, sizeof(err)) < 0) {
        api_store_failed("history", err);
        buf_free(&rp.b);
        hub_client_close(cl);
        return reply_error(c->conn, 503, API_STORE_DOWN);
    }
    /* Nothing replayed: still give the browser an id, so a stream that drops
     * before its first alert resumes from here. */
    if (rp.n == 0 && buf_printf(&rp.b, "id: %s\n\n", evid_format(&tail, id)) != 0)
        goto nomem;
    first = sse_event_new(rp.b.data, rp.b.len, rp.n, 0);
    buf_free(&rp.b);
    if (first == NULL)
        goto nomem_freed;
    hub_alert_start(cl, first, &tail);
    sse_event_unref(first);
    return api_stream_reply(c, cl);
nomem:
    buf_free(&rp.b);
nomem_freed:
    hub_client_close(cl);
    return reply_error(c->conn, 500, "Out of memory");
}
