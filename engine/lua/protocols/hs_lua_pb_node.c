/*
 * hs_lua_pb_node.c - hs.PrimaryNode and hs.BackupNode: primary-backup replication
 * (engine/repl/hs_pb.h) as C entities. Both are the same node: the configuration master
 * (hs.ReplicationMaster) decides who is primary; the classes differ in what they are told at
 * construction (the primary lists its backups and builds the master unless given one; a
 * backup names its primary) and in their seed names.
 *
 *   local p = hs.PrimaryNode{ name = "p", network = net, backups = { "b1", "b2" }, mode = "sync" }
 *   local b1 = hs.BackupNode{ name = "b1", network = net, primary = p }
 *   p:write("x", 1)   -- Future: resolves to the write's sequence number once committed in the
 *                     -- mode's sense; rejected { code = "timeout" | "config_changed" |
 *                     -- "crashed" (outcome unknown) | "not_primary" (leader = the primary) |
 *                     -- "no_lease" | "unavailable" (certainly no effect) }
 *   p:read("x")       -- Future: the committed value (a backup's may be stale)
 */
#include <string.h>

#include "protocols/hs_lua_repl.h"

static const hs_entity_vtable primary_vt = {.kind = "PrimaryNode", .on_crash = hs_lrepl_on_crash,
                                            .on_restart = hs_lrepl_on_restart, .on_message = hs_lrepl_on_message};
static const hs_entity_vtable backup_vt = {.kind = "BackupNode", .on_crash = hs_lrepl_on_crash,
                                           .on_restart = hs_lrepl_on_restart, .on_message = hs_lrepl_on_message};

static const char *const modes[] = {"async", "semi_sync", "sync", NULL};

void hs_lrepl_pb_attach(lua_State *L, lrepl *r, int self_idx, int state_idx) {
  (void)self_idx;
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  hs_pb_config cfg = r->cfg.pb;
  cfg.id = hs_lrepl_id(L, ls, r->base.e.name);
  lua_getfield(L, state_idx, "master_name");
  cfg.master = hs_lrepl_id(L, ls, lua_tostring(L, -1));
  lua_pop(L, 1);
  /* a backup without its own mode takes its primary's (it may become primary) */
  if (lua_getfield(L, state_idx, "inherit_mode") == LUA_TBOOLEAN) {
    lua_getfield(L, state_idx, "primary");
    hs_push_sim(L, ls);
    hs_push_uv_table(L, lua_gettop(L), "names");
    lua_pushvalue(L, -3);
    lua_rawget(L, -2);
    lrepl *p = hs_lrepl_test(L, -1);
    if (p && p->kind == LREPL_PB) {
      cfg.mode = p->cfg.pb.mode;
      cfg.semi_sync_acks = p->cfg.pb.semi_sync_acks;
    }
    lua_pop(L, 4);
  }
  lua_pop(L, 1);
  r->cfg.pb = cfg;
  hs_repl_node_hooks hooks = hs_lrepl_hooks(r);
  int rc = hs_pb_node_init(&r->u.pb, &r->base.e, &r->ln->net, &r->ln->pool, &cfg, &hooks);
  if (rc != HS_OK) {
    hs_pb_node_free(&r->u.pb);
    luaL_error(L, "%s '%s': %s (is it its own master?)", r->base.cls->name, r->base.e.name, hs_repl_strerror(rc));
  }
}

static const hs_lua_class primary_class, backup_class;

static lrepl *check(lua_State *L, const char *fname) {
  lrepl *r = hs_lrepl_test(L, 1);
  if (!r || r->kind != LREPL_PB)
    luaL_error(L, "bad argument #1 to '%s' (PrimaryNode or BackupNode expected, got %s)", fname, hs_typename_of(L, 1));
  return hs_lrepl_check(L, 1, r->base.cls);
}

/* node:write(key, value) -> Future of the write's sequence number. */
static int l_write(lua_State *L) {
  lrepl *r = check(L, "write");
  size_t klen;
  const char *key;
  uint64_t tag = hs_lrepl_pend_write(L, r, &key, &klen); /* 4: the Future */
  lrepl_call saved = hs_lrepl_enter(r, L);
  int rc = hs_pb_node_write(&r->u.pb, key, klen, r->buf.data, r->buf.len, tag);
  if (rc != HS_OK) hs_lrepl_reject(L, r, tag, rc, "write", hs_pb_node_hint(&r->u.pb));
  hs_lrepl_leave(r, L, saved);
  lua_settop(L, 4);
  return 1;
}

