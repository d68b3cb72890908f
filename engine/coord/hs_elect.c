/*
 * hs_elect.c - the election core: epochs and backing, heartbeats, the leader-failure check,
 * conflicts between two leaders of one epoch, and the services strategies act through.
 */
#include "coord/hs_elect.h"

#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

struct hs_elect {
  uint32_t id;
  uint32_t *members; /* sorted */
  uint32_t n;
  uint8_t *alive; /* by member index */
  uint8_t *acked; /* by member index: accepted this leader's epoch */
  uint32_t n_acked;
  hs_time_ns hb, et;
  hs_elect_strategy strat;
  hs_rng rng;
  hs_elect_callbacks cb;
  void *ud;
  /* durable */
  uint64_t epoch;
  uint32_t backed;
  /* volatile */
  bool started, crashed, leading, confirmed;
  uint32_t leader;
  hs_time_ns now; /* the latest time the node was told */
  hs_time_ns core_at, strat_at;
  uint64_t participated_epoch;
  hs_elect_stats stats;
};

bool hs_elect_unsafe_build(void) {
#ifdef HS_ELECT_UNSAFE_VOLATILE_BACKING
  return true;
#else
  return false;
#endif
}

void hs_elect_config_init(hs_elect_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->heartbeat_interval_ns = 500 * MS;
  cfg->election_timeout_ns = 2000 * MS;
  hs_rng_seed(&cfg->rng, 0, NULL, 0);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void strategy_destroy(hs_elect_strategy *s) {
  if (s->ops && s->ops->destroy) s->ops->destroy(s->self);
  s->ops = NULL;
  s->self = NULL;
}

int hs_elect_new(const hs_elect_config *cfg, hs_elect **out) {
  *out = NULL;
  hs_elect_strategy strat = cfg ? cfg->strategy : (hs_elect_strategy){0};
  int rc = HS_EINVAL;
  hs_elect *e = NULL;
  if (!cfg || cfg->id == HS_ELECT_NONE || !cfg->cb.send || !strat.ops || !strat.ops->should_start_election ||
      !strat.ops->start_election || !strat.ops->handle_message || !strat.ops->on_timeout)
    goto fail;
  if (cfg->n_members == 0 || cfg->n_members > HS_ELECT_MAX_MEMBERS || !cfg->members) goto fail;
  if (cfg->heartbeat_interval_ns <= 0 || cfg->election_timeout_ns <= 0) goto fail;
  rc = HS_ENOMEM;
  e = calloc(1, sizeof *e);
  if (!e) goto fail;
  e->members = malloc(cfg->n_members * sizeof *e->members);
  e->alive = malloc(cfg->n_members);
  e->acked = calloc(cfg->n_members, 1);
  if (!e->members || !e->alive || !e->acked) goto fail;
  memcpy(e->members, cfg->members, cfg->n_members * sizeof *e->members);
  qsort(e->members, cfg->n_members, sizeof *e->members, cmp_u32);
  e->n = cfg->n_members;
  rc = HS_EINVAL;
  bool self = false;
  for (uint32_t i = 0; i < e->n; i++) {
    if (e->members[i] == HS_ELECT_NONE || (i && e->members[i] == e->members[i - 1])) goto fail;
    self |= e->members[i] == cfg->id;
  }
  if (!self) goto fail;
  memset(e->alive, 1, e->n);
  e->id = cfg->id;
  e->hb = cfg->heartbeat_interval_ns;
  e->et = cfg->election_timeout_ns;
  e->strat = strat;
  e->rng = cfg->rng;
  e->cb = cfg->cb;
  e->ud = cfg->ud;
  e->core_at = e->strat_at = HS_TIME_NEVER;
  *out = e;
  return HS_OK;
fail:
  strategy_destroy(&strat);
  if (e) {
    e->strat.ops = NULL;
    hs_elect_free(e);
  }
  return rc;
}

void hs_elect_free(hs_elect *e) {
  if (!e) return;
  strategy_destroy(&e->strat);
  free(e->members);
  free(e->alive);
  free(e->acked);
  free(e);
}

int hs_elect_load_state(hs_elect *e, uint64_t epoch, uint32_t backed) {
  if (e->started) return HS_ELECT_ESTATE;
  if (epoch > HS_ELECT_MAX_EPOCH || (backed != HS_ELECT_NONE && hs_elect_member_index(e, backed) < 0)) return HS_EINVAL;
  e->epoch = epoch;
  e->backed = backed;
  return HS_OK;
}

/* ---- Small helpers ---------------------------------------------------------------------- */

int32_t hs_elect_member_index(const hs_elect *e, uint32_t id) {
  uint32_t lo = 0, hi = e->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (e->members[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < e->n && e->members[lo] == id ? (int32_t)lo : -1;
}

static void elect_set_deadline(hs_elect *e, hs_elect_timer kind, hs_time_ns at) {
  hs_time_ns *slot = kind == HS_ELECT_TIMER_CORE ? &e->core_at : &e->strat_at;
  if (*slot == at) return;
  *slot = at;
  if (e->cb.set_timer) e->cb.set_timer(e->ud, kind, at);
}

static void elect_persist(hs_elect *e) {
  if (e->cb.persist) e->cb.persist(e->ud, e->epoch, e->backed);
}

static void elect_set_leader(hs_elect *e, uint32_t leader, hs_time_ns now) {
  if (leader == e->leader) return;
  hs_elect_leader_event ev = {.leader = leader, .prev_leader = e->leader, .epoch = e->epoch,
                              .is_self = leader == e->id, .now = now};
  e->leader = leader;
  if (e->cb.leader_changed) e->cb.leader_changed(e->ud, &ev);
}

/* Adopts a later epoch: backs nobody (persisted), a leader steps down, the failure check
 * restarts from now. */
static void elect_adopt_epoch(hs_elect *e, uint64_t epoch, hs_time_ns now) {
  if (epoch <= e->epoch) return;
  e->epoch = epoch;
  e->backed = HS_ELECT_NONE;
  elect_persist(e);
  if (e->leading) {
    e->leading = false;
    elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->et);
  }
  elect_set_leader(e, HS_ELECT_NONE, now);
}

static void elect_reply_ack(hs_elect *e, uint32_t to, bool refused) {
  hs_elect_msg ack = {.type = HS_ELECT_MSG_HEARTBEAT_ACK, .to = to, .flag = refused, .candidate = e->backed};
  hs_elect_send(e, &ack);
}

static void elect_heartbeat_round(hs_elect *e, bool announce) {
  for (uint32_t i = 0; i < e->n; i++) {
    if (e->members[i] == e->id) continue;
    hs_elect_msg hb = {.type = HS_ELECT_MSG_HEARTBEAT, .to = e->members[i], .flag = announce};
    hs_elect_send(e, &hb);
    e->stats.heartbeats_sent++;
  }
}

static void elect_note_ack(hs_elect *e, uint32_t from, hs_time_ns now) {
  int32_t i = hs_elect_member_index(e, from);
  if (i >= 0 && !e->acked[i]) {
    e->acked[i] = 1;
    e->n_acked++;
  }
  if (!e->confirmed && e->n_acked + 1 >= hs_elect_quorum(e)) {
    e->confirmed = true;
    e->stats.leaders_confirmed++;
    if (e->cb.confirmed) e->cb.confirmed(e->ud, e->epoch, now);
  }
}

/* ---- Life cycle --------------------------------------------------------------------------- */

int hs_elect_start(hs_elect *e, hs_time_ns now) {
  if (now > e->now) e->now = now;
  if (e->started) return HS_ELECT_ESTATE;
  e->started = true;
  elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->et);
  return HS_OK;
}

static void elect_forget(hs_elect *e, hs_time_ns now) {
  e->leading = false;
  e->confirmed = false;
  elect_set_leader(e, HS_ELECT_NONE, now);
  if (e->strat.ops->reset) e->strat.ops->reset(e->strat.self, e);
}

void hs_elect_crash(hs_elect *e) {
  if (e->crashed || !e->started) return;
  elect_forget(e, e->now);
  e->crashed = true;
  elect_set_deadline(e, HS_ELECT_TIMER_CORE, HS_TIME_NEVER);
  elect_set_deadline(e, HS_ELECT_TIMER_STRATEGY, HS_TIME_NEVER);
}

int hs_elect_restart(hs_elect *e, hs_time_ns now) {
  if (now > e->now) e->now = now;
  if (!e->started) return HS_ELECT_ESTATE;
  if (!e->crashed) return HS_OK;
  e->crashed = false;
#ifdef HS_ELECT_UNSAFE_VOLATILE_BACKING
  /* Deliberately broken (test-only): the backing is forgotten in a crash, as if not durable. */
  e->backed = HS_ELECT_NONE;
#endif
  elect_forget(e, now);
  elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->et);
  return HS_OK;
}

