/*
 * test_paxos_paper.c - the rules of single-decree Paxos ("Paxos Made Simple", section 2) and of
 * Flexible Paxos quorums, one test per rule, with exact interleavings.
 *
 * Most tests drive node 1 of a cluster whose other members do not exist: the test plays them by
 * stepping hand-built messages into node 1 and reading what node 1 put in the queue. Others run
 * small clusters through the queue, dropping, duplicating and reordering messages on purpose.
 */
#include "test_paxos_harness.h"

static hs_paxos_msg pmsg_of(hs_paxos_msg_type type, uint32_t from, uint32_t to, hs_paxos_ballot b) {
  hs_paxos_msg m = {0};
  m.type = type;
  m.from = from;
  m.to = to;
  m.ballot = b;
  return m;
}

static hs_paxos_ballot B(uint64_t round, uint32_t node) { return (hs_paxos_ballot){round, node}; }

static void step_ok(pnet *net, hs_paxos_msg m) { assert_rc(pn_step(net, &m), HS_OK); }

static hs_paxos_value val(const char *s, hs_paxos_ballot accepted) {
  hs_paxos_value v = {.slot = HS_PAXOS_SLOT, .ballot = accepted, .len = (uint32_t)strlen(s), .data = (const uint8_t *)s};
  return v;
}

static void assert_value(const hs_paxos_value *v, const char *s) {
  if (v->len != strlen(s) || memcmp(v->data, s, v->len))
    fail_msg("value is '%.*s', expected '%s'", (int)v->len, v->data ? (const char *)v->data : "", s);
}

static void assert_decided(pnet *net, uint32_t id, const char *s) {
  const uint8_t *data;
  uint32_t len;
  if (!hs_paxos_decided(SD(net, id), &data, &len)) fail_msg("node %u has not decided", id);
  if (len != strlen(s) || memcmp(data, s, len)) fail_msg("node %u decided '%.*s', expected '%s'", id, (int)len, data, s);
}

/* Node 1 of a cluster of `size`, started; the others are played by the test. */
static hs_paxos *solo(pnet *net, uint32_t size, const popts *o) {
  pnet_init(net);
  hs_paxos *p = pn_add_sd(net, 1, PIDS, size, o);
  pn_start(net, 1);
  return p;
}

/* ---- Ballots and quorums ----------------------------------------------------------------------------- */

static void test_ballots_are_totally_ordered(void **s) {
  (void)s;
  assert_int_equal(hs_paxos_ballot_cmp(B(1, 5), B(2, 1)), -1); /* round first */
  assert_int_equal(hs_paxos_ballot_cmp(B(3, 2), B(3, 1)), 1);  /* then the node id */
  assert_int_equal(hs_paxos_ballot_cmp(B(3, 2), B(3, 2)), 0);
  assert_int_equal(hs_paxos_ballot_cmp(B(0, 0), B(1, 1)), -1); /* "none" is below every ballot */
}

/* FPaxos: Q1 + Q2 > N, each within 1..N; defaults are majorities, and one size given alone gets
 * the smallest other that intersects it. */
static void test_quorum_sizes(void **s) {
  (void)s;
  uint32_t q1, q2;
  assert_rc(hs_paxos_quorums(5, 0, 0, &q1, &q2), HS_OK);
  assert_u64(q1, 3);
  assert_u64(q2, 3);
  assert_rc(hs_paxos_quorums(4, 0, 0, &q1, &q2), HS_OK);
  assert_u64(q1, 3);
  assert_u64(q2, 3);
  assert_rc(hs_paxos_quorums(5, 4, 2, &q1, &q2), HS_OK);
  assert_u64(q1, 4);
  assert_u64(q2, 2);
  assert_rc(hs_paxos_quorums(5, 0, 2, &q1, &q2), HS_OK);
  assert_u64(q1, 4);
  assert_rc(hs_paxos_quorums(5, 5, 0, &q1, &q2), HS_OK);
  assert_u64(q2, 1);
  assert_rc(hs_paxos_quorums(1, 0, 0, &q1, &q2), HS_OK);
  assert_u64(q1, 1);
  assert_rc(hs_paxos_quorums(5, 3, 2, NULL, NULL), HS_PAXOS_EQUORUM); /* 3 + 2 = 5: disjoint quorums */
  assert_rc(hs_paxos_quorums(5, 2, 2, NULL, NULL), HS_PAXOS_EQUORUM);
  assert_rc(hs_paxos_quorums(5, 6, 1, NULL, NULL), HS_PAXOS_EQUORUM);
  assert_rc(hs_paxos_quorums(0, 0, 0, NULL, NULL), HS_PAXOS_EQUORUM);
  assert_rc(hs_paxos_quorums(65, 0, 0, NULL, NULL), HS_PAXOS_EQUORUM);
  assert_non_null(strstr(hs_paxos_strerror(HS_PAXOS_EQUORUM), "quorum"));
}

