/*
 * hs_lua_hold.c - hs.HoldModel: the hold-model workload as a C entity usable from Lua.
 * It is also the reference for exposing a C entity (see hs_lua_centity.h).
 *
 *   local h = hs.HoldModel{ sim = sim, name = "hold", pending = 1000, mean = 1.0 }
 *   h:start(); sim:run_until(100); print(h.events_handled)
 *
 * Crash and restart (h:crash(), h:restart(), hs.faults.crash): a crash is the process
 * dying, and its pending events are volatile state: they are cancelled, nothing fires
 * while it is down (events_handled stands still, h.running reads false) and h:start()
 * raises. A restart relaunches it as it was configured: if it was running when it crashed,
 * a fresh population of `pending` events is scheduled, each after a new delay from the
 * restart time; if it was stopped (before or during the crash), it stays stopped.
 */
#include "core/hs_hold.h"
#include <stdlib.h>
#include <string.h>

#include "hs_lua_centity.h"

typedef struct lhold {
  hs_lua_centity base;
  hs_hold hold;
  uint32_t pending;
  double mean_s;
} lhold;

static lhold *hold_of(hs_entity *e) { return HS_CONTAINER_OF(e, lhold, base.e); }

static void on_crash(hs_entity *e) { hs_hold_crash(&hold_of(e)->hold, e->sim); }

/* Cannot raise: on an error (out of memory) the model is left stopped, and h.running says so. */
static void on_restart(hs_entity *e) { (void)hs_hold_restart(&hold_of(e)->hold, e->sim); }

static const hs_entity_vtable hold_vt = {.kind = "HoldModel", .on_crash = on_crash, .on_restart = on_restart};
static const hs_lua_class hold_class;

static int l_start(lua_State *L) {
  lhold *h = hs_lua_check_centity(L, 1, &hold_class);
  if (hs_entity_crashed(&h->base.e)) return luaL_error(L, "start: HoldModel '%s' is crashed", h->base.e.name);
  if (h->hold.events) return luaL_error(L, "start: HoldModel '%s' is already running", h->base.e.name);
  int rc = hs_hold_start(&h->hold, h->base.e.sim, &h->base.e, h->pending, h->mean_s);
  if (rc != HS_OK) return luaL_error(L, "start: %s", hs_strerror(rc));
  return 0;
}

static int l_stop(lua_State *L) {
  lhold *h = hs_lua_check_centity(L, 1, &hold_class);
  hs_hold_stop(&h->hold, h->base.e.sim);
  return 0;
}

static int get_field(lua_State *L, void *self, const char *key) {
  lhold *h = self;
  if (strcmp(key, "pending") == 0)
    lua_pushinteger(L, h->pending);
  else if (strcmp(key, "mean") == 0)
    lua_pushnumber(L, h->mean_s);
  else if (strcmp(key, "events_handled") == 0)
    lua_pushinteger(L, (lua_Integer)h->base.e.events_handled);
  else if (strcmp(key, "running") == 0)
    lua_pushboolean(L, h->hold.events != NULL && !hs_entity_crashed(&h->base.e));
  else
    return 0;
  return 1;
}

/* The simulation may be gone: free the events without touching it. */
static void finalize(void *self) {
  lhold *h = self;
  free(h->hold.events);
  h->hold.events = NULL;
}

static const luaL_Reg methods[] = {{"start", l_start}, {"stop", l_stop}, {NULL, NULL}};
static const hs_lua_class hold_class = {"HoldModel", sizeof(lhold), &hold_vt, methods, get_field, finalize, 0, NULL};

static const char *const options[] = {"sim", "name", "pending", "mean", NULL};

/* hs.HoldModel{ sim =, name =, pending = 1000, mean = 1.0 } */
int hs_l_hold_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, options);
  lua_getfield(L, 1, "sim"); /* 2 */
  if (!luaL_testudata(L, 2, HS_SIM_MT)) luaL_argerror(L, 1, "field 'sim' must be a Simulation");
  hs_check_sim(L, 2);
  lua_Integer pending = 1000;
  if (lua_getfield(L, 1, "pending") != LUA_TNIL) {
    int isint;
    pending = lua_tointegerx(L, -1, &isint);
    if (!isint || pending < 1 || pending > 100000000)
      luaL_argerror(L, 1, "field 'pending' must be an integer in [1, 1e8]");
  }
  lua_pop(L, 1);
  double mean = hs_field_seconds(L, 1, 1, "mean", 1.0, 0);
  if (!(mean > 0)) luaL_argerror(L, 1, "field 'mean' must be > 0");
  const char *name = NULL;
  if (lua_getfield(L, 1, "name") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 1, "field 'name' must be a string");
    name = lua_tostring(L, -1);
  }
  lhold *h = hs_lua_new_centity(L, 2, &hold_class, name);
  h->pending = (uint32_t)pending;
  h->mean_s = mean;
  return 1;
}