/* ---- Inputs ------------------------------------------------------------------------------- */

/* A heartbeat of leader L. Accepted when it is of the current epoch, this node backs L or
 * nobody, and the strategy agrees (for a leader not accepted yet); the answer says which. A
 * leader that hears another leader of its epoch refuses it, and campaigns if its id is lower. */
static void elect_on_heartbeat(hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  uint32_t l = m->from;
  if (m->epoch < e->epoch || (e->backed != HS_ELECT_NONE && e->backed != l)) {
    elect_reply_ack(e, l, true);
    if (e->leading && m->epoch == e->epoch && e->id < l) hs_elect_campaign(e, now);
    return;
  }
  if (e->leader != l) {
    const hs_elect_strategy_ops *ops = e->strat.ops;
    if (ops->accept_leader && !ops->accept_leader(e->strat.self, e, l, now)) {
      elect_reply_ack(e, l, true); /* the strategy may have moved to a later epoch: the ack says so */
      return;
    }
    if (e->epoch != m->epoch || !hs_elect_back(e, l)) {
      elect_reply_ack(e, l, true);
      return;
    }
    elect_set_leader(e, l, now);
  }
  elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->et);
  elect_reply_ack(e, l, false);
}

static void elect_on_ack(hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  if (!e->leading || m->epoch != e->epoch || m->flag) return;
  elect_note_ack(e, m->from, now);
}

