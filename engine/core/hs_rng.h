/*
 * hs_rng.h - deterministic random streams (xoshiro256**).
 *
 * A stream is derived from the simulation seed and a stream name, so each entity
 * draws from its own sequence: adding an entity never changes another's draws.
 */
#ifndef HS_RNG_H
#define HS_RNG_H

#include "hs_types.h"

typedef struct hs_rng {
  uint64_t s[4];
} hs_rng;

/* Seeds a stream from (seed, name); name may be NULL for the simulation's own stream. */
void hs_rng_seed(hs_rng *r, uint64_t seed, const char *name, size_t name_len);
uint64_t hs_rng_next(hs_rng *r);
/* Uniform in [0, 1). */
double hs_rng_double(hs_rng *r);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t hs_rng_below(hs_rng *r, uint64_t n);
double hs_rng_uniform(hs_rng *r, double a, double b);
double hs_rng_exponential(hs_rng *r, double mean);
double hs_rng_normal(hs_rng *r, double mean, double stddev);
/* FNV-1a, used to derive stream keys from names. */
uint64_t hs_hash_bytes(const void *data, size_t len);

#endif
