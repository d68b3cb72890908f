/*
 * hs_elect_node.h - a leader-election node as an entity of the simulator: the adapter between
 * the core (hs_elect.h) and the engine's timers and network (the shape of hs_raft_node.h).
 *
 * Messages travel as network payloads in the envelope (net/hs_envelope.h: kind plain,
 * request id 0) with an hs_value string holding the hs_elect_msg encoding, so interception
 * and traces see them like any other message. Every output of the core is checked
 * (HS_ASSERT) before it is acted on. Wire types: "LeaderHeartbeat",
 * "LeaderHeartbeatAck", "BullyElection", "BullyAnswer", "RingElection", "RingAck", "Vote",
 * "VoteResponse", "Election" (a binding strategy's own messages).
 *
 * The owner (the Lua binding's LeaderElection, or a C test) embeds the node, gives it its
 * entity, network, blob pool, configuration (with a strategy) and hooks, and forwards the
 * entity's on_message/on_crash/on_restart to hs_elect_node_on_message/_crash/_restart. A
 * strategy written in Lua is an hs_elect_strategy whose ops call Lua (see hs_elect.h).
 */
#ifndef HS_ELECT_NODE_H
#define HS_ELECT_NODE_H

#include "coord/hs_elect.h"
#include "coord/hs_elect_invariants.h"
#include "core/hs_blob.h"
#include "net/hs_net.h"
#include "net/hs_node_kit.h"

/* What the node tells its owner. All optional. */
typedef struct hs_elect_node_hooks {
  void (*leader_changed)(void *ud, const hs_elect_leader_event *ev);
  void (*confirmed)(void *ud, uint64_t epoch, hs_time_ns now);
  /* The durable (epoch, backed) changed: the core keeps it across crash/restart itself; an
   * owner that rebuilds nodes stores it and gives it back with hs_elect_load_state. */
  void (*persist)(void *ud, uint64_t epoch, uint32_t backed);
  /* A member id the node has no entity for: return it, or NULL (the message is lost). */
  hs_entity *(*resolve_peer)(void *ud, uint32_t id);
  void *ud;
} hs_elect_node_hooks;

typedef struct hs_elect_node {
  hs_node_kit kit; /* its entity, network, blob pool, peers by member id (net/hs_node_kit.h) */
  hs_elect *elect;
  hs_timer core, strategy;
  hs_elect_node_hooks hooks;
  hs_elect_invariants *invariants; /* optional, shared by a group (hs_elect_node_watch) */
  uint64_t malformed; /* messages that failed to decode or were refused by the core */
} hs_elect_node;

/* cfg's callbacks and ud are set by the node; the rest (id, members, strategy ...) is the
 * caller's (the strategy is owned by the node even on failure). self must be registered
 * with the network's simulation. HS_OK, HS_EINVAL, HS_ENOMEM. */
int hs_elect_node_init(hs_elect_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_elect_config *cfg,
                       const hs_elect_node_hooks *hooks);
void hs_elect_node_free(hs_elect_node *n);
/* The entity of member `id` (a peer, or the node itself). */
int hs_elect_node_set_peer(hs_elect_node *n, uint32_t id, hs_entity *e);
int hs_elect_node_start(hs_elect_node *n);

void hs_elect_node_on_message(hs_elect_node *n, hs_message *m);
void hs_elect_node_on_crash(hs_elect_node *n);
void hs_elect_node_on_restart(hs_elect_node *n);

/* Whether the payload of m has the shape of a protocol message (else it is a client's). */
bool hs_elect_node_is_protocol(const hs_message *m);

/* Feeds the node's leader and persist events to shared invariants (hs_elect_invariants.h); a
 * node is watched by one set at most. HS_OK, HS_EBUSY (watched already), HS_ENOMEM. */
int hs_elect_node_watch(hs_elect_node *n, hs_elect_invariants *inv);

#endif
