/*
 * hs_lua_entity.c - the C side of entities: Lua entity proxies, and the helper that
 * exposes a C entity (a protocol node) to Lua with fields and methods.
 */
#include <stdio.h>
#include <string.h>

#include "hs_lua.h"
#include "hs_lua_centity.h"
#include "hs_lua_net.h"

static const hs_entity_vtable lua_entity_vt = {.kind = "lua", .on_message = hs_lnet_deliver_to_lua};

/* Claims `name` in U.names for the value at vidx; raises on a duplicate. */
static void claim_name(lua_State *L, int sim_idx, const char *name, int vidx) {
  hs_push_uv_table(L, sim_idx, "names");
  if (lua_getfield(L, -1, name) != LUA_TNIL)
    luaL_error(L, "an entity named '%s' is already registered with this simulation", name);
  lua_pop(L, 1);
  lua_pushvalue(L, vidx);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

/* U.list[id + 1] = the Lua object of entity e (the value at vidx), so C finds it by id. */
static void list_entity(lua_State *L, int sim_idx, const hs_entity *e, int vidx) {
  vidx = lua_absindex(L, vidx);
  hs_push_uv_table(L, sim_idx, "list");
  lua_pushvalue(L, vidx);
  lua_rawseti(L, -2, (lua_Integer)e->id + 1);
  lua_pop(L, 1);
}

/* A C entity (or a Network, which gets bound) given where an entity is expected. A detached
 * C entity is attached: with its network when it has one (which attaches every node pending
 * on that network, in the order they were built), else on its own. */
static hs_entity *register_userdata(lua_State *L, int sim_idx, int idx) {
  if (luaL_testudata(L, idx, HS_NET_MT)) {
    hs_lnet_bind(L, idx, sim_idx);
    return NULL;
  }
  if (luaL_getmetafield(L, idx, "__hs_centity") != LUA_TNIL) {
    lua_pop(L, 1);
    hs_lua_centity *ce = lua_touserdata(L, idx);
    hs_lua_attach_with_network(L, idx, sim_idx);
    if (ce->closed) luaL_error(L, "%s '%s': use after close", ce->cls->name, ce->e.name);
    if (ce->e.sim != &((hs_lsim *)lua_touserdata(L, sim_idx))->sim)
      luaL_error(L, "entity '%s' belongs to another simulation", ce->e.name);
    return &ce->e;
  }
  luaL_error(L, "an entity must be a table, got %s", hs_typename_of(L, idx));
  return NULL;
}

/*
 * Registers the Lua entity table at tidx with the simulation at sim_idx (idempotent)
 * and returns its C record. Sets entity.sim, and entity.name when it had none.
 * A C entity is checked and returned; a Network is bound and NULL returned.
 */
hs_entity *hs_entity_register(lua_State *L, int sim_idx, int tidx) {
  hs_lsim *ls = lua_touserdata(L, sim_idx);
  tidx = lua_absindex(L, tidx);
  if (lua_type(L, tidx) == LUA_TUSERDATA) return register_userdata(L, sim_idx, tidx);
  if (!lua_istable(L, tidx)) luaL_error(L, "an entity must be a table, got %s", hs_typename_of(L, tidx));
  hs_push_uv_table(L, sim_idx, "entities");
  lua_pushvalue(L, tidx);
  if (lua_rawget(L, -2) != LUA_TNIL) {
    hs_entity *e = lua_touserdata(L, -1);
    lua_pop(L, 2);
    return e;
  }
  lua_pop(L, 1);
  int t = lua_getfield(L, tidx, "sim");
  if (t != LUA_TNIL && !lua_rawequal(L, -1, sim_idx))
    luaL_error(L, "entity is registered with another simulation");
  lua_pop(L, 1);
  t = lua_getfield(L, tidx, "name");
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushfstring(L, "entity-%d", (int)++ls->entity_seq);
    lua_pushvalue(L, -1);
    lua_setfield(L, tidx, "name");
  } else if (t != LUA_TSTRING) {
    luaL_error(L, "entity field 'name' must be a string, got %s", hs_typename_of(L, -1));
  }
  int name_idx = lua_gettop(L);
  claim_name(L, sim_idx, lua_tostring(L, name_idx), tidx);
  hs_lentity *le = lua_newuserdatauv(L, sizeof *le, 1);
  lua_pushvalue(L, name_idx);
  lua_setiuservalue(L, -2, 1); /* keeps the name string alive */
  hs_entity_init(&le->e, &lua_entity_vt, lua_tostring(L, name_idx));
  if (hs_sim_register(&ls->sim, &le->e) != HS_OK) luaL_error(L, "out of memory");
  lua_pushvalue(L, tidx);
  lua_pushvalue(L, -2);
  lua_rawset(L, -5); /* entities[t] = proxy */
  lua_pushvalue(L, sim_idx);
  lua_setfield(L, tidx, "sim");
  list_entity(L, sim_idx, &le->e, tidx);
  lua_pop(L, 3);
  /* entity:on_attach(sim), if it has one: what needs the simulation (timers, streams) starts now */
  if (lua_getfield(L, tidx, "on_attach") == LUA_TFUNCTION) {
    lua_pushvalue(L, tidx);
    lua_pushvalue(L, sim_idx);
    lua_call(L, 2, 0);
  } else {
    lua_pop(L, 1);
  }
  return &le->e;
}