/* Both cores refuse Q1 + Q2 <= N at creation, with the quorum error, and run with the defaults. */
static void test_cores_refuse_bad_quorums(void **s) {
  (void)s;
  popts o = popts_default();
  hs_paxos_config c;
  hs_paxos_config_init(&c);
  c.id = 1;
  c.members = PIDS;
  c.n_members = 5;
  c.cb.send = pcb_send;
  c.phase1_quorum = 3;
  c.phase2_quorum = 2;
  hs_paxos *p = (hs_paxos *)1;
  assert_rc(hs_paxos_new(&c, &p), HS_PAXOS_EQUORUM);
  assert_null(p);
  hs_mpaxos_config m;
  hs_mpaxos_config_init(&m);
  m.id = 1;
  m.members = PIDS;
  m.n_members = 5;
  m.cb.send = pcb_send;
  m.phase1_quorum = 2;
  m.phase2_quorum = 3;
  hs_mpaxos *mp = (hs_mpaxos *)1;
  assert_rc(hs_mpaxos_new(&m, &mp), HS_PAXOS_EQUORUM);
  assert_null(mp);
  m.phase1_quorum = 6;
  assert_rc(hs_mpaxos_new(&m, &mp), HS_PAXOS_EQUORUM);
  /* not a member, duplicate members, no send callback */
  m.phase1_quorum = m.phase2_quorum = 0;
  m.id = 9;
  assert_rc(hs_mpaxos_new(&m, &mp), HS_EINVAL);
  const uint32_t dup[] = {1, 2, 2};
  c.members = dup;
  c.n_members = 3;
  c.phase1_quorum = c.phase2_quorum = 0;
  assert_rc(hs_paxos_new(&c, &p), HS_EINVAL);
  /* the defaults work */
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 4, &o);
  assert_rc(hs_paxos_propose(SD(&net, 2), net.now, "v", 1), HS_OK);
  pnet_run(&net, 500 * MS, 10 * MS);
  for (uint32_t i = 1; i <= 4; i++) assert_decided(&net, i, "v");
  hs_paxos_stats st;
  hs_paxos_get_stats(SD(&net, 1), &st);
  assert_u64(st.phase1_quorum, 3);
  assert_u64(st.phase2_quorum, 3);
  pnet_check(&net);
  pnet_free(&net);
}

/* ---- Acceptors (P1, P1a) ----------------------------------------------------------------------------- */

/* "An acceptor can accept a proposal numbered n iff it has not responded to a prepare request
 * having a number greater than n": a promise refuses every lower ballot, in both phases, with a
 * Nack naming the promised ballot; an equal one (a duplicate) is answered again. */
static void test_promise_refuses_lower_ballot(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos *p = solo(&net, 3, &o);
  pdec d = {0};
  step_ok(&net, pmsg_of(HS_PAXOS_MSG_PREPARE, 2, 1, B(5, 2)));
  pq_expect(&net, 1, 2, HS_PAXOS_MSG_PROMISE, &d);
  assert_u64(d.m.ballot.round, 5);
  assert_u64(d.m.n_values, 0); /* nothing accepted yet */
  assert_u64(hs_paxos_promised(p).round, 5);
  assert_u64(pn(&net, 1)->persisted_promised.round, 5);

  step_ok(&net, pmsg_of(HS_PAXOS_MSG_PREPARE, 3, 1, B(4, 3)));
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_NACK, &d);
  assert_u64(d.m.ballot.round, 4);
  assert_u64(d.m.promised.round, 5);
  assert_u64(d.m.promised.node, 2);

  /* same round, higher node id: higher, so promised */
  step_ok(&net, pmsg_of(HS_PAXOS_MSG_PREPARE, 3, 1, B(5, 3)));
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_PROMISE, &d);
  assert_u64(hs_paxos_promised(p).node, 3);
  /* a ballot that is not its sender's is refused as malformed, not answered */
  assert_rc(pn_step(&net, &(hs_paxos_msg){.type = HS_PAXOS_MSG_PREPARE, .from = 2, .to = 1, .ballot = {9, 3}}), HS_EINVAL);
  assert_u64(net.q.len, 0);
  hs_paxos_stats st;
  hs_paxos_get_stats(p, &st);
  assert_u64(st.malformed_messages, 1);

  hs_paxos_value v = val("x", B(0, 0));
  hs_paxos_msg a = pmsg_of(HS_PAXOS_MSG_ACCEPT, 3, 1, B(4, 3));
  a.values = &v;
  a.n_values = 1;
  step_ok(&net, a);
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_NACK, &d);
  assert_u64(hs_paxos_accepted(p).ballot.round, 0);

  a = pmsg_of(HS_PAXOS_MSG_ACCEPT, 2, 1, B(5, 2));
  a.values = &v;
  a.n_values = 1;
  step_ok(&net, a); /* (5, 2) is below the promised (5, 3) */
  pq_expect(&net, 1, 2, HS_PAXOS_MSG_NACK, &d);
  a = pmsg_of(HS_PAXOS_MSG_ACCEPT, 3, 1, B(5, 3));
  a.values = &v;
  a.n_values = 1;
  step_ok(&net, a);
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_ACCEPTED, &d);
  assert_u64(hs_paxos_accepted(p).ballot.round, 5);
  assert_u64(pn(&net, 1)->persisted_accepted.node, 3);
  step_ok(&net, a); /* a duplicate is acknowledged again, nothing changes */
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_ACCEPTED, &d);

  /* a higher prepare is promised, and told what was accepted (P1b) */
  step_ok(&net, pmsg_of(HS_PAXOS_MSG_PREPARE, 2, 1, B(6, 2)));
  pq_expect(&net, 1, 2, HS_PAXOS_MSG_PROMISE, &d);
  assert_u64(d.m.n_values, 1);
  assert_u64(d.m.values[0].ballot.round, 5);
  assert_value(&d.m.values[0], "x");
  /* and the old ballot's Accept is now refused */
  step_ok(&net, a);
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_NACK, &d);
  assert_u64(d.m.promised.round, 6);
  pdec_free(&d);
  pnet_check(&net);
  pnet_free(&net);
}

