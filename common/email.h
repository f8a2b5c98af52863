/* email: what an e-mail address and a mail header may hold. Shared by the
 * webapp (checking an address a user enters) and the notifier (building the
 * mails it sends), so both sides accept exactly the same addresses and no
 * text from a user ever reaches a header unescaped. */
#ifndef SA_EMAIL_H
#define SA_EMAIL_H

#include <stddef.h>

#include "buf.h"

#define EMAIL_ADDR_MAX 254   /* RFC 5321's path limit, without the brackets */
#define EMAIL_LOCAL_MAX 64   /* local part */
#define EMAIL_LABEL_MAX 63   /* one domain label */
#define EMAIL_HEADER_MAX 998 /* a header line, RFC 5322 */

/* Checks addr (len bytes, not necessarily NUL-terminated) as a plain
 * mailbox `local@domain`: ASCII only, the local part a dot-atom of at most
 * 64 characters (no quoted strings, no comments), the domain at least two
 * labels of letters, digits and inner hyphens (no IP literals), 254
 * characters in all. Never a CR, LF, space, comma or angle bracket, so the
 * address can be placed in a header and an SMTP command as it is.
 * Returns 0, or -1 with a short reason in err (never the address). */
int email_addr_check(const char *addr, size_t len, char *err, size_t errlen);

/* Appends text (UTF-8, len bytes) to out as a header value that cannot end
 * the header: controls (CR, LF, TAB, DEL ...) become spaces; text that is
 * all printable ASCII is appended as it is, anything else as RFC 2047
 * encoded words (=?UTF-8?B?...?=, each at most 75 characters, folded with
 * CRLF + space, never splitting a UTF-8 sequence). Invalid UTF-8 bytes
 * become '?'. Returns 0, or -1 when out's cap is reached (then out is freed,
 * as every failed buf append). */
int email_header_append(struct buf *out, const char *text, size_t len);

/* Appends text to out as a mail body: every line ending (LF, CR, CRLF)
 * becomes CRLF, other controls but TAB become spaces, a line is never over
 * 998 bytes (it is broken with CRLF). Returns 0, or -1 as buf_append. */
int email_body_append(struct buf *out, const char *text, size_t len);

#endif
