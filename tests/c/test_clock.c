/*
 * test_clock.c - the laws of each clock: Lamport ordering, vector clock happened-before and
 * concurrency against a ground truth, merge as least upper bound, HLC monotonicity and its
 * bounded distance from physical time under skew, and the skew/drift clock model.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/hs_rng.h"
#include "clock/hs_clock.h"

#define assert_order(actual, expected)                                                                       \
  do {                                                                                                       \
    hs_order a_ = (actual), e_ = (expected);                                                                 \
    if (a_ != e_) fail_msg("%s: got %s, expected %s", #actual, hs_order_name(a_), hs_order_name(e_));        \
  } while (0)

/* ---- Lamport ------------------------------------------------------------------------- */

static void test_lamport_basics(void **state) {
  (void)state;
  hs_lamport a, b;
  hs_lamport_init(&a);
  hs_lamport_init(&b);
  assert_int_equal(hs_lamport_tick(&a), 1);
  uint64_t ts = hs_lamport_send(&a);
  assert_int_equal(ts, 2);
  assert_int_equal(hs_lamport_receive(&b, ts), 3); /* > remote */
  for (int i = 0; i < 10; i++) hs_lamport_tick(&b);
  assert_int_equal(hs_lamport_receive(&b, 1), 14); /* > local */
}

/* Random message exchanges: every receive is later than its send and than the receiver's past. */
static void test_lamport_receive_exceeds_both(void **state) {
  (void)state;
  enum { NODES = 5, STEPS = 5000 };
  hs_lamport c[NODES];
  for (int i = 0; i < NODES; i++) hs_lamport_init(&c[i]);
  hs_rng r;
  hs_rng_seed(&r, 3, "lamport", 7);
  for (int s = 0; s < STEPS; s++) {
    int from = (int)hs_rng_below(&r, NODES), to = (int)hs_rng_below(&r, NODES);
    if (hs_rng_below(&r, 4) == 0) {
      uint64_t before = c[from].time;
      assert_true(hs_lamport_tick(&c[from]) > before);
      continue;
    }
    uint64_t ts = hs_lamport_send(&c[from]);
    uint64_t before = c[to].time;
    uint64_t got = hs_lamport_receive(&c[to], ts);
    assert_true(got > ts);
    assert_true(got > before);
  }
}

/* ---- Vector clocks ------------------------------------------------------------------- */

static void test_vclock_entries(void **state) {
  (void)state;
  hs_vclock v, w;
  hs_vclock_init(&v);
  hs_vclock_init(&w);
  assert_int_equal(hs_vclock_get(&v, 7), 0);
  assert_int_equal(hs_vclock_increment(&v, 7), HS_OK);
  assert_int_equal(hs_vclock_increment(&v, 2), HS_OK);
  assert_int_equal(hs_vclock_increment(&v, 7), HS_OK);
  assert_int_equal(hs_vclock_set(&v, 40, 5), HS_OK);
  assert_int_equal(v.n, 3); /* sorted by node */
  assert_int_equal(v.ids[0], 2);
  assert_int_equal(v.ids[1], 7);
  assert_int_equal(v.ids[2], 40);
  assert_int_equal(hs_vclock_get(&v, 7), 2);
  assert_int_equal(hs_vclock_copy(&w, &v), HS_OK);
  assert_order(hs_vclock_compare(&v, &w), HS_ORDER_EQUAL);
  assert_int_equal(hs_vclock_set(&w, 40, 0), HS_OK); /* a zero entry is no entry */
  assert_int_equal(w.n, 2);
  assert_order(hs_vclock_compare(&w, &v), HS_ORDER_BEFORE);
  assert_order(hs_vclock_compare(&v, &w), HS_ORDER_AFTER);
  hs_vclock_free(&v);
  hs_vclock_free(&v); /* idempotent */
  hs_vclock_free(&w);
  hs_vclock empty1, empty2;
  hs_vclock_init(&empty1);
  hs_vclock_init(&empty2);
  assert_order(hs_vclock_compare(&empty1, &empty2), HS_ORDER_EQUAL);
}

