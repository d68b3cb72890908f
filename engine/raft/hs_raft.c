/*
 * hs_raft.c - the node's life cycle, its timers, the term rules every message goes through,
 * and the role transitions.
 */
#include "raft/hs_raft_internal.h"

#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

bool hs_raft_unsafe_build(void) {
#ifdef HS_RAFT_UNSAFE_DOUBLE_VOTE
  return true;
#else
  return false;
#endif
}

void hs_raft_config_init(hs_raft_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->election_timeout_min_ns = 1500 * MS;
  cfg->election_timeout_max_ns = 3000 * MS;
  cfg->heartbeat_interval_ns = 500 * MS;
  cfg->pre_vote = true;
  cfg->check_quorum = true;
  cfg->max_msg_entries = 64;
  cfg->max_msg_bytes = 1u << 20;
  cfg->max_inflight = 32;
  hs_rng_seed(&cfg->rng, 0, NULL, 0);
}

/* ---- Life cycle ------------------------------------------------------------------------- */

static int node_bootstrap_conf(hs_raft_conf *c, const hs_raft_config *cfg) {
  memset(c, 0, sizeof *c);
  if ((cfg->n_voters && !cfg->voters) || (cfg->n_learners && !cfg->learners)) return HS_EINVAL;
  if ((uint64_t)cfg->n_voters + cfg->n_learners > HS_RAFT_MAX_NODES) return HS_EINVAL;
  for (uint32_t i = 0; i < cfg->n_voters; i++) {
    /* hs_raft_conf_apply refuses duplicates; the first voter cannot go through REMOVE rules */
    if (hs_raft_conf_apply(c, HS_RAFT_CONF_ADD_VOTER, cfg->voters[i])) return HS_EINVAL;
  }
  for (uint32_t i = 0; i < cfg->n_learners; i++)
    if (hs_raft_conf_apply(c, HS_RAFT_CONF_ADD_LEARNER, cfg->learners[i])) return HS_EINVAL;
  return HS_OK;
}

int hs_raft_new(const hs_raft_config *cfg, hs_raft **out) {
  *out = NULL;
  if (!cfg || cfg->id == HS_RAFT_NONE || !cfg->cb.send) return HS_EINVAL;
  if (cfg->election_timeout_min_ns <= 0 || cfg->election_timeout_max_ns < cfg->election_timeout_min_ns ||
      cfg->heartbeat_interval_ns <= 0)
    return HS_EINVAL;
  if (cfg->max_msg_entries == 0 || cfg->max_inflight == 0 || cfg->max_msg_bytes == 0) return HS_EINVAL;
  hs_raft_conf boot;
  if (node_bootstrap_conf(&boot, cfg)) return HS_EINVAL;

  hs_raft *r = calloc(1, sizeof *r);
  if (!r) return HS_ENOMEM;
  r->id = cfg->id;
  r->et_min = cfg->election_timeout_min_ns;
  r->et_max = cfg->election_timeout_max_ns;
  r->hb_interval = cfg->heartbeat_interval_ns;
  r->pre_vote = cfg->pre_vote;
  r->check_quorum = cfg->check_quorum;
  r->drop_on_step_down = cfg->drop_proposals_on_step_down;
  r->max_msg_entries = cfg->max_msg_entries;
  r->max_msg_bytes = cfg->max_msg_bytes;
  r->max_inflight = cfg->max_inflight;
  r->snapshot_threshold = cfg->snapshot_threshold;
  r->cb = cfg->cb;
  r->ud = cfg->ud;
  r->rng = cfg->rng;
  hs_raft_log_init(&r->log);
  r->snap_conf = boot;
  r->election_at = r->heartbeat_at = HS_TIME_NEVER;
  r->leader_contact_ns = INT64_MIN;
  r->scratch = malloc(cfg->max_msg_entries * sizeof *r->scratch);
  r->match_scratch = malloc(HS_RAFT_MAX_NODES * sizeof *r->match_scratch);
  if (!r->scratch || !r->match_scratch || hs_raft_conf_set(r, &boot, 0)) {
    hs_raft_free(r);
    return HS_ENOMEM;
  }
  *out = r;
  return HS_OK;
}