/* ---- Proposers (P2c) ------------------------------------------------------------------------------------- */

/* "v is the value of the highest-numbered proposal among the responses, or is any value selected
 * by the proposer if the responders reported no proposals." */
static void test_proposer_adopts_highest_accepted_value(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos *p = solo(&net, 5, &o);
  assert_rc(hs_paxos_propose(p, net.now, "mine", 4), HS_OK);
  assert_u64(hs_paxos_phase_of(p), HS_PAXOS_PHASE1);
  assert_u64(pq_count(&net, 1, 0, HS_PAXOS_MSG_PREPARE), 4);
  hs_paxos_ballot b = hs_paxos_ballot_of(p);
  assert_u64(b.round, 1);
  assert_u64(b.node, 1);
  pq_clear(&net);

  /* a Nack teaches the proposer a higher ballot: its next round goes above it */
  hs_paxos_msg nack = pmsg_of(HS_PAXOS_MSG_NACK, 2, 1, b);
  nack.promised = B(7, 4);
  step_ok(&net, nack);
  assert_u64(hs_paxos_phase_of(p), HS_PAXOS_BACKOFF);
  pnet_advance_to(&net, pn_deadline(&net, 1)); /* the backoff ends: a new round above round 7 */
  b = hs_paxos_ballot_of(p);
  assert_u64(b.round, 8);
  assert_u64(hs_paxos_phase_of(p), HS_PAXOS_PHASE1);
  pq_clear(&net);

  /* node 2 accepted "newer" in a higher ballot than node 3's "old" */
  hs_paxos_value v2 = val("newer", B(6, 2)), v3 = val("old", B(3, 3));
  hs_paxos_msg pr;
  pr = pmsg_of(HS_PAXOS_MSG_PROMISE, 3, 1, b);
  pr.values = &v3;
  pr.n_values = 1;
  step_ok(&net, pr);
  pr = pmsg_of(HS_PAXOS_MSG_PROMISE, 2, 1, b);
  pr.values = &v2;
  pr.n_values = 1;
  step_ok(&net, pr); /* node 1 itself, 2 and 3: a majority of 5 */
  assert_u64(hs_paxos_phase_of(p), HS_PAXOS_PHASE2);
  pdec d = {0};
  pq_expect(&net, 1, 4, HS_PAXOS_MSG_ACCEPT, &d);
  assert_u64(d.m.ballot.round, 8);
  assert_value(&d.m.values[0], "newer");
  assert_value(&(hs_paxos_value){.len = hs_paxos_accepted(p).len, .data = hs_paxos_accepted(p).data}, "newer");

  /* a promise for an older round, or a second one from the same member, changes nothing */
  step_ok(&net, pr);
  hs_paxos_stats st;
  hs_paxos_get_stats(p, &st);
  assert_u64(st.promises_received, 4); /* its own in both rounds, 2 and 3 */
  assert_u64(st.nacks_received, 1);
  assert_u64(st.proposals_failed, 1);
  assert_u64(st.ballots_tried, 2);

  /* two acceptances (plus its own) choose it: the node learns and tells everyone */
  for (uint32_t from = 2; from <= 3; from++) {
    hs_paxos_msg ok = pmsg_of(HS_PAXOS_MSG_ACCEPTED, from, 1, b);
    ok.slot = ok.last = 1;
    step_ok(&net, ok);
  }
  assert_decided(&net, 1, "newer");
  assert_u64(pn(&net, 1)->decided_calls, 1);
  assert_u64(pq_count(&net, 1, 0, HS_PAXOS_MSG_CHOSEN), 4);
  hs_paxos_get_stats(p, &st);
  assert_u64(st.proposals_succeeded, 1);
  assert_u64(st.accepts_received, 3);
  pdec_free(&d);
  pnet_check(&net);
  pnet_free(&net);
}

