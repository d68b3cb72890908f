/*
 * hs_raft_node.h - a Raft node as an entity of the simulator: the adapter between the
 * protocol core (hs_raft.h) and the engine's timers, the network and a state machine.
 *
 * The node's messages travel as network payload blobs: a plain envelope (net/hs_envelope.h)
 * and an hs_value string holding the hs_raft_msg encoding, so interception and traces see
 * them like any other message.
 * Message types on the network are "RequestVote", "AppendEntries", ...
 *
 * The owner (the Lua binding, or a C test) embeds the node, gives it its entity, network,
 * blob pool, state machine and hooks, and forwards the entity's on_message/on_crash/
 * on_restart to hs_raft_node_on_message/_crash/_restart.
 */
#ifndef HS_RAFT_NODE_H
#define HS_RAFT_NODE_H

#include "core/hs_blob.h"
#include "core/hs_value.h"
#include "net/hs_net.h"
#include "net/hs_node_kit.h"
#include "raft/hs_raft.h"
#include "raft/hs_raft_invariants.h"
#include "sm/hs_session.h"
#include "sm/hs_sm.h"

/* What the node tells its owner. All optional. */
typedef struct hs_raft_node_hooks {
  /* A proposal made on this node was applied: result (encoded) or err. */
  void (*resolved)(void *ud, uint64_t tag, uint64_t index, hs_value result, const char *err);
  /* A proposal made on this node will not be applied as proposed (reason: HS_RAFT_E*). */
  void (*lost)(void *ud, uint64_t tag, uint64_t index, int reason);
  void (*read_done)(void *ud, uint64_t request_id, uint64_t read_index, int status);
  void (*role_changed)(void *ud, const hs_raft_role_event *ev);
  /* A leadership transfer started here ended (status: see hs_raft_callbacks.transfer_done). */
  void (*transfer_done)(void *ud, uint64_t tag, int status);
  /* A peer id the node has no entity for (a member added later): return it, or NULL. */
  hs_entity *(*resolve_peer)(void *ud, uint32_t id);
  void *ud;
} hs_raft_node_hooks;

typedef struct hs_raft_node {
  hs_node_kit kit; /* its entity, network, blob pool, peers by raft id (net/hs_node_kit.h) */
  hs_raft *raft;
  hs_timer election, heartbeat;
  hs_sm_ops sm;
  hs_raft_node_hooks hooks;
  hs_raft_invariants *invariants; /* optional, shared by a cluster */
  hs_buf result;
  hs_raft_entry *entries; /* decode buffer */
  uint32_t entries_cap;
  uint64_t malformed; /* messages (or snapshots) that failed to decode */
  uint64_t applied;   /* the state machine's last applied index (checks the core's apply order) */
  hs_sessions sessions; /* client sessions: part of the state machine's state */
  hs_session_counts counts;  /* session commands answered as duplicates, or refused as expired */
} hs_raft_node;

/* cfg's callbacks and ud are set by the node; the rest (id, voters, timeouts ...) is the
 * caller's. self must be registered with the network's simulation. HS_OK, HS_EINVAL,
 * HS_ENOMEM. */
int hs_raft_node_init(hs_raft_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_raft_config *cfg,
                      const hs_sm_ops *sm, const hs_raft_node_hooks *hooks);
void hs_raft_node_free(hs_raft_node *n);
/* The entity of raft id `id` (a peer, or the node itself). */
int hs_raft_node_set_peer(hs_raft_node *n, uint32_t id, hs_entity *e);
int hs_raft_node_start(hs_raft_node *n);

void hs_raft_node_on_message(hs_raft_node *n, hs_message *m);
void hs_raft_node_on_crash(hs_raft_node *n);
void hs_raft_node_on_restart(hs_raft_node *n);

/* Whether the payload of m is a Raft protocol message (else it is a client's). */
bool hs_raft_node_is_protocol(const hs_message *m);

/* Has inv watch this node's core (named after its entity), fed from its callbacks. A node
 * is watched by one set of invariants at most. HS_OK, HS_EBUSY (watched already), HS_ENOMEM. */
int hs_raft_node_watch(hs_raft_node *n, hs_raft_invariants *inv);

#endif
