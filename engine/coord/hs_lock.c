/*
 * hs_lock.c - the lock server: acquire, release, renew, leases that expire, FIFO waiters with
 * timeouts, durable fencing tokens per lock, crash and restart with a grace period.
 */
#include "coord/hs_lock_internal.h"

#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

const char *hs_lock_strerror(int code) {
  switch (code) {
  case HS_LOCK_QUEUED: return "queued";
  case HS_LOCK_EHELD: return "the lock is held";
  case HS_LOCK_EFULL: return "the lock's waiter queue is full";
  case HS_LOCK_ESTALE: return "not the current holder's token (released, expired or wrong)";
  case HS_LOCK_ETIMEOUT: return "timed out waiting for the lock";
  case HS_LOCK_ECRASHED: return "the lock server is crashed";
  case HS_LOCK_ENOTFOUND: return "no such waiter";
  default: return hs_strerror(code);
  }
}

void hs_lock_config_init(hs_lock_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->lease_ns = 10000 * MS;
  cfg->restart_grace = true;
}

int hs_lock_new(const hs_lock_config *cfg, hs_lock_server **out) {
  *out = NULL;
  if (!cfg || cfg->lease_ns <= 0 || cfg->max_lease_ns < 0) return HS_EINVAL;
  if (cfg->max_lease_ns && cfg->max_lease_ns < cfg->lease_ns) return HS_EINVAL;
  hs_lock_server *s = calloc(1, sizeof *s);
  if (!s) return HS_ENOMEM;
  s->cfg = *cfg;
  if (!s->cfg.max_lease_ns) s->cfg.max_lease_ns = s->cfg.lease_ns;
  s->free_waiter = HS_LOCK_NIL;
  s->grace_until = INT64_MIN;
  s->armed = HS_TIME_NEVER;
  *out = s;
  return HS_OK;
}

void hs_lock_free(hs_lock_server *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->n_locks; i++) {
    free(s->locks[i].name);
    free(s->locks[i].holder);
  }
  for (uint32_t i = 0; i < s->cap_waiters; i++) free(s->waiters[i].requester);
  free(s->locks);
  free(s->map);
  free(s->waiters);
  free(s->heap);
  free(s);
}

/* Tells the adapter the earliest deadline when it changed. */
static void lock_rearm(hs_lock_server *s) {
  hs_time_ns at = s->crashed ? HS_TIME_NEVER : hs_lock_heap_top(s);
  if (at == s->armed) return;
  s->armed = at;
  if (s->cfg.cb.set_timer) s->cfg.cb.set_timer(s->cfg.ud, at);
}

static void lock_fill_grant(const hs_lock_rec *r, hs_lock_grant *g) {
  g->lock = r->name;
  g->lock_len = r->name_len;
  g->holder = r->holder;
  g->holder_len = r->holder_len;
  g->fencing_token = r->token;
  g->granted_at_ns = r->granted_at;
  g->lease_ns = r->lease;
  g->expires_at_ns = r->expires_at;
  g->tag = r->holder_tag;
}

static bool lock_in_grace(const hs_lock_server *s) { return s->now < s->grace_until; }

/* Makes `holder` (ownership taken) the holder of lock i with the next token, persisted first,
 * and arms its expiry. HS_OK or HS_ENOMEM (nothing changed, holder freed). */
static int lock_grant(hs_lock_server *s, uint32_t i, char *holder, uint32_t holder_len, uint64_t tag,
                      hs_time_ns lease) {
  hs_lock_rec *r = &s->locks[i];
  if (hs_lock_heap_push(s, s->now + lease, HS_LOCK_DL_LEASE, i, r->gen + 1)) {
    free(holder);
    return HS_ENOMEM;
  }
  r->gen++;
  r->token++;
  if (s->cfg.cb.persist_token) s->cfg.cb.persist_token(s->cfg.ud, r->name, r->name_len, r->token);
  free(r->holder);
  r->holder = holder;
  r->holder_len = holder_len;
  r->holder_tag = tag;
  r->held = true;
  r->granted_at = s->now;
  r->lease = lease;
  r->expires_at = s->now + lease;
  s->stats.active_locks++;
  s->stats.total_acquires++;
  return HS_OK;
}

static void waiter_unlink(hs_lock_server *s, uint32_t w) {
  hs_lock_waiter *x = &s->waiters[w];
  hs_lock_rec *r = &s->locks[x->lock];
  if (x->prev != HS_LOCK_NIL) s->waiters[x->prev].next = x->next;
  else r->head = x->next;
  if (x->next != HS_LOCK_NIL) s->waiters[x->next].prev = x->prev;
  else r->tail = x->prev;
  r->n_waiting--;
  s->stats.total_waiters--;
}

