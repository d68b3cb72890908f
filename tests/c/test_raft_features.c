/*
 * test_raft_features.c - what a production Raft adds to the paper's core: single-node clusters,
 * pre-vote, check-quorum and leader stickiness, fast log backtracking, lost proposals, ReadIndex,
 * snapshots and InstallSnapshot, membership changes, crash and restart, duplicated and reordered
 * messages, timer re-arming, the codecs and the API's errors.
 *
 * White-box where it helps: the progress table is read through hs_raft_internal.h.
 */
#include "test_raft_harness.h"

#include "raft/hs_raft_internal.h"

static const uint32_t IDS[] = {1, 2, 3, 4, 5};

static void elect(tnet *net, uint32_t id) {
  tnet_elect(net, id);
  tq_deliver_all(net);
}

/* Runs until every live node in ids has applied at least index (bounded). */
static void run_until_applied(tnet *net, const uint32_t *ids, size_t n, uint64_t index) {
  for (int round = 0; round < 2000; round++) {
    bool done = true;
    for (size_t i = 0; i < n; i++)
      if (hs_raft_applied_index(R(net, ids[i])) < index) done = false;
    if (done) return;
    tq_deliver_all(net);
    tnet_advance(net, 5 * MS);
  }
  fail_msg("index %llu not applied everywhere", (unsigned long long)index);
}

/* ---- Single node --------------------------------------------------------------------------------- */

static void test_single_node_cluster_commits(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  hs_raft *r = tn_add(&net, 1, IDS, 1, &o);
  tn_start(&net, 1);
  assert_rc(tn_propose(&net, 1, "x", 1, NULL), HS_RAFT_ENOTLEADER);
  tnet_advance(&net, 200 * MS); /* its election timeout: pre-vote, vote, leader */
  assert_role(r, HS_RAFT_LEADER);
  assert_u64(hs_raft_commit_index(r), 1); /* the no-op */
  uint64_t index = 0;
  assert_rc(tn_propose(&net, 1, "hello", 42, &index), HS_OK);
  assert_u64(index, 2);
  assert_u64(hs_raft_commit_index(r), 2);
  const tapplied *a = tn_applied_at(&net, 1, 2);
  assert_non_null(a);
  assert_true(a->mine);
  assert_u64(a->tag, 42);
  /* a read is served at once */
  assert_rc(hs_raft_read_index(r, net.now, 9), HS_OK);
  assert_u64(tn(&net, 1)->n_reads, 1);
  assert_u64(tn(&net, 1)->reads[0].index, 2);
  assert_rc(tn(&net, 1)->reads[0].status, HS_OK);
  assert_u64(net.q.len, 0);
  hs_raft_stats st;
  hs_raft_get_stats(r, &st);
  assert_u64(st.elections_won, 1);
  assert_u64(st.elections_started, 1);
  assert_u64(st.pre_votes_started, 1);
  assert_u64(st.votes_received, 1);
  assert_u64(st.commands_committed, 1);
  assert_u64(st.entries_applied, 2);
  assert_u64(st.messages_sent, 0);
  tnet_check(&net);
  tnet_free(&net);
}

/* ---- Pre-vote, check-quorum, stickiness -------------------------------------------------------------- */

/* A partitioned follower keeps timing out, but with pre-vote it never takes a new term, so when
 * it rejoins the leader keeps its term. Without pre-vote (and without check-quorum) its term
 * runs away and its return deposes the leader. */
static void test_prevote_prevents_disruption(void **s) {
  (void)s;
  for (int pre = 1; pre >= 0; pre--) {
    tnet net;
    tnet_init(&net);
    topts o = pre ? topts_full() : topts_paper();
    tn_cluster(&net, 3, &o);
    elect(&net, 1);
    uint64_t term = hs_raft_term(R(&net, 1));
    tnet_isolate(&net, 3, true);
    tnet_run(&net, 2000 * MS, 5 * MS);
    hs_raft_stats st;
    hs_raft_get_stats(R(&net, 3), &st);
    assert_true(st.pre_votes_started + st.elections_started >= 5);
    if (pre) {
      assert_u64(hs_raft_term(R(&net, 3)), term);
      assert_u64(st.elections_started, 0);
    } else {
      assert_true(hs_raft_term(R(&net, 3)) > term + 5);
    }
    tnet_isolate(&net, 3, false);
    tnet_run(&net, 1000 * MS, 5 * MS);
    uint32_t leader = tnet_leader(&net);
    assert_true(leader != 0);
    if (pre) {
      assert_u64(leader, 1);
      for (uint32_t id = 1; id <= 3; id++) assert_u64(hs_raft_term(R(&net, id)), term);
    } else {
      assert_true(hs_raft_term(R(&net, leader)) > term + 5);
    }
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* An isolated leader steps down after an election timeout without hearing from a quorum;
 * without check-quorum it would lead forever. */
static void test_check_quorum_isolated_leader_steps_down(void **s) {
  (void)s;
  for (int cq = 1; cq >= 0; cq--) {
    tnet net;
    tnet_init(&net);
    topts o = cq ? topts_full() : topts_paper();
    tn_cluster(&net, 3, &o);
    elect(&net, 1);
    tnet_isolate(&net, 1, true);
    uint64_t reads = 0;
    assert_rc(hs_raft_read_index(R(&net, 1), net.now, 5), HS_OK);
    for (int i = 0; i < 45; i++) { /* 225 ms: the period in progress counted the election's answers */
      tq_deliver_all(&net);
      tnet_advance(&net, 5 * MS);
    }
    reads = tn(&net, 1)->n_reads;
    if (cq) {
      assert_role(R(&net, 1), HS_RAFT_FOLLOWER);
      assert_u64(hs_raft_leader(R(&net, 1)), HS_RAFT_NONE);
      assert_u64(reads, 1); /* the pending read failed, it was never confirmed */
      assert_rc(tn(&net, 1)->reads[0].status, HS_RAFT_ELEADERSHIP);
      /* and it re-armed its election timer */
      assert_true(hs_raft_deadline(R(&net, 1), HS_RAFT_TIMER_ELECTION) != HS_TIME_NEVER);
      assert_true(hs_raft_deadline(R(&net, 1), HS_RAFT_TIMER_HEARTBEAT) == HS_TIME_NEVER);
    } else {
      assert_role(R(&net, 1), HS_RAFT_LEADER);
      assert_u64(reads, 0); /* never confirmed: no quorum answers */
    }
    tnet_free(&net);
  }
}

/* A follower that heard from its leader within the minimum election timeout ignores a vote
 * request, even of a higher term: no term change, no answer (thesis 4.2.3). */
static void test_leader_stickiness(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  uint64_t term = hs_raft_term(R(&net, 2));
  hs_raft_msg v = {.type = HS_RAFT_MSG_VOTE, .from = 3, .to = 2, .term = term + 1, .index = 100, .log_term = term};
  assert_rc(tn_step(&net, &v), HS_OK);
  assert_u64(hs_raft_term(R(&net, 2)), term);
  assert_u64(tq_count(&net, 2, 3, -1), 0);
  /* once the leader is silent for the minimum election timeout, it is considered */
  tnet_isolate(&net, 1, true);
  tnet_advance(&net, 100 * MS);
  tq_clear(&net);
  v.term = hs_raft_term(R(&net, 2)) + 1;
  if (hs_raft_role_of(R(&net, 2)) == HS_RAFT_FOLLOWER) {
    assert_rc(tn_step(&net, &v), HS_OK);
    assert_u64(hs_raft_term(R(&net, 2)), v.term);
    assert_u64(tq_count(&net, 2, 3, HS_RAFT_MSG_VOTE_RESP), 1);
  }
  tnet_free(&net);
}

/* ---- Replication details --------------------------------------------------------------------------- */

/* A follower with 200 entries of a stale term: the conflict hint lets the leader skip the whole
 * term at once, so a handful of round trips (not 200) bring it in line. */
static void test_fast_backup_long_divergent_log(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  hs_raft *l = tn_add(&net, 1, IDS, 3, &o);
  hs_raft *f = tn_add(&net, 2, IDS, 3, &o);
  hs_raft_entry e[64];
  uint64_t t1[1] = {1};
  tn_load_terms(l, t1, 1);
  tn_load_terms(f, t1, 1);
  /* leader: 40 entries of term 3; follower: 200 entries of term 2 */
  for (uint64_t k = 0; k < 40; k++) e[k % 64] = (hs_raft_entry){k + 2, 3, 0, 0, NULL};
  assert_rc(hs_raft_load_entries(l, e, 40), HS_OK);
  for (uint64_t k = 0; k < 200; k += 50) {
    for (uint64_t j = 0; j < 50; j++) e[j] = (hs_raft_entry){k + j + 2, 2, 0, 0, NULL};
    assert_rc(hs_raft_load_entries(f, e, 50), HS_OK);
  }
  hs_raft_load_state(l, 3, HS_RAFT_NONE);
  hs_raft_load_state(f, 3, HS_RAFT_NONE);
  tn_start(&net, 1);
  tn_start(&net, 2);
  hs_raft_campaign(l, net.now);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_VOTE, 10);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_VOTE_RESP, 10);
  assert_role(l, HS_RAFT_LEADER); /* its last term 3 beats the follower's 2 */
  size_t rejections = 0;
  for (int guard = 0; guard < 1000 && net.q.len; guard++) {
    for (size_t i = 0; i < net.q.len; i++)
      if (net.q.m[i].type == HS_RAFT_MSG_APP_RESP && net.q.m[i].to == 1) {
        tdec d = {0};
        tq_decode(&net.q.m[i], &d);
        rejections += d.m.reject;
        d.buf = NULL; /* still owned by the queue */
      }
    tq_deliver_at(&net, 0);
  }
  assert_true(tn_logs_equal(&net, 1, 2));
  assert_u64(hs_raft_last_index(f), 42);
  if (rejections > 2) fail_msg("%zu rejections", rejections);
  tnet_check(&net);
  tnet_free(&net);
}

