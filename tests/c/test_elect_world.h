/*
 * test_elect_world.h - a seeded world for the election core: nodes 1..n exchange encoded
 * messages (hs_elect_msg_encode, so the codec runs on every message) through a timed network
 * with random latency (messages overtake one another), loss, duplication, partitions, and
 * crashed destinations (test_fault_world.h). Everything random comes from one hs_rng seeded
 * with the seed.
 *
 * The shipped invariants (engine/coord/hs_elect_invariants.h) watch every leader_changed and
 * persist callback: one backing per epoch, durable backing, leader safety (at most one leader
 * per epoch accepted by a quorum). The first violation stops the run with the time.
 */
#ifndef TEST_ELECT_WORLD_H
#define TEST_ELECT_WORLD_H

#include <stdio.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#include "coord/hs_elect.h"
#include "coord/hs_elect_invariants.h"
#include "coord/hs_elect_strategies.h"
#include "test_fault_world.h"

#define EW_MAX 9

typedef struct eworld eworld;

typedef struct ewnode {
  eworld *w;
  hs_elect *e;
  uint32_t id;
  uint64_t p_epoch; /* the durable store */
  uint32_t p_backed;
  uint32_t leader; /* from leader_changed */
  uint64_t leader_epoch;
  uint64_t confirmed;
  char name[8];
} ewnode;

enum { EW_BULLY = 0, EW_RING, EW_RANDOMIZED, EW_CUSTOM };

struct eworld {
  ewnode nodes[EW_MAX + 1];
  uint32_t n;
  int strategy;
  hs_time_ns now;
  uint64_t seq;
  hq flight; /* messages by arrival */
  hs_rng rng;
  uint64_t seed;
  fw_link link;
  hcut cut;
  bool down[EW_MAX + 1];
  hs_time_ns et, hb;
  hs_elect_invariants inv;
  bool violated;
  char why[256];
  /* a hook the tests use to act on a message as it is sent */
  void (*on_send)(eworld *w, const hs_elect_msg *m);
  void *hook_ud;
  /* chaos */
  bool chaos;
  hs_time_ns next_action;
  uint64_t delivered, crashes, partitions, trace;
};

static void ew_violation(eworld *w, const char *fmt, ...) {
  if (w->violated) return;
  w->violated = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->why, sizeof w->why, fmt, ap);
  va_end(ap);
}

/* ---- Callbacks ---------------------------------------------------------------------------- */

static void ew_send(void *ud, const hs_elect_msg *m) {
  ewnode *n = ud;
  eworld *w = n->w;
  if (w->on_send) w->on_send(w, m);
  if (hs_rng_double(&w->rng) < w->link.loss) return;
  int copies = hs_rng_double(&w->rng) < w->link.dup ? 2 : 1;
  for (int c = 0; c < copies; c++) { /* unlike fw_send: each copy draws its latency in send order */
    hmsg x = {.from = m->from, .to = m->to, .seq = ++w->seq};
    x.len = hs_elect_msg_encoded_size(m);
    x.buf = malloc(x.len);
    if (hs_elect_msg_encode(m, x.buf, x.len) != x.len) ew_violation(w, "encode failed");
    x.at = w->now + fw_latency(&w->link, &w->rng);
    hq_heap_push(&w->flight, x);
  }
}

static void ew_persist(void *ud, uint64_t epoch, uint32_t backed) {
  ewnode *n = ud;
  n->p_epoch = epoch;
  n->p_backed = backed;
  hs_elect_invariants_on_persist(&n->w->inv, n->e, epoch, backed, n->w->now);
  if (n->w->inv.violated) ew_violation(n->w, "%s", n->w->inv.violation);
}

static void ew_leader(void *ud, const hs_elect_leader_event *ev) {
  ewnode *n = ud;
  n->leader = ev->leader;
  n->leader_epoch = ev->epoch;
  hs_elect_invariants_on_leader(&n->w->inv, n->e, ev);
  if (n->w->inv.violated) ew_violation(n->w, "%s", n->w->inv.violation);
}

