/* redis_move: copies the stock-alerts data of a single Redis into a Redis
 * Cluster (tools/redis-move.c is its command line; docs/key-schema.md,
 * "Moving to the cluster", the procedure). Every key of the schema is
 * copied with DUMP + PTTL on the source and RESTORE ... REPLACE on the
 * cluster node owning its slot; any other key is left alone and counted.
 * The source is walked with SCAN; after each page the cursor and the counts
 * are recorded in a hash of the target (REDIS_MOVE_PROGRESS_KEY), so a run
 * that was interrupted continues where it stopped. Copying a key twice is
 * harmless (the same value replaced). Keys changed on the source after they
 * were copied are not tracked: the writers must be stopped first.
 *
 * redis_move_args.c: the arguments and the key names (no I/O);
 * redis_move.c: the run. */
#ifndef SA_REDIS_MOVE_H
#define SA_REDIS_MOVE_H

#include <stddef.h>

#define REDIS_MOVE_PROGRESS_KEY "alert_store:move:{progress}"
#define REDIS_MOVE_ERR_MAX 512
#define REDIS_MOVE_ADDR_MAX 256           /* --from, NUL included */
#define REDIS_MOVE_NODES_MAX 4096         /* --to, NUL included */
#define REDIS_MOVE_KEY_MAX 512            /* a schema key is shorter; longer ones are foreign */
#define REDIS_MOVE_COUNT_MAX 10000        /* --count: keys SCAN is asked for per page */
#define REDIS_MOVE_PAYLOAD_MIN 1024L      /* --max-key-bytes bounds */
#define REDIS_MOVE_PAYLOAD_MAX 536870912L /* Redis' own proto-max-bulk-len default */

/* Exit codes of the tool (and results of redis_move_run). */
#define REDIS_MOVE_OK 0       /* every key copied, the counts agree */
#define REDIS_MOVE_FAILED 1   /* refused or failed: nothing more was copied */
#define REDIS_MOVE_USAGE 2    /* bad arguments */
#define REDIS_MOVE_STOPPED 3  /* stopped early (--max-pages, a signal): a rerun resumes */
#define REDIS_MOVE_MISMATCH 4 /* copied, but the source and target counts differ */

struct redis_move_opts {
    char from_host[REDIS_MOVE_ADDR_MAX];
    int from_port;
    char to[REDIS_MOVE_NODES_MAX]; /* host:port,... as redis_conn_new_cluster takes it */
    int restart;                   /* --restart: ignore recorded progress */
    long count;                    /* --count: SCAN COUNT per page */
    long max_pages;                /* --max-pages: stop after this many pages (0: no limit) */
    long max_key_bytes;            /* --max-key-bytes: the largest DUMP payload accepted */
    long timeout_ms;               /* --timeout-ms: each Redis call */
};

/* What a key of the source is. */
enum redis_move_kind {
    REDIS_MOVE_FOREIGN = 0,    /* not of the schema: left alone */
    REDIS_MOVE_USER_ALERTS,    /* user_alerts:{U} */
    REDIS_MOVE_IDEM,           /* alert_idem:{U}:<key> */
    REDIS_MOVE_EVENTS,         /* alert_events:{U} */
    REDIS_MOVE_TICKER_ALERTS,  /* ticker_alerts:{T} */
    REDIS_MOVE_INDEX,          /* alert_idx:{T}:[rearm_]above|below, alert_cool:{T} */
    REDIS_MOVE_OUTBOX,         /* alerts_outbox:{T} */
    REDIS_MOVE_OUTBOX_LEGACY,  /* alerts_outbox (schema 2's, drained by the sweeper) */
    REDIS_MOVE_SCHEMA,         /* alert_store:schema */
    REDIS_MOVE_NOTIFIED,       /* notified:<alert id> (the notifier's dedup record) */
    REDIS_MOVE_NOTIFIER_ALIVE, /* notifier:alive:<token> (a notifier's heartbeat) */
    REDIS_MOVE_UNPENDED,       /* alert_unpended:{U} (creates undone, for their retries) */
    REDIS_MOVE_EMAIL,          /* user_email:{U}, email_rate:{U}, email_sent:{U} (email_store.h) */
    REDIS_MOVE_EMAIL_REQUESTS, /* email_requests:{email-<k>}, email_requests:{email}: the
                                  confirmation mails to send (email_store.h) */
    REDIS_MOVE_WINDOW          /* alert_windows:{T}, alert_idx:{T}:w<w>:up|down,
                                  alert_win:{T}:<w>:min|max (rolling windows) */
};

/* Parses the command line (argv[0] is the program) into o, defaults first.
 * Returns 0, 1 when --help was asked (nothing else parsed), or -1 with err
 * naming the bad argument. */
int redis_move_parse_args(int argc, char **argv, struct redis_move_opts *o, char *err,
                          size_t errlen);

/* The usage text (--help). */
const char *redis_move_usage(void);

/* What key (len bytes, binary-safe) is: a name of the schema (the user id,
 * ticker and idempotency key checked as the store checks them) or foreign. */
enum redis_move_kind redis_move_key_kind(const char *key, size_t len);

/* Runs the move as o says, logging one line per event and a summary line.
 * Returns one of the exit codes above. */
int redis_move_run(const struct redis_move_opts *o);

#endif
