/*
 * test_entity.c - entities and their timers: registration, per-entity counts,
 * start/restart/stop, what a crash and a restart do to timers, and to a hold model's
 * raw events (hs_hold_crash / hs_hold_restart wired into the hooks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "happysim.h"

#define assert_rc(actual, expected)                                                                \
  do {                                                                                             \
    int a_ = (actual), e_ = (expected);                                                            \
    if (a_ != e_)                                                                                  \
      fail_msg("%s: got %d (%s), expected %d (%s)", #actual, a_, hs_strerror(a_), e_,              \
               hs_strerror(e_));                                                                   \
  } while (0)

/* A node: an entity, three timers, and counters of what happened to it. */
typedef struct node {
  hs_entity base;
  hs_timer election, heartbeat, lease;
  int crashes, restarts;
  int fired; /* timer firings, all timers */
  hs_time_ns fired_at[32];
  hs_timer *fired_timer[32];
  hs_time_ns rearm_ns; /* > 0: on_restart starts the election timer this far ahead */
  int periodic_left;   /* > 0: the heartbeat re-arms itself this many more times */
} node;

static void node_on_crash(hs_entity *e) {
  node *n = HS_CONTAINER_OF(e, node, base);
  assert_true(hs_entity_crashed(e)); /* marked before the hook runs */
  for (hs_timer *t = e->timers; t; t = t->next_of_owner) assert_false(hs_timer_active(t));
  n->crashes++;
}

static void node_on_restart(hs_entity *e) {
  node *n = HS_CONTAINER_OF(e, node, base);
  assert_false(hs_entity_crashed(e)); /* cleared before the hook runs: it may re-arm */
  n->restarts++;
  if (n->rearm_ns > 0) assert_rc(hs_timer_start(&n->election, n->rearm_ns), HS_OK);
}

static const hs_entity_vtable node_vt = {"TestNode", node_on_crash, node_on_restart, NULL};

static void node_timer_fired(hs_entity *owner, hs_timer *t) {
  node *n = HS_CONTAINER_OF(owner, node, base);
  assert_false(hs_timer_active(t));
  assert_false(hs_entity_crashed(owner));
  assert_true(n->fired < 32);
  n->fired_at[n->fired] = hs_sim_now(owner->sim);
  n->fired_timer[n->fired] = t;
  n->fired++;
  if (t == &n->heartbeat && n->periodic_left > 0) {
    n->periodic_left--;
    assert_rc(hs_timer_start(t, 10), HS_OK);
  }
}

static void node_init(node *n, const char *name) {
  memset(n, 0, sizeof *n);
  hs_entity_init(&n->base, &node_vt, name);
  hs_timer_init(&n->election, &n->base, "election", node_timer_fired);
  hs_timer_init(&n->heartbeat, &n->base, "heartbeat", node_timer_fired);
  hs_timer_init(&n->lease, &n->base, "lease", node_timer_fired);
}

/* ---- registration ------------------------------------------------------------------ */

static void test_register_assigns_ids_in_order(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  enum { N = 40 }; /* past the registry's first block of 16 */
  static node nodes[N];
  for (int i = 0; i < N; i++) {
    node_init(&nodes[i], "n");
    assert_int_equal(nodes[i].base.id, UINT32_MAX);
    assert_null(nodes[i].base.sim);
    assert_rc(hs_sim_register(&sim, &nodes[i].base), HS_OK);
    assert_int_equal(nodes[i].base.id, i);
    assert_ptr_equal(nodes[i].base.sim, &sim);
  }
  assert_int_equal(sim.entity_count, N);
  for (int i = 0; i < N; i++) assert_ptr_equal(sim.entities[i], &nodes[i].base);

  /* Idempotent: a second registration changes nothing. */
  assert_rc(hs_sim_register(&sim, &nodes[3].base), HS_OK);
  assert_rc(hs_sim_register(&sim, &nodes[N - 1].base), HS_OK);
  assert_int_equal(nodes[3].base.id, 3);
  assert_int_equal(sim.entity_count, N);
  hs_sim_close(&sim);
}

