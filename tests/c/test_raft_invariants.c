/*
 * test_raft_invariants.c - the shipped Raft invariant checker (engine/raft/hs_raft_invariants.h,
 * the one behind hs.RaftChecker) catches each property broken on purpose, keeps the first
 * violation, and raises no false alarm on a healthy cluster, a stale leader included.
 *
 * The checker is fed as the adapter feeds it: from the cores' role_changed and apply callbacks
 * (the harness's on_role / on_apply hooks), or with events made up here to plant a violation.
 * test_raft_unsafe.c shows the same checker catching a broken core in random runs.
 */
#include "test_raft_harness.h"

#include "raft/hs_raft_internal.h"
#include "raft/hs_raft_invariants.h"

static const char *const NAMES[TN_MAX + 1] = {"", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"};

typedef struct tcheck {
  hs_raft_invariants inv;
  int reports;
} tcheck;

static void on_violation(void *ud, const char *message) {
  (void)message;
  ((tcheck *)ud)->reports++;
}

static void feed_role(tnet *net, tnode *n, const hs_raft_role_event *ev) {
  hs_raft_invariants_on_role(&((tcheck *)net->world)->inv, n->r, ev);
}

static void feed_apply(tnet *net, tnode *n, const hs_raft_entry *e) {
  hs_raft_invariants_on_apply(&((tcheck *)net->world)->inv, n->r, e, net->now);
}

/* Watches nodes 1..size of net (created already) and feeds the checker from their callbacks. */
static void tcheck_init(tcheck *c, tnet *net, uint32_t size) {
  memset(c, 0, sizeof *c);
  hs_raft_invariants_init(&c->inv);
  c->inv.on_violation = on_violation;
  c->inv.ud = c;
  for (uint32_t i = 1; i <= size; i++) assert_int_equal(HS_OK, hs_raft_invariants_watch(&c->inv, R(net, i), NAMES[i]));
  net->world = c;
  net->on_role = feed_role;
  net->on_apply = feed_apply;
}

static void tcheck_free(tcheck *c, tnet *net) {
  hs_raft_invariants_free(&c->inv);
  tnet_free(net);
}

#define assert_violation(c, text)                                                                            \
  do {                                                                                                       \
    assert_true((c)->inv.violated);                                                                          \
    assert_int_equal(1, (c)->reports);                                                                       \
    assert_string_equal(text, (c)->inv.violation);                                                           \
  } while (0)

static hs_raft_role_event became_leader(uint32_t id, uint64_t term, hs_time_ns now) {
  return (hs_raft_role_event){HS_RAFT_LEADER, HS_RAFT_CANDIDATE, term, id, now};
}

static hs_raft_entry entry(uint64_t index, uint64_t term, const char *data) {
  return (hs_raft_entry){index, term, HS_RAFT_ENTRY_NORMAL, (uint32_t)strlen(data), (const uint8_t *)data};
}

/* A healthy cluster: elections, commits, then a partitioned old leader that still believes it
 * leads while the majority elects another and commits past it. Nothing is reported. */
static void test_healthy_cluster_and_stale_leader_pass(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper(); /* no check-quorum: the cut-off leader stays leader */
  tn_cluster(&net, 3, &o);
  tcheck c;
  tcheck_init(&c, &net, 3);
  tnet_elect(&net, 1);
  for (int i = 0; i < 4; i++) assert_rc(tn_propose(&net, 1, "a", 0, NULL), HS_OK);
  tnet_run(&net, 50 * MS, 5 * MS);
  assert_true(hs_raft_invariants_check_all(&c.inv, net.now));
  tnet_isolate(&net, 1, true);
  tnet_elect(&net, 2);
  for (int i = 0; i < 4; i++) assert_rc(tn_propose(&net, 2, "b", 0, NULL), HS_OK);
  tnet_run(&net, 50 * MS, 5 * MS);
  assert_role(R(&net, 1), HS_RAFT_LEADER); /* stale: lacks what n2 committed in its later term */
  assert_true(hs_raft_commit_index(R(&net, 2)) > hs_raft_last_index(R(&net, 1)));
  for (uint32_t i = 1; i <= 3; i++) assert_true(hs_raft_invariants_check_node(&c.inv, R(&net, i), net.now));
  assert_true(hs_raft_invariants_check_all(&c.inv, net.now));
  tnet_isolate(&net, 1, false);
  tnet_run(&net, 100 * MS, 5 * MS);
  assert_true(hs_raft_invariants_check_all(&c.inv, net.now));
  assert_false(c.inv.violated);
  assert_int_equal(0, c.reports);
  assert_true(c.inv.checks > 10);
  tcheck_free(&c, &net);
}

static void test_two_leaders_in_a_term_break_election_safety(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  tn_cluster(&net, 3, &o);
  tcheck c;
  tcheck_init(&c, &net, 3);
  hs_raft_role_event a = became_leader(1, 4, 7 * MS), b = became_leader(2, 4, 9 * MS);
  hs_raft_invariants_on_role(&c.inv, R(&net, 1), &a);
  assert_false(c.inv.violated);
  hs_raft_invariants_on_role(&c.inv, R(&net, 2), &b);
  assert_violation(&c, "election safety: two leaders in term 4 (ids 1 and 2, the latter 'n2')");
  assert_int_equal(9 * MS, c.inv.violation_ns);
  /* later violations are counted, not reported; the first is kept */
  hs_raft_role_event d = became_leader(3, 4, 11 * MS);
  hs_raft_invariants_on_role(&c.inv, R(&net, 3), &d);
  assert_violation(&c, "election safety: two leaders in term 4 (ids 1 and 2, the latter 'n2')");
  assert_false(hs_raft_invariants_check_all(&c.inv, net.now));
  tcheck_free(&c, &net);
}

static void test_different_entries_applied_break_state_machine_safety(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  tn_cluster(&net, 3, &o);
  tcheck c;
  tcheck_init(&c, &net, 3);
  hs_raft_entry x = entry(1, 1, "x"), y = entry(1, 1, "y");
  hs_raft_invariants_on_apply(&c.inv, R(&net, 1), &x, 5 * MS);
  hs_raft_invariants_on_apply(&c.inv, R(&net, 3), &x, 6 * MS);
  assert_false(c.inv.violated);
  hs_raft_invariants_on_apply(&c.inv, R(&net, 2), &y, 7 * MS);
  assert_violation(&c, "state machine safety: 'n2' applied a different entry at index 1 (term 1, another node "
                       "applied term 1)");
  tcheck_free(&c, &net);
}

/* Equal (index, term) at 3, different entries at 2 below it. */
static void test_diverging_prefixes_break_log_matching(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  uint32_t ids[] = {1, 2};
  tn_add(&net, 1, ids, 2, &o);
  tn_add(&net, 2, ids, 2, &o);
  hs_raft_entry a[] = {entry(1, 1, "x"), entry(2, 1, "y"), entry(3, 2, "z")};
  hs_raft_entry b[] = {entry(1, 1, "x"), entry(2, 1, "Y"), entry(3, 2, "z")};
  assert_rc(hs_raft_load_entries(R(&net, 1), a, 3), HS_OK);
  assert_rc(hs_raft_load_entries(R(&net, 2), b, 3), HS_OK);
  tcheck c;
  tcheck_init(&c, &net, 2);
  assert_false(hs_raft_invariants_check_node(&c.inv, R(&net, 2), 3 * MS));
  assert_violation(&c, "log matching: 'n2' and 'n1' differ at index 2 below a matching entry");
  tcheck_free(&c, &net);
}

/* A node applied index 1; a node whose log does not hold it becomes leader. */
static void test_leader_without_a_committed_entry_breaks_leader_completeness(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  uint32_t ids[] = {1, 2};
  tn_add(&net, 1, ids, 2, &o);
  tn_add(&net, 2, ids, 2, &o);
  hs_raft_entry x = entry(1, 1, "x");
  assert_rc(hs_raft_load_entries(R(&net, 2), &x, 1), HS_OK);
  tcheck c;
  tcheck_init(&c, &net, 2);
  hs_raft_invariants_on_apply(&c.inv, R(&net, 2), &x, 1 * MS);
  hs_raft_role_event ev = became_leader(1, 2, 2 * MS);
  hs_raft_invariants_on_role(&c.inv, R(&net, 1), &ev);
  assert_violation(&c, "leader completeness: 'n1', leader of term 2, lacks the entry committed at index 1 (term 1)");
  tcheck_free(&c, &net);
}

/* A commit index past the end of the log (planted in the core's state). */
static void test_commit_past_the_log_breaks_bounds(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  tn_cluster(&net, 3, &o);
  tcheck c;
  tcheck_init(&c, &net, 3);
  tnet_elect(&net, 1);
  tnet_run(&net, 20 * MS, 5 * MS);
  assert_true(hs_raft_invariants_check_all(&c.inv, net.now));
  hs_raft *r = R(&net, 3);
  uint64_t commit = r->commit;
  r->commit = hs_raft_last_index(r) + 1;
  assert_false(hs_raft_invariants_check_node(&c.inv, r, net.now));
  char want[200];
  snprintf(want, sizeof want, "bounds: 'n3' has applied %llu, commit %llu, last index %llu",
           (unsigned long long)r->applied, (unsigned long long)r->commit, (unsigned long long)hs_raft_last_index(r));
  assert_violation(&c, want);
  r->commit = commit;
  tcheck_free(&c, &net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_healthy_cluster_and_stale_leader_pass),
      cmocka_unit_test(test_two_leaders_in_a_term_break_election_safety),
      cmocka_unit_test(test_different_entries_applied_break_state_machine_safety),
      cmocka_unit_test(test_diverging_prefixes_break_log_matching),
      cmocka_unit_test(test_leader_without_a_committed_entry_breaks_leader_completeness),
      cmocka_unit_test(test_commit_past_the_log_breaks_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
