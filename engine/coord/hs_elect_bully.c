/*
 * hs_elect_bully.c - Garcia-Molina's bully election, with timeouts so that a dead node on the
 * way never stalls it (see hs_elect_strategies.h).
 */
#include "coord/hs_elect_strategies.h"

#include <stdlib.h>

typedef struct bully {
  hs_elect_bully_config cfg;
  bool electing;     /* an election of this node runs in `epoch` */
  bool answered;     /* a higher node answered: waiting for its announcement */
  uint64_t epoch;
} bully;

static hs_time_ns answer_timeout(const bully *b, const hs_elect *e) {
  return b->cfg.answer_timeout_ns ? b->cfg.answer_timeout_ns : hs_elect_election_timeout(e) / 4;
}

static hs_time_ns coordinator_timeout(const bully *b, const hs_elect *e) {
  return b->cfg.coordinator_timeout_ns ? b->cfg.coordinator_timeout_ns : hs_elect_election_timeout(e) / 2;
}

static bool bully_running(const bully *b, const hs_elect *e) { return b->electing && b->epoch == hs_elect_epoch(e); }

/* Declares this node, or, if it backs another node in this epoch, moves to a new one (where
 * it backs nobody, so the declaration then succeeds). */
static void bully_win(bully *b, hs_elect *e, hs_time_ns now) {
  b->electing = false;
  hs_elect_set_timeout(e, HS_TIME_NEVER);
  if (hs_elect_declare(e, now) == HS_ELECT_EREFUSED && hs_elect_leader(e) == HS_ELECT_NONE)
    hs_elect_campaign(e, now);
}

/* Runs this node's election in the current epoch: ELECTION to every higher member believed
 * alive, then wait answer_timeout; nobody higher: win at once. */
static void bully_run(bully *b, hs_elect *e, hs_time_ns now) {
  b->electing = true;
  b->answered = false;
  b->epoch = hs_elect_epoch(e);
  uint32_t me = hs_elect_id(e), sent = 0;
  for (uint32_t i = hs_elect_member_count(e); i-- > 0;) {
    uint32_t m = hs_elect_member_at(e, i);
    if (m <= me) break;
    if (!hs_elect_alive(e, m)) continue;
    hs_elect_msg msg = {.type = HS_ELECT_MSG_BULLY_ELECTION, .to = m};
    hs_elect_send(e, &msg);
    sent++;
  }
  if (!sent) {
    bully_win(b, e, now);
    return;
  }
  hs_elect_set_timeout(e, now + answer_timeout(b, e));
}

static bool bully_should_start(void *self, hs_elect *e, hs_time_ns now) {
  (void)now;
  return !bully_running(self, e);
}

static void bully_start(void *self, hs_elect *e, hs_time_ns now) { bully_run(self, e, now); }

static int bully_handle(void *self, hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  bully *b = self;
  uint32_t me = hs_elect_id(e);
  switch (m->type) {
  case HS_ELECT_MSG_BULLY_ELECTION: {
    if (m->from > me) return HS_EINVAL; /* only lower nodes ask */
    hs_elect_msg answer = {.type = HS_ELECT_MSG_BULLY_ANSWER, .to = m->from};
    hs_elect_send(e, &answer);
    if (hs_elect_is_leader(e)) hs_elect_announce_to(e, m->from);
    else if (!bully_running(b, e)) bully_run(b, e, now);
    return HS_OK;
  }
  case HS_ELECT_MSG_BULLY_ANSWER:
    if (m->from < me) return HS_EINVAL; /* only higher nodes answer */
    if (b->electing && m->epoch >= b->epoch) {
      b->answered = true;
      b->epoch = hs_elect_epoch(e);
      hs_elect_set_timeout(e, now + coordinator_timeout(b, e));
    }
    return HS_OK;
  default: return HS_EINVAL;
  }
}

/* No answer in time: every higher node is dead, win. An answer but no announcement: the node
 * that answered died or lost its election; start over in a new epoch. */
static void bully_on_timeout(void *self, hs_elect *e, hs_time_ns now) {
  bully *b = self;
  if (!b->electing) return;
  if (hs_elect_leader(e) != HS_ELECT_NONE) {
    b->electing = false;
    return;
  }
  if (!b->answered) bully_win(b, e, now);
  else {
    b->electing = false;
    hs_elect_campaign(e, now);
  }
}

/* A lower leader is refused and bullied: this node starts an election in a new epoch (unless
 * one of its own is running). A higher one ends this node's election. */
static bool bully_accept(void *self, hs_elect *e, uint32_t leader, hs_time_ns now) {
  bully *b = self;
  if (leader < hs_elect_id(e)) {
    if (!bully_running(b, e)) hs_elect_campaign(e, now);
    return false;
  }
  b->electing = false;
  hs_elect_set_timeout(e, HS_TIME_NEVER);
  return true;
}

static void bully_reset(void *self, hs_elect *e) {
  (void)e;
  bully *b = self;
  b->electing = b->answered = false;
}

static const hs_elect_strategy_ops bully_ops = {
    .name = "bully",
    .message_types = 1u << HS_ELECT_MSG_BULLY_ELECTION | 1u << HS_ELECT_MSG_BULLY_ANSWER,
    .should_start_election = bully_should_start,
    .start_election = bully_start,
    .handle_message = bully_handle,
    .on_timeout = bully_on_timeout,
    .accept_leader = bully_accept,
    .reset = bully_reset,
    .destroy = free,
};

int hs_elect_bully_new(const hs_elect_bully_config *cfg, hs_elect_strategy *out) {
  out->ops = NULL;
  out->self = NULL;
  if (cfg && (cfg->answer_timeout_ns < 0 || cfg->coordinator_timeout_ns < 0)) return HS_EINVAL;
  bully *b = calloc(1, sizeof *b);
  if (!b) return HS_ENOMEM;
  if (cfg) b->cfg = *cfg;
  out->ops = &bully_ops;
  out->self = b;
  return HS_OK;
}
