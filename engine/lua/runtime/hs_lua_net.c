/*
 * hs_lua_net.c - hs.Network: links, send and request/reply, partitions, interception,
 * held messages and statistics, over the C network (engine/net).
 *
 * A Network may be created without a simulation; it binds to the simulation of the
 * first entity it is given (or to Simulation{ entities = { net } }, sim:add(net)). The
 * simulation then anchors it. Until then it keeps what it is given: protocol nodes built on
 * it (state.pending, attached with it, in the order they were built), links asked for
 * (state.deferred: { method, nargs, args... }, done in order once attached) and nodes
 * started (state.starts). User values: 1 the Simulation, 2 a table { name =, default_link =,
 * filter =, requests = {}, error =, pending =, deferred =, starts = }, 3 the sim's U.entities.
 */
#include <string.h>

#include "hs_lua_centity.h"
#include "hs_lua_net.h"

/* ---- payload blobs ------------------------------------------------------------------ */

static void put_header(hs_blob *b, int kind, uint64_t request_id) {
  hs_envelope_encode(b->data, (hs_envelope){(uint8_t)kind, request_id});
}

uint64_t hs_blob_request_id(const hs_blob *b) {
  hs_envelope e;
  hs_envelope_decode(b->data, b->size, &e);
  return e.request_id;
}

hs_blob *hs_lnet_encode(lua_State *L, hs_lnet *ln, int idx, int kind, uint64_t request_id, const char *what) {
  hs_buf_reset(&ln->scratch);
  hs_lua_encode(L, &ln->scratch, idx, what);
  hs_blob *b = hs_blob_alloc(&ln->pool, HS_MSG_HEADER + ln->scratch.len);
  if (!b) luaL_error(L, "out of memory");
  put_header(b, kind, request_id);
  memcpy(b->data + HS_MSG_HEADER, ln->scratch.data, ln->scratch.len);
  return b;
}

void hs_lnet_push_body(lua_State *L, const hs_blob *b) {
  if (!b || b->size <= HS_MSG_HEADER) {
    lua_pushnil(L);
    return;
  }
  hs_lua_decode(L, b->data + HS_MSG_HEADER, b->size - HS_MSG_HEADER);
}

static void *blob_copy(void *ud, void *payload, uint64_t size) {
  (void)size;
  hs_blob *b = payload;
  return hs_blob_copy(&((hs_lnet *)ud)->pool, b->data, b->size);
}

static void blob_release(void *ud, void *payload) { hs_blob_free(&((hs_lnet *)ud)->pool, payload); }

/* ---- objects ------------------------------------------------------------------------ */

/* The name of the network at idx (its state keeps it until bound). */
static const char *net_name(lua_State *L, int idx) {
  lua_getiuservalue(L, idx, 2);
  lua_getfield(L, -1, "name");
  const char *name = lua_tostring(L, -1);
  lua_pop(L, 2); /* the state table keeps the string alive */
  return name ? name : "network";
}

static hs_lnet *check_net(lua_State *L, int idx) {
  hs_lnet *ln = luaL_checkudata(L, idx, HS_NET_MT);
  if (ln->owner && (ln->net.closed || ln->owner->sim.closed))
    hs_closed_error(L, ln->net.closed ? "the network" : "the network's simulation");
  return ln;
}

hs_lnet *hs_check_bound_net(lua_State *L, int idx) {
  hs_lnet *ln = check_net(L, idx);
  if (!ln->owner) {
    lua_Debug ar;
    const char *fname = lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name ? ar.name : "Network";
    if (fname[0] == '_' && fname[1]) fname++; /* "_partition": net:partition's C half */
    luaL_error(L, "%s: network '%s' is not attached to a simulation yet (add it to hs.Simulation{ entities = "
                  "{ net, ... } } or call sim:add(net); or create it with hs.Network{ sim = sim })",
               fname, net_name(L, idx));
  }
  return ln;
}

static void push_net_object(lua_State *L, hs_lnet *ln) {
  lua_getfield(L, LUA_REGISTRYINDEX, HS_NETS_KEY);
  lua_rawgetp(L, -1, ln);
  lua_remove(L, -2);
}

/* Pushes the user value table (filter, requests, error) of the network at idx. */
static void push_state(lua_State *L, int idx) { lua_getiuservalue(L, idx, 2); }

void hs_push_entity_object(lua_State *L, hs_lsim *ls, const hs_entity *e) {
  if (L == ls->L && lua_topointer(L, ls->list_idx) == ls->list_ptr) { /* the run loop's frame: U.list is at hand */
    lua_rawgeti(L, ls->list_idx, (lua_Integer)e->id + 1);
    return;
  }
  hs_push_sim(L, ls);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, "list");
  lua_rawgeti(L, -1, (lua_Integer)e->id + 1);
  lua_replace(L, -4);
  lua_pop(L, 2);
}

/* ---- binding to a simulation ----------------------------------------------------------- */

static hs_verdict filter_cb(void *ud, hs_message *m);
static void attach_pending(lua_State *L, int net_idx, int sim_idx);
static void finish(lua_State *L, int net_idx);

