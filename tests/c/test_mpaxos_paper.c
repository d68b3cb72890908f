/*
 * test_mpaxos_paper.c - the rules of Multi-Paxos ("Paxos Made Simple", section 3) and of Flexible
 * Paxos quorums on it, with exact interleavings: phase 1 once per leadership, a new leader
 * proposing again what the promises report and filling gaps with no-ops, commands in slot order,
 * heartbeats and elections, lagging followers catching up, batching, and what happens to a
 * command whose slot another leader took.
 */
#include "test_paxos_harness.h"

static hs_paxos_ballot B(uint64_t round, uint32_t node) { return (hs_paxos_ballot){round, node}; }

static void step_ok(pnet *net, hs_paxos_msg m) { assert_rc(pn_step(net, &m), HS_OK); }

static void assert_applied(pnet *net, uint32_t id, uint64_t slot, const char *s) {
  const papplied *a = pn_applied_at(net, id, slot);
  if (!a) fail_msg("node %u has not applied slot %llu", id, (unsigned long long)slot);
  if (!s) {
    if (a->type != HS_PAXOS_VALUE_NOOP) fail_msg("node %u slot %llu: expected a no-op", id, (unsigned long long)slot);
  } else if (!papplied_is(a, s)) {
    fail_msg("node %u slot %llu: applied '%.*s', expected '%s'", id, (unsigned long long)slot, (int)a->len,
             a->data ? (const char *)a->data : "(no-op)", s);
  }
}

static hs_paxos_value sval(uint64_t slot, const char *s, hs_paxos_ballot accepted, hs_paxos_ballot origin) {
  hs_paxos_value v = {.slot = slot, .ballot = accepted, .origin = origin, .len = (uint32_t)strlen(s),
                      .data = (const uint8_t *)s};
  return v;
}

/* A cluster of `size` Multi-Paxos nodes with a checker. */
static void cluster(pnet *net, hs_paxos_checker *chk, uint32_t size, const popts *o) {
  pnet_init(net);
  uint32_t q2 = 0;
  assert_rc(hs_paxos_quorums(size, o->q1, o->q2, NULL, &q2), HS_OK);
  hs_paxos_checker_init(chk, q2);
  net->checker = chk;
  pn_cluster(net, true, size, o);
}

/* Node 1 of a cluster of `size`, started; the others are played by the test. */
static hs_mpaxos *solo(pnet *net, uint32_t size, const popts *o) {
  pnet_init(net);
  hs_mpaxos *mp = pn_add_mp(net, 1, PIDS, size, o);
  pn_start(net, 1);
  return mp;
}

static void done(pnet *net, hs_paxos_checker *chk) {
  pnet_check(net);
  pnet_free(net);
  hs_paxos_checker_free(chk);
}

/* ---- The normal case -------------------------------------------------------------------------------- */

/* One phase 1, then each command takes the next slot, is chosen by a majority and applied by
 * every node in slot order; the leader's commit travels to the followers. */
static void test_leader_replicates_in_slot_order(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  pnet_elect(&net, 1);
  hs_mpaxos *l = MP(&net, 1);
  assert_u64(hs_mpaxos_promised(l).round, 1);
  assert_u64(hs_mpaxos_leader(MP(&net, 2)), 1);
  const char *cmds[] = {"a", "b", "c"};
  for (uint64_t i = 0; i < 3; i++) {
    uint64_t slot = 0;
    assert_rc(pn_submit(&net, 1, cmds[i], 10 + i, &slot), HS_OK);
    assert_u64(slot, i + 1);
  }
  assert_u64(pq_count(&net, 1, 0, HS_PAXOS_MSG_PREPARE), 0); /* no phase 1 per command */
  pq_deliver_all(&net);
  for (uint32_t id = 1; id <= 3; id++) {
    assert_u64(hs_mpaxos_commit_index(MP(&net, id)), 3);
    for (uint64_t i = 0; i < 3; i++) assert_applied(&net, id, i + 1, cmds[i]);
  }
  for (uint64_t i = 0; i < 3; i++) {
    const papplied *a = pn_applied_at(&net, 1, i + 1);
    assert_true(a->mine);
    assert_u64(a->tag, 10 + i);
    assert_false(pn_applied_at(&net, 2, i + 1)->mine);
  }
  hs_mpaxos_stats st;
  hs_mpaxos_get_stats(l, &st);
  assert_true(st.is_leader);
  assert_u64(st.elections_won, 1);
  assert_u64(st.ballots_tried, 1);
  assert_u64(st.commands_committed, 3);
  assert_u64(st.log_length, 3);
  assert_u64(st.accepts_received, 6);
  assert_u64(st.phase1_quorum, 2);
  assert_u64(st.phase2_quorum, 2);
  assert_u64(chk.chosen, 3);
  done(&net, &chk);
}

