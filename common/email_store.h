/* email_store: a user's e-mail address and its double opt-in, in the
 * user's Redis slot (key-schema.md, "E-mail settings"):
 *   user_email:{U}   hash: addr, confirmed (0/1), req (the request id of the
 *                    confirmation mail to send), set_at, token (sha-256 hex of
 *                    the link's token), token_exp (Unix s, Redis' clock)
 *   email_rate:{U}   counter of confirmation requests in the current window
 *   email_sent:{U}   set of the alert ids mailed in the current window (the
 *                    notifier's per-user rate of alert mails)
 * and the queue of confirmation mails the notifier sends, sharded by user
 * so that no one slot carries every user's requests:
 *   email_requests:{email-<k>}  stream: user_id, req, for the users of
 *                    shard k = email_store_requests_shard (0..15)
 *   email_requests:{email}      the single stream of before the shards:
 *                    read by the notifier until empty, never written.
 * The webapp sets and confirms; the notifier issues the token and mails it,
 * so the token exists only in the notifier's memory and in the mail. */
#ifndef SA_EMAIL_STORE_H
#define SA_EMAIL_STORE_H

#include <stddef.h>

#include "email.h"

struct redis_conn;

/* The queue's streams: EMAIL_REQUESTS_SHARDS shards (the tags email-0 ..
 * email-15 fall on all three masters of a three-master cluster: unit
 * test), then the legacy stream, index EMAIL_REQUESTS_SHARDS. */
#define EMAIL_REQUESTS_SHARDS 16
#define EMAIL_REQUESTS_STREAMS (EMAIL_REQUESTS_SHARDS + 1)
#define EMAIL_REQUESTS_LEGACY_KEY "email_requests:{email}"
#define EMAIL_REQUESTS_KEY_MAX 32 /* bytes of a stream's key, NUL included */
#define EMAIL_REQUESTS_GROUP "notifiers"
#define EMAIL_REQUESTS_MAXLEN 100000 /* approximate cap of each stream */
#define EMAIL_REQ_MAX 40             /* a request id: 32 hex digits */
#define EMAIL_USER_MAX 64            /* user ids are [A-Za-z0-9_-], at most 64 */
/* A link's token: "<user id>.<64 hex digits of 256 random bits>". */
#define EMAIL_TOKEN_MAX (EMAIL_USER_MAX + 1 + 64)

struct email_settings {
    char addr[EMAIL_ADDR_MAX + 1]; /* "" when none is set */
    int confirmed;
};

enum email_set_result {
    EMAIL_SET_REMOVED = 0, /* addr was NULL: no address now */
    EMAIL_SET_CONFIRMED,   /* the same address, confirmed before: nothing sent */
    EMAIL_SET_SENDING,     /* stored unconfirmed, a confirmation mail queued */
    EMAIL_SET_LIMITED,     /* over the rate: nothing changed */
};

/* Checks a user id as the keys need it (1..64 of [A-Za-z0-9_-]). 0 or -1. */
int email_store_user_check(const char *user);

/* The shard (0..EMAIL_REQUESTS_SHARDS-1) of a user's confirmation
 * requests: FNV-1a of the id, modulo the shards; the same id always gives
 * the same shard (changing EMAIL_REQUESTS_SHARDS moves users, and the
 * notifier reads every shard, so nothing is lost). user is not checked. */
int email_store_requests_shard(const char *user);

/* The key of stream k (a shard, or EMAIL_REQUESTS_SHARDS: the legacy
 * stream) into out[outlen]. Returns 0, or -1 when k is out of range or out
 * too small (out is then ""). */
int email_store_requests_key(int k, char *out, size_t outlen);

/* The index of the stream whose key is key (len bytes): 0..
 * EMAIL_REQUESTS_SHARDS (the legacy one), or -1 when it is none of them. */
int email_store_requests_index(const char *key, size_t len);

/* Reads the user's address. Returns 0 (out->addr "" when none), or -1 with
 * err (Redis unreachable or an unexpected reply). */
int email_store_get(struct redis_conn *rc, const char *user, struct email_settings *out, char *err,
                    size_t errlen);

/* Sets (addr checked by the caller with email_addr_check) or, addr NULL,
 * removes the user's address. A new or unconfirmed address is stored
 * unconfirmed and a confirmation request appended to the user's shard;
 * at most rate_max of them per rate_window_s (*retry_s: seconds until the
 * next is allowed, on EMAIL_SET_LIMITED). Two steps in two slots: a crash
 * between them leaves the address stored and no mail queued (setting it
 * again sends one). Returns 0 with *res, or -1 with err (then the address
 * may or may not be stored). */
int email_store_set(struct redis_conn *rc, const char *user, const char *addr, long rate_max,
                    long rate_window_s, enum email_set_result *res, long *retry_s, char *err,
                    size_t errlen);

/* The notifier, before mailing request req of user: makes a new random
 * token valid for lifetime_s (only the newest of a user works) and stores
 * its hash. Returns 1 with token ("<user>.<hex>") and addr filled, 0 when
 * the request is stale (the address removed, changed again or confirmed:
 * send nothing), -1 with err. */
int email_store_issue(struct redis_conn *rc, const char *user, const char *req, long lifetime_s,
                      char token[EMAIL_TOKEN_MAX + 1], char addr[EMAIL_ADDR_MAX + 1], char *err,
                      size_t errlen);

/* A followed link: token as received. Returns 1 (the address is confirmed
 * now), 0 (malformed, unknown or already used), -2 (expired; dropped), or -1
 * with err (Redis). */
int email_store_confirm(struct redis_conn *rc, const char *token, char *err, size_t errlen);

enum email_recipient {
    EMAIL_RCPT_OK = 0,      /* addr filled: mail it */
    EMAIL_RCPT_NONE,        /* the user has no address */
    EMAIL_RCPT_UNCONFIRMED, /* not confirmed: nothing but the confirmation goes there */
    EMAIL_RCPT_LIMITED,     /* over the user's rate of alert mails */
};

/* The notifier, about to mail alert_id of user: the confirmed address,
 * within max mails per window_s (an alert is counted once, whatever its
 * attempts). Returns 0 with *res (and addr on EMAIL_RCPT_OK), or -1 with
 * err (Redis). */
int email_store_recipient(struct redis_conn *rc, const char *user, const char *alert_id, long max,
                          long window_s, enum email_recipient *res, char addr[EMAIL_ADDR_MAX + 1],
                          char *err, size_t errlen);

/* A fresh request id (32 hex digits of 128 random bits). 0, or -1 when the
 * random source failed. */
int email_store_new_req(char out[EMAIL_REQ_MAX + 1]);

#endif
