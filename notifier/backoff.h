/* backoff: the retry schedule of a failed delivery — exponential growth
 * from a base delay up to a cap, with "equal jitter" (half fixed, half
 * random) so a burst of failures does not retry in lockstep. */
#ifndef NOTIFIER_BACKOFF_H
#define NOTIFIER_BACKOFF_H

#include <stdint.h>

/* Delay in ms before retry number `attempt` (1 = the retry after the first
 * failure). With d = min(cap_ms, base_ms * 2^(attempt-1)) the result lies in
 * [d/2, d], chosen by `rnd` (any 32-bit random value). attempt < 1 is
 * treated as 1; base_ms and cap_ms must be > 0. Never fails. */
long backoff_delay_ms(int attempt, long base_ms, long cap_ms, uint32_t rnd);

/* A 32-bit random value for the jitter (not for secrets). */
uint32_t backoff_random(void);

#endif
