/* assets: the list of symbols this producer instance publishes, with the
 * names of the default assets (contract.h) and the simulation's starting
 * price and volatility. Parsing of TICKERS, synthetic tickers for load
 * tests, and the split of the list between instances. */
#ifndef PRODUCER_ASSETS_H
#define PRODUCER_ASSETS_H

#include <stddef.h>

#include "message.h"

#define ASSETS_TICKERS_MAX 1000      /* symbols in TICKERS */
#define ASSETS_SYNTHETIC_MAX 1000000 /* SIM_SYNTHETIC_TICKERS */
#define ASSETS_ERR_MAX 256

struct asset {
    char ticker[MSG_TICKER_MAX];
    char *company;      /* owned by the list; NULL means "use the ticker" */
    char *display_name; /* owned by the list; NULL means "use the ticker" */
    double start_price; /* simulation start, > 0 */
    double volatility;  /* annualised, >= 0 */
    int decimals;       /* quoted with this many decimals; -1 until known */
};

struct asset_list {
    struct asset *items; /* owned */
    size_t len;
    size_t cap;
};

/* The decimals a venue quotes a price of this size with: cents from 100 up,
 * then 3, 4 and 6 (silver, natural gas, copper and cheaper coins), so a
 * second's move stays visible. An asset keeps the decimals of its first
 * known price (asset_round), so all its numbers read alike. */
int asset_decimals_for(double price);

/* p rounded to the asset's decimals (set from p when not yet known). */
double asset_round(struct asset *a, double p);

/* The name to publish: the company or display name, or the ticker. Never NULL. */
const char *asset_company(const struct asset *a);
const char *asset_display_name(const struct asset *a);

/* Fills list with the default assets (contract.h). Returns 0, or -1 on out of memory. */
int assets_load_defaults(struct asset_list *list);

/* Fills list from a comma-separated TICKERS value: spaces trimmed, letters
 * upper-cased, duplicates dropped; a known symbol keeps its shipped names,
 * an unknown one is named by its symbol. Returns 0, or -1 with err (empty
 * list, invalid symbol, more than ASSETS_TICKERS_MAX, out of memory). */
int assets_parse(struct asset_list *list, const char *spec, char *err, size_t errlen);

/* Appends one symbol (validated, deduplicated: an existing one is left as is).
 * Returns 0, or -1 with err. */
int assets_add(struct asset_list *list, const char *ticker, char *err, size_t errlen);

/* Appends n synthetic symbols SYN000000.. with start prices and volatilities
 * drawn from seed. Returns 0, or -1 on out of memory. */
int assets_add_synthetic(struct asset_list *list, size_t n, unsigned long long seed);

/* Applies per-symbol volatility overrides "T=0.5,U=1.2" (annualised, 0..10).
 * Symbols not in the list are ignored. Returns 0, or -1 with err. */
int assets_set_volatility(struct asset_list *list, const char *spec, char *err, size_t errlen);

/* Keeps only the entries whose position i has i % instances == instance, so
 * instances 0..instances-1 split the list into disjoint parts that together
 * are the whole list. Returns 0, or -1 if instance >= instances. */
int assets_shard(struct asset_list *list, size_t instance, size_t instances);

/* Index of ticker in the list, or -1. Linear: for setup and replay loading. */
long assets_find(const struct asset_list *list, const char *ticker);

/* Replaces the company name (e.g. with Yahoo's shortName). Returns 0 or -1. */
int assets_set_company(struct asset *a, const char *company);

/* Frees the entries; the list is empty afterwards. */
void assets_free(struct asset_list *list);

#endif