/* A submit on a follower is refused, naming the leader it knows. */
static void test_submit_on_follower_refused_with_hint(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  assert_rc(pn_submit(&net, 2, "x", 1, NULL), HS_PAXOS_ENOTLEADER);
  assert_u64(hs_mpaxos_leader(MP(&net, 2)), HS_PAXOS_NONE);
  pnet_elect(&net, 3);
  assert_rc(pn_submit(&net, 2, "x", 1, NULL), HS_PAXOS_ENOTLEADER);
  assert_u64(hs_mpaxos_leader(MP(&net, 2)), 3);
  hs_mpaxos_stats st;
  hs_mpaxos_get_stats(MP(&net, 2), &st);
  assert_u64(st.current_leader, 3);
  assert_u64(st.leader_changes, 1);
  assert_u64(hs_mpaxos_pending(MP(&net, 2)), 0);
  done(&net, &chk);
}

/* A one-node cluster leads and chooses within the call. */
static void test_single_node_commits_at_once(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 1, &o);
  assert_rc(hs_mpaxos_campaign(MP(&net, 1), net.now), HS_OK);
  assert_mrole(MP(&net, 1), HS_MPAXOS_LEADER);
  assert_rc(pn_submit(&net, 1, "solo", 7, NULL), HS_OK);
  assert_applied(&net, 1, 1, "solo");
  assert_true(pn_applied_at(&net, 1, 1)->mine);
  assert_u64(net.q.len, 0);
  done(&net, &chk);
}

/* ---- Promises -------------------------------------------------------------------------------------------- */

/* An acceptor that promised a higher ballot refuses a leader's Accept and heartbeat with a Nack;
 * the Nack makes the old leader a follower. */
static void test_promise_refuses_lower_ballot_and_nack_deposes(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  pnet_elect(&net, 1);
  assert_rc(hs_mpaxos_campaign(MP(&net, 3), net.now), HS_OK); /* ballot (2, 3) */
  pq_deliver_matching(&net, 3, 2, HS_PAXOS_MSG_PREPARE, 1);
  assert_u64(hs_mpaxos_promised(MP(&net, 2)).node, 3);
  assert_u64(pn(&net, 2)->persisted_promised.node, 3);
  pq_clear(&net);
  assert_rc(pn_submit(&net, 1, "x", 1, NULL), HS_OK);
  pq_deliver_matching(&net, 1, 2, HS_PAXOS_MSG_ACCEPT, 1);
  pdec d = {0};
  pq_expect(&net, 2, 1, HS_PAXOS_MSG_NACK, &d);
  assert_u64(d.m.promised.round, 2);
  assert_u64(d.m.promised.node, 3);
  hs_paxos_value v;
  assert_rc(hs_mpaxos_slot_at(MP(&net, 2), 1, &v), HS_EINVAL); /* not accepted */
  assert_rc(pn_step(&net, &d.m), HS_OK);
  assert_mrole(MP(&net, 1), HS_MPAXOS_FOLLOWER);
  assert_rc(pn_submit(&net, 1, "y", 2, NULL), HS_PAXOS_ENOTLEADER);
  hs_mpaxos_stats st;
  hs_mpaxos_get_stats(MP(&net, 1), &st);
  assert_u64(st.nacks_received, 1);
  assert_u64(hs_mpaxos_pending(MP(&net, 1)), 1); /* "x" is still followed */
  pdec_free(&d);
  done(&net, &chk);
}

/* ---- A new leader (P2c per slot) ------------------------------------------------------------------------ */

