/*
 * hs_paxos_node.h - a Paxos node as an entity of the simulator: the adapter between a Paxos
 * core (single-decree hs_paxos.h, or Multi-Paxos hs_mpaxos.h with Flexible Paxos quorums) and
 * the engine's timers, the network and a state machine. One adapter serves both cores; the
 * kind is fixed by the function that makes the core.
 *
 * The node's messages travel as network payload blobs: a plain envelope (net/hs_envelope.h)
 * and an hs_value string holding the hs_paxos_msg encoding, so interception and traces see
 * them like any other message. Message types on the network are "Prepare", "Promise",
 * "Accept", "Accepted", "Nack", "Chosen", "ChosenAck", "Heartbeat", "HeartbeatResponse".
 * A payload that does not decode, or that the core refuses as malformed, is counted
 * (hs_paxos_node_malformed), whoever sent it.
 *
 * MULTI-PAXOS. Chosen slots are applied, in slot order, to a state machine through hs_sm_ops
 * (sm/hs_sm.h), with client sessions (sm/hs_session.h): a command wrapped by
 * hs_session_begin is applied at most once per client request, whatever copies the network
 * or retries make. A read (hs_paxos_node_begin_read) is a log entry too: it takes a slot like
 * any command, changes nothing, and is answered, on the node that submitted it, from the
 * state machine as it stands once every earlier slot is applied - a linearizable read, at the
 * cost of one Paxos round. The owner hears of its requests through hooks: resolved (applied,
 * with its result), lost (not applied: another value took the slot, or this node crashed).
 *
 * DURABILITY. The cores keep their durable state (promises, accepted values, chosen flags,
 * the highest round used, a decision) in memory across hs_*_crash / hs_*_restart, which the
 * entity's crash and restart call: that memory is the node's disk, and survives the crash. The
 * volatile state goes; a restarted Multi-Paxos node resets its state machine (sm restore with
 * NULL, the sessions cleared) and applies its chosen prefix again.
 *
 * CHECKER. The owner puts an hs_paxos_checker (shared by the cluster) in the core's config: the
 * core reports every acceptance, choice and apply to it.
 *
 * The owner (the Lua binding, or a C test) embeds the node, gives it its entity, network, blob
 * pool, state machine and hooks, and forwards the entity's on_message/on_crash/on_restart.
 */
#ifndef HS_PAXOS_NODE_H
#define HS_PAXOS_NODE_H

#include "core/hs_blob.h"
#include "core/hs_value.h"
#include "net/hs_net.h"
#include "net/hs_node_kit.h"
#include "paxos/hs_mpaxos.h"
#include "paxos/hs_paxos.h"
#include "sm/hs_session.h"
#include "sm/hs_sm.h"

/* The first byte of a read's log entry (neither an hs_value tag nor HS_SESSION_TAG). */
#define HS_PAXOS_READ_TAG 0xC6

/* What the node tells its owner. All optional. */
typedef struct hs_paxos_node_hooks {
  /* Multi-Paxos: a command (or read) submitted here was applied at slot: its result
   * (encoded) or err (the state machine's message, or hs_session_expired_msg). */
  void (*resolved)(void *ud, uint64_t tag, uint64_t slot, hs_value result, const char *err);
  /* Multi-Paxos: a command submitted here will not be applied as submitted (reason:
   * HS_PAXOS_ELOST, HS_PAXOS_ECRASHED). */
  void (*lost)(void *ud, uint64_t tag, uint64_t slot, int reason);
  /* Multi-Paxos: the role or the known leader changed. */
  void (*role_changed)(void *ud, const hs_mpaxos_role_event *ev);
  /* Single-decree: the node learned the decision (the value's bytes, valid during the call). */
  void (*decided)(void *ud, const uint8_t *data, uint32_t len);
  /* A member id the node has no entity for yet: return it, or NULL (the message is lost). */
  hs_entity *(*resolve_peer)(void *ud, uint32_t id);
  void *ud;
} hs_paxos_node_hooks;

typedef struct hs_paxos_node {
  hs_node_kit kit;    /* its entity, network, blob pool, peers by member id (net/hs_node_kit.h) */
  hs_paxos *sd;       /* the single-decree core, or NULL */
  hs_mpaxos *mp;      /* the Multi-Paxos core, or NULL */
  hs_timer election, heartbeat; /* single-decree: `election` is its one timer */
  hs_sm_ops sm;
  hs_paxos_node_hooks hooks;
  hs_buf result;
  hs_paxos_value *values; /* decode buffer */
  uint32_t values_cap;
  uint64_t malformed;  /* payloads that did not decode (the core counts what it refuses) */
  uint64_t applied;    /* the last slot applied (checks the core's apply order) */
  uint64_t reads;      /* reads answered here */
  hs_sessions sessions;     /* client sessions: part of the state machine's state */
  hs_session_counts counts; /* duplicates answered, expired refused */
} hs_paxos_node;

/* Sets the node up (no core yet): its entity (whose timers it adds), network, blob pool and
 * hooks. Once per node. */
void hs_paxos_node_init(hs_paxos_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool,
                        const hs_paxos_node_hooks *hooks);
/* Makes the node's core - single-decree, or Multi-Paxos applying chosen slots to sm - replacing
 * one made before (which must not have started). cfg's callbacks and ud are set by the node;
 * the rest (id, members, quorums, times, rng, checker) is the caller's. HS_OK, HS_EINVAL,
 * HS_PAXOS_EQUORUM, HS_ENOMEM (the node then has no core). */
int hs_paxos_node_make_single(hs_paxos_node *n, hs_paxos_config *cfg);
int hs_paxos_node_make_multi(hs_paxos_node *n, hs_mpaxos_config *cfg, const hs_sm_ops *sm);
/* Frees what the node owns; touches neither the simulation nor its timers (it may be gone). */
void hs_paxos_node_free(hs_paxos_node *n);
/* The entity of member id `id` (a peer, or the node itself). HS_OK, HS_EINVAL, HS_ENOMEM. */
int hs_paxos_node_set_peer(hs_paxos_node *n, uint32_t id, hs_entity *e);
/* Starts the core (its timers armed); self must be registered with the network's simulation. */
int hs_paxos_node_start(hs_paxos_node *n);

void hs_paxos_node_on_message(hs_paxos_node *n, hs_message *m);
void hs_paxos_node_on_crash(hs_paxos_node *n);
void hs_paxos_node_on_restart(hs_paxos_node *n);

/* Whether the payload of m is a Paxos protocol message (else it is a client's). */
bool hs_paxos_node_is_protocol(const hs_message *m);

/* Multi-Paxos: submits an encoded command (or read) under tag; see hs_mpaxos_submit. */
int hs_paxos_node_submit(hs_paxos_node *n, const uint8_t *data, size_t len, uint64_t tag, uint64_t *slot_out);
/* Starts the log entry of a read in out (after what it holds): the encoded query is to follow. */
void hs_paxos_node_begin_read(hs_buf *out);
/* Single-decree: proposes an encoded value; starts a fresh round now. */
int hs_paxos_node_propose(hs_paxos_node *n, const uint8_t *data, size_t len);
int hs_paxos_node_start_round(hs_paxos_node *n);

/* Payloads refused as malformed: by the decoder here, or by the core. */
uint64_t hs_paxos_node_malformed(const hs_paxos_node *n);

#endif
