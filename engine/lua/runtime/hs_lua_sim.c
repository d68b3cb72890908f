/*
 * hs_lua_sim.c - the Simulation object: construction, run loops, summary, close.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hs_lua.h"

hs_lsim *hs_lsim_of(hs_sim *sim) { return HS_CONTAINER_OF(sim, hs_lsim, sim); }

hs_lsim *hs_check_sim(lua_State *L, int idx) {
  hs_lsim *ls = luaL_checkudata(L, idx, HS_SIM_MT);
  if (ls->sim.closed) hs_closed_error(L, "the simulation");
  return ls;
}

/* Pushes U[field] of the simulation at sim_idx. */
void hs_push_uv_table(lua_State *L, int sim_idx, const char *field) {
  lua_getiuservalue(L, sim_idx, 1);
  lua_getfield(L, -1, field);
  lua_remove(L, -2);
}

/* Pushes the Simulation userdata that owns ls (it is alive: whoever asks holds it). */
void hs_push_sim(lua_State *L, hs_lsim *ls) {
  lua_getfield(L, LUA_REGISTRYINDEX, HS_SIMS_KEY);
  lua_rawgetp(L, -1, ls);
  lua_remove(L, -2);
}

uint32_t hs_sim_name_id(lua_State *L, hs_lsim *ls, const char *ids, const char *names, const char *name) {
  hs_push_sim(L, ls);
  lua_getiuservalue(L, -1, 1);
  if (lua_getfield(L, -1, ids) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, ids);
    lua_newtable(L);
    lua_setfield(L, -3, names);
  }
  uint32_t id;
  if (lua_getfield(L, -1, name) == LUA_TNUMBER) {
    id = (uint32_t)lua_tointeger(L, -1);
  } else {
    lua_getfield(L, -3, names);
    id = (uint32_t)luaL_len(L, -1) + 1;
    lua_pushstring(L, name);
    lua_rawseti(L, -2, id);
    lua_pop(L, 1);
    lua_pushinteger(L, id);
    lua_setfield(L, -3, name);
  }
  lua_pop(L, 4);
  return id;
}

void hs_sim_fail(hs_lsim *ls, lua_State *L) {
  if (!ls->failed) { /* the first error wins */
    hs_push_sim(L, ls);
    lua_getiuservalue(L, -1, 1);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "error");
    lua_pop(L, 2);
    ls->failed = 1;
  }
  lua_pop(L, 1);
  hs_sim_stop(&ls->sim);
}

uint32_t hs_anchor_acquire(hs_lsim *ls) {
  if (ls->free_anchor_count) return ls->free_anchors[--ls->free_anchor_count];
  return ++ls->anchor_top;
}

void hs_anchor_release(hs_lsim *ls, uint32_t slot) {
  if (ls->free_anchor_count == ls->free_anchor_capacity) {
    uint32_t cap = ls->free_anchor_capacity ? ls->free_anchor_capacity * 2 : 64;
    uint32_t *p = realloc(ls->free_anchors, cap * sizeof *p);
    if (!p) return; /* the slot is leaked, not reused: harmless */
    ls->free_anchors = p;
    ls->free_anchor_capacity = cap;
  }
  ls->free_anchors[ls->free_anchor_count++] = slot;
}

static const char *const sim_options[] = {"seed",   "end_time", "duration", "entities",
                                          "faults", "max_events_at_one_time", NULL};

