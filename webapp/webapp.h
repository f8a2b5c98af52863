/* webapp: the HTTP API, the Server-Sent Event streams and the dashboard.
 * One header for the daemon's modules (kcat's habit): the configuration
 * struct, then one prototype block per module. */
#ifndef SA_WEBAPP_H
#define SA_WEBAPP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "alert_store.h"
#include "buf.h"
#include "config.h"
#include "evid.h"
#include "message.h"

#include <microhttpd.h>

/* ---- configuration (main.c) ---------------------------------------------- */

#define WEBAPP_SECRET_MIN 32

struct webapp_config {
    struct common_config common;
    long port;
    char unix_socket[108]; /* WEBAPP_UNIX_SOCKET: "" = none */
    long max_connections;
    long threads;
    long stream_threads;
    long conn_memory;
    long conn_timeout_s;
    char cookie_secret[512]; /* never logged */
    size_t cookie_secret_len;
    char cookie_secret_file[1024]; /* read when COOKIE_SECRET is empty */
    int cookie_secure;
    long max_alerts_per_user;
    long alert_ttl_days;         /* an alert's expiry when set-alert names none */
    long email_confirm_per_hour; /* confirmation mails one user may ask for */
    char topic_prices[256];
    char topic_alerts[256];
    char topic_assets[256];
    long heartbeat_ms;
    long queue_max;
    long queue_max_bytes;
    long retry_ms;
    long streams_per_user;
    long shutdown_grace_ms;
    long start_wait_ms;    /* for the asset universe before listening */
    char static_dir[1024]; /* "" = the assets built into the binary */
    char instance[64];     /* X-Served-By value: WEBAPP_INSTANCE, or the port */
};

/* ---- secret.c: the cookie secret's rules ---------------------------------- */

/* Why the secret s (len bytes) is refused, or NULL when it is accepted:
 * shorter than WEBAPP_SECRET_MIN, a known placeholder, fewer than 8 different
 * characters, a repeated pattern or a plain sequence. The reason is a static
 * string that never quotes s. */
const char *secret_weakness(const char *s, size_t len);

/* Reads the secret in the file path into out (outlen bytes, NUL-terminated),
 * without its trailing line break, and its length into len. Returns 0, or -1
 * with err set (no such file, more than outlen - 1 bytes, a NUL byte inside)
 * and out wiped. */
int secret_read_file(const char *path, char *out, size_t outlen, size_t *len, char *err,
                     size_t errlen);

/* ---- cookie.c: the signed user_id cookie ---------------------------------- */

#define COOKIE_USER_LEN 32                          /* hex digits of 128 random bits */
#define COOKIE_VALUE_LEN (COOKIE_USER_LEN + 1 + 64) /* user "." hex HMAC-SHA256 */

/* Makes a fresh user id (128 random bits, lowercase hex) and its cookie value
 * "<user>.<hmac>". Returns 0, or -1 when no random bytes could be had. */
int cookie_issue(const char *secret, size_t secret_len, char user_id[COOKIE_USER_LEN + 1],
                 char value[COOKIE_VALUE_LEN + 1]);

/* Checks a cookie value of len bytes (not necessarily NUL-terminated) in
 * constant time. Returns 0 and copies the user id when the signature is
 * right, -1 for anything else (forged, tampered, truncated, wrong case). */
int cookie_verify(const char *secret, size_t secret_len, const char *value, size_t len,
                  char user_id[COOKIE_USER_LEN + 1]);

/* ---- request.c: what requests say (pure, no I/O) ------------------------ */

/* set-alert thresholds: anything stored must be deliverable (the alert's
 * message, a JSON reader reading the number back), and every real asset
 * fits: from a millionth (small tokens) to a billion. */
#define REQUEST_THRESHOLD_MIN 0.000001
#define REQUEST_THRESHOLD_MAX 1000000000.0

