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

/* Lets go of the anchor: the event no longer keeps itself alive through the simulation. (Its
 * user value UV_SIM stays: it keeps le->owner valid for as long as the event lives.) */
static void unanchor(lua_State *L, hs_lsim *ls, hs_levent *le, int anchors_idx) {
  if (!le->anchor) return;
  lua_pushnil(L);
  lua_rawseti(L, anchors_idx, le->anchor);
  hs_anchor_release(ls, le->anchor);
  le->anchor = 0;
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
  unanchor(L, ls, le, ls->anchors_idx);
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
    if (hs_push_handler(L, ls, top + 2) != LUA_TFUNCTION && !callable(L, -1)) {
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

/* hs.Event{...} checked field by field: every message about a bad table comes from here. */
static int event_new_checked(lua_State *L) {
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
  if (tt != LUA_TNIL && tt != LUA_TSTRING)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'type' must be a string, got %s", hs_typename_of(L, -1)));
  if (tt == LUA_TSTRING) le->ev.type = lua_tostring(L, -1); /* kept alive by the user value */
  lua_setiuservalue(L, 2, UV_TYPE); /* nil: the default type, "Event" */
  int target = lua_getfield(L, 1, "target");
  if (target != LUA_TTABLE && target != LUA_TFUNCTION)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'target' must be an entity or a function, got %s",
                                        hs_typename_of(L, -1)));
  lua_setiuservalue(L, 2, UV_TARGET);
  lua_getfield(L, 1, "payload");
  lua_setiuservalue(L, 2, UV_PAYLOAD);
  return 1;
}

enum { F_NONE, F_TIME, F_TYPE, F_TARGET, F_PAYLOAD, F_DAEMON };

/* Which option the string key k (of length n) is. */
static int event_field(const char *k, size_t n) {
  switch (n) {
  case 4: return memcmp(k, "time", 4) == 0 ? F_TIME : memcmp(k, "type", 4) == 0 ? F_TYPE : F_NONE;
  case 6: return memcmp(k, "target", 6) == 0 ? F_TARGET : memcmp(k, "daemon", 6) == 0 ? F_DAEMON : F_NONE;
  case 7: return memcmp(k, "payload", 7) == 0 ? F_PAYLOAD : F_NONE;
  default: return F_NONE;
  }
}

/*
 * hs.Event{ time =, type =, target =, payload =, daemon = false }. Upvalue 1: the Event
 * metatable. Events are made per handled event, so the common case reads the table in one
 * pass (no lookups by name, no option list walked per key); anything unusual (a bad or unknown
 * field, a missing one, a table with a metatable) is left to event_new_checked, which makes
 * the same event or raises the same message as always.
 */
int hs_l_event_new(lua_State *L) {
  if (lua_type(L, 1) != LUA_TTABLE || lua_getmetatable(L, 1)) return event_new_checked(L);
  lua_settop(L, 1);
  hs_levent *le = lua_newuserdatauv(L, sizeof *le, 4); /* index 2 */
  memset(le, 0, sizeof *le);
  hs_event_init(&le->ev, event_fire, NULL, "Event");
  double t = -1;
  int daemon = 0, has_target = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    size_t n = 0;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
    int vt = lua_type(L, -1);
    switch (k ? event_field(k, n) : F_NONE) {
    case F_TIME:
      if (vt != LUA_TNUMBER || !hs_time_s_valid(t = lua_tonumber(L, -1))) goto checked;
      lua_pop(L, 1);
      break;
    case F_TYPE:
      if (vt != LUA_TSTRING) goto checked;
      le->ev.type = lua_tostring(L, -1); /* kept alive by the user value */
      lua_setiuservalue(L, 2, UV_TYPE);
      break;
    case F_TARGET:
      if (vt != LUA_TTABLE && vt != LUA_TFUNCTION) goto checked;
      has_target = 1;
      lua_setiuservalue(L, 2, UV_TARGET);
      break;
    case F_PAYLOAD: lua_setiuservalue(L, 2, UV_PAYLOAD); break;
    case F_DAEMON:
      if (vt != LUA_TBOOLEAN) goto checked;
      daemon = lua_toboolean(L, -1);
      lua_pop(L, 1);
      break;
    default: goto checked;
    }
  }
  if (t < 0 || !has_target) goto checked;
  le->time_ns = hs_time_from_s(t);
  hs_event_set_daemon(&le->ev, daemon);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, 2);
  return 1;
checked:
  lua_settop(L, 1);
  return event_new_checked(L);
}

/* Anchors the just-scheduled hs.Event at ev_idx in U.anchors of the simulation at sim_idx
 * (both on L; anchors_idx: that table on L, or 0 to look it up), and makes its user value
 * UV_SIM that simulation. */
static void anchor(lua_State *L, hs_lsim *ls, hs_levent *le, int sim_idx, int ev_idx, int anchors_idx) {
  le->anchor = hs_anchor_acquire(ls);
  lua_pushvalue(L, ev_idx);
  if (anchors_idx) {
    lua_rawseti(L, anchors_idx, le->anchor);
  } else {
    hs_push_uv_table(L, sim_idx, "anchors");
    lua_insert(L, -2);
    lua_rawseti(L, -2, le->anchor);
    lua_pop(L, 1);
  }
  if (le->owner != ls) {
    le->owner = ls;
    lua_pushvalue(L, sim_idx);
    lua_setiuservalue(L, ev_idx, UV_SIM);
  }
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
  anchor(L, ls, le, sim_idx, ev_idx, 0);
  return 0;
}

