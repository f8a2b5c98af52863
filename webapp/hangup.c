/* hangup: notices that the client of a stream went away. libmicrohttpd does
 * not watch a suspended connection (a stream waiting for its next event), so
 * without this a closed stream would only be found at its next write, up to
 * a heartbeat later, keeping its per-user slot all that time. One thread
 * waits on an epoll set of the streams' sockets for the peer's FIN or an
 * error (never for data: it reads nothing) and reports the stream by its
 * serial number; the hub finds it, if it still exists, and ends it.
 *
 * A registration is one-shot and never removed by hand: the kernel drops it
 * when the socket closes, and a report for a stream already gone finds
 * nothing, so a socket number reused by a later connection is never
 * confused with the old one. */
#include "webapp.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

#define HANGUP_EVENTS 256
#define HANGUP_WAIT_MS 200 /* how soon hangup_stop is seen */

static int hangup_epfd = -1;
static pthread_t hangup_thread;
static int hangup_running;
static atomic_int hangup_quit;
static void (*hangup_cb)(uint64_t serial);

static void *hangup_main(void *arg)
{
    struct epoll_event evs[HANGUP_EVENTS];

    (void)arg;
    while (!atomic_load(&hangup_quit)) {
        int n = epoll_wait(hangup_epfd, evs, HANGUP_EVENTS, HANGUP_WAIT_MS);
        if (n < 0 && errno != EINTR) {
            log_error("hangup watch failed", "error=\"%s\"", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++)
            hangup_cb(evs[i].data.u64);
    }
    return NULL;
}

int hangup_start(void (*gone)(uint64_t serial))
{
    hangup_cb = gone;
    atomic_store(&hangup_quit, 0);
    hangup_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (hangup_epfd < 0)
        return -1;
    if (pthread_create(&hangup_thread, NULL, hangup_main, NULL) != 0) {
        close(hangup_epfd);
        hangup_epfd = -1;
        return -1;
    }
    hangup_running = 1;
    return 0;
}

void hangup_watch(int fd, uint64_t serial)
{
    struct epoll_event ev;

    if (hangup_epfd < 0 || fd < 0)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLRDHUP | EPOLLONESHOT; /* EPOLLHUP and EPOLLERR always come */
    ev.data.u64 = serial;
    /* A kept-alive connection that carried a stream before is still in the
     * set, disarmed: re-arm it for this one. */
    if (epoll_ctl(hangup_epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST)
        epoll_ctl(hangup_epfd, EPOLL_CTL_MOD, fd, &ev);
}

void hangup_stop(void)
{
    atomic_store(&hangup_quit, 1);
    if (hangup_running)
        pthread_join(hangup_thread, NULL);
    hangup_running = 0;
    if (hangup_epfd >= 0)
        close(hangup_epfd);
    hangup_epfd = -1;
}