/* hs.Simulation{ seed = 42, end_time = 60 | duration = 60, entities = {...}, faults = schedule } */
static int l_sim_new(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, sim_options);
  lua_Integer seed = 1;
  if (lua_getfield(L, 1, "seed") != LUA_TNIL) {
    int isint;
    seed = lua_tointegerx(L, -1, &isint);
    if (!isint)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'seed' must be an integer, got %s",
                                          lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : hs_typename_of(L, -1)));
  }
  lua_pop(L, 1);
  double end = hs_field_seconds(L, 1, 1, "end_time", -1, 0);
  double duration = hs_field_seconds(L, 1, 1, "duration", -1, 0);
  if (end >= 0 && duration >= 0) luaL_argerror(L, 1, "give either 'end_time' or 'duration', not both");
  if (duration >= 0) end = duration;

  hs_lsim *ls = lua_newuserdatauv(L, sizeof *ls, 1); /* index 2 */
  memset(ls, 0, sizeof *ls);
  hs_sim_init(&ls->sim, (uint64_t)seed);
  if (lua_getfield(L, 1, "max_events_at_one_time") != LUA_TNIL) {
    int isint;
    lua_Integer n = lua_tointegerx(L, -1, &isint);
    if (!isint || n < 1)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'max_events_at_one_time' must be an integer >= 1, got %s",
                                          luaL_tolstring(L, -1, NULL)));
    ls->sim.max_same_time = (uint64_t)n;
  }
  lua_pop(L, 1);
  if (end >= 0) hs_sim_set_end_time(&ls->sim, hs_time_from_s(end));
  lua_createtable(L, 0, 8);
  static const char *const tables[] = {"threads", "anchors", "entities", "names",    "streams",
                                      "joins",   "list",    "networks", "wakers", "refs", "types", NULL};
  for (const char *const *t = tables; *t; t++) {
    lua_newtable(L);
    lua_setfield(L, -2, *t);
  }
  lua_setiuservalue(L, 2, 1);
  luaL_setmetatable(L, HS_SIM_MT);
  luaL_getmetatable(L, HS_EVENT_MT);
  ls->event_mt = lua_topointer(L, -1); /* the registry keeps it */
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, HS_SIMS_KEY);
  lua_pushvalue(L, 2);
  lua_rawsetp(L, -2, ls);
  lua_pop(L, 1);

  int entities_given = lua_getfield(L, 1, "entities") != LUA_TNIL;
  if (entities_given) {
    if (!lua_istable(L, -1)) luaL_argerror(L, 1, "field 'entities' must be a list of entities");
    lua_Integer n = luaL_len(L, -1);
    ls->batch++; /* links and starts asked before the networks were attached wait for all */
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, -1, i);
      hs_entity_register(L, 2, lua_gettop(L));
      lua_pop(L, 1);
    }
    ls->batch--;
    hs_lnet_finish_all(L, 2);
  }
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "faults") != LUA_TNIL) { /* a FaultSchedule installs itself */
    if (!lua_istable(L, -1) || lua_getfield(L, -1, "install") != LUA_TFUNCTION)
      luaL_argerror(L, 1, "field 'faults' must be an hs.FaultSchedule");
    lua_pushvalue(L, -2);
    lua_pushvalue(L, 2);
    lua_pushboolean(L, entities_given); /* their names must be known now */
    lua_call(L, 3, 0);
  }
  lua_settop(L, 2);
  return 1;
}

/* ---- run loops ----------------------------------------------------------------- */

enum run_mode { MODE_RUN, MODE_UNTIL, MODE_STEP };

typedef struct run_args {
  hs_lsim *ls;
  int mode;
  hs_time_ns until;
  uint64_t steps;
  uint64_t done;
  hs_run_result result;
} run_args;

