/* feed: rounds, the Yahoo result handler, the auto switch and replay pacing. */
#include "feed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "signals.h"
#include "timeutil.h"

#define FEED_WAIT_MAX_MS 200    /* every wait is short so a stop is seen at once */
#define FEED_REPLAY_BURST 10000 /* rows published per loop turn at most */
#define FEED_YAHOO_LOG_PERIOD_MS 10000
#define FEED_TOPIC_RETRY_MS 5000
/* Assets are announced every minute and stay in the universe for five: a
 * webapp keeps them through a few lost announcements or a producer restart,
 * and drops an asset no producer publishes any more within five minutes. */
#define FEED_ANNOUNCE_MS 60000
#define FEED_ANNOUNCE_VALID_MS (5 * FEED_ANNOUNCE_MS)

static int feed_uses_yahoo(const struct producer_config *cfg)
{
    return cfg->mode == MODE_AUTO || cfg->mode == MODE_YAHOO;
}

static enum price_source feed_start_source(enum source_mode m)
{
    if (m == MODE_SIM)
        return SOURCE_SIM;
    if (m == MODE_REPLAY)
        return SOURCE_REPLAY;
    return SOURCE_YAHOO;
}

static void feed_init_walks(struct feed *f)
{
    const struct producer_config *cfg = f->cfg;

    for (size_t i = 0; i < f->assets->len; i++) {
        const struct asset *a = &f->assets->items[i];
        sim_walk_init(&f->walks[i], a->ticker, a->start_price, a->volatility * cfg->sim_vol_scale,
                      cfg->sim_seed);
    }
}

static int feed_init_yahoo(struct feed *f, char *err, size_t errlen)
{
    const struct producer_config *cfg = f->cfg;
    struct yahoo_opts o = {
        .base_url = cfg->yahoo_base_url,
        .user_agent = cfg->yahoo_user_agent,
        .connect_timeout_ms = cfg->yahoo_connect_timeout_ms,
        .timeout_ms = cfg->yahoo_timeout_ms,
        .max_rps = cfg->yahoo_max_rps,
        .max_parallel = cfg->yahoo_max_parallel,
        .backoff_base_ms = cfg->yahoo_backoff_base_ms,
        .backoff_max_ms = cfg->yahoo_backoff_max_ms,
        .queue_max = f->assets->len + 1,
    };

    f->inflight = calloc(f->assets->len, 1);
    f->yahoo_logs = calloc(f->assets->len, sizeof(*f->yahoo_logs));
    if (f->inflight == NULL || f->yahoo_logs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < f->assets->len; i++)
        ratelog_init(&f->yahoo_logs[i], FEED_YAHOO_LOG_PERIOD_MS);
    f->yc = yahoo_client_new(&o, err, errlen);
    return f->yc != NULL ? 0 : -1;
}

int feed_init(struct feed *f, const struct producer_config *cfg, struct asset_list *assets,
              struct publisher *pub, struct producer_stats *stats, struct replay *replay, char *err,
              size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->cfg = cfg;
    f->assets = assets;
    f->pub = pub;
    f->stats = stats;
    f->replay = replay;
    f->topic_ready = cfg->topic_partitions == 0;
    autosw_init(&f->sw, cfg->mode == MODE_AUTO, feed_start_source(cfg->mode),
                cfg->yahoo_fails_to_sim, cfg->yahoo_probe_ms);
    f->closes = calloc(assets->len, sizeof(*f->closes));
    if (f->closes == NULL) {
        snprintf(err, errlen, "out of memory for %zu assets", assets->len);
        return -1;
    }
    if (cfg->mode != MODE_REPLAY) {
        f->walks = calloc(assets->len, sizeof(*f->walks));
        if (f->walks == NULL) {
            snprintf(err, errlen, "out of memory for %zu walks", assets->len);
            feed_free(f);
            return -1;
        }
        feed_init_walks(f);
    }
    if (feed_uses_yahoo(cfg) && feed_init_yahoo(f, err, errlen) != 0) {
        feed_free(f);
        return -1;
    }
    return 0;
}

void feed_free(struct feed *f)
{
    yahoo_client_free(f->yc);
    f->yc = NULL;
    free(f->walks);
    f->walks = NULL;
    free(f->closes);
    f->closes = NULL;
    free(f->inflight);
    f->inflight = NULL;
    free(f->yahoo_logs);
    f->yahoo_logs = NULL;
}

/* ------------------------------------------------------------ switching */

static void feed_switched(struct feed *f, enum price_source from, const char *why)
{
    atomic_store(&f->stats->source, (int)f->sw.current);
    atomic_fetch_add(&f->stats->source_switches, 1);
    log_warn("price source switched", "from=%s to=%s reason=\"%s\"", stats_source_name(from),
             stats_source_name(f->sw.current), why);
}

/* ------------------------------------------------------------ yahoo */

