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
 * The network, its faults and the event loop are test_fault_world.h's.
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

#include "test_fault_world.h"
#include "test_paxos_harness.h"

#define W_NODES 5

typedef struct pworld {
  pnet net;
  uint64_t seed;
  hs_rng rng;
  popts opts;
  bool multi;
  hs_paxos_checker chk;
  hq flight; /* the timed network: messages by arrival */
  fw_link link;
  fw_ledger reqs; /* commands: per node, tags submitted and how they ended */
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

/* The harness queued the message; move it into the timed network, losing or duplicating it. */
static void pw_on_send(pnet *net, pmsg *m) {
  pworld *w = PW(net);
  pmsg t = *m;
  net->q.len--;
  fw_send(&w->flight, t, net->now, &w->link, &w->rng, &net->seq);
}

/* ---- Commands ----------------------------------------------------------------------------------- */

static uint8_t *pw_req(pworld *w, uint32_t id, uint64_t tag) { return fw_req(&w->reqs, id, tag); }

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
    fw_partition(net->cut, PIDS, W_NODES, &w->rng);
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
    fw_random_rates(&w->link, &w->rng);
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
  w->link.lat_min = 1 * MS;
  w->link.lat_max = 15 * MS;
  for (uint32_t i = 1; i <= W_NODES; i++) {
    if (multi) pn_add_mp(&w->net, i, PIDS, W_NODES, &w->opts);
    else pn_add_sd(&w->net, i, PIDS, W_NODES, &w->opts);
    pn(&w->net, i)->keep_applied = false;
  }
  for (uint32_t i = 1; i <= W_NODES; i++) pn_start(&w->net, i);
}

static void pw_free(pworld *w) {
  hq_free(&w->flight);
  pnet_free(&w->net);
  hs_paxos_checker_free(&w->chk);
  fw_ledger_free(&w->reqs);
}

/* Runs events until `end` or the first violation. */
static void pw_run_until(pworld *w, hs_time_ns end) {
  pnet *net = &w->net;
  while (!net->violation) {
    uint32_t who;
    hs_time_ns t_dl = h_earliest(net, W_NODES, pn_deadline, &who);
    hs_time_ns t_act = w->chaos ? w->next_action : HS_TIME_NEVER;
    fw_event ev = fw_next(&net->now, end, fw_first_arrival(&w->flight), t_dl, t_act);
    if (ev == FW_END) break;
    if (ev == FW_MSG) {
      pmsg m = hq_heap_pop(&w->flight);
      if (!pn_crashed(net, m.to) && !net->cut[m.from][m.to]) {
        pdec d = {0};
        pq_decode(&m, &d);
        int rc = pn_step(net, &d.m);
        if (rc)
          pnet_violation(net, "step %s %u->%u failed: %s", hs_paxos_msg_type_name((hs_paxos_msg_type)m.type), m.from,
                         m.to, hs_paxos_strerror(rc));
        pdec_free(&d);
        pw_check_node(w, m.to);
      } else {
        free(m.buf);
      }
    } else if (ev == FW_DEADLINE) {
      pn_tick(net, who);
      pw_check_node(w, who);
    } else {
      pw_action(w);
      w->next_action = fw_next_action(net->now, &w->rng, w->action_mean_ms);
      for (uint32_t i = 1; i <= W_NODES; i++) pw_check_node(w, i);
    }
  }
  if (!net->violation && net->now < end) net->now = end;
}

static void pw_heal(pworld *w) {
  pnet *net = &w->net;
  w->chaos = false;
  fw_heal(&w->link, net->cut);
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
    uint64_t pending = fw_first_pending(&w->reqs, i);
    if (pending) pnet_violation(net, "node %u: command %llu never resolved", i, (unsigned long long)pending);
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