static void ew_confirmed(void *ud, uint64_t epoch, hs_time_ns now) {
  (void)epoch;
  (void)now;
  ((ewnode *)ud)->confirmed++;
}

/* ---- A strategy written with the vtable and the services only (as a Lua one would be):
 * the lowest live id wins, an inverted bully with its own CUSTOM messages. ------------------ */

typedef struct lowest {
  bool running, objected;
} lowest;

enum { LOW_PROBE = 1, LOW_OBJECT = 2 };

static void low_run(lowest *s, hs_elect *e, hs_time_ns now) {
  s->running = true;
  s->objected = false;
  uint32_t me = hs_elect_id(e);
  for (uint32_t i = 0; i < hs_elect_member_count(e) && hs_elect_member_at(e, i) < me; i++) {
    static const uint8_t hello[] = "lower?";
    hs_elect_msg m = {.type = HS_ELECT_MSG_CUSTOM, .kind = LOW_PROBE, .to = hs_elect_member_at(e, i), .data = hello, .len = 6};
    hs_elect_send(e, &m);
  }
  hs_elect_set_timeout(e, now + hs_elect_election_timeout(e) / 4);
}

static bool low_should(void *self, hs_elect *e, hs_time_ns now) {
  (void)e;
  (void)now;
  return !((lowest *)self)->running;
}

static void low_start(void *self, hs_elect *e, hs_time_ns now) { low_run(self, e, now); }

static int low_handle(void *self, hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  lowest *s = self;
  if (m->type != HS_ELECT_MSG_CUSTOM) return HS_EINVAL;
  if (m->kind == LOW_PROBE) {
    if (m->len != 6 || memcmp(m->data, "lower?", 6) || m->from < hs_elect_id(e)) return HS_EINVAL;
    hs_elect_msg obj = {.type = HS_ELECT_MSG_CUSTOM, .kind = LOW_OBJECT, .to = m->from};
    hs_elect_send(e, &obj);
    if (hs_elect_is_leader(e)) hs_elect_announce_to(e, m->from);
    else if (!s->running) low_run(s, e, now);
    return HS_OK;
  }
  if (m->kind == LOW_OBJECT) {
    s->objected = true;
    return HS_OK;
  }
  return HS_EINVAL;
}

static void low_timeout(void *self, hs_elect *e, hs_time_ns now) {
  lowest *s = self;
  if (!s->running) return;
  s->running = false;
  if (hs_elect_leader(e) != HS_ELECT_NONE || s->objected) return; /* the core asks again later */
  if (hs_elect_declare(e, now) == HS_ELECT_EREFUSED) hs_elect_campaign(e, now);
}

static bool low_accept(void *self, hs_elect *e, uint32_t leader, hs_time_ns now) {
  lowest *s = self;
  if (leader > hs_elect_id(e)) {
    if (!s->running) hs_elect_campaign(e, now);
    return false;
  }
  s->running = false;
  return true;
}

static void low_reset(void *self, hs_elect *e) {
  (void)e;
  ((lowest *)self)->running = false;
}

static const hs_elect_strategy_ops lowest_ops = {.name = "lowest",
                                                 .message_types = 1u << HS_ELECT_MSG_CUSTOM,
                                                 .should_start_election = low_should,
                                                 .start_election = low_start,
                                                 .handle_message = low_handle,
                                                 .on_timeout = low_timeout,
                                                 .accept_leader = low_accept,
                                                 .reset = low_reset,
                                                 .destroy = free};

/* ---- Building and running --------------------------------------------------------------- */

static hs_elect_strategy ew_strategy(int kind) {
  hs_elect_strategy s = {0};
  switch (kind) {
  case EW_BULLY: hs_elect_bully_new(NULL, &s); break;
  case EW_RING: hs_elect_ring_new(NULL, &s); break;
  case EW_RANDOMIZED: hs_elect_randomized_new(NULL, &s); break;
  default:
    s.ops = &lowest_ops;
    s.self = calloc(1, sizeof(lowest));
  }
  return s;
}