/* node:read(key) -> Future of the committed value (nil when absent). */
static int l_read(lua_State *L) {
  lrepl *r = check(L, "read");
  size_t klen;
  const char *key;
  uint64_t tag = hs_lrepl_pend_read(L, r, &key, &klen); /* 3: the Future */
  lrepl_call saved = hs_lrepl_enter(r, L);
  hs_value v = {NULL, 0};
  int rc = hs_pb_read(r->u.pb.pb, r->base.e.sim->now_ns, key, klen, &v);
  if (rc == HS_OK) {
    if (v.len)
      hs_lua_decode(L, v.p, v.len);
    else
      lua_pushnil(L);
    hs_lrepl_resolve(L, r, tag, 1);
  } else {
    hs_lrepl_reject(L, r, tag, rc, "read", hs_pb_node_hint(&r->u.pb));
  }
  hs_lrepl_leave(r, L, saved);
  lua_settop(L, 3);
  return 1;
}

static void push_stats(lua_State *L, lrepl *r) {
  hs_pb_stats s;
  hs_pb_get_stats(r->u.pb.pb, &s);
  lua_createtable(L, 0, 24);
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)s.f);                                                                                \
  lua_setfield(L, -2, #f)
  FIELD(writes);
  FIELD(reads);
  FIELD(replications_sent);
  FIELD(acks_received);
  FIELD(replications_applied);
  FIELD(view);
  FIELD(last_seq);
  FIELD(commit_seq);
  FIELD(writes_committed);
  FIELD(writes_failed);
  FIELD(writes_lost);
  FIELD(snapshots_sent);
  FIELD(snapshots_installed);
  FIELD(stale_refused);
  FIELD(malformed);
#undef FIELD
  lua_pushinteger(L, (lua_Integer)s.last_seq);
  lua_setfield(L, -2, "last_applied_seq");
  lua_pushnumber(L, (double)s.write_latency_sum_ns / 1e9);
  lua_setfield(L, -2, "write_latency_sum");
  lua_pushstring(L, hs_pb_role_name(s.role));
  lua_setfield(L, -2, "role");
  hs_lrepl_push_id_name(L, r, s.primary);
  lua_setfield(L, -2, "primary");
  lua_pushboolean(L, s.synced);
  lua_setfield(L, -2, "synced");
  lua_pushboolean(L, s.crashed);
  lua_setfield(L, -2, "crashed");
  lua_pushinteger(L, (lua_Integer)r->u.port.malformed);
  lua_setfield(L, -2, "malformed_messages");
  lua_pushinteger(L, (lua_Integer)r->u.port.bad_requests);
  lua_setfield(L, -2, "bad_requests");
}

/* node.data: the committed key -> value pairs (a fresh table). */
static void push_data(lua_State *L, lrepl *r) {
  uint32_t n = hs_pb_key_count(r->u.pb.pb);
  lua_createtable(L, 0, (int)n);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t len;
    hs_value v;
    const uint8_t *k = hs_pb_key_at(r->u.pb.pb, i, &len, &v);
    if (!k || !v.len) continue;
    lua_pushlstring(L, (const char *)k, len);
    hs_lua_decode(L, v.p, v.len);
    lua_rawset(L, -3);
  }
}