static void test_vclock_concurrent_and_merge(void **state) {
  (void)state;
  hs_vclock a, b, m;
  hs_vclock_init(&a);
  hs_vclock_init(&b);
  hs_vclock_init(&m);
  hs_vclock_increment(&a, 1);
  hs_vclock_increment(&a, 1);
  hs_vclock_increment(&b, 2);
  hs_vclock_set(&b, 3, 4);
  assert_order(hs_vclock_compare(&a, &b), HS_ORDER_CONCURRENT);
  assert_order(hs_vclock_compare(&b, &a), HS_ORDER_CONCURRENT);
  assert_int_equal(hs_vclock_copy(&m, &a), HS_OK);
  assert_int_equal(hs_vclock_merge(&m, &b), HS_OK);
  assert_int_equal(hs_vclock_get(&m, 1), 2);
  assert_int_equal(hs_vclock_get(&m, 2), 1);
  assert_int_equal(hs_vclock_get(&m, 3), 4);
  assert_order(hs_vclock_compare(&a, &m), HS_ORDER_BEFORE);
  assert_order(hs_vclock_compare(&b, &m), HS_ORDER_BEFORE);
  /* receive = merge + own increment: strictly after the remote clock. */
  assert_int_equal(hs_vclock_receive(&a, 1, &b), HS_OK);
  assert_order(hs_vclock_compare(&b, &a), HS_ORDER_BEFORE);
  assert_int_equal(hs_vclock_get(&a, 1), 3);
  hs_vclock_free(&a);
  hs_vclock_free(&b);
  hs_vclock_free(&m);
}

/* Merge is the least upper bound: an upper bound of both, and below any other upper bound. */
static void test_vclock_merge_is_lub(void **state) {
  (void)state;
  hs_rng r;
  hs_rng_seed(&r, 5, "lub", 3);
  for (int round = 0; round < 500; round++) {
    hs_vclock a, b, m, u;
    hs_vclock_init(&a);
    hs_vclock_init(&b);
    hs_vclock_init(&m);
    hs_vclock_init(&u);
    for (uint32_t node = 0; node < 6; node++) {
      uint64_t x = hs_rng_below(&r, 4), y = hs_rng_below(&r, 4);
      hs_vclock_set(&a, node, x);
      hs_vclock_set(&b, node, y);
      /* u: some upper bound of a and b */
      hs_vclock_set(&u, node, (x > y ? x : y) + hs_rng_below(&r, 2));
    }
    assert_int_equal(hs_vclock_copy(&m, &a), HS_OK);
    assert_int_equal(hs_vclock_merge(&m, &b), HS_OK);
    hs_order ma = hs_vclock_compare(&a, &m), mb = hs_vclock_compare(&b, &m), mu = hs_vclock_compare(&m, &u);
    assert_true(ma == HS_ORDER_BEFORE || ma == HS_ORDER_EQUAL);
    assert_true(mb == HS_ORDER_BEFORE || mb == HS_ORDER_EQUAL);
    assert_true(mu == HS_ORDER_BEFORE || mu == HS_ORDER_EQUAL);
    /* merge is commutative */
    hs_vclock m2;
    hs_vclock_init(&m2);
    hs_vclock_copy(&m2, &b);
    hs_vclock_merge(&m2, &a);
    assert_order(hs_vclock_compare(&m, &m2), HS_ORDER_EQUAL);
    hs_vclock_free(&a);
    hs_vclock_free(&b);
    hs_vclock_free(&m);
    hs_vclock_free(&m2);
    hs_vclock_free(&u);
  }
}

/*
 * A random run of 4 processes (local events, sends, receives) with a ground truth: event j
 * happened before event k iff k is reachable from j through program order and message edges.
 * The vector clocks must say BEFORE exactly then, and CONCURRENT when neither reaches the other.
 */