void hs_raft_free(hs_raft *r) {
  if (!r) return;
  hs_raft_conf_free_peers(r);
  hs_raft_log_free(&r->log);
  free(r->snap_data);
  free(r->props);
  free(r->reads);
  free(r->scratch);
  free(r->match_scratch);
  free(r);
}

int hs_raft_load_state(hs_raft *r, uint64_t term, uint32_t vote) {
  if (r->started) return HS_RAFT_ESTATE;
  r->term = term;
  r->vote = vote;
  return HS_OK;
}

static int node_copy_snapshot(hs_raft *r, const uint8_t *data, size_t len) {
  if (len > r->snap_cap) {
    uint8_t *p = realloc(r->snap_data, len);
    if (!p) return HS_ENOMEM;
    r->snap_data = p;
    r->snap_cap = len;
  }
  if (len) memcpy(r->snap_data, data, len);
  r->snap_len = len;
  return HS_OK;
}

int hs_raft_load_snapshot(hs_raft *r, uint64_t index, uint64_t term, const hs_raft_conf *conf,
                          const uint8_t *data, size_t len) {
  if (r->started) return HS_RAFT_ESTATE;
  if (!conf || (len && !data) || (index == 0) != (term == 0)) return HS_EINVAL;
  int rc = node_copy_snapshot(r, data, len);
  if (rc) return rc;
  hs_raft_log_reset(&r->log, index, term);
  r->snap_conf = *conf;
  return hs_raft_conf_recompute(r);
}

int hs_raft_load_entries(hs_raft *r, const hs_raft_entry *entries, size_t n) {
  if (r->started) return HS_RAFT_ESTATE;
  uint64_t last_term = hs_raft_last_term(r);
  for (size_t i = 0; i < n; i++) {
    const hs_raft_entry *e = &entries[i];
    if (e->index != hs_raft_log_last(&r->log) + 1 || e->term < last_term || e->term == 0 ||
        e->type > HS_RAFT_ENTRY_CONF || (e->len && !e->data))
      return HS_EINVAL;
    int rc = hs_raft_log_append(&r->log, e->term, e->type, e->data, e->len);
    if (rc) return rc;
    last_term = e->term;
  }
  return hs_raft_conf_recompute(r);
}

/* Volatile state from scratch: a follower of the durable term with nothing committed beyond
 * the snapshot. restore: hand the snapshot (or the empty state) to the state machine. */
static int node_boot(hs_raft *r, hs_time_ns now, bool restore) {
  r->now = now;
  r->crashed = false;
  r->stats.crashed = false;
  r->role = HS_RAFT_FOLLOWER;
  r->leader = HS_RAFT_NONE;
  r->leader_contact_ns = INT64_MIN;
  r->commit = r->applied = r->log.snap_index;
  int rc = hs_raft_conf_recompute(r);
  if (rc) return rc;
  for (uint32_t i = 0; i < r->n_peers; i++) hs_raft_repl_reset_progress(r, &r->peers[i]);
  if ((restore || r->log.snap_index) && r->cb.snapshot_restore)
    r->cb.snapshot_restore(r->ud, r->log.snap_index, r->log.snap_term, r->snap_len ? r->snap_data : NULL,
                           r->snap_len);
  hs_raft_arm_election(r);
  hs_raft_set_deadline(r, HS_RAFT_TIMER_HEARTBEAT, HS_TIME_NEVER);
  if (r->cb.role_changed) {
    hs_raft_role_event ev = {r->role, r->role, r->term, r->leader, now};
    r->cb.role_changed(r->ud, &ev);
  }
  return HS_OK;
}

int hs_raft_start(hs_raft *r, hs_time_ns now) {
  if (r->started) return HS_RAFT_ESTATE;
  r->started = true;
  return node_boot(r, now, false);
}