/* While lock i is free and outside the grace, hands it to its first waiter (granted callback;
 * a grant that fails for memory ends the waiter with waiter_done(HS_ENOMEM) instead). */
static void lock_serve_waiters(hs_lock_server *s, uint32_t i) {
  hs_lock_rec *r = &s->locks[i];
  if (r->held || r->head == HS_LOCK_NIL || lock_in_grace(s)) return;
  uint32_t w = r->head;
  hs_lock_waiter *x = &s->waiters[w];
  char *who = x->requester;
  x->requester = NULL;
  uint32_t who_len = x->requester_len;
  uint64_t tag = x->tag;
  hs_time_ns lease = x->lease;
  waiter_unlink(s, w);
  hs_lock_waiter_release(s, w);
  if (lock_grant(s, i, who, who_len, tag, lease) != HS_OK) {
    if (s->cfg.cb.waiter_done) s->cfg.cb.waiter_done(s->cfg.ud, tag, HS_ENOMEM);
    return;
  }
  if (s->cfg.cb.granted) {
    hs_lock_grant g;
    lock_fill_grant(&s->locks[i], &g);
    s->cfg.cb.granted(s->cfg.ud, &g);
  }
}

static void lock_clear_holder(hs_lock_server *s, hs_lock_rec *r) {
  r->held = false;
  r->gen++;
  s->stats.active_locks--;
}

/* Runs every deadline due at or before now, in (time, lease < grace < wait, order) order. */
static void lock_advance(hs_lock_server *s, hs_time_ns now) {
  if (now > s->now) s->now = now;
  while (hs_lock_heap_top(s) <= s->now) {
    hs_lock_deadline d = hs_lock_heap_pop(s);
    hs_time_ns at = d.at;
    hs_time_ns saved = s->now;
    s->now = at; /* what was due earlier happens at its own time */
    if (d.kind == HS_LOCK_DL_LEASE) {
      hs_lock_rec *r = &s->locks[d.idx];
      hs_lock_grant g;
      lock_fill_grant(r, &g);
      lock_clear_holder(s, r);
      s->stats.total_expirations++;
      if (s->cfg.cb.expired) s->cfg.cb.expired(s->cfg.ud, &g);
      lock_serve_waiters(s, d.idx);
    } else if (d.kind == HS_LOCK_DL_WAIT) {
      hs_lock_waiter *x = &s->waiters[d.idx];
      uint64_t tag = x->tag;
      waiter_unlink(s, d.idx);
      hs_lock_waiter_release(s, d.idx);
      s->stats.total_timeouts++;
      if (s->cfg.cb.waiter_done) s->cfg.cb.waiter_done(s->cfg.ud, tag, HS_LOCK_ETIMEOUT);
    } else {
      s->grace_until = INT64_MIN;
      for (uint32_t i = 0; i < s->n_locks; i++) lock_serve_waiters(s, i);
    }
    s->now = saved;
  }
}

/* The common prologue of the requests: crashed? time moves on; the lease checked. */
static int lock_enter(hs_lock_server *s, hs_time_ns now, hs_time_ns *lease) {
  if (s->crashed) return HS_LOCK_ECRASHED;
  if (now < s->now) return HS_EINVAL;
  if (lease) {
    if (*lease == 0) *lease = s->cfg.lease_ns;
    if (*lease < 0 || *lease > s->cfg.max_lease_ns) return HS_EINVAL;
  }
  lock_advance(s, now);
  return HS_OK;
}

static char *dup_bytes(const char *p, size_t len) {
  char *c = malloc(len ? len : 1);
  if (c && len) memcpy(c, p, len);
  return c;
}

int hs_lock_try_acquire(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, const char *requester,
                        size_t requester_len, hs_time_ns lease_ns, hs_lock_grant *out) {
  if (!lock || !lock_len || (!requester && requester_len) || requester_len > UINT32_MAX) return HS_EINVAL;
  int rc = lock_enter(s, now, &lease_ns);
  if (rc == HS_OK) {
    uint32_t i = hs_lock_intern(s, lock, lock_len);
    if (i == HS_LOCK_NIL) rc = HS_ENOMEM;
    else if (s->locks[i].held || s->locks[i].n_waiting || lock_in_grace(s)) rc = HS_LOCK_EHELD;
    else {
      char *who = dup_bytes(requester, requester_len);
      rc = who ? lock_grant(s, i, who, (uint32_t)requester_len, 0, lease_ns) : HS_ENOMEM;
      if (rc == HS_OK && out) lock_fill_grant(&s->locks[i], out);
    }
  }
  lock_rearm(s);
  return rc;
}

