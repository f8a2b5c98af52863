/* settings: the user's e-mail address (GET and PUT /api/settings) and the
 * confirmation link (GET /api/confirm-email). The store work is
 * common/email_store.c's; the confirmation mail is the notifier's (it reads
 * the requests a PUT queues), so no SMTP reaches the webapp. */
#include "webapp.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "email_store.h"
#include "log.h"
#include "message.h"

#define SETTINGS_NO_USER "No user_id"
#define SETTINGS_DOWN "Settings storage is unavailable, please retry"

static const char settings_page_ok[] =
    "<!doctype html><meta charset=\"utf-8\"><title>Address confirmed</title>"
    "<p>Your e-mail address is confirmed: alerts you choose to receive by e-mail now go there."
    "<p><a href=\"/\">Back to the dashboard</a>\n";
static const char settings_page_bad[] =
    "<!doctype html><meta charset=\"utf-8\"><title>Link not valid</title>"
    "<p>This confirmation link is not valid: it was used already, or a newer one was sent. "
    "Set the address again in the dashboard to get a new link."
    "<p><a href=\"/\">Back to the dashboard</a>\n";
static const char settings_page_expired[] =
    "<!doctype html><meta charset=\"utf-8\"><title>Link expired</title>"
    "<p>This confirmation link has expired. Set the address again in the dashboard to get a new "
    "link.<p><a href=\"/\">Back to the dashboard</a>\n";

static enum MHD_Result settings_reply(struct api_call *c, unsigned int status,
                                      const struct email_settings *s, int sent)
{
    json_t *o = json_object();
    char *text = NULL;
    enum MHD_Result ret;

    if (o != NULL) {
        json_object_set_new(o, "email", s->addr[0] != '\0' ? json_string(s->addr) : json_null());
        json_object_set_new(o, "email_confirmed", json_boolean(s->confirmed));
        if (sent >= 0)
            json_object_set_new(o, "confirmation_sent", json_boolean(sent));
        text = json_dumps(o, JSON_COMPACT);
    }
    if (text == NULL)
        ret = reply_error(c->conn, 500, "Out of memory");
    else
        ret = reply_json(c->conn, status, text, strlen(text));
    free(text);
    json_decref(o);
    return ret;
}

enum MHD_Result api_get_settings(struct api_call *c)
{
    struct email_settings s;
    char err[256];

    if (!c->has_user)
        return reply_error(c->conn, 400, SETTINGS_NO_USER);
    if (email_store_get(thread_redis_get(), c->user_id, &s, err, sizeof(err)) != 0) {
        log_warn("settings store error", "op=get error=\"%s\"", err);
        return reply_error(c->conn, 503, SETTINGS_DOWN);
    }
    return settings_reply(c, 200, &s, -1);
}

/* The body of a PUT: {"email": "<address>" | null}, nothing else. Fills
 * addr ("" for null). 0, or -1 with a message naming the field. */
static int settings_parse(const char *body, size_t len, char addr[EMAIL_ADDR_MAX + 1], char *err,
                          size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL;
    json_t *v;
    const char *key;
    char why[96];
    int rc = -1;

    addr[0] = '\0';
    if (body == NULL || len == 0 || !msg_utf8_valid(body, len)) {
        snprintf(err, errlen, "Request body must be a JSON object (UTF-8)");
        return -1;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        snprintf(err, errlen, "Request body must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "email") != 0) {
            snprintf(err, errlen, "Unknown field: %.64s", key);
            goto out;
        }
    }
    v = json_object_get(root, "email");
    if (v == NULL) {
        snprintf(err, errlen, "Missing field: email (an address, or null to remove it)");
        goto out;
    }
    if (json_is_null(v)) {
        rc = 0;
        goto out;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "Invalid email: must be a string or null");
        goto out;
    }
    if (email_addr_check(json_string_value(v), json_string_length(v), why, sizeof(why)) != 0) {
        snprintf(err, errlen, "Invalid email: %s", why);
        goto out;
    }
    memcpy(addr, json_string_value(v), json_string_length(v) + 1);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

enum MHD_Result api_put_settings(struct api_call *c)
{
    struct email_settings s;
    enum email_set_result res;
    long retry_s = 0;
    char err[256];
    char text[96];

    if (!c->has_user)
        return reply_error(c->conn, 400, SETTINGS_NO_USER);
    memset(&s, 0, sizeof(s));
    if (settings_parse(c->body, c->body_len, s.addr, err, sizeof(err)) != 0)
        return reply_error(c->conn, 400, err);
    if (email_store_set(thread_redis_get(), c->user_id, s.addr[0] != '\0' ? s.addr : NULL,
                        c->cfg->email_confirm_per_hour, 3600, &res, &retry_s, err,
                        sizeof(err)) != 0) {
        log_warn("settings store error", "op=set error=\"%s\"", err);
        return reply_error(c->conn, 503, SETTINGS_DOWN);
    }
    if (res == EMAIL_SET_LIMITED) {
        snprintf(text, sizeof(text),
                 "Too many confirmation mails (at most %ld per hour); retry in %ld s",
                 c->cfg->email_confirm_per_hour, retry_s);
        return reply_error(c->conn, 429, text);
    }
    /* one line per event; the address is the user's own data, not logged */
    log_info("email settings", "user_id=%s result=%s", c->user_id,
             res == EMAIL_SET_REMOVED     ? "removed"
             : res == EMAIL_SET_CONFIRMED ? "unchanged"
                                          : "confirmation_queued");
    s.confirmed = res == EMAIL_SET_CONFIRMED;
    return settings_reply(c, 200, &s, res == EMAIL_SET_SENDING);
}

enum MHD_Result api_confirm_email(struct api_call *c)
{
    const char *token = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "token");
    const char *page = settings_page_bad;
    unsigned int status = 400;
    char err[256];
    int rc;

    rc = email_store_confirm(thread_redis_get(), token, err, sizeof(err));
    if (rc == -1) {
        log_warn("settings store error", "op=confirm error=\"%s\"", err);
        return reply_error(c->conn, 503, SETTINGS_DOWN);
    }
    if (rc == 1) {
        page = settings_page_ok;
        status = 200;
    } else if (rc == -2) {
        page = settings_page_expired;
        status = 410;
    }
    log_info("email confirmation", "result=%s",
             rc == 1    ? "confirmed"
             : rc == -2 ? "expired"
                        : "invalid");
    return reply_body(c->conn, status, "text/html; charset=utf-8", page, strlen(page), 0);
}
