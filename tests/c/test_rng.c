/*
 * test_rng.c - seeded streams: reproducibility, independence of named streams,
 * pinned outputs, and the shape of each distribution.
 *
 * Statistical bounds are many standard deviations wide; with fixed seeds the
 * outcome is deterministic anyway, so a failure means the code changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "happysim.h"

#define assert_double_between(v, lo, hi)                                                           \
  do {                                                                                             \
    double v_ = (v), lo_ = (lo), hi_ = (hi);                                                       \
    if (!(v_ >= lo_ && v_ <= hi_))                                                                 \
      fail_msg("%s = %.17g, expected in [%.17g, %.17g]", #v, v_, lo_, hi_);                        \
  } while (0)

static void seed_named(hs_rng *r, uint64_t seed, const char *name) {
  hs_rng_seed(r, seed, name, name ? strlen(name) : 0);
}

/* Counts equal outputs at equal positions over n draws. */
static int count_matches(hs_rng *a, hs_rng *b, int n) {
  int same = 0;
  for (int i = 0; i < n; i++) same += hs_rng_next(a) == hs_rng_next(b);
  return same;
}

static void test_same_seed_same_sequence(void **state) {
  (void)state;
  hs_rng a, b;
  seed_named(&a, 99, "client-7");
  seed_named(&b, 99, "client-7");
  for (int i = 0; i < 10000; i++) assert_int_equal(hs_rng_next(&a), hs_rng_next(&b));
  seed_named(&a, 99, NULL);
  seed_named(&b, 99, NULL);
  for (int i = 0; i < 10000; i++) assert_int_equal(hs_rng_next(&a), hs_rng_next(&b));
}

static void test_streams_differ(void **state) {
  (void)state;
  hs_rng a, b;
  seed_named(&a, 99, "client-7");
  seed_named(&b, 99, "client-8");
  assert_int_equal(count_matches(&a, &b, 1000), 0);
  seed_named(&a, 99, "client-7");
  seed_named(&b, 100, "client-7");
  assert_int_equal(count_matches(&a, &b, 1000), 0);
  /* The simulation's own stream (NULL name) is none of the named ones, not even "". */
  seed_named(&a, 99, NULL);
  seed_named(&b, 99, "");
  assert_int_equal(count_matches(&a, &b, 1000), 0);
  seed_named(&a, 99, NULL);
  seed_named(&b, 99, "client-7");
  assert_int_equal(count_matches(&a, &b, 1000), 0);
  /* Only name_len bytes of the name count. */
  hs_rng_seed(&a, 99, "client-7xyz", 8);
  seed_named(&b, 99, "client-7");
  assert_int_equal(count_matches(&a, &b, 1000), 1000);
  /* Seed 0 and an empty name still give a live (non-zero) state. */
  seed_named(&a, 0, "");
  assert_true(a.s[0] | a.s[1] | a.s[2] | a.s[3]);
  uint64_t x = hs_rng_next(&a), y = hs_rng_next(&a);
  assert_true(x != y);
}

/* Draws from one stream do not depend on draws from another. */
static void test_streams_are_independent(void **state) {
  (void)state;
  hs_rng a1, b1, a2;
  seed_named(&a1, 5, "a");
  seed_named(&b1, 5, "b");
  seed_named(&a2, 5, "a");
  for (int i = 0; i < 500; i++) hs_rng_next(&b1); /* b draws a lot beside a1 only */
  for (int i = 0; i < 100; i++) assert_int_equal(hs_rng_next(&a1), hs_rng_next(&a2));
}

static void test_sim_stream_matches_seed(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 4242);
  hs_rng from_sim, direct;
  hs_sim_stream(&sim, &from_sim, "disk", 4);
  seed_named(&direct, 4242, "disk");
  assert_memory_equal(from_sim.s, direct.s, sizeof direct.s);
  seed_named(&direct, 4242, NULL);
  assert_memory_equal(sim.rng.s, direct.s, sizeof direct.s); /* the sim's own stream */
  hs_sim_close(&sim);
}

