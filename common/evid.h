/* evid: the position of a fired alert in its user's history — the id of its
 * entry in the user's Redis stream ("<ms>-<n>", increasing per user). It is
 * the SSE event id and the resume token of an alert stream: "everything of
 * mine after this point". There is no store-wide sequence: each user's
 * history numbers its own entries, so any number of evaluators, webapps and
 * Redis shards agree on it. A legacy id (a plain number N, the store-wide
 * seq of the version before) reads as "0-N", which is where the migration
 * puts that entry. */
#ifndef SA_EVID_H
#define SA_EVID_H

#include <stdint.h>

#define EVID_TEXT_MAX 42  /* "<20 digits>-<20 digits>" and the NUL */
#define EVID_INPUT_MAX 64 /* longer resume tokens are refused outright */

struct evid {
    uint64_t ms;
    uint64_t seq;
};

/* Parses "<ms>-<n>" (each 1..20 digits, at most UINT64_MAX) or a legacy
 * "<n>" (read as 0-n). Returns 0 and sets *out, or -1 when s is NULL, empty,
 * longer than EVID_INPUT_MAX or malformed (*out untouched). */
int evid_parse(const char *s, struct evid *out);

/* Writes the canonical text of id into out[EVID_TEXT_MAX]; returns out. */
char *evid_format(const struct evid *id, char out[EVID_TEXT_MAX]);

/* <0, 0, >0 as a is before, at, after b. */
int evid_cmp(const struct evid *a, const struct evid *b);

#endif
