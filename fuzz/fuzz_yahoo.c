/* Fuzz target: the Yahoo chart-response parser. A quote it yields must
 * carry a finite, positive price. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "yahoo_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct yahoo_quote q;
    char err[YAHOO_ERR_MAX];

    if (yahoo_parse_chart((const char *)data, size, &q, err, sizeof(err)) != YAHOO_PARSE_OK)
        return 0;
    if (!isfinite(q.price) || q.price <= 0)
        abort();
    return 0;
}
