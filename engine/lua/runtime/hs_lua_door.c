/*
 * hs_lua_door.c - the one door from C into Lua.
 *
 * Every time the engine calls Lua code (an entity's handle_event, a process, a sim:timer
 * callback, an event's target function, a network filter, a reply's future, a Lua state
 * machine, a process's completion callback, the trace function) it goes through here, as
 * luv's callbacks all go through luv_call_callback. This file owns the three things each
 * call site used to do its own way:
 *
 *   - the traceback handler (hs_door_msgh), which also renders error values that are not
 *     strings: their __tostring, else `{ code = ..., message = ... }`, never `table: 0x...`;
 *   - the message: "happysim: error at t=<simulated seconds> in <site>: <error>" and the
 *     traceback of the failing thread, where <site> names the entity, the event or message
 *     type and the kind of callback (hs_door_site);
 *   - what an error does: during a run it stops the run after the current event, and the
 *     sim:run / run_until / step call raises the first such message. Between runs (a filter
 *     run by a top-level net:send, a state machine restored by node:restart()) it is kept as
 *     the simulation's pending error, which hs_door_raise raises as the Lua call that led here
 *     returns (and the next run raises before it starts, if nothing did).
 */
#include "hs_lua.h"

/* Protected: pushes a readable string for the error value at 1. */
static int render_protected(lua_State *L) {
  int t = lua_type(L, 1);
  if (t == LUA_TSTRING) return 1;
  if (t == LUA_TNIL) {
    lua_pushliteral(L, "nil (an error raised without a value)");
    return 1;
  }
  if (t != LUA_TTABLE || luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
    luaL_tolstring(L, 1, NULL);
    return 1;
  }
  /* a table without __tostring: its code and message, the convention of hs.error values */
  static const char *const fields[] = {"code", "message"};
  int n = 0;
  lua_pushliteral(L, "{ ");
  for (int i = 0; i < 2; i++) {
    int ft = lua_getfield(L, 1, fields[i]);
    if (ft == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushfstring(L, "%s%s = ", n ? ", " : "", fields[i]);
    if (ft == LUA_TSTRING)
      lua_pushfstring(L, "\"%s\"", lua_tostring(L, -2));
    else
      luaL_tolstring(L, -2, NULL);
    lua_remove(L, -3);
    n++;
  }
  if (n == 0) {
    lua_settop(L, 1);
    lua_pushliteral(L, "a table with no __tostring, code or message");
    return 1;
  }
  lua_pushliteral(L, " }");
  lua_concat(L, 2 * n + 2);
  return 1;
}

/* Pushes a readable string for the error value at idx and returns it. */
static const char *render(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, render_protected);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushliteral(L, "an error value that cannot be rendered (its __tostring raised)");
  }
  return lua_tostring(L, -1);
}

int hs_door_msgh(lua_State *L) {
  const char *msg = render(L, 1);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Pushes "<site>", e.g. "entity 'server' handling 'Request'" or "network filter 'net' for
 * entity 'b' handling 'Ping'" or "timer callback". */
static void push_site(lua_State *L, const hs_door_site *s) {
  int n = 0;
  if (s->what) {
    lua_pushstring(L, s->what);
    n++;
    if (s->name) {
      lua_pushfstring(L, " '%s'", s->name);
      n++;
    }
  }
  if (s->entity) {
    lua_pushfstring(L, "%sentity '%s'", n ? " for " : "", s->entity->name ? s->entity->name : "?");
    n++;
  }
  if (s->event) {
    lua_pushfstring(L, "%shandling '%s'", n ? " " : "", s->event);
    n++;
  }
  if (n == 0) {
    lua_pushliteral(L, "Lua code");
    n = 1;
  }
  lua_concat(L, n);
}

void hs_door_fail(lua_State *L, hs_lsim *ls, lua_State *co, const hs_door_site *site) {
  int err = lua_gettop(L);
  const char *msg = render(L, err);
  lua_pushfstring(L, "happysim: error at t=%f in ", hs_time_to_s(ls->sim.now_ns));
  push_site(L, site);
  lua_pushliteral(L, ": ");
  if (co)
    luaL_traceback(L, co, msg, 0);
  else
    lua_pushvalue(L, err + 1);
  lua_concat(L, 4);
  lua_replace(L, err);
  lua_settop(L, err);
  hs_sim_fail(ls, L);
}

int hs_door_call(lua_State *L, hs_lsim *ls, int nargs, int nresults, const hs_door_site *site) {
  int fn = lua_gettop(L) - nargs;
  int msgh;
  if (L == ls->L && lua_tocfunction(L, ls->msgh_idx) == hs_door_msgh) {
    msgh = ls->msgh_idx; /* the run loop's frame keeps one at hand */
  } else {
    lua_pushcfunction(L, hs_door_msgh);
    lua_insert(L, fn);
    msgh = fn;
  }
  int st = lua_pcall(L, nargs, nresults, msgh);
  if (msgh == fn) lua_remove(L, msgh);
  if (st != LUA_OK) hs_door_fail(L, ls, NULL, site);
  return st;
}

int hs_door_resume(hs_lsim *ls, lua_State *co, lua_State *from, int nargs, int *nres, const hs_door_site *site) {
  int st = lua_resume(co, from, nargs, nres);
  if (st != LUA_OK && st != LUA_YIELD) {
    lua_xmove(co, from, 1);
    hs_door_fail(from, ls, co, site);
  }
  return st;
}

void hs_door_raise(lua_State *L, hs_lsim *ls) {
  if (!ls->failed || ls->L) return;
  ls->failed = 0;
  ls->sim.stop_requested = false; /* hs_sim_fail asked the run that was not going on to stop */
  hs_push_sim(L, ls);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, "error");
  lua_pushnil(L);
  lua_setfield(L, -3, "error");
  lua_error(L);
}
