/*
 * test_raft_world.h - a randomized, seeded world for the Raft core, checked for Raft's invariants.
 *
 * Five nodes exchange messages through a timed network: each message gets a random latency
 * (so messages overtake one another), may be lost or duplicated, and is dropped on arrival if
 * a partition cuts its link or its destination is down. Chaos actions at random times propose
 * commands, request reads, partition and heal, crash and restart nodes, change the loss and
 * duplication rates, and add and remove members. Everything random comes from one hs_rng
 * seeded with the seed, so a failing seed replays exactly.
 * The network, its faults and the event loop are test_fault_world.h's.
 *
 * Raft's safety properties are checked by the engine's own checker, the one hs.RaftChecker
 * runs in Lua (engine/raft/hs_raft_invariants.h: election safety, state machine safety,
 * leader completeness, log matching, bounds), fed from the nodes' callbacks and run after
 * every event on the node that handled it. Beside it, the world checks what only it can see:
 *   state machine        a state machine's hash chain equals the first applier's after each
 *                        index (also after a restore), and indexes are first applied in order
 *   requests             every accepted proposal ends in exactly one apply or loss
 *   reads                a served read covers every write committed before it was asked
 * The first violation stops the run with the seed, the time and what was seen.
 *
 * Then the faults stop (heal, no loss, every node up) and the cluster must elect a leader and
 * commit fresh commands on every member within a bounded time.
 */
#ifndef TEST_RAFT_WORLD_H
#define TEST_RAFT_WORLD_H

#include "test_fault_world.h"
#include "test_raft_harness.h"

#include "raft/hs_raft_internal.h"
#include "raft/hs_raft_invariants.h"

#define W_NODES 5

typedef struct wworld {
  tnet net;
  uint64_t seed;
  hs_rng rng;
  topts opts;
  hq flight; /* the timed network: messages by arrival */
  fw_link link;
  hs_raft_invariants inv; /* Raft's safety properties */
  /* per committed index, the state machine's hash chain after it */
  uint64_t *c_chain;
  size_t c_cap;
  uint64_t max_committed;
  /* requests: per node, tags proposed and how they ended */
  fw_ledger reqs;
  uint64_t next_tag;
  uint64_t *read_need; /* by request id: the highest index committed anywhere when it was made */
  size_t read_cap;
  /* chaos */
  hs_time_ns next_action;
  bool chaos;
  bool churn; /* leader-churn actions instead of the general mix */
  double action_mean_ms;
  uint64_t proposals, applied_mine, lost, crashes, partitions, conf_changes, reads_ok, transfers;
} wworld;

static wworld *W_of(tnet *net) { return net->world; }

static const uint32_t W_IDS[W_NODES] = {1, 2, 3, 4, 5};

static void w_grow64(uint64_t **a, size_t *cap, size_t need, size_t old_cap) {
  (void)old_cap;
  if (need < *cap) return;
  size_t c = *cap ? *cap : 256;
  while (c <= need) c *= 2;
  *a = realloc(*a, c * sizeof **a);
  memset(*a + *cap, 0, (c - *cap) * sizeof **a);
  *cap = c;
}

/* ---- Network ---------------------------------------------------------------------------------- */

/* The harness queued the message; move it into the timed network, losing or duplicating it. */
static void w_on_send(tnet *net, tmsg *m) {
  wworld *w = W_of(net);
  tmsg t = *m;
  net->q.len--;
  fw_send(&w->flight, t, net->now, &w->link, &w->rng, &net->seq);
}

/* ---- Checks ---------------------------------------------------------------------------------------- */

static const char *const W_NAMES[W_NODES + 1] = {"", "n1", "n2", "n3", "n4", "n5"};

static void w_on_violation(void *ud, const char *message) { tnet_violation(&((wworld *)ud)->net, "%s", message); }

