/* Fuzz target: the alerts decoder. Accepted input must be a valid alert
 * that re-encodes and decodes to the same ids. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct alert_msg m, again;
    char err[MSG_ERR_MAX];
    char out[MSG_MAX_BYTES * 2];
    int n;

    if (alert_msg_decode((const char *)data, size, &m, err, sizeof(err)) != 0)
        return 0;
    if (!msg_id_valid(m.alert_id) || !msg_id_valid(m.user_id) || !isfinite(m.price))
        abort();
    n = alert_msg_encode(&m, out, sizeof(out));
    if (n < 0)
        return 0; /* e.g. a message text too long to fit twice: refused, not a bug */
    if (alert_msg_decode(out, (size_t)n, &again, err, sizeof(err)) != 0 ||
        strcmp(again.alert_id, m.alert_id) != 0 || strcmp(again.user_id, m.user_id) != 0)
        abort();
    return 0;
}
