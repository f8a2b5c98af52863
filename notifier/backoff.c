/* backoff: exponential retry delays with equal jitter. */
#include "backoff.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

long backoff_delay_ms(int attempt, long base_ms, long cap_ms, uint32_t rnd)
{
    long d = base_ms;
    long half;

    if (attempt < 1)
        attempt = 1;
    /* Doubling stops at the cap, so no overflow however large attempt is. */
    for (int i = 1; i < attempt && d < cap_ms; i++)
        d = d > cap_ms / 2 ? cap_ms : d * 2;
    if (d > cap_ms)
        d = cap_ms;
    half = d / 2;
    return half + (long)(rnd % (uint32_t)(d - half + 1));
}

uint32_t backoff_random(void)
{
    static unsigned int seed;

    if (seed == 0)
        seed = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16) ^ 0x5bd1e995u;
    return (uint32_t)rand_r(&seed);
}
