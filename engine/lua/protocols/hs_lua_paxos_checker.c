/*
 * hs_lua_paxos_checker.c - hs.PaxosChecker: the Paxos family's invariant checker
 * (engine/paxos/hs_paxos_check.h) for Lua. A cluster's nodes share one, given as `checker =`;
 * the cores report every acceptance, choice and apply to it, and the first violation stops
 * the run with the seed and the time (unless stop = false).
 */
#include <string.h>

#include "protocols/hs_lua_paxos.h"

static void on_violation(void *ud, const char *message) {
  lchecker *c = ud;
  hs_lsim *ls = c->ls;
  if (!c->stop || !ls || !ls->L) return; /* checker.violation and checker:check() tell */
  lua_pushfstring(ls->L, "happysim: Paxos invariant violated at t=%f (seed %I): %s", hs_time_to_s(ls->sim.now_ns),
                  (lua_Integer)ls->sim.seed, message);
  hs_sim_fail(ls, ls->L);
}

/* hs.PaxosChecker([{ stop = true }]): one per cluster, given to its nodes as `checker =`. The
 * first violation stops sim:run() with the seed and the time, unless stop = false: then the
 * run goes on and checker.violated, checker.violation and checker:check() tell. */
static const char *const checker_options[] = {"stop", NULL};

int hs_l_paxos_checker_new(lua_State *L) {
  int stop = 1;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    hs_check_options(L, 1, 1, checker_options);
    stop = hs_field_boolean(L, 1, 1, "stop", 1);
  }
  lchecker *c = lua_newuserdatauv(L, sizeof *c, 0);
  hs_paxos_checker_init(&c->c, 1);
  c->stop = stop;
  c->ls = NULL;
  c->bound = 0;
  c->cluster = 0;
  c->c.on_violation = on_violation;
  c->c.ud = c;
  luaL_setmetatable(L, HS_PCHECKER_MT);
  return 1;
}

/* checker:check() -> true, or false and the first violation */
static int l_checker_check(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, HS_PCHECKER_MT);
  if (!c->c.violated) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushstring(L, c->c.violation);
  return 2;
}

static int l_checker_index(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, HS_PCHECKER_MT);
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "violated") == 0)
    lua_pushboolean(L, c->c.violated);
  else if (strcmp(k, "violation") == 0)
    c->c.violated ? (void)lua_pushstring(L, c->c.violation) : lua_pushnil(L);
  else if (strcmp(k, "violation_time") == 0)
    c->c.violated ? lua_pushnumber(L, hs_time_to_s(c->c.violation_ns)) : lua_pushnil(L);
  else if (strcmp(k, "checks") == 0)
    lua_pushinteger(L, (lua_Integer)c->c.checks);
  else if (strcmp(k, "chosen") == 0)
    lua_pushinteger(L, (lua_Integer)c->c.chosen);
  else if (strcmp(k, "nodes") == 0)
    lua_pushinteger(L, c->c.n_ids);
  else if (strcmp(k, "phase2_quorum") == 0)
    c->bound ? lua_pushinteger(L, c->c.phase2_quorum) : lua_pushnil(L);
  else if (strcmp(k, "check") == 0)
    lua_pushcfunction(L, l_checker_check);
  else
    lua_pushnil(L);
  return 1;
}

static int l_checker_gc(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, HS_PCHECKER_MT);
  hs_paxos_checker_free(&c->c);
  return 0;
}

static int l_checker_tostring(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, HS_PCHECKER_MT);
  lua_pushfstring(L, "PaxosChecker (%I slots chosen, %s)", (lua_Integer)c->c.chosen,
                  c->c.violated ? "VIOLATED" : "no violation");
  return 1;
}

void hs_lpaxos_checker_open(lua_State *L) {
  luaL_newmetatable(L, HS_PCHECKER_MT);
  lua_pushcfunction(L, l_checker_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_checker_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_checker_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}