/* Runs under lua_pcall so that any raise leaves the simulation in a sane state. */
static int run_protected(lua_State *L) {
  run_args *a = lua_touserdata(L, 1);
  hs_lsim *ls = a->ls;
  /* stack: [1] args, [2] sim; U's hot tables go to fixed slots */
  hs_push_uv_table(L, 2, "threads");
  ls->threads_idx = lua_gettop(L);
  hs_push_uv_table(L, 2, "anchors");
  ls->anchors_idx = lua_gettop(L);
  hs_push_uv_table(L, 2, "joins");
  ls->joins_idx = lua_gettop(L);
  hs_push_uv_table(L, 2, "list");
  ls->list_idx = lua_gettop(L);
  ls->list_ptr = lua_topointer(L, -1);
  hs_push_uv_table(L, 2, "entities");
  ls->entities_idx = lua_gettop(L);
  lua_pushcfunction(L, hs_door_msgh);
  ls->msgh_idx = lua_gettop(L);
  hs_push_uv_table(L, 2, "refs");
  ls->refs_idx = lua_gettop(L);
  hs_push_uv_table(L, 2, "types");
  ls->types_idx = lua_gettop(L);
  static const char *const keys[HS_KEY_COUNT] = {"handle_event", "__class", "time", "type", "target", "daemon"};
  ls->keys_idx = lua_gettop(L) + 1;
  for (int k = 0; k < HS_KEY_COUNT; k++) lua_pushstring(L, keys[k]);
  ls->L = L;
  switch (a->mode) {
  case MODE_RUN: a->result = hs_sim_run(&ls->sim); break;
  case MODE_UNTIL: a->result = hs_sim_run_until(&ls->sim, a->until); break;
  default: a->result = hs_sim_step(&ls->sim, a->steps, &a->done); break;
  }
  return 0;
}

/* Raises the error of a run whose time stopped advancing: the time, how many events ran at
 * it, and what is queued at it again (the repeating event types and their entities). */
static void stall_error(lua_State *L, hs_lsim *ls, const char *fname) {
  hs_sim *s = &ls->sim;
  enum { TOP = 4 };
  typedef struct repeat {
    const char *type, *target;
    uint32_t n;
  } repeat;
  repeat seen[64];
  uint32_t nseen = 0;
  for (uint32_t i = 0; i < s->heap.count; i++) {
    if (s->heap.items[i].time != s->now_ns) continue;
    const hs_event *ev = s->heap.items[i].ev;
    const char *type = ev->type ? ev->type : "(untyped)", *target = ev->target ? ev->target->name : NULL;
    uint32_t j = 0;
    while (j < nseen && !(strcmp(seen[j].type, type) == 0 &&
                          (seen[j].target == target || (seen[j].target && target && strcmp(seen[j].target, target) == 0))))
      j++;
    if (j == nseen) {
      if (nseen == 64) continue;
      seen[nseen++] = (repeat){type, target, 0};
    }
    seen[j].n++;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (uint32_t k = 0; k < TOP && k < nseen; k++) { /* the most frequent first */
    uint32_t best = k;
    for (uint32_t j = k + 1; j < nseen; j++)
      if (seen[j].n > seen[best].n) best = j;
    repeat tmp = seen[k];
    seen[k] = seen[best];
    seen[best] = tmp;
    lua_pushfstring(L, "%s'%s'%s%s%s (%d queued)", k ? ", " : "", seen[k].type, seen[k].target ? " for entity '" : "",
                    seen[k].target ? seen[k].target : "", seen[k].target ? "'" : "", (int)seen[k].n);
    luaL_addvalue(&b);
  }
  if (nseen == 0) luaL_addstring(&b, "nothing queued at that time now");
  luaL_pushresult(&b);
  luaL_error(L, "%s: simulated time stopped advancing: %I events ran at t=%f (the limit, max_events_at_one_time); "
                "what repeats: %s", fname, (lua_Integer)s->same_time_events, hs_time_to_s(s->now_ns), lua_tostring(L, -1));
}

static void run_loop(lua_State *L, hs_lsim *ls, run_args *a, const char *fname) {
  if (ls->L) luaL_error(L, "%s: the simulation is already running (called from inside a handler?)", fname);
  hs_door_raise(L, ls); /* an error left between runs that nothing raised yet */
  a->ls = ls;
  double w0 = hs_now_s();
  lua_pushcfunction(L, run_protected);
  lua_pushlightuserdata(L, a);
  lua_pushvalue(L, 1);
  int rc = lua_pcall(L, 2, 0, 0);
  ls->L = NULL;
  ls->msgh_idx = 0;
  ls->wall_seconds += hs_now_s() - w0;
  if (rc != LUA_OK) lua_error(L);
  hs_door_raise(L, ls); /* the first error of the run */
  if (a->result == HS_RUN_STALLED) stall_error(L, ls, fname);
  if (a->result == HS_RUN_BUDGET)
    luaL_error(L, "%s: the run's bound of max_events events is reached at t=%f", fname, hs_time_to_s(ls->sim.now_ns));
}

static void push_summary(lua_State *L, int sim_idx) {
  hs_lsim *ls = lua_touserdata(L, sim_idx);
  hs_sim *s = &ls->sim;
  lua_createtable(L, 0, 10);
  lua_pushnumber(L, hs_time_to_s(s->now_ns));
  lua_setfield(L, -2, "duration_s");
  lua_pushinteger(L, (lua_Integer)s->events_processed);
  lua_setfield(L, -2, "events_processed");
  lua_pushinteger(L, (lua_Integer)s->events_cancelled);
  lua_setfield(L, -2, "events_cancelled");
  lua_pushinteger(L, (lua_Integer)s->heap.count);
  lua_setfield(L, -2, "events_pending");
  lua_pushinteger(L, (lua_Integer)ls->events_dropped);
  lua_setfield(L, -2, "events_dropped");
  lua_pushnumber(L, ls->wall_seconds);
  lua_setfield(L, -2, "wall_clock_seconds");
  lua_pushnumber(L, ls->wall_seconds > 0 ? (double)s->events_processed / ls->wall_seconds : 0.0);
  lua_setfield(L, -2, "events_per_wall_second");
  lua_pushinteger(L, (lua_Integer)s->seed);
  lua_setfield(L, -2, "seed");
  char hex[17];
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) hex[i] = digits[(s->trace_hash >> (60 - 4 * i)) & 15];
  hex[16] = 0;
  lua_pushstring(L, hex);
  lua_setfield(L, -2, "trace_hash");
  lua_createtable(L, 0, (int)s->entity_count);
  for (uint32_t i = 0; i < s->entity_count; i++) {
    hs_entity *e = s->entities[i];
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)e->events_handled);
    lua_setfield(L, -2, "events_handled");
    lua_pushstring(L, e->vt && e->vt->kind ? e->vt->kind : "entity");
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, (lua_Integer)i + 1);
    lua_setfield(L, -2, "order");
    lua_setfield(L, -2, e->name);
  }
  lua_setfield(L, -2, "entities");
}

