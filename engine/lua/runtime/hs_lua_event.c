/*
 * hs_lua_event.c - hs.Event (a scheduled delivery to an entity) and sim:timer
 * (a synchronous callback, optionally periodic).
 *
 * An hs.Event is the very table given to hs.Event{...}, with the Event metatable: its fields
 * are plain (ev.time, ev.type, ev.target, ev.payload read with no metamethod), so making one
 * allocates nothing beyond the table the caller wrote, and a handler may reschedule the event
 * it was given (`ev.time = self.now + 1; return ev`). What the scheduler needs while it is
 * queued lives in a record of its simulation (hs_levent, in chunks that never move, indexed
 * by the slot of U.anchors that keeps the table alive); ls->queued maps the table's address
 * to that slot. The fields are read when the event is scheduled: the time, type, target and
 * daemon flag it is delivered with are those, whatever is done to the table while it waits.
 * Types are interned (U.types keeps each string the simulation has seen).
 *
 * A timer is a userdata (it is made once and fires many times), anchored the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "hs_lua.h"

#define HS_TIMER_MT "happysim.Timer"
#define HS_CANCELLED_MT "happysim.CancelledEvent"

enum { UV_FN = 1, UV_SIM = 2 }; /* a timer's user values: its callback, the simulation */

/* ---- the records of pending events ------------------------------------------------ */

enum { RECORDS_PER_CHUNK = 256 };

/* The record of anchor slot `slot` (from 1), its chunk made on first use; NULL when out of
 * memory. Chunks never move: the queue holds pointers into them. */
static hs_levent *record_of(hs_lsim *ls, uint32_t slot) {
  uint32_t i = slot - 1, c = i / RECORDS_PER_CHUNK;
  if (c >= ls->record_chunk_count) {
    uint32_t n = ls->record_chunk_count ? ls->record_chunk_count * 2 : 4;
    if (n <= c) n = c + 1;
    hs_levent **chunks = realloc(ls->record_chunks, n * sizeof *chunks);
    if (!chunks) return NULL;
    memset(chunks + ls->record_chunk_count, 0, (n - ls->record_chunk_count) * sizeof *chunks);
    ls->record_chunks = chunks;
    ls->record_chunk_count = n;
  }
  if (!ls->record_chunks[c] && !(ls->record_chunks[c] = calloc(RECORDS_PER_CHUNK, sizeof(hs_levent)))) return NULL;
  return &ls->record_chunks[c][i % RECORDS_PER_CHUNK];
}

void hs_event_records_free(hs_lsim *ls) {
  for (uint32_t c = 0; c < ls->record_chunk_count; c++) free(ls->record_chunks[c]);
  free(ls->record_chunks);
  ls->record_chunks = NULL;
  ls->record_chunk_count = 0;
  hs_ptrmap_free(&ls->queued);
  hs_ptrmap_free(&ls->types);
}

/* Lets go of the record le of the event table `ev` and of its anchor slot: U.anchors (at
 * anchors_idx) and, for a function target, U.refs (at refs_idx) forget it; both are free. */
static void release_event_slot(lua_State *L, hs_lsim *ls, hs_levent *le, const void *ev, int anchors_idx, int refs_idx) {
  uint32_t slot = le->anchor;
  if (!le->ev.target) {
    lua_pushnil(L);
    lua_rawseti(L, refs_idx, slot);
  }
  le->owner = NULL;
  lua_pushnil(L);
  lua_rawseti(L, anchors_idx, slot);
  hs_ptrmap_remove(&ls->queued, ev);
  hs_anchor_release(ls, slot);
}

/* The type string at idx as the simulation keeps it: a pointer that stays valid for its
 * lifetime (the string is kept in U.types the first time it is seen), or NULL when out of
 * memory. Event types are few; each costs a hash probe, no Lua call, after the first. */
