/* secret: the cookie secret's rules. Where it comes from (COOKIE_SECRET, else
 * the file COOKIE_SECRET_FILE names, as compose's secret-init job writes it)
 * and which secrets are refused because anybody could guess them: too short,
 * a known placeholder, too few different characters, a repeated pattern or a
 * plain sequence. The secret itself is never quoted in an error. */
#include "webapp.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "contract.h"

/* Fewer different characters than this is a pattern, not a key: 32 random hex
 * digits show fewer than 8 different ones about 4 times in 10^8. */
#define SECRET_DISTINCT_MIN 8

/* Words of the placeholders people copy from examples, the one compose used
 * to carry ("change-me-to-64-random-hex-characters-...") among them. */
static const char *const secret_placeholders[] = {
    "changeme",   "change-me",   "change_me",  "change me",   "replaceme",   "replace-me",
    "replace_me", "placeholder", "yoursecret", "your-secret", "your_secret", NULL};

/* Whether s (len bytes) holds word, ignoring case. */
static int secret_has_word(const char *s, size_t len, const char *word)
{
    size_t wlen = strlen(word);

    for (size_t i = 0; i + wlen <= len; i++) {
        size_t k = 0;
        while (k < wlen && tolower((unsigned char)s[i + k]) == word[k])
            k++;
        if (k == wlen)
            return 1;
    }
    return 0;
}

static size_t secret_distinct(const char *s, size_t len)
{
    unsigned char seen[256] = {0};
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        if (!seen[(unsigned char)s[i]]) {
            seen[(unsigned char)s[i]] = 1;
            n++;
        }
    }
    return n;
}

/* Whether s is a shorter string repeated (period at most half its length). */
static int secret_periodic(const char *s, size_t len)
{
    for (size_t p = 1; p <= len / 2; p++) {
        size_t i = 0;
        while (i + p < len && s[i] == s[i + p])
            i++;
        if (i + p == len)
            return 1;
    }
    return 0;
}

/* Whether every character is the one before plus the same step. */
static int secret_sequence(const char *s, size_t len)
{
    int step;

    if (len < 3)
        return 1;
    step = (unsigned char)s[1] - (unsigned char)s[0];
    for (size_t i = 2; i < len; i++) {
        if ((unsigned char)s[i] - (unsigned char)s[i - 1] != step)
            return 0;
    }
    return 1;
}

const char *secret_weakness(const char *s, size_t len)
{
    if (len < WEBAPP_SECRET_MIN)
        return "shorter than " CONTRACT_TEXT(WEBAPP_SECRET_MIN) " characters";
    for (size_t i = 0; secret_placeholders[i] != NULL; i++) {
        if (secret_has_word(s, len, secret_placeholders[i]))
            return "a placeholder, not a secret";
    }
    if (secret_distinct(s, len) < SECRET_DISTINCT_MIN)
        return "fewer than 8 different characters";
    if (secret_periodic(s, len))
        return "a repeated pattern";
    if (secret_sequence(s, len))
        return "a sequence of characters";
    return NULL;
}

int secret_read_file(const char *path, char *out, size_t outlen, size_t *len, char *err,
                     size_t errlen)
{
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;

    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    /* One byte more than fits tells a file that is too long. */
    while (n < outlen) {
        ssize_t got = read(fd, out + n, outlen - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (n == outlen) {
        snprintf(err, errlen, "%s holds more than %zu bytes", path, outlen - 1);
        goto out;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    if (memchr(out, '\0', n) != NULL) {
        snprintf(err, errlen, "%s holds a NUL byte", path);
        goto out;
    }
    *len = n;
    rc = 0;
out:
    if (rc != 0)
        memset(out, 0, outlen);
    close(fd);
    return rc;
}
