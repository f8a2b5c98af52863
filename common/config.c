/* config: the table-driven loader of environment variables, with strict
 * validation, and the --help printer of the same tables. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "contract.h"

#define CONFIG_HELP_DEF_MAX 20 /* widest DEFAULT column; longer defaults overflow it */

static const char *const config_levels[] = {"debug", "info", "warn", "error", NULL};

const struct config_var config_common_vars[] = {
    {"KAFKA_BOOTSTRAP_SERVERS", CONTRACT_KAFKA_BOOTSTRAP, "Kafka bootstrap servers (host:port,...)",
     CONFIG_STRING(struct common_config, kafka_bootstrap)},
    {"REDIS_HOST", CONTRACT_HOST, "Redis host", CONFIG_STRING(struct common_config, redis_host)},
    {"REDIS_PORT", CONTRACT_TEXT(CONTRACT_PORT_REDIS), "Redis port",
     CONFIG_LONG(struct common_config, redis_port, 1, 65535)},
    {"REDIS_TIMEOUT_MS", "1000", "Redis connect/command timeout in ms",
     CONFIG_LONG(struct common_config, redis_timeout_ms, 10, 60000)},
    {"REDIS_CLUSTER_NODES", "",
     "Redis Cluster seed nodes host:port,... (at most 64); empty: the one Redis of REDIS_HOST",
     CONFIG_STRING(struct common_config, redis_cluster_nodes), .flags = CONFIG_EMPTY_OK},
    {"LISTEN_HOST", CONTRACT_HOST, "IPv4 address the HTTP endpoints listen on",
     CONFIG_STRING(struct common_config, listen_host)},
    {"LOG_LEVEL", "info", "least severe level logged",
     CONFIG_CHOICE(struct common_config, log_level, config_levels)},
    CONFIG_END,
};

/* Copies a string value; "" only with CONFIG_EMPTY_OK. The value itself is
 * never quoted in err: it may be a secret. */
static int config_set_str(const struct config_var *v, const char *text, char *out, char *err,
                          size_t errlen)
{
    size_t len = strlen(text);

    if (len == 0 && !(v->flags & CONFIG_EMPTY_OK)) {
        snprintf(err, errlen, "%s: must not be empty", v->name);
        return -1;
    }
    if (len >= v->size) {
        snprintf(err, errlen, "%s: too long (%zu bytes, at most %zu)", v->name, len, v->size - 1);
        return -1;
    }
    memcpy(out, text, len + 1);
    return 0;
}

/* The index of text in v->choices, or -1 with err listing them. */
static int config_match(const struct config_var *v, const char *text, char *err, size_t errlen)
{
    char list[160] = "";
    size_t used = 0;

    for (int i = 0; v->choices[i] != NULL; i++) {
        if (strcmp(text, v->choices[i]) == 0)
            return i;
        int r = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", v->choices[i]);
        if (r > 0 && (size_t)r < sizeof(list) - used)
            used += (size_t)r;
    }
    snprintf(err, errlen, "%s: must be one of %s (got '%.64s')", v->name, list, text);
    return -1;
}

int config_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long val;

    errno = 0;
    val = strtol(text, &end, 10);
    if (*text == '\0' || end == text || *end != '\0' || errno == ERANGE || val < min || val > max)
        return -1;
    *out = val;
    return 0;
}

/* An integer of v's range, or -1 with err naming v. */
static int config_parse_long(const struct config_var *v, const char *text, long *out, char *err,
                             size_t errlen)
{
    long min = (long)v->min, max = (long)v->max;

    if (config_long(text, min, max, out) != 0) {
        snprintf(err, errlen, "%s: must be an integer between %ld and %ld (got '%.64s')", v->name,
                 min, max, text);
        return -1;
    }
    return 0;
}

/* A finite number in [min, max]; same failures as config_parse_long. */
static int config_parse_double(const struct config_var *v, const char *text, double *out, char *err,
                               size_t errlen)
{
    char *end = NULL;
    double val;

    errno = 0;
    val = strtod(text, &end);
    if (*text == '\0' || end == text || *end != '\0' || errno == ERANGE || !isfinite(val) ||
        val < v->min || val > v->max) {
        snprintf(err, errlen, "%s: must be a number between %g and %g (got '%.64s')", v->name,
                 v->min, v->max, text);
        return -1;
    }
    *out = val;
    return 0;
}

/* Any unsigned decimal that fits 64 bits; a sign is refused. */
static int config_parse_u64(const struct config_var *v, const char *text, uint64_t *out, char *err,
                            size_t errlen)
{
    char *end = NULL;
    unsigned long long val;

    errno = 0;
    val = strtoull(text, &end, 10);
    if (*text == '\0' || *text == '-' || *end != '\0' || errno != 0) {
        snprintf(err, errlen, "%s: must be an unsigned integer (got '%.64s')", v->name, text);
        return -1;
    }
    *out = (uint64_t)val;
    return 0;
}

static int config_parse_bool(const struct config_var *v, const char *text, int *out, char *err,
                             size_t errlen)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    snprintf(err, errlen, "%s: must be true or false (got '%.64s')", v->name, text);
    return -1;
}

