/* daemon: the shared start of a daemon's main. */
#include "daemon.h"

#include "log.h"
#include "signals.h"

int daemon_begin(const struct daemon_desc *d, int argc, char **argv, void *cfg,
                 const struct common_config *common)
{
    char err[512]; /* room for a long TICKERS complaint */

    if (config_wants_help(argc, argv)) {
        config_print_help(d->name, d->summary, d->vars);
        return 0;
    }
    log_init(d->name, LOG_LVL_INFO);
    if (d->load(cfg, err, sizeof(err)) != 0) {
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
