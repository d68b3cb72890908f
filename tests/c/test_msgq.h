/*
 * test_msgq.h - the message queue the protocol test harnesses share (Raft, Paxos, replication).
 *
 * A harness encodes whatever a node sends into an hmsg and queues it. In send order (hq_push)
 * a test finds, takes, drops, duplicates or reorders messages itself; a timed network keeps a
 * binary heap by (arrival time, send sequence) instead (hq_heap_push, hq_heap_pop). Node ids
 * are 1..HQ_ID_MAX; an hcut says which links drop what they carry.
 *
 * Everything is static: each test file includes this once (through its harness).
 */
#ifndef TEST_MSGQ_H
#define TEST_MSGQ_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#include "core/hs_types.h"

#define MS 1000000LL
#define HQ_ID_MAX 10

#define assert_u64(actual, expected)                                                                         \
  do {                                                                                                       \
    uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                                             \
    if (a_ != e_)                                                                                            \
      fail_msg("%s = %llu, expected %llu", #actual, (unsigned long long)a_, (unsigned long long)e_);         \
  } while (0)

/* A return code, both sides named by the protocol's strerror. */
#define assert_rc_named(actual, expected, strerror)                                                          \
  do {                                                                                                       \
    int a_ = (actual), e_ = (expected);                                                                      \
    if (a_ != e_) fail_msg("%s: got %d (%s), expected %d (%s)", #actual, a_, strerror(a_), e_, strerror(e_)); \
  } while (0)

/* cut[a][b]: messages from a to b are dropped on arrival. */
typedef bool hcut[HQ_ID_MAX + 1][HQ_ID_MAX + 1];

/* An encoded message; `type` is the protocol's message type. */
typedef struct hmsg {
  uint8_t *buf;
  size_t len;
  uint32_t from, to;
  int type;
  hs_time_ns at; /* sent at, or (timed) arrives at */
  uint64_t seq;  /* the sender's harness counts every message, copies too */
} hmsg;

typedef struct hq {
  hmsg *m;
  size_t len, cap;
} hq;

/* Appends m (send order). */
static void hq_push(hq *q, hmsg m) {
  if (q->len == q->cap) {
    q->cap = q->cap ? q->cap * 2 : 64;
    q->m = realloc(q->m, q->cap * sizeof *q->m);
  }
  q->m[q->len++] = m;
}

/* Takes message i out, keeping the order of the others. */
static hmsg hq_remove(hq *q, size_t i) {
  hmsg m = q->m[i];
  memmove(q->m + i, q->m + i + 1, (q->len - i - 1) * sizeof *q->m);
  q->len--;
  return m;
}

/* Matches a queued message: 0 / -1 are wildcards for from/to and type. */
static bool hq_match(const hmsg *m, uint32_t from, uint32_t to, int type) {
  return (!from || m->from == from) && (!to || m->to == to) && (type < 0 || m->type == type);
}

/* The index of the first matching message, or -1. */
static long hq_find(const hq *q, uint32_t from, uint32_t to, int type) {
  for (size_t i = 0; i < q->len; i++)
    if (hq_match(&q->m[i], from, to, type)) return (long)i;
  return -1;
}

static size_t hq_count(const hq *q, uint32_t from, uint32_t to, int type) {
  size_t c = 0;
  for (size_t i = 0; i < q->len; i++) c += hq_match(&q->m[i], from, to, type);
  return c;
}

/* Drops every matching message (keeping the order of the others); returns how many. */
static size_t hq_drop(hq *q, uint32_t from, uint32_t to, int type) {
  size_t j = 0, dropped = 0;
  for (size_t i = 0; i < q->len; i++) {
    if (hq_match(&q->m[i], from, to, type)) {
      free(q->m[i].buf);
      dropped++;
    } else {
      q->m[j++] = q->m[i];
    }
  }
  q->len = j;
  return dropped;
}

/* Drops every message to or from id. */
static size_t hq_drop_node(hq *q, uint32_t id) { return hq_drop(q, id, 0, -1) + hq_drop(q, 0, id, -1); }

/* A copy of m with its own bytes and sequence number `seq`. */
static hmsg hmsg_copy(const hmsg *m, uint64_t seq) {
  hmsg c = *m;
  c.buf = malloc(m->len);
  memcpy(c.buf, m->buf, m->len);
  c.seq = seq;
  return c;
}

static void hq_reverse(hq *q) {
  for (size_t i = 0, j = q->len; i + 1 < j; i++, j--) {
    hmsg t = q->m[i];
    q->m[i] = q->m[j - 1];
    q->m[j - 1] = t;
  }
}

static void hq_clear(hq *q) {
  for (size_t i = 0; i < q->len; i++) free(q->m[i].buf);
  q->len = 0;
}

static void hq_free(hq *q) {
  hq_clear(q);
  free(q->m);
  q->m = NULL;
  q->cap = 0;
}

/* ---- Timed: a binary heap by (arrival, seq) ------------------------------------------------------ */

static bool hmsg_before(const hmsg *a, const hmsg *b) { return a->at < b->at || (a->at == b->at && a->seq < b->seq); }

static void hq_heap_push(hq *q, hmsg m) {
  if (q->len == q->cap) {
    q->cap = q->cap ? q->cap * 2 : 64;
    q->m = realloc(q->m, q->cap * sizeof *q->m);
  }
  size_t i = q->len++;
  while (i > 0 && hmsg_before(&m, &q->m[(i - 1) / 2])) {
    q->m[i] = q->m[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  q->m[i] = m;
}

/* The earliest message (the heap must not be empty). */
static hmsg hq_heap_pop(hq *q) {
  hmsg top = q->m[0], last = q->m[--q->len];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= q->len) break;
    if (c + 1 < q->len && hmsg_before(&q->m[c + 1], &q->m[c])) c++;
    if (!hmsg_before(&q->m[c], &last)) break;
    q->m[i] = q->m[c];
    i = c;
  }
  if (q->len) q->m[i] = last;
  return top;
}

/* ---- Shared by the harnesses' nodes -------------------------------------------------------------- */

/* The earliest deadline of nodes 1..max_id (ties: the lower id); *who is its node, 0 when every
 * deadline is HS_TIME_NEVER. */
static hs_time_ns h_earliest(void *net, uint32_t max_id, hs_time_ns (*deadline)(void *net, uint32_t id),
                             uint32_t *who) {
  hs_time_ns best = HS_TIME_NEVER;
  *who = 0;
  for (uint32_t i = 1; i <= max_id; i++) {
    hs_time_ns d = deadline(net, i);
    if (d < best) {
      best = d;
      *who = i;
    }
  }
  return best;
}

/* The hash chain of the harnesses' state machines. */
static uint64_t h_mix(uint64_t h, const void *data, size_t len) {
  const uint8_t *p = data;
  h ^= 0x9e3779b97f4a7c15ULL + len;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h * 0xff51afd7ed558ccdULL;
}

#endif
