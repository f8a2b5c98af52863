/* log: one line per event on stderr, "time level service event key=value...".
 * Safe to call from several threads (one write(2) per line); never call it
 * from a signal handler. */
#ifndef SA_LOG_H
#define SA_LOG_H

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Sets the service name put on every line (copied) and the minimum level. */
void log_init(const char *service, enum log_level min_level);

/* Writes one line: `event` is a short fixed word or phrase; `fmt` adds
 * key=value fields (may be NULL). Lines longer than 4 KiB are truncated and
 * newlines in the output are replaced by spaces so one event stays one line. */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_event(LOG_LVL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_event(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_LVL_ERROR, ev, __VA_ARGS__)

#endif
