/*
 * hs_mpaxos.c - the Multi-Paxos node's life cycle, its timers, role transitions, the rules
 * every message goes through before its handler, and the getters. See hs_mpaxos.h.
 */
#include "paxos/hs_paxos_internal.h"

#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

bool hs_mpaxos_unsafe_build(void) {
#ifdef HS_PAXOS_UNSAFE_IGNORE_PROMISES
  return true;
#else
  return false;
#endif
}

const char *hs_mpaxos_role_name(hs_mpaxos_role role) {
  switch (role) {
  case HS_MPAXOS_FOLLOWER: return "follower";
  case HS_MPAXOS_CANDIDATE: return "candidate";
  case HS_MPAXOS_LEADER: return "leader";
  }
  return "?";
}

void hs_mpaxos_config_init(hs_mpaxos_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->election_timeout_min_ns = 5000 * MS;
  cfg->election_timeout_max_ns = 10000 * MS;
  cfg->heartbeat_interval_ns = 1000 * MS;
  cfg->max_msg_slots = 64;
  cfg->max_msg_bytes = 1u << 20;
  cfg->max_inflight = 32;
  cfg->window_slots = 65536;
  hs_rng_seed(&cfg->rng, 0, NULL, 0);
}

/* ---- Life cycle ------------------------------------------------------------------------------ */

int hs_mpaxos_new(const hs_mpaxos_config *cfg, hs_mpaxos **out) {
  *out = NULL;
  if (!cfg || cfg->id == HS_PAXOS_NONE || !cfg->cb.send) return HS_EINVAL;
  if (cfg->election_timeout_min_ns <= 0 || cfg->election_timeout_max_ns < cfg->election_timeout_min_ns ||
      cfg->heartbeat_interval_ns <= 0)
    return HS_EINVAL;
  if (cfg->max_msg_slots == 0 || cfg->max_msg_bytes == 0 || cfg->max_inflight == 0 || cfg->window_slots == 0 ||
      cfg->window_slots > HS_PAXOS_MAX_COUNTER)
    return HS_EINVAL;
  hs_paxos_members ms;
  if (hs_paxos_members_init(&ms, cfg->id, cfg->members, cfg->n_members)) return HS_EINVAL;
  uint32_t q1, q2;
  int rc = hs_paxos_quorums(ms.n, cfg->phase1_quorum, cfg->phase2_quorum, &q1, &q2);
  if (rc) return rc;

  hs_mpaxos *mp = calloc(1, sizeof *mp);
  if (!mp) return HS_ENOMEM;
  mp->id = cfg->id;
  mp->ms = ms;
  mp->q1 = q1;
  mp->q2 = q2;
  mp->et_min = cfg->election_timeout_min_ns;
  mp->et_max = cfg->election_timeout_max_ns;
  mp->hb_interval = cfg->heartbeat_interval_ns;
  mp->max_msg_slots = cfg->max_msg_slots;
  mp->max_msg_bytes = cfg->max_msg_bytes;
  mp->max_inflight = cfg->max_inflight;
  mp->window = cfg->window_slots;
  mp->cb = cfg->cb;
  mp->ud = cfg->ud;
  mp->rng = cfg->rng;
  mp->checker = cfg->checker;
  mp->election_at = mp->heartbeat_at = HS_TIME_NEVER;
  mp->stats.phase1_quorum = q1;
  mp->stats.phase2_quorum = q2;
  hs_mpaxos_log_init(&mp->log);
  for (uint32_t i = 0; i < ms.n; i++) {
    hs_mpaxos_peer *p = &mp->peers[i];
    p->id = ms.ids[i];
    p->bit = (uint64_t)1 << i;
    if (p->bit != ms.self_bit && hs_mpaxos_repl_alloc_peer(mp, p)) rc = HS_ENOMEM;
  }
  if (rc || hs_mpaxos_scratch(mp, cfg->max_msg_slots)) {
    hs_mpaxos_free(mp);
    return HS_ENOMEM;
  }
  *out = mp;
  return HS_OK;
}