/* sim:run() -> summary */
/* sim:run([{ max_events = N }]) -> summary. With max_events, a run that would process more
 * events raises after N (a bound against runaway runs). */
static int l_run(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  uint64_t budget = UINT64_MAX;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const known[] = {"max_events", NULL};
    hs_check_options(L, 2, 2, known);
    if (lua_getfield(L, 2, "max_events") != LUA_TNIL) {
      int isint;
      lua_Integer n = lua_tointegerx(L, -1, &isint);
      if (!isint || n < 1)
        luaL_argerror(L, 2, lua_pushfstring(L, "field 'max_events' must be an integer >= 1, got %s", luaL_tolstring(L, -1, NULL)));
      budget = (uint64_t)n;
    }
  }
  lua_settop(L, 1);
  run_args a = {.mode = MODE_RUN};
  ls->sim.run_budget = budget;
  run_loop(L, ls, &a, "run");
  ls->sim.run_budget = UINT64_MAX;
  push_summary(L, 1);
  return 1;
}

/* sim:run_until(t) -> summary: runs every event up to t, then now = t */
static int l_run_until(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  double t = hs_check_seconds(L, 2, "time");
  hs_time_ns tn = hs_time_from_s(t);
  if (tn < ls->sim.now_ns)
    luaL_argerror(L, 2, lua_pushfstring(L, "time must be >= now (%f), got %f", hs_time_to_s(ls->sim.now_ns), t));
  lua_settop(L, 1);
  run_args a = {.mode = MODE_UNTIL, .until = tn};
  run_loop(L, ls, &a, "run_until");
  push_summary(L, 1);
  return 1;
}