/* With no value reported, the proposer's own value goes to phase 2. */
static void test_proposer_uses_own_value_when_none_accepted(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 3, &o);
  assert_rc(hs_paxos_propose(SD(&net, 2), net.now, "own", 3), HS_OK);
  pq_deliver_matching(&net, 0, 0, HS_PAXOS_MSG_PREPARE, 10);
  pq_deliver_matching(&net, 0, 0, HS_PAXOS_MSG_PROMISE, 10);
  pdec d = {0};
  pq_expect(&net, 2, 1, HS_PAXOS_MSG_ACCEPT, &d);
  assert_value(&d.m.values[0], "own");
  pdec_free(&d);
  pnet_free(&net);
}

/* ---- Liveness: lost messages, backoff, duelling proposers --------------------------------------------- */

/* The Python original waited forever after one lost message. Here a round that hears nothing
 * times out and a new one starts, with a higher ballot, after a randomized backoff. */
static void test_lost_prepare_does_not_stall(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 3, &o);
  hs_paxos *p = SD(&net, 1);
  assert_rc(hs_paxos_propose(p, net.now, "v", 1), HS_OK);
  assert_u64(pq_drop(&net, 1, 0, HS_PAXOS_MSG_PREPARE), 2); /* every Prepare lost */
  hs_time_ns timeout_at = pn_deadline(&net, 1);
  assert_u64(timeout_at, o.round_timeout);
  pnet_advance(&net, o.round_timeout);
  assert_u64(hs_paxos_phase_of(p), HS_PAXOS_BACKOFF);
  hs_time_ns retry_at = pn_deadline(&net, 1);
  assert_true(retry_at >= net.now + o.retry / 2 && retry_at < net.now + o.retry / 2 + o.retry);
  pnet_advance_to(&net, retry_at);
  assert_u64(hs_paxos_phase_of(p), HS_PAXOS_PHASE1);
  assert_u64(hs_paxos_ballot_of(p).round, 2);
  pq_deliver_all(&net);
  for (uint32_t i = 1; i <= 3; i++) assert_decided(&net, i, "v");
  hs_paxos_stats st;
  hs_paxos_get_stats(p, &st);
  assert_u64(st.ballots_tried, 2);
  assert_u64(st.proposals_failed, 1);
  assert_u64(st.proposals_succeeded, 1);
  pnet_check(&net);
  pnet_free(&net);
}

/* A lost Accepted times the round out too; the retry must propose the value already accepted. */
static void test_lost_accepted_retries_same_value(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 3, &o);
  assert_rc(hs_paxos_propose(SD(&net, 1), net.now, "first", 5), HS_OK);
  pq_deliver_matching(&net, 0, 0, HS_PAXOS_MSG_PREPARE, 10);
  pq_deliver_matching(&net, 0, 0, HS_PAXOS_MSG_PROMISE, 10);
  pq_deliver_matching(&net, 0, 0, HS_PAXOS_MSG_ACCEPT, 10);
  assert_u64(pq_drop(&net, 0, 1, HS_PAXOS_MSG_ACCEPTED), 2);
  /* "first" is chosen (all three accepted it) but nobody knows. Node 3 now proposes another value. */
  assert_rc(hs_paxos_propose(SD(&net, 3), net.now, "second", 6), HS_OK);
  pnet_run(&net, 2000 * MS, 5 * MS);
  for (uint32_t i = 1; i <= 3; i++) assert_decided(&net, i, "first");
  pnet_check(&net);
  pnet_free(&net);
}

/* A lost decision is sent again until every member acknowledged it, also to a node that was
 * down when it was first sent. */
