/*
 * hs_lua_paxos.h - what the two files of the Paxos binding share: the nodes' userdata
 * (hs_lua_paxos_node.c: hs.PaxosNode, hs.MultiPaxosNode, hs.FlexiblePaxosNode) and
 * hs.PaxosChecker's (hs_lua_paxos_checker.c). Private to them.
 */
#ifndef HS_LUA_PAXOS_H
#define HS_LUA_PAXOS_H

#include "paxos/hs_paxos_check.h"
#include "paxos/hs_paxos_node.h"
#include "protocols/hs_lua_consensus.h"

#define MT_SINGLE "happysim.PaxosNode"
#define MT_MULTI "happysim.MultiPaxosNode"
#define MT_FLEX "happysim.FlexiblePaxosNode"
#define HS_PCHECKER_MT "happysim.PaxosChecker"
/* registry: weak map lightuserdata(&lpaxos.c) -> its state table (the user value HS_CENTITY_UV),
 * so that hooks find it without looking the node up by entity id */
#define HS_PAXOS_STATES_KEY "happysim.paxos_states"

/* hs.PaxosChecker: the invariant checker of one cluster (hs_paxos_check.h). */
typedef struct lchecker {
  hs_paxos_checker c;
  hs_lsim *ls;
  int stop;         /* a violation stops the run (the default) */
  int bound;        /* watching a cluster: c.phase2_quorum and cluster are set */
  uint64_t cluster; /* hash of the members' names */
} lchecker;

typedef struct lpaxos {
  hs_lua_centity base;
  hs_paxos_node node;
  hs_lcons c; /* threads, state table, pending requests (protocols/hs_lua_consensus.h) */
  int multi;    /* Multi-Paxos (MultiPaxosNode, FlexiblePaxosNode), else single-decree */
  int built;    /* the adapter is set up (its core made) */
  int started;
  int start_deferred; /* node:start() called while detached: done when attached */
  uint32_t n_members;
  uint64_t seen_count;   /* network requests taken in (see seen_before) */
  uint64_t *seen_slots;  /* their set and ring (seen_before), or NULL */
  uint64_t dup_requests; /* copies of network requests dropped */
  uint64_t cluster;   /* hash of the members' names */
  lchecker *checker;  /* anchored by the state table */
  hs_paxos_config sopts;  /* single-decree options (ids, members, rng set when built) */
  hs_mpaxos_config mopts; /* Multi-Paxos options */
} lpaxos;

/* Registers hs.PaxosChecker's metatable. */
void hs_lpaxos_checker_open(lua_State *L);
int hs_l_paxos_checker_new(lua_State *L);

#endif