void hs_mpaxos_free(hs_mpaxos *mp) {
  if (!mp) return;
  for (uint32_t i = 0; i < mp->ms.n; i++) hs_mpaxos_repl_free_peer(&mp->peers[i]);
  hs_mpaxos_log_free(&mp->log);
  hs_mpaxos_elect_free(mp);
  free(mp->props);
  free(mp->scratch);
  free(mp);
}

int hs_mpaxos_load_state(hs_mpaxos *mp, hs_paxos_ballot promised, uint64_t max_round) {
  if (mp->started) return HS_PAXOS_ESTATE;
  if (promised.round > HS_PAXOS_MAX_COUNTER || max_round > HS_PAXOS_MAX_COUNTER) return HS_EINVAL;
  mp->promised = promised;
  mp->max_round = max_round;
  return HS_OK;
}

int hs_mpaxos_load_slot(hs_mpaxos *mp, const hs_paxos_value *v) {
  if (mp->started) return HS_PAXOS_ESTATE;
  if (!v || v->slot == 0 || v->slot > HS_PAXOS_MAX_COUNTER || v->ballot.round == 0 ||
      (unsigned)v->type > HS_PAXOS_VALUE_NOOP || (v->len && !v->data))
    return HS_EINVAL;
  int rc = hs_mpaxos_log_set(&mp->log, v->slot, v->ballot, v->origin, v->type, v->data, v->len);
  if (rc) return rc;
  hs_mpaxos_log_rec(&mp->log, v->slot)->chosen = v->chosen;
  return HS_OK;
}

/* Volatile state from scratch: a follower that knows no leader, its chosen prefix taken from
 * the durable chosen flags and applied again from slot 1. */
static void mp_boot(hs_mpaxos *mp, hs_time_ns now, bool reset) {
  mp->now = now;
  mp->started = true;
  mp->crashed = false;
  mp->role = HS_MPAXOS_FOLLOWER;
  mp->leader = HS_PAXOS_NONE;
  mp->ballot = (hs_paxos_ballot){0, 0};
  mp->seen_round = 0;
  mp->lc_ballot = (hs_paxos_ballot){0, 0};
  mp->lc = 0;
  mp->commit = mp->applied = 0;
  for (uint32_t i = 0; i < mp->ms.n; i++)
    if (mp->peers[i].bit != mp->ms.self_bit) hs_mpaxos_repl_reset_peer(mp, &mp->peers[i]);
  if (reset && mp->cb.reset) mp->cb.reset(mp->ud);
  if (reset && mp->checker) hs_paxos_checker_note_restart(mp->checker, mp->id);
  hs_mpaxos_repl_advance(mp);
  hs_mpaxos_arm_election(mp);
  hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_HEARTBEAT, HS_TIME_NEVER);
  if (mp->cb.role_changed) {
    hs_mpaxos_role_event ev = {mp->role, mp->role, mp->promised, mp->leader, now};
    mp->cb.role_changed(mp->ud, &ev);
  }
}

int hs_mpaxos_start(hs_mpaxos *mp, hs_time_ns now) {
  if (mp->started) return HS_PAXOS_ESTATE;
  mp_boot(mp, now, false);
  return HS_OK;
}

void hs_mpaxos_crash(hs_mpaxos *mp) {
  if (!mp->started || mp->crashed) return;
  hs_mpaxos_repl_lose_all(mp, HS_PAXOS_ECRASHED);
  mp->crashed = true;
  mp->role = HS_MPAXOS_FOLLOWER;
  mp->leader = HS_PAXOS_NONE;
  hs_mpaxos_elect_free(mp);
  hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_ELECTION, HS_TIME_NEVER);
  hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_HEARTBEAT, HS_TIME_NEVER);
}

int hs_mpaxos_restart(hs_mpaxos *mp, hs_time_ns now) {
  if (!mp->started || !mp->crashed) return HS_PAXOS_ESTATE;
  mp_boot(mp, now, true);
  return HS_OK;
}

/* ---- Outputs ------------------------------------------------------------------------------------ */

void hs_mpaxos_send(hs_mpaxos *mp, hs_paxos_msg *m) {
  m->from = mp->id;
  mp->stats.messages_sent++;
  mp->cb.send(mp->ud, m);
}