static void test_entity_init(void **state) {
  (void)state;
  node n;
  node_init(&n, "alpha");
  assert_ptr_equal(n.base.vt, &node_vt);
  assert_string_equal(n.base.name, "alpha");
  assert_int_equal(n.base.events_handled, 0);
  assert_false(hs_entity_crashed(&n.base));
  /* Timers are listed on their owner, last initialised first. */
  assert_ptr_equal(n.base.timers, &n.lease);
  assert_ptr_equal(n.lease.next_of_owner, &n.heartbeat);
  assert_ptr_equal(n.heartbeat.next_of_owner, &n.election);
  assert_null(n.election.next_of_owner);
  assert_ptr_equal(n.election.ev.target, &n.base);
  assert_string_equal(n.election.ev.type, "election");
  assert_false(hs_timer_active(&n.election));
}

/* ---- per-target counts --------------------------------------------------------------- */

static void noop(hs_sim *sim, hs_event *ev) {
  (void)sim;
  (void)ev;
}

static void test_events_handled_per_target(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node a, b;
  node_init(&a, "a");
  node_init(&b, "b");
  hs_sim_register(&sim, &a.base);
  hs_sim_register(&sim, &b.base);
  hs_event evs[6];
  hs_entity *targets[6] = {&a.base, &b.base, &a.base, NULL, &a.base, &b.base};
  for (int i = 0; i < 6; i++) {
    hs_event_init(&evs[i], noop, targets[i], "msg");
    assert_rc(hs_sim_schedule_at(&sim, &evs[i], i), HS_OK);
  }
  assert_true(hs_sim_cancel(&sim, &evs[4])); /* a cancelled event is not handled */
  /* Timer events count for their owner too. */
  assert_rc(hs_timer_start(&b.lease, 3), HS_OK);
  hs_sim_run(&sim);
  assert_int_equal(a.base.events_handled, 2);
  assert_int_equal(b.base.events_handled, 3);
  assert_int_equal(sim.events_processed, 6);
  hs_sim_close(&sim);
}

/* ---- timers ------------------------------------------------------------------------- */

static void test_timer_start_fires_once(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&n, "n");
  assert_rc(hs_timer_start(&n.election, 5), HS_EINVAL); /* not registered: no clock */
  hs_sim_register(&sim, &n.base);
  hs_sim_run_until(&sim, 100);

  assert_rc(hs_timer_start(&n.election, 50), HS_OK);
  assert_true(hs_timer_active(&n.election));
  assert_int_equal(hs_sim_event_time(&sim, &n.election.ev), 150);
  assert_rc(hs_timer_start(&n.election, -1), HS_EINVAL);
  assert_rc(hs_timer_start(&n.election, INT64_MAX), HS_EINVAL); /* overflows now + delay */
  assert_int_equal(hs_sim_event_time(&sim, &n.election.ev), 150); /* a refused start leaves it armed */
  assert_true(hs_timer_active(&n.election));

  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(n.fired, 1);
  assert_int_equal(n.fired_at[0], 150);
  assert_ptr_equal(n.fired_timer[0], &n.election);
  assert_false(hs_timer_active(&n.election));
  hs_sim_close(&sim);
}

static void test_timer_restart_moves(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&n, "n");
  hs_sim_register(&sim, &n.base);
  assert_rc(hs_timer_start(&n.election, 100), HS_OK);
  assert_rc(hs_timer_start(&n.election, 30), HS_OK);  /* earlier */
  assert_rc(hs_timer_start(&n.election, 300), HS_OK); /* later */
  assert_rc(hs_timer_start(&n.election, 200), HS_OK);
  assert_int_equal(hs_sim_pending(&sim), 1); /* moved, not duplicated */
  assert_int_equal(sim.events_cancelled, 0); /* a restart is not a cancellation */
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 1);
  assert_int_equal(n.fired_at[0], 200);
  hs_sim_close(&sim);
}