static const char *intern_type(lua_State *L, hs_lsim *ls, int idx, int types_idx) {
  const char *s = lua_tostring(L, idx);
  uint32_t n;
  if (hs_ptrmap_get(&ls->types, s, &n)) return s;
  if (!hs_ptrmap_put(&ls->types, s, ls->types.count + 1)) return NULL;
  lua_pushvalue(L, idx);
  lua_rawseti(L, types_idx, ls->types.count);
  return s;
}

/* Whether the value at idx has a __call metamethod. */
static int callable(lua_State *L, int idx) {
  if (luaL_getmetafield(L, idx, "__call") == LUA_TNIL) return 0;
  lua_pop(L, 1);
  return 1;
}

/* Fires an hs.Event: its target's handle_event (or the target function) runs as a process,
 * given the event table. The slot is free before it runs: what it returns may reuse it. */
static void event_fire(hs_sim *sim, hs_event *ev) {
  hs_levent *le = HS_CONTAINER_OF(ev, hs_levent, ev);
  hs_lsim *ls = hs_lsim_of(sim);
  lua_State *L = ls->L;
  int top = lua_gettop(L);
  uint32_t slot = le->anchor;
  hs_entity *target = ev->target;
  const char *type = ev->type; /* interned: valid for the simulation's lifetime */
  lua_rawgeti(L, ls->anchors_idx, slot); /* top + 1: the event */
  if (target) /* top + 2: its target */
    lua_rawgeti(L, ls->list_idx, (lua_Integer)target->id + 1);
  else
    lua_rawgeti(L, ls->refs_idx, slot);
  release_event_slot(L, ls, le, lua_topointer(L, top + 1), ls->anchors_idx, ls->refs_idx);
  if (target && hs_entity_crashed(target)) { /* a crashed entity receives nothing */
    ls->events_dropped++;
    lua_settop(L, top);
    return;
  }
  int nargs;
  if (!target) {
    lua_pushvalue(L, top + 2);
    nargs = 1;
  } else {
    if (hs_push_handler(L, ls, top + 2) != LUA_TFUNCTION && !callable(L, -1)) {
      hs_door_site site = {NULL, NULL, target, type};
      lua_pushliteral(L, "the entity has no handle_event method");
      hs_door_fail(L, ls, NULL, &site);
      lua_settop(L, top);
      return;
    }
    lua_pushvalue(L, top + 2);
    nargs = 2;
  }
  lua_pushvalue(L, top + 1);
  hs_proc_start_now(L, 2, nargs, type, target);
  lua_settop(L, top);
}

/* ---- hs.Event{...} ---------------------------------------------------------------- */

static const char *const event_options[] = {"time", "type", "target", "payload", "daemon", NULL};

/* The Event metatable, pushed. */
static void push_event_mt(lua_State *L) { luaL_getmetatable(L, HS_EVENT_MT); }

/* Whether the value at idx is an hs.Event (a table with the Event metatable, or a cancelled
 * event's). */
