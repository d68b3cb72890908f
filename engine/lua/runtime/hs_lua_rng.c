/*
 * hs_lua_rng.c - sim:random(name): deterministic random streams for Lua.
 */
#include <math.h>
#include <string.h>

#include "hs_lua.h"

/* The stream argument 1; the methods keep the metatable as upvalue 1, so the common case
 * costs no registry lookup (draws are made per event). */
static hs_rng *check_stream(lua_State *L) {
  hs_rng *r = lua_touserdata(L, 1);
  if (r && lua_getmetatable(L, 1)) {
    int ok = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (ok) return r;
  }
  return luaL_checkudata(L, 1, HS_STREAM_MT); /* raises the usual message */
}

static double check_finite(lua_State *L, int arg, const char *what) {
  double v = luaL_checknumber(L, arg);
  if (!isfinite(v)) luaL_argerror(L, arg, lua_pushfstring(L, "%s must be finite", what));
  return v;
}

/* stream:random() in [0,1); stream:random(m) in [1,m]; stream:random(m, n) in [m,n] (as math.random). */
static int l_random(lua_State *L) {
  hs_rng *r = check_stream(L);
  lua_Integer lo, hi;
  switch (lua_gettop(L)) {
  case 1: lua_pushnumber(L, hs_rng_double(r)); return 1;
  case 2:
    lo = 1;
    hi = luaL_checkinteger(L, 2);
    break;
  case 3:
    lo = luaL_checkinteger(L, 2);
    hi = luaL_checkinteger(L, 3);
    break;
  default: return luaL_error(L, "wrong number of arguments to 'random'");
  }
  luaL_argcheck(L, lo <= hi, lua_gettop(L), "interval is empty");
  uint64_t span = (uint64_t)hi - (uint64_t)lo;
  uint64_t x = span == UINT64_MAX ? hs_rng_next(r) : hs_rng_below(r, span + 1);
  lua_pushinteger(L, (lua_Integer)((uint64_t)lo + x));
  return 1;
}

static int l_uniform(lua_State *L) {
  hs_rng *r = check_stream(L);
  double a = check_finite(L, 2, "a"), b = check_finite(L, 3, "b");
  luaL_argcheck(L, a <= b, 3, "must be >= a");
  lua_pushnumber(L, hs_rng_uniform(r, a, b));
  return 1;
}

static int l_exponential(lua_State *L) {
  hs_rng *r = check_stream(L);
  double mean = check_finite(L, 2, "mean");
  luaL_argcheck(L, mean > 0, 2, "mean must be > 0");
  lua_pushnumber(L, hs_rng_exponential(r, mean));
  return 1;
}

static int l_normal(lua_State *L) {
  hs_rng *r = check_stream(L);
  double mean = check_finite(L, 2, "mean"), sd = check_finite(L, 3, "stddev");
  luaL_argcheck(L, sd >= 0, 3, "stddev must be >= 0");
  lua_pushnumber(L, hs_rng_normal(r, mean, sd));
  return 1;
}

/* stream:choice(list) -> a random element of a non-empty sequence */
static int l_choice(lua_State *L) {
  hs_rng *r = check_stream(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 2);
  luaL_argcheck(L, n > 0, 2, "list is empty");
  lua_geti(L, 2, 1 + (lua_Integer)hs_rng_below(r, (uint64_t)n));
  return 1;
}

/* stream:shuffle(list) -> list, shuffled in place (Fisher-Yates) */
static int l_shuffle(lua_State *L) {
  hs_rng *r = check_stream(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 2);
  for (lua_Integer i = n; i > 1; i--) {
    lua_Integer j = 1 + (lua_Integer)hs_rng_below(r, (uint64_t)i);
    lua_geti(L, 2, i);
    lua_geti(L, 2, j);
    lua_seti(L, 2, i);
    lua_seti(L, 2, j);
  }
  lua_settop(L, 2);
  return 1;
}

/* sim:random([name]) -> the stream named name (default "sim"), the same object each time */
int hs_l_stream(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  size_t len = 3;
  const char *name = "sim";
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TSTRING) luaL_typeerror(L, 2, "stream name string");
    name = lua_tolstring(L, 2, &len);
  }
  lua_settop(L, 2);
  hs_push_uv_table(L, 1, "streams");
  if (lua_getfield(L, 3, name) != LUA_TNIL) return 1;
  hs_rng *r = lua_newuserdatauv(L, sizeof *r, 0);
  hs_sim_stream(&ls->sim, r, name, len);
  luaL_setmetatable(L, HS_STREAM_MT);
  lua_pushvalue(L, -1);
  lua_setfield(L, 3, name);
  return 1;
}

void hs_rng_open(lua_State *L) {
  static const luaL_Reg methods[] = {{"random", l_random}, {"uniform", l_uniform}, {"exponential", l_exponential},
                                     {"normal", l_normal}, {"choice", l_choice},   {"shuffle", l_shuffle},
                                     {NULL, NULL}};
  luaL_newmetatable(L, HS_STREAM_MT);
  luaL_newlibtable(L, methods);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, methods, 1); /* upvalue 1: the metatable (check_stream) */
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
