/* settings: PRICE_SOURCE, TICKERS, Yahoo, simulation and replay settings. */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "yahoo.h"

static const char *const settings_modes[] = {"auto", "yahoo", "sim", "replay", NULL};

const struct config_var settings_vars[] = {
    {"TOPIC_PRICES", "stock-prices", "topic the ticks are published to (key = ticker)"},
    {"TICKERS", "(15 defaults)", "comma-separated Yahoo symbols; replaces the default list"},
    {"PRICE_SOURCE", "auto", "auto (yahoo, sim while Yahoo fails), yahoo, sim or replay"},
    {"PRICE_INTERVAL_MS", "1000", "one tick per asset per interval (1-3600000)"},
    {"PRODUCER_INSTANCE", "0", "this instance's number, 0..PRODUCER_INSTANCES-1"},
    {"PRODUCER_INSTANCES", "1", "instances splitting the list (1-1024)"},
    {"YAHOO_BASE_URL", YAHOO_DEFAULT_BASE_URL, "Yahoo Finance host (tests use a local server)"},
    {"YAHOO_USER_AGENT", "(a desktop Chrome UA)", "User-Agent sent to Yahoo"},
    {"YAHOO_CONNECT_TIMEOUT_MS", "3000", "connect timeout (100-60000)"},
    {"YAHOO_TIMEOUT_MS", "5000", "whole-request timeout (100-120000)"},
    {"YAHOO_MAX_RPS", "20", "ceiling on Yahoo requests per second (0.01-1000)"},
    {"YAHOO_MAX_PARALLEL", "8", "Yahoo requests in flight at once (1-64)"},
    {"YAHOO_BACKOFF_BASE_MS", "1000", "first backoff after HTTP 429/5xx, doubling (10-600000)"},
    {"YAHOO_BACKOFF_MAX_MS", "60000", "cap of the doubling; Retry-After may exceed it"},
    {"YAHOO_FAILS_TO_SIM", "3", "auto: failed requests in a row before simulating (1-1000)"},
    {"YAHOO_PROBE_INTERVAL_MS", "60000", "auto: Yahoo probe interval while simulating"},
    {"SIM_SEED", "0", "random walk seed; 0 = a new one each start"},
    {"SIM_VOL_SCALE", "1", "multiplies every annualised volatility (0-1000)"},
    {"SIM_VOLATILITY", "(built in)", "per-symbol annualised volatility, e.g. BTC-USD=0.9,GC=F=0.1"},
    {"SIM_SYNTHETIC_TICKERS", "0", "sim only: adds N synthetic symbols SYN000000.. (load tests)"},
    {"REPLAY_FILE", "(none)", "replay: CSV of timestamp,ticker,price"},
    {"REPLAY_SPEED", "1", "replay: pace factor, 2 = twice as fast (0.001-1000000)"},
    {"REPLAY_LOOP", "true", "replay: start over at the end"},
    {"TOPIC_PARTITIONS", "6", "partitions if the producer creates TOPIC_PRICES; 0 = never create"},
    {NULL, NULL, NULL},
};

const char *settings_mode_name(enum source_mode m)
{
    return settings_modes[m];
}

/* An optional string: "" when unset. */
static int settings_optional(const char *name, char *out, size_t outlen, char *err,
                             size_t errlen)
{
    out[0] = '\0';
    if (getenv(name) == NULL)
        return 0;
    return config_str(name, "", out, outlen, err, errlen);
}

static int settings_seed(struct producer_config *cfg, char *err, size_t errlen)
{
    const char *v = getenv("SIM_SEED");
    char *end = NULL;
    unsigned long long seed = 0;

    if (v != NULL) {
        errno = 0;
        seed = strtoull(v, &end, 10);
        if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0) {
            snprintf(err, errlen, "SIM_SEED: must be an unsigned integer (got '%.64s')", v);
            return -1;
        }
    }
    cfg->sim_seed = seed != 0 ? (uint64_t)seed : sim_seed_random();
    return 0;
}