/* Binds the network at net_idx to the simulation at sim_idx (no-op if bound to it). */
static hs_lnet *bind(lua_State *L, int net_idx, int sim_idx) {
  hs_lnet *ln = lua_touserdata(L, net_idx);
  hs_lsim *ls = hs_check_sim(L, sim_idx);
  if (ln->owner) {
    if (ln->owner != ls) luaL_error(L, "Network is attached to another simulation");
    return ln;
  }
  push_state(L, net_idx);
  lua_getfield(L, -1, "name");
  int rc = hs_net_init(&ln->net, &ls->sim, lua_tostring(L, -1));
  lua_pop(L, 1);
  if (rc != HS_OK) luaL_error(L, "Network: %s", hs_net_strerror(rc));
  ln->owner = ls;
  hs_trace_watch_network(ls, &ln->net); /* when the simulation records a trace */
  hs_net_payload_ops ops = {blob_copy, blob_release, ln};
  hs_net_set_payload_ops(&ln->net, &ops);
  if (ln->has_filter) hs_net_set_filter(&ln->net, filter_cb, ln);
  if (lua_getfield(L, -1, "default_link") != LUA_TNIL) {
    rc = hs_net_set_default_link(&ln->net, hs_check_link(L, -1));
    if (rc != HS_OK) luaL_error(L, "Network: %s", hs_net_strerror(rc));
  }
  lua_pop(L, 2);
  lua_pushvalue(L, sim_idx);
  lua_setiuservalue(L, net_idx, 1);
  hs_push_uv_table(L, sim_idx, "entities"); /* user value 3: finds Lua entities' C side fast */
  lua_setiuservalue(L, net_idx, 3);
  hs_push_uv_table(L, sim_idx, "networks"); /* the simulation anchors its networks */
  lua_pushvalue(L, net_idx);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 1);
  attach_pending(L, net_idx, sim_idx);
  if (!ls->batch) finish(L, net_idx);
  return ln;
}

/* Simulation{ entities = { net } } and sim:register(net) come here. */
int hs_lnet_bind(lua_State *L, int net_idx, int sim_idx) {
  bind(L, lua_absindex(L, net_idx), lua_absindex(L, sim_idx));
  return 0;
}

/* Appends the value at idx to the list state[field] of the network at net_idx. */
static void state_append(lua_State *L, int net_idx, const char *field, int idx) {
  idx = lua_absindex(L, idx);
  push_state(L, net_idx);
  if (lua_getfield(L, -1, field) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, field);
  }
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 2);
}

/* Pushes the list state[field] of the network at net_idx (or nil) and clears the field. */
static int state_take(lua_State *L, int net_idx, const char *field) {
  push_state(L, net_idx);
  int t = lua_getfield(L, -1, field);
  lua_pushnil(L);
  lua_setfield(L, -3, field);
  lua_remove(L, -2);
  return t;
}

void hs_lnet_add_pending(lua_State *L, int net_idx, int node_idx) { state_append(L, net_idx, "pending", node_idx); }

void hs_lnet_defer_start(lua_State *L, int net_idx, int node_idx) { state_append(L, net_idx, "starts", node_idx); }