/* sim:register(entity or network) -> it */
int hs_l_register(lua_State *L) {
  hs_check_sim(L, 1);
  int c_entity = lua_type(L, 2) == LUA_TUSERDATA && luaL_getmetafield(L, 2, "__hs_centity") != LUA_TNIL;
  if (c_entity) lua_pop(L, 1);
  if (!c_entity && !lua_istable(L, 2) && !luaL_testudata(L, 2, HS_NET_MT))
    luaL_argerror(L, 2, lua_pushfstring(L, "entity expected (a table, a C entity or a Network), got %s", hs_typename_of(L, 2)));
  lua_settop(L, 2);
  hs_entity_register(L, 1, 2);
  return 1;
}

/* Registers arguments 2.. with the simulation at 1 (run protected by hs_l_add). */
static int add_all(lua_State *L) {
  for (int i = 2; i <= lua_gettop(L); i++) hs_entity_register(L, 1, i);
  return 0;
}

/* sim:add(x, ...) -> x, ...: registers entities, protocol nodes and networks built before the
 * simulation (docs/API.md 5.1), in the order given; then what the networks were asked to do
 * before they were attached (links, node:start()) is done. */
int hs_l_add(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  int n = lua_gettop(L);
  if (n < 2) return luaL_argerror(L, 2, "entity, node or network expected, got no value");
  for (int i = 2; i <= n; i++) {
    int c_entity = lua_type(L, i) == LUA_TUSERDATA && luaL_getmetafield(L, i, "__hs_centity") != LUA_TNIL;
    if (c_entity) lua_pop(L, 1);
    if (!c_entity && !lua_istable(L, i) && !luaL_testudata(L, i, HS_NET_MT))
      luaL_argerror(L, i, lua_pushfstring(L, "entity, node or network expected, got %s", hs_typename_of(L, i)));
  }
  lua_pushcfunction(L, add_all);
  for (int i = 1; i <= n; i++) lua_pushvalue(L, i);
  ls->batch++;
  int rc = lua_pcall(L, n, 0, 0);
  ls->batch--;
  if (rc != LUA_OK) return lua_error(L);
  hs_lnet_finish_all(L, 1);
  return n - 1;
}

/* The entity argument at arg of a crash/restart call (registering a Lua entity if needed). */
static hs_entity *check_entity_arg(lua_State *L, int arg) {
  if (!lua_istable(L, arg) && !lua_isuserdata(L, arg)) luaL_typeerror(L, arg, "entity");
  hs_entity *e = hs_entity_register(L, 1, arg);
  if (!e) luaL_typeerror(L, arg, "entity");
  return e;
}

