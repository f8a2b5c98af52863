/* email: the address check and the header and body encoders of email.h.
 * Deliberately narrower than RFC 5322: an address a user types into a
 * settings form, nothing that needs quoting, so no caller has to. */
#include "email.h"

#include <stdio.h>
#include <string.h>

#define EMAIL_WORD_CHUNK 45 /* raw bytes per encoded word: 60 base64 + 12 = 72 */

static int email_fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "%s", why);
    return -1;
}

/* atext of RFC 5322 (letters, digits and these signs). */
static int email_is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int email_is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static int email_local_check(const char *s, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return email_fail(err, errlen, "missing the part before @");
    if (n > EMAIL_LOCAL_MAX)
        return email_fail(err, errlen, "the part before @ is over 64 characters");
    if (s[0] == '.' || s[n - 1] == '.')
        return email_fail(err, errlen, "the part before @ starts or ends with a dot");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return email_fail(err, errlen, "two dots in a row");
        if (c != '.' && !email_is_atext(c))
            return email_fail(err, errlen, "a character not allowed before @");
    }
    return 0;
}

static int email_domain_check(const char *s, size_t n, char *err, size_t errlen)
{
    size_t labels = 0;
    size_t start = 0;

    if (n == 0)
        return email_fail(err, errlen, "missing the domain after @");
    for (size_t i = 0; i <= n; i++) {
        size_t len;

        if (i < n && s[i] != '.') {
            if (!email_is_ldh((unsigned char)s[i]))
                return email_fail(err, errlen, "a character not allowed in the domain");
            continue;
        }
        len = i - start;
        if (len == 0)
            return email_fail(err, errlen, "an empty label in the domain");
        if (len > EMAIL_LABEL_MAX)
            return email_fail(err, errlen, "a domain label over 63 characters");
        if (s[start] == '-' || s[i - 1] == '-')
            return email_fail(err, errlen, "a domain label starts or ends with a hyphen");
        labels++;
        start = i + 1;
    }
    if (labels < 2)
        return email_fail(err, errlen, "the domain needs a dot");
    return 0;
}

int email_addr_check(const char *addr, size_t len, char *err, size_t errlen)
{
    const char *at;

    if (addr == NULL || len == 0)
        return email_fail(err, errlen, "empty");
    if (len > EMAIL_ADDR_MAX)
        return email_fail(err, errlen, "over 254 characters");
    if (memchr(addr, '\0', len) != NULL)
        return email_fail(err, errlen, "a character not allowed before @");
    at = memchr(addr, '@', len);
    if (at == NULL)
        return email_fail(err, errlen, "missing @");
    if (memchr(at + 1, '@', len - (size_t)(at - addr) - 1) != NULL)
        return email_fail(err, errlen, "more than one @");
    if (email_local_check(addr, (size_t)(at - addr), err, errlen) != 0)
        return -1;
    return email_domain_check(at + 1, len - (size_t)(at - addr) - 1, err, errlen);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid
 * (overlong forms, surrogates and values past U+10FFFF included). */
static size_t email_utf8_len(const unsigned char *s, size_t n)
{
    size_t need;
    unsigned long cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        need = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        need = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        need = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

static int email_is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

static int email_plain_ascii(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x80)
            return 0;
    }
    return 1;
}

static int email_base64_append(struct buf *out, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];

    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)p[i] << 16;

        if (i + 1 < n)
            v |= (unsigned long)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        q[0] = tab[(v >> 18) & 63];
        q[1] = tab[(v >> 12) & 63];
        q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        if (buf_append(out, q, 4) != 0)
            return -1;
    }
    return 0;
}

int email_header_append(struct buf *out, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char chunk[EMAIL_WORD_CHUNK + 4];
    size_t used = 0;
    int words = 0;

    if (email_plain_ascii(s, len)) {
        for (size_t i = 0; i < len; i++) {
            char c = email_is_control(s[i]) ? ' ' : (char)s[i];

            if (buf_append(out, &c, 1) != 0)
                return -1;
        }
        return 0;
    }
    for (size_t i = 0; i <= len;) {
        size_t n = i < len ? email_utf8_len(s + i, len - i) : 0;
        int flush = i == len || used + (n == 0 ? 1 : n) > EMAIL_WORD_CHUNK;

        if (flush && used > 0) {
            if (buf_puts(out, words > 0 ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?") != 0 ||
                email_base64_append(out, chunk, used) != 0 || buf_puts(out, "?=") != 0)
                return -1;
            words++;
            used = 0;
        }
        if (i == len)
            break;
        if (n == 0) {
            chunk[used++] = '?';
            i++;
        } else if (n == 1) {
            chunk[used++] = email_is_control(s[i]) ? ' ' : s[i];
            i++;
        } else {
            memcpy(chunk + used, s + i, n);
            used += n;
            i += n;
        }
    }
    return 0;
}

int email_body_append(struct buf *out, const char *text, size_t len)
{
    size_t col = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < len && text[i + 1] == '\n')
                i++;
            if (buf_append(out, "\r\n", 2) != 0)
                return -1;
            col = 0;
            continue;
        }
        if (col >= EMAIL_HEADER_MAX) {
            if (buf_append(out, "\r\n", 2) != 0)
                return -1;
            col = 0;
        }
        if (c != '\t' && email_is_control((unsigned char)c))
            c = ' ';
        if (buf_append(out, &c, 1) != 0)
            return -1;
        col++;
    }
    return 0;
}
