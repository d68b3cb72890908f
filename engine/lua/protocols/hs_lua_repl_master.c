/*
 * hs_lua_repl_master.c - hs.ReplicationMaster: the configuration master of primary-backup and
 * chain replication (engine/repl/hs_repl_master.h) as a C entity. It decides the views
 * (members in order, epoch) and grants leases; it is assumed not to fail (as in van Renesse
 * & Schneider), so crashing it only cuts it off. hs.PrimaryNode and hs.build_chain build one
 * themselves when none is given.
 *
 *   hs.ReplicationMaster{ name =, network =, members = { nodes or names, first = primary/head },
 *                         lease = 0.5, failure_timeout = 1.0, auto_rejoin = true }
 *   master:remove(node)   -- an operator's removal (no lease wait); false when refused
 *   master.members, master.epoch, master.stats
 */
#include <string.h>

#include "protocols/hs_lua_repl.h"

static const hs_entity_vtable master_vt = {.kind = "ReplicationMaster", .on_crash = hs_lrepl_on_crash,
                                           .on_restart = hs_lrepl_on_restart, .on_message = hs_lrepl_on_message};

void hs_lrepl_master_attach(lua_State *L, lrepl *r, int self_idx, int state_idx) {
  (void)self_idx;
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  lua_getfield(L, state_idx, "members");
  uint32_t ids[HS_REPL_MAX_NODES];
  uint32_t n = 0;
  lua_Integer len = luaL_len(L, -1);
  for (lua_Integer i = 1; i <= len && n < HS_REPL_MAX_NODES; i++) {
    lua_rawgeti(L, -1, i);
    ids[n++] = hs_lrepl_id(L, ls, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  hs_repl_master_config cfg = r->cfg.ms;
  cfg.id = hs_lrepl_id(L, ls, r->base.e.name);
  cfg.members = ids;
  cfg.n_members = n;
  hs_repl_node_hooks hooks = hs_lrepl_hooks(r);
  int rc = hs_master_node_init(&r->u.ms, &r->base.e, &r->ln->net, &r->ln->pool, &cfg, &hooks);
  if (rc != HS_OK) {
    hs_master_node_free(&r->u.ms);
    luaL_error(L, "ReplicationMaster '%s': %s (members must be distinct and not the master itself)", r->base.e.name,
               hs_repl_strerror(rc));
  }
}

static const hs_lua_class master_class;

static lrepl *check(lua_State *L) { return hs_lrepl_check(L, 1, &master_class); }

/* master:remove(node_or_name) -> boolean: removes a member now (refused for a non-member or the
 * last synced one). */
static int l_remove(lua_State *L) {
  lrepl *r = check(L);
  const char *name = hs_lrepl_name_of(L, 2);
  if (!name) return luaL_argerror(L, 2, "replication node or name expected");
  uint32_t id = hs_lrepl_id(L, hs_lsim_of(r->base.e.sim), name);
  lrepl_call saved = hs_lrepl_enter(r, L);
  int rc = hs_repl_master_remove(r->u.ms.master, id, r->base.e.sim->now_ns);
  hs_lrepl_leave(r, L, saved);
  lua_pushboolean(L, rc == HS_OK);
  return 1;
}

static void push_members(lua_State *L, lrepl *r) {
  uint32_t n;
  const uint32_t *m = hs_repl_master_members(r->u.ms.master, &n);
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    hs_lrepl_push_id_name(L, r, m[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static int get_field(lua_State *L, void *self, const char *k) {
  lrepl *r = self;
  if (!r->inited) return 0;
  if (hs_lrepl_common_field(L, r, k)) return 1;
  if (strcmp(k, "members") == 0) {
    push_members(L, r);
  } else if (strcmp(k, "epoch") == 0) {
    lua_pushinteger(L, (lua_Integer)hs_repl_master_epoch(r->u.ms.master));
  } else if (strcmp(k, "stats") == 0) {
    hs_repl_master_stats s;
    hs_repl_master_get_stats(r->u.ms.master, &s);
    lua_createtable(L, 0, 9);
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)s.f);                                                                                \
  lua_setfield(L, -2, #f)
    FIELD(epoch);
    FIELD(reconfigurations);
    FIELD(removals);
    FIELD(joins);
    FIELD(pings);
    FIELD(stale_pings);
    FIELD(malformed);
    FIELD(copies_lost);
    FIELD(failovers_freshest);
    FIELD(members);
#undef FIELD
  } else {
    return 0;
  }
  return 1;
}

static const luaL_Reg methods[] = {{"start", hs_lrepl_l_start}, {"remove", l_remove}, {NULL, NULL}};

static const hs_lua_class master_class = {"ReplicationMaster", sizeof(lrepl), &master_vt, methods,
                                          get_field,           hs_lrepl_finalize, 1, hs_lrepl_attach};

static const char *const options[] = {"name", "network", "members", "lease", "failure_timeout", "auto_rejoin", NULL};

int hs_l_repl_master_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, options);
  hs_lnet *ln = hs_lua_opt_network(L); /* 2, 3 */
  const char *name = hs_lrepl_opt_name(L);
  hs_lrepl_check_list(L, "members", 1);
  hs_repl_master_config cfg;
  hs_repl_master_config_init(&cfg);
  double lease = hs_field_positive_seconds(L, 1, 1, "lease", hs_time_to_s(cfg.lease_ns));
  double ft = hs_field_positive_seconds(L, 1, 1, "failure_timeout", hs_time_to_s(cfg.failure_timeout_ns));
  if (ft < lease) luaL_argerror(L, 1, "field 'failure_timeout' must be at least 'lease'");
  cfg.lease_ns = hs_time_from_s(lease);
  cfg.failure_timeout_ns = hs_time_from_s(ft);
  cfg.auto_rejoin = hs_field_boolean(L, 1, 1, "auto_rejoin", 1);
  lua_getfield(L, 1, "members"); /* 4 */
  hs_lrepl_push_names(L, 4, NULL); /* 5 */
  if (luaL_len(L, 5) == 0) luaL_argerror(L, 1, "field 'members' must list at least one node");
  lrepl *r = hs_lrepl_new(L, &master_class, LREPL_MASTER, name, ln); /* 6 */
  r->cfg.ms = cfg;
  lua_getiuservalue(L, 6, HS_CENTITY_UV);
  lua_pushvalue(L, 5);
  lua_setfield(L, -2, "members");
  lua_pop(L, 1);
  hs_lrepl_finish(L, 6);
  lua_settop(L, 6);
  return 1;
}
