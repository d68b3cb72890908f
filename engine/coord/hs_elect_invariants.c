/*
 * hs_elect_invariants.c - one backing per epoch, durable backing, leader safety.
 *
 * Per watched node: its persisted (epoch, backed) and, per epoch, the leader it accepted.
 * Per epoch: each leader accepted in it and by how many distinct nodes.
 */
#include "coord/hs_elect_invariants.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* epoch -> leader accepted in it, open addressing (epoch + 1 as the key: 0 is empty) */
typedef struct accepted_map {
  uint64_t *keys;
  uint32_t *vals;
  uint32_t cap, count;
} accepted_map;

typedef struct hs_elect_watched {
  const hs_elect *e;
  const char *name;
  uint64_t p_epoch;
  uint32_t p_backed;
  accepted_map accepted;
} hs_elect_watched;

typedef struct leader_count {
  uint32_t leader, count;
} leader_count;

typedef struct hs_elect_epoch_rec {
  uint64_t key; /* epoch + 1; 0: empty slot */
  leader_count *leaders;
  uint32_t n, cap;
} hs_elect_epoch_rec;

void hs_elect_invariants_init(hs_elect_invariants *inv) { memset(inv, 0, sizeof *inv); }

void hs_elect_invariants_free(hs_elect_invariants *inv) {
  for (uint32_t i = 0; i < inv->node_count; i++) {
    free(inv->nodes[i].accepted.keys);
    free(inv->nodes[i].accepted.vals);
  }
  for (uint32_t i = 0; i < inv->epochs_cap; i++) free(inv->epochs[i].leaders);
  free(inv->nodes);
  free(inv->epochs);
  memset(inv, 0, sizeof *inv);
}

