/*
 * hs_lua_clock.c - hs.LamportClock, hs.HybridLogicalClock, hs.HLCTimestamp and hs.NodeClock:
 * the C clocks of clock/hs_clock.h bound to Lua. (hs.VectorClock, keyed by node names, lives in
 * lua/happysim/clock.lua.)
 *
 *   local c = hs.LamportClock()          c:tick() --> 1; c:send() --> 2; c:receive(7) --> 8; c.time
 *   local h = hs.HybridLogicalClock{ node = "n1", max_offset = 0.5 }
 *   local ts = h:now(pt)                 -- pt: this node's physical time in seconds
 *   local ts2, err = h:receive(remote_ts, pt)   -- nil, { code = "clock_offset" } if remote is too far ahead
 *   local t = hs.HLCTimestamp{ wall = 1.5, logical = 2, node = "n1" }   t.wall, t.wall_ns, t < ts
 *   local nc = hs.NodeClock{ skew = 0.002, drift = 1e-5 }
 *   nc:read(true_s) --> local_s; nc:true_time(local_s); nc:set_drift(at, d); nc:set_skew(at, s)
 *
 * Every clock is a plain value inside its userdata: nothing to free, nothing to close. Timestamps
 * keep integer nanoseconds; Lua sees seconds (and wall_ns for the exact value).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hs_lua.h"
#include "clock/hs_clock.h"

#define HS_LAMPORT_MT "happysim.LamportClock"
#define HS_HLC_MT "happysim.HybridLogicalClock"
#define HS_HLCTS_MT "happysim.HLCTimestamp"
#define HS_NODECLOCK_MT "happysim.NodeClock"

/* ---- shared helpers ------------------------------------------------------------------ */

/* A clock reading in seconds: finite, within +-HS_TIME_MAX_S; negative is allowed (a local
 * clock behind true time reads below 0 near the start of a run). */
static int signed_seconds_ok(double s) { return s >= -HS_TIME_MAX_S && s <= HS_TIME_MAX_S; }

static double check_signed_seconds(lua_State *L, int arg, const char *what) {
  if (lua_type(L, arg) != LUA_TNUMBER)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a number of seconds, got %s", what, hs_typename_of(L, arg)));
  double s = lua_tonumber(L, arg);
  if (!signed_seconds_ok(s))
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be a finite number of seconds, got %f", what, s));
  return s;
}

/* The value of field `field` of the table at tidx as signed seconds, or dflt when absent. */
static double field_signed_seconds(lua_State *L, int tidx, int arg, const char *field, double dflt, int *present) {
  int t = lua_getfield(L, tidx, field);
  double s = dflt;
  if (present) *present = t != LUA_TNIL;
  if (t != LUA_TNIL) {
    if (t != LUA_TNUMBER)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "field '%s' must be a number of seconds, got %s", field, hs_typename_of(L, -1)));
    s = lua_tonumber(L, -1);
    if (!signed_seconds_ok(s))
      luaL_argerror(L, arg, lua_pushfstring(L, "field '%s' must be a finite number of seconds, got %f", field, s));
  }
  lua_pop(L, 1);
  return s;
}

/* The options table at arg: a table, or nothing/nil when every option has a default. Returns
 * whether one was given; unknown option names raise. */
static int check_opt_table(lua_State *L, int arg, const char *const *known) {
  if (lua_isnoneornil(L, arg)) return 0;
  if (lua_type(L, arg) != LUA_TTABLE) luaL_typeerror(L, arg, "table of options");
  hs_check_options(L, arg, arg, known);
  return 1;
}

/* Seconds with nine exact decimals from integer nanoseconds (for __tostring). */
static const char *push_ns_string(lua_State *L, hs_time_ns ns) {
  uint64_t mag = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
  char buf[48];
  snprintf(buf, sizeof buf, "%s%llu.%09llu", ns < 0 ? "-" : "", (unsigned long long)(mag / HS_NS_PER_S),
           (unsigned long long)(mag % HS_NS_PER_S));
  return lua_pushstring(L, buf);
}

/* __index for a clock type: fields through get(L, self, key) (returns 1 after pushing), else
 * the methods table kept as upvalue 1. */
typedef int (*field_getter)(lua_State *L, void *self, const char *key);