void hs_mpaxos_persist_state(hs_mpaxos *mp) {
  if (mp->cb.persist_state) mp->cb.persist_state(mp->ud, mp->promised, mp->max_round);
}

void hs_mpaxos_persist_slots(hs_mpaxos *mp, uint64_t first, uint64_t last) {
  if (mp->cb.persist_slots && first <= last) mp->cb.persist_slots(mp->ud, first, last);
}

void hs_mpaxos_set_deadline(hs_mpaxos *mp, hs_mpaxos_timer kind, hs_time_ns at) {
  hs_time_ns *slot = kind == HS_MPAXOS_TIMER_ELECTION ? &mp->election_at : &mp->heartbeat_at;
  if (*slot == at) return;
  *slot = at;
  if (mp->cb.set_timer) mp->cb.set_timer(mp->ud, kind, at);
}

/* A fresh randomized election timeout, uniform in [min, max). */
void hs_mpaxos_arm_election(hs_mpaxos *mp) {
  hs_time_ns span = mp->et_max - mp->et_min;
  hs_time_ns d = mp->et_min + (span > 0 ? (hs_time_ns)hs_rng_below(&mp->rng, (uint64_t)span) : 0);
  mp->election_at = mp->now + d;
  if (mp->cb.set_timer) mp->cb.set_timer(mp->ud, HS_MPAXOS_TIMER_ELECTION, mp->election_at);
}

void hs_mpaxos_notify_role(hs_mpaxos *mp, hs_mpaxos_role prev_role, uint32_t prev_leader) {
  if (mp->leader != HS_PAXOS_NONE && mp->leader != mp->last_leader) { /* another node leads now */
    mp->stats.leader_changes++;
    mp->last_leader = mp->leader;
  }
  if (prev_role == mp->role && prev_leader == mp->leader) return;
  if (!mp->cb.role_changed) return;
  hs_mpaxos_role_event ev = {mp->role, prev_role, mp->promised, mp->leader, mp->now};
  mp->cb.role_changed(mp->ud, &ev);
}

/* ---- Role transitions ------------------------------------------------------------------------- */

void hs_mpaxos_become_follower(hs_mpaxos *mp, uint32_t leader) {
  hs_mpaxos_role prev_role = mp->role;
  uint32_t prev_leader = mp->leader;
  mp->role = HS_MPAXOS_FOLLOWER;
  mp->leader = leader;
  hs_mpaxos_arm_election(mp);
  hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_HEARTBEAT, HS_TIME_NEVER);
  if (prev_role != HS_MPAXOS_FOLLOWER) {
    for (uint32_t i = 0; i < mp->ms.n; i++)
      if (mp->peers[i].bit != mp->ms.self_bit) hs_mpaxos_repl_reset_peer(mp, &mp->peers[i]);
    hs_mpaxos_elect_free(mp);
  }
  hs_mpaxos_notify_role(mp, prev_role, prev_leader);
}

void hs_mpaxos_promise(hs_mpaxos *mp, hs_paxos_ballot b) {
  if (hs_paxos_ballot_cmp(b, mp->promised) <= 0) return;
  mp->promised = b;
  hs_mpaxos_persist_state(mp);
  if (mp->role != HS_MPAXOS_FOLLOWER) hs_mpaxos_become_follower(mp, HS_PAXOS_NONE);
}

void hs_mpaxos_heard_leader(hs_mpaxos *mp, uint32_t leader) {
  if (mp->role != HS_MPAXOS_FOLLOWER) return; /* its own ballot: cannot come from another node */
  hs_mpaxos_arm_election(mp);
  if (mp->leader == leader) return;
  uint32_t prev = mp->leader;
  mp->leader = leader;
  hs_mpaxos_notify_role(mp, mp->role, prev);
}

hs_mpaxos_peer *hs_mpaxos_peer_find(hs_mpaxos *mp, uint32_t id) {
  uint64_t bit = hs_paxos_members_bit(&mp->ms, id);
  if (!bit || bit == mp->ms.self_bit) return NULL;
  return &mp->peers[__builtin_ctzll(bit)];
}

