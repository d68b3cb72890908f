/*
 * hs_repl_node.h - the replication cores as entities of the simulator: the adapters between
 * hs_pb.h, hs_chain.h, hs_ml.h, hs_repl_master.h and the engine's timers and network, in the
 * shape of hs_raft_node.h. They use only the public headers of engine/core and engine/net.
 *
 * WIRE. Protocol messages travel as network payload blobs in the Lua binding's format: a
 * 9-byte header (kind plain, request id 0) and an hs_value string holding the hs_repl_msg
 * encoding, under the type names of hs_repl_msg_wire_name ("Replicate", "Propagate", ...), so
 * interception and traces see them like any other message. A payload that does not decode is
 * counted (malformed) and dropped.
 *
 * CLIENTS OVER THE NETWORK. A request (header kind 1, request id) of type "Write" with the body
 * { key = <string>, value = <any> }, or "Read" with { key = <string> }, is answered (kind 2,
 * the same request id) with { ok = true, value = <value or absent> } (a multi-leader key with
 * several siblings: value = the array of their values, siblings = their count), or
 * { ok = false, error = { code =, message =, leader = <name of the node to ask> } }, the codes
 * of hs_repl_error_code. Every request accepted is answered exactly once (a crash answers
 * nothing: the client's timeout sees to it); a malformed one gets code "bad_request".
 *
 * CLIENTS IN PROCESS. hs_*_node_write / _read take a tag: a refusal is returned at once (with
 * hs_*_node_hint for the node to ask); otherwise hooks.done(tag, ...) follows exactly once,
 * maybe before the call returns. A binding (or a test) wraps these in futures.
 *
 * OWNERSHIP. The owner (the Lua binding, or a C test) embeds a node, gives it its entity, the
 * network, the network's blob pool (the payload release op frees into it) and hooks, maps the
 * ids of the other nodes (and of the master) to entities with hs_*_node_set_peer (or answers
 * hooks.resolve_peer), and forwards the entity's on_message/on_crash/on_restart.
 */
#ifndef HS_REPL_NODE_H
#define HS_REPL_NODE_H

#include "core/hs_blob.h"
#include "core/hs_value.h"
#include "net/hs_net.h"
#include "repl/hs_chain.h"
#include "repl/hs_ml.h"
#include "repl/hs_pb.h"
#include "repl/hs_repl_master.h"

typedef struct hs_repl_node_hooks {
  /* An in-process request ended: status HS_OK (value: the encoded value read, len 0 when
   * none or for a write; version: the write's sequence number, or the version read) or an
   * HS_REPL_ code. For a multi-leader read with n siblings, value is an encoded array. */
  void (*done)(void *ud, uint64_t tag, int status, hs_value value, uint64_t version);
  /* An id the node has no entity for (a node added later): return it, or NULL. */
  hs_entity *(*resolve_peer)(void *ud, uint32_t id);
  void *ud;
} hs_repl_node_hooks;

/* A pending request: an in-process one (its tag), or a network client's. */
typedef struct hs_repl_req {
  uint64_t key;      /* the core's tag; 0: a free slot */
  uint64_t user_tag;
  hs_entity *client; /* NULL: in process */
  uint64_t request_id;
  const char *type;
} hs_repl_req;

/* What every adapter shares: the entity, the network, the peers, one timer, the wire. */
typedef struct hs_repl_port {
  hs_entity *self;
  hs_net *net;
  hs_blob_pool *pool;
  hs_timer timer;
  hs_entity **peers; /* by id */
  uint32_t peer_cap;
  hs_repl_decoder dec;
  hs_buf out; /* reply encoding */
  hs_repl_req *reqs; /* open addressing by core tag */
  uint32_t reqs_cap, reqs_n;
  uint64_t next_tag;
  uint64_t malformed;    /* protocol payloads that did not decode */
  uint64_t bad_requests; /* client requests that were not Write/Read with a string key */
  hs_repl_node_hooks hooks;
  int (*tick)(void *core, hs_time_ns now);
  void *core;
} hs_repl_port;

/* ---- primary-backup ---------------------------------------------------------------------------- */

typedef struct hs_pb_node {
  hs_repl_port port;
  hs_pb *pb;
} hs_pb_node;

/* cfg's callbacks and ud are set by the node; the rest is the caller's. self must be
 * registered with the network's simulation. HS_OK, HS_EINVAL, HS_ENOMEM. */
int hs_pb_node_init(hs_pb_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_pb_config *cfg,
                    const hs_repl_node_hooks *hooks);
void hs_pb_node_free(hs_pb_node *n);
int hs_pb_node_set_peer(hs_pb_node *n, uint32_t id, hs_entity *e);
int hs_pb_node_start(hs_pb_node *n);
void hs_pb_node_on_message(hs_pb_node *n, hs_message *m);
void hs_pb_node_on_crash(hs_pb_node *n);
void hs_pb_node_on_restart(hs_pb_node *n);
int hs_pb_node_write(hs_pb_node *n, const void *key, size_t key_len, const void *value, size_t value_len, uint64_t tag);
int hs_pb_node_read(hs_pb_node *n, const void *key, size_t key_len, uint64_t tag);
/* The node to ask instead (the primary of this node's view), or NULL. */
hs_entity *hs_pb_node_hint(hs_pb_node *n);

/* ---- chain / CRAQ ------------------------------------------------------------------------------- */