static void test_lost_decision_is_resent(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 3, &o);
  pn_crash(&net, 3);
  assert_rc(hs_paxos_propose(SD(&net, 1), net.now, "v", 1), HS_OK);
  for (int t = HS_PAXOS_MSG_PREPARE; t <= HS_PAXOS_MSG_ACCEPTED; t++) pq_deliver_matching(&net, 0, 0, t, 10);
  assert_decided(&net, 1, "v");
  assert_u64(pq_drop(&net, 1, 0, HS_PAXOS_MSG_CHOSEN), 2); /* lost, and node 3 is down anyway */
  assert_false(hs_paxos_decided(SD(&net, 2), NULL, NULL));
  pnet_advance(&net, o.retry); /* sent again to both */
  assert_u64(pq_count(&net, 1, 0, HS_PAXOS_MSG_CHOSEN), 2);
  pq_deliver_all(&net);
  assert_decided(&net, 2, "v");
  pnet_advance(&net, o.retry); /* node 2 acknowledged: only node 3 is left */
  assert_u64(pq_count(&net, 1, 0, HS_PAXOS_MSG_CHOSEN), 1);
  pq_deliver_all(&net);
  pnet_advance(&net, 5 * o.retry);
  pq_clear(&net);
  pn_restart(&net, 3);
  pnet_run(&net, 3 * o.retry, o.retry / 5);
  for (uint32_t i = 1; i <= 3; i++) assert_decided(&net, i, "v");
  /* once all acknowledged, the resends stop */
  assert_u64(pn_deadline(&net, 1), HS_TIME_NEVER);
  assert_u64(pn(&net, 2)->decided_calls, 1);
  assert_u64(pn(&net, 3)->decided_calls, 1);
  pnet_check(&net);
  pnet_free(&net);
}

/* Two proposers in turn pre-empt each other; the randomized backoff separates them and one value
 * is decided everywhere, whatever order and duplication the network adds. */
static void test_duelling_proposers_decide_one_value(void **s) {
  (void)s;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    popts o = popts_default();
    o.seed = seed;
    pnet net;
    pnet_init(&net);
    hs_paxos_checker chk;
    hs_paxos_checker_init(&chk, 3);
    net.checker = &chk;
    pn_cluster(&net, false, 5, &o);
    hs_rng rng;
    hs_rng_seed(&rng, seed, "duel", 4);
    assert_rc(hs_paxos_propose(SD(&net, 1), net.now, "a", 1), HS_OK);
    assert_rc(hs_paxos_propose(SD(&net, 5), net.now, "b", 1), HS_OK);
    for (int round = 0; round < 400; round++) {
      if (net.q.len) {
        size_t i = (size_t)hs_rng_below(&rng, net.q.len);
        uint64_t dice = hs_rng_below(&rng, 10);
        if (dice == 0) pq_duplicate(&net, i);
        else if (dice == 1) pq_reverse(&net);
        else if (dice == 2) pq_drop(&net, net.q.m[i].from, net.q.m[i].to, (int)net.q.m[i].type);
        else pq_deliver_at(&net, i);
      }
      pnet_advance(&net, 2 * MS);
    }
    pnet_run(&net, 3000 * MS, 5 * MS);
    const uint8_t *v0;
    uint32_t l0;
    if (!hs_paxos_decided(SD(&net, 1), &v0, &l0)) fail_msg("seed %llu: node 1 undecided", (unsigned long long)seed);
    char want[2] = {(char)v0[0], 0};
    for (uint32_t i = 1; i <= 5; i++) assert_decided(&net, i, want);
    assert_u64(chk.chosen, 1);
    pnet_check(&net);
    pnet_free(&net);
    hs_paxos_checker_free(&chk);
  }
}

/* A node that knows the decision answers a Prepare or an Accept with it, and a new proposal on a
 * decided node starts nothing. */
static void test_decided_node_answers_with_decision(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 3, &o);
  assert_rc(hs_paxos_propose(SD(&net, 1), net.now, "v", 1), HS_OK);
  pq_deliver_all(&net);
  pq_clear(&net);
  step_ok(&net, pmsg_of(HS_PAXOS_MSG_PREPARE, 3, 2, B(9, 3)));
  pdec d = {0};
  pq_expect(&net, 2, 3, HS_PAXOS_MSG_CHOSEN, &d);
  assert_value(&d.m.values[0], "v");
  assert_true(d.m.values[0].chosen);
  assert_u64(hs_paxos_promised(SD(&net, 2)).round, 1); /* not promised */
  assert_rc(hs_paxos_propose(SD(&net, 2), net.now, "w", 1), HS_OK);
  assert_u64(net.q.len, 0);
  assert_u64(hs_paxos_phase_of(SD(&net, 2)), HS_PAXOS_IDLE);
  pdec_free(&d);
  pnet_check(&net);
  pnet_free(&net);
}

/* ---- Durability ------------------------------------------------------------------------------------------ */

