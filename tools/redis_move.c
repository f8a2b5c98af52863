/* redis_move: the run of redis-move (redis_move.h): the checks of source
 * and target, the copy page by page with its progress in the target, and
 * the counts of alerts and history entries on both sides, the target's
 * walked on every master of its slot map. */
#include "redis_move.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_store_migrate.h"
#include "log.h"
#include "redis.h"
#include "signals.h"
#include "timeutil.h"

#define MOVE_MASTERS_MAX 64
#define MOVE_COUNT_PAGE "1000"

/* What the count check compares: sums over the schema's keys. */
struct move_counts {
    long long keys;          /* DBSIZE (source only) */
    long long user_alerts;   /* sum of HLEN user_alerts:{U} */
    long long ticker_alerts; /* sum of HLEN ticker_alerts:{T} */
    long long history;       /* sum of XLEN alert_events:{U} */
};

/* The progress recorded in the target's REDIS_MOVE_PROGRESS_KEY. */
struct move_progress {
    int found;
    int done;
    char from[REDIS_MOVE_ADDR_MAX + 8];
    char cursor[32];
    long long pages, copied, skipped, gone;
    struct move_counts start; /* the source's at the first start */
};

struct move {
    const struct redis_move_opts *o;
    struct redis_conn *src;
    struct redis_conn *dst;
    struct move_progress p;
    char from[REDIS_MOVE_ADDR_MAX + 8];
    char err[REDIS_MOVE_ERR_MAX];
};

/* Fills m->err for reply r of what; frees r. Returns -1. */
static int move_fail(struct move *m, struct redis_conn *rc, redisReply *r, const char *what)
{
    redis_reply_fail(rc, r, what, m->err, sizeof(m->err));
    if (r != NULL)
        freeReplyObject(r);
    return -1;
}

/* ------------------------------------------------------------ counting */

/* Sums LENCMD (HLEN, XLEN) over the keys of one kind on one single-instance
 * node: SCAN MATCH pattern TYPE type, each page's lengths in one pipeline. */
static int move_sum(struct redis_conn *rc, const char *pattern, const char *type,
                    enum redis_move_kind kind, const char *lencmd, long long *sum, char *err,
                    size_t errlen)
{
    char cursor[32] = "0";

    do {
        const char *argv[8] = {"SCAN",  cursor,          "MATCH", pattern,
                               "COUNT", MOVE_COUNT_PAGE, "TYPE",  type};
        redisReply *r = redis_conn_argv(rc, 8, argv, NULL), *len;
        redisContext *ctx;
        size_t n = 0;

        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            redis_reply_fail(rc, r, "count scan", err, errlen);
            if (r != NULL)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        ctx = redis_conn_context(rc);
        for (size_t i = 0; ctx != NULL && i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            if (k->type != REDIS_REPLY_STRING || redis_move_key_kind(k->str, k->len) != kind)
                continue;
            redisAppendCommand(ctx, "%s %b", lencmd, k->str, k->len);
            n++;
        }
        freeReplyObject(r);
        if (ctx == NULL) {
            snprintf(err, errlen, "count: redis unavailable: %s", redis_conn_errstr(rc));
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (redis_conn_get_reply(rc, &len) != 0 || len->type != REDIS_REPLY_INTEGER) {
                redis_reply_fail(rc, len, "count", err, errlen);
                if (len != NULL)
                    freeReplyObject(len);
                return -1;
            }
            *sum += len->integer;
            freeReplyObject(len);
        }
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Adds one node's alerts and history entries to c. */
static int move_count_node(struct redis_conn *rc, struct move_counts *c, char *err, size_t errlen)
{
    if (move_sum(rc, "user_alerts:{*", "hash", REDIS_MOVE_USER_ALERTS, "HLEN", &c->user_alerts, err,
                 errlen) != 0 ||
        move_sum(rc, "ticker_alerts:{*", "hash", REDIS_MOVE_TICKER_ALERTS, "HLEN",
                 &c->ticker_alerts, err, errlen) != 0 ||
        move_sum(rc, "alert_events:{*", "stream", REDIS_MOVE_EVENTS, "XLEN", &c->history, err,
                 errlen) != 0)
        return -1;
    return 0;
}

static int move_count_source(struct move *m, struct move_counts *c)
{
    redisReply *r;

    memset(c, 0, sizeof(*c));
    r = redis_conn_command(m->src, "DBSIZE");
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        return move_fail(m, m->src, r, "source dbsize");
    c->keys = r->integer;
    freeReplyObject(r);
    return move_count_node(m->src, c, m->err, sizeof(m->err));
}

/* The masters of the target's slot map (CLUSTER SLOTS), each once. */
static int move_masters(struct move *m, char hosts[][REDIS_MOVE_ADDR_MAX], int *ports, int max)
{
    redisReply *r = redis_conn_command(m->dst, "CLUSTER SLOTS");
    int n = 0;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return move_fail(m, m->dst, r, "target cluster slots");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i], *node;
        int seen = 0;
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            continue;
        node = e->element[2];
        if (node->element[0]->type != REDIS_REPLY_STRING ||
            node->element[1]->type != REDIS_REPLY_INTEGER ||
            node->element[0]->len >= REDIS_MOVE_ADDR_MAX)
            continue;
        for (int k = 0; k < n; k++)
            seen |= ports[k] == (int)node->element[1]->integer &&
                    strcmp(hosts[k], node->element[0]->str) == 0;
        if (seen)
            continue;
        if (n == max) {
            freeReplyObject(r);
            snprintf(m->err, sizeof(m->err), "target: more than %d masters", max);
            return -1;
        }
        snprintf(hosts[n], REDIS_MOVE_ADDR_MAX, "%s", node->element[0]->str);
        ports[n++] = (int)node->element[1]->integer;
    }
    freeReplyObject(r);
    if (n == 0) {
        snprintf(m->err, sizeof(m->err), "target: CLUSTER SLOTS names no master");
        return -1;
    }
    return n;
}