static int is_event(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  push_event_mt(L);
  int same = lua_rawequal(L, -1, -2);
  if (!same) {
    luaL_getmetatable(L, HS_CANCELLED_MT);
    same = lua_rawequal(L, -1, -3);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return same;
}

/* hs.Event{...} checked field by field: every message about a bad table comes from here.
 * A table with a metatable of its own (not an event's) gives its fields to a new table. */
static int event_new_checked(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, event_options);
  hs_field_seconds(L, 1, 1, "time", 0, 1);
  hs_field_boolean(L, 1, 1, "daemon", 0);
  int tt = lua_getfield(L, 1, "type");
  if (tt != LUA_TNIL && tt != LUA_TSTRING)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'type' must be a string, got %s", hs_typename_of(L, -1)));
  int target = lua_getfield(L, 1, "target");
  if (target != LUA_TTABLE && target != LUA_TFUNCTION)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'target' must be an entity or a function, got %s",
                                        hs_typename_of(L, -1)));
  lua_settop(L, 1);
  if (lua_getmetatable(L, 1)) { /* not ours to change */
    lua_createtable(L, 0, 5);
    for (const char *const *f = event_options; *f; f++) {
      lua_getfield(L, 1, *f);
      lua_setfield(L, -2, *f);
    }
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  if (lua_getfield(L, 1, "type") == LUA_TNIL) {
    lua_pushliteral(L, "Event");
    lua_setfield(L, 1, "type");
  }
  lua_settop(L, 1);
  push_event_mt(L);
  lua_setmetatable(L, 1);
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
 * hs.Event{ time =, type =, target =, payload =, daemon = false } -> that table, now an event
 * (type defaults to "Event"). Upvalue 1: the Event metatable. Events are made per handled
 * event, so the common case reads the table in one pass; anything unusual (a bad or unknown
 * field, a missing one, a table with a metatable) is left to event_new_checked, which makes
 * the same event or raises the message. An event given again is returned as it is.
 */
int hs_l_event_new(lua_State *L) {
  if (lua_type(L, 1) != LUA_TTABLE) return event_new_checked(L);
  lua_settop(L, 1);
  if (lua_getmetatable(L, 1)) {
    lua_settop(L, 1);
    return is_event(L, 1) ? 1 : event_new_checked(L);
  }
  int has_time = 0, has_type = 0, has_target = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    size_t n = 0;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
    int vt = lua_type(L, -1);
    switch (k ? event_field(k, n) : F_NONE) {
    case F_TIME:
      if (vt != LUA_TNUMBER || !hs_time_s_valid(lua_tonumber(L, -1))) goto checked;
      has_time = 1;
      break;
    case F_TYPE:
      if (vt != LUA_TSTRING) goto checked;
      has_type = 1;
      break;
    case F_TARGET:
      if (vt != LUA_TTABLE && vt != LUA_TFUNCTION) goto checked;
      has_target = 1;
      break;
    case F_PAYLOAD: break;
    case F_DAEMON:
      if (vt != LUA_TBOOLEAN) goto checked;
      break;
    default: goto checked;
    }
    lua_pop(L, 1);
  }
  if (!has_time || !has_target) goto checked;
  if (!has_type) {
    lua_pushliteral(L, "Event");
    lua_setfield(L, 1, "type");
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, 1);
  return 1;
checked:
  lua_settop(L, 1);
  return event_new_checked(L);
}

/* ---- scheduling -------------------------------------------------------------------- */

/* Queues the event table at ev_idx on ls with what was read from it (its type string and
 * target at type_idx and target_idx; target: the registered entity, or NULL for a function),
 * anchoring the table in U.anchors and a function target in U.refs (U's tables at anchors_idx,
 * refs_idx, types_idx). 0 if it could not be queued (out of memory, time out of range):
 * nothing changed. */
static int commit(lua_State *L, hs_lsim *ls, int ev_idx, int type_idx, int target_idx, hs_time_ns time_ns,
                  hs_entity *target, int daemon, int anchors_idx, int refs_idx, int types_idx) {
  const char *type = intern_type(L, ls, type_idx, types_idx);
  if (!type) return 0;
  const void *key = lua_topointer(L, ev_idx);
  uint32_t slot = hs_anchor_acquire(ls);
  hs_levent *le = record_of(ls, slot);
  if (!le || !hs_ptrmap_put(&ls->queued, key, slot)) {
    hs_anchor_release(ls, slot);
    return 0;
  }
  HS_ASSERT(!le->owner && !hs_event_pending(&le->ev)); /* a free slot's record is not queued */
  hs_event_init(&le->ev, event_fire, target, type);
  hs_event_set_daemon(&le->ev, daemon);
  le->time_ns = time_ns;
  le->anchor = slot;
  if (hs_sim_schedule_at(&ls->sim, &le->ev, time_ns) != HS_OK) {
    hs_ptrmap_remove(&ls->queued, key);
    hs_anchor_release(ls, slot);
    return 0;
  }
  le->owner = ls;
  lua_pushvalue(L, ev_idx);
  lua_rawseti(L, anchors_idx, slot);
  if (!target) {
    lua_pushvalue(L, target_idx);
    lua_rawseti(L, refs_idx, slot);
  }
  return 1;
}

