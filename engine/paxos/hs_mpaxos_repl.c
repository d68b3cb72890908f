/*
 * hs_mpaxos_repl.c - phase 2 of Multi-Paxos on both sides, learning what is chosen, catching
 * lagging followers up, applying, and the commands submitted here.
 *
 * LEADER SIDE. Each follower has a progress record (hs_mpaxos_peer): `next`, the next slot to
 * send it, and a ring of unacknowledged Accept messages (at most max_inflight). Accept carries
 * consecutive slots from next on; while the ring is full, new slots wait and leave together in
 * the next message. Every slot above the chosen prefix counts, in `acks`, the members that
 * accepted it in the leader's ballot; phase2_quorum of them choose it. A heartbeat answer that
 * finds the oldest unacknowledged message older than a heartbeat interval (or nothing in flight)
 * sends again from the first slot that follower has not acknowledged and that is not chosen.
 * A follower whose chosen prefix lags at a slot it cannot learn by itself (it did not accept it
 * in this ballot) gets Chosen messages: one outstanding at a time, again after a heartbeat
 * interval without progress.
 *
 * FOLLOWER SIDE. Every Accept and heartbeat of the leader of the promised ballot carries its
 * chosen prefix (lc). A slot up to lc that this node accepted in that ballot holds the chosen
 * value: in one ballot only one value is proposed per slot, and the leader knew that one
 * chosen. (A leader that learns a slot chosen with a value other than its own proposal there
 * has been overtaken: it steps down before it could announce that slot.) Everything learned is
 * persisted and reported to the checker, then applied in slot order.
 */
#include "paxos/hs_paxos_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- Progress ------------------------------------------------------------------------------- */

int hs_mpaxos_repl_alloc_peer(hs_mpaxos *mp, hs_mpaxos_peer *p) {
  p->infl_last = malloc(mp->max_inflight * sizeof *p->infl_last);
  p->infl_sent = malloc(mp->max_inflight * sizeof *p->infl_sent);
  return p->infl_last && p->infl_sent ? HS_OK : HS_ENOMEM;
}

void hs_mpaxos_repl_free_peer(hs_mpaxos_peer *p) {
  free(p->infl_last);
  free(p->infl_sent);
  p->infl_last = NULL;
  p->infl_sent = NULL;
}

void hs_mpaxos_repl_reset_peer(hs_mpaxos *mp, hs_mpaxos_peer *p) {
  p->next = mp->commit + 1;
  p->commit = 0;
  p->recent_active = false;
  p->catchup_last = 0;
  p->catchup_sent_ns = 0;
  p->infl_head = p->infl_count = 0;
}

static void repl_infl_push(hs_mpaxos *mp, hs_mpaxos_peer *p, uint64_t last) {
  uint32_t at = (p->infl_head + p->infl_count) % mp->max_inflight;
  p->infl_last[at] = last;
  p->infl_sent[at] = mp->now;
  p->infl_count++;
}

/* Acknowledgements may overtake each other: one for a later message frees the earlier ones too
 * (what was lost among them is found again by the resend scan). */
static void repl_infl_free_to(hs_mpaxos *mp, hs_mpaxos_peer *p, uint64_t slot) {
  while (p->infl_count && p->infl_last[p->infl_head] <= slot) {
    p->infl_head = (p->infl_head + 1) % mp->max_inflight;
    p->infl_count--;
  }
}

/* ---- Choosing and applying ----------------------------------------------------------------------- */

void hs_mpaxos_repl_choose(hs_mpaxos *mp, uint64_t slot) {
  hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, slot);
  if (r->chosen) return;
  r->chosen = 1;
  hs_mpaxos_persist_slots(mp, slot, slot);
  if (mp->checker) {
    hs_paxos_value v;
    hs_mpaxos_log_view(&mp->log, slot, &v);
    hs_paxos_checker_note_choose(mp->checker, mp->id, &v, mp->now);
  }
}