/* Duplicated AppendEntries are idempotent; reordered acknowledgements never move match_index
 * backwards; a stale rejection delivered late does not rewind next_index. */
static void test_duplicate_and_reordered_messages(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  o.max_entries = 1;
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  hs_raft *l = R(&net, 1), *f = R(&net, 2);
  /* three pipelined entries to node 2, each duplicated, delivered in reverse */
  net.cut[1][3] = true;
  for (int i = 0; i < 3; i++) tn_propose(&net, 1, "abc", i, NULL);
  size_t n = net.q.len;
  for (size_t i = 0; i < n; i++) tq_duplicate(&net, i);
  tq_reverse(&net);
  tq_deliver_matching(&net, 1, 2, HS_RAFT_MSG_APP, 100);
  /* out of order: gaps were rejected, in-order ones accepted; the log is consistent */
  assert_true(hs_raft_last_index(f) <= hs_raft_last_index(l));
  uint64_t last_f = hs_raft_last_index(f);
  /* acknowledgements in reverse order */
  tq_reverse(&net);
  hs_raft_peer *p = hs_raft_peer_find(l, 2);
  uint64_t prev_match = p->match;
  while (tq_count(&net, 2, 1, HS_RAFT_MSG_APP_RESP)) {
    tq_deliver_matching(&net, 2, 1, HS_RAFT_MSG_APP_RESP, 1);
    p = hs_raft_peer_find(l, 2);
    assert_true(p->match >= prev_match);
    prev_match = p->match;
  }
  tq_deliver_all(&net);
  assert_true(tn_logs_equal(&net, 1, 2));
  assert_true(hs_raft_last_index(f) >= last_f);
  assert_u64(hs_raft_commit_index(l), hs_raft_last_index(l));
  /* a duplicate of an old AppendEntries changes nothing */
  uint64_t calls = tn(&net, 2)->persist_entries_calls;
  hs_raft_entry e = {2, hs_raft_term(l), HS_RAFT_ENTRY_NORMAL, 3, (const uint8_t *)"abc"};
  hs_raft_msg m = {.type = HS_RAFT_MSG_APP, .from = 1, .to = 2, .term = hs_raft_term(l), .index = 1,
                   .log_term = hs_raft_term(l), .entries = &e, .n_entries = 1};
  assert_rc(tn_step(&net, &m), HS_OK);
  assert_u64(tn(&net, 2)->persist_entries_calls, calls);
  assert_true(tn_logs_equal(&net, 1, 2));
  /* a stale rejection (of index 1, long matched) is ignored */
  uint64_t next = hs_raft_peer_find(l, 2)->next;
  hs_raft_msg rej = {.type = HS_RAFT_MSG_APP_RESP, .from = 2, .to = 1, .term = hs_raft_term(l), .reject = true,
                     .index = 1, .hint_index = 1};
  assert_rc(tn_step(&net, &rej), HS_OK);
  assert_u64(hs_raft_peer_find(l, 2)->next, next);
  assert_u64(hs_raft_peer_find(l, 2)->mode, HS_RAFT_PR_REPLICATE);
  tnet_check(&net);
  tnet_free(&net);
}

