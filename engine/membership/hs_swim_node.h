/*
 * hs_swim_node.h - a SWIM member as an entity of the simulator: the adapter between the core
 * (hs_swim.h) and the engine's timers and network (the shape of hs_raft_node.h).
 *
 * Messages travel as network payloads in the envelope (net/hs_envelope.h: kind plain,
 * request id 0) with an hs_value string holding the hs_swim_msg encoding. Wire types: "Ping",
 * "Ack", "PingReq". Every output of the core is checked (HS_ASSERT) before it is acted on.
 *
 * A group shares one hs_swim_dir: the entity of each member id, and the decode buffer. Per
 * member the adapter adds one timer and a few pointers to the core, so ten thousand members
 * cost the core's tables and nothing per pair.
 *
 * The owner (the Lua binding's MembershipProtocol, or a C test) embeds the node, gives it its
 * entity, network, blob pool, directory, configuration and hooks, and forwards the entity's
 * on_message/on_crash/on_restart to hs_swim_node_on_message/_crash/_restart.
 */
#ifndef HS_SWIM_NODE_H
#define HS_SWIM_NODE_H

#include "core/hs_blob.h"
#include "membership/hs_swim.h"
#include "net/hs_net.h"

/* Shared by the members of a group. */
typedef struct hs_swim_dir {
  hs_entity **by_id;
  uint32_t cap;
  hs_swim_update updates[HS_SWIM_MAX_UPDATES]; /* decode buffer (one message at a time) */
} hs_swim_dir;

void hs_swim_dir_init(hs_swim_dir *d);
void hs_swim_dir_free(hs_swim_dir *d);
/* The entity of member `id`. HS_OK, HS_EINVAL (id 0), HS_ENOMEM. */
int hs_swim_dir_set(hs_swim_dir *d, uint32_t id, hs_entity *e);
static inline hs_entity *hs_swim_dir_get(const hs_swim_dir *d, uint32_t id) {
  return id < d->cap ? d->by_id[id] : NULL;
}

typedef struct hs_swim_node_hooks {
  void (*member_changed)(void *ud, const hs_swim_member_event *ev); /* while the core runs */
  void (*persist_incarnation)(void *ud, uint32_t incarnation);
  /* After a message or the timer, once the core has returned: the owner may act on what
   * member_changed reported (call into the member, crash it, run Lua code). Optional. */
  void (*after_core)(void *ud);
  void *ud;
} hs_swim_node_hooks;

typedef struct hs_swim_node {
  hs_entity *self;
  hs_net *net;
  hs_blob_pool *pool; /* the network's payload pool */
  hs_swim_dir *dir;
  hs_swim *swim;
  hs_timer timer;
  hs_swim_node_hooks hooks;
  uint32_t in_core;   /* calls from this adapter into the core now running */
  uint64_t malformed; /* messages that failed to decode or were refused by the core */
} hs_swim_node;

/* cfg's callbacks and ud are set by the node; self must be registered with the network's
 * simulation, and its id set in dir (members without an entity in dir lose their messages).
 * HS_OK, HS_EINVAL, HS_ENOMEM. */
int hs_swim_node_init(hs_swim_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_swim_dir *dir,
                      hs_swim_config *cfg, const hs_swim_node_hooks *hooks);
void hs_swim_node_free(hs_swim_node *n);
int hs_swim_node_start(hs_swim_node *n);

void hs_swim_node_on_message(hs_swim_node *n, hs_message *m);
void hs_swim_node_on_crash(hs_swim_node *n);
void hs_swim_node_on_restart(hs_swim_node *n);

bool hs_swim_node_is_protocol(const hs_message *m);

#endif