int hs_mpaxos_repl_propose_local(hs_mpaxos *mp, uint64_t slot, hs_paxos_ballot origin, hs_paxos_value_type type,
                                 const uint8_t *data, uint32_t len) {
  int rc = hs_mpaxos_log_set(&mp->log, slot, mp->ballot, origin, type, data, len);
  if (rc) return rc;
  hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, slot);
  r->acks = mp->ms.self_bit;
  hs_mpaxos_persist_slots(mp, slot, slot);
  if (mp->checker) {
    hs_paxos_value v;
    hs_mpaxos_log_view(&mp->log, slot, &v);
    hs_paxos_checker_note_accept(mp->checker, mp->id, &v, mp->now);
  }
  if (hs_paxos_popcount(r->acks) >= mp->q2) hs_mpaxos_repl_choose(mp, slot);
  return HS_OK;
}

/* Resolves the commands submitted here for slot s (the head of the queue, by slot): the one
 * whose origin is the chosen value's is applied as proposed; any other was overtaken. */
static bool repl_resolve(hs_mpaxos *mp, const hs_paxos_value *v, uint64_t *tag) {
  bool mine = false;
  while (mp->props_len && mp->props[mp->props_head].slot <= v->slot) {
    hs_mpaxos_prop p = mp->props[mp->props_head];
    mp->props_head++;
    mp->props_len--;
    if (!mine && p.slot == v->slot && v->type == HS_PAXOS_VALUE_NORMAL && hs_paxos_ballot_cmp(p.origin, v->origin) == 0) {
      mine = true;
      *tag = p.tag;
    } else {
      mp->stats.proposals_lost++;
      if (mp->cb.proposal_lost) mp->cb.proposal_lost(mp->ud, p.tag, p.slot, HS_PAXOS_ELOST);
    }
  }
  if (mp->props_len == 0) mp->props_head = 0;
  return mine;
}

/* Applies every chosen slot up to the commit index, in slot order, once each, resolving the
 * commands submitted here as it goes. */
static void repl_apply(hs_mpaxos *mp) {
  while (mp->applied < mp->commit) {
    hs_paxos_value v;
    hs_mpaxos_log_view(&mp->log, mp->applied + 1, &v);
    mp->applied = v.slot;
    if (v.type == HS_PAXOS_VALUE_NORMAL) mp->stats.commands_committed++;
    uint64_t tag = 0;
    bool mine = repl_resolve(mp, &v, &tag);
    if (mp->checker) hs_paxos_checker_note_apply(mp->checker, mp->id, &v, mp->now);
    if (mp->cb.apply) mp->cb.apply(mp->ud, &v, mine, tag);
  }
}

void hs_mpaxos_repl_advance(hs_mpaxos *mp) {
  while (mp->commit < mp->log.count) {
    uint64_t s = mp->commit + 1;
    hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, s);
    if (!r->chosen) {
      if (s > mp->lc || !mp->lc_ballot.round || hs_paxos_ballot_cmp(r->ballot, mp->lc_ballot) != 0) break;
      hs_mpaxos_repl_choose(mp, s);
    }
    mp->commit = s;
  }
  repl_apply(mp);
}

/* ---- Commands submitted here ---------------------------------------------------------------------- */

int hs_mpaxos_repl_track(hs_mpaxos *mp, uint64_t slot, hs_paxos_ballot origin, uint64_t tag) {
  if (mp->props_head + mp->props_len == mp->props_cap) {
    if (mp->props_head > 0) { /* slide down first */
      memmove(mp->props, mp->props + mp->props_head, mp->props_len * sizeof *mp->props);
      mp->props_head = 0;
    }
    if (mp->props_len == mp->props_cap) {
      size_t cap = mp->props_cap ? mp->props_cap * 2 : 64;
      hs_mpaxos_prop *p = realloc(mp->props, cap * sizeof *p);
      if (!p) return HS_ENOMEM;
      mp->props = p;
      mp->props_cap = cap;
    }
  }
  /* slots only grow on a node (a new leadership starts above its own log), so this appends */
  size_t i = mp->props_head + mp->props_len++;
  while (i > mp->props_head && mp->props[i - 1].slot > slot) {
    mp->props[i] = mp->props[i - 1];
    i--;
  }
  mp->props[i] = (hs_mpaxos_prop){slot, origin, tag};
  return HS_OK;
}

