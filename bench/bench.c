/* bench: the synthetic tick format and small helpers shared by the bench
 * programs (see bench.h). The parser is a field scan, not a JSON decoder:
 * it runs for every event of every stream in the load client. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bench_tick_format(int idx, uint32_t seq, double ts, char *out, size_t outlen, char ticker[16])
{
    int n;

    snprintf(ticker, 16, BENCH_TICKER_PREFIX "%02d", idx);
    n = snprintf(out, outlen,
                 "{\"ticker\":\"%s\",\"price\":%u.0,\"timestamp\":%.6f,\"company\":\"Bench %d\","
                 "\"display_name\":\"%s\",\"source\":\"sim\"}",
                 ticker, (unsigned)seq, ts, idx, ticker);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    return n;
}

/* Finds "key": in json[0..len) and returns where its value starts, or NULL. */
static const char *bench_field(const char *json, size_t len, const char *key, size_t keylen)
{
    const char *end = json + len;
    const char *p = json;

    while (p < end) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (q == NULL || (size_t)(end - q) < keylen + 3)
            return NULL;
        if (memcmp(q + 1, key, keylen) == 0 && q[keylen + 1] == '"' && q[keylen + 2] == ':')
            return q + keylen + 3;
        p = q + 1;
    }
    return NULL;
}

/* strtod on a bounded, not NUL-terminated field. */
static int bench_number(const char *p, const char *end, double *out)
{
    char tmp[40];
    size_t n = 0;
    char *stop = NULL;

    while (p + n < end && n < sizeof(tmp) - 1 && strchr("0123456789.eE+-", p[n]) != NULL)
        n++;
    if (n == 0)
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    *out = strtod(tmp, &stop);
    return errno == 0 && stop == tmp + n && isfinite(*out) ? 0 : -1;
}

int bench_tick_parse(const char *json, size_t len, int *idx, uint32_t *seq, double *ts)
{
    static const char prefix[] = BENCH_TICKER_PREFIX;
    const char *end = json + len;
    const char *t = bench_field(json, len, "timestamp", 9);
    const char *k = bench_field(json, len, "ticker", 6);
    const char *p;
    double price;
    int i = 0;

    if (t == NULL || k == NULL || bench_number(t, end, ts) != 0)
        return -1;
    if (end - k < (long)sizeof(prefix) + 1 || *k != '"' ||
        memcmp(k + 1, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    for (k += sizeof(prefix); k < end && *k >= '0' && *k <= '9' && i < 1000; k++)
        i = i * 10 + (*k - '0');
    if (k >= end || *k != '"' || i >= BENCH_TICKERS_MAX)
        return 0;
    p = bench_field(json, len, "price", 5);
    if (p == NULL || bench_number(p, end, &price) != 0 || price < 1 || price > 4e9)
        return -1;
    *idx = i;
    *seq = (uint32_t)llround(price);
    return 1;
}

double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