/* Pushes the raw field k of the table at idx; returns its type. */
static int raw_field(lua_State *L, int idx, const char *k) {
  lua_pushstring(L, k);
  return lua_rawget(L, idx);
}

/* The slot of the event table at idx if it is queued on ls, else 0. */
static uint32_t queued_slot(hs_lsim *ls, lua_State *L, int idx) {
  uint32_t slot;
  return hs_ptrmap_get(&ls->queued, lua_topointer(L, idx), &slot) ? slot : 0;
}

/* Schedules the hs.Event at ev_idx on the simulation at sim_idx (both on L); raises. A
 * cancelled event becomes a plain one again. */
int hs_levent_schedule(lua_State *L, int sim_idx, int ev_idx) {
  hs_lsim *ls = lua_touserdata(L, sim_idx);
  ev_idx = lua_absindex(L, ev_idx);
  if (!hs_is_event(L, ev_idx)) return luaL_error(L, "schedule: an hs.Event expected, got %s", hs_typename_of(L, ev_idx));
  int top = lua_gettop(L);
  hs_push_uv_table(L, sim_idx, "anchors");
  hs_push_uv_table(L, sim_idx, "refs");
  hs_push_uv_table(L, sim_idx, "types");
  if (raw_field(L, ev_idx, "type") != LUA_TSTRING) /* top + 4 */
    return luaL_error(L, "schedule: the event's field 'type' must be a string, got %s", hs_typename_of(L, -1));
  const char *type = lua_tostring(L, -1);
  if (queued_slot(ls, L, ev_idx)) return luaL_error(L, "schedule: event '%s' is already scheduled", type);
  int tt = raw_field(L, ev_idx, "target"); /* top + 5 */
  hs_entity *target = NULL;
  if (tt == LUA_TTABLE)
    target = hs_entity_register(L, sim_idx, top + 5);
  else if (tt != LUA_TFUNCTION)
    return luaL_error(L, "schedule: event '%s': field 'target' must be an entity or a function, got %s", type,
                      hs_typename_of(L, top + 5));
  if (raw_field(L, ev_idx, "time") != LUA_TNUMBER || !hs_time_s_valid(lua_tonumber(L, -1)))
    return luaL_error(L, "schedule: event '%s': field 'time' must be a finite number of seconds >= 0", type);
  double t = lua_tonumber(L, -1);
  hs_time_ns time_ns = hs_time_from_s(t);
  if (time_ns < ls->sim.now_ns)
    return luaL_error(L, "schedule: event '%s' time %f is before now (%f)", type, t, hs_time_to_s(ls->sim.now_ns));
  int dt = raw_field(L, ev_idx, "daemon");
  if (dt != LUA_TNIL && dt != LUA_TBOOLEAN)
    return luaL_error(L, "schedule: event '%s': field 'daemon' must be a boolean, got %s", type, hs_typename_of(L, -1));
  if (!commit(L, ls, ev_idx, top + 4, top + 5, time_ns, target, lua_toboolean(L, -1), top + 1, top + 2, top + 3))
    return luaL_error(L, "schedule: event '%s' at %f: %s", type, t, "out of memory or time out of range");
  luaL_getmetatable(L, HS_EVENT_MT); /* no longer cancelled */
  lua_setmetatable(L, ev_idx);
  lua_settop(L, top);
  return 0;
}

/*
 * Schedules the value at idx on the running simulation ls, from the run loop's own frame
 * (L is ls->L, the simulation at index 2, U's tables and the field names at ls->*_idx)
 * without raising: the common case of what a handler returns, an event that is not queued,
 * not before now, whose fields are as hs.Event made them and whose target is a function or
 * a registered entity. Returns 0, having done nothing, for anything else: hs_levent_schedule
 * then does it or raises.
 */
