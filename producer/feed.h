/* feed: the producer's main loop. Every PRICE_INTERVAL_MS it asks the source
 * in use for one price per asset (Yahoo requests in parallel, or simulation
 * steps), replays due CSV rows, publishes each price as it arrives, and in
 * `auto` mode moves between Yahoo and the simulation (autosw). It announces
 * its assets on the asset topic at start, every FEED_ANNOUNCE_MS, and when
 * its source or its list changes. Runs on the calling thread until
 * signals_running() turns false. */
#ifndef PRODUCER_FEED_H
#define PRODUCER_FEED_H

#include <stdint.h>

#include "assets.h"
#include "autosw.h"
#include "publish.h"
#include "ratelog.h"
#include "replay.h"
#include "settings.h"
#include "sim.h"
#include "stats.h"
#include "yahoo.h"

struct feed {
    const struct producer_config *cfg; /* borrowed */
    struct asset_list *assets;         /* borrowed; Yahoo may rename unknown ones */
    struct publisher *pub;             /* borrowed */
    struct producer_stats *stats;      /* borrowed */
    struct replay *replay;             /* borrowed; NULL unless PRICE_SOURCE=replay */
    struct sim_walk *walks;            /* owned, one per asset (sim and auto) */
    double *closes;                    /* owned, one per asset: the previous close, 0 unknown */
    int64_t sim_day;                   /* the simulated day of the last sim round, 0 before */
    unsigned char *inflight;           /* owned, one per asset: a Yahoo request is out */
    struct yahoo_client *yc;           /* owned (yahoo and auto) */
    struct autosw sw;
    int64_t last_sim_ms;
    int64_t next_round_ms; /* monotonic time of the next round */
    int cancel_yahoo;      /* set in a callback, done after the poll */
    int probe_out;         /* a probe is in flight */
    size_t probe_next;     /* asset the next probe asks for */
    int replay_done_logged;
    int topic_ready;
    int64_t next_topic_try_ms;
    int64_t next_announce_ms;        /* monotonic time the assets are announced again */
    size_t announced_len;            /* assets announced (replay adds some as it goes) */
    enum price_source announced_src; /* the source they were announced with */
    struct ratelog *yahoo_logs;      /* owned, one per asset: failures logged per symbol */
};

/* Prepares the feed. Returns 0, or -1 with err (out of memory, curl). */
int feed_init(struct feed *f, const struct producer_config *cfg, struct asset_list *assets,
              struct publisher *pub, struct producer_stats *stats, struct replay *replay, char *err,
              size_t errlen);

/* Runs until a stop signal. */
void feed_run(struct feed *f);

/* Frees what feed_init allocated (aborting Yahoo requests). */
void feed_free(struct feed *f);

#endif
