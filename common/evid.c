/* evid: parsing, printing and ordering of history positions (see evid.h). */
#include "evid.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Reads 1..20 decimal digits from s[0..n) into *out; -1 on anything else or
 * on overflow. */
static int evid_number(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int evid_parse(const char *s, struct evid *out)
{
    struct evid id = {0, 0};
    const char *dash;
    size_t len;

    if (s == NULL)
        return -1;
    len = strnlen(s, EVID_INPUT_MAX + 1);
    if (len == 0 || len > EVID_INPUT_MAX)
        return -1;
    dash = memchr(s, '-', len);
    if (dash == NULL) {
        if (evid_number(s, len, &id.seq) != 0)
            return -1;
    } else if (evid_number(s, (size_t)(dash - s), &id.ms) != 0 ||
               evid_number(dash + 1, len - (size_t)(dash - s) - 1, &id.seq) != 0) {
        return -1;
    }
    *out = id;
    return 0;
}

char *evid_format(const struct evid *id, char out[EVID_TEXT_MAX])
{
    snprintf(out, EVID_TEXT_MAX, "%" PRIu64 "-%" PRIu64, id->ms, id->seq);
    return out;
}

int evid_cmp(const struct evid *a, const struct evid *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}