/* A proposal is sent at once, batched with the ones waiting behind a full pipeline. */
static void test_replication_sends_on_propose_and_batches(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  o.max_inflight = 2;
  o.max_entries = 8;
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  tn_propose(&net, 1, "a", 1, NULL);
  assert_u64(tq_count(&net, 1, 0, HS_RAFT_MSG_APP), 2); /* sent right away, no heartbeat needed */
  for (int i = 0; i < 20; i++) tn_propose(&net, 1, "b", 2 + i, NULL);
  /* pipeline of 2 per follower: 1 + 1 more message each, then paused */
  assert_u64(tq_count(&net, 1, 2, HS_RAFT_MSG_APP), 2);
  tq_deliver_all(&net);
  assert_u64(hs_raft_commit_index(R(&net, 1)), 22);
  hs_raft_stats st;
  hs_raft_get_stats(R(&net, 1), &st);
  /* 22 entries to 2 followers in batches of up to 8: far fewer than 44 AppendEntries */
  assert_true(st.messages_sent < 30);
  tnet_free(&net);
}

/* A lost AppendEntries in the pipeline is detected at the next heartbeat answer. */
static void test_lost_append_recovered_by_heartbeat(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_paper();
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  net.cut[1][3] = true; /* the entry, and the commit notice after it, are lost */
  tn_propose(&net, 1, "lost", 1, NULL);
  tq_deliver_all(&net);
  assert_u64(hs_raft_commit_index(R(&net, 1)), 2);
  assert_u64(hs_raft_last_index(R(&net, 3)), 1);
  net.cut[1][3] = false;
  tnet_run(&net, 40 * MS, 5 * MS);
  assert_u64(hs_raft_last_index(R(&net, 3)), 2);
  assert_u64(hs_raft_commit_index(R(&net, 3)), 2);
  tnet_free(&net);
}

/* ---- Clients --------------------------------------------------------------------------------------- */

/* A proposal accepted by a leader that is then cut off is overwritten by the new leader: it is
 * reported lost (truncated), never applied as its own. With drop_proposals_on_step_down it is
 * reported at step-down instead. */
static void test_proposal_lost_to_new_leader(void **s) {
  (void)s;
  for (int drop = 0; drop <= 1; drop++) {
    tnet net;
    tnet_init(&net);
    topts o = topts_full();
    o.drop_on_step_down = drop;
    tn_cluster(&net, 3, &o);
    elect(&net, 1);
    tnet_isolate(&net, 1, true);
    uint64_t idx = 0;
    assert_rc(tn_propose(&net, 1, "doomed", 77, &idx), HS_OK);
    assert_u64(tn(&net, 1)->n_lost, 0);
    tnet_run(&net, 600 * MS, 5 * MS); /* 2 and 3 elect a new leader and commit its no-op */
    uint32_t nl = tnet_leader(&net);
    assert_true(nl == 2 || nl == 3);
    assert_rc(tn_propose(&net, nl, "winner", 1, NULL), HS_OK);
    tq_deliver_all(&net);
    if (drop) {
      assert_u64(tn(&net, 1)->n_lost, 1);
      assert_rc(tn(&net, 1)->lost[0].reason, HS_RAFT_ELEADERSHIP);
    }
    tnet_isolate(&net, 1, false);
    tnet_run(&net, 300 * MS, 5 * MS);
    tnode *n1 = tn(&net, 1);
    assert_u64(n1->n_lost, 1);
    assert_u64(n1->lost[0].tag, 77);
    assert_u64(n1->lost[0].index, idx);
    assert_rc(n1->lost[0].reason, drop ? HS_RAFT_ELEADERSHIP : HS_RAFT_ETRUNCATED);
    for (size_t i = 0; i < n1->n_applied; i++) assert_false(n1->applied[i].mine);
    assert_true(tn_logs_equal(&net, 1, nl));
    tnet_check(&net);
    tnet_free(&net);
  }
}

/* Proposals on a follower are refused with the leader as a hint. */
static void test_propose_on_follower_gives_leader_hint(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  elect(&net, 2);
  assert_rc(tn_propose(&net, 1, "x", 1, NULL), HS_RAFT_ENOTLEADER);
  assert_u64(hs_raft_leader(R(&net, 1)), 2);
  assert_rc(hs_raft_read_index(R(&net, 3), net.now, 1), HS_RAFT_ENOTLEADER);
  assert_rc(hs_raft_propose_conf(R(&net, 3), net.now, HS_RAFT_CONF_REMOVE, 1, 1, NULL), HS_RAFT_ENOTLEADER);
  tnet_free(&net);
}

/* ReadIndex: served only once an entry of the leader's term is committed AND a heartbeat round
 * started after the request was acknowledged by a quorum, and the state machine caught up. */
static void test_read_index(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  hs_raft *l = R(&net, 1);
  hs_raft_campaign(l, net.now);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_PRE_VOTE, 10);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_PRE_VOTE_RESP, 10);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_VOTE, 10);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_VOTE_RESP, 10);
  assert_role(l, HS_RAFT_LEADER);
  tnode *n1 = tn(&net, 1);
  assert_rc(hs_raft_read_index(l, net.now, 42), HS_OK);
  assert_u64(tq_count(&net, 1, 0, HS_RAFT_MSG_HEARTBEAT), 2); /* a round right away */
  /* the round confirms leadership, but the no-op is not committed yet */
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_HEARTBEAT, 10);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_HEARTBEAT_RESP, 10);
  assert_u64(n1->n_reads, 0);
  /* the no-op commits: now it is served, at the commit index */
  tq_deliver_all(&net);
  assert_u64(n1->n_reads, 1);
  assert_u64(n1->reads[0].id, 42);
  assert_u64(n1->reads[0].index, 1);
  assert_rc(n1->reads[0].status, HS_OK);

  /* a later read: the commit index includes a new write; no quorum answer, no read, even
   * when the state machine moves on (more writes commit through AppendEntries) */
  tn_propose(&net, 1, "w", 1, NULL);
  tq_deliver_all(&net);
  assert_rc(hs_raft_read_index(l, net.now, 43), HS_OK);
  tdec d = {0};
  tq_expect(&net, 1, 2, HS_RAFT_MSG_HEARTBEAT, &d);
  tq_expect(&net, 1, 3, HS_RAFT_MSG_HEARTBEAT, &d);
  tdec_free(&d);
  tn_propose(&net, 1, "w2", 2, NULL);
  tq_deliver_all(&net);
  assert_u64(hs_raft_applied_index(l), 3);
  assert_u64(n1->n_reads, 1);
  /* an old round's answer does not confirm it */
  hs_raft_msg old = {.type = HS_RAFT_MSG_HEARTBEAT_RESP, .from = 2, .to = 1, .term = hs_raft_term(l), .context = 1};
  tn_step(&net, &old);
  assert_u64(n1->n_reads, 1);
  /* a current one does (leader + node 2 = quorum) */
  old.context = 2;
  tn_step(&net, &old);
  assert_u64(n1->n_reads, 2);
  assert_u64(n1->reads[1].index, 2);

  /* a read pending when the leader learns of a higher term fails */
  assert_rc(hs_raft_read_index(l, net.now, 44), HS_OK);
  tq_clear(&net);
  hs_raft_msg higher = {.type = HS_RAFT_MSG_APP_RESP, .from = 3, .to = 1, .term = hs_raft_term(l) + 1};
  tn_step(&net, &higher);
  assert_role(l, HS_RAFT_FOLLOWER);
  assert_u64(n1->n_reads, 3);
  assert_rc(n1->reads[2].status, HS_RAFT_ELEADERSHIP);
  tnet_check(&net);
  tnet_free(&net);
}

