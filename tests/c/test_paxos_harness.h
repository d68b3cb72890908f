/*
 * test_paxos_harness.h - a tiny network for testing the Paxos cores without the engine.
 *
 * Nodes are single-decree (hs_paxos) or Multi-Paxos (hs_mpaxos) instances with ids 1..PN_MAX.
 * Whatever a node sends is encoded (hs_paxos_msg_encode, so the codec runs on every message) and
 * held in one queue in send order. A test looks at the queue, takes, delivers, drops, duplicates
 * or reorders messages, and moves time forward, which fires the nodes' deadlines in time order.
 *
 * A Multi-Paxos node's state machine is a hash chain over the applied commands; every applied
 * slot is recorded for inspection. The callbacks check the persistence contract as they go: a
 * Promise, an Accepted or a Prepare must only name what was persisted before it was sent.
 *
 * Everything is static: each test file includes this once.
 */
#ifndef TEST_PAXOS_HARNESS_H
#define TEST_PAXOS_HARNESS_H

#include <stdio.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#include "paxos/hs_mpaxos.h"
#include "paxos/hs_paxos.h"
#include "paxos/hs_paxos_check.h"
#include "test_msgq.h"

#define PN_MAX 8

#define assert_rc(actual, expected) assert_rc_named(actual, expected, hs_paxos_strerror)

