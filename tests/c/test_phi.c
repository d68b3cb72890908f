/*
 * test_phi.c - the phi accrual failure detector (engine/membership/hs_phi.h).
 *
 * phi is checked against values computed independently of the engine's code path: constants
 * computed by hand with 40-digit arithmetic (mpmath), long double erfcl, and the asymptotic
 * series of the normal tail in long double far out where erfc itself underflows. Agreement is
 * required to 1e-9 (relative, or absolute below 1). The detector's window is checked against a
 * two-pass recomputation of the same intervals.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hs_rng.h"
#include "membership/hs_phi.h"

#define MS 1000000LL
#define S 1000000000LL

/* |a - e| <= tol * max(1, |e|) */
#define assert_close(actual, expected, tol)                                                                  \
  do {                                                                                                       \
    double a_ = (double)(actual), e_ = (double)(expected), t_ = (tol);                                      \
    double scale_ = fabs(e_) > 1 ? fabs(e_) : 1;                                                             \
    if (!(fabs(a_ - e_) <= t_ * scale_))                                                                     \
      fail_msg("%s = %.17g, expected %.17g (diff %.3g, tolerance %.3g)", #actual, a_, e_, a_ - e_, t_ * scale_); \
  } while (0)

/* ---- Independent references ------------------------------------------------------------ */

/* -log10 P[Z > y] with long double erfcl (no underflow before y ~ 100 in long double). */
static long double ref_phi_erfcl(long double y) { return -log10l(0.5L * erfcl(y / sqrtl(2.0L))); }

/* -log10 P[Z > y] from the asymptotic series, for large y:
 * P[Z > y] = pdf(y) / y * (1 - 1/y^2 + 3/y^4 - 15/y^6 + ...), summed while terms shrink. */
static long double ref_phi_asymptotic(long double y) {
  long double y2 = y * y, term = 1.0L, sum = 1.0L;
  for (int n = 1; n < 60; n++) {
    long double next = -term * (2.0L * n - 1.0L) / y2;
    if (fabsl(next) >= fabsl(term)) break;
    term = next;
    sum += term;
  }
  long double ln_q = -y2 / 2.0L - logl(y) - 0.5L * logl(2.0L * 3.14159265358979323846264338327950288L) + logl(sum);
  return -ln_q / logl(10.0L);
}

/* ---- The formula --------------------------------------------------------------------------- */

/* Hand-checked: -log10(erfc(y / sqrt 2) / 2) with 40-digit arithmetic (mpmath 1.3). */
static void test_normal_constants(void **state) {
  (void)state;
  static const struct {
    double y, phi;
  } k[] = {
      {-3, 0.0005866493137900666910232816}, {-1, 0.07502601295781802323798172},
      {0, 0.3010299956639811952137389},     {0.5, 0.5106919892652407744712585},
      {1, 0.7995455414919705000308679},     {2, 1.643016080140937047984366},
      {3, 2.869699035929369077223182},      {5, 6.542645672390654496335454},
      {7.0710678118654755, 12.11422622815074115748148}, /* x = 5: where the method switches */
      {10, 23.11805340548607589426978},     {20, 88.56009534307559192031733},
      {40, 349.4370064593458420860509},     {100, 2173.871542869034376527531},
      {1000, 217150.6400419943862792616},
  };
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    assert_close(hs_phi_normal(k[i].y, 0.0, 1.0), k[i].phi, 1e-12);
    /* the same y as (t - mean) / sd with a mean and sd in seconds */
    assert_close(hs_phi_normal(1.0 + 0.25 * k[i].y, 1.0, 0.25), k[i].phi, 1e-9);
  }
  /* phi(mean) = log10 2 for any window; the threshold 8 is y = 5.6120 */
  assert_close(hs_phi_normal(2.5, 2.5, 0.3), 0.30102999566398119521, 1e-15);
}

/* A grid of y from -8 to 99.5 against long double erfcl, then to 10^4 against the series. */
static void test_normal_against_references(void **state) {
  (void)state;
  double worst = 0;
  for (double y = -8.0; y < 99.5; y += 0.0625) {
    long double ref = ref_phi_erfcl((long double)y);
    double got = hs_phi_normal(y, 0.0, 1.0);
    assert_close(got, (double)ref, 1e-9);
    double scale = fabs((double)ref) > 1 ? fabs((double)ref) : 1;
    if (fabs(got - (double)ref) / scale > worst) worst = fabs(got - (double)ref) / scale;
  }
  for (double y = 20.0; y < 10000.0; y *= 1.07) {
    assert_close(hs_phi_normal(y, 0.0, 1.0), (double)ref_phi_asymptotic((long double)y), 1e-12);
  }
  /* the two references agree where both hold */
  assert_close((double)ref_phi_asymptotic(30.0L), (double)ref_phi_erfcl(30.0L), 1e-15);
  print_message("phi normal: worst relative difference from erfcl over the grid %.3g\n", worst);
  /* no infinity, no NaN far out; monotone */
  double prev = -1;
  for (double y = -40; y < 1e9; y = y < 1 ? y + 0.5 : y * 1.5) {
    double p = hs_phi_normal(y, 0.0, 1.0);
    assert_true(isfinite(p));
    assert_true(p >= prev);
    prev = p;
  }
}

