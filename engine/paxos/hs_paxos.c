/*
 * hs_paxos.c - single-decree Paxos (Lamport, "Paxos Made Simple"): one node is the proposer,
 * an acceptor and a learner of one instance. See hs_paxos.h for the protocol.
 *
 * The node is its own acceptor: what its proposer sends to every member it also delivers to
 * itself, synchronously (sd_emit), through the same handlers as a message from a peer, so the
 * local acceptor follows exactly the rules of the others.
 */
#include "paxos/hs_paxos_internal.h"

#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

void hs_paxos_config_init(hs_paxos_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->retry_delay_ns = 500 * MS;
  hs_rng_seed(&cfg->rng, 0, NULL, 0);
}

int hs_paxos_new(const hs_paxos_config *cfg, hs_paxos **out) {
  *out = NULL;
  if (!cfg || cfg->id == HS_PAXOS_NONE || !cfg->cb.send || cfg->retry_delay_ns <= 0 || cfg->round_timeout_ns < 0)
    return HS_EINVAL;
  hs_paxos_members ms;
  if (hs_paxos_members_init(&ms, cfg->id, cfg->members, cfg->n_members)) return HS_EINVAL;
  uint32_t q1, q2;
  int rc = hs_paxos_quorums(ms.n, cfg->phase1_quorum, cfg->phase2_quorum, &q1, &q2);
  if (rc) return rc;
  hs_paxos *p = calloc(1, sizeof *p);
  if (!p) return HS_ENOMEM;
  p->id = cfg->id;
  p->ms = ms;
  p->q1 = q1;
  p->q2 = q2;
  p->retry_ns = cfg->retry_delay_ns;
  p->round_timeout_ns = cfg->round_timeout_ns ? cfg->round_timeout_ns : 2 * cfg->retry_delay_ns;
  p->cb = cfg->cb;
  p->ud = cfg->ud;
  p->rng = cfg->rng;
  p->checker = cfg->checker;
  p->round_at = p->resend_at = p->timer_at = HS_TIME_NEVER;
  p->stats.phase1_quorum = q1;
  p->stats.phase2_quorum = q2;
  *out = p;
  return HS_OK;
}

void hs_paxos_free(hs_paxos *p) {
  if (!p) return;
  hs_paxos_buf_free(&p->accepted_value);
  hs_paxos_buf_free(&p->decision);
  hs_paxos_buf_free(&p->own_value);
  hs_paxos_buf_free(&p->round_value);
  free(p);
}

int hs_paxos_load(hs_paxos *p, const hs_paxos_durable *d) {
  if (p->started) return HS_PAXOS_ESTATE;
  if (!d || d->max_round > HS_PAXOS_MAX_COUNTER || d->promised.round > HS_PAXOS_MAX_COUNTER ||
      hs_paxos_ballot_cmp(d->accepted, d->promised) > 0 || (d->value_len && !d->value) ||
      (d->decided_len && !d->decided_value))
    return HS_EINVAL;
  int rc = hs_paxos_buf_set(&p->accepted_value, d->value, d->value_len);
  if (!rc && d->decided) rc = hs_paxos_buf_set(&p->decision, d->decided_value, d->decided_len);
  if (rc) return rc;
  p->promised = d->promised;
  p->accepted = d->accepted;
  p->max_round = d->max_round;
  p->decided = d->decided;
  return HS_OK;
}

/* ---- Outputs ------------------------------------------------------------------------------ */

static void sd_persist(hs_paxos *p) {
  if (!p->cb.persist) return;
  hs_paxos_durable d = {
      .promised = p->promised,
      .accepted = p->accepted,
      .value = p->accepted_value.data,
      .value_len = p->accepted_value.len,
      .max_round = p->max_round,
      .decided = p->decided,
      .decided_value = p->decided ? p->decision.data : NULL,
      .decided_len = p->decided ? p->decision.len : 0,
  };
  p->cb.persist(p->ud, &d);
}

/* Reports the earliest deadline whenever it changes. */
static void sd_update_timer(hs_paxos *p) {
  hs_time_ns at = hs_paxos_next_deadline(p);
  if (at == p->timer_at) return;
  p->timer_at = at;
  if (p->cb.set_timer) p->cb.set_timer(p->ud, at);
}

static void sd_dispatch(hs_paxos *p, const hs_paxos_msg *m);