static void test_timer_stop(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&n, "n");
  hs_timer_stop(&n.lease); /* unregistered and idle: harmless */
  hs_sim_register(&sim, &n.base);
  hs_timer_stop(&n.lease); /* idle: harmless, not counted */
  assert_int_equal(sim.events_cancelled, 0);
  assert_rc(hs_timer_start(&n.lease, 10), HS_OK);
  assert_rc(hs_timer_start(&n.heartbeat, 20), HS_OK);
  hs_timer_stop(&n.lease);
  assert_false(hs_timer_active(&n.lease));
  assert_true(hs_timer_active(&n.heartbeat));
  assert_int_equal(hs_sim_pending(&sim), 1);
  assert_int_equal(sim.events_cancelled, 1);
  hs_timer_stop(&n.lease);
  assert_int_equal(sim.events_cancelled, 1);
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 1);
  assert_ptr_equal(n.fired_timer[0], &n.heartbeat);
  /* A stopped timer starts again. */
  assert_rc(hs_timer_start(&n.lease, 5), HS_OK);
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 2);
  assert_ptr_equal(n.fired_timer[1], &n.lease);
  assert_int_equal(n.fired_at[1], 25);
  hs_sim_close(&sim);
}

/* A detached timer is off its owner's list (a crash no longer stops it, as it is not there) and
 * may be initialised again: the owner of a rebuilt adapter does that. */
static void test_timer_detach(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&n, "n");
  hs_sim_register(&sim, &n.base);
  assert_rc(hs_timer_start(&n.heartbeat, 10), HS_OK);
  hs_timer_detach(&n.heartbeat); /* the middle of the list: lease -> heartbeat -> election */
  assert_false(hs_timer_active(&n.heartbeat));
  assert_int_equal(sim.events_cancelled, 1);
  assert_ptr_equal(n.base.timers, &n.lease);
  assert_ptr_equal(n.lease.next_of_owner, &n.election);
  assert_null(n.election.next_of_owner);
  hs_timer_detach(&n.heartbeat); /* twice: harmless */
  hs_timer_init(&n.heartbeat, &n.base, "heartbeat", node_timer_fired);
  int listed = 0; /* bounded: a cycle would show as 10 */
  for (hs_timer *t = n.base.timers; t && listed < 10; t = t->next_of_owner) listed++;
  assert_int_equal(listed, 3);
  assert_ptr_equal(n.base.timers, &n.heartbeat);
  assert_rc(hs_timer_start(&n.heartbeat, 5), HS_OK);
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 1);
  assert_ptr_equal(n.fired_timer[0], &n.heartbeat);
  hs_sim_close(&sim);
}

static void test_periodic_timer(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&n, "n");
  hs_sim_register(&sim, &n.base);
  n.periodic_left = 4;
  assert_rc(hs_timer_start(&n.heartbeat, 10), HS_OK);
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 5);
  for (int i = 0; i < 5; i++) assert_int_equal(n.fired_at[i], 10 * (i + 1));
  assert_int_equal(n.base.events_handled, 5);
  hs_sim_close(&sim);
}

/* ---- crash and restart --------------------------------------------------------------- */

static void test_crash_stops_timers(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n, other;
  node_init(&n, "n");
  node_init(&other, "other");
  hs_sim_register(&sim, &n.base);
  hs_sim_register(&sim, &other.base);
  assert_rc(hs_timer_start(&n.election, 10), HS_OK);
  assert_rc(hs_timer_start(&n.heartbeat, 20), HS_OK); /* lease stays idle */
  assert_rc(hs_timer_start(&other.election, 15), HS_OK);

  hs_entity_crash(&n.base);
  assert_true(hs_entity_crashed(&n.base));
  assert_int_equal(n.crashes, 1);
  assert_false(hs_timer_active(&n.election));
  assert_false(hs_timer_active(&n.heartbeat));
  assert_false(hs_timer_active(&n.lease));
  assert_true(hs_timer_active(&other.election)); /* other entities are untouched */
  assert_int_equal(hs_sim_pending(&sim), 1);
  assert_int_equal(sim.events_cancelled, 2); /* the two armed timers */

  /* A crashed entity cannot arm timers. */
  assert_rc(hs_timer_start(&n.election, 5), HS_EINVAL);
  assert_false(hs_timer_active(&n.election));

  /* Crashing again is a no-op. */
  hs_entity_crash(&n.base);
  assert_int_equal(n.crashes, 1);
  assert_int_equal(sim.events_cancelled, 2);

  hs_sim_run(&sim);
  assert_int_equal(n.fired, 0);
  assert_int_equal(other.fired, 1);
  hs_sim_close(&sim);
}