static void feed_yahoo_failed(struct feed *f, const struct yahoo_result *r)
{
    char text[YAHOO_ERR_MAX + 64];
    unsigned long held = 0;
    int64_t now = time_mono_ms();

    atomic_fetch_add(&f->stats->yahoo_failures, 1);
    if (r->status == YAHOO_FAIL_RATE_LIMITED)
        atomic_fetch_add(&f->stats->yahoo_rate_limited, 1);
    if (r->status == YAHOO_FAIL_PARSE)
        atomic_fetch_add(&f->stats->dropped_bad, 1);
    snprintf(text, sizeof(text), "%s: %s: %s", r->symbol, yahoo_status_name(r->status), r->err);
    stats_set_yahoo_error(f->stats, text);
    if (ratelog_allow(&f->yahoo_logs[r->idx], now, &held))
        log_warn("yahoo request failed",
                 "symbol=%s status=%s http=%ld parse=%s reason=\"%s\" suppressed=%lu", r->symbol,
                 yahoo_status_name(r->status), r->http_code, yahoo_parse_status_name(r->parse),
                 r->err, held);
    if (autosw_on_failure(&f->sw, now)) {
        snprintf(text, sizeof(text), "%ld Yahoo requests failed in a row, last: %s: %s",
                 f->sw.threshold, yahoo_status_name(r->status), r->err);
        feed_switched(f, SOURCE_YAHOO, text);
        f->cancel_yahoo = 1;
        f->next_round_ms = now; /* simulate this round's prices right away */
    }
}

static void feed_yahoo_ok(struct feed *f, const struct yahoo_result *r)
{
    struct asset *a = &f->assets->items[r->idx];

    if (autosw_on_success(&f->sw))
        feed_switched(f, SOURCE_SIM, "Yahoo answered again");
    if (a->company == NULL && r->quote.short_name[0] != '\0')
        assets_set_company(a, r->quote.short_name);
    if (f->walks != NULL)
        sim_walk_reset(&f->walks[r->idx], r->quote.price);
    if (a->decimals < 0)
        a->decimals = asset_decimals_for(r->quote.price);
    if (r->quote.previous_close > 0)
        f->closes[r->idx] = r->quote.previous_close;
    publish_price(f->pub, a, r->quote.price, time_now(), SOURCE_YAHOO, f->closes[r->idx]);
}

static void feed_on_yahoo(void *ud, const struct yahoo_result *r)
{
    struct feed *f = ud;

    if (r->idx >= f->assets->len)
        return;
    f->inflight[r->idx] = 0;
    f->probe_out = 0;
    atomic_fetch_add(&f->stats->yahoo_requests, 1);
    if (r->status == YAHOO_OK)
        feed_yahoo_ok(f, r);
    else
        feed_yahoo_failed(f, r);
}

static void feed_request(struct feed *f, size_t i)
{
    if (f->inflight[i])
        return;
    if (yahoo_client_request(f->yc, i, f->assets->items[i].ticker) == 0)
        f->inflight[i] = 1;
}

static void feed_yahoo_round(struct feed *f)
{
    for (size_t i = 0; i < f->assets->len; i++)
        feed_request(f, i);
}

/* While simulating in auto mode: one request now and then to see whether
 * Yahoo is back, cycling through the assets. */
static void feed_probe(struct feed *f, int64_t now)
{
    size_t i;

    if (f->probe_out || !autosw_probe_due(&f->sw, now))
        return;
    i = f->probe_next++ % f->assets->len;
    autosw_probe_sent(&f->sw, now);
    feed_request(f, i);
    f->probe_out = f->inflight[i];
    log_debug("yahoo probe", "symbol=%s", f->assets->items[i].ticker);
}

static void feed_cancel_yahoo(struct feed *f)
{
    yahoo_client_cancel_all(f->yc);
    memset(f->inflight, 0, f->assets->len);
    f->probe_out = 0;
    f->cancel_yahoo = 0;
}

/* ------------------------------------------------------------ sim, replay */

static void feed_sim_round(struct feed *f, int64_t now)
{
    double dt = (double)f->cfg->interval_ms / 1000.0;
    double ts = time_now();
    int64_t day;
    int new_day;

    /* The step is the time since the last simulated round, at most a few
     * intervals (after a pause the walk should not leap). */
    if (f->last_sim_ms > 0 && now - f->last_sim_ms < 5 * f->cfg->interval_ms)
        dt = (double)(now - f->last_sim_ms) / 1000.0;
    f->last_sim_ms = now;
    /* The simulated market closes at the end of each SIM_DAY_S: the last
     * price of a day is the next day's previous close (the start price
     * before the first). Quotes are rounded as the asset's venue quotes;
     * the walk itself keeps full precision. */
    day = (int64_t)floor(ts / (double)f->cfg->sim_day_s);
    new_day = f->sim_day != 0 && day != f->sim_day;
    f->sim_day = day;
    for (size_t i = 0; i < f->assets->len && signals_running(); i++) {
        struct asset *a = &f->assets->items[i];
        double p;

        if (f->closes[i] == 0 || new_day)
            f->closes[i] = asset_round(a, f->walks[i].price);
        p = asset_round(a, sim_walk_next(&f->walks[i], dt));
        publish_price(f->pub, a, p, ts, SOURCE_SIM, f->closes[i]);
    }
}