/* Sends m to m->to, or hands it to this node's own handlers when it is addressed to itself. */
static void sd_emit(hs_paxos *p, hs_paxos_msg *m) {
  m->from = p->id;
  if (m->to == p->id) {
    sd_dispatch(p, m);
    return;
  }
  p->stats.messages_sent++;
  p->cb.send(p->ud, m);
}

/* Sends m to every member (this node included, last) whose bit is not in skip. */
static void sd_bcast(hs_paxos *p, hs_paxos_msg *m, uint64_t skip, bool self) {
  for (uint32_t i = 0; i < p->ms.n; i++) {
    uint64_t bit = (uint64_t)1 << i;
    if ((skip & bit) || bit == p->ms.self_bit) continue;
    m->to = p->ms.ids[i];
    sd_emit(p, m);
  }
  if (self && !(skip & p->ms.self_bit)) {
    m->to = p->id;
    sd_emit(p, m);
  }
}

static hs_paxos_value sd_value(const hs_paxos_buf *b, hs_paxos_ballot ballot, bool chosen) {
  hs_paxos_value v = {.slot = HS_PAXOS_SLOT, .ballot = ballot, .chosen = chosen, .len = b->len,
                      .data = b->len ? b->data : NULL};
  return v;
}

/* The decision to one member (answering a message about the instance), or to every member that
 * has not acknowledged it, again every retry_delay until all have. */
static void sd_send_decision(hs_paxos *p, uint32_t to) {
  hs_paxos_value v = sd_value(&p->decision, p->accepted, true);
  hs_paxos_msg m = {.type = HS_PAXOS_MSG_CHOSEN, .to = to, .commit = HS_PAXOS_SLOT, .values = &v, .n_values = 1};
  if (to != HS_PAXOS_NONE) {
    sd_emit(p, &m);
    return;
  }
  sd_bcast(p, &m, p->acked_mask, false);
  p->resend_at = (p->acked_mask | p->ms.self_bit) == p->ms.all_bits ? HS_TIME_NEVER : p->now + p->retry_ns;
}

/* ---- Learning ---------------------------------------------------------------------------------- */

/* The node learns the decision: durable before anything else, once; the proposer stops and the
 * decision goes to every member. */
static void sd_learn(hs_paxos *p, const hs_paxos_value *v) {
  if (p->decided) return;
  if (hs_paxos_buf_set(&p->decision, v->data, v->len)) return; /* out of memory: learn it later */
  p->decided = true;
  sd_persist(p);
  hs_paxos_value d = sd_value(&p->decision, v->ballot, true);
  if (p->checker) hs_paxos_checker_note_choose(p->checker, p->id, &d, p->now);
  if (p->cb.decided) p->cb.decided(p->ud, &d);
  p->phase = HS_PAXOS_IDLE;
  p->round_at = HS_TIME_NEVER;
  p->acked_mask = p->ms.self_bit;
  sd_send_decision(p, HS_PAXOS_NONE);
}

/* ---- Proposer ---------------------------------------------------------------------------------- */

/* A fresh ballot above every round seen, used, or promised here; persisted before its Prepare
 * goes out, so a restarted node never reuses it. Rounds never pass HS_PAXOS_MAX_COUNTER. */
static void sd_start_round(hs_paxos *p) {
  uint64_t round = p->seen_round;
  if (p->max_round > round) round = p->max_round;
  if (p->promised.round > round) round = p->promised.round;
  if (round >= HS_PAXOS_MAX_COUNTER) { /* only a forged message gets rounds this far: no ballot left */
    p->phase = HS_PAXOS_BACKOFF;
    p->round_at = p->now + p->retry_ns;
    return;
  }
  p->max_round = round + 1;
  p->ballot = (hs_paxos_ballot){round + 1, p->id};
  p->phase = HS_PAXOS_PHASE1;
  p->promise_mask = p->accept_mask = 0;
  p->best = (hs_paxos_ballot){0, 0};
  if (hs_paxos_buf_set(&p->round_value, p->own_value.data, p->own_value.len)) {
    p->phase = HS_PAXOS_BACKOFF; /* out of memory: try again after a backoff */
    p->round_at = p->now + p->retry_ns;
    return;
  }
  p->stats.proposals_started++;
  p->stats.ballots_tried++;
  p->round_at = p->now + p->round_timeout_ns;
  sd_persist(p);
  hs_paxos_msg m = {.type = HS_PAXOS_MSG_PREPARE, .ballot = p->ballot, .slot = HS_PAXOS_SLOT};
  sd_bcast(p, &m, 0, true);
}

