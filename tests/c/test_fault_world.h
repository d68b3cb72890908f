/*
 * test_fault_world.h - the faults and the event loop the randomized test worlds share (Raft,
 * Paxos, replication).
 *
 * A world's network is timed: every message gets a random latency (so messages overtake one
 * another), may be lost or duplicated, and is dropped on arrival when a partition cuts its link
 * or its destination is down. Chaos actions cut the nodes into two random sides, heal them and
 * change the loss and duplication rates. Every draw comes from the world's one hs_rng, so a
 * failing seed replays exactly. A world also keeps a ledger of its requests, to check that each
 * one it made ends exactly once.
 *
 * Everything is static: each test file includes this once (through its world).
 */
#ifndef TEST_FAULT_WORLD_H
#define TEST_FAULT_WORLD_H

#pragma GCC diagnostic ignored "-Wunused-function"

#include "core/hs_rng.h"
#include "test_msgq.h"

/* ---- The network ------------------------------------------------------------------------------ */

typedef struct fw_link {
  double loss, dup;            /* the chance that a message is lost, that it is duplicated */
  hs_time_ns lat_min, lat_max; /* a latency is uniform in [lat_min, lat_max] */
} fw_link;

static hs_time_ns fw_latency(const fw_link *l, hs_rng *rng) {
  return l->lat_min + (hs_time_ns)hs_rng_below(rng, (uint64_t)(l->lat_max - l->lat_min + 1));
}

/* Puts m, sent at `now`, in flight (a heap by arrival): lost with the chance l->loss, else it
 * arrives after a random latency, and with the chance l->dup a copy (sequence number ++*seq)
 * arrives after another. Returns false when m was lost (its bytes are freed). */
static bool fw_send(hq *flight, hmsg m, hs_time_ns now, const fw_link *l, hs_rng *rng, uint64_t *seq) {
  if (hs_rng_double(rng) < l->loss) {
    free(m.buf);
    return false;
  }
  if (hs_rng_double(rng) < l->dup) {
    hmsg d = hmsg_copy(&m, 0);
    d.at = now + fw_latency(l, rng);
    d.seq = ++*seq;
    hq_heap_push(flight, d);
  }
  m.at = now + fw_latency(l, rng);
  hq_heap_push(flight, m);
  return true;
}

/* Cuts the nodes ids[0..n) into two random sides: every link between the sides, both ways. */
static void fw_partition(hcut cut, const uint32_t *ids, uint32_t n, hs_rng *rng) {
  uint32_t side = (uint32_t)hs_rng_below(rng, 1u << n);
  for (uint32_t a = 0; a < n; a++)
    for (uint32_t b = 0; b < n; b++) cut[ids[a]][ids[b]] = ((side >> a) & 1) != ((side >> b) & 1);
}

/* New loss and duplication rates: each none half of the time, else 5% or 20%. */
static void fw_random_rates(fw_link *l, hs_rng *rng) {
  static const double rates[] = {0, 0, 0.05, 0.2};
  l->loss = rates[hs_rng_below(rng, 4)];
  l->dup = rates[hs_rng_below(rng, 4)];
}

/* The network's faults stop: no loss, no duplication, no partition. */
static void fw_heal(fw_link *l, hcut cut) {
  l->loss = l->dup = 0;
  memset(cut, 0, sizeof(hcut));
}

/* ---- The event loop --------------------------------------------------------------------------- */

typedef enum fw_event { FW_END, FW_MSG, FW_DEADLINE, FW_ACTION } fw_event;

/* A world's next event, the first of a message arrival, a node deadline and a chaos action (ties
 * in that order), with *now moved up to it; FW_END when it comes after `end`. */
static fw_event fw_next(hs_time_ns *now, hs_time_ns end, hs_time_ns t_msg, hs_time_ns t_dl, hs_time_ns t_act) {
  hs_time_ns t = t_msg;
  if (t_dl < t) t = t_dl;
  if (t_act < t) t = t_act;
  if (t > end) return FW_END;
  if (t > *now) *now = t;
  return t == t_msg ? FW_MSG : t == t_dl ? FW_DEADLINE : FW_ACTION;
}

/* The arrival time of the first message in flight. */
static hs_time_ns fw_first_arrival(const hq *flight) { return flight->len ? flight->m[0].at : HS_TIME_NEVER; }

/* The next chaos action, a random (exponential) wait after `now`. */
static hs_time_ns fw_next_action(hs_time_ns now, hs_rng *rng, double mean_ms) {
  return now + (hs_time_ns)(hs_rng_exponential(rng, mean_ms) * MS) + 1;
}

/* ---- Requests --------------------------------------------------------------------------------- */

enum { FW_REQ_NONE, FW_REQ_PENDING, FW_REQ_APPLIED, FW_REQ_LOST };

/* Per node, the state of each request tag it was given. */
typedef struct fw_ledger {
  uint8_t *state[HQ_ID_MAX + 1];
  size_t cap[HQ_ID_MAX + 1];
} fw_ledger;

/* The state of node id's request `tag` (FW_REQ_NONE until set); valid until the next call. */
static uint8_t *fw_req(fw_ledger *l, uint32_t id, uint64_t tag) {
  if (tag >= l->cap[id]) {
    size_t c = l->cap[id] ? l->cap[id] * 2 : 256;
    while (c <= tag) c *= 2;
    l->state[id] = realloc(l->state[id], c);
    memset(l->state[id] + l->cap[id], 0, c - l->cap[id]);
    l->cap[id] = c;
  }
  return &l->state[id][tag];
}

/* The first of node id's requests still pending, or 0 (no request has tag 0). */
static uint64_t fw_first_pending(const fw_ledger *l, uint32_t id) {
  for (size_t t = 0; t < l->cap[id]; t++)
    if (l->state[id][t] == FW_REQ_PENDING) return t;
  return 0;
}

static void fw_ledger_free(fw_ledger *l) {
  for (uint32_t i = 0; i <= HQ_ID_MAX; i++) free(l->state[i]);
}

#endif
