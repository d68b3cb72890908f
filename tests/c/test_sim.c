/*
 * test_sim.c - the scheduler: ordering, scheduling errors, cancellation, daemons,
 * end time, run_until, step, stop, traces and close.
 *
 * Events here are `rec`s: an hs_event plus an id and the log it appends to when it
 * runs, so each test states the exact sequence of (id, time) it expects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "happysim.h"

/* Compares HS_ codes and prints both names. */
#define assert_rc(actual, expected)                                                                \
  do {                                                                                             \
    int a_ = (actual), e_ = (expected);                                                            \
    if (a_ != e_)                                                                                  \
      fail_msg("%s: got %d (%s), expected %d (%s)", #actual, a_, hs_strerror(a_), e_,              \
               hs_strerror(e_));                                                                   \
  } while (0)

enum { LOG_MAX = 4096 };

typedef struct run_log {
  int ids[LOG_MAX];
  hs_time_ns times[LOG_MAX];
  int n;
} run_log;

typedef struct rec rec;
typedef void (*rec_action)(hs_sim *sim, rec *r);

struct rec {
  hs_event ev;
  int id;
  run_log *log;
  rec_action action; /* optional: what the handler does after logging */
  rec *other;        /* for actions that touch another event */
  hs_time_ns arg;    /* for actions that need a number */
  int remaining;     /* for self-rescheduling actions */
};

static void rec_fire(hs_sim *sim, hs_event *ev) {
  rec *r = HS_CONTAINER_OF(ev, rec, ev);
  assert_false(hs_event_pending(ev)); /* no longer pending while its handler runs */
  assert_int_equal(hs_sim_event_time(sim, ev), HS_TIME_NEVER); /* nor queued: it fires now */
  run_log *log = r->log;
  assert_true(log->n < LOG_MAX);
  log->ids[log->n] = r->id;
  log->times[log->n] = hs_sim_now(sim);
  log->n++;
  if (r->action) r->action(sim, r);
}

static void rec_init(rec *r, int id, run_log *log) {
  memset(r, 0, sizeof *r);
  hs_event_init(&r->ev, rec_fire, NULL, "rec");
  r->id = id;
  r->log = log;
}

static void expect_log(const run_log *log, const int *ids, const hs_time_ns *times, int n) {
  for (int i = 0; i < n && i < log->n; i++) {
    if (log->ids[i] != ids[i] || (times && log->times[i] != times[i]))
      fail_msg("log[%d] = (id %d, t %lld), expected (id %d, t %lld)", i, log->ids[i],
               (long long)log->times[i], ids[i], times ? (long long)times[i] : -1LL);
  }
  assert_int_equal(log->n, n);
}

#define EXPECT_IDS(log, ...)                                                                       \
  do {                                                                                             \
    const int ids_[] = {__VA_ARGS__};                                                              \
    expect_log((log), ids_, NULL, (int)(sizeof ids_ / sizeof ids_[0]));                            \
  } while (0)

/* ---- ordering ---------------------------------------------------------------- */

static void test_equal_times_run_in_scheduling_order(void **state) {
  (void)state;
  static run_log log;
  memset(&log, 0, sizeof log);
  hs_sim sim;
  hs_sim_init(&sim, 1);
  enum { N = 50 };
  rec r[N];
  /* ids 0..49 scheduled in id order, at times 30, 10, 20, 30, 10, ... */
  for (int i = 0; i < N; i++) {
    rec_init(&r[i], i, &log);
    assert_rc(hs_sim_schedule_at(&sim, &r[i].ev, 10 * (1 + (i + 2) % 3)), HS_OK);
  }
  assert_int_equal(hs_sim_pending(&sim), N);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(log.n, N);
  /* Times ascend; within a time, ids (scheduling order) ascend. */
  for (int i = 1; i < N; i++) {
    assert_true(log.times[i - 1] <= log.times[i]);
    if (log.times[i - 1] == log.times[i]) assert_true(log.ids[i - 1] < log.ids[i]);
  }
  assert_int_equal(log.ids[0], 1); /* the first event at t=10 */
  assert_int_equal(hs_sim_now(&sim), 30);
  assert_int_equal(sim.events_processed, N);
  hs_sim_close(&sim);
}

/* Scheduling order, not "creation" of the struct: an event initialised first but
 * scheduled last runs last among its equals. */
static void test_tie_break_is_scheduling_order(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec a, b, c;
  rec_init(&a, 1, &log);
  rec_init(&b, 2, &log);
  rec_init(&c, 3, &log);
  assert_rc(hs_sim_schedule_at(&sim, &c.ev, 5), HS_OK);
  assert_rc(hs_sim_schedule_at(&sim, &b.ev, 5), HS_OK);
  assert_rc(hs_sim_schedule_at(&sim, &a.ev, 5), HS_OK);
  hs_sim_run(&sim);
  EXPECT_IDS(&log, 3, 2, 1);
  hs_sim_close(&sim);
}

/* ---- scheduling errors ----------------------------------------------------------- */