/* set-alert's expires_at: at most this far ahead (10 years of 365 days,
 * the same as ALERT_DEFAULT_TTL_DAYS' top). */
#define REQUEST_EXPIRES_AHEAD_MAX_S (3650LL * 86400)

/* A percent alert's percent: above 0, at most this (percent_down: below
 * 100, a price never falls to 0). */
#define REQUEST_PERCENT_MAX 1000.0

/* request_condition's answers beyond 0: the request cannot be stored as it
 * is (400), or not now (409: no price known yet for the ticker, or the
 * price is at a crosses alert's threshold). */
#define REQUEST_INVALID 400
#define REQUEST_CONFLICT 409

struct set_alert_req {
    char ticker[MSG_TICKER_MAX];
    double threshold; /* 0 for a percent type (it names none) */
    enum alert_type type;
    double percent;          /* percent_up / percent_down's; 0 for the others */
    int window_s;            /* a percent type's rolling window, seconds; 0: none */
    long long expires_at;    /* Unix seconds; 0 when the request names none */
    char note[MSG_NOTE_MAX]; /* "" when none (absent or empty) */
    unsigned channels;       /* channels.h; ALERT_CH_DEFAULT when absent */
    long cooldown_s;         /* "repeat":"every"'s; 0: "once" (the default) */
};

/* Parses a set-alert body {"ticker","threshold","type"} (type above,
 * below or crosses) or {"ticker","percent","type"} (type percent_up or
 * percent_down, 0 < percent <= REQUEST_PERCENT_MAX, below 100 for
 * percent_down) with the optional "note" (a string of at most
 * MSG_NOTE_CHARS code points, no control character; body not valid UTF-8:
 * refused), "expires_at" (an integer) and "channels"
 * (alert_channels_from_json), for a percent type "window_s" (an integer
 * from ALERT_STORE_WINDOW_MIN_S to ALERT_STORE_WINDOW_MAX_S: the reference
 * is then the lowest / highest price of that many last seconds), and
 * "repeat" ("once", the default, or "every" with "cooldown_s", an integer
 * from MSG_COOLDOWN_MIN to MSG_COOLDOWN_MAX; any type but a window). A
 * field that does not go with the type (a threshold with a percent type, a
 * percent or a window_s with another), "cooldown_s" without repeat "every"
 * and "window_s" with repeat "every" are refused. Returns 0, or -1 with a message for the
 * client in err, naming the field. Whether the ticker is known, and
 * expires_at against the clock (request_expiry), are the caller's
 * questions. */
int request_parse_set_alert(const char *body, size_t len, struct set_alert_req *out, char *err,
                            size_t errlen);

/* The condition of the alert req asks for, against its ticker's latest
 * price (0: none known yet), into rec's type, threshold, direction,
 * percent, reference_price and window_s: a crosses alert crosses up when the price
 * is below its threshold, down when above; a percent alert's reference is
 * the price and its threshold the level p % above / below it (within
 * REQUEST_THRESHOLD_MIN..MAX). Returns 0; REQUEST_CONFLICT when it needs a
 * price and none is known, or the price is at a crosses threshold;
 * REQUEST_INVALID when the level is out of range; each with a message for
 * the client in err. */
int request_condition(const struct set_alert_req *req, double price, struct alert_record *rec,
                      char *err, size_t errlen);

/* The expiry of the alert req asks for: its expires_at, which must be
 * after now and at most REQUEST_EXPIRES_AHEAD_MAX_S ahead, or now +
 * default_ttl_s when it names none. Returns 0 with *out set, or -1 with a
 * message for the client in err. */
int request_expiry(const struct set_alert_req *req, double now, long long default_ttl_s,
                   long long *out, char *err, size_t errlen);

/* An origin as compared for same-origin: scheme, host, port. */
struct request_origin {
    int https;      /* 0: http */
    char host[256]; /* lower case; an IPv6 literal keeps its brackets */
    unsigned port;  /* the explicit port, else 80 or 443 */
};