int hs_elect_invariants_watch(hs_elect_invariants *inv, const hs_elect *e, const char *name) {
  if (inv->node_count == inv->node_cap) {
    uint32_t cap = inv->node_cap ? inv->node_cap * 2 : 8;
    hs_elect_watched *p = realloc(inv->nodes, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    inv->nodes = p;
    inv->node_cap = cap;
  }
  hs_elect_watched *w = &inv->nodes[inv->node_count++];
  memset(w, 0, sizeof *w);
  w->e = e;
  w->name = name;
  w->p_epoch = hs_elect_epoch(e);
  w->p_backed = hs_elect_backed(e);
  return HS_OK;
}

static void violation(hs_elect_invariants *inv, hs_time_ns now, const char *fmt, ...) {
  if (inv->violated) return;
  inv->violated = true;
  inv->violation_ns = now;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(inv->violation, sizeof inv->violation, fmt, ap);
  va_end(ap);
  if (inv->on_violation) inv->on_violation(inv->ud, inv->violation);
}

static hs_elect_watched *find(hs_elect_invariants *inv, const hs_elect *e) {
  for (uint32_t i = 0; i < inv->node_count; i++)
    if (inv->nodes[i].e == e) return &inv->nodes[i];
  return NULL;
}

static uint32_t slot_of(uint64_t key, uint32_t cap) {
  key *= 0x9E3779B97F4A7C15ull;
  return (uint32_t)(key >> 32) & (cap - 1);
}

/* The leader w accepted in epoch (0: none); with set, records it. HS_OK or HS_ENOMEM. */
static int accepted_get_set(accepted_map *m, uint64_t epoch, uint32_t *leader, bool set) {
  uint64_t key = epoch + 1;
  if (set && (m->count + 1) * 2 > m->cap) {
    uint32_t cap = m->cap ? m->cap * 2 : 16;
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
      free(keys);
      free(vals);
      return HS_ENOMEM;
    }
    for (uint32_t i = 0; i < m->cap; i++) {
      if (!m->keys[i]) continue;
      uint32_t j = slot_of(m->keys[i], cap);
      while (keys[j]) j = (j + 1) & (cap - 1);
      keys[j] = m->keys[i];
      vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
  }
  if (!m->cap) {
    *leader = HS_ELECT_NONE;
    return HS_OK;
  }
  uint32_t i = slot_of(key, m->cap);
  while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
  if (!set) {
    *leader = m->keys[i] ? m->vals[i] : HS_ELECT_NONE;
    return HS_OK;
  }
  if (!m->keys[i]) m->count++;
  m->keys[i] = key;
  m->vals[i] = *leader;
  return HS_OK;
}

static hs_elect_epoch_rec *epoch_rec(hs_elect_invariants *inv, uint64_t epoch) {
  uint64_t key = epoch + 1;
  if ((inv->epochs_count + 1) * 2 > inv->epochs_cap) {
    uint32_t cap = inv->epochs_cap ? inv->epochs_cap * 2 : 64;
    hs_elect_epoch_rec *p = calloc(cap, sizeof *p);
    if (!p) return NULL;
    for (uint32_t i = 0; i < inv->epochs_cap; i++) {
      if (!inv->epochs[i].key) continue;
      uint32_t j = slot_of(inv->epochs[i].key, cap);
      while (p[j].key) j = (j + 1) & (cap - 1);
      p[j] = inv->epochs[i];
    }
    free(inv->epochs);
    inv->epochs = p;
    inv->epochs_cap = cap;
  }
  uint32_t i = slot_of(key, inv->epochs_cap);
  while (inv->epochs[i].key && inv->epochs[i].key != key) i = (i + 1) & (inv->epochs_cap - 1);
  if (!inv->epochs[i].key) {
    inv->epochs[i].key = key;
    inv->epochs_count++;
  }
  return &inv->epochs[i];
}

/* A node accepted `leader` in `epoch`: once per epoch per node (one backing per epoch); the
 * leader's count of acceptors grows; two leaders of an epoch with a quorum each break leader
 * safety. */
void hs_elect_invariants_on_leader(hs_elect_invariants *inv, const hs_elect *e, const hs_elect_leader_event *ev) {
  if (ev->leader == HS_ELECT_NONE) return;
  hs_elect_watched *w = find(inv, e);
  if (!w) return;
  inv->checks++;
  uint32_t before;
  accepted_get_set(&w->accepted, ev->epoch, &before, false);
  if (before == ev->leader) return; /* accepted again (after a restart): counted once */
  if (before != HS_ELECT_NONE) {
    violation(inv, ev->now, "one backing per epoch: %s accepted %u and then %u as leader of epoch %llu", w->name,
              before, ev->leader, (unsigned long long)ev->epoch);
    return;
  }
  uint32_t leader = ev->leader;
  hs_elect_epoch_rec *r = epoch_rec(inv, ev->epoch);
  if (!r || accepted_get_set(&w->accepted, ev->epoch, &leader, true)) return;
  uint32_t k = 0;
  while (k < r->n && r->leaders[k].leader != ev->leader) k++;
  if (k == r->n) {
    if (r->n == r->cap) {
      uint32_t cap = r->cap ? r->cap * 2 : 2;
      leader_count *p = realloc(r->leaders, cap * sizeof *p);
      if (!p) return;
      r->leaders = p;
      r->cap = cap;
    }
    r->leaders[r->n++] = (leader_count){ev->leader, 0};
    if (r->n == 2) inv->contested++;
  }
  r->leaders[k].count++;
  uint32_t quorum = hs_elect_quorum(e);
  if (r->leaders[k].count != quorum) return;
  for (uint32_t j = 0; j < r->n; j++)
    if (j != k && r->leaders[j].count >= quorum)
      violation(inv, ev->now, "leader safety: %u and %u were each accepted by a quorum as leader of epoch %llu",
                r->leaders[j].leader, ev->leader, (unsigned long long)ev->epoch);
}

void hs_elect_invariants_on_persist(hs_elect_invariants *inv, const hs_elect *e, uint64_t epoch, uint32_t backed,
                                    hs_time_ns now) {
  hs_elect_watched *w = find(inv, e);
  if (!w) return;
  inv->checks++;
  if (epoch < w->p_epoch || (epoch == w->p_epoch && w->p_backed != HS_ELECT_NONE && backed != w->p_backed))
    violation(inv, now, "durable backing: %s persisted (epoch %llu, backing %u) after (%llu, %u)", w->name,
              (unsigned long long)epoch, backed, (unsigned long long)w->p_epoch, w->p_backed);
  w->p_epoch = epoch;
  w->p_backed = backed;
}
