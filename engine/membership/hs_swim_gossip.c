/*
 * hs_swim_gossip.c - what a member knows and spreads: the table and its counts, the update
 * rules (incarnations, refutation), Lifeguard's suspicion timers and the dissemination buffer.
 */
#include "membership/hs_swim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- The id -> slot map ------------------------------------------------------------------ */

static uint32_t map_home(const swim_map *m, uint32_t key) { return (key * 0x9E3779B1u) & (m->cap - 1); }

uint32_t swim_map_get(const swim_map *m, uint32_t key) {
  if (!m->cap) return SWIM_NIL;
  for (uint32_t i = map_home(m, key);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key) return m->vals[i];
    if (!m->keys[i]) return SWIM_NIL;
  }
}

static int map_grow(swim_map *m) {
  uint32_t cap = m->cap ? m->cap * 2 : 16;
  uint32_t *keys = calloc(cap, sizeof *keys), *vals = malloc(cap * sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return HS_ENOMEM;
  }
  swim_map old = *m;
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  m->count = 0;
  for (uint32_t i = 0; i < old.cap; i++)
    if (old.keys[i]) swim_map_put(m, old.keys[i], old.vals[i]);
  free(old.keys);
  free(old.vals);
  return HS_OK;
}

int swim_map_put(swim_map *m, uint32_t key, uint32_t val) {
  if ((m->count + 1) * 2 > m->cap && map_grow(m)) return HS_ENOMEM;
  uint32_t i = map_home(m, key);
  while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
  if (!m->keys[i]) m->count++;
  m->keys[i] = key;
  m->vals[i] = val;
  return HS_OK;
}

/* Backward-shift deletion: no tombstones, lookups stay short. */
void swim_map_del(swim_map *m, uint32_t key) {
  if (!m->cap) return;
  uint32_t mask = m->cap - 1, i = map_home(m, key);
  while (m->keys[i] != key) {
    if (!m->keys[i]) return;
    i = (i + 1) & mask;
  }
  m->count--;
  for (uint32_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
    uint32_t h = map_home(m, m->keys[j]);
    /* j's entry may move to the hole at i if its home is not within (i, j] cyclically */
    if (((j - h) & mask) >= ((j - i) & mask)) {
      m->keys[i] = m->keys[j];
      m->vals[i] = m->vals[j];
      i = j;
    }
  }
  m->keys[i] = 0;
}

void swim_map_clear(swim_map *m) {
  if (m->cap) memset(m->keys, 0, m->cap * sizeof *m->keys);
  m->count = 0;
}

