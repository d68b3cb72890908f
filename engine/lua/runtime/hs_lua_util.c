#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <string.h>
#include <time.h>

#include "hs_lua.h"

/* The type name for messages: a metatable's __name (happysim.Event ...) or the basic type. */
int hs_closed_error(lua_State *L, const char *what) {
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) /* "_partition": net:partition's C half */
    return luaL_error(L, "%s: %s is closed", ar.name + (ar.name[0] == '_' && ar.name[1]), what);
  return luaL_error(L, "%s is closed", what); /* called where no name is known (pcall(f, ...)) */
}

const char *hs_typename_of(lua_State *L, int idx) {
  int t = luaL_getmetafield(L, idx, "__name");
  if (t == LUA_TSTRING) {
    const char *name = lua_tostring(L, -1);
    lua_pop(L, 1); /* the metatable keeps the string alive */
    return name;
  }
  if (t != LUA_TNIL) lua_pop(L, 1);
  return luaL_typename(L, idx);
}

/* A duration or time in seconds: a finite number in [0, HS_TIME_MAX_S]. */
double hs_check_seconds(lua_State *L, int arg, const char *what) {
  if (lua_type(L, arg) != LUA_TNUMBER)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a number of seconds, got %s", what, hs_typename_of(L, arg)));
  double s = lua_tonumber(L, arg);
  if (!hs_time_s_valid(s))
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a finite number of seconds >= 0, got %f", what, s));
  return s;
}

/* A string argument; unlike luaL_checklstring, a number raises instead of being converted. */
const char *hs_check_string(lua_State *L, int arg, size_t *len) {
  if (lua_type(L, arg) != LUA_TSTRING) luaL_typeerror(L, arg, "string");
  return lua_tolstring(L, arg, len);
}

/* An integer argument (3 or 3.0); unlike luaL_checkinteger, a string raises. */
lua_Integer hs_check_integer(lua_State *L, int arg) {
  if (lua_type(L, arg) != LUA_TNUMBER) luaL_typeerror(L, arg, "integer");
  int isint;
  lua_Integer v = lua_tointegerx(L, arg, &isint);
  if (!isint) luaL_argerror(L, arg, "number has no integer representation");
  return v;
}

lua_Integer hs_opt_integer(lua_State *L, int arg, lua_Integer dflt) {
  return lua_isnoneornil(L, arg) ? dflt : hs_check_integer(L, arg);
}

double hs_field_seconds(lua_State *L, int tidx, int arg, const char *field, double dflt, int required) {
  int t = lua_getfield(L, tidx, field);
  double s = dflt;
  if (t == LUA_TNIL) {
    if (required) luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' is required", field));
  } else if (t != LUA_TNUMBER) {
    luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' must be a number of seconds, got %s", field, hs_typename_of(L, -1)));
  } else {
    s = lua_tonumber(L, -1);
    if (!hs_time_s_valid(s))
      luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' must be a finite number of seconds >= 0, got %s", field,
                                            luaL_tolstring(L, -1, NULL)));
  }
  lua_pop(L, 1);
  return s;
}

/* A duration field that must be > 0 (a timeout, an interval): seconds, dflt when absent. */
double hs_field_positive_seconds(lua_State *L, int tidx, int arg, const char *field, double dflt) {
  int t = lua_getfield(L, tidx, field);
  double s = dflt;
  if (t != LUA_TNIL) {
    s = lua_tonumber(L, -1);
    if (t != LUA_TNUMBER || !(s > 0) || !hs_time_s_valid(s))
      luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' must be a positive number, got %s", field,
                                            t == LUA_TNUMBER ? luaL_tolstring(L, -1, NULL) : hs_typename_of(L, -1)));
  }
  lua_pop(L, 1);
  return s;
}

int hs_field_boolean(lua_State *L, int tidx, int arg, const char *field, int dflt) {
  int t = lua_getfield(L, tidx, field);
  int v = dflt;
  if (t == LUA_TBOOLEAN)
    v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' must be a boolean, got %s", field, hs_typename_of(L, -1)));
  lua_pop(L, 1);
  return v;
}

/* Rejects option names that are not in `known` (a NULL-terminated list): typos raise. */
void hs_check_options(lua_State *L, int tidx, int arg, const char *const *known) {
  lua_pushnil(L);
  while (lua_next(L, tidx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      luaL_argerror(L, arg, lua_pushfstring(L, "option names must be strings, got %s", luaL_typename(L, -1)));
    }
    const char *k = lua_tostring(L, -1);
    int ok = 0;
    for (const char *const *p = known; *p; p++)
      if (strcmp(*p, k) == 0) ok = 1;
    if (!ok) luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'", k));
  }
}

double hs_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
