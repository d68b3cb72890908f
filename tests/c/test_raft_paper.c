/*
 * test_raft_paper.c - the rules of the Raft paper (extended version, sections 5.1-5.4), one
 * test per group of sentences, re-expressed after etcd's raft_paper_test.go.
 *
 * Most tests drive node 1 alone: the other members do not exist, the test plays them by
 * stepping hand-built messages into node 1 and reading what node 1 put in the queue. The
 * Figure 7 and Figure 8 tests run real clusters with exact interleavings. These tests use the
 * paper's algorithm: pre-vote and check-quorum off.
 */
#include "test_raft_harness.h"

static const uint32_t IDS[] = {1, 2, 3, 4, 5};

static hs_raft_msg msg(hs_raft_msg_type type, uint32_t from, uint32_t to, uint64_t term) {
  hs_raft_msg m = {0};
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

static void step(tnet *net, hs_raft_msg m) { assert_rc(tn_step(net, &m), HS_OK); }

static void grant_vote(tnet *net, uint32_t from, uint32_t to) {
  step(net, msg(HS_RAFT_MSG_VOTE_RESP, from, to, hs_raft_term(R(net, to))));
}

/* Node 1 of a cluster of `size`, started, with the paper's options. */
static hs_raft *solo(tnet *net, uint32_t size) {
  topts o = topts_paper();
  tnet_init(net);
  hs_raft *r = tn_add(net, 1, IDS, size, &o);
  tn_start(net, 1);
  return r;
}

/* Node 1 becomes leader of the next term with votes from nodes 2, 3 ... as needed. */
static void make_leader(tnet *net) {
  hs_raft *r = R(net, 1);
  assert_rc(hs_raft_campaign(r, net->now), HS_OK);
  for (uint32_t id = 2; hs_raft_role_of(r) != HS_RAFT_LEADER && id <= 5; id++) grant_vote(net, id, 1);
  assert_role(r, HS_RAFT_LEADER);
}

/* The acknowledgement a follower would send for an AppendEntries it accepted. */
static void accept_and_reply(tnet *net, const hs_raft_msg *m) {
  assert_int_equal(m->type, HS_RAFT_MSG_APP);
  hs_raft_msg resp = msg(HS_RAFT_MSG_APP_RESP, m->to, m->from, m->term);
  resp.index = m->index + m->n_entries;
  step(net, resp);
}

/* Acknowledges every queued AppendEntries from node 1 (and the ones that causes), for the
 * given followers (0: all). */
static void ack_appends(tnet *net, uint32_t only) {
  tdec d = {0};
  for (int guard = 0; guard < 100 && tq_take(net, 1, only, HS_RAFT_MSG_APP, &d); guard++) accept_and_reply(net, &d.m);
  tdec_free(&d);
}

/* The leader's no-op committed and the queue emptied (etcd's commitNoopEntry). */
static void commit_noop(tnet *net) {
  ack_appends(net, 0);
  tq_clear(net);
  assert_u64(hs_raft_commit_index(R(net, 1)), hs_raft_last_index(R(net, 1)));
}

/* ---- 5.1: terms ------------------------------------------------------------------------------------ */

/* If one server's current term is smaller than the other's, it updates its current term to the
 * larger value; a candidate or leader that discovers its term is out of date reverts to follower. */
static void update_term_from_message(hs_raft_role state) {
  tnet net;
  hs_raft *r = solo(&net, 3);
  if (state == HS_RAFT_FOLLOWER) step(&net, msg(HS_RAFT_MSG_HEARTBEAT, 2, 1, 1));
  else if (state == HS_RAFT_CANDIDATE) hs_raft_campaign(r, net.now);
  else make_leader(&net);
  assert_role(r, state);
  assert_u64(hs_raft_term(r), 1);
  tq_clear(&net);

  step(&net, msg(HS_RAFT_MSG_APP, 3, 1, 2));
  assert_u64(hs_raft_term(r), 2);
  assert_role(r, HS_RAFT_FOLLOWER);
  assert_u64(hs_raft_leader(r), 3);
  assert_u64(tn(&net, 1)->persisted_term, 2);
  tnet_check(&net);
  tnet_free(&net);
}

static void test_follower_update_term_from_message(void **s) {
  (void)s;
  update_term_from_message(HS_RAFT_FOLLOWER);
}
static void test_candidate_update_term_from_message(void **s) {
  (void)s;
  update_term_from_message(HS_RAFT_CANDIDATE);
}
static void test_leader_update_term_from_message(void **s) {
  (void)s;
  update_term_from_message(HS_RAFT_LEADER);
}

/* A request with a stale term is rejected: ignored, with nothing changed and no answer in the
 * paper's algorithm; with check-quorum, answered with the current term so the stale leader
 * learns it. */
static void test_reject_stale_term_message(void **s) {
  (void)s;
  for (int cq = 0; cq <= 1; cq++) {
    tnet net;
    tnet_init(&net);
    topts o = cq ? topts_full() : topts_paper();
    hs_raft *r = tn_add(&net, 1, IDS, 3, &o);
    hs_raft_load_state(r, 2, HS_RAFT_NONE);
    tn_start(&net, 1);
    hs_raft_entry e = {1, 1, HS_RAFT_ENTRY_NORMAL, 1, (const uint8_t *)"x"};
    hs_raft_msg m = msg(HS_RAFT_MSG_APP, 2, 1, 1);
    m.entries = &e;
    m.n_entries = 1;
    m.commit = 1;
    step(&net, m);
    assert_u64(hs_raft_term(r), 2);
    assert_u64(hs_raft_last_index(r), 0);
    assert_u64(hs_raft_commit_index(r), 0);
    assert_u64(hs_raft_leader(r), HS_RAFT_NONE);
    if (!cq) {
      assert_u64(net.q.len, 0);
    } else {
      tdec d = {0};
      tq_expect(&net, 1, 2, HS_RAFT_MSG_APP_RESP, &d);
      assert_u64(d.m.term, 2);
      tdec_free(&d);
    }
    /* a stale vote request is not granted either */
    hs_raft_msg v = msg(HS_RAFT_MSG_VOTE, 3, 1, 1);
    step(&net, v);
    assert_u64(hs_raft_vote(r), HS_RAFT_NONE);
    assert_u64(tq_count(&net, 1, 3, HS_RAFT_MSG_VOTE_RESP), 0);
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* ---- 5.2: leader election -------------------------------------------------------------------------- */

/* When servers start up, they begin as followers, with an election timeout armed. */
static void test_start_as_follower(void **s) {
  (void)s;
  tnet net;
  hs_raft *r = solo(&net, 3);
  assert_role(r, HS_RAFT_FOLLOWER);
  assert_u64(hs_raft_term(r), 0);
  hs_time_ns at = hs_raft_deadline(r, HS_RAFT_TIMER_ELECTION);
  assert_true(at >= 100 * MS && at < 200 * MS);
  assert_true(tn(&net, 1)->timer_at[HS_RAFT_TIMER_ELECTION] == at);
  assert_true(hs_raft_deadline(r, HS_RAFT_TIMER_HEARTBEAT) == HS_TIME_NEVER);
  assert_u64(net.q.len, 0);
  tnet_free(&net);
}

/* A leader sends heartbeats (AppendEntries without entries) to every follower each heartbeat
 * interval. The commit carried is min(commit, follower's match). */
static void test_leader_bcast_beat(void **s) {
  (void)s;
  tnet net;
  hs_raft *r = solo(&net, 3);
  make_leader(&net);
  for (int i = 0; i < 10; i++) assert_rc(tn_propose(&net, 1, "x", i, NULL), HS_OK);
  tq_clear(&net);
  tnet_advance(&net, 10 * MS);
  assert_u64(net.q.len, 2);
  for (uint32_t to = 2; to <= 3; to++) {
    tdec d = {0};
    tq_expect(&net, 1, to, HS_RAFT_MSG_HEARTBEAT, &d);
    assert_u64(d.m.term, 1);
    assert_u64(d.m.commit, 0);
    assert_u64(d.m.n_entries, 0);
    tdec_free(&d);
  }
  /* and again one interval later */
  tnet_advance(&net, 10 * MS);
  assert_u64(tq_count(&net, 1, 0, HS_RAFT_MSG_HEARTBEAT), 2);
  assert_role(r, HS_RAFT_LEADER);
  tnet_check(&net);
  tnet_free(&net);
}

/* A follower that hears nothing for an election timeout becomes a candidate: it increments its
 * term, votes for itself (persisted) and sends RequestVote to every other server; a candidate
 * that neither wins nor loses does the same again after a new timeout. */
static void nonleader_start_election(hs_raft_role state) {
  tnet net;
  hs_raft *r = solo(&net, 3);
  if (state == HS_RAFT_FOLLOWER) step(&net, msg(HS_RAFT_MSG_HEARTBEAT, 2, 1, 1));
  else hs_raft_campaign(r, net.now);
  assert_role(r, state);
  tq_clear(&net);
  tnet_advance_to(&net, hs_raft_deadline(r, HS_RAFT_TIMER_ELECTION));
  assert_u64(hs_raft_term(r), 2);
  assert_role(r, HS_RAFT_CANDIDATE);
  assert_u64(hs_raft_vote(r), 1);
  assert_u64(tn(&net, 1)->persisted_vote, 1);
  assert_u64(tn(&net, 1)->persisted_term, 2);
  assert_u64(net.q.len, 2);
  for (uint32_t to = 2; to <= 3; to++) {
    tdec d = {0};
    tq_expect(&net, 1, to, HS_RAFT_MSG_VOTE, &d);
    assert_u64(d.m.term, 2);
    assert_u64(d.m.index, 0);
    assert_u64(d.m.log_term, 0);
    tdec_free(&d);
  }
  tnet_free(&net);
}

static void test_follower_start_election(void **s) {
  (void)s;
  nonleader_start_election(HS_RAFT_FOLLOWER);
}
static void test_candidate_start_new_election(void **s) {
  (void)s;
  nonleader_start_election(HS_RAFT_CANDIDATE);
}

/* One round of RequestVote: win with a majority of votes, lose (back to follower) with a
 * majority of denials, otherwise stay candidate. */
static void test_leader_election_in_one_round_rpc(void **s) {
  (void)s;
  struct {
    uint32_t size;
    int votes[6]; /* by id: 1 granted, -1 denied, 0 no answer */
    hs_raft_role want;
  } tests[] = {
      {1, {0}, HS_RAFT_LEADER},
      {3, {0, 0, 1, 1}, HS_RAFT_LEADER},
      {3, {0, 0, 1}, HS_RAFT_LEADER},
      {5, {0, 0, 1, 1, 1, 1}, HS_RAFT_LEADER},
      {5, {0, 0, 1, 1, 1}, HS_RAFT_LEADER},
      {5, {0, 0, 1, 1}, HS_RAFT_LEADER},
      {3, {0, 0, -1, -1}, HS_RAFT_FOLLOWER},
      {5, {0, 0, -1, -1, -1, -1}, HS_RAFT_FOLLOWER},
      {5, {0, 0, 1, -1, -1, -1}, HS_RAFT_FOLLOWER},
      {3, {0}, HS_RAFT_CANDIDATE},
      {5, {0, 0, 1}, HS_RAFT_CANDIDATE},
      {5, {0, 0, -1, -1}, HS_RAFT_CANDIDATE},
      {5, {0}, HS_RAFT_CANDIDATE},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    tnet net;
    hs_raft *r = solo(&net, tests[i].size);
    hs_raft_campaign(r, net.now);
    for (uint32_t id = 2; id <= tests[i].size; id++) {
      if (!tests[i].votes[id] || hs_raft_role_of(r) != HS_RAFT_CANDIDATE) continue;
      hs_raft_msg m = msg(HS_RAFT_MSG_VOTE_RESP, id, 1, 1);
      m.reject = tests[i].votes[id] < 0;
      step(&net, m);
    }
    if (hs_raft_role_of(r) != tests[i].want)
      fail_msg("#%zu: %s, expected %s", i, hs_raft_role_name(hs_raft_role_of(r)), hs_raft_role_name(tests[i].want));
    assert_u64(hs_raft_term(r), 1);
    tnet_free(&net);
  }
}

/* Each follower votes for at most one candidate per term, first come first served, and the
 * vote is persisted before the answer is sent (the harness checks every granted vote). */
static void test_follower_vote(void **s) {
  (void)s;
  struct {
    uint32_t vote, nvote;
    bool reject;
  } tests[] = {{0, 2, false}, {0, 3, false}, {2, 2, false}, {3, 3, false}, {2, 3, true}, {3, 2, true}};
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    tnet net;
    topts o = topts_paper();
    tnet_init(&net);
    hs_raft *r = tn_add(&net, 1, IDS, 3, &o);
    hs_raft_load_state(r, 1, tests[i].vote);
    tn_start(&net, 1);
    uint64_t persists = tn(&net, 1)->persist_state_calls;
    step(&net, msg(HS_RAFT_MSG_VOTE, tests[i].nvote, 1, 1));
    assert_u64(net.q.len, 1);
    tdec d = {0};
    tq_expect(&net, 1, tests[i].nvote, HS_RAFT_MSG_VOTE_RESP, &d);
    assert_u64(d.m.term, 1);
    if (d.m.reject != tests[i].reject) fail_msg("#%zu: reject = %d", i, d.m.reject);
    if (!tests[i].reject) {
      assert_u64(hs_raft_vote(r), tests[i].nvote);
      assert_u64(tn(&net, 1)->persisted_vote, tests[i].nvote);
      if (tests[i].vote == 0) assert_u64(tn(&net, 1)->persist_state_calls, persists + 1);
    } else {
      assert_u64(hs_raft_vote(r), tests[i].vote);
    }
    tdec_free(&d);
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* A candidate that receives AppendEntries from a leader whose term is at least its own
 * recognizes it and returns to follower. */
static void test_candidate_fallback(void **s) {
  (void)s;
  for (uint64_t term = 1; term <= 2; term++) {
    tnet net;
    hs_raft *r = solo(&net, 3);
    hs_raft_campaign(r, net.now);
    assert_role(r, HS_RAFT_CANDIDATE);
    step(&net, msg(HS_RAFT_MSG_APP, 2, 1, term));
    assert_role(r, HS_RAFT_FOLLOWER);
    assert_u64(hs_raft_term(r), term);
    assert_u64(hs_raft_leader(r), 2);
    tnet_free(&net);
  }
}

/* Election timeouts are random in [min, max): over many rounds every tenth of the range is hit,
 * for followers and for candidates. */
static void nonleader_election_timeout_randomized(hs_raft_role state) {
  tnet net;
  hs_raft *r = solo(&net, 3);
  bool seen[10] = {false};
  for (int round = 0; round < 500; round++) {
    if (state == HS_RAFT_FOLLOWER) step(&net, msg(HS_RAFT_MSG_HEARTBEAT, 2, 1, hs_raft_term(r) + 1));
    else hs_raft_campaign(r, net.now);
    hs_time_ns d = hs_raft_deadline(r, HS_RAFT_TIMER_ELECTION) - net.now;
    if (d < 100 * MS || d >= 200 * MS) fail_msg("timeout %lld ns out of range", (long long)d);
    seen[(d - 100 * MS) / (10 * MS)] = true;
    tq_clear(&net);
    tnet_advance(&net, MS);
  }
  for (int i = 0; i < 10; i++)
    if (!seen[i]) fail_msg("no timeout in [%d, %d) ms", 100 + 10 * i, 110 + 10 * i);
  tnet_free(&net);
}

static void test_follower_election_timeout_randomized(void **s) {
  (void)s;
  nonleader_election_timeout_randomized(HS_RAFT_FOLLOWER);
}
static void test_candidate_election_timeout_randomized(void **s) {
  (void)s;
  nonleader_election_timeout_randomized(HS_RAFT_CANDIDATE);
}

/* In most cases only one server times out first, which makes split votes rare: over 1000
 * rounds, at most 30% see several servers time out in the same tick (a tenth of the minimum
 * timeout, as etcd's ticks are). */
static void nonleaders_election_timeout_nonconflict(hs_raft_role state) {
  tnet net;
  topts o = topts_paper();
  tnet_init(&net);
  for (uint32_t id = 1; id <= 5; id++) tn_add(&net, id, IDS, 5, &o);
  for (uint32_t id = 1; id <= 5; id++) tn_start(&net, id);
  int conflicts = 0;
  for (int round = 0; round < 1000; round++) {
    hs_time_ns first = HS_TIME_NEVER, second = HS_TIME_NEVER; /* in ticks from now */
    for (uint32_t id = 1; id <= 5; id++) {
      hs_raft *r = R(&net, id);
      if (state == HS_RAFT_FOLLOWER) {
        hs_raft_msg m = msg(HS_RAFT_MSG_HEARTBEAT, id % 5 + 1, id, hs_raft_term(r) + 1);
        step(&net, m);
      } else {
        hs_raft_campaign(r, net.now);
      }
      hs_time_ns at = (hs_raft_deadline(r, HS_RAFT_TIMER_ELECTION) - net.now) / (10 * MS);
      if (at < first) {
        second = first;
        first = at;
      } else if (at < second) {
        second = at;
      }
    }
    if (second == first) conflicts++;
    tq_clear(&net);
    tnet_advance(&net, MS);
  }
  if (conflicts > 300) fail_msg("%d of 1000 rounds had several servers time out together", conflicts);
  tnet_free(&net);
}

static void test_followers_election_timeout_nonconflict(void **s) {
  (void)s;
  nonleaders_election_timeout_nonconflict(HS_RAFT_FOLLOWER);
}
static void test_candidates_election_timeout_nonconflict(void **s) {
  (void)s;
  nonleaders_election_timeout_nonconflict(HS_RAFT_CANDIDATE);
}

/* ---- 5.3: log replication ---------------------------------------------------------------------------- */

/* On a proposal the leader appends the entry to its log (persisted) and sends AppendEntries
 * to every follower at once, with the index and term of the entry before it. */
static void test_leader_start_replication(void **s) {
  (void)s;
  tnet net;
  hs_raft *r = solo(&net, 3);
  make_leader(&net);
  commit_noop(&net);
  uint64_t li = hs_raft_last_index(r);
  uint64_t index = 0;
  assert_rc(tn_propose(&net, 1, "some data", 1, &index), HS_OK);
  assert_u64(index, li + 1);
  assert_u64(hs_raft_last_index(r), li + 1);
  assert_u64(hs_raft_commit_index(r), li);
  assert_u64(tn(&net, 1)->persisted_last, li + 1);
  assert_u64(net.q.len, 2);
  for (uint32_t to = 2; to <= 3; to++) {
    tdec d = {0};
    tq_expect(&net, 1, to, HS_RAFT_MSG_APP, &d);
    assert_u64(d.m.term, 1);
    assert_u64(d.m.index, li);
    assert_u64(d.m.log_term, 1);
    assert_u64(d.m.commit, li);
    assert_u64(d.m.n_entries, 1);
    assert_u64(d.ents[0].index, li + 1);
    assert_u64(d.ents[0].term, 1);
    assert_int_equal(d.ents[0].type, HS_RAFT_ENTRY_NORMAL);
    assert_memory_equal(d.ents[0].data, "some data", 9);
    tdec_free(&d);
  }
  tnet_free(&net);
}

/* Once the entry is replicated the leader commits and applies it, and tells the followers the
 * new commit index in the next AppendEntries. */
static void test_leader_commit_entry(void **s) {
  (void)s;
  tnet net;
  hs_raft *r = solo(&net, 3);
  make_leader(&net);
  commit_noop(&net);
  uint64_t li = hs_raft_last_index(r);
  tn_propose(&net, 1, "some data", 7, NULL);
  tdec d = {0};
  for (uint32_t to = 2; to <= 3; to++) {
    tq_expect(&net, 1, to, HS_RAFT_MSG_APP, &d);
    accept_and_reply(&net, &d.m);
  }
  assert_u64(hs_raft_commit_index(r), li + 1);
  const tapplied *a = tn_applied_at(&net, 1, li + 1);
  assert_non_null(a);
  assert_u64(a->term, 1);
  assert_memory_equal(a->data, "some data", 9);
  assert_true(a->mine);
  assert_u64(a->tag, 7);
  for (uint32_t to = 2; to <= 3; to++) {
    tq_expect(&net, 1, to, HS_RAFT_MSG_APP, &d);
    assert_u64(d.m.commit, li + 1);
  }
  tdec_free(&d);
  tnet_free(&net);
}

/* An entry is committed once the leader that created it replicated it on a majority. */
static void test_leader_acknowledge_commit(void **s) {
  (void)s;
  struct {
    uint32_t size;
    uint32_t acceptors; /* bit i: node i accepts */
    bool committed;
  } tests[] = {
      {1, 0, true},      {3, 0, false},          {3, 1 << 2, true},         {3, (1 << 2) | (1 << 3), true},
      {5, 0, false},     {5, 1 << 2, false},     {5, (1 << 2) | (1 << 3), true},
      {5, 0x1c, true},   {5, 0x3c, true},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    tnet net;
    hs_raft *r = solo(&net, tests[i].size);
    make_leader(&net);
    if (tests[i].size > 1) commit_noop(&net);
    uint64_t li = hs_raft_last_index(r);
    tn_propose(&net, 1, "some data", 1, NULL);
    tdec d = {0};
    while (tq_take(&net, 1, 0, HS_RAFT_MSG_APP, &d))
      if (tests[i].acceptors & (1u << d.m.to)) accept_and_reply(&net, &d.m);
    tdec_free(&d);
    if ((hs_raft_commit_index(r) > li) != tests[i].committed) fail_msg("#%zu: commit %llu", i,
                                                                      (unsigned long long)hs_raft_commit_index(r));
    tnet_free(&net);
  }
}

/* Committing an entry commits every entry before it, including those of earlier leaders, and
 * they are applied in log order. */
static void test_leader_commit_preceding_entries(void **s) {
  (void)s;
  struct {
    size_t n;
    uint64_t terms[2];
  } tests[] = {{0, {0}}, {1, {2}}, {2, {1, 2}}, {1, {1}}};
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    tnet net;
    topts o = topts_paper();
    tnet_init(&net);
    hs_raft *r = tn_add(&net, 1, IDS, 3, &o);
    tn_load_terms(r, tests[i].terms, tests[i].n);
    hs_raft_load_state(r, 2, HS_RAFT_NONE);
    tn_start(&net, 1);
    make_leader(&net); /* term 3 */
    tn_propose(&net, 1, "some data", 1, NULL);
    ack_appends(&net, 0);
    size_t li = tests[i].n;
    assert_u64(hs_raft_commit_index(r), li + 2);
    tnode *n = tn(&net, 1);
    assert_u64(n->n_applied, li + 2);
    for (size_t k = 0; k < li; k++) {
      assert_u64(n->applied[k].index, k + 1);
      assert_u64(n->applied[k].term, tests[i].terms[k]);
    }
    assert_u64(n->applied[li].term, 3);
    assert_int_equal(n->applied[li].type, HS_RAFT_ENTRY_NOOP);
    assert_u64(n->applied[li + 1].term, 3);
    assert_memory_equal(n->applied[li + 1].data, "some data", 9);
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* Once a follower learns an entry is committed, it applies it (in log order). */
static void test_follower_commit_entry(void **s) {
  (void)s;
  const char *datas[][2] = {{"some data", NULL}, {"some data", "some data2"}, {"some data2", "some data"}, {"some data", "some data2"}};
  const uint64_t commits[] = {1, 2, 2, 1};
  for (size_t i = 0; i < 4; i++) {
    tnet net;
    hs_raft *r = solo(&net, 3);
    step(&net, msg(HS_RAFT_MSG_HEARTBEAT, 2, 1, 1));
    hs_raft_entry e[2];
    uint32_t n = datas[i][1] ? 2 : 1;
    for (uint32_t k = 0; k < n; k++)
      e[k] = (hs_raft_entry){k + 1, 1, HS_RAFT_ENTRY_NORMAL, (uint32_t)strlen(datas[i][k]), (const uint8_t *)datas[i][k]};
    hs_raft_msg m = msg(HS_RAFT_MSG_APP, 2, 1, 1);
    m.entries = e;
    m.n_entries = n;
    m.commit = commits[i];
    step(&net, m);
    assert_u64(hs_raft_commit_index(r), commits[i]);
    tnode *t = tn(&net, 1);
    assert_u64(t->n_applied, commits[i]);
    for (size_t k = 0; k < commits[i]; k++) {
      assert_u64(t->applied[k].len, strlen(datas[i][k]));
      assert_memory_equal(t->applied[k].data, datas[i][k], t->applied[k].len);
    }
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* The follower's commit index becomes min(leader commit, index of the last new entry): entries
 * after that are unverified - here a stale suffix of term 2 behind a matching prefix - and must
 * not be committed even if the leader's commit index covers their indexes. */
static void test_follower_commit_stops_at_last_new_entry(void **s) {
  (void)s;
  tnet net;
  topts o = topts_paper();
  tnet_init(&net);
  hs_raft *r = tn_add(&net, 1, IDS, 3, &o);
  tn_load_terms(r, (const uint64_t[]){1, 1, 2, 2}, 4);
  hs_raft_load_state(r, 2, HS_RAFT_NONE);
  tn_start(&net, 1);
  /* the leader of term 3 holds [1, 1, 3, 3] with commit 4, and sends just index 2 */
  hs_raft_entry e = {2, 1, HS_RAFT_ENTRY_NORMAL, 2, (const uint8_t *)"e2"};
  hs_raft_msg m = msg(HS_RAFT_MSG_APP, 2, 1, 3);
  m.index = 1;
  m.log_term = 1;
  m.entries = &e;
  m.n_entries = 1;
  m.commit = 4;
  step(&net, m);
  assert_u64(hs_raft_commit_index(r), 2);
  assert_u64(tn(&net, 1)->n_applied, 2);
  tdec d = {0};
  tq_expect(&net, 1, 2, HS_RAFT_MSG_APP_RESP, &d);
  assert_false(d.m.reject);
  assert_u64(d.m.index, 2);
  /* an empty AppendEntries (prev 2) likewise commits only up to 2 */
  m.index = 2;
  m.entries = NULL;
  m.n_entries = 0;
  step(&net, m);
  assert_u64(hs_raft_commit_index(r), 2);
  tdec_free(&d);
  tnet_check(&net);
  tnet_free(&net);
}

/* The follower accepts AppendEntries only if it has an entry with the previous index and term;
 * a rejection carries the conflict hint (the term at that index and the first index of that
 * term, or the end of the log). */
static void test_follower_check_msg_app(void **s) {
  (void)s;
  struct {
    uint64_t log_term, index;
    uint64_t windex;
    bool reject;
    uint64_t hint_index, hint_term;
  } tests[] = {
      {0, 0, 1, false, 0, 0}, /* below the commit index: matches, acknowledged up to commit */
      {1, 1, 1, false, 0, 0}, /* matches a committed entry */
      {2, 2, 2, false, 0, 0}, /* matches an uncommitted entry */
      {1, 2, 2, true, 2, 2},  /* index 2 has term 2, not 1: term 2 starts at index 2 */
      {3, 3, 3, true, 3, 0},  /* no entry at index 3: log ends at 2 */
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    tnet net;
    topts o = topts_paper();
    tnet_init(&net);
    hs_raft *r = tn_add(&net, 1, IDS, 3, &o);
    tn_load_terms(r, (const uint64_t[]){1, 2}, 2);
    tn_start(&net, 1);
    hs_raft_msg hb = msg(HS_RAFT_MSG_HEARTBEAT, 2, 1, 2);
    hb.commit = 1;
    step(&net, hb);
    assert_u64(hs_raft_commit_index(r), 1);
    tq_clear(&net);

    hs_raft_msg m = msg(HS_RAFT_MSG_APP, 2, 1, 2);
    m.log_term = tests[i].log_term;
    m.index = tests[i].index;
    step(&net, m);
    assert_u64(net.q.len, 1);
    tdec d = {0};
    tq_expect(&net, 1, 2, HS_RAFT_MSG_APP_RESP, &d);
    assert_u64(d.m.term, 2);
    if (d.m.reject != tests[i].reject) fail_msg("#%zu: reject %d", i, d.m.reject);
    assert_u64(d.m.index, tests[i].windex);
    assert_u64(d.m.hint_index, tests[i].hint_index);
    assert_u64(d.m.hint_term, tests[i].hint_term);
    tdec_free(&d);
    tnet_free(&net);
  }
}

/* A valid AppendEntries deletes the first conflicting entry and all that follow, appends the
 * new entries, and persists exactly those. */
static void test_follower_append_entries(void **s) {
  (void)s;
  struct {
    uint64_t index, term;
    size_t n;
    uint64_t ents[2];
    size_t wn;
    uint64_t wlog[3];
    uint64_t wpersist_first; /* 0: nothing persisted */
  } tests[] = {
      {2, 2, 1, {3}, 3, {1, 2, 3}, 3},
      {1, 1, 2, {3, 4}, 3, {1, 3, 4}, 2},
      {0, 0, 1, {1}, 2, {1, 2}, 0},
      {0, 0, 1, {3}, 1, {3}, 1},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    tnet net;
    topts o = topts_paper();
    tnet_init(&net);
    hs_raft *r = tn_add(&net, 1, IDS, 3, &o);
    tn_load_terms(r, (const uint64_t[]){1, 2}, 2);
    tn_start(&net, 1);
    step(&net, msg(HS_RAFT_MSG_HEARTBEAT, 2, 1, 2));
    tnode *t = tn(&net, 1);
    uint64_t calls = t->persist_entries_calls;
    hs_raft_entry e[2];
    for (size_t k = 0; k < tests[i].n; k++) e[k] = (hs_raft_entry){tests[i].index + 1 + k, tests[i].ents[k], 0, 0, NULL};
    hs_raft_msg m = msg(HS_RAFT_MSG_APP, 2, 1, 2);
    m.index = tests[i].index;
    m.log_term = tests[i].term;
    m.entries = e;
    m.n_entries = (uint32_t)tests[i].n;
    step(&net, m);
    assert_u64(hs_raft_last_index(r), tests[i].wn);
    for (size_t k = 0; k < tests[i].wn; k++) assert_u64(hs_raft_term_at(r, k + 1), tests[i].wlog[k]);
    if (tests[i].wpersist_first) {
      assert_u64(t->persist_entries_calls, calls + 1);
      assert_u64(t->persisted_last, tests[i].wn);
    } else {
      assert_u64(t->persist_entries_calls, calls);
    }
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* Figure 7: a leader of term 8 brings each of the followers (a)-(f) to a log identical to its
 * own, deleting what conflicts and filling what is missing. Node 3 exists only as a vote. */
static void test_leader_sync_follower_log(void **s) {
  (void)s;
  const uint64_t lead[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  struct {
    size_t n;
    uint64_t t[12];
  } followers[] = {
      {9, {1, 1, 1, 4, 4, 5, 5, 6, 6}},                   /* (a) */
      {4, {1, 1, 1, 4}},                                  /* (b) */
      {11, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}},            /* (c) */
      {12, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}},         /* (d) */
      {7, {1, 1, 1, 4, 4, 4, 4}},                         /* (e) */
      {11, {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}},            /* (f) */
  };
  for (size_t i = 0; i < 6; i++) {
    tnet net;
    topts o = topts_paper();
    tnet_init(&net);
    hs_raft *l = tn_add(&net, 1, IDS, 3, &o);
    hs_raft *f = tn_add(&net, 2, IDS, 3, &o);
    tn_load_terms(l, lead, 10);
    hs_raft_load_state(l, 8, HS_RAFT_NONE);
    tn_load_terms(f, followers[i].t, followers[i].n);
    hs_raft_load_state(f, 7, HS_RAFT_NONE);
    tn_start(&net, 1);
    tn_start(&net, 2);
    hs_raft_campaign(l, net.now);
    tq_deliver_all(&net);
    if (hs_raft_role_of(l) != HS_RAFT_LEADER) grant_vote(&net, 3, 1);
    assert_role(l, HS_RAFT_LEADER);
    tn_propose(&net, 1, "", 1, NULL);
    tq_deliver_all(&net);
    if (!tn_logs_equal(&net, 1, 2)) fail_msg("follower (%c) did not converge", (char)('a' + i));
    assert_u64(hs_raft_commit_index(f), hs_raft_last_index(l));
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* ---- 5.4: safety ---------------------------------------------------------------------------------- */

/* RequestVote carries the candidate's last log index and term, to every other server. */
static void test_vote_request(void **s) {
  (void)s;
  struct {
    size_t n;
    uint64_t terms[2];
    uint64_t wterm;
  } tests[] = {{1, {1}, 2}, {2, {1, 2}, 3}};
  for (size_t i = 0; i < 2; i++) {
    tnet net;
    hs_raft *r = solo(&net, 3);
    hs_raft_entry e[2];
    for (size_t k = 0; k < tests[i].n; k++) e[k] = (hs_raft_entry){k + 1, tests[i].terms[k], 0, 0, NULL};
    hs_raft_msg m = msg(HS_RAFT_MSG_APP, 2, 1, tests[i].wterm - 1);
    m.entries = e;
    m.n_entries = (uint32_t)tests[i].n;
    step(&net, m);
    tq_clear(&net);
    tnet_advance_to(&net, hs_raft_deadline(r, HS_RAFT_TIMER_ELECTION));
    assert_u64(net.q.len, 2);
    for (uint32_t to = 2; to <= 3; to++) {
      tdec d = {0};
      tq_expect(&net, 1, to, HS_RAFT_MSG_VOTE, &d);
      assert_u64(d.m.term, tests[i].wterm);
      assert_u64(d.m.index, tests[i].n);
      assert_u64(d.m.log_term, tests[i].terms[tests[i].n - 1]);
      tdec_free(&d);
    }
    tnet_free(&net);
  }
}

/* A voter denies its vote if its own log is more up-to-date than the candidate's. */
static void test_voter(void **s) {
  (void)s;
  struct {
    size_t n;
    uint64_t terms[2];
    uint64_t log_term, index;
    bool reject;
  } tests[] = {
      {1, {1}, 1, 1, false},    {1, {1}, 1, 2, false},    {2, {1, 1}, 1, 1, true},
      {1, {1}, 2, 1, false},    {1, {1}, 2, 2, false},    {2, {1, 1}, 2, 1, false},
      {1, {2}, 1, 1, true},     {1, {2}, 1, 2, true},     {2, {2, 2}, 1, 1, true},
      {2, {1, 1}, 1, 1, true},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    tnet net;
    topts o = topts_paper();
    tnet_init(&net);
    hs_raft *r = tn_add(&net, 1, IDS, 2, &o);
    tn_load_terms(r, tests[i].terms, tests[i].n);
    tn_start(&net, 1);
    hs_raft_msg m = msg(HS_RAFT_MSG_VOTE, 2, 1, 3);
    m.log_term = tests[i].log_term;
    m.index = tests[i].index;
    step(&net, m);
    assert_u64(net.q.len, 1);
    tdec d = {0};
    tq_expect(&net, 1, 2, HS_RAFT_MSG_VOTE_RESP, &d);
    if (d.m.reject != tests[i].reject) fail_msg("#%zu: reject %d", i, d.m.reject);
    tdec_free(&d);
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* Only entries of the leader's current term are committed by counting replicas. */
static void test_leader_only_commits_log_from_current_term(void **s) {
  (void)s;
  struct {
    uint64_t index, wcommit;
  } tests[] = {{1, 0}, {2, 0}, {3, 3}};
  for (size_t i = 0; i < 3; i++) {
    tnet net;
    topts o = topts_paper();
    tnet_init(&net);
    hs_raft *r = tn_add(&net, 1, IDS, 2, &o);
    tn_load_terms(r, (const uint64_t[]){1, 2}, 2);
    hs_raft_load_state(r, 2, HS_RAFT_NONE);
    tn_start(&net, 1);
    make_leader(&net); /* term 3, no-op at index 3 */
    tq_clear(&net);
    tn_propose(&net, 1, "x", 1, NULL); /* index 4 */
    hs_raft_msg m = msg(HS_RAFT_MSG_APP_RESP, 2, 1, 3);
    m.index = tests[i].index;
    step(&net, m);
    assert_u64(hs_raft_commit_index(r), tests[i].wcommit);
    tnet_free(&net);
  }
}

/*
 * Figure 8. Five servers. S1 leads term 4 (votes of S2, S3, S4) with log [1, 2] + its no-op [4]
 * at index 3; S5 holds [1, 3]. S1 replicates index 2 (term 2) to S3, so S1, S2 and S3 - a
 * majority - hold it, but it is of an earlier term: S1 must not commit it by counting. Then S1
 * crashes; S5 wins term 5 with S3 and S4 and overwrites index 2 everywhere. Nobody ever
 * applied the term-2 entry.
 */
static void test_figure8_earlier_term_not_committed_by_counting(void **s) {
  (void)s;
  tnet net;
  topts o = topts_paper();
  o.max_entries = 1;
  tnet_init(&net);
  const uint64_t t12[] = {1, 2}, t1[] = {1}, t13[] = {1, 3};
  const uint64_t *logs[] = {NULL, t12, t12, t1, t1, t13};
  const size_t lens[] = {0, 2, 2, 1, 1, 2};
  for (uint32_t id = 1; id <= 5; id++) {
    hs_raft *r = tn_add(&net, id, IDS, 5, &o);
    tn_load_terms(r, logs[id], lens[id]);
    hs_raft_load_state(r, 3, HS_RAFT_NONE);
    tn_start(&net, id);
  }
  hs_raft *s1 = R(&net, 1), *s5 = R(&net, 5);
  tnet_isolate(&net, 5, true);
  hs_raft_campaign(s1, net.now);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_VOTE, 100);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_VOTE_RESP, 100);
  assert_role(s1, HS_RAFT_LEADER);
  assert_u64(hs_raft_term(s1), 4);

  /* S2 gets the no-op; S3 gets index 2 only; S4 nothing. */
  net.cut[1][4] = true;
  tq_deliver_matching(&net, 1, 2, HS_RAFT_MSG_APP, 1);
  tq_deliver_matching(&net, 2, 1, HS_RAFT_MSG_APP_RESP, 1);
  tq_deliver_matching(&net, 1, 3, HS_RAFT_MSG_APP, 1);      /* prev (2, 2): rejected */
  tq_deliver_matching(&net, 3, 1, HS_RAFT_MSG_APP_RESP, 1); /* S1 backs up to index 2 */
  tq_deliver_matching(&net, 1, 3, HS_RAFT_MSG_APP, 1);      /* [2: term 2] */
  tq_deliver_matching(&net, 3, 1, HS_RAFT_MSG_APP_RESP, 1); /* match 2 */
  assert_u64(hs_raft_term_at(R(&net, 3), 2), 2);
  assert_u64(hs_raft_last_index(R(&net, 3)), 2);
  assert_u64(hs_raft_last_index(R(&net, 2)), 3);
  /* index 2 is on S1, S2, S3: a majority, but of term 2 */
  assert_u64(hs_raft_commit_index(s1), 0);

  hs_raft_crash(s1);
  tq_clear(&net);
  tnet_isolate(&net, 5, false);
  net.cut[1][4] = false;
  hs_raft_campaign(s5, net.now); /* term 4: everyone already voted in term 4 */
  tq_deliver_all(&net);
  assert_role(s5, HS_RAFT_FOLLOWER);
  hs_raft_campaign(s5, net.now); /* term 5: S3 and S4 grant (their last term 2 and 1 < 3) */
  tq_deliver_all(&net);
  assert_role(s5, HS_RAFT_LEADER);
  assert_u64(hs_raft_term(s5), 5);
  for (uint32_t id = 2; id <= 5; id++) assert_u64(hs_raft_term_at(R(&net, id), 2), 3);
  assert_rc(hs_raft_restart(s1, net.now), HS_OK);
  tnet_advance(&net, 10 * MS); /* a heartbeat round reaches S1 */
  tq_deliver_all(&net);
  assert_u64(hs_raft_term_at(s1, 2), 3);
  for (uint32_t id = 1; id <= 5; id++) {
    const tapplied *a = tn_applied_at(&net, id, 2);
    if (a) assert_u64(a->term, 3);
    assert_true(tn_logs_equal(&net, id, 5));
  }
  tnet_check(&net);
  tnet_free(&net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_follower_update_term_from_message),
      cmocka_unit_test(test_candidate_update_term_from_message),
      cmocka_unit_test(test_leader_update_term_from_message),
      cmocka_unit_test(test_reject_stale_term_message),
      cmocka_unit_test(test_start_as_follower),
      cmocka_unit_test(test_leader_bcast_beat),
      cmocka_unit_test(test_follower_start_election),
      cmocka_unit_test(test_candidate_start_new_election),
      cmocka_unit_test(test_leader_election_in_one_round_rpc),
      cmocka_unit_test(test_follower_vote),
      cmocka_unit_test(test_candidate_fallback),
      cmocka_unit_test(test_follower_election_timeout_randomized),
      cmocka_unit_test(test_candidate_election_timeout_randomized),
      cmocka_unit_test(test_followers_election_timeout_nonconflict),
      cmocka_unit_test(test_candidates_election_timeout_nonconflict),
      cmocka_unit_test(test_leader_start_replication),
      cmocka_unit_test(test_leader_commit_entry),
      cmocka_unit_test(test_leader_acknowledge_commit),
      cmocka_unit_test(test_leader_commit_preceding_entries),
      cmocka_unit_test(test_follower_commit_entry),
      cmocka_unit_test(test_follower_commit_stops_at_last_new_entry),
      cmocka_unit_test(test_follower_check_msg_app),
      cmocka_unit_test(test_follower_append_entries),
      cmocka_unit_test(test_leader_sync_follower_log),
      cmocka_unit_test(test_vote_request),
      cmocka_unit_test(test_voter),
      cmocka_unit_test(test_leader_only_commits_log_from_current_term),
      cmocka_unit_test(test_figure8_earlier_term_not_committed_by_counting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