static void test_exponential_constants(void **state) {
  (void)state;
  /* 2 / ln 10 and 7 / (1.5 ln 10), 25 digits (mpmath) */
  assert_close(hs_phi_exponential(2.0, 1.0), 0.8685889638065036553022578, 1e-15);
  assert_close(hs_phi_exponential(7.0, 1.5), 2.026707582215175195705268, 1e-15);
  for (double t = 0; t < 1000; t += 3.7)
    assert_close(hs_phi_exponential(t, 0.8), (double)((long double)t / (0.8L * logl(10.0L))), 1e-14);
  /* phi = -log10(exp(-t / mean)) */
  assert_close(hs_phi_exponential(3.0, 1.25), -log10(exp(-3.0 / 1.25)), 1e-13);
}

/* ---- The detector -------------------------------------------------------------------------- */

/* Mean and population sd of x[0..n) in seconds, two-pass in long double. */
static void ref_moments(const int64_t *x, size_t n, long double *mean, long double *sd) {
  long double m = 0, v = 0;
  for (size_t i = 0; i < n; i++) m += (long double)x[i];
  m /= (long double)n;
  for (size_t i = 0; i < n; i++) v += ((long double)x[i] - m) * ((long double)x[i] - m);
  v /= (long double)n;
  *mean = m / 1e9L;
  *sd = sqrtl(v) / 1e9L;
}

static void test_detector_window(void **state) {
  (void)state;
  hs_phi_config cfg;
  hs_phi_config_init(&cfg);
  cfg.max_sample_size = 3;
  cfg.min_std_ns = 1 * MS;
  hs_phi d;
  assert_int_equal(HS_OK, hs_phi_init(&d, &cfg));
  assert_true(hs_phi_value(&d, 5 * S) == 0.0); /* no data */
  /* heartbeats at 0, 1.0, 2.2, 3.1, 4.5, 5.0: the window keeps the last 3 intervals */
  static const int64_t at[] = {0, 1000 * MS, 2200 * MS, 3100 * MS, 4500 * MS, 5000 * MS};
  for (size_t i = 0; i < 6; i++) assert_int_equal(HS_OK, hs_phi_heartbeat(&d, at[i]));
  assert_int_equal(3, hs_phi_sample_count(&d));
  int64_t last3[] = {900 * MS, 1400 * MS, 500 * MS};
  long double mean, sd;
  ref_moments(last3, 3, &mean, &sd);
  /* hand-checked: mean 0.9333.. s, sd sqrt(((-.0333)^2 + .4667^2 + .4333^2) / 3) = 0.36818 s */
  assert_close((double)mean, 0.93333333333333333, 1e-15);
  assert_close((double)sd, 0.368178700572908692473697, 1e-15);
  hs_phi_stats st;
  hs_phi_get_stats(&d, 6 * S, &st);
  assert_int_equal(6, st.heartbeats_received);
  assert_close(st.mean_interval_s, (double)mean, 1e-15);
  assert_close(st.std_interval_s, (double)sd, 1e-15);
  for (int64_t dt = 0; dt <= 5 * S; dt += 37 * MS) {
    long double y = ((long double)dt / 1e9L - mean) / sd;
    assert_close(hs_phi_value(&d, 5 * S + dt), (double)ref_phi_erfcl(y), 1e-9);
  }
  assert_false(hs_phi_available(&d, 5 * S + 5 * S)); /* y = 11: phi 27.9 */
  assert_true(hs_phi_available(&d, 5 * S + 1 * S));
  assert_int_equal(HS_EINVAL, hs_phi_heartbeat(&d, 4 * S)); /* before the last */
  assert_int_equal(3, hs_phi_sample_count(&d));
  hs_phi_reset(&d);
  assert_true(hs_phi_value(&d, 10 * S) == 0.0);
  hs_phi_free(&d);
}