int hs_mpaxos_scratch(hs_mpaxos *mp, uint64_t n) {
  if (n <= mp->scratch_cap) return HS_OK;
  uint64_t cap = mp->scratch_cap ? mp->scratch_cap : 64;
  while (cap < n) cap *= 2;
  hs_paxos_value *p = realloc(mp->scratch, cap * sizeof *p);
  if (!p) return HS_ENOMEM;
  mp->scratch = p;
  mp->scratch_cap = cap;
  return HS_OK;
}

/* ---- Inputs ------------------------------------------------------------------------------------ */

static int mp_live(const hs_mpaxos *mp) {
  if (!mp->started) return HS_PAXOS_ESTATE;
  if (mp->crashed) return HS_PAXOS_ECRASHED;
  return HS_OK;
}

/* The leader's quorum check: step down unless phase2_quorum members (itself included) answered
 * during the last period, so a leader cut off from the others stops claiming leadership. */
static void mp_check_quorum(hs_mpaxos *mp) {
  uint32_t active = 1;
  for (uint32_t i = 0; i < mp->ms.n; i++) {
    hs_mpaxos_peer *p = &mp->peers[i];
    if (p->bit == mp->ms.self_bit) continue;
    active += p->recent_active;
    p->recent_active = false;
  }
  if (active < mp->q2) hs_mpaxos_become_follower(mp, HS_PAXOS_NONE);
  else hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_ELECTION, mp->now + mp->et_min);
}

int hs_mpaxos_tick(hs_mpaxos *mp, hs_time_ns now) {
  int rc = mp_live(mp);
  if (rc) return rc;
  mp->now = now;
  if (mp->role == HS_MPAXOS_LEADER) {
    if (mp->election_at <= now) mp_check_quorum(mp);
    if (mp->role == HS_MPAXOS_LEADER && mp->heartbeat_at <= now) {
      hs_mpaxos_set_deadline(mp, HS_MPAXOS_TIMER_HEARTBEAT, now + mp->hb_interval);
      hs_mpaxos_repl_bcast_heartbeat(mp);
    }
  } else if (mp->election_at <= now) {
    hs_mpaxos_elect_start(mp);
  }
  return HS_OK;
}

int hs_mpaxos_campaign(hs_mpaxos *mp, hs_time_ns now) {
  int rc = mp_live(mp);
  if (rc) return rc;
  mp->now = now;
  if (mp->role != HS_MPAXOS_LEADER) hs_mpaxos_elect_start(mp);
  return HS_OK;
}

hs_time_ns hs_mpaxos_next_deadline(const hs_mpaxos *mp) {
  if (!mp->started || mp->crashed) return HS_TIME_NEVER;
  return mp->election_at < mp->heartbeat_at ? mp->election_at : mp->heartbeat_at;
}

hs_time_ns hs_mpaxos_deadline(const hs_mpaxos *mp, hs_mpaxos_timer kind) {
  return kind == HS_MPAXOS_TIMER_ELECTION ? mp->election_at : mp->heartbeat_at;
}

/* What Multi-Paxos adds to hs_paxos_msg_sane: an Accept's values are consecutive slots (its
 * answer acknowledges a range), and a Promise reports no slot below the one it covers. (Slots
 * far beyond the chosen prefix are not malformed: each handler leaves what lies beyond the
 * window, so no message makes the node allocate without bound.) */
static bool mp_shape_ok(const hs_paxos_msg *m) {
  if (m->type == HS_PAXOS_MSG_ACCEPT)
    for (uint32_t i = 1; i < m->n_values; i++)
      if (m->values[i].slot != m->values[0].slot + i) return false;
  if (m->type == HS_PAXOS_MSG_PROMISE && m->n_values && m->values[0].slot < m->slot) return false;
  return true;
}

