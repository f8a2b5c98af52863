/* it_env: what integration tests need from the harness (TEST_* variables)
 * and small helpers to start throwaway servers. */
#ifndef SA_IT_ENV_H
#define SA_IT_ENV_H

#include <sys/types.h>

/* TEST_KAFKA_BOOTSTRAP, or NULL when the harness gave none. */
const char *it_kafka_bootstrap(void);

/* A name unique to this test run: prefix + pid + time. */
void it_unique_name(char *out, size_t outlen, const char *prefix);

/* Starts `redis-server` on port with data in dir (created). Returns its pid,
 * or -1. Waits until it answers PING (up to 5 s). */
pid_t it_redis_start(int port, const char *dir);

/* SIGKILLs and reaps pid. */
void it_process_kill(pid_t pid);

#endif