static void w_on_role(tnet *net, tnode *n, const hs_raft_role_event *ev) {
  hs_raft_invariants_on_role(&W_of(net)->inv, n->r, ev);
}

static void w_on_apply(tnet *net, tnode *n, const hs_raft_entry *e) {
  wworld *w = W_of(net);
  hs_raft_invariants_on_apply(&w->inv, n->r, e, net->now);
  w_grow64(&w->c_chain, &w->c_cap, e->index, w->c_cap);
  if (e->index <= w->max_committed) {
    if (w->c_chain[e->index] != n->sm_hash)
      tnet_violation(net, "state machine: node %u state after index %llu differs", n->id, (unsigned long long)e->index);
  } else {
    if (e->index != w->max_committed + 1)
      tnet_violation(net, "node %u applied index %llu first, after %llu", n->id, (unsigned long long)e->index,
                     (unsigned long long)w->max_committed);
    w->c_chain[e->index] = n->sm_hash;
    w->max_committed = e->index;
  }
  /* requests */
  tapplied *a = &n->applied[n->n_applied - 1];
  if (a->mine) {
    uint8_t *st = fw_req(&w->reqs, n->id, a->tag);
    if (*st != FW_REQ_PENDING)
      tnet_violation(net, "node %u applied proposal %llu that was not pending", n->id, (unsigned long long)a->tag);
    else *st = FW_REQ_APPLIED;
    w->applied_mine++;
  }
  n->n_applied = 0; /* the world keeps no per-node history (memory) */
  free(a->data);
}

static void w_on_restore(tnet *net, tnode *n, uint64_t index) {
  wworld *w = W_of(net);
  if (index == 0) return;
  if (index > w->max_committed || w->c_chain[index] != n->sm_hash)
    tnet_violation(net, "node %u restored a snapshot at %llu that does not match the committed history", n->id,
                   (unsigned long long)index);
}

static void w_check_lost(wworld *w, tnode *n) {
  while (n->n_lost) {
    tlost l = n->lost[--n->n_lost];
    uint8_t *st = fw_req(&w->reqs, n->id, l.tag);
    if (*st != FW_REQ_PENDING)
      tnet_violation(&w->net, "node %u lost proposal %llu that was not pending", n->id, (unsigned long long)l.tag);
    else *st = FW_REQ_LOST;
    w->lost++;
  }
}

/* Linearizable reads: a served read index covers every entry committed anywhere before the
 * read was requested (else a deposed leader answered from a stale state). */
static void w_check_reads(wworld *w, tnode *n) {
  for (size_t i = 0; i < n->n_reads; i++) {
    tread rd = n->reads[i];
    if (rd.status != HS_OK) continue;
    if (rd.id >= w->read_cap || rd.index < w->read_need[rd.id])
      tnet_violation(&w->net, "linearizability: node %u served read %llu at index %llu, %llu was committed before it",
                     n->id, (unsigned long long)rd.id, (unsigned long long)rd.index,
                     (unsigned long long)(rd.id < w->read_cap ? w->read_need[rd.id] : 0));
    w->reads_ok++;
  }
  n->n_reads = 0;
}

static void w_check_node(wworld *w, uint32_t x) {
  tnet *net = &w->net;
  w_check_lost(w, tn(net, x));
  w_check_reads(w, tn(net, x));
  hs_raft_invariants_check_node(&w->inv, R(net, x), net->now);
}

/* ---- Chaos ------------------------------------------------------------------------------------------ */

static uint32_t w_pick(wworld *w, int want) { /* want: 0 any, 1 live, 2 crashed, 3 leader */
  uint32_t cands[W_NODES], n = 0;
  for (uint32_t i = 1; i <= W_NODES; i++) {
    hs_raft *r = R(&w->net, i);
    bool ok = want == 0 || (want == 1 && !hs_raft_crashed(r)) || (want == 2 && hs_raft_crashed(r)) ||
              (want == 3 && !hs_raft_crashed(r) && hs_raft_role_of(r) == HS_RAFT_LEADER);
    if (ok) cands[n++] = i;
  }
  return n ? cands[hs_rng_below(&w->rng, n)] : 0;
}