/* ---- Snapshots ----------------------------------------------------------------------------------- */

/* Log compaction past the threshold, and a follower that fell behind the compacted prefix is
 * brought up with InstallSnapshot, then ordinary AppendEntries. */
static void test_snapshot_catches_up_far_behind_follower(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  o.snapshot_threshold = 10;
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  tnet_isolate(&net, 3, true);
  char cmd[16];
  for (int i = 0; i < 50; i++) {
    snprintf(cmd, sizeof cmd, "cmd%d", i);
    assert_rc(tn_propose(&net, 1, cmd, i, NULL), HS_OK);
    tq_deliver_all(&net);
  }
  hs_raft *l = R(&net, 1), *f = R(&net, 3);
  assert_u64(hs_raft_commit_index(l), 51);
  assert_true(hs_raft_first_index(l) > 40); /* compacted */
  assert_true(tn(&net, 1)->snapshots_taken >= 4);
  assert_u64(hs_raft_last_index(f), 1);
  tnet_isolate(&net, 3, false);
  tnet_run(&net, 100 * MS, 5 * MS);
  hs_raft_stats st;
  hs_raft_get_stats(f, &st);
  assert_u64(st.snapshots_installed, 1);
  assert_u64(tn(&net, 3)->restores, 1);
  tn_propose(&net, 1, "after", 99, NULL);
  tnet_run(&net, 50 * MS, 5 * MS);
  assert_u64(hs_raft_applied_index(f), 52);
  assert_u64(tn(&net, 3)->sm_hash, tn(&net, 1)->sm_hash);
  assert_u64(tn(&net, 3)->sm_count, 51);
  /* the follower's snapshot carries the configuration */
  assert_u64(hs_raft_conf_get(f, NULL)->n_voters, 3);
  tnet_check(&net);
  tnet_free(&net);
}

/* ---- Membership --------------------------------------------------------------------------------------- */

/* Node 4 joins as a learner, catches up, is promoted; node 2 is removed; then the leader removes
 * itself and steps down once that is committed; commits continue throughout. One change at a
 * time: a second one is refused while the first is uncommitted. */
static void test_membership_add_then_remove(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  o.snapshot_threshold = 20;
  tn_cluster(&net, 3, &o);
  tn_add(&net, 4, IDS, 3, &o); /* bootstrap set of the cluster: not a member */
  tn_start(&net, 4);
  hs_raft *l = R(&net, 1);
  /* a new leader cannot change membership before its no-op commits */
  hs_raft_campaign(l, net.now);
  for (int i = 0; i < 2; i++) {
    tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_PRE_VOTE, 10);
    tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_PRE_VOTE_RESP, 10);
    tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_VOTE, 10);
    tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_VOTE_RESP, 10);
  }
  assert_role(l, HS_RAFT_LEADER);
  assert_rc(hs_raft_propose_conf(l, net.now, HS_RAFT_CONF_ADD_LEARNER, 4, 100, NULL), HS_RAFT_EBUSY);
  tq_deliver_all(&net);
  for (int i = 0; i < 30; i++) {
    char cmd[16];
    snprintf(cmd, sizeof cmd, "a%d", i);
    tn_propose(&net, 1, cmd, i, NULL);
  }
  tq_deliver_all(&net);

  uint64_t idx;
  assert_rc(hs_raft_propose_conf(l, net.now, HS_RAFT_CONF_ADD_LEARNER, 4, 100, &idx), HS_OK);
  assert_true(hs_raft_conf_is_learner(hs_raft_conf_get(l, NULL), 4)); /* in effect at once */
  assert_rc(hs_raft_propose_conf(l, net.now, HS_RAFT_CONF_ADD_VOTER, 4, 101, NULL), HS_RAFT_EBUSY);
  assert_rc(hs_raft_propose_conf(l, net.now, HS_RAFT_CONF_ADD_VOTER, 1, 101, NULL), HS_RAFT_EBUSY);
  tnet_run(&net, 50 * MS, 5 * MS);
  assert_true(tn_applied_at(&net, 1, idx)->mine);
  assert_u64(hs_raft_applied_index(R(&net, 4)), hs_raft_applied_index(l)); /* caught up (snapshot) */
  assert_true(hs_raft_conf_is_learner(hs_raft_conf_get(R(&net, 4), NULL), 4));
  assert_rc(hs_raft_propose_conf(l, net.now, HS_RAFT_CONF_ADD_VOTER, 1, 0, NULL), HS_EINVAL);

  assert_rc(hs_raft_propose_conf(l, net.now, HS_RAFT_CONF_ADD_VOTER, 4, 101, &idx), HS_OK);
  tnet_run(&net, 50 * MS, 5 * MS);
  assert_u64(hs_raft_conf_get(R(&net, 4), NULL)->n_voters, 4);
  /* quorum is 3 of 4: with node 3 cut off, 1 + 2 + 4 still commit */
  tnet_isolate(&net, 3, true);
  uint64_t w;
  tn_propose(&net, 1, "four", 1, &w);
  tnet_run(&net, 20 * MS, 5 * MS);
  assert_true(hs_raft_commit_index(l) >= w);
  tnet_isolate(&net, 3, false);
  tnet_run(&net, 50 * MS, 5 * MS);

  assert_rc(hs_raft_propose_conf(l, net.now, HS_RAFT_CONF_REMOVE, 2, 102, &idx), HS_OK);
  tnet_run(&net, 50 * MS, 5 * MS);
  const hs_raft_conf *c = hs_raft_conf_get(l, NULL);
  assert_u64(c->n_voters, 3);
  assert_false(hs_raft_conf_is_voter(c, 2));
  /* node 2 no longer counts: with it cut off, 1 + 3 + 4 commit */
  tnet_isolate(&net, 2, true);
  tn_propose(&net, 1, "three", 1, &w);
  tnet_run(&net, 20 * MS, 5 * MS);
  assert_true(hs_raft_commit_index(l) >= w);

  /* the leader removes itself: it keeps leading until the change commits, then steps down */
  assert_rc(hs_raft_propose_conf(l, net.now, HS_RAFT_CONF_REMOVE, 1, 103, &idx), HS_OK);
  assert_role(l, HS_RAFT_LEADER);
  tq_deliver_all(&net);
  assert_role(l, HS_RAFT_FOLLOWER);
  assert_true(hs_raft_commit_index(l) >= idx);
  tnet_run(&net, 600 * MS, 5 * MS);
  uint32_t nl = tnet_leader(&net);
  assert_true(nl == 3 || nl == 4);
  tn_propose(&net, nl, "after", 1, &w);
  const uint32_t members[] = {3, 4};
  run_until_applied(&net, members, 2, w);
  /* the removed nodes never campaign: not voters in their own configuration */
  hs_raft_stats st;
  hs_raft_get_stats(l, &st);
  uint64_t started = st.elections_started + st.pre_votes_started;
  tnet_run(&net, 600 * MS, 5 * MS);
  hs_raft_get_stats(l, &st);
  assert_u64(st.elections_started + st.pre_votes_started, started);
  assert_u64(tn(&net, 3)->sm_hash, tn(&net, 4)->sm_hash);
  tnet_check(&net);
  tnet_free(&net);
}