/* sim:step([n]) -> number of events processed (0 when nothing is left) */
static int l_step(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  lua_Integer n = 1;
  if (!lua_isnoneornil(L, 2)) {
    int isint;
    n = lua_tointegerx(L, 2, &isint);
    if (!isint || n < 0)
      luaL_argerror(L, 2, lua_pushfstring(L, "count must be a non-negative integer, got %s",
                                          lua_type(L, 2) == LUA_TNUMBER ? lua_tostring(L, 2) : hs_typename_of(L, 2)));
  }
  lua_settop(L, 1);
  run_args a = {.mode = MODE_STEP, .steps = (uint64_t)n};
  run_loop(L, ls, &a, "step");
  lua_pushinteger(L, (lua_Integer)a.done);
  return 1;
}

/* sim:stop(): the running loop returns after the current event. */
static int l_stop(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  hs_sim_stop(&ls->sim);
  return 0;
}

static int l_summary(lua_State *L) {
  hs_check_sim(L, 1);
  lua_settop(L, 1);
  push_summary(L, 1);
  return 1;
}

/* sim:schedule(event) or sim:schedule{ ev1, ev2 } */
static int l_schedule(lua_State *L) {
  hs_check_sim(L, 1);
  if (hs_is_event(L, 2)) {
    hs_levent_schedule(L, 1, 2);
    lua_settop(L, 2);
    return 1;
  }
  if (!lua_istable(L, 2)) luaL_typeerror(L, 2, "hs.Event or list of events");
  lua_Integer n = luaL_len(L, 2);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    if (!hs_is_event(L, -1))
      luaL_argerror(L, 2, lua_pushfstring(L, "item %d must be an hs.Event, got %s", (int)i, hs_typename_of(L, -1)));
    hs_levent_schedule(L, 1, lua_gettop(L));
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  return 1;
}

/* ---- tracing ------------------------------------------------------------------- */

static void trace_hook(hs_sim *sim, const hs_event *ev, void *ud) {
  (void)ud;
  hs_lsim *ls = hs_lsim_of(sim);
  lua_State *L = ls->L;
  if (ls->failed) return;
  lua_getiuservalue(L, 2, 1); /* the sim is at index 2 of run_protected's frame */
  lua_getfield(L, -1, "trace");
  lua_remove(L, -2);
  lua_pushnumber(L, hs_time_to_s(sim->now_ns));
  lua_pushstring(L, ev->type ? ev->type : "?");
  if (ev->target)
    lua_pushstring(L, ev->target->name);
  else
    lua_pushnil(L);
  hs_door_site site = {"trace function", NULL, ev->target, ev->type};
  hs_door_call(L, ls, 3, 0, &site);
}

/* sim:trace(fn | nil): fn(time, type, target_name) runs before each event. */
static int l_trace(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "trace");
  hs_sim_set_trace(&ls->sim, lua_isnil(L, 2) ? NULL : trace_hook, NULL);
  return 0;
}

/* ---- lifetime ------------------------------------------------------------------ */

/* Frees what the simulation holds; idempotent (the collector and __close may come after close). */
static void close_sim(hs_lsim *ls) {
  hs_trace_close(ls); /* the trace file ends at the time the run got to */
  if (ls->sim.closed) return;
  hs_sim_close(&ls->sim);
  hs_proc_free_all(ls);
  hs_event_records_free(ls);
  free(ls->free_anchors);
  ls->free_anchors = NULL;
  ls->free_anchor_count = ls->free_anchor_capacity = 0;
}

/* sim:close(): a second close is a use after close, and raises like any other. */
static int l_close(lua_State *L) {
  hs_lsim *ls = luaL_checkudata(L, 1, HS_SIM_MT);
  if (ls->L) luaL_error(L, "close: the simulation is running");
  if (ls->sim.closed) luaL_error(L, "close: the simulation is already closed");
  close_sim(ls);
  return 0;
}

