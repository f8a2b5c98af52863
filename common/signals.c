/* signals: the only work done in a handler is clearing the run flag (or
 * _exit on the second signal, for an operator who wants out now). */
#include "signals.h"

#include <string.h>
#include <unistd.h>

volatile sig_atomic_t signals_run = 1;

static void signals_on_stop(int sig)
{
    (void)sig;
    if (!signals_run)
        _exit(1);
    signals_run = 0;
}

int signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = signals_on_stop;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return -1;
    return 0;
}

int signals_running(void)
{
    return signals_run != 0;
}

void signals_request_stop(void)
{
    signals_run = 0;
}