/* ---- Crash and restart ------------------------------------------------------------------------------ */

/* Term, vote and log survive a crash; the commit index, the role and the state machine do not
 * (it is restored from the snapshot, here the empty state) and the node catches up. A crashed
 * leader's pending proposals and reads are failed. */
static void test_crash_restart_keeps_durable_state(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  for (int i = 0; i < 5; i++) tn_propose(&net, 1, "before", i, NULL);
  tq_deliver_all(&net);
  tnet_advance(&net, 10 * MS); /* heartbeat: followers learn the commit */
  tq_deliver_all(&net);
  hs_raft *f = R(&net, 2);
  assert_u64(hs_raft_applied_index(f), 6);
  uint64_t term = hs_raft_term(f);
  uint32_t vote = hs_raft_vote(f);
  hs_raft_crash(f);
  assert_true(hs_raft_crashed(f));
  assert_rc(hs_raft_step(f, &(hs_raft_msg){.type = HS_RAFT_MSG_HEARTBEAT, .from = 1, .to = 2}, net.now),
            HS_RAFT_ECRASHED);
  assert_rc(hs_raft_tick(f, net.now), HS_RAFT_ECRASHED);
  assert_true(hs_raft_next_deadline(f) == HS_TIME_NEVER);
  for (int i = 0; i < 5; i++) tn_propose(&net, 1, "during", i, NULL);
  tnet_run(&net, 30 * MS, 5 * MS);
  assert_rc(hs_raft_restart(f, net.now), HS_OK);
  assert_u64(hs_raft_term(f), term);
  assert_u64(hs_raft_vote(f), vote);
  assert_u64(hs_raft_last_index(f), 6);
  assert_u64(hs_raft_commit_index(f), 0);
  assert_u64(hs_raft_applied_index(f), 0);
  assert_u64(tn(&net, 2)->sm_index, 0); /* restored to the empty state */
  assert_u64(tn(&net, 2)->sm_count, 0);
  assert_role(f, HS_RAFT_FOLLOWER);
  tnet_run(&net, 50 * MS, 5 * MS);
  assert_u64(hs_raft_applied_index(f), 11);
  assert_u64(tn(&net, 2)->sm_hash, tn(&net, 1)->sm_hash);

  /* the leader crashes with a proposal and a read in flight: both fail, a new leader comes */
  tnet_isolate(&net, 1, true);
  uint64_t idx;
  tn_propose(&net, 1, "pending", 55, &idx);
  hs_raft_read_index(R(&net, 1), net.now, 66);
  hs_raft_crash(R(&net, 1));
  tnode *n1 = tn(&net, 1);
  assert_u64(n1->n_lost, 1);
  assert_u64(n1->lost[0].tag, 55);
  assert_rc(n1->lost[0].reason, HS_RAFT_ECRASHED);
  assert_u64(n1->n_reads, 1);
  assert_rc(n1->reads[0].status, HS_RAFT_ECRASHED);
  tq_drop_node(&net, 1);
  tnet_isolate(&net, 1, false);
  tnet_run(&net, 600 * MS, 5 * MS);
  uint32_t nl = tnet_leader(&net);
  assert_true(nl == 2 || nl == 3);
  assert_rc(hs_raft_restart(R(&net, 1), net.now), HS_OK);
  tn_propose(&net, nl, "new", 1, &idx);
  const uint32_t all[] = {1, 2, 3};
  run_until_applied(&net, all, 3, idx);
  assert_true(tn_logs_equal(&net, 1, nl));
  assert_u64(tn(&net, 1)->sm_hash, tn(&net, nl)->sm_hash);
  tnet_check(&net);
  tnet_free(&net);
}

/* Restart from a snapshot: the state machine is restored from it, the log after it replayed. */
static void test_restart_from_snapshot(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  o.snapshot_threshold = 5;
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  for (int i = 0; i < 12; i++) {
    tn_propose(&net, 1, "x", i, NULL);
    tq_deliver_all(&net);
  }
  tnet_run(&net, 20 * MS, 5 * MS);
  hs_raft *f = R(&net, 2);
  uint64_t snap = hs_raft_snapshot(f, NULL, NULL, NULL);
  assert_true(snap >= 5);
  uint64_t hash = tn(&net, 2)->sm_hash;
  hs_raft_crash(f);
  hs_raft_restart(f, net.now);
  assert_u64(tn(&net, 2)->sm_index, snap);
  assert_u64(hs_raft_applied_index(f), snap);
  tnet_run(&net, 30 * MS, 5 * MS);
  assert_u64(tn(&net, 2)->sm_hash, hash);
  tnet_check(&net);
  tnet_free(&net);
}

/* ---- Timers ------------------------------------------------------------------------------------------ */

