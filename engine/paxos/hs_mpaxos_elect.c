/*
 * hs_mpaxos_elect.c - phase 1 of Multi-Paxos, run once per leadership for every slot from the
 * candidate's first unchosen one: the candidate's ballot, the acceptors' promises, and how a
 * new leader takes over the slots the promises reported.
 *
 * A candidate merges the promises as they come, one record per slot from `from` on: a value
 * some acceptor knows chosen wins outright; otherwise the value accepted with the highest
 * ballot (P2c in "Paxos Made Simple"). Its own acceptor's state is the first promise. The
 * merged values live in their own arena: the candidate's log is its acceptor's state and must
 * only hold what that acceptor accepted.
 */
#include "paxos/hs_paxos_internal.h"

#include <stdlib.h>
#include <string.h>

void hs_mpaxos_elect_free(hs_mpaxos *mp) {
  free(mp->merged);
  hs_paxos_buf_free(&mp->merged_bytes);
  mp->merged = NULL;
  mp->merged_len = mp->merged_cap = 0;
  mp->promise_mask = 0;
}

/* Copies len bytes into the merge arena; the offset, or UINT64_MAX when out of memory. */
static uint64_t elect_keep_bytes(hs_mpaxos *mp, const uint8_t *data, uint32_t len) {
  hs_paxos_buf *b = &mp->merged_bytes;
  uint64_t off = b->len;
  if (!len) return off;
  if ((uint64_t)b->len + len > UINT32_MAX) return UINT64_MAX;
  if (b->len + len > b->cap) {
    uint64_t cap = b->cap ? b->cap : 1024;
    while (cap < (uint64_t)b->len + len) cap *= 2;
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return UINT64_MAX;
    b->data = p;
    b->cap = (uint32_t)cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
  return off;
}

/* Folds one reported value into the candidate's view of its slot (v->slot >= from). */
static int elect_merge(hs_mpaxos *mp, const hs_paxos_value *v) {
  if (!v->chosen && v->ballot.round == 0) return HS_OK; /* nothing accepted there */
  uint64_t i = v->slot - mp->from;
  if (i >= mp->merged_cap) {
    uint64_t cap = mp->merged_cap ? mp->merged_cap : 64;
    while (cap <= i) cap *= 2;
    hs_mpaxos_merged *p = realloc(mp->merged, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    mp->merged = p;
    mp->merged_cap = cap;
  }
  if (i >= mp->merged_len) {
    memset(mp->merged + mp->merged_len, 0, (i + 1 - mp->merged_len) * sizeof *mp->merged);
    mp->merged_len = i + 1;
  }
  hs_mpaxos_merged *g = &mp->merged[i];
  if (g->present && (g->chosen || (!v->chosen && hs_paxos_ballot_cmp(v->ballot, g->ballot) <= 0))) return HS_OK;
  uint64_t off = elect_keep_bytes(mp, v->data, v->len);
  if (off == UINT64_MAX) return HS_ENOMEM;
  g->ballot = v->ballot;
  g->origin = v->origin;
  g->off = off;
  g->len = v->len;
  g->type = (uint8_t)v->type;
  g->chosen = v->chosen;
  g->present = 1;
  return HS_OK;
}

/*
 * Phase 1 won: for every slot from `from` to the highest any promise reported, the leader
 * learns a value reported chosen, proposes again (in its own ballot, keeping its origin) the
 * value accepted with the highest ballot, and fills the slots nobody reported with no-ops.
 * Every slot beyond is free: no member of the phase-1 quorum accepted anything there, and none
 * will accept a lower ballot now. Then it announces itself with a heartbeat round.
 */
static void elect_become_leader(hs_mpaxos *mp) {
  hs_mpaxos_role prev_role = mp->role;
  uint32_t prev_leader = mp->leader;
  mp->role = HS_MPAXOS_LEADER;
  mp->leader = mp->id;
  mp->stats.elections_won++;
  uint64_t max = mp->from + mp->merged_len - 1;
  if (mp->log.count > max) max = mp->log.count; /* cannot happen: its own state was merged */
  for (uint64_t s = mp->from; s <= max; s++) {
    hs_mpaxos_rec *rec = hs_mpaxos_log_get(&mp->log, s);
    if (rec && rec->chosen) continue;
    const hs_mpaxos_merged *g = s - mp->from < mp->merged_len ? &mp->merged[s - mp->from] : NULL;
    int rc;
#ifndef HS_PAXOS_UNSAFE_IGNORE_PROMISES
    if (g && g->present) {
      const uint8_t *data = g->len ? mp->merged_bytes.data + g->off : NULL;
      if (g->chosen) {
        rc = hs_mpaxos_log_set(&mp->log, s, g->ballot, g->origin, (hs_paxos_value_type)g->type, data, g->len);
        if (!rc) hs_mpaxos_repl_choose(mp, s);
      } else {
        rc = hs_mpaxos_repl_propose_local(mp, s, g->origin, (hs_paxos_value_type)g->type, data, g->len);
        mp->stats.values_reproposed++;
      }
    } else
#endif
    {
      (void)g; /* the unsafe build: as if every promise were empty */
      rc = hs_mpaxos_repl_propose_local(mp, s, mp->ballot, HS_PAXOS_VALUE_NOOP, NULL, 0);
      mp->stats.noops_proposed++;
    }
    if (rc) { /* out of memory: this leadership cannot take its slots over */
      hs_mpaxos_become_follower(mp, HS_PAXOS_NONE);
      return;
    }
  }
  hs_mpaxos_elect_free(mp);
  for (uint32_t i = 0; i < mp->ms.n; i++)
    if (mp->peers[i].bit != mp->ms.self_bit) hs_mpaxos_repl_reset_peer(mp, &mp->peers[i]);
  hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_ELECTION, mp->now + mp->et_min);
  hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_HEARTBEAT, mp->now + mp->hb_interval);
  hs_mpaxos_notify_role(mp, prev_role, prev_leader);
  hs_mpaxos_repl_bcast_heartbeat(mp);
  hs_mpaxos_repl_advance(mp);
  if (mp->role == HS_MPAXOS_LEADER) hs_mpaxos_repl_bcast_accepts(mp, false);
}