/* Parse strictly, never by prefix: scheme http or https; host of letters,
 * digits, '.', '-', '_' or a bracketed IPv6 literal; port 1..65535. No
 * userinfo, no percent-encoding. Each returns 0 and fills out, or -1 (any
 * argument may be NULL: -1).
 *   request_parse_origin: an Origin value, "scheme://host[:port]" exactly
 *     ("null" is -1);
 *   request_parse_url_origin: the origin of a URL (a Referer): the same,
 *     followed by the end, '/', '?' or '#';
 *   request_parse_host: a Host value "host[:port]", https picking the
 *     default port. */
int request_parse_origin(const char *s, struct request_origin *out);
int request_parse_url_origin(const char *s, struct request_origin *out);
int request_parse_host(const char *s, int https, struct request_origin *out);

/* What a state-changing request says about where it comes from: header
 * values, NULL when absent. */
struct request_site {
    const char *sec_fetch_site;
    const char *origin;
    const char *referer;
    const char *host;      /* Host */
    const char *fwd_host;  /* X-Forwarded-Host: nginx's copy of the Host the browser used */
    const char *fwd_proto; /* X-Forwarded-Proto: nginx's scheme */
};

/* True unless every one of Sec-Fetch-Site, Origin and Referer that is
 * present says same-origin: Sec-Fetch-Site "same-origin" or "none"; Origin
 * and Referer parsed and equal in scheme, host and port to our own origin
 * (X-Forwarded-Host, else Host; X-Forwarded-Proto, else http). A request
 * with none of the three (curl, scripts) is not cross-site. */
int request_is_cross_site(const struct request_site *s);

/* True when a Content-Type value is application/json, case-insensitive,
 * optionally with well-formed parameters ("; charset=utf-8"). NULL: false. */
int request_is_json_type(const char *content_type);

/* ---- event.c: refcounted SSE payloads, shared by every client ------------ */

struct sse_event {
    _Atomic int refs;
    uint32_t messages; /* SSE messages in data, for the metrics */
    long long batch;   /* prices: the batch number (0 for the rest) */
    struct evid pos;   /* alerts: the position in the user's history */
    struct evid prev;  /* alerts: the position of the entry before it */
    uint8_t has_pos;   /* an alert with a position (else delivered as it is) */
    uint8_t has_prev;
    size_t len;
    char data[];
};

/* A new event holding a copy of data[0..len), one reference, no position.
 * NULL on out of memory. */
struct sse_event *sse_event_new(const char *data, size_t len, uint32_t messages, long long batch);
/* The same with len bytes of data left for the caller to write. */
struct sse_event *sse_event_alloc(size_t len, uint32_t messages, long long batch);
struct sse_event *sse_event_ref(struct sse_event *ev);
/* Drops a reference; frees at zero. NULL is fine. */
void sse_event_unref(struct sse_event *ev);

/* Appends "data: <json>\n\n" to b; json must not contain CR or LF (returns
 * -1 then, or when b is full). */
int sse_append_data(struct buf *b, const char *json, size_t len);

/* ---- prices.c: the asset universe and the latest price of each ------------- */

/* Puts a's asset in the universe until a->published_at + a->valid_ms (a
 * newer record of it replaces the old; a record already expired for an
 * asset not in the table is skipped). Returns 0, or -1 when the table
 * (1024 assets) is full. */
int prices_announce(const struct asset_msg *a);
/* Takes ticker out of the universe (a tombstone on the asset topic). */
void prices_withdraw(const char *ticker);
void prices_free(void);

/* A batch of ticks is recorded between prices_batch_begin and
 * prices_batch_end, which returns the batch's number (1, 2, ...): a snapshot
 * holds whole batches only, so a new stream drops the live batches its
 * snapshot already holds and gets no tick twice. */
void prices_batch_begin(void);
long long prices_batch_end(void);

