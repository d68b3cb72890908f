/*
 * hs_elect_random.c - randomized election: random delays, one vote per epoch, a quorum
 * elects (Raft's election without logs; see hs_elect_strategies.h).
 */
#include "coord/hs_elect_strategies.h"

#include <stdlib.h>
#include <string.h>

typedef struct randomized {
  hs_elect_randomized_config cfg;
  bool waiting;   /* a random delay before campaigning is armed */
  bool candidate; /* campaigning in `epoch` */
  uint64_t epoch;
  uint64_t ballot;
  uint32_t votes;
  uint8_t voted[HS_ELECT_MAX_MEMBERS]; /* by member index, in `epoch` */
} randomized;

static hs_time_ns base_timeout(const randomized *r, const hs_elect *e) {
  return r->cfg.timeout_ns ? r->cfg.timeout_ns : hs_elect_election_timeout(e);
}

/* A random delay: ballot / ballot_range of the base timeout, ballot uniform in [1, range]. */
static hs_time_ns random_delay(randomized *r, hs_elect *e) {
  r->ballot = 1 + hs_rng_below(hs_elect_rng(e), r->cfg.ballot_range);
  long double frac = (long double)r->ballot / (long double)r->cfg.ballot_range;
  return (hs_time_ns)(frac * (long double)base_timeout(r, e));
}

static bool rnd_should_start(void *self, hs_elect *e, hs_time_ns now) {
  randomized *r = self;
  if ((r->candidate && r->epoch == hs_elect_epoch(e)) || r->waiting) return false;
  r->waiting = true;
  hs_elect_set_timeout(e, now + random_delay(r, e));
  return false;
}

static void rnd_count(randomized *r, hs_elect *e, uint32_t voter, hs_time_ns now) {
  int32_t i = hs_elect_member_index(e, voter);
  if (i < 0 || r->voted[i]) return;
  r->voted[i] = 1;
  if (++r->votes < hs_elect_quorum(e)) return;
  r->candidate = false;
  hs_elect_set_timeout(e, HS_TIME_NEVER);
  hs_elect_declare(e, now);
}

/* The new epoch backs nobody: back itself, ask everyone, retry after timeout + a random
 * delay if no quorum comes (a split vote). */
static void rnd_start(void *self, hs_elect *e, hs_time_ns now) {
  randomized *r = self;
  r->waiting = false;
  r->candidate = true;
  r->epoch = hs_elect_epoch(e);
  r->votes = 0;
  memset(r->voted, 0, sizeof r->voted);
  if (!hs_elect_back(e, hs_elect_id(e))) { /* cannot happen in a fresh epoch */
    r->candidate = false;
    return;
  }
  hs_elect_set_timeout(e, now + base_timeout(r, e) + random_delay(r, e));
  uint32_t me = hs_elect_id(e);
  for (uint32_t i = 0; i < hs_elect_member_count(e); i++) {
    uint32_t m = hs_elect_member_at(e, i);
    if (m == me) continue;
    hs_elect_msg vote = {.type = HS_ELECT_MSG_VOTE, .to = m, .ballot = r->ballot};
    hs_elect_send(e, &vote);
  }
  rnd_count(r, e, me, now);
}

static int rnd_handle(void *self, hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  randomized *r = self;
  switch (m->type) {
  case HS_ELECT_MSG_VOTE: {
    bool granted = m->epoch == hs_elect_epoch(e) && hs_elect_back(e, m->from);
    if (granted) { /* give the candidate time to win: no campaign of this node meanwhile */
      r->waiting = r->candidate = false;
      hs_elect_set_timeout(e, HS_TIME_NEVER);
      hs_elect_touch(e, now);
    }
    hs_elect_msg resp = {.type = HS_ELECT_MSG_VOTE_RESP, .to = m->from, .flag = !granted};
    hs_elect_send(e, &resp);
    return HS_OK;
  }
  case HS_ELECT_MSG_VOTE_RESP:
    if (r->candidate && !m->flag && m->epoch == r->epoch && r->epoch == hs_elect_epoch(e)) rnd_count(r, e, m->from, now);
    return HS_OK;
  default: return HS_EINVAL;
  }
}

static void rnd_on_timeout(void *self, hs_elect *e, hs_time_ns now) {
  randomized *r = self;
  bool again = r->waiting || r->candidate;
  r->waiting = r->candidate = false;
  if (again && hs_elect_leader(e) == HS_ELECT_NONE) hs_elect_campaign(e, now);
}

static bool rnd_accept(void *self, hs_elect *e, uint32_t leader, hs_time_ns now) {
  (void)leader;
  (void)now;
  randomized *r = self;
  r->waiting = r->candidate = false;
  hs_elect_set_timeout(e, HS_TIME_NEVER);
  return true;
}

static void rnd_reset(void *self, hs_elect *e) {
  (void)e;
  randomized *r = self;
  r->waiting = r->candidate = false;
}

static const hs_elect_strategy_ops randomized_ops = {
    .name = "randomized",
    .message_types = 1u << HS_ELECT_MSG_VOTE | 1u << HS_ELECT_MSG_VOTE_RESP,
    .should_start_election = rnd_should_start,
    .start_election = rnd_start,
    .handle_message = rnd_handle,
    .on_timeout = rnd_on_timeout,
    .accept_leader = rnd_accept,
    .reset = rnd_reset,
    .destroy = free,
};

int hs_elect_randomized_new(const hs_elect_randomized_config *cfg, hs_elect_strategy *out) {
  out->ops = NULL;
  out->self = NULL;
  if (cfg && cfg->timeout_ns < 0) return HS_EINVAL;
  randomized *r = calloc(1, sizeof *r);
  if (!r) return HS_ENOMEM;
  if (cfg) r->cfg = *cfg;
  if (!r->cfg.ballot_range) r->cfg.ballot_range = 1000000;
  out->ops = &randomized_ops;
  out->self = r;
  return HS_OK;
}