static int index_with(lua_State *L, const char *mt, field_getter get) {
  void *self = luaL_checkudata(L, 1, mt);
  if (lua_type(L, 2) == LUA_TSTRING && get(L, self, lua_tostring(L, 2))) return 1;
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static int l_readonly(lua_State *L) {
  const char *name = "clock";
  if (luaL_getmetafield(L, 1, "__name") == LUA_TSTRING) name = lua_tostring(L, -1);
  if (strncmp(name, "happysim.", 9) == 0) name += 9;
  return luaL_error(L, "%s: cannot set field '%s'", name, luaL_tolstring(L, 2, NULL));
}

/* Registers metatable mt with metamethods meta, an __index closure over a methods table, and
 * a __newindex that refuses writes. */
static void new_class(lua_State *L, const char *mt, const luaL_Reg *meta, lua_CFunction index_fn,
                      const luaL_Reg *methods) {
  luaL_newmetatable(L, mt);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_pushcclosure(L, index_fn, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_readonly);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
}

/* ---- LamportClock -------------------------------------------------------------------- */

static hs_lamport *check_lamport(lua_State *L) { return luaL_checkudata(L, 1, HS_LAMPORT_MT); }

/* Lua integers stop at LUA_MAXINTEGER: raise rather than hand out a negative time. */
static void lamport_room(lua_State *L, uint64_t t, const char *fname) {
  if (t >= (uint64_t)LUA_MAXINTEGER) luaL_error(L, "%s: Lamport time would overflow", fname);
}

static lua_Integer check_lamport_time(lua_State *L, int arg, const char *what) {
  int isint;
  lua_Integer t = lua_tointegerx(L, arg, &isint);
  if (lua_type(L, arg) != LUA_TNUMBER || !isint || t < 0)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "%s must be a non-negative integer, got %s", what,
                                  lua_type(L, arg) == LUA_TNUMBER ? luaL_tolstring(L, arg, NULL) : hs_typename_of(L, arg)));
  return t;
}

static const char *const lamport_options[] = {"time", NULL};

/* hs.LamportClock([{ time = 0 }]) */
static int l_lamport_new(lua_State *L) {
  lua_Integer t = 0;
  if (check_opt_table(L, 1, lamport_options)) {
    if (lua_getfield(L, 1, "time") != LUA_TNIL) t = check_lamport_time(L, -1, "field 'time'");
    lua_pop(L, 1);
  }
  hs_lamport *c = lua_newuserdatauv(L, sizeof *c, 0);
  hs_lamport_init(c);
  c->time = (uint64_t)t;
  luaL_setmetatable(L, HS_LAMPORT_MT);
  return 1;
}

/* c:tick() -> time: a local event. */
static int l_lamport_tick(lua_State *L) {
  hs_lamport *c = check_lamport(L);
  lamport_room(L, c->time, "tick");
  lua_pushinteger(L, (lua_Integer)hs_lamport_tick(c));
  return 1;
}

/* c:send() -> the timestamp to put in the message (a tick). */
static int l_lamport_send(lua_State *L) {
  hs_lamport *c = check_lamport(L);
  lamport_room(L, c->time, "send");
  lua_pushinteger(L, (lua_Integer)hs_lamport_send(c));
  return 1;
}

/* c:receive(remote) -> time = max(time, remote) + 1. */
static int l_lamport_receive(lua_State *L) {
  hs_lamport *c = check_lamport(L);
  lua_Integer remote = check_lamport_time(L, 2, "remote timestamp");
  lamport_room(L, (uint64_t)remote > c->time ? (uint64_t)remote : c->time, "receive");
  lua_pushinteger(L, (lua_Integer)hs_lamport_receive(c, (uint64_t)remote));
  return 1;
}

static int lamport_field(lua_State *L, void *self, const char *key) {
  if (strcmp(key, "time") != 0) return 0;
  lua_pushinteger(L, (lua_Integer)((hs_lamport *)self)->time);
  return 1;
}

static int l_lamport_index(lua_State *L) { return index_with(L, HS_LAMPORT_MT, lamport_field); }

static int l_lamport_tostring(lua_State *L) {
  lua_pushfstring(L, "LamportClock(%I)", (lua_Integer)check_lamport(L)->time);
  return 1;
}

/* ---- HLCTimestamp -------------------------------------------------------------------- */

