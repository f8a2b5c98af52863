/* autosw: failure counting and probe timing for PRICE_SOURCE=auto. */
#include "autosw.h"

void autosw_init(struct autosw *a, int enabled, enum price_source start, long threshold,
                 long probe_ms)
{
    a->enabled = enabled;
    a->current = start;
    a->threshold = threshold > 0 ? threshold : 1;
    a->probe_ms = probe_ms;
    a->fails = 0;
    a->next_probe_ms = 0;
}

int autosw_on_success(struct autosw *a)
{
    a->fails = 0;
    if (!a->enabled || a->current != SOURCE_SIM)
        return 0;
    a->current = SOURCE_YAHOO;
    return 1;
}

int autosw_on_failure(struct autosw *a, int64_t now_ms)
{
    if (a->fails < a->threshold)
        a->fails++;
    if (!a->enabled || a->current != SOURCE_YAHOO || a->fails < a->threshold)
        return 0;
    a->current = SOURCE_SIM;
    a->next_probe_ms = now_ms + a->probe_ms;
    return 1;
}

int autosw_probe_due(const struct autosw *a, int64_t now_ms)
{
    return a->enabled && a->current == SOURCE_SIM && now_ms >= a->next_probe_ms;
}

void autosw_probe_sent(struct autosw *a, int64_t now_ms)
{
    a->next_probe_ms = now_ms + a->probe_ms;
}
