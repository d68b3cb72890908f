/*
 * hs_lua_phi.c - hs.PhiAccrualDetector: the phi accrual failure detector (engine/membership/
 * hs_phi.h) as a Lua value. Not an entity: it is fed heartbeat times and asked about a time,
 * both in seconds, the seed's shape.
 *
 *   local d = hs.PhiAccrualDetector{ threshold = 8, window_size = 200, min_std_deviation = 0.1,
 *                                    acceptable_heartbeat_pause = 0, first_heartbeat_estimate = 1,
 *                                    distribution = "normal" | "exponential" }
 *   d:heartbeat(t); d:phi(t); d:is_available(t); d:stats_at(t); d.stats; d.threshold;
 *   d.last_heartbeat; d:reset()
 *
 * The seed's names are accepted too: max_sample_size (window_size), min_std
 * (min_std_deviation), initial_interval (first_heartbeat_estimate).
 */
#include <math.h>
#include <string.h>

#include "membership/hs_phi.h"
#include "protocols/hs_lua_protocols.h"

#define PHI_MT "happysim.PhiAccrualDetector"

typedef struct lphi {
  hs_phi d;
  int live; /* initialized: __gc frees */
} lphi;

static lphi *check_phi(lua_State *L, int idx) {
  lphi *p = luaL_checkudata(L, idx, PHI_MT);
  if (!p->live) hs_closed_error(L, "PhiAccrualDetector");
  return p;
}

/* A time argument in seconds (a heartbeat's arrival, or now). */
static hs_time_ns check_time(lua_State *L, int arg) { return hs_time_from_s(hs_check_seconds(L, arg, "time")); }

/* A duration option: either of two names (the second the seed's), >= 0, dflt when absent. */
static double opt_seconds(lua_State *L, const char *name, const char *alias, double dflt) {
  int has_alias = 0;
  if (alias) {
    lua_getfield(L, 1, alias);
    has_alias = !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  lua_getfield(L, 1, name);
  int has_name = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (has_name && has_alias)
    luaL_argerror(L, 1, lua_pushfstring(L, "fields '%s' and '%s' are the same option: give one", name, alias));
  return hs_field_seconds(L, 1, 1, has_alias ? alias : name, dflt, 0);
}

/* hs.PhiAccrualDetector{ ... } (every option optional; see the top of the file) */
static int l_phi_new(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  static const char *const known[] = {"threshold", "window_size", "max_sample_size", "min_std_deviation", "min_std",
                                      "acceptable_heartbeat_pause", "first_heartbeat_estimate", "initial_interval",
                                      "distribution", NULL};
  hs_check_options(L, 1, 1, known);
  hs_phi_config cfg;
  hs_phi_config_init(&cfg);
  if (lua_getfield(L, 1, "threshold") != LUA_TNIL) {
    double t = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || !(t > 0) || !isfinite(t))
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'threshold' must be a positive number, got %s",
                                          luaL_tolstring(L, -1, NULL)));
    cfg.threshold = t;
  }
  lua_pop(L, 1);
  const char *wname = "window_size";
  lua_getfield(L, 1, "max_sample_size");
  if (!lua_isnil(L, -1)) wname = "max_sample_size";
  lua_pop(L, 1);
  if (lua_getfield(L, 1, wname) != LUA_TNIL) {
    int isint = 0;
    lua_Integer n = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
    if (!isint || n < 1 || n > (lua_Integer)HS_PHI_MAX_SAMPLES)
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be an integer in [1, %d]", wname, (int)HS_PHI_MAX_SAMPLES));
    cfg.max_sample_size = (uint32_t)n;
  }
  lua_pop(L, 1);
  cfg.min_std_ns = hs_time_from_s(opt_seconds(L, "min_std_deviation", "min_std", 0.1));
  cfg.acceptable_pause_ns = hs_time_from_s(opt_seconds(L, "acceptable_heartbeat_pause", NULL, 0));
  cfg.first_heartbeat_estimate_ns = hs_time_from_s(opt_seconds(L, "first_heartbeat_estimate", "initial_interval", 0));
  if (lua_getfield(L, 1, "distribution") != LUA_TNIL) {
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s && strcmp(s, "normal") == 0)
      cfg.model = HS_PHI_NORMAL;
    else if (s && strcmp(s, "exponential") == 0)
      cfg.model = HS_PHI_EXPONENTIAL;
    else
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'distribution' must be \"normal\" or \"exponential\", got %s",
                                          s ? lua_pushfstring(L, "\"%s\"", s) : hs_typename_of(L, -1)));
  }
  lua_pop(L, 1);
  lphi *p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  luaL_setmetatable(L, PHI_MT);
  int rc = hs_phi_init(&p->d, &cfg);
  if (rc == HS_ENOMEM) return luaL_error(L, "PhiAccrualDetector: out of memory");
  if (rc != HS_OK) return luaL_argerror(L, 1, "invalid options");
  p->live = 1;
  return 1;
}