int hs_elect_step(hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  if (!e->started) return HS_ELECT_ESTATE;
  if (e->crashed) return HS_ELECT_ECRASHED;
  if (m->to != e->id || m->from == e->id || hs_elect_member_index(e, m->from) < 0 ||
      (unsigned)m->type >= HS_ELECT_MSG_TYPE_COUNT || m->epoch > HS_ELECT_MAX_EPOCH ||
      (m->type > HS_ELECT_MSG_HEARTBEAT_ACK && !(e->strat.ops->message_types & (1u << m->type)))) {
    e->stats.malformed++;
    return HS_EINVAL;
  }
  if (now > e->now) e->now = now;
  elect_adopt_epoch(e, m->epoch, now);
  switch (m->type) {
  case HS_ELECT_MSG_HEARTBEAT: elect_on_heartbeat(e, m, now); return HS_OK;
  case HS_ELECT_MSG_HEARTBEAT_ACK: elect_on_ack(e, m, now); return HS_OK;
  default: break;
  }
  int rc = e->strat.ops->handle_message(e->strat.self, e, m, now);
  if (rc == HS_EINVAL) e->stats.malformed++;
  return rc;
}

/* The leader has been silent for election_timeout (or there is none): drop it, and start an
 * election if the strategy wants one now; check again after another election_timeout. */
static void elect_check_leader(hs_elect *e, hs_time_ns now) {
  elect_set_leader(e, HS_ELECT_NONE, now);
  elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->et);
  if (e->strat.ops->should_start_election(e->strat.self, e, now)) hs_elect_campaign(e, now);
}

int hs_elect_tick(hs_elect *e, hs_time_ns now) {
  if (!e->started) return HS_ELECT_ESTATE;
  if (e->crashed) return HS_ELECT_ECRASHED;
  if (now > e->now) e->now = now;
  if (e->strat_at <= now) {
    elect_set_deadline(e, HS_ELECT_TIMER_STRATEGY, HS_TIME_NEVER);
    e->strat.ops->on_timeout(e->strat.self, e, now);
  }
  if (e->core_at <= now) {
    if (e->leading) {
      elect_heartbeat_round(e, false);
      elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->hb);
    } else {
      elect_check_leader(e, now);
    }
  }
  return HS_OK;
}

hs_time_ns hs_elect_next_deadline(const hs_elect *e) {
  if (!e->started || e->crashed) return HS_TIME_NEVER;
  return e->core_at < e->strat_at ? e->core_at : e->strat_at;
}

int hs_elect_set_alive(hs_elect *e, uint32_t id, bool alive, hs_time_ns now) {
  int32_t i = hs_elect_member_index(e, id);
  if (i < 0) return HS_EINVAL;
  e->alive[i] = alive || id == e->id;
  if (!alive && id == e->leader && !e->leading && e->started && !e->crashed) elect_check_leader(e, now);
  return HS_OK;
}

/* ---- Services ----------------------------------------------------------------------------- */

uint32_t hs_elect_id(const hs_elect *e) { return e->id; }
uint64_t hs_elect_epoch(const hs_elect *e) { return e->epoch; }
uint32_t hs_elect_backed(const hs_elect *e) { return e->backed; }
uint32_t hs_elect_leader(const hs_elect *e) { return e->leader; }
bool hs_elect_is_leader(const hs_elect *e) { return e->leading; }
bool hs_elect_crashed(const hs_elect *e) { return e->crashed; }
uint32_t hs_elect_member_count(const hs_elect *e) { return e->n; }
uint32_t hs_elect_member_at(const hs_elect *e, uint32_t i) { return i < e->n ? e->members[i] : HS_ELECT_NONE; }
uint32_t hs_elect_quorum(const hs_elect *e) { return e->n / 2 + 1; }
hs_time_ns hs_elect_election_timeout(const hs_elect *e) { return e->et; }
hs_time_ns hs_elect_heartbeat_interval(const hs_elect *e) { return e->hb; }
hs_rng *hs_elect_rng(hs_elect *e) { return &e->rng; }

