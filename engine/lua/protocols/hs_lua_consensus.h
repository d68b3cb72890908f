/*
 * hs_lua_consensus.h - the part RaftNode and the Paxos nodes share of their bindings: the
 * threads Lua calls and hooks run on, the node's state table, its pending client requests
 * (kept by tag in state.futures, settled by protocols/hs_lua_request.h), a command's client
 * session and the common steps of construction. Each node's userdata embeds an hs_lcons.
 */
#ifndef HS_LUA_CONSENSUS_H
#define HS_LUA_CONSENSUS_H

#include "hs_lua_centity.h"
#include "hs_lua_net.h"
#include "protocols/hs_lua_protocols.h"
#include "protocols/hs_lua_request.h"
#include "protocols/hs_lua_sm.h"

typedef struct hs_lcons {
  hs_entity *e;           /* the node */
  hs_lnet *ln;            /* its network */
  lua_State *L;           /* thread of the Lua call into the node now, if any */
  lua_State *main;        /* the main thread: for calls into the node while the simulation is idle */
  const char *states_key; /* registry: weak map lightuserdata(this hs_lcons) -> the state table */
  uint64_t next_tag;      /* the last pending request's tag */
  hs_buf cmd;             /* the command being encoded */
  hs_lsm lsm;             /* its state machine (protocols/hs_lua_sm.h) */
} hs_lcons;

/* Sets c up for the node e on ln (the main thread taken from L); pair with hs_lcons_free. */
void hs_lcons_init(lua_State *L, hs_lcons *c, hs_entity *e, hs_lnet *ln, const char *states_key);
void hs_lcons_free(hs_lcons *c);
/* Registers the weak map of the state tables under states_key. */
void hs_lcons_open(lua_State *L, const char *states_key);

/* ---- threads ---- */

/* The thread to run hooks on: the Lua call into the node now, else the running simulation's,
 * else (an idle simulation: node:crash() / node:restart() between runs) the main thread, so
 * that futures settle and Lua state machines restore even then. */
lua_State *hs_lcons_thread(const hs_lcons *c);

/* A Lua call into the node (submit, read, campaign ...): hooks run on its thread, and the
 * messages the node sends meanwhile go through the network's filter on it too (even between
 * runs). hs_lcons_leave restores the outer call's threads and raises a filter error left
 * meanwhile. */
typedef struct hs_lcons_call {
  lua_State *node_L, *net_L;
} hs_lcons_call;

hs_lcons_call hs_lcons_enter(hs_lcons *c, lua_State *L);
void hs_lcons_leave(hs_lcons *c, lua_State *L, hs_lcons_call saved);

/* ---- the state table ---- */

/* Pushes the node's state table (found by the weak map, else by entity id). */
void hs_lcons_push_state(lua_State *L, hs_lcons *c);
/* Records the state table at state_idx in the weak map (at attach). */
void hs_lcons_bind_state(lua_State *L, hs_lcons *c, int state_idx);
/* Pushes a new state table of nrec fields: sm (at sm_idx), futures, history, network (at
 * net_idx), peers (at peers_idx), checker (field of the options at 1), new_future. */
void hs_lcons_new_state(lua_State *L, int nrec, int sm_idx, int net_idx, int peers_idx);
/* Pushes a new entry { time =, role = } of the history and the history below it; append it
 * with hs_lcons_add_history. */
void hs_lcons_push_history(lua_State *L, hs_lcons *c, hs_time_ns now, const char *role);
void hs_lcons_add_history(lua_State *L);

/* ---- pending requests ---- */

/* Stores `pending` (the value on top, popped) under a new tag and returns the tag. */
uint64_t hs_lcons_add_pending(lua_State *L, hs_lcons *c);
/* The same for a method call, where the node is argument 1 (no lookup by entity id). */
uint64_t hs_lcons_add_pending_arg1(lua_State *L, hs_lcons *c);
/* Pushes and clears futures[tag]; returns its type (nil when unknown). */
int hs_lcons_take_pending(lua_State *L, hs_lcons *c, uint64_t tag);
/* The thread to settle request `tag` on, with its pending value pushed; NULL when there is
 * no thread or no such request (already settled). */
lua_State *hs_lcons_pending(hs_lcons *c, uint64_t tag);
/* Settles a pending request (protocols/hs_lua_request.h). Pops everything. */
void hs_lcons_settle(lua_State *L, hs_lcons *c, int ok, int nvalues);

/* Pushes a new Future, made by the new_future function the state table keeps (the node is
 * argument 1). */
void hs_lcons_push_future(lua_State *L);
/* Pushes { future = <new Future> } and the Future. */
void hs_lcons_push_pending_future(lua_State *L);

/* node:submit(cmd [, session]), the common part: encodes the command at 2 into c->cmd after
 * the session envelope of argument 3, { client = <name>, request_id = <integer >= 1> }, checks
 * it with the state machine (a command it would refuse never enters the log), pushes the
 * Future (at 3) and keeps it as the pending request. Returns its tag. */
uint64_t hs_lcons_begin_submit(lua_State *L, hs_lcons *c);

/* Settles the pending value on top with an invalid_command error, and returns 1, when the
 * state machine refuses the command of the "submit" request m; else returns 0. */
int hs_lcons_refuse_command(lua_State *L, hs_lcons *c, const hs_message *m);

/* ---- construction and fields ---- */

/* The common options of a node's constructor (options table at 1): pushes its network (2),
 * its simulation or nil while the network is not attached (3) and its name or nil (4); sets
 * *name. Returns the network. */
hs_lnet *hs_lcons_check_network(lua_State *L, const char **name);
/* Integer field `field` of the options at 1, dflt when absent; raises unless in [lo, hi]. */
lua_Integer hs_lcons_field_count(lua_State *L, const char *field, lua_Integer dflt, lua_Integer lo, lua_Integer hi);
/* Sets the fields command (and client, request_id of a client session) of the log entry table
 * on top from a normal entry's bytes, when they decode. */
void hs_lcons_set_command(lua_State *L, const uint8_t *data, uint32_t len);

#endif