static void test_restart(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&n, "n");
  hs_sim_register(&sim, &n.base);

  hs_entity_restart(&n.base); /* not crashed: no-op */
  assert_int_equal(n.restarts, 0);

  assert_rc(hs_timer_start(&n.election, 10), HS_OK);
  hs_entity_crash(&n.base);
  hs_sim_run_until(&sim, 50);
  assert_int_equal(n.fired, 0);

  n.rearm_ns = 7; /* on_restart re-arms the election timer */
  hs_entity_restart(&n.base);
  assert_false(hs_entity_crashed(&n.base));
  assert_int_equal(n.restarts, 1);
  assert_true(hs_timer_active(&n.election));
  assert_rc(hs_timer_start(&n.lease, 20), HS_OK); /* and anything else may start */

  hs_entity_restart(&n.base); /* not crashed any more: no-op */
  assert_int_equal(n.restarts, 1);

  hs_sim_run(&sim);
  assert_int_equal(n.fired, 2);
  assert_ptr_equal(n.fired_timer[0], &n.election);
  assert_int_equal(n.fired_at[0], 57);
  assert_ptr_equal(n.fired_timer[1], &n.lease);
  assert_int_equal(n.fired_at[1], 70);

  /* A second crash/restart cycle behaves the same. */
  hs_entity_crash(&n.base);
  hs_entity_crash(&n.base);
  hs_entity_restart(&n.base);
  hs_entity_restart(&n.base);
  assert_int_equal(n.crashes, 2);
  assert_int_equal(n.restarts, 2);
  hs_sim_close(&sim);
}

/* Crash from inside a handler of the entity's own timer: the other timers stop at
 * once, including one due at the same instant. */
static node *crash_victim;

static void crash_on_fire(hs_entity *owner, hs_timer *t) {
  (void)t;
  node_timer_fired(owner, t);
  hs_entity_crash(&crash_victim->base);
}

static void test_crash_from_handler(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&n, "n");
  n.election.fn = crash_on_fire;
  crash_victim = &n;
  hs_sim_register(&sim, &n.base);
  hs_timer_start(&n.election, 10);
  hs_timer_start(&n.heartbeat, 10); /* same time, queued after */
  hs_timer_start(&n.lease, 11);
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 1);
  assert_ptr_equal(n.fired_timer[0], &n.election);
  assert_int_equal(n.crashes, 1);
  assert_int_equal(hs_sim_now(&sim), 10);
  assert_int_equal(sim.events_cancelled, 2);
  hs_sim_close(&sim);
}

/* An entity without hooks (NULL vtable, or NULL entries) crashes and restarts. */
static void test_crash_without_hooks(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  hs_entity bare;
  hs_entity_init(&bare, NULL, "bare");
  hs_sim_register(&sim, &bare);
  hs_timer t;
  hs_timer_init(&t, &bare, "t", NULL);
  assert_rc(hs_timer_start(&t, 5), HS_OK);
  hs_entity_crash(&bare);
  assert_true(hs_entity_crashed(&bare));
  assert_false(hs_timer_active(&t));
  hs_entity_restart(&bare);
  assert_false(hs_entity_crashed(&bare));

  static const hs_entity_vtable empty_vt = {"Empty", NULL, NULL, NULL};
  hs_entity e;
  hs_entity_init(&e, &empty_vt, "e");
  hs_entity_crash(&e); /* unregistered too */
  hs_entity_restart(&e);
  assert_false(hs_entity_crashed(&e));
  hs_sim_close(&sim);
}

