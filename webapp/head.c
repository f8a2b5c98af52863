/* head: which connections the front (front.c) serves itself. It reads the
 * first bytes a client sent, without consuming them, and says whether they
 * are a plain, complete "GET /api/stream-prices" head that the raw price
 * streams (stream.c) answer exactly as libmicrohttpd would; anything else,
 * valid or not, goes to libmicrohttpd, which answers as before (431, 400,
 * 501, 405, ...). So this parser only has to be right about what it accepts.
 * Pure: no I/O, bounded by len. */
#include "webapp.h"

#include <string.h>
#include <strings.h>

#define HEAD_PATH "GET /api/stream-prices"
#define HEAD_VERSION " HTTP/1.1\r\n"

/* RFC 9110 tchar. */
static int head_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A byte allowed in a header value: HTAB, SP, VCHAR and obs-text. */
static int head_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int head_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* The request line: HEAD_PATH, an optional query of visible characters,
 * HEAD_VERSION. Returns its length, 0 when it needs more bytes, -1 when it
 * is not a clean price stream request line. */
static long head_request_line(const char *b, size_t len)
{
    size_t plen = sizeof(HEAD_PATH) - 1;
    size_t i;

    if (memcmp(b, HEAD_PATH, len < plen ? len : plen) != 0)
        return -1;
    if (len <= plen)
        return 0;
    i = plen;
    if (b[i] == '?') {
        for (i++; i < len && (unsigned char)b[i] > 0x20 && (unsigned char)b[i] < 0x7f; i++)
            ;
        if (i == len)
            return 0;
    }
    if (b[i] != ' ')
        return -1;
    plen = sizeof(HEAD_VERSION) - 1;
    if (memcmp(b + i, HEAD_VERSION, len - i < plen ? len - i : plen) != 0)
        return -1;
    if (len - i < plen)
        return 0;
    return (long)(i + plen);
}

/* What the header fields say, counted as http.c's http_refuse_head counts. */
struct head_scan {
    size_t bytes;
    size_t cookie_bytes;
    int host;
};

/* One header line b[0..n) (without its CRLF). Returns 0, or -1 when the
 * line is one libmicrohttpd must see: malformed, folded, or a field that
 * changes framing or the response (a body, Connection other than
 * keep-alive, Expect, Upgrade). */
static int head_field(const char *b, size_t n, struct head_scan *s)
{
    size_t name = 0;
    size_t v;

    while (name < n && head_tchar((unsigned char)b[name]))
        name++;
    if (name == 0 || name == n || b[name] != ':')
        return -1;
    for (v = name + 1; v < n; v++) {
        if (!head_value_char((unsigned char)b[v]))
            return -1;
    }
    v = name + 1;
    while (v < n && (b[v] == ' ' || b[v] == '\t'))
        v++;
    while (n > v && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    s->bytes += name + (n - v) + 4;
    if (head_is(b, name, "Cookie")) {
        s->cookie_bytes += n - v;
    } else if (head_is(b, name, "Host")) {
        s->host++;
    } else if (head_is(b, name, "Connection")) {
        if (!head_is(b + v, n - v, "keep-alive"))
            return -1;
    } else if (head_is(b, name, "Content-Length") || head_is(b, name, "Transfer-Encoding") ||
               head_is(b, name, "Expect") || head_is(b, name, "Upgrade")) {
        return -1;
    }
    return 0;
}

enum head_verdict head_classify(const char *b, size_t len, size_t *head_len)
{
    struct head_scan s = {0, 0, 0};
    long line = head_request_line(b, len);
    size_t i;

    *head_len = 0;
    if (line < 0)
        return HEAD_OTHER;
    if (line == 0)
        return HEAD_MORE;
    i = (size_t)line;
    for (;;) {
        const char *eol = memchr(b + i, '\n', len - i);
        size_t n;
        if (eol == NULL)
            return HEAD_MORE;
        n = (size_t)(eol - (b + i));
        if (n == 0 || b[i + n - 1] != '\r')
            return HEAD_OTHER; /* a bare LF */
        n--;
        if (n == 0) {
            i += 2;
            break; /* the empty line: the head is complete */
        }
        if (head_field(b + i, n, &s) != 0)
            return HEAD_OTHER;
        i += n + 2;
    }
    if (s.host != 1 || s.cookie_bytes > WEBAPP_COOKIE_MAX || s.bytes > WEBAPP_HEADERS_MAX)
        return HEAD_OTHER;
    *head_len = i;
    return HEAD_STREAM_PRICES;
}
