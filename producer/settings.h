/* settings: the producer's environment variables: the table that both
 * --help and loading read (config.h), and the checks a table cannot make. */
#ifndef PRODUCER_SETTINGS_H
#define PRODUCER_SETTINGS_H

#include <stdint.h>

#include "config.h"

enum source_mode { MODE_AUTO = 0, MODE_YAHOO, MODE_SIM, MODE_REPLAY };

struct producer_config {
    struct common_config common;
    char topic[256];
    char topic_assets[256];
    char tickers[16384]; /* "" when TICKERS is unset */
    enum source_mode mode;
    long interval_ms;
    long instance, instances;
    char yahoo_base_url[512];
    char yahoo_user_agent[256];
    long yahoo_connect_timeout_ms, yahoo_timeout_ms;
    double yahoo_max_rps;
    long yahoo_max_parallel;
    long yahoo_backoff_base_ms, yahoo_backoff_max_ms;
    long yahoo_fails_to_sim, yahoo_probe_ms;
    uint64_t sim_seed; /* never 0: a random one is drawn when SIM_SEED is 0 */
    double sim_vol_scale;
    long sim_day_s;
    char sim_volatility[4096]; /* "" when unset */
    long sim_synthetic;
    char replay_file[1024]; /* "" when unset */
    double replay_speed;
    int replay_loop;
    long topic_partitions;
};

/* The producer's own variables (config_load, config_print_help). */
extern const struct config_var settings_vars[];

/* The mode's PRICE_SOURCE word. */
const char *settings_mode_name(enum source_mode m);

/* Run once settings_vars is loaded: checks across variables and draws a
 * random SIM_SEED when it is 0. Returns 0, or -1 with err naming the
 * variable. */
int settings_check(struct producer_config *cfg, char *err, size_t errlen);

#endif
