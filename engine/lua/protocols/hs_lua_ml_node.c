/*
 * hs_lua_ml_node.c - hs.LeaderNode: multi-leader replication with vector clocks, conflict
 * resolvers and Merkle anti-entropy (engine/repl/hs_ml.h) as a C entity.
 *
 *   hs.LeaderNode{ name =, network =, peers = { nodes or names }, resolver = hs.LastWriterWins()
 *                  | hs.VectorClockMerge{ merge_fn = } | hs.CustomResolver{ resolve_fn = }
 *                  | any table with resolve(self, key, versions) | a function(key, versions),
 *                  anti_entropy_interval = 0, merkle_leaf_bits = 10, merkle_fanout_bits = 1 }
 *   node:write(key, value)  -- Future of the VersionedValue written (applied at once, broadcast)
 *   node:read(key)          -- Future of (value, versions): with several siblings (VectorClockMerge
 *                           -- without merge_fn) value is the array of their values
 *   node:versions(key)      -- the VersionedValue list now; node:sync(peer) an anti-entropy round
 *
 * A resolver written in Lua is called by the C core through the door (hs_door_call) for each
 * set of concurrent versions (never for equal clocks: the same version); it returns one of
 * the versions it was given, or a table { value = ... } for a merged value (stored with the
 * versions' clocks merged). It runs synchronously and must not call into the node. An error
 * in it stops the run like any callback's; a result that is neither falls back to
 * LastWriterWins and is counted in stats.resolver_errors.
 */
#include <string.h>

#include "protocols/hs_lua_repl.h"

static const hs_entity_vtable ml_vt = {.kind = "LeaderNode", .on_crash = hs_lrepl_on_crash,
                                       .on_restart = hs_lrepl_on_restart, .on_message = hs_lrepl_on_message};

static const hs_lua_class ml_class;

/* Pushes a VersionedValue table { value =, timestamp =, writer_id =, vector_clock = { name = n } }. */
static void push_version(lua_State *L, lrepl *r, const hs_ml_version *v) {
  lua_createtable(L, 0, 4);
  if (v->value_len) {
    hs_lua_decode(L, v->value, v->value_len);
    lua_setfield(L, -2, "value");
  }
  lua_pushnumber(L, (double)v->timestamp_ns / 1e9);
  lua_setfield(L, -2, "timestamp");
  hs_lrepl_push_id_name(L, r, v->origin);
  lua_setfield(L, -2, "writer_id");
  lua_createtable(L, 0, v->clock ? (int)v->clock->n : 0);
  for (uint32_t i = 0; v->clock && i < v->clock->n; i++) {
    hs_lrepl_push_id_name(L, r, v->clock->ids[i]);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushinteger(L, (lua_Integer)v->clock->counts[i]);
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "vector_clock");
  luaL_getmetatable(L, "happysim.VersionedValue");
  if (lua_istable(L, -1))
    lua_setmetatable(L, -2);
  else
    lua_pop(L, 1);
}