/* Attaches the nodes built on the network before it was bound, in the order they were built. */
static void attach_pending(lua_State *L, int net_idx, int sim_idx) {
  if (state_take(L, net_idx, "pending") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  int list = lua_gettop(L);
  lua_Integer n = luaL_len(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    hs_lua_attach_centity(L, -1, sim_idx);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Calls, for each item of the list state[field], fn(item) as a Lua call; clears the list first. */
static void replay(lua_State *L, int net_idx, const char *field, void (*fn)(lua_State *L, int net_idx, int item)) {
  if (state_take(L, net_idx, field) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  int list = lua_gettop(L);
  lua_Integer n = luaL_len(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    fn(L, net_idx, lua_gettop(L));
    lua_settop(L, list);
  }
  lua_pop(L, 1);
}

/* A deferred link call { method, nargs, args... }: method(net, args...). */
static void replay_link(lua_State *L, int net_idx, int item) {
  lua_rawgeti(L, item, 1);
  lua_pushvalue(L, net_idx);
  lua_rawgeti(L, item, 2);
  int nargs = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  for (int i = 1; i <= nargs; i++) lua_rawgeti(L, item, 2 + i);
  lua_call(L, 1 + nargs, 0);
}

/* A node started before it was attached: node:start() now. */
static void replay_start(lua_State *L, int net_idx, int item) {
  (void)net_idx;
  lua_getfield(L, item, "start");
  lua_pushvalue(L, item);
  lua_call(L, 1, 0);
}

static void finish(lua_State *L, int net_idx) {
  replay(L, net_idx, "deferred", replay_link);
  replay(L, net_idx, "starts", replay_start);
}

void hs_lnet_finish_all(lua_State *L, int sim_idx) {
  sim_idx = lua_absindex(L, sim_idx);
  hs_push_uv_table(L, sim_idx, "networks");
  int nets = lua_gettop(L);
  for (lua_Integer i = 1; i <= (lua_Integer)luaL_len(L, nets); i++) {
    lua_rawgeti(L, nets, i);
    finish(L, lua_gettop(L));
    lua_settop(L, nets);
  }
  lua_pop(L, 1);
}

/* Whether the node argument at idx can attach the unbound network now: an entity that has a
 * simulation (a registered Lua entity, an attached C entity). */
static int binds_now(lua_State *L, int idx) {
  if (lua_istable(L, idx)) {
    int has = lua_getfield(L, idx, "sim") != LUA_TNIL;
    lua_pop(L, 1);
    return has;
  }
  if (lua_type(L, idx) == LUA_TUSERDATA && luaL_getmetafield(L, idx, "__hs_centity") != LUA_TNIL) {
    lua_pop(L, 1);
    return !((hs_lua_centity *)lua_touserdata(L, idx))->detached;
  }
  return 0;
}

/* Raises unless the value at idx can name a node (an entity table, a C entity or a name). */
static void check_node_arg(lua_State *L, int idx, int report) {
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING || t == LUA_TTABLE) return;
  if (t == LUA_TUSERDATA && luaL_getmetafield(L, idx, "__hs_centity") != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  luaL_argerror(L, report, lua_pushfstring(L, "node expected (an entity or its name), got %s", hs_typename_of(L, idx)));
}

/*
 * For a link method called on a network not attached yet, whose node arguments (args
 * first..last; a list at `list` when nonzero) cannot attach it: checks the arguments and
 * keeps the call, to be made when the network is attached. Returns 1 when kept, 0 when the
 * call should go on now (the network is attached, or one of its nodes attaches it).
 */
static int defer_link(lua_State *L, lua_CFunction method, int first, int last, int list) {
  hs_lnet *ln = lua_touserdata(L, 1);
  if (ln->owner) return 0;
  if (list) {
    luaL_checktype(L, list, LUA_TTABLE);
    lua_Integer n = luaL_len(L, list);
    luaL_argcheck(L, n < 100000, list, "too many nodes");
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, list, i);
      check_node_arg(L, -1, list);
      int now = binds_now(L, -1);
      lua_pop(L, 1);
      if (now) return 0;
    }
  }
  for (int i = first; i <= last; i++) {
    if (i == list) continue;
    check_node_arg(L, i, i);
    if (binds_now(L, i)) return 0;
  }
  int top = lua_gettop(L);
  lua_createtable(L, top + 1, 0);
  lua_pushcfunction(L, method);
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, top - 1);
  lua_rawseti(L, -2, 2);
  for (int i = 2; i <= top; i++) {
    lua_pushvalue(L, i);
    lua_rawseti(L, -2, i + 1);
  }
  state_append(L, 1, "deferred", -1);
  lua_pop(L, 1);
  return 1;
}

/* Sets entity.network on a Lua entity table at idx that has none: an entity linked into a
 * network knows it (self.network:request(...) in its handlers). */
static void adopt(lua_State *L, int net_idx, int idx) {
  if (!lua_istable(L, idx)) return;
  if (lua_getfield(L, idx, "network") == LUA_TNIL) {
    lua_pushvalue(L, net_idx);
    lua_setfield(L, idx, "network");
  }
  lua_pop(L, 1);
}

/* Resolves the node (entity table, C entity, or name) at stack index arg to its hs_entity,
 * binding the network to the node's simulation when it has none yet. Errors name argument
 * `report` (the list argument when arg holds one of its items). */
static hs_entity *check_node_as(lua_State *L, int net_idx, int arg, int report) {
  hs_lnet *ln = lua_touserdata(L, net_idx);
  arg = lua_absindex(L, arg);
  int t = lua_type(L, arg);
  if (t == LUA_TSTRING) {
    if (!ln->owner)
      luaL_argerror(L, report, "node names need a network attached to a simulation (hs.Simulation{ entities = "
                               "{ net, ... } } or sim:add(net))");
    lua_getiuservalue(L, net_idx, 1);
    hs_push_uv_table(L, lua_gettop(L), "names");
    if (lua_getfield(L, -1, lua_tostring(L, arg)) == LUA_TNIL)
      luaL_argerror(L, report, lua_pushfstring(L, "unknown node '%s'", lua_tostring(L, arg)));
    lua_replace(L, arg);
    lua_pop(L, 2);
    t = lua_type(L, arg);
  }
  if (t == LUA_TTABLE) {
    if (ln->owner) { /* a registered entity (the usual case): its proxy in U.entities */
      lua_getiuservalue(L, net_idx, 3);
      lua_pushvalue(L, arg);
      if (lua_rawget(L, -2) == LUA_TUSERDATA) {
        hs_entity *e = lua_touserdata(L, -1);
        lua_pop(L, 2);
        return e;
      }
      lua_pop(L, 2);
    } else {
      if (lua_getfield(L, arg, "sim") == LUA_TNIL)
        luaL_argerror(L, report, "entity is not registered with a simulation (sim:register(entity) first, or "
                              "create the network with hs.Network{ sim = sim })");
      bind(L, net_idx, lua_gettop(L));
      lua_pop(L, 1);
    }
    lua_getiuservalue(L, net_idx, 1);
    hs_entity *e = hs_entity_register(L, lua_gettop(L), arg);
    lua_pop(L, 1);
    return e;
  }
  if (t == LUA_TUSERDATA && luaL_getmetafield(L, arg, "__hs_centity") != LUA_TNIL) {
    lua_pop(L, 1);
    hs_lua_centity *ce = lua_touserdata(L, arg);
    if (ce->closed) luaL_argerror(L, report, "entity is closed");
    if (ce->detached) {
      if (!ln->owner) luaL_argerror(L, report, "node is not attached to a simulation yet");
      lua_getiuservalue(L, net_idx, 1);
      hs_lua_attach_with_network(L, arg, lua_gettop(L));
      lua_pop(L, 1);
    }
    if (!ln->owner) {
      lua_getiuservalue(L, arg, 1);
      bind(L, net_idx, lua_gettop(L));
      lua_pop(L, 1);
    }
    if (ce->e.sim != &ln->owner->sim) luaL_argerror(L, report, "node belongs to another simulation");
    return &ce->e;
  }
  luaL_argerror(L, report, lua_pushfstring(L, "node expected (an entity or its name), got %s", hs_typename_of(L, arg)));
  return NULL;
}

static hs_entity *check_node(lua_State *L, int net_idx, int arg) {
  return check_node_as(L, net_idx, arg, lua_absindex(L, arg));
}

static void check_rc(lua_State *L, int rc, const char *fname) {
  if (rc != HS_OK) luaL_error(L, "%s: %s", fname, hs_net_strerror(rc));
}

/* ---- construction ------------------------------------------------------------------- */

static const char *const net_options[] = {"name", "sim", "default_link", NULL};

/* hs.Network{ name = "cluster", sim = sim, default_link = hs.datacenter_network() } */
static int l_net_new(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, net_options);
  hs_lnet *ln = lua_newuserdatauv(L, sizeof *ln, 3); /* 2: 1 sim, 2 state, 3 the sim's U.entities */
  memset(ln, 0, sizeof *ln);
  ln->net.closed = true; /* harmless to collect until bound */
  hs_blob_pool_init(&ln->pool);
  hs_buf_init(&ln->scratch);
  luaL_setmetatable(L, HS_NET_MT);
  lua_createtable(L, 0, 4); /* 3: state */
  if (lua_getfield(L, 1, "name") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "network");
  } else if (lua_type(L, -1) != LUA_TSTRING) {
    luaL_argerror(L, 1, "field 'name' must be a string");
  }
  lua_setfield(L, 3, "name");
  if (lua_getfield(L, 1, "default_link") != LUA_TNIL && !luaL_testudata(L, -1, "happysim.NetworkLink"))
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'default_link' must be an hs.NetworkLink, got %s", hs_typename_of(L, -1)));
  lua_setfield(L, 3, "default_link");
  lua_newtable(L);
  lua_setfield(L, 3, "requests");
  lua_setiuservalue(L, 2, 2);
  lua_getfield(L, LUA_REGISTRYINDEX, HS_NETS_KEY);
  lua_pushvalue(L, 2);
  lua_rawsetp(L, -2, ln);
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "sim") != LUA_TNIL) {
    if (!luaL_testudata(L, -1, HS_SIM_MT)) luaL_argerror(L, 1, "field 'sim' must be a Simulation");
    bind(L, 2, lua_gettop(L));
  }
  lua_settop(L, 2);
  return 1;
}

