/* settings: the notifier's environment variables: the table that both
 * --help and loading read (config.h), and the checks a table cannot make
 * (URL schemes, the sender address, a readable CA file, limits that follow
 * others). */
#ifndef NOTIFIER_SETTINGS_H
#define NOTIFIER_SETTINGS_H

#include <stddef.h>

#include "config.h"
#include "dispatch.h"

/* The notifier's own variables (config_load, config_print_help). */
extern const struct config_var settings_vars[];

/* Run once settings_vars is loaded into cfg (a struct notifier_config):
 * sets webhook_enabled and smtp_enabled, checks across variables and
 * lowers limits that follow others. Returns 0, or -1 with err naming the
 * variable (never quoting a secret). */
int settings_check(void *cfg, char *err, size_t errlen);

#endif
