#include "hs_rng.h"

#include <math.h>

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t hs_hash_bytes(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

void hs_rng_seed(hs_rng *r, uint64_t seed, const char *name, size_t name_len) {
  uint64_t x = seed;
  uint64_t key = splitmix64(&x);
  if (name) key ^= hs_hash_bytes(name, name_len) * 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&key);
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* all-zero state is a fixed point */
}

uint64_t hs_rng_next(hs_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double hs_rng_double(hs_rng *r) { return (double)(hs_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t hs_rng_below(hs_rng *r, uint64_t n) {
  /* Lemire's nearly-divisionless method would do too; rejection keeps it simple. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = hs_rng_next(r);
  while (x >= limit);
  return x % n;
}

double hs_rng_uniform(hs_rng *r, double a, double b) { return a + (b - a) * hs_rng_double(r); }

double hs_rng_exponential(hs_rng *r, double mean) { return -mean * log1p(-hs_rng_double(r)); }

double hs_rng_normal(hs_rng *r, double mean, double stddev) {
  /* Box-Muller without caching the second value: one draw, one state change pair. */
  double u1 = 1.0 - hs_rng_double(r); /* (0, 1] */
  double u2 = hs_rng_double(r);
  return mean + stddev * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
