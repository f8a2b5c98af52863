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
    if (!msg_ticker_valid(r.ticker) || (int)r.type < ALERT_ABOVE || r.type > ALERT_PERCENT_DOWN)
        abort();
    if (r.type == ALERT_PERCENT_UP || r.type == ALERT_PERCENT_DOWN) {
        if (!(r.percent > 0 && r.percent <= REQUEST_PERCENT_MAX) || r.threshold != 0)
            abort();
    } else if (!isfinite(r.threshold) || r.threshold < REQUEST_THRESHOLD_MIN ||
               r.threshold > REQUEST_THRESHOLD_MAX || r.percent != 0) {
        abort();
    }
    return 0;
}