/* A candidate's own acceptor promises first: its values at >= from are the first promise. */
static int elect_merge_own(hs_mpaxos *mp) {
  for (uint64_t s = mp->from; s <= mp->log.count; s++) {
    hs_paxos_value v;
    hs_mpaxos_log_view(&mp->log, s, &v);
    int rc = elect_merge(mp, &v);
    if (rc) return rc;
  }
  return HS_OK;
}

/* A fresh ballot above every round seen, used or promised here, persisted (as this node's own
 * promise and its highest round) before the Prepare goes out. Rounds never pass
 * HS_PAXOS_MAX_COUNTER. */
void hs_mpaxos_elect_start(hs_mpaxos *mp) {
  if (mp->role == HS_MPAXOS_LEADER) return;
  hs_mpaxos_role prev_role = mp->role;
  uint32_t prev_leader = mp->leader;
  uint64_t round = mp->seen_round;
  if (mp->max_round > round) round = mp->max_round;
  if (mp->promised.round > round) round = mp->promised.round;
  if (round >= HS_PAXOS_MAX_COUNTER) { /* only a forged message gets rounds this far: no ballot left */
    hs_mpaxos_arm_election(mp);
    return;
  }
  mp->ballot = (hs_paxos_ballot){round + 1, mp->id};
  mp->max_round = round + 1;
  mp->promised = mp->ballot;
  hs_mpaxos_persist_state(mp);
  mp->role = HS_MPAXOS_CANDIDATE;
  mp->leader = HS_PAXOS_NONE;
  mp->stats.ballots_tried++;
  hs_mpaxos_elect_free(mp);
  mp->from = mp->commit + 1;
  hs_mpaxos_arm_election(mp);
  hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_HEARTBEAT, HS_TIME_NEVER);
  hs_mpaxos_notify_role(mp, prev_role, prev_leader);
  if (elect_merge_own(mp)) { /* out of memory: try again at the next timeout */
    hs_mpaxos_become_follower(mp, HS_PAXOS_NONE);
    return;
  }
  mp->promise_mask = mp->ms.self_bit;
  for (uint32_t i = 0; i < mp->ms.n; i++) {
    if (mp->peers[i].bit == mp->ms.self_bit) continue;
    hs_paxos_msg m = {.type = HS_PAXOS_MSG_PREPARE, .to = mp->peers[i].id, .ballot = mp->ballot, .slot = mp->from,
                      .commit = mp->commit};
    hs_mpaxos_send(mp, &m);
  }
  if (hs_paxos_popcount(mp->promise_mask) >= mp->q1) elect_become_leader(mp);
}

