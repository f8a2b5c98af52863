/* alert_store_migrate: the one-time move of the keys of the versions before
 * into schema 3 (docs/key-schema.md, "Migration"): schema 1's history lists
 * (alert_history.h), then schema 2's alert:<id> hashes, sets and untagged
 * indexes, and its untagged idempotency keys. Run by every webapp and
 * evaluator at start, on the single Redis that holds the old data. */
#ifndef SA_ALERT_STORE_MIGRATE_H
#define SA_ALERT_STORE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "redis.h"

#define ALERT_STORE_SCHEMA_KEY "alert_store:schema"
#define ALERT_STORE_SCHEMA "3"

/* Migrates everything not yet in schema 3, once: the marker
 * (alert_store:schema = 3) makes later calls one GET. Each alert and each
 * key moves in one atomic, idempotent script, so daemons may run it at the
 * same time and a failed run is resumed by the next. Returns the number of
 * items moved (0 when already done), or -1 with err: call again later. */
long alert_store_migrate(struct redis_conn *rc, char *err, size_t errlen);

/* alert_store_migrate from a daemon's main loop: tries at start and then
 * once a second until it succeeds (Redis may be down at start), logging
 * failures once per state change. Zero-initialise the struct. */
struct alert_store_migration {
    int done;
    int failing;
    int64_t next_ms;
};
void alert_store_migrate_step(struct redis_conn *rc, struct alert_store_migration *m);

#endif
