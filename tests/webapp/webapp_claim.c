/* webapp_claim: a test helper playing the evaluator's part for the webapp's
 * contract tests, through the real alert store: claims the alerts of TICKER
 * that fire at PRICE (so they leave the store and enter the users' history,
 * as a real evaluator would) and prints "user_id<TAB>payload" lines for the
 * test to publish to Kafka. The outbox entries are acknowledged at once so
 * no evaluator sharing the Redis republishes them.
 *   webapp_claim HOST PORT TICKER PRICE */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_store_claim.h"
#include "log.h"
#include "timeutil.h"

#define CLAIM_MAX 64

static int claim_parse_port(const char *s, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < 1 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    static struct alert_claim claims[CLAIM_MAX];
    char err[ALERT_STORE_ERR_MAX];
    struct redis_conn *rc = NULL;
    char *end = NULL;
    double price;
    int port = 0;
    struct alert_tick tick;
    int n, done = 0;
    int status = 1;

    log_init("webapp_claim", LOG_LVL_WARN);
    if (argc != 5 || claim_parse_port(argv[2], &port) != 0) {
        fprintf(stderr, "usage: webapp_claim HOST PORT TICKER PRICE\n");
        return 2;
    }
    price = strtod(argv[4], &end);
    if (end == argv[4] || *end != '\0' || !(price > 0)) {
        fprintf(stderr, "bad price\n");
        return 2;
    }
    rc = redis_conn_new(argv[1], port, 2000);
    if (rc == NULL)
        return 1;
    tick = (struct alert_tick){.ticker = argv[3], .price = price, .timestamp = time_now()};
    n = alert_store_claim_batch(rc, &tick, 1, claims, CLAIM_MAX, &done, err, sizeof(err));
    if (n < 0) {
        fprintf(stderr, "claim failed: %s\n", err);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (claims[i].state != ALERT_CLAIM_READY || claims[i].payload_len == 0)
            continue;
        const char *id = claims[i].outbox_id, *key = claims[i].outbox_key;
        if (alert_store_outbox_ack_many(rc, &key, &id, 1, err, sizeof(err)) != 0) {
            fprintf(stderr, "ack failed: %s\n", err);
            goto out;
        }
        printf("%s\t%.*s\n", claims[i].user_id, (int)claims[i].payload_len, claims[i].payload);
    }
    status = 0;
out:
    redis_conn_free(rc);
    return status;
}