/* Randomized backoff, uniform in [retry/2, retry/2 + retry * 2^min(failures - 1, 4)): the window
 * doubles with each consecutive failure, so duelling proposers drift apart. */
static hs_time_ns sd_backoff(hs_paxos *p) {
  uint32_t k = p->failures ? p->failures - 1 : 0;
  if (k > 4) k = 4;
  uint64_t span = (uint64_t)p->retry_ns << k;
  return p->retry_ns / 2 + (hs_time_ns)hs_rng_below(&p->rng, span);
}

static void sd_fail_round(hs_paxos *p) {
  p->stats.proposals_failed++;
  p->failures++;
  p->phase = HS_PAXOS_BACKOFF;
  p->round_at = p->now + sd_backoff(p);
}

static void sd_on_promise(hs_paxos *p, const hs_paxos_msg *m, uint64_t bit) {
  if (p->phase != HS_PAXOS_PHASE1 || hs_paxos_ballot_cmp(m->ballot, p->ballot) != 0 || (p->promise_mask & bit)) return;
  p->promise_mask |= bit;
  p->stats.promises_received++;
  if (m->n_values == 1) {
    const hs_paxos_value *v = &m->values[0];
    /* the value accepted with the highest ballot among the promises (P2c) */
    if (v->ballot.round && hs_paxos_ballot_cmp(v->ballot, p->best) > 0) {
      if (hs_paxos_buf_set(&p->round_value, v->data, v->len)) {
        sd_fail_round(p); /* out of memory: never propose without the adopted value */
        return;
      }
      p->best = v->ballot;
    }
  }
  if (hs_paxos_popcount(p->promise_mask) < p->q1) return;
  p->phase = HS_PAXOS_PHASE2;
  p->round_at = p->now + p->round_timeout_ns;
  hs_paxos_value v = sd_value(&p->round_value, p->ballot, false);
  hs_paxos_msg a = {.type = HS_PAXOS_MSG_ACCEPT, .ballot = p->ballot, .values = &v, .n_values = 1};
  sd_bcast(p, &a, 0, true);
}

static void sd_on_accepted(hs_paxos *p, const hs_paxos_msg *m, uint64_t bit) {
  if (p->phase != HS_PAXOS_PHASE2 || hs_paxos_ballot_cmp(m->ballot, p->ballot) != 0 || (p->accept_mask & bit)) return;
  p->accept_mask |= bit;
  p->stats.accepts_received++;
  if (hs_paxos_popcount(p->accept_mask) < p->q2) return;
  p->stats.proposals_succeeded++;
  p->failures = 0;
  hs_paxos_value v = sd_value(&p->round_value, p->ballot, true);
  sd_learn(p, &v);
}

static void sd_on_nack(hs_paxos *p, const hs_paxos_msg *m) {
  if ((p->phase != HS_PAXOS_PHASE1 && p->phase != HS_PAXOS_PHASE2) || hs_paxos_ballot_cmp(m->ballot, p->ballot) != 0)
    return;
  p->stats.nacks_received++;
  sd_fail_round(p);
}

/* ---- Acceptor ------------------------------------------------------------------------------------ */

static void sd_reply(hs_paxos *p, const hs_paxos_msg *to, hs_paxos_msg *resp) {
  resp->to = to->from;
  resp->ballot = to->ballot;
  sd_emit(p, resp);
}

/* Phase 1b: promise never to accept a ballot below m's, and report what was accepted. */
static void sd_on_prepare(hs_paxos *p, const hs_paxos_msg *m) {
  if (hs_paxos_ballot_cmp(m->ballot, p->promised) < 0) {
    hs_paxos_msg nack = {.type = HS_PAXOS_MSG_NACK, .promised = p->promised};
    sd_reply(p, m, &nack);
    return;
  }
  if (hs_paxos_ballot_cmp(m->ballot, p->promised) > 0) {
    p->promised = m->ballot;
    sd_persist(p);
  }
  hs_paxos_value v = sd_value(&p->accepted_value, p->accepted, false);
  hs_paxos_msg resp = {.type = HS_PAXOS_MSG_PROMISE, .slot = HS_PAXOS_SLOT};
  if (p->accepted.round) {
    resp.values = &v;
    resp.n_values = 1;
  }
  sd_reply(p, m, &resp);
}

