/* Fuzz target: what the webapp reads from a request line and headers —
 * the alert id in /api/delete-alert/{id}, Last-Event-ID, and the cross-site
 * check (Sec-Fetch-Site, Origin, Host, X-Forwarded-Host). The input is split
 * on NUL bytes into those strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    const char *part[5] = {NULL, NULL, NULL, NULL, NULL};
    size_t start = 0;
    int n = 0;
    long long id;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t i = 0; i <= size && n < 5; i++) {
        if (copy[i] == '\0') {
            part[n++] = copy + start;
            start = i + 1;
        }
    }
    if (msg_id_valid(part[0]) && strpbrk(part[0], "/.%") != NULL)
        abort(); /* an id that could walk a path or a key pattern */
    id = request_parse_event_id(part[0]);
    if (id < -1)
        abort();
    (void)request_is_cross_site(part[1], part[2], part[3], part[4]);
    free(copy);
    return 0;
}
