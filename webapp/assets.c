/* assets: the dashboard (index.html, app.js, style.css) and openapi.json.
 * Built into the binary (cmake/embed.cmake), so a replica needs no files;
 * WEBAPP_STATIC_DIR serves the dashboard from a folder instead (read once at
 * start), for editing it without a rebuild. */
#include "webapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int assets_init(const char *dir, char *err, size_t errlen)
{
    assets_tab[ASSET_INDEX] =
        (struct asset){"/", "text/html; charset=utf-8", asset_index_html, asset_index_html_len};
    assets_tab[ASSET_APP] = (struct asset){"/static/app.js", "text/javascript; charset=utf-8",
                                           asset_app_js, asset_app_js_len};
    assets_tab[ASSET_STYLE] = (struct asset){"/static/style.css", "text/css; charset=utf-8",
                                             asset_style_css, asset_style_css_len};
    assets_tab[ASSET_OPENAPI] = (struct asset){"/openapi.json", "application/json",
                                               asset_openapi_json, asset_openapi_json_len};
    if (dir == NULL || dir[0] == '\0')
        return 0;
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
    return 0;
}

void assets_free(void)
{
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
