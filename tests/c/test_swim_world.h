/*
 * test_swim_world.h - a seeded world for SWIM members: n members exchange encoded messages
 * (hs_swim_msg_encode, so the codec runs on every message) through a timed network with
 * random latency, loss, cut pairs (partitions of single paths or of whole members) and crashed
 * destinations. One heap orders deliveries and the members' deadlines (pushed by set_timer,
 * stale ones skipped), so a world of thousands of members costs O(log events) per event.
 *
 * It records, per member, what the others concluded about it (suspicions, deaths), checks
 * that a member never gossips an incarnation of itself it has not persisted, and lets tests
 * watch every message as it is sent.
 */
#ifndef TEST_SWIM_WORLD_H
#define TEST_SWIM_WORLD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "membership/hs_swim.h"

#define MS 1000000LL
#define S 1000000000LL
#define SW_MSG_MAX (28 + 13 * 16)

typedef struct sw_event {
  hs_time_ns at;
  uint64_t seq;
  uint32_t to;   /* the member */
  uint32_t from; /* 0: a timer of `to` */
  uint16_t len;
  uint8_t buf[SW_MSG_MAX];
} sw_event;

typedef struct sworld sworld;

typedef struct swnode {
  sworld *w;
  hs_swim *s;
  uint32_t id;
  hs_time_ns armed;
  uint32_t persisted;
  bool down;
  /* what others concluded about this member */
  uint64_t suspected_by, declared_dead_by, dead_while_up;
} swnode;

struct sworld {
  swnode *nodes; /* 1 .. n */
  uint32_t n;
  hs_time_ns now;
  uint64_t seq;
  sw_event *heap;
  size_t hlen, hcap;
  hs_rng rng;
  uint64_t seed;
  double loss;
  hs_time_ns lat_min, lat_max;
  uint64_t *cuts; /* directed pairs (from << 32 | to), few */
  size_t n_cuts;
  bool violated;
  char why[256];
  void (*on_send)(sworld *w, const hs_swim_msg *m);
  void (*on_change)(sworld *w, uint32_t observer, const hs_swim_member_event *ev);
  void *ud;
  uint64_t sent, delivered, trace;
};

static void sw_violation(sworld *w, const char *fmt, ...) {
  if (w->violated) return;
  w->violated = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->why, sizeof w->why, fmt, ap);
  va_end(ap);
}

static bool sw_before(const sw_event *a, const sw_event *b) { return a->at < b->at || (a->at == b->at && a->seq < b->seq); }

/* The heap holds indexes into nothing: events are copied in (they are small enough). */
static void sw_push(sworld *w, const sw_event *ev) {
  if (w->hlen == w->hcap) {
    w->hcap = w->hcap ? w->hcap * 2 : 1024;
    w->heap = realloc(w->heap, w->hcap * sizeof *w->heap);
  }
  size_t i = w->hlen++;
  while (i > 0 && sw_before(ev, &w->heap[(i - 1) / 2])) {
    w->heap[i] = w->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  w->heap[i] = *ev;
}

static void sw_pop(sworld *w, sw_event *out) {
  *out = w->heap[0];
  sw_event *last = &w->heap[--w->hlen];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= w->hlen) break;
    if (c + 1 < w->hlen && sw_before(&w->heap[c + 1], &w->heap[c])) c++;
    if (!sw_before(&w->heap[c], last)) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if (w->hlen) w->heap[i] = *last;
}

static bool sw_is_cut(const sworld *w, uint32_t from, uint32_t to) {
  uint64_t k = (uint64_t)from << 32 | to;
  for (size_t i = 0; i < w->n_cuts; i++)
    if (w->cuts[i] == k) return true;
  return false;
}

static void sw_cut(sworld *w, uint32_t a, uint32_t b) { /* both directions */
  w->cuts = realloc(w->cuts, (w->n_cuts + 2) * sizeof *w->cuts);
  w->cuts[w->n_cuts++] = (uint64_t)a << 32 | b;
  w->cuts[w->n_cuts++] = (uint64_t)b << 32 | a;
}

static void sw_heal(sworld *w) { w->n_cuts = 0; }

/* ---- Callbacks ---------------------------------------------------------------------------- */

static void sw_send(void *ud, const hs_swim_msg *m) {
  swnode *n = ud;
  sworld *w = n->w;
  w->sent++;
  for (uint32_t i = 0; i < m->n_updates; i++) {
    const hs_swim_update *u = &m->updates[i];
    if (u->member == n->id && u->incarnation > n->persisted)
      sw_violation(w, "member %u gossips incarnation %u of itself, persisted %u", n->id, u->incarnation, n->persisted);
  }
  if (w->on_send) w->on_send(w, m);
  if (w->loss > 0 && hs_rng_double(&w->rng) < w->loss) return;
  sw_event ev = {.to = m->to, .from = m->from, .seq = ++w->seq};
  size_t len = hs_swim_msg_encode(m, ev.buf, sizeof ev.buf);
  if (!len) sw_violation(w, "encode failed");
  ev.len = (uint16_t)len;
  ev.at = w->now + w->lat_min + (hs_time_ns)hs_rng_below(&w->rng, (uint64_t)(w->lat_max - w->lat_min + 1));
  sw_push(w, &ev);
}

