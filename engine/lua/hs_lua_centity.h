/*
 * hs_lua_centity.h - exposing an entity written in C to Lua.
 *
 * A C entity type describes itself with an hs_lua_class; its struct starts with an
 * hs_lua_centity (which starts with the hs_entity). hs_lua_new_centity allocates it as
 * a userdata, registers it with the simulation (which anchors it) and gives it the
 * metatable "happysim.<name>": fields `name`, `now`, `sim`, `crashed`, then the class
 * methods, then get_field for everything else (stats, state ...).
 */
#ifndef HS_LUA_CENTITY_H
#define HS_LUA_CENTITY_H

#include "hs_lua.h"

typedef struct hs_lua_centity {
  hs_entity e; /* first: an hs_entity* is also an hs_lua_centity* */
  const struct hs_lua_class *cls;
  int closed;
} hs_lua_centity;

typedef struct hs_lua_class {
  const char *name; /* "HoldModel": metatable happysim.HoldModel */
  size_t size;      /* of the whole struct, which starts with hs_lua_centity */
  const hs_entity_vtable *vt;
  const luaL_Reg *methods;
  /* Pushes field `key` and returns 1, or returns 0 for an unknown field (read as nil). */
  int (*get_field)(lua_State *L, void *self, const char *key);
  /* Frees what the struct owns; must not touch the simulation (it may be gone). */
  void (*finalize)(void *self);
  int user_values; /* extra user values for the class, numbered from HS_CENTITY_UV */
} hs_lua_class;

/* User values of a C entity: 1 its Simulation, 2 its name, then the class's own. */
#define HS_CENTITY_UV 3

/* Pushes a new C entity of class cls registered with the simulation at sim_idx. */
void *hs_lua_new_centity(lua_State *L, int sim_idx, const hs_lua_class *cls, const char *name);
/* Checks that idx holds a live entity of class cls (raises otherwise). */
void *hs_lua_check_centity(lua_State *L, int idx, const hs_lua_class *cls);

#endif
