/*
 * hs_lua_repl.h - what the replication bindings share (issue 12): the userdata of every
 * replication node type (hs.PrimaryNode, hs.BackupNode, hs.ReplicationMaster in
 * hs_lua_pb_node.c and hs_lua_repl_master.c; hs.ChainNode in hs_lua_chain_node.c;
 * hs.LeaderNode in hs_lua_ml_node.c) over the adapters of engine/repl/hs_repl_node.h, and the
 * machinery in hs_lua_repl.c: node ids by name, requests as Futures, crash handling, start.
 * Private to those files.
 *
 * A node's class user value HS_CENTITY_UV is its state table: { futures = { tag -> pending },
 * new_future =, network =, ... and what each kind keeps (peers, members, resolver ...) }. A
 * pending request is { future =, read = bool, write = bool }.
 */
#ifndef HS_LUA_REPL_H
#define HS_LUA_REPL_H

#include "hs_lua_centity.h"
#include "hs_lua_net.h"
#include "protocols/hs_lua_protocols.h"
#include "repl/hs_repl_node.h"

enum { LREPL_PB = 0, LREPL_CHAIN, LREPL_ML, LREPL_MASTER };

typedef struct lrepl {
  hs_lua_centity base;
  int kind;
  union {
    hs_repl_port port; /* every adapter starts with its port */
    hs_pb_node pb;
    hs_chain_node ch;
    hs_ml_node ml;
    hs_master_node ms;
  } u;
  union { /* the options, checked at construction; ids and callbacks set at attach */
    hs_pb_config pb;
    hs_chain_config ch;
    hs_ml_config ml;
    hs_repl_master_config ms;
  } cfg;
  int inited;        /* u holds an initialised adapter (attach ran) */
  int started;
  int start_deferred; /* node:start() while detached: done when attached */
  int lua_resolver;  /* LeaderNode: its resolver is Lua code (state.resolver) */
  hs_lnet *ln;
  lua_State *L;    /* the thread of the Lua call into the node now, if any */
  lua_State *main; /* the main thread, for hooks while the simulation is idle */
  uint64_t next_tag;
  hs_buf buf; /* scratch encoding */
} lrepl;

/* A Lua call into the node: hooks run on its thread, sends go through the network's filter on it. */
typedef struct lrepl_call {
  lua_State *node_L, *net_L;
} lrepl_call;

lrepl_call hs_lrepl_enter(lrepl *r, lua_State *L);
/* Restores the outer call's threads and raises an error a filter or a hook left meanwhile. */
void hs_lrepl_leave(lrepl *r, lua_State *L, lrepl_call saved);
/* The thread hooks run on now (the Lua call, the running simulation's, else the main one). */
lua_State *hs_lrepl_thread(lrepl *r);

/* The replication node (of any kind) at idx, or NULL. */
lrepl *hs_lrepl_test(lua_State *L, int idx);
/* The live, attached node of class cls at idx (raises otherwise). */
lrepl *hs_lrepl_check(lua_State *L, int idx, const hs_lua_class *cls);
/* The name of a node argument at idx (a replication node or a string), or NULL. */
const char *hs_lrepl_name_of(lua_State *L, int idx);
/* The simulation-wide id of a node name (assigned on first sight; shared by every replication
 * node of the simulation ls). */
uint32_t hs_lrepl_id(lua_State *L, hs_lsim *ls, const char *name);
/* The name of id, or NULL. */
const char *hs_lrepl_id_name(lrepl *r, uint32_t id);
/* Pushes the name of id (nil when unknown). */
void hs_lrepl_push_id_name(lua_State *L, lrepl *r, uint32_t id);
/* Checks a list of nodes or names at field `field` of the options at 1 (nil allowed unless
 * required); at most HS_REPL_MAX_NODES items. */
void hs_lrepl_check_list(lua_State *L, const char *field, int required);
/* Pushes a list of the names of the list at idx (nodes or names), leaving out `skip`. */
void hs_lrepl_push_names(lua_State *L, int idx, const char *skip);

