#include "net/hs_dist.h"

#include <math.h>
#include <string.h>

/* Rejection tries for the truncated normal before folding the sample; with mean >= 0 each
 * try succeeds with probability >= 1/2, so the fold is never reached in practice. */
#define NORMAL_MAX_TRIES 64

static hs_dist make(hs_dist_kind kind, double a, double b) {
  hs_dist d;
  memset(&d, 0, sizeof d);
  d.kind = kind;
  d.a = a;
  d.b = b;
  return d;
}

hs_dist hs_dist_constant(double value) { return make(HS_DIST_CONSTANT, value, 0); }
hs_dist hs_dist_uniform(double low, double high) { return make(HS_DIST_UNIFORM, low, high); }
hs_dist hs_dist_exponential(double mean) { return make(HS_DIST_EXPONENTIAL, mean, 0); }
hs_dist hs_dist_normal(double mean, double stddev) { return make(HS_DIST_NORMAL, mean, stddev); }
hs_dist hs_dist_lognormal(double mu, double sigma) { return make(HS_DIST_LOGNORMAL, mu, sigma); }

hs_dist hs_dist_lognormal_from_mean(double mean, double stddev) {
  if (!(mean > 0) || !(stddev >= 0) || !isfinite(mean) || !isfinite(stddev))
    return make(HS_DIST_LOGNORMAL, NAN, NAN);
  double s2 = log1p((stddev / mean) * (stddev / mean));
  return make(HS_DIST_LOGNORMAL, log(mean) - s2 / 2, sqrt(s2));
}

const char *hs_dist_percentiles(hs_dist *d, const double *probs, const double *values, size_t n,
                                double min_value) {
  if (n == 0) return "percentiles need at least one point";
  if (n > HS_DIST_MAX_POINTS - 1) return "too many percentile points";
  if (!isfinite(min_value) || min_value < 0) return "percentiles minimum must be a finite number >= 0";
  *d = make(HS_DIST_PERCENTILES, 0, 0);
  d->p[0] = 0;
  d->v[0] = min_value;
  for (size_t i = 0; i < n; i++) {
    double p = probs[i], v = values[i];
    if (!(p > 0 && p <= 1)) return "percentile probabilities must be in (0, 1]";
    if (!isfinite(v)) return "percentile values must be finite";
    if (p <= d->p[i]) return "percentile probabilities must be strictly increasing";
    if (v < d->v[i]) return "percentile values must not decrease (and not be below the minimum)";
    d->p[i + 1] = p;
    d->v[i + 1] = v;
  }
  d->npoints = (uint32_t)n + 1;
  return NULL;
}

hs_dist hs_dist_shift(hs_dist d, double delta) {
  if (d.kind == HS_DIST_CONSTANT)
    d.a += delta;
  else
    d.offset += delta;
  return d;
}

static const char *validate_kind(const hs_dist *d) {
  double a = d->a, b = d->b;
  switch (d->kind) {
  case HS_DIST_CONSTANT:
    if (!isfinite(a) || a < 0) return "constant value must be a finite number >= 0";
    return NULL;
  case HS_DIST_UNIFORM:
    if (!isfinite(a) || !isfinite(b)) return "uniform bounds must be finite";
    if (a < 0) return "uniform low bound must be >= 0";
    if (b < a) return "uniform high bound must be >= the low bound";
    return NULL;
  case HS_DIST_EXPONENTIAL:
    if (!isfinite(a) || a < 0) return "exponential mean must be a finite number >= 0";
    return NULL;
  case HS_DIST_NORMAL:
    if (!isfinite(a) || a < 0) return "normal mean must be a finite number >= 0";
    if (!isfinite(b) || b < 0) return "normal stddev must be a finite number >= 0";
    return NULL;
  case HS_DIST_LOGNORMAL:
    if (!isfinite(a)) return "lognormal mu must be finite";
    if (!isfinite(b) || b < 0) return "lognormal sigma must be a finite number >= 0";
    if (a + 10 * b > 700) return "lognormal mu and sigma give values too large";
    return NULL;
  case HS_DIST_PERCENTILES:
    if (d->npoints < 2 || d->npoints > HS_DIST_MAX_POINTS) return "percentiles need 1 to 15 points";
    if (d->p[0] != 0 || !isfinite(d->v[0]) || d->v[0] < 0)
      return "percentiles must start at p = 0 with a value >= 0";
    for (uint32_t i = 1; i < d->npoints; i++) {
      if (!(d->p[i] > d->p[i - 1] && d->p[i] <= 1))
        return "percentile probabilities must increase within (0, 1]";
      if (!isfinite(d->v[i]) || d->v[i] < d->v[i - 1])
        return "percentile values must be finite and not decrease";
    }
    return NULL;
  }
  return "unknown distribution kind";
}