static void node_transfer_end(hs_raft *r, int status);

void hs_raft_crash(hs_raft *r) {
  if (!r->started || r->crashed) return;
  node_transfer_end(r, HS_RAFT_ECRASHED);
  hs_raft_read_fail_all(r, HS_RAFT_ECRASHED);
  hs_raft_repl_lose_props(r, 0, HS_RAFT_ECRASHED);
  r->crashed = true;
  r->stats.crashed = true;
  r->role = HS_RAFT_FOLLOWER;
  r->leader = HS_RAFT_NONE;
  for (uint32_t i = 0; i < r->n_peers; i++) hs_raft_repl_reset_progress(r, &r->peers[i]);
  hs_raft_set_deadline(r, HS_RAFT_TIMER_ELECTION, HS_TIME_NEVER);
  hs_raft_set_deadline(r, HS_RAFT_TIMER_HEARTBEAT, HS_TIME_NEVER);
}

int hs_raft_restart(hs_raft *r, hs_time_ns now) {
  if (!r->started || !r->crashed) return HS_RAFT_ESTATE;
  return node_boot(r, now, true);
}

/* ---- Outputs ------------------------------------------------------------------------------ */

void hs_raft_send(hs_raft *r, hs_raft_msg *m) {
  m->from = r->id;
  r->stats.messages_sent++;
  r->cb.send(r->ud, m);
}

void hs_raft_persist_state(hs_raft *r) {
  if (r->cb.persist_state) r->cb.persist_state(r->ud, r->term, r->vote);
}

void hs_raft_set_deadline(hs_raft *r, hs_raft_timer kind, hs_time_ns at) {
  hs_time_ns *slot = kind == HS_RAFT_TIMER_ELECTION ? &r->election_at : &r->heartbeat_at;
  if (*slot == at) return;
  *slot = at;
  if (r->cb.set_timer) r->cb.set_timer(r->ud, kind, at);
}

/* A fresh randomized election timeout, uniform in [min, max). */
void hs_raft_arm_election(hs_raft *r) {
  hs_time_ns span = r->et_max - r->et_min;
  hs_time_ns d = r->et_min + (span > 0 ? (hs_time_ns)hs_rng_below(&r->rng, (uint64_t)span) : 0);
  /* reported even when the instant happens to be the same: every transition re-arms */
  r->election_at = r->now + d;
  if (r->cb.set_timer) r->cb.set_timer(r->ud, HS_RAFT_TIMER_ELECTION, r->election_at);
}

void hs_raft_notify_role(hs_raft *r, hs_raft_role prev_role, uint64_t prev_term, uint32_t prev_leader) {
  if (prev_role == r->role && prev_term == r->term && prev_leader == r->leader) return;
  /* a transfer started here ends when a leader of a later term is known */
  if (r->transfer_to != HS_RAFT_NONE && r->leader != HS_RAFT_NONE && r->term > r->transfer_term)
    node_transfer_end(r, r->leader == r->transfer_to ? HS_OK : HS_RAFT_ELEADERSHIP);
  if (!r->cb.role_changed) return;
  hs_raft_role_event ev = {r->role, prev_role, r->term, r->leader, r->now};
  r->cb.role_changed(r->ud, &ev);
}

uint64_t hs_raft_last_term(const hs_raft *r) {
  uint64_t t = 0;
  hs_raft_log_term(&r->log, hs_raft_log_last(&r->log), &t);
  return t;
}

/* ---- Role transitions ----------------------------------------------------------------------- */