/* Promised and accepted survive a crash; the proposer's rounds never repeat; the decision too. */
static void test_acceptor_state_survives_restart(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos *p = solo(&net, 3, &o);
  hs_paxos_value v = val("x", B(0, 0));
  hs_paxos_msg a = pmsg_of(HS_PAXOS_MSG_ACCEPT, 2, 1, B(5, 2));
  a.values = &v;
  a.n_values = 1;
  step_ok(&net, a);
  assert_rc(hs_paxos_propose(p, net.now, "mine", 4), HS_OK);
  assert_u64(hs_paxos_ballot_of(p).round, 6);
  pq_clear(&net);
  hs_paxos_crash(p);
  assert_rc(hs_paxos_step(p, &a, net.now), HS_PAXOS_ECRASHED);
  assert_u64(pn_deadline(&net, 1), HS_TIME_NEVER);
  pn_restart(&net, 1);
  assert_u64(hs_paxos_phase_of(p), HS_PAXOS_IDLE); /* the proposal was volatile */
  step_ok(&net, pmsg_of(HS_PAXOS_MSG_PREPARE, 3, 1, B(5, 3)));
  pdec d = {0};
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_NACK, &d); /* it promised (6, 1) to itself */
  assert_u64(d.m.promised.round, 6);
  step_ok(&net, pmsg_of(HS_PAXOS_MSG_PREPARE, 3, 1, B(7, 3)));
  pq_expect(&net, 1, 3, HS_PAXOS_MSG_PROMISE, &d);
  assert_value(&d.m.values[0], "x");
  assert_u64(d.m.values[0].ballot.round, 5);
  assert_rc(hs_paxos_propose(p, net.now, "again", 5), HS_OK);
  assert_u64(hs_paxos_ballot_of(p).round, 8); /* above everything used and promised */
  pdec_free(&d);

  /* the same durable state loaded into a new node behaves the same */
  hs_paxos_durable dur = {.promised = B(7, 3), .accepted = B(5, 2), .value = (const uint8_t *)"x", .value_len = 1,
                          .max_round = 8};
  pnet net2;
  pnet_init(&net2);
  hs_paxos *q = pn_add_sd(&net2, 1, PIDS, 3, &o);
  assert_rc(hs_paxos_load(q, &dur), HS_OK);
  pn_start(&net2, 1);
  assert_rc(hs_paxos_load(q, &dur), HS_PAXOS_ESTATE);
  step_ok(&net2, pmsg_of(HS_PAXOS_MSG_PREPARE, 2, 1, B(7, 2)));
  pq_expect(&net2, 1, 2, HS_PAXOS_MSG_NACK, &d);
  assert_rc(hs_paxos_propose(q, net2.now, "y", 1), HS_OK);
  assert_u64(hs_paxos_ballot_of(q).round, 9);
  pdec_free(&d);
  pnet_check(&net);
  pnet_check(&net2);
  pnet_free(&net);
  pnet_free(&net2);
}

/* A decided node stays decided across a restart (without announcing it again) and tells the
 * others, who acknowledge. */
static void test_decision_survives_restart(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 3, &o);
  pn_crash(&net, 2);
  pn_crash(&net, 3);
  assert_rc(hs_paxos_propose(SD(&net, 1), net.now, "v", 1), HS_OK);
  pq_clear(&net);
  /* a single node cannot decide in a 3-node cluster */
  pnet_advance(&net, 300 * MS);
  assert_false(hs_paxos_decided(SD(&net, 1), NULL, NULL));
  pn_restart(&net, 2);
  pn_restart(&net, 3);
  pnet_run(&net, 2000 * MS, 10 * MS);
  assert_decided(&net, 3, "v");
  pn_crash(&net, 3);
  pn_restart(&net, 3);
  assert_decided(&net, 3, "v");
  assert_u64(pn(&net, 3)->decided_calls, 1);
  pnet_check(&net);
  pnet_free(&net);
}

/* ---- Flexible Paxos ---------------------------------------------------------------------------------------- */

/* Q1 = 4, Q2 = 2 of 5: a value chosen by just two acceptors is found by any later phase 1, since
 * every four members include one of the two. */