const char *hs_dist_validate(const hs_dist *d) {
  if (!isfinite(d->offset) || d->offset < 0) return "distribution offset must be a finite number >= 0";
  return validate_kind(d);
}

/* The slope of the last segment, used above the last point. */
static double tail_slope(const hs_dist *d) {
  uint32_t k = d->npoints - 1;
  return (d->v[k] - d->v[k - 1]) / (d->p[k] - d->p[k - 1]);
}

static double percentile_at(const hs_dist *d, double u) {
  uint32_t k = d->npoints - 1;
  if (u >= d->p[k]) return d->v[k] + (u - d->p[k]) * tail_slope(d);
  uint32_t i = 1;
  while (u >= d->p[i]) i++; /* p[i-1] <= u < p[i] */
  double f = (u - d->p[i - 1]) / (d->p[i] - d->p[i - 1]);
  return d->v[i - 1] + f * (d->v[i] - d->v[i - 1]);
}

static double normal_truncated(const hs_dist *d, hs_rng *r) {
  double x = 0;
  for (int i = 0; i < NORMAL_MAX_TRIES; i++) {
    x = hs_rng_normal(r, d->a, d->b);
    if (x >= 0) return x;
  }
  return 2 * d->a - x; /* fold around the mean: >= 0 since mean >= 0 and x < 0 */
}

static double sample_kind(const hs_dist *d, hs_rng *r) {
  switch (d->kind) {
  case HS_DIST_CONSTANT: return d->a;
  case HS_DIST_UNIFORM: return hs_rng_uniform(r, d->a, d->b);
  case HS_DIST_EXPONENTIAL: return hs_rng_exponential(r, d->a);
  case HS_DIST_NORMAL: return normal_truncated(d, r);
  case HS_DIST_LOGNORMAL: return exp(hs_rng_normal(r, d->a, d->b));
  case HS_DIST_PERCENTILES: return percentile_at(d, hs_rng_double(r));
  }
  return 0;
}

double hs_dist_sample(const hs_dist *d, hs_rng *r) { return d->offset + sample_kind(d, r); }

/* Mean of N(mu, s) truncated to [0, inf): mu + s * phi(alpha) / (1 - Phi(alpha)), alpha = -mu/s. */
static double normal_truncated_mean(double mu, double s) {
  if (s == 0) return mu;
  double alpha = -mu / s;
  double phi = exp(-alpha * alpha / 2) / sqrt(2 * 3.141592653589793);
  double tail = 0.5 * erfc(alpha / sqrt(2.0));
  return mu + s * phi / tail;
}

static double percentiles_mean(const hs_dist *d) {
  uint32_t k = d->npoints - 1;
  double sum = 0;
  for (uint32_t i = 1; i <= k; i++) sum += (d->p[i] - d->p[i - 1]) * (d->v[i] + d->v[i - 1]) / 2;
  double rest = 1 - d->p[k];
  if (rest > 0) sum += rest * (d->v[k] + (d->v[k] + rest * tail_slope(d))) / 2;
  return sum;
}

static double mean_kind(const hs_dist *d) {
  switch (d->kind) {
  case HS_DIST_CONSTANT: return d->a;
  case HS_DIST_UNIFORM: return (d->a + d->b) / 2;
  case HS_DIST_EXPONENTIAL: return d->a;
  case HS_DIST_NORMAL: return normal_truncated_mean(d->a, d->b);
  case HS_DIST_LOGNORMAL: return exp(d->a + d->b * d->b / 2);
  case HS_DIST_PERCENTILES: return percentiles_mean(d);
  }
  return NAN;
}

double hs_dist_mean(const hs_dist *d) { return d->offset + mean_kind(d); }

static double quantile_kind(const hs_dist *d, double q) {
  switch (d->kind) {
  case HS_DIST_CONSTANT: return d->a;
  case HS_DIST_UNIFORM: return d->a + q * (d->b - d->a);
  case HS_DIST_EXPONENTIAL: return q >= 1 ? INFINITY : -d->a * log1p(-q);
  case HS_DIST_PERCENTILES: return percentile_at(d, q);
  default: return NAN;
  }
}

double hs_dist_quantile(const hs_dist *d, double q) {
  if (!(q >= 0 && q <= 1)) return NAN;
  return d->offset + quantile_kind(d, q);
}

const char *hs_dist_kind_name(hs_dist_kind kind) {
  switch (kind) {
  case HS_DIST_CONSTANT: return "constant";
  case HS_DIST_UNIFORM: return "uniform";
  case HS_DIST_EXPONENTIAL: return "exponential";
  case HS_DIST_NORMAL: return "normal";
  case HS_DIST_LOGNORMAL: return "lognormal";
  case HS_DIST_PERCENTILES: return "percentiles";
  }
  return "unknown";
}
