/* Fuzz target: the set-alert request body. An accepted body must give a
 * valid ticker, a threshold within REQUEST_THRESHOLD_MIN..MAX and a known
 * type. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "webapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct set_alert_req r;
    char err[128];

    if (request_parse_set_alert((const char *)data, size, &r, err, sizeof(err)) != 0)
        return 0;
    if (!msg_ticker_valid(r.ticker) || !isfinite(r.threshold) ||
        r.threshold < REQUEST_THRESHOLD_MIN || r.threshold > REQUEST_THRESHOLD_MAX ||
        (r.type != ALERT_ABOVE && r.type != ALERT_BELOW))
        abort();
    return 0;
}