/* A fresh request tag on node id, marked pending (a request may resolve during the call that
 * makes it); the caller unmarks it if the request is refused. */
static uint64_t w_new_tag(wworld *w, uint32_t id) {
  uint64_t tag = ++w->next_tag;
  *fw_req(&w->reqs, id, tag) = FW_REQ_PENDING;
  return tag;
}

static void w_propose(wworld *w, uint32_t id) {
  tnode *n = tn(&w->net, id);
  uint64_t tag = w_new_tag(w, id);
  char cmd[48];
  int len = snprintf(cmd, sizeof cmd, "s%llu:c%llu@%u", (unsigned long long)w->seed, (unsigned long long)tag, id);
  int rc = hs_raft_propose(n->r, w->net.now, cmd, (size_t)len, tag, NULL);
  if (rc != HS_OK) *fw_req(&w->reqs, id, tag) = FW_REQ_NONE;
  else w->proposals++;
}

/* Leader churn (after the Raft paper's Figure 8 and 6.824's Figure8 tests): propose on the
 * leader, crash leaders shortly after, restart - no partitions, no loss. */
static void w_churn_action(wworld *w) {
  tnet *net = &w->net;
  uint64_t dice = hs_rng_below(&w->rng, 100);
  uint32_t id, crashed = 0;
  for (uint32_t i = 1; i <= W_NODES; i++) crashed += hs_raft_crashed(R(net, i));
  if (dice < 50) {
    if ((id = w_pick(w, 3))) w_propose(w, id);
  } else if (dice < 70) {
    if (crashed < 2 && (id = w_pick(w, 3))) {
      hs_raft_crash(R(net, id));
      w->crashes++;
    }
  } else if (dice < 95) {
    if ((id = w_pick(w, 2))) hs_raft_restart(R(net, id), net->now);
  }
}

static void w_action(wworld *w) {
  tnet *net = &w->net;
  if (w->churn) {
    w_churn_action(w);
    return;
  }
  uint64_t dice = hs_rng_below(&w->rng, 100);
  uint32_t id;
  if (dice < 40) {
    if ((id = w_pick(w, 3))) w_propose(w, id);
  } else if (dice < 48) {
    if ((id = w_pick(w, 3))) {
      uint64_t rid = ++w->next_tag;
      size_t cap = w->read_cap;
      w_grow64(&w->read_need, &cap, rid, w->read_cap);
      w->read_cap = cap;
      w->read_need[rid] = w->max_committed;
      hs_raft_read_index(R(net, id), net->now, rid);
    }
  } else if (dice < 56) { /* a random two-sided partition */
    fw_partition(net->cut, W_IDS, W_NODES, &w->rng);
    w->partitions++;
  } else if (dice < 64) {
    memset(net->cut, 0, sizeof net->cut);
  } else if (dice < 70) {
    uint32_t crashed = 0;
    for (uint32_t i = 1; i <= W_NODES; i++) crashed += hs_raft_crashed(R(net, i));
    id = hs_rng_below(&w->rng, 2) ? w_pick(w, 3) : 0; /* the leader, half of the time */
    if (!id) id = w_pick(w, 1);
    if (crashed < 2 && id) {
      hs_raft_crash(R(net, id));
      w->crashes++;
    }
  } else if (dice < 78) {
    if ((id = w_pick(w, 2))) hs_raft_restart(R(net, id), net->now);
  } else if (dice < 83) {
    fw_random_rates(&w->link, &w->rng);
  } else if (dice < 86) { /* membership: remove a voter (keep 3), re-add as learner, promote */
    if (!(id = w_pick(w, 3))) return;
    hs_raft *l = R(net, id);
    const hs_raft_conf *c = hs_raft_conf_get(l, NULL);
    uint32_t target = (uint32_t)hs_rng_below(&w->rng, W_NODES) + 1;
    hs_raft_conf_op op;
    if (hs_raft_conf_is_learner(c, target)) op = HS_RAFT_CONF_ADD_VOTER;
    else if (!hs_raft_conf_is_voter(c, target)) op = HS_RAFT_CONF_ADD_LEARNER;
    else if (c->n_voters > 3) op = HS_RAFT_CONF_REMOVE;
    else return;
    uint64_t tag = w_new_tag(w, id);
    if (hs_raft_propose_conf(l, net->now, op, target, tag, NULL) == HS_OK) w->conf_changes++;
    else *fw_req(&w->reqs, id, tag) = FW_REQ_NONE;
  } else if (dice < 90) { /* a leadership transfer to anyone (itself, a crashed node, a non-member too) */
    if (!(id = w_pick(w, 3))) return;
    uint32_t target = (uint32_t)hs_rng_below(&w->rng, W_NODES) + 1;
    if (hs_raft_transfer_leadership(R(net, id), net->now, target, ++w->next_tag) == HS_OK) w->transfers++;
  }
}

