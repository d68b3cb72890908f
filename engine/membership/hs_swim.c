/*
 * hs_swim.c - a SWIM member: life cycle, the protocol period (round-robin targets over a keyed
 * permutation, ping, ping-req, suspicion), and the handling of PING, ACK and PING-REQ.
 */
#include "membership/hs_swim_internal.h"

#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

void hs_swim_config_init(hs_swim_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->max_members = 1u << 24;
  cfg->probe_interval_ns = 1000 * MS;
  cfg->suspicion_timeout_ns = 5000 * MS;
  cfg->suspicion_max_mult = 3;
  cfg->indirect_probe_count = 3;
  cfg->retransmit_mult = 3;
  cfg->max_piggyback = 16;
  hs_rng_seed(&cfg->rng, 0, NULL, 0);
}

int hs_swim_new(const hs_swim_config *cfg, hs_swim **out) {
  *out = NULL;
  hs_swim_config c = *cfg;
  if (!c.max_members) c.max_members = 1u << 24;
  if (!c.cb.send || c.id == HS_SWIM_NONE || c.id >= c.max_members || c.n_members >= c.max_members ||
      c.probe_interval_ns <= 0 || c.ping_timeout_ns < 0 || c.ping_timeout_ns >= c.probe_interval_ns ||
      c.suspicion_timeout_ns <= 0 || c.suspicion_max_mult == 0 || c.suspicion_max_mult > 1000 ||
      c.indirect_probe_count > SWIM_MAX_ORIGINS || c.retransmit_mult == 0 || c.max_piggyback == 0 ||
      c.max_piggyback > HS_SWIM_MAX_UPDATES)
    return HS_EINVAL;
  hs_swim *s = calloc(1, sizeof *s);
  if (!s) return HS_ENOMEM;
  s->cfg = c;
  s->id = c.id;
  s->rng = c.rng;
  s->ping_timeout = c.ping_timeout_ns ? c.ping_timeout_ns : c.probe_interval_ns / 5;
  s->suspicion_min = c.suspicion_timeout_ns;
  s->suspicion_max = c.suspicion_timeout_ns * (hs_time_ns)c.suspicion_max_mult;
  s->armed = HS_TIME_NEVER;
  s->heap_top = HS_TIME_NEVER;
  s->period_at = s->ping_timeout_at = HS_TIME_NEVER;
  s->susp_free = s->gossip_free = SWIM_NIL;
  for (uint32_t t = 0; t < SWIM_MAX_TX; t++) s->bucket[t] = SWIM_NIL;
  s->scratch = malloc(c.max_piggyback * sizeof *s->scratch);
  s->picked = malloc(c.max_piggyback * sizeof *s->picked);
  uint32_t top = c.n_members > c.id ? c.n_members : c.id;
  if (!s->scratch || !s->picked || swim_table_reserve(s, top, true)) {
    hs_swim_free(s);
    return HS_ENOMEM;
  }
  for (uint32_t i = 1; i <= c.n_members; i++) swim_set_entry(s, i, HS_SWIM_ALIVE, 0);
  swim_set_entry(s, s->id, HS_SWIM_ALIVE, 0);
  *out = s;
  return HS_OK;
}

void hs_swim_free(hs_swim *s) {
  if (!s) return;
  free(s->table);
  swim_map_free(&s->suspect_of);
  swim_map_free(&s->gossip_of);
  free(s->susp);
  free(s->heap);
  free(s->gossip);
  free(s->scratch);
  free(s->picked);
  free(s);
}

int hs_swim_load_incarnation(hs_swim *s, uint32_t incarnation) {
  if (s->started) return HS_SWIM_ESTATE;
  if (incarnation > HS_SWIM_MAX_INCARNATION) return HS_EINVAL;
  s->incarnation = incarnation;
  swim_set_entry(s, s->id, HS_SWIM_ALIVE, incarnation);
  return HS_OK;
}

int hs_swim_add_member(hs_swim *s, uint32_t id) {
  int rc = swim_table_reserve(s, id, false);
  if (rc) return rc;
  if (swim_state_of(s->table[id]) == HS_SWIM_UNKNOWN) swim_set_entry(s, id, HS_SWIM_ALIVE, 0);
  return HS_OK;
}