/* Every transition re-arms the timers it needs and disarms the others. */
static void test_timers_rearmed_on_every_transition(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  hs_raft *r = R(&net, 1);
  tnode *n = tn(&net, 1);
  uint64_t calls = n->set_timer_calls;
  hs_raft_campaign(r, net.now); /* pre-candidate */
  assert_role(r, HS_RAFT_PRE_CANDIDATE);
  assert_true(n->set_timer_calls > calls);
  assert_true(n->timer_at[HS_RAFT_TIMER_ELECTION] > net.now);
  calls = n->set_timer_calls;
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_PRE_VOTE, 10);
  tq_deliver_matching(&net, 0, 0, HS_RAFT_MSG_PRE_VOTE_RESP, 1); /* candidate */
  assert_role(r, HS_RAFT_CANDIDATE);
  assert_true(n->set_timer_calls > calls);
  tq_deliver_all(&net); /* leader: heartbeat armed, election = check-quorum period */
  assert_role(r, HS_RAFT_LEADER);
  assert_true(n->timer_at[HS_RAFT_TIMER_HEARTBEAT] == net.now + 10 * MS);
  assert_true(n->timer_at[HS_RAFT_TIMER_ELECTION] == net.now + 100 * MS);
  /* step down on a higher term: heartbeat off, election re-armed */
  hs_raft_msg m = {.type = HS_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = hs_raft_term(r) + 1};
  tn_step(&net, &m);
  assert_role(r, HS_RAFT_FOLLOWER);
  assert_true(n->timer_at[HS_RAFT_TIMER_HEARTBEAT] == HS_TIME_NEVER);
  hs_time_ns at = n->timer_at[HS_RAFT_TIMER_ELECTION];
  assert_true(at >= net.now + 100 * MS && at < net.now + 200 * MS);
  assert_true(hs_raft_next_deadline(r) == at);
  /* hearing from the leader pushes the election back */
  tnet_advance(&net, 50 * MS);
  m.term = hs_raft_term(r);
  tn_step(&net, &m);
  assert_true(n->timer_at[HS_RAFT_TIMER_ELECTION] >= net.now + 100 * MS);
  /* a crash disarms both */
  hs_raft_crash(r);
  assert_true(n->timer_at[0] == HS_TIME_NEVER && n->timer_at[1] == HS_TIME_NEVER);
  tnet_free(&net);
}

/* ---- Codecs and API ----------------------------------------------------------------------------------- */

static void test_msg_codec_roundtrip(void **s) {
  (void)s;
  hs_raft_entry e[3] = {
      {8, 3, HS_RAFT_ENTRY_NORMAL, 5, (const uint8_t *)"hello"},
      {9, 3, HS_RAFT_ENTRY_NOOP, 0, NULL},
      {10, 4, HS_RAFT_ENTRY_CONF, 2, (const uint8_t *)"\x01\x02"},
  };
  hs_raft_msg m = {.type = HS_RAFT_MSG_APP, .from = 7, .to = 9, .reject = true, .term = 12, .index = 7,
                   .log_term = 3, .commit = 6, .hint_index = 5, .hint_term = 2, .context = 99,
                   .entries = e, .n_entries = 3, .conf = (const uint8_t *)"conf", .conf_len = 4,
                   .snapshot = (const uint8_t *)"snapshot", .snapshot_len = 8};
  size_t size = hs_raft_msg_encoded_size(&m);
  uint8_t *buf = malloc(size);
  assert_u64(hs_raft_msg_encode(&m, buf, size - 1), 0);
  assert_u64(hs_raft_msg_encode(&m, buf, size), size);
  assert_u64(hs_raft_msg_decode_count(buf, size), 3);
  hs_raft_msg d;
  hs_raft_entry de[3];
  assert_rc(hs_raft_msg_decode(&d, buf, size, de, 2), HS_EINVAL);
  assert_rc(hs_raft_msg_decode(&d, buf, size, de, 3), HS_OK);
  assert_int_equal(d.type, HS_RAFT_MSG_APP);
  assert_u64(d.from, 7);
  assert_u64(d.to, 9);
  assert_true(d.reject);
  assert_u64(d.term, 12);
  assert_u64(d.index, 7);
  assert_u64(d.log_term, 3);
  assert_u64(d.commit, 6);
  assert_u64(d.hint_index, 5);
  assert_u64(d.hint_term, 2);
  assert_u64(d.context, 99);
  for (int i = 0; i < 3; i++) {
    assert_u64(d.entries[i].index, e[i].index);
    assert_u64(d.entries[i].term, e[i].term);
    assert_int_equal(d.entries[i].type, e[i].type);
    assert_u64(d.entries[i].len, e[i].len);
    if (e[i].len) assert_memory_equal(d.entries[i].data, e[i].data, e[i].len);
  }
  assert_memory_equal(d.conf, "conf", 4);
  assert_u64(d.snapshot_len, 8);
  assert_memory_equal(d.snapshot, "snapshot", 8);
  for (size_t cut = 0; cut < size; cut++) assert_rc(hs_raft_msg_decode(&d, buf, cut, de, 3), HS_EINVAL);
  buf[1] = HS_RAFT_MSG_TYPE_COUNT;
  assert_rc(hs_raft_msg_decode(&d, buf, size, de, 3), HS_EINVAL);
  buf[1] = HS_RAFT_MSG_APP;
  /* a count that cannot fit in the bytes is malformed, not an allocation size */
  uint32_t lies[] = {0x7fffffffu, 0xffffffffu, 1000};
  for (size_t k = 0; k < 3; k++) {
    for (int i = 0; i < 4; i++) buf[68 + i] = (uint8_t)(lies[k] >> (8 * i));
    assert_u64(hs_raft_msg_decode_count(buf, size), 0);
    assert_rc(hs_raft_msg_decode(&d, buf, size, de, 3), HS_EINVAL);
  }
  free(buf);
  assert_string_equal(hs_raft_msg_type_name(HS_RAFT_MSG_HEARTBEAT_RESP), "heartbeat_resp");
  assert_string_equal(hs_raft_role_name(HS_RAFT_PRE_CANDIDATE), "pre_candidate");
  assert_string_equal(hs_raft_strerror(HS_RAFT_ENOTLEADER), "not the leader");
  assert_string_equal(hs_raft_strerror(HS_EINVAL), "invalid argument");
}

static void test_conf_rules_and_codec(void **s) {
  (void)s;
  hs_raft_conf c = {0};
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_ADD_VOTER, 3), HS_OK);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_ADD_VOTER, 1), HS_OK);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_ADD_VOTER, 1), HS_EINVAL);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_ADD_VOTER, 0), HS_EINVAL);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_ADD_LEARNER, 2), HS_OK);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_ADD_LEARNER, 2), HS_EINVAL);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_ADD_LEARNER, 3), HS_EINVAL);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_REMOVE, 9), HS_EINVAL);
  assert_u64(c.voters[0], 1);
  assert_u64(c.voters[1], 3);
  uint8_t buf[64];
  size_t n = hs_raft_conf_encode(&c, buf, sizeof buf);
  assert_u64(n, 8 + 12);
  hs_raft_conf d;
  assert_rc(hs_raft_conf_decode(&d, buf, n), HS_OK);
  assert_u64(d.n_voters, 2);
  assert_u64(d.n_learners, 1);
  assert_true(hs_raft_conf_is_learner(&d, 2));
  assert_rc(hs_raft_conf_decode(&d, buf, n - 1), HS_EINVAL);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_ADD_VOTER, 2), HS_OK); /* promotion */
  assert_u64(c.n_voters, 3);
  assert_u64(c.n_learners, 0);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_REMOVE, 1), HS_OK);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_REMOVE, 2), HS_OK);
  assert_rc(hs_raft_conf_apply(&c, HS_RAFT_CONF_REMOVE, 3), HS_EINVAL); /* the last voter */
}