static int get_field(lua_State *L, void *self, const char *k) {
  lrepl *r = self;
  if (!r->inited) return 0;
  hs_pb *pb = r->u.pb.pb;
  if (hs_lrepl_common_field(L, r, k)) return 1;
  if (strcmp(k, "role") == 0)
    lua_pushstring(L, hs_pb_role_name(hs_pb_role_of(pb)));
  else if (strcmp(k, "is_primary") == 0)
    lua_pushboolean(L, !hs_pb_crashed(pb) && hs_pb_role_of(pb) == HS_PB_PRIMARY);
  else if (strcmp(k, "primary") == 0)
    hs_lrepl_push_id_name(L, r, hs_pb_primary(pb));
  else if (strcmp(k, "view") == 0)
    lua_pushinteger(L, (lua_Integer)hs_pb_view(pb));
  else if (strcmp(k, "mode") == 0)
    lua_pushstring(L, hs_pb_mode_name(hs_pb_mode_of(pb)));
  else if (strcmp(k, "last_applied_seq") == 0) {
    hs_pb_stats s;
    hs_pb_get_stats(pb, &s);
    lua_pushinteger(L, (lua_Integer)s.last_seq);
  } else if (strcmp(k, "stats") == 0)
    push_stats(L, r);
  else if (strcmp(k, "data") == 0)
    push_data(L, r);
  else if (strcmp(k, "backup_lag") == 0) {
    lua_newtable(L);
    uint32_t b;
    uint64_t lag;
    for (uint32_t i = 0; hs_pb_backup_lag(pb, i, &b, &lag) == HS_OK; i++) {
      hs_lrepl_push_id_name(L, r, b);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        continue;
      }
      lua_pushinteger(L, (lua_Integer)lag);
      lua_rawset(L, -3);
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

static const hs_lua_class primary_class = {"PrimaryNode", sizeof(lrepl), &primary_vt, methods,
                                           get_field,     hs_lrepl_finalize, 1, hs_lrepl_attach};
static const hs_lua_class backup_class = {"BackupNode", sizeof(lrepl), &backup_vt, methods,
                                          get_field,    hs_lrepl_finalize, 1, hs_lrepl_attach};

/* ---- construction ------------------------------------------------------------------------------ */

static const char *const primary_options[] = {"name", "network", "backups", "mode", "semi_sync_acks", "master", "lease", "serve_reads",
                                              "failure_timeout", "ping_interval", "retry_interval", "write_timeout",
                                              "max_inflight", "max_log", NULL};
static const char *const backup_options[] = {"name", "network", "primary", "serve_reads", "mode", "semi_sync_acks",
                                             "master", "ping_interval", "retry_interval", "write_timeout",
                                             "max_inflight", "max_log", NULL};

/* The options both classes share, into cfg. */
static void common_options(lua_State *L, hs_pb_config *cfg, int *mode_given) {
  hs_pb_config_init(cfg);
  *mode_given = 0;
  if (lua_getfield(L, 1, "mode") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 1, "field 'mode' must be \"sync\", \"semi_sync\" or \"async\"");
    const char *m = lua_tostring(L, -1);
    int found = -1;
    for (int i = 0; modes[i]; i++)
      if (strcmp(modes[i], m) == 0) found = i;
    if (found < 0)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'mode' must be \"sync\", \"semi_sync\" or \"async\", got \"%s\"", m));
    cfg->mode = (hs_pb_mode)found;
    *mode_given = 1;
  }
  lua_pop(L, 1);
  cfg->semi_sync_acks = (uint32_t)hs_lrepl_opt_int(L, "semi_sync_acks", 1, 1, HS_REPL_MAX_NODES);
  cfg->ping_interval_ns = hs_time_from_s(hs_field_positive_seconds(L, 1, 1, "ping_interval", 0.1));
  cfg->retry_interval_ns = hs_time_from_s(hs_field_positive_seconds(L, 1, 1, "retry_interval", 0.05));
  cfg->write_timeout_ns = hs_time_from_s(hs_field_positive_seconds(L, 1, 1, "write_timeout", 1.0));
  cfg->max_inflight = (uint32_t)hs_lrepl_opt_int(L, "max_inflight", 64, 1, 1 << 16);
  cfg->max_log = (uint32_t)hs_lrepl_opt_int(L, "max_log", 4096, 1, 1 << 24);
  /* a primary becomes a backup after a failover: both classes take it */
  cfg->serve_reads = hs_field_boolean(L, 1, 1, "serve_reads", 1);
}

/* The master option at field `master` of the options: pushes its name, or nil. */
static void push_master_option(lua_State *L) {
  if (lua_getfield(L, 1, "master") == LUA_TNIL) return;
  const char *name = hs_lrepl_name_of(L, -1);
  lrepl *m = hs_lrepl_test(L, -1);
  if (!name || (m && m->kind != LREPL_MASTER))
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'master' must be an hs.ReplicationMaster or its name, got %s",
                                        hs_typename_of(L, -1)));
  lua_pushstring(L, name);
  lua_replace(L, -2);
}

/* hs.PrimaryNode{ name =, network =, backups = {...}, mode = "async", semi_sync_acks = 1,
 * master = <ReplicationMaster or name> (default: one built here, named "<name>.master", with
 * lease and failure_timeout), serve_reads = true (as a backup, after a failover), ping_interval = 0.1, retry_interval = 0.05, write_timeout = 1,
 * max_inflight = 64, max_log = 4096 } */