/* ---- The run ------------------------------------------------------------------------------------------- */

static void w_init(wworld *w, uint64_t seed, const topts *o) {
  memset(w, 0, sizeof *w);
  tnet_init(&w->net);
  w->seed = seed;
  w->opts = *o;
  w->opts.seed = seed;
  hs_rng_seed(&w->rng, seed, "world", 5);
  w->net.world = w;
  w->net.on_send = w_on_send;
  w->net.on_apply = w_on_apply;
  w->net.on_role = w_on_role;
  w->net.on_restore = w_on_restore;
  hs_raft_invariants_init(&w->inv);
  w->inv.on_violation = w_on_violation;
  w->inv.ud = w;
  w->action_mean_ms = 25.0;
  w->link.lat_min = 1 * MS;
  w->link.lat_max = 15 * MS;
  for (uint32_t i = 1; i <= W_NODES; i++) {
    tn_add(&w->net, i, W_IDS, W_NODES, &w->opts);
    assert_int_equal(HS_OK, hs_raft_invariants_watch(&w->inv, R(&w->net, i), W_NAMES[i]));
  }
  for (uint32_t i = 1; i <= W_NODES; i++) tn_start(&w->net, i);
}

static void w_free(wworld *w) {
  hq_free(&w->flight);
  for (uint32_t i = 1; i <= W_NODES; i++) w->net.nodes[i].n_applied = 0;
  tnet_free(&w->net);
  hs_raft_invariants_free(&w->inv);
  free(w->c_chain);
  free(w->read_need);
  fw_ledger_free(&w->reqs);
}

/* Runs events until `end` or the first violation. */
static void w_run_until(wworld *w, hs_time_ns end) {
  tnet *net = &w->net;
  while (!net->violation) {
    uint32_t who;
    hs_time_ns t_dl = h_earliest(net, W_NODES, tn_deadline, &who);
    hs_time_ns t_act = w->chaos ? w->next_action : HS_TIME_NEVER;
    fw_event ev = fw_next(&net->now, end, fw_first_arrival(&w->flight), t_dl, t_act);
    if (ev == FW_END) break;
    if (ev == FW_MSG) {
      tmsg m = hq_heap_pop(&w->flight);
      hs_raft *dst = R(net, m.to);
      if (!hs_raft_crashed(dst) && !net->cut[m.from][m.to]) {
        tdec d = {0};
        tq_decode(&m, &d);
        int rc = hs_raft_step(dst, &d.m, net->now);
        if (rc) tnet_violation(net, "step failed: %s", hs_raft_strerror(rc));
        tdec_free(&d);
        w_check_node(w, m.to);
      } else {
        free(m.buf);
      }
    } else if (ev == FW_DEADLINE) {
      hs_raft_tick(R(net, who), net->now);
      w_check_node(w, who);
    } else {
      w_action(w);
      w->next_action = fw_next_action(net->now, &w->rng, w->action_mean_ms);
      for (uint32_t i = 1; i <= W_NODES; i++) w_check_node(w, i);
    }
  }
  if (!net->violation && net->now < end) net->now = end;
}