/* The target's counts: every master walked on a connection of its own. */
static int move_count_target(struct move *m, struct move_counts *c)
{
    char hosts[MOVE_MASTERS_MAX][REDIS_MOVE_ADDR_MAX];
    int ports[MOVE_MASTERS_MAX];
    int n = move_masters(m, hosts, ports, MOVE_MASTERS_MAX);

    memset(c, 0, sizeof(*c));
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        struct redis_conn *rc = redis_conn_new(hosts[i], ports[i], m->o->timeout_ms);
        char err[REDIS_MOVE_ERR_MAX];
        int rv = rc == NULL ? -1 : move_count_node(rc, c, err, sizeof(err));
        if (rc == NULL)
            snprintf(err, sizeof(err), "out of memory");
        redis_conn_free(rc);
        if (rv != 0) {
            snprintf(m->err, sizeof(m->err), "target master %.64s:%d: %.400s", hosts[i], ports[i],
                     err);
            return -1;
        }
    }
    return 0;
}

static void move_log_counts(const char *event, const struct move_counts *s,
                            const struct move_counts *t)
{
    log_info(event,
             "source_keys=%lld alerts_source=%lld alerts_target=%lld armed_source=%lld "
             "armed_target=%lld history_source=%lld history_target=%lld",
             s->keys, s->user_alerts, t->user_alerts, s->ticker_alerts, t->ticker_alerts,
             s->history, t->history);
}

/* ------------------------------------------------------------ checks */