/* Phase 2b: accept unless a higher ballot was promised; durable before the answer. */
static void sd_on_accept(hs_paxos *p, const hs_paxos_msg *m) {
  if (hs_paxos_ballot_cmp(m->ballot, p->promised) < 0) {
    hs_paxos_msg nack = {.type = HS_PAXOS_MSG_NACK, .promised = p->promised};
    sd_reply(p, m, &nack);
    return;
  }
  const hs_paxos_value *in = &m->values[0];
  if (hs_paxos_buf_set(&p->accepted_value, in->data, in->len)) return;
  p->promised = m->ballot;
  p->accepted = m->ballot;
  sd_persist(p);
  if (p->checker) {
    hs_paxos_value v = sd_value(&p->accepted_value, p->accepted, false);
    hs_paxos_checker_note_accept(p->checker, p->id, &v, p->now);
  }
  hs_paxos_msg resp = {.type = HS_PAXOS_MSG_ACCEPTED, .slot = HS_PAXOS_SLOT, .last = HS_PAXOS_SLOT};
  sd_reply(p, m, &resp);
}

/* ---- Dispatch ---------------------------------------------------------------------------------- */

/* Every message, a peer's or this node's own: the rounds it names are remembered (a next round
 * goes above them), then its role's handler runs. */
static void sd_dispatch(hs_paxos *p, const hs_paxos_msg *m) {
  uint64_t bit = hs_paxos_members_bit(&p->ms, m->from);
  if (m->ballot.round > p->seen_round) p->seen_round = m->ballot.round;
  if (m->promised.round > p->seen_round) p->seen_round = m->promised.round;
  switch (m->type) {
  case HS_PAXOS_MSG_PREPARE:
  case HS_PAXOS_MSG_ACCEPT:
    /* a node that knows the decision answers with it instead */
    if (p->decided) sd_send_decision(p, m->from);
    else if (m->type == HS_PAXOS_MSG_PREPARE) sd_on_prepare(p, m);
    else sd_on_accept(p, m);
    break;
  case HS_PAXOS_MSG_PROMISE: sd_on_promise(p, m, bit); break;
  case HS_PAXOS_MSG_ACCEPTED: sd_on_accepted(p, m, bit); break;
  case HS_PAXOS_MSG_NACK: sd_on_nack(p, m); break;
  case HS_PAXOS_MSG_CHOSEN:
    sd_learn(p, &m->values[0]);
    if (p->decided && m->from != p->id) {
      hs_paxos_msg ack = {.type = HS_PAXOS_MSG_CHOSEN_ACK, .to = m->from, .commit = HS_PAXOS_SLOT};
      sd_emit(p, &ack);
    }
    break;
  case HS_PAXOS_MSG_CHOSEN_ACK:
    if (!p->decided || m->commit < HS_PAXOS_SLOT) break;
    p->acked_mask |= bit;
    if ((p->acked_mask | p->ms.self_bit) == p->ms.all_bits) p->resend_at = HS_TIME_NEVER;
    break;
  default: break; /* heartbeats are Multi-Paxos' */
  }
}

/* ---- Life cycle and inputs ----------------------------------------------------------------------- */

static int sd_live(const hs_paxos *p) {
  if (!p->started) return HS_PAXOS_ESTATE;
  if (p->crashed) return HS_PAXOS_ECRASHED;
  return HS_OK;
}

static void sd_boot(hs_paxos *p, hs_time_ns now) {
  p->now = now;
  p->started = true;
  p->crashed = false;
  p->phase = HS_PAXOS_IDLE;
  p->round_at = p->resend_at = HS_TIME_NEVER;
  p->acked_mask = p->ms.self_bit;
  if (p->decided) sd_send_decision(p, HS_PAXOS_NONE);
  sd_update_timer(p);
}

int hs_paxos_start(hs_paxos *p, hs_time_ns now) {
  if (p->started) return HS_PAXOS_ESTATE;
  sd_boot(p, now);
  return HS_OK;
}

void hs_paxos_crash(hs_paxos *p) {
  if (sd_live(p)) return;
  p->crashed = true;
  p->has_value = false;
  p->phase = HS_PAXOS_IDLE;
  p->promise_mask = p->accept_mask = p->acked_mask = 0;
  p->failures = 0;
  p->seen_round = 0;
  p->round_at = p->resend_at = HS_TIME_NEVER;
  sd_update_timer(p);
}

