/* assets: the dashboard (index.html, app.js, style.css) and openapi.json.
 * Built into the binary (cmake/embed.cmake), so a replica needs no files;
 * WEBAPP_STATIC_DIR serves the dashboard from a folder instead (read once at
 * start), for editing it without a rebuild. Each file has a content hash,
 * its ETag; the page names its script and style sheet with it (?v=), so
 * those are cached for a year and a new build is fetched at once. */
#include "webapp.h"

#include "hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#define ASSETS_FILE_MAX (1024 * 1024)

extern const unsigned char asset_index_html[];
extern const size_t asset_index_html_len;
extern const unsigned char asset_app_js[];
extern const size_t asset_app_js_len;
extern const unsigned char asset_style_css[];
extern const size_t asset_style_css_len;
extern const unsigned char asset_openapi_json[];
extern const size_t asset_openapi_json_len;

enum { ASSET_INDEX, ASSET_APP, ASSET_STYLE, ASSET_OPENAPI, ASSET_COUNT };

static struct asset assets_tab[ASSET_COUNT];
static unsigned char *assets_loaded[ASSET_COUNT]; /* from WEBAPP_STATIC_DIR, owned */
static unsigned char *assets_page;                /* index.html with hashed URLs, owned */
static const char *const assets_files[ASSET_COUNT] = {"index.html", "app.js", "style.css", NULL};

/* Reads dir/name whole (at most ASSETS_FILE_MAX). NULL with err. */
static unsigned char *assets_read(const char *dir, const char *name, size_t *len, char *err,
                                  size_t errlen)
{
    char path[1200];
    unsigned char *data = NULL;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "WEBAPP_STATIC_DIR: cannot open %s", path);
        return NULL;
    }
    data = malloc(ASSETS_FILE_MAX + 1);
    if (data == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    n = fread(data, 1, ASSETS_FILE_MAX + 1, f);
    if (ferror(f) || n > ASSETS_FILE_MAX) {
        snprintf(err, errlen, "WEBAPP_STATIC_DIR: %s unreadable or over 1 MiB", path);
        free(data);
        data = NULL;
        goto out;
    }
    *len = n;
out:
    fclose(f);
    return data;
}

/* FNV-1a, 64 bits, as 16 hex digits: a validator, not a security hash. */
static void assets_tag(struct asset *a)
{
    snprintf(a->tag, sizeof(a->tag), "%016llx", (unsigned long long)hash_fnv1a64(a->data, a->len));
}

/* Appends to out (at *n, room for cap) len bytes of s. -1 when full. */
static int assets_put(unsigned char *out, size_t cap, size_t *n, const void *s, size_t len)
{
    if (len > cap - *n)
        return -1;
    memcpy(out + *n, s, len);
    *n += len;
    return 0;
}

/* The page with every "<name>\"" of app.js and style.css followed by its
 * ?v=<tag>. Returns 0 (assets_page owned), or -1 with err. */
static int assets_hash_urls(char *err, size_t errlen)
{
    const struct asset *ref[] = {&assets_tab[ASSET_APP], &assets_tab[ASSET_STYLE]};
    const struct asset *page = &assets_tab[ASSET_INDEX];
    size_t cap = page->len + 64 * 8, n = 0, i = 0;
    unsigned char *out = malloc(cap);

    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (i < page->len) {
        size_t k, used = 0;
        for (k = 0; k < 2; k++) {
            size_t nl = strlen(ref[k]->name);
            char v[8 + ASSETS_TAG_LEN];
            if (page->len - i > nl && memcmp(page->data + i, ref[k]->name, nl) == 0 &&
                page->data[i + nl] == '"') {
                snprintf(v, sizeof(v), "?v=%s", ref[k]->tag);
                if (assets_put(out, cap, &n, ref[k]->name, nl) != 0 ||
                    assets_put(out, cap, &n, v, strlen(v)) != 0)
                    goto full;
                used = nl;
                break;
            }
        }
        if (used == 0) {
            if (assets_put(out, cap, &n, page->data + i, 1) != 0)
                goto full;
            used = 1;
        }
        i += used;
    }
    assets_page = out;
    assets_tab[ASSET_INDEX].data = out;
    assets_tab[ASSET_INDEX].len = n;
    return 0;
full:
    free(out);
    snprintf(err, errlen, "index.html: too many asset references");
    return -1;
}