static void test_schedule_errors(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec a, b;
  rec_init(&a, 1, &log);
  rec_init(&b, 2, &log);

  /* Move now to 100. */
  assert_int_equal(hs_sim_run_until(&sim, 100), HS_RUN_END_TIME);
  assert_int_equal(hs_sim_now(&sim), 100);

  uint64_t seq_before = sim.next_seq;
  assert_rc(hs_sim_schedule_at(&sim, &a.ev, 99), HS_EINVAL); /* the past */
  assert_rc(hs_sim_schedule_at(&sim, &a.ev, INT64_MIN), HS_EINVAL);
  assert_rc(hs_sim_schedule_after(&sim, &a.ev, -1), HS_EINVAL);
  assert_rc(hs_sim_schedule_after(&sim, &a.ev, INT64_MIN), HS_EINVAL);
  assert_rc(hs_sim_schedule_after(&sim, &a.ev, INT64_MAX), HS_EINVAL); /* now + d overflows */
  assert_rc(hs_sim_schedule_after(&sim, &a.ev, INT64_MAX - 99), HS_EINVAL);
  assert_rc(hs_sim_reschedule_at(&sim, &a.ev, 99), HS_EINVAL);
  /* Failures leave no trace. */
  assert_false(hs_event_pending(&a.ev));
  assert_int_equal(hs_sim_pending(&sim), 0);
  assert_int_equal(sim.next_seq, seq_before);
  assert_int_equal(sim.pending_live, 0);

  /* now itself is fine, and so is the largest representable delay. */
  assert_rc(hs_sim_schedule_at(&sim, &a.ev, 100), HS_OK);
  assert_rc(hs_sim_schedule_after(&sim, &b.ev, INT64_MAX - 100), HS_OK);
  assert_int_equal(hs_sim_event_time(&sim, &b.ev), HS_TIME_NEVER);

  /* A pending event cannot be scheduled again; it keeps its time. */
  assert_rc(hs_sim_schedule_at(&sim, &a.ev, 200), HS_EBUSY);
  assert_rc(hs_sim_schedule_after(&sim, &a.ev, 5), HS_EBUSY);
  assert_int_equal(hs_sim_event_time(&sim, &a.ev), 100);
  assert_int_equal(hs_sim_pending(&sim), 2);

  assert_int_equal(hs_sim_step(&sim, 2, NULL), HS_RUN_STEPPED);
  EXPECT_IDS(&log, 1, 2);
  assert_int_equal(hs_sim_now(&sim), HS_TIME_NEVER);
  hs_sim_close(&sim);
}

static void test_strerror(void **state) {
  (void)state;
  assert_string_equal(hs_strerror(HS_OK), "ok");
  assert_string_equal(hs_strerror(HS_EINVAL), "invalid argument");
  assert_string_equal(hs_strerror(HS_EBUSY), "already pending");
  assert_string_equal(hs_strerror(HS_ENOMEM), "out of memory");
  assert_string_equal(hs_strerror(HS_ECLOSED), "simulation is closed");
  assert_string_equal(hs_strerror(12345), "unknown error");
}

static void test_time_conversions(void **state) {
  (void)state;
  assert_int_equal(hs_time_from_s(1.5), 1500000000);
  assert_int_equal(hs_time_from_s(0.0), 0);
  assert_int_equal(hs_time_from_s(1e-9), 1);
  assert_int_equal(hs_time_from_s(0.4e-9), 0);
  assert_true(hs_time_from_s(-2.0) == -2000000000LL);
  assert_true(hs_time_to_s(2500000000LL) == 2.5);
  assert_true(hs_time_s_valid(0.0));
  assert_true(hs_time_s_valid(HS_TIME_MAX_S));
  assert_false(hs_time_s_valid(-1e-9));
  assert_false(hs_time_s_valid(HS_TIME_MAX_S * 2));
  assert_false(hs_time_s_valid(NAN));
  /* The largest accepted time still fits. */
  assert_true(hs_time_from_s(HS_TIME_MAX_S) > 0);
}

/* ---- cancellation ---------------------------------------------------------------- */

static void test_cancel(void **state) {
  (void)state;
  static run_log log;
  memset(&log, 0, sizeof log);
  hs_sim sim;
  hs_sim_init(&sim, 1);
  enum { N = 1000 };
  static rec r[N];
  for (int i = 0; i < N; i++) {
    rec_init(&r[i], i, &log);
    assert_rc(hs_sim_schedule_at(&sim, &r[i].ev, (hs_time_ns)(i % 17)), HS_OK);
  }
  /* Cancel every odd event: the heap shrinks at once, nothing is left behind. */
  for (int i = 1; i < N; i += 2) {
    assert_true(hs_sim_cancel(&sim, &r[i].ev));
    assert_false(hs_event_pending(&r[i].ev));
    assert_true(r[i].ev.flags & HS_EVENT_CANCELLED);
    assert_int_equal(r[i].ev.heap_index, UINT32_MAX);
  }
  assert_int_equal(hs_sim_pending(&sim), N / 2);
  assert_int_equal(sim.events_cancelled, N / 2);
  assert_int_equal(sim.pending_live, N / 2);
  /* Cancelling again, or cancelling something never scheduled, is refused. */
  assert_false(hs_sim_cancel(&sim, &r[1].ev));
  rec idle;
  rec_init(&idle, -1, &log);
  assert_false(hs_sim_cancel(&sim, &idle.ev));
  assert_int_equal(sim.events_cancelled, N / 2);

  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(log.n, N / 2);
  for (int i = 0; i < log.n; i++) assert_int_equal(log.ids[i] % 2, 0);
  assert_int_equal(sim.events_processed, N / 2);

  /* An event that already ran is not pending: cancel refuses it. */
  assert_false(hs_sim_cancel(&sim, &r[0].ev));
  assert_int_equal(sim.events_cancelled, N / 2);
  hs_sim_close(&sim);
}

