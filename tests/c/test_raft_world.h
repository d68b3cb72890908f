/*
 * test_raft_world.h - a randomized, seeded world for the Raft core, checked for Raft's invariants.
 *
 * Five nodes exchange messages through a timed network: each message gets a random latency
 * (so messages overtake one another), may be lost or duplicated, and is dropped on arrival if
 * a partition cuts its link or its destination is down. Chaos actions at random times propose
 * commands, request reads, partition and heal, crash and restart nodes, change the loss and
 * duplication rates, and add and remove members. Everything random comes from one hs_rng
 * seeded with the seed, so a failing seed replays exactly.
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

#include "test_raft_harness.h"

#include "raft/hs_raft_internal.h"
#include "raft/hs_raft_invariants.h"

#define W_NODES 5

typedef struct wworld {
  tnet net;
  uint64_t seed;
  hs_rng rng;
  topts opts;
  /* network */
  tmsg *heap;
  size_t hlen, hcap;
  double loss, dup;
  hs_time_ns lat_min, lat_max;
  hs_raft_invariants inv; /* Raft's safety properties */
  /* per committed index, the state machine's hash chain after it */
  uint64_t *c_chain;
  size_t c_cap;
  uint64_t max_committed;
  /* requests: per node, tags proposed and how they ended */
  uint8_t *req_state[W_NODES + 1]; /* 0 unknown, 1 pending, 2 applied, 3 lost */
  size_t req_cap[W_NODES + 1];
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

static bool w_before(const tmsg *a, const tmsg *b) { return a->at < b->at || (a->at == b->at && a->seq < b->seq); }

static void w_heap_push(wworld *w, tmsg m) {
  if (w->hlen == w->hcap) {
    w->hcap = w->hcap ? w->hcap * 2 : 256;
    w->heap = realloc(w->heap, w->hcap * sizeof *w->heap);
  }
  size_t i = w->hlen++;
  while (i > 0 && w_before(&m, &w->heap[(i - 1) / 2])) {
    w->heap[i] = w->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  w->heap[i] = m;
}

static tmsg w_heap_pop(wworld *w) {
  tmsg top = w->heap[0], last = w->heap[--w->hlen];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= w->hlen) break;
    if (c + 1 < w->hlen && w_before(&w->heap[c + 1], &w->heap[c])) c++;
    if (!w_before(&w->heap[c], &last)) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if (w->hlen) w->heap[i] = last;
  return top;
}

static hs_time_ns w_latency(wworld *w) {
  return w->lat_min + (hs_time_ns)hs_rng_below(&w->rng, (uint64_t)(w->lat_max - w->lat_min + 1));
}

/* The harness queued the message; move it into the timed network, losing or duplicating it. */
static void w_on_send(tnet *net, tmsg *m) {
  wworld *w = W_of(net);
  tmsg t = *m;
  net->q.len--;
  if (hs_rng_double(&w->rng) < w->loss) {
    free(t.buf);
    return;
  }
  if (hs_rng_double(&w->rng) < w->dup) {
    tmsg d = t;
    d.buf = malloc(t.len);
    memcpy(d.buf, t.buf, t.len);
    d.at = net->now + w_latency(w);
    d.seq = ++net->seq;
    w_heap_push(w, d);
  }
  t.at = net->now + w_latency(w);
  w_heap_push(w, t);
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
    if (a->tag >= w->req_cap[n->id] || w->req_state[n->id][a->tag] != 1)
      tnet_violation(net, "node %u applied proposal %llu that was not pending", n->id, (unsigned long long)a->tag);
    else w->req_state[n->id][a->tag] = 2;
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
    if (l.tag >= w->req_cap[n->id] || w->req_state[n->id][l.tag] != 1)
      tnet_violation(&w->net, "node %u lost proposal %llu that was not pending", n->id, (unsigned long long)l.tag);
    else w->req_state[n->id][l.tag] = 3;
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
  if (tag >= w->req_cap[id]) {
    size_t c = w->req_cap[id] ? w->req_cap[id] * 2 : 256;
    while (c <= tag) c *= 2;
    w->req_state[id] = realloc(w->req_state[id], c);
    memset(w->req_state[id] + w->req_cap[id], 0, c - w->req_cap[id]);
    w->req_cap[id] = c;
  }
  w->req_state[id][tag] = 1;
  return tag;
}

