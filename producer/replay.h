/* replay: plays back a CSV file of `timestamp,ticker,price` lines at the
 * recorded pace times REPLAY_SPEED, optionally looping. Timestamps are Unix
 * seconds (or milliseconds when > 1e11) or ISO 8601 UTC
 * (2024-05-01T14:30:00[.123][Z]). A header line, blank lines and lines
 * starting with '#' are skipped; malformed lines are counted and skipped. */
#ifndef PRODUCER_REPLAY_H
#define PRODUCER_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "assets.h"

#define REPLAY_LINE_MAX 256     /* longer lines are malformed */
#define REPLAY_ROWS_MAX 5000000 /* rows kept from one file */
#define REPLAY_ERR_MAX 160

enum replay_line_status {
    REPLAY_LINE_OK = 0,
    REPLAY_LINE_SKIP = 1, /* header, blank or comment */
    REPLAY_LINE_BAD = -1,
};

struct replay_row {
    double ts;      /* recorded time, Unix seconds */
    double price;   /* finite, > 0 */
    uint32_t asset; /* index into the asset list */
    uint32_t seq;   /* position in the file, keeps equal times in file order */
};

struct replay {
    struct replay_row *rows; /* owned, sorted by ts (stable) */
    size_t len;
    size_t next;      /* next row to play */
    double speed;     /* > 0: 2 plays twice as fast as recorded */
    int loop;         /* start over after the last row */
    int64_t start_ms; /* monotonic time the current pass started */
    unsigned long bad_lines;
    unsigned long skipped_rows; /* rows whose symbol is not in the list */
};

/* Parses one line (len bytes, no NUL needed, trailing CR/LF allowed) into ts,
 * ticker (upper-cased, valid per msg_ticker_valid) and price (finite, > 0).
 * Returns REPLAY_LINE_OK, REPLAY_LINE_SKIP, or REPLAY_LINE_BAD with err. */
enum replay_line_status replay_parse_line(const char *line, size_t len, double *ts, char *ticker,
                                          size_t tickerlen, double *price, char *err,
                                          size_t errlen);

/* Reads path into r. A row whose symbol is not in assets is added to assets
 * when add_unknown (up to ASSETS_TICKERS_MAX symbols), else skipped and
 * counted. Malformed lines are logged (the first few) and counted. Returns
 * 0, or -1 with err (unreadable file, no usable row, out of memory). Free
 * with replay_free. */
int replay_load(struct replay *r, const char *path, struct asset_list *assets, int add_unknown,
                double speed, int loop, char *err, size_t errlen);

/* Keeps the rows of the assets that assets_shard(list, instance, instances)
 * keeps and renumbers them to match; call it together with assets_shard. */
void replay_shard(struct replay *r, size_t instance, size_t instances);

/* Starts playing at monotonic time now_ms. */
void replay_start(struct replay *r, int64_t now_ms);

/* The next row due at now_ms, or NULL when none is due yet (or the file is
 * done and not looping: see replay_finished). */
const struct replay_row *replay_next_due(struct replay *r, int64_t now_ms);

/* Milliseconds until the next row is due (0 if one is due), or -1 if done. */
long replay_wait_ms(const struct replay *r, int64_t now_ms);

/* True when every row was played and looping is off. */
int replay_finished(const struct replay *r);

void replay_free(struct replay *r);

#endif