/* ---- links -------------------------------------------------------------------------- */

/* net:add_link(a, b, link); kept until the network is attached when it is not yet */
static int l_add_link(lua_State *L) {
  check_net(L, 1);
  lua_settop(L, 4);
  hs_check_link(L, 4);
  if (defer_link(L, l_add_link, 2, 3, 0)) return 0;
  hs_entity *a = check_node(L, 1, 2), *b = check_node(L, 1, 3);
  hs_lnet *ln = lua_touserdata(L, 1);
  check_rc(L, hs_net_add_link(&ln->net, a, b, hs_check_link(L, 4), NULL), "add_link");
  adopt(L, 1, 2);
  adopt(L, 1, 3);
  return 0;
}

static int l_add_bidirectional_link(lua_State *L) {
  check_net(L, 1);
  lua_settop(L, 4);
  hs_check_link(L, 4);
  if (defer_link(L, l_add_bidirectional_link, 2, 3, 0)) return 0;
  hs_entity *a = check_node(L, 1, 2), *b = check_node(L, 1, 3);
  hs_lnet *ln = lua_touserdata(L, 1);
  check_rc(L, hs_net_add_bidirectional_link(&ln->net, a, b, hs_check_link(L, 4)), "add_bidirectional_link");
  adopt(L, 1, 2);
  adopt(L, 1, 3);
  return 0;
}

static int l_remove_link(lua_State *L) {
  check_net(L, 1);
  lua_settop(L, 3);
  if (defer_link(L, l_remove_link, 2, 3, 0)) return 0;
  hs_entity *a = check_node(L, 1, 2), *b = check_node(L, 1, 3);
  hs_lnet *ln = lua_touserdata(L, 1);
  check_rc(L, hs_net_remove_link(&ln->net, a, b), "remove_link");
  return 0;
}

/* net:connect_all(nodes [, link]): a full mesh; the default link when none is given. */
static int l_connect_all(lua_State *L) {
  check_net(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 3);
  if (!lua_isnil(L, 3)) hs_check_link(L, 3);
  if (defer_link(L, l_connect_all, 2, 2, 2)) return 0;
  lua_Integer n = luaL_len(L, 2);
  luaL_argcheck(L, n < 100000, 2, "too many nodes");
  hs_entity **nodes = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *nodes, 0);
  int scratch = lua_gettop(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    nodes[i - 1] = check_node_as(L, 1, lua_gettop(L), 2);
    lua_settop(L, scratch);
  }
  hs_lnet *ln = lua_touserdata(L, 1);
  if (!ln->owner) return luaL_argerror(L, 2, "no nodes given");
  hs_link_params *p;
  if (lua_isnoneornil(L, 3)) {
    p = (hs_link_params *)hs_net_default_link(&ln->net);
    if (!p) return luaL_argerror(L, 3, "a link is required when the network has no default link");
  } else {
    p = hs_check_link(L, 3);
  }
  check_rc(L, hs_net_connect_all(&ln->net, nodes, (size_t)n, p), "connect_all");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    adopt(L, 1, lua_gettop(L));
    lua_settop(L, scratch);
  }
  return 0;
}

static int l_set_default_link(lua_State *L) {
  hs_lnet *ln = check_net(L, 1);
  if (!lua_isnil(L, 2)) hs_check_link(L, 2);
  lua_settop(L, 2);
  push_state(L, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "default_link");
  if (ln->owner) check_rc(L, hs_net_set_default_link(&ln->net, lua_isnil(L, 2) ? NULL : hs_check_link(L, 2)), "set_default_link");
  return 0;
}

/* net:link(a, b) -> the NetworkLink a -> b uses now (a copy of its explicit link, or the
 * default link), and true when it is explicit; nil, false when the pair has no route. */
static int l_link(lua_State *L) {
  check_net(L, 1);
  hs_entity *a = check_node(L, 1, 2), *b = check_node(L, 1, 3);
  hs_lnet *ln = lua_touserdata(L, 1);
  hs_link *l = hs_net_find_link(&ln->net, a, b);
  if (l && hs_link_explicit(l)) {
    hs_push_link(L, l->params, NULL);
    lua_pushboolean(L, 1);
    return 2;
  }
  push_state(L, 1);
  lua_getfield(L, -1, "default_link"); /* nil when none */
  lua_pushboolean(L, 0);
  return 2;
}

/* ---- sending ------------------------------------------------------------------------ */

