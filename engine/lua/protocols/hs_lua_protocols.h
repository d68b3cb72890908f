/*
 * hs_lua_protocols.h - the protocol bindings' entry points: what hs_lua_open.c registers, and
 * what one protocol binding uses of another (a RaftNode's KVStateMachine).
 */
#ifndef HS_LUA_PROTOCOLS_H
#define HS_LUA_PROTOCOLS_H

#include "hs_lua.h"
#include "sm/hs_kv.h"

/* hs_lua_kv.c: hs.KVStateMachine */
void hs_kv_open(lua_State *L);
extern const luaL_Reg hs_kv_funcs[];
int hs_l_kv_new(lua_State *L);
int hs_is_kv(lua_State *L, int idx);
hs_kv *hs_check_kv(lua_State *L, int idx);

/* hs_lua_raft_node.c, hs_lua_raft_checker.c: hs.RaftNode, hs.RaftChecker */
void hs_raft_open(lua_State *L);
extern const luaL_Reg hs_raft_funcs[];

/* hs_lua_paxos_node.c, hs_lua_paxos_checker.c: hs.PaxosNode, hs.MultiPaxosNode,
 * hs.FlexiblePaxosNode, hs.PaxosChecker */
void hs_paxos_open(lua_State *L);
extern const luaL_Reg hs_paxos_funcs[];

/* hs_lua_crdt.c: hs.GCounter, hs.PNCounter, hs.LWWRegister, hs.ORSet */
void hs_crdt_open(lua_State *L);
extern const luaL_Reg hs_crdt_funcs[];

/* hs_lua_phi.c: hs.PhiAccrualDetector */
void hs_phi_open(lua_State *L);
extern const luaL_Reg hs_phi_funcs[];

/* hs_lua_lock.c: hs.DistributedLock, hs.FencedResource */
void hs_lock_open(lua_State *L);
extern const luaL_Reg hs_lock_funcs[];

/* hs_lua_elect.c: hs.LeaderElection, hs.BullyStrategy, hs.RingStrategy, hs.RandomizedStrategy,
 * hs.ElectionChecker */
void hs_elect_open(lua_State *L);
extern const luaL_Reg hs_elect_funcs[];

/* hs_lua_swim.c: hs.MembershipProtocol */
void hs_swim_open(lua_State *L);
extern const luaL_Reg hs_swim_funcs[];

/* hs_lua_repl.c (shared), hs_lua_pb_node.c, hs_lua_repl_master.c, hs_lua_chain_node.c,
 * hs_lua_ml_node.c, hs_lua_merkle.c: hs.PrimaryNode, hs.BackupNode, hs.ReplicationMaster,
 * hs.ChainNode, hs.LeaderNode, hs.MerkleTree */
void hs_repl_open(lua_State *L);
extern const luaL_Reg hs_repl_funcs[];

#endif
