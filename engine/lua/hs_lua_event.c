/*
 * hs_lua_event.c - hs.Event (a scheduled delivery to an entity) and sim:timer
 * (a synchronous callback, optionally periodic).
 *
 * A pending event or timer is anchored in U.anchors[slot] so the collector keeps it;
 * the slot is released when it fires for good or is cancelled.
 */
#include <string.h>

#include "hs_lua.h"

enum { UV_TYPE = 1, UV_TARGET = 2, UV_PAYLOAD = 3, UV_SIM = 4 };
#define UV_FN UV_TYPE /* a timer keeps its callback where an event keeps its type */

static hs_levent *check_event(lua_State *L, int idx) { return luaL_checkudata(L, idx, HS_EVENT_MT); }

/* Lets go of the anchor and the reference to the simulation; ev is at ev_idx on L. */
static void unanchor(lua_State *L, hs_lsim *ls, hs_levent *le, int anchors_idx, int ev_idx) {
  if (!le->anchor) return;
  lua_pushnil(L);
  lua_rawseti(L, anchors_idx, le->anchor);
  hs_anchor_release(ls, le->anchor);
  le->anchor = 0;
  lua_pushnil(L);
  lua_setiuservalue(L, ev_idx, UV_SIM);
}

/* Whether the value at idx has a __call metamethod. */
static int callable(lua_State *L, int idx) {
  if (luaL_getmetafield(L, idx, "__call") == LUA_TNIL) return 0;
  lua_pop(L, 1);
  return 1;
}

/* Fires an hs.Event: its target's handle_event (or the target function) runs as a process. */
static void event_fire(hs_sim *sim, hs_event *ev) {
  hs_levent *le = HS_CONTAINER_OF(ev, hs_levent, ev);
  hs_lsim *ls = hs_lsim_of(sim);
  lua_State *L = ls->L;
  int top = lua_gettop(L);
  lua_rawgeti(L, ls->anchors_idx, le->anchor);
  int evi = top + 1;
  unanchor(L, ls, le, ls->anchors_idx, evi);
  if (ev->target && hs_entity_crashed(ev->target)) { /* a crashed entity receives nothing */
    ls->events_dropped++;
    lua_settop(L, top);
    return;
  }
  int nargs;
  if (lua_getiuservalue(L, evi, UV_TARGET) == LUA_TFUNCTION) {
    lua_pushvalue(L, evi);
    nargs = 1;
  } else {
    lua_getfield(L, -1, "handle_event");
    if (!lua_isfunction(L, -1) && !callable(L, -1)) {
      hs_door_site site = {NULL, NULL, ev->target, ev->type};
      lua_pushliteral(L, "the entity has no handle_event method");
      hs_door_fail(L, ls, NULL, &site);
      lua_settop(L, top);
      return;
    }
    lua_insert(L, -2); /* handle_event, entity */
    lua_pushvalue(L, evi);
    nargs = 2;
  }
  hs_proc_start_now(L, 2, nargs, ev->type, ev->target);
  lua_settop(L, top);
}

static const char *const event_options[] = {"time", "type", "target", "payload", "daemon", NULL};

/* hs.Event{ time =, type =, target =, payload =, daemon = false } */
int hs_l_event_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, event_options);
  double t = hs_field_seconds(L, 1, 1, "time", 0, 1);
  int daemon = hs_field_boolean(L, 1, 1, "daemon", 0);
  hs_levent *le = lua_newuserdatauv(L, sizeof *le, 4); /* index 2 */
  memset(le, 0, sizeof *le);
  hs_event_init(&le->ev, event_fire, NULL, "Event");
  le->time_ns = hs_time_from_s(t);
  hs_event_set_daemon(&le->ev, daemon);
  luaL_setmetatable(L, HS_EVENT_MT);
  int tt = lua_getfield(L, 1, "type");
  if (tt == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "Event");
  } else if (tt != LUA_TSTRING) {
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'type' must be a string, got %s", hs_typename_of(L, -1)));
  }
  le->ev.type = lua_tostring(L, -1); /* kept alive by the user value */
  lua_setiuservalue(L, 2, UV_TYPE);
  int target = lua_getfield(L, 1, "target");
  if (target != LUA_TTABLE && target != LUA_TFUNCTION)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'target' must be an entity or a function, got %s",
                                        hs_typename_of(L, -1)));
  lua_setiuservalue(L, 2, UV_TARGET);
  lua_getfield(L, 1, "payload");
  lua_setiuservalue(L, 2, UV_PAYLOAD);
  return 1;
}