int hs_lnet_send_value(lua_State *L, hs_lnet *ln, hs_entity *src, hs_entity *dst, const char *type, int idx,
                       int kind, uint64_t request_id) {
  hs_blob *b = hs_lnet_encode(L, ln, idx, kind, request_id, "payload");
  const char *itype = hs_net_intern(&ln->net, type, strlen(type));
  lua_State *outer = ln->L;
  ln->L = L;
  int rc = itype ? hs_net_send(&ln->net, src, dst, itype, b, b->size, NULL) : HS_ENOMEM;
  ln->L = outer;
  if (rc != HS_OK) hs_blob_free(&ln->pool, b);
  return rc;
}

/* Sends the value at payload_idx; returns the message id, or 0 with an error pushed. */
static uint64_t send_common(lua_State *L, int kind, uint64_t request_id, const char *fname) {
  hs_lnet *ln = check_net(L, 1);
  hs_entity *src = check_node(L, 1, 2), *dst = check_node(L, 1, 3);
  size_t tlen;
  const char *type = hs_check_string(L, 4, &tlen);
  hs_blob *b = hs_lnet_encode(L, ln, 5, kind, request_id, "payload");
  const char *itype = hs_net_intern(&ln->net, type, tlen);
  uint64_t id = 0;
  lua_State *outer = ln->L;
  ln->L = L;
  int rc = itype ? hs_net_send(&ln->net, src, dst, itype, b, b->size, &id) : HS_ENOMEM;
  ln->L = outer;
  if (rc != HS_OK) {
    hs_blob_free(&ln->pool, b);
    if (rc == HS_NET_ECRASHED) {
      lua_pushnil(L);
      hs_push_error(L, "crashed", lua_pushfstring(L, "%s: node '%s' is crashed", fname, src->name));
      lua_remove(L, -2);
      return 0;
    }
    check_rc(L, rc, fname);
  }
  hs_door_raise(L, ln->owner); /* a filter that raised while no run was going on */
  return id;
}

/* net:send(src, dst, type, payload) -> message id | nil, err (code "crashed") */
static int l_send(lua_State *L) {
  lua_settop(L, 5);
  uint64_t id = send_common(L, HS_MSG_PLAIN, 0, "send");
  if (!id) return 2;
  lua_pushinteger(L, (lua_Integer)id);
  return 1;
}

/* net:_request(src, dst, type, payload, future) -> request id | nil, err; the future
 * resolves with the reply's payload (the Lua layer adds the timeout). */
static int l_request(lua_State *L) {
  lua_settop(L, 6);
  hs_lnet *ln = check_net(L, 1);
  uint64_t rid = ++ln->next_request;
  uint64_t id = send_common(L, HS_MSG_REQUEST, rid, "request");
  if (!id) return 2;
  push_state(L, 1);
  lua_getfield(L, -1, "requests");
  lua_pushvalue(L, 6);
  lua_rawseti(L, -2, (lua_Integer)rid);
  lua_pushinteger(L, (lua_Integer)rid);
  return 1;
}

/* net:_forget(request id): a timed-out request's late reply will be dropped. */
static int l_forget(lua_State *L) {
  check_net(L, 1);
  lua_Integer rid = luaL_checkinteger(L, 2);
  push_state(L, 1);
  lua_getfield(L, -1, "requests");
  lua_pushnil(L);
  lua_rawseti(L, -2, rid);
  return 0;
}

/* net:_reply(src, dst, type, payload, request id) */
static int l_reply(lua_State *L) {
  lua_settop(L, 6);
  lua_Integer rid = luaL_checkinteger(L, 6);
  uint64_t id = send_common(L, HS_MSG_REPLY, (uint64_t)rid, "reply");
  if (!id) return 2;
  lua_pushinteger(L, (lua_Integer)id);
  return 1;
}

/* ---- delivery to Lua entities --------------------------------------------------------- */

/* A reply resolves its request's future instead of reaching the entity. */
static void resolve_reply(lua_State *L, hs_lnet *ln, hs_message *m) {
  push_net_object(L, ln);
  push_state(L, -1);
  lua_getfield(L, -1, "requests");
  lua_Integer rid = (lua_Integer)hs_blob_request_id(m->payload);
  if (lua_rawgeti(L, -1, rid) != LUA_TNIL) {
    lua_pushnil(L);
    lua_rawseti(L, -3, rid);
    lua_getfield(L, -1, "resolve");
    lua_insert(L, -2);
    hs_lnet_push_body(L, m->payload);
    hs_door_site site = {"reply to a request", NULL, m->dst, m->type};
    hs_door_call(L, ln->owner, 2, 0, &site);
  } else {
    lua_pop(L, 1);
  }
  lua_pop(L, 3);
}

void hs_lnet_deliver_to_lua(hs_entity *e, hs_message *m) {
  hs_lnet *ln = HS_CONTAINER_OF(m->net, hs_lnet, net);
  hs_lsim *ls = ln->owner;
  lua_State *L = ls->L;
  int top = lua_gettop(L);
  if (hs_blob_kind(m->payload) == HS_MSG_REPLY) {
    resolve_reply(L, ln, m);
    return;
  }
  hs_push_entity_object(L, ls, e); /* top + 1 */
  if (hs_push_handler(L, ls, top + 1) != LUA_TFUNCTION) {
    hs_door_site site = {NULL, NULL, e, m->type};
    lua_pushliteral(L, "the entity has no handle_event method");
    hs_door_fail(L, ls, NULL, &site);
    lua_settop(L, top);
    return;
  }
  lua_pushvalue(L, top + 1);
  lua_createtable(L, 0, 9);
  lua_pushstring(L, m->type);
  lua_setfield(L, -2, "type");
  hs_lnet_push_body(L, m->payload);
  lua_setfield(L, -2, "payload");
  lua_pushnumber(L, hs_time_to_s(ls->sim.now_ns));
  lua_setfield(L, -2, "time");
  lua_pushnumber(L, hs_time_to_s(m->sent_ns));
  lua_setfield(L, -2, "sent_at");
  lua_pushstring(L, m->src->name);
  lua_setfield(L, -2, "source");
  hs_push_entity_object(L, ls, m->src);
  lua_setfield(L, -2, "src");
  lua_pushvalue(L, top + 1);
  lua_setfield(L, -2, "target");
  lua_pushinteger(L, (lua_Integer)m->id);
  lua_setfield(L, -2, "id");
  push_net_object(L, ln);
  lua_setfield(L, -2, "network");
  if (hs_blob_kind(m->payload) == HS_MSG_REQUEST) {
    lua_pushinteger(L, (lua_Integer)hs_blob_request_id(m->payload));
    lua_setfield(L, -2, "request_id");
  }
  hs_proc_start_now(L, 2, 2, m->type, e);
  lua_settop(L, top);
}