/* User value 1: the node name (a string) or nil. */
typedef struct lhlcts {
  hs_hlc_ts ts;
} lhlcts;

static lhlcts *check_ts(lua_State *L, int idx) { return luaL_checkudata(L, idx, HS_HLCTS_MT); }

/* Pushes a new HLCTimestamp for ts, with the value at node_idx (a string or nil) as its node. */
static void push_ts(lua_State *L, hs_hlc_ts ts, int node_idx) {
  node_idx = lua_absindex(L, node_idx);
  lhlcts *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->ts = ts;
  luaL_setmetatable(L, HS_HLCTS_MT);
  lua_pushvalue(L, node_idx);
  lua_setiuservalue(L, -2, 1);
}

static const char *const ts_options[] = {"wall", "wall_ns", "logical", "node", NULL};

/*
 * Reads a timestamp description { wall = s | wall_ns = n, logical = 0, node = nil } at tidx
 * (arg for messages). Leaves the node (string or nil) pushed on the stack.
 */
static hs_hlc_ts read_ts_table(lua_State *L, int tidx, int arg) {
  hs_check_options(L, tidx, arg, ts_options);
  hs_hlc_ts ts = {0, 0};
  int has_wall;
  double wall = field_signed_seconds(L, tidx, arg, "wall", 0, &has_wall);
  int t = lua_getfield(L, tidx, "wall_ns");
  if (t != LUA_TNIL) {
    if (has_wall) luaL_argerror(L, arg, "give field 'wall' or field 'wall_ns', not both");
    int isint;
    lua_Integer ns = lua_tointegerx(L, -1, &isint);
    hs_time_ns lim = (hs_time_ns)(HS_TIME_MAX_S * (double)HS_NS_PER_S);
    if (t != LUA_TNUMBER || !isint || ns < -lim || ns > lim)
      luaL_argerror(L, arg, lua_pushfstring(L, "field 'wall_ns' must be an integer number of nanoseconds, got %s",
                                            t == LUA_TNUMBER ? luaL_tolstring(L, -1, NULL) : hs_typename_of(L, -1)));
    ts.l = ns;
  } else if (has_wall) {
    ts.l = hs_time_from_s(wall);
  } else {
    luaL_argerror(L, arg, "field 'wall' is required");
  }
  lua_pop(L, 1);
  t = lua_getfield(L, tidx, "logical");
  if (t != LUA_TNIL) {
    int isint;
    lua_Integer c = lua_tointegerx(L, -1, &isint);
    if (t != LUA_TNUMBER || !isint || c < 0 || c > (lua_Integer)UINT32_MAX)
      luaL_argerror(L, arg, lua_pushfstring(L, "field 'logical' must be an integer in [0, 2^32), got %s",
                                            t == LUA_TNUMBER ? luaL_tolstring(L, -1, NULL) : hs_typename_of(L, -1)));
    ts.c = (uint32_t)c;
  }
  lua_pop(L, 1);
  t = lua_getfield(L, tidx, "node");
  if (t != LUA_TNIL && t != LUA_TSTRING)
    luaL_argerror(L, arg, lua_pushfstring(L, "field 'node' must be a string, got %s", hs_typename_of(L, -1)));
  return ts;
}

/* hs.HLCTimestamp{ wall = seconds | wall_ns = integer, logical = 0, node = nil } */
static int l_ts_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_hlc_ts ts = read_ts_table(L, 1, 1); /* node at 2 */
  push_ts(L, ts, 2);
  return 1;
}

/*
 * Total order on timestamps: (wall, logical), then node as a tie-breaker (no node sorts
 * first, names by bytes), so that two nodes' writes with equal (wall, logical) still order
 * deterministically. Returns <0, 0 or >0.
 */
static int ts_cmp(lua_State *L, int a, int b) {
  hs_order o = hs_hlc_ts_compare(check_ts(L, a)->ts, check_ts(L, b)->ts);
  if (o != HS_ORDER_EQUAL) return o == HS_ORDER_BEFORE ? -1 : 1;
  lua_getiuservalue(L, a, 1);
  lua_getiuservalue(L, b, 1);
  int r;
  if (lua_isnil(L, -2) || lua_isnil(L, -1)) {
    r = lua_isnil(L, -1) - lua_isnil(L, -2); /* nil < string */
  } else {
    size_t la, lb;
    const char *sa = lua_tolstring(L, -2, &la), *sb = lua_tolstring(L, -1, &lb);
    r = memcmp(sa, sb, la < lb ? la : lb);
    if (r == 0) r = (la > lb) - (la < lb);
  }
  lua_pop(L, 2);
  return r;
}

