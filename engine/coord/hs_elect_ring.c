/*
 * hs_elect_ring.c - Chang and Roberts' ring election with acknowledged hops, so that dead or
 * unresponsive successors are skipped (see hs_elect_strategies.h).
 */
#include "coord/hs_elect_strategies.h"

#include <stdlib.h>
#include <string.h>

typedef struct ring {
  hs_elect_ring_config cfg;
  uint64_t epoch;        /* the epoch the fields below belong to */
  bool participant;      /* this node forwarded something in `epoch` */
  uint32_t best;         /* the largest candidate forwarded in `epoch` */
  hs_time_ns started_at; /* when this node became a participant */
  /* the hop waiting for its ack: candidate, successor, deadline */
  bool pending;
  uint32_t pending_candidate, pending_to;
  uint8_t skip[HS_ELECT_MAX_MEMBERS]; /* by member index: did not ack in `epoch` */
} ring;

static hs_time_ns ack_timeout(const ring *r, const hs_elect *e) {
  return r->cfg.ack_timeout_ns ? r->cfg.ack_timeout_ns : hs_elect_election_timeout(e) / 8;
}

static hs_time_ns round_timeout(const ring *r, const hs_elect *e) {
  return r->cfg.round_timeout_ns ? r->cfg.round_timeout_ns : hs_elect_election_timeout(e);
}

/* The fields describe the current epoch: a later epoch starts clean (nobody skipped). */
static void ring_sync(ring *r, hs_elect *e) {
  if (r->epoch == hs_elect_epoch(e)) return;
  r->epoch = hs_elect_epoch(e);
  r->participant = false;
  r->best = HS_ELECT_NONE;
  if (r->pending) hs_elect_set_timeout(e, HS_TIME_NEVER);
  r->pending = false;
  memset(r->skip, 0, sizeof r->skip);
}

/* Sends ELECTION(candidate) to the first successor (in id order, wrapping) that is believed
 * alive and has not been skipped in this epoch, and waits for its ack. When there is none,
 * this node is the only live one: its own candidacy wins, anything else is dropped. */
static void ring_forward(ring *r, hs_elect *e, uint32_t candidate, hs_time_ns now) {
  uint32_t n = hs_elect_member_count(e), me = (uint32_t)hs_elect_member_index(e, hs_elect_id(e));
  for (uint32_t k = 1; k < n; k++) {
    uint32_t i = (me + k) % n, to = hs_elect_member_at(e, i);
    if (r->skip[i] || !hs_elect_alive(e, to)) continue;
    hs_elect_msg msg = {.type = HS_ELECT_MSG_RING_ELECTION, .to = to, .candidate = candidate};
    hs_elect_send(e, &msg);
    r->pending = true;
    r->pending_candidate = candidate;
    r->pending_to = to;
    hs_elect_set_timeout(e, now + ack_timeout(r, e));
    return;
  }
  r->pending = false;
  hs_elect_set_timeout(e, HS_TIME_NEVER);
  if (candidate == hs_elect_id(e)) hs_elect_declare(e, now);
}

static void ring_join(ring *r, hs_elect *e, uint32_t candidate, hs_time_ns now) {
  if (!r->participant) r->started_at = now;
  r->participant = true;
  r->best = candidate;
  ring_forward(r, e, candidate, now);
}

static bool ring_should_start(void *self, hs_elect *e, hs_time_ns now) {
  ring *r = self;
  ring_sync(r, e);
  return !r->participant || now - r->started_at >= round_timeout(r, e);
}

static void ring_start(void *self, hs_elect *e, hs_time_ns now) {
  ring *r = self;
  ring_sync(r, e);
  ring_join(r, e, hs_elect_id(e), now);
}

/* Chang-Roberts: a larger candidate passes (if larger than any forwarded here), a smaller one
 * is replaced by this node's id the first time and dropped after, this node's own id back
 * means it went all the way round: it wins. Every ELECTION is acked, even a stale one. */
static int ring_handle(void *self, hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  ring *r = self;
  if (m->candidate == HS_ELECT_NONE || hs_elect_member_index(e, m->candidate) < 0) return HS_EINVAL;
  ring_sync(r, e);
  int32_t from = hs_elect_member_index(e, m->from);
  r->skip[from] = 0; /* it speaks */
  uint32_t me = hs_elect_id(e);
  switch (m->type) {
  case HS_ELECT_MSG_RING_ELECTION: {
    hs_elect_msg ack = {.type = HS_ELECT_MSG_RING_ACK, .to = m->from, .candidate = m->candidate, .epoch = m->epoch};
    hs_elect_send(e, &ack);
    if (m->epoch < hs_elect_epoch(e)) return HS_OK;
    if (m->candidate == me) {
      r->participant = false;
      r->pending = false;
      hs_elect_set_timeout(e, HS_TIME_NEVER);
      if (hs_elect_declare(e, now) == HS_ELECT_EREFUSED && hs_elect_leader(e) == HS_ELECT_NONE)
        hs_elect_campaign(e, now);
    } else if (m->candidate > me) {
      if (m->candidate > r->best) ring_join(r, e, m->candidate, now);
    } else if (!r->participant) {
      ring_join(r, e, me, now);
    }
    return HS_OK;
  }
  case HS_ELECT_MSG_RING_ACK:
    if (r->pending && m->epoch == r->epoch && m->from == r->pending_to && m->candidate == r->pending_candidate) {
      r->pending = false;
      hs_elect_set_timeout(e, HS_TIME_NEVER);
    }
    return HS_OK;
  default: return HS_EINVAL;
  }
}

/* The successor did not ack: skip it for this epoch and try the next one. */
static void ring_on_timeout(void *self, hs_elect *e, hs_time_ns now) {
  ring *r = self;
  ring_sync(r, e);
  if (!r->pending) return;
  r->skip[hs_elect_member_index(e, r->pending_to)] = 1;
  ring_forward(r, e, r->pending_candidate, now);
}

static bool ring_accept(void *self, hs_elect *e, uint32_t leader, hs_time_ns now) {
  (void)leader;
  (void)now;
  ring *r = self;
  ring_sync(r, e);
  r->participant = false;
  if (r->pending) hs_elect_set_timeout(e, HS_TIME_NEVER);
  r->pending = false;
  return true;
}

static void ring_reset(void *self, hs_elect *e) {
  ring *r = self;
  r->epoch = hs_elect_epoch(e) + 1; /* forces ring_sync to clear everything */
  ring_sync(r, e);
}

static const hs_elect_strategy_ops ring_ops = {
    .name = "ring",
    .message_types = 1u << HS_ELECT_MSG_RING_ELECTION | 1u << HS_ELECT_MSG_RING_ACK,
    .should_start_election = ring_should_start,
    .start_election = ring_start,
    .handle_message = ring_handle,
    .on_timeout = ring_on_timeout,
    .accept_leader = ring_accept,
    .reset = ring_reset,
    .destroy = free,
};

int hs_elect_ring_new(const hs_elect_ring_config *cfg, hs_elect_strategy *out) {
  out->ops = NULL;
  out->self = NULL;
  if (cfg && (cfg->ack_timeout_ns < 0 || cfg->round_timeout_ns < 0)) return HS_EINVAL;
  ring *r = calloc(1, sizeof *r);
  if (!r) return HS_ENOMEM;
  if (cfg) r->cfg = *cfg;
  out->ops = &ring_ops;
  out->self = r;
  return HS_OK;
}