/* ---- interception ------------------------------------------------------------------- */

static void push_message_table(lua_State *L, hs_lnet *ln, hs_message *m) {
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, (lua_Integer)m->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, m->type);
  lua_setfield(L, -2, "type");
  lua_pushstring(L, m->src->name);
  lua_setfield(L, -2, "source");
  lua_pushstring(L, m->dst->name);
  lua_setfield(L, -2, "destination");
  hs_lnet_push_body(L, m->payload);
  lua_setfield(L, -2, "payload");
  lua_pushinteger(L, (lua_Integer)m->size_bytes);
  lua_setfield(L, -2, "size");
  lua_pushnumber(L, hs_time_to_s(m->sent_ns));
  lua_setfield(L, -2, "sent_at");
  lua_pushinteger(L, m->copy);
  lua_setfield(L, -2, "copy");
  (void)ln;
}

static hs_verdict filter_cb(void *ud, hs_message *m) {
  hs_lnet *ln = ud;
  hs_lsim *ls = ln->owner;
  lua_State *L = ln->L ? ln->L : ls->L;
  if (!L || ls->failed) return HS_VERDICT_DELIVER;
  int top = lua_gettop(L);
  push_net_object(L, ln);
  push_state(L, -1);
  lua_getfield(L, -1, "filter");
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  push_message_table(L, ln, m);
  hs_door_site site = {"network filter", ln->net.name, m->dst, m->type};
  if (hs_door_call(L, ls, 1, 1, &site) != LUA_OK) return HS_VERDICT_DROP;
  hs_verdict v = HS_VERDICT_DELIVER;
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  if (lua_isnil(L, -1) || (s && strcmp(s, "deliver") == 0)) {
    v = HS_VERDICT_DELIVER;
  } else if (s && strcmp(s, "drop") == 0) {
    v = HS_VERDICT_DROP;
  } else if (s && strcmp(s, "duplicate") == 0) {
    v = HS_VERDICT_DUPLICATE;
  } else if (s && strcmp(s, "hold") == 0) {
    v = HS_VERDICT_HOLD;
  } else if (lua_type(L, -1) == LUA_TNUMBER && hs_time_s_valid(lua_tonumber(L, -1))) {
    v = HS_VERDICT_DELAY;
    hs_message_set_delay(m, hs_time_from_s(lua_tonumber(L, -1)));
  } else {
    lua_pushfstring(L, "filter returned %s; return nil, \"deliver\", \"drop\", \"duplicate\", \"hold\" or a delay in seconds",
                    luaL_tolstring(L, -1, NULL));
    hs_door_fail(L, ls, NULL, &site);
    v = HS_VERDICT_DROP;
  }
  lua_settop(L, top);
  return v;
}

/* net:intercept(fn | nil): fn(msg) decides each message's fate at send time. */
static int l_intercept(lua_State *L) {
  hs_lnet *ln = check_net(L, 1);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  push_state(L, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "filter");
  ln->has_filter = !lua_isnil(L, 2);
  if (ln->owner) hs_net_set_filter(&ln->net, ln->has_filter ? filter_cb : NULL, ln);
  return 0;
}

static hs_message *find_held(hs_lnet *ln, uint64_t id, uint32_t copy) {
  for (hs_message *m = hs_net_held_first(&ln->net); m; m = hs_net_held_next(m))
    if (m->id == id && m->copy == copy) return m;
  return NULL;
}

/* The held message named by the id at id_arg and the optional copy number at copy_arg
 * (0, the original, by default), or NULL when no such message is held. */
static hs_message *check_held(lua_State *L, hs_lnet *ln, int id_arg, int copy_arg) {
  lua_Integer id = hs_check_integer(L, id_arg);
  lua_Integer copy = hs_opt_integer(L, copy_arg, 0);
  if (copy < 0 || copy > UINT32_MAX)
    luaL_argerror(L, copy_arg, lua_pushfstring(L, "copy must be an integer in [0, 2^32), got %I", copy));
  return find_held(ln, (uint64_t)id, (uint32_t)copy);
}