int hs_paxos_restart(hs_paxos *p, hs_time_ns now) {
  if (!p->started || !p->crashed) return HS_PAXOS_ESTATE;
  sd_boot(p, now);
  return HS_OK;
}

/* The values a single-decree message carries: one at slot 1 in Accept and Chosen, at most one
 * in Promise, none elsewhere. */
static bool sd_shape_ok(const hs_paxos_msg *m) {
  switch (m->type) {
  case HS_PAXOS_MSG_ACCEPT:
  case HS_PAXOS_MSG_CHOSEN: return m->n_values == 1 && m->values[0].slot == HS_PAXOS_SLOT;
  case HS_PAXOS_MSG_PROMISE: return m->n_values == 0 || (m->n_values == 1 && m->values[0].slot == HS_PAXOS_SLOT);
  default: return m->n_values == 0;
  }
}

int hs_paxos_step(hs_paxos *p, const hs_paxos_msg *m, hs_time_ns now) {
  int rc = sd_live(p);
  if (rc) return rc;
  if (!hs_paxos_msg_sane(m, p->id, &p->ms) || !sd_shape_ok(m)) {
    p->stats.malformed_messages++;
    return HS_EINVAL;
  }
  p->now = now;
  sd_dispatch(p, m);
  sd_update_timer(p);
  return HS_OK;
}

int hs_paxos_tick(hs_paxos *p, hs_time_ns now) {
  int rc = sd_live(p);
  if (rc) return rc;
  p->now = now;
  if (p->round_at <= now) {
    if (p->phase == HS_PAXOS_BACKOFF) sd_start_round(p);
    else if (p->phase == HS_PAXOS_PHASE1 || p->phase == HS_PAXOS_PHASE2) sd_fail_round(p); /* timed out */
    else p->round_at = HS_TIME_NEVER;
  }
  if (p->decided && p->resend_at <= now) sd_send_decision(p, HS_PAXOS_NONE);
  sd_update_timer(p);
  return HS_OK;
}

hs_time_ns hs_paxos_next_deadline(const hs_paxos *p) {
  if (!p->started || p->crashed) return HS_TIME_NEVER;
  return p->round_at < p->resend_at ? p->round_at : p->resend_at;
}

int hs_paxos_propose(hs_paxos *p, hs_time_ns now, const void *data, size_t len) {
  int rc = sd_live(p);
  if (rc) return rc;
  if ((len && !data) || len > UINT32_MAX) return HS_EINVAL;
  p->now = now;
  if (p->decided) return HS_OK;
  if (!p->has_value) {
    rc = hs_paxos_buf_set(&p->own_value, data, len);
    if (rc) return rc;
    p->has_value = true;
  }
  if (p->phase == HS_PAXOS_IDLE) {
    p->failures = 0;
    sd_start_round(p);
  }
  sd_update_timer(p);
  return HS_OK;
}

int hs_paxos_start_round(hs_paxos *p, hs_time_ns now) {
  int rc = sd_live(p);
  if (rc) return rc;
  p->now = now;
  if (p->decided) return HS_OK;
  if (!p->has_value) return HS_PAXOS_ESTATE;
  sd_start_round(p);
  sd_update_timer(p);
  return HS_OK;
}

/* ---- Getters --------------------------------------------------------------------------------------- */

bool hs_paxos_decided(const hs_paxos *p, const uint8_t **data, uint32_t *len) {
  if (data) *data = p->decided && p->decision.len ? p->decision.data : NULL;
  if (len) *len = p->decided ? p->decision.len : 0;
  return p->decided;
}

void hs_paxos_get_stats(const hs_paxos *p, hs_paxos_stats *out) {
  *out = p->stats;
  out->ballot = p->ballot;
  out->promised = p->promised;
  out->phase = p->phase;
  out->decided = p->decided;
  out->crashed = p->crashed;
}

uint32_t hs_paxos_id(const hs_paxos *p) { return p->id; }
bool hs_paxos_crashed(const hs_paxos *p) { return p->crashed; }
hs_paxos_phase hs_paxos_phase_of(const hs_paxos *p) { return p->phase; }
hs_paxos_ballot hs_paxos_ballot_of(const hs_paxos *p) { return p->ballot; }
hs_paxos_ballot hs_paxos_promised(const hs_paxos *p) { return p->promised; }

hs_paxos_value hs_paxos_accepted(const hs_paxos *p) { return sd_value(&p->accepted_value, p->accepted, false); }