static void test_cancelled_event_can_be_rescheduled(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec a, b;
  rec_init(&a, 1, &log);
  rec_init(&b, 2, &log);
  assert_rc(hs_sim_schedule_at(&sim, &a.ev, 10), HS_OK);
  assert_rc(hs_sim_schedule_at(&sim, &b.ev, 10), HS_OK);
  assert_true(hs_sim_cancel(&sim, &a.ev));
  assert_rc(hs_sim_schedule_at(&sim, &a.ev, 10), HS_OK); /* now after b */
  assert_false(a.ev.flags & HS_EVENT_CANCELLED);           /* the sticky mark is cleared */
  assert_true(hs_event_pending(&a.ev));
  hs_sim_run(&sim);
  EXPECT_IDS(&log, 2, 1);
  assert_int_equal(sim.events_cancelled, 1);
  hs_sim_close(&sim);
}

static void cancel_other(hs_sim *sim, rec *r) { assert_true(hs_sim_cancel(sim, &r->other->ev)); }

/* A handler cancels a later event at the same time, and one further ahead. */
static void test_cancel_from_handler(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec a, b, c, d;
  rec_init(&a, 1, &log);
  rec_init(&b, 2, &log);
  rec_init(&c, 3, &log);
  rec_init(&d, 4, &log);
  a.action = cancel_other, a.other = &b;
  c.action = cancel_other, c.other = &d;
  hs_sim_schedule_at(&sim, &a.ev, 5);
  hs_sim_schedule_at(&sim, &b.ev, 5);
  hs_sim_schedule_at(&sim, &c.ev, 6);
  hs_sim_schedule_at(&sim, &d.ev, 1000);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  EXPECT_IDS(&log, 1, 3);
  assert_int_equal(hs_sim_now(&sim), 6); /* d's time never came */
  assert_int_equal(sim.events_cancelled, 2);
  hs_sim_close(&sim);
}

/* ---- reschedule ------------------------------------------------------------------- */

static void test_reschedule_at(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec a, b, c;
  rec_init(&a, 1, &log);
  rec_init(&b, 2, &log);
  rec_init(&c, 3, &log);
  assert_rc(hs_sim_schedule_at(&sim, &a.ev, 10), HS_OK);
  assert_rc(hs_sim_schedule_at(&sim, &b.ev, 20), HS_OK);
  assert_rc(hs_sim_schedule_at(&sim, &c.ev, 30), HS_OK);

  /* Move a later, to c's time: it gets a fresh seq, so it now sorts after c. */
  assert_rc(hs_sim_reschedule_at(&sim, &a.ev, 30), HS_OK);
  assert_true(a.ev.seq > c.ev.seq);
  assert_int_equal(hs_sim_pending(&sim), 3);
  assert_int_equal(sim.events_cancelled, 0);
  assert_int_equal(sim.pending_live, 3);
  assert_true(hs_event_pending(&a.ev));
  /* Move c earlier. */
  assert_rc(hs_sim_reschedule_at(&sim, &c.ev, 5), HS_OK);
  assert_int_equal(hs_sim_pending(&sim), 3);
  /* A refused move leaves the event where it was. */
  assert_rc(hs_sim_run_until(&sim, 1), HS_RUN_END_TIME);
  assert_rc(hs_sim_reschedule_at(&sim, &b.ev, 0), HS_EINVAL);
  assert_true(hs_event_pending(&b.ev));
  assert_int_equal(hs_sim_event_time(&sim, &b.ev), 20);

  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  const int ids[] = {3, 2, 1};
  const hs_time_ns times[] = {5, 20, 30};
  expect_log(&log, ids, times, 3);
  assert_int_equal(sim.events_cancelled, 0);

  /* On an idle event, reschedule_at simply schedules it. */
  assert_rc(hs_sim_reschedule_at(&sim, &b.ev, 40), HS_OK);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(log.n, 4);
  assert_int_equal(log.times[3], 40);
  assert_int_equal(sim.events_cancelled, 0);
  hs_sim_close(&sim);
}

/* Rescheduling a daemon or a live event keeps pending_live exact. */
static void test_reschedule_keeps_live_count(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec live, daemon;
  rec_init(&live, 1, &log);
  rec_init(&daemon, 2, &log);
  hs_event_set_daemon(&daemon.ev, true);
  hs_sim_schedule_at(&sim, &live.ev, 10);
  hs_sim_schedule_at(&sim, &daemon.ev, 5);
  assert_int_equal(sim.pending_live, 1);
  for (int i = 0; i < 10; i++) {
    assert_rc(hs_sim_reschedule_at(&sim, &live.ev, 10 + i), HS_OK);
    assert_rc(hs_sim_reschedule_at(&sim, &daemon.ev, 5 + i), HS_OK);
  }
  assert_int_equal(sim.pending_live, 1);
  assert_int_equal(hs_sim_pending(&sim), 2);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  EXPECT_IDS(&log, 2, 1);
  assert_int_equal(sim.pending_live, 0);
  hs_sim_close(&sim);
}