/* Queues a request at the tail of lock i with its timeout. */
static int lock_enqueue(hs_lock_server *s, uint32_t i, const char *requester, size_t requester_len,
                        hs_time_ns lease, hs_time_ns timeout, uint64_t tag) {
  hs_lock_rec *r = &s->locks[i];
  if (s->cfg.max_waiters && r->n_waiting >= s->cfg.max_waiters) {
    s->stats.total_rejections++;
    return HS_LOCK_EFULL;
  }
  char *who = dup_bytes(requester, requester_len);
  uint32_t w = who ? hs_lock_waiter_alloc(s) : HS_LOCK_NIL;
  if (w == HS_LOCK_NIL) {
    free(who);
    return HS_ENOMEM;
  }
  hs_lock_waiter *x = &s->waiters[w];
  x->lock = i;
  x->tag = tag;
  x->requester = who;
  x->requester_len = (uint32_t)requester_len;
  x->lease = lease;
  x->deadline = timeout == HS_TIME_NEVER || timeout > HS_TIME_NEVER - s->now ? HS_TIME_NEVER : s->now + timeout;
  if (x->deadline != HS_TIME_NEVER && hs_lock_heap_push(s, x->deadline, HS_LOCK_DL_WAIT, w, x->gen)) {
    hs_lock_waiter_release(s, w);
    return HS_ENOMEM;
  }
  x->prev = r->tail;
  if (r->tail != HS_LOCK_NIL) s->waiters[r->tail].next = w;
  else r->head = w;
  r->tail = w;
  r->n_waiting++;
  s->stats.total_waiters++;
  return HS_LOCK_QUEUED;
}

int hs_lock_acquire(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, const char *requester,
                    size_t requester_len, hs_time_ns lease_ns, hs_time_ns timeout_ns, uint64_t tag,
                    hs_lock_grant *out) {
  if (!lock || !lock_len || (!requester && requester_len) || requester_len > UINT32_MAX || timeout_ns <= 0)
    return HS_EINVAL;
  int rc = lock_enter(s, now, &lease_ns);
  if (rc == HS_OK) {
    uint32_t i = hs_lock_intern(s, lock, lock_len);
    if (i == HS_LOCK_NIL) rc = HS_ENOMEM;
    else if (s->locks[i].held || s->locks[i].n_waiting || lock_in_grace(s))
      rc = lock_enqueue(s, i, requester, requester_len, lease_ns, timeout_ns, tag);
    else {
      char *who = dup_bytes(requester, requester_len);
      rc = who ? lock_grant(s, i, who, (uint32_t)requester_len, tag, lease_ns) : HS_ENOMEM;
      if (rc == HS_OK && out) lock_fill_grant(&s->locks[i], out);
    }
  }
  lock_rearm(s);
  return rc;
}

/* The lock whose valid lease carries `token`, or HS_LOCK_NIL (counted as stale). */
static uint32_t lock_of_token(hs_lock_server *s, const char *lock, size_t lock_len, uint64_t token) {
  uint32_t i = hs_lock_find(s, lock, lock_len);
  if (i != HS_LOCK_NIL && s->locks[i].held && s->locks[i].token == token && s->now < s->locks[i].expires_at)
    return i;
  s->stats.stale_refused++;
  return HS_LOCK_NIL;
}

int hs_lock_release(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, uint64_t token) {
  int rc = lock_enter(s, now, NULL);
  if (rc == HS_OK) {
    uint32_t i = lock_of_token(s, lock, lock_len, token);
    if (i == HS_LOCK_NIL) rc = HS_LOCK_ESTALE;
    else {
      lock_clear_holder(s, &s->locks[i]);
      s->stats.total_releases++;
      lock_serve_waiters(s, i);
    }
  }
  lock_rearm(s);
  return rc;
}

int hs_lock_renew(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, uint64_t token,
                  hs_time_ns lease_ns, hs_lock_grant *out) {
  int rc = lock_enter(s, now, &lease_ns);
  if (rc == HS_OK) {
    uint32_t i = lock_of_token(s, lock, lock_len, token);
    hs_lock_rec *r = i == HS_LOCK_NIL ? NULL : &s->locks[i];
    if (!r) rc = HS_LOCK_ESTALE;
    else if (hs_lock_heap_push(s, s->now + lease_ns, HS_LOCK_DL_LEASE, i, r->gen + 1)) rc = HS_ENOMEM;
    else {
      r->gen++;
      r->lease = lease_ns;
      r->expires_at = s->now + lease_ns;
      s->stats.renewals++;
      if (out) lock_fill_grant(r, out);
    }
  }
  lock_rearm(s);
  return rc;
}