int hs_mpaxos_step(hs_mpaxos *mp, const hs_paxos_msg *m, hs_time_ns now) {
  int rc = mp_live(mp);
  if (rc) return rc;
  if (!hs_paxos_msg_sane(m, mp->id, &mp->ms) || !mp_shape_ok(m)) {
    mp->stats.malformed_messages++;
    return HS_EINVAL;
  }
  mp->now = now;
  if (m->ballot.round > mp->seen_round) mp->seen_round = m->ballot.round;
  if (m->promised.round > mp->seen_round) mp->seen_round = m->promised.round;
  switch (m->type) {
  case HS_PAXOS_MSG_PREPARE: hs_mpaxos_elect_on_prepare(mp, m); break;
  case HS_PAXOS_MSG_PROMISE: hs_mpaxos_elect_on_promise(mp, m); break;
  case HS_PAXOS_MSG_NACK: hs_mpaxos_elect_on_nack(mp, m); break;
  case HS_PAXOS_MSG_ACCEPT: hs_mpaxos_repl_on_accept(mp, m); break;
  case HS_PAXOS_MSG_ACCEPTED: hs_mpaxos_repl_on_accepted(mp, m); break;
  case HS_PAXOS_MSG_HEARTBEAT: hs_mpaxos_repl_on_heartbeat(mp, m); break;
  case HS_PAXOS_MSG_HEARTBEAT_RESP: hs_mpaxos_repl_on_heartbeat_resp(mp, m); break;
  case HS_PAXOS_MSG_CHOSEN: hs_mpaxos_repl_on_chosen(mp, m); break;
  case HS_PAXOS_MSG_CHOSEN_ACK: hs_mpaxos_repl_on_chosen_ack(mp, m); break;
  default: break;
  }
  return HS_OK;
}

int hs_mpaxos_submit(hs_mpaxos *mp, hs_time_ns now, const void *data, size_t len, uint64_t tag,
                     uint64_t *slot_out) {
  int rc = mp_live(mp);
  if (rc) return rc;
  if ((len && !data) || len > UINT32_MAX) return HS_EINVAL;
  mp->now = now;
  if (mp->role != HS_MPAXOS_LEADER) return HS_PAXOS_ENOTLEADER;
  if (mp->log.count - mp->commit >= mp->window) return HS_PAXOS_EBUSY;
  uint64_t slot = mp->log.count + 1;
  rc = hs_mpaxos_repl_track(mp, slot, mp->ballot, tag);
  if (rc) return rc;
  rc = hs_mpaxos_repl_propose_local(mp, slot, mp->ballot, HS_PAXOS_VALUE_NORMAL, data, (uint32_t)len);
  if (rc) {
    mp->props_len--; /* not proposed: forget it */
    return rc;
  }
  if (slot_out) *slot_out = slot;
  hs_mpaxos_repl_bcast_accepts(mp, false);
  hs_mpaxos_repl_advance(mp); /* phase2_quorum 1: chosen already */
  return HS_OK;
}

/* ---- Getters ------------------------------------------------------------------------------------- */

void hs_mpaxos_get_stats(const hs_mpaxos *mp, hs_mpaxos_stats *out) {
  *out = mp->stats;
  out->role = mp->role;
  out->is_leader = mp->role == HS_MPAXOS_LEADER && !mp->crashed;
  out->current_leader = mp->leader;
  out->current_ballot = mp->promised;
  out->log_length = mp->log.count;
  out->commit_index = mp->commit;
  out->applied_index = mp->applied;
  out->crashed = mp->crashed;
}

uint32_t hs_mpaxos_id(const hs_mpaxos *mp) { return mp->id; }
hs_mpaxos_role hs_mpaxos_role_of(const hs_mpaxos *mp) { return mp->role; }
uint32_t hs_mpaxos_leader(const hs_mpaxos *mp) { return mp->leader; }
hs_paxos_ballot hs_mpaxos_promised(const hs_mpaxos *mp) { return mp->promised; }
uint64_t hs_mpaxos_commit_index(const hs_mpaxos *mp) { return mp->commit; }
uint64_t hs_mpaxos_applied_index(const hs_mpaxos *mp) { return mp->applied; }
uint64_t hs_mpaxos_last_slot(const hs_mpaxos *mp) { return mp->log.count; }
bool hs_mpaxos_crashed(const hs_mpaxos *mp) { return mp->crashed; }
uint64_t hs_mpaxos_pending(const hs_mpaxos *mp) { return mp->props_len; }

int hs_mpaxos_slot_at(const hs_mpaxos *mp, uint64_t slot, hs_paxos_value *v) {
  if (slot == 0 || slot > mp->log.count) return HS_EINVAL;
  hs_mpaxos_log_view(&mp->log, slot, v);
  return HS_OK;
}
