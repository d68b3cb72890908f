/*
 * hs_lock_table.c - the lock server's tables: names, waiters, deadlines.
 */
#include "coord/hs_lock_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/hs_rng.h"

/* ---- Lock records by name ------------------------------------------------------------- */

uint32_t hs_lock_find(const hs_lock_server *s, const char *name, size_t len) {
  if (!s->map_cap) return HS_LOCK_NIL;
  uint64_t h = hs_hash_bytes(name, len);
  for (uint32_t i = (uint32_t)h & (s->map_cap - 1);; i = (i + 1) & (s->map_cap - 1)) {
    uint32_t v = s->map[i];
    if (!v) return HS_LOCK_NIL;
    const hs_lock_rec *r = &s->locks[v - 1];
    if (r->hash == h && r->name_len == len && memcmp(r->name, name, len) == 0) return v - 1;
  }
}

static void map_put(uint32_t *map, uint32_t cap, uint64_t h, uint32_t idx) {
  uint32_t i = (uint32_t)h & (cap - 1);
  while (map[i]) i = (i + 1) & (cap - 1);
  map[i] = idx + 1;
}

/* Doubles the map when it would pass half full. */
static int map_grow(hs_lock_server *s) {
  if ((uint64_t)(s->n_locks + 1) * 2 <= s->map_cap) return HS_OK;
  uint32_t cap = s->map_cap ? s->map_cap * 2 : 16;
  uint32_t *m = calloc(cap, sizeof *m);
  if (!m) return HS_ENOMEM;
  for (uint32_t i = 0; i < s->n_locks; i++) map_put(m, cap, s->locks[i].hash, i);
  free(s->map);
  s->map = m;
  s->map_cap = cap;
  return HS_OK;
}

uint32_t hs_lock_intern(hs_lock_server *s, const char *name, size_t len) {
  uint32_t i = hs_lock_find(s, name, len);
  if (i != HS_LOCK_NIL) return i;
  if (len > UINT32_MAX || s->n_locks == HS_LOCK_NIL - 1 || map_grow(s)) return HS_LOCK_NIL;
  if (s->n_locks == s->cap_locks) {
    uint32_t cap = s->cap_locks ? s->cap_locks * 2 : 8;
    hs_lock_rec *p = realloc(s->locks, cap * sizeof *p);
    if (!p) return HS_LOCK_NIL;
    s->locks = p;
    s->cap_locks = cap;
  }
  char *copy = malloc(len ? len : 1);
  if (!copy) return HS_LOCK_NIL;
  memcpy(copy, name, len);
  hs_lock_rec *r = &s->locks[s->n_locks];
  memset(r, 0, sizeof *r);
  r->name = copy;
  r->name_len = (uint32_t)len;
  r->hash = hs_hash_bytes(name, len);
  r->head = r->tail = HS_LOCK_NIL;
  map_put(s->map, s->map_cap, r->hash, s->n_locks);
  return s->n_locks++;
}

/* ---- Waiters ---------------------------------------------------------------------------- */

uint32_t hs_lock_waiter_alloc(hs_lock_server *s) {
  if (s->free_waiter == HS_LOCK_NIL) {
    uint32_t old = s->cap_waiters, cap = old ? old * 2 : 16;
    if (old >= HS_LOCK_NIL / 2) return HS_LOCK_NIL;
    hs_lock_waiter *p = realloc(s->waiters, cap * sizeof *p);
    if (!p) return HS_LOCK_NIL;
    memset(p + old, 0, (cap - old) * sizeof *p);
    for (uint32_t i = old; i < cap; i++) p[i].next = i + 1 < cap ? i + 1 : HS_LOCK_NIL;
    s->waiters = p;
    s->cap_waiters = cap;
    s->free_waiter = old;
  }
  uint32_t w = s->free_waiter;
  hs_lock_waiter *x = &s->waiters[w];
  s->free_waiter = x->next;
  uint32_t gen = x->gen + 1;
  memset(x, 0, sizeof *x);
  x->gen = gen;
  x->used = true;
  x->prev = x->next = HS_LOCK_NIL;
  return w;
}

void hs_lock_waiter_release(hs_lock_server *s, uint32_t w) {
  hs_lock_waiter *x = &s->waiters[w];
  free(x->requester);
  x->requester = NULL;
  x->used = false;
  x->gen++;
  x->next = s->free_waiter;
  s->free_waiter = w;
}

/* ---- Deadlines -------------------------------------------------------------------------- */

static bool dl_before(const hs_lock_deadline *a, const hs_lock_deadline *b) {
  if (a->at != b->at) return a->at < b->at;
  if (a->kind != b->kind) return a->kind < b->kind;
  return a->seq < b->seq;
}

int hs_lock_heap_push(hs_lock_server *s, hs_time_ns at, uint32_t kind, uint32_t idx, uint32_t gen) {
  if (s->heap_len == s->heap_cap) {
    uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 16;
    hs_lock_deadline *p = realloc(s->heap, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    s->heap = p;
    s->heap_cap = cap;
  }
  hs_lock_deadline d = {.at = at, .seq = s->heap_seq++, .kind = kind, .idx = idx, .gen = gen};
  uint32_t i = s->heap_len++;
  while (i > 0 && dl_before(&d, &s->heap[(i - 1) / 2])) {
    s->heap[i] = s->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  s->heap[i] = d;
  return HS_OK;
}

hs_lock_deadline hs_lock_heap_pop(hs_lock_server *s) {
  hs_lock_deadline top = s->heap[0], last = s->heap[--s->heap_len];
  uint32_t i = 0;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= s->heap_len) break;
    if (c + 1 < s->heap_len && dl_before(&s->heap[c + 1], &s->heap[c])) c++;
    if (!dl_before(&s->heap[c], &last)) break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (s->heap_len) s->heap[i] = last;
  return top;
}

bool hs_lock_deadline_live(const hs_lock_server *s, const hs_lock_deadline *d) {
  switch (d->kind) {
  case HS_LOCK_DL_LEASE: return d->idx < s->n_locks && s->locks[d->idx].held && s->locks[d->idx].gen == d->gen;
  case HS_LOCK_DL_WAIT: return d->idx < s->cap_waiters && s->waiters[d->idx].used && s->waiters[d->idx].gen == d->gen;
  case HS_LOCK_DL_GRACE: return s->grace_until == d->at;
  }
  return false;
}

hs_time_ns hs_lock_heap_top(hs_lock_server *s) {
  while (s->heap_len && !hs_lock_deadline_live(s, &s->heap[0])) hs_lock_heap_pop(s);
  return s->heap_len ? s->heap[0].at : HS_TIME_NEVER;
}
