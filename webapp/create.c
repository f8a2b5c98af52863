/* create: set-alert's store work, batched. The HTTP worker that parsed a
 * set-alert suspends the request and queues its create; a store thread
 * takes the creates queued so far (up to CREATE_BATCH_MAX), runs them with
 * alert_store_create_batch (each of the three steps of all of them in one
 * round trip) and resumes each request, whose handler then answers from its
 * result. Concurrent set-alerts so share Redis round trips instead of each
 * waiting on its own three; the guarantees are the store's (idempotency,
 * caps), per create. Two threads: one batch runs while the next gathers. */
#include "webapp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis.h"

#define CREATE_BATCH_MAX 64   /* creates per batch */
#define CREATE_THREADS 2      /* store threads: one batch runs while the next gathers */
#define CREATE_QUEUE_MAX 8192 /* queued at most; beyond, the caller creates inline */

struct create_job {
    struct alert_store_create c;
    char idem[ALERT_STORE_IDEM_MAX];
    struct MHD_Connection *conn;
    struct create_job *next;
};

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t create_cond = PTHREAD_COND_INITIALIZER;
static struct create_job *create_head, *create_tail;
static int create_queued;
static int create_running; /* threads taking jobs */
static int create_quit;
static pthread_t create_threads[CREATE_THREADS];
static struct redis_conn *create_rc[CREATE_THREADS];

/* Takes up to max queued jobs, waiting for one; 0 when stopping and none is left. */
static int create_take(struct create_job **out, int max)
{
    int n = 0;

    pthread_mutex_lock(&create_lock);
    while (create_head == NULL && !create_quit)
        pthread_cond_wait(&create_cond, &create_lock);
    while (create_head != NULL && n < max) {
        out[n++] = create_head;
        create_head = create_head->next;
        create_queued--;
    }
    if (create_head == NULL)
        create_tail = NULL;
    pthread_mutex_unlock(&create_lock);
    return n;
}

static void *create_main(void *arg)
{
    struct redis_conn *rc = arg;
    struct alert_store_create *batch = calloc(CREATE_BATCH_MAX, sizeof(*batch));
    struct create_job *jobs[CREATE_BATCH_MAX];
    int n;

    while ((n = create_take(jobs, CREATE_BATCH_MAX)) > 0) {
        int ok = batch != NULL;

        for (int i = 0; ok && i < n; i++)
            batch[i] = jobs[i]->c;
        ok = ok && alert_store_create_batch(rc, batch, n) == 0;
        for (int i = 0; i < n; i++) {
            if (ok) {
                jobs[i]->c = batch[i];
            } else {
                jobs[i]->c.rv = -1;
                snprintf(jobs[i]->c.err, sizeof(jobs[i]->c.err), "create: out of memory");
            }
            MHD_resume_connection(jobs[i]->conn);
        }
    }
    free(batch);
    return NULL;
}

int create_start(const struct common_config *cfg)
{
    create_quit = 0;
    for (int i = 0; i < CREATE_THREADS; i++) {
        create_rc[i] = redis_conn_open(cfg);
        if (create_rc[i] == NULL ||
            pthread_create(&create_threads[i], NULL, create_main, create_rc[i]) != 0) {
            redis_conn_free(create_rc[i]);
            create_rc[i] = NULL;
            create_stop();
            return -1;
        }
        create_running++;
    }
    return 0;
}

void create_stop(void)
{
    pthread_mutex_lock(&create_lock);
    create_quit = 1;
    pthread_cond_broadcast(&create_cond);
    pthread_mutex_unlock(&create_lock);
    /* They finish (and resume) every job queued before they end. */
    for (int i = 0; i < create_running; i++) {
        pthread_join(create_threads[i], NULL);
        redis_conn_free(create_rc[i]);
        create_rc[i] = NULL;
    }
    create_running = 0;
}

struct create_job *create_submit(struct MHD_Connection *conn, const struct alert_record *rec,
                                 int max_per_user, const char *idem_key, int idem_ttl_s)
{
    struct create_job *j;

    if (!create_running || (j = calloc(1, sizeof(*j))) == NULL)
        return NULL;
    j->c.rec = *rec;
    j->c.max_per_user = max_per_user;
    j->c.idem_ttl_s = idem_ttl_s;
    if (idem_key != NULL) {
        snprintf(j->idem, sizeof(j->idem), "%s", idem_key);
        j->c.idem_key = j->idem;
    }
    j->conn = conn;
    pthread_mutex_lock(&create_lock);
    if (create_quit || create_queued >= CREATE_QUEUE_MAX) {
        pthread_mutex_unlock(&create_lock);
        free(j);
        return NULL;
    }
    /* Suspended before the store thread can see it, so its resume never
     * comes first. */
    MHD_suspend_connection(conn);
    if (create_tail != NULL)
        create_tail->next = j;
    else
        create_head = j;
    create_tail = j;
    create_queued++;
    pthread_cond_signal(&create_cond);
    pthread_mutex_unlock(&create_lock);
    return j;
}

const struct alert_store_create *create_result(const struct create_job *j)
{
    return &j->c;
}

void create_job_free(struct create_job *j)
{
    free(j);
}