static void push_versions(lua_State *L, lrepl *r, const hs_ml_version *v, uint32_t n) {
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    push_version(L, r, &v[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* Encodes the value at 1 into the buffer at 2 (raises on a value that cannot be sent). */
static int encode_protected(lua_State *L) {
  hs_lua_encode(L, lua_touserdata(L, 2), 1, "the resolver's merged value");
  return 0;
}

/* The Lua resolver (hs_ml_resolver.resolve): state.resolver, a function(key, versions) or a
 * table with resolve(self, key, versions). */
static int resolve_lua(void *ud, const uint8_t *key, uint32_t key_len, const hs_ml_version *versions, uint32_t n,
                       hs_buf *out) {
  lrepl *r = ud;
  lua_State *L = hs_lrepl_thread(r);
  if (!L) return -2;
  int top = lua_gettop(L);
  hs_lrepl_state(L, r);
  lua_getfield(L, -1, "resolver");
  int nargs = 2;
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "resolve");
    lua_insert(L, -2); /* resolve self */
    nargs = 3;
  }
  lua_pushlstring(L, (const char *)key, key_len);
  push_versions(L, r, versions, n);
  int list = lua_gettop(L);
  lua_pushvalue(L, list);
  lua_setfield(L, top + 1, "resolving"); /* kept to match the result against */
  hs_door_site site = {"conflict resolver", NULL, &r->base.e, r->base.e.sim->current ? r->base.e.sim->current->type : NULL};
  r->lua_resolver = 2; /* inside: calls into the node raise */
  int st = hs_door_call(L, hs_lsim_of(r->base.e.sim), nargs, 1, &site);
  r->lua_resolver = 1;
  int result = -2;
  if (st == LUA_OK) {
    int res = lua_gettop(L);
    lua_getfield(L, top + 1, "resolving");
    for (uint32_t i = 0; i < n && result == -2; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      if (lua_rawequal(L, -1, res)) result = (int)i;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (result == -2 && lua_istable(L, res)) { /* a merged value: { value = ... } */
      hs_buf_reset(out);
      lua_pushcfunction(L, encode_protected);
      lua_getfield(L, res, "value");
      lua_pushlightuserdata(L, out);
      hs_door_site esite = {"conflict resolver result", NULL, &r->base.e, site.event};
      if (hs_door_call(L, hs_lsim_of(r->base.e.sim), 2, 0, &esite) == LUA_OK && !out->failed) result = HS_ML_RESOLVE_NEW;
    }
  }
  lua_pushnil(L);
  lua_setfield(L, top + 1, "resolving");
  lua_settop(L, top);
  return result;
}

void hs_lrepl_ml_attach(lua_State *L, lrepl *r, int self_idx, int state_idx) {
  (void)self_idx;
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  hs_ml_config cfg = r->cfg.ml;
  cfg.id = hs_lrepl_id(L, ls, r->base.e.name);
  uint32_t peers[HS_REPL_MAX_NODES];
  uint32_t n = 0;
  lua_getfield(L, state_idx, "peers");
  for (lua_Integer i = 1; i <= luaL_len(L, -1) && n < HS_REPL_MAX_NODES; i++) {
    lua_rawgeti(L, -1, i);
    uint32_t id = hs_lrepl_id(L, ls, lua_tostring(L, -1));
    lua_pop(L, 1);
    int dup = id == cfg.id;
    for (uint32_t j = 0; j < n; j++) dup |= peers[j] == id;
    if (!dup) peers[n++] = id;
  }
  lua_pop(L, 1);
  cfg.peers = peers;
  cfg.n_peers = n;
  char stream[160];
  snprintf(stream, sizeof stream, "ml:%s", r->base.e.name);
  hs_sim_stream(r->base.e.sim, &cfg.rng, stream, strlen(stream));
  if (r->lua_resolver) cfg.resolver.ud = r;
  hs_repl_node_hooks hooks = hs_lrepl_hooks(r);
  int rc = hs_ml_node_init(&r->u.ml, &r->base.e, &r->ln->net, &r->ln->pool, &cfg, &hooks);
  r->cfg.ml = cfg;
  r->cfg.ml.peers = NULL; /* copied by the core */
  if (rc != HS_OK) {
    hs_ml_node_free(&r->u.ml);
    luaL_error(L, "LeaderNode '%s': %s", r->base.e.name, hs_repl_strerror(rc));
  }
}

static lrepl *check(lua_State *L, const char *fname) {
  lrepl *r = hs_lrepl_check(L, 1, &ml_class);
  if (r->lua_resolver == 2) luaL_error(L, "%s: LeaderNode '%s' is running its resolver (a resolver must not call the node)", fname, r->base.e.name);
  return r;
}

/* node:write(key, value) -> Future of the VersionedValue written. */
static int l_write(lua_State *L) {
  lrepl *r = check(L, "write");
  size_t klen;
  const char *key;
  uint64_t tag = hs_lrepl_pend_write(L, r, &key, &klen); /* 4: the Future */
  lrepl_call saved = hs_lrepl_enter(r, L);
  hs_ml_version v;
  int rc = hs_ml_write(r->u.ml.ml, r->base.e.sim->now_ns, key, klen, r->buf.data, r->buf.len, &v);
  if (rc == HS_OK) {
    push_version(L, r, &v);
    hs_lrepl_resolve(L, r, tag, 1);
  } else {
    hs_lrepl_reject(L, r, tag, rc, "write", NULL);
  }
  hs_lrepl_leave(r, L, saved);
  lua_settop(L, 4);
  return 1;
}

/* Pushes (value, versions) of key; returns the status. */
static int push_read(lua_State *L, lrepl *r, const char *key, size_t klen) {
  const hs_ml_version *v;
  uint32_t n;
  int rc = hs_ml_read(r->u.ml.ml, key, klen, &v, &n);
  if (rc != HS_OK) return rc;
  if (n == 0) {
    lua_pushnil(L);
  } else if (n == 1) {
    if (v[0].value_len)
      hs_lua_decode(L, v[0].value, v[0].value_len);
    else
      lua_pushnil(L);
  } else {
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
      hs_lua_decode(L, v[i].value, v[i].value_len);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
  }
  push_versions(L, r, v, n);
  return HS_OK;
}

/* node:read(key) -> Future of (value, versions). */
static int l_read(lua_State *L) {
  lrepl *r = check(L, "read");
  size_t klen;
  const char *key;
  uint64_t tag = hs_lrepl_pend_read(L, r, &key, &klen); /* 3: the Future */
  int rc = push_read(L, r, key, klen);
  if (rc == HS_OK)
    hs_lrepl_resolve(L, r, tag, 2);
  else
    hs_lrepl_reject(L, r, tag, rc, "read", NULL);
  lua_settop(L, 3);
  return 1;
}

/* node:versions(key) -> the list of VersionedValue held for key now (empty when absent). */
static int l_versions(lua_State *L) {
  lrepl *r = check(L, "versions");
  size_t klen;
  const char *key = hs_check_string(L, 2, &klen);
  const hs_ml_version *v;
  uint32_t n = 0;
  if (hs_ml_read(r->u.ml.ml, key, klen, &v, &n) != HS_OK) n = 0;
  push_versions(L, r, v, n);
  return 1;
}

/* node:sync(peer) -> boolean: starts an anti-entropy round with peer (a node or name) now. */
static int l_sync(lua_State *L) {
  lrepl *r = check(L, "sync");
  const char *name = hs_lrepl_name_of(L, 2);
  if (!name) return luaL_argerror(L, 2, "LeaderNode or name expected");
  uint32_t id = hs_lrepl_id(L, hs_lsim_of(r->base.e.sim), name);
  lrepl_call saved = hs_lrepl_enter(r, L);
  int rc = hs_ml_sync(r->u.ml.ml, id, r->base.e.sim->now_ns);
  hs_lrepl_leave(r, L, saved);
  lua_pushboolean(L, rc == HS_OK);
  return 1;
}

/* node:set_peers(list) / node:add_peers(list): the other nodes (self left out). */
static int peers_change(lua_State *L, int add) {
  lrepl *r = check(L, add ? "add_peers" : "set_peers");
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  lua_getiuservalue(L, 1, HS_CENTITY_UV); /* 3 */
  lua_newtable(L);                        /* 4: the new list */
  if (add) {
    lua_getfield(L, 3, "peers");
    for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
      lua_rawgeti(L, -1, i);
      lua_rawseti(L, 4, i);
    }
    lua_pop(L, 1);
  }
  for (lua_Integer i = 1; i <= luaL_len(L, 2); i++) {
    lua_geti(L, 2, i);
    const char *name = hs_lrepl_name_of(L, -1);
    if (!name) return luaL_argerror(L, 2, "a list of LeaderNodes or names expected");
    int dup = strcmp(name, r->base.e.name) == 0;
    for (lua_Integer j = 1; !dup && j <= luaL_len(L, 4); j++) {
      lua_rawgeti(L, 4, j);
      dup = strcmp(lua_tostring(L, -1), name) == 0;
      lua_pop(L, 1);
    }
    if (!dup) {
      lua_pushstring(L, name);
      lua_rawseti(L, 4, luaL_len(L, 4) + 1);
    }
    lua_pop(L, 1);
  }
  lua_Integer n = luaL_len(L, 4);
  if (n > (lua_Integer)HS_REPL_MAX_NODES) return luaL_argerror(L, 2, "too many peers");
  uint32_t ids[HS_REPL_MAX_NODES];
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 4, i);
    ids[i - 1] = hs_lrepl_id(L, ls, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  if (hs_ml_set_peers(r->u.ml.ml, ids, (uint32_t)n) != HS_OK) return luaL_error(L, "set_peers: out of memory");
  lua_pushvalue(L, 4);
  lua_setfield(L, 3, "peers");
  lua_settop(L, 1);
  return 1;
}

static int l_set_peers(lua_State *L) { return peers_change(L, 0); }
static int l_add_peers(lua_State *L) { return peers_change(L, 1); }

static void push_stats(lua_State *L, lrepl *r) {
  hs_ml_stats s;
  hs_ml_get_stats(r->u.ml.ml, &s);
  lua_createtable(L, 0, 16);
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)s.f);                                                                                \
  lua_setfield(L, -2, #f)
  FIELD(writes);
  FIELD(reads);
  FIELD(replications_sent);
  FIELD(replications_received);
  FIELD(conflicts_detected);
  FIELD(conflicts_resolved);
  FIELD(anti_entropy_syncs);
  FIELD(anti_entropy_keys_repaired);
  FIELD(hashes_sent);
  FIELD(keys_shipped);
  FIELD(resolver_errors);
  FIELD(malformed);
  FIELD(keys);
#undef FIELD
  lua_pushboolean(L, s.crashed);
  lua_setfield(L, -2, "crashed");
  lua_pushinteger(L, (lua_Integer)r->u.port.bad_requests);
  lua_setfield(L, -2, "bad_requests");
}