typedef struct hs_chain_node {
  hs_repl_port port;
  hs_chain *chain;
} hs_chain_node;

int hs_chain_node_init(hs_chain_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_chain_config *cfg,
                       const hs_repl_node_hooks *hooks);
void hs_chain_node_free(hs_chain_node *n);
int hs_chain_node_set_peer(hs_chain_node *n, uint32_t id, hs_entity *e);
int hs_chain_node_start(hs_chain_node *n);
void hs_chain_node_on_message(hs_chain_node *n, hs_message *m);
void hs_chain_node_on_crash(hs_chain_node *n);
void hs_chain_node_on_restart(hs_chain_node *n);
int hs_chain_node_write(hs_chain_node *n, const void *key, size_t key_len, const void *value, size_t value_len,
                        uint64_t tag);
int hs_chain_node_read(hs_chain_node *n, const void *key, size_t key_len, uint64_t tag);
/* The head (for a refused write) or the tail (for a refused read), or NULL. */
hs_entity *hs_chain_node_hint(hs_chain_node *n, bool for_write);

/* ---- multi-leader -------------------------------------------------------------------------------- */

typedef struct hs_ml_node {
  hs_repl_port port;
  hs_ml *ml;
} hs_ml_node;

/* cfg.resolver is the caller's (a Lua resolver plugs in there). */
int hs_ml_node_init(hs_ml_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_ml_config *cfg,
                    const hs_repl_node_hooks *hooks);
void hs_ml_node_free(hs_ml_node *n);
int hs_ml_node_set_peer(hs_ml_node *n, uint32_t id, hs_entity *e);
int hs_ml_node_start(hs_ml_node *n);
void hs_ml_node_on_message(hs_ml_node *n, hs_message *m);
void hs_ml_node_on_crash(hs_ml_node *n);
void hs_ml_node_on_restart(hs_ml_node *n);
int hs_ml_node_write(hs_ml_node *n, const void *key, size_t key_len, const void *value, size_t value_len, uint64_t tag);
int hs_ml_node_read(hs_ml_node *n, const void *key, size_t key_len, uint64_t tag);

/* ---- the configuration master -------------------------------------------------------------------- */

typedef struct hs_master_node {
  hs_repl_port port;
  hs_repl_master *master;
} hs_master_node;

int hs_master_node_init(hs_master_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool,
                        hs_repl_master_config *cfg, const hs_repl_node_hooks *hooks);
void hs_master_node_free(hs_master_node *n);
int hs_master_node_set_peer(hs_master_node *n, uint32_t id, hs_entity *e);
int hs_master_node_start(hs_master_node *n);
void hs_master_node_on_message(hs_master_node *n, hs_message *m);

/* ---- the shared part (hs_repl_node.c) -------------------------------------------------------------- */

int hs_repl_port_init(hs_repl_port *p, hs_entity *self, hs_net *net, hs_blob_pool *pool,
                      const hs_repl_node_hooks *hooks);
void hs_repl_port_free(hs_repl_port *p);
int hs_repl_port_set_peer(hs_repl_port *p, uint32_t id, hs_entity *e);
hs_entity *hs_repl_port_peer(hs_repl_port *p, uint32_t id);
/* The cores' send and set_timer callbacks (ud: the port). */
void hs_repl_port_send(void *ud, const hs_repl_msg *m);
void hs_repl_port_set_timer(void *ud, hs_time_ns at_ns);
/* Whether the payload of m is a protocol message (else a client's). */
bool hs_repl_port_is_protocol(const hs_message *m);
/* Whether m is a client's request (kind 1). */
bool hs_repl_port_is_request(const hs_message *m);
/* Decodes a protocol message into *out (valid until the next decode); false when malformed. */
bool hs_repl_port_decode(hs_repl_port *p, hs_message *m, hs_repl_msg *out);
static inline hs_time_ns hs_repl_port_now(const hs_repl_port *p) { return p->self->sim->now_ns; }

/* A client's request, parsed: its type, key and (writes) value. */
typedef struct hs_repl_client_req {
  bool write;
  const uint8_t *key;
  uint32_t key_len;
  const uint8_t *value;
  uint32_t value_len;
} hs_repl_client_req;

/* Parses a network client's request; a malformed one is answered "bad_request" and false
 * returned. */
bool hs_repl_port_parse(hs_repl_port *p, hs_message *m, hs_repl_client_req *req);
/* Records a pending request under a fresh core tag (returned; 0 when out of memory): a
 * network client's (m) or an in-process one (m NULL, user_tag). */
uint64_t hs_repl_port_pend(hs_repl_port *p, hs_message *m, uint64_t user_tag);
/* Ends the pending request of core tag `tag` (nothing when unknown): an in-process one through
 * hooks.done, a network client's with a reply. hint: the node to ask, for refusals. */
void hs_repl_port_finish(hs_repl_port *p, uint64_t tag, int status, hs_value value, uint64_t version,
                         hs_entity *hint);
/* The same for a multi-leader read with n > 1 sibling values (encoded as an array). */
void hs_repl_port_finish_siblings(hs_repl_port *p, uint64_t tag, const hs_ml_version *v, uint32_t n);
/* Forgets one pending request without an answer (an in-process request refused at once). */
void hs_repl_port_forget(hs_repl_port *p, uint64_t tag);
/* Forgets every pending request without an answer (a crash). */
void hs_repl_port_drop_pending(hs_repl_port *p);

#endif
