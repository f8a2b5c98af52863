/* contract: the default asset list and the topic list as arrays (the rest
 * of the contract is constants in contract.h). */
#include "contract.h"

#include <string.h>

#define CONTRACT_ASSET_ROW_(ticker, company, name, price, vol) {ticker, company, name, price, vol},

const struct contract_asset contract_assets[] = {CONTRACT_ASSETS(CONTRACT_ASSET_ROW_)};

const size_t contract_assets_len = sizeof(contract_assets) / sizeof(contract_assets[0]);

const char *const contract_topics[] = {CONTRACT_TOPIC_PRICES, CONTRACT_TOPIC_ALERTS,
                                       CONTRACT_TOPIC_DLQ, CONTRACT_TOPIC_ASSETS, NULL};

int contract_topic_compacted(const char *topic)
{
    size_t n = strlen(topic);

    return n >= 6 && strcmp(topic + n - 6, "assets") == 0;
}

const struct contract_asset *contract_asset_find(const char *ticker)
{
    for (size_t i = 0; i < contract_assets_len; i++) {
        if (strcmp(contract_assets[i].ticker, ticker) == 0)
            return &contract_assets[i];
    }
    return NULL;
}