static int get_field(lua_State *L, void *self, const char *k) {
  lrepl *r = self;
  if (!r->inited) return 0;
  hs_ml *ml = r->u.ml.ml;
  if (hs_lrepl_common_field(L, r, k)) return 1;
  if (strcmp(k, "stats") == 0)
    push_stats(L, r);
  else if (strcmp(k, "root_hash") == 0) {
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hs_ml_root_hash(ml));
    lua_pushstring(L, hex);
  } else if (strcmp(k, "keys") == 0) {
    uint32_t n = hs_ml_key_count(ml);
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t len;
      const uint8_t *key = hs_ml_key_at(ml, i, &len);
      lua_pushlstring(L, (const char *)key, len);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
  } else if (strcmp(k, "data") == 0) { /* key -> value (an array of sibling values when several) */
    uint32_t n = hs_ml_key_count(ml);
    lua_createtable(L, 0, (int)n);
    for (uint32_t i = 0; i < n; i++) {
      uint32_t len;
      const uint8_t *key = hs_ml_key_at(ml, i, &len);
      lua_pushlstring(L, (const char *)key, len);
      if (push_read(L, r, (const char *)key, len) != HS_OK) {
        lua_pop(L, 1);
        continue;
      }
      lua_pop(L, 1);
      lua_rawset(L, -3);
    }
  } else if (strcmp(k, "peers") == 0 || strcmp(k, "resolver") == 0) {
    lua_getiuservalue(L, 1, HS_CENTITY_UV);
    lua_getfield(L, -1, k);
    lua_remove(L, -2);
  } else
    return 0;
  return 1;
}