/* a < b with a non-timestamp operand is an error that names both types. */
static void check_both_ts(lua_State *L) {
  if (!luaL_testudata(L, 1, HS_HLCTS_MT) || !luaL_testudata(L, 2, HS_HLCTS_MT))
    luaL_error(L, "attempt to compare %s with %s", hs_typename_of(L, 1), hs_typename_of(L, 2));
}

static int l_ts_lt(lua_State *L) {
  check_both_ts(L);
  lua_pushboolean(L, ts_cmp(L, 1, 2) < 0);
  return 1;
}

static int l_ts_le(lua_State *L) {
  check_both_ts(L);
  lua_pushboolean(L, ts_cmp(L, 1, 2) <= 0);
  return 1;
}

static int l_ts_eq(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, HS_HLCTS_MT) && luaL_testudata(L, 2, HS_HLCTS_MT) && ts_cmp(L, 1, 2) == 0);
  return 1;
}

static int l_ts_tostring(lua_State *L) {
  lhlcts *u = check_ts(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "HLCTimestamp{wall=");
  push_ns_string(L, u->ts.l);
  luaL_addvalue(&b);
  lua_pushfstring(L, ", logical=%I", (lua_Integer)u->ts.c);
  luaL_addvalue(&b);
  if (lua_getiuservalue(L, 1, 1) == LUA_TSTRING) {
    lua_pushfstring(L, ", node=%s", lua_tostring(L, -1));
    lua_remove(L, -2);
    luaL_addvalue(&b);
  } else {
    lua_pop(L, 1);
  }
  luaL_addchar(&b, '}');
  luaL_pushresult(&b);
  return 1;
}

/* ts:to_table() -> { wall_ns =, logical =, node = }: a plain table to put in a message
 * (userdata cannot be sent); hs.HLCTimestamp(t) and hlc:receive(t, pt) take it back. */
static int l_ts_to_table(lua_State *L) {
  lhlcts *u = check_ts(L, 1);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, u->ts.l);
  lua_setfield(L, -2, "wall_ns");
  lua_pushinteger(L, u->ts.c);
  lua_setfield(L, -2, "logical");
  lua_getiuservalue(L, 1, 1);
  lua_setfield(L, -2, "node");
  return 1;
}

static int ts_field(lua_State *L, void *self, const char *key) {
  lhlcts *u = self;
  if (strcmp(key, "wall") == 0)
    lua_pushnumber(L, hs_time_to_s(u->ts.l));
  else if (strcmp(key, "wall_ns") == 0)
    lua_pushinteger(L, u->ts.l);
  else if (strcmp(key, "logical") == 0)
    lua_pushinteger(L, u->ts.c);
  else if (strcmp(key, "node") == 0)
    lua_getiuservalue(L, 1, 1);
  else
    return 0;
  return 1;
}

static int l_ts_index(lua_State *L) { return index_with(L, HS_HLCTS_MT, ts_field); }

/* ---- HybridLogicalClock -------------------------------------------------------------- */

/* User value 1: the node name (string) or nil. last.l == INT64_MIN: nothing issued yet
 * (no accepted physical time or remote timestamp can reach it). */
typedef struct lhlc {
  hs_hlc h;
} lhlc;

static lhlc *check_hlc(lua_State *L) { return luaL_checkudata(L, 1, HS_HLC_MT); }

static const char *const hlc_options[] = {"node", "max_offset", NULL};