static void test_api_errors(void **s) {
  (void)s;
  hs_raft_config cfg;
  hs_raft_config_init(&cfg);
  hs_raft *r = NULL;
  assert_rc(hs_raft_new(&cfg, &r), HS_EINVAL); /* no id, no send */
  assert_null(r);
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  r = tn_add(&net, 1, IDS, 3, &o);
  hs_raft_msg m = {.type = HS_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 1};
  assert_rc(hs_raft_step(r, &m, 0), HS_RAFT_ESTATE);
  assert_rc(hs_raft_tick(r, 0), HS_RAFT_ESTATE);
  assert_rc(hs_raft_restart(r, 0), HS_RAFT_ESTATE);
  tn_start(&net, 1);
  assert_rc(hs_raft_start(r, 0), HS_RAFT_ESTATE);
  assert_rc(hs_raft_load_state(r, 5, 0), HS_RAFT_ESTATE);
  assert_rc(hs_raft_load_entries(r, NULL, 0), HS_RAFT_ESTATE);
  m.to = 3;
  assert_rc(hs_raft_step(r, &m, 0), HS_EINVAL);
  m.to = 1;
  m.from = 1;
  assert_rc(hs_raft_step(r, &m, 0), HS_EINVAL);
  m.from = 2;
  /* terms and indexes beyond HS_RAFT_MAX_COUNTER are malformed: nothing can overflow later
   * (an InstallSnapshot at index 2^64 - 1 followed by an AppendEntries wrapped to index 0) */
  const uint64_t max = HS_RAFT_MAX_COUNTER;
  hs_raft_msg snap = {.type = HS_RAFT_MSG_SNAP, .from = 2, .to = 1, .term = 1, .index = UINT64_MAX, .log_term = 1};
  assert_rc(hs_raft_step(r, &snap, 0), HS_EINVAL);
  assert_u64(hs_raft_snapshot(r, NULL, NULL, NULL), 0);
  hs_raft_entry one = {.index = max + 1, .term = 1, .type = HS_RAFT_ENTRY_NORMAL};
  hs_raft_msg app = {.type = HS_RAFT_MSG_APP, .from = 2, .to = 1, .term = 1, .index = max, .log_term = 1,
                     .entries = &one, .n_entries = 1};
  assert_rc(hs_raft_step(r, &app, 0), HS_EINVAL); /* its entry would be at max + 1 */
  app.index = max - 1;
  one.index = max;
  assert_rc(hs_raft_step(r, &app, 0), HS_OK); /* at the limit: fine (rejected as not matching) */
  m.term = max + 1;
  assert_rc(hs_raft_step(r, &m, 0), HS_EINVAL);
  assert_u64(hs_raft_term(r), 1);
  m.term = 1;
  m.commit = UINT64_MAX;
  assert_rc(hs_raft_step(r, &m, 0), HS_EINVAL);
  assert_rc(hs_raft_restart(r, 0), HS_RAFT_ESTATE); /* not crashed */
  hs_raft_crash(r);
  assert_rc(tn_propose(&net, 1, "x", 1, NULL), HS_RAFT_ECRASHED);
  assert_rc(hs_raft_read_index(r, 0, 1), HS_RAFT_ECRASHED);
  assert_rc(hs_raft_campaign(r, 0), HS_RAFT_ECRASHED);
  assert_false(hs_raft_unsafe_build());
  /* loading: entries must continue the log */
  hs_raft *r2 = tn_add(&net, 2, IDS, 3, &o);
  hs_raft_entry e = {2, 1, 0, 0, NULL};
  assert_rc(hs_raft_load_entries(r2, &e, 1), HS_EINVAL);
  e.index = 1;
  assert_rc(hs_raft_load_entries(r2, &e, 1), HS_OK);
  e.index = 2;
  e.term = 0;
  assert_rc(hs_raft_load_entries(r2, &e, 1), HS_EINVAL);
  hs_raft_entry view;
  assert_rc(hs_raft_entry_at(r2, 1, &view), HS_OK);
  assert_rc(hs_raft_entry_at(r2, 2, &view), HS_EINVAL);
  tnet_free(&net);
}


/* ---- Leadership transfer (thesis 3.10) ------------------------------------------------------------ */

/* To an up-to-date follower: TimeoutNow at once; the target wins the next term although every
 * voter still hears from the old leader (check-quorum's stickiness gives way to a transfer);
 * proposals are refused meanwhile; the old leader learns the outcome. */
static void test_transfer_to_up_to_date_follower(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 5, &o);
  elect(&net, 1);
  assert_rc(tn_propose(&net, 1, "a", 1, NULL), HS_OK);
  tq_deliver_all(&net);
  uint64_t term = hs_raft_term(R(&net, 1));
  assert_rc(hs_raft_transfer_leadership(R(&net, 1), net.now, 3, 42), HS_OK);
  assert_u64(hs_raft_transfer_target(R(&net, 1)), 3);
  assert_u64(tq_count(&net, 1, 3, HS_RAFT_MSG_TIMEOUT_NOW), 1);
  assert_rc(tn_propose(&net, 1, "refused", 2, NULL), HS_RAFT_ETRANSFER);
  assert_rc(hs_raft_propose_conf(R(&net, 1), net.now, HS_RAFT_CONF_REMOVE, 5, 3, NULL), HS_RAFT_ETRANSFER);
  assert_rc(hs_raft_transfer_leadership(R(&net, 1), net.now, 2, 43), HS_RAFT_ETRANSFER);
  tq_deliver_all(&net);
  assert_role(R(&net, 3), HS_RAFT_LEADER);
  assert_u64(hs_raft_term(R(&net, 3)), term + 1);
  assert_role(R(&net, 1), HS_RAFT_FOLLOWER);
  assert_u64(hs_raft_leader(R(&net, 1)), 3);
  assert_u64(tn(&net, 1)->transfers_ended, 1);
  assert_u64(tn(&net, 1)->transfer_tag, 42);
  assert_rc(tn(&net, 1)->transfer_status, HS_OK);
  assert_u64(hs_raft_transfer_target(R(&net, 1)), HS_RAFT_NONE);
  hs_raft_stats st;
  hs_raft_get_stats(R(&net, 1), &st);
  assert_u64(st.transfers_started, 1);
  assert_u64(st.transfers_done, 1);
  assert_rc(tn_propose(&net, 3, "b", 3, NULL), HS_OK);
  run_until_applied(&net, IDS, 5, hs_raft_last_index(R(&net, 3)));
  tnet_check(&net);
  tnet_free(&net);
}

/* To a follower that missed entries: the leader catches it up first, and sends TimeoutNow only
 * once its log matches (an out-of-date target could not win). */
