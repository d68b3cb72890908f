/*
 * hs_lua_process.c - processes: Lua coroutines resumed by the C scheduler.
 *
 * A process yields a number to sleep (hs.sleep), or the park token to wait until
 * woken (hs.await). Process slots and their threads are pooled and reused: a thread
 * whose function returned is reset to an empty stack and serves the next process.
 * Threads are anchored in U.threads[slot] of their simulation.
 *
 * Kinds of process: an entity's handler (hs_proc_start_now: what it returns is scheduled),
 * a spawned one (core.spawn: a completion callback in U.joins), and a callback of C code
 * (hs_proc_call: a protocol's strategy written in Lua; it answers at once when it does not
 * wait, else through its hs_proc_end).
 */
#include <stdlib.h>
#include <string.h>

#include "hs_lua.h"

static char park_token; /* its address is the value hs.await yields */

/* The process the scheduler is resuming on this OS thread (NULL outside processes). */
static _Thread_local hs_lproc *running;

static const char *const state_names[] = {"done", "pending", "running", "sleeping", "parked"};

static void proc_wake_fire(hs_sim *sim, hs_event *ev);

/* A free process slot, or a new one whose thread is anchored in U.threads of the simulation
 * at sim_idx (0: found through the registry). */
static hs_lproc *proc_acquire(lua_State *L, int sim_idx, hs_lsim *ls) {
  hs_lproc *p;
  if (ls->free_proc_count) {
    p = ls->procs[ls->free_procs[--ls->free_proc_count]];
    HS_ASSERT(p->state == PROC_IDLE && !hs_event_pending(&p->wake)); /* a free slot is idle */
  } else {
    if (ls->proc_count == ls->proc_capacity) {
      uint32_t cap = ls->proc_capacity ? ls->proc_capacity * 2 : 32;
      hs_lproc **procs = realloc(ls->procs, cap * sizeof *procs);
      if (!procs) luaL_error(L, "out of memory");
      ls->procs = procs;
      uint32_t *free_procs = realloc(ls->free_procs, cap * sizeof *free_procs);
      if (!free_procs) luaL_error(L, "out of memory");
      ls->free_procs = free_procs;
      ls->proc_capacity = cap;
    }
    p = calloc(1, sizeof *p);
    if (!p) luaL_error(L, "out of memory");
    p->owner = ls;
    p->slot = ls->proc_count;
    ls->procs[ls->proc_count++] = p;
    hs_event_init(&p->wake, proc_wake_fire, NULL, "process");
    if (!sim_idx) hs_push_sim(L, ls);
    hs_push_uv_table(L, sim_idx ? sim_idx : lua_gettop(L), "threads");
    p->co = lua_newthread(L);
    lua_rawseti(L, -2, (lua_Integer)p->slot + 1);
    lua_pop(L, sim_idx ? 1 : 2);
  }
  p->gen++;
  p->state = PROC_RUNNING;
  p->nargs = 0;
  p->has_join = 0;
  p->returns_events = 0;
  p->entity = NULL;
  p->what_ref = NULL;
  p->what[0] = 0;
  p->end = (hs_proc_end){0};
  return p;
}

static void proc_release(hs_lsim *ls, hs_lproc *p) {
  HS_ASSERT(p->state != PROC_IDLE && ls->free_proc_count < ls->proc_count); /* released once */
  p->state = PROC_IDLE;
  p->gen++;
  if (p->has_join) {
    lua_pushnil(ls->L);
    lua_rawseti(ls->L, ls->joins_idx, (lua_Integer)p->slot + 1);
    p->has_join = 0;
  }
  ls->free_procs[ls->free_proc_count++] = p->slot;
}

/* Where the process's code runs, for error messages. */
static hs_door_site proc_site(const hs_lproc *p) {
  const char *what = p->what_ref ? p->what_ref : p->what;
  if (p->end.kind) return (hs_door_site){p->end.kind, NULL, p->entity, what[0] ? what : NULL};
  if (p->entity) return (hs_door_site){NULL, NULL, p->entity, what};
  if (p->returns_events) return (hs_door_site){"event function", NULL, NULL, what};
  return (hs_door_site){"process", what, NULL, NULL};
}

