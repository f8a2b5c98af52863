/* prices: the asset universe and the latest tick of each of its assets, for
 * the snapshot a new price stream gets, for /api/tickers and for "is this
 * ticker known". The universe is what the producers announce on the asset
 * topic (universe.c; docs/asset-universe.md): an asset is in it until its
 * record's published_at + valid_ms, and a tick of any other ticker is
 * neither kept nor streamed. Written by the reader threads, read by the
 * HTTP threads, under one mutex. */
#include "webapp.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "timeutil.h"

#define PRICES_MAX 1024   /* assets kept; more (synthetic load) still stream */
#define PRICES_SLOTS 2048 /* open-addressing index, a power of two > 2 * max */
#define PRICES_SNAPSHOT_MAX (PRICES_MAX * (MSG_MAX_BYTES + 8))

struct price_entry {
    struct price_msg m;
    double until;                /* in the universe until this Unix time; 0: not (withdrawn) */
    long interval_ms;            /* the announced interval of its ticks */
    char source[MSG_SOURCE_MAX]; /* the announced source */
    int has_price;
    char *raw; /* the last tick's JSON, NUL-terminated; NULL before one */
    size_t raw_len;
};

static pthread_mutex_t prices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct price_entry prices_tab[PRICES_MAX];
static int prices_count;
static int16_t prices_slots[PRICES_SLOTS]; /* index + 1; 0 = empty */
static struct sse_event *prices_snap;      /* cached snapshot, NULL when stale */
static long prices_snap_retry;
/* Held for a whole batch (and while a snapshot is taken); then prices_lock. */
static pthread_mutex_t prices_batch_lock = PTHREAD_MUTEX_INITIALIZER;
static long long prices_batches; /* batches recorded */

/* The entry of ticker, or NULL. Lock held. */
static struct price_entry *prices_find(const char *ticker)
{
    uint32_t i = hash_fnv1a32(ticker) & (PRICES_SLOTS - 1);

    while (prices_slots[i] != 0) {
        struct price_entry *e = &prices_tab[prices_slots[i] - 1];
        if (strcmp(e->m.ticker, ticker) == 0)
            return e;
        i = (i + 1) & (PRICES_SLOTS - 1);
    }
    return NULL;
}

/* Adds ticker (valid, absent). NULL when full. Lock held. */
static struct price_entry *prices_add(const char *ticker)
{
    uint32_t i = hash_fnv1a32(ticker) & (PRICES_SLOTS - 1);
    struct price_entry *e;

    if (prices_count >= PRICES_MAX)
        return NULL;
    while (prices_slots[i] != 0)
        i = (i + 1) & (PRICES_SLOTS - 1);
    e = &prices_tab[prices_count];
    memset(e, 0, sizeof(*e));
    snprintf(e->m.ticker, sizeof(e->m.ticker), "%s", ticker);
    snprintf(e->m.company, sizeof(e->m.company), "%s", ticker);
    snprintf(e->m.display_name, sizeof(e->m.display_name), "%s", ticker);
    prices_slots[i] = (int16_t)(++prices_count);
    return e;
}

/* True when e is in the universe at Unix time now. Lock held. */
static int prices_in(const struct price_entry *e, double now)
{
    return e->until > now;
}

int prices_announce(const struct asset_msg *a)
{
    double until = a->published_at + (double)a->valid_ms / 1000.0;
    struct price_entry *e;
    int rc = -1;

    pthread_mutex_lock(&prices_lock);
    e = prices_find(a->ticker);
    /* A record already past its validity (the compacted topic keeps old
     * test assets) takes no slot of the table. */
    if (e == NULL && until <= time_now()) {
        pthread_mutex_unlock(&prices_lock);
        return 0;
    }
    if (e == NULL)
        e = prices_add(a->ticker);
    if (e != NULL) {
        e->until = until;
        e->interval_ms = a->interval_ms;
        snprintf(e->source, sizeof(e->source), "%s", a->source);
        if (!e->has_price) {
            snprintf(e->m.company, sizeof(e->m.company), "%s", a->company);
            snprintf(e->m.display_name, sizeof(e->m.display_name), "%s", a->display_name);
        }
        sse_event_unref(prices_snap);
        prices_snap = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&prices_lock);
    return rc;
}

void prices_withdraw(const char *ticker)
{
    struct price_entry *e;

    pthread_mutex_lock(&prices_lock);
    e = prices_find(ticker);
    if (e != NULL && e->until > 0) {
        e->until = 0;
        sse_event_unref(prices_snap);
        prices_snap = NULL;
    }
    pthread_mutex_unlock(&prices_lock);
}

void prices_free(void)
{
    pthread_mutex_lock(&prices_lock);
    for (int i = 0; i < prices_count; i++) {
        free(prices_tab[i].raw);
        prices_tab[i].raw = NULL;
    }
    prices_count = 0;
    memset(prices_slots, 0, sizeof(prices_slots));
    sse_event_unref(prices_snap);
    prices_snap = NULL;
    pthread_mutex_unlock(&prices_lock);
}

