/* assets: the producer's list built from the default assets (contract.h),
 * TICKERS parsing and instance sharding. */
#include "assets.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"

/* Unknown symbols start here in the simulation. */
#define ASSETS_UNKNOWN_PRICE 100.0
#define ASSETS_UNKNOWN_VOL 0.30

const char *asset_company(const struct asset *a)
{
    return a->company != NULL ? a->company : a->ticker;
}

const char *asset_display_name(const struct asset *a)
{
    return a->display_name != NULL ? a->display_name : a->ticker;
}

/* Makes room for one more entry. Returns the new (zeroed) slot or NULL. */
static struct asset *assets_grow(struct asset_list *list)
{
    if (list->len == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        struct asset *p = realloc(list->items, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        list->items = p;
        list->cap = cap;
    }
    memset(&list->items[list->len], 0, sizeof(list->items[0]));
    return &list->items[list->len];
}

static char *assets_strdup_capped(const char *s, size_t max)
{
    size_t n = strnlen(s, max - 1);
    char *p = malloc(n + 1);

    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

long assets_find(const struct asset_list *list, const char *ticker)
{
    for (size_t i = 0; i < list->len; i++) {
        if (strcmp(list->items[i].ticker, ticker) == 0)
            return (long)i;
    }
    return -1;
}

int asset_decimals_for(double price)
{
    return price >= 100 ? 2 : price >= 10 ? 3 : price >= 1 ? 4 : 6;
}

double asset_round(struct asset *a, double p)
{
    double scale, r;

    if (!isfinite(p) || p <= 0)
        return p;
    if (a->decimals < 0)
        a->decimals = asset_decimals_for(p);
    scale = pow(10.0, a->decimals);
    r = round(p * scale) / scale;
    return r > 0 ? r : p;
}

int assets_add(struct asset_list *list, const char *ticker, char *err, size_t errlen)
{
    const struct contract_asset *d;
    struct asset *a;

    if (!msg_ticker_valid(ticker)) {
        snprintf(err, errlen, "invalid symbol '%.40s'", ticker);
        return -1;
    }
    if (assets_find(list, ticker) >= 0)
        return 0;
    a = assets_grow(list);
    if (a == NULL)
        goto oom;
    snprintf(a->ticker, sizeof(a->ticker), "%s", ticker);
    d = contract_asset_find(ticker);
    a->start_price = d ? d->start_price : ASSETS_UNKNOWN_PRICE;
    a->volatility = d ? d->volatility : ASSETS_UNKNOWN_VOL;
    a->decimals = d ? asset_decimals_for(d->start_price) : -1;
    if (d != NULL) {
        a->company = assets_strdup_capped(d->company, MSG_COMPANY_MAX);
        a->display_name = assets_strdup_capped(d->display_name, MSG_NAME_MAX);
        if (a->company == NULL || a->display_name == NULL) {
            free(a->company);
            free(a->display_name);
            goto oom;
        }
    }
    list->len++;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int assets_load_defaults(struct asset_list *list)
{
    char err[ASSETS_ERR_MAX];

    for (size_t i = 0; i < contract_assets_len; i++) {
        if (assets_add(list, contract_assets[i].ticker, err, sizeof(err)) != 0)
            return -1;
    }
    return 0;
}

/* Copies the item [s, e) trimmed and upper-cased into out. -1 if too long. */
static int assets_copy_item(const char *s, const char *e, char *out, size_t outlen)
{
    size_t n = 0;

    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    if ((size_t)(e - s) >= outlen)
        return -1;
    for (; s < e; s++)
        out[n++] = (char)toupper((unsigned char)*s);
    out[n] = '\0';
    return 0;
}

int assets_parse(struct asset_list *list, const char *spec, char *err, size_t errlen)
{
    char item[MSG_TICKER_MAX];
    const char *p = spec;
    size_t items = 0;

    for (;;) {
        const char *e = strchr(p, ',');
        if (e == NULL)
            e = p + strlen(p);
        if (assets_copy_item(p, e, item, sizeof(item)) != 0) {
            snprintf(err, errlen, "symbol too long near '%.20s'", p);
            return -1;
        }
        if (item[0] != '\0') {
            if (++items > ASSETS_TICKERS_MAX) {
                snprintf(err, errlen, "more than %d symbols", ASSETS_TICKERS_MAX);
                return -1;
            }
            if (assets_add(list, item, err, errlen) != 0)
                return -1;
        }
        if (*e == '\0')
            break;
        p = e + 1;
    }
    if (list->len == 0) {
        snprintf(err, errlen, "no symbols");
        return -1;
    }
    return 0;
}

/* splitmix64: a small, well-mixed generator for synthetic parameters. */
static uint64_t assets_mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double assets_unit(uint64_t *s)
{
    return (double)(assets_mix(s) >> 11) * 0x1.0p-53;
}

int assets_add_synthetic(struct asset_list *list, size_t n, unsigned long long seed)
{
    uint64_t s = seed ^ 0x5EED5EED5EEDULL;

    for (size_t i = 0; i < n && i < ASSETS_SYNTHETIC_MAX; i++) {
        struct asset *a = assets_grow(list);
        if (a == NULL)
            return -1;
        snprintf(a->ticker, sizeof(a->ticker), "SYN%06zu", i);
        /* log-uniform between 1 and 10,000; volatility 0.1 .. 1.0 */
        a->start_price = pow(10.0, 4.0 * assets_unit(&s));
        a->volatility = 0.1 + 0.9 * assets_unit(&s);
        a->decimals = asset_decimals_for(a->start_price);
        list->len++;
    }
    return 0;
}

/* Parses one "T=v" override into ticker and vol. -1 with err. */
static int assets_parse_vol_item(const char *s, const char *e, char *ticker, size_t tlen,
                                 double *vol, char *err, size_t errlen)
{
    const char *eq = NULL;
    char num[32];
    char *end = NULL;

    /* Symbols may contain '=' (GC=F): split at the last one. */
    for (const char *q = s; q < e; q++) {
        if (*q == '=')
            eq = q;
    }
    if (eq == NULL || assets_copy_item(s, eq, ticker, tlen) != 0 ||
        assets_copy_item(eq + 1, e, num, sizeof(num)) != 0 || num[0] == '\0')
        goto bad;
    errno = 0;
    *vol = strtod(num, &end);
    if (*end != '\0' || errno != 0 || !isfinite(*vol) || *vol < 0 || *vol > 10)
        goto bad;
    return 0;
bad:
    snprintf(err, errlen, "expected SYMBOL=VOLATILITY (0..10) near '%.30s'", s);
    return -1;
}

int assets_set_volatility(struct asset_list *list, const char *spec, char *err, size_t errlen)
{
    char ticker[MSG_TICKER_MAX];
    const char *p = spec;
    double vol;

    for (;;) {
        const char *e = strchr(p, ',');
        long idx;
        if (e == NULL)
            e = p + strlen(p);
        if (e > p) {
            if (assets_parse_vol_item(p, e, ticker, sizeof(ticker), &vol, err, errlen) != 0)
                return -1;
            idx = assets_find(list, ticker);
            if (idx >= 0)
                list->items[idx].volatility = vol;
        }
        if (*e == '\0')
            return 0;
        p = e + 1;
    }
}

int assets_shard(struct asset_list *list, size_t instance, size_t instances)
{
    size_t kept = 0;

    if (instances == 0 || instance >= instances)
        return -1;
    for (size_t i = 0; i < list->len; i++) {
        if (i % instances == instance) {
            list->items[kept++] = list->items[i];
        } else {
            free(list->items[i].company);
            free(list->items[i].display_name);
        }
    }
    list->len = kept;
    return 0;
}

int assets_set_company(struct asset *a, const char *company)
{
    char *p = assets_strdup_capped(company, MSG_COMPANY_MAX);

    if (p == NULL)
        return -1;
    free(a->company);
    a->company = p;
    return 0;
}

void assets_free(struct asset_list *list)
{
    for (size_t i = 0; i < list->len; i++) {
        free(list->items[i].company);
        free(list->items[i].display_name);
    }
    free(list->items);
    list->items = NULL;
    list->len = 0;
    list->cap = 0;
}