static void test_transfer_catches_the_target_up_first(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  tnet_isolate(&net, 2, true);
  for (int i = 0; i < 5; i++) assert_rc(tn_propose(&net, 1, "x", (uint64_t)(10 + i), NULL), HS_OK);
  tq_deliver_all(&net); /* 3 has them, 2 does not */
  tnet_isolate(&net, 2, false);
  tq_clear(&net);
  assert_rc(hs_raft_transfer_leadership(R(&net, 1), net.now, 2, 7), HS_OK);
  assert_u64(tq_count(&net, 1, 2, HS_RAFT_MSG_TIMEOUT_NOW), 0);
  assert_true(tq_count(&net, 1, 2, HS_RAFT_MSG_APP) >= 1);
  for (int round = 0; round < 50 && hs_raft_role_of(R(&net, 2)) != HS_RAFT_LEADER; round++) tq_deliver_all(&net);
  assert_role(R(&net, 2), HS_RAFT_LEADER);
  assert_rc(tn(&net, 1)->transfer_status, HS_OK);
  assert_true(tn_logs_equal(&net, 1, 2));
  tnet_check(&net);
  tnet_free(&net);
}

/* A target that never answers: after an election timeout the leader gives up, says so, and
 * serves again. Transfers to itself, to non-members and from followers are refused or trivial. */
static void test_transfer_times_out_and_leader_serves_again(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  tnet_isolate(&net, 3, true);
  assert_rc(hs_raft_transfer_leadership(R(&net, 1), net.now, 3, 9), HS_OK);
  assert_rc(tn_propose(&net, 1, "refused", 1, NULL), HS_RAFT_ETRANSFER);
  tnet_run(&net, o.et_max + 100 * MS, 5 * MS);
  assert_role(R(&net, 1), HS_RAFT_LEADER);
  assert_u64(tn(&net, 1)->transfers_ended, 1);
  assert_rc(tn(&net, 1)->transfer_status, HS_RAFT_ETIMEOUT);
  assert_rc(tn_propose(&net, 1, "served", 2, NULL), HS_OK);
  assert_rc(hs_raft_transfer_leadership(R(&net, 1), net.now, 1, 10), HS_OK); /* itself: done */
  assert_rc(tn(&net, 1)->transfer_status, HS_OK);
  assert_u64(tn(&net, 1)->transfer_tag, 10);
  assert_rc(hs_raft_transfer_leadership(R(&net, 1), net.now, 6, 11), HS_EINVAL);
  assert_rc(hs_raft_transfer_leadership(R(&net, 2), net.now, 1, 12), HS_RAFT_ENOTLEADER);
  tnet_free(&net);
}

/* A TimeoutNow lost on the way goes again with the next heartbeat round (at most once per
 * heartbeat interval), and the transfer completes instead of timing out. */
static void test_transfer_resends_a_lost_timeout_now(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  assert_rc(hs_raft_transfer_leadership(R(&net, 1), net.now, 3, 21), HS_OK);
  tdec lost;
  tq_expect(&net, 1, 3, HS_RAFT_MSG_TIMEOUT_NOW, &lost); /* dropped */
  tdec_free(&lost);
  tq_deliver_all(&net);
  assert_role(R(&net, 1), HS_RAFT_LEADER);
  for (int i = 0; i < 40 && tn(&net, 1)->transfers_ended == 0; i++) {
    tnet_advance(&net, o.hb / 2);
    tq_deliver_all(&net);
  }
  assert_u64(tn(&net, 1)->transfers_ended, 1);
  assert_rc(tn(&net, 1)->transfer_status, HS_OK);
  assert_role(R(&net, 3), HS_RAFT_LEADER);
  tnet_check(&net);
  tnet_free(&net);
}

/* A crash ends a transfer in progress with ECRASHED; a stale TimeoutNow (an older term) is
 * ignored, and one from the current leader makes a follower campaign without pre-vote. */
static void test_transfer_crash_and_stale_timeout_now(void **s) {
  (void)s;
  tnet net;
  tnet_init(&net);
  topts o = topts_full();
  tn_cluster(&net, 3, &o);
  elect(&net, 1);
  tnet_isolate(&net, 2, true);
  assert_rc(hs_raft_transfer_leadership(R(&net, 1), net.now, 2, 5), HS_OK);
  hs_raft_crash(R(&net, 1));
  assert_u64(tn(&net, 1)->transfers_ended, 1);
  assert_rc(tn(&net, 1)->transfer_status, HS_RAFT_ECRASHED);
  tnet_isolate(&net, 2, false);
  uint64_t term = hs_raft_term(R(&net, 3));
  hs_raft_msg stale = {.type = HS_RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 3, .term = term - 1};
  assert_rc(tn_step(&net, &stale), HS_OK);
  assert_role(R(&net, 3), HS_RAFT_FOLLOWER);
  assert_u64(hs_raft_term(R(&net, 3)), term);
  hs_raft_msg now = {.type = HS_RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 3, .term = term};
  assert_rc(tn_step(&net, &now), HS_OK);
  assert_role(R(&net, 3), HS_RAFT_CANDIDATE);
  assert_u64(hs_raft_term(R(&net, 3)), term + 1);
  assert_u64(tq_count(&net, 3, 2, HS_RAFT_MSG_VOTE), 1);
  tnet_free(&net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_node_cluster_commits),
      cmocka_unit_test(test_prevote_prevents_disruption),
      cmocka_unit_test(test_check_quorum_isolated_leader_steps_down),
      cmocka_unit_test(test_leader_stickiness),
      cmocka_unit_test(test_fast_backup_long_divergent_log),
      cmocka_unit_test(test_duplicate_and_reordered_messages),
      cmocka_unit_test(test_replication_sends_on_propose_and_batches),
      cmocka_unit_test(test_lost_append_recovered_by_heartbeat),
      cmocka_unit_test(test_proposal_lost_to_new_leader),
      cmocka_unit_test(test_propose_on_follower_gives_leader_hint),
      cmocka_unit_test(test_read_index),
      cmocka_unit_test(test_snapshot_catches_up_far_behind_follower),
      cmocka_unit_test(test_membership_add_then_remove),
      cmocka_unit_test(test_crash_restart_keeps_durable_state),
      cmocka_unit_test(test_restart_from_snapshot),
      cmocka_unit_test(test_timers_rearmed_on_every_transition),
      cmocka_unit_test(test_msg_codec_roundtrip),
      cmocka_unit_test(test_conf_rules_and_codec),
      cmocka_unit_test(test_api_errors),
      cmocka_unit_test(test_transfer_to_up_to_date_follower),
      cmocka_unit_test(test_transfer_catches_the_target_up_first),
      cmocka_unit_test(test_transfer_times_out_and_leader_serves_again),
      cmocka_unit_test(test_transfer_crash_and_stale_timeout_now),
      cmocka_unit_test(test_transfer_resends_a_lost_timeout_now),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