/* ---- daemons ---------------------------------------------------------------------- */

static void repeat_every_arg(hs_sim *sim, rec *r) {
  if (r->remaining-- > 0) assert_rc(hs_sim_schedule_after(sim, &r->ev, r->arg), HS_OK);
}

static void test_daemons_auto_terminate(void **state) {
  (void)state;
  static run_log log;
  memset(&log, 0, sizeof log);
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec tick, d_early, d_same_before, live, d_same_after, d_late;
  rec_init(&tick, 100, &log); /* a periodic daemon, every 3 ns, practically forever */
  rec_init(&d_early, 1, &log);
  rec_init(&d_same_before, 2, &log);
  rec_init(&live, 3, &log);
  rec_init(&d_same_after, 4, &log);
  rec_init(&d_late, 5, &log);
  tick.action = repeat_every_arg, tick.arg = 3, tick.remaining = 1000000;
  hs_event_set_daemon(&tick.ev, true);
  hs_event_set_daemon(&d_early.ev, true);
  hs_event_set_daemon(&d_same_before.ev, true);
  hs_event_set_daemon(&d_same_after.ev, true);
  hs_event_set_daemon(&d_late.ev, true);

  hs_sim_schedule_at(&sim, &tick.ev, 0);
  hs_sim_schedule_at(&sim, &d_early.ev, 4);
  hs_sim_schedule_at(&sim, &d_same_before.ev, 10);
  hs_sim_schedule_at(&sim, &live.ev, 10);
  hs_sim_schedule_at(&sim, &d_same_after.ev, 10);
  hs_sim_schedule_at(&sim, &d_late.ev, 11);
  assert_int_equal(sim.pending_live, 1);

  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  /* Daemons up to and including the last live event ran; those after it did not. */
  const int ids[] = {100, 100, 1, 100, 100, 2, 3};
  const hs_time_ns times[] = {0, 3, 4, 6, 9, 10, 10};
  expect_log(&log, ids, times, 7);
  assert_int_equal(hs_sim_now(&sim), 10);
  assert_true(hs_event_pending(&d_same_after.ev));
  assert_true(hs_event_pending(&d_late.ev));
  assert_true(hs_event_pending(&tick.ev));
  assert_int_equal(hs_sim_pending(&sim), 3);
  assert_int_equal(sim.pending_live, 0);

  /* Only daemons are pending: a further run does nothing. */
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(log.n, 7);
  assert_int_equal(hs_sim_now(&sim), 10);
  hs_sim_close(&sim);
}

static void test_daemons_run_until_end_time(void **state) {
  (void)state;
  static run_log log;
  memset(&log, 0, sizeof log);
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec tick, live;
  rec_init(&tick, 100, &log);
  rec_init(&live, 1, &log);
  tick.action = repeat_every_arg, tick.arg = 3, tick.remaining = 1000000;
  hs_event_set_daemon(&tick.ev, true);
  hs_sim_schedule_at(&sim, &tick.ev, 0);
  hs_sim_schedule_at(&sim, &live.ev, 4);
  assert_rc(hs_sim_set_end_time(&sim, 20), HS_OK);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_END_TIME);
  /* With an end time the daemon keeps ticking after the last live event. */
  const int ids[] = {100, 100, 1, 100, 100, 100, 100, 100};
  const hs_time_ns times[] = {0, 3, 4, 6, 9, 12, 15, 18};
  expect_log(&log, ids, times, 8);
  assert_int_equal(hs_sim_now(&sim), 20);
  assert_int_equal(hs_sim_event_time(&sim, &tick.ev), 21);
  hs_sim_close(&sim);
}

/* hs_event_set_daemon on a pending event: the live count follows what was counted
 * when the event was scheduled, so it can neither stick above zero (a run that never
 * auto-terminates) nor wrap below it. The change takes effect at the next scheduling. */
static void test_daemon_flag_changed_while_pending(void **state) {
  (void)state;
  static run_log log;
  memset(&log, 0, sizeof log);
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec a, b, tick;
  rec_init(&a, 1, &log);
  rec_init(&b, 2, &log);
  rec_init(&tick, 100, &log);
  tick.action = repeat_every_arg, tick.arg = 3, tick.remaining = 1000000;
  hs_event_set_daemon(&tick.ev, true);
  hs_sim_schedule_at(&sim, &tick.ev, 0);

  hs_sim_schedule_at(&sim, &a.ev, 10);
  hs_event_set_daemon(&a.ev, true); /* live -> daemon while pending */
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(sim.pending_live, 0);
  assert_int_equal(hs_sim_now(&sim), 10);
  assert_int_equal(log.ids[log.n - 1], 1);

  hs_sim_schedule_at(&sim, &b.ev, 20);
  hs_sim_schedule_at(&sim, &a.ev, 30); /* a daemon now */
  hs_event_set_daemon(&b.ev, true);     /* live -> daemon while pending */
  hs_event_set_daemon(&a.ev, false);    /* daemon -> live while pending */
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(sim.pending_live, 0); /* b counted as live, a not: no wrap-around */
  assert_int_equal(hs_sim_now(&sim), 20);
  assert_true(hs_event_pending(&a.ev));

  /* Cancelling follows the same rule. */
  hs_event_set_daemon(&a.ev, true);
  assert_true(hs_sim_cancel(&sim, &a.ev));
  assert_int_equal(sim.pending_live, 0);
  hs_sim_schedule_at(&sim, &b.ev, 40);
  hs_event_set_daemon(&b.ev, false);
  assert_true(hs_sim_cancel(&sim, &b.ev));
  assert_int_equal(sim.pending_live, 0);
  hs_sim_close(&sim);
}