void hs_raft_become_follower(hs_raft *r, uint64_t term, uint32_t leader) {
  hs_raft_role prev_role = r->role;
  uint64_t prev_term = r->term;
  uint32_t prev_leader = r->leader;
  if (term > r->term) {
    r->term = term;
    r->vote = HS_RAFT_NONE;
    hs_raft_persist_state(r);
  }
  r->role = HS_RAFT_FOLLOWER;
  r->leader = leader;
  if (leader != HS_RAFT_NONE) r->leader_contact_ns = r->now;
  hs_raft_arm_election(r);
  hs_raft_set_deadline(r, HS_RAFT_TIMER_HEARTBEAT, HS_TIME_NEVER);
  if (prev_role == HS_RAFT_LEADER) {
    for (uint32_t i = 0; i < r->n_peers; i++) hs_raft_repl_reset_progress(r, &r->peers[i]);
    hs_raft_read_fail_all(r, HS_RAFT_ELEADERSHIP);
    if (r->drop_on_step_down) hs_raft_repl_lose_props(r, 0, HS_RAFT_ELEADERSHIP);
  }
  hs_raft_notify_role(r, prev_role, prev_term, prev_leader);
}

/* Leader of the current term: fresh progress for every member, both timers armed, a no-op
 * entry appended and sent (its commitment commits everything before it, Figure 8). */
void hs_raft_become_leader(hs_raft *r) {
  hs_raft_role prev_role = r->role;
  uint32_t prev_leader = r->leader;
  r->role = HS_RAFT_LEADER;
  r->leader = r->id;
  r->stats.elections_won++;
  for (uint32_t i = 0; i < r->n_peers; i++) hs_raft_repl_reset_progress(r, &r->peers[i]);
  hs_raft_set_deadline(r, HS_RAFT_TIMER_HEARTBEAT, r->now + r->hb_interval);
  hs_raft_set_deadline(r, HS_RAFT_TIMER_ELECTION, r->check_quorum ? r->now + r->et_min : HS_TIME_NEVER);
  hs_raft_notify_role(r, prev_role, r->term, prev_leader);
  uint64_t index;
  if (hs_raft_repl_append_local(r, HS_RAFT_ENTRY_NOOP, NULL, 0, &index) == HS_OK) {
    hs_raft_repl_bcast_append(r, false);
    hs_raft_repl_maybe_commit(r);
  }
}

/* ---- Inputs -------------------------------------------------------------------------------- */

static int node_check_live(const hs_raft *r) {
  if (!r->started) return HS_RAFT_ESTATE;
  if (r->crashed) return HS_RAFT_ECRASHED;
  return HS_OK;
}

/* The leader's check-quorum: step down unless a quorum of voters was heard from in the last
 * period (thesis 6.2), so an isolated leader stops serving and stops claiming leadership. */
static void node_check_quorum(hs_raft *r) {
  uint32_t active = 0;
  for (uint32_t i = 0; i < r->n_peers; i++) {
    hs_raft_peer *p = &r->peers[i];
    if (p->voter && (p->id == r->id || p->recent_active)) active++;
    p->recent_active = false;
  }
  if (active < hs_raft_quorum(r)) hs_raft_become_follower(r, r->term, HS_RAFT_NONE);
  else hs_raft_set_deadline(r, HS_RAFT_TIMER_ELECTION, r->now + r->et_min);
}

int hs_raft_tick(hs_raft *r, hs_time_ns now) {
  int rc = node_check_live(r);
  if (rc) return rc;
  r->now = now;
  if (r->transfer_to != HS_RAFT_NONE && now >= r->transfer_deadline) node_transfer_end(r, HS_RAFT_ETIMEOUT);
  if (r->role == HS_RAFT_LEADER) {
    if (r->election_at <= now) node_check_quorum(r);
    if (r->role == HS_RAFT_LEADER && r->heartbeat_at <= now) {
      hs_raft_set_deadline(r, HS_RAFT_TIMER_HEARTBEAT, now + r->hb_interval);
      hs_raft_repl_bcast_heartbeat(r);
    }
  } else if (r->election_at <= now) {
    if (hs_raft_is_voter(r)) hs_raft_elect_start(r, r->pre_vote, false);
    else hs_raft_arm_election(r);
  }
  return HS_OK;
}

