/*
 * bench_swim.c - SWIM at scale through the engine: n members (default 10,000) as entities on
 * one hs_net with a default link (latency uniform 1-10 ms, 1% loss), 60 simulated seconds;
 * 1% of the members crash at 10 s and half of those restart at 30 s. Prints the wall time,
 * the peak resident memory, the messages and what the survivors concluded.
 *
 * Usage: bench_swim [members] [seconds]      (bench_swim 1000 20 for a quick look)
 *        PIGGYBACK=n bench_swim ...           (max_piggyback other than the default)
 *
 * The budget: 10,000 members for 60 simulated seconds in under 10 s and 1 GiB.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "happysim.h"
#include "membership/hs_swim_node.h"

typedef struct member {
  hs_entity e;
  hs_swim_node node;
} member;

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_message(hs_entity *e, hs_message *m) { hs_swim_node_on_message(&((member *)e)->node, m); }
static void on_crash(hs_entity *e) { hs_swim_node_on_crash(&((member *)e)->node); }
static void on_restart(hs_entity *e) { hs_swim_node_on_restart(&((member *)e)->node); }
static const hs_entity_vtable member_vt = {.kind = "MembershipProtocol", .on_crash = on_crash, .on_restart = on_restart,
                                           .on_message = on_message};

static void *blob_copy(void *ud, void *payload, uint64_t size) {
  (void)size;
  hs_blob *b = payload;
  return hs_blob_copy(ud, b->data, b->size);
}
static void blob_release(void *ud, void *payload) { hs_blob_free(ud, payload); }

typedef struct crash_ev {
  hs_event ev;
  member *members;
  uint32_t n, step;
} crash_ev;

/* 10 s: every 100th member crashes; 30 s: every 200th comes back. */
static void on_chaos(hs_sim *sim, hs_event *ev) {
  crash_ev *c = (crash_ev *)ev;
  for (uint32_t i = 100; i <= c->n; i += 100) {
    if (c->step == 0) hs_entity_crash(&c->members[i].e);
    else if (i % 200 == 0) hs_entity_restart(&c->members[i].e);
  }
  if (c->step++ == 0) hs_sim_schedule_at(sim, ev, 30 * HS_NS_PER_S);
}

int main(int argc, char **argv) {
  uint32_t n = argc > 1 ? (uint32_t)atoi(argv[1]) : 10000;
  double seconds = argc > 2 ? atof(argv[2]) : 60.0;
  double t0 = wall_s();
  hs_sim sim;
  hs_sim_init(&sim, 7);
  hs_net net;
  hs_net_init(&net, &sim, "lan");
  hs_blob_pool pool;
  hs_blob_pool_init(&pool);
  hs_net_payload_ops ops = {blob_copy, blob_release, &pool};
  hs_net_set_payload_ops(&net, &ops);
  hs_link_params p;
  hs_link_params_init(&p);
  p.latency = hs_dist_uniform(0.001, 0.010);
  p.packet_loss_rate = 0.01;
  hs_net_set_default_link(&net, &p);
  member *members = calloc(n + 1, sizeof *members);
  char (*names)[16] = calloc(n + 1, sizeof *names);
  hs_swim_dir dir;
  hs_swim_dir_init(&dir);
  for (uint32_t i = 1; i <= n; i++) {
    snprintf(names[i], sizeof names[i], "m%u", i);
    hs_entity_init(&members[i].e, &member_vt, names[i]);
    hs_sim_register(&sim, &members[i].e);
    hs_swim_dir_set(&dir, i, &members[i].e);
  }
  for (uint32_t i = 1; i <= n; i++) {
    hs_swim_config cfg;
    hs_swim_config_init(&cfg);
    cfg.id = i;
    cfg.n_members = n;
    if (getenv("PIGGYBACK")) cfg.max_piggyback = (uint32_t)atoi(getenv("PIGGYBACK"));
    hs_sim_stream(&sim, &cfg.rng, names[i], strlen(names[i]));
    if (hs_swim_node_init(&members[i].node, &members[i].e, &net, &pool, &dir, &cfg, NULL) != HS_OK) {
      fprintf(stderr, "init failed\n");
      return 1;
    }
    hs_swim_node_start(&members[i].node);
  }
  crash_ev chaos = {.members = members, .n = n};
  hs_event_init(&chaos.ev, on_chaos, NULL, "Chaos");
  hs_sim_schedule_at(&sim, &chaos.ev, 10 * HS_NS_PER_S);
  double t1 = wall_s();
  hs_sim_run_until(&sim, hs_time_from_s(seconds));
  double t2 = wall_s();

  /* what the survivors concluded about the crashed members still down, and the restarted */
  uint64_t dead_seen = 0, dead_pairs = 0, back_seen = 0, back_pairs = 0, false_dead = 0;
  for (uint32_t i = 1; i <= n; i++) {
    if (hs_entity_crashed(&members[i].e)) continue;
    hs_swim *s = members[i].node.swim;
    for (uint32_t j = 100; j <= n; j += 100) {
      if (j == i) continue;
      hs_swim_state st = hs_swim_member_state(s, j);
      if (hs_entity_crashed(&members[j].e)) {
        dead_pairs++;
        dead_seen += st == HS_SWIM_DEAD;
      } else {
        back_pairs++;
        back_seen += st == HS_SWIM_ALIVE;
      }
    }
    for (uint32_t j = 1; j <= n; j += 97)
      if (j % 100 && j != i && hs_swim_member_state(s, j) == HS_SWIM_DEAD) false_dead++;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const hs_net_counters *c = hs_net_stats(&net);
  printf("swim: %u members, %.0f simulated s: setup %.2f s, run %.2f s wall; peak RSS %.0f MiB\n", n, seconds, t1 - t0,
         t2 - t1, (double)ru.ru_maxrss / 1024.0);
  printf("  %llu events, %llu messages sent, %llu delivered, %llu lost; %zu link records\n",
         (unsigned long long)sim.events_processed, (unsigned long long)c->sent, (unsigned long long)c->delivered,
         (unsigned long long)c->dropped_loss, hs_net_link_count(&net));
  printf("  crashed and still down seen dead: %.2f%%; restarted seen alive: %.2f%%; live sampled seen dead: %llu\n",
         dead_pairs ? 100.0 * (double)dead_seen / (double)dead_pairs : 100.0,
         back_pairs ? 100.0 * (double)back_seen / (double)back_pairs : 100.0, (unsigned long long)false_dead);
  hs_net_close(&net);
  for (uint32_t i = 1; i <= n; i++) hs_swim_node_free(&members[i].node);
  hs_sim_close(&sim);
  hs_blob_pool_close(&pool);
  hs_swim_dir_free(&dir);
  free(members);
  free(names);
  return 0;
}