static int schedule_fast(lua_State *L, hs_lsim *ls, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  const void *mt = lua_topointer(L, -1);
  lua_pop(L, 1);
  if (mt != ls->event_mt || queued_slot(ls, L, idx)) return 0;
  int top = lua_gettop(L), k = ls->keys_idx;
  lua_pushvalue(L, k + HS_KEY_TIME);
  if (lua_rawget(L, idx) != LUA_TNUMBER) goto slow; /* top + 1 */
  double t = lua_tonumber(L, -1);
  if (!hs_time_s_valid(t)) goto slow;
  hs_time_ns time_ns = hs_time_from_s(t);
  if (time_ns < ls->sim.now_ns) goto slow;
  lua_pushvalue(L, k + HS_KEY_TYPE);
  if (lua_rawget(L, idx) != LUA_TSTRING) goto slow; /* top + 2 */
  lua_pushvalue(L, k + HS_KEY_TARGET);
  int tt = lua_rawget(L, idx); /* top + 3 */
  hs_entity *target = NULL;
  if (tt == LUA_TTABLE) {
    lua_pushvalue(L, top + 3);
    if (lua_rawget(L, ls->entities_idx) != LUA_TUSERDATA) goto slow; /* not registered yet */
    target = lua_touserdata(L, -1); /* the proxy (an hs_lentity) */
  } else if (tt != LUA_TFUNCTION) {
    goto slow;
  }
  lua_pushvalue(L, k + HS_KEY_DAEMON);
  int dt = lua_rawget(L, idx);
  if (dt != LUA_TNIL && dt != LUA_TBOOLEAN) goto slow;
  if (!commit(L, ls, idx, top + 2, top + 3, time_ns, target, lua_toboolean(L, -1), ls->anchors_idx, ls->refs_idx,
              ls->types_idx))
    goto slow;
  lua_settop(L, top);
  return 1;
slow:
  lua_settop(L, top);
  return 0;
}

/* Schedules what a finished handler returned, the values first..last of L: nothing, an event
 * or a list of events, each value in turn. Raises on a bad value. */
