/* daemon: the start every daemon's main shares, so all four answer --help,
 * log and exit alike. */
#ifndef SA_DAEMON_H
#define SA_DAEMON_H

#include <stddef.h>

#include "config.h"

struct daemon_desc {
    const char *name;              /* log name and --help's program name */
    const char *summary;           /* --help's first line */
    const struct config_var *vars; /* the daemon's own variables */
    /* Fills cfg from the environment. Returns 0, or -1 with err. */
    int (*load)(void *cfg, char *err, size_t errlen);
};

/* With -h/--help: prints the variables and returns 0. Otherwise starts
 * logging, loads cfg (bad configuration: logged, returns 2), switches to the
 * configured log level (*common, a part of cfg) and installs the signal
 * handlers (failure: logged, returns 1). Returns -1 when main goes on. */
int daemon_begin(const struct daemon_desc *d, int argc, char **argv, void *cfg,
                 const struct common_config *common);

#endif