/* Records a tick (m decoded from raw), inside a batch. Returns 0; 1 when
 * its ticker is not in the universe (the tick is not kept, nor streamed);
 * -1 on out of memory. */
int prices_update(const struct price_msg *m, const char *raw, size_t len);

/* True when ticker is in the universe now: set-alert accepts no other. */
int prices_known(const char *ticker);

/* The latest price of ticker when it is in the universe and has had a
 * tick, else 0. */
double prices_latest(const char *ticker);

/* An event with "retry: <retry_ms>" and every latest price, one reference
 * for the caller, or NULL on out of memory; *batch is the number of the
 * last batch it holds. */
struct sse_event *prices_snapshot(long retry_ms, long long *batch);

/* Appends {"tickers":[...]} to out: every asset of the universe, with its
 * latest tick when it had one. Returns 0 or -1 (out full). */
int prices_write_json(struct buf *out);

/* Assets of the universe with a price, and how many of them come from the
 * simulation. */
void prices_counts(long *with_price, long *simulated);

/* ---- hub.c: the SSE clients and the fan-out to them ----------------------- */

enum sse_kind { SSE_PRICES = 0, SSE_ALERTS = 1 };

struct hub_opts {
    long queue_max;        /* events queued per client before it is dropped */
    long queue_max_bytes;  /* or bytes queued (events are batches of ticks) */
    long streams_per_user; /* alert streams per user id */
    long heartbeat_ms;     /* announced in each heartbeat event */
};

struct sse_client;

int hub_init(const struct hub_opts *o);
/* Frees what is left; call after the HTTP server stopped. */
void hub_free(void);

/* A client for conn (user_id may be NULL for prices), registered so that it
 * receives events from now on. Returns NULL when stopping, over the
 * per-user cap (*over_cap set) or out of memory. */
struct sse_client *hub_client_open(struct MHD_Connection *conn, enum sse_kind kind,
                                   const char *user_id, int *over_cap);

/* Price streams: puts first (the snapshot; the client takes its own
 * reference) at the head of the client's queue, preceded by a heartbeat, and
 * drops queued price batches numbered <= min_batch, which it already holds. */
void hub_client_start(struct sse_client *c, struct sse_event *first, long long min_batch);

/* Alert streams: starts delivery after the replay first (the history up to
 * cursor, the history's newest position when it was read; preceded by a
 * heartbeat). From then on the stream holds a cursor, the position of the
 * last alert it delivered, and takes an alert only when it comes right after
 * it (its prev_event_id is the cursor); an alert at or before the cursor was
 * delivered already; one further on means the stream missed one, a gap,
 * which the fan-out fills from the user's history (hub_gaps_take,
 * hub_gap_fill). Alerts queued while the replay was read go through the same
 * rule. So a stream delivers its user's history in order, each alert once,
 * whatever order the alerts reach this replica in. */
void hub_alert_start(struct sse_client *c, struct sse_event *first, const struct evid *cursor);

/* The streaming response for c. On success MHD owns c (freed with the
 * response); on NULL the caller must hub_client_close(c). */
struct MHD_Response *hub_client_response(struct sse_client *c);

/* Unregisters and frees a client that never got its response. */
void hub_client_close(struct sse_client *c);

/* Fan-out: ev to every price stream / to user_id's alert streams. */
void hub_publish_prices(struct sse_event *ev);
void hub_publish_alert(const char *user_id, struct sse_event *ev);

/* A user some of whose streams have a gap, and the lowest cursor among
 * them: the history after it fills them all. */
struct hub_gap {
    char user_id[MSG_ID_MAX];
    struct evid from;
};

/* True when some stream has a gap (cheap, no lock). */
int hub_gaps_pending(void);

/* Up to max users with gapped streams into out. Returns the count. */
int hub_gaps_take(struct hub_gap *out, int max);

