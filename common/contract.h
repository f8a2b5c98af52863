/* contract: what the daemons agree on, written once — the Kafka topics and
 * consumer groups, the default ports and the default asset list. Every
 * daemon's configuration table takes its defaults from here; the alert
 * message text is in message.h, the Redis keys in alert_store.h. */
#ifndef SA_CONTRACT_H
#define SA_CONTRACT_H

#include <stddef.h>

/* The text of a number macro, for configuration defaults: CONTRACT_TEXT(9101)
 * is "9101". */
#define CONTRACT_TEXT_(x) #x
#define CONTRACT_TEXT(x) CONTRACT_TEXT_(x)

/* Kafka topics (TOPIC_PRICES, TOPIC_ALERTS, TOPIC_DLQ). */
#define CONTRACT_TOPIC_PRICES "stock-prices" /* price ticks, key = ticker */
#define CONTRACT_TOPIC_ALERTS "alerts"       /* fired alerts, key = user_id */
#define CONTRACT_TOPIC_DLQ "alerts-dlq"      /* alerts the notifier could not deliver */
/* The asset universe (TOPIC_ASSETS): one record per asset, key = ticker,
 * kept current by the producer that publishes it (docs/asset-universe.md). */
#define CONTRACT_TOPIC_ASSETS "stock-assets"

/* The topics above, NULL-terminated: what the stack creates. */
extern const char *const contract_topics[];

/* True for a topic created compacted (only the newest record of a key is
 * kept): the asset topic, and any topic whose name ends in "assets" (a
 * test's private copy of it). */
int contract_topic_compacted(const char *topic);

/* Kafka consumer groups (CONSUMER_GROUP, NOTIFIER_GROUP). The webapp reads
 * every partition without a group. */
#define CONTRACT_GROUP_EVALUATORS "alert-evaluators"
#define CONTRACT_GROUP_NOTIFIERS "notification-dispatchers"

/* Default ports. */
#define CONTRACT_PORT_KAFKA 9092
#define CONTRACT_PORT_REDIS 6379
#define CONTRACT_PORT_WEBAPP 8000           /* WEBAPP_PORT: page, API, /health, /metrics */
#define CONTRACT_PORT_PRODUCER_METRICS 9101 /* METRICS_PORT of each daemon */
#define CONTRACT_PORT_CONSUMER_METRICS 9102
#define CONTRACT_PORT_NOTIFIER_METRICS 9103

/* Where the daemons find their servers by default. */
#define CONTRACT_HOST "127.0.0.1"
#define CONTRACT_KAFKA_BOOTSTRAP CONTRACT_HOST ":" CONTRACT_TEXT(CONTRACT_PORT_KAFKA)

/* The default assets, in display order: X(ticker, company, display name,
 * the simulation's start price, its annualised volatility). Volatilities
 * follow the asset classes: crypto > equities > gold. */
#define CONTRACT_ASSETS(X)                                                                         \
    X("AAPL", "Apple Inc.", "Apple", 190.0, 0.25)                                                  \
    X("GOOGL", "Alphabet Inc.", "Google", 170.0, 0.30)                                             \
    X("MSFT", "Microsoft Corporation", "Microsoft", 420.0, 0.25)                                   \
    X("AMZN", "Amazon.com, Inc.", "Amazon", 185.0, 0.32)                                           \
    X("NVDA", "NVIDIA Corporation", "NVIDIA", 120.0, 0.50)                                         \
    X("TSLA", "Tesla, Inc.", "Tesla", 250.0, 0.60)                                                 \
    X("META", "Meta Platforms, Inc.", "Meta", 500.0, 0.40)                                         \
    X("BTC-USD", "Bitcoin USD", "Bitcoin", 65000.0, 0.70)                                          \
    X("ETH-USD", "Ethereum USD", "Ethereum", 3200.0, 0.80)                                         \
    X("SOL-USD", "Solana USD", "Solana", 150.0, 1.00)                                              \
    X("GC=F", "Gold Futures", "Gold", 2350.0, 0.15)                                                \
    X("SI=F", "Silver Futures", "Silver", 29.0, 0.28)                                              \
    X("CL=F", "Crude Oil Futures", "Crude Oil", 78.0, 0.35)                                        \
    X("NG=F", "Natural Gas Futures", "Natural Gas", 2.8, 0.55)                                     \
    X("HG=F", "Copper Futures", "Copper", 4.5, 0.25)

/* The default tickers, comma-separated ("AAPL,GOOGL,...,HG=F"), as a string
 * constant a configuration table can hold: each asset adds ",TICKER" and
 * the leading comma is skipped. */
#define CONTRACT_ASSET_COMMA_TICKER_(ticker, company, name, price, vol) "," ticker
#define CONTRACT_TICKERS (CONTRACT_ASSETS(CONTRACT_ASSET_COMMA_TICKER_) + 1)

struct contract_asset {
    const char *ticker;
    const char *company;
    const char *display_name;
    double start_price; /* simulation start, > 0 */
    double volatility;  /* annualised, >= 0 */
};

/* CONTRACT_ASSETS as an array, in the same order. */
extern const struct contract_asset contract_assets[];
extern const size_t contract_assets_len;

/* The default asset of that ticker, or NULL. */
const struct contract_asset *contract_asset_find(const char *ticker);

#endif