static void set_what(hs_lproc *p, const char *what);

/* Tells the C code that started it (hs_proc_call) that a process ended after waiting. */
static void tell_end(lua_State *L, const hs_proc_end *end, int nres, int status) {
  if (!end->fn) {
    lua_pop(L, nres);
    return;
  }
  int top = lua_gettop(L) - nres;
  end->fn(end, L, nres, status);
  lua_settop(L, top);
}

/* Stops the run with the message on top of L (popped) and co's traceback when with_traceback;
 * the process's thread is reset and its slot freed. Returns the error status. */
static int proc_fail(hs_lsim *ls, hs_lproc *p, lua_State *L, int with_traceback, int sync) {
  hs_door_site site = proc_site(p);
  hs_proc_end end = p->end;
  hs_door_fail(L, ls, with_traceback ? p->co : NULL, &site);
  hs_reset_thread(p->co, L);
  proc_release(ls, p);
  if (!sync) tell_end(L, &end, 0, LUA_ERRRUN);
  return LUA_ERRRUN;
}

/* Stops a process that is not running: its thread is reset for reuse. C code that started it
 * is told (HS_PROC_KILLED) unless `sync` (it learns it from hs_proc_call). */
static void proc_kill(lua_State *L, hs_lsim *ls, hs_lproc *p, int sync) {
  HS_ASSERT(p->state != PROC_IDLE && ls->free_proc_count < ls->proc_count);
  hs_proc_end end = p->end;
  hs_sim_cancel(&ls->sim, &p->wake);
  hs_reset_thread(p->co, L);
  p->state = PROC_IDLE;
  p->gen++;
  p->has_join = 0; /* entity processes have no join; spawn's caller settles its own */
  ls->free_procs[ls->free_proc_count++] = p->slot;
  if (!sync) tell_end(L, &end, 0, HS_PROC_KILLED);
}

void hs_proc_kill_entity(lua_State *L, hs_lsim *ls, hs_entity *e) {
  for (uint32_t i = 0; i < ls->proc_count; i++) {
    hs_lproc *p = ls->procs[i];
    if (p->entity == e && p->state != PROC_IDLE && p->state != PROC_RUNNING) proc_kill(L, ls, p, 0);
  }
}

/* Resumes p from L, the running thread, with the p->nargs values on its stack and handles how
 * it stops; returns the status (HS_PROC_KILLED when its entity crashed under it). With
 * sync_nres (hs_proc_call's first resume), what a C caller's process returned is left on L
 * (*sync_nres values) and nothing is told to its hs_proc_end. */
