/* daemon: the start every daemon's main shares, so all four answer --help,
 * load their configuration, log and exit alike. */
#ifndef SA_DAEMON_H
#define SA_DAEMON_H

#include <stddef.h>

#include "config.h"

struct daemon_desc {
    const char *name;              /* log name and --help's program name */
    const char *summary;           /* --help's first line */
    const struct config_var *vars; /* the daemon's own variables (config.h) */
    size_t size;                   /* of the daemon's configuration struct */
    /* What the table cannot say, run once it is loaded: checks across
     * variables, values derived from others, loading what they name. NULL:
     * nothing. Returns 0, or -1 with err naming the variable. */
    int (*check)(void *cfg, char *err, size_t errlen);
};

/* With -h/--help: prints the variables and returns 0. Otherwise starts
 * logging, zeroes cfg (d->size bytes) and loads it: config_common_vars into
 * *common (a part of cfg), then d->vars, then d->check (bad configuration:
 * one line logged, returns 2); switches to the configured log level and
 * installs the signal handlers (failure: logged, returns 1). Returns -1
 * when main goes on. */
int daemon_begin(const struct daemon_desc *d, int argc, char **argv, void *cfg,
                 struct common_config *common);

#endif
