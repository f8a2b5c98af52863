/* config: environment variables, read once at start with range checks. A
 * daemon describes each variable once, in a table of struct config_var (its
 * name, type, default, range, help text and where it lands in the daemon's
 * configuration struct); config_load reads the environment through that
 * table and config_print_help prints it, so --help and loading cannot
 * disagree. Special cases (cross-field checks, derived values) run after
 * the table, in the daemon's own code. */
#ifndef SA_CONFIG_H
#define SA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONFIG_ERR_MAX 256

enum config_kind {
    CONFIG_KIND_STRING, /* char[size]; with choices, only those words */
    CONFIG_KIND_LONG,   /* long in [min, max] */
    CONFIG_KIND_INT,    /* int in [min, max] */
    CONFIG_KIND_DOUBLE, /* finite double in [min, max] */
    CONFIG_KIND_U64,    /* uint64_t, an unsigned decimal integer */
    CONFIG_KIND_BOOL,   /* int 1/0: true/false, 1/0, yes/no, on/off (any case) */
    CONFIG_KIND_CHOICE, /* int (or an enum): the index of the value in choices */
};

/* flags */
#define CONFIG_EMPTY_OK 1u /* a string set to "" is kept as "" (otherwise an error) */

/* One environment variable: one line of --help, one field of the daemon's
 * configuration. Tables end with CONFIG_END. Write entries as
 *   {"NAME", "default", "help", CONFIG_LONG(struct x_config, field, 1, 100)},
 * adding .flags, .choices, .when or .shown where needed. */
struct config_var {
    const char *name;
    /* The default, spelled as the variable would be; it goes through the
     * same checks as a value from the environment. NULL: none (a string
     * field gets "", a number keeps 0). */
    const char *def;
    const char *help;
    enum config_kind kind;
    size_t offset; /* of the field in the configuration struct */
    size_t size;   /* CONFIG_KIND_STRING: bytes of the field it may use, NUL included */
    double min;    /* numbers: the inclusive range (exact for integers below 2^53) */
    double max;
    const char *const *choices; /* NULL-terminated words (CHOICE, or STRING restricted) */
    unsigned flags;
    /* NULL, or the variable is read only when this returns true for the
     * configuration loaded so far (entries above it); otherwise its field
     * keeps what it holds. */
    int (*when)(const void *cfg);
    const char *shown; /* --help's DEFAULT column when def says too little */
};

#define CONFIG_END                                                                                 \
    {                                                                                              \
        .name = NULL                                                                               \
    }

/* The field of `type` called `member`, checked at compile time to have the
 * type the kind stores (a wrong type has no _Generic match). */
#define CONFIG_AT_(type, member, ctype)                                                            \
    _Generic(((type *)0)->member, ctype : offsetof(type, member))
/* A field of int size (an int or an enum), checked at compile time. */
#define CONFIG_AT_INT_(type, member)                                                               \
    (offsetof(type, member) + 0 * sizeof(char[sizeof(((type *)0)->member) == sizeof(int) ? 1 : -1]))

#define CONFIG_STRING(type, member)                                                                \
    .kind = CONFIG_KIND_STRING, .offset = CONFIG_AT_(type, member, char *),                        \
    .size = sizeof(((type *)0)->member)
/* A string given at most n bytes (NUL included) of its field. */
#define CONFIG_STRING_MAX(type, member, n)                                                         \
    .kind = CONFIG_KIND_STRING, .offset = CONFIG_AT_(type, member, char *),                        \
    .size = (n) + 0 * sizeof(char[(n) <= sizeof(((type *)0)->member) ? 1 : -1])
#define CONFIG_LONG(type, member, lo, hi)                                                          \
    .kind = CONFIG_KIND_LONG, .offset = CONFIG_AT_(type, member, long), .min = (lo), .max = (hi)
#define CONFIG_INT(type, member, lo, hi)                                                           \
    .kind = CONFIG_KIND_INT, .offset = CONFIG_AT_(type, member, int), .min = (lo), .max = (hi)
#define CONFIG_DOUBLE(type, member, lo, hi)                                                        \
    .kind = CONFIG_KIND_DOUBLE, .offset = CONFIG_AT_(type, member, double), .min = (lo), .max = (hi)
#define CONFIG_U64(type, member)                                                                   \
    .kind = CONFIG_KIND_U64, .offset = CONFIG_AT_(type, member, uint64_t)
#define CONFIG_BOOL(type, member) .kind = CONFIG_KIND_BOOL, .offset = CONFIG_AT_(type, member, int)
#define CONFIG_CHOICE(type, member, words)                                                         \
    .kind = CONFIG_KIND_CHOICE, .offset = CONFIG_AT_INT_(type, member), .choices = (words)

/* METRICS_PORT of a daemon whose struct holds a common_config `common`,
 * with its default port (text). */
#define CONFIG_METRICS_PORT(type, port_text)                                                       \
    {                                                                                              \
        "METRICS_PORT", port_text, "port of GET /health and GET /metrics; 0 turns them off",       \
            CONFIG_LONG(type, common.metrics_port, 0, 65535)                                       \
    }

/* Settings every daemon shares. */
struct common_config {
    char kafka_bootstrap[256];
    char redis_host[256];
    long redis_port;
    long redis_timeout_ms;
    char redis_cluster_nodes[2048]; /* "" : the single instance above */
    long metrics_port;    /* each daemon's table has its own METRICS_PORT (its default differs) */
    char listen_host[64]; /* address the HTTP endpoints bind to */
    enum log_level log_level;
};

/* The variables of struct common_config but METRICS_PORT. */
extern const struct config_var config_common_vars[];

/* Reads every variable of vars into the struct at cfg, in table order.
 * Returns 0, or -1 with err naming the first bad variable and what is
 * wrong; the bad variable's field is left untouched (earlier ones are
 * set). A bad number or word is quoted (its first 64 bytes); a free
 * string, which may be a secret, never is. */
int config_load(const struct config_var *vars, void *cfg, char *err, size_t errlen);

/* Prints usage and a table of variables (config_common_vars first, then
 * `own`, which may be NULL) with each default and range, to stdout. */
void config_print_help(const char *prog, const char *summary, const struct config_var *own);

/* Parses a whole decimal integer in [min, max] into *out (the same rule as
 * an integer variable; also for the tools' command lines). Returns 0, or -1
 * for an empty, non-numeric, trailing-garbage or out-of-range text (*out
 * untouched). */
int config_long(const char *text, long min, long max, long *out);

/* True when argv asks for help (-h or --help). */
int config_wants_help(int argc, char **argv);

#endif