/* ---- end time --------------------------------------------------------------------- */

static void test_end_time(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec a, b, c;
  rec_init(&a, 1, &log);
  rec_init(&b, 2, &log);
  rec_init(&c, 3, &log);
  hs_sim_schedule_at(&sim, &a.ev, 50);
  hs_sim_schedule_at(&sim, &b.ev, 100); /* exactly at the end: runs */
  hs_sim_schedule_at(&sim, &c.ev, 101); /* after it: does not */
  assert_rc(hs_sim_set_end_time(&sim, 100), HS_OK);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_END_TIME);
  EXPECT_IDS(&log, 1, 2);
  assert_int_equal(hs_sim_now(&sim), 100);
  assert_true(hs_event_pending(&c.ev));

  /* Time passes to the end even when the queue empties earlier. */
  assert_true(hs_sim_cancel(&sim, &c.ev));
  assert_rc(hs_sim_set_end_time(&sim, 99), HS_EINVAL); /* before now */
  assert_rc(hs_sim_set_end_time(&sim, 500), HS_OK);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_END_TIME);
  assert_int_equal(hs_sim_now(&sim), 500);

  /* A later end time resumes where the last run stopped. */
  hs_sim_schedule_at(&sim, &c.ev, 700);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_END_TIME);
  assert_int_equal(log.n, 2);
  assert_rc(hs_sim_set_end_time(&sim, 1000), HS_OK);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_END_TIME);
  EXPECT_IDS(&log, 1, 2, 3);
  assert_int_equal(hs_sim_now(&sim), 1000);
  hs_sim_close(&sim);
}

/* ---- run_until -------------------------------------------------------------------- */

static void test_run_until(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec d1, a, d2, b;
  rec_init(&d1, 1, &log);
  rec_init(&a, 2, &log);
  rec_init(&d2, 3, &log);
  rec_init(&b, 4, &log);
  hs_event_set_daemon(&d1.ev, true);
  hs_event_set_daemon(&d2.ev, true);
  hs_sim_schedule_at(&sim, &d1.ev, 10);
  hs_sim_schedule_at(&sim, &a.ev, 20);
  hs_sim_schedule_at(&sim, &d2.ev, 30);
  hs_sim_schedule_at(&sim, &b.ev, 40);

  assert_int_equal(hs_sim_run_until(&sim, 20), HS_RUN_END_TIME); /* inclusive */
  EXPECT_IDS(&log, 1, 2);
  assert_int_equal(hs_sim_now(&sim), 20);

  assert_int_equal(hs_sim_run_until(&sim, 35), HS_RUN_END_TIME);
  EXPECT_IDS(&log, 1, 2, 3); /* a daemon runs although no live event precedes... */
  assert_int_equal(hs_sim_now(&sim), 35); /* ...and now is the limit, not the last event */

  /* A limit in the past changes nothing (the Lua binding refuses it). */
  assert_int_equal(hs_sim_run_until(&sim, 5), HS_RUN_END_TIME);
  assert_int_equal(hs_sim_now(&sim), 35);
  EXPECT_IDS(&log, 1, 2, 3);

  /* Resumable: a plain run continues from here. */
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  EXPECT_IDS(&log, 1, 2, 3, 4);
  assert_int_equal(hs_sim_now(&sim), 40);

  /* With only daemons pending, run_until still runs them. */
  hs_sim_schedule_at(&sim, &d1.ev, 50);
  assert_int_equal(hs_sim_run_until(&sim, 60), HS_RUN_END_TIME);
  EXPECT_IDS(&log, 1, 2, 3, 4, 1);
  assert_int_equal(hs_sim_now(&sim), 60);

  /* run_until never passes the end time. */
  hs_sim_schedule_at(&sim, &a.ev, 80);
  hs_sim_schedule_at(&sim, &b.ev, 90);
  assert_rc(hs_sim_set_end_time(&sim, 85), HS_OK);
  assert_int_equal(hs_sim_run_until(&sim, 1000), HS_RUN_END_TIME);
  EXPECT_IDS(&log, 1, 2, 3, 4, 1, 2);
  assert_int_equal(hs_sim_now(&sim), 85);
  assert_true(hs_event_pending(&b.ev));
  hs_sim_close(&sim);
}

/* ---- step -------------------------------------------------------------------------- */