/* Source: a single instance (not a cluster node) at schema 3. */
static int move_check_source(struct move *m)
{
    redisReply *r = redis_conn_command(m->src, "INFO cluster");
    int cluster;

    if (r == NULL || r->type != REDIS_REPLY_STRING)
        return move_fail(m, m->src, r, "source");
    cluster = strstr(r->str, "cluster_enabled:1") != NULL;
    freeReplyObject(r);
    if (cluster) {
        snprintf(m->err, sizeof(m->err),
                 "source %s is a cluster node: --from names the single Redis to move from",
                 m->from);
        return -1;
    }
    r = redis_conn_command(m->src, "GET %s", ALERT_STORE_SCHEMA_KEY);
    if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
        return move_fail(m, m->src, r, "source schema");
    if (r->type == REDIS_REPLY_NIL || strcmp(r->str, ALERT_STORE_SCHEMA) != 0) {
        snprintf(m->err, sizeof(m->err),
                 "source %s is at schema %.16s, not " ALERT_STORE_SCHEMA " (" ALERT_STORE_SCHEMA_KEY
                 "): start this version's webapps or evaluators on it once, they migrate the "
                 "data at start, then stop them and move",
                 m->from, r->type == REDIS_REPLY_NIL ? "(none)" : r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Target: a cluster whose state is ok. */
static int move_check_target(struct move *m)
{
    redisReply *r = redis_conn_command(m->dst, "CLUSTER INFO");
    int ok;

    if (r == NULL)
        return move_fail(m, m->dst, r, "target");
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(m->err, sizeof(m->err), "target %.200s is not a Redis Cluster: %.200s", m->o->to,
                 r->str);
        freeReplyObject(r);
        return -1;
    }
    if (r->type != REDIS_REPLY_STRING)
        return move_fail(m, m->dst, r, "target cluster info");
    ok = strstr(r->str, "cluster_state:ok") != NULL;
    freeReplyObject(r);
    if (!ok) {
        snprintf(m->err, sizeof(m->err),
                 "target cluster is not in state ok (CLUSTER INFO): every slot needs a master");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ progress */

static long long move_ll(const char *s)
{
    return strtoll(s, NULL, 10);
}

static int move_progress_load(struct move *m)
{
    const char *argv[2] = {"HGETALL", REDIS_MOVE_PROGRESS_KEY};
    redisReply *r = redis_conn_argv(m->dst, 2, argv, NULL);
    struct move_progress *p = &m->p;

    memset(p, 0, sizeof(*p));
    snprintf(p->cursor, sizeof(p->cursor), "0");
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return move_fail(m, m->dst, r, "target progress");
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        if (r->element[i]->type != REDIS_REPLY_STRING ||
            r->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        p->found = 1;
        if (strcmp(f, "from") == 0)
            snprintf(p->from, sizeof(p->from), "%s", v);
        else if (strcmp(f, "cursor") == 0)
            snprintf(p->cursor, sizeof(p->cursor), "%s", v);
        else if (strcmp(f, "done") == 0)
            p->done = strcmp(v, "1") == 0;
        else if (strcmp(f, "pages") == 0)
            p->pages = move_ll(v);
        else if (strcmp(f, "copied") == 0)
            p->copied = move_ll(v);
        else if (strcmp(f, "skipped") == 0)
            p->skipped = move_ll(v);
        else if (strcmp(f, "gone") == 0)
            p->gone = move_ll(v);
        else if (strcmp(f, "source_keys") == 0)
            p->start.keys = move_ll(v);
        else if (strcmp(f, "source_alerts") == 0)
            p->start.user_alerts = move_ll(v);
        else if (strcmp(f, "source_armed") == 0)
            p->start.ticker_alerts = move_ll(v);
        else if (strcmp(f, "source_history") == 0)
            p->start.history = move_ll(v);
    }
    freeReplyObject(r);
    return 0;
}

/* HSET of the progress: the cursor and counts (with start, the source's
 * counts at the first start too). */
static int move_progress_save(struct move *m, int with_start)
{
    const struct move_progress *p = &m->p;
    char v[11][32];
    const char *argv[24];
    int argc = 0;

    snprintf(v[0], sizeof(v[0]), "%lld", p->pages);
    snprintf(v[1], sizeof(v[1]), "%lld", p->copied);
    snprintf(v[2], sizeof(v[2]), "%lld", p->skipped);
    snprintf(v[3], sizeof(v[3]), "%lld", p->gone);
    snprintf(v[4], sizeof(v[4]), "%d", p->done);
    snprintf(v[5], sizeof(v[5]), "%lld", p->start.keys);
    snprintf(v[6], sizeof(v[6]), "%lld", p->start.user_alerts);
    snprintf(v[7], sizeof(v[7]), "%lld", p->start.ticker_alerts);
    snprintf(v[8], sizeof(v[8]), "%lld", p->start.history);
    argv[argc++] = "HSET";
    argv[argc++] = REDIS_MOVE_PROGRESS_KEY;
    argv[argc++] = "cursor", argv[argc++] = p->cursor;
    argv[argc++] = "pages", argv[argc++] = v[0];
    argv[argc++] = "copied", argv[argc++] = v[1];
    argv[argc++] = "skipped", argv[argc++] = v[2];
    argv[argc++] = "gone", argv[argc++] = v[3];
    argv[argc++] = "done", argv[argc++] = v[4];
    if (with_start) {
        argv[argc++] = "from", argv[argc++] = m->from;
        argv[argc++] = "source_keys", argv[argc++] = v[5];
        argv[argc++] = "source_alerts", argv[argc++] = v[6];
        argv[argc++] = "source_armed", argv[argc++] = v[7];
        argv[argc++] = "source_history", argv[argc++] = v[8];
    }
    redisReply *r = redis_conn_argv(m->dst, argc, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        return move_fail(m, m->dst, r, "target progress");
    freeReplyObject(r);
    return 0;
}

/* Where this run starts: a resumed move, one already complete, or a fresh
 * one (--restart over a move from this source; otherwise the target must
 * hold no alerts and no history). */
static int move_begin(struct move *m, const struct move_counts *src, const struct move_counts *dst)
{
    int ours;

    if (move_progress_load(m) != 0)
        return -1;
    ours = m->p.found && strcmp(m->p.from, m->from) == 0;
    if (m->p.found && !ours) {
        snprintf(m->err, sizeof(m->err),
                 "the target holds the progress of a move from %.100s, not %.100s: it was "
                 "filled from another Redis; empty it (FLUSHALL on each master) to move from "
                 "%.100s",
                 m->p.from, m->from, m->from);
        return -1;
    }
    if (ours && m->o->restart) {
        redisReply *r = redis_conn_command(m->dst, "DEL %s", REDIS_MOVE_PROGRESS_KEY);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER)
            return move_fail(m, m->dst, r, "target progress");
        freeReplyObject(r);
        log_info("progress forgotten (--restart)", "pages=%lld copied=%lld", m->p.pages,
                 m->p.copied);
        memset(&m->p, 0, sizeof(m->p));
        snprintf(m->p.cursor, sizeof(m->p.cursor), "0");
    } else if (ours && m->p.done) {
        log_info("move already complete",
                 "copied=%lld skipped=%lld hint=\"--restart copies again\"", m->p.copied,
                 m->p.skipped);
        return 0;
    } else if (ours) {
        log_info("move resumed", "cursor=%s pages=%lld copied=%lld skipped=%lld", m->p.cursor,
                 m->p.pages, m->p.copied, m->p.skipped);
        return 0;
    } else if (dst->user_alerts > 0 || dst->ticker_alerts > 0 || dst->history > 0) {
        /* Not copied by a move from this source: a RESTORE REPLACE would
         * overwrite them. */
        snprintf(m->err, sizeof(m->err),
                 "the target already holds %lld alerts and %lld history entries that no move "
                 "from %s copied: the move would overwrite keys of the same name; empty the "
                 "cluster first (FLUSHALL on each master)",
                 dst->user_alerts, dst->history, m->from);
        return -1;
    }
    m->p.start = *src;
    log_info("move started", "from=%s to=%s count=%ld", m->from, m->o->to, m->o->count);
    return move_progress_save(m, 1);
}

/* ------------------------------------------------------------ copying */

/* RESTORE key ttl payload REPLACE on the node of key's slot. */
static int move_restore(struct move *m, const redisReply *key, const redisReply *dump,
                        long long ttl)
{
    char ttls[32];
    const char *argv[5] = {"RESTORE", key->str, ttls, dump->str, "REPLACE"};
    size_t lens[5] = {7, key->len, 0, dump->len, 7};
    redisReply *r;

    snprintf(ttls, sizeof(ttls), "%lld", ttl);
    lens[2] = strlen(ttls);
    r = redis_conn_argv(m->dst, 5, argv, lens);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        char what[REDIS_MOVE_KEY_MAX + 32];
        snprintf(what, sizeof(what), "restore %.*s", (int)key->len, key->str);
        return move_fail(m, m->dst, r, what);
    }
    freeReplyObject(r);
    return 0;
}

/* Copies the schema keys of one SCAN page: DUMP and PTTL of every key
 * pipelined on the source, then each RESTOREd as its replies are read. */
static int move_page(struct move *m, const redisReply *keys)
{
    redisContext *ctx = redis_conn_context(m->src);
    size_t n = 0;

    if (ctx == NULL) {
        snprintf(m->err, sizeof(m->err), "source: redis unavailable: %s",
                 redis_conn_errstr(m->src));
        return -1;
    }
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING ||
            redis_move_key_kind(k->str, k->len) == REDIS_MOVE_FOREIGN) {
            m->p.skipped++;
            continue;
        }
        redisAppendCommand(ctx, "DUMP %b", k->str, k->len);
        redisAppendCommand(ctx, "PTTL %b", k->str, k->len);
        n++;
    }
    for (size_t i = 0, done = 0; done < n; i++) {
        const redisReply *k = keys->element[i];
        redisReply *dump = NULL, *pttl = NULL;
        int rv = -1;
        if (k->type != REDIS_REPLY_STRING ||
            redis_move_key_kind(k->str, k->len) == REDIS_MOVE_FOREIGN)
            continue;
        done++;
        if (redis_conn_get_reply(m->src, &dump) != 0 ||
            (dump->type != REDIS_REPLY_STRING && dump->type != REDIS_REPLY_NIL))
            return move_fail(m, m->src, dump, "source dump");
        if (redis_conn_get_reply(m->src, &pttl) != 0 || pttl->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(dump);
            return move_fail(m, m->src, pttl, "source pttl");
        }
        if (dump->type == REDIS_REPLY_NIL || pttl->integer == -2) {
            m->p.gone++; /* expired or deleted since the SCAN */
            rv = 0;
        } else if (dump->len > (size_t)m->o->max_key_bytes) {
            snprintf(m->err, sizeof(m->err),
                     "key %.*s: DUMP payload of %zu bytes is over --max-key-bytes %ld", (int)k->len,
                     k->str, dump->len, m->o->max_key_bytes);
        } else {
            /* PTTL 0: expiring this millisecond; RESTORE's 0 would mean never. */
            long long ttl = pttl->integer < 0 ? 0 : (pttl->integer == 0 ? 1 : pttl->integer);
            rv = move_restore(m, k, dump, ttl);
            m->p.copied += rv == 0;
        }
        freeReplyObject(dump);
        freeReplyObject(pttl);
        if (rv != 0)
            return -1;
    }
    return 0;
}

/* Walks the source from the recorded cursor, recording it after each page.
 * Returns 0 at the end of the walk, 1 when stopped early, -1 on error. */
static int move_copy(struct move *m, long long *pages_run)
{
    do {
        char count[24];
        const char *argv[4] = {"SCAN", m->p.cursor, "COUNT", count};
        redisReply *r;

        if (m->o->max_pages > 0 && *pages_run >= m->o->max_pages) {
            log_warn("move stopped (--max-pages)", "pages=%lld cursor=%s hint=\"rerun to resume\"",
                     *pages_run, m->p.cursor);
            return 1;
        }
        if (!signals_running()) {
            log_warn("move stopped (signal)", "cursor=%s hint=\"rerun to resume\"", m->p.cursor);
            return 1;
        }
        snprintf(count, sizeof(count), "%ld", m->o->count);
        r = redis_conn_argv(m->src, 4, argv, NULL);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
            r->element[0]->len >= sizeof(m->p.cursor))
            return move_fail(m, m->src, r, "source scan");
        if (move_page(m, r->element[1]) != 0) {
            freeReplyObject(r);
            return -1;
        }
        snprintf(m->p.cursor, sizeof(m->p.cursor), "%s", r->element[0]->str);
        freeReplyObject(r);
        m->p.pages++;
        (*pages_run)++;
        if (move_progress_save(m, 0) != 0)
            return -1;
        log_debug("page copied", "pages=%lld cursor=%s copied=%lld skipped=%lld", m->p.pages,
                  m->p.cursor, m->p.copied, m->p.skipped);
    } while (strcmp(m->p.cursor, "0") != 0);
    m->p.done = 1;
    return move_progress_save(m, 0);
}

