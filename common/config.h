/* config: reads environment variables once, at start, with range checks.
 * Every getter leaves *out untouched and fills err (naming the variable and
 * what is wrong) on failure; an unset variable yields the default. */
#ifndef SA_CONFIG_H
#define SA_CONFIG_H

#include <stddef.h>

#include "log.h"

#define CONFIG_ERR_MAX 256

/* One line of `--help` and of the README table. */
struct config_var {
    const char *name;
    const char *def;
    const char *help;
};

/* Settings every daemon shares. */
struct common_config {
    char kafka_bootstrap[256];
    char redis_host[256];
    long redis_port;
    long redis_timeout_ms;
    long metrics_port;
    char listen_host[64]; /* address the HTTP endpoints bind to */
    enum log_level log_level;
};

/* The variables common_config reads, terminated by a {NULL} entry. */
extern const struct config_var config_common_vars[];

/* A string: unset → def (copied); set but empty or longer than outlen-1 → -1. */
int config_str(const char *name, const char *def, char *out, size_t outlen, char *err,
               size_t errlen);

/* An integer in [min, max]: empty, non-numeric, trailing garbage or out of
 * range → -1. */
int config_long(const char *name, long def, long min, long max, long *out, char *err,
                size_t errlen);

/* A finite number in [min, max]; same failures as config_long. */
int config_double(const char *name, double def, double min, double max, double *out, char *err,
                  size_t errlen);

/* true/false, 1/0, yes/no, on/off (case-insensitive). */
int config_bool(const char *name, int def, int *out, char *err, size_t errlen);

/* One of `choices` (NULL-terminated); *out is the index. */
int config_choice(const char *name, const char *def, const char *const *choices, int *out,
                  char *err, size_t errlen);

/* Loads the shared settings. default_metrics_port is the daemon's own
 * METRICS_PORT default (0 turns the endpoint off). Returns 0 or -1 with err. */
int config_load_common(struct common_config *cfg, long default_metrics_port, char *err,
                       size_t errlen);

/* Prints usage and a table of variables (common ones first, then `own`,
 * which may be NULL) to stdout. */
void config_print_help(const char *prog, const char *summary, const struct config_var *own);

/* True when argv asks for help (-h or --help). */
int config_wants_help(int argc, char **argv);

#endif
