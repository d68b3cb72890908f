/*
 * hs_lua_open.c - the Lua C module happysim.core: the runtime's functions (runtime/) and every
 * protocol binding's (protocols/). Adding a protocol family: its open function and function
 * list go in protocols/hs_lua_protocols.h and here.
 */
#include "hs_lua.h"
#include "protocols/hs_lua_protocols.h"

int luaopen_happysim_core(lua_State *L);
int luaopen_happysim_core(lua_State *L) {
  hs_runtime_open(L); /* the core table, on top */
  hs_kv_open(L);
  hs_raft_open(L);
  hs_paxos_open(L);
  hs_crdt_open(L);
  hs_phi_open(L);
  hs_lock_open(L);
  hs_elect_open(L);
  hs_swim_open(L);
  hs_repl_open(L);
  luaL_setfuncs(L, hs_kv_funcs, 0);
  luaL_setfuncs(L, hs_raft_funcs, 0);
  luaL_setfuncs(L, hs_paxos_funcs, 0);
  luaL_setfuncs(L, hs_crdt_funcs, 0);
  luaL_setfuncs(L, hs_phi_funcs, 0);
  luaL_setfuncs(L, hs_lock_funcs, 0);
  luaL_setfuncs(L, hs_elect_funcs, 0);
  luaL_setfuncs(L, hs_swim_funcs, 0);
  luaL_setfuncs(L, hs_repl_funcs, 0);
  return 1;
}
