/* yahoo_parse: jansson over a chart answer; every field type is checked. */
#include "yahoo_parse.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *yahoo_parse_status_name(enum yahoo_parse_status s)
{
    switch (s) {
    case YAHOO_PARSE_OK:
        return "ok";
    case YAHOO_PARSE_JSON:
        return "json";
    case YAHOO_PARSE_CHART_ERROR:
        return "chart_error";
    case YAHOO_PARSE_SHAPE:
        return "shape";
    case YAHOO_PARSE_PRICE:
        return "price";
    }
    return "unknown";
}

/* Describes a non-null chart.error ({"code":..,"description":..}) into err. */
static void yahoo_describe_error(json_t *error, char *err, size_t errlen)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *desc = json_string_value(json_object_get(error, "description"));

    snprintf(err, errlen, "chart.error: %.40s: %.80s", code ? code : "?", desc ? desc : "?");
}

/* chart.result[0].meta, or NULL with status/err set. */
static json_t *yahoo_find_meta(json_t *root, enum yahoo_parse_status *st, char *err, size_t errlen)
{
    json_t *chart = json_object_get(root, "chart");
    json_t *error, *result, *meta;

    *st = YAHOO_PARSE_SHAPE;
    if (!json_is_object(chart)) {
        snprintf(err, errlen, "no 'chart' object");
        return NULL;
    }
    error = json_object_get(chart, "error");
    if (error != NULL && !json_is_null(error)) {
        *st = YAHOO_PARSE_CHART_ERROR;
        yahoo_describe_error(error, err, errlen);
        return NULL;
    }
    result = json_object_get(chart, "result");
    if (!json_is_array(result) || json_array_size(result) == 0) {
        snprintf(err, errlen, "no 'chart.result[0]'");
        return NULL;
    }
    meta = json_object_get(json_array_get(result, 0), "meta");
    if (!json_is_object(meta)) {
        snprintf(err, errlen, "no 'chart.result[0].meta' object");
        return NULL;
    }
    return meta;
}

static void yahoo_copy_str(json_t *meta, const char *key, char *out, size_t outlen)
{
    json_t *v = json_object_get(meta, key);
    const char *s = json_string_value(v);

    out[0] = '\0';
    if (s == NULL || json_string_length(v) >= outlen || strlen(s) != json_string_length(v))
        return;
    memcpy(out, s, json_string_length(v) + 1);
}

/* meta.key when it is a finite number > 0, else 0. */
static double yahoo_positive(json_t *meta, const char *key)
{
    json_t *v = json_object_get(meta, key);
    double d = json_is_number(v) ? json_number_value(v) : 0;

    return isfinite(d) && d > 0 ? d : 0;
}

static enum yahoo_parse_status yahoo_read_meta(json_t *meta, struct yahoo_quote *q, char *err,
                                               size_t errlen)
{
    json_t *price = json_object_get(meta, "regularMarketPrice");
    json_t *mtime = json_object_get(meta, "regularMarketTime");

    if (price == NULL || json_is_null(price)) {
        snprintf(err, errlen, "regularMarketPrice missing or null");
        return YAHOO_PARSE_PRICE;
    }
    if (!json_is_number(price)) {
        snprintf(err, errlen, "regularMarketPrice is not a number");
        return YAHOO_PARSE_PRICE;
    }
    q->price = json_number_value(price);
    if (!isfinite(q->price) || q->price <= 0) {
        snprintf(err, errlen, "regularMarketPrice %g is not a positive number", q->price);
        return YAHOO_PARSE_PRICE;
    }
    if (mtime != NULL && !json_is_null(mtime)) {
        if (!json_is_number(mtime) || !(json_number_value(mtime) > 0)) {
            snprintf(err, errlen, "regularMarketTime is not a positive number");
            return YAHOO_PARSE_SHAPE;
        }
        q->market_time = json_number_value(mtime);
    }
    q->previous_close = yahoo_positive(meta, "chartPreviousClose");
    if (q->previous_close == 0)
        q->previous_close = yahoo_positive(meta, "previousClose");
    yahoo_copy_str(meta, "shortName", q->short_name, sizeof(q->short_name));
    yahoo_copy_str(meta, "symbol", q->symbol, sizeof(q->symbol));
    return YAHOO_PARSE_OK;
}

enum yahoo_parse_status yahoo_parse_chart(const char *body, size_t len, struct yahoo_quote *q,
                                          char *err, size_t errlen)
{
    enum yahoo_parse_status st = YAHOO_PARSE_JSON;
    json_error_t jerr;
    json_t *root = NULL;
    json_t *meta;

    memset(q, 0, sizeof(*q));
    if (body == NULL || len == 0) {
        snprintf(err, errlen, "empty body");
        return YAHOO_PARSE_JSON;
    }
    if (len > YAHOO_BODY_MAX) {
        snprintf(err, errlen, "body too large (%zu bytes)", len);
        return YAHOO_PARSE_JSON;
    }
    root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON at %d: %.80s", jerr.position, jerr.text);
        return YAHOO_PARSE_JSON;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        st = YAHOO_PARSE_SHAPE;
        goto out;
    }
    meta = yahoo_find_meta(root, &st, err, errlen);
    if (meta != NULL)
        st = yahoo_read_meta(meta, q, err, errlen);
out:
    json_decref(root);
    if (st != YAHOO_PARSE_OK)
        memset(q, 0, sizeof(*q));
    return st;
}