int hs_lock_cancel(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, uint64_t tag) {
  int rc = lock_enter(s, now, NULL);
  if (rc == HS_OK) {
    uint32_t i = hs_lock_find(s, lock, lock_len);
    uint32_t w = i == HS_LOCK_NIL ? HS_LOCK_NIL : s->locks[i].head;
    while (w != HS_LOCK_NIL && s->waiters[w].tag != tag) w = s->waiters[w].next;
    if (w == HS_LOCK_NIL) rc = HS_LOCK_ENOTFOUND;
    else {
      waiter_unlink(s, w);
      hs_lock_waiter_release(s, w);
    }
  }
  lock_rearm(s);
  return rc;
}

int hs_lock_tick(hs_lock_server *s, hs_time_ns now) {
  int rc = lock_enter(s, now, NULL);
  lock_rearm(s);
  return rc;
}

hs_time_ns hs_lock_next_deadline(const hs_lock_server *s) {
  if (s->crashed) return HS_TIME_NEVER;
  /* the top may be stale (a released lease): a tick then does nothing, which is harmless */
  return s->heap_len ? s->heap[0].at : HS_TIME_NEVER;
}

void hs_lock_crash(hs_lock_server *s) {
  if (s->crashed) return;
  s->crashed = true;
  s->stats.crashes++;
  s->heap_len = 0;
  for (uint32_t i = 0; i < s->n_locks; i++) {
    hs_lock_rec *r = &s->locks[i];
    if (r->held) lock_clear_holder(s, r);
    while (r->head != HS_LOCK_NIL) {
      uint32_t w = r->head;
      uint64_t tag = s->waiters[w].tag;
      waiter_unlink(s, w);
      hs_lock_waiter_release(s, w);
      if (s->cfg.cb.waiter_done) s->cfg.cb.waiter_done(s->cfg.ud, tag, HS_LOCK_ECRASHED);
    }
  }
  lock_rearm(s);
}

int hs_lock_restart(hs_lock_server *s, hs_time_ns now) {
  if (!s->crashed) return HS_OK;
  if (now < s->now) return HS_EINVAL;
  s->crashed = false;
  s->now = now;
  if (s->cfg.restart_grace) {
    s->grace_until = now + s->cfg.max_lease_ns;
    if (hs_lock_heap_push(s, s->grace_until, HS_LOCK_DL_GRACE, 0, 0)) return HS_ENOMEM;
  }
  lock_rearm(s);
  return HS_OK;
}

int hs_lock_load_token(hs_lock_server *s, const char *name, size_t len, uint64_t token) {
  if (!name || !len) return HS_EINVAL;
  uint32_t i = hs_lock_intern(s, name, len);
  if (i == HS_LOCK_NIL) return HS_ENOMEM;
  if (token > s->locks[i].token) s->locks[i].token = token;
  return HS_OK;
}

bool hs_lock_holder(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, hs_lock_grant *out) {
  if (s->crashed || now < s->now) return false;
  lock_advance(s, now);
  lock_rearm(s);
  uint32_t i = hs_lock_find(s, lock, lock_len);
  if (i == HS_LOCK_NIL || !s->locks[i].held) return false;
  if (out) lock_fill_grant(&s->locks[i], out);
  return true;
}

uint64_t hs_lock_last_token(const hs_lock_server *s, const char *lock, size_t lock_len) {
  uint32_t i = hs_lock_find(s, lock, lock_len);
  return i == HS_LOCK_NIL ? 0 : s->locks[i].token;
}

uint32_t hs_lock_waiting(const hs_lock_server *s, const char *lock, size_t lock_len) {
  uint32_t i = hs_lock_find(s, lock, lock_len);
  return i == HS_LOCK_NIL ? 0 : s->locks[i].n_waiting;
}

void hs_lock_get_stats(const hs_lock_server *s, hs_lock_stats *out) {
  *out = s->stats;
  out->crashed = s->crashed;
}

bool hs_lock_crashed(const hs_lock_server *s) { return s->crashed; }

/* ---- Fenced resource ---------------------------------------------------------------------- */

void hs_fenced_init(hs_fenced *f) { memset(f, 0, sizeof *f); }

int hs_fenced_write(hs_fenced *f, uint64_t token) {
  if (token < f->highest) {
    f->writes_refused++;
    return HS_LOCK_ESTALE;
  }
  f->highest = token;
  f->writes_accepted++;
  return HS_OK;
}