/* The candidate adopts, slot by slot, the value accepted with the highest ballot among the
 * promises, learns a value reported chosen, fills the slots nobody reported with no-ops, and
 * proposes it all in its own ballot, keeping each value's origin. */
static void test_new_leader_adopts_highest_ballot_per_slot(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_mpaxos *mp = solo(&net, 5, &o);
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_PREPARE, .from = 5, .to = 1, .ballot = B(4, 5), .slot = 1});
  pq_clear(&net);
  assert_rc(hs_mpaxos_campaign(mp, net.now), HS_OK);
  hs_paxos_ballot b = hs_mpaxos_promised(mp);
  assert_u64(b.round, 5);
  assert_u64(b.node, 1);
  assert_mrole(mp, HS_MPAXOS_CANDIDATE);
  pdec d = {0};
  pq_expect(&net, 1, 2, HS_PAXOS_MSG_PREPARE, &d);
  assert_u64(d.m.slot, 1); /* everything from the first unchosen slot */
  pq_clear(&net);

  hs_paxos_value from2[3] = {sval(1, "old", B(2, 2), B(2, 2)), sval(3, "c", B(3, 3), B(1, 1)),
                             sval(4, "d", B(2, 2), B(2, 2))};
  from2[2].chosen = true;
  hs_paxos_value from4[1] = {sval(1, "new", B(4, 5), B(4, 5))};
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_PROMISE, .from = 2, .to = 1, .ballot = b, .slot = 1,
                               .values = from2, .n_values = 3});
  assert_mrole(mp, HS_MPAXOS_CANDIDATE);
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_PROMISE, .from = 4, .to = 1, .ballot = b, .slot = 1,
                               .values = from4, .n_values = 1});
  assert_mrole(mp, HS_MPAXOS_LEADER);
  hs_paxos_value v;
  assert_rc(hs_mpaxos_slot_at(mp, 1, &v), HS_OK);
  assert_true(v.len == 3 && !memcmp(v.data, "new", 3));
  assert_u64(v.ballot.round, 5);
  assert_u64(v.origin.round, 4); /* the origin travels with the value */
  assert_rc(hs_mpaxos_slot_at(mp, 2, &v), HS_OK);
  assert_u64(v.type, HS_PAXOS_VALUE_NOOP);
  assert_rc(hs_mpaxos_slot_at(mp, 3, &v), HS_OK);
  assert_true(v.len == 1 && v.data[0] == 'c' && v.origin.round == 1);
  assert_rc(hs_mpaxos_slot_at(mp, 4, &v), HS_OK);
  assert_true(v.chosen && v.len == 1 && v.data[0] == 'd');
  assert_u64(hs_mpaxos_commit_index(mp), 0);
  hs_mpaxos_stats st;
  hs_mpaxos_get_stats(mp, &st);
  assert_u64(st.values_reproposed, 2);
  assert_u64(st.noops_proposed, 1);
  assert_u64(st.promises_received, 2);
  /* a heartbeat announces it, then one Accept per follower carries slots 1..4 */
  assert_u64(pq_count(&net, 1, 0, HS_PAXOS_MSG_HEARTBEAT), 4);
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_ACCEPT, &d);
  assert_u64(d.m.n_values, 4);
  assert_u64(d.m.ballot.round, 5);
  assert_u64(d.m.values[1].type, HS_PAXOS_VALUE_NOOP);
  /* two acceptances (with its own, 3 of 5) choose slots 1..4: slot 4 was known chosen */
  for (uint32_t from = 2; from <= 3; from++)
    step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_ACCEPTED, .from = from, .to = 1, .ballot = b, .slot = 1, .last = 4});
  assert_u64(hs_mpaxos_commit_index(mp), 4);
  assert_u64(pn(&net, 1)->sm_count, 3);
  pdec_free(&d);
  pnet_check(&net);
  pnet_free(&net);
}

/* The whole story on a cluster: x is chosen; y reaches only the leader, z the leader and node 2,
 * w the leader alone, then the leader is cut off. Node 3 takes over: it proposes z again (node 2
 * reported it) and fills slot 2 with a no-op. When the old leader comes back, its heartbeat
 * answer shows it holds slot 4, which the new leader never assigned: filled with a no-op too.
 * The old leader then learns: y and w lost (their slots hold no-ops), z applied as its own (the
 * value kept its origin). */