static void test_step(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  enum { N = 7 };
  rec r[N];
  for (int i = 0; i < N; i++) {
    rec_init(&r[i], i, &log);
    hs_sim_schedule_at(&sim, &r[i].ev, 10 * i);
  }
  uint64_t done = 99;
  assert_int_equal(hs_sim_step(&sim, 0, &done), HS_RUN_STEPPED);
  assert_int_equal(done, 0);
  assert_int_equal(hs_sim_step(&sim, 3, &done), HS_RUN_STEPPED);
  assert_int_equal(done, 3);
  EXPECT_IDS(&log, 0, 1, 2);
  assert_int_equal(hs_sim_now(&sim), 20);
  assert_int_equal(sim.events_processed, 3);

  /* The end time bounds a step. */
  assert_rc(hs_sim_set_end_time(&sim, 45), HS_OK);
  assert_int_equal(hs_sim_step(&sim, 10, &done), HS_RUN_END_TIME);
  assert_int_equal(done, 2);
  assert_int_equal(hs_sim_now(&sim), 40); /* step does not advance time to the end */

  /* Fewer events than asked: drained, with the count done. */
  assert_rc(hs_sim_set_end_time(&sim, HS_TIME_NEVER), HS_OK);
  assert_int_equal(hs_sim_step(&sim, 10, &done), HS_RUN_DRAINED);
  assert_int_equal(done, 2);
  EXPECT_IDS(&log, 0, 1, 2, 3, 4, 5, 6);
  assert_int_equal(hs_sim_step(&sim, 1, NULL), HS_RUN_DRAINED);

  /* step does not auto-terminate: it runs a daemon that nothing live waits for. */
  hs_event_set_daemon(&r[0].ev, true);
  hs_sim_schedule_at(&sim, &r[0].ev, 100);
  assert_int_equal(sim.pending_live, 0);
  assert_int_equal(hs_sim_step(&sim, 5, &done), HS_RUN_DRAINED);
  assert_int_equal(done, 1);
  assert_int_equal(hs_sim_now(&sim), 100);
  hs_sim_close(&sim);
}

/* ---- stop -------------------------------------------------------------------------- */

static void stop_sim(hs_sim *sim, rec *r) {
  (void)r;
  hs_sim_stop(sim);
}

static void test_stop_from_handler(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec r[5];
  for (int i = 0; i < 5; i++) {
    rec_init(&r[i], i, &log);
    hs_sim_schedule_at(&sim, &r[i].ev, 10 + (i >= 2)); /* 10, 10, 11, 11, 11 */
  }
  r[1].action = stop_sim;
  r[3].action = stop_sim;
  assert_rc(hs_sim_set_end_time(&sim, 100), HS_OK);

  /* Stops right after the event that asked, even with same-time events queued. */
  assert_int_equal(hs_sim_run(&sim), HS_RUN_STOPPED);
  EXPECT_IDS(&log, 0, 1);
  assert_int_equal(hs_sim_now(&sim), 10); /* a stopped run does not jump to the end */

  /* run_until and step honour stop too. */
  assert_int_equal(hs_sim_run_until(&sim, 50), HS_RUN_STOPPED);
  EXPECT_IDS(&log, 0, 1, 2, 3);
  assert_int_equal(hs_sim_now(&sim), 11);

  /* A later run resumes; the stop request was consumed. */
  assert_int_equal(hs_sim_run(&sim), HS_RUN_END_TIME);
  EXPECT_IDS(&log, 0, 1, 2, 3, 4);
  assert_int_equal(hs_sim_now(&sim), 100);

  uint64_t done = 0;
  r[0].action = stop_sim;
  hs_sim_schedule_at(&sim, &r[0].ev, 100);
  hs_sim_schedule_at(&sim, &r[4].ev, 100);
  assert_int_equal(hs_sim_step(&sim, 10, &done), HS_RUN_STOPPED);
  assert_int_equal(done, 1);
  hs_sim_close(&sim);
}

/* ---- handlers that schedule ------------------------------------------------------- */

static void schedule_other_after(hs_sim *sim, rec *r) {
  assert_rc(hs_sim_schedule_after(sim, &r->other->ev, r->arg), HS_OK);
}

static void test_handler_schedules_at_now(void **state) {
  (void)state;
  run_log log = {0};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec a, b, c, x, y;
  rec_init(&a, 1, &log);
  rec_init(&b, 2, &log);
  rec_init(&c, 3, &log);
  rec_init(&x, 10, &log);
  rec_init(&y, 11, &log);
  a.action = schedule_other_after, a.other = &x, a.arg = 0; /* x at now */
  x.action = schedule_other_after, x.other = &y, x.arg = 5;   /* y at now + 5 */
  hs_sim_schedule_at(&sim, &a.ev, 10);
  hs_sim_schedule_at(&sim, &b.ev, 10);
  hs_sim_schedule_at(&sim, &c.ev, 15);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  /* x runs at 10 but after b, which was queued first; y (at 15) after c. */
  const int ids[] = {1, 2, 10, 3, 11};
  const hs_time_ns times[] = {10, 10, 10, 15, 15};
  expect_log(&log, ids, times, 5);
  hs_sim_close(&sim);
}

/* A handler reschedules its own event: a chain of n events. */
static void test_self_rescheduling_chain(void **state) {
  (void)state;
  static run_log log;
  memset(&log, 0, sizeof log);
  hs_sim sim;
  hs_sim_init(&sim, 1);
  rec r;
  rec_init(&r, 1, &log);
  r.action = repeat_every_arg, r.arg = 7, r.remaining = 999;
  hs_sim_schedule_at(&sim, &r.ev, 0);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(log.n, 1000);
  assert_int_equal(hs_sim_now(&sim), 999 * 7);
  assert_int_equal(sim.events_processed, 1000);
  assert_int_equal(sim.next_seq, 1000);
  hs_sim_close(&sim);
}

