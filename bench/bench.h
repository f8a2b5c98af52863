/* bench: what the benchmark programs share — the synthetic tick they
 * publish and recognise, and small option/time helpers. Ticks of the bench
 * tickers (BENCH_TICKER_PREFIX + index) carry their burst sequence number as
 * the price, so a client can count every tick it missed. */
#ifndef SA_BENCH_H
#define SA_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_TICKER_PREFIX "ZZB"
#define BENCH_TICKERS_MAX 64
#define BENCH_TICK_MAX 256 /* bytes of one encoded tick */

/* Writes the JSON tick of ticker index idx, burst seq (>= 1), timestamp ts
 * (Unix seconds) into out; also its ticker into ticker[16]. Returns the
 * length, or -1 when out is too small. */
int bench_tick_format(int idx, uint32_t seq, double ts, char *out, size_t outlen, char ticker[16]);

/* Extracts from one SSE data payload (a price JSON, not NUL-terminated):
 * the timestamp, and, for a bench ticker, its index and seq. Returns 1 for a
 * bench tick, 0 for another ticker (only *ts set), -1 when malformed. */
int bench_tick_parse(const char *json, size_t len, int *idx, uint32_t *seq, double *ts);

/* Unix time in seconds with fraction (CLOCK_REALTIME). */
double bench_now(void);

/* Parses a whole decimal number in [min, max]. Returns 0 or -1. */
int bench_parse_long(const char *s, long min, long max, long *out);

#endif