/* d:heartbeat(t): records a heartbeat that arrived at t; raises when t is before the last one. */
static int l_heartbeat(lua_State *L) {
  lphi *p = check_phi(L, 1);
  hs_time_ns t = check_time(L, 2);
  if (hs_phi_heartbeat(&p->d, t) != HS_OK)
    return luaL_argerror(L, 2, lua_pushfstring(L, "time %f is before the last heartbeat (%f)", lua_tonumber(L, 2),
                                               hs_time_to_s(p->d.last_ns)));
  lua_settop(L, 1);
  return 1;
}

static int l_phi(lua_State *L) {
  lphi *p = check_phi(L, 1);
  lua_pushnumber(L, hs_phi_value(&p->d, check_time(L, 2)));
  return 1;
}

static int l_is_available(lua_State *L) {
  lphi *p = check_phi(L, 1);
  lua_pushboolean(L, hs_phi_available(&p->d, check_time(L, 2)));
  return 1;
}

static int l_reset(lua_State *L) {
  hs_phi_reset(&check_phi(L, 1)->d);
  lua_settop(L, 1);
  return 1;
}

/* The seed's PhiAccrualStats; with_phi 0 (the `stats` field) gives current_phi = 0 and
 * is_suspected = false, as the seed's property does (it has no time). */
static void push_stats(lua_State *L, lphi *p, hs_time_ns now, int with_phi) {
  hs_phi_stats s;
  hs_phi_get_stats(&p->d, now, &s);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)s.heartbeats_received);
  lua_setfield(L, -2, "heartbeats_received");
  lua_pushnumber(L, with_phi ? s.current_phi : 0.0);
  lua_setfield(L, -2, "current_phi");
  lua_pushnumber(L, s.mean_interval_s);
  lua_setfield(L, -2, "mean_interval");
  lua_pushnumber(L, s.std_interval_s);
  lua_setfield(L, -2, "std_interval");
  lua_pushboolean(L, with_phi && s.is_suspected);
  lua_setfield(L, -2, "is_suspected");
}

static int l_stats_at(lua_State *L) {
  lphi *p = check_phi(L, 1);
  push_stats(L, p, check_time(L, 2), 1);
  return 1;
}

static int l_index(lua_State *L) {
  lphi *p = check_phi(L, 1);
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
  if (strcmp(k, "stats") == 0) {
    push_stats(L, p, p->d.has_last ? p->d.last_ns : 0, 0);
  } else if (strcmp(k, "threshold") == 0) {
    lua_pushnumber(L, p->d.cfg.threshold);
  } else if (strcmp(k, "last_heartbeat") == 0) {
    if (p->d.has_last)
      lua_pushnumber(L, hs_time_to_s(p->d.last_ns));
    else
      lua_pushnil(L);
  } else if (strcmp(k, "sample_count") == 0) {
    lua_pushinteger(L, hs_phi_sample_count(&p->d));
  } else if (strcmp(k, "distribution") == 0) {
    lua_pushstring(L, p->d.cfg.model == HS_PHI_EXPONENTIAL ? "exponential" : "normal");
  } else {
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
  }
  return 1;
}

static int l_newindex(lua_State *L) {
  return luaL_error(L, "PhiAccrualDetector: cannot set field '%s'", luaL_tolstring(L, 2, NULL));
}

static int l_gc(lua_State *L) {
  lphi *p = luaL_checkudata(L, 1, PHI_MT);
  if (p->live) hs_phi_free(&p->d);
  p->live = 0;
  return 0;
}

static int l_tostring(lua_State *L) {
  lphi *p = luaL_checkudata(L, 1, PHI_MT);
  if (!p->live) {
    lua_pushliteral(L, "PhiAccrualDetector (closed)");
    return 1;
  }
  lua_pushfstring(L, "PhiAccrualDetector(threshold=%f, heartbeats=%I)", p->d.cfg.threshold,
                  (lua_Integer)p->d.heartbeats);
  return 1;
}

void hs_phi_open(lua_State *L) {
  static const luaL_Reg meta[] = {{"__index", l_index}, {"__newindex", l_newindex}, {"__gc", l_gc},
                                  {"__close", l_gc},     {"__tostring", l_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {{"heartbeat", l_heartbeat}, {"phi", l_phi},     {"is_available", l_is_available},
                                     {"stats_at", l_stats_at},   {"reset", l_reset}, {NULL, NULL}};
  luaL_newmetatable(L, PHI_MT);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "methods");
  lua_pop(L, 1);
}

const luaL_Reg hs_phi_funcs[] = {{"PhiAccrualDetector", l_phi_new}, {NULL, NULL}};
