/*
 * test_repl_harness.h - a tiny network for testing the replication cores without the engine.
 *
 * Nodes 1..RN_MAX are any core (primary-backup, chain, multi-leader, the master) behind three
 * function pointers. Whatever a node sends is encoded (hs_repl_msg_encode, so the codec is
 * exercised on every message) and queued. In manual mode the queue is in send order and a
 * test takes, delivers, drops or duplicates messages itself. In timed mode every message gets
 * a random latency (so messages overtake one another), may be lost or duplicated, and is
 * dropped on arrival when a cut separates its ends or its destination is down; deliveries and
 * the nodes' deadlines run in time order (the queue: test_msgq.h; the faults and the event
 * loop: test_fault_world.h). Randomness comes from one hs_rng seeded by the test.
 *
 * Debugging a seed: REPL_TRACE_MALFORMED=1 prints every message a core refused;
 * REPL_TRACE_MSGS=<seconds> prints the deliveries from that time on in a world whose `trace`
 * is set (the worlds set it for the seed named by REPL_TRACE).
 *
 * Everything is static: each test file includes this once.
 */
#ifndef TEST_REPL_HARNESS_H
#define TEST_REPL_HARNESS_H

#include <stdio.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#include "core/hs_rng.h"
#include "core/hs_value.h"
#include "repl/hs_repl.h"
#include "test_fault_world.h"

#define RN_MAX HQ_ID_MAX

#define assert_rc(actual, expected) assert_rc_named(actual, expected, hs_repl_strerror)

typedef hmsg rmsg; /* type: an hs_repl_msg_type */

typedef struct rnet rnet;

typedef struct rnode {
  rnet *net;
  uint32_t id;
  void *core;
  int (*step)(void *core, const hs_repl_msg *m, hs_time_ns now);
  int (*tick)(void *core, hs_time_ns now);
  hs_time_ns (*deadline)(const void *core);
  bool down;
  uint64_t step_errors;
} rnode;

struct rnet {
  rnode nodes[RN_MAX + 1];
  hs_time_ns now;
  hq q; /* manual: in send order; timed: a binary heap by (at, seq) */
  uint64_t seq;
  bool timed;
  hs_rng rng;
  fw_link link; /* timed */
  hcut cut;     /* checked on arrival */
  hs_repl_decoder dec;
  uint64_t sent, delivered, dropped;
  uint64_t sent_by_type[HS_REPL_MSG_TYPE_COUNT];
  bool violation;
  bool trace; /* print deliveries (REPL_TRACE_MSGS = from this time, in seconds) */
  char why[512];
  void (*on_send)(rnet *net, const hs_repl_msg *m); /* optional: a test's observer */
};

static void rn_violation(rnet *net, const char *fmt, ...) {
  if (net->violation) return;
  net->violation = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(net->why, sizeof net->why, fmt, ap);
  va_end(ap);
}

static void rn_init(rnet *net, bool timed, uint64_t seed) {
  memset(net, 0, sizeof *net);
  net->timed = timed;
  hs_rng_seed(&net->rng, seed, "repl-world", 10);
  net->link.lat_min = 1 * MS;
  net->link.lat_max = 10 * MS;
  hs_repl_decoder_init(&net->dec);
}

static void rn_free(rnet *net) {
  hq_free(&net->q);
  hs_repl_decoder_free(&net->dec);
}

/* The send callback of every core: ud is the sender's rnode. */
static void rn_send(void *ud, const hs_repl_msg *m) {
  rnode *n = ud;
  rnet *net = n->net;
  if (m->from != n->id || m->to == 0 || m->to > RN_MAX || m->to == n->id)
    rn_violation(net, "node %u sent a %s from %u to %u", n->id, hs_repl_msg_type_name(m->type), m->from, m->to);
  if (net->on_send) net->on_send(net, m);
  net->sent++;
  net->sent_by_type[m->type]++;
  rmsg r = {.len = hs_repl_msg_encoded_size(m), .from = m->from, .to = m->to, .type = m->type, .at = net->now};
  r.buf = malloc(r.len);
  if (hs_repl_msg_encode(m, r.buf, r.len) != r.len) rn_violation(net, "encode failed");
  r.seq = ++net->seq;
  if (!net->timed) hq_push(&net->q, r);
  else if (!fw_send(&net->q, r, net->now, &net->link, &net->rng, &net->seq)) net->dropped++;
}

static rnode *rn_node(rnet *net, uint32_t id) { return &net->nodes[id]; }

static void rn_add(rnet *net, uint32_t id, void *core, int (*step)(void *, const hs_repl_msg *, hs_time_ns),
                   int (*tick)(void *, hs_time_ns), hs_time_ns (*deadline)(const void *)) {
  rnode *n = &net->nodes[id];
  n->net = net;
  n->id = id;
  n->core = core;
  n->step = step;
  n->tick = tick;
  n->deadline = deadline;
}

