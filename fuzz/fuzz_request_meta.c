/* Fuzz target: what the webapp reads from a request line and headers —
 * the alert id in /api/delete-alert/{id}, Last-Event-ID (a history position:
 * what parses prints back and parses to the same), and the cross-site
 * check (Sec-Fetch-Site, Origin, Referer, Host, X-Forwarded-Host,
 * X-Forwarded-Proto). The input is split on NUL bytes into those strings.
 * The origin parsers' own properties are fuzz_request_site's. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    const char *part[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    struct request_site site;
    size_t start = 0;
    int n = 0;
    struct evid id, again;
    char text[EVID_TEXT_MAX];

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t i = 0; i <= size && n < 7; i++) {
        if (copy[i] == '\0') {
            part[n++] = copy + start;
            start = i + 1;
        }
    }
    if (msg_id_valid(part[0]) && strpbrk(part[0], "/.%") != NULL)
        abort(); /* an id that could walk a path or a key pattern */
    if (part[0] != NULL && evid_parse(part[0], &id) == 0) {
        if (strlen(part[0]) > EVID_INPUT_MAX || evid_parse(evid_format(&id, text), &again) != 0 ||
            evid_cmp(&id, &again) != 0)
            abort();
    }
    site = (struct request_site){.sec_fetch_site = part[1],
                                 .origin = part[2],
                                 .referer = part[3],
                                 .host = part[4],
                                 .fwd_host = part[5],
                                 .fwd_proto = part[6]};
    (void)request_is_cross_site(&site);
    free(copy);
    return 0;
}
