/* sim: geometric Brownian motion per asset, one independent generator per
 * symbol (xoshiro256** seeded from SIM_SEED and the symbol), so a path
 * depends only on the seed and the symbol, not on the list or the shard. */
#ifndef PRODUCER_SIM_H
#define PRODUCER_SIM_H

#include <stdint.h>

struct sim_walk {
    double price;      /* current price, always finite and > 0 */
    double volatility; /* annualised sigma, >= 0 */
    double floor;      /* prices never go below this (> 0) */
    double ceiling;    /* nor above this */
    uint64_t rng[4];
};

/* Starts a walk at start_price (> 0) with the given annualised volatility;
 * seed and ticker select the generator. */
void sim_walk_init(struct sim_walk *w, const char *ticker, double start_price, double volatility,
                   uint64_t seed);

/* Moves the walk dt_seconds ahead (dt >= 0) and returns the new price:
 * S *= exp(-sigma^2 dt / 2 + sigma sqrt(dt) Z), dt in years. The result is
 * finite and within [floor, ceiling]. */
double sim_walk_next(struct sim_walk *w, double dt_seconds);

/* Moves the walk to an observed price (e.g. the last Yahoo quote) so the
 * simulation continues from it. Ignores a non-finite or non-positive price. */
void sim_walk_reset(struct sim_walk *w, double price);

/* A standard normal draw from the walk's generator (for tests). */
double sim_walk_gauss(struct sim_walk *w);

/* A seed from the clock and pid when SIM_SEED is 0. */
uint64_t sim_seed_random(void);

#endif
