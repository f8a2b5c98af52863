/* Fuzz target: what a user types as an e-mail address, and any text put in
 * a mail header or body. An accepted address holds nothing that can end a
 * header or an SMTP command; an encoded header value never holds a CR or LF
 * but in its own folds (CRLF + space); a body has CR only before LF. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "email.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_header(const struct buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
            abort();
        if (b->data[i] == '\r' &&
            (i + 2 >= b->len || b->data[i + 1] != '\n' || b->data[i + 2] != ' '))
            abort();
    }
}

static void fuzz_check_body(const struct buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] == '\r' && (i + 1 >= b->len || b->data[i + 1] != '\n'))
            abort();
        if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char err[128];
    struct buf b;

    if (email_addr_check(s, size, err, sizeof(err)) == 0 &&
        (memchr(s, '\r', size) != NULL || memchr(s, '\n', size) != NULL ||
         memchr(s, ' ', size) != NULL || memchr(s, '<', size) != NULL ||
         memchr(s, '>', size) != NULL || memchr(s, ',', size) != NULL || size > EMAIL_ADDR_MAX))
        abort();
    buf_init(&b, 64 * 1024);
    if (email_header_append(&b, s, size) == 0 && b.data != NULL)
        fuzz_check_header(&b);
    buf_free(&b);
    buf_init(&b, 64 * 1024);
    if (email_body_append(&b, s, size) == 0 && b.data != NULL)
        fuzz_check_body(&b);
    buf_free(&b);
    return 0;
}