/* ------------------------------------------------------------ the run */

/* After the copy: the counts on both sides, the source's change since the
 * first start, the summary line. */
static int move_finish(struct move *m, int64_t t0, long long copied_before)
{
    struct move_counts s, t;
    double secs = (double)(time_mono_ms() - t0) / 1000.0;
    long long now = m->p.copied - copied_before;
    int same;

    if (move_count_source(m, &s) != 0 || move_count_target(m, &t) != 0)
        return REDIS_MOVE_FAILED;
    move_log_counts("counts after", &s, &t);
    if (s.keys != m->p.start.keys || s.user_alerts != m->p.start.user_alerts ||
        s.ticker_alerts != m->p.start.ticker_alerts || s.history != m->p.start.history)
        log_warn("source changed during the move",
                 "keys_start=%lld keys_end=%lld alerts_start=%lld alerts_end=%lld "
                 "history_start=%lld history_end=%lld hint=\"were the writers stopped? keys "
                 "changed after their copy are not copied again: stop them and --restart; keys "
                 "that expired (idempotency keys, dedup records) change the key count alone\"",
                 m->p.start.keys, s.keys, m->p.start.user_alerts, s.user_alerts, m->p.start.history,
                 s.history);
    if (m->p.skipped > 0)
        log_info("foreign keys skipped", "count=%lld hint=\"not of the key schema: left alone\"",
                 m->p.skipped);
    same = s.user_alerts == t.user_alerts && s.ticker_alerts == t.ticker_alerts &&
           s.history == t.history;
    if (!same)
        log_error("counts differ",
                  "alerts_source=%lld alerts_target=%lld armed_source=%lld armed_target=%lld "
                  "history_source=%lld history_target=%lld",
                  s.user_alerts, t.user_alerts, s.ticker_alerts, t.ticker_alerts, s.history,
                  t.history);
    log_info(same ? "move done" : "move done, counts differ",
             "copied=%lld skipped=%lld gone=%lld alerts_source=%lld alerts_target=%lld "
             "history_source=%lld history_target=%lld seconds=%.1f copied_now=%lld "
             "keys_per_s=%.0f",
             m->p.copied, m->p.skipped, m->p.gone, s.user_alerts, t.user_alerts, s.history,
             t.history, secs, now, secs > 0 ? (double)now / secs : 0.0);
    return same ? REDIS_MOVE_OK : REDIS_MOVE_MISMATCH;
}

