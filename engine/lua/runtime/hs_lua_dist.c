/*
 * hs_lua_dist.c - hs.dist.* distributions and hs.NetworkLink (link parameters).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hs_lua.h"

#define HS_DIST_MT "happysim.Distribution"
#define HS_LINK_MT "happysim.NetworkLink"

static double check_param(lua_State *L, int arg, const char *fname, const char *what) {
  if (lua_type(L, arg) != LUA_TNUMBER)
    luaL_error(L, "bad argument #%d to '%s' (%s must be a number, got %s)", arg, fname, what, hs_typename_of(L, arg));
  double v = lua_tonumber(L, arg);
  if (!isfinite(v) || v < 0)
    luaL_error(L, "bad argument #%d to '%s' (%s must be a finite number >= 0, got %f)", arg, fname, what, v);
  return v;
}

static int push_dist(lua_State *L, hs_dist d, const char *fname) {
  const char *err = hs_dist_validate(&d);
  if (err) return luaL_error(L, "%s: %s", fname, err);
  hs_dist *u = lua_newuserdatauv(L, sizeof *u, 0);
  *u = d;
  luaL_setmetatable(L, HS_DIST_MT);
  return 1;
}

static int l_constant(lua_State *L) {
  return push_dist(L, hs_dist_constant(check_param(L, 1, "constant", "value")), "constant");
}

static int l_uniform(lua_State *L) {
  double a = check_param(L, 1, "uniform", "low"), b = check_param(L, 2, "uniform", "high");
  if (b < a) return luaL_error(L, "bad argument #2 to 'uniform' (high must be >= low)");
  return push_dist(L, hs_dist_uniform(a, b), "uniform");
}

static int l_exponential(lua_State *L) {
  return push_dist(L, hs_dist_exponential(check_param(L, 1, "exponential", "mean")), "exponential");
}

static int l_normal(lua_State *L) {
  double m = check_param(L, 1, "normal", "mean"), sd = check_param(L, 2, "normal", "stddev");
  return push_dist(L, hs_dist_normal(m, sd), "normal");
}

/* hs.dist.lognormal(mu, sigma) or hs.dist.lognormal{ mean =, stddev = } */
static int l_lognormal(lua_State *L) {
  if (lua_istable(L, 1)) {
    static const char *const opts[] = {"mean", "stddev", NULL};
    hs_check_options(L, 1, 1, opts);
    double m = hs_field_seconds(L, 1, 1, "mean", 0, 1), sd = hs_field_seconds(L, 1, 1, "stddev", 0, 1);
    if (!(m > 0)) luaL_argerror(L, 1, "field 'mean' must be > 0");
    return push_dist(L, hs_dist_lognormal_from_mean(m, sd), "lognormal");
  }
  double mu = luaL_checknumber(L, 1);
  if (!isfinite(mu)) luaL_argerror(L, 1, "mu must be finite");
  double sigma = check_param(L, 2, "lognormal", "sigma");
  return push_dist(L, hs_dist_lognormal(mu, sigma), "lognormal");
}

typedef struct point {
  double p, v;
} point;

static int cmp_point(const void *a, const void *b) {
  double x = ((const point *)a)->p, y = ((const point *)b)->p;
  return (x > y) - (x < y);
}

/* hs.dist.percentiles{ p50 = 0.010, p99 = 0.120, ["p99.9"] = 0.5, min = 0 } */
static int l_percentiles(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  point pts[HS_DIST_MAX_POINTS];
  size_t n = 0;
  double min = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (!k) luaL_argerror(L, 1, "keys must be strings like 'p50' or 'p99.9'");
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be a number of seconds", k));
    double v = lua_tonumber(L, -1);
    if (strcmp(k, "min") == 0) {
      min = v;
    } else {
      char *end;
      double pct = k[0] == 'p' ? strtod(k + 1, &end) : NAN;
      if (k[0] != 'p' || *end || !(pct > 0 && pct <= 100))
        luaL_argerror(L, 1, lua_pushfstring(L, "unknown field '%s' (use p50, p99, p99.9 ... and min)", k));
      if (n == HS_DIST_MAX_POINTS - 1) luaL_argerror(L, 1, "too many percentiles");
      pts[n].p = pct / 100.0;
      pts[n].v = v;
      n++;
    }
    lua_pop(L, 1);
  }
  qsort(pts, n, sizeof pts[0], cmp_point); /* table order is not deterministic: sort */
  double probs[HS_DIST_MAX_POINTS], values[HS_DIST_MAX_POINTS];
  for (size_t i = 0; i < n; i++) {
    probs[i] = pts[i].p;
    values[i] = pts[i].v;
  }
  hs_dist d;
  const char *err = hs_dist_percentiles(&d, probs, values, n, min);
  if (err) return luaL_error(L, "bad argument #1 to 'percentiles' (%s)", err);
  return push_dist(L, d, "percentiles");
}