/* hs.HybridLogicalClock{ node = "n1", max_offset = seconds } (both optional) */
static int l_hlc_new(lua_State *L) {
  double max_offset = 0;
  lua_settop(L, 1);
  if (check_opt_table(L, 1, hlc_options)) {
    if (lua_getfield(L, 1, "node") != LUA_TNIL && lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'node' must be a string, got %s", hs_typename_of(L, -1)));
    max_offset = hs_field_seconds(L, 1, 1, "max_offset", 0, 0);
    lua_getfield(L, 1, "max_offset");
    if (!lua_isnil(L, -1) && !(max_offset > 0))
      luaL_argerror(L, 1, "field 'max_offset' must be > 0 (leave it out to accept any offset)");
    lua_pop(L, 1);
  } else {
    lua_pushnil(L);
  }
  /* the node (or nil) is at 2 */
  lhlc *u = lua_newuserdatauv(L, sizeof *u, 1);
  hs_hlc_init(&u->h, hs_time_from_s(max_offset));
  luaL_setmetatable(L, HS_HLC_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* h:now(pt) -> HLCTimestamp; h:send(pt) is the same event: stamp the outgoing message. */
static int hlc_local_event(lua_State *L, const char *fname) {
  lhlc *u = check_hlc(L);
  double pt = check_signed_seconds(L, 2, "physical time");
  hs_hlc_ts ts;
  if (hs_hlc_now(&u->h, hs_time_from_s(pt), &ts) != HS_OK) return luaL_error(L, "%s: logical counter overflow", fname);
  lua_getiuservalue(L, 1, 1);
  push_ts(L, ts, -1);
  return 1;
}

static int l_hlc_now(lua_State *L) { return hlc_local_event(L, "now"); }
static int l_hlc_send(lua_State *L) { return hlc_local_event(L, "send"); }

/*
 * h:receive(remote, pt) -> HLCTimestamp, or nil, err when max_offset is set and the remote
 * wall time is more than max_offset ahead of pt (err.code "clock_offset", err.offset and
 * err.max_offset in seconds); the clock is unchanged then. remote is an HLCTimestamp or a
 * table as hs.HLCTimestamp takes (what ts:to_table() gives).
 */
static int l_hlc_receive(lua_State *L) {
  lhlc *u = check_hlc(L);
  int is_ts = luaL_testudata(L, 2, HS_HLCTS_MT) != NULL;
  if (!is_ts && lua_type(L, 2) != LUA_TTABLE) return luaL_typeerror(L, 2, "HLCTimestamp or timestamp table");
  hs_time_ns pt = hs_time_from_s(check_signed_seconds(L, 3, "physical time"));
  lua_settop(L, 3);
  hs_hlc_ts remote;
  if (is_ts) {
    remote = check_ts(L, 2)->ts;
  } else {
    remote = read_ts_table(L, 2, 2);
    lua_pop(L, 1);
  }
  /* checked here to tell the offset refusal from a counter overflow; the C clock then never
   * sees such a remote */
  uint64_t ahead = hs_hlc_ahead(pt, remote);
  if (u->h.max_offset > 0 && ahead > (uint64_t)u->h.max_offset) {
    double offset = (double)ahead / (double)HS_NS_PER_S, max = hs_time_to_s(u->h.max_offset);
    lua_pushnil(L);
    hs_push_error(L, "clock_offset",
                  lua_pushfstring(L, "receive: remote timestamp is %f s ahead of physical time, more than max_offset %f s",
                                  offset, max));
    lua_remove(L, -2);
    lua_pushnumber(L, offset);
    lua_setfield(L, -2, "offset");
    lua_pushnumber(L, max);
    lua_setfield(L, -2, "max_offset");
    return 2;
  }
  hs_hlc_ts ts;
  if (hs_hlc_receive(&u->h, pt, remote, &ts) != HS_OK) return luaL_error(L, "receive: logical counter overflow");
  lua_getiuservalue(L, 1, 1);
  push_ts(L, ts, -1);
  return 1;
}

static int hlc_field(lua_State *L, void *self, const char *key) {
  lhlc *u = self;
  if (strcmp(key, "node") == 0) {
    lua_getiuservalue(L, 1, 1);
  } else if (strcmp(key, "max_offset") == 0) {
    if (u->h.max_offset > 0)
      lua_pushnumber(L, hs_time_to_s(u->h.max_offset));
    else
      lua_pushnil(L);
  } else if (strcmp(key, "last") == 0) {
    if (u->h.last.l == INT64_MIN) {
      lua_pushnil(L);
    } else {
      lua_getiuservalue(L, 1, 1);
      push_ts(L, u->h.last, -1);
      lua_remove(L, -2);
    }
  } else {
    return 0;
  }
  return 1;
}

static int l_hlc_index(lua_State *L) { return index_with(L, HS_HLC_MT, hlc_field); }

static int l_hlc_tostring(lua_State *L) {
  lhlc *u = check_hlc(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "HybridLogicalClock(");
  if (lua_getiuservalue(L, 1, 1) == LUA_TSTRING) {
    luaL_addvalue(&b);
    luaL_addstring(&b, ", ");
  } else {
    lua_pop(L, 1);
  }
  if (u->h.last.l == INT64_MIN) {
    luaL_addstring(&b, "unused");
  } else {
    luaL_addstring(&b, "last=");
    push_ns_string(L, u->h.last.l);
    luaL_addvalue(&b);
    lua_pushfstring(L, "/%I", (lua_Integer)u->h.last.c);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

/* ---- NodeClock ----------------------------------------------------------------------- */

/* User value 1: the Simulation whose now is used when a time argument is left out, or nil.
 * The model keeps no history: readings for times before changed_at are extrapolated from the
 * current skew and drift. */
typedef struct lnodeclock {
  hs_clock_model m;
} lnodeclock;

static lnodeclock *check_nodeclock(lua_State *L) { return luaL_checkudata(L, 1, HS_NODECLOCK_MT); }

/* Every intermediate of the model's integer arithmetic must stay inside int64 nanoseconds:
 * checked in double first (9.0e18 leaves ample room below INT64_MAX for rounding). */
static int fits_ns(double x) { return fabs(x) <= 9.0e18; }

/* local(t), or raises when the reading (or a step towards it) is out of range. */
static hs_time_ns model_local(lua_State *L, const hs_clock_model *m, hs_time_ns t, const char *fname) {
  double el = (double)t - (double)m->origin_true;
  double scaled = el * (1 + m->drift);
  if (!fits_ns(el) || !fits_ns(el * m->drift) || !fits_ns(scaled) || !fits_ns((double)m->origin_local + scaled))
    luaL_error(L, "%s: the clock's reading is out of range", fname);
  return hs_clock_model_local(m, t);
}

static hs_time_ns skew_ns_of(lua_State *L, int arg, double skew, int is_field) {
  hs_time_ns ns = hs_time_from_s(skew);
  const char *bad = hs_clock_model_validate(ns, 0);
  if (bad) luaL_argerror(L, arg, is_field ? lua_pushfstring(L, "field 'skew': %s", bad) : bad);
  return ns;
}

static double check_drift(lua_State *L, int arg, double drift, int is_field) {
  const char *bad = hs_clock_model_validate(0, drift);
  if (bad) {
    lua_pushnumber(L, drift);
    const char *got = luaL_tolstring(L, -1, NULL);
    luaL_argerror(L, arg, lua_pushfstring(L, "%s%s, got %s", is_field ? "field 'drift': " : "", bad, got));
  }
  return drift;
}

static const char *const nodeclock_options[] = {"skew", "drift", "sim", NULL};

/* hs.NodeClock{ skew = 0, drift = 0, sim = nil }: local = true * (1 + drift) + skew. With sim,
 * read() and offset() without a time, and the one-argument set_skew(s) / set_drift(d), use the
 * simulation's now. */
static int l_nodeclock_new(lua_State *L) {
  double skew = 0, drift = 0;
  lua_settop(L, 1);
  if (check_opt_table(L, 1, nodeclock_options)) {
    skew = field_signed_seconds(L, 1, 1, "skew", 0, NULL);
    int t = lua_getfield(L, 1, "drift");
    if (t != LUA_TNIL) {
      if (t != LUA_TNUMBER)
        luaL_argerror(L, 1, lua_pushfstring(L, "field 'drift' must be a number, got %s", hs_typename_of(L, -1)));
      drift = check_drift(L, 1, lua_tonumber(L, -1), 1);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "sim") != LUA_TNIL) {
      if (!luaL_testudata(L, -1, HS_SIM_MT))
        luaL_argerror(L, 1, lua_pushfstring(L, "field 'sim' must be a Simulation, got %s", hs_typename_of(L, -1)));
      hs_check_sim(L, -1);
    }
  } else {
    lua_pushnil(L);
  }
  /* the sim (or nil) is at 2 */
  hs_time_ns skew_ns = skew_ns_of(L, 1, skew, 1);
  lnodeclock *u = lua_newuserdatauv(L, sizeof *u, 1);
  hs_clock_model_init(&u->m, skew_ns, drift);
  luaL_setmetatable(L, HS_NODECLOCK_MT);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* The simulation's now for a left-out time argument; raises when the clock has no sim (or it
 * was closed). */
static hs_time_ns sim_now(lua_State *L, const char *fname, const char *usage) {
  if (lua_getiuservalue(L, 1, 1) == LUA_TNIL)
    luaL_error(L, "%s: no time given and the clock has no 'sim' (call %s)", fname, usage);
  hs_time_ns now = hs_sim_now(&hs_check_sim(L, -1)->sim);
  lua_pop(L, 1);
  return now;
}

/* The true time at argument 2, or the sim's now when it is left out. */
static hs_time_ns true_time_arg(lua_State *L, const char *fname, const char *usage) {
  if (lua_isnoneornil(L, 2)) return sim_now(L, fname, usage);
  return hs_time_from_s(hs_check_seconds(L, 2, "true time"));
}

/* c:read([true_time]) -> the local clock's reading (seconds) at true simulation time t. */
static int l_nodeclock_read(lua_State *L) {
  lnodeclock *u = check_nodeclock(L);
  hs_time_ns t = true_time_arg(L, "read", "read(true_time)");
  lua_pushnumber(L, hs_time_to_s(model_local(L, &u->m, t, "read")));
  return 1;
}

/* c:offset([true_time]) -> local - true at that time (seconds). */
static int l_nodeclock_offset(lua_State *L) {
  lnodeclock *u = check_nodeclock(L);
  hs_time_ns t = true_time_arg(L, "offset", "offset(true_time)");
  lua_pushnumber(L, hs_time_to_s(model_local(L, &u->m, t, "offset") - t));
  return 1;
}

/* c:true_time(local) -> the true time (seconds) at which the clock first reads local (to the
 * nanosecond); it may be negative (before the run began). */
static int l_nodeclock_true_time(lua_State *L) {
  lnodeclock *u = check_nodeclock(L);
  hs_time_ns local = hs_time_from_s(check_signed_seconds(L, 2, "local time"));
  double back = ((double)local - (double)u->m.origin_local) / (1 + u->m.drift);
  if (!fits_ns((double)local - (double)u->m.origin_local) || !fits_ns(back) ||
      !fits_ns((double)u->m.origin_true + back))
    return luaL_error(L, "true_time: the true time is out of range");
  lua_pushnumber(L, hs_time_to_s(hs_clock_model_true(&u->m, local)));
  return 1;
}

/*
 * The `at` of set_skew/set_drift: argument 2 when two values are given, else the sim's now.
 * A change cannot go before the last one (that would rewrite readings already handed out).
 * Sets *value_arg to the index of the new value.
 */
static hs_time_ns change_time(lua_State *L, lnodeclock *u, const char *fname, const char *usage, int *value_arg) {
  hs_time_ns at;
  if (lua_gettop(L) >= 3) {
    at = hs_time_from_s(hs_check_seconds(L, 2, "at"));
    *value_arg = 3;
  } else {
    luaL_checkany(L, 2);
    at = sim_now(L, fname, usage);
    *value_arg = 2;
  }
  if (at < u->m.origin_true) {
    lua_pushnumber(L, hs_time_to_s(at));
    lua_pushnumber(L, hs_time_to_s(u->m.origin_true));
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "at (%s) is before the clock's last change (%s)", lua_tostring(L, -2),
                                  lua_tostring(L, -1)));
  }
  return at;
}

/* c:set_drift(at, drift) or c:set_drift(drift) (at = the sim's now): the rate changes from
 * then on and the reading stays continuous. */
static int l_nodeclock_set_drift(lua_State *L) {
  lnodeclock *u = check_nodeclock(L);
  int arg;
  hs_time_ns at = change_time(L, u, "set_drift", "set_drift(at, drift)", &arg);
  if (lua_type(L, arg) != LUA_TNUMBER)
    luaL_argerror(L, arg, lua_pushfstring(L, "drift must be a number, got %s", hs_typename_of(L, arg)));
  double drift = check_drift(L, arg, lua_tonumber(L, arg), 0);
  model_local(L, &u->m, at, "set_drift"); /* the reading it keeps must be representable */
  hs_clock_model_set_drift(&u->m, at, drift);
  return 0;
}

/* c:set_skew(at, skew) or c:set_skew(skew): steps the clock so that it reads at + skew at
 * at; the drift continues from there. */
static int l_nodeclock_set_skew(lua_State *L) {
  lnodeclock *u = check_nodeclock(L);
  int arg;
  hs_time_ns at = change_time(L, u, "set_skew", "set_skew(at, skew)", &arg);
  hs_time_ns skew = skew_ns_of(L, arg, check_signed_seconds(L, arg, "skew"), 0);
  if (!fits_ns((double)at + (double)skew)) return luaL_error(L, "set_skew: the clock's reading is out of range");
  hs_clock_model_set_skew(&u->m, at, skew);
  return 0;
}

/* Fields: skew (local - true at the last change; the option's value until one), drift,
 * changed_at (true time of the last change, 0 at first), sim. */
static int nodeclock_field(lua_State *L, void *self, const char *key) {
  lnodeclock *u = self;
  if (strcmp(key, "skew") == 0)
    lua_pushnumber(L, hs_time_to_s(u->m.origin_local - u->m.origin_true));
  else if (strcmp(key, "drift") == 0)
    lua_pushnumber(L, u->m.drift);
  else if (strcmp(key, "changed_at") == 0)
    lua_pushnumber(L, hs_time_to_s(u->m.origin_true));
  else if (strcmp(key, "sim") == 0)
    lua_getiuservalue(L, 1, 1);
  else
    return 0;
  return 1;
}

static int l_nodeclock_index(lua_State *L) { return index_with(L, HS_NODECLOCK_MT, nodeclock_field); }

static int l_nodeclock_tostring(lua_State *L) {
  lnodeclock *u = check_nodeclock(L);
  push_ns_string(L, u->m.origin_local - u->m.origin_true);
  lua_pushnumber(L, u->m.drift);
  lua_pushfstring(L, "NodeClock{skew=%s, drift=%s}", lua_tostring(L, -2), lua_tostring(L, -1));
  return 1;
}

/* ---- registration -------------------------------------------------------------------- */

int hs_l_lamport_new(lua_State *L) { return l_lamport_new(L); }
int hs_l_hlc_new(lua_State *L) { return l_hlc_new(L); }
int hs_l_hlc_ts_new(lua_State *L) { return l_ts_new(L); }
int hs_l_nodeclock_new(lua_State *L) { return l_nodeclock_new(L); }

void hs_clock_open(lua_State *L) {
  static const luaL_Reg lamport_meta[] = {{"__tostring", l_lamport_tostring}, {NULL, NULL}};
  static const luaL_Reg lamport_methods[] = {
      {"tick", l_lamport_tick}, {"send", l_lamport_send}, {"receive", l_lamport_receive}, {NULL, NULL}};
  new_class(L, HS_LAMPORT_MT, lamport_meta, l_lamport_index, lamport_methods);

  static const luaL_Reg ts_meta[] = {
      {"__lt", l_ts_lt}, {"__le", l_ts_le}, {"__eq", l_ts_eq}, {"__tostring", l_ts_tostring}, {NULL, NULL}};
  static const luaL_Reg ts_methods[] = {{"to_table", l_ts_to_table}, {NULL, NULL}};
  new_class(L, HS_HLCTS_MT, ts_meta, l_ts_index, ts_methods);

  static const luaL_Reg hlc_meta[] = {{"__tostring", l_hlc_tostring}, {NULL, NULL}};
  static const luaL_Reg hlc_methods[] = {
      {"now", l_hlc_now}, {"send", l_hlc_send}, {"receive", l_hlc_receive}, {NULL, NULL}};
  new_class(L, HS_HLC_MT, hlc_meta, l_hlc_index, hlc_methods);

  static const luaL_Reg nodeclock_meta[] = {{"__tostring", l_nodeclock_tostring}, {NULL, NULL}};
  static const luaL_Reg nodeclock_methods[] = {{"read", l_nodeclock_read},         {"true_time", l_nodeclock_true_time},
                                               {"offset", l_nodeclock_offset},     {"set_drift", l_nodeclock_set_drift},
                                               {"set_skew", l_nodeclock_set_skew}, {NULL, NULL}};
  new_class(L, HS_NODECLOCK_MT, nodeclock_meta, l_nodeclock_index, nodeclock_methods);
}
