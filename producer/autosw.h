/* autosw: the `auto` source's decision, free of I/O so it can be tested:
 * use Yahoo; after `threshold` failed requests in a row use the simulation;
 * while simulating, allow one Yahoo probe every probe_ms; the first Yahoo
 * success goes back to Yahoo. With auto off the source never changes. */
#ifndef PRODUCER_AUTOSW_H
#define PRODUCER_AUTOSW_H

#include <stdint.h>

#include "stats.h"

struct autosw {
    int enabled; /* PRICE_SOURCE=auto */
    enum price_source current;
    long threshold; /* failures in a row before switching to sim, >= 1 */
    long probe_ms;  /* interval between probes while simulating */
    long fails;     /* failures in a row */
    int64_t next_probe_ms;
};

void autosw_init(struct autosw *a, int enabled, enum price_source start, long threshold,
                 long probe_ms);

/* A Yahoo request succeeded. Returns 1 when this switched sim -> yahoo. */
int autosw_on_success(struct autosw *a);

/* A Yahoo request failed at now_ms. Returns 1 when this switched yahoo -> sim
 * (the next probe is then due probe_ms later). */
int autosw_on_failure(struct autosw *a, int64_t now_ms);

/* True when simulating and a probe is due at now_ms. */
int autosw_probe_due(const struct autosw *a, int64_t now_ms);

/* A probe was sent (or finished without a price) at now_ms: the next one is
 * due probe_ms later. */
void autosw_probe_sent(struct autosw *a, int64_t now_ms);

#endif
