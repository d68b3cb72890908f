/*
 * hs_lua_chain_node.c - hs.ChainNode: chain replication and CRAQ (engine/repl/hs_chain.h) as
 * a C entity. The configuration master orders the chain (head first); hs.build_chain
 * (lua/happysim/replication.lua) builds the nodes and their master.
 *
 *   node:write(key, value)  -- at the head: Future of the write's sequence number, once the
 *                           -- tail acknowledged it; not_head (leader = the head) elsewhere
 *   node:read(key)          -- plain chain: at the tail (not_tail, leader = the tail, elsewhere);
 *                           -- CRAQ: any node; Future of (value, version)
 *
 * unsafe_dirty_reads = true is TEST-ONLY and UNSAFE: a CRAQ node answers its latest version
 * even when it is dirty (not yet committed), so reads are not linearizable; it exists so that
 * scenarios show the linearizability checker catching it (scripts/craq_unsafe_reads.lua).
 */
#include <string.h>

#include "protocols/hs_lua_repl.h"

static const hs_entity_vtable chain_vt = {.kind = "ChainNode", .on_crash = hs_lrepl_on_crash,
                                          .on_restart = hs_lrepl_on_restart, .on_message = hs_lrepl_on_message};

void hs_lrepl_chain_attach(lua_State *L, lrepl *r, int self_idx, int state_idx) {
  (void)self_idx;
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  hs_chain_config cfg = r->cfg.ch;
  cfg.id = hs_lrepl_id(L, ls, r->base.e.name);
  lua_getfield(L, state_idx, "master_name");
  cfg.master = hs_lrepl_id(L, ls, lua_tostring(L, -1));
  lua_pop(L, 1);
  r->cfg.ch = cfg;
  hs_repl_node_hooks hooks = hs_lrepl_hooks(r);
  int rc = hs_chain_node_init(&r->u.ch, &r->base.e, &r->ln->net, &r->ln->pool, &cfg, &hooks);
  if (rc != HS_OK) {
    hs_chain_node_free(&r->u.ch);
    luaL_error(L, "ChainNode '%s': %s (is it its own master?)", r->base.e.name, hs_repl_strerror(rc));
  }
}

static const hs_lua_class chain_class;

static lrepl *check(lua_State *L) { return hs_lrepl_check(L, 1, &chain_class); }

/* node:write(key, value) -> Future of the write's sequence number (at the head). */
static int l_write(lua_State *L) {
  lrepl *r = check(L);
  size_t klen;
  const char *key;
  uint64_t tag = hs_lrepl_pend_write(L, r, &key, &klen); /* 4: the Future */
  lrepl_call saved = hs_lrepl_enter(r, L);
  int rc = hs_chain_node_write(&r->u.ch, key, klen, r->buf.data, r->buf.len, tag);
  if (rc != HS_OK) hs_lrepl_reject(L, r, tag, rc, "write", hs_chain_node_hint(&r->u.ch, true));
  hs_lrepl_leave(r, L, saved);
  lua_settop(L, 4);
  return 1;
}

/* node:read(key) -> Future of (value, version): the committed value (nil when absent) and the
 * sequence number of the write that made it (0 when none). */
static int l_read(lua_State *L) {
  lrepl *r = check(L);
  size_t klen;
  const char *key;
  uint64_t tag = hs_lrepl_pend_read(L, r, &key, &klen); /* 3: the Future */
  lrepl_call saved = hs_lrepl_enter(r, L);
  int rc = hs_chain_node_read(&r->u.ch, key, klen, tag);
  if (rc != HS_OK) hs_lrepl_reject(L, r, tag, rc, "read", hs_chain_node_hint(&r->u.ch, false));
  hs_lrepl_leave(r, L, saved);
  lua_settop(L, 3);
  return 1;
}

