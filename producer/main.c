/* producer: publishes one price per asset per PRICE_INTERVAL_MS to
 * `stock-prices` (key = ticker) from Yahoo Finance, a simulation or a CSV
 * replay. main() owns setup and teardown; feed.c owns the loop. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "config.h"
#include "contract.h"
#include "feed.h"
#include "health.h"
#include "kafka.h"
#include "daemon.h"
#include "log.h"
#include "publish.h"
#include "replay.h"
#include "settings.h"
#include "signals.h"
#include "stats.h"
#include "timeutil.h"

#define PRODUCER_FLUSH_MS 5000 /* stop must finish within 10 s, after a topic attempt (<= 3 s) */

/* Records the time of each acknowledged message for /health. */
static void producer_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct producer_stats *stats = opaque;

    (void)rk;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        atomic_store(&stats->last_delivery_ms, time_mono_ms());
}

/* The health server's /metrics (health_metrics_fn). */
static void producer_metrics(void *ud, struct buf *out)
{
    stats_render(ud, out);
}

/* Builds the asset list: TICKERS or the defaults (or, in replay without
 * TICKERS, the file's symbols), synthetic ones, overrides, then this
 * instance's share. */
static int producer_load_assets(const struct producer_config *cfg, struct asset_list *assets,
                                struct replay *replay, char *err, size_t errlen)
{
    int from_file = cfg->mode == MODE_REPLAY && cfg->tickers[0] == '\0';

    if (cfg->tickers[0] != '\0') {
        if (assets_parse(assets, cfg->tickers, err, errlen) != 0)
            return -1;
    } else if (!from_file && assets_load_defaults(assets) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cfg->mode == MODE_REPLAY &&
        replay_load(replay, cfg->replay_file, assets, from_file, cfg->replay_speed,
                    cfg->replay_loop, err, errlen) != 0)
        return -1;
    if (cfg->sim_synthetic > 0 &&
        assets_add_synthetic(assets, (size_t)cfg->sim_synthetic, cfg->sim_seed) != 0) {
        snprintf(err, errlen, "out of memory for synthetic tickers");
        return -1;
    }
    if (cfg->sim_volatility[0] != '\0' &&
        assets_set_volatility(assets, cfg->sim_volatility, err, errlen) != 0)
        return -1;
    assets_shard(assets, (size_t)cfg->instance, (size_t)cfg->instances);
    if (cfg->mode == MODE_REPLAY)
        replay_shard(replay, (size_t)cfg->instance, (size_t)cfg->instances);
    if (assets->len == 0) {
        snprintf(err, errlen, "instance %ld of %ld has no symbols", cfg->instance, cfg->instances);
        return -1;
    }
    return 0;
}

static void producer_log_start(const struct producer_config *cfg, const struct asset_list *a)
{
    log_info("producer starting",
             "source=%s topic=%s interval_ms=%ld assets=%zu first=%s instance=%ld/%ld "
             "yahoo=%s seed=%llu",
             settings_mode_name(cfg->mode), cfg->topic, cfg->interval_ms, a->len,
             a->items[0].ticker, cfg->instance, cfg->instances, cfg->yahoo_base_url,
             (unsigned long long)cfg->sim_seed);
}

static int producer_settings_check(void *cfg, char *err, size_t errlen)
{
    return settings_check(cfg, err, errlen);
}

static const struct daemon_desc producer_daemon = {
    "producer", "publishes prices to Kafka; --list-assets prints the default assets", settings_vars,
    sizeof(struct producer_config), producer_settings_check};

/* --list-assets: the default assets, one a line, tab-separated: ticker,
 * company, display name, the simulation's start price and volatility. For
 * tools that need the list the producer and the webapp use. */
static int producer_list_assets(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list-assets") != 0)
            continue;
        for (size_t k = 0; k < contract_assets_len; k++) {
            const struct contract_asset *a = &contract_assets[k];
            printf("%s\t%s\t%s\t%g\t%g\n", a->ticker, a->company, a->display_name, a->start_price,
                   a->volatility);
        }
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct producer_config cfg; /* large: keep it off the stack */
    static const char *const extra[] = {"queue.buffering.max.messages", "1000000", NULL};
    struct asset_list assets = {0};
    struct replay replay = {0};
    struct producer_stats stats;
    struct publisher pub;
    struct feed feed;
    struct kafka_opts ko = {.client_id = "producer", .extra = extra};
    struct health_server *hs = NULL;
    rd_kafka_t *rk = NULL;
    char err[512];
    int rc = 1, feed_ready = 0, pub_ready = 0;

    if (producer_list_assets(argc, argv))
        return 0;
    rc = daemon_begin(&producer_daemon, argc, argv, &cfg, &cfg.common);
    if (rc >= 0)
        return rc;
    rc = 1;
    if (producer_load_assets(&cfg, &assets, &replay, err, sizeof(err)) != 0) {
        log_error("bad configuration", "error=\"%s\"", err);
        rc = 2;
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("startup failed", "error=\"curl init\"");
        goto out;
    }
    stats_init(&stats, settings_mode_name(cfg.mode), (long)assets.len,
               cfg.mode == MODE_SIM      ? SOURCE_SIM
               : cfg.mode == MODE_REPLAY ? SOURCE_REPLAY
                                         : SOURCE_YAHOO);
    ko.bootstrap = cfg.common.kafka_bootstrap;
    ko.dr_cb = producer_on_delivery;
    ko.opaque = &stats;
    rk = kafka_producer_new(&ko, err, sizeof(err));
    if (rk == NULL) {
        log_error("kafka producer failed", "error=\"%s\"", err);
        goto out_stats;
    }
    publisher_init(&pub, rk, &ko, cfg.topic, &stats);
    rk = NULL; /* the publisher's now */
    pub_ready = 1;
    if (feed_init(&feed, &cfg, &assets, &pub, &stats, cfg.mode == MODE_REPLAY ? &replay : NULL, err,
                  sizeof(err)) != 0) {
        log_error("startup failed", "error=\"%s\"", err);
        goto out_stats;
    }
    feed_ready = 1;
    if (cfg.common.metrics_port > 0) {
        hs = health_server_start(cfg.common.listen_host, (int)cfg.common.metrics_port, stats_health,
                                 producer_metrics, &stats, err, sizeof(err));
        if (hs == NULL) {
            log_error("health server failed", "error=\"%s\"", err);
            goto out_stats;
        }
    }
    producer_log_start(&cfg, &assets);
    feed_run(&feed);
    log_info("producer stopping", "published=%llu",
             (unsigned long long)atomic_load(&stats.published));
    rc = 0;
out_stats:
    health_server_stop(hs);
    if (feed_ready)
        feed_free(&feed);
    if (pub_ready)
        publisher_close(&pub, PRODUCER_FLUSH_MS);
    else
        kafka_producer_close(rk, PRODUCER_FLUSH_MS);
    stats_destroy(&stats);
    curl_global_cleanup();
out:
    replay_free(&replay);
    assets_free(&assets);
    return rc;
}