/* Schedules the hs.Event at ev_idx on the simulation at sim_idx (both on L). */
int hs_levent_schedule(lua_State *L, int sim_idx, int ev_idx) {
  hs_lsim *ls = lua_touserdata(L, sim_idx);
  hs_levent *le = check_event(L, ev_idx);
  if (hs_event_pending(&le->ev) && le->owner && !le->owner->sim.closed)
    return luaL_error(L, "schedule: event '%s' is already scheduled", le->ev.type);
  if (le->time_ns < ls->sim.now_ns)
    return luaL_error(L, "schedule: event '%s' time %f is before now (%f)", le->ev.type,
                      hs_time_to_s(le->time_ns), hs_time_to_s(ls->sim.now_ns));
  if (lua_getiuservalue(L, ev_idx, UV_TARGET) == LUA_TTABLE)
    le->ev.target = hs_entity_register(L, sim_idx, lua_gettop(L));
  lua_pop(L, 1);
  if (hs_event_pending(&le->ev)) { /* left so by a closed simulation: its queue is gone */
    le->ev.flags = le->ev.flags & (uint32_t)HS_EVENT_DAEMON;
    le->ev.heap_index = UINT32_MAX;
  }
  int rc = hs_sim_schedule_at(&ls->sim, &le->ev, le->time_ns);
  if (rc != HS_OK) return luaL_error(L, "schedule: %s", hs_strerror(rc));
  le->owner = ls;
  le->anchor = hs_anchor_acquire(ls);
  hs_push_uv_table(L, sim_idx, "anchors");
  lua_pushvalue(L, ev_idx);
  lua_rawseti(L, -2, le->anchor);
  lua_pop(L, 1);
  lua_pushvalue(L, sim_idx);
  lua_setiuservalue(L, ev_idx, UV_SIM);
  return 0;
}

/* Schedules what a finished handler returned: nothing, an event, or a list of events. */
int hs_schedule_returned(lua_State *L, int sim_idx, lua_State *from, int nres) {
  int base = lua_gettop(from) - nres;
  for (int i = 1; i <= nres; i++) {
    int idx = base + i;
    if (lua_isnil(from, idx)) continue;
    lua_pushvalue(from, idx);
    lua_xmove(from, L, 1);
    int v = lua_gettop(L);
    if (luaL_testudata(L, v, HS_EVENT_MT)) {
      hs_levent_schedule(L, sim_idx, v);
    } else if (lua_istable(L, v)) {
      lua_Integer n = luaL_len(L, v);
      for (lua_Integer j = 1; j <= n; j++) {
        lua_geti(L, v, j);
        if (!luaL_testudata(L, -1, HS_EVENT_MT))
          return luaL_error(L, "handler returned a list whose item %d is a %s, not an hs.Event", (int)j,
                            hs_typename_of(L, -1));
        hs_levent_schedule(L, sim_idx, lua_gettop(L));
        lua_pop(L, 1);
      }
    } else {
      return luaL_error(L, "handler returned a %s; return nothing, an hs.Event or a list of events",
                        hs_typename_of(L, v));
    }
    lua_pop(L, 1);
  }
  return 0;
}

static int l_event_cancel(lua_State *L) {
  hs_levent *le = check_event(L, 1);
  hs_lsim *ls = le->owner;
  if (!ls || ls->sim.closed || !hs_sim_cancel(&ls->sim, &le->ev)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_getiuservalue(L, 1, UV_SIM);
  hs_push_uv_table(L, lua_gettop(L), "anchors");
  unanchor(L, ls, le, lua_gettop(L), 1);
  lua_pushboolean(L, 1);
  return 1;
}

static int event_is_pending(hs_levent *le) {
  return le->owner && !le->owner->sim.closed && hs_event_pending(&le->ev);
}

static int l_event_index(lua_State *L) {
  hs_levent *le = check_event(L, 1);
  if (lua_type(L, 2) != LUA_TSTRING) return 0; /* x[1] is nil, not x["1"] */
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "time") == 0)
    lua_pushnumber(L, hs_time_to_s(le->time_ns));
  else if (strcmp(k, "type") == 0 && le->is_timer)
    lua_pushliteral(L, "Timer");
  else if (strcmp(k, "type") == 0)
    lua_getiuservalue(L, 1, UV_TYPE);
  else if (strcmp(k, "target") == 0)
    lua_getiuservalue(L, 1, UV_TARGET);
  else if (strcmp(k, "payload") == 0)
    lua_getiuservalue(L, 1, UV_PAYLOAD);
  else if (strcmp(k, "daemon") == 0)
    lua_pushboolean(L, (le->ev.flags & HS_EVENT_DAEMON) != 0);
  else if (strcmp(k, "cancelled") == 0)
    lua_pushboolean(L, (le->ev.flags & HS_EVENT_CANCELLED) != 0);
  else if (strcmp(k, "pending") == 0)
    lua_pushboolean(L, event_is_pending(le));
  else if (strcmp(k, "cancel") == 0)
    lua_pushcfunction(L, l_event_cancel);
  else
    lua_pushnil(L);
  return 1;
}