/* ---- trace hash and trace callback ------------------------------------------------ */

/* A seed-driven workload: K events, each rescheduled after a random delay drawn from
 * a stream of the simulation, some with targets. Returns the trace hash. */
typedef struct rnd_ev {
  hs_event ev;
  hs_rng rng;
  int left;
} rnd_ev;

static void rnd_fire(hs_sim *sim, hs_event *ev) {
  rnd_ev *r = HS_CONTAINER_OF(ev, rnd_ev, ev);
  if (r->left-- > 0)
    assert_rc(hs_sim_schedule_after(sim, ev, (hs_time_ns)hs_rng_below(&r->rng, 100)), HS_OK);
}

static uint64_t run_random_workload(uint64_t seed, uint64_t *processed) {
  enum { K = 20 };
  hs_sim sim;
  hs_sim_init(&sim, seed);
  hs_entity ents[2];
  static const hs_entity_vtable vt = {"Node", NULL, NULL, NULL};
  for (int i = 0; i < 2; i++) {
    hs_entity_init(&ents[i], &vt, "node");
    assert_rc(hs_sim_register(&sim, &ents[i]), HS_OK);
  }
  rnd_ev evs[K];
  for (int i = 0; i < K; i++) {
    char name[16];
    int len = snprintf(name, sizeof name, "ev%d", i);
    hs_event_init(&evs[i].ev, rnd_fire, i % 3 ? &ents[i % 2] : NULL, "rnd");
    hs_sim_stream(&sim, &evs[i].rng, name, (size_t)len);
    evs[i].left = 50;
    assert_rc(hs_sim_schedule_at(&sim, &evs[i].ev, (hs_time_ns)hs_rng_below(&sim.rng, 10)), HS_OK);
  }
  hs_sim_run(&sim);
  *processed = sim.events_processed;
  uint64_t h = sim.trace_hash;
  hs_sim_close(&sim);
  return h;
}

static void test_trace_hash_deterministic(void **state) {
  (void)state;
  uint64_t n1, n2, n3;
  uint64_t h1 = run_random_workload(1234, &n1);
  uint64_t h2 = run_random_workload(1234, &n2);
  uint64_t h3 = run_random_workload(1235, &n3);
  assert_int_equal(n1, 20 * 51);
  assert_int_equal(n1, n2);
  assert_int_equal(n1, n3);
  assert_int_equal(h1, h2);
  assert_int_not_equal(h1, h3);
  /* An empty run keeps the initial hash. */
  hs_sim sim;
  hs_sim_init(&sim, 1234);
  uint64_t h0 = sim.trace_hash;
  hs_sim_run(&sim);
  assert_int_equal(sim.trace_hash, h0);
  assert_int_not_equal(h1, h0);
  hs_sim_close(&sim);
}

/* The hash covers targets: the same times and seqs with another target differ. */
static void test_trace_hash_covers_target(void **state) {
  (void)state;
  uint64_t h[2];
  for (int k = 0; k < 2; k++) {
    run_log log = {0};
    hs_sim sim;
    hs_sim_init(&sim, 1);
    hs_entity e0, e1;
    hs_entity_init(&e0, NULL, "e0");
    hs_entity_init(&e1, NULL, "e1");
    hs_sim_register(&sim, &e0);
    hs_sim_register(&sim, &e1);
    rec r;
    rec_init(&r, 1, &log);
    r.ev.target = k ? &e1 : &e0;
    hs_sim_schedule_at(&sim, &r.ev, 3);
    hs_sim_run(&sim);
    h[k] = sim.trace_hash;
    hs_sim_close(&sim);
  }
  assert_int_not_equal(h[0], h[1]);
}

typedef struct trace_rec {
  const hs_event *evs[64];
  hs_time_ns times[64];
  uint64_t seqs[64];
  int n;
  run_log *log; /* to check the callback comes before the handler */
} trace_rec;

static void on_trace(hs_sim *sim, const hs_event *ev, void *ud) {
  trace_rec *t = ud;
  assert_true(t->n < 64);
  assert_int_equal(hs_sim_event_time(sim, ev), HS_TIME_NEVER); /* taken off the queue: it fires now */
  assert_int_equal(t->log->n, t->n); /* the handler has not run yet */
  t->evs[t->n] = ev;
  t->times[t->n] = hs_sim_now(sim);
  t->seqs[t->n] = ev->seq;
  t->n++;
}