void hs_mpaxos_repl_lose_all(hs_mpaxos *mp, int reason) {
  size_t n = mp->props_len, head = mp->props_head;
  mp->props_len = mp->props_head = 0;
  for (size_t i = 0; i < n; i++) {
    const hs_mpaxos_prop *p = &mp->props[head + i];
    mp->stats.proposals_lost++;
    if (mp->cb.proposal_lost) mp->cb.proposal_lost(mp->ud, p->tag, p->slot, reason);
  }
}

/* ---- Leader: sending ------------------------------------------------------------------------------- */

/* Sends p the slots it has not been sent, from next on, within the batch limits, unless its
 * pipeline is full. allow_empty: send even without slots, to carry the chosen prefix. */
void hs_mpaxos_repl_send_accepts(hs_mpaxos *mp, hs_mpaxos_peer *p, bool allow_empty) {
  if (mp->role != HS_MPAXOS_LEADER || p->bit == mp->ms.self_bit || p->infl_count >= mp->max_inflight) return;
  if (p->next <= mp->commit) p->next = mp->commit + 1;
  uint64_t last = mp->log.count, bytes = 0;
  uint32_t n = 0;
  for (uint64_t s = p->next; s <= last && n < mp->max_msg_slots; s++) {
    const hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, s);
    if (n > 0 && bytes + r->len > mp->max_msg_bytes) break;
    hs_mpaxos_log_view(&mp->log, s, &mp->scratch[n]);
    mp->scratch[n++].ballot = mp->ballot;
    bytes += r->len;
  }
  if (n == 0 && !allow_empty) return;
  hs_paxos_msg m = {.type = HS_PAXOS_MSG_ACCEPT, .to = p->id, .ballot = mp->ballot, .commit = mp->commit,
                    .values = n ? mp->scratch : NULL, .n_values = n};
  if (n) {
    repl_infl_push(mp, p, p->next + n - 1);
    p->next += n;
  }
  hs_mpaxos_send(mp, &m);
}

void hs_mpaxos_repl_bcast_accepts(hs_mpaxos *mp, bool allow_empty) {
  for (uint32_t i = 0; i < mp->ms.n && mp->role == HS_MPAXOS_LEADER; i++)
    hs_mpaxos_repl_send_accepts(mp, &mp->peers[i], allow_empty);
}

void hs_mpaxos_repl_bcast_heartbeat(hs_mpaxos *mp) {
  for (uint32_t i = 0; i < mp->ms.n; i++) {
    if (mp->peers[i].bit == mp->ms.self_bit) continue;
    hs_paxos_msg m = {.type = HS_PAXOS_MSG_HEARTBEAT, .to = mp->peers[i].id, .ballot = mp->ballot,
                      .commit = mp->commit, .last = mp->log.count};
    hs_mpaxos_send(mp, &m);
  }
}

/* Chosen values for a follower stuck below the leader's chosen prefix at a slot it cannot
 * learn by itself. */