static void test_vclock_matches_happened_before(void **state) {
  (void)state;
  enum { P = 4, E = 120 };
  static hs_vclock at[E];  /* the clock stamped on event e */
  static bool reach[E][E]; /* reach[j][k]: j -> k */
  int proc_of[E], last_of[P];
  hs_vclock now[P];
  int pending_msg[P * E], pending_to[P * E], npending = 0;
  for (int p = 0; p < P; p++) {
    hs_vclock_init(&now[p]);
    last_of[p] = -1;
  }
  hs_rng r;
  hs_rng_seed(&r, 21, "hb", 2);
  for (int e = 0; e < E; e++) {
    int p = (int)hs_rng_below(&r, P);
    int kind = (int)hs_rng_below(&r, 3); /* 0 local, 1 send, 2 receive (if any pending for p) */
    int from_event = -1;
    if (kind == 2) {
      for (int i = 0; i < npending; i++)
        if (pending_to[i] == p) {
          from_event = pending_msg[i];
          pending_msg[i] = pending_msg[npending - 1];
          pending_to[i] = pending_to[npending - 1];
          npending--;
          break;
        }
      if (from_event < 0) kind = 0;
    }
    if (kind == 2)
      assert_int_equal(hs_vclock_receive(&now[p], (uint32_t)p, &at[from_event]), HS_OK);
    else
      assert_int_equal(hs_vclock_increment(&now[p], (uint32_t)p), HS_OK);
    hs_vclock_init(&at[e]);
    assert_int_equal(hs_vclock_copy(&at[e], &now[p]), HS_OK);
    proc_of[e] = p;
    /* ground truth edges */
    for (int j = 0; j < e; j++) reach[j][e] = false;
    if (last_of[p] >= 0) {
      reach[last_of[p]][e] = true;
      for (int j = 0; j < e; j++)
        if (reach[j][last_of[p]]) reach[j][e] = true;
    }
    if (from_event >= 0) {
      reach[from_event][e] = true;
      for (int j = 0; j < e; j++)
        if (reach[j][from_event]) reach[j][e] = true;
    }
    last_of[p] = e;
    if (kind == 1) {
      pending_msg[npending] = e;
      pending_to[npending] = (int)hs_rng_below(&r, P);
      npending++;
    }
  }
  int concurrent = 0, ordered = 0;
  for (int j = 0; j < E; j++)
    for (int k = j + 1; k < E; k++) {
      hs_order o = hs_vclock_compare(&at[j], &at[k]);
      if (reach[j][k]) {
        assert_order(o, HS_ORDER_BEFORE);
        ordered++;
      } else {
        assert_order(o, HS_ORDER_CONCURRENT);
        assert_true(proc_of[j] != proc_of[k]);
        concurrent++;
      }
    }
  assert_true(concurrent > 100 && ordered > 100); /* the run exercised both */
  for (int e = 0; e < E; e++) hs_vclock_free(&at[e]);
  for (int p = 0; p < P; p++) hs_vclock_free(&now[p]);
}

/* ---- Hybrid logical clocks ----------------------------------------------------------- */

static void test_hlc_rules(void **state) {
  (void)state;
  hs_hlc h;
  hs_hlc_ts t;
  hs_hlc_init(&h, 0);
  assert_int_equal(hs_hlc_now(&h, 100, &t), HS_OK);
  assert_true(t.l == 100 && t.c == 0);
  assert_int_equal(hs_hlc_now(&h, 100, &t), HS_OK); /* same physical time: counter */
  assert_true(t.l == 100 && t.c == 1);
  assert_int_equal(hs_hlc_now(&h, 90, &t), HS_OK); /* physical clock went back: l holds */
  assert_true(t.l == 100 && t.c == 2);
  assert_int_equal(hs_hlc_now(&h, 120, &t), HS_OK); /* physical time moved on: counter resets */
  assert_true(t.l == 120 && t.c == 0);
  /* receive from a peer ahead: adopt its l, counter after its c */
  hs_hlc_ts remote = {200, 5};
  assert_int_equal(hs_hlc_receive(&h, 130, remote, &t), HS_OK);
  assert_true(t.l == 200 && t.c == 6);
  /* same l on both sides: max of counters + 1 */
  remote.l = 200, remote.c = 3;
  assert_int_equal(hs_hlc_receive(&h, 150, remote, &t), HS_OK);
  assert_true(t.l == 200 && t.c == 7);
  /* physical time ahead of both: counter 0 */
  assert_int_equal(hs_hlc_receive(&h, 300, remote, &t), HS_OK);
  assert_true(t.l == 300 && t.c == 0);
  /* a peer too far ahead is rejected when max_offset is set, and nothing changes */
  hs_hlc g;
  hs_hlc_init(&g, 50);
  assert_int_equal(hs_hlc_now(&g, 1000, &t), HS_OK);
  remote.l = 1100, remote.c = 0;
  assert_int_equal(hs_hlc_receive(&g, 1000, remote, &t), HS_EINVAL);
  assert_true(g.last.l == 1000 && g.last.c == 0);
  remote.l = 1040;
  assert_int_equal(hs_hlc_receive(&g, 1000, remote, &t), HS_OK);
  assert_order(hs_hlc_ts_compare((hs_hlc_ts){1, 2}, (hs_hlc_ts){1, 3}), HS_ORDER_BEFORE);
  assert_order(hs_hlc_ts_compare((hs_hlc_ts){2, 0}, (hs_hlc_ts){1, 3}), HS_ORDER_AFTER);
  assert_order(hs_hlc_ts_compare((hs_hlc_ts){2, 0}, (hs_hlc_ts){2, 0}), HS_ORDER_EQUAL);
}

/* Extreme inputs are well-defined (this runs under UBSan in ./test.sh --sanitize): the
 * offset check is exact over all of int64, and a counter at UINT32_MAX is refused, never
 * wrapped; a refusal leaves the clock unchanged. */