static void test_detector_min_std_pause_bootstrap(void **state) {
  (void)state;
  hs_phi_config cfg;
  hs_phi_config_init(&cfg); /* min_std 100 ms */
  hs_phi d;
  assert_int_equal(HS_OK, hs_phi_init(&d, &cfg));
  for (int i = 0; i <= 10; i++) hs_phi_heartbeat(&d, i * 1000 * MS); /* sd 0: min_std applies */
  /* 1.3 s after the last: y = (1.3 - 1.0) / 0.1 = 3 */
  assert_close(hs_phi_value(&d, 11300 * MS), 2.869699035929369077223182, 1e-9);
  hs_phi_free(&d);

  cfg.acceptable_pause_ns = 500 * MS; /* mean' = 1.5 s */
  assert_int_equal(HS_OK, hs_phi_init(&d, &cfg));
  for (int i = 0; i <= 10; i++) hs_phi_heartbeat(&d, i * 1000 * MS);
  assert_close(hs_phi_value(&d, 11500 * MS), 0.3010299956639811952137389, 1e-12); /* y = 0 */
  assert_close(hs_phi_value(&d, 12000 * MS), 6.542645672390654496335454, 1e-9);  /* y = 5 */
  hs_phi_free(&d);

  /* Akka's bootstrap: estimate 1 s seeds 0.75 s and 1.25 s (mean 1, sd 0.25) */
  hs_phi_config_init(&cfg);
  cfg.first_heartbeat_estimate_ns = 1000 * MS;
  assert_int_equal(HS_OK, hs_phi_init(&d, &cfg));
  hs_phi_heartbeat(&d, 7 * S);
  assert_int_equal(2, hs_phi_sample_count(&d));
  assert_close(hs_phi_value(&d, 8 * S), 0.3010299956639811952137389, 1e-12);
  assert_close(hs_phi_value(&d, 8500 * MS), 1.643016080140937047984366, 1e-9); /* y = 0.5 / 0.25 = 2 */
  hs_phi_free(&d);
}

static void test_detector_exponential(void **state) {
  (void)state;
  hs_phi_config cfg;
  hs_phi_config_init(&cfg);
  cfg.model = HS_PHI_EXPONENTIAL;
  hs_phi d;
  assert_int_equal(HS_OK, hs_phi_init(&d, &cfg));
  /* intervals 1, 2, 1, 2 s: mean 1.5 */
  int64_t t = 0;
  for (int i = 0; i < 5; i++) {
    hs_phi_heartbeat(&d, t);
    t += (i % 2 ? 2000 : 1000) * MS;
  }
  t -= 1000 * MS; /* the last heartbeat was at 6 s */
  assert_close(hs_phi_value(&d, t + 7 * S), 2.026707582215175195705268, 1e-12);
  assert_close(hs_phi_value(&d, t + 3 * S), 3.0 / (1.5 * log(10.0)), 1e-12);
  hs_phi_free(&d);
}

/* A million jittered heartbeats through a window of 200: the exact sums agree with a
 * two-pass recomputation of the last 200 intervals, and phi with the formula on them. */
static void test_detector_long_run_exact(void **state) {
  (void)state;
  hs_phi d;
  assert_int_equal(HS_OK, hs_phi_init(&d, NULL));
  hs_rng rng;
  hs_rng_seed(&rng, 42, "phi", 3);
  int64_t ring[200], t = 0;
  uint32_t k = 0;
  hs_phi_heartbeat(&d, t);
  for (int i = 0; i < 1000000; i++) {
    int64_t dt = 900 * MS + (int64_t)hs_rng_below(&rng, 200 * MS + 1);
    if (i % 100000 == 7) dt = 3600LL * S; /* a rare long silence */
    t += dt;
    hs_phi_heartbeat(&d, t);
    ring[k++ % 200] = dt;
  }
  long double mean, sd;
  ref_moments(ring, 200, &mean, &sd);
  hs_phi_stats st;
  hs_phi_get_stats(&d, t, &st);
  assert_close(st.mean_interval_s, (double)mean, 1e-15);
  assert_close(st.std_interval_s, (double)sd, 1e-13);
  long double sd_eff = sd < 0.1L ? 0.1L : sd;
  for (int64_t dt = 0; dt < 3 * S; dt += 101 * MS)
    assert_close(hs_phi_value(&d, t + dt), (double)ref_phi_erfcl(((long double)dt / 1e9L - mean) / sd_eff), 1e-9);
  hs_phi_free(&d);
}

static void test_bad_config(void **state) {
  (void)state;
  hs_phi_config cfg;
  hs_phi d;
  hs_phi_config_init(&cfg);
  cfg.threshold = NAN;
  assert_int_equal(HS_EINVAL, hs_phi_init(&d, &cfg));
  hs_phi_free(&d);
  hs_phi_config_init(&cfg);
  cfg.max_sample_size = 0;
  assert_int_equal(HS_EINVAL, hs_phi_init(&d, &cfg));
  cfg.max_sample_size = HS_PHI_MAX_SAMPLES + 1;
  assert_int_equal(HS_EINVAL, hs_phi_init(&d, &cfg));
  hs_phi_config_init(&cfg);
  cfg.min_std_ns = -1;
  assert_int_equal(HS_EINVAL, hs_phi_init(&d, &cfg));
  hs_phi_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normal_constants),
      cmocka_unit_test(test_normal_against_references),
      cmocka_unit_test(test_exponential_constants),
      cmocka_unit_test(test_detector_window),
      cmocka_unit_test(test_detector_min_std_pause_bootstrap),
      cmocka_unit_test(test_detector_exponential),
      cmocka_unit_test(test_detector_long_run_exact),
      cmocka_unit_test(test_bad_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