/* core.crash(sim, entity) -> true if it was up: timers and processes stop, messages drop. */
int hs_l_crash(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  hs_entity *e = check_entity_arg(L, 2);
  if (hs_entity_crashed(e)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (hs_entity_paused(e)) hs_trace_state(ls, e, "pause", 0); /* a crash resumes it first */
  hs_entity_crash(e);
  hs_trace_state(ls, e, "crash", 1);
  hs_proc_kill_entity(L, ls, e);
  hs_door_raise(L, ls); /* Lua code its crash ran between runs (a node's futures) that raised */
  lua_pushboolean(L, 1);
  return 1;
}

/* core.restart(sim, entity) -> true if it was crashed */
int hs_l_restart(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  hs_entity *e = check_entity_arg(L, 2);
  int was = hs_entity_crashed(e);
  if (was) hs_trace_state(ls, e, "crash", 0);
  hs_entity_restart(e);
  hs_door_raise(L, ls); /* Lua code its restart ran between runs (a state machine's restore) that raised */
  lua_pushboolean(L, was);
  return 1;
}

int hs_l_is_crashed(lua_State *L) {
  hs_check_sim(L, 1);
  lua_pushboolean(L, hs_entity_crashed(check_entity_arg(L, 2)));
  return 1;
}

/* core.pause(sim, entity) -> true if it was up and is now paused (a crashed or paused
 * entity is left as it is). What comes due for it waits until core.resume. */
int hs_l_pause(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  hs_entity *e = check_entity_arg(L, 2);
  int ok = !hs_entity_crashed(e) && !hs_entity_paused(e);
  if (ok) {
    hs_entity_pause(e);
    hs_trace_state(ls, e, "pause", 1);
  }
  lua_pushboolean(L, ok);
  return 1;
}

/* core.resume(sim, entity) -> true if it was paused: what waited runs now, in order. */
int hs_l_resume(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  hs_entity *e = check_entity_arg(L, 2);
  int was = hs_entity_paused(e);
  if (was) hs_trace_state(ls, e, "pause", 0);
  if (hs_entity_resume(e) != HS_OK) return luaL_error(L, "resume: out of memory");
  lua_pushboolean(L, was);
  return 1;
}

int hs_l_is_paused(lua_State *L) {
  hs_check_sim(L, 1);
  lua_pushboolean(L, hs_entity_paused(check_entity_arg(L, 2)));
  return 1;
}

/* core.entity(sim, name) -> the entity registered under name (a table or C entity), or nil */
int hs_l_entity_named(lua_State *L) {
  hs_check_sim(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  hs_push_uv_table(L, 1, "names");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

/*
 * The __index of Lua entity instances (entity.lua), in C because every `self.x` that is not
 * an instance field comes here (`self.now` in most handlers). Upvalues: 1 the class, 2
 * fallback(self, key) for `crashed` and `paused`, 3 the Simulation metatable (a light
 * userdata: compared by address), 4 the string "sim", 5 the string "now". `now` first: the
 * simulated time of the entity's simulation (nil before it has one), unless upvalue 6 says the
 * class defines `now`. Then class[key] (through the superclass chain), then `now`,
 * `crashed` and `paused`.
 */
static int entity_index(lua_State *L) { /* (self, key): a metamethod gets exactly two */
  /* `now` first (read in most handlers), unless the class defines it (upvalue 6) */
  int is_now = lua_rawequal(L, 2, lua_upvalueindex(5)) && !lua_toboolean(L, lua_upvalueindex(6));
  if (!is_now) {
    lua_pushvalue(L, 2);
    if (lua_gettable(L, lua_upvalueindex(1)) != LUA_TNIL || lua_type(L, 2) != LUA_TSTRING) return 1;
  }
  size_t n;
  const char *k = lua_tolstring(L, 2, &n);
  if (is_now || (n == 3 && memcmp(k, "now", 3) == 0)) {
    lua_pushvalue(L, lua_upvalueindex(4));
    if (lua_rawget(L, 1) == LUA_TNIL) return 1;
    if (lua_getmetatable(L, -1) && lua_topointer(L, -1) == lua_touserdata(L, lua_upvalueindex(3))) {
      hs_lsim *ls = lua_touserdata(L, -2);
      lua_pushnumber(L, hs_time_to_s(ls->sim.now_ns));
      return 1;
    }
  } else if (!((n == 7 && memcmp(k, "crashed", 7) == 0) || (n == 6 && memcmp(k, "paused", 6) == 0))) {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, 2, 1);
  return 1;
}

/* Pushes entity.handle_event for the Lua entity table at idx, as indexing would find it, but
 * without calling entity_index for the instances of hs.Entity classes: the instance's own
 * field, else its class's (entity.lua gives their metatable `__class` next to the __index
 * that reads it). This runs for every event, in the run loop's frame (the keys are on the
 * stack there). */
int hs_push_handler(lua_State *L, hs_lsim *ls, int idx) {
  lua_pushvalue(L, ls->keys_idx + HS_KEY_HANDLE_EVENT);
  int t = lua_rawget(L, idx);
  if (t != LUA_TNIL) return t; /* its own */
  lua_pop(L, 1);
  if (lua_getmetatable(L, idx)) {
    lua_pushvalue(L, ls->keys_idx + HS_KEY_CLASS);
    if (lua_rawget(L, -2) == LUA_TTABLE) {
      lua_pushvalue(L, ls->keys_idx + HS_KEY_HANDLE_EVENT);
      t = lua_gettable(L, -2); /* through the superclass chain */
      lua_replace(L, -3);
      lua_pop(L, 1);
      return t;
    }
    lua_pop(L, 2);
  }
  return lua_getfield(L, idx, "handle_event");
}

/* core.entity_index(class, fallback, class_defines_now) -> the __index function of the
 * class's instances */
int hs_l_entity_index(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int class_defines_now = lua_toboolean(L, 3);
  lua_settop(L, 2);
  luaL_getmetatable(L, HS_SIM_MT); /* the registry keeps it: its address stays valid */
  lua_pushlightuserdata(L, (void *)lua_topointer(L, -1));
  lua_replace(L, -2);
  lua_pushliteral(L, "sim");
  lua_pushliteral(L, "now");
  lua_pushboolean(L, class_defines_now);
  lua_pushcclosure(L, entity_index, 6);
  return 1;
}

/* ---- C entities exposed to Lua -------------------------------------------------- */

/* entity:crash() / entity:restart() for C entities: through core.crash/restart. */
static int centity_crash_restart(lua_State *L, int crash) {
  if (luaL_getmetafield(L, 1, "__hs_centity") == LUA_TNIL) return luaL_typeerror(L, 1, "entity");
  lua_pop(L, 1);
  hs_lua_centity *ce = lua_touserdata(L, 1);
  if (ce->closed) return luaL_error(L, "%s '%s': use after close", ce->cls->name, ce->e.name);
  if (ce->detached) return hs_lua_detached_error(L, ce, NULL);
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1); /* the simulation */
  lua_insert(L, 1);
  return crash ? hs_l_crash(L) : hs_l_restart(L);
}

static int centity_crash(lua_State *L) { return centity_crash_restart(L, 1); }
static int centity_restart(lua_State *L) { return centity_crash_restart(L, 0); }

/* entity:pause() / entity:resume() for C entities: through core.pause/resume. */
static int centity_pause_resume(lua_State *L, int pause) {
  if (luaL_getmetafield(L, 1, "__hs_centity") == LUA_TNIL) return luaL_typeerror(L, 1, "entity");
  lua_pop(L, 1);
  hs_lua_centity *ce = lua_touserdata(L, 1);
  if (ce->closed) return luaL_error(L, "%s '%s': use after close", ce->cls->name, ce->e.name);
  if (ce->detached) return hs_lua_detached_error(L, ce, NULL);
  if (pause && hs_entity_crashed(&ce->e))
    return luaL_error(L, "pause: %s '%s' is crashed (restart it first)", ce->cls->name, ce->e.name);
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1); /* the simulation */
  lua_insert(L, 1);
  return pause ? hs_l_pause(L) : hs_l_resume(L);
}

static int centity_pause(lua_State *L) { return centity_pause_resume(L, 1); }
static int centity_resume(lua_State *L) { return centity_pause_resume(L, 0); }

static int centity_index(lua_State *L) {
  hs_lua_centity *ce = lua_touserdata(L, 1);
  const hs_lua_class *cls = ce->cls;
  /* methods first: node:submit(...) is the hot path (no class names a method like a field below) */
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TNIL) return 1;
  lua_settop(L, 2);
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "name") == 0) {
      lua_pushstring(L, ce->e.name);
      return 1;
    }
    if (strcmp(k, "crashed") == 0) {
      lua_pushboolean(L, hs_entity_crashed(&ce->e));
      return 1;
    }
    if (strcmp(k, "crash") == 0 || strcmp(k, "restart") == 0) {
      lua_pushcfunction(L, k[0] == 'c' ? centity_crash : centity_restart);
      return 1;
    }
    if (strcmp(k, "paused") == 0) {
      lua_pushboolean(L, hs_entity_paused(&ce->e));
      return 1;
    }
    if (strcmp(k, "pause") == 0 || strcmp(k, "resume") == 0) {
      lua_pushcfunction(L, k[0] == 'p' ? centity_pause : centity_resume);
      return 1;
    }
    if (strcmp(k, "attached") == 0) {
      lua_pushboolean(L, !ce->detached);
      return 1;
    }
    if (ce->detached) { /* built before its simulation: nothing else to read yet */
      if (strcmp(k, "now") == 0 || strcmp(k, "sim") == 0) {
        lua_pushnil(L);
        return 1;
      }
      if (cls->get_field) return hs_lua_detached_error(L, ce, k);
    }
    if (strcmp(k, "now") == 0 && !ce->closed) {
      lua_pushnumber(L, hs_time_to_s(ce->e.sim->now_ns));
      return 1;
    }
    if (strcmp(k, "sim") == 0) {
      lua_getiuservalue(L, 1, 1);
      return 1;
    }
  }
  if (lua_type(L, 2) == LUA_TSTRING && cls->get_field) {
    if (ce->closed) return luaL_error(L, "%s: use after close", cls->name);
    if (cls->get_field(L, ce, lua_tostring(L, 2))) return 1;
  }
  lua_pushnil(L);
  return 1;
}