static void schedule_values(lua_State *L, int sim_idx, int first, int last) {
  for (int v = first; v <= last; v++) {
    if (lua_isnil(L, v)) continue;
    if (is_event(L, v)) {
      hs_levent_schedule(L, sim_idx, v);
    } else if (lua_istable(L, v) && !lua_getmetatable(L, v)) {
      lua_Integer n = luaL_len(L, v);
      for (lua_Integer j = 1; j <= n; j++) {
        lua_geti(L, v, j);
        if (!is_event(L, -1))
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

int hs_is_event(lua_State *L, int idx) { return is_event(L, idx); }

/* ---- what an event says of itself ---------------------------------------------------- */

/* Calls visit(L, ls, sim_idx, ev_idx, slot) for each open simulation of this Lua state on
 * which the event table at ev_idx is queued (in slot `slot`); a visit returning 0 stops the
 * walk. Leaves the stack as it was. Returns how many were visited. */
typedef int (*sim_visit)(lua_State *L, hs_lsim *ls, int sim_idx, int ev_idx, uint32_t slot);
static int each_queue_of(lua_State *L, int ev_idx, sim_visit visit) {
  int top = lua_gettop(L), n = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, HS_SIMS_KEY);
  lua_pushnil(L);
  while (lua_next(L, top + 1)) { /* key: the hs_lsim (light userdata), value: its Simulation */
    hs_lsim *ls = lua_touserdata(L, -2);
    uint32_t slot = ls->sim.closed ? 0 : queued_slot(ls, L, ev_idx);
    int go = 1;
    if (slot) {
      n++;
      go = visit(L, ls, lua_gettop(L), ev_idx, slot);
    }
    lua_settop(L, top + 2); /* the key stays for lua_next */
    if (!go) break;
  }
  lua_settop(L, top);
  return n;
}

static int visit_none(lua_State *L, hs_lsim *ls, int sim_idx, int ev_idx, uint32_t slot) {
  (void)L, (void)ls, (void)sim_idx, (void)ev_idx, (void)slot;
  return 0;
}

static int visit_cancel(lua_State *L, hs_lsim *ls, int sim_idx, int ev_idx, uint32_t slot) {
  hs_levent *le = record_of(ls, slot);
  if (!hs_sim_cancel(&ls->sim, &le->ev)) return 1;
  hs_push_uv_table(L, sim_idx, "anchors");
  hs_push_uv_table(L, sim_idx, "refs");
  release_event_slot(L, ls, le, lua_topointer(L, ev_idx), lua_gettop(L) - 1, lua_gettop(L));
  return 1;
}

static void check_event(lua_State *L, int idx) {
  if (!is_event(L, idx)) luaL_typeerror(L, idx, HS_EVENT_MT);
}

/* ev:cancel() -> true if it was queued (it then never fires; ev.cancelled reads true until it
 * is scheduled again), else false */
static int l_event_cancel(lua_State *L) {
  check_event(L, 1);
  lua_settop(L, 1);
  int done = each_queue_of(L, 1, visit_cancel);
  if (done) {
    luaL_getmetatable(L, HS_CANCELLED_MT);
    lua_setmetatable(L, 1);
  }
  lua_pushboolean(L, done);
  return 1;
}

/* ev.pending, ev.cancelled, ev:cancel(); ev.daemon is false unless set. Upvalue 1: whether
 * these are the cancelled events' fields. */
static int l_event_index(lua_State *L) {
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  if (!k) return 0;
  if (strcmp(k, "pending") == 0)
    lua_pushboolean(L, each_queue_of(L, 1, visit_none) > 0);
  else if (strcmp(k, "cancelled") == 0)
    lua_pushboolean(L, lua_toboolean(L, lua_upvalueindex(1)));
  else if (strcmp(k, "daemon") == 0)
    lua_pushboolean(L, 0);
  else if (strcmp(k, "cancel") == 0)
    lua_pushcfunction(L, l_event_cancel);
  else
    lua_pushnil(L);
  return 1;
}

static int l_event_tostring(lua_State *L) {
  lua_settop(L, 1);
  raw_field(L, 1, "type");
  raw_field(L, 1, "time");
  int pending = each_queue_of(L, 1, visit_none) > 0;
  lua_pushfstring(L, "Event %s at %fs%s", lua_tostring(L, 2) ? lua_tostring(L, 2) : "?",
                  lua_type(L, 3) == LUA_TNUMBER ? lua_tonumber(L, 3) : 0.0, pending ? " (pending)" : "");
  return 1;
}

/* ---- sim:timer(dt, fn [, { daemon = true }]) ----------------------------------- */

static const hs_door_site timer_site = {"timer callback", NULL, NULL, NULL};

static hs_levent *check_timer(lua_State *L, int idx) { return luaL_checkudata(L, idx, HS_TIMER_MT); }

/* Lets go of a timer's anchor: it no longer keeps itself alive through the simulation. (Its
 * user value UV_SIM stays: it keeps le->owner valid for as long as the timer lives.) */
static void timer_unanchor(lua_State *L, hs_lsim *ls, hs_levent *le, int anchors_idx) {
  if (!le->anchor) return;
  lua_pushnil(L);
  lua_rawseti(L, anchors_idx, le->anchor);
  hs_anchor_release(ls, le->anchor);
  le->anchor = 0;
}

static void timer_fire(hs_sim *sim, hs_event *ev) {
  hs_levent *le = HS_CONTAINER_OF(ev, hs_levent, ev);
  hs_lsim *ls = hs_lsim_of(sim);
  lua_State *L = ls->L;
  int top = lua_gettop(L);
  lua_rawgeti(L, ls->anchors_idx, le->anchor);
  int ti = top + 1;
  lua_getiuservalue(L, ti, UV_FN);
  if (hs_door_call(L, ls, 0, 1, &timer_site) != LUA_OK) {
    timer_unanchor(L, ls, le, ls->anchors_idx);
  } else if (lua_type(L, -1) == LUA_TNUMBER && hs_time_s_valid(lua_tonumber(L, -1))) {
    if (hs_sim_schedule_after(&ls->sim, ev, hs_time_from_s(lua_tonumber(L, -1))) == HS_OK) /* periodic: keep the anchor */
      le->time_ns = hs_sim_event_time(&ls->sim, ev);
  } else if (!lua_isnil(L, -1)) {
    lua_pushfstring(L, "returned %s; return nothing or a delay >= 0 in seconds",
                    lua_tostring(L, -1) ? lua_tostring(L, -1) : hs_typename_of(L, -1));
    hs_door_fail(L, ls, NULL, &timer_site);
    timer_unanchor(L, ls, le, ls->anchors_idx);
  } else {
    timer_unanchor(L, ls, le, ls->anchors_idx);
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
  hs_levent *le = lua_newuserdatauv(L, sizeof *le, 2); /* index 4 */
  memset(le, 0, sizeof *le);
  hs_event_init(&le->ev, timer_fire, NULL, "Timer");
  hs_event_set_daemon(&le->ev, daemon);
  luaL_setmetatable(L, HS_TIMER_MT);
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

static int timer_is_pending(hs_levent *le) {
  return le->owner && !le->owner->sim.closed && hs_event_pending(&le->ev);
}

static int l_timer_cancel(lua_State *L) {
  hs_levent *le = check_timer(L, 1);
  hs_lsim *ls = le->owner;
  if (!ls || ls->sim.closed || !hs_sim_cancel(&ls->sim, &le->ev)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_getiuservalue(L, 1, UV_SIM);
  hs_push_uv_table(L, lua_gettop(L), "anchors");
  timer_unanchor(L, ls, le, lua_gettop(L));
  lua_pushboolean(L, 1);
  return 1;
}

/* t.time (when it fires next), t.type ("Timer"), t.daemon, t.cancelled, t.pending, t:cancel() */
static int l_timer_index(lua_State *L) {
  hs_levent *le = check_timer(L, 1);
  if (lua_type(L, 2) != LUA_TSTRING) return 0; /* x[1] is nil, not x["1"] */
  const char *k = lua_tostring(L, 2);
  if (strcmp(k, "time") == 0)
    lua_pushnumber(L, hs_time_to_s(le->time_ns));
  else if (strcmp(k, "type") == 0)
    lua_pushliteral(L, "Timer");
  else if (strcmp(k, "daemon") == 0)
    lua_pushboolean(L, (le->ev.flags & HS_EVENT_DAEMON) != 0);
  else if (strcmp(k, "cancelled") == 0)
    lua_pushboolean(L, (le->ev.flags & HS_EVENT_CANCELLED) != 0);
  else if (strcmp(k, "pending") == 0)
    lua_pushboolean(L, timer_is_pending(le));
  else if (strcmp(k, "cancel") == 0)
    lua_pushcfunction(L, l_timer_cancel);
  else
    lua_pushnil(L);
  return 1;
}

static int l_timer_tostring(lua_State *L) {
  hs_levent *le = check_timer(L, 1);
  lua_pushfstring(L, "Timer at %fs%s", hs_time_to_s(le->time_ns), timer_is_pending(le) ? " (pending)" : "");
  return 1;
}

void hs_event_open(lua_State *L) {
  static const luaL_Reg event_meta[] = {
      {"__index", l_event_index}, {"__tostring", l_event_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, HS_EVENT_MT);
  lua_pushboolean(L, 0);
  luaL_setfuncs(L, event_meta, 1);
  lua_pop(L, 1);
  luaL_newmetatable(L, HS_CANCELLED_MT); /* a cancelled event: the same but for ev.cancelled */
  lua_pushboolean(L, 1);
  luaL_setfuncs(L, event_meta, 1);
  lua_pushliteral(L, HS_EVENT_MT);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  static const luaL_Reg timer_meta[] = {
      {"__index", l_timer_index}, {"__tostring", l_timer_tostring}, {NULL, NULL}};
  luaL_newmetatable(L, HS_TIMER_MT);
  luaL_setfuncs(L, timer_meta, 0);
  lua_pop(L, 1);
}