static void feed_replay_due(struct feed *f, int64_t now)
{
    const struct replay_row *row;
    int n = 0;

    while (n < FEED_REPLAY_BURST && (row = replay_next_due(f->replay, now)) != NULL) {
        struct asset *a = &f->assets->items[row->asset];

        if (a->decimals < 0)
            a->decimals = asset_decimals_for(row->price);
        publish_price(f->pub, a, row->price, time_now(), SOURCE_REPLAY, 0);
        n++;
    }
    if (!f->replay_done_logged && replay_finished(f->replay)) {
        f->replay_done_logged = 1;
        log_info("replay finished", "rows=%zu", f->replay->len);
    }
}

/* ------------------------------------------------------------ loop */

/* Creates TOPIC_PRICES once Kafka answers (an existing topic is fine). */
static void feed_ensure_topic(struct feed *f, int64_t now)
{
    const char *topics[] = {f->cfg->topic, f->cfg->topic_assets, NULL};
    char err[KAFKA_ERR_MAX];

    if (f->topic_ready || now < f->next_topic_try_ms)
        return;
    f->next_topic_try_ms = now + FEED_TOPIC_RETRY_MS;
    if (kafka_create_topics(f->cfg->common.kafka_bootstrap, topics, (int)f->cfg->topic_partitions,
                            1000, err, sizeof(err)) != 0) {
        log_warn("topic not ensured", "topic=%s error=\"%s\" retry_ms=%d", f->cfg->topic, err,
                 FEED_TOPIC_RETRY_MS);
        return;
    }
    f->topic_ready = 1;
    log_info("topic ready", "topic=%s assets_topic=%s", f->cfg->topic, f->cfg->topic_assets);
}

/* Announces every asset when due: at start, every FEED_ANNOUNCE_MS, when
 * the source in use changed (auto mode) or replay added assets. */
static void feed_announce(struct feed *f, int64_t now)
{
    enum price_source src = f->sw.current;
    size_t failed = 0;

    if (!f->topic_ready)
        return;
    if (now < f->next_announce_ms && f->announced_len == f->assets->len && f->announced_src == src)
        return;
    for (size_t i = 0; i < f->assets->len; i++) {
        if (publish_asset(f->pub, f->cfg->topic_assets, &f->assets->items[i], src,
                          f->cfg->interval_ms, FEED_ANNOUNCE_VALID_MS) != 0)
            failed++;
    }
    if (f->announced_len != f->assets->len || f->announced_src != src || failed > 0)
        log_info("assets announced", "topic=%s assets=%zu source=%s failed=%zu",
                 f->cfg->topic_assets, f->assets->len, stats_source_name(src), failed);
    f->announced_len = f->assets->len;
    f->announced_src = src;
    /* A failed round is tried again soon, not in a minute. */
    f->next_announce_ms = now + (failed > 0 ? FEED_TOPIC_RETRY_MS : FEED_ANNOUNCE_MS);
}

static void feed_round(struct feed *f, int64_t now)
{
    switch (f->sw.current) {
    case SOURCE_YAHOO:
        feed_yahoo_round(f);
        break;
    case SOURCE_SIM:
        feed_sim_round(f, now);
        if (f->yc != NULL)
            feed_probe(f, now);
        break;
    case SOURCE_REPLAY:
        break;
    }
}

static long feed_wait_ms(struct feed *f, int64_t now, int64_t next_round)
{
    long wait = next_round > now ? (long)(next_round - now) : 0;

    if (wait > FEED_WAIT_MAX_MS)
        wait = FEED_WAIT_MAX_MS;
    if (f->replay != NULL) {
        long r = replay_wait_ms(f->replay, now);
        if (r >= 0 && r < wait)
            wait = r;
    }
    return wait;
}

/* Waits up to wait_ms on Yahoo's sockets or Kafka's delivery reports. */
static void feed_wait(struct feed *f, long wait_ms)
{
    if (f->yc != NULL && yahoo_client_busy(f->yc) > 0) {
        yahoo_client_poll(f->yc, wait_ms, feed_on_yahoo, f);
        if (f->cancel_yahoo)
            feed_cancel_yahoo(f);
        rd_kafka_poll(f->pub->rk, 0);
    } else {
        rd_kafka_poll(f->pub->rk, (int)wait_ms);
    }
}

void feed_run(struct feed *f)
{
    int64_t interval = f->cfg->interval_ms;
    int64_t now = time_mono_ms();

    f->next_round_ms = now;
    if (f->replay != NULL)
        replay_start(f->replay, now);
    while (signals_running()) {
        now = time_mono_ms();
        feed_ensure_topic(f, now);
        feed_announce(f, now);
        if (now >= f->next_round_ms) {
            feed_round(f, now);
            f->next_round_ms += interval;
            /* More than a whole interval behind: drop the missed rounds. */
            if (f->next_round_ms <= now)
                f->next_round_ms = now + interval;
        }
        if (f->replay != NULL)
            feed_replay_due(f, now);
        feed_wait(f, feed_wait_ms(f, time_mono_ms(), f->next_round_ms));
    }
}