/* ---- Deadlines ------------------------------------------------------------------------------ */

hs_time_ns hs_swim_next_deadline(const hs_swim *s) {
  if (!s->started || s->crashed) return HS_TIME_NEVER;
  hs_time_ns t = s->period_at;
  if (s->ping_timeout_at < t) t = s->ping_timeout_at;
  /* the heap top may be stale (a refuted suspicion): a tick then only drops it */
  if (s->heap_top < t) t = s->heap_top;
  return t;
}

static void swim_rearm(hs_swim *s) {
  hs_time_ns at = hs_swim_next_deadline(s);
  if (at == s->armed) return;
  s->armed = at;
  if (s->cfg.cb.set_timer) s->cfg.cb.set_timer(s->cfg.ud, at);
}

/* ---- Sending --------------------------------------------------------------------------------- */

static void swim_send(hs_swim *s, hs_swim_msg_type type, uint32_t to, uint32_t target, uint32_t relay, uint64_t seq) {
  hs_swim_msg m = {.type = type, .from = s->id, .to = to, .target = target, .relay = relay, .seq = seq};
  m.n_updates = swim_gossip_take(s, to);
  m.updates = s->scratch;
  s->stats.messages_sent++;
  s->cfg.cb.send(s->cfg.ud, &m);
}

/* ---- Targets: rounds over a keyed permutation of the id space ------------------------------- */