static void ew_init(eworld *w, uint32_t n, int strategy, uint64_t seed) {
  memset(w, 0, sizeof *w);
  hs_elect_invariants_init(&w->inv);
  w->n = n;
  w->strategy = strategy;
  w->seed = seed;
  hs_rng_seed(&w->rng, seed, "eworld", 6);
  w->link.lat_min = 1 * MS;
  w->link.lat_max = 15 * MS;
  w->et = 300 * MS;
  w->hb = 50 * MS;
  uint32_t ids[EW_MAX];
  for (uint32_t i = 0; i < n; i++) ids[i] = i + 1;
  for (uint32_t i = 1; i <= n; i++) {
    ewnode *x = &w->nodes[i];
    x->w = w;
    x->id = i;
    hs_elect_config cfg;
    hs_elect_config_init(&cfg);
    cfg.id = i;
    cfg.members = ids;
    cfg.n_members = n;
    cfg.election_timeout_ns = w->et;
    cfg.heartbeat_interval_ns = w->hb;
    cfg.strategy = ew_strategy(strategy);
    char name[16];
    int len = snprintf(name, sizeof name, "elect:%u", i);
    hs_rng_seed(&cfg.rng, seed, name, (size_t)len);
    cfg.cb = (hs_elect_callbacks){.send = ew_send, .persist = ew_persist, .leader_changed = ew_leader, .confirmed = ew_confirmed};
    cfg.ud = x;
    assert_int_equal(HS_OK, hs_elect_new(&cfg, &x->e));
    snprintf(x->name, sizeof x->name, "n%u", i);
    assert_int_equal(HS_OK, hs_elect_invariants_watch(&w->inv, x->e, x->name));
  }
  for (uint32_t i = 1; i <= n; i++) hs_elect_start(w->nodes[i].e, 0);
}

static void ew_free(eworld *w) {
  hq_free(&w->flight);
  for (uint32_t i = 1; i <= w->n; i++) hs_elect_free(w->nodes[i].e);
  hs_elect_invariants_free(&w->inv);
}

static hs_elect *E(eworld *w, uint32_t id) { return w->nodes[id].e; }

static hs_time_ns ew_deadline(void *w, uint32_t id) { return hs_elect_next_deadline(E(w, id)); }

static void ew_crash(eworld *w, uint32_t id) {
  if (w->down[id]) return;
  w->down[id] = true;
  hs_elect_crash(E(w, id));
  w->crashes++;
}

static void ew_restart(eworld *w, uint32_t id) {
  if (!w->down[id]) return;
  w->down[id] = false;
  hs_elect_restart(E(w, id), w->now);
}

static void ew_chaos_action(eworld *w) {
  uint64_t dice = hs_rng_below(&w->rng, 100);
  uint32_t id = 1 + (uint32_t)hs_rng_below(&w->rng, w->n);
  uint32_t down = 0;
  for (uint32_t i = 1; i <= w->n; i++) down += w->down[i];
  if (dice < 20) { /* a random two-sided partition */
    static const uint32_t ids[EW_MAX] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    fw_partition(w->cut, ids, w->n, &w->rng);
    w->partitions++;
  } else if (dice < 35) {
    memset(w->cut, 0, sizeof w->cut);
  } else if (dice < 55) {
    /* crash the leader half of the time */
    if (hs_rng_below(&w->rng, 2))
      for (uint32_t i = 1; i <= w->n; i++)
        if (!w->down[i] && hs_elect_is_leader(E(w, i))) id = i;
    if (down < 2) ew_crash(w, id);
  } else if (dice < 80) {
    ew_restart(w, id);
  } else if (dice < 90) {
    fw_random_rates(&w->link, &w->rng);
  } else { /* the membership view says a random node is dead, or alive again */
    uint32_t who = 1 + (uint32_t)hs_rng_below(&w->rng, w->n);
    if (!w->down[id]) hs_elect_set_alive(E(w, id), who, !w->down[who], w->now);
  }
}