static void test_fpaxos_q1_4_q2_2_keeps_a_value_chosen_by_two(void **s) {
  (void)s;
  popts o = popts_default();
  o.q1 = 4;
  o.q2 = 2;
  pnet net;
  pnet_init(&net);
  hs_paxos_checker chk;
  hs_paxos_checker_init(&chk, 2);
  net.checker = &chk;
  pn_cluster(&net, false, 5, &o);
  /* node 1 runs phase 1 with 1..4, phase 2 reaches only node 2: chosen by {1, 2} */
  assert_rc(hs_paxos_propose(SD(&net, 1), net.now, "A", 1), HS_OK);
  pq_drop(&net, 1, 5, HS_PAXOS_MSG_PREPARE);
  pq_deliver_matching(&net, 0, 0, HS_PAXOS_MSG_PREPARE, 10);
  pq_deliver_matching(&net, 0, 0, HS_PAXOS_MSG_PROMISE, 10);
  pq_drop(&net, 1, 3, HS_PAXOS_MSG_ACCEPT);
  pq_drop(&net, 1, 4, HS_PAXOS_MSG_ACCEPT);
  pq_drop(&net, 1, 5, HS_PAXOS_MSG_ACCEPT);
  pq_deliver_matching(&net, 1, 2, HS_PAXOS_MSG_ACCEPT, 10);
  pq_drop(&net, 2, 1, HS_PAXOS_MSG_ACCEPTED); /* nobody learns it */
  assert_u64(chk.chosen, 1);
  pn_crash(&net, 1);
  pq_clear(&net);
  /* node 5 proposes B: its phase 1 needs four members, so it must hear node 2's "A" */
  assert_rc(hs_paxos_propose(SD(&net, 5), net.now, "B", 1), HS_OK);
  pnet_run(&net, 3000 * MS, 10 * MS);
  for (uint32_t i = 2; i <= 5; i++) assert_decided(&net, i, "A");
  pn_restart(&net, 1);
  pnet_run(&net, 2000 * MS, 10 * MS);
  assert_decided(&net, 1, "A");
  pnet_check(&net);
  pnet_free(&net);
  hs_paxos_checker_free(&chk);
}

/* With Q1 = 4 a minority of four cannot be reached when two members are down: no decision, and
 * nothing unsafe either; once one comes back the proposal goes through. */
static void test_fpaxos_phase1_needs_q1(void **s) {
  (void)s;
  popts o = popts_default();
  o.q1 = 4;
  o.q2 = 2;
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 5, &o);
  pn_crash(&net, 4);
  pn_crash(&net, 5);
  assert_rc(hs_paxos_propose(SD(&net, 1), net.now, "v", 1), HS_OK);
  pnet_run(&net, 2000 * MS, 10 * MS);
  assert_false(hs_paxos_decided(SD(&net, 1), NULL, NULL));
  hs_paxos_stats st;
  hs_paxos_get_stats(SD(&net, 1), &st);
  assert_true(st.proposals_failed >= 3);
  pn_restart(&net, 4);
  pnet_run(&net, 3000 * MS, 10 * MS);
  assert_decided(&net, 1, "v");
  pnet_check(&net);
  pnet_free(&net);
}

/* A one-node cluster decides within the call. */
static void test_single_node_decides_at_once(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, false, 1, &o);
  assert_rc(hs_paxos_propose(SD(&net, 1), net.now, "solo", 4), HS_OK);
  assert_decided(&net, 1, "solo");
  assert_u64(net.q.len, 0);
  pnet_check(&net);
  pnet_free(&net);
}

/* ---- Malformed input ----------------------------------------------------------------------------------------- */

static void test_malformed_messages_are_refused(void **s) {
  (void)s;
  popts o = popts_default();
  pnet net;
  hs_paxos *p = solo(&net, 3, &o);
  hs_paxos_value v = val("x", B(0, 0));
  hs_paxos_msg bad[8];
  for (int i = 0; i < 8; i++) bad[i] = pmsg_of(HS_PAXOS_MSG_PREPARE, 2, 1, B(5, 2));
  bad[0].from = 7;                       /* not a member */
  bad[1].to = 2;                         /* not for this node */
  bad[2].ballot = B(5, 3);               /* a proposer's ballot is its own */
  bad[3].ballot.round = (uint64_t)1 << 63; /* beyond the counters' range */
  bad[4].type = HS_PAXOS_MSG_TYPE_COUNT;
  bad[5].type = HS_PAXOS_MSG_ACCEPT;     /* an Accept without its value */
  bad[6].type = HS_PAXOS_MSG_CHOSEN;     /* a "decision" not marked chosen */
  bad[6].values = &v;
  bad[6].n_values = 1;
  bad[7].n_values = 3;                   /* values counted, none given */
  for (int i = 0; i < 8; i++) assert_rc(hs_paxos_step(p, &bad[i], net.now), HS_EINVAL);
  hs_paxos_stats st;
  hs_paxos_get_stats(p, &st);
  assert_u64(st.malformed_messages, 8);
  assert_u64(net.q.len, 0);
  assert_u64(hs_paxos_promised(p).round, 0);
  assert_false(hs_paxos_decided(p, NULL, NULL));
  pnet_free(&net);
}