static void test_hlc_extremes(void **state) {
  (void)state;
  hs_hlc h;
  hs_hlc_ts t = {7, 7};
  /* remote.l - pt does not fit in int64: still measured exactly */
  assert_true(hs_hlc_ahead(INT64_MIN, (hs_hlc_ts){INT64_MAX, 0}) == UINT64_MAX);
  assert_true(hs_hlc_ahead(-1, (hs_hlc_ts){INT64_MAX, 0}) == (uint64_t)INT64_MAX + 1);
  assert_true(hs_hlc_ahead(INT64_MAX, (hs_hlc_ts){INT64_MIN, 0}) == 0); /* behind: 0 */
  assert_true(hs_hlc_ahead(5, (hs_hlc_ts){5, 9}) == 0);
  hs_hlc_init(&h, 1000);
  assert_int_equal(hs_hlc_receive(&h, INT64_MIN + 10, (hs_hlc_ts){INT64_MAX, 0}, &t), HS_EINVAL);
  assert_true(h.last.l == INT64_MIN && h.last.c == 0 && t.l == 7 && t.c == 7);
  hs_hlc_init(&h, INT64_MAX); /* the largest offset: just one more than it is refused */
  assert_int_equal(hs_hlc_receive(&h, -1, (hs_hlc_ts){INT64_MAX, 0}, &t), HS_EINVAL);
  assert_int_equal(hs_hlc_receive(&h, 0, (hs_hlc_ts){INT64_MAX, 0}, &t), HS_OK);
  assert_true(t.l == INT64_MAX && t.c == 1);
  /* counters at the top: refused, on receive and on a local event, and nothing changes */
  hs_hlc_init(&h, 0);
  assert_int_equal(hs_hlc_receive(&h, INT64_MIN, (hs_hlc_ts){INT64_MAX, UINT32_MAX}, &t), HS_EINVAL);
  assert_true(h.last.l == INT64_MIN);
  assert_int_equal(hs_hlc_receive(&h, INT64_MIN, (hs_hlc_ts){INT64_MAX, UINT32_MAX - 1}, &t), HS_OK);
  assert_true(t.l == INT64_MAX && t.c == UINT32_MAX);
  assert_int_equal(hs_hlc_now(&h, INT64_MAX, &t), HS_EINVAL);
  assert_int_equal(hs_hlc_receive(&h, INT64_MAX, (hs_hlc_ts){INT64_MIN, 0}, &t), HS_EINVAL);
  assert_true(h.last.l == INT64_MAX && h.last.c == UINT32_MAX);
}

/*
 * Four nodes with skewed, drifting clocks exchange messages with random latencies. Every
 * timestamp a node issues is after its previous one, a receive is after the message's
 * timestamp, l never falls behind the node's physical clock, and l - pt stays within the
 * largest spread between physical clocks (2 * max skew plus the drift accumulated).
 */
