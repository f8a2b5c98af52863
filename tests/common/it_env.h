/* it_env: what integration tests need from the harness (TEST_* variables)
 * and helpers to stop and start the harness's own Redis. */
#ifndef SA_IT_ENV_H
#define SA_IT_ENV_H

#include <stddef.h>

/* TEST_KAFKA_BOOTSTRAP, or NULL when the harness gave none. */
const char *it_kafka_bootstrap(void);

/* A name unique to this test run: prefix + pid + time. */
void it_unique_name(char *out, size_t outlen, const char *prefix);

/* The port of the harness's Redis (TEST_REDIS_PORT), or -1 when the harness
 * did not say how to stop and start it (STACK_ROOT, TEST_REDIS_PORT and
 * TEST_REDIS_DIR, as exported by `./stack test`): callers skip then. */
int it_redis_port(void);

/* Stop (SIGTERM: Redis flushes its AOF), kill (SIGKILL, as in a crash) or
 * start the harness's Redis, through scripts/redis-ctl on the same port and
 * data folder. Start returns once Redis answers PING and does nothing when
 * it already runs. Each returns 0 on success, -1 otherwise. */
int it_redis_stop(void);
int it_redis_kill(void);
int it_redis_start(void);

/* 1 when the harness's Redis answers PING on a new connection, else 0. */
int it_redis_answers(void);

#endif
