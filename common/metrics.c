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

int metrics_gauge_label(struct buf *b, const char *name, const char *help, const char *label,
                        const char *label_value, double value)
{
    return buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s{%s=\"%s\"} %.17g\n", name, help, name,
                      name, label, label_value, value);
}
