/* signals: SIGTERM/SIGINT clear a run flag; a second one exits at once.
 * SIGPIPE is ignored. Loops poll signals_running() with short timeouts. */
#ifndef SA_SIGNALS_H
#define SA_SIGNALS_H

#include <signal.h>

/* 1 while the daemon should run; the handler sets it to 0. */
extern volatile sig_atomic_t signals_run;

/* Installs the handlers. Returns 0, or -1 if sigaction failed. */
int signals_install(void);

/* Nonzero while no stop signal has arrived. */
int signals_running(void);

/* Asks the daemon to stop, as a signal would (for fatal client errors). */
void signals_request_stop(void);

#endif