/* Runs events until `end` or the first violation. */
static void ew_run_until(eworld *w, hs_time_ns end) {
  while (!w->violated) {
    uint32_t who;
    hs_time_ns t_dl = h_earliest(w, w->n, ew_deadline, &who);
    hs_time_ns t_act = w->chaos ? w->next_action : HS_TIME_NEVER;
    fw_event ev = fw_next(&w->now, end, fw_first_arrival(&w->flight), t_dl, t_act);
    if (ev == FW_END) break;
    if (ev == FW_MSG) {
      hmsg m = hq_heap_pop(&w->flight);
      if (!w->down[m.to] && !w->cut[m.from][m.to]) {
        hs_elect_msg d;
        if (hs_elect_msg_decode(&d, m.buf, m.len) != HS_OK) ew_violation(w, "decode failed");
        int rc = hs_elect_step(E(w, m.to), &d, w->now);
        if (rc != HS_OK) ew_violation(w, "node %u refused a %s from %u: %s", m.to, hs_elect_msg_type_name(d.type), m.from,
                                      hs_elect_strerror(rc));
        w->delivered++;
        w->trace = (w->trace ^ (uint64_t)w->now ^ ((uint64_t)m.to << 56) ^ d.type) * 0x100000001b3ull;
      }
      free(m.buf);
    } else if (ev == FW_DEADLINE) {
      hs_elect_tick(E(w, who), w->now);
    } else {
      ew_chaos_action(w);
      w->next_action = fw_next_action(w->now, &w->rng, 80.0);
    }
  }
  if (!w->violated && w->now < end) w->now = end;
}

/* The leader every live node agrees on (leading itself, same epoch), or 0. */
static uint32_t ew_agreed_leader(eworld *w) {
  uint32_t l = 0;
  uint64_t epoch = 0;
  for (uint32_t i = 1; i <= w->n; i++) {
    if (w->down[i]) continue;
    hs_elect *e = E(w, i);
    uint32_t li = hs_elect_leader(e);
    if (!li || (l && (li != l || hs_elect_epoch(e) != epoch))) return 0;
    l = li;
    epoch = hs_elect_epoch(e);
  }
  return l && !w->down[l] && hs_elect_is_leader(E(w, l)) ? l : 0;
}

/* Runs until the live nodes agree on a leader (checked every 10 ms) or `limit` passes:
 * the leader, or 0. */
static uint32_t ew_run_until_agreed(eworld *w, hs_time_ns limit) {
  hs_time_ns end = w->now + limit;
  while (!w->violated && w->now < end) {
    uint32_t l = ew_agreed_leader(w);
    if (l) return l;
    ew_run_until(w, w->now + 10 * MS);
  }
  return ew_agreed_leader(w);
}

/* Epochs in which two or more nodes were accepted as leader by someone (each by less than a
 * quorum but one): the situations the safety property is about. */
static uint64_t ew_contested_epochs(const eworld *w) { return w->inv.contested; }

/* Runs until the live nodes have agreed on the same leader in the same epoch for `hold`
 * (checked every 10 ms), or `limit` passes: the leader, or 0. */
static uint32_t ew_run_until_stable(eworld *w, hs_time_ns limit, hs_time_ns hold) {
  hs_time_ns end = w->now + limit, since = 0;
  uint32_t held = 0;
  uint64_t held_epoch = 0;
  while (!w->violated && w->now < end) {
    uint32_t l = ew_agreed_leader(w);
    uint64_t epoch = l ? hs_elect_epoch(E(w, l)) : 0;
    if (!l || l != held || epoch != held_epoch) {
      held = l;
      held_epoch = epoch;
      since = w->now;
    } else if (w->now - since >= hold) {
      return l;
    }
    ew_run_until(w, w->now + 10 * MS);
  }
  return 0;
}

#endif
