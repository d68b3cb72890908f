/*
 * test_pause.c - pausing an entity: what comes due waits, in order, and runs at resume; set-aside
 * events stay pending and cancellable, do not keep a run alive, and a crash of a paused entity
 * drops what waited. Also a network arrival at a paused node.
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

/* A node with two timers that logs which fired, and when. */
typedef struct node {
  hs_entity base;
  hs_timer a, b;
  int fired;
  char order[16];
  hs_time_ns at[16];
  int messages;
  hs_time_ns message_at;
} node;

static void fired(hs_entity *owner, hs_timer *t) {
  node *n = HS_CONTAINER_OF(owner, node, base);
  assert_false(hs_entity_paused(owner));
  assert_false(hs_entity_crashed(owner));
  assert_true(n->fired < 15);
  n->order[n->fired] = t == &n->a ? 'a' : 'b';
  n->at[n->fired] = hs_sim_now(owner->sim);
  n->fired++;
}

static void on_message(hs_entity *e, hs_message *m) {
  (void)m;
  node *n = HS_CONTAINER_OF(e, node, base);
  assert_false(hs_entity_paused(e));
  n->messages++;
  n->message_at = hs_sim_now(e->sim);
}

static const hs_entity_vtable node_vt = {"PauseNode", NULL, NULL, on_message};

static void node_init(hs_sim *sim, node *n, const char *name) {
  memset(n, 0, sizeof *n);
  hs_entity_init(&n->base, &node_vt, name);
  hs_timer_init(&n->a, &n->base, "a", fired);
  hs_timer_init(&n->b, &n->base, "b", fired);
  assert_rc(hs_sim_register(sim, &n->base), HS_OK);
}

/* A plain event that keeps a run going until it fires. */
static void nothing(hs_sim *sim, hs_event *ev) { (void)sim, (void)ev; }

static void test_waits_and_runs_in_order_at_resume(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&sim, &n, "n");
  assert_rc(hs_timer_start(&n.b, 20), HS_OK);
  assert_rc(hs_timer_start(&n.a, 30), HS_OK);
  hs_entity_pause(&n.base);
  assert_true(hs_entity_paused(&n.base));
  hs_event keep;
  hs_event_init(&keep, nothing, NULL, "keep");
  assert_rc(hs_sim_schedule_at(&sim, &keep, 100), HS_OK);
  hs_sim_run_until(&sim, 50);
  assert_int_equal(n.fired, 0);
  assert_true(hs_timer_active(&n.a)); /* set aside, still pending */
  assert_true(hs_timer_active(&n.b));
  assert_int_equal(sim.events_processed, 0); /* set aside is not processed */
  assert_rc(hs_entity_resume(&n.base), HS_OK);
  assert_false(hs_entity_paused(&n.base));
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 2);
  assert_memory_equal(n.order, "ba", 2); /* the order they came due */
  assert_int_equal(n.at[0], 50);
  assert_int_equal(n.at[1], 50);
  assert_int_equal(sim.deferred_count, 0);
  hs_sim_close(&sim);
}

static void test_cancel_and_restart_while_set_aside(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&sim, &n, "n");
  hs_timer_start(&n.a, 10);
  hs_timer_start(&n.b, 10);
  hs_entity_pause(&n.base);
  hs_sim_run_until(&sim, 20);
  assert_int_equal(sim.deferred_count, 2);
  hs_timer_stop(&n.a); /* cancelled while set aside */
  assert_false(hs_timer_active(&n.a));
  assert_rc(hs_timer_start(&n.b, 5), HS_OK); /* moved back into the queue: it fires at 25 */
  assert_int_equal(sim.deferred_count, 0);
  hs_sim_run_until(&sim, 30);
  assert_int_equal(sim.deferred_count, 1); /* it came due at 25, still paused */
  assert_int_equal(n.fired, 0);
  hs_entity_resume(&n.base);
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 1);
  assert_int_equal(n.order[0], 'b');
  assert_int_equal(n.at[0], 30);
  hs_sim_close(&sim);
}

static void test_set_aside_does_not_keep_a_run_alive(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&sim, &n, "n");
  hs_timer_start(&n.a, 10);
  hs_entity_pause(&n.base);
  assert_int_equal(hs_sim_run(&sim), HS_RUN_DRAINED);
  assert_int_equal(sim.now_ns, 10);
  assert_int_equal(sim.pending_live, 0);
  assert_true(hs_timer_active(&n.a));
  hs_entity_resume(&n.base);
  assert_int_equal(sim.pending_live, 1);
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 1);
  hs_sim_close(&sim);
}

static void test_crash_of_a_paused_entity_drops_what_waited(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&sim, &n, "n");
  hs_timer_start(&n.a, 10);
  hs_entity_pause(&n.base);
  hs_sim_run_until(&sim, 20);
  hs_entity_crash(&n.base);
  assert_false(hs_entity_paused(&n.base));
  assert_false(hs_timer_active(&n.a));
  assert_int_equal(sim.deferred_count, 0);
  hs_sim_run(&sim);
  assert_int_equal(n.fired, 0);
  hs_sim_close(&sim);
}

static void test_message_to_a_paused_node(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node a, b;
  node_init(&sim, &a, "a");
  node_init(&sim, &b, "b");
  hs_net net;
  assert_rc(hs_net_init(&net, &sim, "net"), HS_OK);
  hs_link_params p;
  hs_link_params_init(&p);
  p.latency = hs_dist_constant(0.001);
  assert_rc(hs_net_add_link(&net, &a.base, &b.base, &p, NULL), HS_OK);
  hs_entity_pause(&b.base);
  assert_rc(hs_net_send(&net, &a.base, &b.base, "m", NULL, 10, NULL), HS_OK);
  hs_sim_run(&sim); /* drains: the message waits at b and keeps nothing alive */
  assert_int_equal(b.messages, 0);
  assert_int_equal(hs_net_in_flight(&net), 1); /* counted in flight until taken in */
  sim.now_ns = 5000000;                        /* time passes */
  hs_entity_resume(&b.base);
  hs_sim_run(&sim);
  assert_int_equal(b.messages, 1);
  assert_int_equal(b.message_at, 5000000);
  assert_int_equal(hs_net_stats(&net)->delivered, 1);
  hs_net_close(&net);
  hs_sim_close(&sim);
}

static void test_close_with_set_aside_events(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  node n;
  node_init(&sim, &n, "n");
  hs_timer_start(&n.a, 10);
  hs_entity_pause(&n.base);
  hs_sim_run(&sim);
  hs_sim_close(&sim); /* frees the list; the leak checker would complain otherwise */
  assert_int_equal(sim.deferred_count, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_waits_and_runs_in_order_at_resume),
      cmocka_unit_test(test_cancel_and_restart_while_set_aside),
      cmocka_unit_test(test_set_aside_does_not_keep_a_run_alive),
      cmocka_unit_test(test_crash_of_a_paused_entity_drops_what_waited),
      cmocka_unit_test(test_message_to_a_paused_node),
      cmocka_unit_test(test_close_with_set_aside_events),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