static int centity_newindex(lua_State *L) {
  hs_lua_centity *ce = lua_touserdata(L, 1);
  return luaL_error(L, "%s: field '%s' is read-only", ce->cls->name, luaL_tolstring(L, 2, NULL));
}

static int centity_gc(lua_State *L) {
  hs_lua_centity *ce = lua_touserdata(L, 1);
  if (!ce->closed && !ce->detached && ce->cls->finalize) ce->cls->finalize(ce);
  ce->closed = 1;
  return 0;
}

static int centity_tostring(lua_State *L) {
  hs_lua_centity *ce = lua_touserdata(L, 1);
  lua_pushfstring(L, ce->detached ? "%s '%s' (not attached)" : "%s '%s'", ce->cls->name, ce->e.name ? ce->e.name : "?");
  return 1;
}

/* Allocates the userdata of a C entity of class cls with its metatable; closed until built. */
static hs_lua_centity *alloc_centity(lua_State *L, const hs_lua_class *cls) {
  hs_lua_centity *ce = lua_newuserdatauv(L, cls->size, 2 + cls->user_values);
  memset(ce, 0, cls->size);
  ce->closed = 1; /* harmless to collect until fully built */
  ce->cls = cls;
  char mt[96];
  snprintf(mt, sizeof mt, "happysim.%s", cls->name);
  if (luaL_newmetatable(L, mt)) {
    static const luaL_Reg meta[] = {{"__index", centity_index},       {"__newindex", centity_newindex},
                                    {"__gc", centity_gc},             {"__close", centity_gc},
                                    {"__tostring", centity_tostring}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__hs_centity"); /* marks every C entity type */
    lua_newtable(L);
    if (cls->methods) luaL_setfuncs(L, cls->methods, 0);
    lua_setfield(L, -2, "methods");
  }
  lua_setmetatable(L, -2);
  return ce;
}

/* Sets the name (user value 2) of the C entity at ud; generated from the class when NULL. */
static void name_centity(lua_State *L, int ud, hs_lua_centity *ce, hs_lsim *ls, const char *name) {
  char generated[32];
  if (!name) {
    snprintf(generated, sizeof generated, "%s-%u", ce->cls->name, ++ls->entity_seq);
    name = generated;
  }
  lua_pushstring(L, name);
  ce->e.name = lua_tostring(L, -1);
  lua_setiuservalue(L, ud, 2);
}

/* Registers the C entity at ud (named already) with the simulation at sim_idx. */
static void register_centity(lua_State *L, int ud, hs_lua_centity *ce, int sim_idx) {
  hs_lsim *ls = lua_touserdata(L, sim_idx);
  lua_pushvalue(L, sim_idx);
  lua_setiuservalue(L, ud, 1);
  claim_name(L, sim_idx, ce->e.name, ud);
  hs_entity_init(&ce->e, ce->cls->vt, ce->e.name);
  if (hs_sim_register(&ls->sim, &ce->e) != HS_OK) luaL_error(L, "out of memory");
  hs_push_uv_table(L, sim_idx, "entities");
  lua_pushvalue(L, ud);
  lua_pushvalue(L, ud);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  list_entity(L, sim_idx, &ce->e, ud);
}

void *hs_lua_new_centity(lua_State *L, int sim_idx, const hs_lua_class *cls, const char *name) {
  sim_idx = lua_absindex(L, sim_idx);
  hs_lsim *ls = hs_check_sim(L, sim_idx);
  hs_lua_centity *ce = alloc_centity(L, cls);
  int ud = lua_gettop(L);
  name_centity(L, ud, ce, ls, name);
  register_centity(L, ud, ce, sim_idx);
  ce->closed = 0;
  return ce;
}

hs_lnet *hs_lua_opt_network(lua_State *L) {
  if (lua_getfield(L, 1, "network") == LUA_TNIL) /* 2 */
    luaL_argerror(L, 1, "field 'network' is required (an hs.Network)");
  hs_lnet *ln = luaL_testudata(L, 2, HS_NET_MT);
  if (!ln) luaL_argerror(L, 1, lua_pushfstring(L, "field 'network' must be an hs.Network, got %s", hs_typename_of(L, 2)));
  if (ln->owner) {
    hs_check_bound_net(L, 2);   /* raises when it or its simulation is closed */
    lua_getiuservalue(L, 2, 1); /* 3: sim */
  } else {
    lua_pushnil(L); /* 3: no simulation yet */
  }
  return ln;
}

int hs_lua_defer_start(lua_State *L, hs_lua_centity *base, int *deferred) {
  if (!base->detached || base->closed) return 0;
  if (*deferred) return luaL_error(L, "start: %s '%s' is already started", base->cls->name, base->e.name);
  *deferred = 1;
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1); /* 2: its network */
  hs_lnet_defer_start(L, 2, 1);
  lua_settop(L, 1);
  return 1;
}

