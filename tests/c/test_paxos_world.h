/*
 * test_paxos_world.h - a randomized, seeded world for the Paxos cores, checked by invariants.
 *
 * Five nodes (Multi-Paxos or single-decree) exchange messages through a timed network: each
 * message gets a random latency (so messages overtake one another), may be lost or duplicated,
 * and is dropped on arrival if a partition cuts its link or its destination is down. Chaos
 * actions at random times submit commands (on the leader, and now and then on a follower, which
 * must refuse with a leader hint), partition and heal, crash and restart nodes, make a random
 * node campaign, and change the loss and duplication rates. Everything random comes from one
 * hs_rng seeded with the seed, so a failing seed replays exactly.
 *
 * Checked as the run goes, after every event:
 *   the checker (hs_paxos_check.h): one value per ballot, at most one value chosen per slot
 *     (computed from the acceptances), a node learns only what is chosen, every node applies
 *     the chosen value of each slot in slot order;
 *   the persistence contract (test_paxos_harness.h);
 *   commands: each submitted one ends exactly once, applied as its own or reported lost;
 *   a node's commit and applied indexes stay within its log.
 * Then the faults stop (heal, no loss, every node up) and the cluster must make progress: a
 * leader appears, a fresh command is applied on every node, and every command any node accepted
 * ends (applied or lost) - nothing is left hanging. Single-decree: every node decides, the same
 * value, one that was proposed.
 */
#ifndef TEST_PAXOS_WORLD_H
#define TEST_PAXOS_WORLD_H

#include "test_paxos_harness.h"

#define W_NODES 5

typedef struct pworld {
  pnet net;
  uint64_t seed;
  hs_rng rng;
  popts opts;
  bool multi;
  hs_paxos_checker chk;
  /* network */
  pmsg *heap;
  size_t hlen, hcap;
  double loss, dup;
  hs_time_ns lat_min, lat_max;
  /* commands: per node, tags submitted and how they ended */
  uint8_t *req_state[W_NODES + 1]; /* 0 unknown, 1 pending, 2 applied, 3 lost */
  size_t req_cap[W_NODES + 1];
  uint64_t next_tag;
  /* chaos */
  hs_time_ns next_action;
  bool chaos;
  double action_mean_ms;
  uint32_t max_crashed;
  uint64_t proposals, applied_mine, lost, refused, crashes, partitions, campaigns, leaders;
} pworld;

static pworld *PW(pnet *net) { return net->world; }

/* ---- Network ------------------------------------------------------------------------------------- */

static bool pw_before(const pmsg *a, const pmsg *b) { return a->at < b->at || (a->at == b->at && a->seq < b->seq); }

static void pw_heap_push(pworld *w, pmsg m) {
  if (w->hlen == w->hcap) {
    w->hcap = w->hcap ? w->hcap * 2 : 256;
    w->heap = realloc(w->heap, w->hcap * sizeof *w->heap);
  }
  size_t i = w->hlen++;
  while (i > 0 && pw_before(&m, &w->heap[(i - 1) / 2])) {
    w->heap[i] = w->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  w->heap[i] = m;
}

static pmsg pw_heap_pop(pworld *w) {
  pmsg top = w->heap[0], last = w->heap[--w->hlen];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= w->hlen) break;
    if (c + 1 < w->hlen && pw_before(&w->heap[c + 1], &w->heap[c])) c++;
    if (!pw_before(&w->heap[c], &last)) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if (w->hlen) w->heap[i] = last;
  return top;
}

static hs_time_ns pw_latency(pworld *w) {
  return w->lat_min + (hs_time_ns)hs_rng_below(&w->rng, (uint64_t)(w->lat_max - w->lat_min + 1));
}

/* The harness queued the message; move it into the timed network, losing or duplicating it. */
static void pw_on_send(pnet *net, pmsg *m) {
  pworld *w = PW(net);
  pmsg t = *m;
  net->q.len--;
  if (hs_rng_double(&w->rng) < w->loss) {
    free(t.buf);
    return;
  }
  if (hs_rng_double(&w->rng) < w->dup) {
    pmsg d = t;
    d.buf = malloc(t.len);
    memcpy(d.buf, t.buf, t.len);
    d.at = net->now + pw_latency(w);
    d.seq = ++net->seq;
    pw_heap_push(w, d);
  }
  t.at = net->now + pw_latency(w);
  pw_heap_push(w, t);
}

/* ---- Commands ----------------------------------------------------------------------------------- */

static uint8_t *pw_req(pworld *w, uint32_t id, uint64_t tag) {
  if (tag >= w->req_cap[id]) {
    size_t c = w->req_cap[id] ? w->req_cap[id] * 2 : 256;
    while (c <= tag) c *= 2;
    w->req_state[id] = realloc(w->req_state[id], c);
    memset(w->req_state[id] + w->req_cap[id], 0, c - w->req_cap[id]);
    w->req_cap[id] = c;
  }
  return &w->req_state[id][tag];
}