/* After the simulation is closed, timers refuse to start and stopping is safe. */
static void test_timers_after_close(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&n, "n");
  hs_sim_register(&sim, &n.base);
  hs_timer_start(&n.election, 10);
  hs_sim_close(&sim);
  assert_rc(hs_timer_start(&n.election, 10), HS_ECLOSED);
  assert_rc(hs_timer_start(&n.lease, 10), HS_ECLOSED);
  hs_timer_stop(&n.election);
  hs_timer_stop(&n.lease);
  assert_int_equal(sim.events_cancelled, 0);
}

/* ---- a hold model owned by an entity that can crash ----------------------------------- */

typedef struct hold_node {
  hs_entity base;
  hs_hold hold;
} hold_node;

static void hold_node_crash(hs_entity *e) { hs_hold_crash(&HS_CONTAINER_OF(e, hold_node, base)->hold, e->sim); }

static void hold_node_restart(hs_entity *e) {
  assert_rc(hs_hold_restart(&HS_CONTAINER_OF(e, hold_node, base)->hold, e->sim), HS_OK);
}

static const hs_entity_vtable hold_node_vt = {"HoldNode", hold_node_crash, hold_node_restart, NULL};

static void test_hold_crash_restart(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  hold_node n = {0};
  hs_entity_init(&n.base, &hold_node_vt, "hold");
  hs_sim_register(&sim, &n.base);
  assert_rc(hs_hold_start(&n.hold, &sim, &n.base, 8, 0.001), HS_OK);
  assert_int_equal(hs_sim_pending(&sim), 8);
  hs_sim_run_until(&sim, hs_time_from_s(1));
  uint64_t before = n.base.events_handled;
  assert_true(before > 4000);

  /* Down: every event is cancelled, nothing fires, and an unbounded run drains. */
  hs_entity_crash(&n.base);
  assert_int_equal(hs_sim_pending(&sim), 0);
  assert_int_equal(sim.events_cancelled, 8);
  assert_rc(hs_hold_start(&n.hold, &sim, &n.base, 8, 0.001), HS_EINVAL); /* already started */
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  hs_sim_run_until(&sim, hs_time_from_s(2));
  assert_int_equal(n.base.events_handled, before);

  /* Up again: the whole population, each event at least `now` ahead. */
  hs_entity_restart(&n.base);
  assert_int_equal(hs_sim_pending(&sim), 8);
  for (uint32_t i = 0; i < 8; i++) assert_true(hs_sim_event_time(&sim, &n.hold.events[i].ev) >= hs_time_from_s(2));
  hs_sim_run_until(&sim, hs_time_from_s(3));
  assert_true(n.base.events_handled > before + 4000);

  /* Stopped while down: a restart finds nothing to schedule, and a crashed owner cannot start. */
  hs_entity_crash(&n.base);
  hs_hold_stop(&n.hold, &sim);
  assert_rc(hs_hold_start(&n.hold, &sim, &n.base, 8, 0.001), HS_EINVAL);
  assert_null(n.hold.events);
  hs_entity_restart(&n.base);
  assert_int_equal(hs_sim_pending(&sim), 0);
  hs_sim_close(&sim);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_assigns_ids_in_order),
      cmocka_unit_test(test_entity_init),
      cmocka_unit_test(test_events_handled_per_target),
      cmocka_unit_test(test_timer_start_fires_once),
      cmocka_unit_test(test_timer_restart_moves),
      cmocka_unit_test(test_timer_stop),
      cmocka_unit_test(test_timer_detach),
      cmocka_unit_test(test_periodic_timer),
      cmocka_unit_test(test_crash_stops_timers),
      cmocka_unit_test(test_restart),
      cmocka_unit_test(test_crash_from_handler),
      cmocka_unit_test(test_crash_without_hooks),
      cmocka_unit_test(test_timers_after_close),
      cmocka_unit_test(test_hold_crash_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