static uint64_t mix64(uint64_t x) { /* splitmix64's finalizer */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* A balanced 4-round Feistel network on 2 * half bits: a bijection for any keys. */
static uint32_t feistel(const hs_swim *s, uint32_t x) {
  uint32_t half = s->round_bits / 2, mask = (1u << half) - 1;
  uint32_t l = x >> half, r = x & mask;
  for (int i = 0; i < 4; i++) {
    uint32_t t = l ^ (uint32_t)(mix64(r ^ s->round_keys[i]) & mask);
    l = r;
    r = t;
  }
  return (l << half) | r;
}

/* The id at position pos of this round: the Feistel permutation, cycle-walked into [0, n). */
static uint32_t round_id(const hs_swim *s, uint32_t pos) {
  uint32_t x = pos;
  do x = feistel(s, x);
  while (x >= s->round_n);
  return x;
}

static void round_start(hs_swim *s) {
  s->round_n = s->cap;
  uint32_t bits = 2;
  while (bits < 32 && (1u << bits) < s->round_n) bits++;
  s->round_bits = bits + (bits & 1); /* even, for a balanced network */
  for (int i = 0; i < 4; i++) s->round_keys[i] = hs_rng_next(&s->rng);
  s->round_pos = 0;
}

/* The next member to probe: alive or suspect, not itself; 0 when there is none. At most one
 * round and a bit is walked, so a group with nobody left to probe costs one walk. */
static uint32_t next_target(hs_swim *s) {
  for (uint32_t walked = 0; walked <= s->cap + 1; walked++) {
    if (s->round_pos >= s->round_n) round_start(s);
    uint32_t id = round_id(s, s->round_pos++);
    if (id == s->id || id >= s->cap) continue;
    hs_swim_state st = swim_state_of(s->table[id]);
    if (st == HS_SWIM_ALIVE || st == HS_SWIM_SUSPECT) return id;
  }
  return HS_SWIM_NONE;
}

/* ---- The protocol period ------------------------------------------------------------------------ */

/* The probe of the period that ends failed: suspect the target (at the incarnation known). */
static void probe_failed(hs_swim *s, hs_time_ns now) {
  uint32_t cur = s->table[s->target];
  hs_swim_state st = swim_state_of(cur);
  if (st != HS_SWIM_ALIVE && st != HS_SWIM_SUSPECT) return;
  s->stats.suspicions_raised++;
  /* (already suspected here: this member's own failed probe counts as a confirmation) */
  hs_swim_update u = {.member = s->target, .incarnation = swim_inc_of(cur), .origin = s->id, .state = HS_SWIM_SUSPECT};
  swim_apply(s, &u, now);
}

static void period_begin(hs_swim *s, hs_time_ns now) {
  if (s->probing && !s->acked) probe_failed(s, now);
  s->probing = false;
  s->ping_timeout_at = HS_TIME_NEVER;
  s->period_at = now + s->cfg.probe_interval_ns;
  uint32_t t = next_target(s);
  if (!t) return;
  s->probing = true;
  s->acked = false;
  s->indirect_sent = false;
  s->target = t;
  s->seq = ++s->next_seq;
  s->ping_timeout_at = now + s->ping_timeout;
  s->stats.probes_sent++;
  swim_send(s, HS_SWIM_PING, t, t, HS_SWIM_NONE, s->seq);
}

/* k distinct random alive members, not itself and not the target (rejection sampling over
 * the id space, a bounded number of draws). */
static void ping_req(hs_swim *s) {
  uint32_t chosen[SWIM_MAX_ORIGINS], n = 0, k = s->cfg.indirect_probe_count;
  for (uint32_t draw = 0; n < k && draw < 16 * k + 16 && s->cap > 1; draw++) {
    uint32_t id = 1 + (uint32_t)hs_rng_below(&s->rng, s->cap - 1);
    if (id == s->id || id == s->target || swim_state_of(s->table[id]) != HS_SWIM_ALIVE) continue;
    bool dup = false;
    for (uint32_t i = 0; i < n; i++) dup |= chosen[i] == id;
    if (dup) continue;
    chosen[n++] = id;
    s->stats.indirect_probes_sent++;
    swim_send(s, HS_SWIM_PING_REQ, id, s->target, HS_SWIM_NONE, s->seq);
  }
}

int hs_swim_tick(hs_swim *s, hs_time_ns now) {
  if (!s->started) return HS_SWIM_ESTATE;
  if (s->crashed) return HS_SWIM_ECRASHED;
  if (now > s->now) s->now = now;
  swim_suspicions_expire(s, now);
  if (s->ping_timeout_at <= now) {
    s->ping_timeout_at = HS_TIME_NEVER;
    if (s->probing && !s->acked && !s->indirect_sent) {
      s->indirect_sent = true;
      ping_req(s);
    }
  }
  if (s->period_at <= now) period_begin(s, now);
  swim_rearm(s);
  return HS_OK;
}

/* ---- Messages ------------------------------------------------------------------------------------ */

static bool update_ok(const hs_swim *s, const hs_swim_update *u) {
  return u->member != HS_SWIM_NONE && u->member < s->cfg.max_members && u->incarnation <= HS_SWIM_MAX_INCARNATION &&
         u->state >= HS_SWIM_ALIVE && u->state <= HS_SWIM_DEAD && u->origin < s->cfg.max_members;
}

int hs_swim_step(hs_swim *s, const hs_swim_msg *m, hs_time_ns now) {
  if (!s->started) return HS_SWIM_ESTATE;
  if (s->crashed) return HS_SWIM_ECRASHED;
  bool ok = m->to == s->id && m->from != s->id && m->from != HS_SWIM_NONE && m->from < s->cfg.max_members &&
            (unsigned)m->type < HS_SWIM_MSG_TYPE_COUNT && m->target < s->cfg.max_members &&
            m->relay < s->cfg.max_members && m->n_updates <= HS_SWIM_MAX_UPDATES &&
            (m->type != HS_SWIM_PING_REQ || m->target != HS_SWIM_NONE);
  for (uint32_t i = 0; ok && i < m->n_updates; i++) ok = update_ok(s, &m->updates[i]);
  if (!ok) {
    s->stats.malformed++;
    return HS_EINVAL;
  }
  if (now > s->now) s->now = now;
  for (uint32_t i = 0; i < m->n_updates; i++) swim_apply(s, &m->updates[i], now);
  switch (m->type) {
  case HS_SWIM_PING: /* answer the sender; the relay field routes it back to the prober */
    swim_send(s, HS_SWIM_ACK, m->from, s->id, m->relay, m->seq);
    break;
  case HS_SWIM_PING_REQ:
    if (m->target == s->id) swim_send(s, HS_SWIM_ACK, m->from, s->id, HS_SWIM_NONE, m->seq);
    else {
      s->stats.pings_relayed++;
      swim_send(s, HS_SWIM_PING, m->target, m->target, m->from, m->seq);
    }
    break;
  case HS_SWIM_ACK:
    if (m->relay != HS_SWIM_NONE && m->relay != s->id) { /* a helper: pass it on to the prober */
      s->stats.acks_relayed++;
      swim_send(s, HS_SWIM_ACK, m->relay, m->target, HS_SWIM_NONE, m->seq);
    } else if (s->probing && !s->acked && m->seq == s->seq && m->target == s->target) {
      s->acked = true;
      s->ping_timeout_at = HS_TIME_NEVER;
      s->stats.acks_received++;
    }
    break;
  default: break;
  }
  swim_rearm(s);
  return HS_OK;
}

/* ---- Life cycle ------------------------------------------------------------------------------------ */

/* The first period starts at a random phase, so members do not probe in lockstep. */
static void schedule_first_period(hs_swim *s, hs_time_ns now) {
  s->period_at = now + (hs_time_ns)hs_rng_below(&s->rng, (uint64_t)s->cfg.probe_interval_ns);
  s->ping_timeout_at = HS_TIME_NEVER;
  s->probing = false;
}

int hs_swim_start(hs_swim *s, hs_time_ns now) {
  if (s->started) return HS_SWIM_ESTATE;
  s->started = true;
  s->now = now;
  round_start(s);
  schedule_first_period(s, now);
  swim_rearm(s);
  return HS_OK;
}

void hs_swim_crash(hs_swim *s) {
  if (!s->started || s->crashed) return;
  s->crashed = true;
  s->probing = false;
  s->period_at = s->ping_timeout_at = HS_TIME_NEVER;
  swim_suspicions_clear(s);
  swim_gossip_clear(s);
  swim_rearm(s);
}

int hs_swim_restart(hs_swim *s, hs_time_ns now) {
  if (!s->started) return HS_SWIM_ESTATE;
  if (!s->crashed) return HS_OK;
  s->crashed = false;
  if (now > s->now) s->now = now;
  /* members that suspected or buried this one know at most its current incarnation */
  if (s->incarnation < HS_SWIM_MAX_INCARNATION) s->incarnation++;
  swim_set_entry(s, s->id, HS_SWIM_ALIVE, s->incarnation);
  if (s->cfg.cb.persist_incarnation) s->cfg.cb.persist_incarnation(s->cfg.ud, s->incarnation);
  hs_swim_update mine = {.member = s->id, .incarnation = s->incarnation, .state = HS_SWIM_ALIVE};
  swim_gossip_put(s, &mine);
  round_start(s);
  schedule_first_period(s, now);
  swim_rearm(s);
  return HS_OK;
}

/* ---- Getters ------------------------------------------------------------------------------------------ */

uint32_t hs_swim_id(const hs_swim *s) { return s->id; }
uint32_t hs_swim_incarnation(const hs_swim *s) { return s->incarnation; }
uint32_t hs_swim_id_bound(const hs_swim *s) { return s->cap; }
bool hs_swim_crashed(const hs_swim *s) { return s->crashed; }
uint32_t hs_swim_probe_target(const hs_swim *s) { return s->probing ? s->target : HS_SWIM_NONE; }

hs_swim_state hs_swim_member_state(const hs_swim *s, uint32_t id) {
  return id < s->cap ? swim_state_of(s->table[id]) : HS_SWIM_UNKNOWN;
}

uint32_t hs_swim_member_incarnation(const hs_swim *s, uint32_t id) {
  return id < s->cap ? swim_inc_of(s->table[id]) : 0;
}

void hs_swim_get_stats(const hs_swim *s, hs_swim_stats *out) {
  *out = s->stats;
  out->alive_count = s->n_alive;
  out->suspect_count = s->n_suspect;
  out->dead_count = s->n_dead;
  out->gossip_pending = s->gossip_count;
  out->suspicions_pending = s->suspect_of.count;
}