static void test_new_leader_reproposes_and_fills_gaps(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 5, &o);
  pnet_elect(&net, 1);
  assert_rc(pn_submit(&net, 1, "x", 1, NULL), HS_OK);
  pq_deliver_all(&net);
  for (uint32_t id = 1; id <= 5; id++) assert_u64(hs_mpaxos_commit_index(MP(&net, id)), 1);
  assert_rc(pn_submit(&net, 1, "y", 2, NULL), HS_OK);
  assert_u64(pq_drop(&net, 1, 0, HS_PAXOS_MSG_ACCEPT), 4);
  assert_rc(pn_submit(&net, 1, "z", 3, NULL), HS_OK);
  pdec d = {0};
  pq_expect(&net, 1, 2, HS_PAXOS_MSG_ACCEPT, &d);
  assert_u64(d.m.n_values, 1);
  assert_u64(d.m.values[0].slot, 3);
  assert_rc(pn_step(&net, &d.m), HS_OK);
  assert_rc(pn_submit(&net, 1, "w", 4, NULL), HS_OK);
  pq_clear(&net); /* the rest is lost, the Accepted from node 2 too */
  pnet_isolate(&net, 1, true);

  assert_rc(hs_mpaxos_campaign(MP(&net, 3), net.now), HS_OK);
  pq_deliver_all(&net);
  assert_mrole(MP(&net, 3), HS_MPAXOS_LEADER);
  hs_mpaxos_stats st;
  hs_mpaxos_get_stats(MP(&net, 3), &st);
  assert_u64(st.values_reproposed, 1);
  assert_u64(st.noops_proposed, 1);
  for (uint32_t id = 2; id <= 5; id++) {
    assert_applied(&net, id, 1, "x");
    assert_applied(&net, id, 2, NULL);
    assert_applied(&net, id, 3, "z");
  }
  assert_mrole(MP(&net, 1), HS_MPAXOS_LEADER); /* cut off, it does not know yet */
  assert_u64(hs_mpaxos_pending(MP(&net, 1)), 3);

  pnet_isolate(&net, 1, false);
  pnet_run(&net, 1000 * MS, 5 * MS);
  assert_mrole(MP(&net, 1), HS_MPAXOS_FOLLOWER);
  assert_u64(pnet_leader(&net), 3);
  for (uint32_t id = 1; id <= 5; id++) {
    assert_applied(&net, id, 1, "x");
    assert_applied(&net, id, 2, NULL);
    assert_applied(&net, id, 3, "z");
    assert_applied(&net, id, 4, NULL);
  }
  pnode *n1 = pn(&net, 1);
  assert_true(pn_applied_at(&net, 1, 3)->mine);
  assert_u64(pn_applied_at(&net, 1, 3)->tag, 3);
  assert_u64(n1->n_lost, 2);
  assert_u64(n1->lost[0].tag, 2);
  assert_u64(n1->lost[0].slot, 2);
  assert_rc(n1->lost[0].reason, HS_PAXOS_ELOST);
  assert_u64(n1->lost[1].tag, 4);
  assert_rc(n1->lost[1].reason, HS_PAXOS_ELOST);
  assert_u64(hs_mpaxos_pending(MP(&net, 1)), 0);
  hs_mpaxos_get_stats(MP(&net, 3), &st);
  assert_u64(st.noops_proposed, 2);
  pdec_free(&d);
  done(&net, &chk);
}

/* A leader that learns one of its slots chosen with another value has been overtaken (a later
 * ballot chose there): it steps down at once, so it never tells its followers that its own
 * proposal there is chosen. */