static int l_gc(lua_State *L) {
  hs_lsim *ls = luaL_checkudata(L, 1, HS_SIM_MT);
  ls->L = NULL;
  close_sim(ls);
  return 0;
}

static int l_tostring(lua_State *L) {
  hs_lsim *ls = luaL_checkudata(L, 1, HS_SIM_MT);
  if (ls->sim.closed)
    lua_pushstring(L, "Simulation (closed)");
  else
    lua_pushfstring(L, "Simulation (seed %I, now %fs, %d pending)", (lua_Integer)ls->sim.seed,
                    hs_time_to_s(ls->sim.now_ns), (int)ls->sim.heap.count);
  return 1;
}

/* Fields: now, seed, end_time, pending, events_processed, closed, running; else methods.
 * After close only `closed` (and the methods, which raise) can be read. */
static int l_index(lua_State *L) {
  hs_lsim *ls = luaL_checkudata(L, 1, HS_SIM_MT);
  const char *k = lua_tostring(L, 2);
  if (k && lua_type(L, 2) == LUA_TSTRING) {
    if (strcmp(k, "closed") == 0) {
      lua_pushboolean(L, ls->sim.closed);
      return 1;
    }
    if (ls->sim.closed) {
      static const char *const fields[] = {"now",     "seed",     "end_time", "pending", "events_processed",
                                           "running", "entities", NULL};
      for (const char *const *f = fields; *f; f++)
        if (strcmp(k, *f) == 0) return luaL_error(L, "sim.%s: the simulation is closed", k);
    }
    if (strcmp(k, "now") == 0) {
      lua_pushnumber(L, hs_time_to_s(ls->sim.now_ns));
      return 1;
    }
    if (strcmp(k, "seed") == 0) {
      lua_pushinteger(L, (lua_Integer)ls->sim.seed);
      return 1;
    }
    if (strcmp(k, "end_time") == 0) {
      if (ls->sim.end_ns == HS_TIME_NEVER)
        lua_pushnil(L);
      else
        lua_pushnumber(L, hs_time_to_s(ls->sim.end_ns));
      return 1;
    }
    if (strcmp(k, "pending") == 0) {
      lua_pushinteger(L, (lua_Integer)ls->sim.heap.count);
      return 1;
    }
    if (strcmp(k, "events_processed") == 0) {
      lua_pushinteger(L, (lua_Integer)ls->sim.events_processed);
      return 1;
    }
    if (strcmp(k, "running") == 0) {
      lua_pushboolean(L, ls->L != NULL);
      return 1;
    }
    if (strcmp(k, "entities") == 0) { /* a fresh table: name -> entity (a table or C entity) */
      hs_push_uv_table(L, 1, "names");
      lua_newtable(L);
      lua_pushnil(L);
      while (lua_next(L, -3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
      }
      return 1;
    }
  }
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static int l_newindex(lua_State *L) {
  return luaL_error(L, "Simulation: cannot set field '%s' (use the methods)", luaL_tolstring(L, 2, NULL));
}

/* sim:peek() -> time, type, target name of the event that comes next (nil when none): what
 * sim:step(1) would process. For breakpoints (sim:break_on) and the REPL. */
static int l_peek(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  if (ls->sim.closed) return hs_closed_error(L, "the simulation");
  hs_event *ev = hs_heap_top(&ls->sim.heap);
  hs_time_ns t = hs_heap_top_time(&ls->sim.heap);
  if (!ev || t > ls->sim.end_ns) return 0;
  lua_pushnumber(L, hs_time_to_s(t));
  if (ev->type)
    lua_pushstring(L, ev->type);
  else
    lua_pushnil(L);
  if (ev->target && ev->target->name)
    lua_pushstring(L, ev->target->name);
  else
    lua_pushnil(L);
  return 3;
}

static const luaL_Reg sim_methods[] = {
    {"run", l_run},         {"run_until", l_run_until}, {"step", l_step},   {"stop", l_stop},
    {"summary", l_summary}, {"schedule", l_schedule},   {"trace", l_trace}, {"close", l_close},
    {"timer", hs_l_timer},  {"random", hs_l_stream},    {"register", hs_l_register},
    {"add", hs_l_add},      {"entity", hs_l_entity_named}, {"peek", l_peek},
    {"record_trace", hs_l_record_trace}, {"stop_trace", hs_l_stop_trace}, {NULL, NULL}};

static const luaL_Reg sim_meta[] = {{"__index", l_index},       {"__newindex", l_newindex},
                                    {"__gc", l_gc},             {"__close", l_gc},
                                    {"__tostring", l_tostring}, {NULL, NULL}};

static void sim_open(lua_State *L) {
  luaL_newmetatable(L, HS_SIM_MT);
  luaL_setfuncs(L, sim_meta, 0);
  luaL_newlib(L, sim_methods);
  lua_setfield(L, -2, "methods");
  lua_pop(L, 1);
  /* weak-valued map from hs_lsim* to its userdata */
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, HS_SIMS_KEY);
}

#define HS_ERROR_MT_KEY "happysim.Error"

static int l_set_error_metatable(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, HS_ERROR_MT_KEY);
  return 0;
}

