/* ratelog: a per-event-kind log throttle. */
#include "ratelog.h"

void ratelog_init(struct ratelog *r, long period_ms)
{
    r->period_ms = period_ms;
    r->next_ms = 0;
    r->suppressed = 0;
}

int ratelog_allow(struct ratelog *r, int64_t now_ms, unsigned long *suppressed)
{
    if (now_ms < r->next_ms) {
        r->suppressed++;
        return 0;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    r->next_ms = now_ms + r->period_ms;
    return 1;
}