static int l_event_tostring(lua_State *L) {
  hs_levent *le = check_event(L, 1);
  lua_pushfstring(L, "%s %s at %fs%s", le->is_timer ? "Timer" : "Event", le->ev.type,
                  hs_time_to_s(le->time_ns), event_is_pending(le) ? " (pending)" : "");
  return 1;
}

/* ---- sim:timer(dt, fn [, { daemon = true }]) ----------------------------------- */

static const hs_door_site timer_site = {"timer callback", NULL, NULL, NULL};

static void timer_fire(hs_sim *sim, hs_event *ev) {
  hs_levent *le = HS_CONTAINER_OF(ev, hs_levent, ev);
  hs_lsim *ls = hs_lsim_of(sim);
  lua_State *L = ls->L;
  int top = lua_gettop(L);
  lua_rawgeti(L, ls->anchors_idx, le->anchor);
  int ti = top + 1;
  lua_getiuservalue(L, ti, UV_FN);
  if (hs_door_call(L, ls, 0, 1, &timer_site) != LUA_OK) {
    unanchor(L, ls, le, ls->anchors_idx, ti);
  } else if (lua_type(L, -1) == LUA_TNUMBER && hs_time_s_valid(lua_tonumber(L, -1))) {
    if (hs_sim_schedule_after(&ls->sim, ev, hs_time_from_s(lua_tonumber(L, -1))) == HS_OK) /* periodic: keep the anchor */
      le->time_ns = hs_sim_event_time(&ls->sim, ev);
  } else if (!lua_isnil(L, -1)) {
    lua_pushfstring(L, "returned %s; return nothing or a delay >= 0 in seconds",
                    lua_tostring(L, -1) ? lua_tostring(L, -1) : hs_typename_of(L, -1));
    hs_door_fail(L, ls, NULL, &timer_site);
    unanchor(L, ls, le, ls->anchors_idx, ti);
  } else {
    unanchor(L, ls, le, ls->anchors_idx, ti);
  }
  lua_settop(L, top);
}

int hs_l_timer(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  double dt = hs_check_seconds(L, 2, "delay");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  int daemon = 0;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    static const char *const opts[] = {"daemon", NULL};
    hs_check_options(L, 4, 4, opts);
    daemon = hs_field_boolean(L, 4, 4, "daemon", 0);
  }
  lua_settop(L, 3);
  hs_levent *le = lua_newuserdatauv(L, sizeof *le, 4); /* index 4 */
  memset(le, 0, sizeof *le);
  hs_event_init(&le->ev, timer_fire, NULL, "Timer");
  le->is_timer = 1;
  hs_event_set_daemon(&le->ev, daemon);
  luaL_setmetatable(L, HS_EVENT_MT);
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 4, UV_FN);
  int rc = hs_sim_schedule_after(&ls->sim, &le->ev, hs_time_from_s(dt));
  if (rc != HS_OK) luaL_argerror(L, 2, lua_pushfstring(L, "delay %f is out of range", dt));
  le->time_ns = hs_sim_event_time(&ls->sim, &le->ev);
  le->owner = ls;
  le->anchor = hs_anchor_acquire(ls);
  hs_push_uv_table(L, 1, "anchors");
  lua_pushvalue(L, 4);
  lua_rawseti(L, -2, le->anchor);
  lua_pop(L, 1);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 4, UV_SIM);
  lua_settop(L, 4);
  return 1;
}

void hs_event_open(lua_State *L) {
  static const luaL_Reg meta[] = {
      {"__index", l_event_index}, {"__tostring", l_event_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, HS_EVENT_MT);
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
}