/* Fills the gapped streams of user_id whose cursor is at or after from with
 * evs[0..n) (the user's history after from up to tail, oldest first, each
 * event with its position): each stream takes those after its cursor, then
 * its cursor is tail and its gap closed. */
void hub_gap_fill(const char *user_id, const struct evid *from, struct sse_event *const *evs, int n,
                  const struct evid *tail);
/* A heartbeat (a comment and an event named "heartbeat" whose data is
 * {"interval_ms":N}) to every idle stream. */
void hub_heartbeat(void);

/* Ends every stream (after what is queued) and refuses new ones. */
void hub_stop(void);

/* The heartbeat's bytes (valid from hub_init to hub_free). */
const char *hub_heartbeat_data(void);
size_t hub_heartbeat_len(void);

struct hub_counts {
    long price_streams;
    long alert_streams;
    uint64_t events_sent;
    uint64_t clients_dropped;
    uint64_t alerts_repeated; /* alerts a stream had delivered already: not sent again */
    uint64_t gaps_filled;     /* streams that missed an alert, filled from the history */
    uint64_t clients_gone;    /* streams ended as soon as their client closed */
};
void hub_counts_get(struct hub_counts *out);

/* ---- hangup.c: streams whose client went away ----------------------------- */

/* Starts the watcher thread; gone(serial) is called on that thread for each
 * stream whose peer closed or failed. Returns 0 or -1. */
int hangup_start(void (*gone)(uint64_t serial));
/* Watches fd (a stream's socket) once, reporting serial. Failures only mean
 * the stream is noticed at its next write, as before. */
void hangup_watch(int fd, uint64_t serial);
/* Stops and joins the thread. */
void hangup_stop(void);

/* ---- head.c: which connections the front serves itself (pure) ------------ */

/* The request header limits, answered with a 431 (http.c); the front hands
 * anything over them to libmicrohttpd, which answers that. */
#define WEBAPP_COOKIE_MAX 8192
#define WEBAPP_HEADERS_MAX 16384

enum head_verdict {
    HEAD_MORE = 0,          /* could be a price stream request: wait for more bytes */
    HEAD_STREAM_PRICES = 1, /* a complete, plain GET /api/stream-prices HTTP/1.1 */
    HEAD_OTHER = 2          /* anything else: libmicrohttpd's */
};

/* Classifies the first len bytes a connection sent (not NUL-terminated).
 * HEAD_STREAM_PRICES sets *head_len to the bytes of the request head
 * (through its empty line); only a head libmicrohttpd would answer with a
 * price stream qualifies: one Host, no body or framing headers, Connection
 * absent or keep-alive, no Expect or Upgrade, no folded or malformed line,
 * Cookie and header bytes within the limits. Never fails. */
enum head_verdict head_classify(const char *buf, size_t len, size_t *head_len);

/* ---- stream.c: the price streams on raw sockets ----------------------------- */

struct stream_opts {
    long threads;         /* loops, each a thread with its own streams */
    long queue_max;       /* as hub_opts */
    long queue_max_bytes; /* as hub_opts */
    long retry_ms;        /* SSE retry: in the snapshot */
    const char *instance; /* X-Served-By (must outlive the streams) */
};

/* Starts the loops. Returns 0 or -1 (out of memory, no threads). */
int stream_start(const struct stream_opts *o);
/* Takes fd, a connection whose request head (a price stream's, see
 * head_classify) has been consumed: answers it and streams to it. Returns 0
 * (the streams own fd), or -1 (stopping, or too many waiting: the caller
 * closes fd). */
int stream_adopt(int fd);
/* A batch of ticks (an event of hub_publish_prices) to every raw stream;
 * framed once as an HTTP chunk for all of them. The caller keeps its ref. */