static int proc_resume(hs_lsim *ls, hs_lproc *p, lua_State *L, int *sync_nres) {
  lua_State *co = p->co;
  int nargs = p->nargs, nres, sync = sync_nres != NULL;
  /* a process is resumed to start, or at the end of its sleep (a parked one is woken by
   * making it sleep for 0): never while it runs, is parked, or is free */
  HS_ASSERT(p->state == PROC_STARTING || p->state == PROC_SLEEPING);
  HS_ASSERT(!hs_event_pending(&p->wake));
  p->nargs = 0;
  p->state = PROC_RUNNING;
  hs_lproc *outer = running;
  running = p;
  hs_door_site site = proc_site(p);
  int st = hs_door_resume(ls, co, L, nargs, &nres, &site);
  running = outer;
  if (st != LUA_OK && st != LUA_YIELD) { /* reported by the door, with co's traceback */
    hs_proc_end end = p->end;
    hs_reset_thread(co, L);
    proc_release(ls, p);
    if (!sync) tell_end(L, &end, 0, st);
    return st;
  }
  if (p->entity && hs_entity_crashed(p->entity)) {
    /* its entity crashed while it ran: it stops here, and what it returned is lost */
    proc_kill(L, ls, p, sync);
    return HS_PROC_KILLED;
  }
  if (st == LUA_YIELD) {
    if (p->what_ref) { /* it outlives the event it started for: keep a copy of the type */
      set_what(p, p->what_ref);
      p->what_ref = NULL;
    }
    if (nres == 1 && lua_type(co, -1) == LUA_TNUMBER) {
      double dt = lua_tonumber(co, -1);
      lua_pop(co, 1);
      if (!hs_time_s_valid(dt)) {
        lua_pushfstring(L, "slept for %f seconds; a delay must be a finite number >= 0", dt);
        return proc_fail(ls, p, L, 1, sync);
      }
      if (hs_sim_schedule_after(&ls->sim, &p->wake, hs_time_from_s(dt)) != HS_OK) { /* coroutine.yield(dt) */
        lua_pushfstring(L, "slept for %f seconds from t=%f: it would wake past the end of simulated time", dt,
                        hs_time_to_s(ls->sim.now_ns));
        return proc_fail(ls, p, L, 1, sync);
      }
      p->state = PROC_SLEEPING;
      return LUA_YIELD;
    }
    if (nres == 1 && lua_touserdata(co, -1) == &park_token) {
      lua_pop(co, 1);
      p->state = PROC_PARKED;
      return LUA_YIELD;
    }
    lua_pushliteral(L, "yielded something other than a delay; use hs.sleep(dt) or hs.await(future)");
    return proc_fail(ls, p, L, 1, sync);
  }
  if (p->end.fn || sync) { /* a C caller's: its results go to it */
    hs_proc_end end = p->end;
    lua_xmove(co, L, nres);
    lua_settop(co, 0);
    proc_release(ls, p);
    if (sync)
      *sync_nres = nres;
    else
      tell_end(L, &end, nres, LUA_OK);
    return LUA_OK;
  }
  if (p->returns_events) {
    if (nres) {
      lua_xmove(co, L, nres);
      if (hs_schedule_returned(L, ls, nres) != LUA_OK) { /* a bad value: the message is on L */
        hs_door_fail(L, ls, NULL, &site);
        hs_reset_thread(co, L);
        proc_release(ls, p);
        return LUA_ERRRUN;
      }
    }
  } else if (p->has_join) {
    lua_rawgeti(L, ls->joins_idx, (lua_Integer)p->slot + 1);
    lua_pushboolean(L, 1);
    lua_xmove(co, L, nres);
    hs_door_site join_site = {"completion of process", p->what, NULL, NULL};
    hs_door_call(L, ls, nres + 1, 0, &join_site);
  }
  lua_settop(co, 0);
  proc_release(ls, p);
  return LUA_OK;
}

static void proc_wake_fire(hs_sim *sim, hs_event *ev) {
  hs_lproc *p = HS_CONTAINER_OF(ev, hs_lproc, wake);
  /* a paused entity's handler wakes when the entity resumes (the wake-up has no target) */
  if (p->entity && hs_entity_paused(p->entity) && hs_sim_defer(sim, ev, p->entity) == HS_OK) return;
  hs_lsim *ls = hs_lsim_of(sim);
  proc_resume(ls, p, ls->L, NULL);
}

/* Keeps what the process does, for error messages (truncated; no snprintf: this runs for
 * every message a Lua entity handles). */
static void set_what(hs_lproc *p, const char *what) {
  size_t n = what ? strlen(what) : 0;
  if (n >= sizeof p->what) n = sizeof p->what - 1;
  if (n) memcpy(p->what, what, n);
  p->what[n] = 0;
}

void hs_proc_start_now(lua_State *L, int sim_idx, int nargs, const char *what, hs_entity *entity) {
  hs_lsim *ls = lua_touserdata(L, sim_idx);
  hs_lproc *p = proc_acquire(L, sim_idx, ls);
  p->entity = entity;
  p->returns_events = 1;
  p->what_ref = what ? what : ""; /* alive while it runs: the caller holds the event or message */
  lua_xmove(L, p->co, nargs + 1);
  p->nargs = nargs;
  p->state = PROC_STARTING;
  proc_resume(ls, p, L, NULL);
}

