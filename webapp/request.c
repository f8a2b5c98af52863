/* request: what the webapp reads from clients — the set-alert body, the
 * Last-Event-ID header, the site a state-changing request comes from.
 * Pure functions: no I/O, every input bounded, errors are messages for the
 * client (fuzz targets call these directly). */
#include "webapp.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define REQUEST_BODY_MAX 4096

static int request_fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

static int request_get_ticker(json_t *root, struct set_alert_req *out, char *err,
                              size_t errlen)
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

static int request_get_threshold(json_t *root, struct set_alert_req *out, char *err,
                                 size_t errlen)
{
    json_t *v = json_object_get(root, "threshold");
    double d;

    if (v == NULL)
        return request_fail(err, errlen, "Missing field 'threshold'");
    if (!json_is_number(v))
        return request_fail(err, errlen, "Field 'threshold' must be a number");
    d = json_number_value(v);
    if (!isfinite(d) || d <= 0)
        return request_fail(err, errlen, "Threshold must be a finite number greater than 0");
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
        return request_fail(err, errlen, "Type must be 'above' or 'below'");
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
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return request_fail(err, errlen, "Malformed JSON in request body");
    if (!json_is_object(root)) {
        request_fail(err, errlen, "Request body must be a JSON object");
        goto out;
    }
    if (request_get_ticker(root, out, err, errlen) != 0 ||
        request_get_threshold(root, out, err, errlen) != 0 ||
        request_get_type(root, out, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

long long request_parse_event_id(const char *s)
{
    long long v = 0;
    size_t n = 0;

    if (s == NULL)
        return -1;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 18)
            return -1;
        v = v * 10 + (s[n] - '0');
    }
    return n > 0 ? v : -1;
}

/* The host name of "host[:port]" or "[v6]:port": sets *len, returns start. */
static const char *request_hostname(const char *s, size_t *len)
{
    const char *end;

    if (s[0] == '[') {
        end = strchr(s, ']');
        *len = end != NULL ? (size_t)(end - s) + 1 : strlen(s);
        return s;
    }
    end = strchr(s, ':');
    *len = end != NULL ? (size_t)(end - s) : strlen(s);
    return s;
}

static int request_same_host(const char *a, size_t alen, const char *hostport)
{
    size_t blen;
    const char *b;

    if (hostport == NULL || hostport[0] == '\0')
        return 0;
    b = request_hostname(hostport, &blen);
    return alen == blen && alen > 0 && strncasecmp(a, b, alen) == 0;
}

int request_is_cross_site(const char *sec_fetch_site, const char *origin, const char *host,
                          const char *fwd_host)
{
    const char *sep;
    const char *oh;
    size_t ohlen;

    if (sec_fetch_site != NULL && strcasecmp(sec_fetch_site, "cross-site") == 0)
        return 1;
    if (origin == NULL)
        return 0; /* not a browser's cross-origin request */
    sep = strstr(origin, "://");
    if (sep == NULL)
        return 1; /* "null" (sandboxed, file:) or garbage */
    /* Same site means same host name; a different port is still this site
     * (nginx in front may rewrite it). */
    oh = request_hostname(sep + 3, &ohlen);
    if (ohlen > 0 && oh[ohlen] != '\0' && oh[ohlen] != ':' && oh[ohlen] != ']')
        return 1; /* a path or anything else after the host */
    return !(request_same_host(oh, ohlen, host) || request_same_host(oh, ohlen, fwd_host));
}