/* The codec: exact sizes, round trips, and every truncation or corruption refused. */
static void test_codec_round_trip_and_bounds(void **s) {
  (void)s;
  hs_paxos_value vals[3] = {
      {.slot = 7, .ballot = {3, 2}, .origin = {2, 1}, .type = HS_PAXOS_VALUE_NORMAL, .len = 5, .data = (const uint8_t *)"hello"},
      {.slot = 8, .ballot = {3, 2}, .origin = {3, 2}, .type = HS_PAXOS_VALUE_NOOP, .chosen = true},
      {.slot = 9, .ballot = {3, 2}, .origin = {3, 2}, .type = HS_PAXOS_VALUE_NORMAL, .len = 1, .data = (const uint8_t *)"z"},
  };
  hs_paxos_msg m = {.type = HS_PAXOS_MSG_ACCEPT, .from = 2, .to = 1, .ballot = {3, 2}, .promised = {1, 1},
                    .slot = 4, .last = 5, .commit = 6, .values = vals, .n_values = 3};
  size_t size = hs_paxos_msg_encoded_size(&m);
  uint8_t *buf = malloc(size);
  assert_u64(hs_paxos_msg_encode(&m, buf, size - 1), 0);
  assert_u64(hs_paxos_msg_encode(&m, buf, size), size);
  assert_u64(hs_paxos_msg_decode_count(buf, size), 3);
  hs_paxos_value out[3];
  hs_paxos_msg d;
  assert_rc(hs_paxos_msg_decode(&d, buf, size, out, 3), HS_OK);
  assert_u64(d.type, HS_PAXOS_MSG_ACCEPT);
  assert_u64(d.ballot.round, 3);
  assert_u64(d.ballot.node, 2);
  assert_u64(d.promised.node, 1);
  assert_u64(d.slot + d.last + d.commit, 15);
  assert_u64(d.values[1].type, HS_PAXOS_VALUE_NOOP);
  assert_true(d.values[1].chosen);
  assert_u64(d.values[0].origin.round, 2);
  assert_value(&d.values[0], "hello");
  assert_rc(hs_paxos_msg_decode(&d, buf, size, out, 2), HS_EINVAL); /* too few slots */
  for (size_t cut = 0; cut < size; cut++) assert_rc(hs_paxos_msg_decode(&d, buf, cut, out, 3), HS_EINVAL);
  uint8_t *longer = malloc(size + 1);
  memcpy(longer, buf, size);
  longer[size] = 0;
  assert_rc(hs_paxos_msg_decode(&d, longer, size + 1, out, 3), HS_EINVAL); /* trailing bytes */
  /* random corruption never reads out of bounds (ASan watches) and never lies about the count */
  hs_rng rng;
  hs_rng_seed(&rng, 5, "codec", 5);
  for (int i = 0; i < 20000; i++) {
    memcpy(longer, buf, size);
    size_t len = size - (size_t)hs_rng_below(&rng, 8);
    for (int k = 0; k < 3; k++) longer[hs_rng_below(&rng, len)] = (uint8_t)hs_rng_next(&rng);
    uint32_t n = hs_paxos_msg_decode_count(longer, len);
    assert_true(n <= 3);
    hs_paxos_value o3[3];
    if (hs_paxos_msg_decode(&d, longer, len, o3, n) == HS_OK)
      for (uint32_t k = 0; k < d.n_values; k++) assert_true(d.values[k].data == NULL || (d.values[k].data >= longer && d.values[k].data + d.values[k].len <= longer + len));
  }
  free(longer);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ballots_are_totally_ordered),
      cmocka_unit_test(test_quorum_sizes),
      cmocka_unit_test(test_cores_refuse_bad_quorums),
      cmocka_unit_test(test_promise_refuses_lower_ballot),
      cmocka_unit_test(test_proposer_adopts_highest_accepted_value),
      cmocka_unit_test(test_proposer_uses_own_value_when_none_accepted),
      cmocka_unit_test(test_lost_prepare_does_not_stall),
      cmocka_unit_test(test_lost_accepted_retries_same_value),
      cmocka_unit_test(test_lost_decision_is_resent),
      cmocka_unit_test(test_duelling_proposers_decide_one_value),
      cmocka_unit_test(test_decided_node_answers_with_decision),
      cmocka_unit_test(test_acceptor_state_survives_restart),
      cmocka_unit_test(test_decision_survives_restart),
      cmocka_unit_test(test_fpaxos_q1_4_q2_2_keeps_a_value_chosen_by_two),
      cmocka_unit_test(test_fpaxos_phase1_needs_q1),
      cmocka_unit_test(test_single_node_decides_at_once),
      cmocka_unit_test(test_malformed_messages_are_refused),
      cmocka_unit_test(test_codec_round_trip_and_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