static void test_leader_learning_another_value_steps_down(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_mpaxos *mp = solo(&net, 3, &o);
  assert_rc(hs_mpaxos_campaign(mp, net.now), HS_OK);
  hs_paxos_ballot b = hs_mpaxos_promised(mp);
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_PROMISE, .from = 2, .to = 1, .ballot = b, .slot = 1});
  assert_mrole(mp, HS_MPAXOS_LEADER);
  assert_rc(pn_submit(&net, 1, "mine", 1, NULL), HS_OK);
  pq_clear(&net);
  /* a Chosen from an older ballot's leader, for a slot this leader proposed with another origin */
  hs_paxos_value other = sval(1, "theirs", B(1, 3), B(1, 3));
  other.chosen = true;
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_CHOSEN, .from = 3, .to = 1, .ballot = B(1, 3), .commit = 1,
                               .values = &other, .n_values = 1});
  assert_mrole(mp, HS_MPAXOS_FOLLOWER);
  assert_applied(&net, 1, 1, "theirs");
  assert_u64(pn(&net, 1)->n_lost, 1);
  pnet_check(&net);
  pnet_free(&net);
}

/* ---- Leadership: heartbeats, elections, stepping down ------------------------------------------------- */

/* Heartbeats keep followers from campaigning; when they stop, a follower times out (randomized)
 * and takes over; the old leader comes back as a follower and catches up. */
static void test_followers_elect_when_heartbeats_stop(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  pnet_elect(&net, 1);
  assert_rc(pn_submit(&net, 1, "a", 1, NULL), HS_OK);
  pnet_run(&net, 2000 * MS, 5 * MS);
  for (uint32_t id = 2; id <= 3; id++) {
    hs_mpaxos_stats st;
    hs_mpaxos_get_stats(MP(&net, id), &st);
    assert_u64(st.ballots_tried, 0);
  }
  assert_u64(pnet_leader(&net), 1);
  pn_crash(&net, 1);
  hs_time_ns crashed_at = net.now;
  while (!pnet_leader(&net) && net.now < crashed_at + 2000 * MS) pnet_run(&net, 5 * MS, 5 * MS);
  uint32_t l = pnet_leader(&net);
  assert_true(l == 2 || l == 3);
  assert_true(net.now - crashed_at >= o.et_min && net.now - crashed_at < o.et_max + 100 * MS);
  assert_rc(pn_submit(&net, l, "b", 2, NULL), HS_OK);
  pn_restart(&net, 1);
  assert_u64(pn(&net, 1)->resets, 1);
  pnet_run(&net, 1000 * MS, 5 * MS);
  assert_u64(pnet_leader(&net), l);
  for (uint32_t id = 1; id <= 3; id++) {
    assert_applied(&net, id, 1, "a");
    assert_applied(&net, id, 2, "b");
  }
  done(&net, &chk);
}

/* A leader that loses contact with a phase-2 quorum steps down after an election timeout. */
static void test_isolated_leader_steps_down(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  pnet_elect(&net, 1);
  pnet_run(&net, 500 * MS, 5 * MS);
  pnet_isolate(&net, 1, true);
  pnet_run(&net, o.et_min, 5 * MS);
  pnet_run(&net, o.et_min, 5 * MS);
  assert_mrole(MP(&net, 1), HS_MPAXOS_FOLLOWER);
  assert_rc(pn_submit(&net, 1, "x", 1, NULL), HS_PAXOS_ENOTLEADER);
  done(&net, &chk);
}

/* ---- Replication details ------------------------------------------------------------------------------------ */

/* An Accept that is lost goes again once a heartbeat answer shows it was not acknowledged. */
static void test_lost_accept_is_resent(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  pnet_elect(&net, 1);
  assert_rc(pn_submit(&net, 1, "a", 1, NULL), HS_OK);
  assert_u64(pq_drop(&net, 1, 0, HS_PAXOS_MSG_ACCEPT), 2);
  pnet_advance(&net, o.hb); /* heartbeats */
  pq_deliver_all(&net);     /* answers: too early to resend (sent < a heartbeat interval ago)? */
  pnet_run(&net, 3 * o.hb, 5 * MS);
  for (uint32_t id = 1; id <= 3; id++) assert_applied(&net, id, 1, "a");
  done(&net, &chk);
}

/* With one Accept in flight per follower, the commands submitted meanwhile wait and then go
 * together in one message. */
