/* daemon: the shared start of a daemon's main. */
#include "daemon.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "redis.h"
#include "signals.h"

/* The configuration: the shared variables, the daemon's table, its checks. */
static int daemon_load(const struct daemon_desc *d, void *cfg, struct common_config *common,
                       char *err, size_t errlen)
{
    char why[200];

    memset(cfg, 0, d->size);
    if (config_load(config_common_vars, common, err, errlen) != 0 ||
        config_load(d->vars, cfg, err, errlen) != 0)
        return -1;
    if (common->redis_cluster_nodes[0] != '\0' &&
        redis_cluster_nodes_check(common->redis_cluster_nodes, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "REDIS_CLUSTER_NODES: %s", why);
        return -1;
    }
    return d->check != NULL ? d->check(cfg, err, errlen) : 0;
}

int daemon_begin(const struct daemon_desc *d, int argc, char **argv, void *cfg,
                 struct common_config *common)
{
    char err[512]; /* room for a long TICKERS complaint */

    if (config_wants_help(argc, argv)) {
        config_print_help(d->name, d->summary, d->vars);
        return 0;
    }
    log_init(d->name, LOG_LVL_INFO);
    if (daemon_load(d, cfg, common, err, sizeof(err)) != 0) {
        log_error("bad configuration", "error=\"%s\"", err);
        return 2;
    }
    log_init(d->name, common->log_level);
    if (signals_install() != 0) {
        log_error("cannot install signal handlers", NULL);
        return 1;
    }
    return -1;
}