static void test_trace_callback_sees_every_event(void **state) {
  (void)state;
  run_log log = {0};
  trace_rec tr = {.log = &log};
  hs_sim sim;
  hs_sim_init(&sim, 1);
  hs_sim_set_trace(&sim, on_trace, &tr);
  rec r[6];
  for (int i = 0; i < 6; i++) rec_init(&r[i], i, &log);
  hs_event_set_daemon(&r[5].ev, true);
  r[0].action = schedule_other_after, r[0].other = &r[4], r[0].arg = 0;
  hs_sim_schedule_at(&sim, &r[3].ev, 30);
  hs_sim_schedule_at(&sim, &r[0].ev, 10);
  hs_sim_schedule_at(&sim, &r[1].ev, 10);
  hs_sim_schedule_at(&sim, &r[2].ev, 20);
  hs_sim_schedule_at(&sim, &r[5].ev, 25);
  hs_sim_run(&sim);
  EXPECT_IDS(&log, 0, 1, 4, 2, 5, 3);
  assert_int_equal(tr.n, 6);
  for (int i = 0; i < tr.n; i++) {
    assert_ptr_equal(tr.evs[i], &r[log.ids[i]].ev);
    assert_int_equal(tr.times[i], log.times[i]);
    if (i > 0)
      assert_true(tr.times[i - 1] < tr.times[i] ||
                  (tr.times[i - 1] == tr.times[i] && tr.seqs[i - 1] < tr.seqs[i]));
  }
  /* Turned off: no more calls. */
  hs_sim_set_trace(&sim, NULL, NULL);
  hs_sim_schedule_at(&sim, &r[0].ev, 40);
  r[0].action = NULL;
  hs_sim_run(&sim);
  assert_int_equal(tr.n, 6);
  assert_int_equal(log.n, 7);
  hs_sim_close(&sim);
}

/* ---- close ------------------------------------------------------------------------- */

static void test_close(void **state) {
  (void)state;
  static run_log log;
  memset(&log, 0, sizeof log);
  hs_sim sim;
  hs_sim_init(&sim, 1);
  enum { N = 200 };
  static rec r[N];
  for (int i = 0; i < N; i++) {
    rec_init(&r[i], i, &log);
    if (i % 2) hs_event_set_daemon(&r[i].ev, true);
    assert_rc(hs_sim_schedule_at(&sim, &r[i].ev, i), HS_OK);
  }
  hs_entity e;
  hs_entity_init(&e, NULL, "e");
  assert_rc(hs_sim_register(&sim, &e), HS_OK);

  hs_sim_close(&sim);
  assert_true(sim.closed);
  assert_int_equal(hs_sim_pending(&sim), 0);
  assert_int_equal(sim.pending_live, 0);
  hs_sim_close(&sim); /* idempotent */

  assert_rc(hs_sim_schedule_at(&sim, &r[0].ev, 1000), HS_ECLOSED);
  assert_rc(hs_sim_schedule_after(&sim, &r[0].ev, 5), HS_ECLOSED);
  assert_rc(hs_sim_reschedule_at(&sim, &r[0].ev, 1000), HS_ECLOSED);
  assert_false(hs_sim_cancel(&sim, &r[0].ev));
  assert_int_equal(sim.events_cancelled, 0);
  assert_rc(hs_sim_register(&sim, &e), HS_ECLOSED);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(hs_sim_run_until(&sim, 10), HS_RUN_DRAINED);
  uint64_t done = 7;
  assert_int_equal(hs_sim_step(&sim, 10, &done), HS_RUN_DRAINED);
  assert_int_equal(done, 0);
  assert_int_equal(log.n, 0);
  assert_int_equal(hs_sim_now(&sim), 0);
  hs_sim_close(&sim);
}

/* Close does not touch pending events: their owners may be gone already (a Lua
 * finalizer order is arbitrary). Under ASan any access to the freed events fails. */
static void test_close_after_events_freed(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  enum { N = 100 };
  hs_event *evs[N];
  for (int i = 0; i < N; i++) {
    evs[i] = malloc(sizeof *evs[i]);
    assert_non_null(evs[i]);
    hs_event_init(evs[i], NULL, NULL, "gone");
    assert_rc(hs_sim_schedule_at(&sim, evs[i], N - i), HS_OK);
  }
  for (int i = 0; i < N; i++) free(evs[i]);
  hs_sim_close(&sim);
  hs_sim_close(&sim);
  assert_int_equal(hs_sim_pending(&sim), 0);
}

static void test_close_fresh_sim(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 0);
  hs_sim_close(&sim);
  hs_sim_close(&sim);
  assert_true(sim.closed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equal_times_run_in_scheduling_order),
      cmocka_unit_test(test_tie_break_is_scheduling_order),
      cmocka_unit_test(test_schedule_errors),
      cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_time_conversions),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_cancelled_event_can_be_rescheduled),
      cmocka_unit_test(test_cancel_from_handler),
      cmocka_unit_test(test_reschedule_at),
      cmocka_unit_test(test_reschedule_keeps_live_count),
      cmocka_unit_test(test_daemons_auto_terminate),
      cmocka_unit_test(test_daemons_run_until_end_time),
      cmocka_unit_test(test_daemon_flag_changed_while_pending),
      cmocka_unit_test(test_end_time),
      cmocka_unit_test(test_run_until),
      cmocka_unit_test(test_step),
      cmocka_unit_test(test_stop_from_handler),
      cmocka_unit_test(test_handler_schedules_at_now),
      cmocka_unit_test(test_self_rescheduling_chain),
      cmocka_unit_test(test_trace_hash_deterministic),
      cmocka_unit_test(test_trace_hash_covers_target),
      cmocka_unit_test(test_trace_callback_sees_every_event),
      cmocka_unit_test(test_close),
      cmocka_unit_test(test_close_after_events_freed),
      cmocka_unit_test(test_close_fresh_sim),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