int prices_update(const struct price_msg *m, const char *raw, size_t len)
{
    struct price_entry *e;
    char *copy = malloc(len + 1);
    int rc = -1;

    if (copy == NULL)
        return -1;
    memcpy(copy, raw, len);
    copy[len] = '\0';
    pthread_mutex_lock(&prices_lock);
    e = prices_find(m->ticker);
    if (e == NULL || !prices_in(e, time_now())) {
        rc = 1;
    } else {
        free(e->raw);
        e->raw = copy;
        e->raw_len = len;
        e->m = *m;
        e->has_price = 1;
        copy = NULL;
        sse_event_unref(prices_snap);
        prices_snap = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&prices_lock);
    free(copy);
    return rc;
}

int prices_known(const char *ticker)
{
    int found;
    const struct price_entry *e;

    pthread_mutex_lock(&prices_lock);
    e = prices_find(ticker);
    found = e != NULL && prices_in(e, time_now());
    pthread_mutex_unlock(&prices_lock);
    return found;
}

double prices_latest(const char *ticker)
{
    double price = 0;
    const struct price_entry *e;

    pthread_mutex_lock(&prices_lock);
    e = prices_find(ticker);
    if (e != NULL && e->has_price && prices_in(e, time_now()))
        price = e->m.price;
    pthread_mutex_unlock(&prices_lock);
    return price;
}

/* Builds the snapshot event. Lock held. */
static struct sse_event *prices_build_snapshot(long retry_ms)
{
    struct sse_event *ev = NULL;
    double now = time_now();
    uint32_t n = 0;
    struct buf b;

    buf_init(&b, PRICES_SNAPSHOT_MAX);
    if (buf_printf(&b, "retry: %ld\n\n", retry_ms) != 0)
        goto out;
    for (int i = 0; i < prices_count; i++) {
        const struct price_entry *e = &prices_tab[i];
        if (!e->has_price || !prices_in(e, now))
            continue;
        if (sse_append_data(&b, e->raw, e->raw_len) != 0)
            goto out;
        n++;
    }
    ev = sse_event_new(b.data, b.len, n, 0);
out:
    buf_free(&b);
    return ev;
}

void prices_batch_begin(void)
{
    pthread_mutex_lock(&prices_batch_lock);
}

long long prices_batch_end(void)
{
    long long n = ++prices_batches;

    pthread_mutex_unlock(&prices_batch_lock);
    return n;
}

struct sse_event *prices_snapshot(long retry_ms, long long *batch)
{
    struct sse_event *ev;

    pthread_mutex_lock(&prices_batch_lock);
    *batch = prices_batches;
    pthread_mutex_lock(&prices_lock);
    if (prices_snap == NULL || prices_snap_retry != retry_ms) {
        sse_event_unref(prices_snap);
        prices_snap = prices_build_snapshot(retry_ms);
        prices_snap_retry = retry_ms;
    }
    ev = prices_snap != NULL ? sse_event_ref(prices_snap) : NULL;
    pthread_mutex_unlock(&prices_lock);
    pthread_mutex_unlock(&prices_batch_lock);
    return ev;
}

/* An asset of /api/tickers: the tick's fields (null before one), its
 * source (the tick's, else the announced one), the announced interval, and
 * the tick's optional decimals and previous close when it had them. */
static json_t *prices_entry_json(const struct price_entry *e)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:I}", "ticker", e->m.ticker, "company",
                          e->m.company, "display_name", e->m.display_name, "price",
                          e->has_price ? json_real(e->m.price) : json_null(), "timestamp",
                          e->has_price ? json_real(e->m.timestamp) : json_null(), "source",
                          e->has_price ? e->m.source : e->source, "interval_ms",
                          (json_int_t)e->interval_ms);

    if (o != NULL && e->has_price && e->m.has_decimals)
        json_object_set_new(o, "decimals", json_integer(e->m.decimals));
    if (o != NULL && e->has_price && e->m.previous_close > 0)
        json_object_set_new(o, "previous_close", json_real(e->m.previous_close));
    return o;
}

int prices_write_json(struct buf *out)
{
    json_t *arr = json_array();
    json_t *root = NULL;
    char *text = NULL;
    double now = time_now();
    int rc = -1;

    if (arr == NULL)
        return -1;
    pthread_mutex_lock(&prices_lock);
    for (int i = 0; i < prices_count; i++) {
        if (prices_in(&prices_tab[i], now))
            json_array_append_new(arr, prices_entry_json(&prices_tab[i]));
    }
    pthread_mutex_unlock(&prices_lock);
    root = json_pack("{s:o}", "tickers", arr);
    if (root == NULL)
        return -1;
    text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (text != NULL && buf_puts(out, text) == 0)
        rc = 0;
    free(text);
    json_decref(root);
    return rc;
}

void prices_counts(long *with_price, long *simulated)
{
    long n = 0;
    long sim = 0;
    double now = time_now();

    pthread_mutex_lock(&prices_lock);
    for (int i = 0; i < prices_count; i++) {
        if (!prices_tab[i].has_price || !prices_in(&prices_tab[i], now))
            continue;
        n++;
        if (strcmp(prices_tab[i].m.source, "sim") == 0)
            sim++;
    }
    pthread_mutex_unlock(&prices_lock);
    *with_price = n;
    *simulated = sim;
}