int redis_move_run(const struct redis_move_opts *o)
{
    struct move *m = calloc(1, sizeof(*m));
    struct move_counts s, t;
    int64_t t0 = time_mono_ms();
    long long pages_run = 0, copied_before;
    int rv = REDIS_MOVE_FAILED, copy;

    if (m == NULL) {
        log_error("move failed", "error=\"out of memory\"");
        return REDIS_MOVE_FAILED;
    }
    m->o = o;
    snprintf(m->from, sizeof(m->from), "%s:%d", o->from_host, o->from_port);
    m->src = redis_conn_new(o->from_host, o->from_port, o->timeout_ms);
    m->dst = redis_conn_new_cluster(o->to, o->timeout_ms);
    if (m->src == NULL || m->dst == NULL) {
        snprintf(m->err, sizeof(m->err), "out of memory");
        goto out;
    }
    if (move_check_source(m) != 0 || move_check_target(m) != 0)
        goto out;
    if (move_count_source(m, &s) != 0 || move_count_target(m, &t) != 0)
        goto out;
    move_log_counts("counts before", &s, &t);
    if (move_begin(m, &s, &t) != 0)
        goto out;
    copied_before = m->p.copied;
    copy = m->p.done ? 0 : move_copy(m, &pages_run);
    if (copy < 0)
        goto out;
    if (copy > 0) {
        log_info("move incomplete", "copied=%lld skipped=%lld pages=%lld cursor=%s seconds=%.1f",
                 m->p.copied, m->p.skipped, m->p.pages, m->p.cursor,
                 (double)(time_mono_ms() - t0) / 1000.0);
        rv = REDIS_MOVE_STOPPED;
        goto out;
    }
    rv = move_finish(m, t0, copied_before);
out:
    if (rv == REDIS_MOVE_FAILED)
        log_error("move failed", "error=\"%s\"", m->err[0] != '\0' ? m->err : "unknown");
    redis_conn_free(m->src);
    redis_conn_free(m->dst);
    free(m);
    return rv;
}