static const luaL_Reg methods[] = {{"start", hs_lrepl_l_start}, {"write", l_write},         {"read", l_read},
                                   {"versions", l_versions},    {"sync", l_sync},           {"set_peers", l_set_peers},
                                   {"add_peers", l_add_peers},  {NULL, NULL}};

static const hs_lua_class ml_class = {"LeaderNode", sizeof(lrepl), &ml_vt, methods,
                                      get_field,    hs_lrepl_finalize, 1, hs_lrepl_attach};

static const char *const options[] = {"name", "network", "peers", "resolver", "anti_entropy_interval",
                                      "merkle_leaf_bits", "merkle_fanout_bits", NULL};

/* hs.LeaderNode{ ... } (see the top of the file) */
int hs_l_leader_node_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, options);
  hs_lnet *ln = hs_lua_opt_network(L); /* 2, 3 */
  const char *name = hs_lrepl_opt_name(L);
  if (!name) luaL_argerror(L, 1, "field 'name' is required (peers refer to it by name; it is its vector clock id)");
  hs_lrepl_check_list(L, "peers", 0);
  hs_ml_config cfg;
  hs_ml_config_init(&cfg);
  cfg.anti_entropy_interval_ns = hs_time_from_s(hs_field_seconds(L, 1, 1, "anti_entropy_interval", 0, 0));
  cfg.merkle_leaf_bits = (uint32_t)hs_lrepl_opt_int(L, "merkle_leaf_bits", 10, 1, HS_MERKLE_MAX_LEAF_BITS);
  cfg.merkle_fanout_bits = (uint32_t)hs_lrepl_opt_int(L, "merkle_fanout_bits", 1, 1, HS_MERKLE_MAX_FANOUT_BITS);
  if (cfg.merkle_leaf_bits % cfg.merkle_fanout_bits != 0)
    luaL_argerror(L, 1, "field 'merkle_fanout_bits' must divide 'merkle_leaf_bits'");
  int lua_resolver = 0;
  lua_getfield(L, 1, "resolver"); /* 4 */
  if (lua_isnil(L, 4)) {
    cfg.resolver = hs_ml_resolver_lww();
  } else if (lua_isfunction(L, 4)) {
    lua_resolver = 1;
  } else if (lua_istable(L, 4)) {
    int builtin = lua_getfield(L, 4, "_builtin");
    const char *b = builtin == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (b && strcmp(b, "last_writer_wins") == 0) {
      cfg.resolver = hs_ml_resolver_lww();
    } else if (b && strcmp(b, "vector_clock_merge") == 0) {
      cfg.resolver = hs_ml_resolver_siblings();
    } else {
      if (lua_getfield(L, 4, "resolve") != LUA_TFUNCTION)
        luaL_argerror(L, 1, "field 'resolver' must have a resolve(self, key, versions) method");
      lua_pop(L, 1);
      lua_resolver = 1;
    }
    lua_pop(L, 1);
  } else {
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'resolver' must be a resolver (hs.LastWriterWins(), "
                                           "hs.VectorClockMerge{}, hs.CustomResolver{}) or a function, got %s",
                                        hs_typename_of(L, 4)));
  }
  if (lua_resolver)
    cfg.resolver = (hs_ml_resolver){.name = "custom", .keep_siblings = false, .resolve = resolve_lua, .ud = NULL};
  lua_getfield(L, 1, "peers");
  hs_lrepl_push_names(L, -1, name); /* 6 */
  lua_remove(L, 5);                 /* 5: peer names */
  lrepl *r = hs_lrepl_new(L, &ml_class, LREPL_ML, name, ln); /* 6 */
  r->cfg.ml = cfg;
  r->lua_resolver = lua_resolver;
  lua_getiuservalue(L, 6, HS_CENTITY_UV); /* 7 */
  lua_pushvalue(L, 5);
  lua_setfield(L, 7, "peers");
  lua_pushvalue(L, 4);
  lua_setfield(L, 7, "resolver");
  lua_settop(L, 6);
  hs_lrepl_finish(L, 6);
  return 1;
}
