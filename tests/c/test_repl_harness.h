/*
 * test_repl_harness.h - a tiny network for testing the replication cores without the engine.
 *
 * Nodes 1..RN_MAX are any core (primary-backup, chain, multi-leader, the master) behind three
 * function pointers. Whatever a node sends is encoded (hs_repl_msg_encode, so the codec is
 * exercised on every message) and queued. In manual mode the queue is in send order and a
 * test takes, delivers, drops or duplicates messages itself. In timed mode every message gets
 * a random latency (so messages overtake one another), may be lost or duplicated, and is
 * dropped on arrival when a cut separates its ends or its destination is down; deliveries and
 * the nodes' deadlines run in time order. Randomness comes from one hs_rng seeded by the test.
 *
 * Debugging a seed: REPL_TRACE_MALFORMED=1 prints every message a core refused;
 * REPL_TRACE_MSGS=<seconds> prints the deliveries from that time on in a world whose `trace`
 * is set (the worlds set it for the seed named by REPL_TRACE).
 *
 * Everything is static: each test file includes this once.
 */
#ifndef TEST_REPL_HARNESS_H
#define TEST_REPL_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#include "core/hs_rng.h"
#include "core/hs_value.h"
#include "repl/hs_repl.h"

#define MS 1000000LL
#define RN_MAX 10

#define assert_u64(actual, expected)                                                                         \
  do {                                                                                                       \
    uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                                             \
    if (a_ != e_)                                                                                            \
      fail_msg("%s = %llu, expected %llu", #actual, (unsigned long long)a_, (unsigned long long)e_);         \
  } while (0)

#define assert_rc(actual, expected)                                                                          \
  do {                                                                                                       \
    int a_ = (actual), e_ = (expected);                                                                      \
    if (a_ != e_)                                                                                            \
      fail_msg("%s: got %d (%s), expected %d (%s)", #actual, a_, hs_repl_strerror(a_), e_,                   \
               hs_repl_strerror(e_));                                                                        \
  } while (0)

typedef struct rmsg {
  uint8_t *buf;
  size_t len;
  uint32_t from, to;
  hs_repl_msg_type type;
  hs_time_ns at;
  uint64_t seq;
} rmsg;

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
  rmsg *q; /* manual: in send order; timed: a binary heap by (at, seq) */
  size_t qlen, qcap;
  uint64_t seq;
  bool timed;
  hs_rng rng;
  double loss, dup;
  hs_time_ns lat_min, lat_max;
  bool cut[RN_MAX + 1][RN_MAX + 1]; /* cut[a][b]: a -> b is dropped on arrival */
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
  net->lat_min = 1 * MS;
  net->lat_max = 10 * MS;
  hs_repl_decoder_init(&net->dec);
}

static void rn_free(rnet *net) {
  for (size_t i = 0; i < net->qlen; i++) free(net->q[i].buf);
  free(net->q);
  hs_repl_decoder_free(&net->dec);
}

static bool rn_before(const rmsg *a, const rmsg *b) { return a->at < b->at || (a->at == b->at && a->seq < b->seq); }

static void rn_push(rnet *net, rmsg m) {
  if (net->qlen == net->qcap) {
    net->qcap = net->qcap ? net->qcap * 2 : 64;
    net->q = realloc(net->q, net->qcap * sizeof *net->q);
  }
  size_t i = net->qlen++;
  if (net->timed)
    while (i > 0 && rn_before(&m, &net->q[(i - 1) / 2])) {
      net->q[i] = net->q[(i - 1) / 2];
      i = (i - 1) / 2;
    }
  net->q[i] = m;
}

static rmsg rn_pop(rnet *net) { /* timed mode: the earliest */
  rmsg top = net->q[0], last = net->q[--net->qlen];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= net->qlen) break;
    if (c + 1 < net->qlen && rn_before(&net->q[c + 1], &net->q[c])) c++;
    if (!rn_before(&net->q[c], &last)) break;
    net->q[i] = net->q[c];
    i = c;
  }
  if (net->qlen) net->q[i] = last;
  return top;
}

