/*
 * hs_dist.h - value distributions for latencies and delays (in seconds).
 *
 * An hs_dist is a small tagged value struct: build it with a constructor, check it with
 * hs_dist_validate, copy it freely (it owns no memory). Samples draw from a caller-given
 * hs_rng stream, so they are deterministic. Every kind is meant for durations: samples are
 * never negative.
 *
 *   constant(v)            always v; draws nothing from the stream
 *   uniform(a, b)          uniform in [a, b), 0 <= a <= b
 *   exponential(mean)      mean >= 0
 *   normal(mean, stddev)   truncated at 0 (resampled until >= 0), mean >= 0, stddev >= 0
 *   lognormal(mu, sigma)   exp(N(mu, sigma)), sigma >= 0; or built from a mean and stddev
 *   percentiles            a piecewise-linear inverse CDF through (p, value) points
 *
 * Every kind may carry an offset >= 0 added to each sample (hs_dist_shift): a latency fault
 * adds its extra delay to a link's latency that way, whatever the latency's kind.
 *
 * A zero-initialised hs_dist is constant(0): "no delay".
 */
#ifndef HS_DIST_H
#define HS_DIST_H

#include "core/hs_rng.h"

/* Most (p, value) points a percentiles distribution holds, the implicit p = 0 point included. */
#define HS_DIST_MAX_POINTS 16

typedef enum hs_dist_kind {
  HS_DIST_CONSTANT = 0,
  HS_DIST_UNIFORM,
  HS_DIST_EXPONENTIAL,
  HS_DIST_NORMAL,
  HS_DIST_LOGNORMAL,
  HS_DIST_PERCENTILES
} hs_dist_kind;

typedef struct hs_dist {
  hs_dist_kind kind;
  uint32_t npoints;             /* percentiles: number of points in p[] and v[] (p[0] == 0) */
  double a;                     /* constant: value; uniform: low; exponential, normal: mean; lognormal: mu */
  double b;                     /* uniform: high; normal: stddev; lognormal: sigma */
  double p[HS_DIST_MAX_POINTS]; /* percentiles: cumulative probabilities, p[0] = 0, increasing */
  double v[HS_DIST_MAX_POINTS]; /* percentiles: values at p[i], non-decreasing */
  double offset;                /* added to every sample, >= 0 (0 unless shifted) */
} hs_dist;

hs_dist hs_dist_constant(double value);
hs_dist hs_dist_uniform(double low, double high);
hs_dist hs_dist_exponential(double mean);
hs_dist hs_dist_normal(double mean, double stddev);
hs_dist hs_dist_lognormal(double mu, double sigma);
/* The lognormal whose mean and standard deviation are the given ones (mean > 0, stddev >= 0):
 * sigma^2 = ln(1 + stddev^2 / mean^2), mu = ln(mean) - sigma^2 / 2. A bad argument gives a
 * distribution that hs_dist_validate rejects. */
hs_dist hs_dist_lognormal_from_mean(double mean, double stddev);

/*
 * Builds a percentiles distribution from n points (probs[i], values[i]), probs in (0, 1] and
 * strictly increasing, values non-decreasing and >= min_value. A point (0, min_value) is
 * prepended (pass min_value = 0 for latencies that can be arbitrarily small). Sampling draws
 * u in [0, 1) and interpolates linearly between the points around u; above the last point
 * (when its p < 1) the last segment's slope is extended up to p = 1, so the tail is bounded
 * and the density stays continuous. With a single given point the segment is (0, min) to it.
 *
 * Returns NULL on success, or a static message (and leaves *d unspecified) when n is 0 or
 * too large, a number is NaN or infinite, probabilities are outside (0, 1] or not strictly
 * increasing, or values decrease or fall below min_value.
 */
const char *hs_dist_percentiles(hs_dist *d, const double *probs, const double *values, size_t n,
                                double min_value);

/* d moved right by delta seconds (a constant stays a constant); delta may be negative as
 * long as the result's offset or constant stays >= 0 (hs_dist_validate says). */
hs_dist hs_dist_shift(hs_dist d, double delta);

/* NULL when d is a valid duration distribution, else a static message naming the problem
 * ("normal stddev must be >= 0", ...). */
const char *hs_dist_validate(const hs_dist *d);

/* One sample, >= 0 for a valid distribution. Constant draws nothing from r. */
double hs_dist_sample(const hs_dist *d, hs_rng *r);

/* The exact mean (the truncated mean for normal, the piecewise-linear integral for percentiles). */
double hs_dist_mean(const hs_dist *d);

/* The value at cumulative probability q in [0, 1] where it has a closed form (constant,
 * uniform, exponential, percentiles); NAN for normal and lognormal. */
double hs_dist_quantile(const hs_dist *d, double q);

/* A short lower-case name of the kind: "constant", "uniform", ... */
const char *hs_dist_kind_name(hs_dist_kind kind);

#endif