#define assert_mrole(node, expected)                                                                         \
  do {                                                                                                       \
    hs_mpaxos_role a_ = hs_mpaxos_role_of(node), e_ = (expected);                                            \
    if (a_ != e_) fail_msg("%s is %s, expected %s", #node, hs_mpaxos_role_name(a_), hs_mpaxos_role_name(e_)); \
  } while (0)

/* ---- Records ---------------------------------------------------------------------------------- */

typedef struct papplied {
  uint64_t slot;
  hs_paxos_value_type type;
  hs_paxos_ballot origin;
  uint32_t len;
  uint8_t *data;
  bool mine;
  uint64_t tag;
} papplied;

typedef struct plost {
  uint64_t tag, slot;
  int reason;
} plost;

typedef struct pnet pnet;

#define PN_SLOTS_MAX 4096 /* persisted ballots remembered per node (the contract check) */

typedef struct pnode {
  pnet *net;
  uint32_t id;
  hs_paxos *sd;
  hs_mpaxos *mp;
  /* Multi-Paxos state machine */
  uint64_t sm_slot, sm_hash, sm_count, resets;
  papplied *applied;
  size_t n_applied, cap_applied;
  bool keep_applied; /* record every applied slot (else only the count) */
  plost lost[512];
  size_t n_lost;
  /* single-decree */
  uint64_t decided_calls;
  uint8_t decided[64];
  uint32_t decided_len;
  /* persistence contract */
  hs_paxos_ballot persisted_promised, persisted_accepted;
  uint64_t persisted_max_round, persist_calls;
  bool persisted_decided;
  hs_paxos_ballot persisted_slot[PN_SLOTS_MAX + 1];
  hs_time_ns timer_at[2];
  uint64_t role_events;
  hs_mpaxos_role_event last_role;
} pnode;

typedef hmsg pmsg; /* type: an hs_paxos_msg_type */

typedef struct popts {
  uint32_t q1, q2;
  hs_time_ns et_min, et_max, hb;           /* Multi-Paxos */
  hs_time_ns retry, round_timeout;          /* single-decree */
  uint32_t max_slots, max_bytes, max_inflight;
  uint64_t window;
  uint64_t seed;
  bool unsafe; /* Multi-Paxos: hs_mpaxos_config.unsafe_ignore_promises (test-only, unsafe) */
} popts;

struct pnet {
  pnode nodes[PN_MAX + 1]; /* by id; nodes[0] unused */
  hs_time_ns now;
  hq q;         /* in send order */
  uint64_t seq; /* messages sent, copies too */
  hcut cut;     /* checked on delivery */
  bool violation;
  char why[320];
  hs_paxos_checker *checker; /* given to nodes created after it is set */
  /* hooks for the randomized world */
  void (*on_send)(pnet *net, pmsg *m);
  void (*on_apply)(pnet *net, pnode *n, const hs_paxos_value *v, bool mine, uint64_t tag);
  void *world;
};

static void pnet_violation(pnet *net, const char *fmt, ...) {
  if (net->violation) return;
  net->violation = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(net->why, sizeof net->why, fmt, ap);
  va_end(ap);
}

/* ---- Callbacks ---------------------------------------------------------------------------------- */

/* What a node sends must only depend on what it persisted: a promise it made, the values it
 * acknowledged (in that ballot, or known chosen), the round of its own Prepare. */
static void pn_check_contract(pnode *n, const hs_paxos_msg *m) {
  pnet *net = n->net;
  switch (m->type) {
  case HS_PAXOS_MSG_PROMISE:
    if (hs_paxos_ballot_cmp(n->persisted_promised, m->ballot) != 0)
      pnet_violation(net, "node %u promised (%llu, %u) before persisting it", n->id, (unsigned long long)m->ballot.round,
                     m->ballot.node);
    break;
  case HS_PAXOS_MSG_PREPARE:
    if (n->persisted_max_round < m->ballot.round)
      pnet_violation(net, "node %u sent Prepare in round %llu before persisting it", n->id,
                     (unsigned long long)m->ballot.round);
    break;
  case HS_PAXOS_MSG_ACCEPTED:
    if (n->sd) {
      if (hs_paxos_ballot_cmp(n->persisted_accepted, m->ballot) != 0)
        pnet_violation(net, "node %u acknowledged ballot (%llu, %u) before persisting it", n->id,
                       (unsigned long long)m->ballot.round, m->ballot.node);
      break;
    }
    for (uint64_t s = m->slot; s <= m->last && s <= PN_SLOTS_MAX; s++) {
      hs_paxos_value v;
      bool chosen = hs_mpaxos_slot_at(n->mp, s, &v) == HS_OK && v.chosen;
      if (!chosen && hs_paxos_ballot_cmp(n->persisted_slot[s], m->ballot) != 0)
        pnet_violation(net, "node %u acknowledged slot %llu before persisting it", n->id, (unsigned long long)s);
    }
    break;
  default: break;
  }
}

static void pcb_send(void *ud, const hs_paxos_msg *m) {
  pnode *n = ud;
  pnet *net = n->net;
  pn_check_contract(n, m);
  if (m->from != n->id || m->to == n->id || m->to == 0 || m->to > PN_MAX)
    pnet_violation(net, "node %u sent a message from %u to %u", n->id, m->from, m->to);
  pmsg t = {.len = hs_paxos_msg_encoded_size(m), .from = m->from, .to = m->to, .type = m->type, .at = net->now};
  t.buf = malloc(t.len);
  assert_u64(hs_paxos_msg_encode(m, t.buf, t.len), t.len);
  t.seq = ++net->seq;
  hq_push(&net->q, t);
  if (net->on_send) net->on_send(net, &net->q.m[net->q.len - 1]);
}

static void pcb_sd_timer(void *ud, hs_time_ns at) { ((pnode *)ud)->timer_at[0] = at; }
static void pcb_mp_timer(void *ud, hs_mpaxos_timer kind, hs_time_ns at) { ((pnode *)ud)->timer_at[kind] = at; }

static void pcb_sd_persist(void *ud, const hs_paxos_durable *d) {
  pnode *n = ud;
  n->persisted_promised = d->promised;
  n->persisted_accepted = d->accepted;
  n->persisted_max_round = d->max_round;
  n->persisted_decided = d->decided;
  n->persist_calls++;
}

static void pcb_sd_decided(void *ud, const hs_paxos_value *v) {
  pnode *n = ud;
  if (!n->persisted_decided) pnet_violation(n->net, "node %u announced a decision before persisting it", n->id);
  n->decided_calls++;
  n->decided_len = v->len < sizeof n->decided ? v->len : (uint32_t)sizeof n->decided;
  if (v->len) memcpy(n->decided, v->data, n->decided_len);
}

static void pcb_mp_persist_state(void *ud, hs_paxos_ballot promised, uint64_t max_round) {
  pnode *n = ud;
  n->persisted_promised = promised;
  n->persisted_max_round = max_round;
  n->persist_calls++;
}

static void pcb_mp_persist_slots(void *ud, uint64_t first, uint64_t last) {
  pnode *n = ud;
  for (uint64_t s = first; s <= last && s <= PN_SLOTS_MAX; s++) {
    hs_paxos_value v;
    if (hs_mpaxos_slot_at(n->mp, s, &v) == HS_OK) n->persisted_slot[s] = v.ballot;
  }
  n->persist_calls++;
}

static void pcb_mp_apply(void *ud, const hs_paxos_value *v, bool mine, uint64_t tag) {
  pnode *n = ud;
  if (v->slot != n->sm_slot + 1)
    pnet_violation(n->net, "node %u applied slot %llu after %llu", n->id, (unsigned long long)v->slot,
                   (unsigned long long)n->sm_slot);
  n->sm_slot = v->slot;
  if (v->type == HS_PAXOS_VALUE_NORMAL) {
    n->sm_hash = h_mix(n->sm_hash, v->data, v->len);
    n->sm_count++;
  }
  if (n->keep_applied) {
    if (n->n_applied == n->cap_applied) {
      n->cap_applied = n->cap_applied ? n->cap_applied * 2 : 64;
      n->applied = realloc(n->applied, n->cap_applied * sizeof *n->applied);
    }
    papplied *a = &n->applied[n->n_applied++];
    a->slot = v->slot;
    a->type = v->type;
    a->origin = v->origin;
    a->len = v->len;
    a->data = NULL;
    if (v->len) {
      a->data = malloc(v->len);
      memcpy(a->data, v->data, v->len);
    }
    a->mine = mine;
    a->tag = tag;
  }
  if (n->net->on_apply) n->net->on_apply(n->net, n, v, mine, tag);
}

static void pcb_mp_lost(void *ud, uint64_t tag, uint64_t slot, int reason) {
  pnode *n = ud;
  if (n->n_lost < 512) n->lost[n->n_lost++] = (plost){tag, slot, reason};
}

static void pcb_mp_reset(void *ud) {
  pnode *n = ud;
  n->sm_slot = n->sm_hash = n->sm_count = 0;
  n->resets++;
}

static void pcb_mp_role(void *ud, const hs_mpaxos_role_event *ev) {
  pnode *n = ud;
  n->role_events++;
  n->last_role = *ev;
}

/* ---- Building nodes --------------------------------------------------------------------------------- */

static popts popts_default(void) {
  popts o = {0};
  o.et_min = 100 * MS;
  o.et_max = 200 * MS;
  o.hb = 20 * MS;
  o.retry = 50 * MS;
  o.round_timeout = 100 * MS;
  o.max_slots = 64;
  o.max_bytes = 1 << 20;
  o.max_inflight = 16;
  o.window = 65536;
  o.seed = 1;
  return o;
}

static void pnet_init(pnet *net) { memset(net, 0, sizeof *net); }
static pnode *pn(pnet *net, uint32_t id) { return &net->nodes[id]; }
static hs_paxos *SD(pnet *net, uint32_t id) { return net->nodes[id].sd; }
static hs_mpaxos *MP(pnet *net, uint32_t id) { return net->nodes[id].mp; }

static pnode *pn_prepare(pnet *net, uint32_t id) {
  assert_true(id >= 1 && id <= PN_MAX && !net->nodes[id].sd && !net->nodes[id].mp);
  pnode *n = &net->nodes[id];
  memset(n, 0, sizeof *n);
  n->net = net;
  n->id = id;
  n->keep_applied = true;
  n->timer_at[0] = n->timer_at[1] = HS_TIME_NEVER;
  return n;
}

static void pn_seed(hs_rng *rng, uint64_t seed, const char *kind, uint32_t id) {
  char name[32];
  snprintf(name, sizeof name, "%s:n%u", kind, id);
  hs_rng_seed(rng, seed, name, strlen(name));
}

/* A single-decree node id (created, not started) of the cluster ids[0..n). */
static hs_paxos *pn_add_sd(pnet *net, uint32_t id, const uint32_t *ids, uint32_t n_ids, const popts *o) {
  pnode *n = pn_prepare(net, id);
  hs_paxos_config cfg;
  hs_paxos_config_init(&cfg);
  cfg.id = id;
  cfg.members = ids;
  cfg.n_members = n_ids;
  cfg.phase1_quorum = o->q1;
  cfg.phase2_quorum = o->q2;
  cfg.retry_delay_ns = o->retry;
  cfg.round_timeout_ns = o->round_timeout;
  pn_seed(&cfg.rng, o->seed, "paxos", id);
  cfg.cb = (hs_paxos_callbacks){.send = pcb_send, .set_timer = pcb_sd_timer, .persist = pcb_sd_persist,
                                .decided = pcb_sd_decided};
  cfg.ud = n;
  cfg.checker = net->checker;
  assert_rc(hs_paxos_new(&cfg, &n->sd), HS_OK);
  return n->sd;
}

/* A Multi-Paxos node id (created, not started) of the cluster ids[0..n). */
static hs_mpaxos *pn_add_mp(pnet *net, uint32_t id, const uint32_t *ids, uint32_t n_ids, const popts *o) {
  pnode *n = pn_prepare(net, id);
  hs_mpaxos_config cfg;
  hs_mpaxos_config_init(&cfg);
  cfg.id = id;
  cfg.members = ids;
  cfg.n_members = n_ids;
  cfg.phase1_quorum = o->q1;
  cfg.phase2_quorum = o->q2;
  cfg.election_timeout_min_ns = o->et_min;
  cfg.election_timeout_max_ns = o->et_max;
  cfg.heartbeat_interval_ns = o->hb;
  cfg.max_msg_slots = o->max_slots;
  cfg.max_msg_bytes = o->max_bytes;
  cfg.max_inflight = o->max_inflight;
  cfg.window_slots = o->window;
  pn_seed(&cfg.rng, o->seed, "mpaxos", id);
  cfg.unsafe_ignore_promises = o->unsafe;
  cfg.cb = (hs_mpaxos_callbacks){
      .send = pcb_send,
      .set_timer = pcb_mp_timer,
      .persist_state = pcb_mp_persist_state,
      .persist_slots = pcb_mp_persist_slots,
      .apply = pcb_mp_apply,
      .proposal_lost = pcb_mp_lost,
      .reset = pcb_mp_reset,
      .role_changed = pcb_mp_role,
  };
  cfg.ud = n;
  cfg.checker = net->checker;
  assert_rc(hs_mpaxos_new(&cfg, &n->mp), HS_OK);
  return n->mp;
}

static void pn_start(pnet *net, uint32_t id) {
  pnode *n = pn(net, id);
  if (n->sd) {
    n->persisted_promised = hs_paxos_promised(n->sd);
    n->persisted_accepted = hs_paxos_accepted(n->sd).ballot;
    assert_rc(hs_paxos_start(n->sd, net->now), HS_OK);
  } else {
    n->persisted_promised = hs_mpaxos_promised(n->mp);
    assert_rc(hs_mpaxos_start(n->mp, net->now), HS_OK);
  }
}

static const uint32_t PIDS[] = {1, 2, 3, 4, 5, 6, 7, 8};

/* Nodes 1..size of one kind, all started. */
static void pn_cluster(pnet *net, bool multi, uint32_t size, const popts *o) {
  for (uint32_t i = 1; i <= size; i++) {
    if (multi) pn_add_mp(net, i, PIDS, size, o);
    else pn_add_sd(net, i, PIDS, size, o);
  }
  for (uint32_t i = 1; i <= size; i++) pn_start(net, i);
}

static bool pn_crashed(pnet *net, uint32_t id) {
  pnode *n = pn(net, id);
  return n->sd ? hs_paxos_crashed(n->sd) : n->mp ? hs_mpaxos_crashed(n->mp) : true;
}

static void pn_crash(pnet *net, uint32_t id) {
  pnode *n = pn(net, id);
  if (n->sd) hs_paxos_crash(n->sd);
  else hs_mpaxos_crash(n->mp);
}

static void pn_restart(pnet *net, uint32_t id) {
  pnode *n = pn(net, id);
  if (n->sd) assert_rc(hs_paxos_restart(n->sd, net->now), HS_OK);
  else assert_rc(hs_mpaxos_restart(n->mp, net->now), HS_OK);
}

static hs_time_ns pn_deadline(void *net, uint32_t id) {
  pnode *n = pn(net, id);
  return n->sd ? hs_paxos_next_deadline(n->sd) : n->mp ? hs_mpaxos_next_deadline(n->mp) : HS_TIME_NEVER;
}

static void pn_tick(pnet *net, uint32_t id) {
  pnode *n = pn(net, id);
  if (n->sd) hs_paxos_tick(n->sd, net->now);
  else hs_mpaxos_tick(n->mp, net->now);
}

static void pnode_free_records(pnode *n) {
  for (size_t i = 0; i < n->n_applied; i++) free(n->applied[i].data);
  free(n->applied);
  n->applied = NULL;
  n->n_applied = n->cap_applied = 0;
}

static void pnet_free(pnet *net) {
  for (uint32_t i = 1; i <= PN_MAX; i++) {
    hs_paxos_free(net->nodes[i].sd);
    hs_mpaxos_free(net->nodes[i].mp);
    pnode_free_records(&net->nodes[i]);
    net->nodes[i].sd = NULL;
    net->nodes[i].mp = NULL;
  }
  hq_free(&net->q);
}

/* Checked at the end of a test: the persistence contract and the checker held. */
static void pnet_check(pnet *net) {
  if (net->violation) fail_msg("%s", net->why);
  if (net->checker && net->checker->violated) fail_msg("checker: %s", net->checker->violation);
}

/* ---- The queue -------------------------------------------------------------------------------------- */

/* A decoded message that owns its bytes. */
typedef struct pdec {
  hs_paxos_msg m;
  hs_paxos_value *vals;
  uint8_t *buf;
} pdec;

static void pdec_free(pdec *d) {
  free(d->buf);
  free(d->vals);
  d->buf = NULL;
  d->vals = NULL;
}

static void pq_decode(const pmsg *t, pdec *d) {
  pdec_free(d);
  d->buf = t->buf;
  uint32_t n = hs_paxos_msg_decode_count(t->buf, t->len);
  d->vals = malloc((n ? n : 1) * sizeof *d->vals);
  assert_rc(hs_paxos_msg_decode(&d->m, t->buf, t->len, d->vals, n), HS_OK);
}

/* Matching: 0 / -1 are wildcards for from/to and type. */
static size_t pq_count(pnet *net, uint32_t from, uint32_t to, int type) { return hq_count(&net->q, from, to, type); }

/* Takes the first matching message out of the queue into d. */
static bool pq_take(pnet *net, uint32_t from, uint32_t to, int type, pdec *d) {
  long i = hq_find(&net->q, from, to, type);
  if (i < 0) return false;
  pmsg t = hq_remove(&net->q, (size_t)i);
  pq_decode(&t, d);
  return true;
}

static void pq_expect(pnet *net, uint32_t from, uint32_t to, int type, pdec *d) {
  if (!pq_take(net, from, to, type, d))
    fail_msg("no %s message from %u to %u in the queue (%zu queued)",
             type < 0 ? "any" : hs_paxos_msg_type_name((hs_paxos_msg_type)type), from, to, net->q.len);
}

static void pq_clear(pnet *net) { hq_clear(&net->q); }

/* Drops matching messages; returns how many. */
static size_t pq_drop(pnet *net, uint32_t from, uint32_t to, int type) { return hq_drop(&net->q, from, to, type); }

/* Steps a (hand-built or decoded) message into its destination. */
static int pn_step(pnet *net, const hs_paxos_msg *m) {
  pnode *n = pn(net, m->to);
  assert_true(n->sd || n->mp);
  return n->sd ? hs_paxos_step(n->sd, m, net->now) : hs_mpaxos_step(n->mp, m, net->now);
}

/* Delivers queued message i if its destination exists, is up and the link is not cut. */
static void pq_deliver_at(pnet *net, size_t i) {
  pmsg t = hq_remove(&net->q, i);
  pnode *dst = &net->nodes[t.to];
  if ((dst->sd || dst->mp) && !pn_crashed(net, t.to) && !net->cut[t.from][t.to]) {
    pdec d = {0};
    pq_decode(&t, &d);
    int rc = pn_step(net, &d.m);
    if (rc != HS_OK)
      pnet_violation(net, "step %s %u->%u: %s", hs_paxos_msg_type_name((hs_paxos_msg_type)t.type), t.from, t.to,
                     hs_paxos_strerror(rc));
    pdec_free(&d);
  } else {
    free(t.buf);
  }
}

/* Delivers matching messages in queue order, including those they cause, until none is left
 * (at most `limit`). Returns the number delivered. */
static size_t pq_deliver_matching(pnet *net, uint32_t from, uint32_t to, int type, size_t limit) {
  size_t done = 0;
  for (long i; done < limit && (i = hq_find(&net->q, from, to, type)) >= 0; done++) pq_deliver_at(net, (size_t)i);
  return done;
}

static size_t pq_deliver_all(pnet *net) { return pq_deliver_matching(net, 0, 0, -1, 100000); }

/* Appends a copy of queued message i (a duplicate). */
static void pq_duplicate(pnet *net, size_t i) { hq_push(&net->q, hmsg_copy(&net->q.m[i], ++net->seq)); }

static void pq_reverse(pnet *net) { hq_reverse(&net->q); }

static void pnet_isolate(pnet *net, uint32_t id, bool cut) {
  for (uint32_t j = 1; j <= PN_MAX; j++) net->cut[id][j] = net->cut[j][id] = cut;
}

/* ---- Time -------------------------------------------------------------------------------------------- */

/* Moves time to `to`, firing every node deadline on the way in time order (ties: lower id),
 * without delivering messages. */
static void pnet_advance_to(pnet *net, hs_time_ns to) {
  for (int guard = 0; guard < 100000; guard++) {
    uint32_t who;
    hs_time_ns best = h_earliest(net, PN_MAX, pn_deadline, &who);
    if (!who || best > to) break;
    if (best > net->now) net->now = best;
    pn_tick(net, who);
  }
  if (to > net->now) net->now = to;
}

static void pnet_advance(pnet *net, hs_time_ns dt) { pnet_advance_to(net, net->now + dt); }

/* Alternates delivering everything and advancing time in steps of `step` for `total`. */
static void pnet_run(pnet *net, hs_time_ns total, hs_time_ns step) {
  hs_time_ns end = net->now + total;
  while (net->now < end) {
    pq_deliver_all(net);
    pnet_advance(net, step);
  }
  pq_deliver_all(net);
}

/* The live Multi-Paxos leader with the highest ballot, or 0. */
static uint32_t pnet_leader(pnet *net) {
  uint32_t found = 0;
  hs_paxos_ballot best = {0, 0};
  for (uint32_t i = 1; i <= PN_MAX; i++) {
    hs_mpaxos *mp = net->nodes[i].mp;
    if (!mp || hs_mpaxos_crashed(mp) || hs_mpaxos_role_of(mp) != HS_MPAXOS_LEADER) continue;
    if (!found || hs_paxos_ballot_cmp(hs_mpaxos_promised(mp), best) > 0) {
      found = i;
      best = hs_mpaxos_promised(mp);
    }
  }
  return found;
}

/* Makes Multi-Paxos node id leader now: campaign and deliver until settled. */
static void pnet_elect(pnet *net, uint32_t id) {
  assert_rc(hs_mpaxos_campaign(MP(net, id), net->now), HS_OK);
  pq_deliver_all(net);
  assert_mrole(MP(net, id), HS_MPAXOS_LEADER);
}

static int pn_submit(pnet *net, uint32_t id, const char *s, uint64_t tag, uint64_t *slot) {
  return hs_mpaxos_submit(MP(net, id), net->now, s, strlen(s), tag, slot);
}

/* The applied record of node id at slot, or NULL. */
static const papplied *pn_applied_at(pnet *net, uint32_t id, uint64_t slot) {
  pnode *n = pn(net, id);
  for (size_t i = n->n_applied; i-- > 0;)
    if (n->applied[i].slot == slot) return &n->applied[i];
  return NULL;
}

static bool papplied_is(const papplied *a, const char *s) {
  return a && a->type == HS_PAXOS_VALUE_NORMAL && a->len == strlen(s) && !memcmp(a->data, s, a->len);
}

#endif
