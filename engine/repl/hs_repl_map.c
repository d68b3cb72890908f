/* hs_repl_map.c - the key map of the replication cores, and the membership view. */
#include "repl/hs_repl_internal.h"

#include <stdlib.h>

int hs_repl_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem) {
  if (n <= *cap) return HS_OK;
  uint32_t c = *cap ? *cap : 16;
  while (c < n) {
    if (c > UINT32_MAX / 2) return HS_ENOMEM;
    c *= 2;
  }
  uint8_t *p = realloc(*arr, (size_t)c * elem);
  if (!p) return HS_ENOMEM;
  memset(p + (size_t)*cap * elem, 0, (size_t)(c - *cap) * elem);
  *arr = p;
  *cap = c;
  return HS_OK;
}

void hs_repl_map_init(hs_repl_map *m) { memset(m, 0, sizeof *m); }

void hs_repl_map_clear(hs_repl_map *m) {
  for (uint32_t i = 0; i < m->n; i++) free(m->keys[i].p);
  m->n = 0;
  if (m->slots) memset(m->slots, 0, (size_t)m->slot_cap * sizeof *m->slots);
}

void hs_repl_map_free(hs_repl_map *m) {
  hs_repl_map_clear(m);
  free(m->keys);
  free(m->slots);
  hs_repl_map_init(m);
}

static uint64_t map_hash(const void *key, size_t len) { return hs_repl_hash(key, len, 0); }

int64_t hs_repl_map_find(const hs_repl_map *m, const void *key, size_t len) {
  if (!m->slot_cap) return -1;
  uint64_t h = map_hash(key, len);
  for (uint32_t i = (uint32_t)h & (m->slot_cap - 1);; i = (i + 1) & (m->slot_cap - 1)) {
    uint32_t s = m->slots[i];
    if (!s) return -1;
    const hs_repl_key *k = &m->keys[s - 1];
    if (k->hash == h && k->len == len && (len == 0 || memcmp(k->p, key, len) == 0)) return s - 1;
  }
}

/* Rebuilds the index at twice the size (load stays below 1/2). */
static int map_rehash(hs_repl_map *m) {
  uint32_t cap = m->slot_cap ? m->slot_cap * 2 : 32;
  if (cap == 0) return HS_ENOMEM;
  uint32_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return HS_ENOMEM;
  for (uint32_t k = 0; k < m->n; k++) {
    uint32_t i = (uint32_t)m->keys[k].hash & (cap - 1);
    while (slots[i]) i = (i + 1) & (cap - 1);
    slots[i] = k + 1;
  }
  free(m->slots);
  m->slots = slots;
  m->slot_cap = cap;
  return HS_OK;
}

int hs_repl_map_add(hs_repl_map *m, const void *key, size_t len, uint32_t *idx, bool *added) {
  *added = false;
  if (len > HS_REPL_MAX_KEY) return HS_EINVAL;
  int64_t found = hs_repl_map_find(m, key, len);
  if (found >= 0) {
    *idx = (uint32_t)found;
    return HS_OK;
  }
  if ((uint64_t)(m->n + 1) * 2 > m->slot_cap && map_rehash(m) != HS_OK) return HS_ENOMEM;
  if (hs_repl_grow((void **)&m->keys, &m->cap, m->n + 1, sizeof *m->keys) != HS_OK) return HS_ENOMEM;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return HS_ENOMEM;
  if (len) memcpy(copy, key, len);
  uint64_t h = map_hash(key, len);
  m->keys[m->n] = (hs_repl_key){copy, (uint32_t)len, h};
  uint32_t i = (uint32_t)h & (m->slot_cap - 1);
  while (m->slots[i]) i = (i + 1) & (m->slot_cap - 1);
  m->slots[i] = m->n + 1;
  *idx = m->n++;
  *added = true;
  return HS_OK;
}

/* ---- The membership view ------------------------------------------------------------------------ */

void hs_repl_view_reset(hs_repl_view *v) {
  uint64_t boots = v->boots;
  memset(v, 0, sizeof *v);
  v->self_pos = -1;
  v->boots = boots;
}

uint32_t hs_repl_view_pred(const hs_repl_view *v) {
  return hs_repl_view_member(v) && v->self_pos > 0 ? v->members[v->self_pos - 1] : HS_REPL_NONE;
}

uint32_t hs_repl_view_succ(const hs_repl_view *v) {
  return hs_repl_view_member(v) && (uint32_t)v->self_pos + 1 < v->n ? v->members[v->self_pos + 1] : HS_REPL_NONE;
}

static bool view_valid(const hs_repl_msg *m) {
  if (m->n_ids == 0 || m->n_ids != m->n_nums || m->epoch == 0) return false;
  for (uint32_t i = 0; i < m->n_ids; i++) {
    if (m->nums[i] == 0 || m->nums[i] > m->epoch) return false;
    for (uint32_t j = 0; j < i; j++)
      if (m->ids[j] == m->ids[i]) return false;
  }
  return true;
}

int hs_repl_view_adopt(hs_repl_view *v, uint32_t self, const hs_repl_msg *m) {
  if (!view_valid(m)) return HS_EINVAL;
  uint64_t synced = m->n_ids < 64 ? m->context & (((uint64_t)1 << m->n_ids) - 1) : m->context;
  if (m->epoch <= v->epoch) {
    if (m->epoch == v->epoch) {
      if (v->self_pos >= 0 && m->time_ns > v->lease_until) v->lease_until = m->time_ns;
      /* within an epoch the master only learns of syncs (a member that loses its data is
       * removed or appended again in a later epoch, unless it held the last copy, when there
       * is nothing left to serve), so a delayed CONFIG takes nothing back */
      v->synced_members |= synced;
    }
    return HS_REPL_VIEW_SAME;
  }
  v->epoch = m->epoch;
  v->n = m->n_ids;
  v->synced_members = synced;
  v->self_pos = -1;
  for (uint32_t i = 0; i < m->n_ids; i++) {
    v->members[i] = m->ids[i];
    v->join_epoch[i] = m->nums[i];
    if (m->ids[i] == self) v->self_pos = (int32_t)i;
  }
  if (v->self_pos < 0) {
    v->lease_until = 0; /* not a member: serve nothing */
    return HS_REPL_VIEW_NEW;
  }
  if (m->time_ns > v->lease_until) v->lease_until = m->time_ns;
  uint64_t join = v->join_epoch[v->self_pos];
  if (join <= v->joined_at) return HS_REPL_VIEW_NEW;
  bool bootstrap = join == 1 && v->joined_at == 0 && v->boots == 1; /* first life, never had data */
  v->joined_at = join;
  v->synced = bootstrap;
  return bootstrap ? HS_REPL_VIEW_NEW : HS_REPL_VIEW_REJOIN;
}

hs_repl_msg hs_repl_view_ping(const hs_repl_view *v, uint32_t self, uint32_t master, uint64_t applied) {
  hs_repl_msg m = {0};
  m.type = HS_REPL_MSG_PING;
  m.from = self;
  m.to = master;
  m.epoch = v->epoch;
  m.seq = applied;
  m.context = v->boots;
  m.commit = v->joined_at;
  m.flags = v->synced ? HS_REPL_FLAG_SYNCED : 0;
  return m;
}