static void elect_nack(hs_mpaxos *mp, const hs_paxos_msg *m) {
  hs_paxos_msg nack = {.type = HS_PAXOS_MSG_NACK, .to = m->from, .ballot = m->ballot, .promised = mp->promised,
                       .commit = mp->commit};
  hs_mpaxos_send(mp, &nack);
}

/* Phase 1b: promise the ballot (unless a higher one was promised: Nack) and report every value
 * held at slots >= the candidate's first unchosen one, with its ballot and chosen flag. */
void hs_mpaxos_elect_on_prepare(hs_mpaxos *mp, const hs_paxos_msg *m) {
  int cmp = hs_paxos_ballot_cmp(m->ballot, mp->promised);
  if (cmp < 0) {
    elect_nack(mp, m);
    return;
  }
  if (cmp > 0) {
    hs_mpaxos_promise(mp, m->ballot);
    /* a new ballot: whoever led before is no longer known to; give the candidate a timeout */
    uint32_t prev = mp->leader;
    mp->leader = HS_PAXOS_NONE;
    hs_mpaxos_arm_election(mp);
    hs_mpaxos_notify_role(mp, mp->role, prev);
  }
  uint64_t from = m->slot ? m->slot : 1, n = 0;
  for (uint64_t s = from; s <= mp->log.count; s++) {
    const hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, s);
    n += r->ballot.round != 0 || r->chosen;
  }
  if (n > UINT32_MAX || hs_mpaxos_scratch(mp, n)) return; /* cannot answer: as if lost */
  uint32_t k = 0;
  for (uint64_t s = from; s <= mp->log.count; s++) {
    const hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, s);
    if (r->ballot.round != 0 || r->chosen) hs_mpaxos_log_view(&mp->log, s, &mp->scratch[k++]);
  }
  hs_paxos_msg resp = {.type = HS_PAXOS_MSG_PROMISE, .to = m->from, .ballot = m->ballot, .slot = from,
                       .commit = mp->commit, .values = k ? mp->scratch : NULL, .n_values = k};
  hs_mpaxos_send(mp, &resp);
}

/* A promise for this candidate's ballot, once per member. One that reports a slot beyond the
 * window cannot be held: it is not counted (safe; the election may need other members). */
void hs_mpaxos_elect_on_promise(hs_mpaxos *mp, const hs_paxos_msg *m) {
  if (mp->role != HS_MPAXOS_CANDIDATE || hs_paxos_ballot_cmp(m->ballot, mp->ballot) != 0) return;
  uint64_t bit = hs_paxos_members_bit(&mp->ms, m->from);
  if (mp->promise_mask & bit) return;
  for (uint32_t i = 0; i < m->n_values; i++)
    if (m->values[i].slot < mp->from || m->values[i].slot - mp->from >= mp->window) return;
  for (uint32_t i = 0; i < m->n_values; i++)
    if (elect_merge(mp, &m->values[i])) return; /* out of memory: not counted */
  mp->promise_mask |= bit;
  mp->stats.promises_received++;
  if (hs_paxos_popcount(mp->promise_mask) >= mp->q1) elect_become_leader(mp);
}

/* A Nack for this node's own ballot naming a higher one: another proposer is ahead. */
void hs_mpaxos_elect_on_nack(hs_mpaxos *mp, const hs_paxos_msg *m) {
  if (mp->role == HS_MPAXOS_FOLLOWER || hs_paxos_ballot_cmp(m->ballot, mp->ballot) != 0 ||
      hs_paxos_ballot_cmp(m->promised, mp->ballot) <= 0)
    return;
  mp->stats.nacks_received++;
  hs_mpaxos_become_follower(mp, HS_PAXOS_NONE);
}
