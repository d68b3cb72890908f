/*
 * test_heap.c - the 4-ary event heap against a brute-force reference.
 *
 * Every operation is followed by a full check of the heap property, of each slot's time
 * and of each event's heap_index; pops are compared with the minimum of a plain array that
 * holds the same events. Seeds are fixed, and printed on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hs_assert.h"
#include "happysim.h"

/* A test event: the heap keeps its time in the slot; the test keeps it here too. */
typedef struct tev {
  hs_event ev;
  hs_time_ns t;
} tev;

static tev *TEV(const hs_event *ev) { return HS_CONTAINER_OF(ev, tev, ev); }
static hs_time_ns T(const hs_event *ev) { return TEV(ev)->t; }

static bool before(const hs_event *a, const hs_event *b) {
  return T(a) < T(b) || (T(a) == T(b) && a->seq < b->seq);
}

static int cmp_events(const void *pa, const void *pb) {
  const hs_event *a = *(hs_event *const *)pa, *b = *(hs_event *const *)pb;
  return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Checks the heap property for every slot, each slot's time, and that each event knows its slot. */
static void check_heap(const hs_heap *h) {
  assert_true(h->count <= h->capacity);
  for (uint32_t i = 0; i < h->count; i++) {
    const hs_event *ev = h->items[i].ev;
    assert_non_null(ev);
    assert_int_equal(ev->heap_index, i);
    assert_true(h->items[i].time == T(ev));
    assert_true(hs_heap_time_of(h, ev) == T(ev));
    if (i > 0) {
      const hs_event *parent = h->items[(i - 1) / 4].ev;
      if (before(ev, parent))
        fail_msg("slot %u (t=%lld seq=%llu) is before its parent slot %u (t=%lld seq=%llu)", i, (long long)T(ev),
                 (unsigned long long)ev->seq, (i - 1) / 4, (long long)T(parent), (unsigned long long)parent->seq);
    }
  }
}

static tev *new_events(size_t n) {
  tev *evs = calloc(n, sizeof *evs);
  assert_non_null(evs);
  for (size_t i = 0; i < n; i++) hs_event_init(&evs[i].ev, NULL, NULL, "heap");
  return evs;
}

static int push(hs_heap *h, tev *e) { return hs_heap_push(h, &e->ev, e->t); }

/* Pops, checking that the time given back is the event's. */
static hs_event *pop(hs_heap *h) {
  hs_time_ns t = -12345;
  hs_event *ev = hs_heap_pop(h, &t);
  if (ev) assert_true(t == T(ev));
  return ev;
}

static void test_empty_heap(void **state) {
  (void)state;
  hs_heap h;
  hs_heap_init(&h);
  assert_null(hs_heap_top(&h));
  assert_null(pop(&h));
  assert_int_equal(h.count, 0);
  hs_heap_free(&h);
  hs_heap_free(&h); /* free is idempotent: it re-initialises */
  assert_null(h.items);
}

static void test_single_event(void **state) {
  (void)state;
  hs_heap h;
  hs_heap_init(&h);
  tev e;
  hs_event_init(&e.ev, NULL, NULL, "one");
  e.t = 7;
  assert_int_equal(push(&h, &e), HS_OK);
  assert_int_equal(e.ev.heap_index, 0);
  assert_ptr_equal(hs_heap_top(&h), &e.ev);
  assert_true(hs_heap_top_time(&h) == 7);
  hs_heap_remove(&h, &e.ev);
  assert_int_equal(h.count, 0);
  assert_int_equal(e.ev.heap_index, UINT32_MAX);
  assert_true(hs_heap_top_time(&h) == HS_TIME_NEVER);
  assert_int_equal(push(&h, &e), HS_OK);
  assert_ptr_equal(pop(&h), &e.ev);
  assert_int_equal(e.ev.heap_index, UINT32_MAX);
  assert_null(pop(&h));
  hs_heap_free(&h);
}

/* Pushes n events with random (time, seq) - many equal times - and pops them all:
 * the pop order must be the sorted order. */
static void test_pop_order_matches_sort(void **state) {
  (void)state;
  enum { N = 5000 };
  const uint64_t seed = 42;
  hs_rng rng;
  hs_rng_seed(&rng, seed, "heap-sort", 9);
  tev *evs = new_events(N);
  hs_event **ref = malloc(N * sizeof *ref);
  assert_non_null(ref);
  hs_heap h;
  hs_heap_init(&h);
  for (uint32_t i = 0; i < N; i++) {
    evs[i].t = (hs_time_ns)hs_rng_below(&rng, 500); /* ~10 events per time */
    evs[i].ev.seq = hs_rng_next(&rng);                       /* unique with overwhelming odds */
    ref[i] = &evs[i].ev;
    assert_int_equal(push(&h, &evs[i]), HS_OK);
    if (i % 97 == 0) check_heap(&h);
  }
  check_heap(&h);
  assert_int_equal(h.count, N);
  qsort(ref, N, sizeof *ref, cmp_events);
  for (uint32_t i = 0; i < N; i++) {
    assert_ptr_equal(hs_heap_top(&h), ref[i]);
    hs_event *ev = pop(&h);
    if (ev != ref[i])
      fail_msg("seed %llu: pop %u gave t=%lld seq=%llu, expected t=%lld seq=%llu",
               (unsigned long long)seed, i, (long long)T(ev), (unsigned long long)ev->seq,
               (long long)T(ref[i]), (unsigned long long)ref[i]->seq);
    assert_int_equal(ev->heap_index, UINT32_MAX);
    if (i % 97 == 0) check_heap(&h);
  }
  assert_int_equal(h.count, 0);
  hs_heap_free(&h);
  free(ref);
  free(evs);
}

/* Equal times: the heap alone orders them by seq, whatever the push order. */
static void test_equal_times_order_by_seq(void **state) {
  (void)state;
  enum { N = 300 };
  tev *evs = new_events(N);
  hs_heap h;
  hs_heap_init(&h);
  /* Push in a scrambled order: i * 7 mod N visits every slot since gcd(7, 300) = 1. */
  for (uint32_t k = 0; k < N; k++) {
    uint32_t i = (k * 7) % N;
    evs[i].t = 1000;
    evs[i].ev.seq = i;
    assert_int_equal(push(&h, &evs[i]), HS_OK);
  }
  check_heap(&h);
  for (uint32_t i = 0; i < N; i++) assert_int_equal(pop(&h)->seq, i);
  hs_heap_free(&h);
  free(evs);
}

/* A random mix of push, pop and remove-anywhere against a plain array of the
 * events that should be in the heap. */
static void test_random_push_pop_remove(void **state) {
  (void)state;
  enum { N = 4000, OPS = 12000 };
  const uint64_t seed = 7;
  hs_rng rng;
  hs_rng_seed(&rng, seed, "heap-mix", 8);
  tev *evs = new_events(N);
  hs_event **in = malloc(N * sizeof *in); /* the reference: events in the heap */
  uint32_t *free_ids = malloc(N * sizeof *free_ids);
  assert_non_null(in);
  assert_non_null(free_ids);
  uint32_t n_in = 0, n_free = N;
  for (uint32_t i = 0; i < N; i++) free_ids[i] = N - 1 - i;
  uint64_t seq = 0;
  uint32_t pushes = 0, pops = 0, removes = 0, max_count = 0;
  hs_heap h;
  hs_heap_init(&h);

  for (uint32_t op = 0; op < OPS; op++) {
    /* Grow to a few thousand, churn, then shrink: push odds 7/10, 5/10, 2/10. */
    uint64_t push_odds = op < OPS * 5 / 12 ? 7 : op < OPS * 9 / 12 ? 5 : 2;
    uint64_t dice = hs_rng_below(&rng, 10);
    if (n_in == 0 || (dice < push_odds && n_free > 0)) { /* push */
      hs_event *ev = &evs[free_ids[--n_free]].ev;
      TEV(ev)->t = (hs_time_ns)hs_rng_below(&rng, 1000);
      ev->seq = seq++;
      assert_int_equal(push(&h, TEV(ev)), HS_OK);
      in[n_in++] = ev;
      pushes++;
    } else if (dice < push_odds + (10 - push_odds) / 2) { /* pop: the reference minimum */
      uint32_t best = 0;
      for (uint32_t i = 1; i < n_in; i++)
        if (before(in[i], in[best])) best = i;
      hs_event *ev = pop(&h);
      if (ev != in[best])
        fail_msg("seed %llu op %u: pop gave t=%lld seq=%llu, expected t=%lld seq=%llu",
                 (unsigned long long)seed, op, (long long)T(ev), (unsigned long long)ev->seq,
                 (long long)T(in[best]), (unsigned long long)in[best]->seq);
      assert_int_equal(ev->heap_index, UINT32_MAX);
      in[best] = in[--n_in];
      free_ids[n_free++] = (uint32_t)(TEV(ev) - evs);
      pops++;
    } else { /* remove an arbitrary event (a cancellation) */
      uint32_t k = (uint32_t)hs_rng_below(&rng, n_in);
      hs_event *ev = in[k];
      hs_heap_remove(&h, ev);
      assert_int_equal(ev->heap_index, UINT32_MAX);
      in[k] = in[--n_in];
      free_ids[n_free++] = (uint32_t)(TEV(ev) - evs);
      removes++;
    }
    assert_int_equal(h.count, n_in);
    check_heap(&h);
    if (n_in > max_count) max_count = n_in;
  }
  /* Every kind of operation was exercised, and the heap grew past its first block. */
  assert_true(pushes > 1000 && pops > 1000 && removes > 1000);
  assert_true(max_count > 1500);
  /* Drain what is left in order. */
  qsort(in, n_in, sizeof *in, cmp_events);
  for (uint32_t i = 0; i < n_in; i++) assert_ptr_equal(pop(&h), in[i]);
  assert_int_equal(h.count, 0);
  hs_heap_free(&h);
  free(free_ids);
  free(in);
  free(evs);
}

/* Removing the top, the last slot, and an interior slot whose replacement must
 * move up (not down) are the three paths of hs_heap_remove. */
static void test_remove_paths(void **state) {
  (void)state;
  enum { N = 200 };
  tev *evs = new_events(N);
  hs_heap h;
  hs_heap_init(&h);
  for (uint32_t i = 0; i < N; i++) {
    evs[i].t = i;
    evs[i].ev.seq = i;
    assert_int_equal(push(&h, &evs[i]), HS_OK);
  }
  /* Pushed in sorted order: each lands in slot i. */
  for (uint32_t i = 0; i < N; i++) assert_int_equal(evs[i].ev.heap_index, i);

  hs_heap_remove(&h, &evs[N - 1].ev); /* the last slot */
  check_heap(&h);
  hs_heap_remove(&h, &evs[0].ev); /* the top */
  check_heap(&h);
  assert_ptr_equal(hs_heap_top(&h), &evs[1].ev);

  hs_event *prev = pop(&h);
  while (h.count) {
    hs_event *ev = pop(&h);
    assert_true(before(prev, ev));
    prev = ev;
  }
  hs_heap_free(&h);

  /* Interior removal whose replacement must sift up: lay out 21 events slot by
   * slot (pushing each after its parent keeps it in place) so that the last slot,
   * 20, under slot 4 (t=1), holds t=2, while slot 9, under slot 2 (t=100), holds
   * t=101. Removing slot 9 moves t=2 there, which is before its new parent. */
  enum { M = 21 };
  hs_time_ns t[M];
  for (uint32_t i = 0; i < M; i++) {
    t[i] = i == 0 ? 0 : i == 2 ? 100 : i == 4 ? 1 : t[(i - 1) / 4] + 1;
    evs[i].t = t[i];
    evs[i].ev.seq = i;
    assert_int_equal(push(&h, &evs[i]), HS_OK);
    assert_int_equal(evs[i].ev.heap_index, i);
  }
  check_heap(&h);
  assert_int_equal(evs[20].t, 2);
  assert_int_equal(evs[9].t, 101);
  hs_heap_remove(&h, &evs[9].ev);
  check_heap(&h);
  assert_int_equal(evs[9].ev.heap_index, UINT32_MAX);
  assert_int_equal(evs[20].ev.heap_index, 2); /* rose past slot 2's old occupant */
  prev = pop(&h);
  while (h.count) {
    hs_event *ev = pop(&h);
    assert_true(before(prev, ev));
    assert_true(ev != &evs[9].ev);
    prev = ev;
  }
  hs_heap_free(&h);
  free(evs);
}

/* Extreme times order correctly (no subtraction overflow in the comparison). */
static void test_extreme_times(void **state) {
  (void)state;
  tev a, b, c, d;
  hs_event_init(&a.ev, NULL, NULL, "a");
  hs_event_init(&b.ev, NULL, NULL, "b");
  hs_event_init(&c.ev, NULL, NULL, "c");
  hs_event_init(&d.ev, NULL, NULL, "d");
  a.t = HS_TIME_NEVER, a.ev.seq = 0;
  b.t = 0, b.ev.seq = UINT64_MAX;
  c.t = HS_TIME_NEVER, c.ev.seq = UINT64_MAX;
  d.t = INT64_MIN, d.ev.seq = 5;
  hs_heap h;
  hs_heap_init(&h);
  assert_int_equal(push(&h, &a), HS_OK);
  assert_int_equal(push(&h, &c), HS_OK);
  assert_int_equal(push(&h, &b), HS_OK);
  assert_int_equal(push(&h, &d), HS_OK);
  assert_ptr_equal(pop(&h), &d.ev);
  assert_ptr_equal(pop(&h), &b.ev);
  assert_ptr_equal(pop(&h), &a.ev);
  assert_ptr_equal(pop(&h), &c.ev);
  hs_heap_free(&h);
}

/* The hand-off assertions (engine/core/hs_assert.h): the hook records the failure and jumps
 * back here instead of aborting. */
static jmp_buf assert_jump;
static const char *assert_cond;

static void assert_hook(const char *cond, const char *file, int line) {
  (void)file;
  (void)line;
  assert_cond = cond;
  longjmp(assert_jump, 1);
}

/* Whether f(h, ev) failed an assertion. */
static bool asserts(void (*f)(hs_heap *h, tev *e), hs_heap *h, tev *e) {
  assert_cond = NULL;
  hs_assert_set_hook(assert_hook);
  volatile bool failed = false;
  if (setjmp(assert_jump) == 0)
    f(h, e);
  else
    failed = true;
  hs_assert_set_hook(NULL);
  return failed;
}

static void push_it(hs_heap *h, tev *e) { push(h, e); }
static void remove_it(hs_heap *h, tev *e) { hs_heap_remove(h, &e->ev); }

/* Queueing an event that is queued, or removing one that is not, trips an assertion. */
static void test_handoff_assertions(void **state) {
  (void)state;
  if (!HS_ASSERTS_ON) skip();
  tev a, b;
  hs_event_init(&a.ev, NULL, NULL, "a");
  hs_event_init(&b.ev, NULL, NULL, "b");
  a.t = 1, b.t = 2;
  hs_heap h, other;
  hs_heap_init(&h);
  hs_heap_init(&other);
  assert_false(asserts(push_it, &h, &a));
  assert_true(asserts(push_it, &h, &a)); /* already queued here */
  assert_non_null(strstr(assert_cond, "heap_index"));
  assert_true(asserts(push_it, &other, &a)); /* queued in another heap */
  assert_true(asserts(remove_it, &h, &b));   /* never queued */
  assert_false(asserts(push_it, &other, &b));
  assert_true(asserts(remove_it, &h, &b)); /* queued, but in another heap */
  assert_false(asserts(remove_it, &h, &a));
  assert_true(asserts(remove_it, &h, &a)); /* removed twice */
  assert_int_equal(h.count, 0);
  assert_int_equal(other.count, 1);
  hs_heap_free(&h);
  hs_heap_free(&other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_heap),
      cmocka_unit_test(test_single_event),
      cmocka_unit_test(test_pop_order_matches_sort),
      cmocka_unit_test(test_equal_times_order_by_seq),
      cmocka_unit_test(test_random_push_pop_remove),
      cmocka_unit_test(test_remove_paths),
      cmocka_unit_test(test_extreme_times),
      cmocka_unit_test(test_handoff_assertions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
