/*
 * test_dist.c - duration distributions: constructors, validation, and the mean and
 * percentiles of each kind measured over large samples from a seeded stream.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/hs_dist.h"

#define N 200000

/* |actual - expected| <= rel * |expected| (+ abs), printing both on failure. */
#define assert_near(actual, expected, rel, abs_)                                                             \
  do {                                                                                                       \
    double a_ = (actual), e_ = (expected);                                                                   \
    double tol_ = (rel)*fabs(e_) + (abs_);                                                                   \
    if (!(fabs(a_ - e_) <= tol_))                                                                            \
      fail_msg("%s = %.9g, expected %.9g (tolerance %.3g)", #actual, a_, e_, tol_);                          \
  } while (0)

#define assert_valid(d)                                                                                      \
  do {                                                                                                       \
    hs_dist d_ = (d);                                                                                        \
    const char *e_ = hs_dist_validate(&d_);                                                                  \
    if (e_) fail_msg("%s rejected: %s", #d, e_);                                                             \
  } while (0)

#define assert_invalid(d)                                                                                    \
  do {                                                                                                       \
    hs_dist d_ = (d);                                                                                        \
    if (!hs_dist_validate(&d_)) fail_msg("%s accepted", #d);                                                 \
  } while (0)

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* What a large sample of d looks like: sorted values, mean, min. */
typedef struct sample {
  double *v;
  double mean, min, max;
} sample;

static sample draw(const hs_dist *d, uint64_t seed) {
  sample s = {malloc(N * sizeof(double)), 0, INFINITY, -INFINITY};
  assert_non_null(s.v);
  hs_rng r;
  hs_rng_seed(&r, seed, "dist", 4);
  double sum = 0;
  for (int i = 0; i < N; i++) {
    double x = hs_dist_sample(d, &r);
    s.v[i] = x;
    sum += x;
    if (x < s.min) s.min = x;
    if (x > s.max) s.max = x;
  }
  s.mean = sum / N;
  qsort(s.v, N, sizeof(double), cmp_double);
  return s;
}

static double pct(const sample *s, double q) { return s->v[(size_t)(q * (N - 1))]; }

static void test_constant_draws_nothing(void **state) {
  (void)state;
  hs_dist d = hs_dist_constant(0.25);
  assert_valid(d);
  hs_rng r, before;
  hs_rng_seed(&r, 1, "x", 1);
  before = r;
  for (int i = 0; i < 10; i++) assert_true(hs_dist_sample(&d, &r) == 0.25);
  assert_memory_equal(&r, &before, sizeof r);
  assert_true(hs_dist_mean(&d) == 0.25);
  /* The zero value is "no delay". */
  hs_dist zero;
  memset(&zero, 0, sizeof zero);
  assert_valid(zero);
  assert_true(hs_dist_sample(&zero, &r) == 0);
}

static void test_uniform(void **state) {
  (void)state;
  hs_dist d = hs_dist_uniform(0.010, 0.030);
  assert_valid(d);
  sample s = draw(&d, 7);
  assert_true(s.min >= 0.010);
  assert_true(s.max < 0.030);
  assert_near(s.mean, 0.020, 0.01, 0);
  assert_near(hs_dist_mean(&d), 0.020, 1e-12, 0);
  assert_near(pct(&s, 0.5), 0.020, 0.01, 0);
  assert_near(pct(&s, 0.99), hs_dist_quantile(&d, 0.99), 0.01, 0);
  free(s.v);
}

static void test_exponential(void **state) {
  (void)state;
  hs_dist d = hs_dist_exponential(0.002);
  assert_valid(d);
  sample s = draw(&d, 8);
  assert_true(s.min >= 0);
  assert_near(s.mean, 0.002, 0.02, 0);
  assert_near(pct(&s, 0.5), 0.002 * log(2.0), 0.02, 0);
  assert_near(pct(&s, 0.99), 0.002 * log(100.0), 0.03, 0);
  assert_near(hs_dist_quantile(&d, 0.99), 0.002 * log(100.0), 1e-12, 0);
  free(s.v);
}

static void test_normal_truncated_at_zero(void **state) {
  (void)state;
  /* Barely truncated: the plain normal's mean and median. */
  hs_dist d = hs_dist_normal(0.050, 0.005);
  assert_valid(d);
  sample s = draw(&d, 9);
  assert_near(s.mean, 0.050, 0.005, 0);
  assert_near(pct(&s, 0.5), 0.050, 0.005, 0);
  assert_near(pct(&s, 0.99), 0.050 + 2.3263 * 0.005, 0.01, 0);
  free(s.v);
  /* Heavily truncated (mean 1 ms, stddev 2 ms): nothing negative, and the truncated mean. */
  d = hs_dist_normal(0.001, 0.002);
  s = draw(&d, 10);
  assert_true(s.min >= 0);
  double mu = 0.001, sd = 0.002, alpha = -mu / sd;
  double expect =
      mu + sd * (exp(-alpha * alpha / 2) / sqrt(2 * 3.141592653589793)) / (0.5 * erfc(alpha / sqrt(2)));
  assert_near(hs_dist_mean(&d), expect, 1e-9, 0);
  assert_near(s.mean, expect, 0.02, 0);
  free(s.v);
}

static void test_lognormal(void **state) {
  (void)state;
  hs_dist d = hs_dist_lognormal(log(0.010), 0.5);
  assert_valid(d);
  sample s = draw(&d, 11);
  assert_true(s.min > 0);
  assert_near(pct(&s, 0.5), 0.010, 0.02, 0);
  assert_near(pct(&s, 0.99), 0.010 * exp(2.3263 * 0.5), 0.04, 0);
  assert_near(s.mean, 0.010 * exp(0.125), 0.02, 0);
  assert_near(hs_dist_mean(&d), 0.010 * exp(0.125), 1e-12, 0);
  free(s.v);
}

static void test_lognormal_from_mean(void **state) {
  (void)state;
  hs_dist d = hs_dist_lognormal_from_mean(0.100, 0.050);
  assert_valid(d);
  assert_near(hs_dist_mean(&d), 0.100, 1e-12, 0);
  sample s = draw(&d, 12);
  double var = 0;
  for (int i = 0; i < N; i++) var += (s.v[i] - s.mean) * (s.v[i] - s.mean);
  assert_near(s.mean, 0.100, 0.01, 0);
  assert_near(sqrt(var / (N - 1)), 0.050, 0.03, 0);
  free(s.v);
  assert_invalid(hs_dist_lognormal_from_mean(0, 1));
  assert_invalid(hs_dist_lognormal_from_mean(1, -1));
  assert_invalid(hs_dist_lognormal_from_mean(NAN, 1));
}

static void test_percentiles(void **state) {
  (void)state;
  const double p[] = {0.5, 0.9, 0.99};
  const double v[] = {0.010, 0.025, 0.080};
  hs_dist d;
  assert_null(hs_dist_percentiles(&d, p, v, 3, 0.002));
  assert_valid(d);
  sample s = draw(&d, 13);
  assert_true(s.min >= 0.002);
  assert_near(pct(&s, 0.5), 0.010, 0.02, 0);
  assert_near(pct(&s, 0.9), 0.025, 0.02, 0);
  assert_near(pct(&s, 0.99), 0.080, 0.02, 0);
  assert_near(pct(&s, 0.25), 0.002 + 0.5 * (0.010 - 0.002), 0.02, 0);
  /* The tail extends the last segment's slope up to p = 1. */
  double top = 0.080 + 0.01 * (0.080 - 0.025) / 0.09;
  assert_true(s.max <= top);
  assert_near(hs_dist_quantile(&d, 1.0), top, 1e-12, 0);
  assert_near(s.mean, hs_dist_mean(&d), 0.01, 0);
  free(s.v);
}

static void test_percentiles_single_point_and_full_range(void **state) {
  (void)state;
  hs_dist d;
  const double p1[] = {0.5}, v1[] = {0.004};
  assert_null(hs_dist_percentiles(&d, p1, v1, 1, 0)); /* (0,0)-(0.5,4ms), extended: uniform [0, 8ms) */
  assert_near(hs_dist_mean(&d), 0.004, 1e-12, 0);
  sample s = draw(&d, 14);
  assert_near(s.mean, 0.004, 0.01, 0);
  assert_true(s.max < 0.008);
  free(s.v);
  const double p2[] = {0.5, 1.0}, v2[] = {0.001, 0.003};
  assert_null(hs_dist_percentiles(&d, p2, v2, 2, 0));
  s = draw(&d, 15);
  assert_true(s.max <= 0.003);
  assert_near(pct(&s, 0.75), 0.002, 0.02, 0);
  free(s.v);
}

static void test_percentiles_rejects_bad_points(void **state) {
  (void)state;
  hs_dist d;
  const double inc[] = {0.5, 0.99}, vals[] = {0.010, 0.050};
  const double dec_p[] = {0.9, 0.5}, dec_v[] = {0.050, 0.010};
  const double over[] = {0.5, 1.5}, nanv[] = {0.010, NAN};
  assert_non_null(hs_dist_percentiles(&d, inc, vals, 0, 0));                  /* no point */
  assert_non_null(hs_dist_percentiles(&d, dec_p, vals, 2, 0));                /* p not increasing */
  assert_non_null(hs_dist_percentiles(&d, inc, dec_v, 2, 0));                 /* values decreasing */
  assert_non_null(hs_dist_percentiles(&d, over, vals, 2, 0));                 /* p > 1 */
  assert_non_null(hs_dist_percentiles(&d, inc, nanv, 2, 0));                  /* NaN value */
  assert_non_null(hs_dist_percentiles(&d, inc, vals, 2, 0.020));              /* below the minimum */
  assert_non_null(hs_dist_percentiles(&d, inc, vals, 2, -1));                 /* negative minimum */
  assert_non_null(hs_dist_percentiles(&d, inc, vals, HS_DIST_MAX_POINTS, 0)); /* too many */
  /* A hand-edited struct is checked too. */
  assert_null(hs_dist_percentiles(&d, inc, vals, 2, 0));
  d.v[2] = 0.001;
  assert_non_null(hs_dist_validate(&d));
}

static void test_validation(void **state) {
  (void)state;
  assert_invalid(hs_dist_constant(-0.001));
  assert_invalid(hs_dist_constant(NAN));
  assert_invalid(hs_dist_constant(INFINITY));
  assert_invalid(hs_dist_uniform(-1, 1));
  assert_invalid(hs_dist_uniform(2, 1));
  assert_invalid(hs_dist_exponential(-1));
  assert_invalid(hs_dist_exponential(NAN));
  assert_invalid(hs_dist_normal(-0.001, 0.001));
  assert_invalid(hs_dist_normal(0.001, -0.001));
  assert_invalid(hs_dist_lognormal(0, -0.5));
  assert_invalid(hs_dist_lognormal(NAN, 0.5));
  assert_invalid(hs_dist_lognormal(700, 1));
  hs_dist bad = hs_dist_constant(0);
  bad.kind = (hs_dist_kind)99;
  assert_non_null(hs_dist_validate(&bad));
  assert_valid(hs_dist_uniform(0, 0));
  assert_valid(hs_dist_exponential(0));
  assert_valid(hs_dist_normal(0, 0));
  assert_valid(hs_dist_lognormal(-5, 0));
  assert_string_equal(hs_dist_kind_name(HS_DIST_LOGNORMAL), "lognormal");
}

static void test_same_seed_same_samples(void **state) {
  (void)state;
  hs_dist kinds[5] = {hs_dist_uniform(0, 1), hs_dist_exponential(1), hs_dist_normal(1, 1),
                      hs_dist_lognormal(0, 1), hs_dist_constant(3)};
  for (int k = 0; k < 5; k++) {
    hs_rng a, b;
    hs_rng_seed(&a, 99, "same", 4);
    hs_rng_seed(&b, 99, "same", 4);
    for (int i = 0; i < 1000; i++)
      assert_true(hs_dist_sample(&kinds[k], &a) == hs_dist_sample(&kinds[k], &b));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constant_draws_nothing),
      cmocka_unit_test(test_uniform),
      cmocka_unit_test(test_exponential),
      cmocka_unit_test(test_normal_truncated_at_zero),
      cmocka_unit_test(test_lognormal),
      cmocka_unit_test(test_lognormal_from_mean),
      cmocka_unit_test(test_percentiles),
      cmocka_unit_test(test_percentiles_single_point_and_full_range),
      cmocka_unit_test(test_percentiles_rejects_bad_points),
      cmocka_unit_test(test_validation),
      cmocka_unit_test(test_same_seed_same_samples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