static void sw_set_timer(void *ud, hs_time_ns at) {
  swnode *n = ud;
  if (at != HS_TIME_NEVER && at < n->w->now) at = n->w->now; /* a deadline already passed: now */
  n->armed = at;
  if (at == HS_TIME_NEVER) return;
  sw_event ev = {.to = n->id, .from = 0, .seq = ++n->w->seq, .at = at};
  sw_push(n->w, &ev);
}

static void sw_persist(void *ud, uint32_t inc) { ((swnode *)ud)->persisted = inc; }

static void sw_changed(void *ud, const hs_swim_member_event *ev) {
  swnode *n = ud;
  sworld *w = n->w;
  if (ev->member >= 1 && ev->member <= w->n) {
    swnode *about = &w->nodes[ev->member];
    if (ev->state == HS_SWIM_SUSPECT) about->suspected_by++;
    if (ev->state == HS_SWIM_DEAD) {
      about->declared_dead_by++;
      if (!about->down) about->dead_while_up++;
    }
  }
  if (w->on_change) w->on_change(w, n->id, ev);
}

/* ---- Building and running ----------------------------------------------------------------- */

static void sw_config(hs_swim_config *cfg) { hs_swim_config_init(cfg); }

/* n members with cfg's parameters (id, rng, callbacks are set here), started at time 0. */
static void sw_init(sworld *w, uint32_t n, const hs_swim_config *base, uint64_t seed) {
  memset(w, 0, sizeof *w);
  w->n = n;
  w->seed = seed;
  hs_rng_seed(&w->rng, seed, "sworld", 6);
  w->lat_min = 1 * MS;
  w->lat_max = 10 * MS;
  w->nodes = calloc(n + 1, sizeof *w->nodes);
  for (uint32_t i = 1; i <= n; i++) {
    swnode *x = &w->nodes[i];
    x->w = w;
    x->id = i;
    x->armed = HS_TIME_NEVER;
    hs_swim_config cfg = *base;
    cfg.id = i;
    cfg.n_members = n;
    char name[24];
    int len = snprintf(name, sizeof name, "swim:%u", i);
    hs_rng_seed(&cfg.rng, seed, name, (size_t)len);
    cfg.cb = (hs_swim_callbacks){.send = sw_send, .set_timer = sw_set_timer, .persist_incarnation = sw_persist,
                                 .member_changed = sw_changed};
    cfg.ud = x;
    assert_int_equal(HS_OK, hs_swim_new(&cfg, &x->s));
  }
  for (uint32_t i = 1; i <= n; i++) assert_int_equal(HS_OK, hs_swim_start(w->nodes[i].s, 0));
}

static void sw_free(sworld *w) {
  for (uint32_t i = 1; i <= w->n; i++) hs_swim_free(w->nodes[i].s);
  free(w->nodes);
  free(w->heap);
  free(w->cuts);
}

static hs_swim *SW(sworld *w, uint32_t id) { return w->nodes[id].s; }

static void sw_crash(sworld *w, uint32_t id) {
  w->nodes[id].down = true;
  hs_swim_crash(SW(w, id));
}

static void sw_restart(sworld *w, uint32_t id) {
  w->nodes[id].down = false;
  assert_int_equal(HS_OK, hs_swim_restart(SW(w, id), w->now));
}

/* Runs events until `end`, or until stop(w) (checked after each event) says so. */
static void sw_run(sworld *w, hs_time_ns end, bool (*stop)(sworld *w)) {
  hs_swim_update ups[HS_SWIM_MAX_UPDATES];
  sw_event ev;
  while (!w->violated && w->hlen && w->heap[0].at <= end) {
    sw_pop(w, &ev);
    if (ev.at > w->now) w->now = ev.at;
    swnode *n = &w->nodes[ev.to];
    if (ev.from == 0) { /* a deadline: only the latest one armed counts */
      if (!n->down && n->armed == ev.at) hs_swim_tick(n->s, w->now);
    } else if (!n->down && !sw_is_cut(w, ev.from, ev.to)) {
      hs_swim_msg m;
      if (hs_swim_msg_decode(&m, ev.buf, ev.len, ups, HS_SWIM_MAX_UPDATES) != HS_OK) sw_violation(w, "decode failed");
      int rc = hs_swim_step(n->s, &m, w->now);
      if (rc != HS_OK) sw_violation(w, "member %u refused a %s from %u: %s", ev.to, hs_swim_msg_type_name(m.type),
                                    ev.from, hs_swim_strerror(rc));
      w->delivered++;
      w->trace = (w->trace ^ (uint64_t)w->now ^ ((uint64_t)ev.to << 40) ^ m.type) * 0x100000001b3ull;
    }
    if (stop && stop(w)) return;
  }
  if (!w->violated && w->now < end) w->now = end;
}

/* How many live members see `id` in state st. */
static uint32_t sw_count_seeing(sworld *w, uint32_t id, hs_swim_state st) {
  uint32_t c = 0;
  for (uint32_t i = 1; i <= w->n; i++)
    if (i != id && !w->nodes[i].down && hs_swim_member_state(SW(w, i), id) == st) c++;
  return c;
}

static uint32_t sw_live(sworld *w) {
  uint32_t c = 0;
  for (uint32_t i = 1; i <= w->n; i++) c += !w->nodes[i].down;
  return c;
}

#endif
