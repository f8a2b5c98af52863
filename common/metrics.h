/* metrics: Prometheus text exposition helpers. Each appends one metric
 * (HELP, TYPE and sample lines); returns 0 or -1 when the buffer is full. */
#ifndef SA_METRICS_H
#define SA_METRICS_H

#include <stdint.h>

#include "buf.h"

int metrics_counter(struct buf *b, const char *name, const char *help, uint64_t value);
int metrics_gauge(struct buf *b, const char *name, const char *help, double value);

/* A gauge with one label, e.g. source="sim": value 1 marks the active one. */
int metrics_gauge_label(struct buf *b, const char *name, const char *help, const char *label,
                        const char *label_value, double value);

#endif
