/* mailer: sends complete mails over SMTP with libcurl's multi interface,
 * several at once, each bounded by a connect and a total timeout; STARTTLS
 * whenever the server offers it (smtp://; or required), TLS from the start
 * (smtps://), the server's certificate always verified (against ca_file
 * when set). Used by the confirmation mails (confirm.h); not thread-safe (the main
 * thread's). The password is handed to libcurl and never logged. */
#ifndef NOTIFIER_MAILER_H
#define NOTIFIER_MAILER_H

#include <stddef.h>

#include "buf.h"
#include "email.h"
#include "sink.h"

#define MAILER_MSG_MAX (16 * 1024) /* a whole mail, headers included */

/* TLS of an smtp:// URL (smtps:// is TLS from the first byte either way). */
enum smtp_tls {
    SMTP_TLS_TRY = 0,  /* STARTTLS when the server offers it, else in clear */
    SMTP_TLS_REQUIRED, /* no STARTTLS offered: the attempt fails, nothing is sent */
};

struct smtp_config {
    char url[1024];                /* smtp://host:port or smtps://...; "" = off */
    char from[EMAIL_ADDR_MAX + 1]; /* envelope and From: address */
    char user[256];                /* "" = no AUTH */
    char password[256];            /* never logged */
    char ca_file[1024];            /* PEM CAs to trust; "" = the system store */
    enum smtp_tls tls;             /* of smtp:// */
    long timeout_ms;               /* one whole attempt */
    long connect_timeout_ms;
    int concurrency; /* mails in flight at once */
};

struct mailer;

/* A finished attempt: SINK_OK, SINK_RETRY (network, timeout, SMTP 4xx, a
 * TLS failure: no STARTTLS offered when required, a certificate that does
 * not verify) or SINK_FAIL (SMTP 5xx, AUTH refused, a URL libcurl cannot
 * use); err is a short reason (NULL on SINK_OK, never the password), valid
 * during the call only. */
typedef void (*mailer_done_fn)(void *ctx, void *ud, enum sink_result r, const char *err);

/* A mailer for c (copied). Returns NULL with err. Needs curl_global_init. */
struct mailer *mailer_new(const struct smtp_config *c, char *err, size_t errlen);

/* Starts sending msg (len bytes, copied: a mail of mailer_compose) to the
 * checked address to; ud comes back through mailer_poll's done. Returns 0,
 * or -1 with err (out of memory: nothing started). */
int mailer_send(struct mailer *m, const char *to, const char *msg, size_t len, void *ud, char *err,
                size_t errlen);

/* Drives the transfers for up to timeout_ms and calls done once for each
 * that finished. Returns how many are still in flight. */
int mailer_poll(struct mailer *m, int timeout_ms, mailer_done_fn done, void *ctx);

/* Mails in flight. */
int mailer_inflight(const struct mailer *m);

/* Aborts what is in flight (done is not called) and frees m; NULL is a
 * no-op. */
void mailer_free(struct mailer *m);

/* Writes a text/plain UTF-8 mail into out (initialised by the caller, at
 * most MAILER_MSG_MAX): Date, From, To, Subject (encoded with
 * email_header_append: no text of subject can add a header), Message-ID
 * (<id@the from address's domain>), MIME headers, extra (NULL, or header
 * lines each ending in CRLF, made by the caller of fixed text and checked
 * ids only), then body with CRLF line ends. from and to must have passed
 * email_addr_check, id is [A-Za-z0-9._-]. Returns 0, or -1 when out's cap
 * is reached (out freed). */
int mailer_compose(struct buf *out, const char *from, const char *to, const char *id,
                   const char *subject, const char *extra, const char *body);

#endif