/*
 * Schedules the hs.Event at idx on the running simulation ls, from the run loop's own frame
 * (L is ls->L, the simulation at index 2, U's tables at ls->*_idx) without raising: the common case of what a handler returns, an event
 * that is not queued, not before now, whose target is a function or a registered entity.
 * Returns 0, having done nothing, for anything else: hs_levent_schedule then does it or raises.
 */
static int schedule_fast(lua_State *L, hs_lsim *ls, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  const void *mt = lua_topointer(L, -1);
  hs_levent *le = lua_touserdata(L, idx);
  if (mt != ls->event_mt || le->is_timer || hs_event_pending(&le->ev) || le->time_ns < ls->sim.now_ns) {
    lua_pop(L, 1);
    return 0;
  }
  int t = lua_getiuservalue(L, idx, UV_TARGET); /* above the metatable: both popped below */
  if (t == LUA_TTABLE) {
    t = lua_rawget(L, ls->entities_idx);
    hs_entity *e = lua_touserdata(L, -1); /* the proxy (an hs_lentity), when registered */
    lua_pop(L, 2);
    if (t != LUA_TUSERDATA) return 0; /* not registered yet */
    le->ev.target = e;
  } else {
    lua_pop(L, 2);
    if (t != LUA_TFUNCTION) return 0;
  }
  if (hs_sim_schedule_at(&ls->sim, &le->ev, le->time_ns) != HS_OK) return 0;
  anchor(L, ls, le, 2, idx, ls->anchors_idx);
  return 1;
}

/* Schedules what a finished handler returned, the values first..last of L: nothing, an event
 * or a list of events, each value in turn. Raises on a bad value. */
static void schedule_values(lua_State *L, int sim_idx, int first, int last) {
  for (int v = first; v <= last; v++) {
    if (lua_isnil(L, v)) continue;
    if (luaL_testudata(L, v, HS_EVENT_MT)) {
      hs_levent_schedule(L, sim_idx, v);
    } else if (lua_istable(L, v)) {
      lua_Integer n = luaL_len(L, v);
      for (lua_Integer j = 1; j <= n; j++) {
        lua_geti(L, v, j);
        if (!luaL_testudata(L, -1, HS_EVENT_MT))
          luaL_error(L, "handler returned a list whose item %d is a %s, not an hs.Event", (int)j, hs_typename_of(L, -1));
        hs_levent_schedule(L, sim_idx, lua_gettop(L));
        lua_pop(L, 1);
      }
    } else {
      luaL_error(L, "handler returned a %s; return nothing, an hs.Event or a list of events", hs_typename_of(L, v));
    }
  }
}

/* Protected: (sim, values...) -> schedules the values (schedule_values). */
static int schedule_values_protected(lua_State *L) {
  schedule_values(L, 1, 2, lua_gettop(L));
  return 0;
}

int hs_schedule_returned(lua_State *L, hs_lsim *ls, int nres) {
  int last = lua_gettop(L), first = last - nres + 1;
  int v = first;
  while (v <= last && (lua_type(L, v) == LUA_TNIL || schedule_fast(L, ls, v))) v++;
  int rc = LUA_OK;
  if (v <= last) { /* the rest, in order, the careful way */
    int n = last - v + 1;
    lua_pushcfunction(L, schedule_values_protected);
    lua_pushvalue(L, 2);
    lua_rotate(L, v, 2);
    rc = lua_pcall(L, n + 1, 0, 0);
  }
  if (rc != LUA_OK) { /* the error message goes where the values were */
    lua_copy(L, -1, first);
    lua_settop(L, first);
  } else {
    lua_settop(L, first - 1);
  }
  return rc;
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
  unanchor(L, ls, le, lua_gettop(L));
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
  else if (strcmp(k, "type") == 0 && lua_getiuservalue(L, 1, UV_TYPE) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "Event"); /* the default type */
  } else if (strcmp(k, "type") == 0)
    ; /* pushed */
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
    unanchor(L, ls, le, ls->anchors_idx);
  } else if (lua_type(L, -1) == LUA_TNUMBER && hs_time_s_valid(lua_tonumber(L, -1))) {
    if (hs_sim_schedule_after(&ls->sim, ev, hs_time_from_s(lua_tonumber(L, -1))) == HS_OK) /* periodic: keep the anchor */
      le->time_ns = hs_sim_event_time(&ls->sim, ev);
  } else if (!lua_isnil(L, -1)) {
    lua_pushfstring(L, "returned %s; return nothing or a delay >= 0 in seconds",
                    lua_tostring(L, -1) ? lua_tostring(L, -1) : hs_typename_of(L, -1));
    hs_door_fail(L, ls, NULL, &timer_site);
    unanchor(L, ls, le, ls->anchors_idx);
  } else {
    unanchor(L, ls, le, ls->anchors_idx);
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