static int settings_yahoo(struct producer_config *c, char *err, size_t n)
{
    if (config_str("YAHOO_BASE_URL", YAHOO_DEFAULT_BASE_URL, c->yahoo_base_url,
                   sizeof(c->yahoo_base_url) - 64, err, n) ||
        config_str("YAHOO_USER_AGENT", YAHOO_DEFAULT_USER_AGENT, c->yahoo_user_agent,
                   sizeof(c->yahoo_user_agent), err, n) ||
        config_long("YAHOO_CONNECT_TIMEOUT_MS", 3000, 100, 60000, &c->yahoo_connect_timeout_ms,
                    err, n) ||
        config_long("YAHOO_TIMEOUT_MS", 5000, 100, 120000, &c->yahoo_timeout_ms, err, n) ||
        config_double("YAHOO_MAX_RPS", 20, 0.01, 1000, &c->yahoo_max_rps, err, n) ||
        config_long("YAHOO_MAX_PARALLEL", 8, 1, 64, &c->yahoo_max_parallel, err, n) ||
        config_long("YAHOO_BACKOFF_BASE_MS", 1000, 10, 600000, &c->yahoo_backoff_base_ms, err,
                    n) ||
        config_long("YAHOO_BACKOFF_MAX_MS", 60000, 10, 3600000, &c->yahoo_backoff_max_ms, err,
                    n) ||
        config_long("YAHOO_FAILS_TO_SIM", 3, 1, 1000, &c->yahoo_fails_to_sim, err, n) ||
        config_long("YAHOO_PROBE_INTERVAL_MS", 60000, 100, 86400000, &c->yahoo_probe_ms, err,
                    n))
        return -1;
    if (strncmp(c->yahoo_base_url, "http://", 7) != 0 &&
        strncmp(c->yahoo_base_url, "https://", 8) != 0) {
        snprintf(err, n, "YAHOO_BASE_URL: must start with http:// or https://");
        return -1;
    }
    return 0;
}

static int settings_sim_replay(struct producer_config *c, char *err, size_t n)
{
    if (settings_seed(c, err, n) ||
        config_double("SIM_VOL_SCALE", 1, 0, 1000, &c->sim_vol_scale, err, n) ||
        settings_optional("SIM_VOLATILITY", c->sim_volatility, sizeof(c->sim_volatility), err,
                          n) ||
        config_long("SIM_SYNTHETIC_TICKERS", 0, 0, 1000000, &c->sim_synthetic, err, n) ||
        settings_optional("REPLAY_FILE", c->replay_file, sizeof(c->replay_file), err, n) ||
        config_double("REPLAY_SPEED", 1, 0.001, 1e6, &c->replay_speed, err, n) ||
        config_bool("REPLAY_LOOP", 1, &c->replay_loop, err, n))
        return -1;
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

int settings_load(struct producer_config *c, char *err, size_t n)
{
    int mode = 0;

    memset(c, 0, sizeof(*c));
    if (config_load_common(&c->common, 9101, err, n) ||
        config_str("TOPIC_PRICES", "stock-prices", c->topic, sizeof(c->topic), err, n) ||
        settings_optional("TICKERS", c->tickers, sizeof(c->tickers), err, n) ||
        config_choice("PRICE_SOURCE", "auto", settings_modes, &mode, err, n) ||
        config_long("PRICE_INTERVAL_MS", 1000, 1, 3600000, &c->interval_ms, err, n) ||
        config_long("PRODUCER_INSTANCES", 1, 1, 1024, &c->instances, err, n) ||
        config_long("PRODUCER_INSTANCE", 0, 0, 1023, &c->instance, err, n) ||
        config_long("TOPIC_PARTITIONS", 6, 0, 10000, &c->topic_partitions, err, n))
        return -1;
    c->mode = (enum source_mode)mode;
    if (c->instance >= c->instances) {
        snprintf(err, n, "PRODUCER_INSTANCE: must be below PRODUCER_INSTANCES (%ld)",
                 c->instances);
        return -1;
    }
    if (settings_yahoo(c, err, n) != 0 || settings_sim_replay(c, err, n) != 0)
        return -1;
    return 0;
}