void stream_publish(struct sse_event *ev);
/* A heartbeat to every idle raw stream. */
void stream_heartbeat(void);
/* Ends every raw stream after what is queued (the last chunk, then close). */
void stream_stop(void);
/* Open raw streams. */
long stream_count(void);
/* An event holding data framed as one HTTP chunk; NULL on out of memory. */
struct sse_event *stream_frame(const char *data, size_t len, uint32_t messages, long long batch);

struct stream_counts {
    long open;
    uint64_t sent;    /* SSE messages written */
    uint64_t dropped; /* streams over their queue limits */
    uint64_t gone;    /* streams whose client went away */
};
void stream_counts_get(struct stream_counts *out);
/* Stops the loops and closes every stream; after stream_stop (or not). */
void stream_free(void);

/* ---- front.c: the listening socket ---------------------------------------- */

/* Listens on cfg's address and port; price stream requests go to stream.c,
 * every other connection to d (MHD_add_connection). Returns 0, or -1 with
 * err. cfg and d must outlive front_stop. */
int front_start(const struct webapp_config *cfg, struct MHD_Daemon *d, char *err, size_t errlen);
/* Closes the listening socket; connections waiting for their head close. */
void front_quiesce(void);
/* Stops the thread; before d is stopped. */
void front_stop(void);

/* ---- burst.c: when a burst of ticks is whole ------------------------------ */

#define BURST_TICKERS_MAX 256 /* tickers of one burst that are told apart */
#define BURST_SHAPES 4        /* distinct burst shapes remembered */
#define BURST_JOIN_MS 100     /* pieces closer than this are one burst */
#define BURST_FORGET_MS 10000 /* a shape not seen for this long is dropped */

struct burst_shape {
    int n;
    int64_t seen_ms;
    uint64_t keys[BURST_TICKERS_MAX]; /* sorted ticker hashes */
};

struct burst {
    int n; /* the open burst's tickers so far */
    uint64_t keys[BURST_TICKERS_MAX];
    int matched[BURST_SHAPES]; /* of each shape's tickers, how many came */
    struct burst_shape shapes[BURST_SHAPES];
    int open_slot;   /* the latest burst's shape (-1: none yet) */
    int64_t open_ms; /* when it ended: a piece within BURST_JOIN_MS joins it */
};

void burst_init(struct burst *b);
/* A new burst begins (its first tick is burst_add'ed next). */
void burst_begin(struct burst *b);
/* One tick of the open burst, by its ticker (the Kafka key). Returns 1 when
 * the burst now holds every ticker of a shape seen before: it is whole. */
int burst_add(struct burst *b, const void *key, size_t len);
/* True when a shape is known: a burst that is not whole is still coming. */
int burst_known(const struct burst *b);
/* The burst was sent: its shape is learned (now_ms: a monotonic clock). */
void burst_end(struct burst *b, int64_t now_ms);

/* ---- fanout.c: the two Kafka readers feeding the hub ---------------------- */

struct fanout_opts {
    const char *bootstrap;
    const char *topic_prices;
    const char *topic_alerts;
    const char *topic_assets; /* read whole, from the start (the universe) */
    /* the alert thread reads histories to fill gaps (redis_conn_open) */
    const struct common_config *redis;
};

/* Starts the reader threads (they connect in the background and retry).
 * Returns 0 or -1 with err. The opts strings must outlive the threads. */
int fanout_start(const struct fanout_opts *o, char *err, size_t errlen);
/* Stops and joins the threads (the readers stay open for /health). */
void fanout_stop(void);
/* Closes the readers; after fanout_stop and once no request runs. */
void fanout_free(void);

/* True once the asset topic was read to the end it had when its reader
 * started: before, set-alert cannot tell an unknown ticker from one not
 * read yet. */
int fanout_universe_loaded(void);
/* True once the price and alert readers exist and the universe is read. */
int fanout_ready(void);

/* Kafka reachability for /health, checked at most once a second. Returns 0
 * when a broker answered; fills why otherwise. */
int fanout_kafka_ok(char *why, size_t whylen);

