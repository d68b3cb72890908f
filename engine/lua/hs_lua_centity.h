/*
 * hs_lua_centity.h - exposing an entity written in C to Lua.
 *
 * A C entity type describes itself with an hs_lua_class; its struct starts with an
 * hs_lua_centity (which starts with the hs_entity). hs_lua_new_centity allocates it as
 * a userdata, registers it with the simulation (which anchors it) and gives it the
 * metatable "happysim.<name>": fields `name`, `now`, `sim`, `crashed`, then the class
 * methods, then get_field for everything else (stats, state ...).
 *
 * Order of construction (docs/API.md 5.1): a protocol node may be built before its simulation,
 * on a network that is not attached yet. hs_lua_new_detached_centity then makes it
 * *detached*: it has its name and its options, but no simulation; the network keeps it in
 * its pending list, and when the network is attached (hs.Simulation{ entities = {...} },
 * sim:add) every pending node is attached in the order it was built, by the class's attach
 * callback, which does the part of construction that needs the simulation. Until then its
 * methods and class fields raise an error that names the function.
 */
#ifndef HS_LUA_CENTITY_H
#define HS_LUA_CENTITY_H

#include "hs_lua.h"

typedef struct hs_lua_centity {
  hs_entity e; /* first: an hs_entity* is also an hs_lua_centity* */
  const struct hs_lua_class *cls;
  int closed;
  int detached; /* built before its simulation: not registered yet (see above) */
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
  /* The rest of construction, for a node built detached, once it is registered with the
   * simulation at sim_idx (the node is at self_idx). May raise: the node then stays closed. */
  void (*attach)(lua_State *L, void *self, int self_idx, int sim_idx);
} hs_lua_class;

/* User values of a C entity: 1 its Simulation (its Network while detached), 2 its name,
 * then the class's own. */
#define HS_CENTITY_UV 3

/* Pushes a new C entity of class cls registered with the simulation at sim_idx. */
void *hs_lua_new_centity(lua_State *L, int sim_idx, const hs_lua_class *cls, const char *name);
/* Pushes a new detached C entity of class cls (name may be NULL: one is made at attach),
 * pending on the unattached network at net_idx; net_idx 0: on no network (a lone entity such
 * as a DistributedLock, attached when a simulation lists it or sim:add adds it). */
void *hs_lua_new_detached_centity(lua_State *L, int net_idx, const hs_lua_class *cls, const char *name);
/* The network option of a constructor's options table at 1 (required): pushes the network at
 * 2 and its simulation, or nil while the network is not attached, at 3; returns it. */
struct hs_lnet *hs_lua_opt_network(lua_State *L);
/* Ends a constructor: the state table on top becomes the user value HS_CENTITY_UV of the C entity
 * at self_idx, which gets its closed flag back and is attached when sim_idx holds a simulation
 * (0 or nil: it stays detached). Leaves the entity on top. */
void hs_lua_finish_centity(lua_State *L, hs_lua_centity *base, int self_idx, int sim_idx, int closed);
/* node:start() on a node built detached (not closed; the node is argument 1): the start is
 * deferred until the node is attached (*deferred set; raises when it was set already), the node
 * is left on top, and 1 is returned. 0 on a node that is not detached: start it now. */
int hs_lua_defer_start(lua_State *L, hs_lua_centity *base, int *deferred);
/* Attaches the detached C entity at idx to the simulation at sim_idx (see above). */
void hs_lua_attach_centity(lua_State *L, int idx, int sim_idx);
/* Attaches the C entity at idx, if detached, to the simulation at sim_idx together with its
 * network (which attaches every node pending on it, in the order they were built). */
void hs_lua_attach_with_network(lua_State *L, int idx, int sim_idx);
/* Raises "<running function>: <Class> '<name>' is not attached to a simulation yet ...";
 * with field non-NULL, says that the field cannot be read yet. */
int hs_lua_detached_error(lua_State *L, const hs_lua_centity *ce, const char *field);
/* Checks that idx holds a live, attached entity of class cls (raises otherwise). */
void *hs_lua_check_centity(lua_State *L, int idx, const hs_lua_class *cls);

#endif