static void test_accepts_are_batched_behind_the_pipeline(void **s) {
  (void)s;
  popts o = popts_default();
  o.max_inflight = 1;
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  pnet_elect(&net, 1);
  char cmd[8];
  for (int i = 0; i < 10; i++) {
    snprintf(cmd, sizeof cmd, "c%d", i);
    assert_rc(pn_submit(&net, 1, cmd, (uint64_t)i + 1, NULL), HS_OK);
  }
  assert_u64(pq_count(&net, 1, 2, HS_PAXOS_MSG_ACCEPT), 1);
  pq_deliver_matching(&net, 1, 2, HS_PAXOS_MSG_ACCEPT, 1);
  pq_deliver_matching(&net, 2, 1, HS_PAXOS_MSG_ACCEPTED, 1);
  pdec d = {0};
  pq_expect(&net, 1, 2, HS_PAXOS_MSG_ACCEPT, &d);
  assert_u64(d.m.n_values, 9);
  assert_u64(d.m.values[0].slot, 2);
  assert_u64(d.m.commit, 1); /* slot 1 was chosen by {1, 2} */
  assert_rc(pn_step(&net, &d.m), HS_OK);
  pnet_run(&net, 200 * MS, 5 * MS);
  for (uint32_t id = 1; id <= 3; id++) assert_u64(pn(&net, id)->sm_count, 10);
  pdec_free(&d);
  done(&net, &chk);
}

/* A follower cut off while commands were chosen learns them all afterwards, in batches of Chosen
 * messages (it accepted none of them in this ballot). */
static void test_lagging_follower_catches_up(void **s) {
  (void)s;
  popts o = popts_default();
  o.max_slots = 16;
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  pnet_elect(&net, 1);
  pnet_isolate(&net, 3, true);
  char cmd[16];
  for (int i = 0; i < 100; i++) {
    snprintf(cmd, sizeof cmd, "c%d", i);
    assert_rc(pn_submit(&net, 1, cmd, (uint64_t)i + 1, NULL), HS_OK);
    pq_deliver_all(&net);
  }
  assert_u64(hs_mpaxos_commit_index(MP(&net, 1)), 100);
  assert_u64(hs_mpaxos_commit_index(MP(&net, 3)), 0);
  pnet_isolate(&net, 3, false);
  pnet_run(&net, 500 * MS, 5 * MS);
  assert_u64(hs_mpaxos_commit_index(MP(&net, 3)), 100);
  assert_u64(pn(&net, 3)->sm_hash, pn(&net, 1)->sm_hash);
  hs_mpaxos_stats st;
  hs_mpaxos_get_stats(MP(&net, 1), &st);
  assert_true(st.catchups_sent >= 100 / 16);
  assert_true(st.catchups_sent < 30);
  done(&net, &chk);
}

/* After a restart the chosen prefix is applied again from slot 1 (the state machine is reset). */
static void test_restart_reapplies_chosen_prefix(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 3, &o);
  pnet_elect(&net, 2);
  for (int i = 0; i < 5; i++) {
    char cmd[8];
    snprintf(cmd, sizeof cmd, "c%d", i);
    assert_rc(pn_submit(&net, 2, cmd, (uint64_t)i + 1, NULL), HS_OK);
  }
  pq_deliver_all(&net);
  uint64_t h = pn(&net, 3)->sm_hash;
  pn_crash(&net, 3);
  assert_rc(hs_mpaxos_submit(MP(&net, 3), net.now, "x", 1, 1, NULL), HS_PAXOS_ECRASHED);
  pn_restart(&net, 3);
  assert_u64(pn(&net, 3)->resets, 1);
  assert_u64(pn(&net, 3)->sm_count, 5);
  assert_u64(pn(&net, 3)->sm_hash, h);
  assert_u64(hs_mpaxos_commit_index(MP(&net, 3)), 5);
  /* a leader that crashes loses the commands it was following */
  assert_rc(pn_submit(&net, 2, "y", 9, NULL), HS_OK);
  pq_clear(&net);
  pn_crash(&net, 2);
  assert_u64(pn(&net, 2)->n_lost, 1);
  assert_rc(pn(&net, 2)->lost[0].reason, HS_PAXOS_ECRASHED);
  done(&net, &chk);
}