static void repl_catchup(hs_mpaxos *mp, hs_mpaxos_peer *p) {
  if (mp->role != HS_MPAXOS_LEADER || p->commit >= mp->commit) return;
  uint64_t s = p->commit + 1;
  const hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, s);
  if (hs_paxos_ballot_cmp(r->ballot, mp->ballot) == 0 && (r->acks & p->bit)) return; /* it learns it from lc */
  if (p->catchup_last && p->commit < p->catchup_last && mp->now < p->catchup_sent_ns + mp->hb_interval) return;
  uint64_t bytes = 0;
  uint32_t n = 0;
  for (; s <= mp->commit && n < mp->max_msg_slots; s++) {
    r = hs_mpaxos_log_rec(&mp->log, s);
    if (n > 0 && bytes + r->len > mp->max_msg_bytes) break;
    hs_mpaxos_log_view(&mp->log, s, &mp->scratch[n++]);
    bytes += r->len;
  }
  hs_paxos_msg m = {.type = HS_PAXOS_MSG_CHOSEN, .to = p->id, .ballot = mp->ballot, .commit = mp->commit,
                    .values = mp->scratch, .n_values = n};
  p->catchup_last = mp->scratch[n - 1].slot;
  p->catchup_sent_ns = mp->now;
  mp->stats.catchups_sent++;
  hs_mpaxos_send(mp, &m);
}

/* After a heartbeat interval without an answer (or with nothing in flight), p is sent again
 * from the first slot it has not acknowledged in this ballot and that is not chosen yet. */
static void repl_resend(hs_mpaxos *mp, hs_mpaxos_peer *p) {
  if (p->infl_count && p->infl_sent[p->infl_head] + mp->hb_interval > mp->now) return;
  p->infl_head = p->infl_count = 0;
  for (uint64_t s = mp->commit + 1; s <= mp->log.count && s < p->next; s++) {
    const hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, s);
    if (!r->chosen && !(r->acks & p->bit)) {
      p->next = s;
      return;
    }
  }
}

/* Proposes no-ops up to slot `to` (beyond the log's end): slots some follower holds and this
 * leader never assigned, so that every slot anyone holds is eventually chosen. */
static void repl_fill(hs_mpaxos *mp, uint64_t to) {
  while (mp->log.count < to) {
    if (hs_mpaxos_repl_propose_local(mp, mp->log.count + 1, mp->ballot, HS_PAXOS_VALUE_NOOP, NULL, 0)) return;
    mp->stats.noops_proposed++;
  }
  hs_mpaxos_repl_advance(mp);
  hs_mpaxos_repl_bcast_accepts(mp, false);
}

/* ---- Leader: answers ----------------------------------------------------------------------------------- */

static hs_mpaxos_peer *repl_answer_peer(hs_mpaxos *mp, const hs_paxos_msg *m) {
  if (mp->role != HS_MPAXOS_LEADER || hs_paxos_ballot_cmp(m->ballot, mp->ballot) != 0) return NULL;
  hs_mpaxos_peer *p = hs_mpaxos_peer_find(mp, m->from);
  if (!p) return NULL;
  p->recent_active = true;
  if (m->commit > p->commit) p->commit = m->commit;
  return p;
}

/* Phase 2b answer: the follower accepted slot..last in this ballot. Slots with a phase-2 quorum
 * are chosen; a commit that moves is told to every follower at once (with whatever waits). */
void hs_mpaxos_repl_on_accepted(hs_mpaxos *mp, const hs_paxos_msg *m) {
  hs_mpaxos_peer *p = repl_answer_peer(mp, m);
  if (!p) return;
  mp->stats.accepts_received++;
  repl_infl_free_to(mp, p, m->last);
  uint64_t lo = m->slot > mp->commit ? m->slot : mp->commit + 1;
  uint64_t hi = m->last < mp->log.count ? m->last : mp->log.count;
  for (uint64_t s = lo; s <= hi; s++) {
    hs_mpaxos_rec *r = hs_mpaxos_log_rec(&mp->log, s);
    if (hs_paxos_ballot_cmp(r->ballot, mp->ballot) != 0) continue;
    r->acks |= p->bit;
    if (!r->chosen && hs_paxos_popcount(r->acks) >= mp->q2) hs_mpaxos_repl_choose(mp, s);
  }
  uint64_t old_commit = mp->commit;
  hs_mpaxos_repl_advance(mp);
  if (mp->commit > old_commit) hs_mpaxos_repl_bcast_accepts(mp, true); /* tell the followers */
  else hs_mpaxos_repl_send_accepts(mp, p, false);
  repl_catchup(mp, p);
}