void hs_push_error(lua_State *L, const char *code, const char *message) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  if (lua_getfield(L, LUA_REGISTRYINDEX, HS_ERROR_MT_KEY) == LUA_TTABLE)
    lua_setmetatable(L, -2);
  else
    lua_pop(L, 1);
}

/* The method table, so the Lua layer can add methods (spawn, after ...). */
static int l_sim_methods(lua_State *L) {
  luaL_getmetatable(L, HS_SIM_MT);
  lua_getfield(L, -1, "methods");
  return 1;
}

static const luaL_Reg core_funcs[] = {{"Simulation", l_sim_new},
                                      {"sleep", hs_l_sleep},
                                      {"now", hs_l_now},
                                      {"current_process", hs_l_current_process},
                                      {"park", hs_l_park},
                                      {"waker", hs_l_waker},
                                      {"spawn", hs_l_spawn},
                                      {"kill", hs_l_kill},
                                      {"process_state", hs_l_process_state},
                                      {"sim_methods", l_sim_methods},
                                      {"HoldModel", hs_l_hold_new},
                                      {"NetworkLink", hs_l_link_new},
                                      {"crash", hs_l_crash},
                                      {"restart", hs_l_restart},
                                      {"is_crashed", hs_l_is_crashed},
                                      {"entity_index", hs_l_entity_index},
                                      {"set_error_metatable", l_set_error_metatable},
                                      {"LamportClock", hs_l_lamport_new},
                                      {"HybridLogicalClock", hs_l_hlc_new},
                                      {"HLCTimestamp", hs_l_hlc_ts_new},
                                      {"NodeClock", hs_l_nodeclock_new},
                                      {NULL, NULL}};

void hs_runtime_open(lua_State *L) {
  sim_open(L);
  hs_event_open(L);
  hs_process_open(L);
  hs_entity_open(L);
  hs_rng_open(L);
  hs_value_open(L);
  hs_dist_open(L);
  hs_net_open(L);
  hs_clock_open(L);
  luaL_newlib(L, core_funcs);
  luaL_getmetatable(L, HS_EVENT_MT);
  lua_pushcclosure(L, hs_l_event_new, 1); /* hs.Event keeps its metatable at hand */
  lua_setfield(L, -2, "Event");
  hs_check_register(L); /* core.check: the linearizability checker */
  luaL_setfuncs(L, hs_value_funcs, 0);
  luaL_setfuncs(L, hs_net_funcs, 0);
  lua_newtable(L);
  luaL_setfuncs(L, hs_dist_funcs, 0);
  lua_setfield(L, -2, "dist");
}