int hs_raft_campaign(hs_raft *r, hs_time_ns now) {
  int rc = node_check_live(r);
  if (rc) return rc;
  r->now = now;
  if (r->role != HS_RAFT_LEADER && hs_raft_is_voter(r)) hs_raft_elect_start(r, r->pre_vote, false);
  return HS_OK;
}

/* ---- Leadership transfer (thesis 3.10) -------------------------------------------------------- */

static void node_transfer_end(hs_raft *r, int status) {
  if (r->transfer_to == HS_RAFT_NONE) return;
  uint64_t tag = r->transfer_tag;
  r->transfer_to = HS_RAFT_NONE;
  if (status == HS_OK) r->stats.transfers_done++;
  if (r->cb.transfer_done) r->cb.transfer_done(r->ud, tag, status);
}

/* A TimeoutNow that arrives after the target's election began is stale there (an older term)
 * and changes nothing, so resending one that may have been lost is safe. */
void hs_raft_transfer_progress(hs_raft *r, const hs_raft_peer *p) {
  if (r->role != HS_RAFT_LEADER || p->id != r->transfer_to) return;
  if (p->match < hs_raft_log_last(&r->log)) return;
  if (r->transfer_sent_ns != INT64_MIN && r->now < r->transfer_sent_ns + r->hb_interval) return;
  r->transfer_sent_ns = r->now;
  hs_raft_msg m = {.type = HS_RAFT_MSG_TIMEOUT_NOW, .to = p->id, .term = r->term};
  hs_raft_send(r, &m);
}

int hs_raft_transfer_leadership(hs_raft *r, hs_time_ns now, uint32_t target, uint64_t tag) {
  int rc = node_check_live(r);
  if (rc) return rc;
  r->now = now;
  if (r->role != HS_RAFT_LEADER) return HS_RAFT_ENOTLEADER;
  if (r->transfer_to != HS_RAFT_NONE) return HS_RAFT_ETRANSFER;
  hs_raft_peer *p = hs_raft_peer_find(r, target);
  if (!p || !p->voter) return HS_EINVAL;
  r->stats.transfers_started++;
  r->transfer_to = target;
  r->transfer_tag = tag;
  r->transfer_term = r->term;
  r->transfer_sent_ns = INT64_MIN;
  r->transfer_deadline = now + r->et_max;
  if (target == r->id) {
    node_transfer_end(r, HS_OK); /* it leads already */
    return HS_OK;
  }
  if (p->match < hs_raft_log_last(&r->log))
    hs_raft_repl_send_append(r, p, true); /* catch it up; the answer sends TimeoutNow */
  else
    hs_raft_transfer_progress(r, p);
  return HS_OK;
}

uint32_t hs_raft_transfer_target(const hs_raft *r) { return r->transfer_to; }

hs_time_ns hs_raft_next_deadline(const hs_raft *r) {
  if (!r->started || r->crashed) return HS_TIME_NEVER;
  return r->election_at < r->heartbeat_at ? r->election_at : r->heartbeat_at;
}

hs_time_ns hs_raft_deadline(const hs_raft *r, hs_raft_timer kind) {
  return kind == HS_RAFT_TIMER_ELECTION ? r->election_at : r->heartbeat_at;
}

/* Heard from a leader recently enough that vote requests are ignored: leader stickiness
 * (thesis 4.2.3, with check-quorum) and the pre-vote condition (thesis 9.6: a pre-vote is
 * granted only if no heartbeat came from a valid leader within the minimum election timeout). */
static bool node_in_lease(const hs_raft *r, bool pre) {
  if (!r->check_quorum && !pre) return false;
  if (r->role == HS_RAFT_LEADER) return true;
  return r->leader != HS_RAFT_NONE && r->leader_contact_ns > r->now - r->et_min;
}

static bool node_from_leader(hs_raft_msg_type t) {
  return t == HS_RAFT_MSG_APP || t == HS_RAFT_MSG_HEARTBEAT || t == HS_RAFT_MSG_SNAP;
}