void hs_lua_finish_centity(lua_State *L, hs_lua_centity *base, int self_idx, int sim_idx, int closed) {
  lua_setiuservalue(L, self_idx, HS_CENTITY_UV);
  base->closed = closed;
  if (sim_idx && !lua_isnil(L, sim_idx)) {
    base->closed = 1;
    base->cls->attach(L, base, self_idx, sim_idx);
    base->closed = 0;
  }
  lua_settop(L, self_idx);
}

void *hs_lua_new_detached_centity(lua_State *L, int net_idx, const hs_lua_class *cls, const char *name) {
  net_idx = net_idx ? lua_absindex(L, net_idx) : 0;
  hs_lua_centity *ce = alloc_centity(L, cls);
  int ud = lua_gettop(L);
  if (name) {
    lua_pushstring(L, name);
    ce->e.name = lua_tostring(L, -1);
    lua_setiuservalue(L, ud, 2);
  }
  if (net_idx) { /* else nothing is pending: Simulation{ entities = } or sim:add attaches it */
    lua_pushvalue(L, net_idx);
    lua_setiuservalue(L, ud, 1);
    hs_lnet_add_pending(L, net_idx, ud);
  }
  ce->detached = 1;
  ce->closed = 0;
  return ce;
}

void hs_lua_attach_with_network(lua_State *L, int idx, int sim_idx) {
  hs_lua_centity *ce = lua_touserdata(L, idx);
  if (!ce->detached) return;
  idx = lua_absindex(L, idx);
  lua_getiuservalue(L, idx, 1); /* its network, if any */
  if (luaL_testudata(L, -1, HS_NET_MT)) hs_lnet_bind(L, lua_gettop(L), sim_idx);
  lua_pop(L, 1);
  hs_lua_attach_centity(L, idx, sim_idx); /* no-op when the network attached it */
}