/* Golden values, computed by an independent (Python) implementation of the same
 * seeding (splitmix64 + FNV-1a) and of xoshiro256**. A change here changes every
 * recorded trace. */
static void test_pinned_outputs(void **state) {
  (void)state;
  hs_rng r;
  /* The xoshiro256** reference vector for state {1, 2, 3, 4}. */
  r.s[0] = 1, r.s[1] = 2, r.s[2] = 3, r.s[3] = 4;
  const uint64_t ref[] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL,
                          1216172134540287360ULL, 607988272756665600ULL};
  for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) assert_int_equal(hs_rng_next(&r), ref[i]);

  seed_named(&r, 42, NULL);
  assert_int_equal(hs_rng_next(&r), 0x19e479e2aaa77bfbULL);
  assert_int_equal(hs_rng_next(&r), 0x5e3efe753be27527ULL);
  assert_int_equal(hs_rng_next(&r), 0xc3ed7125b780200aULL);
  assert_int_equal(hs_rng_next(&r), 0x85b911e2152f876eULL);
  seed_named(&r, 42, "node-1");
  assert_int_equal(hs_rng_next(&r), 0x4ecda47a2fc2d40dULL);
  assert_int_equal(hs_rng_next(&r), 0x08a78e4f5612b874ULL);
  assert_int_equal(hs_rng_next(&r), 0xac53ada2f82f23f0ULL);
  assert_int_equal(hs_rng_next(&r), 0x0f3cc7c1df70ab82ULL);
}

static void test_fnv1a_vectors(void **state) {
  (void)state;
  assert_int_equal(hs_hash_bytes("", 0), 0xcbf29ce484222325ULL);
  assert_int_equal(hs_hash_bytes("a", 1), 0xaf63dc4c8601ec8cULL);
  assert_int_equal(hs_hash_bytes("foobar", 6), 0x85944171f73967e8ULL);
}

static void test_below_range(void **state) {
  (void)state;
  hs_rng r;
  seed_named(&r, 1, "below");
  const uint64_t ns[] = {1, 2, 3, 7, 10, 1000, 1ULL << 32, (1ULL << 63) + 1, UINT64_MAX};
  for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
    uint64_t n = ns[k], max_seen = 0;
    for (int i = 0; i < 2000; i++) {
      uint64_t x = hs_rng_below(&r, n);
      if (x >= n) fail_msg("hs_rng_below(%llu) gave %llu", (unsigned long long)n, (unsigned long long)x);
      if (x > max_seen) max_seen = x;
    }
    if (n == 1) assert_int_equal(max_seen, 0);
    if (n > 1 && n <= 1000) assert_int_equal(max_seen, n - 1); /* reaches the top */
    if (n == UINT64_MAX || n == (1ULL << 63) + 1) assert_true(max_seen > n / 2);
  }
}

/* Chi-square over 10 and 97 buckets; the 99.9999% quantiles are about 45 (df=9)
 * and 180 (df=96). */
static double chi_square(hs_rng *r, uint64_t buckets, int draws) {
  static uint64_t count[128];
  assert_true(buckets <= 128);
  memset(count, 0, sizeof count);
  for (int i = 0; i < draws; i++) count[hs_rng_below(r, buckets)]++;
  double expected = (double)draws / (double)buckets, chi = 0;
  for (uint64_t b = 0; b < buckets; b++) {
    double d = (double)count[b] - expected;
    chi += d * d / expected;
  }
  return chi;
}

static void test_below_uniform(void **state) {
  (void)state;
  hs_rng r;
  seed_named(&r, 2024, "chi");
  assert_double_between(chi_square(&r, 10, 100000), 0.0, 45.0);
  assert_double_between(chi_square(&r, 97, 200000), 0.0, 180.0);
  /* A power of two, where rejection never happens in practice. */
  assert_double_between(chi_square(&r, 64, 200000), 0.0, 130.0);
}