static void pw_on_apply(pnet *net, pnode *n, const hs_paxos_value *v, bool mine, uint64_t tag) {
  pworld *w = PW(net);
  (void)v;
  if (!mine) return;
  uint8_t *st = pw_req(w, n->id, tag);
  if (*st != 1) pnet_violation(net, "node %u applied command %llu that was not pending", n->id, (unsigned long long)tag);
  *st = 2;
  w->applied_mine++;
}

static void pw_check_lost(pworld *w, pnode *n) {
  while (n->n_lost) {
    plost l = n->lost[--n->n_lost];
    uint8_t *st = pw_req(w, n->id, l.tag);
    if (*st != 1) pnet_violation(&w->net, "node %u lost command %llu that was not pending", n->id, (unsigned long long)l.tag);
    *st = 3;
    w->lost++;
  }
}

static void pw_check_node(pworld *w, uint32_t id) {
  pnet *net = &w->net;
  if (net->checker && net->checker->violated) pnet_violation(net, "checker: %s", net->checker->violation);
  if (!w->multi) return;
  pnode *n = pn(net, id);
  pw_check_lost(w, n);
  hs_mpaxos *mp = n->mp;
  if (hs_mpaxos_crashed(mp)) return;
  if (hs_mpaxos_commit_index(mp) > hs_mpaxos_last_slot(mp) || hs_mpaxos_applied_index(mp) != hs_mpaxos_commit_index(mp))
    pnet_violation(net, "node %u: commit %llu, applied %llu, last %llu", id,
                   (unsigned long long)hs_mpaxos_commit_index(mp), (unsigned long long)hs_mpaxos_applied_index(mp),
                   (unsigned long long)hs_mpaxos_last_slot(mp));
}

/* ---- Chaos ----------------------------------------------------------------------------------------- */

static uint32_t pw_pick(pworld *w, int want) { /* want: 0 any, 1 live, 2 crashed, 3 leader */
  uint32_t cands[W_NODES], n = 0;
  for (uint32_t i = 1; i <= W_NODES; i++) {
    bool down = pn_crashed(&w->net, i);
    bool lead = w->multi && !down && hs_mpaxos_role_of(MP(&w->net, i)) == HS_MPAXOS_LEADER;
    bool ok = want == 0 || (want == 1 && !down) || (want == 2 && down) || (want == 3 && lead);
    if (ok) cands[n++] = i;
  }
  return n ? cands[hs_rng_below(&w->rng, n)] : 0;
}

static void pw_submit(pworld *w, uint32_t id) {
  pnet *net = &w->net;
  uint64_t tag = ++w->next_tag;
  uint8_t *st = pw_req(w, id, tag);
  *st = 1; /* a command may be applied during the call that submits it */
  char cmd[48];
  int len = snprintf(cmd, sizeof cmd, "s%llu:c%llu@%u", (unsigned long long)w->seed, (unsigned long long)tag, id);
  int rc = hs_mpaxos_submit(MP(net, id), net->now, cmd, (size_t)len, tag, NULL);
  st = pw_req(w, id, tag);
  if (rc == HS_OK) {
    w->proposals++;
    return;
  }
  *st = 0;
  if (rc == HS_PAXOS_ENOTLEADER) {
    w->refused++;
    uint32_t hint = hs_mpaxos_leader(MP(net, id));
    if (hint == id) pnet_violation(net, "node %u refused a command naming itself as the leader", id);
  } else if (rc != HS_PAXOS_EBUSY) {
    pnet_violation(net, "submit on node %u: %s", id, hs_paxos_strerror(rc));
  }
}

static void pw_propose_sd(pworld *w, uint32_t id) {
  char v[32];
  int len = snprintf(v, sizeof v, "v%llu@%u", (unsigned long long)++w->next_tag, id);
  if (hs_paxos_propose(SD(&w->net, id), w->net.now, v, (size_t)len) == HS_OK) w->proposals++;
}