void hs_lua_attach_centity(lua_State *L, int idx, int sim_idx) {
  idx = lua_absindex(L, idx);
  sim_idx = lua_absindex(L, sim_idx);
  hs_lua_centity *ce = lua_touserdata(L, idx);
  if (!ce->detached) return;
  hs_lsim *ls = hs_check_sim(L, sim_idx);
  ce->closed = 1; /* until the class has done its part */
  ce->detached = 0;
  if (!ce->e.name) name_centity(L, idx, ce, ls, NULL);
  register_centity(L, idx, ce, sim_idx);
  if (ce->cls->attach) ce->cls->attach(L, ce, idx, sim_idx);
  ce->closed = 0;
}

int hs_lua_detached_error(lua_State *L, const hs_lua_centity *ce, const char *field) {
  lua_Debug ar;
  const char *fname = NULL;
  if (!field && lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name) fname = ar.name;
  const char *name = ce->e.name ? ce->e.name : "?";
  lua_pushfstring(L, "%s '%s' is not attached to a simulation yet (list it in hs.Simulation{ entities = {...} } "
                     "or call sim:add(node))", ce->cls->name, name);
  if (field) return luaL_error(L, "%s: field '%s' is not available: %s", ce->cls->name, field, lua_tostring(L, -1));
  if (fname) return luaL_error(L, "%s: %s", fname, lua_tostring(L, -1));
  return luaL_error(L, "%s", lua_tostring(L, -1));
}