/* The durable state loaded into a fresh node: chosen slots applied at start, the promise kept. */
static void test_load_durable_state(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  pnet_init(&net);
  hs_mpaxos *mp = pn_add_mp(&net, 1, PIDS, 3, &o);
  assert_rc(hs_mpaxos_load_state(mp, B(4, 2), 3), HS_OK);
  hs_paxos_value v2 = sval(2, "b", B(4, 2), B(4, 2)), v1 = sval(1, "a", B(2, 1), B(2, 1)), v3 = sval(3, "c", B(4, 2), B(4, 2));
  v1.chosen = v2.chosen = true;
  assert_rc(hs_mpaxos_load_slot(mp, &v2), HS_OK);
  assert_rc(hs_mpaxos_load_slot(mp, &v1), HS_OK);
  assert_rc(hs_mpaxos_load_slot(mp, &v3), HS_OK);
  hs_paxos_value bad = v1;
  bad.ballot = B(0, 0);
  assert_rc(hs_mpaxos_load_slot(mp, &bad), HS_EINVAL);
  pn_start(&net, 1);
  assert_rc(hs_mpaxos_load_slot(mp, &v1), HS_PAXOS_ESTATE);
  assert_u64(hs_mpaxos_commit_index(mp), 2);
  assert_applied(&net, 1, 1, "a");
  assert_applied(&net, 1, 2, "b");
  assert_rc(hs_mpaxos_campaign(mp, net.now), HS_OK);
  assert_u64(hs_mpaxos_promised(mp).round, 5);
  pdec d = {0};
  pq_expect(&net, 1, 2, HS_PAXOS_MSG_PREPARE, &d);
  assert_u64(d.m.slot, 3);
  pdec_free(&d);
  pnet_check(&net);
  pnet_free(&net);
}

/* ---- Flexible Paxos ------------------------------------------------------------------------------------------ */

/* Q1 = 4, Q2 = 2 of 5: the leader chooses with one follower; the next leader needs four promises,
 * which always include one of the two, so the value survives the first leader's crash. */
static void test_fpaxos_q1_4_q2_2_multi(void **s) {
  (void)s;
  popts o = popts_default();
  o.q1 = 4;
  o.q2 = 2;
  pnet net;
  hs_paxos_checker chk;
  cluster(&net, &chk, 5, &o);
  assert_rc(hs_mpaxos_campaign(MP(&net, 1), net.now), HS_OK);
  pq_deliver_matching(&net, 1, 2, HS_PAXOS_MSG_PREPARE, 1);
  pq_deliver_matching(&net, 1, 3, HS_PAXOS_MSG_PREPARE, 1);
  pq_deliver_matching(&net, 0, 1, HS_PAXOS_MSG_PROMISE, 2);
  assert_mrole(MP(&net, 1), HS_MPAXOS_CANDIDATE); /* 3 promises are not 4 */
  pq_deliver_all(&net);
  assert_mrole(MP(&net, 1), HS_MPAXOS_LEADER);
  assert_rc(pn_submit(&net, 1, "x", 1, NULL), HS_OK);
  pq_drop(&net, 1, 3, HS_PAXOS_MSG_ACCEPT);
  pq_drop(&net, 1, 4, HS_PAXOS_MSG_ACCEPT);
  pq_drop(&net, 1, 5, HS_PAXOS_MSG_ACCEPT);
  pq_deliver_all(&net);
  assert_applied(&net, 1, 1, "x"); /* chosen by {1, 2} */
  assert_u64(chk.chosen, 1);
  pn_crash(&net, 1);
  pq_clear(&net);
  assert_rc(hs_mpaxos_campaign(MP(&net, 5), net.now), HS_OK);
  pq_deliver_all(&net);
  assert_mrole(MP(&net, 5), HS_MPAXOS_LEADER);
  pnet_run(&net, 300 * MS, 5 * MS);
  for (uint32_t id = 2; id <= 5; id++) assert_applied(&net, id, 1, "x");
  done(&net, &chk);
}

/* ---- Malformed input ---------------------------------------------------------------------------------------- */

/* Forged messages are refused (counted) or bounded: none makes the node allocate or loop beyond
 * its window. */
