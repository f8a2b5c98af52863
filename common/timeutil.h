/* timeutil: wall-clock and monotonic time in the units the daemons use. */
#ifndef SA_TIMEUTIL_H
#define SA_TIMEUTIL_H

#include <stdint.h>

/* Unix time in seconds with fraction (the timestamp of every message). */
double time_now(void);

/* Monotonic milliseconds, for timeouts and backoff. */
int64_t time_mono_ms(void);

/* Monotonic microseconds, for latencies. */
int64_t time_mono_us(void);

/* Sleeps up to ms milliseconds; returns early if a signal arrives. */
void time_sleep_ms(long ms);

#endif
