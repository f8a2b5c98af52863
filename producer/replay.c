/* replay: CSV loading (capped lines, counted bad lines) and paced playback. */
#include "replay.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hash.h"
#include "log.h"
#include "message.h"

#define REPLAY_BAD_LOGGED 10   /* malformed lines logged one by one */
#define REPLAY_HASH_SLOTS 4096 /* > 2 * ASSETS_TICKERS_MAX */

/* ------------------------------------------------------------ line parsing */

/* Trims [*s, *e) of spaces, CR and LF. */
static void replay_trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* Reads exactly ndigits digits at *p into *out. */
static int replay_digits(const char **p, const char *e, int ndigits, int *out)
{
    int v = 0;

    for (int i = 0; i < ndigits; i++, (*p)++) {
        if (*p >= e || !isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

/* YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+00:00] (UTC only). */
static int replay_parse_iso(const char *s, const char *e, double *out)
{
    struct tm tm;
    double frac = 0, scale = 0.1;
    int y, mo, d, h, mi, sec;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (replay_digits(&s, e, 4, &y) || s >= e || *s++ != '-' || replay_digits(&s, e, 2, &mo) ||
        s >= e || *s++ != '-' || replay_digits(&s, e, 2, &d) || s >= e ||
        (*s != 'T' && *s != ' ') || (s++, replay_digits(&s, e, 2, &h)) || s >= e || *s++ != ':' ||
        replay_digits(&s, e, 2, &mi) || s >= e || *s++ != ':' || replay_digits(&s, e, 2, &sec))
        return -1;
    if (s < e && *s == '.') {
        for (s++; s < e && isdigit((unsigned char)*s); s++, scale /= 10)
            frac += (*s - '0') * scale;
    }
    if (s < e && (*s == 'Z' || *s == 'z'))
        s++;
    else if (e - s == 6 && (strncmp(s, "+00:00", 6) == 0 || strncmp(s, "-00:00", 6) == 0))
        s += 6;
    if (s != e || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (double)t + frac;
    return 0;
}

/* A finite number filling [s, e) exactly. */
static int replay_parse_number(const char *s, const char *e, double *out)
{
    char num[64];
    char *end = NULL;
    size_t n = (size_t)(e - s);

    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    errno = 0;
    *out = strtod(num, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(*out))
        return -1;
    return 0;
}

static int replay_parse_ts(const char *s, const char *e, double *ts)
{
    if (replay_parse_number(s, e, ts) == 0) {
        if (*ts > 1e11) /* milliseconds */
            *ts /= 1000.0;
    } else if (replay_parse_iso(s, e, ts) != 0) {
        return -1;
    }
    return *ts > 0 ? 0 : -1;
}

static int replay_parse_ticker(const char *s, const char *e, char *out, size_t outlen)
{
    size_t n = (size_t)(e - s);

    if (n == 0 || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    out[n] = '\0';
    return msg_ticker_valid(out) ? 0 : -1;
}

/* Splits [s, e) at commas into exactly 3 trimmed fields. */
static int replay_split(const char *s, const char *e, const char *fs[3], const char *fe[3])
{
    int n = 0;

    for (;;) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        const char *end = c ? c : e;
        if (n == 3)
            return -1;
        fs[n] = s;
        fe[n] = end;
        replay_trim(&fs[n], &fe[n]);
        n++;
        if (c == NULL)
            break;
        s = c + 1;
    }
    return n == 3 ? 0 : -1;
}

enum replay_line_status replay_parse_line(const char *line, size_t len, double *ts, char *ticker,
                                          size_t tickerlen, double *price, char *err, size_t errlen)
{
    const char *s = line, *e = line + len;
    const char *fs[3], *fe[3];

    replay_trim(&s, &e);
    if (s == e || *s == '#')
        return REPLAY_LINE_SKIP;
    if (len >= REPLAY_LINE_MAX) {
        snprintf(err, errlen, "line longer than %d bytes", REPLAY_LINE_MAX - 1);
        return REPLAY_LINE_BAD;
    }
    if (memchr(s, '\0', (size_t)(e - s)) != NULL || replay_split(s, e, fs, fe) != 0) {
        snprintf(err, errlen, "expected 3 fields timestamp,ticker,price");
        return REPLAY_LINE_BAD;
    }
    if (fe[0] - fs[0] == 9 && strncasecmp(fs[0], "timestamp", 9) == 0)
        return REPLAY_LINE_SKIP;
    if (replay_parse_ts(fs[0], fe[0], ts) != 0) {
        snprintf(err, errlen, "bad timestamp");
        return REPLAY_LINE_BAD;
    }
    if (replay_parse_ticker(fs[1], fe[1], ticker, tickerlen) != 0) {
        snprintf(err, errlen, "bad ticker");
        return REPLAY_LINE_BAD;
    }
    if (replay_parse_number(fs[2], fe[2], price) != 0 || !(*price > 0)) {
        snprintf(err, errlen, "price is not a positive number");
        return REPLAY_LINE_BAD;
    }
    return REPLAY_LINE_OK;
}

/* ------------------------------------------------------------ loading */

/* Symbol -> list index, open addressing; the list owns the strings. */
struct replay_index {
    long slot[REPLAY_HASH_SLOTS];
    const struct asset_list *list;
};

static size_t replay_hash(const char *s)
{
    return hash_fnv1a32(s) & (REPLAY_HASH_SLOTS - 1);
}

/* Index of ticker, or -1; *slot gets the free slot where it would go. */
static long replay_index_find(const struct replay_index *ix, const char *ticker, size_t *slot)
{
    size_t h = replay_hash(ticker);

    while (ix->slot[h] >= 0) {
        if (strcmp(ix->list->items[ix->slot[h]].ticker, ticker) == 0)
            return ix->slot[h];
        h = (h + 1) & (REPLAY_HASH_SLOTS - 1);
    }
    *slot = h;
    return -1;
}

static void replay_index_build(struct replay_index *ix, const struct asset_list *list)
{
    size_t slot;

    ix->list = list;
    for (size_t i = 0; i < REPLAY_HASH_SLOTS; i++)
        ix->slot[i] = -1;
    for (size_t i = 0; i < list->len && i < REPLAY_HASH_SLOTS / 2; i++) {
        if (replay_index_find(ix, list->items[i].ticker, &slot) < 0)
            ix->slot[slot] = (long)i;
    }
}

/* The row's asset index, adding the symbol when allowed; -1 to skip it. */
static long replay_resolve(struct replay_index *ix, struct asset_list *assets, const char *ticker,
                           int add_unknown)
{
    char err[ASSETS_ERR_MAX];
    size_t slot = 0;
    long idx = replay_index_find(ix, ticker, &slot);

    if (idx >= 0 || !add_unknown || assets->len >= ASSETS_TICKERS_MAX)
        return idx;
    if (assets_add(assets, ticker, err, sizeof(err)) != 0)
        return -1;
    ix->slot[slot] = (long)(assets->len - 1);
    return ix->slot[slot];
}

static int replay_push(struct replay *r, size_t *cap, double ts, double price, size_t asset)
{
    if (r->len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        struct replay_row *p = realloc(r->rows, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        r->rows = p;
        *cap = ncap;
    }
    r->rows[r->len].ts = ts;
    r->rows[r->len].price = price;
    r->rows[r->len].asset = (uint32_t)asset;
    r->rows[r->len].seq = (uint32_t)r->len;
    r->len++;
    return 0;
}

/* Reads one line into buf; a longer line is consumed whole and reported by
 * *len = REPLAY_LINE_MAX. Returns 0, or -1 at end of file. */
static int replay_read_line(FILE *f, char *buf, size_t *len)
{
    int c;

    if (fgets(buf, REPLAY_LINE_MAX, f) == NULL)
        return -1;
    *len = strlen(buf);
    if (*len == REPLAY_LINE_MAX - 1 && buf[*len - 1] != '\n') {
        while ((c = fgetc(f)) != EOF && c != '\n')
            ;
        *len = REPLAY_LINE_MAX;
    }
    return 0;
}

/* Sorts rows by time, keeping file order for equal times. */
static int replay_cmp(const void *a, const void *b)
{
    const struct replay_row *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int replay_load_rows(struct replay *r, FILE *f, struct asset_list *assets, int add_unknown)
{
    struct replay_index *ix = malloc(sizeof(*ix));
    char line[REPLAY_LINE_MAX], ticker[MSG_TICKER_MAX], why[REPLAY_ERR_MAX];
    size_t len, cap = 0;
    unsigned long lineno = 0;
    double ts, price;

    if (ix == NULL)
        return -1;
    replay_index_build(ix, assets);
    while (r->len < REPLAY_ROWS_MAX && replay_read_line(f, line, &len) == 0) {
        enum replay_line_status st =
            replay_parse_line(line, len, &ts, ticker, sizeof(ticker), &price, why, sizeof(why));
        long idx;
        lineno++;
        if (st == REPLAY_LINE_SKIP)
            continue;
        if (st == REPLAY_LINE_BAD) {
            if (++r->bad_lines <= REPLAY_BAD_LOGGED)
                log_warn("replay bad line", "line=%lu reason=\"%s\"", lineno, why);
            continue;
        }
        idx = replay_resolve(ix, assets, ticker, add_unknown);
        if (idx < 0) {
            r->skipped_rows++;
            continue;
        }
        if (replay_push(r, &cap, ts, price, (size_t)idx) != 0) {
            free(ix);
            return -1;
        }
    }
    free(ix);
    return 0;
}

int replay_load(struct replay *r, const char *path, struct asset_list *assets, int add_unknown,
                double speed, int loop, char *err, size_t errlen)
{
    FILE *f = NULL;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->speed = speed > 0 ? speed : 1.0;
    r->loop = loop;
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (replay_load_rows(r, f, assets, add_unknown) != 0) {
        snprintf(err, errlen, "out of memory reading %s", path);
        goto out;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "read error on %s", path);
        goto out;
    }
    if (r->len == 0) {
        snprintf(err, errlen, "%s has no usable rows (bad=%lu skipped=%lu)", path, r->bad_lines,
                 r->skipped_rows);
        goto out;
    }
    qsort(r->rows, r->len, sizeof(r->rows[0]), replay_cmp);
    rc = 0;
out:
    fclose(f);
    if (rc != 0)
        replay_free(r);
    return rc;
}

void replay_shard(struct replay *r, size_t instance, size_t instances)
{
    size_t kept = 0;

    if (instances == 0)
        return;
    for (size_t i = 0; i < r->len; i++) {
        if (r->rows[i].asset % instances != instance)
            continue;
        r->rows[kept] = r->rows[i];
        r->rows[kept].asset = (uint32_t)(r->rows[kept].asset / instances);
        kept++;
    }
    r->len = kept;
}

/* ------------------------------------------------------------ playback */

void replay_start(struct replay *r, int64_t now_ms)
{
    r->next = 0;
    r->start_ms = now_ms;
}

/* Monotonic time at which row i is due in the current pass. */
static int64_t replay_due_ms(const struct replay *r, size_t i)
{
    return r->start_ms + (int64_t)((r->rows[i].ts - r->rows[0].ts) * 1000.0 / r->speed);
}

const struct replay_row *replay_next_due(struct replay *r, int64_t now_ms)
{
    if (r->len == 0)
        return NULL;
    if (r->next >= r->len) {
        if (!r->loop)
            return NULL;
        /* The next pass starts one mean row spacing after the last row. */
        int64_t last = replay_due_ms(r, r->len - 1);
        int64_t gap = r->len > 1 ? (last - r->start_ms) / (int64_t)(r->len - 1) : 1000;
        replay_start(r, last + (gap > 0 ? gap : 1));
    }
    if (replay_due_ms(r, r->next) > now_ms)
        return NULL;
    return &r->rows[r->next++];
}

long replay_wait_ms(const struct replay *r, int64_t now_ms)
{
    int64_t due;

    if (r->len == 0 || (r->next >= r->len && !r->loop))
        return -1;
    if (r->next >= r->len)
        return 0;
    due = replay_due_ms(r, r->next);
    return due > now_ms ? (long)(due - now_ms) : 0;
}

int replay_finished(const struct replay *r)
{
    return r->len == 0 || (r->next >= r->len && !r->loop);
}

void replay_free(struct replay *r)
{
    free(r->rows);
    r->rows = NULL;
    r->len = 0;
    r->next = 0;
}
