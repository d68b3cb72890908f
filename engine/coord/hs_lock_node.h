/*
 * hs_lock_node.h - a lock server as an entity of the simulator: the adapter between the core
 * (hs_lock.h) and the engine's clock and timers.
 *
 * The owner (the Lua binding's DistributedLock, or a C test) embeds the node with its entity,
 * forwards the entity's on_crash/on_restart to hs_lock_node_on_crash/_restart, and calls the
 * requests below, which read the simulation's clock. One engine timer follows the core's next
 * deadline, so leases expire and waiters time out in simulated time without anybody polling.
 * The core's callbacks come out through the hooks (all optional).
 */
#ifndef HS_LOCK_NODE_H
#define HS_LOCK_NODE_H

#include "coord/hs_lock.h"
#include "core/hs_entity.h"

typedef struct hs_lock_node_hooks {
  void (*granted)(void *ud, const hs_lock_grant *g);
  void (*waiter_done)(void *ud, uint64_t tag, int reason);
  void (*expired)(void *ud, const hs_lock_grant *g);
  void (*persist_token)(void *ud, const char *name, size_t len, uint64_t token);
  void *ud;
} hs_lock_node_hooks;

typedef struct hs_lock_node {
  hs_entity *self; /* registered with its simulation before any request */
  hs_lock_server *server;
  hs_timer timer;
  hs_lock_node_hooks hooks;
} hs_lock_node;

/* cfg's callbacks and ud are set by the node. HS_OK, HS_EINVAL, HS_ENOMEM. */
int hs_lock_node_init(hs_lock_node *n, hs_entity *self, const hs_lock_config *cfg, const hs_lock_node_hooks *hooks);
void hs_lock_node_free(hs_lock_node *n);

/* The core's requests at the simulation's now (see hs_lock.h for codes). */
int hs_lock_node_try_acquire(hs_lock_node *n, const char *lock, size_t lock_len, const char *requester,
                             size_t requester_len, hs_time_ns lease_ns, hs_lock_grant *out);
int hs_lock_node_acquire(hs_lock_node *n, const char *lock, size_t lock_len, const char *requester,
                         size_t requester_len, hs_time_ns lease_ns, hs_time_ns timeout_ns, uint64_t tag,
                         hs_lock_grant *out);
int hs_lock_node_release(hs_lock_node *n, const char *lock, size_t lock_len, uint64_t token);
int hs_lock_node_renew(hs_lock_node *n, const char *lock, size_t lock_len, uint64_t token, hs_time_ns lease_ns,
                       hs_lock_grant *out);
int hs_lock_node_cancel(hs_lock_node *n, const char *lock, size_t lock_len, uint64_t tag);

void hs_lock_node_on_crash(hs_lock_node *n);
void hs_lock_node_on_restart(hs_lock_node *n);

#endif