static void test_double_range_and_mean(void **state) {
  (void)state;
  hs_rng r;
  seed_named(&r, 3, "double");
  enum { N = 200000 };
  double sum = 0, lo = 1, hi = 0;
  for (int i = 0; i < N; i++) {
    double u = hs_rng_double(&r);
    if (!(u >= 0.0 && u < 1.0)) fail_msg("hs_rng_double gave %.17g", u);
    sum += u;
    if (u < lo) lo = u;
    if (u > hi) hi = u;
  }
  /* sd of the mean = 1/sqrt(12 N) ~ 0.00065 */
  assert_double_between(sum / N, 0.495, 0.505);
  assert_double_between(lo, 0.0, 1e-3);
  assert_double_between(hi, 1.0 - 1e-3, 1.0);
  /* The extremes of the mapping: 0 maps to 0 and the largest draw stays below 1. */
  assert_true((double)(UINT64_MAX >> 11) * 0x1.0p-53 < 1.0);
}

static void test_uniform(void **state) {
  (void)state;
  hs_rng r;
  seed_named(&r, 4, "uniform");
  enum { N = 100000 };
  double sum = 0;
  for (int i = 0; i < N; i++) {
    double x = hs_rng_uniform(&r, -3.0, 5.0);
    if (!(x >= -3.0 && x < 5.0)) fail_msg("hs_rng_uniform(-3, 5) gave %.17g", x);
    sum += x;
  }
  assert_double_between(sum / N, 0.95, 1.05); /* sd of the mean ~ 0.0073 */
  /* A degenerate interval gives its one point. */
  assert_true(hs_rng_uniform(&r, 2.5, 2.5) == 2.5);
}

static void test_exponential(void **state) {
  (void)state;
  hs_rng r;
  seed_named(&r, 5, "exp");
  enum { N = 200000 };
  const double mean = 3.0;
  double sum = 0, sum_sq = 0;
  int over_mean = 0;
  for (int i = 0; i < N; i++) {
    double x = hs_rng_exponential(&r, mean);
    if (!(x >= 0.0 && isfinite(x))) fail_msg("hs_rng_exponential gave %.17g", x);
    sum += x;
    sum_sq += x * x;
    over_mean += x > mean;
  }
  double m = sum / N, sd = sqrt(sum_sq / N - m * m);
  assert_double_between(m, mean * 0.98, mean * 1.02);
  assert_double_between(sd, mean * 0.97, mean * 1.03); /* sd equals the mean */
  /* P(X > mean) = 1/e ~ 0.3679 */
  assert_double_between((double)over_mean / N, 0.36, 0.376);
}

static void test_normal(void **state) {
  (void)state;
  hs_rng r;
  seed_named(&r, 6, "normal");
  enum { N = 200000 };
  const double mean = 10.0, stddev = 2.5;
  double sum = 0, sum_sq = 0;
  int within_1sd = 0;
  for (int i = 0; i < N; i++) {
    double x = hs_rng_normal(&r, mean, stddev);
    if (!isfinite(x)) fail_msg("hs_rng_normal gave %.17g", x);
    sum += x;
    sum_sq += x * x;
    within_1sd += fabs(x - mean) < stddev;
  }
  double m = sum / N, sd = sqrt(sum_sq / N - m * m);
  assert_double_between(m, mean - 0.03, mean + 0.03); /* sd of the mean ~ 0.0056 */
  assert_double_between(sd, stddev * 0.98, stddev * 1.02);
  assert_double_between((double)within_1sd / N, 0.676, 0.689); /* 0.6827 */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_seed_same_sequence),
      cmocka_unit_test(test_streams_differ),
      cmocka_unit_test(test_streams_are_independent),
      cmocka_unit_test(test_sim_stream_matches_seed),
      cmocka_unit_test(test_pinned_outputs),
      cmocka_unit_test(test_fnv1a_vectors),
      cmocka_unit_test(test_below_range),
      cmocka_unit_test(test_below_uniform),
      cmocka_unit_test(test_double_range_and_mean),
      cmocka_unit_test(test_uniform),
      cmocka_unit_test(test_exponential),
      cmocka_unit_test(test_normal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