static void pw_action(pworld *w) {
  pnet *net = &w->net;
  uint64_t dice = hs_rng_below(&w->rng, 100);
  uint32_t id, crashed = 0;
  for (uint32_t i = 1; i <= W_NODES; i++) crashed += pn_crashed(net, i);
  if (dice < 40) {
    if (!w->multi) {
      if (hs_rng_below(&w->rng, 8) == 0 && (id = pw_pick(w, 1))) pw_propose_sd(w, id);
    } else if ((id = pw_pick(w, 3))) {
      pw_submit(w, id);
    }
  } else if (dice < 44) {
    if (w->multi && (id = pw_pick(w, 1))) pw_submit(w, id); /* anywhere: followers refuse */
  } else if (dice < 52) { /* a random two-sided partition */
    uint32_t side = (uint32_t)hs_rng_below(&w->rng, 1u << W_NODES);
    for (uint32_t a = 1; a <= W_NODES; a++)
      for (uint32_t b = 1; b <= W_NODES; b++) net->cut[a][b] = ((side >> (a - 1)) & 1) != ((side >> (b - 1)) & 1);
    w->partitions++;
  } else if (dice < 60) {
    memset(net->cut, 0, sizeof net->cut);
  } else if (dice < 66) {
    id = hs_rng_below(&w->rng, 2) ? pw_pick(w, 3) : 0; /* the leader, half of the time */
    if (!id) id = pw_pick(w, 1);
    if (crashed < w->max_crashed && id) {
      pn_crash(net, id);
      w->crashes++;
    }
  } else if (dice < 74) {
    if ((id = pw_pick(w, 2))) pn_restart(net, id);
  } else if (dice < 79) {
    static const double rates[] = {0, 0, 0.05, 0.2};
    w->loss = rates[hs_rng_below(&w->rng, 4)];
    w->dup = rates[hs_rng_below(&w->rng, 4)];
  } else if (dice < 84) {
    if (w->multi && (id = pw_pick(w, 1))) {
      hs_mpaxos_campaign(MP(net, id), net->now);
      w->campaigns++;
    } else if (!w->multi && (id = pw_pick(w, 1))) {
      hs_paxos_start_round(SD(net, id), net->now); /* ESTATE without a value: fine */
    }
  }
}

/* ---- The run ------------------------------------------------------------------------------------------ */

static void pw_init(pworld *w, uint64_t seed, bool multi, const popts *o) {
  memset(w, 0, sizeof *w);
  pnet_init(&w->net);
  w->seed = seed;
  w->multi = multi;
  w->opts = *o;
  w->opts.seed = seed;
  hs_rng_seed(&w->rng, seed, "world", 5);
  uint32_t q2 = 0;
  assert_rc(hs_paxos_quorums(W_NODES, o->q1, o->q2, NULL, &q2), HS_OK);
  hs_paxos_checker_init(&w->chk, q2);
  w->net.checker = &w->chk;
  w->net.world = w;
  w->net.on_send = pw_on_send;
  w->net.on_apply = pw_on_apply;
  w->action_mean_ms = 25.0;
  w->max_crashed = 2;
  w->lat_min = 1 * MS;
  w->lat_max = 15 * MS;
  for (uint32_t i = 1; i <= W_NODES; i++) {
    if (multi) pn_add_mp(&w->net, i, PIDS, W_NODES, &w->opts);
    else pn_add_sd(&w->net, i, PIDS, W_NODES, &w->opts);
    pn(&w->net, i)->keep_applied = false;
  }
  for (uint32_t i = 1; i <= W_NODES; i++) pn_start(&w->net, i);
}

static void pw_free(pworld *w) {
  while (w->hlen) free(pw_heap_pop(w).buf);
  free(w->heap);
  pnet_free(&w->net);
  hs_paxos_checker_free(&w->chk);
  for (uint32_t i = 0; i <= W_NODES; i++) free(w->req_state[i]);
}

/* Runs events until `end` or the first violation. */
static void pw_run_until(pworld *w, hs_time_ns end) {
  pnet *net = &w->net;
  while (!net->violation) {
    hs_time_ns t_msg = w->hlen ? w->heap[0].at : HS_TIME_NEVER;
    hs_time_ns t_dl = HS_TIME_NEVER;
    uint32_t who = 0;
    for (uint32_t i = 1; i <= W_NODES; i++) {
      hs_time_ns d = pn_deadline(net, i);
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
      pmsg m = pw_heap_pop(w);
      if (!pn_crashed(net, m.to) && !net->cut[m.from][m.to]) {
        pdec d = {0};
        pq_decode(&m, &d);
        int rc = pn_step(net, &d.m);
        if (rc) pnet_violation(net, "step %s %u->%u failed: %s", hs_paxos_msg_type_name(m.type), m.from, m.to,
                               hs_paxos_strerror(rc));
        pdec_free(&d);
        pw_check_node(w, m.to);
      } else {
        free(m.buf);
      }
    } else if (t == t_dl) {
      pn_tick(net, who);
      pw_check_node(w, who);
    } else {
      pw_action(w);
      w->next_action = net->now + (hs_time_ns)(hs_rng_exponential(&w->rng, w->action_mean_ms) * MS) + 1;
      for (uint32_t i = 1; i <= W_NODES; i++) pw_check_node(w, i);
    }
  }
  if (!net->violation && net->now < end) net->now = end;
}

