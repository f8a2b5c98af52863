/* Fuzz target: the strict parsers behind the CSRF rules — Origin, the
 * origin of a Referer URL, Host — and the Content-Type check. Properties:
 * an accepted origin is well-formed (lower-case host of the allowed
 * characters, port 1..65535), reads back the same when printed again, is
 * the same origin as a request to it, and holds no userinfo; whatever
 * request_is_json_type accepts is application/json then nothing, spaces or
 * parameters, on one line. The input is one string (NULs end it). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_origin(const struct request_origin *o)
{
    size_t n = strlen(o->host);

    if (n == 0 || n >= sizeof(o->host) || o->port == 0 || o->port > 65535 ||
        strspn(o->host, "abcdefghijklmnopqrstuvwxyz0123456789.-_[]:") != n ||
        strchr(o->host, '@') != NULL)
        abort();
}

/* Printed again, the origin parses to itself and is same-origin with a
 * request whose Host (and scheme) it names. */
static void fuzz_check_roundtrip(const struct request_origin *o)
{
    char text[300], host[280];
    struct request_origin again;
    struct request_site site;

    snprintf(text, sizeof(text), "%s://%s:%u", o->https ? "https" : "http", o->host, o->port);
    snprintf(host, sizeof(host), "%s:%u", o->host, o->port);
    if (request_parse_origin(text, &again) != 0 || again.https != o->https ||
        again.port != o->port || strcmp(again.host, o->host) != 0)
        abort();
    site = (struct request_site){
        .origin = text, .referer = text, .host = host, .fwd_proto = o->https ? "https" : "http"};
    if (request_is_cross_site(&site))
        abort();
    site.sec_fetch_site = "same-site";
    if (!request_is_cross_site(&site))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct request_origin o;
    const char *t;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (request_parse_origin(s, &o) == 0) {
        fuzz_check_origin(&o);
        fuzz_check_roundtrip(&o);
        if (request_parse_url_origin(s, &o) != 0) /* an origin is a URL */
            abort();
    }
    if (request_parse_url_origin(s, &o) == 0) {
        fuzz_check_origin(&o);
        fuzz_check_roundtrip(&o);
    }
    if (request_parse_host(s, 0, &o) == 0) {
        fuzz_check_origin(&o);
        fuzz_check_roundtrip(&o);
    }
    if (request_is_json_type(s)) {
        t = s + strspn(s, " \t");
        if (strncasecmp(t, "application/json", 16) != 0 || strchr(" \t;", t[16]) == NULL ||
            strpbrk(t, "\r\n") != NULL)
            abort();
    }
    free(s);
    return 0;
}