static void push_stats(lua_State *L, lrepl *r) {
  hs_chain_stats s;
  hs_chain_get_stats(r->u.ch.chain, &s);
  lua_createtable(L, 0, 24);
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)s.f);                                                                                \
  lua_setfield(L, -2, #f)
  FIELD(writes_received);
  FIELD(propagations_sent);
  FIELD(propagations_received);
  FIELD(acks_sent);
  FIELD(reads_served);
  FIELD(epoch);
  FIELD(applied);
  FIELD(committed);
  FIELD(writes_committed);
  FIELD(writes_failed);
  FIELD(clean_reads);
  FIELD(dirty_reads);
  FIELD(version_queries);
  FIELD(snapshots_sent);
  FIELD(snapshots_installed);
  FIELD(stale_refused);
  FIELD(malformed);
  FIELD(dirty_keys);
#undef FIELD
  lua_pushstring(L, hs_chain_role_name(s.role));
  lua_setfield(L, -2, "role");
  lua_pushboolean(L, s.synced);
  lua_setfield(L, -2, "synced");
  lua_pushboolean(L, s.crashed);
  lua_setfield(L, -2, "crashed");
  lua_pushinteger(L, (lua_Integer)r->u.port.bad_requests);
  lua_setfield(L, -2, "bad_requests");
}