static hs_dist *check_dist(lua_State *L, int idx) { return luaL_checkudata(L, idx, HS_DIST_MT); }

static int l_dist_sample(lua_State *L) {
  hs_dist *d = check_dist(L, 1);
  hs_rng *r = luaL_checkudata(L, 2, HS_STREAM_MT);
  lua_pushnumber(L, hs_dist_sample(d, r));
  return 1;
}

/* dist + seconds (or seconds + dist): the same distribution moved right by a constant;
 * a constant plus a constant is a constant. Two random distributions cannot be added. */
static int l_dist_add(lua_State *L) {
  int di = luaL_testudata(L, 1, HS_DIST_MT) ? 1 : 2, ni = 3 - di;
  hs_dist *d = check_dist(L, di);
  hs_dist *other = luaL_testudata(L, ni, HS_DIST_MT);
  double x;
  if (other) {
    if (other->kind != HS_DIST_CONSTANT && d->kind != HS_DIST_CONSTANT)
      return luaL_error(L, "cannot add two random distributions (%s + %s): one must be a constant",
                        hs_dist_kind_name(d->kind), hs_dist_kind_name(other->kind));
    if (d->kind == HS_DIST_CONSTANT) {
      hs_dist *t = d;
      d = other;
      other = t;
    }
    x = hs_dist_mean(other);
  } else {
    if (lua_type(L, ni) != LUA_TNUMBER)
      return luaL_error(L, "attempt to add a distribution and a %s (a number of seconds or a distribution expected)",
                        hs_typename_of(L, ni));
    x = lua_tonumber(L, ni);
  }
  if (!isfinite(x)) return luaL_error(L, "cannot add %f seconds to a distribution", x);
  return push_dist(L, hs_dist_shift(*d, x), "dist +");
}

static int l_dist_index(lua_State *L) {
  hs_dist *d = check_dist(L, 1);
  if (lua_type(L, 2) != LUA_TSTRING) return 0; /* x[1] is nil, not x["1"] */
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "mean") == 0)
    lua_pushnumber(L, hs_dist_mean(d));
  else if (strcmp(k, "offset") == 0)
    lua_pushnumber(L, d->offset);
  else if (strcmp(k, "kind") == 0)
    lua_pushstring(L, hs_dist_kind_name(d->kind));
  else if (strcmp(k, "sample") == 0)
    lua_pushcfunction(L, l_dist_sample);
  else
    lua_pushnil(L);
  return 1;
}

static int l_dist_tostring(lua_State *L) {
  hs_dist *d = check_dist(L, 1);
  if (d->offset > 0)
    lua_pushfstring(L, "Distribution %s + %f s (mean %f s)", hs_dist_kind_name(d->kind), d->offset, hs_dist_mean(d));
  else
    lua_pushfstring(L, "Distribution %s (mean %f s)", hs_dist_kind_name(d->kind), hs_dist_mean(d));
  return 1;
}

/* A duration option: a Distribution, or a number meaning constant(number). */
static void field_dist(lua_State *L, int tidx, const char *field, hs_dist *out) {
  int t = lua_getfield(L, tidx, field);
  if (t == LUA_TNUMBER) {
    double v = lua_tonumber(L, -1);
    if (!hs_time_s_valid(v))
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be a finite number of seconds >= 0, got %f", field, v));
    *out = hs_dist_constant(v);
  } else if (t != LUA_TNIL) {
    hs_dist *d = luaL_testudata(L, -1, HS_DIST_MT);
    if (!d)
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be an hs.dist distribution or a number of seconds, got %s",
                                          field, hs_typename_of(L, -1)));
    *out = *d;
  }
  lua_pop(L, 1);
}

static double field_rate(lua_State *L, int tidx, const char *field) {
  int t = lua_getfield(L, tidx, field);
  double v = 0;
  if (t != LUA_TNIL) {
    if (t != LUA_TNUMBER)
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be a number in [0, 1], got %s", field, hs_typename_of(L, -1)));
    v = lua_tonumber(L, -1);
    if (!(v >= 0 && v <= 1)) luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be in [0, 1], got %f", field, v));
  }
  lua_pop(L, 1);
  return v;
}

static const char *const link_options[] = {"name",          "latency",          "jitter",
                                           "bandwidth_bps", "packet_loss_rate", "duplicate_rate",
                                           "reorder_rate",  "reorder_delay",    NULL};