static void w_propose(wworld *w, uint32_t id) {
  tnode *n = tn(&w->net, id);
  uint64_t tag = w_new_tag(w, id);
  char cmd[48];
  int len = snprintf(cmd, sizeof cmd, "s%llu:c%llu@%u", (unsigned long long)w->seed, (unsigned long long)tag, id);
  int rc = hs_raft_propose(n->r, w->net.now, cmd, (size_t)len, tag, NULL);
  if (rc != HS_OK) w->req_state[id][tag] = 0;
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
    uint32_t side = (uint32_t)hs_rng_below(&w->rng, 1u << W_NODES);
    for (uint32_t a = 1; a <= W_NODES; a++)
      for (uint32_t b = 1; b <= W_NODES; b++) net->cut[a][b] = ((side >> (a - 1)) & 1) != ((side >> (b - 1)) & 1);
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
    static const double rates[] = {0, 0, 0.05, 0.2};
    w->loss = rates[hs_rng_below(&w->rng, 4)];
    w->dup = rates[hs_rng_below(&w->rng, 4)];
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
    else w->req_state[id][tag] = 0;
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
  w->lat_min = 1 * MS;
  w->lat_max = 15 * MS;
  uint32_t ids[W_NODES];
  for (uint32_t i = 0; i < W_NODES; i++) ids[i] = i + 1;
  for (uint32_t i = 1; i <= W_NODES; i++) {
    tn_add(&w->net, i, ids, W_NODES, &w->opts);
    assert_int_equal(HS_OK, hs_raft_invariants_watch(&w->inv, R(&w->net, i), W_NAMES[i]));
  }
  for (uint32_t i = 1; i <= W_NODES; i++) tn_start(&w->net, i);
}

static void w_free(wworld *w) {
  while (w->hlen) free(w_heap_pop(w).buf);
  free(w->heap);
  for (uint32_t i = 1; i <= W_NODES; i++) w->net.nodes[i].n_applied = 0;
  tnet_free(&w->net);
  hs_raft_invariants_free(&w->inv);
  free(w->c_chain);
  free(w->read_need);
  for (uint32_t i = 0; i <= W_NODES; i++) free(w->req_state[i]);
}

/* Runs events until `end` or the first violation. */
static void w_run_until(wworld *w, hs_time_ns end) {
  tnet *net = &w->net;
  while (!net->violation) {
    hs_time_ns t_msg = w->hlen ? w->heap[0].at : HS_TIME_NEVER;
    hs_time_ns t_dl = HS_TIME_NEVER;
    uint32_t who = 0;
    for (uint32_t i = 1; i <= W_NODES; i++) {
      hs_time_ns d = hs_raft_next_deadline(R(net, i));
      if (d < t_dl) {
        t_dl = d;
        who = i;
      }
    }
    hs_time_ns t_act = w->chaos ? w->next_action : HS_TIME_NEVER;
    hs_time_ns t = t_msg;
    if (t_dl < t) t = t_dl;
    if (t_act < t) t = t_act;
    if (t > end) break;
    if (t > net->now) net->now = t;
    if (t == t_msg) {
      tmsg m = w_heap_pop(w);
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
    } else if (t == t_dl) {
      hs_raft_tick(R(net, who), net->now);
      w_check_node(w, who);
    } else {
      w_action(w);
      w->next_action = net->now + (hs_time_ns)(hs_rng_exponential(&w->rng, w->action_mean_ms) * MS) + 1;
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
  w->loss = w->dup = 0;
  memset(net->cut, 0, sizeof net->cut);
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
    for (size_t t = 0; t < w->req_cap[id]; t++)
      if (w->req_state[id][t] == 1) {
        tnet_violation(net, "node %u: proposal %zu never resolved", id, t);
        break;
      }
  }
  return !net->violation;
}

#endif
