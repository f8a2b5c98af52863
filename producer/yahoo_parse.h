/* yahoo_parse: reads one answer of Yahoo Finance's chart endpoint
 * (/v8/finance/chart/{symbol}). A pure function over the body, so it can be
 * unit tested and fuzzed: it never aborts, allocates nothing that outlives
 * the call, and yields a price only when it is finite and > 0. */
#ifndef PRODUCER_YAHOO_PARSE_H
#define PRODUCER_YAHOO_PARSE_H

#include <stddef.h>

#include "message.h"

#define YAHOO_BODY_MAX (2 * 1024 * 1024) /* larger bodies are refused */
#define YAHOO_ERR_MAX 160

enum yahoo_parse_status {
    YAHOO_PARSE_OK = 0,
    YAHOO_PARSE_JSON = -1,        /* not JSON, truncated, too large */
    YAHOO_PARSE_CHART_ERROR = -2, /* chart.error is not null (e.g. unknown symbol) */
    YAHOO_PARSE_SHAPE = -3,       /* chart / result[0] / meta missing or mistyped */
    YAHOO_PARSE_PRICE = -4,       /* regularMarketPrice missing, null, not a number, <= 0 */
};

struct yahoo_quote {
    double price;                     /* meta.regularMarketPrice: finite, > 0 */
    double market_time;               /* meta.regularMarketTime (Unix s), 0 when absent */
    double previous_close;            /* meta.chartPreviousClose (or previousClose) when a
                                         finite number > 0, else 0: optional, never an error */
    char short_name[MSG_COMPANY_MAX]; /* meta.shortName, "" when absent */
    char symbol[MSG_TICKER_MAX];      /* meta.symbol, "" when absent or too long */
};

/* Parses len bytes of body (need not be NUL-terminated). Returns
 * YAHOO_PARSE_OK with *q filled, or a negative status with a reason in err
 * (q is then zeroed). */
enum yahoo_parse_status yahoo_parse_chart(const char *body, size_t len, struct yahoo_quote *q,
                                          char *err, size_t errlen);

/* A short word for a status: "ok", "json", "chart_error", "shape", "price". */
const char *yahoo_parse_status_name(enum yahoo_parse_status s);

#endif