int hs_l_primary_node_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, primary_options);
  hs_lnet *ln = hs_lua_opt_network(L); /* 2, 3 */
  const char *name = hs_lrepl_opt_name(L);
  if (!name) luaL_argerror(L, 1, "field 'name' is required (backups and the master refer to the primary by name)");
  hs_lrepl_check_list(L, "backups", 0);
  hs_pb_config cfg;
  int mode_given;
  common_options(L, &cfg, &mode_given);
  double lease = hs_field_positive_seconds(L, 1, 1, "lease", 0.5);
  double ft = hs_field_positive_seconds(L, 1, 1, "failure_timeout", 1.0);
  lua_getfield(L, 1, "backups");
  hs_lrepl_push_names(L, -1, name); /* 5 */
  lua_remove(L, 4);
  push_master_option(L); /* 5: its name, or nil */
  if (!lua_isnil(L, 5) && (lua_getfield(L, 1, "lease") != LUA_TNIL || lua_getfield(L, 1, "failure_timeout") != LUA_TNIL))
    luaL_argerror(L, 1, "fields 'lease' and 'failure_timeout' are the master's: give them to the ReplicationMaster");
  lua_settop(L, 5);
  lrepl *r = hs_lrepl_new(L, &primary_class, LREPL_PB, name, ln); /* 6 */
  r->cfg.pb = cfg;
  lua_getiuservalue(L, 6, HS_CENTITY_UV); /* 7 */
  lua_pushvalue(L, 4);
  lua_setfield(L, 7, "backups");
  if (lua_isnil(L, 5)) { /* the master, built here: members = the primary, then its backups */
    lua_pushcfunction(L, hs_l_repl_master_new);
    lua_createtable(L, 0, 5);
    lua_pushfstring(L, "%s.master", name);
    lua_setfield(L, -2, "name");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "network");
    lua_createtable(L, (int)luaL_len(L, 4) + 1, 0);
    lua_pushstring(L, name);
    lua_rawseti(L, -2, 1);
    for (lua_Integer i = 1; i <= luaL_len(L, 4); i++) {
      lua_rawgeti(L, 4, i);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "members");
    lua_pushnumber(L, lease);
    lua_setfield(L, -2, "lease");
    lua_pushnumber(L, ft);
    lua_setfield(L, -2, "failure_timeout");
    lua_call(L, 1, 1);
    lua_setfield(L, 7, "master");
    lua_pushfstring(L, "%s.master", name);
  } else {
    lua_getfield(L, 1, "master");
    lua_setfield(L, 7, "master");
    lua_pushvalue(L, 5);
  }
  lua_setfield(L, 7, "master_name");
  lua_settop(L, 6);
  hs_lrepl_finish(L, 6);
  return 1;
}

/* hs.BackupNode{ name =, network =, primary = <PrimaryNode or name>, serve_reads = true,
 * master = (default "<primary>.master", the one the PrimaryNode built), mode = (default: the
 * primary's, as it may become primary), and the timing options of PrimaryNode } */
int hs_l_backup_node_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, backup_options);
  hs_lnet *ln = hs_lua_opt_network(L); /* 2, 3 */
  const char *name = hs_lrepl_opt_name(L);
  if (!name) luaL_argerror(L, 1, "field 'name' is required (the master refers to it by name)");
  hs_pb_config cfg;
  int mode_given;
  common_options(L, &cfg, &mode_given);
  lua_getfield(L, 1, "primary"); /* 4 */
  const char *primary = hs_lrepl_name_of(L, 4);
  if (!primary)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'primary' must be a PrimaryNode or its name, got %s",
                                        hs_typename_of(L, 4)));
  lua_pushstring(L, primary);
  lua_replace(L, 4);
  push_master_option(L); /* 5 */
  if (lua_isnil(L, 5)) {
    lua_pop(L, 1);
    lua_pushfstring(L, "%s.master", primary);
  }
  lrepl *r = hs_lrepl_new(L, &backup_class, LREPL_PB, name, ln); /* 6 */
  r->cfg.pb = cfg;
  lua_getiuservalue(L, 6, HS_CENTITY_UV); /* 7 */
  lua_pushvalue(L, 4);
  lua_setfield(L, 7, "primary");
  lua_pushvalue(L, 5);
  lua_setfield(L, 7, "master_name");
  if (lua_getfield(L, 1, "master") != LUA_TNIL) lua_setfield(L, 7, "master");
  else lua_pop(L, 1);
  if (!mode_given) {
    lua_pushboolean(L, 1);
    lua_setfield(L, 7, "inherit_mode");
  }
  lua_settop(L, 6);
  hs_lrepl_finish(L, 6);
  return 1;
}
