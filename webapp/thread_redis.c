/* thread_redis: each HTTP worker thread's own Redis connection (a hiredis
 * context serves one thread), made on the thread's first use and freed all
 * together once the server has stopped. The route handlers and /health use
 * it; the fan-out threads keep their own (fanout.c). */
#include "webapp.h"

#include <pthread.h>

#include "redis.h"

/* Worker threads (WEBAPP_THREADS is at most 64), and two to spare. */
#define THREAD_REDIS_MAX (64 + 2)

static const struct common_config *thread_redis_cfg;
static _Thread_local struct redis_conn *thread_redis_mine;
static pthread_mutex_t thread_redis_lock = PTHREAD_MUTEX_INITIALIZER;
static struct redis_conn *thread_redis_all[THREAD_REDIS_MAX];
static int thread_redis_count;

void thread_redis_init(const struct common_config *cfg)
{
    thread_redis_cfg = cfg;
}

struct redis_conn *thread_redis_get(void)
{
    struct redis_conn *rc;

    if (thread_redis_mine != NULL)
        return thread_redis_mine;
    pthread_mutex_lock(&thread_redis_lock);
    if (thread_redis_count < THREAD_REDIS_MAX) {
        rc = redis_conn_open(thread_redis_cfg);
        if (rc != NULL)
            thread_redis_all[thread_redis_count++] = rc;
        thread_redis_mine = rc;
    }
    pthread_mutex_unlock(&thread_redis_lock);
    return thread_redis_mine;
}

void thread_redis_free_all(void)
{
    pthread_mutex_lock(&thread_redis_lock);
    for (int i = 0; i < thread_redis_count; i++)
        redis_conn_free(thread_redis_all[i]);
    thread_redis_count = 0;
    pthread_mutex_unlock(&thread_redis_lock);
}