struct fanout_counts {
    uint64_t prices;
    uint64_t batches; /* price events: one write per stream each */
    uint64_t alerts;
    uint64_t bad_messages;
};
void fanout_counts_get(struct fanout_counts *out);

/* ---- assets.c: the dashboard files and openapi.json ----------------------- */

#define ASSETS_TAG_LEN 16 /* hex digits of a file's content hash */

struct asset {
    const char *name; /* URL path, e.g. "/static/app.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
    char tag[ASSETS_TAG_LEN + 1]; /* content hash: the ETag and the ?v= of its URL */
};

/* Loads the assets from dir, or uses the built-in copies when dir is "".
 * The page refers to its script and style sheet by content-hashed URLs
 * ("/static/app.js?v=<tag>"), rewritten here, so they can be cached for a
 * year while a new build is still fetched at once. Returns 0 or -1 with err. */
int assets_init(const char *dir, char *err, size_t errlen);
void assets_free(void);
/* The asset for path, or NULL. */
const struct asset *assets_find(const char *path);

/* Answers a GET or HEAD of a (not the page: api_dashboard) with its ETag:
 * 304 when If-None-Match names it; a year's immutable caching when the URL's
 * v argument is its tag, else no-cache (revalidate). */
enum MHD_Result assets_reply(struct MHD_Connection *conn, const struct asset *a);

/* a's response: its bytes (none when fresh: a 304's), ETag, Cache-Control,
 * nosniff and, with the bytes, its Content-Type. NULL when out of memory. */
struct MHD_Response *assets_response(const struct asset *a, int fresh, const char *cache_control);

/* True when the request's If-None-Match names a's ETag. */
int assets_not_modified(struct MHD_Connection *conn, const struct asset *a);

/* ---- reply.c: how every answer leaves ------------------------------------ */

/* The X-Served-By value every response carries, and where statuses are
 * counted (both must outlive the server). Call before the server starts. */
struct webapp_stats;
void reply_init(const char *instance, struct webapp_stats *stats);

/* From now on every response says Connection: close. Never undone. */
void reply_set_stopping(void);
/* True once reply_set_stopping was called (the server is stopping). */
int reply_is_stopping(void);

/* Replies with a JSON body (copied) / {"error": msg} / any body (copied, or
 * not when copy is 0: data must then outlive the response) and counts the
 * status. Return what MHD_queue_response returned (MHD_NO also when no
 * response could be made). */
enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned int status, const char *json,
                           size_t len);
enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned int status, const char *msg);
enum MHD_Result reply_body(struct MHD_Connection *conn, unsigned int status, const char *type,
                           const void *data, size_t len, int copy);
/* Queues a response made elsewhere (a stream), counts it, destroys our ref. */
enum MHD_Result reply_response(struct MHD_Connection *conn, unsigned int status,
                               struct MHD_Response *r);

/* ---- thread_redis.c: each worker thread's Redis connection ---------------- */

/* Where to connect (cfg must outlive the server). Call before it starts. */
void thread_redis_init(const struct common_config *cfg);

/* This thread's Redis connection, made on first use; it stays this thread's
 * until thread_redis_free_all. NULL only on out of memory. */
struct redis_conn *thread_redis_get(void);

/* Frees every thread's connection; once no request runs (after http_stop's
 * server stop). */
void thread_redis_free_all(void);

/* ---- create.c: set-alert's store work, batched ------------------------------ */

struct create_job;

/* The store thread, with its own Redis connection. 0, or -1. */
int create_start(const struct common_config *cfg);

/* Finishes every queued create (their requests resumed), then ends the
 * thread; before the HTTP server stops. */
void create_stop(void);

/* Suspends conn and queues rec's create (as alert_store_create_once would
 * do it) for the store thread, which resumes conn when it is done: the
 * handler, called again, answers from create_result. NULL when it cannot be
 * queued (not running, stopping, queue full, out of memory): the caller
 * creates inline. */
