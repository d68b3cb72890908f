/*
 * hs_lua_raft.h - what the two files of the Raft binding share: hs.RaftNode's userdata
 * (hs_lua_raft_node.c) and hs.RaftChecker's (hs_lua_raft_checker.c). Private to them.
 */
#ifndef HS_LUA_RAFT_H
#define HS_LUA_RAFT_H

#include "protocols/hs_lua_consensus.h"
#include "raft/hs_raft_node.h"

#define HS_CHECKER_MT "happysim.RaftChecker"
/* registry: weak map lightuserdata(&lraft.c) -> its state table (the user value HS_CENTITY_UV),
 * so that hooks find it without looking the node up by entity id */
#define HS_RAFT_STATES_KEY "happysim.raft_states"

typedef struct lraft {
  hs_lua_centity base;
  hs_raft_node node;
  hs_lcons c; /* threads, state table, pending requests (protocols/hs_lua_consensus.h) */
  int started;
  int start_deferred; /* node:start() called while detached: done when attached */
  int unsafe_local_reads; /* TEST-ONLY, UNSAFE: reads answered from the local state machine */
  hs_raft_config opts; /* the options, checked at construction (ids and rng set at attach) */
  int join;
} lraft;

typedef struct lchecker {
  hs_raft_invariants c;
  hs_lsim *ls;
} lchecker;

/* The live RaftNode at idx of an open simulation (raises otherwise). */
lraft *hs_lraft_check(lua_State *L, int idx);
/* Has the RaftChecker at checker_idx watch r (raises when it watches another simulation's). */
int hs_lraft_watch(lua_State *L, int checker_idx, lraft *r);
/* Registers hs.RaftChecker's metatable. */
void hs_lraft_checker_open(lua_State *L);
int hs_l_raft_checker_new(lua_State *L);

#endif
