/* config: environment variable parsing with strict validation. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct config_var config_common_vars[] = {
    {"KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "Kafka bootstrap servers (host:port,...)"},
    {"REDIS_HOST", "127.0.0.1", "Redis host"},
    {"REDIS_PORT", "6379", "Redis port (1-65535)"},
    {"REDIS_TIMEOUT_MS", "1000", "Redis connect/command timeout in ms (10-60000)"},
    {"METRICS_PORT", "(per daemon)", "port of GET /health and GET /metrics; 0 turns it off"},
    {"LISTEN_HOST", "127.0.0.1", "IPv4 address the HTTP endpoints listen on"},
    {"LOG_LEVEL", "info", "debug, info, warn or error"},
    {NULL, NULL, NULL},
};

int config_str(const char *name, const char *def, char *out, size_t outlen, char *err,
               size_t errlen)
{
    const char *v = getenv(name);
    size_t len;

    if (v == NULL)
        v = def;
    len = strlen(v);
    if (len == 0) {
        snprintf(err, errlen, "%s: must not be empty", name);
        return -1;
    }
    if (len >= outlen) {
        snprintf(err, errlen, "%s: too long (%zu bytes, at most %zu)", name, len, outlen - 1);
        return -1;
    }
    memcpy(out, v, len + 1);
    return 0;
}

int config_long(const char *name, long def, long min, long max, long *out, char *err,
                size_t errlen)
{
    const char *v = getenv(name);
    char *end = NULL;
    long val;

    if (v == NULL) {
        *out = def;
        return 0;
    }
    errno = 0;
    val = strtol(v, &end, 10);
    if (*v == '\0' || end == v || *end != '\0' || errno == ERANGE || val < min || val > max) {
        snprintf(err, errlen, "%s: must be an integer between %ld and %ld (got '%.64s')", name,
                 min, max, v);
        return -1;
    }
    *out = val;
    return 0;
}

int config_double(const char *name, double def, double min, double max, double *out, char *err,
                  size_t errlen)
{
    const char *v = getenv(name);
    char *end = NULL;
    double val;

    if (v == NULL) {
        *out = def;
        return 0;
    }
    errno = 0;
    val = strtod(v, &end);
    if (*v == '\0' || end == v || *end != '\0' || errno == ERANGE || !isfinite(val) ||
        val < min || val > max) {
        snprintf(err, errlen, "%s: must be a number between %g and %g (got '%.64s')", name, min,
                 max, v);
        return -1;
    }
    *out = val;
    return 0;
}

int config_bool(const char *name, int def, int *out, char *err, size_t errlen)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    const char *v = getenv(name);

    if (v == NULL) {
        *out = def;
        return 0;
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    snprintf(err, errlen, "%s: must be true or false (got '%.64s')", name, v);
    return -1;
}

int config_choice(const char *name, const char *def, const char *const *choices, int *out,
                  char *err, size_t errlen)
{
    const char *v = getenv(name);
    char list[160] = "";
    size_t used = 0;

    if (v == NULL)
        v = def;
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp(v, choices[i]) == 0) {
            *out = i;
            return 0;
        }
        int r = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", choices[i]);
        if (r > 0 && (size_t)r < sizeof(list) - used)
            used += (size_t)r;
    }
    snprintf(err, errlen, "%s: must be one of %s (got '%.64s')", name, list, v);
    return -1;
}

int config_load_common(struct common_config *cfg, long default_metrics_port, char *err,
                       size_t errlen)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    int level = 1;

    memset(cfg, 0, sizeof(*cfg));
    if (config_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", cfg->kafka_bootstrap,
                   sizeof(cfg->kafka_bootstrap), err, errlen) != 0 ||
        config_str("REDIS_HOST", "127.0.0.1", cfg->redis_host, sizeof(cfg->redis_host), err,
                   errlen) != 0 ||
        config_long("REDIS_PORT", 6379, 1, 65535, &cfg->redis_port, err, errlen) != 0 ||
        config_long("REDIS_TIMEOUT_MS", 1000, 10, 60000, &cfg->redis_timeout_ms, err, errlen) !=
            0 ||
        config_long("METRICS_PORT", default_metrics_port, 0, 65535, &cfg->metrics_port, err,
                    errlen) != 0 ||
        config_str("LISTEN_HOST", "127.0.0.1", cfg->listen_host, sizeof(cfg->listen_host), err,
                   errlen) != 0 ||
        config_choice("LOG_LEVEL", "info", levels, &level, err, errlen) != 0)
        return -1;
    cfg->log_level = (enum log_level)level;
    return 0;
}

static void config_print_vars(const struct config_var *vars)
{
    for (; vars != NULL && vars->name != NULL; vars++)
        printf("  %-26s %-18s %s\n", vars->name, vars->def, vars->help);
}

void config_print_help(const char *prog, const char *summary, const struct config_var *own)
{
    printf("Usage: %s [--help]\n%s\n\nConfigured by environment variables only:\n  %-26s "
           "%-18s %s\n",
           prog, summary, "VARIABLE", "DEFAULT", "MEANING");
    config_print_vars(config_common_vars);
    config_print_vars(own);
}

int config_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}
