/* settings: PRICE_SOURCE, TICKERS, Yahoo, simulation and replay settings:
 * one table drives --help and loading; settings_check does what a table
 * cannot (checks across variables, the random seed). */
#include "settings.h"

#include <stdio.h>
#include <string.h>

#include "contract.h"
#include "sim.h"
#include "yahoo.h"

#define PC struct producer_config

static const char *const settings_modes[] = {"auto", "yahoo", "sim", "replay", NULL};

const struct config_var settings_vars[] = {
    CONFIG_METRICS_PORT(PC, CONTRACT_TEXT(CONTRACT_PORT_PRODUCER_METRICS)),
    {"TOPIC_PRICES", CONTRACT_TOPIC_PRICES, "topic the ticks are published to (key = ticker)",
     CONFIG_STRING(PC, topic)},
    {"TOPIC_ASSETS", CONTRACT_TOPIC_ASSETS,
     "compacted topic this instance announces its assets on (key = ticker), at start and "
     "every minute: the webapps' asset universe",
     CONFIG_STRING(PC, topic_assets)},
    {"TICKERS", NULL, "comma-separated Yahoo symbols; replaces the default list",
     CONFIG_STRING(PC, tickers), .shown = "(--list-assets)"},
    {"PRICE_SOURCE", "auto", "auto = yahoo, and sim while Yahoo fails",
     CONFIG_CHOICE(PC, mode, settings_modes)},
    {"PRICE_INTERVAL_MS", "1000", "one tick per asset per interval",
     CONFIG_LONG(PC, interval_ms, 1, 3600000)},
    {"PRODUCER_INSTANCE", "0", "this instance's number, below PRODUCER_INSTANCES",
     CONFIG_LONG(PC, instance, 0, 1023)},
    {"PRODUCER_INSTANCES", "1", "instances splitting the list",
     CONFIG_LONG(PC, instances, 1, 1024)},
    /* Room is left for the path and the symbol. */
    {"YAHOO_BASE_URL", YAHOO_DEFAULT_BASE_URL, "Yahoo Finance host (tests use a local server)",
     CONFIG_STRING_MAX(PC, yahoo_base_url, sizeof(((PC *)0)->yahoo_base_url) - 64)},
    {"YAHOO_USER_AGENT", YAHOO_DEFAULT_USER_AGENT, "User-Agent sent to Yahoo",
     CONFIG_STRING(PC, yahoo_user_agent), .shown = "(a desktop Chrome UA)"},
    {"YAHOO_CONNECT_TIMEOUT_MS", "3000", "connect timeout",
     CONFIG_LONG(PC, yahoo_connect_timeout_ms, 100, 60000)},
    {"YAHOO_TIMEOUT_MS", "5000", "whole-request timeout",
     CONFIG_LONG(PC, yahoo_timeout_ms, 100, 120000)},
    {"YAHOO_MAX_RPS", "20", "ceiling on Yahoo requests per second",
     CONFIG_DOUBLE(PC, yahoo_max_rps, 0.01, 1000)},
    {"YAHOO_MAX_PARALLEL", "8", "Yahoo requests in flight at once",
     CONFIG_LONG(PC, yahoo_max_parallel, 1, 64)},
    {"YAHOO_BACKOFF_BASE_MS", "1000",
     "a symbol's first backoff after HTTP 429/5xx, doubling with its own failures in a row",
     CONFIG_LONG(PC, yahoo_backoff_base_ms, 10, 600000)},
    {"YAHOO_BACKOFF_MAX_MS", "60000", "cap of the doubling; Retry-After may exceed it",
     CONFIG_LONG(PC, yahoo_backoff_max_ms, 10, 3600000)},
    {"YAHOO_FAILS_TO_SIM", "3", "auto: failed requests in a row before simulating",
     CONFIG_LONG(PC, yahoo_fails_to_sim, 1, 1000)},
    {"YAHOO_PROBE_INTERVAL_MS", "60000", "auto: Yahoo probe interval while simulating",
     CONFIG_LONG(PC, yahoo_probe_ms, 100, 86400000)},
    {"SIM_SEED", "0", "random walk seed; 0 = a new one each start", CONFIG_U64(PC, sim_seed)},
    {"SIM_DAY_S", "86400",
     "sim: length of a simulated trading day; its last price is the next day's previous close",
     CONFIG_LONG(PC, sim_day_s, 1, 31622400)},
    {"SIM_VOL_SCALE", "1", "multiplies every annualised volatility",
     CONFIG_DOUBLE(PC, sim_vol_scale, 0, 1000)},
    {"SIM_VOLATILITY", NULL, "per-symbol annualised volatility, e.g. BTC-USD=0.9,GC=F=0.1",
     CONFIG_STRING(PC, sim_volatility), .shown = "(built in)"},
    {"SIM_SYNTHETIC_TICKERS", "0", "sim only: adds N synthetic symbols SYN000000.. (load tests)",
     CONFIG_LONG(PC, sim_synthetic, 0, 1000000)},
    {"REPLAY_FILE", NULL, "replay: CSV of timestamp,ticker,price", CONFIG_STRING(PC, replay_file),
     .shown = "(none)"},
    {"REPLAY_SPEED", "1", "replay: pace factor, 2 = twice as fast",
     CONFIG_DOUBLE(PC, replay_speed, 0.001, 1e6)},
    {"REPLAY_LOOP", "true", "replay: start over at the end", CONFIG_BOOL(PC, replay_loop)},
    {"TOPIC_PARTITIONS", "6",
     "partitions if the producer creates TOPIC_PRICES and TOPIC_ASSETS; 0 = never create",
     CONFIG_LONG(PC, topic_partitions, 0, 10000)},
    CONFIG_END,
};

const char *settings_mode_name(enum source_mode m)
{
    return settings_modes[m];
}

int settings_check(struct producer_config *c, char *err, size_t n)
{
    if (c->instance >= c->instances) {
        snprintf(err, n, "PRODUCER_INSTANCE: must be below PRODUCER_INSTANCES (%ld)", c->instances);
        return -1;
    }
    if (strncmp(c->yahoo_base_url, "http://", 7) != 0 &&
        strncmp(c->yahoo_base_url, "https://", 8) != 0) {
        snprintf(err, n, "YAHOO_BASE_URL: must start with http:// or https://");
        return -1;
    }
    if (c->sim_seed == 0)
        c->sim_seed = sim_seed_random();
    if (c->sim_synthetic > 0 && c->mode != MODE_SIM) {
        snprintf(err, n, "SIM_SYNTHETIC_TICKERS: needs PRICE_SOURCE=sim");
        return -1;
    }
    if (c->mode == MODE_REPLAY && c->replay_file[0] == '\0') {
        snprintf(err, n, "REPLAY_FILE: required with PRICE_SOURCE=replay");
        return -1;
    }
    return 0;
}
