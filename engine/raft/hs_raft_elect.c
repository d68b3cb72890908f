/*
 * hs_raft_elect.c - leader election: pre-vote, vote, and counting the answers.
 *
 * A voter whose election timer fires becomes a pre-candidate (with pre-vote) and asks the
 * voters whether they would vote for it in term + 1, without taking that term; only with a
 * quorum of yes does it become a candidate: term + 1, a vote for itself persisted, RequestVote
 * to every voter. A quorum of votes makes it leader; a quorum of refusals sends it back to
 * follower; a split vote ends with the next (randomized) election timeout.
 */
#include "raft/hs_raft_internal.h"

static void elect_reset_tally(hs_raft *r) {
  for (uint32_t i = 0; i < r->n_peers; i++) {
    r->peers[i].vote_responded = r->peers[i].id == r->id;
    r->peers[i].vote_granted = r->peers[i].id == r->id;
  }
}

/* 1 when a quorum granted, -1 when a quorum can no longer grant, 0 otherwise. */
static int elect_tally(const hs_raft *r) {
  uint32_t granted = 0, denied = 0;
  for (uint32_t i = 0; i < r->n_peers; i++) {
    const hs_raft_peer *p = &r->peers[i];
    if (!p->voter || !p->vote_responded) continue;
    if (p->vote_granted) granted++;
    else denied++;
  }
  uint32_t q = hs_raft_quorum(r);
  if (granted >= q) return 1;
  if (r->conf.n_voters - denied < q) return -1;
  return 0;
}

void hs_raft_elect_start(hs_raft *r, bool pre, bool transfer) {
  if (!hs_raft_is_voter(r)) {
    hs_raft_arm_election(r);
    return;
  }
  hs_raft_role prev_role = r->role;
  uint64_t prev_term = r->term;
  uint32_t prev_leader = r->leader;
  if (pre) {
    r->role = HS_RAFT_PRE_CANDIDATE;
    r->stats.pre_votes_started++;
  } else {
    r->term++;
    r->vote = r->id;
    r->role = HS_RAFT_CANDIDATE;
    r->stats.elections_started++;
    r->stats.votes_received++; /* its own */
    hs_raft_persist_state(r);
  }
  r->leader = HS_RAFT_NONE;
  hs_raft_arm_election(r);
  hs_raft_set_deadline(r, HS_RAFT_TIMER_HEARTBEAT, HS_TIME_NEVER);
  elect_reset_tally(r);
  hs_raft_notify_role(r, prev_role, prev_term, prev_leader);

  if (elect_tally(r) > 0) { /* a single voter */
    if (pre) hs_raft_elect_start(r, false, false);
    else hs_raft_become_leader(r);
    return;
  }
  uint64_t last = hs_raft_log_last(&r->log), last_term = hs_raft_last_term(r);
  for (uint32_t i = 0; i < r->n_peers; i++) {
    const hs_raft_peer *p = &r->peers[i];
    if (!p->voter || p->id == r->id) continue;
    hs_raft_msg m = {
        .type = pre ? HS_RAFT_MSG_PRE_VOTE : HS_RAFT_MSG_VOTE,
        .to = p->id,
        .term = pre ? r->term + 1 : r->term,
        .index = last,
        .log_term = last_term,
        .context = transfer ? HS_RAFT_VOTE_TRANSFER : 0,
    };
    hs_raft_send(r, &m);
  }
}

/*
 * A (pre-)vote request whose term is at least ours (hs_raft_step filtered the rest; for a real
 * vote with a higher term this node is already a follower of that term with no vote).
 * Granted when this node can vote for the sender in that term - it voted for it already, or
 * for no one and knows no leader of the term, or it is a pre-vote for a later term - and the
 * sender's log is at least as up-to-date as ours (5.4.1: last term, then last index).
 * A real vote is persisted before the answer leaves, and restarts the election timer.
 */
void hs_raft_elect_on_vote(hs_raft *r, const hs_raft_msg *m) {
  bool pre = m->type == HS_RAFT_MSG_PRE_VOTE;
  bool can_vote = r->vote == m->from || (r->vote == HS_RAFT_NONE && r->leader == HS_RAFT_NONE) ||
                  (pre && m->term > r->term);
#ifdef HS_RAFT_UNSAFE_DOUBLE_VOTE
  /* Deliberately broken (test-only): a second vote in the same term. */
  if (!pre && r->leader == HS_RAFT_NONE) can_vote = true;
#endif
  uint64_t last = hs_raft_log_last(&r->log), last_term = hs_raft_last_term(r);
  bool up_to_date = m->log_term > last_term || (m->log_term == last_term && m->index >= last);
  hs_raft_msg resp = {.type = pre ? HS_RAFT_MSG_PRE_VOTE_RESP : HS_RAFT_MSG_VOTE_RESP, .to = m->from};
  if (can_vote && up_to_date) {
    resp.term = m->term;
    if (!pre) {
      r->vote = m->from;
      hs_raft_persist_state(r);
      hs_raft_arm_election(r);
    }
  } else {
    resp.term = r->term;
    resp.reject = true;
  }
  hs_raft_send(r, &resp);
}

void hs_raft_elect_on_vote_resp(hs_raft *r, const hs_raft_msg *m) {
  bool pre = m->type == HS_RAFT_MSG_PRE_VOTE_RESP;
  if (r->role != (pre ? HS_RAFT_PRE_CANDIDATE : HS_RAFT_CANDIDATE)) return;
  if (pre && !m->reject && m->term != r->term + 1) return; /* a grant from an older round */
  hs_raft_peer *p = hs_raft_peer_find(r, m->from);
  if (!p || !p->voter || p->vote_responded) return;
  p->vote_responded = true;
  p->vote_granted = !m->reject;
  if (p->vote_granted && !pre) r->stats.votes_received++;
  int outcome = elect_tally(r);
  if (outcome > 0) {
    if (pre) hs_raft_elect_start(r, false, false);
    else hs_raft_become_leader(r);
  } else if (outcome < 0) {
    hs_raft_become_follower(r, r->term, HS_RAFT_NONE);
  }
}
