/*
 * hs_node_kit.h - what every adapter between a protocol core and the simulator does with the
 * engine (hs_raft_node, hs_paxos_node, hs_elect_node): a table of the members' entities by
 * member id, a core's message sent as a plain envelope and an hs_value string
 * (net/hs_envelope.h), a timer armed at an absolute time, and the bracket around the calls
 * into the core that the engine drives. An adapter embeds an hs_node_kit.
 */
#ifndef HS_NODE_KIT_H
#define HS_NODE_KIT_H

#include "core/hs_assert.h"
#include "core/hs_blob.h"
#include "net/hs_net.h"

typedef struct hs_node_kit {
  hs_entity *self;
  hs_net *net;
  hs_blob_pool *pool; /* the network's payload pool (its release op frees into it) */
  hs_entity **peers;  /* by member id (0 is no member) */
  uint32_t peer_cap;
  uint32_t in_core; /* calls from the adapter into the core now running (0 or 1) */
} hs_node_kit;

/* A member id the adapter has no entity for (a member added later): the owner's hook returns
 * its entity, or NULL. */
typedef hs_entity *(*hs_node_kit_resolve_fn)(void *ud, uint32_t id);
/* Writes a core's message m into out (size bytes, as announced); returns the bytes written. */
typedef size_t (*hs_node_kit_encode_fn)(const void *m, uint8_t *out, size_t size);

/* Sets k up for the entity self on net, with the network's blob pool (no member yet). */
void hs_node_kit_init(hs_node_kit *k, hs_entity *self, hs_net *net, hs_blob_pool *pool);
/* Frees the member table; touches neither the simulation nor the network. */
void hs_node_kit_free(hs_node_kit *k);

/* The entity of member `id` (a peer, or the node itself). HS_OK, HS_EINVAL (id 0), HS_ENOMEM. */
int hs_node_kit_set_peer(hs_node_kit *k, uint32_t id, hs_entity *e);
/* Forgets every member's entity (the table keeps its size). */
void hs_node_kit_clear_peers(hs_node_kit *k);
/* The entity of member `id`: from the table, else from resolve (when not NULL), which the
 * table then keeps; NULL when unknown. */
hs_entity *hs_node_kit_peer(hs_node_kit *k, uint32_t id, hs_node_kit_resolve_fn resolve, void *ud);

/* Sends message m of `size` encoded bytes to `to` as a message of type `type`: a payload from
 * the pool holding the header and encode's bytes. A message too large, a payload not allocated
 * or a send refused is dropped, as if it were lost. */
void hs_node_kit_send(hs_node_kit *k, hs_entity *to, const char *type, const void *m, size_t size,
                      hs_node_kit_encode_fn encode);
/* Arms t to fire at the absolute time `at` (at once when it is past), or stops it when at is
 * HS_TIME_NEVER. */
void hs_node_kit_arm(hs_node_kit *k, hs_timer *t, hs_time_ns at);

/* Whether the payload of m has the shape of a protocol message (else it is a client's). */
bool hs_node_kit_is_protocol(const hs_message *m);

static inline hs_time_ns hs_node_kit_now(const hs_node_kit *k) { return k->self->sim->now_ns; }

/* Brackets the adapter's calls into the core that the engine drives (messages, timers). */
static inline void hs_node_kit_enter(hs_node_kit *k) {
  HS_ASSERT(k->in_core == 0); /* no message or timer while the core runs a call */
  k->in_core++;
}

static inline void hs_node_kit_leave(hs_node_kit *k) { k->in_core--; }

#endif
