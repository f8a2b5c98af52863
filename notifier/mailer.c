/* mailer: SMTP over one curl multi handle (mailer.h). Each mail is an easy
 * handle reading its own copy of the message; what a server answers
 * decides between a retry (4xx, no answer) and a permanent failure (5xx). */
#include "mailer.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mail_req {
    struct mail_req *next;
    CURL *easy;
    struct curl_slist *rcpt;
    char *msg;
    size_t len;
    size_t sent;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
};

struct mailer {
    struct smtp_config cfg;
    char from_path[EMAIL_ADDR_MAX + 3]; /* "<from>" */
    CURLM *multi;
    struct mail_req *reqs;
    int inflight;
};

static size_t mailer_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    struct mail_req *r = ud;
    size_t room = size * nmemb;
    size_t n = r->len - r->sent;

    if (n > room)
        n = room;
    memcpy(dst, r->msg + r->sent, n);
    r->sent += n;
    return n;
}

static void mailer_req_free(struct mail_req *r)
{
    if (r == NULL)
        return;
    if (r->easy != NULL)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->rcpt);
    free(r->msg);
    free(r);
}

static int mailer_easy_setup(struct mailer *m, struct mail_req *r)
{
    const struct smtp_config *c = &m->cfg;
    CURL *e = r->easy;

    if (curl_easy_setopt(e, CURLOPT_URL, c->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USE_SSL,
                         c->tls == SMTP_TLS_REQUIRED ? (long)CURLUSESSL_ALL
                                                     : (long)CURLUSESSL_TRY) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, m->from_path) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, r->rcpt) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_INFILESIZE, (long)r->len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_READFUNCTION, mailer_read) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_READDATA, r) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK)
        return -1;
    if (c->ca_file[0] != '\0' && curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) != CURLE_OK)
        return -1;
    if (c->user[0] != '\0' && (curl_easy_setopt(e, CURLOPT_USERNAME, c->user) != CURLE_OK ||
                               curl_easy_setopt(e, CURLOPT_PASSWORD, c->password) != CURLE_OK))
        return -1;
    return 0;
}

struct mailer *mailer_new(const struct smtp_config *c, char *err, size_t errlen)
{
    struct mailer *m = calloc(1, sizeof(*m));

    if (m == NULL || (m->multi = curl_multi_init()) == NULL) {
        free(m);
        snprintf(err, errlen, "mailer: out of memory");
        return NULL;
    }
    m->cfg = *c;
    snprintf(m->from_path, sizeof(m->from_path), "<%s>", c->from);
    curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->concurrency);
    return m;
}

int mailer_send(struct mailer *m, const char *to, const char *msg, size_t len, void *ud, char *err,
                size_t errlen)
{
    struct mail_req *r = calloc(1, sizeof(*r));
    char path[EMAIL_ADDR_MAX + 3];

    if (r == NULL)
        goto fail;
    snprintf(path, sizeof(path), "<%s>", to);
    r->ud = ud;
    r->len = len;
    r->msg = malloc(len > 0 ? len : 1);
    r->easy = curl_easy_init();
    r->rcpt = curl_slist_append(NULL, path);
    if (r->msg == NULL || r->easy == NULL || r->rcpt == NULL)
        goto fail;
    memcpy(r->msg, msg, len);
    if (mailer_easy_setup(m, r) != 0 || curl_multi_add_handle(m->multi, r->easy) != CURLM_OK)
        goto fail;
    r->next = m->reqs;
    m->reqs = r;
    m->inflight++;
    return 0;
fail:
    mailer_req_free(r);
    snprintf(err, errlen, "cannot start a mail (out of memory)");
    return -1;
}

/* The server's last reply decides: 5xx is final (a refused recipient or
 * sender, a mail it will never take), anything else is worth a retry. */
static enum sink_result mailer_classify(CURLcode cc, long code, const char *errbuf, char *err,
                                        size_t errlen)
{
    if (cc == CURLE_OK)
        return SINK_OK;
    snprintf(err, errlen, "%.200s (smtp %ld)", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc),
             code);
    if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT || cc == CURLE_LOGIN_DENIED ||
        (code >= 500 && code < 600))
        return SINK_FAIL;
    return SINK_RETRY;
}

static void mailer_unlink(struct mailer *m, struct mail_req *r)
{
    for (struct mail_req **p = &m->reqs; *p != NULL; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    curl_multi_remove_handle(m->multi, r->easy);
    m->inflight--;
}

int mailer_poll(struct mailer *m, int timeout_ms, mailer_done_fn done, void *ctx)
{
    int running = 0;
    int left = 0;
    CURLMsg *msg;

    if (m->inflight == 0)
        return 0;
    curl_multi_perform(m->multi, &running);
    if (running > 0 && timeout_ms > 0) {
        curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
        curl_multi_perform(m->multi, &running);
    }
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        struct mail_req *r = NULL;
        char err[SINK_ERR_MAX] = "";
        long code = 0;
        enum sink_result res;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        res = mailer_classify(msg->data.result, code, r->errbuf, err, sizeof(err));
        mailer_unlink(m, r);
        done(ctx, r->ud, res, res == SINK_OK ? NULL : err);
        mailer_req_free(r);
    }
    return m->inflight;
}

int mailer_inflight(const struct mailer *m)
{
    return m->inflight;
}

void mailer_free(struct mailer *m)
{
    struct mail_req *r;

    if (m == NULL)
        return;
    while ((r = m->reqs) != NULL) {
        m->reqs = r->next;
        curl_multi_remove_handle(m->multi, r->easy);
        mailer_req_free(r);
    }
    curl_multi_cleanup(m->multi);
    free(m);
}

int mailer_compose(struct buf *out, const char *from, const char *to, const char *id,
                   const char *subject, const char *extra, const char *body)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    if (buf_printf(out, "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nMessage-ID: <%s@%s>\r\nSubject: ",
                   date, from, to, id, strchr(from, '@') + 1) != 0 ||
        email_header_append(out, subject, strlen(subject)) != 0 ||
        buf_puts(out,
                 "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n") != 0 ||
        buf_puts(out, extra != NULL ? extra : "") != 0 || buf_puts(out, "\r\n") != 0 ||
        email_body_append(out, body, strlen(body)) != 0 || buf_puts(out, "\r\n") != 0)
        return -1;
    return 0;
}