static void test_forged_messages_are_bounded(void **s) {
  (void)s;
  popts o = popts_default();
  o.window = 1000;
  pnet net;
  hs_mpaxos *mp = solo(&net, 3, &o);
  hs_paxos_value gap[2] = {sval(5, "a", B(1, 2), B(1, 2)), sval(7, "b", B(1, 2), B(1, 2))};
  assert_rc(pn_step(&net, &(hs_paxos_msg){.type = HS_PAXOS_MSG_ACCEPT, .from = 2, .to = 1, .ballot = B(1, 2),
                                          .values = gap, .n_values = 2}),
            HS_EINVAL); /* Accept slots must be consecutive */
  hs_paxos_value far = sval((uint64_t)1 << 40, "a", B(1, 2), B(1, 2));
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_ACCEPT, .from = 2, .to = 1, .ballot = B(1, 2), .values = &far,
                               .n_values = 1});
  assert_u64(hs_mpaxos_last_slot(mp), 0); /* beyond the window: not taken, not acknowledged */
  assert_u64(pq_count(&net, 1, 2, HS_PAXOS_MSG_ACCEPTED), 0);
  far.chosen = true;
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_CHOSEN, .from = 2, .to = 1, .ballot = B(1, 2), .values = &far,
                               .n_values = 1});
  assert_u64(hs_mpaxos_last_slot(mp), 0);
  hs_paxos_value huge = sval(HS_PAXOS_MAX_COUNTER + 1, "a", B(1, 2), B(1, 2));
  assert_rc(pn_step(&net, &(hs_paxos_msg){.type = HS_PAXOS_MSG_ACCEPT, .from = 2, .to = 1, .ballot = B(1, 2),
                                          .values = &huge, .n_values = 1}),
            HS_EINVAL);
  /* a leader given an Accepted for slots 1..2^62 looks only at the slots it has */
  assert_rc(hs_mpaxos_campaign(mp, net.now), HS_OK);
  hs_paxos_ballot b = hs_mpaxos_promised(mp);
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_PROMISE, .from = 2, .to = 1, .ballot = b, .slot = 1});
  assert_mrole(mp, HS_MPAXOS_LEADER);
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_ACCEPTED, .from = 3, .to = 1, .ballot = b, .slot = 1,
                               .last = HS_PAXOS_MAX_COUNTER});
  step_ok(&net, (hs_paxos_msg){.type = HS_PAXOS_MSG_HEARTBEAT_RESP, .from = 3, .to = 1, .ballot = b,
                               .last = HS_PAXOS_MAX_COUNTER});
  assert_u64(hs_mpaxos_last_slot(mp), 1000); /* filled up to the window, no further */
  assert_rc(pn_step(&net, &(hs_paxos_msg){.type = HS_PAXOS_MSG_ACCEPTED, .from = 3, .to = 1, .ballot = b, .slot = 2,
                                          .last = 1}),
            HS_EINVAL);
  hs_mpaxos_stats st;
  hs_mpaxos_get_stats(mp, &st);
  assert_u64(st.malformed_messages, 3);
  assert_rc(pn_submit(&net, 1, "x", 1, NULL), HS_PAXOS_EBUSY); /* the window is full */
  pnet_check(&net);
  pnet_free(&net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_leader_replicates_in_slot_order),
      cmocka_unit_test(test_submit_on_follower_refused_with_hint),
      cmocka_unit_test(test_single_node_commits_at_once),
      cmocka_unit_test(test_promise_refuses_lower_ballot_and_nack_deposes),
      cmocka_unit_test(test_new_leader_adopts_highest_ballot_per_slot),
      cmocka_unit_test(test_new_leader_reproposes_and_fills_gaps),
      cmocka_unit_test(test_leader_learning_another_value_steps_down),
      cmocka_unit_test(test_followers_elect_when_heartbeats_stop),
      cmocka_unit_test(test_isolated_leader_steps_down),
      cmocka_unit_test(test_lost_accept_is_resent),
      cmocka_unit_test(test_accepts_are_batched_behind_the_pipeline),
      cmocka_unit_test(test_lagging_follower_catches_up),
      cmocka_unit_test(test_restart_reapplies_chosen_prefix),
      cmocka_unit_test(test_load_durable_state),
      cmocka_unit_test(test_fpaxos_q1_4_q2_2_multi),
      cmocka_unit_test(test_forged_messages_are_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
