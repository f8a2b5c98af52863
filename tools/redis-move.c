/* redis-move: copies the stock-alerts data of a single Redis into a Redis
 * Cluster, resumably, and checks the counts of alerts and history entries
 * on both sides (tools/redis_move.h; `redis-move --help`;
 * docs/key-schema.md, "Moving to the cluster"). */
#include <stdio.h>

#include "log.h"
#include "redis_move.h"
#include "signals.h"

int main(int argc, char **argv)
{
    struct redis_move_opts o;
    char err[REDIS_MOVE_ERR_MAX];
    int rv;

    log_init("redis-move", LOG_LVL_INFO);
    rv = redis_move_parse_args(argc, argv, &o, err, sizeof(err));
    if (rv == 1) {
        fputs(redis_move_usage(), stdout);
        return 0;
    }
    if (rv != 0) {
        fprintf(stderr, "redis-move: %s\n", err);
        return REDIS_MOVE_USAGE;
    }
    if (signals_install() != 0) {
        fprintf(stderr, "redis-move: cannot install the signal handlers\n");
        return REDIS_MOVE_FAILED;
    }
    return redis_move_run(&o);
}