void *hs_lua_check_centity(lua_State *L, int idx, const hs_lua_class *cls) {
  hs_lua_centity *ce = NULL;
  /* fast: a C entity's metatable is marked __hs_centity, and its class says which (this runs
   * for every method call of a protocol node) */
  if (lua_type(L, idx) == LUA_TUSERDATA && lua_getmetatable(L, idx)) {
    int marked = lua_getfield(L, -1, "__hs_centity") != LUA_TNIL;
    lua_pop(L, 2);
    if (marked && ((hs_lua_centity *)lua_touserdata(L, idx))->cls == cls) ce = lua_touserdata(L, idx);
  }
  if (!ce) { /* raises the usual message */
    char mt[96];
    snprintf(mt, sizeof mt, "happysim.%s", cls->name);
    ce = luaL_checkudata(L, idx, mt);
  }
  if (ce->closed) luaL_error(L, "%s '%s': use after close", cls->name, ce->e.name);
  if (ce->detached) hs_lua_detached_error(L, ce, NULL);
  hs_lsim *ls = hs_lsim_of(ce->e.sim);
  if (ls->sim.closed) luaL_error(L, "%s '%s': its simulation is closed", cls->name, ce->e.name);
  return ce;
}

void hs_entity_open(lua_State *L) { (void)L; }