/* Parses text as v says and stores it in field; field is untouched on -1. */
static int config_store(const struct config_var *v, const char *text, char *field, char *err,
                        size_t errlen)
{
    long l;
    double d;
    uint64_t u;
    int i;

    switch (v->kind) {
    case CONFIG_KIND_STRING:
        if (v->choices != NULL && config_match(v, text, err, errlen) < 0)
            return -1;
        return config_set_str(v, text, field, err, errlen);
    case CONFIG_KIND_LONG:
        if (config_parse_long(v, text, &l, err, errlen) != 0)
            return -1;
        *(long *)(void *)field = l;
        return 0;
    case CONFIG_KIND_INT:
        if (config_parse_long(v, text, &l, err, errlen) != 0)
            return -1;
        *(int *)(void *)field = (int)l;
        return 0;
    case CONFIG_KIND_DOUBLE:
        if (config_parse_double(v, text, &d, err, errlen) != 0)
            return -1;
        *(double *)(void *)field = d;
        return 0;
    case CONFIG_KIND_U64:
        if (config_parse_u64(v, text, &u, err, errlen) != 0)
            return -1;
        *(uint64_t *)(void *)field = u;
        return 0;
    case CONFIG_KIND_BOOL:
        if (config_parse_bool(v, text, &i, err, errlen) != 0)
            return -1;
        *(int *)(void *)field = i;
        return 0;
    case CONFIG_KIND_CHOICE:
        i = config_match(v, text, err, errlen);
        if (i < 0)
            return -1;
        memcpy(field, &i, sizeof(i)); /* an int or an enum of int size (CONFIG_AT_INT_) */
        return 0;
    }
    snprintf(err, errlen, "%s: unknown kind in the configuration table", v->name);
    return -1;
}

int config_load(const struct config_var *vars, void *cfg, char *err, size_t errlen)
{
    for (const struct config_var *v = vars; v->name != NULL; v++) {
        char *field = (char *)cfg + v->offset;
        const char *text;

        if (v->when != NULL && !v->when(cfg))
            continue;
        text = getenv(v->name);
        if (text == NULL)
            text = v->def;
        if (text == NULL) {
            if (v->kind == CONFIG_KIND_STRING)
                field[0] = '\0';
            continue;
        }
        if (config_store(v, text, field, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* What --help says of a variable's values: its range or its words. */
static void config_format_values(const struct config_var *v, char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    switch (v->kind) {
    case CONFIG_KIND_LONG:
    case CONFIG_KIND_INT:
        snprintf(out, outlen, " (%ld-%ld)", (long)v->min, (long)v->max);
        return;
    case CONFIG_KIND_DOUBLE:
        snprintf(out, outlen, " (%g-%g)", v->min, v->max);
        return;
    case CONFIG_KIND_BOOL:
        snprintf(out, outlen, " (true or false)");
        return;
    case CONFIG_KIND_STRING:
    case CONFIG_KIND_CHOICE:
    case CONFIG_KIND_U64:
        break;
    }
    for (int i = 0; v->choices != NULL && v->choices[i] != NULL; i++) {
        int r = snprintf(out + used, outlen - used, "%s%s", i ? ", " : " (", v->choices[i]);
        if (r < 0 || (size_t)r >= outlen - used)
            return;
        used += (size_t)r;
    }
    if (used > 0)
        snprintf(out + used, outlen - used, ")");
}

static const char *config_shown_default(const struct config_var *v)
{
    if (v->shown != NULL)
        return v->shown;
    return v->def != NULL ? v->def : "(unset)";
}

static void config_widths(const struct config_var *vars, int *name_w, int *def_w)
{
    for (; vars != NULL && vars->name != NULL; vars++) {
        int n = (int)strlen(vars->name);
        int d = (int)strlen(config_shown_default(vars));
        if (n > *name_w)
            *name_w = n;
        if (d > *def_w && d <= CONFIG_HELP_DEF_MAX)
            *def_w = d;
    }
}

static void config_print_vars(const struct config_var *vars, int name_w, int def_w)
{
    char values[160];

    for (; vars != NULL && vars->name != NULL; vars++) {
        config_format_values(vars, values, sizeof(values));
        printf("  %-*s %-*s %s%s\n", name_w, vars->name, def_w, config_shown_default(vars),
               vars->help, values);
    }
}

void config_print_help(const char *prog, const char *summary, const struct config_var *own)
{
    int name_w = (int)strlen("VARIABLE"), def_w = (int)strlen("DEFAULT");

    config_widths(config_common_vars, &name_w, &def_w);
    config_widths(own, &name_w, &def_w);
    printf("Usage: %s [--help]\n%s\n\nConfigured by environment variables only:\n", prog, summary);
    printf("  %-*s %-*s %s\n", name_w, "VARIABLE", def_w, "DEFAULT", "MEANING");
    config_print_vars(config_common_vars, name_w, def_w);
    config_print_vars(own, name_w, def_w);
}

int config_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}
