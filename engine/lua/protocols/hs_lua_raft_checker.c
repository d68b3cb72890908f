/*
 * hs_lua_raft_checker.c - hs.RaftChecker: Raft's invariants (engine/raft/hs_raft_invariants.h)
 * watching RaftNodes; the first violation stops the run with the seed and the time.
 */
#include <string.h>

#include "protocols/hs_lua_raft.h"

static void on_violation(void *ud, const char *message) {
  lchecker *c = ud;
  hs_lsim *ls = c->ls;
  if (!ls || !ls->L) return; /* outside a run: checker.violation tells */
  lua_pushfstring(ls->L, "happysim: Raft invariant violated at t=%f (seed %I): %s", hs_time_to_s(ls->sim.now_ns),
                  (lua_Integer)ls->sim.seed, message);
  hs_sim_fail(ls, ls->L);
}

int hs_lraft_watch(lua_State *L, int checker_idx, lraft *r) {
  lchecker *c = luaL_checkudata(L, checker_idx, HS_CHECKER_MT);
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  if (c->ls && c->ls != ls) return luaL_error(L, "RaftChecker watches nodes of another simulation");
  if (r->node.invariants) return luaL_error(L, "RaftNode '%s' is already watched by a checker", r->base.e.name);
  c->ls = ls;
  if (hs_raft_node_watch(&r->node, &c->c) != HS_OK) return luaL_error(L, "out of memory");
  /* the node keeps its checker alive */
  hs_push_entity_object(L, ls, &r->base.e);
  lua_getiuservalue(L, -1, HS_CENTITY_UV);
  lua_pushvalue(L, checker_idx);
  lua_setfield(L, -2, "checker");
  lua_pop(L, 2);
  return 0;
}

int hs_l_raft_checker_new(lua_State *L) {
  lchecker *c = lua_newuserdatauv(L, sizeof *c, 0);
  hs_raft_invariants_init(&c->c);
  c->ls = NULL;
  c->c.on_violation = on_violation;
  c->c.ud = c;
  luaL_setmetatable(L, HS_CHECKER_MT);
  return 1;
}

/* checker:watch(node, ...) -> checker */
static int l_checker_watch(lua_State *L) {
  luaL_checkudata(L, 1, HS_CHECKER_MT);
  int n = lua_gettop(L);
  for (int i = 2; i <= n; i++) hs_lraft_watch(L, 1, hs_lraft_check(L, i));
  lua_settop(L, 1);
  return 1;
}

/* checker:check() -> true, or false and the violation: runs the whole-cluster checks now */
static int l_checker_check(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, HS_CHECKER_MT);
  hs_time_ns now = c->ls ? c->ls->sim.now_ns : 0;
  if (hs_raft_invariants_check_all(&c->c, now)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushstring(L, c->c.violation);
  return 2;
}

static int l_checker_index(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, HS_CHECKER_MT);
  if (lua_type(L, 2) != LUA_TSTRING) return 0; /* x[1] is nil, not x["1"] */
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "violated") == 0)
    lua_pushboolean(L, c->c.violated);
  else if (strcmp(k, "violation") == 0)
    c->c.violated ? (void)lua_pushstring(L, c->c.violation) : lua_pushnil(L);
  else if (strcmp(k, "violation_time") == 0)
    c->c.violated ? lua_pushnumber(L, hs_time_to_s(c->c.violation_ns)) : lua_pushnil(L);
  else if (strcmp(k, "checks") == 0)
    lua_pushinteger(L, (lua_Integer)c->c.checks);
  else if (strcmp(k, "nodes") == 0)
    lua_pushinteger(L, c->c.node_count);
  else if (strcmp(k, "watch") == 0)
    lua_pushcfunction(L, l_checker_watch);
  else if (strcmp(k, "check") == 0)
    lua_pushcfunction(L, l_checker_check);
  else
    lua_pushnil(L);
  return 1;
}

static int l_checker_gc(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, HS_CHECKER_MT);
  hs_raft_invariants_free(&c->c);
  return 0;
}

void hs_lraft_checker_open(lua_State *L) {
  luaL_newmetatable(L, HS_CHECKER_MT);
  lua_pushcfunction(L, l_checker_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_checker_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}
