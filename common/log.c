/* log: formats and writes single-line, key=value log events to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static char log_service[32] = "stock-alerts";
static enum log_level log_min = LOG_LVL_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, enum log_level min_level)
{
    snprintf(log_service, sizeof(log_service), "%s", service);
    log_min = min_level;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;

    if (level < log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s %s", ts.tv_nsec / 1000000L,
                 log_names[level], log_service, event);
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    if (fmt != NULL && n < sizeof(line) - 2) {
        va_list ap;
        line[n++] = ' ';
        va_start(ap, fmt);
        r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (r > 0)
            n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
