/* metrics: Prometheus text format writers. */
#include "metrics.h"

#include <inttypes.h>

int metrics_counter(struct buf *b, const char *name, const char *help, uint64_t value)
{
    return buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name,
                      name, value);
}

int metrics_gauge(struct buf *b, const char *name, const char *help, double value)
{
    return buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name,
                      value);
}

void metrics_histogram_init(struct metrics_histogram *h, const double *bounds, size_t n)
{
    h->bounds = bounds;
    h->n = n < METRICS_HIST_MAX ? n : METRICS_HIST_MAX;
    for (size_t i = 0; i <= METRICS_HIST_MAX; i++)
        atomic_init(&h->bucket[i], 0);
    atomic_init(&h->sum_us, 0);
}

void metrics_histogram_observe(struct metrics_histogram *h, double seconds)
{
    size_t i = 0;

    if (!(seconds > 0))
        seconds = 0;
    while (i < h->n && seconds > h->bounds[i])
        i++;
    atomic_fetch_add(&h->bucket[i], 1);
    atomic_fetch_add(&h->sum_us, (uint64_t)(seconds * 1e6));
}

uint64_t metrics_histogram_count(struct metrics_histogram *h)
{
    uint64_t n = 0;

    for (size_t i = 0; i <= h->n; i++)
        n += atomic_load(&h->bucket[i]);
    return n;
}

double metrics_histogram_mean(struct metrics_histogram *h)
{
    uint64_t n = metrics_histogram_count(h);

    return n ? (double)atomic_load(&h->sum_us) / 1e6 / (double)n : 0.0;
}

int metrics_histogram_write(struct buf *b, const char *name, const char *help,
                            struct metrics_histogram *h)
{
    uint64_t cum = 0;

    if (buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name) != 0)
        return -1;
    for (size_t i = 0; i < h->n; i++) {
        cum += atomic_load(&h->bucket[i]);
        if (buf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, h->bounds[i], cum) != 0)
            return -1;
    }
    cum += atomic_load(&h->bucket[h->n]);
    return buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n",
                      name, cum, name, (double)atomic_load(&h->sum_us) / 1e6, name, cum);
}