int hs_proc_call(lua_State *L, hs_lsim *ls, int nargs, int nresults, hs_entity *entity, const char *event,
                 const hs_proc_end *end) {
  hs_lproc *p = proc_acquire(L, 0, ls);
  p->entity = entity;
  p->end = *end;
  p->what_ref = event ? event : "";
  lua_xmove(L, p->co, nargs + 1);
  p->nargs = nargs;
  p->state = PROC_STARTING;
  int nres = 0;
  int st = proc_resume(ls, p, L, &nres);
  if (st == LUA_OK && nresults != LUA_MULTRET) {
    for (; nres < nresults; nres++) lua_pushnil(L);
    lua_pop(L, nres - nresults);
  }
  return st;
}

hs_lproc *hs_proc_running(void) { return running; }

/* core.spawn(sim, delay, on_done|nil, name, fn, ...) -> slot, gen. The process starts at now + delay. */
int hs_l_spawn(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  double delay = hs_check_seconds(L, 2, "delay");
  if (!lua_isnil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  const char *name = luaL_checkstring(L, 4);
  luaL_checktype(L, 5, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - 5;
  hs_lproc *p = proc_acquire(L, 1, ls);
  set_what(p, name);
  if (!lua_isnil(L, 3)) {
    hs_push_uv_table(L, 1, "joins");
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, (lua_Integer)p->slot + 1);
    lua_pop(L, 1);
    p->has_join = 1;
  }
  lua_Integer slot = p->slot, gen = p->gen;
  lua_xmove(L, p->co, nargs + 1);
  p->nargs = nargs;
  p->state = PROC_STARTING;
  int rc = hs_sim_schedule_after(&ls->sim, &p->wake, hs_time_from_s(delay));
  if (rc != HS_OK) {
    lua_settop(p->co, 0);
    p->has_join = 0; /* the joins entry is overwritten on reuse */
    p->state = PROC_IDLE;
    p->gen++;
    ls->free_procs[ls->free_proc_count++] = p->slot;
    return luaL_argerror(L, 2, "delay out of range");
  }
  lua_pushinteger(L, slot);
  lua_pushinteger(L, gen);
  return 2;
}

static hs_lproc *find_proc(lua_State *L, hs_lsim *ls) {
  lua_Integer slot = luaL_checkinteger(L, 2), gen = luaL_checkinteger(L, 3);
  if (slot < 0 || (uint64_t)slot >= ls->proc_count) return NULL;
  hs_lproc *p = ls->procs[slot];
  return (lua_Integer)p->gen == gen && p->state != PROC_IDLE ? p : NULL;
}

/* core.kill(sim, slot, gen) -> true if the process was stopped (not the running one). */
int hs_l_kill(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  hs_lproc *p = find_proc(L, ls);
  if (!p) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (p->state == PROC_RUNNING) return luaL_error(L, "cancel: a process cannot cancel itself while running");
  proc_kill(L, ls, p, 0); /* the caller settles the join future */
  lua_pushboolean(L, 1);
  return 1;
}

/* core.process_state(sim, slot, gen) -> "pending" | "running" | "sleeping" | "parked" | "done" */
int hs_l_process_state(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  hs_lproc *p = find_proc(L, ls);
  lua_pushstring(L, state_names[p ? p->state : PROC_IDLE]);
  return 1;
}

static hs_lproc *check_in_process(lua_State *L, const char *fname) {
  hs_lproc *p = running;
  if (!p || p->co != L)
    luaL_error(L, "%s: not inside a process (call it from an entity's handle_event or a function "
                  "started with sim:spawn or sim:after)", fname);
  return p;
}

/* hs.sleep(dt): suspends the running process for dt seconds of simulated time. */
int hs_l_sleep(lua_State *L) {
  hs_lproc *p = check_in_process(L, "hs.sleep");
  double dt = hs_check_seconds(L, 1, "delay");
  hs_time_ns now = p->owner->sim.now_ns, d = hs_time_from_s(dt);
  if (d > HS_TIME_NEVER - 1 - now) /* it would never wake: say so now, not silently */
    return luaL_error(L, "bad argument #1 to 'sleep' (a delay of %s s from t=%f passes the end of simulated time "
                         "(about %f s))", lua_tostring(L, 1), hs_time_to_s(now), hs_time_to_s(HS_TIME_NEVER - 1));
  lua_settop(L, 1);
  return lua_yield(L, 1);
}

/* hs.now(): the simulated time of the running process's simulation. */
int hs_l_now(lua_State *L) {
  hs_lproc *p = check_in_process(L, "hs.now");
  lua_pushnumber(L, hs_time_to_s(p->owner->sim.now_ns));
  return 1;
}

/* core.current_process(fname) -> sim, slot, gen */
int hs_l_current_process(lua_State *L) {
  hs_lproc *p = check_in_process(L, luaL_optstring(L, 1, "hs.await"));
  hs_push_sim(L, p->owner);
  lua_pushinteger(L, p->slot);
  lua_pushinteger(L, p->gen);
  return 3;
}

/* A waker: wakes the process of one slot and generation when called (any arguments). */
static int waker_call(lua_State *L) {
  hs_lsim *ls = lua_touserdata(L, lua_upvalueindex(1));
  lua_Integer slot = lua_tointeger(L, lua_upvalueindex(2)), gen = lua_tointeger(L, lua_upvalueindex(3));
  if (ls->sim.closed || (uint64_t)slot >= ls->proc_count) return 0;
  hs_lproc *p = ls->procs[slot];
  if ((lua_Integer)p->gen == gen && p->state == PROC_PARKED && hs_sim_schedule_after(&ls->sim, &p->wake, 0) == HS_OK)
    p->state = PROC_SLEEPING;
  return 0;
}

/* core.waker(fname) -> a function that wakes the running process when it is parked (what
 * hs.await hands to Future:on_settle). One per process, cached in U.wakers[slot], so a
 * process awaiting many futures allocates nothing per await. */
int hs_l_waker(lua_State *L) {
  hs_lproc *p = check_in_process(L, luaL_optstring(L, 1, "hs.await"));
  hs_push_sim(L, p->owner);
  int sim_idx = lua_gettop(L);
  hs_push_uv_table(L, sim_idx, "wakers");
  if (lua_rawgeti(L, -1, (lua_Integer)p->slot + 1) == LUA_TFUNCTION && lua_getupvalue(L, -1, 3) &&
      lua_tointeger(L, -1) == (lua_Integer)p->gen) {
    lua_pop(L, 1);
    return 1;
  }
  lua_settop(L, sim_idx + 1);
  lua_pushvalue(L, sim_idx); /* upvalue 1: the sim (keeps it alive while a future holds the waker) */
  lua_pushinteger(L, p->slot);
  lua_pushinteger(L, p->gen);
  lua_pushcclosure(L, waker_call, 3);
  lua_pushvalue(L, -1);
  lua_rawseti(L, sim_idx + 1, (lua_Integer)p->slot + 1);
  return 1;
}

/* core.park(): suspends the running process until its waker (core.waker) runs. */
int hs_l_park(lua_State *L) {
  check_in_process(L, "hs.await");
  lua_settop(L, 0);
  lua_pushlightuserdata(L, &park_token);
  return lua_yield(L, 1);
}

void hs_proc_free_all(hs_lsim *ls) {
  for (uint32_t i = 0; i < ls->proc_count; i++) free(ls->procs[i]);
  free(ls->procs);
  free(ls->free_procs);
  ls->procs = NULL;
  ls->free_procs = NULL;
  ls->proc_count = ls->proc_capacity = ls->free_proc_count = 0;
}

void hs_process_open(lua_State *L) { (void)L; }