/* net:held() -> list of held messages (tables as the filter sees them), in hold order */
static int l_held(lua_State *L) {
  hs_lnet *ln = hs_check_bound_net(L, 1);
  lua_newtable(L);
  lua_Integer i = 0;
  for (hs_message *m = hs_net_held_first(&ln->net); m; m = hs_net_held_next(m)) {
    push_message_table(L, ln, m);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

/* net:deliver_held(id [, delay [, copy]]) -> true, or false if no such message is held */
static int l_deliver_held(lua_State *L) {
  hs_lnet *ln = hs_check_bound_net(L, 1);
  hs_message *m = check_held(L, ln, 2, 4);
  double delay = lua_isnoneornil(L, 3) ? 0 : hs_check_seconds(L, 3, "delay");
  if (!m) {
    lua_pushboolean(L, 0);
    return 1;
  }
  check_rc(L, hs_net_held_deliver(&ln->net, m, hs_time_from_s(delay)), "deliver_held");
  lua_pushboolean(L, 1);
  return 1;
}

/* net:drop_held(id [, copy]) -> true, or false if no such message is held */
static int l_drop_held(lua_State *L) {
  hs_lnet *ln = hs_check_bound_net(L, 1);
  hs_message *m = check_held(L, ln, 2, 3);
  if (m) check_rc(L, hs_net_held_drop(&ln->net, m), "drop_held");
  lua_pushboolean(L, m != NULL);
  return 1;
}

/* ---- partitions --------------------------------------------------------------------- */

static hs_entity **check_group(lua_State *L, int arg, size_t *n) {
  if (!lua_istable(L, arg)) luaL_typeerror(L, arg, "list of nodes");
  lua_Integer len = luaL_len(L, arg);
  luaL_argcheck(L, len > 0 && len < 100000, arg, "a group must list at least one node");
  hs_entity **g = lua_newuserdatauv(L, (size_t)len * sizeof *g, 0);
  int keep = lua_gettop(L);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_geti(L, arg, i);
    g[i - 1] = check_node_as(L, 1, lua_gettop(L), arg);
    lua_settop(L, keep);
  }
  *n = (size_t)len;
  return g;
}

/* net:_partition(a, b, asymmetric) -> partition id */
/* Appends "{a, b} | {c}" for the groups of a partition to the buffer. */
static void add_group_names(luaL_Buffer *b, hs_entity **g, size_t n) {
  luaL_addchar(b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) luaL_addstring(b, ", ");
    luaL_addstring(b, g[i]->name);
  }
  luaL_addchar(b, '}');
}

/* The trace span of a partition: kept in state.trace_parts[id] while it is active. */
static void trace_partition(lua_State *L, hs_lnet *ln, hs_partition_id id, hs_entity **a, size_t na, hs_entity **b,
                            size_t nb, int asym) {
  if (!ln->owner->trace) return;
  luaL_Buffer buf;
  luaL_buffinit(L, &buf);
  luaL_addstring(&buf, "partition ");
  add_group_names(&buf, a, na);
  luaL_addstring(&buf, asym ? " -/-> " : " | ");
  add_group_names(&buf, b, nb);
  luaL_pushresult(&buf);
  uint64_t span = hs_trace_partition(ln->owner, lua_tostring(L, -1));
  lua_pop(L, 1);
  push_state(L, 1);
  if (lua_getfield(L, -1, "trace_parts") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "trace_parts");
  }
  lua_pushinteger(L, (lua_Integer)span);
  lua_rawseti(L, -2, (lua_Integer)id);
  lua_pop(L, 2);
}