/*
 * The rules every message goes through before its handler (Figure 2, "All Servers"):
 *   - a higher term makes this node a follower of that term, except for the pre-vote
 *     messages, which speak of a term not yet taken; vote requests received while a leader is
 *     known to be alive are dropped without even looking at their term;
 *   - a lower term is stale: dropped, but a stale leader's AppendEntries or heartbeat is
 *     answered with the current term (with pre-vote or check-quorum, a node may have a higher
 *     term than the majority, and this is how the stale leader learns it), and a stale
 *     pre-vote is denied.
 */
/* Every term and index of m within HS_RAFT_MAX_COUNTER, its entries' indexes included. */
static bool node_counters_sane(const hs_raft_msg *m) {
  const uint64_t max = HS_RAFT_MAX_COUNTER;
  if (m->term > max || m->index > max - m->n_entries || m->log_term > max || m->commit > max ||
      m->hint_index > max || m->hint_term > max)
    return false;
  for (uint32_t i = 0; i < m->n_entries; i++)
    if (m->entries[i].term > max) return false;
  return true;
}

int hs_raft_step(hs_raft *r, const hs_raft_msg *m, hs_time_ns now) {
  int rc = node_check_live(r);
  if (rc) return rc;
  if (!m || m->to != r->id || m->from == HS_RAFT_NONE || m->from == r->id ||
      (unsigned)m->type >= HS_RAFT_MSG_TYPE_COUNT || (m->n_entries && !m->entries) || !node_counters_sane(m))
    return HS_EINVAL;
  r->now = now;
  hs_raft_msg_type t = m->type;
  if ((t == HS_RAFT_MSG_PRE_VOTE || (t == HS_RAFT_MSG_VOTE && m->term > r->term && m->context != HS_RAFT_VOTE_TRANSFER)) &&
      node_in_lease(r, t == HS_RAFT_MSG_PRE_VOTE))
    return HS_OK;
  if (m->term > r->term) {
    bool future_term = t == HS_RAFT_MSG_PRE_VOTE || (t == HS_RAFT_MSG_PRE_VOTE_RESP && !m->reject);
    if (!future_term) hs_raft_become_follower(r, m->term, node_from_leader(t) ? m->from : HS_RAFT_NONE);
  } else if (m->term < r->term) {
    if ((r->check_quorum || r->pre_vote) && (t == HS_RAFT_MSG_APP || t == HS_RAFT_MSG_HEARTBEAT)) {
      hs_raft_msg resp = {.type = HS_RAFT_MSG_APP_RESP, .to = m->from, .term = r->term};
      hs_raft_send(r, &resp);
    } else if (t == HS_RAFT_MSG_PRE_VOTE) {
      hs_raft_msg resp = {.type = HS_RAFT_MSG_PRE_VOTE_RESP, .to = m->from, .term = r->term, .reject = true};
      hs_raft_send(r, &resp);
    }
    return HS_OK;
  }

  switch (t) {
  case HS_RAFT_MSG_VOTE:
  case HS_RAFT_MSG_PRE_VOTE: hs_raft_elect_on_vote(r, m); break;
  case HS_RAFT_MSG_VOTE_RESP:
  case HS_RAFT_MSG_PRE_VOTE_RESP: hs_raft_elect_on_vote_resp(r, m); break;
  case HS_RAFT_MSG_APP:
  case HS_RAFT_MSG_HEARTBEAT:
  case HS_RAFT_MSG_SNAP:
    if (r->role == HS_RAFT_LEADER) break; /* another leader of this term: impossible, ignored */
    if (r->role != HS_RAFT_FOLLOWER || r->leader != m->from) hs_raft_become_follower(r, m->term, m->from);
    if (t == HS_RAFT_MSG_APP) hs_raft_repl_on_append(r, m);
    else if (t == HS_RAFT_MSG_HEARTBEAT) hs_raft_repl_on_heartbeat(r, m);
    else hs_raft_repl_on_snapshot(r, m);
    break;
  case HS_RAFT_MSG_APP_RESP:
    if (r->role == HS_RAFT_LEADER) hs_raft_repl_on_append_resp(r, m);
    break;
  case HS_RAFT_MSG_HEARTBEAT_RESP:
    if (r->role == HS_RAFT_LEADER) hs_raft_repl_on_heartbeat_resp(r, m);
    break;
  case HS_RAFT_MSG_TIMEOUT_NOW: /* the leader of this term hands over: campaign now */
    if (r->role != HS_RAFT_LEADER && hs_raft_is_voter(r)) hs_raft_elect_start(r, false, true);
    break;
  default: break;
  }
  return HS_OK;
}

