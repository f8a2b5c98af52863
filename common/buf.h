/* buf: a growable byte buffer with a hard size cap (curl's dynbuf habit).
 * A failed append frees the contents and leaves an empty buffer. */
#ifndef SA_BUF_H
#define SA_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* NUL-terminated when non-NULL; owned by the buf */
    size_t len;
    size_t alloc;
    size_t max; /* the cap: len never exceeds it */
};

/* Starts an empty buffer that may grow to at most max bytes. */
void buf_init(struct buf *b, size_t max);

/* Appends n bytes. Returns 0, or -1 (over the cap or out of memory) after
 * freeing the contents. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string; as buf_append. */
int buf_puts(struct buf *b, const char *s);

/* Appends printf-formatted text; as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);

/* Frees the contents; the buffer may be reused after buf_init. */
void buf_free(struct buf *b);

/* The lower-case hex of in[0..n) into out (2n + 1 bytes, NUL-terminated). */
void buf_hex(const unsigned char *in, size_t n, char *out);

#endif