/* Decodes and steps one message into its destination (unless it is down). */
static void rn_deliver(rnet *net, rmsg *r) {
  rnode *n = &net->nodes[r->to];
  if (n->core && !n->down) {
    hs_repl_msg m;
    if (hs_repl_msg_decode(&m, r->buf, r->len, &net->dec) != HS_OK) rn_violation(net, "decode failed");
    else {
      const char *trace_from = getenv("REPL_TRACE_MSGS");
      if (net->trace && trace_from && net->now >= (hs_time_ns)(atof(trace_from) * 1e9) && m.type != HS_REPL_MSG_PING &&
          m.type != HS_REPL_MSG_CONFIG)
        fprintf(stderr, "%8.3f   %s %u -> %u epoch %llu seq %llu commit %llu flags %u\n", (double)net->now / 1e9,
                hs_repl_msg_type_name(m.type), m.from, m.to, (unsigned long long)m.epoch, (unsigned long long)m.seq,
                (unsigned long long)m.commit, m.flags);
      int rc = n->step(n->core, &m, net->now);
      if (rc != HS_OK) n->step_errors++;
      if (rc == HS_EINVAL && getenv("REPL_TRACE_MALFORMED"))
        fprintf(stderr, "%.3f: %s %u -> %u epoch %llu seq %llu refused\n", (double)net->now / 1e9,
                hs_repl_msg_type_name(m.type), m.from, m.to, (unsigned long long)m.epoch, (unsigned long long)m.seq);
    }
    net->delivered++;
  } else {
    net->dropped++;
  }
  free(r->buf);
  r->buf = NULL;
}

/* ---- manual mode ---------------------------------------------------------------------------------- */

/* The index of the first queued message matching (from, to, type); 0 / -1 match anything. */
static long rn_find(rnet *net, uint32_t from, uint32_t to, int type) { return hq_find(&net->q, from, to, type); }

static rmsg rn_remove(rnet *net, size_t i) { return hq_remove(&net->q, i); }

static size_t rn_count(rnet *net, uint32_t from, uint32_t to, int type) { return hq_count(&net->q, from, to, type); }

/* Delivers the first matching message; false when there is none. */
static bool rn_deliver_one(rnet *net, uint32_t from, uint32_t to, int type) {
  long i = rn_find(net, from, to, type);
  if (i < 0) return false;
  rmsg r = rn_remove(net, (size_t)i);
  rn_deliver(net, &r);
  return true;
}

/* Drops the first matching message; false when there is none. */
static bool rn_drop_one(rnet *net, uint32_t from, uint32_t to, int type) {
  long i = rn_find(net, from, to, type);
  if (i < 0) return false;
  rmsg r = rn_remove(net, (size_t)i);
  free(r.buf);
  return true;
}

/* Decodes a copy of the first matching message into m (valid until the next decode), without
 * delivering it. */
static bool rn_peek(rnet *net, uint32_t from, uint32_t to, int type, hs_repl_msg *m) {
  long i = rn_find(net, from, to, type);
  if (i < 0) return false;
  return hs_repl_msg_decode(m, net->q.m[i].buf, net->q.m[i].len, &net->dec) == HS_OK;
}

/* Delivers matching messages (and what they cause) until none is left, at most `limit`. */
static size_t rn_flush(rnet *net, uint32_t from, uint32_t to, int type, size_t limit) {
  size_t n = 0;
  while (n < limit && rn_deliver_one(net, from, to, type)) n++;
  return n;
}

static void rn_clear(rnet *net) { hq_clear(&net->q); }

/* The deadline of node id, HS_TIME_NEVER when it is down or has none. */
static hs_time_ns rn_deadline(void *net, uint32_t id) {
  rnode *n = &((rnet *)net)->nodes[id];
  return n->core && !n->down && n->deadline ? n->deadline(n->core) : HS_TIME_NEVER;
}

/* Moves time to t, ticking every node whose deadline passed (manual mode). */
static void rn_advance(rnet *net, hs_time_ns t) {
  for (;;) {
    uint32_t who;
    hs_time_ns best = h_earliest(net, RN_MAX, rn_deadline, &who);
    if (best > t) break;
    if (best > net->now) net->now = best;
    net->nodes[who].tick(net->nodes[who].core, net->now);
  }
  if (t > net->now) net->now = t;
}

/* ---- timed mode ----------------------------------------------------------------------------------- */

/* Runs deliveries, deadlines and (when `action_at` is set) the test's actions in time order
 * until `end` or a violation. `check` runs after each event. */
static void rn_run_until(rnet *net, hs_time_ns end, hs_time_ns *action_at, void (*action)(rnet *, void *),
                         void (*check)(rnet *, void *), void *ud) {
  while (!net->violation) {
    uint32_t who;
    hs_time_ns t_dl = h_earliest(net, RN_MAX, rn_deadline, &who);
    fw_event ev = fw_next(&net->now, end, fw_first_arrival(&net->q), t_dl, action_at ? *action_at : HS_TIME_NEVER);
    if (ev == FW_END) break;
    if (ev == FW_MSG) {
      rmsg r = hq_heap_pop(&net->q);
      if (net->cut[r.from][r.to]) {
        free(r.buf);
        net->dropped++;
      } else {
        rn_deliver(net, &r);
      }
    } else if (ev == FW_DEADLINE) {
      net->nodes[who].tick(net->nodes[who].core, net->now);
    } else {
      action(net, ud);
    }
    if (check) check(net, ud);
  }
  if (!net->violation && net->now < end) net->now = end;
}

/* An encoded integer, as a value. */
typedef struct rval {
  uint8_t b[9];
} rval;
static rval rv_int(int64_t v) {
  rval r;
  r.b[0] = HS_V_INT;
  for (int i = 0; i < 8; i++) r.b[1 + i] = (uint8_t)((uint64_t)v >> (8 * i));
  return r;
}
static int64_t rv_get(const uint8_t *p, size_t len) {
  int64_t v = -1;
  if (!p || !hs_value_int((hs_value){p, len}, &v)) return -1;
  return v;
}

#endif