/* An integer option of the table at 1 in [lo, hi] (dflt when absent). */
lua_Integer hs_lrepl_opt_int(lua_State *L, const char *field, lua_Integer dflt, lua_Integer lo, lua_Integer hi);
/* The name option of the table at 1 (NULL when absent). */
const char *hs_lrepl_opt_name(lua_State *L);

/* Builds the node userdata of class cls (pushed), kind, on the network at 2 (simulation at 3
 * or nil): attached at once when the network is, else detached until it is. The state table
 * (with futures and new_future) is made and set; fill it with hs_lrepl_state. The node starts
 * itself once attached (construction end, or when its network attaches). */
lrepl *hs_lrepl_new(lua_State *L, const hs_lua_class *cls, int kind, const char *name, hs_lnet *ln);
/* The class attach callback (hs_lua_centity.h) of every replication class. */
void hs_lrepl_attach(lua_State *L, void *self, int self_idx, int sim_idx);
/* Finishes construction of the node at idx (attach now when the network is attached; start). */
void hs_lrepl_finish(lua_State *L, int idx);
/* Pushes the state table of r (found by its pointer). */
void hs_lrepl_state(lua_State *L, lrepl *r);

/* The hooks every adapter is given (done: settles the Future; resolve_peer: by name). */
hs_repl_node_hooks hs_lrepl_hooks(lrepl *r);

/* Pushes a new pending record { future =, read = } and the Future; returns its tag. The node
 * is argument 1. */
uint64_t hs_lrepl_pend(lua_State *L, lrepl *r, int read);
/* node:write(key, value), the common part: checks the key (argument 2, *key and *klen) and the
 * value (3), encodes the value into r->buf and pushes the Future of a new pending write (at 4).
 * Returns its tag. */
uint64_t hs_lrepl_pend_write(lua_State *L, lrepl *r, const char **key, size_t *klen);
/* node:read(key), the common part: checks the key (argument 2) and pushes the Future of a new
 * pending read (at 3). Returns its tag. */
uint64_t hs_lrepl_pend_read(lua_State *L, lrepl *r, const char **key, size_t *klen);
/* Rejects pending request tag with (status, message made of what and the node), a `leader`
 * hint when hint is not NULL. */
void hs_lrepl_reject(lua_State *L, lrepl *r, uint64_t tag, int status, const char *what, hs_entity *hint);
/* Rejects every pending request with `crashed` (after a crash: none is left hanging). */
void hs_lrepl_fail_all(lrepl *r, const char *code);
/* Settles pending tag with ok and the nvalues values on top of L (popped). */
void hs_lrepl_resolve(lua_State *L, lrepl *r, uint64_t tag, int nvalues);

/* Shared class parts: vtable functions, finalize, start. */
void hs_lrepl_on_message(hs_entity *e, hs_message *m);
void hs_lrepl_on_crash(hs_entity *e);
void hs_lrepl_on_restart(hs_entity *e);
void hs_lrepl_finalize(void *self);
int hs_lrepl_l_start(lua_State *L);
/* Common fields: started, network, id; 0 when k is not one of them. */
int hs_lrepl_common_field(lua_State *L, lrepl *r, const char *k);

/* Per-kind parts, called by the shared code. */
void hs_lrepl_pb_attach(lua_State *L, lrepl *r, int self_idx, int state_idx);
void hs_lrepl_chain_attach(lua_State *L, lrepl *r, int self_idx, int state_idx);
void hs_lrepl_ml_attach(lua_State *L, lrepl *r, int self_idx, int state_idx);
void hs_lrepl_master_attach(lua_State *L, lrepl *r, int self_idx, int state_idx);
/* The hint for a refused request (NULL when none). */
hs_entity *hs_lrepl_hint(lrepl *r, int write);

/* Lua entry points. */
int hs_l_primary_node_new(lua_State *L);
int hs_l_backup_node_new(lua_State *L);
int hs_l_repl_master_new(lua_State *L);
int hs_l_chain_node_new(lua_State *L);
int hs_l_leader_node_new(lua_State *L);
int hs_l_merkle_new(lua_State *L);

#endif
