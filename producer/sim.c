/* sim: GBM steps with xoshiro256** and Box-Muller normals. */
#include "sim.h"

#include "hash.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIM_SECONDS_PER_YEAR (365.25 * 24 * 3600)
/* A walk stays within a factor of a million of where it started. */
#define SIM_RANGE 1e6
#define SIM_TWO_PI 6.283185307179586476925

static uint64_t sim_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t sim_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t sim_next_u64(uint64_t s[4])
{
    uint64_t result = sim_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sim_rotl(s[3], 45);
    return result;
}

/* Uniform in (0, 1]: never 0, so log() is finite. */
static double sim_uniform(uint64_t s[4])
{
    return ((double)(sim_next_u64(s) >> 11) + 1.0) * 0x1.0p-53;
}

double sim_walk_gauss(struct sim_walk *w)
{
    double u1 = sim_uniform(w->rng);
    double u2 = sim_uniform(w->rng);

    return sqrt(-2.0 * log(u1)) * cos(SIM_TWO_PI * u2);
}

void sim_walk_init(struct sim_walk *w, const char *ticker, double start_price, double volatility,
                   uint64_t seed)
{
    uint64_t s = seed ^ hash_fnv1a64(ticker, strlen(ticker));

    memset(w, 0, sizeof(*w));
    for (int i = 0; i < 4; i++)
        w->rng[i] = sim_splitmix(&s);
    if (!isfinite(start_price) || start_price <= 0)
        start_price = 100.0;
    w->price = start_price;
    w->volatility = isfinite(volatility) && volatility > 0 ? volatility : 0;
    w->floor = start_price / SIM_RANGE;
    w->ceiling = start_price * SIM_RANGE;
}

double sim_walk_next(struct sim_walk *w, double dt_seconds)
{
    double dt = dt_seconds > 0 ? dt_seconds / SIM_SECONDS_PER_YEAR : 0;
    double sigma = w->volatility;
    double z = sim_walk_gauss(w);
    double next = w->price * exp(-0.5 * sigma * sigma * dt + sigma * sqrt(dt) * z);

    /* Reflect at the bounds rather than stick to them. */
    if (!isfinite(next) || next > w->ceiling)
        next = w->price / (1.0 + fabs(z) * sigma * sqrt(dt) + 1e-9);
    if (next < w->floor)
        next = w->floor * (1.0 + 1e-6);
    if (next > w->ceiling)
        next = w->ceiling;
    w->price = next;
    return next;
}

void sim_walk_reset(struct sim_walk *w, double price)
{
    if (!isfinite(price) || price <= 0)
        return;
    w->price = price;
    if (w->floor > price)
        w->floor = price / SIM_RANGE;
    if (w->ceiling < price)
        w->ceiling = price * SIM_RANGE;
}

uint64_t sim_seed_random(void)
{
    struct timespec ts;
    uint64_t s;

    clock_gettime(CLOCK_REALTIME, &ts);
    s = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    return sim_splitmix(&s);
}