/* A heartbeat answer: fill the slots the follower holds beyond this leader's log, resend what
 * seems lost, send what waits, catch the follower up. */
void hs_mpaxos_repl_on_heartbeat_resp(hs_mpaxos *mp, const hs_paxos_msg *m) {
  hs_mpaxos_peer *p = repl_answer_peer(mp, m);
  if (!p) return;
  if (m->last > mp->log.count) {
    uint64_t to = m->last;
    if (to - mp->commit > mp->window) to = mp->commit + mp->window;
    repl_fill(mp, to);
    if (mp->role != HS_MPAXOS_LEADER) return;
  }
  repl_resend(mp, p);
  hs_mpaxos_repl_send_accepts(mp, p, false);
  repl_catchup(mp, p);
}

void hs_mpaxos_repl_on_chosen_ack(hs_mpaxos *mp, const hs_paxos_msg *m) {
  hs_mpaxos_peer *p = repl_answer_peer(mp, m);
  if (p) repl_catchup(mp, p);
}

/* ---- Follower side --------------------------------------------------------------------------------------- */

static void repl_nack(hs_mpaxos *mp, const hs_paxos_msg *m) {
  hs_paxos_msg nack = {.type = HS_PAXOS_MSG_NACK, .to = m->from, .ballot = m->ballot, .promised = mp->promised,
                       .commit = mp->commit};
  hs_mpaxos_send(mp, &nack);
}

/* The rules shared by Accept and heartbeat: a ballot below the promise is refused; otherwise it
 * is promised (persisted first), its sender is the leader, and its chosen prefix is noted. */
static bool repl_from_leader(hs_mpaxos *mp, const hs_paxos_msg *m) {
  if (hs_paxos_ballot_cmp(m->ballot, mp->promised) < 0) {
    repl_nack(mp, m);
    return false;
  }
  hs_mpaxos_promise(mp, m->ballot);
  hs_mpaxos_heard_leader(mp, m->from);
  if (hs_paxos_ballot_cmp(m->ballot, mp->lc_ballot) != 0) {
    mp->lc_ballot = m->ballot;
    mp->lc = m->commit;
  } else if (m->commit > mp->lc) {
    mp->lc = m->commit;
  }
  return true;
}

/* Whether v is the value r holds: same origin, type and bytes. */
static bool repl_same_value(const hs_mpaxos_log *l, const hs_mpaxos_rec *r, const hs_paxos_value *v) {
  return hs_paxos_ballot_cmp(r->origin, v->origin) == 0 && r->type == (uint8_t)v->type && r->len == v->len &&
         (!v->len || !memcmp(hs_mpaxos_log_data(l, r), v->data, v->len));
}

/* Phase 2b: the values of an Accept are accepted in its ballot, persisted, then acknowledged
 * (slot..last, a prefix of the message). A slot known chosen keeps its value; a leader can only
 * propose that same value there (an acceptor that knows a slot chosen has promised at least the
 * ballot that chose it, and every higher ballot proposes the chosen value), so another one is
 * a broken leader's and is not acknowledged. Slots beyond the window are left for later. */
