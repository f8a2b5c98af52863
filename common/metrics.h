/* metrics: Prometheus text exposition helpers. Each appends one metric
 * (HELP, TYPE and sample lines); returns 0 or -1 when the buffer is full. */
#ifndef SA_METRICS_H
#define SA_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_HIST_MAX 16

/* A fixed-bucket histogram of durations, safe to observe from one thread
 * while another renders it (atomics). */
struct metrics_histogram {
    const double *bounds; /* upper bounds in seconds, ascending; not owned */
    size_t n;             /* number of bounds, at most METRICS_HIST_MAX */
    atomic_uint_fast64_t bucket[METRICS_HIST_MAX + 1]; /* per bucket, last = +Inf */
    atomic_uint_fast64_t sum_us;
};

int metrics_counter(struct buf *b, const char *name, const char *help, uint64_t value);
int metrics_gauge(struct buf *b, const char *name, const char *help, double value);

/* Empties h; bounds (n of them, capped at METRICS_HIST_MAX) must outlive it. */
void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, size_t n);

/* Records one duration (negative counts as 0). */
void metrics_histogram_observe(struct metrics_histogram *h, double seconds);

/* Number of observations so far. */
uint64_t metrics_histogram_count(struct metrics_histogram *h);

/* Mean of the observations in seconds, 0 when there are none. */
double metrics_histogram_mean(struct metrics_histogram *h);

/* Appends the histogram (cumulative buckets, _sum, _count). */
int metrics_histogram_write(struct buf *b, const char *name, const char *help,
                            struct metrics_histogram *h);

#endif