static hs_time_ns rn_latency(rnet *net) {
  return net->lat_min + (hs_time_ns)hs_rng_below(&net->rng, (uint64_t)(net->lat_max - net->lat_min + 1));
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
  rmsg r = {0};
  r.len = hs_repl_msg_encoded_size(m);
  r.buf = malloc(r.len);
  if (hs_repl_msg_encode(m, r.buf, r.len) != r.len) rn_violation(net, "encode failed");
  r.from = m->from;
  r.to = m->to;
  r.type = m->type;
  r.at = net->now;
  r.seq = ++net->seq;
  if (net->timed) {
    if (hs_rng_double(&net->rng) < net->loss) {
      free(r.buf);
      net->dropped++;
      return;
    }
    if (hs_rng_double(&net->rng) < net->dup) {
      rmsg d = r;
      d.buf = malloc(r.len);
      memcpy(d.buf, r.buf, r.len);
      d.at = net->now + rn_latency(net);
      d.seq = ++net->seq;
      rn_push(net, d);
    }
    r.at = net->now + rn_latency(net);
  }
  rn_push(net, r);
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
static long rn_find(rnet *net, uint32_t from, uint32_t to, int type) {
  for (size_t i = 0; i < net->qlen; i++) {
    rmsg *r = &net->q[i];
    if ((!from || r->from == from) && (!to || r->to == to) && (type < 0 || (int)r->type == type)) return (long)i;
  }
  return -1;
}

static rmsg rn_remove(rnet *net, size_t i) {
  rmsg r = net->q[i];
  memmove(net->q + i, net->q + i + 1, (net->qlen - i - 1) * sizeof *net->q);
  net->qlen--;
  return r;
}

static size_t rn_count(rnet *net, uint32_t from, uint32_t to, int type) {
  size_t c = 0;
  for (size_t i = 0; i < net->qlen; i++) {
    rmsg *r = &net->q[i];
    if ((!from || r->from == from) && (!to || r->to == to) && (type < 0 || (int)r->type == type)) c++;
  }
  return c;
}

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
  return hs_repl_msg_decode(m, net->q[i].buf, net->q[i].len, &net->dec) == HS_OK;
}

/* Delivers matching messages (and what they cause) until none is left, at most `limit`. */
static size_t rn_flush(rnet *net, uint32_t from, uint32_t to, int type, size_t limit) {
  size_t n = 0;
  while (n < limit && rn_deliver_one(net, from, to, type)) n++;
  return n;
}

static void rn_clear(rnet *net) {
  for (size_t i = 0; i < net->qlen; i++) free(net->q[i].buf);
  net->qlen = 0;
}

/* Moves time to t, ticking every node whose deadline passed (manual mode). */
static void rn_advance(rnet *net, hs_time_ns t) {
  for (;;) {
    hs_time_ns best = HS_TIME_NEVER;
    uint32_t who = 0;
    for (uint32_t i = 1; i <= RN_MAX; i++) {
      rnode *n = &net->nodes[i];
      if (!n->core || n->down || !n->deadline) continue;
      hs_time_ns d = n->deadline(n->core);
      if (d < best) {
        best = d;
        who = i;
      }
    }
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
    hs_time_ns t_msg = net->qlen ? net->q[0].at : HS_TIME_NEVER;
    hs_time_ns t_dl = HS_TIME_NEVER;
    uint32_t who = 0;
    for (uint32_t i = 1; i <= RN_MAX; i++) {
      rnode *n = &net->nodes[i];
      if (!n->core || n->down || !n->deadline) continue;
      hs_time_ns d = n->deadline(n->core);
      if (d < t_dl) {
        t_dl = d;
        who = i;
      }
    }
    hs_time_ns t_act = action_at ? *action_at : HS_TIME_NEVER;
    hs_time_ns t = t_msg;
    if (t_dl < t) t = t_dl;
    if (t_act < t) t = t_act;
    if (t > end) break;
    if (t > net->now) net->now = t;
    if (t == t_msg) {
      rmsg r = rn_pop(net);
      if (net->cut[r.from][r.to]) {
        free(r.buf);
        net->dropped++;
      } else {
        rn_deliver(net, &r);
      }
    } else if (t == t_dl) {
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