bool hs_elect_alive(const hs_elect *e, uint32_t id) {
  int32_t i = hs_elect_member_index(e, id);
  return i >= 0 && e->alive[i];
}

void hs_elect_send(hs_elect *e, const hs_elect_msg *m) {
  if (m->to == e->id || hs_elect_member_index(e, m->to) < 0) return;
  hs_elect_msg out = *m;
  out.from = e->id;
  if (!out.epoch) out.epoch = e->epoch;
  if (out.type >= HS_ELECT_MSG_BULLY_ELECTION && out.epoch > e->participated_epoch) {
    e->participated_epoch = out.epoch;
    e->stats.elections_participated++;
  }
  e->stats.messages_sent++;
  e->cb.send(e->ud, &out);
}

void hs_elect_set_timeout(hs_elect *e, hs_time_ns at_ns) {
  if (e->crashed) return;
  elect_set_deadline(e, HS_ELECT_TIMER_STRATEGY, at_ns);
}

bool hs_elect_back(hs_elect *e, uint32_t candidate) {
  if (e->backed == candidate) return true;
  if (e->backed != HS_ELECT_NONE || hs_elect_member_index(e, candidate) < 0) return false;
  e->backed = candidate;
  elect_persist(e);
  return true;
}

int hs_elect_declare(hs_elect *e, hs_time_ns now) {
  if (e->crashed) return HS_ELECT_ECRASHED;
  if (e->leading) return HS_OK;
  if (!hs_elect_back(e, e->id)) return HS_ELECT_EREFUSED;
  e->leading = true;
  e->confirmed = false;
  memset(e->acked, 0, e->n);
  e->n_acked = 0;
  e->stats.elections_won++;
  elect_set_leader(e, e->id, now);
  elect_note_ack(e, e->id, now); /* a single member is its own quorum */
  elect_heartbeat_round(e, true);
  elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->hb);
  return HS_OK;
}

void hs_elect_announce_to(hs_elect *e, uint32_t member) {
  if (!e->leading) return;
  hs_elect_msg hb = {.type = HS_ELECT_MSG_HEARTBEAT, .to = member, .flag = true};
  hs_elect_send(e, &hb);
  e->stats.heartbeats_sent++;
}

int hs_elect_campaign(hs_elect *e, hs_time_ns now) {
  if (!e->started) return HS_ELECT_ESTATE;
  if (e->crashed) return HS_ELECT_ECRASHED;
  if (e->epoch >= HS_ELECT_MAX_EPOCH) return HS_EINVAL;
  elect_adopt_epoch(e, e->epoch + 1, now);
  e->stats.elections_started++;
  elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->et);
  e->strat.ops->start_election(e->strat.self, e, now);
  return HS_OK;
}

void hs_elect_touch(hs_elect *e, hs_time_ns now) {
  if (!e->leading && !e->crashed) elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->et);
}

/* ---- Asynchronous answers ------------------------------------------------------------------ */

int hs_elect_campaign_if_leaderless(hs_elect *e, hs_time_ns now) {
  if (!e->started) return HS_ELECT_ESTATE;
  if (e->crashed) return HS_ELECT_ECRASHED;
  if (e->leading || e->leader != HS_ELECT_NONE) return HS_ELECT_ESTATE;
  return hs_elect_campaign(e, now);
}

/* The tail of elect_on_heartbeat for a leader the strategy accepted after the heartbeat. */
int hs_elect_accept_leader(hs_elect *e, uint32_t leader, uint64_t epoch, hs_time_ns now) {
  if (!e->started) return HS_ELECT_ESTATE;
  if (e->crashed) return HS_ELECT_ECRASHED;
  if (leader == e->id || hs_elect_member_index(e, leader) < 0) return HS_EINVAL;
  if (now > e->now) e->now = now;
  if (e->leader == leader && epoch == e->epoch) return HS_OK;
  if (epoch != e->epoch || e->leading || e->leader != HS_ELECT_NONE) return HS_ELECT_ESTATE;
  if (!hs_elect_back(e, leader)) return HS_ELECT_EREFUSED;
  elect_set_leader(e, leader, now);
  elect_set_deadline(e, HS_ELECT_TIMER_CORE, now + e->et);
  elect_reply_ack(e, leader, false);
  return HS_OK;
}

void hs_elect_get_stats(const hs_elect *e, hs_elect_stats *out) {
  *out = e->stats;
  out->current_leader = e->leader;
  out->current_term = e->epoch;
  out->is_leader = e->leading;
  out->crashed = e->crashed;
}