static void test_hlc_monotonic_and_bounded(void **state) {
  (void)state;
  enum { NODES = 4, MSGS = 20000 };
  const hs_time_ns max_skew = 5000000; /* 5 ms */
  const double max_drift = 1e-5;
  hs_clock_model clk[NODES];
  hs_hlc hlc[NODES];
  hs_hlc_ts last[NODES];
  hs_rng r;
  hs_rng_seed(&r, 77, "hlc", 3);
  for (int i = 0; i < NODES; i++) {
    hs_time_ns skew = (hs_time_ns)hs_rng_below(&r, 2 * max_skew + 1) - max_skew;
    double drift = hs_rng_uniform(&r, -max_drift, max_drift);
    assert_null(hs_clock_model_validate(skew, drift));
    hs_clock_model_init(&clk[i], skew, drift);
    hs_hlc_init(&hlc[i], 0);
    last[i] = (hs_hlc_ts){INT64_MIN, 0};
  }
  /* Messages in flight: (arrival time, destination, timestamp), processed in time order by
   * drawing sends at increasing times and delivering each before the next send passes it. */
  hs_time_ns now = 0, end = 0;
  hs_hlc_ts inflight_ts[64];
  hs_time_ns inflight_at[64];
  int inflight_to[64], n = 0;
  hs_time_ns worst = 0;
  for (int m = 0; m < MSGS; m++) {
    now += (hs_time_ns)hs_rng_below(&r, 200000); /* up to 0.2 ms between sends */
    /* deliver what arrived by now, earliest first */
    for (;;) {
      int k = -1;
      for (int i = 0; i < n; i++)
        if (inflight_at[i] <= now && (k < 0 || inflight_at[i] < inflight_at[k])) k = i;
      if (k < 0) break;
      int to = inflight_to[k];
      hs_time_ns pt = hs_clock_model_local(&clk[to], inflight_at[k]);
      hs_hlc_ts t;
      assert_int_equal(hs_hlc_receive(&hlc[to], pt, inflight_ts[k], &t), HS_OK);
      assert_order(hs_hlc_ts_compare(inflight_ts[k], t), HS_ORDER_BEFORE);
      assert_order(hs_hlc_ts_compare(last[to], t), HS_ORDER_BEFORE);
      assert_true(t.l >= pt);
      if (t.l - pt > worst) worst = t.l - pt;
      last[to] = t;
      inflight_ts[k] = inflight_ts[n - 1];
      inflight_at[k] = inflight_at[n - 1];
      inflight_to[k] = inflight_to[n - 1];
      n--;
    }
    if (n == 64) continue;
    int from = (int)hs_rng_below(&r, NODES);
    int to = (int)((from + 1 + hs_rng_below(&r, NODES - 1)) % NODES);
    hs_time_ns pt = hs_clock_model_local(&clk[from], now);
    hs_hlc_ts t;
    assert_int_equal(hs_hlc_now(&hlc[from], pt, &t), HS_OK);
    assert_order(hs_hlc_ts_compare(last[from], t), HS_ORDER_BEFORE);
    assert_true(t.l >= pt);
    if (t.l - pt > worst) worst = t.l - pt;
    last[from] = t;
    inflight_ts[n] = t;
    inflight_at[n] = now + 100000 + (hs_time_ns)hs_rng_below(&r, 2000000); /* 0.1 - 2.1 ms */
    inflight_to[n] = to;
    n++;
    end = now;
  }
  hs_time_ns bound = 2 * max_skew + (hs_time_ns)(2 * max_drift * (double)end) + 1;
  if (worst > bound) fail_msg("l - pt reached %lld ns, bound %lld ns", (long long)worst, (long long)bound);
  assert_true(worst > 0); /* the skew was felt */
}

/* ---- Clock model --------------------------------------------------------------------- */

static void test_clock_model(void **state) {
  (void)state;
  hs_clock_model m;
  hs_clock_model_init(&m, 2000, 1e-3); /* 2 us ahead, 1000 ppm fast */
  assert_int_equal(hs_clock_model_local(&m, 0), 2000);
  assert_int_equal(hs_clock_model_local(&m, 1000000000), 1000000000 + 1000000 + 2000);
  assert_int_equal(hs_clock_model_offset(&m, 1000000000), 1002000);
  for (hs_time_ns local = -5000; local < 3000000000LL; local += 123456789) {
    hs_time_ns t = hs_clock_model_true(&m, local);
    assert_true(hs_clock_model_local(&m, t) >= local);
    assert_true(hs_clock_model_local(&m, t - 1) < local);
  }
  /* A drift change keeps the reading continuous. */
  hs_time_ns before = hs_clock_model_local(&m, 5000000000LL);
  hs_clock_model_set_drift(&m, 5000000000LL, -1e-3);
  assert_int_equal(hs_clock_model_local(&m, 5000000000LL), before);
  assert_int_equal(hs_clock_model_local(&m, 6000000000LL), before + 1000000000 - 1000000);
  /* A skew step jumps to now + skew. */
  hs_clock_model_set_skew(&m, 7000000000LL, -3000000);
  assert_int_equal(hs_clock_model_local(&m, 7000000000LL), 7000000000LL - 3000000);
  /* Precision over long runs: 1 ppm over 100 days. */
  hs_clock_model p;
  hs_clock_model_init(&p, 0, 1e-6);
  hs_time_ns t = 100LL * 86400 * HS_NS_PER_S;
  assert_int_equal(hs_clock_model_local(&p, t), t + t / 1000000);
  assert_null(hs_clock_model_validate(0, 0));
  assert_non_null(hs_clock_model_validate(0, -1));
  assert_non_null(hs_clock_model_validate(0, NAN));
  assert_non_null(hs_clock_model_validate(INT64_MAX, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lamport_basics),      cmocka_unit_test(test_lamport_receive_exceeds_both),
      cmocka_unit_test(test_vclock_entries),      cmocka_unit_test(test_vclock_concurrent_and_merge),
      cmocka_unit_test(test_vclock_merge_is_lub), cmocka_unit_test(test_vclock_matches_happened_before),
      cmocka_unit_test(test_hlc_rules),           cmocka_unit_test(test_hlc_monotonic_and_bounded),
      cmocka_unit_test(test_hlc_extremes),
      cmocka_unit_test(test_clock_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