/* Tags every file and rewrites the page's URLs. */
static int assets_finish(char *err, size_t errlen)
{
    for (int i = 0; i < ASSET_COUNT; i++)
        assets_tag(&assets_tab[i]);
    if (assets_hash_urls(err, errlen) != 0)
        return -1;
    assets_tag(&assets_tab[ASSET_INDEX]);
    return 0;
}

int assets_init(const char *dir, char *err, size_t errlen)
{
    assets_tab[ASSET_INDEX] =
        (struct asset){"/", "text/html; charset=utf-8", asset_index_html, asset_index_html_len, ""};
    assets_tab[ASSET_APP] = (struct asset){"/static/app.js", "text/javascript; charset=utf-8",
                                           asset_app_js, asset_app_js_len, ""};
    assets_tab[ASSET_STYLE] = (struct asset){"/static/style.css", "text/css; charset=utf-8",
                                             asset_style_css, asset_style_css_len, ""};
    assets_tab[ASSET_OPENAPI] = (struct asset){"/openapi.json", "application/json",
                                               asset_openapi_json, asset_openapi_json_len, ""};
    if (dir == NULL || dir[0] == '\0')
        return assets_finish(err, errlen);
    for (int i = 0; i < ASSET_COUNT; i++) {
        size_t len = 0;
        if (assets_files[i] == NULL)
            continue;
        assets_loaded[i] = assets_read(dir, assets_files[i], &len, err, errlen);
        if (assets_loaded[i] == NULL) {
            assets_free();
            return -1;
        }
        assets_tab[i].data = assets_loaded[i];
        assets_tab[i].len = len;
    }
    if (assets_finish(err, errlen) != 0) {
        assets_free();
        return -1;
    }
    return 0;
}

void assets_free(void)
{
    free(assets_page);
    assets_page = NULL;
    for (int i = 0; i < ASSET_COUNT; i++) {
        free(assets_loaded[i]);
        assets_loaded[i] = NULL;
    }
}

const struct asset *assets_find(const char *path)
{
    if (strcmp(path, "/index.html") == 0)
        return &assets_tab[ASSET_INDEX];
    for (int i = 0; i < ASSET_COUNT; i++) {
        if (assets_tab[i].name != NULL && strcmp(path, assets_tab[i].name) == 0)
            return &assets_tab[i];
    }
    return NULL;
}

int assets_not_modified(struct MHD_Connection *conn, const struct asset *a)
{
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");

    /* A list ("a", "b") or W/ prefixes: the tag appearing quoted is enough. */
    if (inm == NULL)
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    for (const char *p = strstr(inm, a->tag); p != NULL; p = strstr(p + 1, a->tag)) {
        if (p > inm && p[-1] == '"' && p[ASSETS_TAG_LEN] == '"')
            return 1;
    }
    return 0;
}

enum MHD_Result assets_reply(struct MHD_Connection *conn, const struct asset *a)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "v");
    int hashed = v != NULL && strcmp(v, a->tag) == 0;
    int fresh = assets_not_modified(conn, a);
    struct MHD_Response *r =
        assets_response(a, fresh, hashed ? "public, max-age=31536000, immutable" : "no-cache");

    if (r == NULL)
        return MHD_NO;
    return reply_response(conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
}

struct MHD_Response *assets_response(const struct asset *a, int fresh, const char *cache_control)
{
    char etag[ASSETS_TAG_LEN + 3];
    struct MHD_Response *r;

    r = MHD_create_response_from_buffer(fresh ? 0 : a->len, (void *)(uintptr_t)a->data,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return NULL;
    snprintf(etag, sizeof(etag), "\"%s\"", a->tag);
    MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Cache-Control", cache_control);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (!fresh)
        MHD_add_response_header(r, "Content-Type", a->type);
    return r;
}