/* Ends the trace span of partition id (every partition's when id is 0). */
static void trace_heal(lua_State *L, hs_lnet *ln, hs_partition_id id) {
  push_state(L, 1);
  if (lua_getfield(L, -1, "trace_parts") != LUA_TTABLE) {
    lua_pop(L, 2);
    return;
  }
  int parts = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, parts)) {
    if (id == 0 || lua_tointeger(L, -2) == (lua_Integer)id) {
      hs_trace_heal(ln->owner, (uint64_t)lua_tointeger(L, -1));
      lua_pushvalue(L, -2);
      lua_pushnil(L);
      lua_rawset(L, parts); /* clearing a field during lua_next is allowed */
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

static int l_partition(lua_State *L) {
  check_net(L, 1);
  lua_settop(L, 4);
  size_t na, nb;
  hs_entity **a = check_group(L, 2, &na), **b = check_group(L, 3, &nb);
  hs_lnet *ln = lua_touserdata(L, 1);
  hs_partition_id id;
  check_rc(L, hs_net_partition(&ln->net, a, na, b, nb, lua_toboolean(L, 4), &id), "partition");
  trace_partition(L, ln, id, a, na, b, nb, lua_toboolean(L, 4));
  lua_pushinteger(L, id);
  return 1;
}

static int l_heal(lua_State *L) {
  hs_lnet *ln = hs_check_bound_net(L, 1);
  hs_partition_id id = (hs_partition_id)luaL_checkinteger(L, 2);
  int healed = hs_net_heal(&ln->net, id) == HS_OK;
  if (healed && id) trace_heal(L, ln, id);
  lua_pushboolean(L, healed);
  return 1;
}

static int l_partition_active(lua_State *L) {
  hs_lnet *ln = hs_check_bound_net(L, 1);
  lua_pushboolean(L, hs_net_partition_active(&ln->net, (hs_partition_id)luaL_checkinteger(L, 2)));
  return 1;
}

/* net:heal_partition(): heals every partition */
static int l_heal_all(lua_State *L) {
  hs_lnet *ln = check_net(L, 1);
  if (ln->owner) {
    hs_net_heal_all(&ln->net);
    trace_heal(L, ln, 0);
  }
  return 0;
}

static int l_is_partitioned(lua_State *L) {
  check_net(L, 1);
  hs_entity *a = check_node(L, 1, 2), *b = check_node(L, 1, 3);
  hs_lnet *ln = lua_touserdata(L, 1);
  lua_pushboolean(L, hs_net_is_partitioned(&ln->net, a, b));
  return 1;
}

/* ---- statistics --------------------------------------------------------------------- */

static void push_counters(lua_State *L, const hs_net_counters *c) {
  lua_createtable(L, 0, 13);
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)c->f);                                                                               \
  lua_setfield(L, -2, #f)
  FIELD(sent);
  FIELD(delivered);
  FIELD(duplicated);
  FIELD(held);
  FIELD(dropped_loss);
  FIELD(dropped_partition);
  FIELD(dropped_crash);
  FIELD(dropped_no_route);
  FIELD(dropped_filter);
  FIELD(bytes_sent);
  FIELD(bytes_delivered);
#undef FIELD
  lua_pushinteger(L, (lua_Integer)hs_net_counters_dropped(c));
  lua_setfield(L, -2, "dropped");
}

/* net:link_stats(a, b) -> counters of a -> b (zeros when the pair never talked) */
static int l_link_stats(lua_State *L) {
  check_net(L, 1);
  hs_entity *a = check_node(L, 1, 2), *b = check_node(L, 1, 3);
  hs_lnet *ln = lua_touserdata(L, 1);
  hs_link *l = hs_net_find_link(&ln->net, a, b);
  hs_net_counters zero;
  memset(&zero, 0, sizeof zero);
  push_counters(L, l ? &l->stats : &zero);
  return 1;
}

/* net:traffic_matrix() -> list of { source, destination, sent, delivered, ... } in link order */
static int l_traffic_matrix(lua_State *L) {
  hs_lnet *ln = check_net(L, 1);
  lua_newtable(L);
  if (!ln->owner) return 1;
  for (size_t i = 0; i < hs_net_link_count(&ln->net); i++) {
    hs_link *l = hs_net_link_at(&ln->net, i);
    push_counters(L, &l->stats);
    lua_pushstring(L, l->src->name);
    lua_setfield(L, -2, "source");
    lua_pushstring(L, l->dst->name);
    lua_setfield(L, -2, "destination");
    lua_pushboolean(L, hs_link_explicit(l));
    lua_setfield(L, -2, "explicit");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* __index, with the methods table as upvalue 1: methods first (net:send is a hot path). */
static int l_net_index(lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  hs_lnet *ln = luaL_checkudata(L, 1, HS_NET_MT);
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL; /* net[1] is not net["1"] */
  if (k && strcmp(k, "stats") == 0) {
    hs_net_counters zero;
    memset(&zero, 0, sizeof zero);
    push_counters(L, ln->owner ? hs_net_stats(&ln->net) : &zero);
    lua_pushinteger(L, ln->owner ? (lua_Integer)hs_net_in_flight(&ln->net) : 0);
    lua_setfield(L, -2, "in_flight");
    return 1;
  }
  if (k && strcmp(k, "name") == 0) {
    push_state(L, 1);
    lua_getfield(L, -1, "name");
    return 1;
  }
  if (k && strcmp(k, "sim") == 0) {
    lua_getiuservalue(L, 1, 1);
    return 1;
  }
  if (k && strcmp(k, "default_link") == 0) {
    push_state(L, 1);
    lua_getfield(L, -1, "default_link");
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

static int l_net_gc(lua_State *L) {
  hs_lnet *ln = luaL_checkudata(L, 1, HS_NET_MT);
  if (ln->owner) hs_net_close(&ln->net);
  ln->owner = NULL;
  ln->net.closed = true;
  hs_blob_pool_close(&ln->pool);
  hs_buf_free(&ln->scratch);
  return 0;
}

static int l_net_tostring(lua_State *L) {
  luaL_checkudata(L, 1, HS_NET_MT);
  push_state(L, 1);
  lua_getfield(L, -1, "name");
  lua_pushfstring(L, "Network '%s'", lua_tostring(L, -1));
  return 1;
}

static const luaL_Reg net_methods[] = {{"add_link", l_add_link},
                                       {"add_bidirectional_link", l_add_bidirectional_link},
                                       {"remove_link", l_remove_link},
                                       {"link", l_link},
                                       {"connect_all", l_connect_all},
                                       {"set_default_link", l_set_default_link},
                                       {"send", l_send},
                                       {"_request", l_request},
                                       {"_forget", l_forget},
                                       {"_reply", l_reply},
                                       {"intercept", l_intercept},
                                       {"held", l_held},
                                       {"deliver_held", l_deliver_held},
                                       {"drop_held", l_drop_held},
                                       {"_partition", l_partition},
                                       {"_heal", l_heal},
                                       {"_partition_active", l_partition_active},
                                       {"heal_partition", l_heal_all},
                                       {"is_partitioned", l_is_partitioned},
                                       {"link_stats", l_link_stats},
                                       {"traffic_matrix", l_traffic_matrix},
                                       {NULL, NULL}};

static int l_net_methods(lua_State *L) {
  luaL_getmetatable(L, HS_NET_MT);
  lua_getfield(L, -1, "methods");
  return 1;
}

void hs_net_open(lua_State *L) {
  luaL_newmetatable(L, HS_NET_MT);
  static const luaL_Reg meta[] = {{"__gc", l_net_gc}, {"__tostring", l_net_tostring}, {NULL, NULL}};
  luaL_setfuncs(L, meta, 0);
  luaL_newlib(L, net_methods); /* network.lua adds its methods here too (core.network_methods) */
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "methods");
  lua_pushcclosure(L, l_net_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, HS_NETS_KEY);
}

/* core.networks(sim) -> a list of the networks attached to sim, in the order they were */
static int l_networks(lua_State *L) {
  hs_check_sim(L, 1);
  lua_settop(L, 1);
  hs_push_uv_table(L, 1, "networks");
  lua_Integer n = luaL_len(L, 2);
  lua_createtable(L, n < 1000 ? (int)n : 0, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    lua_rawseti(L, 3, i);
  }
  return 1;
}

/* Entity pause/resume and lookup by name (hs_lua_entity.c) ride along here, next to the
 * network that needs them, so that core_funcs (hs_lua_sim.c) need not change. */
const luaL_Reg hs_net_funcs[] = {{"Network", l_net_new},       {"network_methods", l_net_methods},
                                 {"pause", hs_l_pause},        {"resume", hs_l_resume},
                                 {"is_paused", hs_l_is_paused}, {"entity", hs_l_entity_named},
                                 {"networks", l_networks},
                                 {NULL, NULL}};