int hs_raft_propose(hs_raft *r, hs_time_ns now, const void *data, size_t len, uint64_t tag,
                    uint64_t *index_out) {
  int rc = node_check_live(r);
  if (rc) return rc;
  if (len && !data) return HS_EINVAL;
  r->now = now;
  if (r->role != HS_RAFT_LEADER) return HS_RAFT_ENOTLEADER;
  if (r->transfer_to != HS_RAFT_NONE) return HS_RAFT_ETRANSFER;
  uint64_t index;
  rc = hs_raft_repl_append_local(r, HS_RAFT_ENTRY_NORMAL, data, len, &index);
  if (rc) return rc;
  rc = hs_raft_repl_track(r, index, tag);
  if (rc) return rc; /* the entry stays in the log, untracked */
  if (index_out) *index_out = index;
  hs_raft_repl_bcast_append(r, false);
  hs_raft_repl_maybe_commit(r);
  return HS_OK;
}

/* ---- Getters ---------------------------------------------------------------------------------- */

void hs_raft_get_stats(const hs_raft *r, hs_raft_stats *out) {
  *out = r->stats;
  out->state = r->role;
  out->current_term = r->term;
  out->current_leader = r->leader;
  out->voted_for = r->vote;
  out->log_length = hs_raft_log_last(&r->log);
  out->first_index = hs_raft_log_first(&r->log);
  out->snapshot_index = r->log.snap_index;
  out->commit_index = r->commit;
  out->applied_index = r->applied;
  out->crashed = r->crashed;
}

uint32_t hs_raft_id(const hs_raft *r) { return r->id; }
hs_raft_role hs_raft_role_of(const hs_raft *r) { return r->role; }
uint64_t hs_raft_term(const hs_raft *r) { return r->term; }
uint32_t hs_raft_vote(const hs_raft *r) { return r->vote; }
uint32_t hs_raft_leader(const hs_raft *r) { return r->leader; }
uint64_t hs_raft_commit_index(const hs_raft *r) { return r->commit; }
uint64_t hs_raft_applied_index(const hs_raft *r) { return r->applied; }
uint64_t hs_raft_first_index(const hs_raft *r) { return hs_raft_log_first(&r->log); }
uint64_t hs_raft_last_index(const hs_raft *r) { return hs_raft_log_last(&r->log); }
bool hs_raft_crashed(const hs_raft *r) { return r->crashed; }

int hs_raft_entry_at(const hs_raft *r, uint64_t index, hs_raft_entry *e) {
  if (index < hs_raft_log_first(&r->log) || index > hs_raft_log_last(&r->log)) return HS_EINVAL;
  hs_raft_log_view(&r->log, index, e);
  return HS_OK;
}

uint64_t hs_raft_term_at(const hs_raft *r, uint64_t index) {
  uint64_t t = 0;
  hs_raft_log_term(&r->log, index, &t);
  return t;
}

const hs_raft_conf *hs_raft_conf_get(const hs_raft *r, uint64_t *conf_index) {
  if (conf_index) *conf_index = r->conf_index;
  return &r->conf;
}

uint64_t hs_raft_snapshot(const hs_raft *r, uint64_t *term, const uint8_t **data, size_t *len) {
  if (term) *term = r->log.snap_term;
  if (data) *data = r->snap_len ? r->snap_data : NULL;
  if (len) *len = r->snap_len;
  return r->log.snap_index;
}
