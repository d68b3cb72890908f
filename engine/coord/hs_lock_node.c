/*
 * hs_lock_node.c - the lock server adapter: the simulation's clock in, one timer out.
 *
 * Every grant the core hands out is checked (HS_ASSERT) before it goes on: a token, a lease
 * that starts no later than now and ends after it started, reasons the documented ones.
 */
#include "coord/hs_lock_node.h"

#include <string.h>

#include "core/hs_assert.h"
#include "core/hs_sim.h"

static hs_time_ns now_of(const hs_lock_node *n) { return n->self->sim->now_ns; }

static void check_grant(const hs_lock_node *n, const hs_lock_grant *g) {
  HS_ASSERT(g->fencing_token > 0 && g->lock_len > 0 && g->lock);
  HS_ASSERT(g->lease_ns > 0 && g->expires_at_ns > g->granted_at_ns && g->granted_at_ns <= now_of(n));
  (void)n;
  (void)g;
}

static void cb_granted(void *ud, const hs_lock_grant *g) {
  hs_lock_node *n = ud;
  check_grant(n, g);
  if (n->hooks.granted) n->hooks.granted(n->hooks.ud, g);
}

static void cb_waiter_done(void *ud, uint64_t tag, int reason) {
  hs_lock_node *n = ud;
  HS_ASSERT(reason == HS_LOCK_ETIMEOUT || reason == HS_LOCK_ECRASHED || reason == HS_ENOMEM);
  if (n->hooks.waiter_done) n->hooks.waiter_done(n->hooks.ud, tag, reason);
}

static void cb_expired(void *ud, const hs_lock_grant *g) {
  hs_lock_node *n = ud;
  check_grant(n, g);
  HS_ASSERT(g->expires_at_ns <= now_of(n));
  if (n->hooks.expired) n->hooks.expired(n->hooks.ud, g);
}

static void cb_persist(void *ud, const char *name, size_t len, uint64_t token) {
  hs_lock_node *n = ud;
  HS_ASSERT(name && len > 0 && token > 0);
  if (n->hooks.persist_token) n->hooks.persist_token(n->hooks.ud, name, len, token);
}

static void cb_set_timer(void *ud, hs_time_ns at) {
  hs_lock_node *n = ud;
  if (at == HS_TIME_NEVER) {
    hs_timer_stop(&n->timer);
    return;
  }
  hs_time_ns now = now_of(n);
  hs_timer_start(&n->timer, at > now ? at - now : 0);
}

static void on_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  hs_lock_node *n = HS_CONTAINER_OF(t, hs_lock_node, timer);
  hs_lock_tick(n->server, now_of(n));
}

int hs_lock_node_init(hs_lock_node *n, hs_entity *self, const hs_lock_config *cfg, const hs_lock_node_hooks *hooks) {
  memset(n, 0, sizeof *n);
  n->self = self;
  if (hooks) n->hooks = *hooks;
  hs_timer_init(&n->timer, self, "LockDeadline", on_timer);
  hs_lock_config c;
  if (cfg) c = *cfg;
  else hs_lock_config_init(&c);
  c.cb = (hs_lock_callbacks){.granted = cb_granted,
                             .waiter_done = cb_waiter_done,
                             .expired = cb_expired,
                             .persist_token = cb_persist,
                             .set_timer = cb_set_timer};
  c.ud = n;
  return hs_lock_new(&c, &n->server);
}

void hs_lock_node_free(hs_lock_node *n) {
  hs_timer_stop(&n->timer);
  hs_lock_free(n->server);
  n->server = NULL;
}

int hs_lock_node_try_acquire(hs_lock_node *n, const char *lock, size_t lock_len, const char *requester,
                             size_t requester_len, hs_time_ns lease_ns, hs_lock_grant *out) {
  return hs_lock_try_acquire(n->server, now_of(n), lock, lock_len, requester, requester_len, lease_ns, out);
}

int hs_lock_node_acquire(hs_lock_node *n, const char *lock, size_t lock_len, const char *requester,
                         size_t requester_len, hs_time_ns lease_ns, hs_time_ns timeout_ns, uint64_t tag,
                         hs_lock_grant *out) {
  return hs_lock_acquire(n->server, now_of(n), lock, lock_len, requester, requester_len, lease_ns, timeout_ns, tag,
                         out);
}

int hs_lock_node_release(hs_lock_node *n, const char *lock, size_t lock_len, uint64_t token) {
  return hs_lock_release(n->server, now_of(n), lock, lock_len, token);
}

int hs_lock_node_renew(hs_lock_node *n, const char *lock, size_t lock_len, uint64_t token, hs_time_ns lease_ns,
                       hs_lock_grant *out) {
  return hs_lock_renew(n->server, now_of(n), lock, lock_len, token, lease_ns, out);
}

int hs_lock_node_cancel(hs_lock_node *n, const char *lock, size_t lock_len, uint64_t tag) {
  return hs_lock_cancel(n->server, now_of(n), lock, lock_len, tag);
}

/* The entity's timers are already stopped by hs_entity_crash; the core forgets its holders
 * and fails its waiters. */
void hs_lock_node_on_crash(hs_lock_node *n) { hs_lock_crash(n->server); }

void hs_lock_node_on_restart(hs_lock_node *n) { hs_lock_restart(n->server, now_of(n)); }