static void pw_heal(pworld *w) {
  pnet *net = &w->net;
  w->chaos = false;
  w->loss = w->dup = 0;
  memset(net->cut, 0, sizeof net->cut);
  for (uint32_t i = 1; i <= W_NODES; i++)
    if (pn_crashed(net, i)) pn_restart(net, i);
}

/* Multi-Paxos after the faults: a leader commits a fresh command on every node, then every
 * command any node accepted is resolved. */
static void pw_liveness_multi(pworld *w) {
  pnet *net = &w->net;
  hs_time_ns deadline = net->now + 60000 * MS;
  uint32_t leader = 0;
  uint64_t slot = 0;
  while (!net->violation && net->now < deadline) {
    pw_run_until(w, net->now + 100 * MS);
    uint32_t l = pw_pick(w, 3);
    if (!l) continue;
    if (l != leader || !slot) {
      uint64_t tag = ++w->next_tag;
      *pw_req(w, l, tag) = 1;
      char cmd[32];
      int len = snprintf(cmd, sizeof cmd, "final%llu", (unsigned long long)tag);
      if (hs_mpaxos_submit(MP(net, l), net->now, cmd, (size_t)len, tag, &slot) != HS_OK) {
        *pw_req(w, l, tag) = 0;
        slot = 0;
        continue;
      }
      w->proposals++;
      leader = l;
      continue;
    }
    bool all = true;
    for (uint32_t i = 1; i <= W_NODES; i++) all &= hs_mpaxos_applied_index(MP(net, i)) >= slot;
    if (all) break;
  }
  if (net->violation) return;
  if (net->now >= deadline) {
    pnet_violation(net, "no progress after the faults stopped (leader %u, slot %llu)", leader, (unsigned long long)slot);
    return;
  }
  pw_run_until(w, net->now + 3000 * MS);
  for (uint32_t i = 1; i <= W_NODES; i++) {
    pw_check_lost(w, pn(net, i));
    if (hs_mpaxos_pending(MP(net, i)))
      pnet_violation(net, "node %u still follows %llu unresolved commands", i,
                     (unsigned long long)hs_mpaxos_pending(MP(net, i)));
    for (size_t t = 0; t < w->req_cap[i]; t++)
      if (w->req_state[i][t] == 1) {
        pnet_violation(net, "node %u: command %zu never resolved", i, t);
        break;
      }
    if (pn(net, i)->sm_hash != pn(net, leader)->sm_hash && hs_mpaxos_applied_index(MP(net, i)) == hs_mpaxos_applied_index(MP(net, leader)))
      pnet_violation(net, "nodes %u and %u applied the same slots into different states", i, leader);
  }
  hs_mpaxos_stats st;
  for (uint32_t i = 1; i <= W_NODES; i++) {
    hs_mpaxos_get_stats(MP(net, i), &st);
    w->leaders += st.elections_won;
  }
}

/* Single-decree after the faults: a live node proposes if none did, and every node decides. */
static void pw_liveness_single(pworld *w) {
  pnet *net = &w->net;
  pw_propose_sd(w, 1 + (uint32_t)hs_rng_below(&w->rng, W_NODES));
  hs_time_ns deadline = net->now + 60000 * MS;
  bool all = false;
  while (!net->violation && net->now < deadline && !all) {
    pw_run_until(w, net->now + 100 * MS);
    all = true;
    for (uint32_t i = 1; i <= W_NODES; i++) all &= hs_paxos_decided(SD(net, i), NULL, NULL);
  }
  if (net->violation) return;
  if (!all) {
    pnet_violation(net, "not every node decided after the faults stopped");
    return;
  }
  const uint8_t *d0;
  uint32_t l0;
  hs_paxos_decided(SD(net, 1), &d0, &l0);
  if (l0 < 2 || d0[0] != 'v') pnet_violation(net, "decided a value nobody proposed");
  for (uint32_t i = 2; i <= W_NODES; i++) {
    const uint8_t *d;
    uint32_t l;
    hs_paxos_decided(SD(net, i), &d, &l);
    if (l != l0 || memcmp(d, d0, l)) pnet_violation(net, "nodes 1 and %u decided differently", i);
  }
  if (w->chk.chosen != 1) pnet_violation(net, "%llu slots chosen in single-decree", (unsigned long long)w->chk.chosen);
}

/* Chaos for chaos_ns, then no faults and the liveness checks. Returns false with net.why set on
 * a violation. */
static bool pw_run(pworld *w, hs_time_ns chaos_ns) {
  pnet *net = &w->net;
  w->chaos = true;
  w->next_action = net->now + 10 * MS;
  pw_run_until(w, net->now + chaos_ns);
  if (net->violation) return false;
  pw_heal(w);
  if (w->multi) pw_liveness_multi(w);
  else pw_liveness_single(w);
  return !net->violation;
}

#endif
