/* Fuzz target: the stock-prices decoder. Whatever it accepts must satisfy
 * the contract (finite positive price, valid ticker) and re-encode. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct price_msg m;
    char err[MSG_ERR_MAX];
    char out[MSG_MAX_BYTES * 2];

    if (price_msg_decode((const char *)data, size, &m, err, sizeof(err)) != 0)
        return 0;
    if (!isfinite(m.price) || m.price <= 0 || !msg_ticker_valid(m.ticker))
        abort();
    if (price_msg_encode(&m, out, sizeof(out)) < 0)
        abort();
    return 0;
}