static bool w_quiet_and_done(wworld *w, uint32_t leader, uint64_t index) {
  hs_raft *l = R(&w->net, leader);
  const hs_raft_conf *c = hs_raft_conf_get(l, NULL);
  for (uint32_t i = 0; i < c->n_voters + c->n_learners; i++) {
    uint32_t id = i < c->n_voters ? c->voters[i] : c->learners[i - c->n_voters];
    if (hs_raft_applied_index(R(&w->net, id)) < index) return false;
  }
  return true;
}

/* Chaos for chaos_ns, then no faults: a leader must appear and commit fresh commands on every
 * member within a bounded time, and every proposal a member accepted must be resolved.
 * Returns false with net.why set on a violation. */
static bool w_run(wworld *w, hs_time_ns chaos_ns) {
  tnet *net = &w->net;
  w->chaos = true;
  w->next_action = net->now + 10 * MS;
  w_run_until(w, net->now + chaos_ns);
  if (net->violation) return false;

  w->chaos = false;
  fw_heal(&w->link, net->cut);
  for (uint32_t i = 1; i <= W_NODES; i++)
    if (hs_raft_crashed(R(net, i))) hs_raft_restart(R(net, i), net->now);
  hs_time_ns deadline = net->now + 20000 * MS;
  uint32_t leader = 0;
  uint64_t index = 0;
  while (!net->violation && net->now < deadline) {
    w_run_until(w, net->now + 100 * MS);
    uint32_t l = w_pick(w, 3);
    if (!l) continue;
    if (l != leader || !index) {
      w_propose(w, l);
      index = hs_raft_last_index(R(net, l));
      leader = l;
      continue;
    }
    if (hs_raft_role_of(R(net, leader)) == HS_RAFT_LEADER && w_quiet_and_done(w, leader, index)) break;
  }
  if (net->violation) return false;
  if (net->now >= deadline) {
    tnet_violation(net, "no progress after the faults stopped (leader %u, index %llu)", leader,
                   (unsigned long long)index);
    return false;
  }
  /* settle, then every member must have resolved every proposal it accepted, and every
   * leadership transfer it started must have ended exactly once */
  w_run_until(w, net->now + 2000 * MS);
  for (uint32_t i = 1; i <= W_NODES; i++) {
    hs_raft_stats st;
    hs_raft_get_stats(R(net, i), &st);
    if (hs_raft_transfer_target(R(net, i)) != HS_RAFT_NONE || st.transfers_started != tn(net, i)->transfers_ended)
      tnet_violation(net, "node %u: %llu transfers started, %llu ended, target %u", i,
                     (unsigned long long)st.transfers_started, (unsigned long long)tn(net, i)->transfers_ended,
                     hs_raft_transfer_target(R(net, i)));
  }
  const hs_raft_conf *c = hs_raft_conf_get(R(net, leader), NULL);
  for (uint32_t i = 0; i < c->n_voters + c->n_learners; i++) {
    uint32_t id = i < c->n_voters ? c->voters[i] : c->learners[i - c->n_voters];
    w_check_lost(w, tn(net, id));
    if (R(net, id)->props_len) tnet_violation(net, "node %u still holds %zu unresolved proposals", id, R(net, id)->props_len);
    uint64_t pending = fw_first_pending(&w->reqs, id);
    if (pending) tnet_violation(net, "node %u: proposal %llu never resolved", id, (unsigned long long)pending);
  }
  return !net->violation;
}

#endif