/* node.versions: key -> { { seq =, clean =, value = }, ... } oldest first (a fresh table). */
static void push_versions(lua_State *L, lrepl *r) {
  hs_chain *c = r->u.ch.chain;
  uint32_t nk = hs_chain_key_count(c);
  lua_createtable(L, 0, (int)nk);
  for (uint32_t i = 0; i < nk; i++) {
    uint32_t klen;
    const uint8_t *k = hs_chain_key_at(c, i, &klen);
    uint32_t nv = hs_chain_versions(c, k, klen);
    if (!nv) continue;
    lua_pushlstring(L, (const char *)k, klen);
    lua_createtable(L, (int)nv, 0);
    for (uint32_t j = 0; j < nv; j++) {
      uint64_t seq;
      bool clean;
      const uint8_t *v;
      uint32_t vlen;
      if (hs_chain_version_at(c, k, klen, j, &seq, &clean, &v, &vlen) != HS_OK) break;
      lua_createtable(L, 0, 3);
      lua_pushinteger(L, (lua_Integer)seq);
      lua_setfield(L, -2, "seq");
      lua_pushboolean(L, clean);
      lua_setfield(L, -2, "clean");
      if (vlen) {
        hs_lua_decode(L, v, vlen);
        lua_setfield(L, -2, "value");
      }
      lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
    lua_rawset(L, -3);
  }
}

static int get_field(lua_State *L, void *self, const char *k) {
  lrepl *r = self;
  if (!r->inited) return 0;
  hs_chain *c = r->u.ch.chain;
  if (hs_lrepl_common_field(L, r, k)) return 1;
  if (strcmp(k, "role") == 0)
    lua_pushstring(L, hs_chain_role_name(hs_chain_role_of(c)));
  else if (strcmp(k, "head") == 0)
    hs_lrepl_push_id_name(L, r, hs_chain_head(c));
  else if (strcmp(k, "tail") == 0)
    hs_lrepl_push_id_name(L, r, hs_chain_tail(c));
  else if (strcmp(k, "epoch") == 0)
    lua_pushinteger(L, (lua_Integer)hs_chain_epoch(c));
  else if (strcmp(k, "craq_enabled") == 0)
    lua_pushboolean(L, r->cfg.ch.craq);
  else if (strcmp(k, "unsafe_dirty_reads") == 0)
    lua_pushboolean(L, r->cfg.ch.unsafe_dirty_reads);
  else if (strcmp(k, "stats") == 0)
    push_stats(L, r);
  else if (strcmp(k, "versions") == 0)
    push_versions(L, r);
  else if (strcmp(k, "dirty_keys") == 0) {
    lua_newtable(L);
    uint32_t nk = hs_chain_key_count(c), n = 0;
    for (uint32_t i = 0; i < nk; i++) {
      uint32_t klen;
      const uint8_t *key = hs_chain_key_at(c, i, &klen);
      if (!hs_chain_key_dirty(c, key, klen)) continue;
      lua_pushlstring(L, (const char *)key, klen);
      lua_rawseti(L, -2, ++n);
    }
  } else if (strcmp(k, "master") == 0) {
    lua_getiuservalue(L, 1, HS_CENTITY_UV);
    lua_getfield(L, -1, "master");
    lua_remove(L, -2);
  } else
    return 0;
  return 1;
}

static const luaL_Reg methods[] = {{"start", hs_lrepl_l_start}, {"write", l_write}, {"read", l_read}, {NULL, NULL}};

static const hs_lua_class chain_class = {"ChainNode", sizeof(lrepl), &chain_vt, methods,
                                         get_field,   hs_lrepl_finalize, 1, hs_lrepl_attach};

static const char *const options[] = {"name", "network", "master", "craq_enabled", "ping_interval", "retry_interval",
                                      "write_timeout", "read_timeout", "max_inflight", "unsafe_dirty_reads", NULL};

/* hs.ChainNode{ name =, network =, master = <ReplicationMaster or name> (required: it orders
 * the chain), craq_enabled = false, ping_interval = 0.1, retry_interval = 0.05,
 * write_timeout = 1, read_timeout = 0.5, max_inflight = 64, unsafe_dirty_reads = false } */
int hs_l_chain_node_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, options);
  hs_lnet *ln = hs_lua_opt_network(L); /* 2, 3 */
  const char *name = hs_lrepl_opt_name(L);
  if (!name) luaL_argerror(L, 1, "field 'name' is required (the master refers to it by name)");
  hs_chain_config cfg;
  hs_chain_config_init(&cfg);
  cfg.craq = hs_field_boolean(L, 1, 1, "craq_enabled", 0);
  cfg.unsafe_dirty_reads = hs_field_boolean(L, 1, 1, "unsafe_dirty_reads", 0); /* test-only */
  if (cfg.unsafe_dirty_reads && !cfg.craq) luaL_argerror(L, 1, "field 'unsafe_dirty_reads' needs craq_enabled = true");
  cfg.ping_interval_ns = hs_time_from_s(hs_field_positive_seconds(L, 1, 1, "ping_interval", 0.1));
  cfg.retry_interval_ns = hs_time_from_s(hs_field_positive_seconds(L, 1, 1, "retry_interval", 0.05));
  cfg.write_timeout_ns = hs_time_from_s(hs_field_positive_seconds(L, 1, 1, "write_timeout", 1.0));
  cfg.read_timeout_ns = hs_time_from_s(hs_field_positive_seconds(L, 1, 1, "read_timeout", 0.5));
  cfg.max_inflight = (uint32_t)hs_lrepl_opt_int(L, "max_inflight", 64, 1, 1 << 16);
  lua_getfield(L, 1, "master"); /* 4 */
  const char *master = hs_lrepl_name_of(L, 4);
  lrepl *m = hs_lrepl_test(L, 4);
  if (!master || (m && m->kind != LREPL_MASTER))
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'master' must be an hs.ReplicationMaster or its name, got %s "
                                           "(hs.build_chain builds one)", hs_typename_of(L, 4)));
  lua_pushstring(L, master); /* 5 */
  lrepl *r = hs_lrepl_new(L, &chain_class, LREPL_CHAIN, name, ln); /* 6 */
  r->cfg.ch = cfg;
  lua_getiuservalue(L, 6, HS_CENTITY_UV); /* 7 */
  lua_pushvalue(L, 5);
  lua_setfield(L, 7, "master_name");
  lua_pushvalue(L, 4);
  lua_setfield(L, 7, "master");
  lua_settop(L, 6);
  hs_lrepl_finish(L, 6);
  return 1;
}