void swim_map_free(swim_map *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

/* ---- The table ------------------------------------------------------------------------------ */

int swim_table_reserve(hs_swim *s, uint32_t id, bool exact) {
  if (id == HS_SWIM_NONE || id >= s->cfg.max_members) return HS_EINVAL;
  if (id < s->cap) return HS_OK;
  uint32_t cap = s->cap ? s->cap : 16;
  while (cap <= id) cap = cap > s->cfg.max_members / 2 ? s->cfg.max_members : cap * 2;
  if (exact) cap = id + 1;
  uint32_t *t = realloc(s->table, (size_t)cap * sizeof *t);
  if (!t) return HS_ENOMEM;
  memset(t + s->cap, 0, (size_t)(cap - s->cap) * sizeof *t);
  s->table = t;
  s->cap = cap;
  return HS_OK;
}

static uint32_t *count_of(hs_swim *s, hs_swim_state st) {
  switch (st) {
  case HS_SWIM_ALIVE: return &s->n_alive;
  case HS_SWIM_SUSPECT: return &s->n_suspect;
  case HS_SWIM_DEAD: return &s->n_dead;
  default: return NULL;
  }
}

/* Sets an entry (reserved), keeping the counts of other members. */
void swim_set_entry(hs_swim *s, uint32_t id, hs_swim_state st, uint32_t inc) {
  hs_swim_state old = swim_state_of(s->table[id]);
  s->table[id] = swim_pack(st, inc);
  if (id == s->id || old == st) return;
  uint32_t *c = count_of(s, old);
  if (c) (*c)--;
  c = count_of(s, st);
  if (c) (*c)++;
}

/* ---- Suspicion timers ------------------------------------------------------------------------ */

static bool dl_before(const swim_deadline *a, const swim_deadline *b) {
  return a->at < b->at || (a->at == b->at && a->slot < b->slot);
}

static int heap_push(hs_swim *s, hs_time_ns at, uint32_t slot, uint32_t gen) {
  if (s->heap_len == s->heap_cap) {
    uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 16;
    swim_deadline *p = realloc(s->heap, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    s->heap = p;
    s->heap_cap = cap;
  }
  swim_deadline d = {at, slot, gen};
  uint32_t i = s->heap_len++;
  while (i > 0 && dl_before(&d, &s->heap[(i - 1) / 2])) {
    s->heap[i] = s->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  s->heap[i] = d;
  s->heap_top = s->heap[0].at;
  return HS_OK;
}

static void heap_pop(hs_swim *s) {
  swim_deadline last = s->heap[--s->heap_len];
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
  s->heap_top = s->heap_len ? s->heap[0].at : HS_TIME_NEVER;
}

static bool deadline_live(const hs_swim *s, const swim_deadline *d) {
  const swim_suspicion *x = &s->susp[d->slot];
  return x->gen == d->gen && x->member != HS_SWIM_NONE && x->deadline == d->at;
}

hs_time_ns swim_suspicions_next(hs_swim *s) {
  while (s->heap_len && !deadline_live(s, &s->heap[0])) heap_pop(s);
  return s->heap_len ? s->heap[0].at : HS_TIME_NEVER;
}

/* Lifeguard: from max down to min as independent suspicions arrive (C of K). */
static hs_time_ns suspicion_deadline(const hs_swim *s, const swim_suspicion *x) {
  double k = (double)s->cfg.indirect_probe_count, c = (double)(x->n_origins - 1);
  double span = (double)(s->suspicion_max - s->suspicion_min);
  double frac = k > 0 ? log(c + 1.0) / log(k + 1.0) : 1.0;
  if (frac > 1.0) frac = 1.0;
  hs_time_ns t = s->suspicion_max - (hs_time_ns)(span * frac);
  if (t < s->suspicion_min) t = s->suspicion_min;
  return x->start + t;
}

static uint32_t susp_alloc(hs_swim *s) {
  if (s->susp_free == SWIM_NIL) {
    uint32_t old = s->susp_cap, cap = old ? old * 2 : 16;
    swim_suspicion *p = realloc(s->susp, cap * sizeof *p);
    if (!p) return SWIM_NIL;
    memset(p + old, 0, (cap - old) * sizeof *p);
    for (uint32_t i = old; i < cap; i++) p[i].next_free = i + 1 < cap ? i + 1 : SWIM_NIL;
    s->susp = p;
    s->susp_cap = cap;
    s->susp_free = old;
  }
  uint32_t i = s->susp_free;
  s->susp_free = s->susp[i].next_free;
  return i;
}

static void susp_release(hs_swim *s, uint32_t member) {
  uint32_t i = swim_map_get(&s->suspect_of, member);
  if (i == SWIM_NIL) return;
  swim_map_del(&s->suspect_of, member);
  s->susp[i].member = HS_SWIM_NONE;
  s->susp[i].gen++;
  s->susp[i].next_free = s->susp_free;
  s->susp_free = i;
}

/* A suspicion of `member` at `inc` by `origin`: a new timer, or a confirmation that may bring
 * the running one closer. */
static void susp_note(hs_swim *s, uint32_t member, uint32_t inc, uint32_t origin, hs_time_ns now) {
  uint32_t i = swim_map_get(&s->suspect_of, member);
  swim_suspicion *x;
  if (i != SWIM_NIL && s->susp[i].incarnation == inc) {
    x = &s->susp[i];
    for (uint32_t k = 0; k < x->n_origins; k++)
      if (x->origins[k] == origin) return;
    if (x->n_origins >= SWIM_MAX_ORIGINS || x->n_origins > s->cfg.indirect_probe_count) return;
    x->origins[x->n_origins++] = origin;
  } else {
    if (i != SWIM_NIL) susp_release(s, member);
    i = susp_alloc(s);
    if (i == SWIM_NIL) return;
    if (swim_map_put(&s->suspect_of, member, i)) {
      s->susp[i].next_free = s->susp_free;
      s->susp_free = i;
      return;
    }
    x = &s->susp[i];
    x->member = member;
    x->incarnation = inc;
    x->start = now;
    x->n_origins = 1;
    x->origins[0] = origin;
  }
  x->deadline = suspicion_deadline(s, x);
  heap_push(s, x->deadline, i, x->gen);
}

void swim_suspicions_expire(hs_swim *s, hs_time_ns now) {
  while (swim_suspicions_next(s) <= now) {
    swim_suspicion x = s->susp[s->heap[0].slot];
    heap_pop(s);
    hs_swim_update u = {.member = x.member, .incarnation = x.incarnation, .state = HS_SWIM_DEAD};
    s->stats.declared_dead++;
    swim_apply(s, &u, now); /* releases the suspicion */
  }
}

void swim_suspicions_clear(hs_swim *s) {
  for (uint32_t i = 0; i < s->susp_cap; i++)
    if (s->susp[i].member != HS_SWIM_NONE) susp_release(s, s->susp[i].member);
  s->heap_len = 0;
  s->heap_top = HS_TIME_NEVER;
}

/* ---- Dissemination -------------------------------------------------------------------------- */

/* lambda * ceil(ln(n + 1)) with n the members this one believes in (itself included): the
 * paper's lambda log n. (memberlist's log10 leaves, at n = 32 and 10% loss, a member missing a
 * refutation about once in 3,000 times: enough for false deaths.) */
static uint32_t gossip_limit(hs_swim *s) {
  uint32_t n = s->n_alive + s->n_suspect + 1;
  if (n != s->limit_n) { /* recomputed only when the group's size changed */
    uint64_t lim = (uint64_t)s->cfg.retransmit_mult * (uint64_t)ceil(log((double)n + 1.0));
    s->limit_n = n;
    s->limit = lim < SWIM_MAX_TX ? (uint32_t)lim : SWIM_MAX_TX;
  }
  return s->limit;
}

static void bucket_unlink(hs_swim *s, uint32_t g) {
  swim_gossip *x = &s->gossip[g];
  if (x->prev != SWIM_NIL) s->gossip[x->prev].next = x->next;
  else if ((s->bucket[x->tx] = x->next) == SWIM_NIL) s->bucket_used &= ~(1ull << x->tx);
  if (x->next != SWIM_NIL) s->gossip[x->next].prev = x->prev;
}

static void bucket_push(hs_swim *s, uint32_t g) { /* at the head: the newest goes first */
  swim_gossip *x = &s->gossip[g];
  x->prev = SWIM_NIL;
  x->next = s->bucket[x->tx];
  if (x->next != SWIM_NIL) s->gossip[x->next].prev = g;
  s->bucket[x->tx] = g;
  s->bucket_used |= 1ull << x->tx;
}

void swim_gossip_put(hs_swim *s, const hs_swim_update *u) {
  uint32_t g = swim_map_get(&s->gossip_of, u->member);
  if (g != SWIM_NIL) {
    bucket_unlink(s, g);
  } else {
    if (s->gossip_free == SWIM_NIL) {
      uint32_t old = s->gossip_cap, cap = old ? old * 2 : 16;
      swim_gossip *p = realloc(s->gossip, cap * sizeof *p);
      if (!p) return;
      for (uint32_t i = old; i < cap; i++) p[i].next = i + 1 < cap ? i + 1 : SWIM_NIL;
      s->gossip = p;
      s->gossip_cap = cap;
      s->gossip_free = old;
    }
    g = s->gossip_free;
    if (swim_map_put(&s->gossip_of, u->member, g)) return;
    s->gossip_free = s->gossip[g].next;
    s->gossip_count++;
  }
  s->gossip[g].u = *u;
  s->gossip[g].tx = 0;
  bucket_push(s, g);
}

/* Lifeguard's buddy system: a message to a member this one suspects (or believes dead: it
 * is talking to it, so it is not) carries that verdict, even once it left the buffer, so the
 * member learns it and refutes it. */
static bool buddy_update(const hs_swim *s, uint32_t to, hs_swim_update *out) {
  hs_swim_state st = to < s->cap ? swim_state_of(s->table[to]) : HS_SWIM_UNKNOWN;
  if (st != HS_SWIM_SUSPECT && st != HS_SWIM_DEAD) return false;
  *out = (hs_swim_update){.member = to, .incarnation = swim_inc_of(s->table[to]),
                          .origin = st == HS_SWIM_SUSPECT ? s->id : 0, .state = (uint8_t)st};
  return true;
}

uint32_t swim_gossip_take(hs_swim *s, uint32_t to) {
  uint32_t max = s->cfg.max_piggyback, n = 0, limit = gossip_limit(s);
  uint32_t about_to = s->gossip_count ? swim_map_get(&s->gossip_of, to) : SWIM_NIL;
  if (about_to != SWIM_NIL) s->picked[n++] = about_to;
  uint32_t first = 0; /* scratch slots taken by the buddy update */
  if (about_to == SWIM_NIL && buddy_update(s, to, &s->scratch[0])) first = 1;
  for (uint64_t used = s->bucket_used; used && n + first < max; used &= used - 1) /* non-empty buckets, fewest sends first */
    for (uint32_t g = s->bucket[__builtin_ctzll(used)]; g != SWIM_NIL && n + first < max; g = s->gossip[g].next)
      if (g != about_to) s->picked[n++] = g;
  for (uint32_t i = 0; i < n; i++) { /* one more transmission each; retired at the limit */
    uint32_t g = s->picked[i];
    s->scratch[first + i] = s->gossip[g].u;
    bucket_unlink(s, g);
    bool keep = s->gossip[g].u.member == s->id && s->now < s->refute_until;
    if (++s->gossip[g].tx < limit || keep) {
      if (s->gossip[g].tx >= limit) s->gossip[g].tx = limit - 1; /* behind everything fresher */
      bucket_push(s, g);
      continue;
    }
    swim_map_del(&s->gossip_of, s->gossip[g].u.member);
    s->gossip[g].next = s->gossip_free;
    s->gossip_free = g;
    s->gossip_count--;
  }
  s->stats.updates_disseminated += n + first;
  return n + first;
}

void swim_gossip_clear(hs_swim *s) {
  swim_map_clear(&s->gossip_of);
  for (uint32_t t = 0; t < SWIM_MAX_TX; t++) s->bucket[t] = SWIM_NIL;
  s->bucket_used = 0;
  for (uint32_t i = 0; i < s->gossip_cap; i++) s->gossip[i].next = i + 1 < s->gossip_cap ? i + 1 : SWIM_NIL;
  s->gossip_free = s->gossip_cap ? 0 : SWIM_NIL;
  s->gossip_count = 0;
}

/* ---- The update rules ---------------------------------------------------------------------- */

/* Whether u overrides what this member believes about u->member (state cur). */
static bool overrides(const hs_swim_update *u, uint32_t cur) {
  hs_swim_state st = swim_state_of(cur);
  uint32_t inc = swim_inc_of(cur);
  switch ((hs_swim_state)u->state) {
  case HS_SWIM_ALIVE: return st == HS_SWIM_UNKNOWN || u->incarnation > inc;
  case HS_SWIM_SUSPECT:
    return (st == HS_SWIM_ALIVE && u->incarnation >= inc) || (st == HS_SWIM_SUSPECT && u->incarnation > inc);
  case HS_SWIM_DEAD: return (st == HS_SWIM_ALIVE || st == HS_SWIM_SUSPECT) && u->incarnation >= inc;
  default: return false;
  }
}

/* Someone says this member is suspect or dead (or alive with a later incarnation than it
 * knows, from a life it forgot): it refutes with alive(incarnation + 1). An accusation older
 * than its incarnation was refuted already, but its sender has not heard: the alive update
 * goes out again, first in line (its reply to that sender carries it). Either way the alive
 * update then rides on every message this member sends for as long as anyone's suspicion
 * timer may run (suspicion_max), not just lambda log n times: a suspector that missed the
 * infection would otherwise declare a live member dead. */
static void refute(hs_swim *s, const hs_swim_update *u) {
  bool against = u->state == HS_SWIM_ALIVE ? u->incarnation > s->incarnation : u->incarnation >= s->incarnation;
  if (!against && u->state != HS_SWIM_ALIVE) {
    hs_swim_update mine = {.member = s->id, .incarnation = s->incarnation, .state = HS_SWIM_ALIVE};
    swim_gossip_put(s, &mine);
    s->refute_until = s->now + s->suspicion_max;
    return;
  }
  if (!against || u->incarnation >= HS_SWIM_MAX_INCARNATION) return;
  s->incarnation = u->incarnation + 1;
  swim_set_entry(s, s->id, HS_SWIM_ALIVE, s->incarnation);
  if (s->cfg.cb.persist_incarnation) s->cfg.cb.persist_incarnation(s->cfg.ud, s->incarnation);
  hs_swim_update mine = {.member = s->id, .incarnation = s->incarnation, .state = HS_SWIM_ALIVE};
  swim_gossip_put(s, &mine);
  s->refute_until = s->now + s->suspicion_max;
  s->stats.refutations++;
}

void swim_apply(hs_swim *s, const hs_swim_update *u, hs_time_ns now) {
  if (u->member == s->id) {
    refute(s, u);
    return;
  }
  if (u->member >= s->cap) {
    if (u->state != HS_SWIM_ALIVE || swim_table_reserve(s, u->member, false)) return; /* only alive adds */
  }
  uint32_t cur = s->table[u->member];
  if (!overrides(u, cur)) {
    /* the same suspicion from another member: Lifeguard's independent confirmation */
    if (u->state == HS_SWIM_SUSPECT && swim_state_of(cur) == HS_SWIM_SUSPECT && u->incarnation == swim_inc_of(cur))
      susp_note(s, u->member, u->incarnation, u->origin, now);
    return;
  }
  if (swim_state_of(cur) == HS_SWIM_UNKNOWN && u->state != HS_SWIM_ALIVE) return; /* only alive adds */
  hs_swim_state prev = swim_state_of(cur);
  swim_set_entry(s, u->member, (hs_swim_state)u->state, u->incarnation);
  if (u->state == HS_SWIM_SUSPECT) susp_note(s, u->member, u->incarnation, u->origin, now);
  else susp_release(s, u->member);
  swim_gossip_put(s, u);
  if (s->cfg.cb.member_changed) {
    hs_swim_member_event ev = {.member = u->member, .state = (hs_swim_state)u->state, .prev_state = prev,
                               .incarnation = u->incarnation, .now = now};
    s->cfg.cb.member_changed(s->cfg.ud, &ev);
  }
}