void hs_mpaxos_repl_on_accept(hs_mpaxos *mp, const hs_paxos_msg *m) {
  if (!repl_from_leader(mp, m)) return;
  uint64_t first = m->n_values ? m->values[0].slot : 0, last = 0;
  for (uint32_t i = 0; i < m->n_values; i++) {
    const hs_paxos_value *v = &m->values[i];
    if (v->slot > mp->commit && v->slot - mp->commit > mp->window) break;
    hs_mpaxos_rec *r = hs_mpaxos_log_get(&mp->log, v->slot);
    if (r && r->chosen) {
      if (!repl_same_value(&mp->log, r, v)) break; /* a broken leader: never acknowledge it */
      r->ballot = m->ballot;
    } else if (hs_mpaxos_log_set(&mp->log, v->slot, m->ballot, v->origin, v->type, v->data, v->len)) {
      break; /* out of memory: acknowledge what was accepted */
    }
    if (mp->checker) {
      hs_paxos_value a;
      hs_mpaxos_log_view(&mp->log, v->slot, &a);
      hs_paxos_checker_note_accept(mp->checker, mp->id, &a, mp->now);
    }
    last = v->slot;
  }
  if (last) hs_mpaxos_persist_slots(mp, first, last);
  hs_mpaxos_repl_advance(mp);
  if (!last) return; /* a bare Accept only carries the chosen prefix: no answer */
  hs_paxos_msg resp = {.type = HS_PAXOS_MSG_ACCEPTED, .to = m->from, .ballot = m->ballot, .slot = first,
                       .last = last, .commit = mp->commit};
  hs_mpaxos_send(mp, &resp);
}

/* A heartbeat of the promised (or a newer) ballot: learn up to its commit, answer with this
 * node's commit and last slot. */
void hs_mpaxos_repl_on_heartbeat(hs_mpaxos *mp, const hs_paxos_msg *m) {
  if (!repl_from_leader(mp, m)) return;
  hs_mpaxos_repl_advance(mp);
  hs_paxos_msg resp = {.type = HS_PAXOS_MSG_HEARTBEAT_RESP, .to = m->from, .ballot = m->ballot,
                       .commit = mp->commit, .last = mp->log.count};
  hs_mpaxos_send(mp, &resp);
}

/* Values a leader knows chosen. They are facts whoever sends them, so any ballot is taken. A
 * candidate or leader that hears of a newer ballot here, or finds a slot it proposed chosen with
 * another value, has been overtaken and steps down first, so that it never announces its own
 * proposal there as chosen. (A defence: a leader sends Chosen only to members that answered it,
 * that is promised its ballot, so this cannot happen in a correct run; test_mpaxos_paper plays
 * it by hand.) */
void hs_mpaxos_repl_on_chosen(hs_mpaxos *mp, const hs_paxos_msg *m) {
  if (mp->role != HS_MPAXOS_FOLLOWER && hs_paxos_ballot_cmp(m->ballot, mp->ballot) > 0)
    hs_mpaxos_become_follower(mp, HS_PAXOS_NONE);
  if (mp->role == HS_MPAXOS_FOLLOWER && hs_paxos_ballot_cmp(m->ballot, mp->promised) == 0)
    hs_mpaxos_heard_leader(mp, m->from);
  for (uint32_t i = 0; i < m->n_values; i++) {
    const hs_paxos_value *v = &m->values[i];
    if (v->slot > mp->commit && v->slot - mp->commit > mp->window) break;
    hs_mpaxos_rec *r = hs_mpaxos_log_get(&mp->log, v->slot);
    if (r && r->chosen) continue;
    if (r && mp->role != HS_MPAXOS_FOLLOWER && hs_paxos_ballot_cmp(r->ballot, mp->ballot) == 0 &&
        hs_paxos_ballot_cmp(r->origin, v->origin) != 0)
      hs_mpaxos_become_follower(mp, HS_PAXOS_NONE);
    if (hs_mpaxos_log_set(&mp->log, v->slot, v->ballot, v->origin, v->type, v->data, v->len)) break;
    hs_mpaxos_repl_choose(mp, v->slot);
  }
  hs_mpaxos_repl_advance(mp);
  hs_paxos_msg ack = {.type = HS_PAXOS_MSG_CHOSEN_ACK, .to = m->from, .ballot = m->ballot, .commit = mp->commit};
  hs_mpaxos_send(mp, &ack);
}