/* hs.NetworkLink{ latency =, jitter =, bandwidth_bps =, packet_loss_rate =, duplicate_rate =,
 *                 reorder_rate =, reorder_delay =, name = } */
int hs_l_link_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, link_options);
  hs_link_params *p = lua_newuserdatauv(L, sizeof *p, 1); /* 2 */
  hs_link_params_init(p);
  field_dist(L, 1, "latency", &p->latency);
  field_dist(L, 1, "jitter", &p->jitter);
  if (lua_getfield(L, 1, "bandwidth_bps") != LUA_TNIL) {
    double bw = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || !(bw >= 0) || isinf(bw))
      luaL_argerror(L, 1, "field 'bandwidth_bps' must be a finite number >= 0 (0 = unlimited)");
    p->bandwidth_bps = bw;
  }
  lua_pop(L, 1);
  p->packet_loss_rate = field_rate(L, 1, "packet_loss_rate");
  p->duplicate_rate = field_rate(L, 1, "duplicate_rate");
  p->reorder_rate = field_rate(L, 1, "reorder_rate");
  p->reorder_delay_s = hs_field_seconds(L, 1, 1, "reorder_delay", 0, 0);
  const char *err = hs_link_params_validate(p);
  if (err) luaL_argerror(L, 1, err);
  if (lua_getfield(L, 1, "name") != LUA_TNIL && lua_type(L, -1) != LUA_TSTRING)
    luaL_argerror(L, 1, "field 'name' must be a string");
  lua_setiuservalue(L, 2, 1);
  luaL_setmetatable(L, HS_LINK_MT);
  return 1;
}

hs_link_params *hs_check_link(lua_State *L, int idx) { return luaL_checkudata(L, idx, HS_LINK_MT); }

/* Pushes a new NetworkLink holding a copy of p (named name, or unnamed when NULL). */
void hs_push_link(lua_State *L, const hs_link_params *p, const char *name) {
  hs_link_params *u = lua_newuserdatauv(L, sizeof *u, 1);
  *u = *p;
  if (name) {
    lua_pushstring(L, name);
    lua_setiuservalue(L, -2, 1);
  }
  luaL_setmetatable(L, HS_LINK_MT);
}

static void push_dist_copy(lua_State *L, const hs_dist *d) {
  hs_dist *u = lua_newuserdatauv(L, sizeof *u, 0);
  *u = *d;
  luaL_setmetatable(L, HS_DIST_MT);
}

static int l_link_index(lua_State *L) {
  hs_link_params *p = hs_check_link(L, 1);
  if (lua_type(L, 2) != LUA_TSTRING) return 0; /* x[1] is nil, not x["1"] */
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "latency") == 0)
    push_dist_copy(L, &p->latency);
  else if (strcmp(k, "jitter") == 0)
    push_dist_copy(L, &p->jitter);
  else if (strcmp(k, "bandwidth_bps") == 0)
    lua_pushnumber(L, p->bandwidth_bps);
  else if (strcmp(k, "packet_loss_rate") == 0)
    lua_pushnumber(L, p->packet_loss_rate);
  else if (strcmp(k, "duplicate_rate") == 0)
    lua_pushnumber(L, p->duplicate_rate);
  else if (strcmp(k, "reorder_rate") == 0)
    lua_pushnumber(L, p->reorder_rate);
  else if (strcmp(k, "reorder_delay") == 0)
    lua_pushnumber(L, p->reorder_delay_s);
  else if (strcmp(k, "name") == 0)
    lua_getiuservalue(L, 1, 1);
  else
    lua_pushnil(L);
  return 1;
}

static int l_link_tostring(lua_State *L) {
  hs_link_params *p = hs_check_link(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "NetworkLink %s (latency %s mean %f s, loss %f)", lua_isstring(L, -1) ? lua_tostring(L, -1) : "",
                  hs_dist_kind_name(p->latency.kind), hs_dist_mean(&p->latency), p->packet_loss_rate);
  return 1;
}

void hs_dist_open(lua_State *L) {
  luaL_newmetatable(L, HS_DIST_MT);
  lua_pushcfunction(L, l_dist_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_dist_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, l_dist_add);
  lua_setfield(L, -2, "__add");
  lua_pop(L, 1);
  luaL_newmetatable(L, HS_LINK_MT);
  lua_pushcfunction(L, l_link_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_link_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

const luaL_Reg hs_dist_funcs[] = {{"constant", l_constant},       {"uniform", l_uniform},
                                  {"exponential", l_exponential}, {"normal", l_normal},
                                  {"lognormal", l_lognormal},     {"percentiles", l_percentiles},
                                  {NULL, NULL}};
