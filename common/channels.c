/* channels: the three spellings of a channel set (channels.h). */
#include "channels.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
} channels_names[] = {{"browser", ALERT_CH_BROWSER}, {"email", ALERT_CH_EMAIL}};

#define CHANNELS_N (sizeof(channels_names) / sizeof(channels_names[0]))

static unsigned channels_bit(const char *s, size_t len)
{
    for (size_t i = 0; i < CHANNELS_N; i++) {
        if (strlen(channels_names[i].name) == len && memcmp(channels_names[i].name, s, len) == 0)
            return channels_names[i].bit;
    }
    return 0;
}

int alert_channels_from_json(const json_t *v, unsigned *mask, char *err, size_t errlen)
{
    size_t i;
    json_t *e;

    *mask = ALERT_CH_DEFAULT;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > CHANNELS_N) {
        snprintf(err, errlen,
                 "Invalid channels: must be a list of 1 to %zu of \"browser\", "
                 "\"email\"",
                 CHANNELS_N);
        return -1;
    }
    *mask = 0;
    json_array_foreach(v, i, e)
    {
        unsigned bit =
            json_is_string(e) ? channels_bit(json_string_value(e), json_string_length(e)) : 0;

        if (bit == 0) {
            snprintf(err, errlen,
                     "Invalid channels: unknown channel (known: \"browser\", "
                     "\"email\")");
            return -1;
        }
        if (*mask & bit) {
            snprintf(err, errlen, "Invalid channels: \"%s\" given twice", json_string_value(e));
            return -1;
        }
        *mask |= bit;
    }
    return 0;
}

/* names of mask joined by sep, each within quote, into out (cap bytes). */
static void channels_join(unsigned mask, const char *quote, char *out, size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < CHANNELS_N; i++) {
        if ((mask & channels_names[i].bit) == 0)
            continue;
        used += (size_t)snprintf(out + used, cap - used, "%s%s%s%s", used > 0 ? "," : "", quote,
                                 channels_names[i].name, quote);
        if (used >= cap)
            return;
    }
}

void alert_channels_json(unsigned mask, char out[ALERT_CH_JSON_MAX])
{
    char names[ALERT_CH_JSON_MAX - 2];

    channels_join(mask, "\"", names, sizeof(names));
    snprintf(out, ALERT_CH_JSON_MAX, "[%s]", names);
}

void alert_channels_token(unsigned mask, char out[ALERT_CH_TOKEN_MAX])
{
    char names[ALERT_CH_TOKEN_MAX - 2];

    if (mask == ALERT_CH_DEFAULT || mask == 0) {
        out[0] = '\0';
        return;
    }
    channels_join(mask, "", names, sizeof(names));
    snprintf(out, ALERT_CH_TOKEN_MAX, "c:%s", names);
}

int alert_channels_from_token(const char *s, size_t len, unsigned *mask)
{
    size_t start = 0;

    *mask = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned bit;

        if (i < len && s[i] != ',')
            continue;
        bit = channels_bit(s + start, i - start);
        if (bit == 0 || (*mask & bit) != 0)
            return -1;
        *mask |= bit;
        start = i + 1;
    }
    return 0;
}
