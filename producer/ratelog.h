/* ratelog: keeps a repeating event to one log line per period, counting the
 * lines it held back so the next line can say how many. */
#ifndef PRODUCER_RATELOG_H
#define PRODUCER_RATELOG_H

#include <stdint.h>

struct ratelog {
    long period_ms;
    int64_t next_ms;          /* monotonic time the next line may be written */
    unsigned long suppressed; /* events held back since the last line */
};

void ratelog_init(struct ratelog *r, long period_ms);

/* Returns 1 when the event may be logged now (and stores in *suppressed how
 * many were held back before it, resetting that count), 0 when it is held back. */
int ratelog_allow(struct ratelog *r, int64_t now_ms, unsigned long *suppressed);

#endif