struct create_job *create_submit(struct MHD_Connection *conn, const struct alert_record *rec,
                                 int max_per_user, const char *idem_key, int idem_ttl_s);
const struct alert_store_create *create_result(const struct create_job *j);
void create_job_free(struct create_job *j);

/* ---- api.c: the route handlers --------------------------------------------- */

/* One request, as the route handlers see it (filled by http.c). */
struct api_call {
    struct MHD_Connection *conn;
    const struct webapp_config *cfg;
    struct webapp_stats *stats;
    const char *url;
    const char *body; /* NULL when none */
    size_t body_len;
    int has_user; /* a valid user_id cookie came with the request */
    char user_id[COOKIE_USER_LEN + 1];
    struct create_job **job; /* set-alert's queued create (create.c); the request owns it */
};

/* Each answers c (through reply.c) and returns what MHD should get. */
enum MHD_Result api_dashboard(struct api_call *c, const struct asset *a);
enum MHD_Result api_set_alert(struct api_call *c);
enum MHD_Result api_get_alerts(struct api_call *c);
enum MHD_Result api_delete_alert(struct api_call *c, const char *alert_id);
enum MHD_Result api_alert_history(struct api_call *c);
enum MHD_Result api_tickers(struct api_call *c);
enum MHD_Result api_health(struct api_call *c, int stopping);
enum MHD_Result api_metrics(struct api_call *c);
enum MHD_Result api_stream_prices(struct api_call *c);
enum MHD_Result api_stream_alerts(struct api_call *c);

/* ---- settings.c: the e-mail address and its confirmation link ------------- */

/* GET /api/settings: {"email": <address>|null, "email_confirmed": bool}. */
enum MHD_Result api_get_settings(struct api_call *c);
/* PUT /api/settings {"email": <address>|null}: stores it unconfirmed and
 * queues one confirmation mail (429 past WEBAPP_EMAIL_CONFIRM_PER_HOUR). */
enum MHD_Result api_put_settings(struct api_call *c);
/* GET /api/confirm-email?token=...: a small HTML page (200, 400, 410). */
enum MHD_Result api_confirm_email(struct api_call *c);

/* ---- http.c: the libmicrohttpd server and the routes ---------------------- */

/* Starts the server on cfg->common.listen_host:cfg->port, counting into
 * stats (cfg and stats must outlive it). Returns 0, or -1 with err (address
 * in use, limits too high). */
int http_start(const struct webapp_config *cfg, struct webapp_stats *stats, char *err,
               size_t errlen);
/* Stops accepting; requests in flight go on. */
void http_quiesce(void);
/* Requests currently being handled (streams included). */
long http_inflight(void);
/* Stops the server (closes what is left) and frees the per-thread Redis
 * connections. */
void http_stop(void);

/* ---- stats.c: the webapp's counters for /metrics --------------------------- */

/* Written by the HTTP worker threads, read by the one rendering /metrics:
 * atomics, no lock. main() owns the one struct; http.c hands it to reply.c
 * (every status) and to the handlers (c->stats). The hub's, the fan-out's
 * and the price table's own counts are read when rendering. */
#define STATS_CODES 15 /* status codes counted one by one (stats.c) */

struct webapp_stats {
    atomic_uint_fast64_t by_code[STATS_CODES + 1]; /* responses by status; last: any other */
    atomic_uint_fast64_t alerts_created;           /* stored by set-alert */
    atomic_uint_fast64_t alerts_deleted;           /* removed by delete-alert */
};

/* Zeroes s. */
void stats_init(struct webapp_stats *s);

/* Appends every metric of s, and the hub's, fan-out's, price table's and
 * Kafka client's counts, as Prometheus text, to out. */
void stats_render(struct webapp_stats *s, struct buf *out);

/* Counts one response with this status. */
void stats_count_status(struct webapp_stats *s, unsigned int status);

#endif
